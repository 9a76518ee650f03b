#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fileio: an input read in chunks, an output written sequentially, an
# O_APPEND log, an unlinked scratch file and a sealed memfd, all mid-way at
# the snapshot; fileio.data must match an uninterrupted run byte for byte.
# (fileio.log is checked by the workload: after --leave-running the original
# may have appended records the restored process appends again.)
#     fileio.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "fileio-$mode"

"$TOOLS/gendata" 5 5M text >"$T/input"
launch() { start_bg "$1" "$WORKLOADS/fileio" "$1/out" "$1/ready" "$T/input" "$1"; }
OUTPUTS=(out fileio.data)
run_scenario "$mode"
