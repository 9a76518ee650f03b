#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-tty: a process whose stdio was a terminal, restored by the daemon.
# A Python ticker runs on a pseudo-terminal (script(1) holds the master),
# printing "tick N isatty(1)". It is watched, killed (script ends with it),
# and:
#   (a) restored without --attach: its stdout is a new pseudo-terminal
#       (isatty() true again, /dev/pts/*), not its controlling terminal,
#       and a ckptd-pty pump appends what it prints to the job's
#       output.log, which `list` names; the ticks go on from where the
#       version was taken. Killed again, the pump sees the terminal closed
#       and exits.
#   (b) restored with --attach from a client whose stdio is a file: the
#       ticks go on in that file, and isatty() is false there; the job
#       names no log any more.
#   (c) the daemon keeps no fd sent with any other call (a pipe's write end
#       sent with List, or with Restore without attach, reads as EOF once
#       answered); attach without fds is InvalidValue; four fds with one
#       message close the connection.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-tty
command -v script >/dev/null || skip "no script(1) (util-linux) to start a process on a terminal"
daemon_init
daemon_start

D=$T/tty
mkdir -p "$D"
cat >"$D/ticker.py" <<'PY'
import os, sys, time
ready = sys.argv[1]
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)
i = 0
while True:
    print("tick %d %s" % (i, os.isatty(1)), flush=True)
    i += 1
    time.sleep(0.05)
PY

# The ticks a file holds, as "FIRST LAST COUNT ISATTY"; fails unless consecutive.
ticks() {
	"$PYTHON" - "$1" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1], errors="replace") if l.startswith("tick ")]
n = [int(l[1]) for l in lines]
tty = set(l[2] for l in lines)
if not n or n != list(range(n[0], n[0] + len(n))) or len(tty) != 1:
    print("ticks not consecutive or mixed isatty: %s %s" % (n[:20], tty))
    sys.exit(1)
print(n[0], n[-1], len(n), tty.pop())
PY
}

# wait_ticks FILE N: until FILE holds at least N ticks (10 s).
wait_ticks() {
	local deadline=$(($(now_ms) + 10000))
	while [ "$(count_ticks "$1")" -lt "$2" ]; do
		[ "$(now_ms)" -le "$deadline" ] || fail "fewer than $2 ticks in $1"
		sleep 0.1
	done
}

# The ckptd-pty pump writing to log file $1, if any.
pump_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = ckptd-pty ] || continue
		[ "$(readlink "$p/fd/4" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
	return 0
}

# kill_ticker PID: SIGKILL, and wait until the pid is free.
kill_ticker() {
	kill -KILL "$1"
	wait_for 5 "pid $1 was not reaped" gone "$1"
}

