// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Anonymous-inode files: eventfd, timerfd, signalfd and epoll, read from
 * /proc/PID/fdinfo (and, for a timerfd, from the file itself through
 * pidfd_getfd). They all share one inode, so each open file description is
 * its own file object; fds dup()ed from one another are found with kcmp.
 * inotify and any other kind fail the dump naming the fd.
 */
#define LOG_PREFIX "dump: "

#include <assert.h>
#include <linux/kcmp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include "dump.h"
#include "log.h"
#include "util.h"

/* fdinfo of an epoll lists every registration: 100 bytes each, SNAPSHOT_MAX_WATCHES of them. */
#define ANON_FDINFO_MAX ((size_t) 8 << 20)
/* A timer that expires between our two looks at it: look again, this many times. */
#define TIMERFD_TRIES 5

static const struct {
	const char *link;
	enum file_kind kind;
} anon_kinds[] = {
	{"anon_inode:[eventfd]", FILE_KIND_EVENTFD},
	{"anon_inode:[timerfd]", FILE_KIND_TIMERFD},
	{"anon_inode:[signalfd]", FILE_KIND_SIGNALFD},
	{"anon_inode:[eventpoll]", FILE_KIND_EPOLL},
};

static int anon_kind_of(const char *link, enum file_kind *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(anon_kinds); i++)
		if (strcmp(link, anon_kinds[i].link) == 0) {
			*ret = anon_kinds[i].kind;
			return 0;
		}
	return -EOPNOTSUPP;
}

bool dump_anon_handles(const char *link)
{
	enum file_kind k;

	return string_has_prefix(link, "anon_inode:") &&
	       (anon_kind_of(link, &k) >= 0 || strcmp(link, "anon_inode:inotify") == 0);
}

/* The file object of an fd dup()ed from this one earlier, or -1. */
static int find_dup(const struct dump_ctx *c, enum file_kind kind, int fd)
{
	const struct snapshot *s = c->snap;

	for (size_t i = 0; i < s->n_fds; i++) {
		uint32_t file = s->open_files[s->fds[i].open_file].file;

		if (s->files[file].kind == kind && dump_same_description(c->pid, s->fds[i].fd, fd))
			return (int) file;
	}
	return -1;
}

static int read_info(struct dump_ctx *c, int fd, char **ret, size_t *ret_len)
{
	int r = proc_read_fdinfo_text(c->pid, fd, ANON_FDINFO_MAX, ret, ret_len);

	if (r < 0)
		return log_error_errno(r, "Cannot read fdinfo of fd %d of PID %d: %m", fd,
				       (int) c->pid);
	return 0;
}

static int bad_info(const struct dump_ctx *c, int fd, const char *what)
{
	return log_error_errno(-EBADMSG,
			       "Cannot understand /proc/%d/fdinfo/%d (%s); this kernel prints "
			       "what ckptd does not read",
			       (int) c->pid, fd, what);
}

static int dump_eventfd(struct dump_ctx *c, int fd, struct snapshot_anon *a)
{
	_cleanup_free_ char *buf = NULL;
	struct proc_eventfd e;
	size_t len;
	int r = read_info(c, fd, &buf, &len);

	if (r < 0)
		return r;
	if (proc_eventfd_parse(buf, len, &e) < 0)
		return bad_info(c, fd, "an eventfd");
	a->count = e.count;
	a->flags = e.semaphore ? EFD_SEMAPHORE : 0;
	return 0;
}

static int dump_signalfd(struct dump_ctx *c, int fd, struct snapshot_anon *a)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_info(c, fd, &buf, &len);

	if (r < 0)
		return r;
	if (proc_signalfd_parse(buf, len, &a->sigmask) < 0)
		return bad_info(c, fd, "a signalfd");
	return 0;
}

/*
 * fdinfo shows the ticks counted so far, but a periodic timer's missed
 * periods are added only when someone reads the timer or asks for its time
 * (timerfd_gettime, which changes nothing the process could tell). Ask on our
 * copy of the file first, so "ticks" is exact and "it_value" the next expiry.
 */
static int timerfd_look(struct dump_ctx *c, int fd, int own, struct proc_timerfd *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct itimerspec its;
	size_t len;
	int r;

	if (timerfd_gettime(own, &its) < 0)
		return log_error_errno(-errno, "Cannot read the timer of fd %d of PID %d: %m", fd,
				       (int) c->pid);
	r = read_info(c, fd, &buf, &len);
	if (r < 0)
		return r;
	if (proc_timerfd_parse(buf, len, ret) < 0)
		return bad_info(c, fd, "a timerfd");
	return 0;
}

static int dump_timerfd(struct dump_ctx *c, int fd, struct snapshot_anon *a)
{
	_cleanup_close_ int own = dump_copy_fd(c, fd);
	struct proc_timerfd t;
	int r;

	if (own < 0)
		return log_error_errno(own, "Cannot reach the timerfd on fd %d of PID %d: %m", fd,
				       (int) c->pid);
	for (int i = 0; i < TIMERFD_TRIES; i++) {
		r = timerfd_look(c, fd, own, &t);
		if (r < 0)
			return r;
		/* Expired in between and not yet moved to its next period: look again. */
		if (t.value_ns > 0 || t.interval_ns == 0)
			break;
	}
	a->clockid = t.clockid;
	a->count = t.ticks;
	a->flags = t.settime_flags;
	a->value_ns = t.value_ns;
	a->interval_ns = t.interval_ns;
	if (a->value_ns == 0 && a->interval_ns > 0)
		a->value_ns = a->interval_ns;
	if (a->value_ns > 0)
		a->expiry_ns = (int64_t) (now_ns(t.clockid) + a->value_ns);
	return 0;
}

