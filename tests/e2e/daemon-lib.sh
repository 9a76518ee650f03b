# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# daemon-lib.sh: what the daemon's end-to-end scenarios share, on top of
# lib.sh. A scenario sources this, calls e2e_init and daemon_init, then
# daemon_start: the daemon runs on a state directory and a socket of its
# own under $T, started the way ckptd.service starts it (Type=notify: it
# counts as started once it sent READY=1 on NOTIFY_SOCKET), under the
# test's reaper, its stderr in $T/daemon.log (shown when a check fails).
# Client verbs find it through CKPTD_SOCKET.
#
# Environment, beyond lib.sh's: TOOLS_SRC (the Python tools, default:
# ../tools beside us), PYTHON (default /usr/bin/python3).

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS_SRC=${TOOLS_SRC:-$E2E_DIR/../tools}
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3 || echo python3)

DAEMON_PID=      # the running daemon, or empty
DAEMON_STATE=    # its state directory
DAEMON_SOCK=     # its socket
DAEMON_BOOT_ID=  # the file it reads the boot id from
DAEMON_LOG=      # its stdout and stderr, every run appended
DAEMON_STATUS=   # written by the supervisor when it ends: "exited N" / "killed N"
DAEMON_ARGS=()   # more arguments for every start
DAEMON_STARTS=0
DAEMON_ATEXIT=() # functions to call at exit, once the daemon is gone
VL_PREFIX=()     # a command vl runs varlink.py under (setpriv ... for another user)

# daemon_init: where the daemon will keep its state and listen
# (DAEMON_STATE and DAEMON_SOCK if set, else $T/state and
# $T/run/ckptd.sock), and a boot id of its own.
daemon_init() {
	DAEMON_STATE=${DAEMON_STATE:-$T/state}
	DAEMON_SOCK=${DAEMON_SOCK:-$T/run/ckptd.sock}
	DAEMON_BOOT_ID=$T/boot_id
	DAEMON_LOG=$T/daemon.log
	DAEMON_STATUS=$T/daemon.status
	: >"$DAEMON_LOG"
	export CKPTD_SOCKET=$DAEMON_SOCK
	new_boot_id
	E2E_SHOW+=("$DAEMON_LOG" "$T/notify.log" "$T/notify-wait.err")
	trap daemon_cleanup EXIT
	[ -r "$TOOLS_SRC/varlink.py" ] || fail "no $TOOLS_SRC/varlink.py (set TOOLS_SRC)"
	"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
		skip "$PYTHON is older than 3.9 (the test tools need os.pidfd_open)"
}

# At exit: the daemon is killed and reaped before lib.sh removes $T, so
# that nothing writes there any more.
daemon_cleanup() {
	local rc=$? deadline f
	if [ -n "$DAEMON_PID" ]; then
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		deadline=$(($(now_ms) + 5000))
		while [ ! -e "$DAEMON_STATUS" ] && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.02
		done
		DAEMON_PID=
	fi
	for f in "${DAEMON_ATEXIT[@]}"; do
		"$f" || true
	done
	(exit "$rc")
	e2e_cleanup
}

# new_boot_id: what the daemon will take for a reboot.
new_boot_id() {
	cat /proc/sys/kernel/random/uuid >"$DAEMON_BOOT_ID.tmp"
	mv "$DAEMON_BOOT_ID.tmp" "$DAEMON_BOOT_ID"
	log "boot id $(cat "$DAEMON_BOOT_ID")"
}

