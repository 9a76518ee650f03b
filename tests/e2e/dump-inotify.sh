#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a process holding an inotify fd (beside eventfds, timerfds, a
# signalfd and an epoll it can dump): refused with a message naming the fd,
# no image left, and the process runs on to a PASS of its own.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-inotify

mkdir -p "$T/w"
start_bg "$T/w" "$WORKLOADS/evloop" "$T/w/out" "$T/w/ready" 1500 1 1
pid=$BG_PID
wait_ready "$pid" "$T/w/ready"
fd=
for f in /proc/"$pid"/fd/*; do
	[ "$(readlink "$f")" = anon_inode:inotify ] && fd=${f##*/}
done
[ -n "$fd" ] || fail "the workload holds no inotify fd"

expect_error "inotify is not supported" dump "$pid" -D "$T/img"
error_names "fd $fd "
assert_no_image "$T/img"
expect_error "inotify is not supported" dump "$pid" -D "$T/img" --leave-running
error_names "fd $fd "
assert_no_image "$T/img"
alive "$pid" || fail "the process died"
check_running "$pid" "the process after the refused dumps"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload failed with status $CHILD_STATUS"
last_line_pass "$T/w/out"
log "PASS"
