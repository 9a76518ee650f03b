/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checkpoint engine's public face: dump a running process into an image
 * directory, restore a process from one. Used by the standalone verbs and by
 * the daemon's workers. Errors are logged where they are decided, in words a
 * user can act on; the return value is -errno.
 */
#pragma once

#include <sys/types.h>

#include "image.h"

struct dump_options {
	bool leave_running;	/* detach after the snapshot instead of killing the target */
	int zstd_level;		/* 0: the default */
	int freeze_timeout_ms;	/* how long a thread may take to stop; 0: the default */
	int store_dfd;		/* a job's page store, or -1: the image carries its own */
	uint64_t pack_id;	/* the new pack's id in that store */
	struct page_hash_index *known; /* pages the store already holds, or NULL */
};

int dump_process(pid_t pid, int parent_dfd, const char *name, const struct dump_options *opts,
		 struct image_stats *ret_stats);

struct restore_options {
	bool force_vdso_patch; /* treat the vDSO as changed (tests the path a kernel update takes) */
};

/* Restores the image at dfd/path; *ret_pid is the running process. */
int restore_process(int dfd, const char *path, const struct restore_options *opts,
		    pid_t *ret_pid);
