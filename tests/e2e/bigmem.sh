#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bigmem: 300 MiB of seeded heap mutated in rounds, plus sparse, read-only,
# PROT_NONE, shared, MADV_DONTFORK and MADV_WIPEONFORK regions; snapshot
# mid-mutation, restore, and the result must match an uninterrupted run.
#     bigmem.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "bigmem-$mode"

launch() { start_bg "$1" "$WORKLOADS/bigmem" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
