#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# threads: eight threads waiting in pthread_cond_wait, futex, poll, read and
# two kinds of sleep while they compute a hash chain; every TID must come
# back and the result must match an uninterrupted run.
#     threads.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "threads-$mode"

launch() { start_bg "$1" "$WORKLOADS/threads" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
