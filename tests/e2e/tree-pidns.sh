#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-pidns: a tree (tests/workloads/sharedfd.c: a parent and a child
# sharing a file offset and a page) is dumped, and other processes take its
# pids. Then:
#   - a plain restore is refused as "in use", naming a pid of the tree and
#     the process that holds it (sleep); nothing is restored, the image and
#     the holders are unchanged;
#   - `restore --pidns` as an unprivileged user (nobody) is refused with a
#     clear error about the privilege --pidns needs, and leaves nothing;
#   - `restore --pidns` as root brings the tree back in a new pid namespace
#     (init there is ckptd's) where every member has its saved pid, parent,
#     process group and session, although the same pids are taken outside;
#     it is dumped there and restored from that image with --pidns again
#     (the image holds the pids inside: the same come back); it finishes
#     with the outputs of an uninterrupted run, byte for byte.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init tree-pidns

command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
SLEEP=$(readlink -f "$(command -v sleep)")
OUR_NS=$(readlink /proc/self/ns/pid)

start_pair "$WORKLOADS/sharedfd" shared.log 400
pid=$RUN_PID
rand_between 200 1500
sleep_ms "$RAND"
tree_shape "$pid" >"$T/tree"
log "tree: $(tr '\n' ';' <"$T/tree")"
run_ckptd dump "$pid" -D "$T/img" || fail "dump of the tree failed: $(ckptd_error_line)"
wait_gone "$pid" 10 "the dumped tree's root"
child_status "$pid"
[ "$CHILD_STATUS" = 137 ] || fail "the dumped root ended with status $CHILD_STATUS, not by SIGKILL (137)"
wait_tree_gone "$T/tree" "$pid" "after the dump"
child_status "$REF_PID"
[ "$CHILD_STATUS" = 0 ] || fail "the uninterrupted run failed with status $CHILD_STATUS"
mapfile -t members < <(awk '{ print $1 }' "$T/tree")
sum=$(image_sum "$T/img")

log "the tree's pids taken by sleeps"
holders=()
for p in "${members[@]}"; do
	h=$("$TOOLS/takepid" "$p" sleep 1000) || fail "could not start a process with pid $p"
	E2E_PIDS+=("$h")
	holders+=("$h")
done
# holders_unchanged: every pid still held by the same sleep.
holders_unchanged() {
	local h
	for h in "${holders[@]}"; do
		[ "$(readlink "/proc/$h/exe" 2>/dev/null)" = "$SLEEP" ] || fail "pid $h is no longer our sleep ($1)"
		check_running "$h" "the sleep holding pid $h ($1)"
	done
	[ "$(image_sum "$T/img")" = "$sum" ] || fail "the image changed ($1)"
}

