#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-bad-input: what clients can throw at the daemon. One daemon, its
# state on a small tmpfs, watching a holder ("victim", every 2 s, keep 3);
# a second holder ("spare") is the target of watches that must fail.
# After every case below: the daemon lives and answers `status`, the victim
# runs (untraced, not stopped) and its job lists its versions, all "ok";
# the spare is watched by no job.
#
#   malformed       truncated or invalid JSON, not an object, an empty
#                   message, no or a bad "method", invalid UTF-8, deep
#                   nesting, random bytes: an error reply or the connection
#                   closed, never a success, never a hang
#   no NUL          a message without its NUL gets no answer (the daemon
#                   waits for the rest)
#   oversized       > 64 KiB: that connection is closed, another one opened
#                   before still gets its answer; 60 000 bytes are answered
#   methods         unknown method: org.varlink.service.MethodNotFound
#                   (unknown interface: MethodNotFound or InterfaceNotFound)
#   parameters      wrong types, missing or unknown parameters:
#                   org.varlink.service.InvalidParameter naming it
#   silent          10 clients connected, saying nothing: `status` and a raw
#                   List are answered meanwhile, within 2 s
#   idle 30 s       one silent client, held from the start, is disconnected
#                   after about 30 s (checked at the end, 20 to 50 s)
#   vanishing       half a message then close; a Snapshot sent and the
#                   connection closed before the reply (the daemon writes
#                   into a closed socket and must survive it); 20 Lists
#                   abandoned the same way
#   1000 at once    50 connections x 20 Status calls: every call answered;
#                   200 connections x 5 List calls: refusals (LimitReached,
#                   or closed unanswered) allowed, but every connection the
#                   daemon took gets all its answers, none times out
#   no process      watch of a pid that does not exist: NoSuchProcess (pid)
#   watched twice   watch of the victim again: AlreadyWatched (pid, name);
#                   another process under the victim's name: JobExists
#   intervals       --every 0 and -5m refused by the client; interval_ns 0
#                   and negative: InvalidValue (interval_ns)
#   pids            pid 0 and -1 refused (nothing signalled by mistake)
#   names           "a/b", "..", ".", ".hidden": InvalidName; a lookup of
#                   "../state": InvalidName or NoSuchJob; nothing created in
#                   the state directory or beside it
#   full disk       the state tmpfs filled up: `snapshot` fails saying so
#                   (SnapshotFailed), the versions before are intact and
#                   "latest" still reads, nothing half-written stays, the
#                   victim runs on; with space again, the next snapshot works
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-bad-input

mkdir "$T/small"
mount -t tmpfs -o size=48m,mode=0700 tmpfs "$T/small" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
E2E_MOUNTS+=("$T/small")
DAEMON_STATE=$T/small/state
daemon_init
daemon_start

# The idle client: connected now, checked at the end.
"$PYTHON" "$TOOLS_SRC/varlink.py" "$DAEMON_SOCK" --silent --hold 50 >"$T/idle.out" 2>"$T/idle.err" &
idle=$!
E2E_PIDS+=("$idle")
E2E_SHOW+=("$T/idle.err")

holder_start "$T/victim" -b 4
vpid=$HOLDER_PID
vtids=$HOLDER_TIDS
holder_start "$T/spare" -b 1
spid=$HOLDER_PID
stids=$HOLDER_TIDS
ck_ok watch "$vpid" --name victim --every 2s --keep 3
wait_versions victim 1 30

