#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore when a file the process maps changed after the dump: refused as
# "changed", naming the file, with the pid left free. Cases: a data file
# mapped private and shared, changed in place (same size) and grown; a
# dlopen()ed library replaced by another; the executable changed in place.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-file-changed

lib=$(pick_library)
n=0
# changed_case NAME HOLDER-OPTIONS -- COMMAND...: dump a holder, run COMMAND, restore must fail.
changed_case() {
	local name=$1 opts=() file dir img sum
	shift
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	n=$((n + 1))
	dir=$T/h$n
	img=$T/img$n
	log "case: $name"
	holder_image "$img" "$dir" "${opts[@]}"
	file=$("$@")
	sum=$(image_sum "$img")
	expect_error changed restore -D "$img"
	error_names "$(basename "$file")"
	[ "$(image_sum "$img")" = "$sum" ] || fail "restore changed the image"
	# shellcheck disable=SC2086 # a list of TIDs
	pids_free "$HOLDER_PID" $HOLDER_TIDS
}

setup() {
	mkdir -p "$T/h$((n + 1))"
	"$TOOLS/gendata" $((n + 1)) 64K random >"$T/h$((n + 1))/map.dat"
	cp "$lib" "$T/h$((n + 1))/libcopy.so"
}

# One byte in the middle of the file (not in the page the holder dirtied), same size.
poke() {
	local off
	off=$(($(stat -c %s "$1") / 2))
	sleep 0.05 # past the coarse clock's tick, so the change shows in the mtime
	flip_byte "$1" "$off" 0x01
	echo "$1"
}
grow() {
	printf 'x' >>"$1"
	echo "$1"
}
# Another library in the copy's place (a new inode, other contents).
replace_lib() {
	local other
	for other in /usr/lib/x86_64-linux-gnu/libm.so.6 /usr/lib/x86_64-linux-gnu/libc.so.6; do
		[ -e "$other" ] && [ "$(readlink -f "$other")" != "$lib" ] && break
	done
	cp "$other" "$1.new"
	mv "$1.new" "$1"
	echo "$1"
}

setup
changed_case "data file changed in place" -m "$T/h1/map.dat" -- poke "$T/h1/map.dat"
setup
changed_case "data file grew" -m "$T/h2/map.dat" -- grow "$T/h2/map.dat"
setup
changed_case "library replaced" -l "$T/h3/libcopy.so" -- replace_lib "$T/h3/libcopy.so"

# The executable: the holder runs from a copy, changed after the dump.
setup
cp "$WORKLOADS/holder" "$T/holder-copy"
HOLDER_BIN=$T/holder-copy changed_case "executable changed in place" -- poke "$T/holder-copy"
log "PASS"
