#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore of an image whose manifest says a newer format: refused as
# "newer" (before its checksum is judged: a newer format may checksum
# differently), with the pid and TIDs left free.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init restore-newer

holder_image "$T/img" "$T/h"
pid=$HOLDER_PID
read -r -a tids <<<"$HOLDER_TIDS"

grep -qE '"format"[[:space:]]*:[[:space:]]*[0-9]+' "$T/img/manifest.json" ||
	fail "manifest.json has no numeric \"format\" member"
# An image is written with the oldest format that holds it, which may be
# older than what this ckptd reads: go far beyond.
perl -0pi -e 's/("format"\s*:\s*)(\d+)/$1 . ($2 + 1000)/e' "$T/img/manifest.json"
log "manifest now says: $(grep -oE '"format"[[:space:]]*:[[:space:]]*[0-9]+' "$T/img/manifest.json")"
expect_error newer restore -D "$T/img"
pids_free "$pid" "${tids[@]}"
log "PASS"
