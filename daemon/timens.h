/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME across a snapshot: recorded as the
 * process saw them at the freeze; at restore, when this host's clocks are
 * behind them (a reboot, or a process that ran in a time namespace with
 * offsets), the stub is born in a new time namespace whose offsets make
 * them continue from the saved values.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot.h"

/* Refuses a process whose time namespace cannot be recreated: one whose children get another. */
int timens_check(pid_t pid);
/* The process's clocks, and the host's, now (call it while the process is frozen). */
int timens_capture(pid_t pid, struct snapshot_clocks *ret);

/*
 * now: the clocks as ckptd reads them; own: ckptd's own namespace offsets.
 * ret_off: the offsets (from the host's clocks) under which the saved clocks
 * continue and neither clock is behind ckptd's. Returns whether a namespace
 * of its own is needed, that is, whether a saved clock is ahead of ckptd's.
 */
bool timens_plan(const struct snapshot_clocks *saved, const int64_t now[2], const int64_t own[2],
		 int64_t ret_off[2]);

/*
 * For a restore of saved: 1 and the offsets to give a new time namespace
 * when a saved clock is ahead of ours; 0 when the process may share our clocks.
 */
int timens_offsets_for(const struct snapshot_clocks *saved, int64_t ret_off[2]);
/*
 * Makes the namespace our next children are born in, with those offsets.
 * For a single-use helper process: we ourselves cannot go back (setns()
 * refuses a process with threads).
 */
int timens_enter_for_children(const int64_t off[2]);
