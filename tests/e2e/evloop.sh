#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# evloop: an epoll loop over timerfds, eventfds (one dup()ed), a semaphore
# eventfd and a signalfd. Counters, unread timer ticks, masks, flags and every
# registration must come back as the kernel objects they were.
#     evloop.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "evloop-$mode"

launch() { start_bg "$1" "$WORKLOADS/evloop" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