# Start it on a terminal: script(1) runs it in a new session on a new pty.
script -qfec "exec $PYTHON $D/ticker.py $D/ready" /dev/null </dev/null >"$D/before" 2>&1 &
E2E_PIDS+=("$!")
wait_for 30 "the ticker did not start" test -s "$D/ready"
tick=$(cat "$D/ready")
E2E_PIDS+=("$tick")
case $(readlink "/proc/$tick/fd/1") in
/dev/pts/*) ;;
*) fail "the ticker's stdout is $(readlink "/proc/$tick/fd/1"), not a pseudo-terminal" ;;
esac
wait_ticks "$D/before" 3
read -r _ _ _ tty_before <<<"$(ticks "$D/before")" || fail "the ticker's first output is wrong"
[ "$tty_before" = True ] || fail "the ticker does not see a terminal before any restore"

ck_ok watch "$tick" --name tty --every 1s
wait_versions tty 2 30
newest=$(job_field tty newest)
kill_ticker "$tick"
before=$(grep -c '^tick ' "$D/before")
log "killed the ticker (pid $tick) after $before ticks; version $newest"

# (a) Without --attach: a new terminal, pumped into output.log.
ck_ok restore tty
wait_job tty "j is not None and j['pid'] == $tick and j['state'] in ('watching', 'snapshotting')" 30 \
	"job tty watching pid $tick again"
check_running_soon "$tick" "the ticker restored on a new terminal"
case $(readlink "/proc/$tick/fd/1") in
/dev/pts/*) ;;
*) fail "the restored ticker's stdout is $(readlink "/proc/$tick/fd/1"), not a pseudo-terminal" ;;
esac
tty_nr=$(awk '{print $7}' "/proc/$tick/stat")
[ "$tty_nr" = 0 ] || fail "the restored ticker has a controlling terminal (tty_nr $tty_nr)"
logfile=$(job_field tty log)
[ "$logfile" = "$(job_dir tty)/output.log" ] ||
	fail "job tty's log is '$logfile', expected $(job_dir tty)/output.log"
E2E_SHOW+=("$logfile")
wait_ticks "$logfile" 5
read -r first _ _ tty_a <<<"$(ticks "$logfile")" || fail "the restored ticker's output.log is wrong"
[ "$tty_a" = True ] || fail "the restored ticker says isatty(1) is $tty_a on its new terminal"
[ "$first" -gt 0 ] && [ "$first" -le "$before" ] ||
	fail "the restored ticker starts at tick $first ($before printed before the kill)"
pump=$(pump_of "$logfile")
[ -n "$pump" ] || fail "no ckptd-pty process writes $logfile"
[ "$(awk '{print $4}' "/proc/$tick/stat")" != "$pump" ] || fail "the pump is the ticker's parent"
first_a=$first
log "(a) ticks from $first in output.log, isatty True, pump pid $pump"

wait_newest tty $((newest + 1)) 30
newest=$(job_field tty newest)
kill_ticker "$tick"
wait_gone "$pump" 5 "the ckptd-pty pump after its terminal closed"
read -r _ last_a _ _ <<<"$(ticks "$logfile")" || fail "output.log is wrong after the kill"

# (b) With --attach: the client's stdout, a file, takes the terminal's place.
"$CKPTD" restore tty --attach </dev/null >"$D/attached" 2>"$D/attach.err" ||
	fail "ckptd restore tty --attach failed: $(cat "$D/attach.err")"
E2E_SHOW+=("$D/attached" "$D/attach.err")
wait_job tty "j is not None and j['pid'] == $tick and j['state'] in ('watching', 'snapshotting')" 30 \
	"job tty watching pid $tick again after --attach"
check_running_soon "$tick" "the ticker restored with --attach"
[ "$(readlink "/proc/$tick/fd/1")" = "$D/attached" ] ||
	fail "the attached ticker's stdout is $(readlink "/proc/$tick/fd/1"), not $D/attached"
wait_ticks "$D/attached" 5
read -r first _ _ tty_b <<<"$(ticks "$D/attached")" || fail "the attached ticker's output is wrong"
[ "$tty_b" = False ] || fail "the attached ticker says isatty(1) is $tty_b on a file"
[ "$first" -ge "$first_a" ] && [ "$first" -le $((last_a + 1)) ] ||
	fail "the attached ticker starts at tick $first; output.log went up to $last_a"
[ -z "$(pump_of "$logfile")" ] || fail "a ckptd-pty pump runs for an attached restore"
[ -z "$(job_field tty log)" ] || fail "list names a log ($(job_field tty log)) for the attached job"
log "(b) ticks from $first in the client's stdout, isatty False"

kill_ticker "$tick"

# (c) Fds only with Restore's attach.
"$PYTHON" - "$DAEMON_SOCK" <<'PY' || fail "the daemon mishandles fds sent with calls (above)"
import json, os, select, socket, sys

# The reply, and the connection, still open (None, None if it was closed).
def call(method, params, fds=()):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    msg = json.dumps({"method": method, "parameters": params}).encode() + b"\0"
    socket.send_fds(s, [msg], list(fds))
    s.settimeout(10)
    data = b""
    while not data.endswith(b"\0"):
        chunk = s.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    return json.loads(data[:-1]), s

def kept(method, params):
    r, w = os.pipe()
    reply, s = call(method, params, [w, w, w])
    os.close(w)
    # The connection stays open: closing it would close them anyway.
    ready = select.select([r], [], [], 5)[0]
    eof = bool(ready) and os.read(r, 1) == b""
    os.close(r)
    s.close()
    print("%s %s -> %s; the daemon %s the fds" % (method, params, reply, "closed" if eof else "KEPT"))
    return not eof

bad = kept("io.ckptd.List", {})
bad |= kept("io.ckptd.Restore", {"name": "no-such-job"})
reply, _ = call("io.ckptd.Restore", {"name": "tty", "attach": True})
print("Restore attach without fds ->", reply)
bad |= reply.get("error") != "io.ckptd.InvalidValue"
r, w = os.pipe()
reply, _ = call("io.ckptd.List", {}, [w] * 4)
print("List with four fds ->", reply)
bad |= reply is not None
sys.exit(1 if bad else 0)
PY
daemon_healthy "the ticker was restored twice"
daemon_stop
log "PASS"
