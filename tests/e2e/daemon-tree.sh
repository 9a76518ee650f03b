#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-tree: process trees through the daemon, as an unprivileged user
# (ckptdtest1, see daemon_user_init). The tree is `sh -c 'producer | consumer'`
# (two shell loops, the producer forking a sleep per line, the consumer
# writing a running sum to a file); a reference copy runs uninterrupted.
#   - watched with --external pipe=close (the job says so), snapshotted,
#     killed whole, restored by the daemon: the same PIDs, the user's, and
#     the output byte for byte the reference's;
#   - again with the root's PID taken by another process: a plain restore
#     is refused naming it; --pidns brings the tree back in a new PID
#     namespace (the client prints both PIDs, the job watches the outside
#     one, whose NSpid is the saved PID); a further snapshot there, the
#     tree killed and restored from it with --pidns again: the same PIDs
#     inside as before the kill, and the output is the reference's;
#   - a tree of the user's whose child runs as another uid (made by root:
#     a child switched to nobody, then the parent exec'd as the user):
#     Watch is refused naming the child and its uid; root may watch it;
#   - a watched tree whose child later makes itself not dumpable: the
#     next snapshot fails naming that child (the engine checks every
#     member, not only Watch), the job's last error says so, no version
#     is added and every process runs on;
#   - a process whose fd 3 is a pipe to a process outside the tree: its
#     job's snapshots fail naming fd 3 and --external pipe=close, and with
#     that option they succeed; the option is kept across a restart.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-tree
daemon_init
daemon_user_init

# 300 lines, one each 30 ms or so: long enough to be caught mid-way.
TREE_SH='i=0
while [ $i -lt 300 ]; do echo $i; i=$((i + 1)); sleep 0.03; done | {
	s=0
	while read -r n; do s=$((s + n)); echo "$n $s"; done
	echo PASS
} >out'

# tree_pids PID: PID and every descendant, one a line.
tree_pids() {
	local c
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		tree_pids "$c"
	done
}

# inner_shape PID: "PID-INSIDE PARENT-INSIDE COMM" for PID and its descendants
# but the short-lived sleeps, as they see each other in their PID namespace.
inner_shape() {
	local p comm pid pp
	for p in $(tree_pids "$1"); do
		comm=$(cat /proc/"$p"/comm 2>/dev/null) || continue
		[ "$comm" != sleep ] || continue
		pid=$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) || continue
		pp=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		echo "$pid $(awk '/^NSpid:/ { print $NF }' "/proc/$pp/status" 2>/dev/null) $comm"
	done | sort -n
}

# user_dir DIR: a directory the user owns, stdout and stderr files included
# (a restore as the user reopens them with the user's rights).
user_dir() {
	mkdir -p "$1"
	touch "$1/stdout" "$1/stderr"
	chown "$uid:$gid" "$1" "$1/stdout" "$1/stderr"
}

# start_tree DIR: the tree as the user in DIR; TREE_PID. Ready once the
# consumer has written 20 lines.
start_tree() {
	user_dir "$1"
	start_bg "$1" "${AS_USER[@]}" sh -c "$TREE_SH"
	TREE_PID=$BG_PID
	user_pids+=("$TREE_PID")
	wait_for 30 "the tree in $1 wrote nothing" lines_at_least "$1/out" 20
}

# kill_tree PID: SIGKILL to its process group (the whole tree: sh -c makes no
# groups of its own), the root reaped, every member gone, so its PIDs are free.
kill_tree() {
	local pid=$1 p members
	members=$(tree_pids "$pid" | tr '\n' ' ')
	kill -KILL -- "-$pid"
	child_status "$pid"
	for p in $members; do
		wait_gone "$p" 10 "member $p of the killed tree"
	done
	log "killed the tree of $pid: $members"
}

# same_output DIR: DIR/out, once it says PASS, is the reference's byte for byte.
same_output() {
	wait_for 120 "the restored tree in $1 did not finish" grep -qx PASS "$1/out"
	cmp "$T/ref/out" "$1/out" ||
		fail "$1/out differs from the uninterrupted run's: $(diff "$T/ref/out" "$1/out" | head -n 8)"
	log "ok: $1/out is the uninterrupted run's ($(wc -l <"$1/out") lines)"
}

# uid_of PID: its effective uid.
uid_of() {
	awk '/^Uid:/ { print $3 }' "/proc/$1/status" 2>/dev/null || true
}

# For wait_for, which runs a command until it succeeds.
uid_is() {
	[ "$(uid_of "$1")" = "$2" ]
}
lines_at_least() {
	[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]
}
has_children() {
	[ -n "$(cat /proc/"$1"/task/*/children 2>/dev/null)" ]
}

daemon_start
mkdir -p "$T/ref"
start_bg "$T/ref" sh -c "$TREE_SH"
ref_pid=$BG_PID

