#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-session: a shell whose child leads a session of its own (`setsid
# prog &`, as a daemonizing program or a terminal multiplexer does), the
# child being the threads workload (tests/workloads/threads.c). After a
# restore the child leads its session and its group again (the tree's
# shape, checked by the cycle) and the outputs match an uninterrupted run.
#     tree-session.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-session-$mode"

command -v setsid >/dev/null || skip "no setsid (util-linux)"
launch() {
	start_bg "$1" sh -c 'setsid "$1" "$2/out" "$2/ready" & wait $!' sh "$WORKLOADS/threads" "$1"
}
OUTPUTS=(out)
ready() {
	local child
	wait_ready "$2" "$1/ready"
	child=$(cat /proc/"$2"/task/*/children | tr -d ' \n')
	[ -n "$child" ] || fail "the shell $2 has no child"
	[ "$(awk '{ print $6 }' "/proc/$child/stat")" = "$child" ] ||
		fail "child $child does not lead a session of its own"
}
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
