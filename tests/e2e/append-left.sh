#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# append-left: a log the process appends to that restore cannot cut back to
# its size at the snapshot is left as it is, with a warning that says why,
# and the restored process appends after what is there:
#   - a log made shorter than at the snapshot (emptied by a log rotation);
#   - a log that grew but is append-only (chattr +a): nothing is cut and
#     nothing is put beside it.
# The workload is tests/workloads/applog.py (python logging, O_APPEND).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init append-left

need_python3
command -v chattr >/dev/null || skip "no chattr (e2fsprogs)"

# start_log DIR: applog in DIR, long enough to outlive the test; sets pid.
start_log() {
	mkdir -p "$1"
	start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$1/log" "$1/ready" 1000000
	pid=$BG_PID
	wait_ready "$pid" "$1/ready"
}

# restored DIR WARNING: the restore succeeded warning WARNING, the process
# runs and appends to DIR/log again, nothing was put beside it.
restored() {
	local size
	grep -qF "$2" "$CKPTD_ERR" || fail "no warning '$2': $(cat "$CKPTD_ERR")"
	grep -q "^pid $pid running again" "$CKPTD_OUT" || fail "restore said: $(cat "$CKPTD_OUT")"
	E2E_PIDS+=("$pid")
	check_running "$pid" "the restored process"
	compgen -G "$1/log.ckptd-cut-*" >/dev/null && fail "a cut file was made: $(ls "$1")"
	wait_log_grows "$1/log"
	log "ok: $(grep -F "$2" "$CKPTD_ERR")"
}

log "case: the log is shorter than at the snapshot"
start_log "$T/a"
run_ckptd dump "$pid" -D "$T/a.img" || fail "dump failed: $(ckptd_error_line)"
wait_gone "$pid" 10 "the dumped process"
head -c 100 "$T/a/log" >"$T/a/kept"
truncate -s 100 "$T/a/log"
run_ckptd restore -D "$T/a.img" || fail "restore of a shorter log failed: $(ckptd_error_line)"
restored "$T/a" "log is shorter than at the snapshot"
cmp -s "$T/a/kept" <(head -c 100 "$T/a/log") || fail "the 100 bytes left in the log changed"
kill -KILL "$pid"

log "case: the log grew and is append-only"
start_log "$T/b"
run_ckptd dump "$pid" -D "$T/b.img" --leave-running || fail "dump failed: $(ckptd_error_line)"
wait_log_grows "$T/b/log"
kill -KILL "$pid"
wait_gone "$pid" 10 "the original"
chattr +a "$T/b/log" || skip "this file system has no append-only files"
E2E_APPEND_ONLY+=("$T/b/log")
size=$(stat -c %s "$T/b/log")
run_ckptd restore -D "$T/b.img" || fail "restore of an append-only log failed: $(ckptd_error_line)"
restored "$T/b" "log is append-only (chattr +a) and grew since the snapshot"
[ "$(stat -c %s "$T/b/log")" -gt "$size" ] || fail "the append-only log did not grow"
kill -KILL "$pid"
log "PASS"
