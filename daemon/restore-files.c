// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Files for a restore, all opened here before the stub exists: the inodes
 * mappings need (checked against what the snapshot recorded, so a changed
 * library is named before anything happens), recreated deleted files,
 * memfds and shared memory with their saved contents, and one fd per open
 * file description with its flags and offset, which the stub inherits.
 */
#define LOG_PREFIX "restore: "

#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "elf-id.h"
#include "log.h"
#include "restore.h"
#include "util.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif

/* How a mapping uses the file: write access it needs, and how strictly it must match. */
static void file_use(const struct restore_ctx *c, uint32_t file, bool *ret_write,
		     bool *ret_private)
{
	*ret_write = *ret_private = false;
	for (size_t i = 0; i < c->snap->n_regions; i++) {
		const struct snapshot_region *r = &c->snap->regions[i];

		if (r->kind != REGION_KIND_FILE || r->file != file)
			continue;
		if (r->flags & REGION_FLAG_SHARED && r->prot & PROT_WRITE)
			*ret_write = true;
		else
			*ret_private = true;
	}
	if (c->snap->proc.exe_file == file)
		*ret_private = true;
}

static int open_existing(const struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	struct snapshot_identity now;
	bool write, private;
	const char *why;
	int flags, fd, r;

	file_use(c, i, &write, &private);
	flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		(f->kind == FILE_KIND_DIRECTORY ? O_DIRECTORY : 0);
	fd = open(f->path, flags);
	if (fd < 0 && errno == ENOENT)
		return log_error_errno(-ENOENT,
				       "%s no longer exists; the process used it at the snapshot. "
				       "Put it back, or restore where it exists",
				       f->path);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open %s: %m", f->path);
	r = file_identity_from_fd(fd, f->id.build_id_size > 0, &now);
	if (r < 0) {
		(void) close(fd);
		return log_error_errno(r, "Cannot identify %s: %m", f->path);
	}
	why = f->kind == FILE_KIND_DEVICE
		      ? (now.rdev == f->id.rdev ? NULL : "it is another device")
		      : file_identity_diff(&f->id, &now, !private);
	if (why) {
		(void) close(fd);
		return log_error_errno(-ESTALE,
				       "%s changed since the snapshot (%s); the process would not "
				       "see the file it had. Restore the original file",
				       f->path, why);
	}
	return fd;
}

int restore_check_files(struct restore_ctx *c)
{
	c->file_fds = new0(int, c->snap->n_files ? c->snap->n_files : 1);
	if (!c->file_fds)
		return log_oom();
	for (size_t i = 0; i < c->snap->n_files; i++)
		c->file_fds[i] = -EBADF;
	for (size_t i = 0; i < c->snap->n_files; i++) {
		switch (c->snap->files[i].kind) {
		case FILE_KIND_REGULAR:
		case FILE_KIND_DIRECTORY:
		case FILE_KIND_DEVICE: {
			int fd = open_existing(c, (uint32_t) i);

			if (fd < 0)
				return fd;
			c->file_fds[i] = fd;
			break;
		}
		case FILE_KIND_DELETED:
		case FILE_KIND_MEMFD:
		case FILE_KIND_SHMEM:
		case FILE_KIND_EXTERNAL:
		case FILE_KIND_PIPE:
		case FILE_KIND_EVENTFD:
		case FILE_KIND_TIMERFD:
		case FILE_KIND_SIGNALFD:
		case FILE_KIND_EPOLL:
		case FILE_KIND_UNIX_PAIR:
		case FILE_KIND_TCP_CLOSED:
		case FILE_KIND_UNIX_LISTEN:
		case _FILE_KIND_MAX:
			break;
		}
	}
	return 0;
}

struct file_sink {
	int fd;
	uint64_t size;
};

static int write_file_pages(struct restore_ctx *c, uint64_t first_page, size_t n,
			    const uint8_t *data, void *userdata)
{
	struct file_sink *s = userdata;
	uint64_t off = first_page * PAGE_SIZE;
	size_t len;

	if (!data || off >= s->size)
		return 0; /* holes read as zeros anyway */
	len = (size_t) MIN((uint64_t) n * PAGE_SIZE, s->size - off);
	return pwrite_all(s->fd, data, len, (off_t) off);
}

int restore_fill_file(struct restore_ctx *c, const struct snapshot_file *f, int fd)
{
	struct file_sink sink = { fd, f->id.size };
	int r;

	if (ftruncate(fd, (off_t) f->id.size) < 0)
		return log_error_errno(-errno, "Cannot size the new copy of %s: %m", f->path);
	if (f->stream == SNAPSHOT_NONE)
		return 0;
	r = restore_stream(c, f->stream, write_file_pages, &sink);
	if (r < 0)
		return log_error_errno(r, "Cannot write the saved contents of %s: %m", f->path);
	return 0;
}

