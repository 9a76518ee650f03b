#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump into a directory that holds a file: "not empty"; the directory and
# its file stay as they were, the process runs on and can be dumped after.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-dir-not-empty

holder_start "$T/h"
pid=$HOLDER_PID
mkdir "$T/img"
echo "keep me" >"$T/img/keep"
expect_error "not empty" dump "$pid" -D "$T/img"
[ "$(find "$T/img" -mindepth 1)" = "$T/img/keep" ] || fail "$T/img changed: $(find "$T/img")"
[ "$(cat "$T/img/keep")" = "keep me" ] || fail "$T/img/keep changed"
[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp-*')" ] || fail "temporary files left in $T"
check_running "$pid" "the process after a failed dump"

ckpt_cycle "$pid" kill "$T/img2"
holder_finish "$pid" "$T/h"
log "PASS"
