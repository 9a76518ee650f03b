#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-socketpair: a python3 parent and its child talking over a socket pair
# made before the fork, one end in each (tests/workloads/unixconn.py in
# "pair" mode), requests and answers queued both ways. The tree saves the
# pair once, with both queues; after a restore at a random moment each
# process must hold its end of one pair again: out must match an
# uninterrupted run's.
#     tree-socketpair.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-socketpair-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/unixconn.py" "$1/out" "$1/ready" pair; }
OUTPUTS=(out)
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