/* An unnamed file like the deleted one: in its old directory if possible, so it stays there. */
static int create_deleted(const struct snapshot_file *f)
{
	_cleanup_free_ char *copy = strdup(f->path);
	mode_t mode = f->id.mode & 07777;
	int fd;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0)
		fd = memfd_create("ckptd-deleted", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void) fchmod(fd, mode);
	return fd;
}

static int create_memfd(const struct snapshot_file *f)
{
	const char *name = f->path + strlen("/memfd:");
	int fd;

	if (!string_has_prefix(f->path, "/memfd:"))
		name = "ckptd";
	fd = memfd_create(name, MFD_CLOEXEC | (f->seals ? MFD_ALLOW_SEALING : 0));
	return fd < 0 ? -errno : fd;
}

/* MAP_SHARED|MAP_ANONYMOUS memory is a shmem file; map_files hands us that file. */
static int create_shmem(const struct snapshot_file *f)
{
	size_t size = MAX((size_t) PAGE_ALIGN(f->id.size), (size_t) PAGE_SIZE);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char path[96];
	int fd;

	if (p == MAP_FAILED)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long) p,
		 (unsigned long) p + size);
	fd = open(path, O_RDWR | O_CLOEXEC);
	fd = fd < 0 ? -errno : fd;
	(void) munmap(p, size);
	return fd;
}

struct pipe_sink {
	int fd;
	uint64_t pos, size;
};

/* Pipes take bytes in order: the holes a stream skips are written out as zeros. */
static int pipe_fill_to(struct pipe_sink *s, uint64_t to)
{
	static const uint8_t zero[PAGE_SIZE];

	while (s->pos < to) {
		size_t k = (size_t) MIN(to - s->pos, (uint64_t) PAGE_SIZE);
		int r = write_all(s->fd, zero, k);

		if (r < 0)
			return r;
		s->pos += k;
	}
	return 0;
}

static int write_pipe_pages(struct restore_ctx *c, uint64_t first_page, size_t n,
			    const uint8_t *data, void *userdata)
{
	struct pipe_sink *s = userdata;
	uint64_t off = first_page * PAGE_SIZE, len;
	int r = pipe_fill_to(s, MIN(off, s->size));

	if (r < 0 || !data || off >= s->size)
		return r;
	len = MIN((uint64_t) n * PAGE_SIZE, s->size - off);
	r = write_all(s->fd, data, (size_t) len);
	s->pos += len;
	return r;
}

/*
 * A named FIFO is opened again by its name (read-write, so it does not wait
 * for a partner): its ends then reach the name's pipe, and whoever opens the
 * name later meets the process, as before.
 */