# daemon_start [ARGS...]: starts the daemon and waits for READY=1 (30 s).
# Sets DAEMON_PID.
daemon_start() {
	local rc=0 out
	[ -z "$DAEMON_PID" ] || fail "daemon_start: the daemon (pid $DAEMON_PID) still runs"
	DAEMON_STARTS=$((DAEMON_STARTS + 1))
	printf -- '--- start %d at %s\n' "$DAEMON_STARTS" "$(date +%T.%3N)" >>"$DAEMON_LOG"
	rm -f "$DAEMON_STATUS"
	out=$("$PYTHON" "$TOOLS_SRC/notify-wait.py" --timeout 30 --log "$DAEMON_LOG" \
		--status-file "$DAEMON_STATUS" --notify-log "$T/notify.log" -- \
		"$CKPTD" serve --state-dir "$DAEMON_STATE" --socket "$DAEMON_SOCK" \
		--boot-id-file "$DAEMON_BOOT_ID" "${DAEMON_ARGS[@]}" "$@" 2>>"$T/notify-wait.err") || rc=$?
	[ "$rc" = 0 ] || fail "the daemon did not start (start $DAEMON_STARTS): $(tail -n 1 "$T/notify-wait.err")"
	DAEMON_PID=$out
	E2E_PIDS+=("$DAEMON_PID")
	log "daemon pid $DAEMON_PID ready (start $DAEMON_STARTS)"
}

daemon_alive() {
	[ -n "$DAEMON_PID" ] && alive "$DAEMON_PID"
}

# daemon_wait_end TIMEOUT_S: until the daemon has ended and was reaped;
# DAEMON_END is how it ended ("exited N", "killed N").
daemon_wait_end() {
	local timeout=$1 deadline
	deadline=$(($(now_ms) + timeout * 1000))
	while [ ! -e "$DAEMON_STATUS" ]; do
		if [ "$(now_ms)" -gt "$deadline" ]; then
			show_threads "$DAEMON_PID"
			fail "the daemon (pid $DAEMON_PID) did not end within ${timeout}s"
		fi
		sleep 0.02
	done
	DAEMON_END=$(cat "$DAEMON_STATUS")
	DAEMON_PID=
}

# daemon_stop: SIGTERM; it must exit 0 within 30 s.
daemon_stop() {
	local pid=$DAEMON_PID
	[ -n "$pid" ] || fail "daemon_stop: no daemon runs"
	log "stopping the daemon (pid $pid, SIGTERM)"
	kill -TERM "$pid"
	daemon_wait_end 30
	[ "$DAEMON_END" = "exited 0" ] || fail "the daemon (pid $pid) $DAEMON_END after SIGTERM, expected exit 0"
	socket_still_answers && fail "something still answers on $DAEMON_SOCK after the daemon stopped"
	log "daemon stopped"
}

# daemon_kill: SIGKILL, and wait until it is gone.
daemon_kill() {
	local pid=$DAEMON_PID
	[ -n "$pid" ] || fail "daemon_kill: no daemon runs"
	kill -KILL "$pid" 2>/dev/null || true
	daemon_wait_end 10
	[ "$DAEMON_END" = "killed 9" ] || log "note: the daemon $DAEMON_END before our SIGKILL landed"
	log "daemon pid $pid killed"
}

# daemon_restart [ARGS...]: stopped cleanly, started again on the same state.
daemon_restart() {
	daemon_stop
	daemon_start "$@"
}

# True if a Status call on the socket gets an answer (a stale socket file does not).
socket_still_answers() {
	"$PYTHON" "$TOOLS_SRC/varlink.py" --timeout 2 "$DAEMON_SOCK" --call io.ckptd.Status \
		>/dev/null 2>&1
}

# ---------------------------------------------------------------- client verbs

# ck VERB ARGS...: a client verb (run_ckptd: output in CKPTD_OUT/CKPTD_ERR); its status.
ck() {
	run_ckptd "$@"
}

# ck_ok VERB ARGS...: must succeed.
ck_ok() {
	local rc=0
	run_ckptd "$@" || rc=$?
	[ "$rc" = 0 ] || fail "ckptd $* failed with exit $rc: $(ckptd_error_line)"
}

# ck_json VERB ARGS...: VERB --json, must succeed; the JSON is in CKPTD_OUT.
ck_json() {
	ck_ok "$@" --json
}

# ck_quiet VERB ARGS...: for polling: output to $T/poll.out and $T/poll.err,
# overwritten each time, nothing logged.
ck_quiet() {
	"$CKPTD" "$@" </dev/null >"$T/poll.out" 2>"$T/poll.err"
}

