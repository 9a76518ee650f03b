#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# simd: all 32 zmm registers and an opmask live in a long AVX-512 loop, then
# eight AMX tiles live in a tdpbssd loop (when the CPU has AMX): the snapshot
# lands inside one of them and the registers must come back exactly.
#     simd.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "simd-$mode"

[ -x "$WORKLOADS/simd" ] || skip "simd was not built (compiler without -mamx-tile?)"
grep -qw avx512f /proc/cpuinfo || skip "the CPU has no AVX-512F"
grep -qw amx_tile /proc/cpuinfo || log "no AMX on this CPU: only AVX-512 is tested"
launch() { start_bg "$1" "$WORKLOADS/simd" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
