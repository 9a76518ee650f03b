#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore when a file the process maps was removed after the dump: refused
# as "no longer exists", naming the file, with the pid left free. Cases: a
# mapped data file, a dlopen()ed library, the executable.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-file-vanished

lib=$(pick_library)
n=0
# vanished_case NAME FILE HOLDER-OPTIONS...: dump a holder, remove FILE, restore must fail.
vanished_case() {
	local name=$1 file=$2 dir img sum
	shift 2
	n=$((n + 1))
	dir=$T/h$n
	img=$T/img$n
	log "case: $name"
	holder_image "$img" "$dir" "$@"
	rm "$file"
	sum=$(image_sum "$img")
	expect_error "no longer exists" restore -D "$img"
	error_names "$(basename "$file")"
	[ "$(image_sum "$img")" = "$sum" ] || fail "restore changed the image"
	# shellcheck disable=SC2086 # a list of TIDs
	pids_free "$HOLDER_PID" $HOLDER_TIDS
}

mkdir -p "$T/h1" "$T/h2"
"$TOOLS/gendata" 1 64K random >"$T/h1/map.dat"
vanished_case "mapped data file" "$T/h1/map.dat" -m "$T/h1/map.dat"
cp "$lib" "$T/h2/libcopy.so"
vanished_case "library" "$T/h2/libcopy.so" -l "$T/h2/libcopy.so"
cp "$WORKLOADS/holder" "$T/holder-copy"
HOLDER_BIN=$T/holder-copy vanished_case "executable" "$T/holder-copy"
log "PASS"
