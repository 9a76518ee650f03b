#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump-crash: ckptd is killed with SIGKILL at random moments while it holds a
# process frozen and runs system calls inside it (slowed down so the kills
# land there). Each time the process must run on by itself, untraced and not
# stopped, and in the end compute exactly what an untouched run computes:
# its registers, vector state, signal mask and alternate stack came back.
#     dump-crash.sh simd|sigalt|threads
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
workload=${1:?which workload}
e2e_init "dump-crash-$workload"

# Kills that must land while ckptd runs; a kill that comes after the dump
# ended does not count, so we try again while the workload still runs.
KILLS=8
MAX_ATTEMPTS=24
hits=0
attempts=0
# Sized to outlast MAX_ATTEMPTS on a loaded two-core machine.
case $workload in
threads) size=(150000) ;;
*) size=() ;;
esac
launch() { start_bg "$1" "$WORKLOADS/$workload" "$1/out" "$1/ready" "${size[@]}"; }

mkdir -p "$T/ref" "$T/run"
launch "$T/ref"
ref=$BG_PID
launch "$T/run"
pid=$BG_PID
wait_ready "$pid" "$T/run/ready"

for i in $(seq 1 "$MAX_ATTEMPTS"); do
	[ "$hits" -lt "$KILLS" ] && alive "$pid" || break
	attempts=$i
	rand_between 1 60
	log "attempt $i: killing ckptd ${RAND} ms into the dump"
	CKPTD_TEST_INJECT_DELAY_US=300 "$CKPTD" dump "$pid" -D "$T/img$i" --leave-running \
		</dev/null >"$T/dump$i.out" 2>"$T/dump$i.err" &
	dumper=$!
	sleep_ms "$RAND"
	kill -9 "$dumper" 2>/dev/null || true
	child_status "$dumper"
	[ "$CHILD_STATUS" != 137 ] || hits=$((hits + 1))
	alive "$pid" || break
	check_running "$pid" "after ckptd was killed (attempt $i)"
	# The image is either complete or absent: never a half-written DIR.
	if [ -e "$T/img$i" ] && [ "$CHILD_STATUS" != 0 ]; then
		[ -e "$T/img$i/manifest.json" ] || fail "a half-written image was left at $T/img$i"
	fi
	sleep_ms 100
done

[ "$hits" -ge $((KILLS / 2)) ] || fail "only $hits of $attempts kills landed while ckptd ran"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the process ended with status $CHILD_STATUS after ckptd was killed"
child_status "$ref"
[ "$CHILD_STATUS" = 0 ] || fail "the untouched run failed with status $CHILD_STATUS"
compare_outputs "$T/ref" "$T/run" out
log "PASS: $hits kills of ckptd mid-dump, results identical"
