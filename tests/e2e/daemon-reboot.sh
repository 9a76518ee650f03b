#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-reboot: jobs watched with --restore-on-boot come back after a
# reboot. Two jobs: "calc", a deterministic computation (bigmem, its
# output in files), and "ticker", a Python loop printing to a pipe. Once
# both have versions, the daemon is stopped (SIGTERM) and both processes
# are killed and reaped, the pipe's reader too: a crash.
#   - Restarted with the same boot id, the daemon does not restore them
#     (nothing rebooted; their pids stay free).
#   - Restarted with a new boot id (--boot-id-file), it restores both;
#     `list` shows them watching again, restore_on_boot still set, and new
#     versions appear. calc gets its pid back; the ticker's was taken by
#     another process meanwhile (as after a real reboot), so it comes back
#     in a new PID namespace, with its pid there, and its job watches and
#     snapshots it on there.
#   - The ticker's stdout, a pipe that is gone, now goes to its job's
#     output.log, which `list` names as the job's "log"; it goes on
#     counting from where the version was taken, not from 0.
#   - Stopping and starting the daemon again leaves both running.
#   - calc resumes (it does not start over: its ready file does not come
#     back) and its result equals an uninterrupted run's.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-reboot
daemon_init
daemon_start

MIB=64
ROUNDS=60000 # about 17 s alone
BIGMEM=$WORKLOADS/bigmem
TICKER='
import os, sys, time
ready = sys.argv[1]
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)
i = 0
while True:
    print("tick %d" % i, flush=True)
    i += 1
    time.sleep(0.05)
'

mkdir -p "$T/tick"
start_pair "$BIGMEM" "$MIB" "$ROUNDS"
ref=$REF_PID
pid=$RUN_PID
# The ticker writes into a pipe to cat; we learn its pid from its ready file.
(cd "$T/tick" && exec "$TOOLS/detach" "$PYTHON" -c "$TICKER" "$T/tick/ready" \
	</dev/null 2>"$T/tick/stderr") | cat >"$T/tick/piped" &
catpid=$!
E2E_PIDS+=("$catpid")
deadline=$(($(now_ms) + 30000))
while [ ! -s "$T/tick/ready" ]; do
	[ "$(now_ms)" -le "$deadline" ] || fail "the ticker did not start"
	sleep 0.02
done
tick=$(cat "$T/tick/ready")
E2E_PIDS+=("$tick")
log "calc pid $pid, ticker pid $tick (pipe to cat $catpid)"

ck_ok watch "$pid" --name calc --every 1s --restore-on-boot
ck_ok watch "$tick" --name ticker --every 1s --restore-on-boot
wait_versions calc 2 30
wait_versions ticker 2 30
[ "$(job_field calc restore_on_boot)" = true ] || fail "list shows calc without restore_on_boot"

daemon_stop
check_running_soon "$pid" "calc after the daemon stopped"
check_running_soon "$tick" "the ticker after the daemon stopped"

# The crash: both processes and the pipe's reader die and are reaped.
rm -f "$T/run/ready"
kill -KILL "$pid" "$tick" "$catpid"
child_status "$pid"
[ "$CHILD_STATUS" = 137 ] || fail "calc ended with status $CHILD_STATUS before we killed it"
child_status "$catpid"
for p in "$pid" "$tick"; do
	wait_for 5 "pid $p was not reaped" gone "$p"
done
ticks_before=$(grep -c '^tick ' "$T/tick/piped" || true)
log "killed calc and the ticker (the ticker had printed $ticks_before lines)"

# Same boot: nothing to restore.
daemon_start
calc_newest=$(job_field calc newest)
tick_newest=$(job_field ticker newest)
job_listed calc || fail "calc is not listed after a restart"
sleep 3
for p in "$pid" "$tick"; do
	[ ! -e "/proc/$p" ] || fail "pid $p was restored although the boot id did not change"
done
daemon_stop

