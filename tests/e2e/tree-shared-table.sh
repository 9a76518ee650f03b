#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-shared-table: a parent and a child made with clone(CLONE_FILES |
# CLONE_FS) share one fd table and one working directory
# (tests/workloads/sharedtable.c): the child opens files by relative names,
# the parent writes to the fd numbers the child hands over. Checkpointed at
# a random moment, the restored pair must share both again: out must match
# an uninterrupted run's, and so must each file written.
#     tree-shared-table.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-shared-table-$mode"

launch() { start_bg "$1" "$WORKLOADS/sharedtable" "$1/out" "$1/ready" "$1/files"; }
OUTPUTS=(out)
verify() {
	last_line_pass "$1/out"
	[ "$1" = "$T/ref" ] || diff -r "$T/ref/files" "$1/files" >&2 ||
		fail "the files written differ from the uninterrupted run's"
}
# One table, as the kernel sees it: kcmp(KCMP_FILES) of parent and child.
after_restore() {
	local child
	read -r _ child <"$T/run/pids"
	python3 -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.syscall(312, int(sys.argv[1]), int(sys.argv[2]), 2, 0, 0) == 0 else 1)' \
		"$1" "$child" || fail "the restored parent and child $child have two fd tables"
}
ready() {
	wait_ready "$2" "$1/ready"
	cp "$1/ready" "$1/pids"
}
run_scenario "$mode"
