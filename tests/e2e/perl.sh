#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# perl: Perl running Digest::SHA, pure-Perl integer loops and Math::BigInt;
# its result must match an uninterrupted run.
#     perl.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "perl-$mode"

PERL=$(command -v perl) || skip "no perl"
launch() { start_bg "$1" "$PERL" "$WORKLOADS_SRC/hashchain.pl" "$1/out" "$1/ready"; }
OUTPUTS=(out)
verify() { last_line_pass "$1/out"; }
run_scenario "$mode"
