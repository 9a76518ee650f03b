#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-tcp: a watched process holding a TCP connection (to a listener this
# test holds). Without --external its snapshots fail, the job's last error
# naming fd 7 and the connection; with --external tcp=close the job says so
# and versions are committed. The process runs on with its live connection.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-tcp
daemon_init
daemon_start

python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
c = s.accept()[0]
time.sleep(120)
' "$T/port" &
E2E_PIDS+=("$!")
wait_for 10 "the listener did not start" test -s "$T/port"
port=$(cat "$T/port")

mkdir -p "$T/w"
start_bg "$T/w" "$WORKLOADS/tcpconn" "$T/w/out" "$T/w/ready" "$port" 8000
pid=$BG_PID
wait_ready "$pid" "$T/w/ready"

log "case: watched without --external"
ck_ok watch "$pid" --name plain --every 1s
wait_job plain "j is not None and j.get('last_error')" 20 "an error of job plain"
err=$(job_field plain last_error)
grep -qF "fd 7 of PID $pid is a TCP connection" <<<"$err" || fail "the job's error: $err"
[ "$(job_field plain tcp_close)" = false ] || fail "job plain says tcp_close"
ck_ok unwatch plain

log "case: watched with --external tcp=close"
ck_json watch "$pid" --name tcp --every 1s --external tcp=close
[ "$(jq_py "$CKPTD_OUT" "d['job']['tcp_close']")" = true ] || fail "the job does not say tcp_close"
wait_newest tcp 2 30
ck_ok unwatch tcp

child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload failed with status $CHILD_STATUS"
last_line_pass "$T/w/out"
grep -qx "conn send ok recv EAGAIN nonblock 1" "$T/w/out" || fail "the live connection: $(head -1 "$T/w/out")"
log "PASS"