static int open_fifo(const struct snapshot_file *f, int p[2])
{
	struct stat st;

	if (string_has_prefix(f->path, "pipe:") || string_has_suffix(f->path, " (deleted)"))
		return 0; /* an unnamed pipe, or a FIFO whose name is gone: a new pipe will do */
	p[0] = open(f->path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (p[0] < 0)
		return log_error_errno(-errno, "Cannot open the FIFO %s the process had open: %m",
				       f->path);
	if (fstat(p[0], &st) < 0 || !S_ISFIFO(st.st_mode)) {
		(void) close(p[0]);
		return log_error_errno(-ESTALE, "%s is no longer a FIFO; put the FIFO back, or "
						"restore where it exists",
				       f->path);
	}
	(void) fcntl(p[0], F_SETFL, 0);
	p[1] = fcntl(p[0], F_DUPFD_CLOEXEC, 3);
	return p[1] < 0 ? -errno : 1;
}

/* A new pipe with the saved capacity and contents; we keep its read end to reopen ends from. */
static int create_pipe(struct restore_ctx *c, const struct snapshot_file *f)
{
	struct pipe_sink sink;
	int p[2] = { -EBADF, -EBADF }, r;

	r = open_fifo(f, p);
	if (r < 0)
		return r;
	if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
		return log_error_errno(-errno, "Cannot recreate a pipe: %m");
	if (f->pipe_size && fcntl(p[1], F_SETPIPE_SZ, (int) f->pipe_size) < 0)
		log_warning_errno(-errno, "Cannot give a pipe its saved size %u: %m", f->pipe_size);
	sink = (struct pipe_sink){ p[1], 0, f->id.size };
	r = restore_stream(c, f->stream, write_pipe_pages, &sink);
	if (r >= 0)
		r = pipe_fill_to(&sink, sink.size);
	(void) close(p[1]);
	if (r < 0) {
		(void) close(p[0]);
		return log_error_errno(r, "Cannot refill a pipe: %m");
	}
	return p[0];
}

int restore_shared_get(struct restore_ctx *c, bool description, uint64_t key)
{
	const struct restore_tree *t = c->tree;

	for (size_t i = 0; key && t && i < t->n_shared; i++)
		if (t->shared[i].key == key && t->shared[i].description == description) {
			int fd = fcntl(t->shared[i].fd, F_DUPFD_CLOEXEC, 3);

			return fd < 0 ? log_error_errno(-errno, "Cannot duplicate an fd: %m") : fd;
		}
	return -ENOENT;
}

int restore_shared_put(struct restore_ctx *c, bool description, uint64_t key, int fd)
{
	struct restore_tree *t = c->tree;
	int copy;

	if (!key || !t || t->n < 2)
		return 0;
	if (GROW(t->shared, t->allocated_shared, t->n_shared + 1) < 0)
		return log_oom();
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (copy < 0)
		return log_error_errno(-errno, "Cannot duplicate an fd: %m");
	t->shared[t->n_shared++] = (struct restore_shared){ key, description, copy };
	return 0;
}

/* A file another process of the tree has made already is the same file here. */
static int create_file(struct restore_ctx *c, uint32_t i);

static int create_or_share_file(struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	int r;

	if (c->file_fds[i] >= 0)
		return 0; /* one end of a socket pair, made with the other */
	r = restore_shared_get(c, false, f->share);
	if (r >= 0) {
		c->file_fds[i] = r;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = create_file(c, i);
	if (r >= 0 && c->file_fds[i] >= 0)
		r = restore_shared_put(c, false, f->share, c->file_fds[i]);
	/* A pair's other end was made with it, and may be another process's. */
	if (r >= 0 && f->kind == FILE_KIND_UNIX_PAIR && f->sock.peer < c->snap->n_files)
		r = restore_shared_put(c, false, c->snap->files[f->sock.peer].share,
				       c->file_fds[f->sock.peer]);
	return r;
}

static int create_file(struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	int fd = -EBADF, r;

	switch (f->kind) {
	case FILE_KIND_DELETED:
		fd = create_deleted(f);
		break;
	case FILE_KIND_MEMFD:
		fd = create_memfd(f);
		break;
	case FILE_KIND_SHMEM:
		fd = create_shmem(f);
		break;
	case FILE_KIND_PIPE:
		fd = create_pipe(c, f);
		if (fd >= 0)
			c->file_fds[i] = fd;
		return fd < 0 ? fd : 0;
	case FILE_KIND_EVENTFD:
	case FILE_KIND_TIMERFD:
	case FILE_KIND_SIGNALFD:
	case FILE_KIND_EPOLL:
		fd = restore_create_anon(f);
		if (fd >= 0)
			c->file_fds[i] = fd;
		return fd < 0 ? fd : 0;
	case FILE_KIND_UNIX_PAIR:
		/* Made with its other end, which may have come first. */
		return c->file_fds[i] >= 0 ? 0 : restore_create_pair(c, i);
	case FILE_KIND_TCP_CLOSED:
		return restore_create_tcp_closed(c, i);
	case FILE_KIND_UNIX_LISTEN:
		return restore_create_listener(c, i);
	case FILE_KIND_REGULAR:
	case FILE_KIND_DIRECTORY:
	case FILE_KIND_DEVICE:
	case FILE_KIND_EXTERNAL:
	case _FILE_KIND_MAX:
		return 0;
	}
	if (fd < 0)
		return log_error_errno(fd, "Cannot recreate %s: %m", f->path);
	c->file_fds[i] = fd;
	r = restore_fill_file(c, f, fd);
	return r;
}

/* An anonymous-inode file or a socket is one description already: the fd, O_NONBLOCK as saved. */
static int anon_description(struct restore_ctx *c, const struct snapshot_open_file *o)
{
	int fd = fcntl(c->file_fds[o->file], F_DUPFD_CLOEXEC, 3);

	if (fd < 0 || fcntl(fd, F_SETFL, (int) (o->flags & O_NONBLOCK)) < 0) {
		int r = log_error_errno(-errno, "Cannot set up a %s: %m",
					file_kind_to_string(c->snap->files[o->file].kind));

		if (fd >= 0)
			(void) close(fd);
		return r;
	}
	return fd;
}

/* A pipe or terminal that is gone: the caller's own stdio, or what it chose. */
static int stdio_stand_in(struct restore_ctx *c, const struct snapshot_file *f, int saved_fd)
{
	int stdio_fd = MIN(MAX(saved_fd, 0), 2), fd;

	if (c->opts->use_stdio) {
		bool tty = c->opts->use_tty && S_ISCHR(f->id.mode);

		stdio_fd = tty ? c->opts->tty[stdio_fd] : c->opts->stdio[stdio_fd];
		c->stdio_redirected = true;
	}
	fd = fcntl(stdio_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return fd < 0 ? log_error_errno(-errno, "Cannot open /dev/null: %m") : fd;
}

/*
 * fds 0, 1 and 2 often share one terminal description; each gets the
 * stand-in of its own number (stdin /dev/null, stdout the log...), which the
 * stub puts in place of the shared description.
 */
static int prepare_stdio(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->snap->n_fds; i++) {
		const struct snapshot_fd *sfd = &c->snap->fds[i];
		const struct snapshot_file *f =
			&c->snap->files[c->snap->open_files[sfd->open_file].file];

		if (sfd->fd > 2 || f->kind != FILE_KIND_EXTERNAL)
			continue;
		c->stdio_fds[sfd->fd] = stdio_stand_in(c, f, sfd->fd);
		if (c->stdio_fds[sfd->fd] < 0)
			return c->stdio_fds[sfd->fd];
	}
	return 0;
}

/* Another open file description of the same inode, with the saved flags and offset. */
static int open_description(struct restore_ctx *c, const struct snapshot_open_file *o,
			    int saved_fd)
{
	const struct snapshot_file *f = &c->snap->files[o->file];
	int flags = (int)(o->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC |
		    O_NOCTTY;
	char path[64];
	int fd;

	if (f->kind == FILE_KIND_EXTERNAL)
		return stdio_stand_in(c, f, saved_fd);
	if (file_kind_is_anon(f->kind) || file_kind_is_socket(f->kind))
		return anon_description(c, o);
	if (c->file_fds[o->file] >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->file_fds[o->file]);
		fd = open(f->kind == FILE_KIND_REGULAR || f->kind == FILE_KIND_DIRECTORY ||
					  f->kind == FILE_KIND_DEVICE
				  ? f->path
				  : path,
			  flags);
	} else
		fd = open(f->path, flags);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open %s again: %m", f->path);
	if (!S_ISCHR(f->id.mode) && lseek(fd, (off_t) o->pos, SEEK_SET) < 0 && errno != ESPIPE) {
		int r = log_error_errno(-errno, "Cannot seek %s to %" PRIu64 ": %m", f->path,
					o->pos);

		(void) close(fd);
		return r;
	}
	return fd;
}

/* The lowest saved fd using each description: an EXTERNAL one takes stdio of that number. */
static int description_stdio(const struct restore_ctx *c, size_t of)
{
	for (size_t i = 0; i < c->snap->n_fds; i++)
		if (c->snap->fds[i].open_file == of)
			return c->snap->fds[i].fd;
	return STDIN_FILENO;
}

int restore_prepare_files(struct restore_ctx *c)
{
	int r;

	for (size_t i = 0; i < c->snap->n_files; i++) {
		r = create_or_share_file(c, (uint32_t) i);
		if (r < 0)
			return r;
	}
	c->open_fds = new0(int, c->snap->n_open_files ? c->snap->n_open_files : 1);
	if (!c->open_fds)
		return log_oom();
	for (size_t i = 0; i < c->snap->n_open_files; i++)
		c->open_fds[i] = -EBADF;
	for (size_t i = 0; i < c->snap->n_open_files; i++) {
		const struct snapshot_open_file *o = &c->snap->open_files[i];
		bool external = c->snap->files[o->file].kind == FILE_KIND_EXTERNAL;
		int fd = external ? -ENOENT : restore_shared_get(c, true, o->share);

		if (fd == -ENOENT) {
			fd = open_description(c, o, description_stdio(c, i));
			if (fd >= 0 && !external && (r = restore_shared_put(c, true, o->share, fd)) < 0) {
				(void) close(fd);
				return r;
			}
		}
		if (fd < 0)
			return fd;
		c->open_fds[i] = fd;
	}
	return prepare_stdio(c);
}

int restore_seal_files(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->snap->n_files; i++) {
		const struct snapshot_file *f = &c->snap->files[i];

		if (f->kind != FILE_KIND_MEMFD || !f->seals || c->file_fds[i] < 0)
			continue;
		if (fcntl(c->file_fds[i], F_ADD_SEALS, (int) f->seals) < 0)
			return log_error_errno(-errno, "Cannot seal %s again: %m", f->path);
	}
	return 0;
}

void restore_close_files(struct restore_ctx *c)
{
	for (size_t i = 0; c->file_fds && i < c->snap->n_files; i++)
		closep(&c->file_fds[i]);
	for (size_t i = 0; c->open_fds && i < c->snap->n_open_files; i++)
		closep(&c->open_fds[i]);
	for (size_t i = 0; i < 3; i++)
		closep(&c->stdio_fds[i]);
	free(c->file_fds);
	free(c->open_fds);
	c->file_fds = c->open_fds = NULL;
}