# Nothing harmed: see the top.
CASE=
unharmed() {
	daemon_healthy "$CASE"
	check_running_soon "$vpid" "the victim after $CASE"
	alive "$spid" || fail "the spare holder is gone after $CASE"
	ck_quiet versions victim --json || fail "ckptd versions victim fails after $CASE: $(cat "$T/poll.err")"
	[ "$(jq_py "$T/poll.out" "len(d['versions']) > 0 and all(v['state'] == 'ok' for v in d['versions'])")" = true ] ||
		fail "after $CASE the victim's versions are not all ok: $(head -c 400 "$T/poll.out")"
	ck_quiet list --json || fail "ckptd list fails after $CASE"
	[ "$(jq_py "$T/poll.out" "[j['name'] for j in d['jobs'] if j['pid'] == $spid]")" = "" ] ||
		fail "after $CASE the spare (pid $spid) is watched: $(head -c 400 "$T/poll.out")"
	[ "$(jq_py "$T/poll.out" "[j['name'] for j in d['jobs']]")" = victim ] ||
		fail "after $CASE the jobs are [$(jq_py "$T/poll.out" "[j['name'] for j in d['jobs']]" | tr '\n' ' ')], not just victim"
	log "-- $CASE: ok, nothing harmed"
}
case_() {
	CASE=$1
	log "-- case: $CASE"
}


# expect_invalid_parameter NAME METHOD PARAMS: InvalidParameter naming NAME.
expect_invalid_parameter() {
	local want=$1
	vl_expect_error org.varlink.service.InvalidParameter --call "$2" --params "$3"
	[ "$(vl_param parameter)" = "$want" ] ||
		fail "$2 $3: InvalidParameter names '$(vl_param parameter)', not '$want'"
}

# ------------------------------------------------------------------ messages
case_ "malformed messages"
for m in '{"method": "io.ckptd.List"' '{"method": io.ckptd.List}' '{"method":"io.ckptd.List"}}' \
	'[]' '[{"method": "io.ckptd.List"}]' '"io.ckptd.List"' '42' 'null' 'true' '' '   ' \
	'{}' '{"parameters": {}}' '{"method": 42}' '{"method": null}' '{"method": ""}' \
	'{"method": "List"}' '{"method": "io.ckptd.List", "parameters": [1, 2]}' \
	'{"method": "io.ckptd.List", "parameters": "x"}' '{"method": "io.ckptd.List", "more": "yes"}' \
	'{"method": "io.ckptd.List"} trailing'; do
	log "message: '$m'"
	vl_expect_refusal --timeout 5 "$m"
done
log "message: invalid UTF-8"
vl_expect_refusal --timeout 5 --raw '{"method":"io.ckptd.Versions","parameters":{"name":"\xff\xfe\xc3"}}\x00'
log "message: a NUL inside the JSON"
vl_expect_refusal --timeout 5 --raw '{"method":"io.ck\x00ptd.List"}\x00'
log "message: nested 20000 deep"
deep=$(printf '%*s' 20000 '' | tr ' ' '[')$(printf '%*s' 20000 '' | tr ' ' ']')
vl_expect_refusal --timeout 5 "{\"method\":\"io.ckptd.List\",\"parameters\":{\"x\":$deep}}"
for _ in 1 2 3; do
	rand_between 1 100000
	log "message: 4096 random bytes (seed $RAND)"
	vl_expect_refusal --timeout 5 --garbage 4096 --seed "$RAND"
done
unharmed

case_ "a message without its NUL"
vl --timeout 2 --no-nul '{"method": "io.ckptd.List"}'
[ "$VL_RC" = 4 ] || fail "a message without its NUL: expected no answer within 2 s, got $(vl_what)"
unharmed

case_ "oversized messages"
for n in 70000 1048576; do
	vl --timeout 10 --oversize "$n" --witness '{"method": "io.ckptd.Status"}'
	[ "$VL_RC" = 3 ] || fail "a $n-byte message: expected the connection closed, got $(vl_what)"
	grep -q '^witness: {"parameters"' "$VL_OUT" ||
		fail "a $n-byte message: the other connection got no answer: $(cat "$VL_OUT")"
	log "ok: $n bytes: closed; the other connection answered"
done
vl --timeout 10 --oversize 60000
[ "$VL_RC" = 1 ] || fail "a 60000-byte call (under the limit) must be answered (with an error), got $(vl_what)"
log "ok: 60000 bytes answered: $(vl_error)"
unharmed

