#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dump of kernel threads (kthreadd and one more): "kernel thread", and they
# run on. --leave-running, so a tool that got this wrong still kills nothing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init dump-kernel-thread

PF_KTHREAD=$((0x00200000))
kthreads=()
for p in /proc/[0-9]*; do
	stat=$(cat "$p/stat" 2>/dev/null) || continue
	read -r -a f <<<"${stat##*) }"
	# f[0] is field 3 (state); field 9 (flags) is f[6].
	if (((f[6] & PF_KTHREAD) != 0)); then
		kthreads+=("${p#/proc/}")
	fi
done
[ "${#kthreads[@]}" -gt 0 ] || skip "no kernel threads visible (a pid namespace?)"
# kthreadd (pid 2) and one of its children, e.g. a kworker.
picks=()
for kt in "${kthreads[@]}"; do
	[ "$kt" = 2 ] && picks+=(2)
done
for kt in "${kthreads[@]}"; do
	if [ "$kt" != 2 ]; then
		picks+=("$kt")
		break
	fi
done

for kt in "${picks[@]}"; do
	log "kernel thread $kt: $(cat "/proc/$kt/comm")"
	expect_error "kernel thread" dump "$kt" -D "$T/img-$kt" --leave-running
	assert_no_image "$T/img-$kt"
	[ -e "/proc/$kt" ] || fail "kernel thread $kt is gone"
done
log "PASS"
