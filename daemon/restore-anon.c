// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Anonymous-inode files for a restore: eventfds with their counter, timerfds
 * armed again with their unread ticks, signalfds with their mask, empty
 * epolls (here, before the stub exists), and the epolls' registrations, which
 * the stub makes itself once its fd table is the saved one: the kernel keys a
 * registration by fd number, and a signalfd's wake-ups by the registering
 * process.
 */
#define LOG_PREFIX "restore: "

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "log.h"
#include "restore.h"
#include "util.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int create_eventfd(const struct snapshot_anon *a)
{
	int fd = eventfd(0, EFD_CLOEXEC | (a->flags & EFD_SEMAPHORE ? EFD_SEMAPHORE : 0));
	int r;

	if (fd < 0)
		return -errno;
	/* The kernel's limit is UINT64_MAX - 1: a saved counter always fits in one write. */
	r = a->count ? write_all(fd, &a->count, sizeof(a->count)) : 0;
	if (r < 0) {
		(void) close(fd);
		return r;
	}
	return fd;
}

static struct timespec ns_to_timespec(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t) (ns / 1000000000),
				 .tv_nsec = (long) (ns % 1000000000)};
}

/*
 * When it fires next. A relative timer keeps its time left. An absolute one
 * on the wall clock keeps its deadline (if that passed while the process was
 * down, it fires at once and a periodic one counts the periods it missed).
 * An absolute one on another clock is re-anchored: that clock restarts at
 * boot, so the deadline becomes now plus the time left, still absolute.
 */
static uint64_t timer_expiry(const struct snapshot_anon *a)
{
	if (!(a->flags & TFD_TIMER_ABSTIME))
		return a->value_ns;
	if (a->clockid == CLOCK_REALTIME || a->clockid == CLOCK_REALTIME_ALARM)
		return a->expiry_ns > 0 ? (uint64_t) a->expiry_ns : 1;
	return now_ns(a->clockid) + a->value_ns;
}

static int create_timerfd(const struct snapshot_anon *a)
{
	struct itimerspec its = {};
	int fd = timerfd_create(a->clockid, TFD_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (a->value_ns > 0) {
		its.it_value = ns_to_timespec(timer_expiry(a));
		its.it_interval = ns_to_timespec(a->interval_ns);
		if (timerfd_settime(fd, (int) a->flags, &its, NULL) < 0)
			r = -errno;
	}
	/* Ticks that expired and were not read yet; settime cleared them, so after it. */
	if (r >= 0 && a->count > 0 && ioctl(fd, TFD_IOC_SET_TICKS, &a->count) < 0)
		r = -errno;
	if (r < 0) {
		(void) close(fd);
		return r;
	}
	return fd;
}

static int create_signalfd(const struct snapshot_anon *a)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	for (int sig = 1; sig <= SNAPSHOT_NSIG; sig++)
		if (a->sigmask & (UINT64_C(1) << (sig - 1)))
			(void) sigaddset(&mask, sig);
	fd = signalfd(-1, &mask, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int restore_create_anon(const struct snapshot_file *f)
{
	int fd = -EOPNOTSUPP;

	switch (f->kind) {
	case FILE_KIND_EVENTFD:
		fd = create_eventfd(&f->anon);
		break;
	case FILE_KIND_TIMERFD:
		fd = create_timerfd(&f->anon);
		break;
	case FILE_KIND_SIGNALFD:
		fd = create_signalfd(&f->anon);
		break;
	case FILE_KIND_EPOLL:
		fd = epoll_create1(EPOLL_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		break;
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
	if (fd == -ENOTTY && f->kind == FILE_KIND_TIMERFD)
		return log_error_errno(fd,
				       "Cannot give a timerfd back its %" PRIu64 " unread "
				       "expirations: this kernel lacks TFD_IOC_SET_TICKS "
				       "(CONFIG_CHECKPOINT_RESTORE)",
				       f->anon.count);
	if (fd < 0)
		return log_error_errno(fd, "Cannot recreate a %s: %m",
				       file_kind_to_string(f->kind));
	return fd;
}

/* The saved fd number of any fd on this file: after the stub's rearranging, it is there. */
static int saved_fd_of(const struct snapshot *s, size_t file)
{
	for (size_t i = 0; i < s->n_fds; i++)
		if (s->open_files[s->fds[i].open_file].file == file)
			return s->fds[i].fd;
	return -1;
}

int restore_epoll_watches(const struct snapshot *s)
{
	for (size_t i = 0; i < s->n_files; i++) {
		const struct snapshot_anon *a = &s->files[i].anon;
		int epfd;

		if (s->files[i].kind != FILE_KIND_EPOLL || a->n_watches == 0)
			continue;
		epfd = saved_fd_of(s, i);
		if (epfd < 0)
			continue; /* only a mapping holds it: nobody can wait on it */
		for (size_t j = 0; j < a->n_watches; j++) {
			struct epoll_event ev = {.events = a->watches[j].events,
						 .data.u64 = a->watches[j].data};

			if (epoll_ctl(epfd, EPOLL_CTL_ADD, a->watches[j].fd, &ev) < 0)
				return -errno;
		}
	}
	return 0;
}
