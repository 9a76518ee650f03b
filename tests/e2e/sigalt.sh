#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# sigalt: handlers on a sigaltstack and signals that stay pending (blocked
# SIGUSR2, queued SIGRTMIN values, thread-directed SIGRTMIN+1) across the
# snapshot; each must arrive once, in order, with its value.
#     sigalt.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "sigalt-$mode"

launch() { start_bg "$1" "$WORKLOADS/sigalt" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
