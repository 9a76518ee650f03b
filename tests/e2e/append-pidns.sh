#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# append-pidns: `restore --pidns` may run while the process it restores
# still does (its PID is not needed), and both then append to one log.
# Restore cuts a log back to its size at the snapshot only when the
# process that wrote it is gone: here the original runs, so the log is left
# whole, with a warning, and nothing is put beside it. Twice:
#   - the original runs in our PID namespace (under its saved PID);
#   - the original is itself a copy restored with --pidns, snapshotted in
#     its namespace: it runs under another PID here than the one saved, and
#     must be found all the same.
# The workload is tests/workloads/applog.py (python logging, O_APPEND).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init append-pidns

need_python3
mkdir -p "$T/run"
start_bg "$T/run" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$T/run/log" "$T/run/ready" 1000000
pid=$BG_PID
wait_ready "$pid" "$T/run/ready"

# restore_beside ORIGINAL IMG: restores IMG with --pidns while ORIGINAL runs
# on and appends; the log must only grow, with the warning and no cut file.
# Sets COPY, the copy's PID here.
restore_beside() {
	local original=$1 img=$2 size line
	wait_log_grows "$T/run/log"
	size=$(stat -c %s "$T/run/log")
	run_ckptd restore -D "$img" --pidns || fail "restore --pidns of $img failed: $(ckptd_error_line)"
	line=$(head -n 1 "$CKPTD_OUT")
	[[ $line =~ \(PID\ ([0-9]+)\ outside\ it\) ]] || fail "restore --pidns said: $line"
	COPY=${BASH_REMATCH[1]}
	E2E_PIDS+=("$COPY")
	check_running "$original" "the original, beside its copy"
	check_running "$COPY" "the copy restored from $img"
	grep -q "log grew since the snapshot, but the process that wrote it still runs" "$CKPTD_ERR" ||
		fail "no warning that the log is left whole: $(cat "$CKPTD_ERR")"
	[ "$(stat -c %s "$T/run/log")" -ge "$size" ] || fail "the log was cut while its writer runs"
	compgen -G "$T/run/log.ckptd-cut-*" >/dev/null && fail "a cut file was made: $(ls "$T/run")"
	log "ok: restored $img as pid $COPY beside pid $original; the log only grew"
}

log "case: the original runs in our PID namespace"
run_ckptd dump "$pid" -D "$T/img1" --leave-running || fail "dump failed: $(ckptd_error_line)"
restore_beside "$pid" "$T/img1"
first_copy=$COPY
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$first_copy/status")
[ "$nspid" = "$pid" ] || fail "the copy is pid $nspid in its namespace, not $pid"

log "case: the original is a copy in a PID namespace of its own"
run_ckptd dump "$first_copy" -D "$T/img2" --leave-running || fail "dump of the copy failed: $(ckptd_error_line)"
restore_beside "$first_copy" "$T/img2"
kill -KILL "$pid" "$first_copy" "$COPY"
log "PASS"
