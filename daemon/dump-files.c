// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Files: the inodes a process maps or holds open (one file object each,
 * with the contents saved when nothing else keeps them: deleted files,
 * memfds, shared anonymous memory), the open file descriptions (fds dup()ed
 * from one another share one, and with it the offset), and the fd table.
 * Anything ckptd cannot bring back makes the dump fail naming the fd.
 */
#define LOG_PREFIX "dump: "

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "dump.h"
#include "elf-id.h"
#include "log.h"
#include "util.h"

#define MEMFD_PREFIX "/memfd:"

static enum file_kind kind_of(const char *path, bool deleted, const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return FILE_KIND_DIRECTORY;
	if (S_ISCHR(st->st_mode))
		return FILE_KIND_DEVICE;
	if (string_has_prefix(path, MEMFD_PREFIX))
		return FILE_KIND_MEMFD;
	if (deleted && strcmp(path, "/dev/zero") == 0)
		return FILE_KIND_SHMEM;
	if (deleted || st->st_nlink == 0)
		return FILE_KIND_DELETED;
	return FILE_KIND_REGULAR;
}

static int find_file(const struct dump_ctx *c, enum file_kind kind, const struct stat *st)
{
	for (size_t i = 0; i < c->snap->n_files; i++) {
		const struct snapshot_file *f = &c->snap->files[i];

		if (f->kind == kind && f->id.dev == st->st_dev && f->id.ino == st->st_ino)
			return (int) i;
	}
	return -1;
}

static int save_contents(struct dump_ctx *c, struct snapshot_file *f, int fd)
{
	int seals, r;

	r = dump_file_contents(c, fd, &f->stream);
	if (r < 0 || f->kind != FILE_KIND_MEMFD)
		return r;
	seals = fcntl(fd, F_GET_SEALS);
	f->seals = seals < 0 ? 0 : (uint32_t) seals;
	return 0;
}

int dump_file_object(struct dump_ctx *c, const char *path, bool deleted, int fd,
		     uint32_t *ret_index)
{
	enum file_kind kind;
	struct snapshot_file *f;
	struct stat st;
	int i, r;

	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot stat %s: %m", path);
	kind = kind_of(path, deleted, &st);
	i = find_file(c, kind, &st);
	if (i >= 0) {
		*ret_index = (uint32_t) i;
		return 0;
	}
	f = snapshot_add_file(c->snap);
	if (!f)
		return log_error_errno(-E2BIG, "PID %d uses too many files", (int) c->pid);
	f->kind = kind;
	f->path = strdup(path);
	if (!f->path)
		return log_oom();
	r = file_identity_from_fd(fd, kind == FILE_KIND_REGULAR, &f->id);
	if (r < 0)
		return log_error_errno(r, "Cannot identify %s: %m", path);
	if (kind == FILE_KIND_DELETED || kind == FILE_KIND_MEMFD || kind == FILE_KIND_SHMEM) {
		const struct snapshot_file *e = dump_tree_earlier_file(c, kind, st.st_dev, st.st_ino);

		if (e) { /* saved already by another process of the tree */
			f->stream = e->stream;
			f->seals = e->seals;
			f->id.size = e->id.size;
			*ret_index = (uint32_t)(c->snap->n_files - 1);
			return 0;
		}
		r = save_contents(c, f, fd);
		if (r < 0)
			return r;
	}
	*ret_index = (uint32_t)(c->snap->n_files - 1);
	return 0;
}

static bool device_allowed(dev_t rdev)
{
	/* null, zero, full, random, urandom: no state to lose. */
	return major(rdev) == 1 &&
	       (minor(rdev) == 3 || minor(rdev) == 5 || minor(rdev) == 7 || minor(rdev) == 8 ||
		minor(rdev) == 9);
}

static const char *describe(const struct stat *st, const char *link)
{
	if (S_ISFIFO(st->st_mode))
		return "a pipe";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	if (S_ISCHR(st->st_mode) && (major(st->st_rdev) == 136 || major(st->st_rdev) == 4 ||
				     major(st->st_rdev) == 5))
		return "a terminal";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return "a device";
	if (string_has_prefix(link, "anon_inode:"))
		return link + strlen("anon_inode:");
	return "a special file";
}

