#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a process another tracer holds (as gdb or strace would): "traced".
# The tracer keeps it, the process runs on, and once the tracer lets go a
# dump and restore work and the process checks itself.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-traced

holder_start "$T/h"
pid=$HOLDER_PID
"$TOOLS/tracer" "$pid" "$T/tracer.ready" 2>"$T/tracer.err" &
tracer=$!
E2E_PIDS+=("$tracer")
E2E_SHOW+=("$T/tracer.err")
wait_ready "$tracer" "$T/tracer.ready"

expect_error traced dump "$pid" -D "$T/img"
assert_no_image "$T/img"
expect_error traced dump "$pid" -D "$T/img" --leave-running
assert_no_image "$T/img"
alive "$pid" || fail "the traced process is gone"
[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status")" = "$tracer" ] ||
	fail "the other tracer lost the process"

kill -9 "$tracer"
wait "$tracer" || true
check_running "$pid" "the process after its tracer left"
ckpt_cycle "$pid" kill "$T/img"
holder_finish "$pid" "$T/h"
log "PASS"