# A reboot, after which another process has the ticker's pid.
holder=$("$TOOLS/takepid" "$tick" sleep 1000) || fail "could not start a process with pid $tick"
E2E_PIDS+=("$holder")
new_boot_id
daemon_start
# Restoring takes a moment (the pid exists from the start, as the daemon's stub).
wait_job calc "j is not None and j['pid'] == $pid and j['state'] in ('watching', 'snapshotting')" 60 \
	"job calc watching pid $pid again after the reboot"
wait_job ticker "j is not None and j['pid'] not in (0, $tick) and j['state'] in ('watching', 'snapshotting')" 60 \
	"job ticker watching again after the reboot, in a PID namespace of its own"
inner_tick=$tick
tick=$(job_field ticker pid)
E2E_PIDS+=("$tick")
nspid=$(awk '/^NSpid:/ { print $2, $3 }' "/proc/$tick/status")
[ "$nspid" = "$tick $inner_tick" ] || fail "the ticker (pid $tick) has NSpid $nspid, expected '$tick $inner_tick'"
grep -q "ticker: a PID version [0-9]* needs is taken; restoring it in a new PID namespace" "$DAEMON_LOG" ||
	fail "the daemon's log does not say why the ticker went into a PID namespace"
log "the ticker is pid $inner_tick in its namespace, $tick here"
alive "$pid" || fail "job calc is watching again, but pid $pid does not run"
alive "$tick" || fail "job ticker is watching again, but pid $tick does not run"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$BIGMEM")" ] ||
	fail "pid $pid runs $(readlink "/proc/$pid/exe"), not bigmem"
check_running_soon "$pid" "the restored calc"
check_running_soon "$tick" "the restored ticker"
log "restored: calc pid $pid, ticker pid $tick"
# Restored processes outlive the daemon that restored them (as with
# `systemctl restart ckptd`), and the restarted daemon finds them again.
daemon_stop
check_running_soon "$pid" "the restored calc after the daemon stopped"
check_running_soon "$tick" "the restored ticker after the daemon stopped"
daemon_start
[ "$(job_field calc restore_on_boot)" = true ] || fail "calc lost restore_on_boot in the restore"
wait_newest calc $((calc_newest + 1)) 30
wait_newest ticker $((tick_newest + 1)) 30

# The ticker's output: its pipe is gone, so output.log, named as the job's log.
logfile=$(job_field ticker log)
[ -n "$logfile" ] || fail "list names no log for job ticker, whose stdout was a pipe"
[ "$logfile" = "$(job_dir ticker)/output.log" ] ||
	fail "job ticker's log is $logfile, expected $(job_dir ticker)/output.log"
deadline=$(($(now_ms) + 10000))
while [ "$(count_ticks "$logfile")" -lt 5 ]; do
	[ "$(now_ms)" -le "$deadline" ] || fail "the restored ticker wrote fewer than 5 lines to $logfile"
	sleep 0.1
done
E2E_SHOW+=("$logfile")
"$PYTHON" - "$logfile" "$ticks_before" <<'PY' || fail "the restored ticker's output is wrong (above)"
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.startswith("tick ")]
n = [int(l[1]) for l in lines]
before = int(sys.argv[2])
ok = True
if n[0] == 0:
    print("the restored ticker started over from tick 0")
    ok = False
if n[0] > before:
    print("the restored ticker starts at %d, after the %d ticks printed before the crash" % (n[0], before))
    ok = False
if n != list(range(n[0], n[0] + len(n))):
    print("the restored ticker's ticks are not consecutive: %s" % n[:20])
    ok = False
print("output.log: ticks %d..%d (%d printed before the crash)" % (n[0], n[-1], before))
sys.exit(0 if ok else 1)
PY

# calc finishes as if nothing had happened.
wait_gone "$pid" 150 "the restored calc"
[ ! -e "$T/run/ready" ] || fail "the restored calc wrote its ready file again: it started over"
child_status "$ref"
[ "$CHILD_STATUS" = 0 ] || fail "the reference run failed with status $CHILD_STATUS"
compare_outputs "$T/ref" "$T/run" out
last_line_pass "$T/run/out"
daemon_healthy "the restored calc finished"
daemon_stop
log "PASS"
