#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-socket-activation: the daemon takes its listening socket from
# socket activation (LISTEN_FDS=1, LISTEN_PID, fd 3) instead of making one,
# as ckptd.socket hands it over:
#   - started with a socket passed by notify-wait.py (no --socket): it
#     serves there (client verbs and raw calls), makes no socket of its
#     own, and stops cleanly on SIGTERM;
#   - under systemd-socket-activate (which execs the daemon only when the
#     first client connects): that first client, queued before the daemon
#     even ran, gets its answer.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-socket-activation
DAEMON_SOCK=$T/run/activated.sock
daemon_init

# daemon_start_activated LAUNCHER...: like daemon_start, but the daemon's
# socket comes from LAUNCHER's arguments; no --socket.
daemon_start_activated() {
	local rc=0 out
	DAEMON_STARTS=$((DAEMON_STARTS + 1))
	printf -- '--- start %d (socket activation) at %s\n' "$DAEMON_STARTS" "$(date +%T.%3N)" >>"$DAEMON_LOG"
	rm -f "$DAEMON_STATUS"
	out=$("$PYTHON" "$TOOLS_SRC/notify-wait.py" --timeout 30 --log "$DAEMON_LOG" \
		--status-file "$DAEMON_STATUS" --notify-log "$T/notify.log" "$@" \
		"$CKPTD" serve --state-dir "$DAEMON_STATE" --boot-id-file "$DAEMON_BOOT_ID" \
		2>>"$T/notify-wait.err") || rc=$?
	[ "$rc" = 0 ] || fail "the daemon did not start: $(tail -n 1 "$T/notify-wait.err")"
	DAEMON_PID=$out
	E2E_PIDS+=("$DAEMON_PID")
	log "daemon pid $DAEMON_PID ready (socket activation)"
}

# The default socket must not be touched by an activated daemon (checked
# only where no real ckptd uses it).
default_sock=/run/ckptd/ckptd.sock
had_default=0
[ ! -e "$default_sock" ] || had_default=1

# 1. A socket passed by notify-wait.py.
daemon_start_activated --listen "$DAEMON_SOCK" --
[ -S "$DAEMON_SOCK" ] || fail "$DAEMON_SOCK is not a socket"
# A raw call first: with a timeout, should the daemon not accept on fd 3.
vl_expect_reply --timeout 10 --call io.ckptd.Status
ck_ok status --json
[ "$(jq_py "$CKPTD_OUT" "d['pid']")" = "$DAEMON_PID" ] ||
	fail "status answers with pid $(jq_py "$CKPTD_OUT" "d['pid']"), not the daemon's $DAEMON_PID"
vl_expect_reply --call io.ckptd.List
ck_ok list
# The passed socket keeps serving connection after connection.
vl --concurrent 10 --repeat 10 '{"method": "io.ckptd.Status"}'
[ "$VL_RC" = 0 ] || fail "10 x 10 calls on the activated socket: $(cat "$VL_OUT")"
if [ "$had_default" = 0 ] && [ -e "$default_sock" ]; then
	fail "the activated daemon made $default_sock as well"
fi
daemon_stop

# 2. systemd-socket-activate: the daemon starts with the first connection.
if ! command -v systemd-socket-activate >/dev/null; then
	log "no systemd-socket-activate: its part is skipped"
	log "PASS"
	exit 0
fi
rm -f "$DAEMON_SOCK"
"$PYTHON" "$TOOLS_SRC/notify-wait.py" --timeout 60 --log "$DAEMON_LOG" --status-file "$DAEMON_STATUS" \
	--notify-log "$T/notify.log" -- systemd-socket-activate -l "$DAEMON_SOCK" -E NOTIFY_SOCKET -- \
	"$CKPTD" serve --state-dir "$DAEMON_STATE" --boot-id-file "$DAEMON_BOOT_ID" \
	>"$T/activate.pid" 2>>"$T/notify-wait.err" &
launcher=$!
E2E_PIDS+=("$launcher")
deadline=$(($(now_ms) + 10000))
until [ -S "$DAEMON_SOCK" ]; do
	[ "$(now_ms)" -le "$deadline" ] || fail "systemd-socket-activate made no socket at $DAEMON_SOCK"
	alive "$launcher" || fail "systemd-socket-activate ended: $(tail -n 3 "$T/notify-wait.err")"
	sleep 0.02
done
# This first call is what makes it start the daemon.
vl_expect_reply --timeout 30 --call io.ckptd.Status
child_status "$launcher"
[ "$CHILD_STATUS" = 0 ] || fail "the socket-activated daemon did not get ready: $(tail -n 1 "$T/notify-wait.err")"
DAEMON_PID=$(cat "$T/activate.pid")
E2E_PIDS+=("$DAEMON_PID")
[ "$(vl_param pid)" = "$DAEMON_PID" ] || fail "the first call was answered by pid $(vl_param pid), not $DAEMON_PID"
log "the first client's call started daemon pid $DAEMON_PID and was answered"
ck_ok status
daemon_stop
log "PASS"
