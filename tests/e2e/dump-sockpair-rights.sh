#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a process with a file descriptor in flight on a datagram socket
# pair (SCM_RIGHTS, between two plain messages): refused naming the reading
# end's fd, no image left; the messages ckptd read out to look at are back
# in order with the fd working, and the process runs on to a PASS of its own.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-sockpair-rights

mkdir -p "$T/w"
start_bg "$T/w" "$WORKLOADS/sockpair" "$T/w/out" "$T/w/ready" 1500 1 1
pid=$BG_PID
wait_ready "$pid" "$T/w/ready"

expect_error "SCM_RIGHTS" dump "$pid" -D "$T/img"
error_names "fd 40 of PID $pid"
assert_no_image "$T/img"
expect_error "SCM_RIGHTS" dump "$pid" -D "$T/img" --leave-running
error_names "fd 40 of PID $pid"
assert_no_image "$T/img"
alive "$pid" || fail "the process died"
check_running "$pid" "the process after the refused dumps"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload failed with status $CHILD_STATUS"
last_line_pass "$T/w/out"
grep -qx "rights: first, with-fd (a working pipe end), last" "$T/w/out" ||
	fail "the queued messages did not come back: $(cat "$T/w/out")"
log "PASS"
