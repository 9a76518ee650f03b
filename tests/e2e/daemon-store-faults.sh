#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-store-faults: what goes wrong during a snapshot or in the page
# store. The daemon's state lives on a tmpfs of its own; job "calc" is
# bigmem (512 MiB of incompressible data, mutating), beside an untouched
# reference run.
#   - The disk fills in the middle of a snapshot: SnapshotFailed saying
#     so, the versions and files of the job exactly as before, no half
#     version, calc running; with space again, a new version.
#   - calc is killed while its copy-on-write copy is being read: the
#     snapshot fails saying the process ended, no version is added, the
#     copy is gone (no stray process), nothing half-written is left.
#   - A chunk of the newest version's pack is damaged: restoring that
#     version fails naming the damage and leaves no process behind;
#     restoring the job falls back to the version before and says so.
#     The restored calc finishes with the reference run's result: the
#     earlier versions stayed restorable through all of the above.
#   - A process that grows by gigabytes while its copy is read (a Python
#     program appending 3 GiB): the snapshot holds the moment of the
#     fork, costs what the process held then, and restored, the program
#     ends with the same digest as an untouched run.
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-store-faults

mkdir -p "$T/store"
mount -t tmpfs -o size=3g tmpfs "$T/store" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
E2E_MOUNTS+=("$T/store")
DAEMON_STATE=$T/store/state
daemon_init
daemon_start

MIB=512
ROUNDS=40000
start_pair "$WORKLOADS/bigmem" "$MIB" "$ROUNDS"
ref=$REF_PID
pid=$RUN_PID

# job_files NAME: the job's versions and page data, each file with its size
# (job.json is left out: it records the last error).
job_files() {
	(cd "$(job_dir "$1")" && find latest versions packs -printf '%p %s %l\n' | sort)
}

# unchanged NAME WHAT: the job's versions and files are what they were (FILES_BEFORE).
unchanged() {
	local name=$1 what=$2
	wait_for 5 "$what: a half-written version stays" no_tmp_versions "$name"
	[ "$(version_numbers "$name" | tr '\n' ' ')" = "$VERSIONS_BEFORE" ] ||
		fail "$what: versions [$VERSIONS_BEFORE] became [$(version_numbers "$name" | tr '\n' ' ')]"
	job_files "$name" >"$T/files.after"
	diff "$T/files.before" "$T/files.after" >"$T/files.diff" || {
		E2E_SHOW+=("$T/files.diff")
		fail "$what: the job's files changed"
	}
	check_latest "$name"
	log "$what: versions [$VERSIONS_BEFORE], files as before, latest $LATEST"
}

remember() {
	VERSIONS_BEFORE=$(version_numbers "$1" | tr '\n' ' ')
	job_files "$1" >"$T/files.before"
}

ck_ok watch "$pid" --name calc --every 1h
wait_versions calc 1 60
check_running_soon "$pid" "calc after its first version"

# ------------------------------------------------------- the disk fills up
log "-- case: the disk fills in the middle of a snapshot"
# Leave 64 MiB: a fresh 512 MiB version cannot fit, so it fails mid-write.
avail=$(df -B1M --output=avail "$T/store" | tail -n 1)
dd if=/dev/zero of="$T/store/filler" bs=1M count=$((avail - 64)) status=none
remember calc
sleep 1 # bigmem rewrites its heap many times a second: little dedups
snapshot_job calc
check_error space "$SNAP_RC" "ckptd snapshot calc on a filling disk"
unchanged calc "after the disk filled"
check_running_soon "$pid" "calc after the disk filled"
rm -f "$T/store/filler"
snapshot_job calc
[ "$SNAP_RC" = 0 ] || fail "with space again, ckptd snapshot calc fails: $(ckptd_error_line)"
log "with space again: $(head -n 1 "$CKPTD_OUT")"

# ------------------------------------------- the target ends mid-copy
log "-- case: calc ends while its copy is read"
remember calc
# The copy is calc's child (exit signal 0); kill calc once the copy
# exists and calc runs again, i.e. while the daemon reads the copy.
CKPTD_OUT=$T/snap-exit.out CKPTD_ERR=$T/snap-exit.err
E2E_SHOW+=("$CKPTD_OUT" "$CKPTD_ERR")
"$CKPTD" snapshot calc </dev/null >"$CKPTD_OUT" 2>"$CKPTD_ERR" &
snapper=$!
copy=
deadline=$(($(now_ms) + 30000))
while [ -z "$copy" ]; do
	[ "$(now_ms)" -le "$deadline" ] || fail "no copy of calc appeared within 30 s"
	copy=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
	copy=${copy%% *}
	[ -z "$copy" ] || [ "$(proc_state "$pid")" != t ] || copy=
	sleep 0.005
done
kill -KILL "$pid"
child_status "$pid"
[ "$CHILD_STATUS" = 137 ] || fail "calc ended with status $CHILD_STATUS, not by our SIGKILL"
log "killed calc while the daemon read its copy $copy"
child_status "$snapper"
SNAP_RC=$CHILD_STATUS
[ "$SNAP_RC" != 0 ] || fail "a snapshot of calc, which ended during it, succeeded"
grep -q "ended while its memory was being copied" "$CKPTD_ERR" ||
	fail "the error does not say calc ended during the snapshot: $(ckptd_error_line)"
