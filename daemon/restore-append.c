// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Files the process appends to. An O_APPEND description writes at the
 * file's end, so where the process goes on writing is the file's size, not
 * a position the image holds: what it appended after the snapshot would
 * come twice, once from before the crash and once from the restored process
 * doing that work again. Such a file is cut back to its size at the
 * snapshot, the end the process saw then, and what is cut is kept beside it
 * (the last lines before a crash say why it crashed). Only files the
 * process had open for appending, only once nothing else can fail, and
 * with the rights the files were opened with (the owner's, for an owner's
 * restore).
 */
#define LOG_PREFIX "restore: "

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "proc.h"
#include "restore.h"
#include "util.h"

static bool appends_to(const struct snapshot *s, uint32_t file)
{
	for (size_t i = 0; i < s->n_open_files; i++) {
		const struct snapshot_open_file *o = &s->open_files[i];

		if (o->file == file && (o->flags & O_APPEND) && (o->flags & O_ACCMODE) != O_RDONLY)
			return true;
	}
	return false;
}

/*
 * The original may still run beside its copy (with --pidns, or when it runs
 * in a PID namespace of its own, as a job restored with --pidns before,
 * under another PID in ours than the saved one): its log is its own, and
 * cutting it would take what it wrote since. It is found by its start.
 */
static bool original_runs(const struct restore_ctx *c)
{
	return proc_find_started(c->snap->proc.start_time, c->snap->proc.pid) > 0;
}

