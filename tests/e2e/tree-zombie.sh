#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-zombie: a parent holding a zombie child (exited with status 7, not
# yet reaped) and a live child that sends it records through a pipe
# (tests/workloads/zombie.c). After a restore the zombie is there again with
# the same pid, parent and wait status, and the parent collects it: what
# waitpid gave (written to out) must match an uninterrupted run's.
#     tree-zombie.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-zombie-$mode"

launch() { start_bg "$1" "$WORKLOADS/zombie" "$1/out" "$1/ready"; }
OUTPUTS=(out)
ready() {
	wait_ready "$2" "$1/ready"
	read -r _ ZOMBIE LIVE <"$1/ready"
	[ "$(proc_state "$ZOMBIE")" = Z ] || fail "child $ZOMBIE is not a zombie (state $(proc_state "$ZOMBIE"))"
}
# What ps would show: the zombie, its parent the restored process, and the
# status it exited with (7 << 8 as /proc shows it); the live child too.
after_restore() {
	local f
	[ "$(proc_state "$ZOMBIE")" = Z ] || fail "restored child $ZOMBIE is not a zombie (state $(proc_state "$ZOMBIE"))"
	read -r -a f <<<"$(sed 's/.*) //' "/proc/$ZOMBIE/stat")"
	[ "${f[1]}" = "$1" ] || fail "the restored zombie's parent is ${f[1]}, not $1"
	[ "${f[${#f[@]} - 1]}" = $((7 << 8)) ] || fail "the restored zombie's wait status is ${f[${#f[@]} - 1]}, not $((7 << 8))"
	alive "$LIVE" || fail "the live child $LIVE did not come back"
	log "zombie $ZOMBIE (status 7) and live child $LIVE are back under $1"
}
verify() {
	last_line_pass "$1/out"
	grep -qx 'child a: exited 7' "$1/out" || fail "the parent did not collect its zombie with status 7"
	grep -qx 'child b: exited 3' "$1/out" || fail "the parent did not collect its live child with status 3"
}
run_scenario "$mode"