# restored_ns_pids: "INNER OUTER" for every process in a pid namespace other
# than ours that runs in $T/run (a restored member) or is init beside them.
restored_ns_pids() {
	local st outer ns nsroot=
	for st in /proc/[0-9]*; do
		outer=${st#/proc/}
		ns=$(readlink "$st/ns/pid" 2>/dev/null) || continue
		[ "$ns" != "$OUR_NS" ] || continue
		[ "$(readlink "$st/cwd" 2>/dev/null)" = "$T/run" ] || continue
		nsroot=$ns
		break
	done
	[ -n "$nsroot" ] || return 0
	for st in /proc/[0-9]*; do
		outer=${st#/proc/}
		[ "$(readlink "$st/ns/pid" 2>/dev/null)" = "$nsroot" ] || continue
		echo "$(awk '/^NSpid:/ { print $NF }' "$st/status" 2>/dev/null) $outer"
	done
}

log "case: plain restore while the pids are taken"
expect_error "in use" restore -D "$T/img"
named=0
for p in "${members[@]}"; do
	grep -qw -- "$p" <<<"$ERROR_LINE" && named=1
done
[ "$named" = 1 ] || fail "the error names no pid of the tree (${members[*]}): $ERROR_LINE"
error_names sleep
holders_unchanged "after a refused restore"
[ -z "$(restored_ns_pids)" ] || fail "a refused restore left processes in a pid namespace: $(restored_ns_pids | tr '\n' ' ')"

log "case: --pidns as an unprivileged user"
chmod 0755 "$T"
chmod -R a+rX "$T/img"
mkdir -m 0755 "$T/bin"
AS_NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)
ckptd_nobody=$CKPTD
if ! "${AS_NOBODY[@]}" test -x "$CKPTD"; then
	cp "$CKPTD" "$T/bin/ckptd"
	ckptd_nobody=$T/bin/ckptd
fi
printf '#!/bin/sh\nexec %s %q "$@"\n' "${AS_NOBODY[*]}" "$ckptd_nobody" >"$T/bin/ckptd-as-nobody"
chmod 0755 "$T/bin/ckptd-as-nobody"
CKPTD_ROOT=$CKPTD
CKPTD=$T/bin/ckptd-as-nobody
rc=0
run_ckptd restore -D "$T/img" --pidns || rc=$?
CKPTD=$CKPTD_ROOT
[ "$rc" != 0 ] || fail "an unprivileged restore --pidns succeeded"
ERROR_LINE=$(ckptd_error_line)
[ -n "$ERROR_LINE" ] || fail "an unprivileged restore --pidns failed (exit $rc) without a 'ckptd: error: ' line"
grep -Eqi 'pid ?ns|pid namespace' <<<"$ERROR_LINE" ||
	fail "the unprivileged --pidns error does not say it is about the pid namespace: $ERROR_LINE"
grep -Eqi 'CAP_SYS_ADMIN|privilege|permission|root' <<<"$ERROR_LINE" ||
	fail "the unprivileged --pidns error does not say what privilege is missing: $ERROR_LINE"
log "ok: exit $rc, $ERROR_LINE"
holders_unchanged "after an unprivileged restore --pidns"
[ -z "$(restored_ns_pids)" ] || fail "an unprivileged restore --pidns left processes: $(restored_ns_pids | tr '\n' ' ')"

# ns_tree_check WHAT: the tree restored in a new pid namespace is the one
# dumped, as seen inside (in tree_shape's words); sets root_outer.
ns_tree_check() {
	local p o stat comm ppid kind f
	unset outer_of inner_of
	declare -gA outer_of inner_of
	while read -r inner outer; do
		outer_of[$inner]=$outer
		inner_of[$outer]=$inner
		E2E_PIDS+=("$outer")
	done < <(restored_ns_pids)
	[ -n "${outer_of[1]:-}" ] || fail "$1: no init (pid 1) in the restored tree's pid namespace"
	log "pid namespace init: outer pid ${outer_of[1]}, $(readlink "/proc/${outer_of[1]}/exe" 2>/dev/null)"
	for p in "${members[@]}"; do
		o=${outer_of[$p]:-}
		[ -n "$o" ] || fail "$1: no process with pid $p in the new namespace (it holds: ${!outer_of[*]})"
		stat=$(cat "/proc/$o/stat") || fail "$1: restored member $p (outer $o) is gone already"
		read -r -a f <<<"${stat##*) }"
		comm=${stat#*(}
		comm=${comm%)*}
		ppid=${inner_of[${f[1]}]:-outside}
		[ "$p" != "$pid" ] || ppid=-
		kind=live
		[ "${f[0]}" != Z ] || kind="zombie status ${f[${#f[@]} - 1]}"
		echo "$p ppid $ppid pgid ${inner_of[${f[2]}]:-outside} sid ${inner_of[${f[3]}]:-outside} $kind $comm"
	done >"$T/tree.pidns"
	if ! cmp -s "$T/tree" "$T/tree.pidns"; then
		diff -u "$T/tree" "$T/tree.pidns" >&2 || true
		fail "$1: the tree in the new pid namespace differs from the one dumped (- dumped, + restored)"
	fi
	root_outer=${outer_of[$pid]}
	check_running "$root_outer" "the restored root ($1)"
}

log "case: --pidns while the pids are taken"
rm -f "$T/run/ready"
run_ckptd restore -D "$T/img" --pidns || fail "restore --pidns failed: $(ckptd_error_line)"
ns_tree_check "restored with --pidns"

# The tree in its namespace is dumped again: the image must hold the pids it
# has there (the holders keep ours taken), or its restore gives other ones.
log "case: dumped in its pid namespace, restored from that with --pidns"
rand_between 100 400
sleep_ms "$RAND"
first_outer=$root_outer
run_ckptd dump "$root_outer" -D "$T/img2" || fail "dump of the tree in its pid namespace failed: $(ckptd_error_line)"
grep -q "^pid $root_outer: " "$CKPTD_OUT" || fail "the dump said: $(cat "$CKPTD_OUT")"
wait_gone "$root_outer" 10 "the root dumped in its pid namespace"
wait_for 10 "the first pid namespace outlived its tree" eval '[ -z "$(restored_ns_pids)" ]'
run_ckptd restore -D "$T/img2" --pidns || fail "restore --pidns of the second image failed: $(ckptd_error_line)"
grep -q "^pid $pid running again in a new PID namespace" "$CKPTD_OUT" ||
	fail "the second restore said: $(cat "$CKPTD_OUT")"
ns_tree_check "restored from the dump in its namespace"
[ "$root_outer" != "$first_outer" ] || fail "the second restore reports the first one's root"

wait_gone "$root_outer" 60 "the restored root (outer pid $root_outer)"
[ ! -e "$T/run/ready" ] || fail "the restored tree wrote its ready file again: it started over"
compare_outputs "$T/ref" "$T/run" out shared.log
last_line_pass "$T/run/out"
holders_unchanged "after restore --pidns"
log "PASS: restored twice as pids ${members[*]} inside, $(for p in "${members[@]}"; do printf '%s ' "${outer_of[$p]}"; done)outside the second time"