/* The registration's target must be the very file the process holds on that fd number. */
static int check_watch(struct dump_ctx *c, int epfd, const struct proc_epoll_watch *w,
		       uint32_t toff)
{
	struct kcmp_epoll_slot slot = {(uint32_t) epfd, (uint32_t) w->tfd, toff};
	_cleanup_free_ char *link = NULL;
	char what[32];
	int r;

	snprintf(what, sizeof(what), "fd/%d", w->tfd);
	r = proc_readlink(c->pid, what, &link) < 0
		    ? -1
		    : (int) syscall(SYS_kcmp, c->pid, c->pid, KCMP_EPOLL_TFD, w->tfd, &slot);
	if (r < 0 && errno == ENOSYS)
		return log_error_errno(-ENOSYS,
				       "Cannot check the registrations of the epoll on fd %d "
				       "of PID %d: this kernel lacks kcmp (CONFIG_KCMP)",
				       epfd, (int) c->pid);
	if (r != 0)
		return log_error_errno(
			-EOPNOTSUPP,
			"fd %d of PID %d is an epoll watching fd %d, which the process "
			"has closed or reused since; ckptd can restore only "
			"registrations of fds the process still holds",
			epfd, (int) c->pid, w->tfd);
	if (strcmp(link, "anon_inode:[eventpoll]") == 0)
		return log_error_errno(
			-EOPNOTSUPP,
			"fd %d of PID %d is an epoll watching another epoll (fd %d); "
			"nested epoll is not supported yet",
			epfd, (int) c->pid, w->tfd);
	return 0;
}

static int dump_epoll(struct dump_ctx *c, int fd, struct snapshot_file *f)
{
	_cleanup_free_ struct proc_epoll_watch *w = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len, n;
	int r = read_info(c, fd, &buf, &len);

	if (r < 0)
		return r;
	r = proc_epoll_parse(buf, len, SNAPSHOT_MAX_WATCHES, &w, &n);
	if (r == -E2BIG || len >= ANON_FDINFO_MAX)
		return log_error_errno(-E2BIG,
				       "fd %d of PID %d is an epoll with too many "
				       "registrations",
				       fd, (int) c->pid);
	if (r < 0)
		return bad_info(c, fd, "an epoll");
	for (size_t i = 0; i < n; i++) {
		struct snapshot_epoll_watch *e;
		uint32_t toff = 0;

		/* The same fd number twice: one file dup()ed to it, closed and reused. */
		for (size_t j = 0; j < i; j++)
			toff += w[j].tfd == w[i].tfd;
		r = check_watch(c, fd, &w[i], toff);
		if (r < 0)
			return r;
		e = snapshot_add_watch(f);
		if (!e)
			return log_oom();
		*e = (struct snapshot_epoll_watch){w[i].tfd, w[i].events, w[i].data};
	}
	return 0;
}

static int dump_state(struct dump_ctx *c, int fd, struct snapshot_file *f)
{
	switch (f->kind) {
	case FILE_KIND_EVENTFD:
		return dump_eventfd(c, fd, &f->anon);
	case FILE_KIND_TIMERFD:
		return dump_timerfd(c, fd, &f->anon);
	case FILE_KIND_SIGNALFD:
		return dump_signalfd(c, fd, &f->anon);
	case FILE_KIND_EPOLL:
		return dump_epoll(c, fd, f);
	case FILE_KIND_REGULAR:
	case FILE_KIND_DELETED:
	case FILE_KIND_MEMFD:
	case FILE_KIND_SHMEM:
	case FILE_KIND_DIRECTORY:
	case FILE_KIND_DEVICE:
	case FILE_KIND_EXTERNAL:
	case FILE_KIND_PIPE:
	case FILE_KIND_UNIX_PAIR:
	case FILE_KIND_TCP_CLOSED:
	case FILE_KIND_UNIX_LISTEN:
	case _FILE_KIND_MAX:
		break;
	}
	assert(false);
	return -EINVAL;
}

int dump_anon_object(struct dump_ctx *c, int fd, const char *link, uint32_t *ret_index)
{
	struct snapshot_file *f;
	enum file_kind kind;
	int i;

	if (anon_kind_of(link, &kind) < 0)
		return log_error_errno(
			-EOPNOTSUPP,
			"fd %d of PID %d is an inotify instance (%s); inotify is not "
			"supported yet: close it before the snapshot",
			fd, (int) c->pid, link);
	i = find_dup(c, kind, fd);
	if (i >= 0) {
		*ret_index = (uint32_t) i;
		return 0;
	}
	f = snapshot_add_file(c->snap);
	if (!f || !(f->path = strdup(link)))
		return log_oom();
	f->kind = kind;
	*ret_index = (uint32_t) (c->snap->n_files - 1);
	return dump_state(c, fd, f);
}
