#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-users: who may do what. An unprivileged user (ckptdtest1, created
# for the test if missing and then deleted again) and root each run a
# holder. Checked both with the client (exit 1, "ckptd: error: ") and with
# raw varlink calls (the error is io.ckptd.PermissionDenied):
#   - the socket is 0666 in a 0755 directory, and the user reaches it;
#   - the user may not watch root's process; may watch its own; root
#     watches its own;
#   - the user's snapshot, versions, restore and unwatch of root's job are
#     refused, PermissionDenied or NoSuchJob (a daemon may hide that another
#     user's job exists); the restore also when root's process is gone (its
#     pid stays free); of its own job they succeed;
#   - root may look at the user's job;
#   - the user's restore brings back a process owned by the user (real,
#     effective, saved and fs uid and gid), root's restore one owned by
#     root, and each holder finds every bit of its state intact.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-users
daemon_init

daemon_user_init

# user_denied METHOD PARAMS: the raw call, as the user, gets PermissionDenied.
user_denied() {
	user_vl --call "$1" --params "$2"
	if [ "$VL_RC" != 1 ] || [ "$(vl_error)" != io.ckptd.PermissionDenied ]; then
		fail "as $USER_NAME: $1 $2: expected io.ckptd.PermissionDenied, got $(vl_what)"
	fi
	log "ok: $(vl_error): $(vl_param message)"
}
# user_denied_job METHOD PARAMS: a call on another's job is refused:
# PermissionDenied, or NoSuchJob (the daemon may not even tell that it exists).
user_denied_job() {
	user_vl --call "$1" --params "$2"
	case $VL_RC:$(vl_error) in
	1:io.ckptd.PermissionDenied | 1:io.ckptd.NoSuchJob) log "ok: $(vl_error): $(vl_param message)" ;;
	*) fail "as $USER_NAME: $1 $2: expected io.ckptd.PermissionDenied (or NoSuchJob), got $(vl_what)" ;;
	esac
}

# owner_is PID UID GID: every uid and gid of the process (real, effective, saved, fs).
owner_is() {
	local pid=$1 u=$2 g=$3 uids gids
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	[ "$uids" = "$u $u $u $u" ] || fail "pid $pid has uids $uids, expected $u everywhere"
	[ "$gids" = "$g $g $g $g" ] || fail "pid $pid has gids $gids, expected $g everywhere"
}

# kill_and_free PID: SIGKILL our child and reap it: its pid is free for a restore.
kill_and_free() {
	kill -KILL "$1"
	child_status "$1"
	[ "$CHILD_STATUS" = 137 ] || fail "pid $1 ended with status $CHILD_STATUS before we killed it"
	[ ! -e "/proc/$1" ] || fail "pid $1 was not reaped"
}

daemon_start
sockdir=$(dirname "$DAEMON_SOCK")
[ "$(stat -c %a "$DAEMON_SOCK")" = 666 ] || fail "the socket has mode $(stat -c %a "$DAEMON_SOCK"), not 0666"
[ "$(stat -c %a "$sockdir")" = 755 ] || fail "the socket's directory has mode $(stat -c %a "$sockdir"), not 0755"
[ "$(stat -c %a "$DAEMON_STATE")" = 700 ] || fail "the state directory has mode $(stat -c %a "$DAEMON_STATE"), not 0700"
user_ok status

mkdir -p "$T/u"
chown "$uid:$gid" "$T/u"
HOLDER_AS=("${AS_USER[@]}")
holder_start "$T/u"
HOLDER_AS=()
upid=$HOLDER_PID
utids=$HOLDER_TIDS
user_pids+=("$upid")
owner_is "$upid" "$uid" "$gid"
holder_start "$T/r"
rpid=$HOLDER_PID
rtids=$HOLDER_TIDS
log "user holder $upid, root holder $rpid"

# Watch: not root's process; its own, yes. Root watches its own.
user_refused watch "$rpid" --name stolen --every 1h
user_denied io.ckptd.Watch "{\"pid\": $rpid, \"name\": \"stolen\", \"interval_ns\": 3600000000000}"
job_listed stolen && fail "a refused watch created job 'stolen'"
[ ! -e "$(job_dir stolen)" ] || fail "a refused watch left $(job_dir stolen)"
user_ok watch "$upid" --name userjob --every 1h
ck_ok watch "$rpid" --name rootjob --every 1h
[ "$(job_field userjob owner)" = "$uid" ] || fail "job userjob is owned by $(job_field userjob owner), not $uid"
[ "$(job_field rootjob owner)" = 0 ] || fail "job rootjob is owned by $(job_field rootjob owner), not root"

# Each takes a version of its own job.
user_ok snapshot userjob
ck_ok snapshot rootjob
check_running_soon "$upid" "the user's holder after its snapshot"
check_running_soon "$rpid" "root's holder after its snapshot"

# Root's job is out of the user's reach. (A watch may take a first version
# at once: compare with what there is now.)
root_versions=$(version_numbers rootjob | tr '\n' ' ')
[ -n "$root_versions" ] || fail "rootjob holds no version after a snapshot"
user_refused snapshot rootjob
user_denied_job io.ckptd.Snapshot '{"name": "rootjob"}'
user_refused versions rootjob
user_denied_job io.ckptd.Versions '{"name": "rootjob"}'
user_refused restore rootjob
user_denied_job io.ckptd.Restore '{"name": "rootjob"}'
user_refused unwatch rootjob
user_denied_job io.ckptd.Unwatch '{"name": "rootjob"}'
job_listed rootjob || fail "job rootjob is gone after the user's refused unwatch"
[ "$(version_numbers rootjob | tr '\n' ' ')" = "$root_versions" ] ||
	fail "rootjob's versions changed from [$root_versions] to [$(version_numbers rootjob | tr '\n' ' ')]"
if as_user list --json; then
	log "the user's list shows: $(jq_py "$CKPTD_OUT" "[j['name'] for j in d.get('jobs', [])]" | tr '\n' ' ')"
else
	log "note: the user's list fails: $(ckptd_error_line)"
fi

# Its own job: versions, yes; root may look too.
user_ok versions userjob --json
[ "$(jq_py "$CKPTD_OUT" "len(d['versions']) > 0 and all(v['state'] == 'ok' for v in d['versions'])")" = true ] ||
	fail "the user's job should hold versions, all ok: $(head -c 300 "$CKPTD_OUT")"
ck_ok versions userjob

# The user's restore of its own job: a process of the user's.
kill_and_free "$upid"
user_ok restore userjob
alive "$upid" || fail "the user's restore did not bring back pid $upid"
E2E_PIDS+=("$upid")
owner_is "$upid" "$uid" "$gid"
check_running_soon "$upid" "the user's restored holder"
log "the user's holder $upid is back, owned by $uid:$gid"

# Root's process is gone: the user still may not restore it.
kill_and_free "$rpid"
user_refused restore rootjob
user_denied_job io.ckptd.Restore '{"name": "rootjob"}'
sleep 0.5
[ ! -e "/proc/$rpid" ] || fail "pid $rpid exists after the user's refused restore of rootjob"
ck_ok restore rootjob
alive "$rpid" || fail "root's restore did not bring back pid $rpid"
E2E_PIDS+=("$rpid")
owner_is "$rpid" 0 0
check_running_soon "$rpid" "root's restored holder"

holder_finish "$upid" "$T/u" "$utids"
holder_finish "$rpid" "$T/r" "$rtids"

user_ok unwatch userjob
job_listed userjob && fail "job userjob is still listed after the user's unwatch"
ck_ok unwatch rootjob
daemon_healthy "the users' calls"
daemon_stop
log "PASS"
