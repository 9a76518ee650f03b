#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore while one of the saved TIDs is a pid of another process: refused
# as "in use" before the main pid is taken; once it is free the image
# restores and the process checks itself.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-tid-in-use

holder_image "$T/img" "$T/h"
pid=$HOLDER_PID
read -r -a tids <<<"$HOLDER_TIDS"
tid=${tids[$((RANDOM % ${#tids[@]}))]}
log "taking TID $tid of threads ${tids[*]}"
other=$("$TOOLS/takepid" "$tid" sleep 1000) || fail "could not start a process with pid $tid"
E2E_PIDS+=("$other")

sum=$(image_sum "$T/img")
expect_error "in use" restore -D "$T/img"
[ "$(image_sum "$T/img")" = "$sum" ] || fail "restore changed the image"
free=("$pid")
for t in "${tids[@]}"; do
	[ "$t" = "$tid" ] || free+=("$t")
done
pids_free "${free[@]}"
alive "$tid" || fail "the process holding TID $tid is gone"
kill -9 "$tid"
wait_gone "$tid" 10 "the process holding the TID"

run_ckptd restore -D "$T/img" || fail "restore failed: $(ckptd_error_line)"
E2E_PIDS+=("$pid")
compare_state "$pid" "$T/holder"
holder_finish "$pid" "$T/h"
log "PASS"
