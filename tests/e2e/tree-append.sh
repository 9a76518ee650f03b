#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-append: a shell loop whose output goes to a log with >>, written by
# the shell itself (printf) and by a child per line (sha256sum, fed by a
# subshell through a pipe), all through the one O_APPEND description the
# children inherit. Checkpointed at a random moment (often with a child
# mid-line, its pipe in the tree); with --leave-running the original then
# appends more before it is killed. The restored tree's log must be an
# uninterrupted run's byte for byte: the file the tree appends to is cut
# back once, to its size at the snapshot, whichever process holds it.
#     tree-append.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-append-$mode"

SHA=$(command -v sha256sum) || skip "no sha256sum"
# shellcheck disable=SC2016 # expanded by sh
LOOP='echo $$ >ready.tmp && mv ready.tmp ready
i=0
while [ $i -lt 800 ]; do printf "%d " $i; echo "line $i" | "$0"; i=$((i + 1)); done >>log
echo PASS >>log'
launch() { start_bg "$1" sh -c "$LOOP" "$SHA"; }
OUTPUTS=(log)
verify() { last_line_pass "$1/log"; }
# Before the original is killed, it must have appended past its snapshot.
after_leave() { wait_log_grows "$T/run/log"; }
run_scenario "$mode"
