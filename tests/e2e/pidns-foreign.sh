#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pidns-foreign: a tree in a PID namespace ckptd did not make (`unshare -p
# -f`, then `nsenter -p` from a session of our namespace, so its session and
# group are led from outside its namespace): a shell waiting for its child,
# the threads workload.
#   - the namespace's init (PID 1 there) is refused, naming it, and runs on;
#   - dumped with --leave-running, the tree runs on and keeps no copy (no
#     child but the workload is left behind);
#   - dumped again (killed), the image holds the PIDs and TIDs the tree had
#     in its namespace (its session and group, led from outside, saved as
#     the root's) and `restore --pidns` gives them back; it finishes with
#     the output of an uninterrupted run.
# Other namespaces are still refused, naming the kind: a root in a network
# namespace of its own, and a descendant in one its root does not share.
# And a process that made a PID namespace for its children (`unshare -p`
# without -f) and has no child yet: a copy-on-write copy would become that
# namespace's init and end it when killed, so dump --leave-running reads it
# frozen, saying so, and its first child is still PID 1 there.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init pidns-foreign

command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "no unshare/nsenter (util-linux)"
need_python3
mkdir -p "$T/ref" "$T/run" "$T/ns"
start_bg "$T/ref" "$WORKLOADS/threads" "$T/ref/out" "$T/ref/ready"
ref=$BG_PID
start_bg "$T/ns" unshare -p -f sleep 1000
wait_for 10 "unshare made no namespace" eval '[ -n "$(cat /proc/'"$BG_PID"'/task/*/children 2>/dev/null)" ]'
init=$(cat /proc/"$BG_PID"/task/*/children | tr -d ' \n')
E2E_PIDS+=("$init")
start_bg "$T/run" nsenter -t "$init" -p -- sh -c '"$1" "$2/out" "$2/ready" & wait $!' sh \
	"$WORKLOADS/threads" "$T/run"
# children_of PID: its children, blank-separated.
children_of() {
	cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' \n' ' ' | sed 's/ $//'
}
wait_for 10 "nsenter started nothing" eval '[ -n "$(children_of '"$BG_PID"')" ]'
pid=$(children_of "$BG_PID")
E2E_PIDS+=("$pid")
wait_for 10 "the shell started nothing" eval '[ -n "$(children_of '"$pid"')" ]'
work=$(children_of "$pid")
wait_ready "$work" "$T/run/ready"
wait_ready "$ref" "$T/ref/ready"
# inner_tids PID: the TIDs of PID's threads in its namespace, sorted.
inner_tids() {
	local t
	for t in /proc/"$1"/task/*; do
		awk '/^NSpid:/ { print $NF }' "$t/status"
	done | sort -n | tr '\n' ' '
}
inner=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status")
[ "$inner" != "$pid" ] || fail "pid $pid is not in a PID namespace of its own"
for p in "$pid" "$work"; do
	[ "$(awk '/^NSsid:/ { print $NF }' "/proc/$p/status")" = 0 ] ||
		fail "pid $p's session is not led from outside its namespace"
done
inner_work=$(awk '/^NSpid:/ { print $NF }' "/proc/$work/status")
log "shell $pid and workload $work are $inner and $inner_work in the namespace of init $init"

log "case: the namespace's init"
expect_error "init" dump "$init" -D "$T/img0"
error_names "PID $init"
check_running "$init" "the refused namespace init"
assert_no_image "$T/img0"

log "case: dumped with --leave-running"
rand_between 200 800
sleep_ms "$RAND"
run_ckptd dump "$pid" -D "$T/img1" --leave-running || fail "dump --leave-running failed: $(ckptd_error_line)"
check_running "$work" "the workload after dump --leave-running"
[ "$(children_of "$pid")" = "$work" ] && [ -z "$(children_of "$work")" ] ||
	fail "the dump left children behind (copies, not collected): $(children_of "$pid") / $(children_of "$work")"

log "case: dumped (killed), restored with --pidns"
rand_between 100 600
sleep_ms "$RAND"
tids=$(inner_tids "$work")
run_ckptd dump "$pid" -D "$T/img2" || fail "dump failed: $(ckptd_error_line)"
wait_gone "$pid" 10 "the dumped process"
run_ckptd restore -D "$T/img2" --pidns || fail "restore --pidns failed: $(ckptd_error_line)"
line=$(head -n 1 "$CKPTD_OUT")
[[ $line =~ ^pid\ $inner\ running\ again\ in\ a\ new\ PID\ namespace\ \(PID\ ([0-9]+)\ outside\ it\) ]] ||
	fail "restore --pidns said: $line"
outer=${BASH_REMATCH[1]}
E2E_PIDS+=("$outer")
work=$(children_of "$outer")
[ -n "$work" ] || fail "the restored shell has no child"
E2E_PIDS+=("$work")
[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$work/status")" = "$inner_work" ] ||
	fail "the workload came back as $(awk '/^NSpid:/ { print $NF }' "/proc/$work/status") inside, not $inner_work"
[ "$(inner_tids "$work")" = "$tids" ] || fail "threads came back as $(inner_tids "$work")inside, not $tids"
for p in "$outer" "$work"; do
	[ "$(awk '/^NSsid:/ { print $NF }' "/proc/$p/status")" = "$inner" ] ||
		fail "restored pid $p is not in the session of the tree's root"
done
wait_gone "$outer" 60 "the restored shell"
child_status "$ref"
[ "$CHILD_STATUS" = 0 ] || fail "the uninterrupted run failed with status $CHILD_STATUS"
compare_outputs "$T/ref" "$T/run" out
last_line_pass "$T/run/out"

log "case: other namespaces"
mkdir -p "$T/net"
start_bg "$T/net" unshare -n sleep 1000
netroot=$BG_PID
expect_error "net namespace" dump "$netroot" -D "$T/img4"
check_running "$netroot" "the refused process in a network namespace"
assert_no_image "$T/img4"
start_bg "$T/net" sh -c 'unshare -n sleep 1000 & wait'
shroot=$BG_PID
wait_for 10 "the shell started nothing" eval '[ -n "$(children_of '"$shroot"')" ]'
netchild=$(children_of "$shroot")
E2E_PIDS+=("$netchild")
wait_for 10 "pid $netchild did not enter its network namespace" eval \
	'[ "$(readlink /proc/'"$netchild"'/ns/net)" != "$(readlink /proc/self/ns/net)" ]'
expect_error "net namespace" dump "$shroot" -D "$T/img5"
error_names "PID $netchild"
check_running "$shroot" "the refused tree's root"
check_running "$netchild" "the refused tree's member"
assert_no_image "$T/img5"

log "case: a namespace for the children, none yet"
mkdir -p "$T/u"
start_bg "$T/u" unshare -p "$PYTHON" -c '
import os, sys, time
open(sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
pid = os.fork()
if pid == 0:
    print("child", os.getpid(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)' "$T/u/ready" "$T/u/go"
unshared=$BG_PID
wait_ready "$unshared" "$T/u/ready"
run_ckptd dump "$unshared" -D "$T/img3" --leave-running || fail "dump --leave-running failed: $(ckptd_error_line)"
grep -q "a copy would be its init" "$CKPTD_ERR" || fail "the dump does not say why it read the process frozen: $(cat "$CKPTD_ERR")"
touch "$T/u/go"
child_status "$unshared"
[ "$CHILD_STATUS" = 0 ] || fail "the process that made the namespace ended with $CHILD_STATUS: $(cat "$T/u/stderr")"
grep -qx "child 1" "$T/u/stdout" || fail "its first child is not PID 1 of its namespace: $(cat "$T/u/stdout" "$T/u/stderr")"
log "PASS: shell $inner, workload threads $tids inside; the copy of a namespace's maker not forked"
