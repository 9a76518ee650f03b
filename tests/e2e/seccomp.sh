#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# seccomp: filters (one shared by two threads, one per thread, one logged)
# and no_new_privs survive; what was denied stays denied.
#     seccomp.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "seccomp-$mode"

launch() { start_bg "$1" "$WORKLOADS/seccomp" "$1/out" "$1/ready"; }
OUTPUTS=(out)
run_scenario "$mode"
# Older readers would restore it without this state: they must refuse it.
grep -qE '"format"[[:space:]]*:[[:space:]]*2[,}[:space:]]' "$T/img/manifest.json" ||
	fail "the image's format is not 2: $(grep -oE '"format"[^,]*' "$T/img/manifest.json")"
