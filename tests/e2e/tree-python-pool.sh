#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-python-pool: a python3 driver with a multiprocessing.Pool of three
# forked workers (tests/workloads/pool.py): tasks and results go through
# pipes, locks are semaphores in deleted /dev/shm files all of them map.
# The tree (driver and workers) is checkpointed at a random moment; the
# restored tree must have the same pids and relations and compute the same
# results as an uninterrupted run, in the same order.
#     tree-python-pool.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-python-pool-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/pool.py" "$1/out" "$1/ready"; }
OUTPUTS=(out)
# The workers the driver started are its children, all of them there.
after_restore() {
	local w pids
	read -r -a pids <"$T/run/pids"
	for w in "${pids[@]:1}"; do
		[ "$(awk '/^PPid:/ { print $2 }' "/proc/$w/status" 2>/dev/null)" = "$1" ] ||
			fail "pool worker $w is not the restored driver's child"
	done
}
ready() {
	wait_ready "$2" "$1/ready"
	cp "$1/ready" "$1/pids"
	[ "$(wc -w <"$1/pids")" = 4 ] || fail "the driver did not start three workers: $(cat "$1/pids")"
}
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
