#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# holder: process properties after a restore. The holder opened files at
# known offsets and flags (shared and separate descriptions, O_APPEND,
# O_CLOEXEC, /dev/null, a directory, stdout and stderr sharing one
# description), maps a file privately and shared, dlopen()ed a copy of a
# library, holds 16 MiB, and has three blocked threads; after the restore
# SIGUSR1 makes it check all of it (and its pid, TIDs, thread names,
# cmdline, cwd, umask, rlimit, open fd set) and say PASS.
#     holder.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "holder-$mode"

dir=$T/holder
mkdir -p "$dir"
cp "$(pick_library)" "$dir/libcopy.so"
"$TOOLS/gendata" 11 64K random >"$dir/map.dat"
holder_start "$dir" -b 16 -m "$dir/map.dat" -l "$dir/libcopy.so"
rand_between 100 1000
sleep_ms "$RAND"

# An existing empty directory is a valid target too.
if [ "$mode" = kill ]; then
	mkdir "$T/img"
fi
CYCLE_READY=$dir/ready
ckpt_cycle "$HOLDER_PID" "$mode" "$T/img"
holder_finish "$HOLDER_PID" "$dir"
check_resumed

# What it wrote through restored fds landed where it should.
printf 'holder: stdout\nholder: check\n' | cmp -s - "$dir/stdio.log" ||
	fail "stdio.log holds '$(cat "$dir/stdio.log")'"
if [ "$(stat -c %s "$dir/app.log")" != 110 ] || [ "$(tail -c 10 "$dir/app.log")" != 0123456789 ]; then
	fail "app.log was not appended to at its end"
fi
log "PASS"