case_ "unknown methods"
vl_expect_error org.varlink.service.MethodNotFound --call io.ckptd.Nope
vl_expect_error org.varlink.service.MethodNotFound --call io.ckptd.Dump --params "{\"pid\": $spid}"
vl --call org.example.thing.Do
case $(vl_error) in
org.varlink.service.MethodNotFound | org.varlink.service.InterfaceNotFound) log "ok: $(vl_error)" ;;
*) fail "a method of an unknown interface: expected MethodNotFound or InterfaceNotFound, got $(vl_what)" ;;
esac
unharmed

case_ "wrong parameters"
expect_invalid_parameter pid io.ckptd.Watch '{"pid": "abc"}'
expect_invalid_parameter pid io.ckptd.Watch '{"pid": 1.5}'
expect_invalid_parameter pid io.ckptd.Watch '{"pid": null}'
expect_invalid_parameter pid io.ckptd.Watch '{}'
expect_invalid_parameter pid io.ckptd.Watch '{"name": "nopid"}'
expect_invalid_parameter interval_ns io.ckptd.Watch "{\"pid\": $spid, \"interval_ns\": \"10m\"}"
expect_invalid_parameter keep io.ckptd.Watch "{\"pid\": $spid, \"keep\": true}"
expect_invalid_parameter name io.ckptd.Watch "{\"pid\": $spid, \"name\": 7}"
expect_invalid_parameter restore_on_boot io.ckptd.Watch "{\"pid\": $spid, \"restore_on_boot\": \"yes\"}"
expect_invalid_parameter colour io.ckptd.Watch "{\"pid\": $spid, \"colour\": \"red\"}"
expect_invalid_parameter name io.ckptd.Versions '{"name": 42}'
expect_invalid_parameter name io.ckptd.Versions '{}'
expect_invalid_parameter name io.ckptd.Snapshot '{"name": ["victim"]}'
expect_invalid_parameter version io.ckptd.Restore '{"name": "victim", "version": "latest"}'
expect_invalid_parameter bogus io.ckptd.List '{"bogus": 1}'
expect_invalid_parameter bogus io.ckptd.Status '{"bogus": 1}'
expect_invalid_parameter force io.ckptd.Unwatch '{"name": "victim", "force": true}'
unharmed

case_ "silent clients"
rm -f "$T/silent.ready"
"$PYTHON" "$TOOLS_SRC/varlink.py" "$DAEMON_SOCK" --silent --concurrent 10 --hold 20 \
	--ready-file "$T/silent.ready" >"$T/silent.out" 2>"$T/silent.err" &
silent=$!
E2E_PIDS+=("$silent")
deadline=$(($(now_ms) + 10000))
while [ ! -e "$T/silent.ready" ]; do
	[ "$(now_ms)" -le "$deadline" ] || fail "the 10 silent clients did not connect"
	sleep 0.02
done
t0=$(now_ms)
ck_ok status
vl_expect_reply --timeout 5 --call io.ckptd.List
dt=$(($(now_ms) - t0))
[ "$dt" -le 2000 ] || fail "with 10 silent clients connected, status and List took $dt ms"
log "ok: answered in $dt ms with 10 silent clients connected"
kill "$silent" 2>/dev/null || true
child_status "$silent"
unharmed

case_ "clients vanishing mid-request"
vl --half '{"method": "io.ckptd.Versions", "parameters": {"name": "victim"}}'
[ "$VL_RC" = 0 ] || fail "varlink.py --half: $(vl_what)"
vl --close-after-send '{"method": "io.ckptd.Snapshot", "parameters": {"name": "victim"}}'
[ "$VL_RC" = 0 ] || fail "varlink.py --close-after-send: $(vl_what)"
for _ in $(seq 1 20); do
	vl --close-after-send '{"method": "io.ckptd.List"}'
done
# The abandoned snapshot ends (committed or not) and the daemon lives on.
wait_job victim "j is not None and j['state'] != 'snapshotting'" 30 "the abandoned snapshot's end"
unharmed

case_ "1000 requests at once"
vl --timeout 30 --concurrent 50 --repeat 20 '{"method": "io.ckptd.Status"}'
E2E_SHOW+=("$VL_OUT")
log "50 x 20: $(cat "$VL_OUT")"
[ "$VL_RC" = 0 ] || fail "50 connections x 20 calls: not all answered: $(cat "$VL_OUT")"
[ "$(jq_py "$VL_OUT" "d['replies']")" = 1000 ] ||
	fail "50 connections x 20 Status calls: $(jq_py "$VL_OUT" "d['replies']") replies, not 1000: $(cat "$VL_OUT")"