log "ok: $(ckptd_error_line)"
wait_for 10 "the copy $copy of calc is left behind" gone "$copy"
unchanged calc "after calc ended mid-snapshot"
wait_job calc "j is not None and j['state'] == 'lost'" 10 "job calc marked lost"

# ---------------------------------------------------- a corrupt chunk
log "-- case: a corrupt chunk in the newest version"
ck_ok restore calc
alive "$pid" || fail "restore calc did not bring back pid $pid"
E2E_PIDS+=("$pid")
check_running_soon "$pid" "the restored calc"
sleep 1
snapshot_job calc
[ "$SNAP_RC" = 0 ] || fail "a snapshot of the restored calc fails: $(ckptd_error_line)"
newest=$(version_numbers calc | tail -n 1)
kill -KILL "$pid"
wait_for 10 "calc was not reaped" gone "$pid"
pack=$(find "$(job_dir calc)/packs" -name '*.pack' -newer "$T/files.before" | sort | tail -n 1)
[ -n "$pack" ] || fail "no pack written by version $newest"
size=$(stat -c %s "$pack")
off=$(pack_stored_byte "$pack" $((size / 2))) || fail "cannot read the frame table of $pack"
flip_byte "$pack" "$off"
log "flipped a byte in the middle of $(basename "$pack") ($size bytes), written by version $newest"
ck_fails restore "calc@$newest"
grep -qiE "damaged|corrupt|checksum" "$CKPTD_ERR" ||
	fail "restoring the damaged version does not say it is damaged: $(ckptd_error_line)"
wait_for 10 "pid $pid exists after a failed restore" gone "$pid"
ck_ok restore calc
grep -qiE "version $newest.*(damaged|corrupt)" "$CKPTD_OUT" "$CKPTD_ERR" ||
	fail "restore calc does not say that version $newest was damaged: $(cat "$CKPTD_OUT" "$CKPTD_ERR" | head -c 400)"
alive "$pid" || fail "restore calc did not bring back pid $pid"
log "restored from an older version: $(cat "$CKPTD_OUT" "$CKPTD_ERR" | tr '\n' ' ' | head -c 300)"
wait_gone "$pid" 240 "the restored calc"
child_status "$ref"
[ "$CHILD_STATUS" = 0 ] || fail "the reference run failed with status $CHILD_STATUS"
compare_outputs "$T/ref" "$T/run" out
last_line_pass "$T/run/out"
ck_ok unwatch calc

# ------------------------------------------------- growth mid-capture
log "-- case: a process grows by gigabytes while its copy is read"
GROW='
import hashlib, os, signal, sys, time
out, ready = sys.argv[1], sys.argv[2]
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
base = bytearray(b"\x5a") * (96 << 20)
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)
while not go:
    time.sleep(0.01)
h = hashlib.sha256(base)
chunks = []
for i in range(96):  # 3 GiB
    c = bytes([i & 255]) * (32 << 20)
    chunks.append(c)
    h.update(c[:4096])
    time.sleep(0.005)
with open(out, "w") as f:
    f.write("%s %d\n" % (h.hexdigest(), sum(len(c) for c in chunks)))
'
for d in gref grun; do
	mkdir -p "$T/$d"
	(cd "$T/$d" && exec "$TOOLS/detach" "$PYTHON" -c "$GROW" "$T/$d/out" "$T/$d/ready" \
		</dev/null >"$T/$d/stdout" 2>"$T/$d/stderr") &
	E2E_PIDS+=("$!")
	eval "${d}_pid=$!"
	E2E_SHOW+=("$T/$d/stderr")
done
# shellcheck disable=SC2154 # set by eval
wait_ready "$grun_pid" "$T/grun/ready"
wait_ready "$gref_pid" "$T/gref/ready"
ck_ok watch "$grun_pid" --name grow --every 1h
wait_versions grow 1 60
base_bytes=$(jq_py "$T/poll.out" "job('grow').get('size')")
kill -USR1 "$grun_pid" "$gref_pid"
sleep 0.3
snapshot_job grow --json
[ "$SNAP_RC" = 0 ] || fail "a snapshot of a process growing by gigabytes fails: $(ckptd_error_line)"
log "snapshot while growing: $(tr -d '\n' <"$CKPTD_OUT" | tail -c 300)"
pages=$(jq_py "$CKPTD_OUT" "d['version']['pages']")
# It holds what the process had at the fork, not what it grew to since.
[ "$pages" -lt $(((96 + 3 * 1024) * 256)) ] ||
	fail "the version holds $pages pages: more than the process ever had before it ended"
log "first version: ${base_bytes:-?} bytes; the second holds $((pages / 256)) MiB"
kill -KILL "$grun_pid"
wait_for 10 "the growing process was not reaped" gone "$grun_pid"
ck_ok restore grow
alive "$grun_pid" || fail "restore grow did not bring back pid $grun_pid"
wait_gone "$grun_pid" 120 "the restored growing process"
wait_gone "$gref_pid" 120 "the untouched growing process"
[ -s "$T/grun/out" ] || fail "the restored growing process wrote no result"
cmp -s "$T/gref/out" "$T/grun/out" ||
	fail "the restored growing process says '$(cat "$T/grun/out")', the untouched one '$(cat "$T/gref/out")'"
log "both growing runs: $(cat "$T/grun/out")"
ck_ok unwatch grow
daemon_healthy "the faults"
daemon_stop
log "PASS"
