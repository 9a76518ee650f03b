#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a process holding a TCP connection (to a listener this test holds):
# refused with the fd and the connection named, no image left, the process
# unharmed. With --external tcp=close the dump succeeds, says which fd it
# gave up, and the restored process finds the socket dead. A unix socket
# connected to a listener outside the process is refused either way.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-tcp

python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
u = socket.socket(socket.AF_UNIX)
u.bind(sys.argv[2])
u.listen(4)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
conns = [s.accept()[0] for _ in range(2)] + [u.accept()[0]]
time.sleep(120)
' "$T/port" "$T/unix.sock" &
E2E_PIDS+=("$!")
wait_for 10 "the listener did not start" test -s "$T/port"
port=$(cat "$T/port")

log "case: refused, the process runs on"
mkdir -p "$T/a"
start_bg "$T/a" "$WORKLOADS/tcpconn" "$T/a/out" "$T/a/ready" "$port" 1500
pid=$BG_PID
wait_ready "$pid" "$T/a/ready"
expect_error "TCP connection 127.0.0.1:" dump "$pid" -D "$T/img"
error_names "fd 7 of PID $pid"
error_names "-> 127.0.0.1:$port"
error_names "--external tcp=close"
assert_no_image "$T/img"
alive "$pid" || fail "the process died"
check_running "$pid" "the process after the refused dump"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload failed with status $CHILD_STATUS"
last_line_pass "$T/a/out"
grep -qx "conn send ok recv EAGAIN nonblock 1" "$T/a/out" || fail "the live connection: $(head -1 "$T/a/out")"

log "case: --external tcp=close"
mkdir -p "$T/b"
start_bg "$T/b" "$WORKLOADS/tcpconn" "$T/b/out" "$T/b/ready" "$port" 1500
pid=$BG_PID
wait_ready "$pid" "$T/b/ready"
run_ckptd dump "$pid" -D "$T/img" --external tcp=close || fail "dump failed: $(ckptd_error_line)"
grep -q "fd 7 of PID $pid is a TCP connection .* recorded as closed" "$CKPTD_ERR" ||
	fail "the dump does not say fd 7 was given up: $(cat "$CKPTD_ERR")"
wait_gone "$pid" 10 "the dumped process"
run_ckptd restore -D "$T/img" || fail "restore failed: $(ckptd_error_line)"
wait_gone "$pid" 30 "the restored process"
last_line_pass "$T/b/out"
grep -qx "conn send EPIPE recv ENOTCONN nonblock 1" "$T/b/out" ||
	fail "the restored socket is not dead: $(head -1 "$T/b/out")"

log "case: a unix socket to the outside"
mkdir -p "$T/c"
start_bg "$T/c" "$WORKLOADS/tcpconn" "$T/c/out" "$T/c/ready" "$T/unix.sock" 1500
pid=$BG_PID
wait_ready "$pid" "$T/c/ready"
expect_error "outside the process" dump "$pid" -D "$T/img2" --external tcp=close
error_names "fd 7 of PID $pid is a unix stream socket connected to"
assert_no_image "$T/img2"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload failed with status $CHILD_STATUS"
last_line_pass "$T/c/out"
log "PASS"
