#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a zombie (exited, its parent never waits): "zombie"; it stays a
# zombie and its parent runs on.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-zombie

# The child `sleep 0.5 &` exits after bash has exec'd sleep 1000, which never
# waits for it. (A child that exited earlier would be reaped by bash.)
# shellcheck disable=SC2016 # expanded by the inner shell
start_bg "$T" bash -c 'sleep 0.5 & echo $! >"$0.tmp"; mv "$0.tmp" "$0"; exec sleep 1000' "$T/zpid"
parent=$BG_PID
wait_ready "$parent" "$T/zpid"
zombie=$(cat "$T/zpid")
for _ in $(seq 100); do
	[ "$(proc_state "$zombie")" = Z ] && break
	sleep 0.05
done
[ "$(proc_state "$zombie")" = Z ] || fail "pid $zombie did not become a zombie"

expect_error zombie dump "$zombie" -D "$T/img" --leave-running
assert_no_image "$T/img"
expect_error zombie dump "$zombie" -D "$T/img"
assert_no_image "$T/img"
[ "$(proc_state "$zombie")" = Z ] || fail "the zombie $zombie changed state: $(proc_state "$zombie")"
alive "$parent" || fail "the zombie's parent $parent is gone"
check_running "$parent" "the zombie's parent"
log "PASS"
