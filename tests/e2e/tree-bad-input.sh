#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-bad-input: trees ckptd must refuse, or cope with, leaving every
# member running and unchanged and no image behind:
#   - a member traced by someone else (tests/tools/tracer on the child of
#     tests/workloads/sharedfd.c): "traced", naming the member; the tracer
#     keeps it, and the tree finishes with an uninterrupted run's outputs;
#   - a member with a pipe on fd 5 whose other end a process outside the
#     tree holds: the error names the pipe, the fd, the member's pid and the
#     reader's; with --external pipe=close the dump goes through, says so,
#     and the restored member's fd 5 is a pipe no other process holds;
#   - a tree that forks short-lived children all the time
#     (tests/workloads/forker.c), dumped with --leave-running three times:
#     each dump succeeds or fails cleanly (an error that says what happened:
#     not "traced", nobody traces it), the tree finishes as an
#     uninterrupted run does, and the last image that was made restores
#     and finishes the same way again.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init tree-bad-input

# refused IMG WHAT: nothing left of the refused dump, the tree in FILE $T/tree
# running untraced (but for a member traced by someone else: TRACED).
refused() {
	assert_no_image "$1"
	local p kind tracer
	while read -r p _ _ _ _ _ _ kind _; do
		[ "$kind" = live ] || continue
		alive "$p" || fail "$2: member $p is gone"
		if [ "$p" = "${TRACED:-}" ]; then
			tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")
			[ "$tracer" = "$TRACER" ] || fail "$2: member $p is traced by '$tracer', not by its tracer $TRACER"
		else
			check_running "$p" "$2: member $p"
		fi
	done <"$T/tree"
	compare_tree "$ROOT" "$T/tree" "$2"
}

log "case: a member traced by someone else"
PAIR_DIR=$T/traced start_pair "$WORKLOADS/sharedfd" shared.log 500
ROOT=$RUN_PID
read -r _ TRACED <"$T/traced/run/ready"
"$TOOLS/tracer" "$TRACED" "$T/tracer.ready" 2>"$T/tracer.err" &
TRACER=$!
E2E_PIDS+=("$TRACER")
E2E_SHOW+=("$T/tracer.err")
wait_ready "$TRACER" "$T/tracer.ready"
tree_shape "$ROOT" >"$T/tree"
expect_error traced dump "$ROOT" -D "$T/img"
error_names "$TRACED"
refused "$T/img" "after a refused dump of a tree with a traced member"
expect_error traced dump "$ROOT" -D "$T/img" --leave-running
error_names "$TRACED"
refused "$T/img" "after a refused dump --leave-running"
kill -9 "$TRACER"
wait "$TRACER" || true
TRACED=
check_running "$RUN_PID" "the tree's root after the tracer left"
wait_gone "$RUN_PID" 60 "the tree that was traced"
for d in ref run; do
	pid=$RUN_PID
	[ "$d" = run ] || pid=$REF_PID
	child_status "$pid"
	[ "$CHILD_STATUS" = 0 ] || fail "the $d tree ended with status $CHILD_STATUS"
done
compare_outputs "$T/traced/ref" "$T/traced/run" out shared.log