# ck_fails VERB ARGS...: must fail with exit 1 or 2 and say "ckptd: error: "
# (exit 2, a usage error, may say it otherwise). Sets CK_RC.
ck_fails() {
	CK_RC=0
	run_ckptd "$@" || CK_RC=$?
	case $CK_RC in
	0) fail "ckptd $* succeeded; it must fail" ;;
	1)
		[ -n "$(ckptd_error_line)" ] ||
			fail "ckptd $* failed (exit 1) without a 'ckptd: error: ' line: $(head -c 300 "$CKPTD_ERR")"
		;;
	2) [ -s "$CKPTD_ERR" ] || fail "ckptd $* failed (exit 2) without a word on stderr" ;;
	*) fail "ckptd $* exited $CK_RC; expected 1 (failure) or 2 (usage)" ;;
	esac
	log "ok: ckptd $1 refused (exit $CK_RC): $(head -n 1 "$CKPTD_ERR")"
}

# snapshot_job NAME [ARGS...]: `ckptd snapshot NAME`, again while it says a
# scheduled snapshot is running (Busy). SNAP_RC: its exit status.
snapshot_job() {
	local attempt
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		SNAP_RC=0
		run_ckptd snapshot "$@" || SNAP_RC=$?
		[ "$SNAP_RC" != 0 ] && grep -qi busy "$CKPTD_ERR" || return 0
		log "busy (attempt $attempt), again"
		sleep 0.3
	done
}

# ---------------------------------------------------------------------- JSON

# The client's --json output may be one document or several (streamed
# progress, then the result): jq_py reads them all and evaluates EXPR with
# "docs" (the list) and "d" (the last one), printing strings as they are,
# lists one item per line, booleans as true/false and None as nothing.
JSON_PY='
import json, sys
text = open(sys.argv[1]).read()
dec, docs, i = json.JSONDecoder(), [], 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    try:
        doc, i = dec.raw_decode(text, i)
    except ValueError as e:
        sys.exit("%s: not JSON at offset %d: %s" % (sys.argv[1], i, e))
    docs.append(doc)
d = docs[-1] if docs else None
def job(name, jobs=None):
    for j in (jobs if jobs is not None else d.get("jobs", [])):
        if j.get("name") == name:
            return j
    return None
v = eval(sys.argv[2])
def out(x):
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (dict, list)):
        return json.dumps(x)
    return str(x)
if isinstance(v, (list, tuple)):
    for x in v:
        print(out(x))
elif v is not None:
    print(out(v))
'

# jq_py FILE EXPR: see JSON_PY. Fails the test on unreadable JSON.
jq_py() {
	"$PYTHON" -c "$JSON_PY" "$1" "$2" || fail "cannot evaluate '$2' on $1: $(head -c 300 "$1")"
}

# job_field NAME FIELD: a member of job NAME in `list --json` (nothing if absent).
job_field() {
	ck_quiet list --json || fail "ckptd list failed: $(cat "$T/poll.err")"
	jq_py "$T/poll.out" "(job('$1') or {}).get('$2')"
}

# job_listed NAME: true if `list` shows job NAME.
job_listed() {
	ck_quiet list --json || fail "ckptd list failed: $(cat "$T/poll.err")"
	[ "$(jq_py "$T/poll.out" "job('$1') is not None")" = true ]
}

# version_numbers NAME: the numbers `versions NAME --json` shows, one a line.
version_numbers() {
	ck_quiet versions "$1" --json || fail "ckptd versions $1 failed: $(cat "$T/poll.err")"
	jq_py "$T/poll.out" "[v['number'] for v in d['versions']]"
}