/* stdio on a pipe, terminal or socket: restore hands over its own. */
static int external_object(struct dump_ctx *c, const char *link, const struct stat *st,
			   uint32_t *ret_index)
{
	struct snapshot_file *f;
	int i = find_file(c, FILE_KIND_EXTERNAL, st);

	if (i >= 0) {
		*ret_index = (uint32_t) i;
		return 0;
	}
	f = snapshot_add_file(c->snap);
	if (!f || !(f->path = strdup(link)))
		return log_oom();
	f->kind = FILE_KIND_EXTERNAL;
	f->id = (struct snapshot_identity){ .dev = st->st_dev, .ino = st->st_ino,
					    .rdev = st->st_rdev, .mode = st->st_mode };
	*ret_index = (uint32_t)(c->snap->n_files - 1);
	return 0;
}

/* Peeks at what the pipe holds (tee(2) copies without consuming) and saves it. */
static int save_pipe(struct dump_ctx *c, struct snapshot_file *f, int fd)
{
	int tmp[2] = { -EBADF, -EBADF }, size, r;
	_cleanup_close_ int mem = -EBADF;
	ssize_t n;

	size = fcntl(fd, F_GETPIPE_SZ);
	if (size < 0)
		return log_error_errno(-errno, "Cannot size a pipe of PID %d: %m", (int) c->pid);
	f->pipe_size = (uint32_t) size;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0)
		return log_error_errno(-errno, "Cannot create a pipe: %m");
	(void) fcntl(tmp[1], F_SETPIPE_SZ, size);
	n = tee(fd, tmp[1], (size_t) size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno == EAGAIN)
		n = 0; /* empty */
	r = n < 0 ? log_error_errno(-errno, "Cannot read a pipe of PID %d: %m", (int) c->pid) : 0;
	closep(&tmp[1]);
	if (r >= 0) {
		/* Through a memfd, so the contents take the same path as any file's. */
		mem = memfd_create("ckptd-pipe", MFD_CLOEXEC);
		if (mem < 0 || (n > 0 && splice(tmp[0], NULL, mem, NULL, (size_t) n, 0) != n))
			r = log_error_errno(-errno, "Cannot copy a pipe of PID %d: %m", (int) c->pid);
	}
	closep(&tmp[0]);
	if (r < 0)
		return r;
	f->id.size = (uint64_t) n;
	return dump_file_contents(c, mem, &f->stream);
}