vl --timeout 30 --concurrent 200 --repeat 5 '{"method": "io.ckptd.List"}'
log "200 x 5: $(cat "$VL_OUT")"
"$PYTHON" - "$VL_OUT" <<'PY' || fail "200 connections x 5 calls: $(cat "$VL_OUT")"
import json, sys
s = json.loads(open(sys.argv[1]).read())
bad = []
if s["timeouts"]:
    bad.append("%d calls got no answer in time" % s["timeouts"])
if s["partial"]:
    bad.append("%d connections were cut off after some answers" % s["partial"])
others = {k: v for k, v in s["errors"].items() if k != "io.ckptd.LimitReached"}
if others:
    bad.append("errors other than LimitReached: %s" % others)
if s["replies"] != 5 * s["served_connections"]:
    bad.append("%d replies for %d served connections" % (s["replies"], s["served_connections"]))
if s["served_connections"] < 50:
    bad.append("only %d of 200 connections were served" % s["served_connections"])
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
unharmed

# ----------------------------------------------------------------- requests
case_ "watch of a pid that does not exist"
ghost=$(free_pid)
ck_fails watch "$ghost" --name ghost
vl_expect_error io.ckptd.NoSuchProcess --call io.ckptd.Watch --params "{\"pid\": $ghost, \"name\": \"ghost\"}"
[ "$(vl_param pid)" = "$ghost" ] || fail "NoSuchProcess names pid $(vl_param pid), not $ghost"
[ ! -e "$(job_dir ghost)" ] || fail "a refused watch left $(job_dir ghost)"
unharmed

case_ "pids 0 and -1"
for p in 0 -1; do
	vl --call io.ckptd.Watch --params "{\"pid\": $p, \"name\": \"nopid\"}"
	[ "$VL_RC" = 1 ] || fail "watch of pid $p: expected an error, got $(vl_what)"
	log "ok: pid $p: $(vl_error)"
done
unharmed

case_ "watch of a watched process"
ck_fails watch "$vpid" --name again
vl_expect_error io.ckptd.AlreadyWatched --call io.ckptd.Watch --params "{\"pid\": $vpid, \"name\": \"again\"}"
[ "$(vl_param pid)" = "$vpid" ] || fail "AlreadyWatched names pid $(vl_param pid), not $vpid"
[ "$(vl_param name)" = victim ] || fail "AlreadyWatched names job '$(vl_param name)', not victim"
ck_fails watch "$spid" --name victim
vl_expect_error io.ckptd.JobExists --call io.ckptd.Watch --params "{\"pid\": $spid, \"name\": \"victim\"}"
[ "$(job_field victim pid)" = "$vpid" ] || fail "job victim now watches pid $(job_field victim pid)"
unharmed

case_ "intervals 0 and -5m"
ck_fails watch "$spid" --name iv --every 0
ck_fails watch "$spid" --name iv --every -5m
ck_fails watch "$spid" --name iv --every=-5m
vl_expect_error io.ckptd.InvalidValue --call io.ckptd.Watch --params "{\"pid\": $spid, \"name\": \"iv\", \"interval_ns\": 0}"
[ "$(vl_param parameter)" = interval_ns ] || fail "InvalidValue names '$(vl_param parameter)', not interval_ns"
vl_expect_error io.ckptd.InvalidValue --call io.ckptd.Watch \
	--params "{\"pid\": $spid, \"name\": \"iv\", \"interval_ns\": -300000000000}"
[ "$(vl_param parameter)" = interval_ns ] || fail "InvalidValue names '$(vl_param parameter)', not interval_ns"
unharmed

