#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# timens: a workload started inside a time namespace whose CLOCK_MONOTONIC is
# 10^6 s and CLOCK_BOOTTIME 2*10^6 s ahead of the host's (both behind the
# process's, as after a reboot) reads both clocks through the vDSO at every
# step and checks they never go back. After a snapshot and a restore it must
# be in a new time namespace whose offsets make its clocks go on from the
# snapshot, and finish with the output of an uninterrupted run.
# With "vdso-patch", restore redirects the vDSO's functions as after a
# kernel update: the redirected clock_gettime must answer in namespace time.
#     timens.sh kill|leave [vdso-patch]
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
RESTORE_ARGS=()
case ${2:-} in
"") e2e_init "timens-$mode" ;;
vdso-patch)
	RESTORE_ARGS=(--vdso-patch)
	e2e_init "timens-$mode-vdso-patch"
	;;
*)
	echo "usage: $0 kill|leave [vdso-patch]" >&2
	exit 2
	;;
esac
[ -e /proc/self/ns/time ] || skip "this kernel has no time namespaces"

AHEAD=1000000 # seconds, CLOCK_MONOTONIC's; CLOCK_BOOTTIME's is twice that

launch() { start_bg "$1" "$TOOLS/timens" "$AHEAD" $((2 * AHEAD)) "$WORKLOADS/clocks" "$1/out" "$1/ready" "$AHEAD"; }
OUTPUTS=(out)

# Offsets of the restored process's namespace: a little under the original
# ones (the host's clocks went on between dump and restore).
near() { [ "$1" -le "$2" ] && [ "$1" -gt $(($2 - 120)) ]; }
after_restore() {
	local pid=$1 mono boot
	mono=$(awk '$1 == "monotonic" { print $2 }' "/proc/$pid/timens_offsets")
	boot=$(awk '$1 == "boottime" { print $2 }' "/proc/$pid/timens_offsets")
	log "restored into a time namespace with offsets: monotonic ${mono} s, boottime ${boot} s"
	near "$mono" "$AHEAD" || fail "monotonic offset ${mono} s; expected just under ${AHEAD} s"
	near "$boot" $((2 * AHEAD)) || fail "boottime offset ${boot} s; expected just under $((2 * AHEAD)) s"
}

# The dump recorded the process's clocks, not the host's.
saved_monotonic() {
	python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["clocks"]
assert c["monotonic_ns"] > c["host_monotonic_ns"], c
print(c["monotonic_ns"])' "$T/inspect.json" || fail "the image's clocks are not the process's"
}

# The log of readings never goes back and stays above the namespace's
# offset. With --leave-running the original went on logging after the
# snapshot, so there the log may go back once: to the restored process's
# first reading, which must be at or past the snapshot's clock.
verify() {
	local dir=$1 drops=0 saved=0 out
	if [ "$dir" = "$T/run" ]; then
		saved=$(saved_monotonic)
		[ "$mode" = leave ] && drops=1
	fi
	out=$(awk -v min="${AHEAD}000000000" -v drops="$drops" -v saved="$saved" '
		NF != 2 { print "line " NR " is malformed: " $0; exit }
		$1 < min || $2 < 2 * min { print "line " NR ": " $0 " below the offsets"; exit }
		NR > 1 && ($1 < m || $2 < b) {
			if (drops-- <= 0) { print "line " NR " went back: " m " " b " -> " $0; exit }
			if ($1 < saved) { print "line " NR ": restored at " $1 ", before the snapshot " saved; exit }
		}
		{ m = $1; b = $2 }' "$dir/out.log")
	[ -z "$out" ] || fail "$dir/out.log: $out"
	[ "$(wc -l <"$dir/out.log")" -gt 100 ] || fail "$dir/out.log holds too few readings"
}
run_scenario "$mode"