static int pipe_object(struct dump_ctx *c, const char *link, const struct stat *st, int fd,
		       bool contents, uint32_t *ret_index)
{
	char proc_path[64];
	const struct snapshot_file *e;
	struct snapshot_file *f;
	_cleanup_close_ int own = -EBADF;
	int i = find_file(c, FILE_KIND_PIPE, st);

	if (i >= 0) {
		*ret_index = (uint32_t) i;
		return 0;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", (int) c->pid, fd);
	own = open(proc_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (own < 0)
		return log_error_errno(-errno, "Cannot open fd %d of PID %d (%s): %m", fd,
				       (int) c->pid, link);
	f = snapshot_add_file(c->snap);
	if (!f || !(f->path = strdup(link)))
		return log_oom();
	f->kind = FILE_KIND_PIPE;
	f->id = (struct snapshot_identity){ .dev = st->st_dev, .ino = st->st_ino, .mode = st->st_mode };
	*ret_index = (uint32_t)(c->snap->n_files - 1);
	e = dump_tree_earlier_file(c, FILE_KIND_PIPE, st->st_dev, st->st_ino);
	if (e) { /* saved already by another process of the tree */
		f->stream = e->stream;
		f->pipe_size = e->pipe_size;
		f->id.size = e->id.size;
		return 0;
	}
	if (!contents) { /* what it holds is for the reader outside */
		int size = fcntl(own, F_GETPIPE_SZ);

		f->pipe_size = size > 0 ? (uint32_t) size : 0;
		return 0;
	}
	return save_pipe(c, f, own);
}

static uint32_t pipe_modes(const struct dump_ctx *c, uint64_t ino)
{
	uint32_t modes = 0;

	for (size_t i = 0; i < c->n_pipe_ends; i++)
		if (c->pipe_ends[i].ino == ino)
			modes |= c->pipe_ends[i].modes;
	return modes;
}

/* Which ends of the pipe ino the processes of the tree hold: 1 read, 2 write. */
static uint32_t tree_pipe_modes(const struct dump_ctx *c, uint64_t ino)
{
	uint32_t modes = pipe_modes(c, ino);

	for (size_t i = 0; c->tree && i < c->tree->n; i++)
		modes |= pipe_modes(&c->tree->procs[i], ino);
	return modes;
}

/* Who outside the tree holds the pipe ino, for the error: "PID 12 (cat)", or "". */
static void pipe_holder(const struct dump_ctx *c, uint64_t ino, char *buf, size_t size)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	char want[64];
	struct dirent *e;

	buf[0] = 0;
	snprintf(want, sizeof(want), "pipe:[%" PRIu64 "]", ino);
	while (d && !buf[0] && (e = readdir(d))) {
		_cleanup_free_ int *fds = NULL;
		struct proc_stat ps = {};
		int32_t pid;
		size_t n;

		if (parse_i32(e->d_name, 10, &pid) < 0 || dump_tree_has(c->tree, pid) ||
		    proc_read_fds(pid, &fds, &n) < 0)
			continue;
		for (size_t i = 0; i < n && !buf[0]; i++) {
			_cleanup_free_ char *link = NULL;
			char what[32];

			snprintf(what, sizeof(what), "fd/%d", fds[i]);
			if (proc_readlink(pid, what, &link) >= 0 && strcmp(link, want) == 0) {
				(void) proc_read_stat(pid, &ps);
				snprintf(buf, size, "PID %d (%s)", (int) pid, ps.comm);
			}
		}
	}
}

/*
 * A pipe with an end outside the tree: refused naming who holds it, or with
 * --external pipe=close a pipe of the tree's own whose other end is closed
 * at restore (reads see end of file once the saved bytes are read, writes
 * EPIPE), as if that process had gone. A pipe whose other end nobody holds
 * is in that state already.
 */
static int outside_pipe(struct dump_ctx *c, int fd, const char *link, const struct stat *st,
			uint32_t *ret_index)
{
	uint32_t modes = tree_pipe_modes(c, st->st_ino);
	char holder[128];

	pipe_holder(c, st->st_ino, holder, sizeof(holder));
	/* Nobody holding the other end is a state like any other: it is restored as it is. */
	if (!holder[0] || c->opts->pipe_close) {
		if (holder[0])
			log_warning("fd %d of PID %d is a pipe to %s, outside the process tree; it "
				    "comes back with its other end closed",
				    fd, (int) c->pid, holder);
		return pipe_object(c, link, st, fd, modes & 1, ret_index);
	}
	return log_error_errno(-EOPNOTSUPP,
			       "fd %d of PID %d is a pipe (%s) whose other end is held by %s, "
			       "outside the process tree; snapshot a process that has both in "
			       "its tree, or pass --external pipe=close to restore it with the "
			       "other end closed",
			       fd, (int) c->pid, link, holder);
}

/*
 * A pipe on stdio is the caller's (restore hands over its own) unless the
 * tree reads it, nobody is left to write it, and bytes are still in it:
 * the tail of a shell pipeline whose producer has finished (`echo x | cmd`).
 * Those bytes are the process's input; they come back with it, then end of
 * file. The walk of /proc for a writer is only paid in that case.
 */
static bool stdin_left_over(const struct dump_ctx *c, int fd, const struct stat *st)
{
	_cleanup_close_ int own = -EBADF;
	char proc_path[64], holder[128];
	int queued = 0;

	if (tree_pipe_modes(c, st->st_ino) != 1)
		return false;
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", (int) c->pid, fd);
	own = open(proc_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (own < 0 || ioctl(own, FIONREAD, &queued) < 0 || queued <= 0)
		return false;
	closep(&own); /* or the walk finds us holding it */
	pipe_holder(c, st->st_ino, holder, sizeof(holder));
	return !holder[0];
}

/* A socket on stdio stays the caller's business unless it is one end of the tree's own pair. */
static bool holds_pair(const struct dump_ctx *c, uint64_t ino)
{
	const struct unix_sock_info *u = sock_diag_find(c->unix_socks, c->n_unix_socks, ino);

	return u && u->peer && dump_holds_socket(c, u->peer);
}

int dump_copy_fd(const struct dump_ctx *c, int fd)
{
	_cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, c->pid, 0);
	int own;

	if (pidfd < 0)
		return -errno;
	own = (int) syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	return own < 0 ? -errno : own;
}

static int fd_object(struct dump_ctx *c, int fd, const char *link, uint32_t flags,
		     uint32_t *ret_index)
{
	_cleanup_close_ int own = -EBADF;
	_cleanup_free_ char *path = NULL;
	char proc_path[64];
	struct stat st;
	bool deleted;

	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", (int) c->pid, fd);
	if (stat(proc_path, &st) < 0)
		return log_error_errno(-errno, "Cannot stat fd %d of PID %d: %m", fd, (int) c->pid);
	if (flags & O_PATH)
		return log_error_errno(-EOPNOTSUPP, "fd %d of PID %d is an O_PATH handle to %s; "
						    "ckptd cannot restore those yet",
				       fd, (int) c->pid, link);
	if (S_ISSOCK(st.st_mode) && (fd > 2 || holds_pair(c, st.st_ino)))
		return dump_socket_object(c, fd, &st, ret_index);
	if (S_ISFIFO(st.st_mode) &&
	    (tree_pipe_modes(c, st.st_ino) == 3 || (fd <= 2 && stdin_left_over(c, fd, &st))))
		return pipe_object(c, link, &st, fd, /* contents= */ true, ret_index);
	if (S_ISFIFO(st.st_mode) && fd > 2)
		return outside_pipe(c, fd, link, &st, ret_index);
	if (dump_anon_handles(link))
		return dump_anon_object(c, fd, link, ret_index);
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
	    !(S_ISCHR(st.st_mode) && device_allowed(st.st_rdev))) {
		if (fd <= 2)
			return external_object(c, link, &st, ret_index);
		return log_error_errno(-EOPNOTSUPP,
				       "fd %d of PID %d is %s (%s); ckptd cannot checkpoint that "
				       "yet: close it, or redirect it to a file",
				       fd, (int) c->pid, describe(&st, link), link);
	}
	deleted = string_has_suffix(link, " (deleted)");
	path = strndup(link, strlen(link) - (deleted ? strlen(" (deleted)") : 0));
	if (!path)
		return log_oom();
	own = open(proc_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (own < 0)
		return log_error_errno(-errno, "Cannot open fd %d of PID %d (%s): %m", fd,
				       (int) c->pid, link);
	return dump_file_object(c, path, deleted, own, ret_index);
}

bool dump_same_description(pid_t pid, int a, int b)
{
	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

/* Which open file description fd is: an existing one (dup) or a new one. */
static int fd_description(struct dump_ctx *c, int fd, uint32_t file, const struct proc_fdinfo *fi,
			  uint32_t *ret)
{
	struct snapshot_open_file *o;

	for (size_t i = 0; i < c->snap->n_fds; i++) {
		uint32_t of = c->snap->fds[i].open_file;

		if (c->snap->open_files[of].file == file &&
		    dump_same_description(c->pid, c->snap->fds[i].fd, fd)) {
			*ret = of;
			return 0;
		}
	}
	o = snapshot_add_open_file(c->snap);
	if (!o)
		return log_oom();
	o->file = file;
	o->flags = fi->flags & ~(uint32_t) O_CLOEXEC;
	o->pos = fi->pos;
	*ret = (uint32_t)(c->snap->n_open_files - 1);
	return 0;
}

static int dump_fd(struct dump_ctx *c, int fd)
{
	_cleanup_free_ char *link = NULL;
	struct proc_fdinfo fi;
	struct snapshot_fd *e;
	uint32_t file = 0, of = 0;
	char what[32];
	int r;

	snprintf(what, sizeof(what), "fd/%d", fd);
	r = proc_readlink(c->pid, what, &link);
	if (r >= 0)
		r = proc_read_fdinfo(c->pid, fd, &fi);
	if (r == -ENOENT)
		return 0; /* closed by another thread just before it stopped */
	if (r < 0)
		return log_error_errno(r, "Cannot read fd %d of PID %d: %m", fd, (int) c->pid);
	r = fd_object(c, fd, link, fi.flags, &file);
	if (r < 0)
		return r;
	r = fd_description(c, fd, file, &fi, &of);
	if (r < 0)
		return r;
	e = snapshot_add_fd(c->snap);
	if (!e)
		return log_error_errno(-E2BIG, "PID %d has too many open files", (int) c->pid);
	e->fd = fd;
	e->open_file = of;
	e->cloexec = (fi.flags & O_CLOEXEC) != 0;
	return 0;
}

static int dump_exe(struct dump_ctx *c)
{
	_cleanup_free_ char *link = NULL, *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	char proc_path[64];
	bool deleted;
	int r;

	r = proc_readlink(c->pid, "exe", &link);
	if (r < 0)
		return log_error_errno(r, "Cannot read the executable of PID %d: %m", (int) c->pid);
	deleted = string_has_suffix(link, " (deleted)");
	path = strndup(link, strlen(link) - (deleted ? strlen(" (deleted)") : 0));
	if (!path)
		return log_oom();
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/exe", (int) c->pid);
	fd = open(proc_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open the executable of PID %d: %m",
				       (int) c->pid);
	return dump_file_object(c, path, deleted, fd, &c->snap->proc.exe_file);
}

/* Which pipes the process holds which ends of: one held at both ends is the tree's to save. */
static int scan_pipes(struct dump_ctx *c, const int *fds, size_t n)
{
	c->n_pipe_ends = 0;
	for (size_t i = 0; i < n; i++) {
		char path[64];
		struct proc_fdinfo fi;
		struct stat st;
		uint32_t acc;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) c->pid, fds[i]);
		if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode) ||
		    proc_read_fdinfo(c->pid, fds[i], &fi) < 0)
			continue;
		acc = fi.flags & O_ACCMODE;
		if (GROW(c->pipe_ends, c->allocated_pipe_ends, c->n_pipe_ends + 1) < 0)
			return log_oom();
		c->pipe_ends[c->n_pipe_ends++] = (struct dump_pipe_end){
			.ino = st.st_ino,
			.modes = acc == O_RDWR ? 3u : acc == O_WRONLY ? 2u : 1u,
		};
	}
	return 0;
}

static int scan_fds(struct dump_ctx *c, int **ret_fds, size_t *ret_n)
{
	int r = proc_read_fds(c->pid, ret_fds, ret_n);

	if (r < 0)
		return log_error_errno(r, "Cannot list the open files of PID %d: %m", (int) c->pid);
	r = scan_pipes(c, *ret_fds, *ret_n);
	return r < 0 ? r : dump_scan_sockets(c, *ret_fds, *ret_n);
}

int dump_scan_fds(struct dump_ctx *c)
{
	_cleanup_free_ int *fds = NULL;
	size_t n;

	return scan_fds(c, &fds, &n);
}

int dump_fds(struct dump_ctx *c)
{
	_cleanup_free_ int *fds = NULL;
	size_t n;
	int r;

	r = dump_exe(c);
	if (r < 0)
		return r;
	/* Again: a thread let move on (dump_prepare_threads) may have changed the table. */
	r = scan_fds(c, &fds, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = dump_fd(c, fds[i]);
		if (r < 0)
			return r;
	}
	return 0;
}
