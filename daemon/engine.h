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

/* Where a long operation is: phase ("memory", "loading"...), and done of total units. */
typedef void (*engine_progress_fn)(const char *phase, uint64_t done, uint64_t total,
				   void *userdata);
/*
 * A file the restored process appends to, cut back from was to size bytes, its
 * size at the snapshot; kept names the file that holds what was cut, or is NULL.
 */
typedef void (*engine_cut_fn)(const char *path, uint64_t size, uint64_t was, const char *kept,
			      void *userdata);

struct dump_options {
	bool leave_running;	/* detach after the snapshot instead of killing the target */
	bool no_fork;		/* read memory while frozen instead of from a forked copy */
	bool yield_after_thaw;	/* once the target runs again, give way to it (for a while) */
	bool tcp_close;		/* --external tcp=close: TCP sockets are saved as closed */
	bool pipe_close;	/* --external pipe=close: pipes to outside the tree come back closed */
	/*
	 * On behalf of an unprivileged owner: every member must be a process
	 * the owner could ptrace itself (its uids and gids, no capabilities,
	 * dumpable), checked before it is seized and again once all are frozen;
	 * one that is not (a setuid child, one that changed its uid) fails the
	 * snapshot, naming it.
	 */
	bool check_owner;
	uid_t owner_uid;
	gid_t owner_gid;
	int zstd_level;		/* 0: the default */
	int freeze_timeout_ms;	/* how long a thread may take to stop; 0: the default */
	int store_dfd;		/* a job's page store, or -1: the image carries its own */
	uint64_t pack_id;	/* the new pack's id in that store */
	struct page_hash_index *known; /* pages the store already holds, or NULL */
	engine_progress_fn progress;   /* may be NULL */
	void *userdata;
};

int dump_process(pid_t pid, int parent_dfd, const char *name, const struct dump_options *opts,
		 struct image_stats *ret_stats);

struct restore_options {
	bool force_vdso_patch; /* treat the vDSO as changed (tests the path a kernel update takes) */
	/*
	 * In a new PID namespace (an init of ckptd's is its PID 1), where the
	 * saved PIDs are free whoever holds them outside.
	 */
	bool pidns;
	/*
	 * Stdio that was a pipe or terminal gets stdio[0..2] when use_stdio,
	 * else the caller's own.
	 */
	bool use_stdio;
	int stdio[3];
	/*
	 * With use_stdio and use_tty, stdio that was a terminal gets tty[0..2]
	 * instead (a new pseudo-terminal: isatty() stays true); a pipe or
	 * socket still gets stdio[0..2].
	 */
	bool use_tty;
	int tty[3];
	/*
	 * Restore on behalf of an unprivileged owner: files are opened with the
	 * owner's rights, and an image whose credentials are not exactly the
	 * owner's is refused.
	 */
	bool as_owner;
	uid_t owner_uid;
	gid_t owner_gid;
	engine_progress_fn progress; /* may be NULL */
	engine_cut_fn cut;	     /* may be NULL; the cut is logged either way */
	void *userdata;
};

struct restore_result {
	pid_t pid;	   /* the root as we see it (with pidns: outside its namespace) */
	pid_t saved_pid;   /* the root's PID in its own namespace */
	bool stdio_redirected; /* some stdio went to opts->stdio */
	bool pid_taken;	       /* on failure: a PID or TID the tree needs is taken (--pidns is free) */
};

/* Restores the image at dfd/path; the process runs when this returns. */
int restore_process(int dfd, const char *path, const struct restore_options *opts,
		    struct restore_result *ret);