log "case: a pipe to a process outside the tree"
mkdir -p "$T/ext"
# The root hands fd 5 (a pipe whose reader, cat, is orphaned: outside the
# tree) to a child sleep and closes its own.
# shellcheck disable=SC2016 # expanded by the inner bash
start_bg "$T/ext" bash -c 'exec 5> >(exec setsid -f cat >/dev/null)
sleep 1000 &
exec 5>&-
echo "$!" >"$0.tmp"; mv "$0.tmp" "$0"
wait' "$T/ext/member"
ROOT=$BG_PID
wait_ready "$ROOT" "$T/ext/member"
member=$(cat "$T/ext/member")
two_members() { [ "$(tree_members "$ROOT" | wc -l)" = 2 ] && [ ! -e "/proc/$ROOT/fd/5" ]; }
wait_for 10 "the root did not settle to itself and sleep, without fd 5" two_members
[ -p "/proc/$member/fd/5" ] || fail "fd 5 of $member is not a pipe"
pipe=$(readlink "/proc/$member/fd/5")
reader=
for f in /proc/[0-9]*/fd/0; do
	if [ "$(readlink "$f" 2>/dev/null)" = "$pipe" ]; then
		reader=${f#/proc/}
		reader=${reader%%/*}
	fi
done
[ -n "$reader" ] || fail "no process reads $pipe"
E2E_PIDS+=("$reader")
tree_members "$ROOT" | grep -qx "$reader" && fail "the reader $reader of $pipe is inside the tree"
tree_shape "$ROOT" >"$T/tree"
for leave in no yes; do
	args=()
	[ "$leave" = no ] || args=(--leave-running)
	expect_error pipe dump "$ROOT" -D "$T/img" "${args[@]}"
	error_names "$member"
	grep -Eqi '(fd|descriptor) ?5([^0-9]|$)' <<<"$ERROR_LINE" || fail "the error does not name fd 5: $ERROR_LINE"
	refused "$T/img" "after a refused dump of a tree with an outside pipe (--leave-running: $leave)"
	error_names "$reader"
	[ "$(readlink "/proc/$member/fd/5")" = "$pipe" ] || fail "fd 5 of $member is no longer $pipe"
	alive "$reader" || fail "the outside reader $reader is gone"
done
# --external pipe=close gives the pipe up: the dump says so, and the
# restored member's fd 5 is a pipe nobody reads (its writes would get EPIPE).
run_ckptd dump "$ROOT" -D "$T/pimg" --leave-running --external pipe=close ||
	fail "dump with --external pipe=close failed: $(ckptd_error_line)"
grep -q "pipe=close\|other end closed" "$CKPTD_ERR" ||
	fail "the dump did not say it gave the pipe up: $(cat "$CKPTD_ERR")"
kill -9 "$ROOT" "$member"
wait_gone "$member" 10 "the member after SIGKILL"
child_status "$ROOT"
run_ckptd restore -D "$T/pimg" || fail "restore of the pipe=close image failed: $(ckptd_error_line)"
E2E_PIDS+=("$ROOT" "$member")
[ -p "/proc/$member/fd/5" ] || fail "fd 5 of the restored $member is not a pipe"
newpipe=$(readlink "/proc/$member/fd/5")
for f in /proc/[0-9]*/fd/*; do
	[ "$(readlink "$f" 2>/dev/null)" = "$newpipe" ] || continue
	holder=${f#/proc/}
	[ "${holder%%/*}" = "$member" ] || fail "$newpipe of the restored $member is also held by ${holder%%/*}"
done
kill -9 "$ROOT" "$member"

log "case: a tree that forks all the time"
PAIR_DIR=$T/fork start_pair "$WORKLOADS/forker" 4000
ROOT=$RUN_PID
last=
for i in 1 2 3; do
	rand_between 200 800
	sleep_ms "$RAND"
	alive "$ROOT" || fail "the forking tree finished before dump $i; make it longer"
	rc=0
	run_ckptd dump "$ROOT" -D "$T/fimg$i" --leave-running || rc=$?
	if [ "$rc" = 0 ]; then
		log "dump $i: made an image"
		last=$i
	else
		ERROR_LINE=$(ckptd_error_line)
		[ -n "$ERROR_LINE" ] || fail "dump $i failed (exit $rc) without a 'ckptd: error: ' line"
		# Nobody traces this tree: a child that ended while being seized is
		# not one "traced by someone else".
		! grep -qi traced <<<"$ERROR_LINE" ||
			fail "dump $i blames a tracer, but nobody traces the forking tree: $ERROR_LINE"
		log "dump $i: refused: $ERROR_LINE"
		assert_no_image "$T/fimg$i"
	fi
	check_running "$ROOT" "the forking root after dump $i"
	for p in $(tree_members "$ROOT"); do
		[ "$(proc_state "$p")" != t ] || fail "member $p is still stopped by a tracer after dump $i"
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		[ "${tracer:-0}" = 0 ] || fail "member $p is still traced by $tracer after dump $i"
	done
done
wait_gone "$ROOT" 60 "the forking tree"
for pid in "$REF_PID" "$ROOT"; do
	child_status "$pid"
	[ "$CHILD_STATUS" = 0 ] || fail "forker $pid ended with status $CHILD_STATUS"
done
compare_outputs "$T/fork/ref" "$T/fork/run" out
if [ -z "$last" ]; then
	log "no dump of the forking tree succeeded; each failed cleanly"
else
	mv "$T/fork/run/out" "$T/fork/run/out.original"
	rm -f "$T/fork/run/ready"
	run_ckptd restore -D "$T/fimg$last" || fail "restore of dump $last failed: $(ckptd_error_line)"
	E2E_PIDS+=("$ROOT")
	wait_gone "$ROOT" 60 "the restored forking tree"
	[ ! -e "$T/fork/run/ready" ] || fail "the restored forking tree started over"
	compare_outputs "$T/fork/ref" "$T/fork/run" out
	log "image $last restored and finished as the uninterrupted run did"
fi
log "PASS"
