#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-shared-offset: a parent and its child write records in turns through
# one open file description (one offset, no O_APPEND), hand turns over
# through two pipes, and update an accumulator in a MAP_SHARED anonymous
# page (tests/workloads/sharedfd.c). Checkpointed at a random moment, the
# restored pair must share the offset and the page again: shared.log must
# match an uninterrupted run's byte for byte (copies of the description
# would overwrite each other's records) and so must out (the accumulator,
# each side's count of turns, the workload's own check of the file).
#     tree-shared-offset.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-shared-offset-$mode"

PYTHON=$(command -v python3) || true
launch() { start_bg "$1" "$WORKLOADS/sharedfd" "$1/out" "$1/ready" "$1/shared.log"; }
OUTPUTS=(out shared.log)
# Read the child from the ready file before ckpt_cycle removes it.
ready() {
	wait_ready "$2" "$1/ready"
	read -r _ CHILD <"$1/ready"
}
# The parent's and the child's log fd are one description again, as
# kcmp(KCMP_FILE) says (copies at the same offset would look alike in fdinfo
# until the next write).
after_restore() {
	local fd_p fd_c rc=0
	fd_p=$(log_fd_of "$1") || fail "the restored parent has no fd on shared.log"
	fd_c=$(log_fd_of "$CHILD") || fail "the restored child $CHILD has no fd on shared.log"
	[ -n "$PYTHON" ] || {
		log "no python3: not comparing the descriptions with kcmp"
		return 0
	}
	# shellcheck disable=SC2016 # python
	"$PYTHON" -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
pid1, pid2, fd1, fd2 = (int(a) for a in sys.argv[1:5])
r = libc.syscall(312, pid1, pid2, 0, fd1, fd2)  # kcmp(..., KCMP_FILE, ...)
sys.exit(0 if r == 0 else (1 if r > 0 else 2))' "$1" "$CHILD" "$fd_p" "$fd_c" || rc=$?
	case $rc in
	0) log "parent fd $fd_p and child fd $fd_c are one open file description" ;;
	1) fail "the restored parent's fd $fd_p and child's fd $fd_c on shared.log are two descriptions, not one" ;;
	*) fail "kcmp of the parent's fd $fd_p and the child's fd $fd_c failed" ;;
	esac
}
log_fd_of() {
	local f
	for f in /proc/"$1"/fd/*; do
		if [ "$(readlink "$f")" = "$T/run/shared.log" ]; then
			echo "${f##*/}"
			return 0
		fi
	done
	return 1
}
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
