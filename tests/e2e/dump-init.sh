#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of pid 1: "init". First in a new pid namespace, where pid 1 is a
# shell of ours, so a tool that gets this wrong breaks only that namespace;
# then, only once that passed, the real pid 1, with --leave-running.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-init

if unshare --pid --fork --mount-proc true 2>/dev/null; then
	E2E_NRUN=$((E2E_NRUN + 1))
	CKPTD_OUT=$T/ckptd-ns.out
	CKPTD_ERR=$T/ckptd-ns.err
	E2E_SHOW+=("$CKPTD_OUT" "$CKPTD_ERR")
	log "in a new pid namespace: ckptd dump 1"
	# Pid 1 there is this inner bash; ckptd is its child.
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --pid --fork --mount-proc bash -c \
		'"$0" dump 1 -D "$1" >"$2" 2>"$3"; echo $? >"$4"' \
		"$CKPTD" "$T/img-ns" "$CKPTD_OUT" "$CKPTD_ERR" "$T/ns.rc" || true
	[ -s "$T/ns.rc" ] || fail "the namespace's init did not survive ckptd dump 1"
	check_error init "$(cat "$T/ns.rc")" "ckptd dump 1 (in a pid namespace)"
	assert_no_image "$T/img-ns"
else
	log "cannot make a pid namespace here; testing only the real pid 1"
fi

expect_error init dump 1 -D "$T/img" --leave-running
assert_no_image "$T/img"
check_running 1 "pid 1"
log "PASS"
