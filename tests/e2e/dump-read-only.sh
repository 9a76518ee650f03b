#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump onto a read-only filesystem: "read-only"; nothing written, the process
# runs on and can be dumped elsewhere after.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-read-only

mkdir "$T/ro"
mount -t tmpfs -o ro,size=1m tmpfs "$T/ro" 2>"$T/mount.err" || skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
E2E_MOUNTS+=("$T/ro")

holder_start "$T/h"
pid=$HOLDER_PID
expect_error read-only dump "$pid" -D "$T/ro/img"
assert_no_image "$T/ro/img"
check_running "$pid" "the process after a failed dump"

ckpt_cycle "$pid" kill "$T/img"
holder_finish "$pid" "$T/h"
log "PASS"
