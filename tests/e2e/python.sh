#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# python: CPython (nobody here wrote it) running a hash chain and big-integer
# arithmetic; its result must match an uninterrupted run.
#     python.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "python-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/hashchain.py" "$1/out" "$1/ready"; }
OUTPUTS=(out)
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
