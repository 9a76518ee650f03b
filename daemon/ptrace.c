// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ptrace(2) wrappers (see ptrace.h). Every call reports failure as -errno and
 * never logs: the caller knows which task and why it mattered.
 */
#define LOG_PREFIX "ptrace: "

#include <elf.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "log.h"
#include "ptrace.h"
#include "util.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

struct ptrace_rseq_configuration {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

void ptrace_setup(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	(void) sigprocmask(SIG_BLOCK, &set, NULL);
}

static int pt(enum __ptrace_request req, pid_t tid, void *addr, void *data)
{
	if (ptrace(req, tid, addr, data) < 0)
		return -errno;
	return 0;
}

int ptrace_seize(pid_t tid, unsigned long options)
{
	return pt(PTRACE_SEIZE, tid, NULL, (void *) options);
}

int ptrace_interrupt(pid_t tid)
{
	return pt(PTRACE_INTERRUPT, tid, NULL, NULL);
}

int ptrace_detach(pid_t tid)
{
	return pt(PTRACE_DETACH, tid, NULL, NULL);
}

int ptrace_cont(pid_t tid, int sig)
{
	return pt(PTRACE_CONT, tid, NULL, (void *) (long) sig);
}

int ptrace_syscall(pid_t tid)
{
	return pt(PTRACE_SYSCALL, tid, NULL, NULL);
}

int ptrace_wait(pid_t tid, int timeout_ms, int *ret_status)
{
	uint64_t deadline = now_ns(CLOCK_MONOTONIC) + (uint64_t) timeout_ms * 1000000ULL;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		struct timespec ts;
		uint64_t now, left;
		int status;
		pid_t p = waitpid(tid, &status, __WALL | WNOHANG);

		if (p == tid) {
			*ret_status = status;
			return 0;
		}
		if (p < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECHILD ? -ESRCH : -errno;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= deadline)
			return -ETIMEDOUT;
		/* SIGCHLD wakes us for every stop of every tracee; re-check and sleep again. */
		left = MIN(deadline - now, 100000000ULL);
		ts.tv_sec = (time_t)(left / 1000000000ULL);
		ts.tv_nsec = (long) (left % 1000000000ULL);
		(void) sigtimedwait(&set, NULL, &ts);
	}
}

int ptrace_wait_stop(pid_t tid, int timeout_ms, int *ret_status)
{
	int r = ptrace_wait(tid, timeout_ms, ret_status);

	if (r < 0)
		return r;
	if (!WIFSTOPPED(*ret_status))
		return -ESRCH;
	return 0;
}

int ptrace_get_regs(pid_t tid, struct user_regs_struct *ret)
{
	struct iovec iov = { ret, sizeof(*ret) };

	return pt(PTRACE_GETREGSET, tid, (void *) NT_PRSTATUS, &iov);
}

int ptrace_set_regs(pid_t tid, const struct user_regs_struct *regs)
{
	struct iovec iov = { (void *) regs, sizeof(*regs) };

	return pt(PTRACE_SETREGSET, tid, (void *) NT_PRSTATUS, &iov);
}

int ptrace_get_xstate(pid_t tid, void *buf, size_t *size)
{
	struct iovec iov = { buf, *size };
	int r = pt(PTRACE_GETREGSET, tid, (void *) NT_X86_XSTATE, &iov);

	if (r < 0)
		return r;
	*size = iov.iov_len;
	return 0;
}

int ptrace_set_xstate(pid_t tid, const void *buf, size_t size)
{
	struct iovec iov = { (void *) buf, size };

	return pt(PTRACE_SETREGSET, tid, (void *) NT_X86_XSTATE, &iov);
}

int ptrace_get_sigmask(pid_t tid, uint64_t *ret)
{
	return pt(PTRACE_GETSIGMASK, tid, (void *) sizeof(*ret), ret);
}

int ptrace_set_sigmask(pid_t tid, uint64_t mask)
{
	return pt(PTRACE_SETSIGMASK, tid, (void *) sizeof(mask), &mask);
}

int ptrace_get_rseq(pid_t tid, struct snapshot_rseq *ret)
{
	struct ptrace_rseq_configuration c = {};
	long n = ptrace((enum __ptrace_request) PTRACE_GET_RSEQ_CONFIGURATION, tid,
			(void *) sizeof(c), &c);

	if (n < 0)
		return -errno;
	*ret = (struct snapshot_rseq){ c.rseq_abi_pointer, c.rseq_abi_size, c.signature,
				       c.flags };
	return 0;
}

int ptrace_peek_siginfo(pid_t tid, bool shared, struct snapshot_siginfo **ret, size_t *ret_n)
{
	_cleanup_free_ struct snapshot_siginfo *all = NULL;
	size_t n = 0, allocated = 0;

	for (;;) {
		struct __ptrace_peeksiginfo_args a = {
			.off = n,
			.flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
			.nr = 32,
		};
		long got;

		if (GROW(all, allocated, n + a.nr) < 0)
			return -ENOMEM;
		got = ptrace(PTRACE_PEEKSIGINFO, tid, &a, all + n);
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t) got;
		if (n > SNAPSHOT_MAX_PENDING)
			return -E2BIG;
	}
	*ret = n ? TAKE_PTR(all) : NULL;
	*ret_n = n;
	return 0;
}

int ptrace_get_event_msg(pid_t tid, unsigned long *ret)
{
	return pt(PTRACE_GETEVENTMSG, tid, NULL, ret);
}
