#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ckptd asked to dump its own process: "itself". A shell execs ckptd with
# its own pid, so the pid is ckptd's by the time it runs.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-itself

CKPTD_OUT=$T/ckptd-self.out
CKPTD_ERR=$T/ckptd-self.err
E2E_SHOW+=("$CKPTD_OUT" "$CKPTD_ERR")
rc=0
# shellcheck disable=SC2016 # expanded by the inner shell
bash -c 'exec "$0" dump "$$" -D "$1" --leave-running' "$CKPTD" "$T/img" \
	</dev/null >"$CKPTD_OUT" 2>"$CKPTD_ERR" || rc=$?
check_error itself "$rc" "ckptd dump <its own pid>"
assert_no_image "$T/img"
log "PASS"
