#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore while the pid is taken: first by the original itself (dumped with
# --leave-running), then by an unrelated process. Refused as "in use"; the
# original runs on unharmed (it checks itself); once the pid is free the
# image restores and the restored process checks itself.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-pid-in-use

holder_start "$T/h"
pid=$HOLDER_PID
read -r -a tids <<<"$HOLDER_TIDS"
record_state "$pid" "$T/holder"
run_ckptd dump "$pid" -D "$T/img" --leave-running || fail "dump failed: $(ckptd_error_line)"

log "case: the original still runs"
# The original's own check appends to app.log; the image expects it as it is now.
cp "$T/h/app.log" "$T/app.log.at-dump"
sum=$(image_sum "$T/img")
expect_error "in use" restore -D "$T/img"
[ "$(image_sum "$T/img")" = "$sum" ] || fail "restore changed the image"
check_running "$pid" "the original after a refused restore"
compare_state "$pid" "$T/holder"
holder_finish "$pid" "$T/h"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the original exited with status $CHILD_STATUS"
rm "$T/h/out"
cat "$T/app.log.at-dump" >"$T/h/app.log" # same inode, contents as at the dump

log "case: an unrelated process has the pid"
other=$("$TOOLS/takepid" "$pid" sleep 1000) || fail "could not start a process with pid $pid"
E2E_PIDS+=("$other")
expect_error "in use" restore -D "$T/img"
pids_free "${tids[@]}"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$(command -v sleep)")" ] ||
	fail "pid $pid is no longer our sleep"
kill -9 "$pid"
wait_gone "$pid" 10 "the process holding the pid"

log "case: the pid is free"
run_ckptd restore -D "$T/img" || fail "restore failed: $(ckptd_error_line)"
compare_state "$pid" "$T/holder"
holder_finish "$pid" "$T/h"
log "PASS"
