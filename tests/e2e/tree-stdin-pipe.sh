#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-stdin-pipe: the tail of a shell pipeline whose producer has finished,
#     sh -c 'seq 1 3000 | { sleep 1.5; sha256sum >out; }'
# checkpointed during the sleep: the producer is gone, and the 13 KiB it
# wrote wait in the pipe on the reading subshell's stdin. Stdio pipes are
# otherwise the caller's, but nobody is left to write this one and the bytes
# are the process's input: after the restore sha256sum must read exactly
# them, then end of file, and out must match an uninterrupted run's.
#     tree-stdin-pipe.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-stdin-pipe-$mode"

SEQ=$(command -v seq) || skip "no seq"
SHA=$(command -v sha256sum) || skip "no sha256sum"
# shellcheck disable=SC2016 # expanded by sh
PIPELINE='echo $$ >ready.tmp && mv ready.tmp ready
"$0" 1 3000 | { sleep 1.5; "$1" >out; }'
launch() { start_bg "$1" sh -c "$PIPELINE" "$SEQ" "$SHA"; }
OUTPUTS=(out)
verify() {
	[ "$(cut -d' ' -f1 "$1/out")" = "$("$SEQ" 1 3000 | "$SHA" | cut -d' ' -f1)" ] ||
		fail "$(basename "$1")/out is not the sum of the pipeline's input: $(cat "$1/out")"
}
run_scenario "$mode"
