#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# append-log: a python3 program logging its progress through the logging
# module (tests/workloads/applog.py), which appends to its log. With
# --leave-running the original goes on appending after the snapshot, then
# is killed: the restored process does that work again, and its log must
# be the uninterrupted run's byte for byte, each line once (restore cuts a
# file the process appended to back to its size at the snapshot), and what
# was cut must be kept beside it (log.ckptd-cut-*), as lines the
# uninterrupted run wrote too.
#     append-log.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "append-log-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/applog.py" "$1/log" "$1/ready"; }
OUTPUTS=(log)
verify() {
	last_line_pass "$1/log"
	[ "$(grep -c '^round ' "$1/log")" = 1500 ] ||
		fail "$(basename "$1")/log has $(grep -c '^round ' "$1/log") round lines, not 1500"
	[ "$1" = "$T/run" ] && [ "$mode" = leave ] || return 0
	local cut=("$1"/log.ckptd-cut-*)
	[ ${#cut[@]} = 1 ] && [ -s "${cut[0]}" ] || fail "no file beside the log holds what was cut"
	"$PYTHON" - "$T/ref/log" "${cut[0]}" <<'PY' || fail "$(basename "${cut[0]}") is not lines of the uninterrupted run"
import sys
ref, cut = (open(p).read() for p in sys.argv[1:])
at = ref.find(cut)
sys.exit(0 if cut.endswith("\n") and at >= 0 and (at == 0 or ref[at - 1] == "\n") else 1)
PY
	log "kept beside the log: $(wc -l <"${cut[0]}") lines cut"
}
# Before the original is killed, it must have appended past its snapshot.
after_leave() { wait_log_grows "$T/run/log"; }
run_scenario "$mode"
