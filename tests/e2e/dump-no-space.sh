#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a 16 MiB process onto a 512 KiB filesystem: "no space"; every
# partial file removed (the filesystem is as it was: empty, or holding just
# the empty directory given), the process runs on and can be dumped after.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-no-space

mkdir "$T/small"
mount -t tmpfs -o size=512k tmpfs "$T/small" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
E2E_MOUNTS+=("$T/small")

holder_start "$T/h" -b 16
pid=$HOLDER_PID
# Without --leave-running into an empty directory that exists; with it, into a new one.
mkdir "$T/small/img"
expect_error "no space" dump "$pid" -D "$T/small/img"
assert_no_image "$T/small/img" empty
[ "$(find "$T/small" -mindepth 1)" = "$T/small/img" ] ||
	fail "a failed dump left files: $(find "$T/small" -mindepth 1 | head)"
check_running "$pid" "the process after a failed dump"
rmdir "$T/small/img"

expect_error "no space" dump "$pid" -D "$T/small/img" --leave-running
assert_no_image "$T/small/img"
[ -z "$(find "$T/small" -mindepth 1)" ] || fail "a failed dump left files: $(find "$T/small" -mindepth 1 | head)"
check_running "$pid" "the process after a failed dump"

ckpt_cycle "$pid" kill "$T/img"
holder_finish "$pid" "$T/h"
log "PASS"