# wait_job NAME EXPR TIMEOUT_S WHAT: polls `list --json` until EXPR (Python,
# with j the job, or None while it is not listed) is true.
wait_job() {
	local name=$1 expr=$2 timeout=$3 what=$4 deadline
	deadline=$(($(now_ms) + timeout * 1000))
	while :; do
		daemon_alive || fail "the daemon died while waiting for $what"
		if ck_quiet list --json &&
			[ "$(jq_py "$T/poll.out" "(lambda j: bool($expr))(job('$name'))")" = true ]; then
			return 0
		fi
		if [ "$(now_ms)" -gt "$deadline" ]; then
			cp "$T/poll.out" "$T/list-at-timeout.json" 2>/dev/null || true
			cp "$T/poll.err" "$T/list-at-timeout.err" 2>/dev/null || true
			E2E_SHOW+=("$T/list-at-timeout.json" "$T/list-at-timeout.err")
			fail "no $what within ${timeout}s"
		fi
		sleep 0.2
	done
}

# wait_versions NAME N [TIMEOUT_S]: until job NAME holds at least N versions.
wait_versions() {
	wait_job "$1" "j is not None and j['versions'] >= $2" "${3:-60}" "$2 versions of job $1"
}

# wait_newest NAME N [TIMEOUT_S]: until job NAME's newest version is numbered N or more.
wait_newest() {
	wait_job "$1" "j is not None and (j.get('newest') or 0) >= $2" "${3:-60}" \
		"version $2 (or newer) of job $1"
}

# -------------------------------------------------------------- state on disk

job_dir() {
	echo "$DAEMON_STATE/jobs/$1"
}

# tmp_versions NAME: half-written versions (versions/.NNNNNN.tmp-PID) of job NAME, one a line.
tmp_versions() {
	local f
	for f in "$(job_dir "$1")"/versions/.*.tmp-*; do
		echo "${f##*/}"
	done
}

# no_tmp_versions NAME: true when job NAME holds no half-written version.
no_tmp_versions() {
	[ -z "$(tmp_versions "$1")" ]
}

# check_latest NAME: "latest" names a committed version (versions/NNNNNN)
# holding a manifest, and `ckptd inspect` reads it. Sets LATEST (its number).
# Nothing may write the job meanwhile (no daemon, or no snapshot due).
check_latest() {
	local name=$1 dir target rc=0
	dir=$(job_dir "$name")
	LATEST=
	if [ ! -L "$dir/latest" ]; then
		[ ! -e "$dir/latest" ] || fail "$dir/latest is not a symbolic link"
		return 0
	fi
	target=$(readlink "$dir/latest")
	[[ $target =~ ^(\./)?versions/([0-9]{6,})/?$ ]] ||
		fail "job $name: latest points at '$target', not versions/NNNNNN"
	# shellcheck disable=SC2034 # for the caller
	LATEST=$((10#${BASH_REMATCH[2]}))
	[ -d "$dir/latest" ] || fail "job $name: latest -> $target, which does not exist"
	[ -e "$dir/latest/manifest.json" ] || fail "job $name: latest -> $target, which has no manifest.json"
	"$CKPTD" inspect "$(readlink -f "$dir/latest")" </dev/null >"$T/inspect-latest.out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		E2E_SHOW+=("$T/inspect-latest.out")
		fail "job $name: ckptd inspect of latest ($target) fails with exit $rc"
	fi
}

# ---------------------------------------------------------------- processes

# check_running_soon PID WHAT [TIMEOUT_MS]: every thread untraced and not
# stopped, within TIMEOUT_MS (default 3000): a snapshot freezes a process
# for a moment, and a killed tracer lets go of it a moment after its death.
check_running_soon() {
	local pid=$1 what=$2 timeout=${3:-3000} deadline t s tracer ok
	deadline=$(($(now_ms) + timeout))
	while :; do
		alive "$pid" || fail "$what: pid $pid is gone"
		ok=1
		for t in /proc/"$pid"/task/*; do
			s=$(proc_state "$pid/task/${t##*/}")
			tracer=$(awk '/^TracerPid:/ { print $2 }' "$t/status" 2>/dev/null || echo 0)
			case $s in
			T | t) ok=0 ;;
			esac
			[ "${tracer:-0}" = 0 ] || ok=0
		done
		[ "$ok" = 0 ] || return 0
		[ "$(now_ms)" -le "$deadline" ] || check_running "$pid" "$what (after ${timeout} ms)"
		sleep 0.02
	done
}

