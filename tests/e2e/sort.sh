#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# sort: GNU sort on 280 MiB with a 2 MiB buffer, so it works through many
# temporary files in DIR/tmp (open, being written or merged at the snapshot).
# Only "kill": after --leave-running the original goes on deleting temporary
# files the image refers to, and the restore would rightly refuse.
#     sort.sh kill
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "sort-$mode"

SORT=$(command -v sort) || skip "no sort"
"$TOOLS/gendata" 3 280M lines >"$T/input"
launch() {
	mkdir -p "$1/tmp"
	start_bg "$1" env LC_ALL=C "$SORT" --parallel=1 -S 2M -T "$1/tmp" -o "$1/sorted" "$T/input"
}
ready() { wait_exe "$2" "$SORT"; }
OUTPUTS=(sorted)
verify() {
	LC_ALL=C "$SORT" -c "$1/sorted" || fail "$1/sorted is not sorted"
	# Files the original made between the snapshot and its death are the
	# restored sort's to ignore, not to remove.
	if [ -n "$(find "$1/tmp" -mindepth 1)" ]; then
		log "note: $(find "$1/tmp" -mindepth 1 | wc -l) temporary files left in $1/tmp"
	fi
}
run_scenario "$mode"
