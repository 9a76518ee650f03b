#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-kill-midsnapshot: the daemon is SIGKILLed again and again while it
# takes a snapshot of a 256 MiB workload (each one takes a few hundred ms),
# at random moments (replay with CKPT_SEED), and restarted on the same
# state. After each kill:
#   - the workload runs on: untraced, not stopped, within 3 s of the kill;
#   - nothing of the daemon's is left: no other ckptd process, no extra copy
#     of the workload (the copy-on-write fork a snapshot uses);
#   - "latest" names a complete version (manifest.json, `ckptd inspect` reads it);
# and after each restart:
#   - every half-written version the kill left (versions/.*.tmp-*) is gone;
#   - the job is still listed, watching the same pid.
# At least half the kills must land while a snapshot was being written.
# Then the restarted daemon must take new versions; a SIGTERM at a random
# moment must stop it cleanly (exit 0) with the workload running on; and the
# workload's result must equal that of a run nobody touched.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-kill-midsnapshot
daemon_init
daemon_start

KILLS=${KILLS:-8}
MIB=256
ROUNDS=80000 # about 36 s alone (half mutation, half verification)
BIGMEM=$WORKLOADS/bigmem
hits=0

# The reference runs beside the watched one: same program, same arguments.
start_pair "$BIGMEM" "$MIB" "$ROUNDS"
ref=$REF_PID
pid=$RUN_PID

ck_ok watch "$pid" --name mid --every 1s --keep 2
jobdir=$(job_dir mid)

# wait_snapshot TIMEOUT_MS: until a snapshot of job mid is being written
# (a half-written version appears, or `list` says "snapshotting"). Returns
# non-zero if none began in time.
wait_snapshot() {
	local deadline n=0 tmp
	deadline=$(($(now_ms) + $1))
	while [ "$(now_ms)" -le "$deadline" ]; do
		tmp=("$jobdir"/versions/.*.tmp-*)
		[ ${#tmp[@]} = 0 ] || return 0
		n=$((n + 1))
		if [ $((n % 10)) = 0 ] && ck_quiet list --json &&
			[ "$(jq_py "$T/poll.out" "(job('mid') or {}).get('state')")" = snapshotting ]; then
			return 0
		fi
		sleep 0.01
	done
	return 1
}

for i in $(seq 1 "$KILLS"); do
	alive "$pid" || fail "the workload finished after $((i - 1)) kills; make ROUNDS larger"
	if wait_snapshot 5000; then
		rand_between 0 200
		what="${RAND} ms into a snapshot"
	else
		rand_between 0 1000
		what="at a random moment (no snapshot began within 5 s)"
	fi
	sleep_ms "$RAND"
	log "kill $i: $what"
	daemon_kill

	left=()
	while read -r t; do
		[ -z "$t" ] || left+=("$t")
	done < <(tmp_versions mid)
	if [ ${#left[@]} -gt 0 ]; then
		hits=$((hits + 1))
		log "kill $i landed mid-snapshot: ${left[*]}"
	fi

	check_running_soon "$pid" "the workload after kill $i"
	deadline=$(($(now_ms) + 3000))
	while :; do
		others=$(pids_running "$BIGMEM" | grep -vx -e "$pid" -e "$ref" | tr '\n' ' ' || true)
		daemons=$(pids_running "$CKPTD" | tr '\n' ' ')
		[ -n "$others$daemons" ] || break
		[ "$(now_ms)" -le "$deadline" ] ||
			fail "left behind by the killed daemon: workload copies [$others], ckptd processes [$daemons]"
		sleep 0.05
	done
	check_latest mid
	log "after kill $i: latest is ${LATEST:-none}"

	daemon_start
	deadline=$(($(now_ms) + 5000))
	for t in "${left[@]}"; do
		while [ -e "$jobdir/versions/$t" ]; do
			[ "$(now_ms)" -le "$deadline" ] || fail "versions/$t survived the restart"
			sleep 0.05
		done
	done
	[ "$(job_field mid pid)" = "$pid" ] || fail "after restart $i, job mid is not listed with pid $pid"
	check_running_soon "$pid" "the workload after restart $i"
	# Let a snapshot go through now and then, so "latest" moves on.
	rand_between 0 1
	[ "$RAND" = 0 ] || sleep_ms 1500
done
log "$hits of $KILLS kills landed mid-snapshot"
[ "$hits" -ge $((KILLS / 2)) ] || fail "only $hits of $KILLS kills landed while a snapshot was written"

# The daemon goes on: a version newer than any so far.
newest=$(job_field mid newest)
log "newest version after the kills: ${newest:-none}"
wait_newest mid $((${newest:-0} + 1)) 30
check_running_soon "$pid" "the workload after the last new version"

# SIGTERM, at a random moment (most likely mid-snapshot): a clean stop.
wait_snapshot 3000 || true
rand_between 0 200
sleep_ms "$RAND"
daemon_stop
check_running_soon "$pid" "the workload after the daemon's SIGTERM"
[ -z "$(pids_running "$CKPTD")" ] || fail "ckptd processes left after SIGTERM: $(pids_running "$CKPTD" | tr '\n' ' ')"

wait_gone "$pid" 150 "the workload"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload ended with status $CHILD_STATUS after the kills"
wait_gone "$ref" 60 "the reference run"
child_status "$ref"
[ "$CHILD_STATUS" = 0 ] || fail "the reference run failed with status $CHILD_STATUS"
compare_outputs "$T/ref" "$T/run" out
last_line_pass "$T/run/out"
log "PASS: $hits of $KILLS kills mid-snapshot, result identical"
