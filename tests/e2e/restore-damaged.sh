#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore of an image with one flipped byte, in each of its files: refused
# as "damaged", naming the file, before anything is created (the pid and
# TIDs stay free) and without touching the image. The intact image restores
# after all that and the process checks itself.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-damaged

holder_image "$T/pristine" "$T/h" -b 4
pid=$HOLDER_PID
read -r -a tids <<<"$HOLDER_TIDS"

# corrupt_case NAME FILE OFFSET [MASK] [WHAT]: one byte of FILE (relative to the
# image) changed; the error must name WHAT (default: the file's name).
corrupt_case() {
	local name=$1 file=$2 off=$3 mask=${4:-0xff} what=${5:-$(basename "$2")} sum
	log "case: $name ($file, byte $off)"
	rm -rf "$T/img"
	cp -a "$T/pristine" "$T/img"
	flip_byte "$T/img/$file" "$off" "$mask"
	sum=$(image_sum "$T/img")
	expect_error damaged restore -D "$T/img"
	error_names "$what"
	pids_free "$pid" "${tids[@]}"
	[ "$(image_sum "$T/img")" = "$sum" ] || fail "restore changed the image"
}

# middle FILE: RAND becomes a byte in the middle half of FILE, chosen by the seed.
middle() {
	local size
	size=$(stat -c %s "$1")
	[ "$size" -gt 0 ] || fail "$1 is empty"
	rand_between $((size / 4)) $((size * 3 / 4))
}

for f in core.elf pages.idx; do
	[ -s "$T/pristine/$f" ] || fail "the image has no $f"
	middle "$T/pristine/$f"
	corrupt_case "$f" "$f" "$RAND"
done

pack=$(cd "$T/pristine" && find . -path '*packs/*' -type f -size +0 | sort | head -n 1)
[ -n "$pack" ] || fail "the image holds no pack file (packs/*): $(cd "$T/pristine" && find . -type f)"
pack=${pack#./}
middle "$T/pristine/$pack"
RAND=$(pack_stored_byte "$T/pristine/$pack" "$RAND") || fail "cannot read the frame table of $pack"
# A pack may be named by its id alone ("pack 00000000000000a3").
stem=$(basename "$pack")
corrupt_case pack "$pack" "$RAND" 0xff "${stem%.pack}"

# manifest.json, where a flip does different harm (each case fixed, not random):
# a letter of a value (still valid JSON: only the checksum can tell), a letter
# of a key (valid JSON, a member gone), and its first byte (not JSON at all).
m=$(grep -bo '"comm"[[:space:]]*:[[:space:]]*"' "$T/pristine/manifest.json" | head -n 1) ||
	fail "manifest.json has no \"comm\" member"
match=${m#*:}
corrupt_case "manifest value" manifest.json $((${m%%:*} + ${#match})) 0x01
m=$(grep -bo '"checksum"' "$T/pristine/manifest.json" | head -n 1) ||
	fail "manifest.json has no \"checksum\" member"
corrupt_case "manifest key" manifest.json $((${m%%:*} + 1)) 0x01
corrupt_case "manifest start" manifest.json 0

log "the intact image"
rm -rf "$T/img"
cp -a "$T/pristine" "$T/img"
run_ckptd restore -D "$T/img" || fail "restore of the intact image failed: $(ckptd_error_line)"
E2E_PIDS+=("$pid")
compare_state "$pid" "$T/holder"
holder_finish "$pid" "$T/h"
log "PASS"
