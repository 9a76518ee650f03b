#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-fifo: a parent holding a named FIFO open and a child that keeps
# opening it by name to write (tests/workloads/fifo.py), lines waiting in
# it. After a restore at a random moment the FIFO still has its bytes and
# its name still leads to the parent's pipe: out must match an
# uninterrupted run's.
#     tree-fifo.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-fifo-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/fifo.py" "$1/out" "$1/ready" "$1/fifo"; }
OUTPUTS=(out)
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
