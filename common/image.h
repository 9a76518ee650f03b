/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An image directory: what one snapshot of one process is on disk.
 *
 *     manifest.json   format version, identity, statistics, and the size and
 *                     XXH3-128 of every other file; checksums itself
 *     core.elf        the process as an ELF core file (image-core.h); the
 *                     root, for a tree
 *     core-PID.elf    each other live process of a tree
 *     pages.idx       where each page lives (page-index.h)
 *     packs/          page data, when the image carries its own store
 *
 * Written under ".NAME.tmp-PID" beside its final place, every file fsynced,
 * then renamed into place and the parent fsynced: a crash leaves either no
 * image or a complete one.
 */
#pragma once

#include <sys/types.h>

#include "macro.h"

/*
 * The newest format this ckptd reads. An image is written with the oldest
 * format that restores it whole: IMAGE_FORMAT_BASE, unless it holds state
 * older readers would skip as unknown tags and restore without (format 2:
 * POSIX timers, seccomp filters), so that they refuse it instead.
 */
#define IMAGE_FORMAT 3
#define IMAGE_FORMAT_BASE 1
/* More than one process (a reader of 2 would restore only the root), or a listening socket. */
#define IMAGE_FORMAT_TREE 3
#define IMAGE_MANIFEST "manifest.json"
#define IMAGE_CORE "core.elf"
#define IMAGE_MEMBER_CORE_MAX 32 /* "core-<PID>.elf": each live process of a tree but its root */
#define IMAGE_PAGES "pages.idx"
#define IMAGE_HASH_HEX 33 /* 32 hex digits and a NUL */

struct image_file_entry {
	char *name;
	uint64_t size;
	char xxh128[IMAGE_HASH_HEX];
};

enum image_store {
	IMAGE_STORE_SELF, /* packs/ inside the image directory */
	IMAGE_STORE_JOB,  /* the job's shared packs/, two levels up */
};

struct image_stats {
	uint64_t threads, regions, files;
	uint64_t pages;		/* pages the image holds (present, non-zero) */
	uint64_t pages_stored;	/* of those, stored anew by this snapshot */
	uint64_t bytes_written; /* new bytes on disk */
	uint64_t freeze_ns, wall_ns;
};

struct image_manifest {
	uint32_t format;
	char *tool_version;
	uint64_t created_ns; /* CLOCK_REALTIME */
	char *hostname;
	char *kernel_release;
	char *boot_id;
	pid_t pid;
	uid_t uid; /* the process's real uid: whose image this is */
	gid_t gid;
	char *comm;
	char *exe;
	char *cmdline;
	enum image_store store;
	struct image_stats stats;
	uint64_t *packs; /* pack ids the image's pages use */
	size_t n_packs;
	struct image_file_entry *files;
	size_t n_files;
};

/* "core-PID.elf" */
const char *image_member_core(pid_t pid, char buf[static IMAGE_MEMBER_CORE_MAX]);

struct image_manifest *image_manifest_free(struct image_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image_manifest *, image_manifest_free);

/* JSON with a "checksum" member over the rest of the document. */
int image_manifest_to_json(const struct image_manifest *m, char **ret, size_t *ret_len);
/*
 * -EBADMSG (with a reason) for malformed or damaged JSON, -EPROTO when the
 * format is newer than IMAGE_FORMAT.
 */
int image_manifest_from_json(const char *buf, size_t len, struct image_manifest **ret,
			     const char **ret_reason);

/* XXH3-128 of the whole file as 32 lowercase hex digits. */
int image_checksum_fd(int fd, char ret[static IMAGE_HASH_HEX]);
void image_checksum_buf(const void *buf, size_t len, char ret[static IMAGE_HASH_HEX]);

struct image_writer;
/*
 * Prepares parent_dfd/name: -EEXIST if it exists and is not an empty
 * directory. Creates the temporary directory that files go to.
 */
int image_writer_new(int parent_dfd, const char *name, struct image_writer **ret);
/* The temporary directory, for writers that put more than whole files in it (packs). */
int image_writer_dfd(const struct image_writer *w);
/* Writes a file into the image durably and records its size and checksum. */
int image_writer_add(struct image_writer *w, const char *file, const void *buf, size_t len);
/*
 * Adds m->files, writes the manifest (m->format: at least IMAGE_FORMAT_BASE),
 * fsyncs, renames into place, fsyncs the parent.
 */
int image_writer_commit(struct image_writer *w, struct image_manifest *m);
/* Frees; an uncommitted temporary directory is removed with all it holds. */
struct image_writer *image_writer_free(struct image_writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image_writer *, image_writer_free);

struct image {
	int dfd;       /* the image directory */
	int store_dfd; /* where packs/ is */
	struct image_manifest *manifest;
};

/*
 * Opens an image and verifies the manifest and the size and checksum of
 * every file it lists. On failure *ret_error says which file and what is
 * wrong, for people ("core.elf: checksum mismatch").
 */
int image_open(int dfd, const char *path, struct image **ret, char **ret_error);
/* Reads a listed file, checking its size and checksum again (it may have changed since open). */
int image_read_file(struct image *img, const char *name, size_t max, void **ret, size_t *ret_len,
		    char **ret_error);
struct image *image_free(struct image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image *, image_free);
