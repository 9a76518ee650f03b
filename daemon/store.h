/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A job's versions on disk, under the daemon's state directory:
 *
 *     jobs/<name>/job.json              the job (the manager's; not read here)
 *     jobs/<name>/versions/000007/      a committed image (IMAGE_STORE_JOB)
 *     jobs/<name>/versions/.000008.tmp-PID/   being written; removed at start-up
 *     jobs/<name>/packs/<16 hex>.pack   page store shared by the versions;
 *                                       a version's new pack has its number as id
 *     jobs/<name>/latest -> versions/000007
 *     jobs/<name>/output.log            output of a restored process whose
 *                                       terminal or pipe is gone
 *
 * Version numbers only grow. "latest" names a complete version at every
 * instant: it is replaced by renaming a new symlink over it, after the
 * version itself is committed. Removing a version frees the page data only
 * it used: packs no kept version refers to are deleted, and in the others
 * the frames no kept version uses are punched out.
 */
#pragma once

#include "pack.h"

#define STORE_VERSION_NAME_MAX 24

struct store_version {
	uint64_t number;
	uint64_t created_ns;
	uint64_t size;	/* bytes it added: its own files and its new pack */
	uint64_t pages; /* pages the image holds */
	uint64_t freeze_ns, wall_ns;
	bool ok;	/* verified: manifest and files intact, packs present */
	char *reason;	/* why not ok, for people */
};

void store_version_done(struct store_version *v);

/* "000007" */
const char *store_version_name(uint64_t number, char buf[static STORE_VERSION_NAME_MAX]);

/* jobs/<name> under state_dfd (created with versions/ and packs/, 0700, when create). */
int store_open_job(int state_dfd, const char *name, bool create, int *ret_job_dfd);
/* Removes jobs/<name> with everything in it. */
int store_remove_job(int state_dfd, const char *name);

/* Committed versions, ascending. */
int store_list_versions(int job_dfd, uint64_t **ret, size_t *ret_n);
/* One above every version and pack id ever used in this job. */
int store_next_version(int job_dfd, uint64_t *ret);
/* Reads and verifies a version's manifest and files (not its page data). */
int store_version_info(int job_dfd, uint64_t number, struct store_version *ret);

int store_set_latest(int job_dfd, uint64_t number);
/* -ENOENT when there is none. */
int store_get_latest(int job_dfd, uint64_t *ret);

/* Adds every page of every pack a committed version uses, for deduplication. */
int store_load_known(int job_dfd, struct page_hash_index *idx);

/*
 * Keeps the newest keep committed versions (never removing latest's),
 * then frees page data no kept version uses. Reports what was freed.
 */
int store_retain(int job_dfd, unsigned keep, uint64_t *ret_freed_bytes);

/*
 * At start-up: removes half-written versions and pack temporaries, packs no
 * committed version uses, and points latest at the newest good version if
 * it names none.
 */
int store_cleanup(int job_dfd);

/* Bytes the job's files take on disk. */
int store_job_size(int job_dfd, uint64_t *ret);
