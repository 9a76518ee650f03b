#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# xz: `xz -T1 -6 -c INPUT > stdout` on 8 MiB of text (about 4 s: xz -6 runs at
# 2 MB/s on it), checkpointed part way: the encoder holds ~90 MiB, stdout is a
# regular file reopened at its offset. The compressed output must be
# byte-identical to an uninterrupted run's, and decompress to the input.
#     xz.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "xz-$mode"

XZ=$(command -v xz) || skip "no xz"
"$TOOLS/gendata" 7 8M text >"$T/input"
launch() { start_bg "$1" "$XZ" -T1 -6 -c "$T/input"; }
ready() { wait_exe "$2" "$XZ"; }
OUTPUTS=(stdout)
verify() { "$XZ" -dc "$1/stdout" | cmp -s - "$T/input" || fail "$1/stdout does not decompress to the input"; }
run_scenario "$mode"
