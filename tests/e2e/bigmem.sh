#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bigmem: 300 MiB of seeded heap mutated in rounds, plus sparse, read-only,
# PROT_NONE, shared, MADV_DONTFORK and MADV_WIPEONFORK regions; snapshot
# mid-mutation, restore, and the result must match an uninterrupted run.
#     bigmem.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "bigmem-$mode"

launch() { start_bg "$1" "$WORKLOADS/bigmem" "$1/out" "$1/ready"; }
OUTPUTS=(out)
if [ "$mode" = leave ]; then
	# The copy drops the pages read from it as the dump goes (dump-mem.c);
	# with -v the dump says how many: most of the heap must have gone so.
	printf '#!/bin/sh\nexec %q -v "$@"\n' "$CKPTD" >"$T/ckptd-v"
	chmod +x "$T/ckptd-v"
	CKPTD=$T/ckptd-v
fi
run_scenario "$mode"
if [ "$mode" = leave ]; then
	dropped=$(sed -n 's/.*dropped \([0-9]*\) MiB from the copy.*/\1/p' "$T"/ckptd-*-dump.err)
	[ "${dropped:-0}" -ge 256 ] ||
		fail "the dump dropped ${dropped:-no} MiB from the copy; expected most of the 300 MiB heap"
	log "the dump dropped $dropped MiB from the copy"
fi
