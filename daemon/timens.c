// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Time namespaces for restored processes (see timens.h). Offsets are only
 * ever written to a namespace no process has entered yet: the kernel freezes
 * them when the first one does.
 */
#define LOG_PREFIX "timens: "

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "timens.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define NSEC_PER_SEC 1000000000LL

int timens_check(pid_t pid)
{
	int r = proc_same_ns(pid, "time", pid, "time_for_children");

	if (r == -ENOENT)
		return 0; /* no time namespaces here: every process shares the host's clocks */
	if (r < 0)
		return log_error_errno(r, "Cannot read the time namespace of PID %d: %m", (int) pid);
	if (r == 0)
		return log_error_errno(-EOPNOTSUPP,
				       "PID %d made a time namespace for its children that it is not "
				       "in itself (unshare(CLONE_NEWTIME) without a fork); ckptd "
				       "cannot restore that",
				       (int) pid);
	return 0;
}

/* The offsets of the namespace pid is in (timens_check() made sure its children's is the same). */
static int read_offsets(pid_t pid, int64_t ret[2])
{
	struct proc_timens_offsets o;
	int r = proc_read_timens_offsets(pid, &o);

	if (r == -ENOENT) {
		ret[0] = ret[1] = 0;
		return 0;
	}
	if (r < 0)
		return r;
	ret[0] = o.monotonic_ns;
	ret[1] = o.boottime_ns;
	return 0;
}

static void read_clocks(int64_t ret[2])
{
	ret[0] = (int64_t) now_ns(CLOCK_MONOTONIC);
	ret[1] = (int64_t) now_ns(CLOCK_BOOTTIME);
}

/* ckptd's own offsets; it, too, may run in a time namespace. */
static int own_offsets(int64_t ret[2])
{
	int r = timens_check(getpid());

	if (r >= 0)
		r = read_offsets(getpid(), ret);
	if (r < 0)
		return log_error_errno(r, "Cannot read ckptd's own time namespace offsets: %m");
	return 0;
}

int timens_capture(pid_t pid, struct snapshot_clocks *ret)
{
	int64_t own[2], target[2], now[2];
	int r = own_offsets(own);

	if (r < 0)
		return r;
	r = read_offsets(pid, target);
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/timens_offsets: %m", (int) pid);
	read_clocks(now);
	/* Namespace clock = host clock + offset, for ckptd and the target alike. */
	*ret = (struct snapshot_clocks){
		.host_monotonic_ns = now[0] - own[0],
		.host_boottime_ns = now[1] - own[1],
		.monotonic_ns = now[0] - own[0] + target[0],
		.boottime_ns = now[1] - own[1] + target[1],
	};
	return 0;
}

bool timens_plan(const struct snapshot_clocks *saved, const int64_t now[2], const int64_t own[2],
		 int64_t ret_off[2])
{
	const int64_t want[2] = { saved->monotonic_ns, saved->boottime_ns };
	bool needed = false;

	for (int i = 0; i < 2; i++) {
		ret_off[i] = own[i];
		if (want[i] > now[i]) {
			ret_off[i] += want[i] - now[i];
			needed = true;
		}
	}
	return needed;
}

/* "monotonic S N": nanoseconds in [0, 1e9) even for a negative offset. */
static int format_offsets(const int64_t off[2], char *buf, size_t size)
{
	static const char *const names[2] = { "monotonic", "boottime" };
	size_t len = 0;

	for (int i = 0; i < 2; i++) {
		int64_t sec = off[i] / NSEC_PER_SEC, nsec = off[i] % NSEC_PER_SEC;
		int n;

		if (nsec < 0) {
			sec--;
			nsec += NSEC_PER_SEC;
		}
		n = snprintf(buf + len, size - len, "%s %lld %lld\n", names[i], (long long) sec,
			     (long long) nsec);
		if (n < 0 || (size_t) n >= size - len)
			return -E2BIG;
		len += (size_t) n;
	}
	return (int) len;
}

static int write_offsets(const int64_t off[2])
{
	_cleanup_close_ int fd = -EBADF;
	char buf[128];
	int len = format_offsets(off, buf, sizeof(buf));

	if (len < 0)
		return len;
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* One write: the kernel takes both lines or neither. */
	if (write(fd, buf, (size_t) len) != len)
		return -errno;
	return 0;
}

int timens_enter_for_children(const int64_t off[2])
{
	int r;

	if (unshare(CLONE_NEWTIME) < 0)
		return log_error_errno(-errno, "Cannot create a time namespace for the process: %m");
	r = write_offsets(off);
	if (r < 0)
		return log_error_errno(r, "Cannot set the offsets of the process's time namespace "
					  "(monotonic %+lld ns, boottime %+lld ns): %m",
				       (long long) off[0], (long long) off[1]);
	return 0;
}

int timens_offsets_for(const struct snapshot_clocks *saved, int64_t ret_off[2])
{
	int64_t own[2], now[2];
	int r = own_offsets(own);

	if (r < 0)
		return r;
	read_clocks(now);
	if (!timens_plan(saved, now, own, ret_off)) {
		log_debug("This host's clocks are at or past the snapshot's: the process shares them");
		return 0;
	}
	if (access("/proc/self/ns/time", F_OK) < 0)
		return log_error_errno(-EOPNOTSUPP,
				       "The process's clocks were ahead of this host's (monotonic by "
				       "%.0f s); without time namespaces (CONFIG_TIME_NS) they would "
				       "run backwards",
				       (double) (saved->monotonic_ns - now[0]) / 1e9);
	log_debug("The process's clocks continue in a time namespace: monotonic %+.3f s, boottime "
		  "%+.3f s from the host's",
		  (double) ret_off[0] / 1e9, (double) ret_off[1] / 1e9);
	return 1;
}
