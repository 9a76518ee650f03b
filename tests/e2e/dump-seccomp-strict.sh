#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a process in strict seccomp mode: refused as "strict", nothing
# left behind, the process still blocked where it was.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-seccomp-strict

"$TOOLS/strict" "$T/ready" </dev/null 2>"$T/strict.err" &
pid=$!
E2E_PIDS+=("$pid")
E2E_SHOW+=("$T/strict.err")
wait_ready "$pid" "$T/ready"
for _ in $(seq 500); do
	[ "$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")" = 1 ] && break
	sleep 0.01
done
[ "$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")" = 1 ] ||
	fail "the process did not enter strict mode"

expect_error strict dump "$pid" -D "$T/img"
assert_no_image "$T/img"
expect_error strict dump "$pid" -D "$T/img" --leave-running
assert_no_image "$T/img"
alive "$pid" || fail "the process is gone after the refused dumps"
check_running "$pid" "after the refused dumps"
log "PASS"
