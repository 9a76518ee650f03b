// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Files the process appends to. An O_APPEND description writes at the
 * file's end, so where the process goes on writing is the file's size, not
 * a position the image holds: what it appended after the snapshot would
 * come twice, once from before the crash and once from the restored process
 * doing that work again. Such a file is cut back to its size at the
 * snapshot, the end the process saw then. Only files the process had open
 * for appending, only once nothing else can fail, and with the rights the
 * files were opened with (the owner's, for an owner's restore).
 */
#define LOG_PREFIX "restore: "

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"
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

static int plan_cut(struct restore_ctx *c, uint32_t file, uint64_t size_now)
{
	const struct snapshot_file *f = &c->snap->files[file];
	struct stat st;
	int fd;

	fd = open(f->path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return log_error_errno(-errno, "%s, which the process appends to, grew to %" PRIu64
					       " bytes since the snapshot and cannot be cut back to "
					       "the %" PRIu64 " it had then (%m); let the process's "
					       "user write it and restore again",
				       f->path, size_now, f->id.size);
	if (fstat(fd, &st) < 0 || (uint64_t) st.st_dev != f->id.dev ||
	    (uint64_t) st.st_ino != f->id.ino) {
		(void) close(fd);
		return log_error_errno(-ESTALE, "%s was replaced during the restore; try again",
				       f->path);
	}
	c->cuts[c->n_cuts++] = (struct restore_cut){ .fd = fd, .file = file };
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
		r = plan_cut(c, i, (uint64_t) st.st_size);
		if (r < 0)
			return r;
	}
	return 0;
}

int restore_cut_files(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->n_cuts; i++) {
		const struct snapshot_file *f = &c->snap->files[c->cuts[i].file];
		struct stat st;

		if (fstat(c->cuts[i].fd, &st) < 0)
			return log_error_errno(-errno, "Cannot stat %s: %m", f->path);
		if ((uint64_t) st.st_size <= f->id.size)
			continue; /* another process of the tree shares the file and cut it */
		if (ftruncate(c->cuts[i].fd, (off_t) f->id.size) < 0)
			return log_error_errno(-errno, "Cannot cut %s back to its size at the "
						       "snapshot: %m",
					       f->path);
		log_info("%s cut back from %" PRIu64 " to %" PRIu64 " bytes, its size at the "
			 "snapshot: the process appends again what it wrote after it",
			 f->path, (uint64_t) st.st_size, f->id.size);
	}
	return 0;
}

void restore_cuts_done(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->n_cuts; i++)
		closep(&c->cuts[i].fd);
	free(c->cuts);
	c->cuts = NULL;
	c->n_cuts = 0;
}