# pids_running EXE: pids of live processes running EXE, one a line.
pids_running() {
	local exe p
	exe=$(readlink -f "$1")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] || continue
		alive "${p#/proc/}" && echo "${p#/proc/}"
	done
	return 0
}

# free_pid: a pid no process has (and none is likely to get soon).
free_pid() {
	local max p
	max=$(cat /proc/sys/kernel/pid_max)
	for ((p = max - 7; p > max / 2; p -= 13)); do
		[ -e "/proc/$p" ] || {
			echo "$p"
			return 0
		}
	done
	fail "no free pid found"
}

# ---------------------------------------------------------------- a second user

# daemon_user_init: an unprivileged user for the scenario, ckptdtest1
# (created if missing and deleted again at exit; the scenario is skipped
# without setpriv or useradd). Sets USER_NAME, uid and gid; AS_USER, a
# command prefix that runs as the user; CKPTD_USER and TOOLS_SRC_USER, the
# binary and tools the user can reach (copies under $T/bin if need be).
# Add the user's processes to user_pids: they are killed before the user
# is deleted.
daemon_user_init() {
	user_pids=()
	created=0
	USER_NAME=ckptdtest1
	command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
	if ! id -u "$USER_NAME" >/dev/null 2>&1; then
		command -v useradd >/dev/null || skip "no useradd to create $USER_NAME"
		useradd -M -r -s /usr/sbin/nologin "$USER_NAME" 2>"$T/useradd.err" ||
			skip "cannot create user $USER_NAME: $(cat "$T/useradd.err")"
		created=1
		log "created user $USER_NAME"
	fi
	uid=$(id -u "$USER_NAME")
	gid=$(id -g "$USER_NAME")
	[ "$uid" != 0 ] || fail "$USER_NAME has uid 0"

	DAEMON_ATEXIT+=(remove_user)

	AS_USER=(setpriv --reuid "$uid" --regid "$gid" --clear-groups)
	# The user must reach the binary and the tools: copy them if it cannot.
	chmod 0755 "$T"
	mkdir -m 0755 "$T/bin"
	if ! "${AS_USER[@]}" test -x "$CKPTD"; then
		cp "$CKPTD" "$T/bin/ckptd"
		CKPTD_USER=$T/bin/ckptd
	else
		CKPTD_USER=$CKPTD
	fi
	if ! "${AS_USER[@]}" test -r "$TOOLS_SRC/varlink.py"; then
		cp "$TOOLS_SRC/varlink.py" "$T/bin/"
		TOOLS_SRC_USER=$T/bin
	else
		TOOLS_SRC_USER=$TOOLS_SRC
	fi
	# A ckptd that runs as the user, for run_ckptd (lib.sh runs "$CKPTD").
	printf '#!/bin/sh\nexec %s %q "$@"\n' "${AS_USER[*]}" "$CKPTD_USER" >"$T/bin/ckptd-as-user"
	chmod 0755 "$T/bin/ckptd-as-user"
	CKPTD_ROOT=$CKPTD
}

# At exit: the user's processes killed, then the user deleted if we made it.
remove_user() {
	local p deadline
	for p in "${user_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	deadline=$(($(now_ms) + 5000))
	for p in "${user_pids[@]}"; do
		while alive "$p" && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.02
		done
	done
	if [ "$created" = 1 ]; then
		userdel "$USER_NAME" 2>/dev/null || log "could not delete user $USER_NAME"
	fi
}

