#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-append: the daemon's usual case for a log. An unprivileged user
# (ckptdtest1) watches a python3 program that logs its progress through the
# logging module (tests/workloads/applog.py, which appends); the program
# runs on past the version, then is killed, as by a crash. Restored by the
# daemon, it does that work again, and its log must be an uninterrupted
# run's byte for byte: restore cut the log back to its size at the
# snapshot, and kept what it cut in a file of the user's beside it. Before
# that, with the log made root's, the user's restore is refused naming the
# log, and the log keeps every byte, with no file left beside it.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-append
daemon_init
daemon_user_init

ROUNDS=6000
need_python3
size_of() { stat -c %s "$1"; }
says_pass() { [ "$(tail -n 1 "$1" 2>/dev/null)" = PASS ]; }

daemon_start
mkdir -p "$T/ref" "$T/a"
start_bg "$T/ref" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$T/ref/log" "$T/ref/ready" "$ROUNDS"
ref_pid=$BG_PID
touch "$T/a/stdout" "$T/a/stderr"
chown "$uid:$gid" "$T/a" "$T/a/stdout" "$T/a/stderr"
start_bg "$T/a" "${AS_USER[@]}" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$T/a/log" "$T/a/ready" "$ROUNDS"
pid=$BG_PID
user_pids+=("$pid")
wait_ready "$pid" "$T/a/ready"

user_ok watch "$pid" --name app --every 1h
wait_versions app 1 30
at_version=$(size_of "$T/a/log")
wait_for 30 "the log did not grow after the version" longer_than "$T/a/log" "$at_version"
alive "$pid" || fail "pid $pid finished before it was killed; make ROUNDS larger"
kill -KILL "$pid"
child_status "$pid"
killed_at=$(size_of "$T/a/log")
log "log: $at_version bytes once the version was made, $killed_at when killed"

log "case: the user may not write the log any more"
chown root:root "$T/a/log"
chmod 0644 "$T/a/log"
user_refused restore app
grep -q "$T/a/log" <<<"$(ckptd_error_line)" ||
	fail "the refusal does not name the log: $(ckptd_error_line)"
[ "$(size_of "$T/a/log")" = "$killed_at" ] ||
	fail "the refused restore changed the log: $(size_of "$T/a/log") bytes, were $killed_at"
alive "$pid" && fail "the refused restore left pid $pid running"
! compgen -G "$T/a/log.ckptd-cut-*" >/dev/null || fail "the refused restore left $(echo "$T"/a/log.ckptd-cut-*)"

log "case: the log the user's again"
chown "$uid:$gid" "$T/a/log"
user_ok restore app
alive "$pid" || fail "restore app did not bring back pid $pid"
E2E_PIDS+=("$pid")
cut=("$T"/a/log.ckptd-cut-*)
[ ${#cut[@]} = 1 ] && [ -s "${cut[0]}" ] || fail "no file beside the log holds what was cut"
grep -qF "$T/a/log cut back to" "$CKPTD_OUT" && grep -qF "what was cut is in ${cut[0]}" "$CKPTD_OUT" ||
	fail "restore did not say it cut the log and where the rest went: $(cat "$CKPTD_OUT")"
log "restore said: $(cat "$CKPTD_OUT")"
[ "$(stat -c %u "${cut[0]}")" = "$uid" ] || fail "${cut[0]} belongs to uid $(stat -c %u "${cut[0]}"), not $uid"
wait_for 120 "the restored program did not finish" says_pass "$T/a/log"
child_status "$ref_pid"
[ "$CHILD_STATUS" = 0 ] || fail "the uninterrupted run ended with status $CHILD_STATUS"
cmp "$T/ref/log" "$T/a/log" ||
	fail "the restored log differs from the uninterrupted run's: $(diff "$T/ref/log" "$T/a/log" | head -n 6)"
log "ok: the restored log is the uninterrupted run's ($(wc -l <"$T/a/log") lines)"
[ "$(head -c "$(size_of "${cut[0]}")" <(tail -c "+$((killed_at - $(size_of "${cut[0]}") + 1))" "$T/ref/log"))" = "$(cat "${cut[0]}")" ] ||
	fail "${cut[0]} is not what the killed run wrote after the snapshot"
user_ok unwatch app
