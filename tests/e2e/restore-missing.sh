#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore of an image missing one of its files (core.elf, pages.idx, a pack):
# refused as "missing", naming the file, with the pid and TIDs left free.
# Without manifest.json the directory is no image at all: the error need only
# name manifest.json. The complete image restores after all that.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-missing

holder_image "$T/pristine" "$T/h" -b 4
pid=$HOLDER_PID
read -r -a tids <<<"$HOLDER_TIDS"

pack=$(cd "$T/pristine" && find . -path '*packs/*' -type f | sort | head -n 1)
[ -n "$pack" ] || fail "the image holds no pack file (packs/*): $(cd "$T/pristine" && find . -type f)"
for f in core.elf pages.idx "${pack#./}" manifest.json; do
	log "case: without $f"
	rm -rf "$T/img"
	cp -a "$T/pristine" "$T/img"
	[ -e "$T/img/$f" ] || fail "the image has no $f to remove"
	rm "$T/img/$f"
	if [ "$f" = manifest.json ]; then
		expect_error manifest.json restore -D "$T/img"
	else
		expect_error missing restore -D "$T/img"
		error_names "$(basename "$f")"
	fi
	pids_free "$pid" "${tids[@]}"
done

log "the complete image"
rm -rf "$T/img"
cp -a "$T/pristine" "$T/img"
run_ckptd restore -D "$T/img" || fail "restore of the complete image failed: $(ckptd_error_line)"
E2E_PIDS+=("$pid")
compare_state "$pid" "$T/holder"
holder_finish "$pid" "$T/h"
log "PASS"