# as_user VERB ARGS...: a client verb run as the user (CKPTD_OUT, CKPTD_ERR).
as_user() {
	local rc=0
	CKPTD=$T/bin/ckptd-as-user
	run_ckptd "$@" || rc=$?
	CKPTD=$CKPTD_ROOT
	return "$rc"
}
# user_ok VERB ARGS...: as the user, must succeed (a failure ends the test).
user_ok() {
	CKPTD=$T/bin/ckptd-as-user
	ck_ok "$@"
	CKPTD=$CKPTD_ROOT
}
# user_refused VERB ARGS...: the client, as the user, fails with exit 1.
user_refused() {
	local rc=0
	as_user "$@" || rc=$?
	[ "$rc" = 1 ] || fail "as $USER_NAME: ckptd $* exited $rc; it must be refused (exit 1)"
	[ -n "$(ckptd_error_line)" ] || fail "as $USER_NAME: ckptd $* was refused without a 'ckptd: error: ' line"
	log "ok: refused: $(ckptd_error_line)"
}
# user_vl ARGS...: vl as the user.
user_vl() {
	local saved=$TOOLS_SRC
	VL_PREFIX=("${AS_USER[@]}")
	TOOLS_SRC=$TOOLS_SRC_USER
	vl "$@"
	TOOLS_SRC=$saved
	VL_PREFIX=()
}

# ---------------------------------------------------------------- raw varlink

# vl ARGS...: tests/tools/varlink.py on the daemon's socket (under
# VL_PREFIX); VL_RC its exit status, VL_OUT (replies, one a line) and
# VL_ERR its files.
vl() {
	E2E_NRUN=$((E2E_NRUN + 1))
	VL_OUT=$T/vl-$E2E_NRUN.out
	VL_ERR=$T/vl-$E2E_NRUN.err
	VL_RC=0
	"${VL_PREFIX[@]}" "$PYTHON" "$TOOLS_SRC/varlink.py" "$DAEMON_SOCK" "$@" </dev/null \
		>"$VL_OUT" 2>"$VL_ERR" || VL_RC=$?
}

# The last reply's error name, or nothing.
vl_error() {
	[ -s "$VL_OUT" ] || return 0
	tail -n 1 "$VL_OUT" >"$VL_OUT.last"
	jq_py "$VL_OUT.last" "d.get('error')"
}

# vl_param KEY: a member of the last reply's parameters.
vl_param() {
	tail -n 1 "$VL_OUT" >"$VL_OUT.last"
	jq_py "$VL_OUT.last" "d.get('parameters', {}).get('$1')"
}

vl_what() {
	case $VL_RC in
	0) echo "a reply: $(head -c 300 "$VL_OUT")" ;;
	1) echo "error $(vl_error): $(tail -n 1 "$VL_OUT" | head -c 300)" ;;
	3) echo "the connection closed: $(tail -n 1 "$VL_ERR")" ;;
	4) echo "no answer: $(tail -n 1 "$VL_ERR")" ;;
	*) echo "varlink.py exit $VL_RC: $(tail -n 2 "$VL_ERR" | tr '\n' ' ')" ;;
	esac
}

# vl_expect_error NAME ARGS...: the call must get error NAME.
vl_expect_error() {
	local want=$1
	shift
	vl "$@"
	if [ "$VL_RC" != 1 ] || [ "$(vl_error)" != "$want" ]; then
		fail "varlink $*: expected error $want, got $(vl_what)"
	fi
	log "ok: $want: $(tail -n 1 "$VL_OUT" | head -c 200)"
}

# vl_expect_reply ARGS...: the call must get a reply that is no error.
vl_expect_reply() {
	vl "$@"
	[ "$VL_RC" = 0 ] || fail "varlink $*: expected a reply, got $(vl_what)"
}

# vl_expect_refusal ARGS...: a malformed call must get an error reply or the
# connection closed, within the timeout; never a success.
vl_expect_refusal() {
	vl "$@"
	case $VL_RC in
	1) log "ok: answered with error $(vl_error)" ;;
	3) log "ok: the daemon closed the connection" ;;
	*) fail "varlink $*: expected an error reply or the connection closed, got $(vl_what)" ;;
	esac
}

# daemon_healthy WHAT: the daemon lives and answers `status`.
daemon_healthy() {
	daemon_alive || fail "the daemon is gone after $1 ($(cat "$DAEMON_STATUS" 2>/dev/null || echo '?'))"
	ck_quiet status || fail "ckptd status fails after $1: $(cat "$T/poll.err")"
}