case_ "bad names"
entries() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
entries "$DAEMON_STATE/jobs" >"$T/jobs.before"
entries "$T/small" >"$T/small.before"
for name in a/b .. . .hidden; do
	ck_fails watch "$spid" --name "$name"
	vl_expect_error io.ckptd.InvalidName --call io.ckptd.Watch --params "{\"pid\": $spid, \"name\": \"$name\"}"
	[ "$(vl_param name)" = "$name" ] || fail "InvalidName names '$(vl_param name)', not '$name'"
done
# A lookup by such a name finds nothing, whatever the daemon calls it.
vl --call io.ckptd.Versions --params '{"name": "../state"}'
case $VL_RC:$(vl_error) in
1:io.ckptd.InvalidName | 1:io.ckptd.NoSuchJob) log "ok: versions ../state: $(vl_error)" ;;
*) fail "versions of job '../state': expected InvalidName or NoSuchJob, got $(vl_what)" ;;
esac
entries "$DAEMON_STATE/jobs" | cmp -s - "$T/jobs.before" ||
	fail "bad names changed $DAEMON_STATE/jobs: $(entries "$DAEMON_STATE/jobs" | tr '\n' ' ')"
entries "$T/small" | cmp -s - "$T/small.before" ||
	fail "bad names created files beside the state directory: $(entries "$T/small" | tr '\n' ' ')"
unharmed

# ---------------------------------------------------------------- full disk
case_ "a full disk"
dd if=/dev/zero of="$T/small/filler" bs=1M status=none 2>/dev/null || true
dd if=/dev/zero of="$T/small/filler2" bs=4k status=none 2>/dev/null || true
log "state tmpfs: $(df -h --output=avail "$T/small" | tail -n 1) free"
versions_before=$(version_numbers victim | tr '\n' ' ')
snapshot_job victim
check_error space "$SNAP_RC" "ckptd snapshot victim on a full disk"
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	vl --timeout 30 --call io.ckptd.Snapshot --params '{"name": "victim"}'
	[ "$(vl_error)" = io.ckptd.Busy ] || break
	sleep 0.3
done
[ "$(vl_error)" = io.ckptd.SnapshotFailed ] ||
	fail "a snapshot on a full disk: expected io.ckptd.SnapshotFailed, got $(vl_what)"
log "ok: SnapshotFailed: $(vl_param message)"
[ "$(version_numbers victim | tr '\n' ' ')" = "$versions_before" ] ||
	fail "the victim's versions changed on a full disk: [$versions_before] -> [$(version_numbers victim | tr '\n' ' ')]"
check_latest victim
[ -n "$LATEST" ] || fail "the victim's latest is gone on a full disk"
log "latest is still version $LATEST"
wait_for 5 "a half-written version stays on a full disk" no_tmp_versions victim
unharmed
rm -f "$T/small/filler" "$T/small/filler2"
snapshot_job victim --json
[ "$SNAP_RC" = 0 ] || fail "with space again, ckptd snapshot victim fails: $(ckptd_error_line)"
log "with space again: a new version: $(tr -d '\n ' <"$CKPTD_OUT" | head -c 200)"
[ "$(version_numbers victim | tail -n 1)" -gt "$(echo "$versions_before" | awk '{ print $NF }')" ] ||
	fail "no newer version after the disk had space again"
CASE="space again"
unharmed

# ------------------------------------------------------------------- the end
log "waiting for the idle client's verdict"
child_status "$idle"
idle_rc=$CHILD_STATUS
[ "$idle_rc" = 3 ] || fail "the idle client was not disconnected within 50 s (exit $idle_rc): $(cat "$T/idle.err")"
after=$(sed -n 's/.*closed by peer (after \([0-9]*\)\..*/\1/p' "$T/idle.err")
if [ -z "$after" ] || [ "$after" -lt 20 ] || [ "$after" -gt 50 ]; then
	fail "the idle client was disconnected after ${after:-?} s, expected about 30: $(cat "$T/idle.err")"
fi
log "ok: the idle client was disconnected after $after s"

CASE="everything"
unharmed
HOLDER_TIDS=$vtids holder_finish "$vpid" "$T/victim"
HOLDER_TIDS=$stids holder_finish "$spid" "$T/spare"
daemon_stop
log "PASS"
