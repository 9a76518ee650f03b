#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gzip: `gzip -6 -c INPUT > stdout` on 180 MiB, checkpointed part way; the
# output must be byte-identical to an uninterrupted run's and decompress.
#     gzip.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "gzip-$mode"

GZIP_BIN=$(command -v gzip) || skip "no gzip"
"$TOOLS/gendata" 9 180M text >"$T/input"
launch() { start_bg "$1" "$GZIP_BIN" -6 -c "$T/input"; }
ready() { wait_exe "$2" "$GZIP_BIN"; }
OUTPUTS=(stdout)
verify() { "$GZIP_BIN" -dc "$1/stdout" | cmp -s - "$T/input" || fail "$1/stdout does not decompress to the input"; }
run_scenario "$mode"