log "case: a tree watched, killed and restored by the daemon"
start_tree "$T/a"
a=$TREE_PID
user_ok watch "$a" --name tree --every 1h --external pipe=close
[ "$(job_field tree pipe_close)" = true ] || fail "job tree does not say pipe_close"
wait_versions tree 1 30
snapshot_job tree
[ "$SNAP_RC" = 0 ] || fail "the snapshot of job tree failed: $(job_field tree last_error)"
members=$(tree_pids "$a" | tr '\n' ' ')
[ "$(wc -w <<<"$members")" -ge 3 ] || fail "the tree of $a has only $members"
log "tree members: $members"
kill_tree "$a"
user_ok restore tree
grep -q "^pid $a running again" "$CKPTD_OUT" || fail "restore said: $(cat "$CKPTD_OUT")"
alive "$a" || fail "the restore did not bring back pid $a"
E2E_PIDS+=("$a")
user_pids+=("$a")
[ "$(uid_of "$a")" = "$uid" ] || fail "restored pid $a runs as uid $(uid_of "$a"), not $uid"
for p in $(tree_pids "$a"); do
	u=$(uid_of "$p") # nothing: a sleep that ended meanwhile
	[ -z "$u" ] || [ "$u" = "$uid" ] || fail "restored member $p runs as uid $u"
done
same_output "$T/a"
child_status "$ref_pid"
[ "$CHILD_STATUS" = 0 ] || fail "the reference tree ended with status $CHILD_STATUS"
user_ok unwatch tree

log "case: restored with --pidns while its PID is taken"
start_tree "$T/b"
b=$TREE_PID
user_ok watch "$b" --name tree2 --every 1h
wait_versions tree2 1 30
kill_tree "$b"
other=$("$TOOLS/takepid" "$b" sleep 1000) || fail "could not start a process with pid $b"
E2E_PIDS+=("$other")
user_refused restore tree2
grep -q "$b" <<<"$(ckptd_error_line)" || fail "the refusal does not name pid $b: $(ckptd_error_line)"
alive "$other" || fail "the process holding pid $b is gone after the refused restore"
user_ok restore tree2 --pidns
line=$(head -n 1 "$CKPTD_OUT")
[[ $line =~ ^pid\ $b\ running\ again\ in\ a\ new\ PID\ namespace\ \(PID\ ([0-9]+)\ outside\ it\) ]] ||
	fail "restore --pidns said: $line"
outside=${BASH_REMATCH[1]}
log "the tree's root is pid $b inside, $outside outside"
alive "$outside" || fail "pid $outside (the restored root) does not run"
user_pids+=("$outside")
nspid=$(awk '/^NSpid:/ { print $2, $3 }' "/proc/$outside/status")
[ "$nspid" = "$outside $b" ] || fail "pid $outside has NSpid $nspid, expected '$outside $b'"
[ "$(uid_of "$outside")" = "$uid" ] || fail "pid $outside runs as uid $(uid_of "$outside"), not $uid"
[ "$(job_field tree2 pid)" = "$outside" ] || fail "job tree2 watches pid $(job_field tree2 pid), not $outside"

