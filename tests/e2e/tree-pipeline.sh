#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-pipeline: a shell running a three-stage pipeline,
#     sh -c 'drip | sort | sha256sum > out'
# drip writes 64 MiB as fast as sort takes it, then lingers 1.5 s; sort -g
# (slow to compare) with a 2 MiB buffer stops reading to sort each 2 MiB into
# a temporary file, so the first pipe is full most of the time drip writes;
# then sort merges and sha256sum sums the merged stream. The whole tree (the
# shell and its three children, in one session and process group) is
# checkpointed at a random moment in the first 60% of the run, while every
# stage still runs: mostly with the first pipe full, sometimes while sort
# merges, its output in the second pipe. The log says what each pipe held
# after the restore. The restored tree must have the same pids and relations,
# and its sum must match an uninterrupted run's.
# Only "kill": sort merges and removes its temporary files while the window
# is open, and after --leave-running the original could remove one the image
# refers to before it is killed (as sort.sh says).
#     tree-pipeline.sh kill
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-pipeline-$mode"

SORT=$(command -v sort) || skip "no sort"
SHA=$(command -v sha256sum) || skip "no sha256sum"
PYTHON=$(command -v python3) || true
# shellcheck disable=SC2016 # expanded by sh
PIPELINE='LC_ALL=C; export LC_ALL; "$0" drip.out ready 64 256 0 1500 | "$1" -g -S 2M -T tmp | "$2" >out'
launch() {
	mkdir -p "$1/tmp"
	start_bg "$1" sh -c "$PIPELINE" "$WORKLOADS/drip" "$SORT" "$SHA"
}

# The three stages have exec'd: none of the shell's children is a shell any more.
stages_up() {
	[ "$(tree_shape "$1" | awk '$8 == "live" && $9 != "sh"' | wc -l)" = 3 ]
}
ready() {
	wait_ready "$2" "$1/ready"
	wait_for 10 "the pipeline did not start its three stages" stages_up "$2"
}

# Says how many bytes each pipe of the tree holds (FIONREAD on another
# description of the same pipe): which phase the snapshot caught.
pipe_fill() {
	local p n
	[ -n "$PYTHON" ] || return 0
	for p in $(tree_members "$1"); do
		[ -p "/proc/$p/fd/0" ] || continue
		# shellcheck disable=SC2016 # python
		n=$("$PYTHON" -c 'import fcntl, os, struct, sys, termios
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])' "/proc/$p/fd/0" 2>/dev/null) || continue
		log "the pipe into $(cat "/proc/$p/comm" 2>/dev/null) holds $n bytes"
	done
}
after_restore() { pipe_fill "$1"; }

OUTPUTS=(out drip.out)
verify() {
	grep -qE '^[0-9a-f]{64}  -$' "$1/out" || fail "out is not a sha256sum line: $(head -c 100 "$1/out")"
	last_line_pass "$1/drip.out"
}
run_scenario "$mode"
