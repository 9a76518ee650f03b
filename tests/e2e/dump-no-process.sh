#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of a pid that no process has: "no process", and no image left behind.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-no-process

# A pid that was in use a moment ago and is free now.
sleep 0 &
pid=$!
wait "$pid"
[ ! -e "/proc/$pid" ] || skip "pid $pid was reused at once"
expect_error "no process" dump "$pid" -D "$T/img"
assert_no_image "$T/img"
log "PASS"
