#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ptimers: POSIX timers (SIGEV_SIGNAL, SIGEV_THREAD_ID, glibc's SIGEV_THREAD,
# SIGEV_NONE, a deleted id) keep their ids, targets and periods.
#     ptimers.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "ptimers-$mode"

launch() { start_bg "$1" "$WORKLOADS/ptimers" "$1/out" "$1/ready"; }
OUTPUTS=(out)
TRANSIENT_THREADS=1 # glibc starts a thread for each SIGEV_THREAD expiry
run_scenario "$mode"
# Older readers would restore it without this state: they must refuse it.
grep -qE '"format"[[:space:]]*:[[:space:]]*2[,}[:space:]]' "$T/img/manifest.json" ||
	fail "the image's format is not 2: $(grep -oE '"format"[^,]*' "$T/img/manifest.json")"