/* An empty file beside the log, for what will be cut: LOG.ckptd-cut-SECONDS[-N]. */
static int open_aside(const char *path, struct restore_cut *cut)
{
	_cleanup_free_ char *dir_copy = strdup(path), *base_copy = strdup(path);
	char name[NAME_MAX + 1];
	long now = (long) time(NULL);

	if (!dir_copy || !base_copy)
		return -ENOMEM;
	cut->dir_fd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cut->dir_fd < 0)
		return -errno;
	for (int n = 0; n < 100; n++) {
		int len = n ? snprintf(name, sizeof(name), "%s.ckptd-cut-%ld-%d",
				       basename(base_copy), now, n)
			    : snprintf(name, sizeof(name), "%s.ckptd-cut-%ld", basename(base_copy),
				       now);

		if (len < 0 || (size_t) len >= sizeof(name))
			return -ENAMETOOLONG;
		cut->aside_fd = openat(cut->dir_fd, name,
				       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (cut->aside_fd >= 0)
			return (cut->aside = strdup(name)) ? 0 : -ENOMEM;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int plan_cut(struct restore_ctx *c, uint32_t file, uint64_t size_now)
{
	const struct snapshot_file *f = &c->snap->files[file];
	struct restore_cut *cut = &c->cuts[c->n_cuts];
	char self[64];
	int r;

	/* The inode checked already, not whatever the path names now. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", c->file_fds[file]);
	*cut = (struct restore_cut){ .fd = open(self, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
				     .dir_fd = -EBADF, .aside_fd = -EBADF, .file = file };
	if (cut->fd < 0 && errno == EPERM) {
		log_warning("%s is append-only (chattr +a) and grew since the snapshot; the process "
			    "appends again after what is there",
			    f->path);
		return 0;
	}
	if (cut->fd < 0)
		return log_error_errno(-errno, "%s, which the process appends to, grew to %" PRIu64
					       " bytes since the snapshot and cannot be cut back to "
					       "the %" PRIu64 " it had then (%m); let the process's "
					       "user write it and restore again",
				       f->path, size_now, f->id.size);
	c->n_cuts++;
	r = open_aside(f->path, cut);
	if (r < 0)
		log_warning_errno(r, "Cannot make a file beside %s for what is cut from it (%m); the "
				     "%" PRIu64 " bytes written after the snapshot are dropped",
				  f->path, size_now - f->id.size);
	return 0;
}

int restore_plan_cuts(struct restore_ctx *c)
{
	c->cuts = new0(struct restore_cut, c->snap->n_files ? c->snap->n_files : 1);
	if (!c->cuts)
		return log_oom();
	for (uint32_t i = 0; i < c->snap->n_files; i++) {
		const struct snapshot_file *f = &c->snap->files[i];
		struct stat st;
		int r;

		if (f->kind != FILE_KIND_REGULAR || c->file_fds[i] < 0 || !appends_to(c->snap, i))
			continue;
		if (fstat(c->file_fds[i], &st) < 0)
			return log_error_errno(-errno, "Cannot stat %s: %m", f->path);
		if ((uint64_t) st.st_size < f->id.size)
			log_warning("%s is shorter than at the snapshot (%" PRIu64 " bytes, then "
				    "%" PRIu64 "); the process appends after what is there now",
				    f->path, (uint64_t) st.st_size, f->id.size);
		if ((uint64_t) st.st_size <= f->id.size)
			continue;
		if (original_runs(c)) {
			log_warning("%s grew since the snapshot, but the process that wrote it still "
				    "runs; both append to it",
				    f->path);
			continue;
		}
		r = plan_cut(c, i, (uint64_t) st.st_size);
		if (r < 0)
			return r;
	}
	return 0;
}

/* What lies past the snapshot's end goes beside the file first (read through the checked fd). */
static int keep_aside(const struct restore_cut *cut, int from_fd, uint64_t from, uint64_t to)
{
	loff_t in = (loff_t) from;

	while ((uint64_t) in < to) {
		ssize_t n = copy_file_range(from_fd, &in, cut->aside_fd, NULL, (size_t)(to - in), 0);

		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the file got shorter meanwhile: nothing more to keep */
	}
	return fsync(cut->aside_fd) < 0 ? -errno : 0;
}

static void report_cut(const struct restore_ctx *c, const struct restore_cut *cut, uint64_t was)
{
	const struct snapshot_file *f = &c->snap->files[cut->file];
	_cleanup_free_ char *dir = strdup(f->path), *kept = NULL;

	if (cut->kept && dir)
		kept = strdup_printf("%s/%s", dirname(dir), cut->aside);
	log_info("%s cut back from %" PRIu64 " to %" PRIu64 " bytes, its size at the snapshot: the "
		 "process appends again what it wrote after it%s%s",
		 f->path, was, f->id.size, kept ? "; what was cut is in " : "", kept ? kept : "");
	if (c->opts->cut)
		c->opts->cut(f->path, f->id.size, was, kept, c->opts->userdata);
}

/*
 * Nothing after the first cut may fail the restore (the cut files could not
 * be put back): what goes wrong here is a warning, and the process runs.
 */
void restore_cut_files(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->n_cuts; i++) {
		struct restore_cut *cut = &c->cuts[i];
		const struct snapshot_file *f = &c->snap->files[cut->file];
		struct stat st;
		int r;

		if (fstat(cut->fd, &st) < 0 || (uint64_t) st.st_size <= f->id.size)
			continue; /* another process of the tree shares the file and cut it */
		if (cut->aside_fd >= 0) {
			r = keep_aside(cut, c->file_fds[cut->file], f->id.size, (uint64_t) st.st_size);
			if (r < 0) {
				log_warning_errno(r, "Cannot keep what is cut from %s (%m); %s is "
						     "left whole and the process appends after it",
						  f->path, f->path);
				continue;
			}
		}
		if (ftruncate(cut->fd, (off_t) f->id.size) < 0) {
			log_warning_errno(-errno, "Cannot cut %s back to its size at the snapshot "
						  "(%m); the process appends after what is there",
					  f->path);
			continue; /* whole: the copy beside it goes (restore_cuts_done) */
		}
		cut->kept = cut->aside_fd >= 0;
		report_cut(c, cut, (uint64_t) st.st_size);
	}
}

void restore_cuts_done(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->n_cuts; i++) {
		struct restore_cut *cut = &c->cuts[i];

		/* A restore that failed, or a cut that did not happen, leaves no file beside. */
		if (cut->aside && !cut->kept)
			(void) unlinkat(cut->dir_fd, cut->aside, 0);
		free(cut->aside);
		closep(&cut->aside_fd);
		closep(&cut->dir_fd);
		closep(&cut->fd);
	}
	free(c->cuts);
	c->cuts = NULL;
	c->n_cuts = 0;
}