log "case: snapshotted again in its PID namespace, killed, restored from that version"
user_ok snapshot tree2
[ "$(job_field tree2 versions)" = 2 ] || fail "job tree2 has $(job_field tree2 versions) versions, not 2"
inner_shape "$outside" >"$T/b.inner"
log "inside the namespace: $(tr '\n' ';' <"$T/b.inner")"
kill_tree "$outside"
user_ok restore tree2 --pidns
line=$(head -n 1 "$CKPTD_OUT")
[[ $line =~ ^pid\ $b\ running\ again\ in\ a\ new\ PID\ namespace\ \(PID\ ([0-9]+)\ outside\ it\)\ from\ \"tree2\"\ version\ 2$ ]] ||
	fail "the restore of version 2 said: $line"
outside=${BASH_REMATCH[1]}
user_pids+=("$outside")
inner_shape "$outside" >"$T/b.inner2"
cmp -s "$T/b.inner" "$T/b.inner2" ||
	fail "the tree came back with other PIDs inside: $(diff "$T/b.inner" "$T/b.inner2" | tr '\n' ' ')"
[ "$(job_field tree2 pid)" = "$outside" ] || fail "job tree2 watches pid $(job_field tree2 pid), not $outside"
same_output "$T/b"
kill -KILL "$other"
user_ok unwatch tree2

log "case: a tree with a member of another uid"
mkdir -p "$T/c"
start_bg "$T/c" sh -c "setpriv --reuid 65534 --regid 65534 --clear-groups sleep 1000 &
exec setpriv --reuid $uid --regid $gid --clear-groups sleep 1000"
c=$BG_PID
user_pids+=("$c")
wait_for 10 "pid $c did not become the user's" uid_is "$c" "$uid"
wait_for 10 "pid $c has no child" has_children "$c"
member=$(cat /proc/"$c"/task/*/children | tr -d ' \n')
wait_for 10 "pid $member did not become nobody" uid_is "$member" 65534
E2E_PIDS+=("$member")
user_refused watch "$c" --name mixed --every 1h
grep -qF "descendant PID $member (uid 65534)" <<<"$(ckptd_error_line)" ||
	fail "the refusal does not name member $member and uid 65534: $(ckptd_error_line)"
job_listed mixed && fail "a refused watch created job 'mixed'"
check_running_soon "$c" "the tree's root after the refused watch"
check_running_soon "$member" "the tree's member after the refused watch"
ck_ok watch "$c" --name mixed-root --every 1h
wait_versions mixed-root 1 30
ck_ok unwatch mixed-root

log "case: a member that is no longer the user's to trace at a later snapshot"
user_dir "$T/d"
start_bg "$T/d" "${AS_USER[@]}" sh -c 'while [ ! -e go ]; do sleep 0.05; done
python3 -c "
import ctypes, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: 0
open(\"undumpable\", \"w\").close()
time.sleep(1000)
" & wait'
d=$BG_PID
user_pids+=("$d")
user_ok watch "$d" --name later --every 1h
wait_versions later 1 30
before=$(version_numbers later | tr '\n' ' ')
touch "$T/d/go"
wait_for 20 "the child did not make itself not dumpable" test -e "$T/d/undumpable"
py=$(pgrep -P "$d" -x python3) || fail "no python3 child of $d"
rc=0
as_user snapshot later || rc=$?
[ "$rc" = 1 ] || fail "the snapshot of a tree with an undumpable member exited $rc"
err=$(ckptd_error_line)
grep -qF "PID $py (uid $uid), a descendant of PID $d" <<<"$err" && grep -q "not dumpable" <<<"$err" ||
	fail "the snapshot's error does not name member $py as not dumpable: $err"
log "ok: refused: $err"
grep -qF "PID $py" <<<"$(job_field later last_error)" ||
	fail "the job's last error does not name $py: $(job_field later last_error)"
[ "$(version_numbers later | tr '\n' ' ')" = "$before" ] ||
	fail "the refused snapshot changed the versions from [$before] to [$(version_numbers later | tr '\n' ' ')]"
check_running_soon "$d" "the tree's root after the refused snapshot"
check_running_soon "$py" "the undumpable member after the refused snapshot"
user_ok unwatch later

log "case: a pipe to a process outside the tree, with and without pipe=close"
user_dir "$T/e"
# The reader is ours, not the tree's (a process substitution would be a child of the tree).
coproc READER { exec cat >/dev/null; }
E2E_PIDS+=("$READER_PID")
exec {to_reader}>&"${READER[1]}" # a subshell does not get the coprocess's own fds
# On fd 3: stdio on a pipe is not the tree's business (a restore gives it the job's log).
(cd "$T/e" && exec "$TOOLS/detach" "${AS_USER[@]}" sh -c 'exec 3>&1 >/dev/null
while :; do sleep 0.1; done' </dev/null >&"$to_reader" 2>/dev/null) &
e=$!
E2E_PIDS+=("$e")
user_pids+=("$e")
wait_for 10 "pid $e did not become the user's" uid_is "$e" "$uid"
user_ok watch "$e" --name piped --every 1h
wait_job piped "j is not None and j.get('last_error')" 30 "an error of job piped"
err=$(job_field piped last_error)
grep -qF "fd 3 of PID $e is a pipe" <<<"$err" && grep -qF "pipe=close" <<<"$err" ||
	fail "the error of job piped does not name its pipe and the option: $err"
[ "$(job_field piped versions)" = 0 ] || fail "job piped holds versions though its pipe was refused"
user_ok unwatch piped
user_ok watch "$e" --name piped --every 1h --external pipe=close
wait_versions piped 1 30
[ -z "$(job_field piped last_error)" ] || fail "job piped with pipe=close failed: $(job_field piped last_error)"
check_running_soon "$e" "the piped tree after its snapshot"
log "ok: with pipe=close, version $(version_numbers piped | tail -n 1)"
user_ok unwatch piped

log "case: pipe_close survives a daemon restart"
user_ok watch "$e" --name kept --every 1h --external pipe=close --external tcp=close
wait_versions kept 1 30 # or the restarted daemon takes the first one now, and is busy
wait_job kept "j is not None and j['state'] == 'watching'" 30 "job kept idle"
daemon_restart
[ "$(job_field kept pipe_close)" = true ] && [ "$(job_field kept tcp_close)" = true ] ||
	fail "after a restart job kept says pipe_close $(job_field kept pipe_close), tcp_close $(job_field kept tcp_close)"
user_ok unwatch kept

daemon_healthy "the tree scenarios"
daemon_stop
log "PASS"
