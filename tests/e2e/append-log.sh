#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# append-log: a python3 program logging its progress through the logging
# module (tests/workloads/applog.py), which appends to its log. With
# --leave-running the original goes on appending after the snapshot, then
# is killed: the restored process does that work again, and its log must
# be the uninterrupted run's byte for byte, each line once (restore cuts a
# file the process appended to back to its size at the snapshot).
#     append-log.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "append-log-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$1/log" "$1/ready"; }
OUTPUTS=(log)
verify() {
	last_line_pass "$1/log"
	[ "$(grep -c '^round ' "$1/log")" = 1500 ] ||
		fail "$(basename "$1")/log has $(grep -c '^round ' "$1/log") round lines, not 1500"
}
# Before the original is killed, it must have appended past its snapshot.
after_leave() {
	local size
	size=$(stat -c %s "$T/run/log")
	wait_for 20 "the log did not grow after the snapshot" grown "$T/run/log" "$size"
	log "log: $size bytes after the dump, $(stat -c %s "$T/run/log") before the kill"
}
grown() { [ "$(stat -c %s "$1")" -gt "$2" ]; }
run_scenario "$mode"
