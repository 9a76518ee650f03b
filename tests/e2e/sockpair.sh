#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# sockpair: stream, datagram and seqpacket socket pairs with data queued in
# them at the snapshot, a dup()ed end, a non-blocking end and a pair shut
# for writing. Queued bytes and message boundaries must come back exactly.
#     sockpair.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "sockpair-$mode"

launch() { start_bg "$1" "$WORKLOADS/sockpair" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
