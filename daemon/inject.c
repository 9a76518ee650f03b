// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Syscall injection (see inject.h). The only state a thread is ever left in
 * between two ptrace calls is one it recovers from on its own: its own
 * registers, or injected registers whose syscall returns through the
 * sigreturn frame. Memory is written through /proc/PID/mem, which reaches
 * read-only pages too.
 */
#define LOG_PREFIX "inject: "

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cpu.h"
#include "inject.h"
#include "log.h"
#include "ptrace.h"
#include "util.h"

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#define SYSCALL_INFO_ENTRY 1
#define SYSCALL_INFO_EXIT 2

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define USER_CS 0x33
#define USER_DS 0x2b

#define STOP_TIMEOUT_MS 10000

struct syscall_info {
	uint8_t op;
	uint8_t pad[3];
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t stack_pointer;
	uint64_t data[8];
};

/* The kernel's x86-64 struct ucontext and struct rt_sigframe. */
struct kernel_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	struct {
		uint64_t ss_sp;
		int32_t ss_flags;
		int32_t pad;
		uint64_t ss_size;
	} uc_stack;
	struct sigcontext uc_mcontext;
	uint64_t uc_sigmask;
};

struct kernel_rt_sigframe {
	uint64_t pretcode;
	struct kernel_ucontext uc;
	uint8_t info[128];
};

int inject_open(pid_t pid, uint64_t syscall_ip, uint64_t restore_rt,
		const struct snapshot_cpu *cpu, struct inject_target *ret)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = (struct inject_target){ pid, fd, syscall_ip, restore_rt, cpu };
	return 0;
}

void inject_close(struct inject_target *t)
{
	closep(&t->mem_fd);
	t->mem_fd = -EBADF;
}

int inject_write(struct inject_target *t, uint64_t addr, const void *buf, size_t len)
{
	int r = pwrite_all(t->mem_fd, buf, len, (off_t) addr);

	return r == -EIO ? -EFAULT : r;
}

int inject_read(struct inject_target *t, uint64_t addr, void *buf, size_t len)
{
	int r = pread_exact(t->mem_fd, buf, len, (off_t) addr);

	return r == -EBADMSG || r == -EIO ? -EFAULT : r;
}

/*
 * What the thread's registers become if it resumes without a signal: the
 * kernel's own restart rules (arch_do_signal_or_restart), applied ahead of
 * time because rt_sigreturn does not apply them.
 */
static struct user_regs_struct regs_after_restart(const struct user_regs_struct *r)
{
	struct user_regs_struct x = *r;

	if ((int64_t) x.orig_rax < 0)
		return x;
	switch (-(int64_t) x.rax) {
	case ERESTARTSYS:
	case ERESTARTNOINTR:
	case ERESTARTNOHAND:
		x.rax = x.orig_rax;
		x.rip -= 2;
		break;
	case ERESTART_RESTARTBLOCK:
		x.rax = SYS_restart_syscall;
		x.rip -= 2;
		break;
	default:
		break;
	}
	x.orig_rax = (uint64_t) -1;
	return x;
}

static void fill_sigcontext(struct sigcontext *sc, const struct user_regs_struct *r)
{
	sc->r8 = r->r8;
	sc->r9 = r->r9;
	sc->r10 = r->r10;
	sc->r11 = r->r11;
	sc->r12 = r->r12;
	sc->r13 = r->r13;
	sc->r14 = r->r14;
	sc->r15 = r->r15;
	sc->rdi = r->rdi;
	sc->rsi = r->rsi;
	sc->rbp = r->rbp;
	sc->rbx = r->rbx;
	sc->rdx = r->rdx;
	sc->rax = r->rax;
	sc->rcx = r->rcx;
	sc->rsp = r->rsp;
	sc->rip = r->rip;
	sc->eflags = r->eflags;
	sc->cs = USER_CS;
	sc->__pad0 = USER_DS; /* ss, with UC_SIGCONTEXT_SS */
}

/*
 * Lays out [area_lo, area_hi): fpstate at the top, the frame below it, the
 * scratch data below that. rsp points at the frame's pretcode, which the
 * syscall gadget's ret pops into __restore_rt.
 */
static int write_frame(struct inject_target *t, struct inject_thread *th, const uint8_t *xstate,
		       uint64_t area_lo, uint64_t area_hi)
{
	_cleanup_free_ uint8_t *fp = malloc(t->cpu->xstate_size + 64);
	struct kernel_rt_sigframe f = {};
	struct user_regs_struct resumed;
	uint64_t fp_addr, frame_addr;
	size_t fp_size;
	int r;

	if (!fp)
		return -ENOMEM;
	fp_size = cpu_sigframe_fpstate(t->cpu, xstate, fp);
	fp_addr = ALIGN_DOWN(area_hi - fp_size, (uint64_t) 64);
	frame_addr = ALIGN_DOWN(fp_addr - sizeof(f), (uint64_t) 16);
	if (frame_addr < area_lo + 4096)
		return -ENOSPC;

	resumed = regs_after_restart(&th->regs);
	f.pretcode = t->restore_rt;
	f.uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS;
	/*
	 * rt_sigreturn hands uc_stack to sigaltstack() and ignores its errors:
	 * an invalid mode leaves the thread's alternate stack as it is.
	 */
	f.uc.uc_stack.ss_flags = 7;
	fill_sigcontext(&f.uc.uc_mcontext, &resumed);
	f.uc.uc_mcontext.fpstate = (struct _fpstate *) (uintptr_t) fp_addr;
	f.uc.uc_sigmask = th->sigmask;

	r = inject_write(t, fp_addr, fp, fp_size);
	if (r >= 0)
		r = inject_write(t, frame_addr, &f, sizeof(f));
	if (r < 0)
		return r;
	th->rsp = frame_addr;
	th->data = area_lo;
	th->data_size = frame_addr - area_lo;
	return 0;
}

int inject_thread_begin(struct inject_target *t, pid_t tid, const struct user_regs_struct *regs,
			uint64_t sigmask, const uint8_t *xstate, uint64_t area_lo, uint64_t area_hi,
			struct inject_thread *ret)
{
	struct inject_thread th = { .tid = tid, .regs = *regs, .sigmask = sigmask };
	int r;

	area_lo = ALIGN_TO(area_lo, (uint64_t) 64);
	area_hi = ALIGN_DOWN(area_hi, (uint64_t) 64);
	if (area_hi <= area_lo + 4096)
		return -ENOSPC;
	if (xstate && t->restore_rt) {
		r = write_frame(t, &th, xstate, area_lo, area_hi);
		if (r < 0)
			return r;
	} else {
		th.rsp = area_hi - 64;
		th.data = area_lo;
		th.data_size = area_hi - 64 - area_lo;
	}
	/* Blocked signals stay queued instead of stopping the injected call. */
	r = ptrace_set_sigmask(tid, ~0ULL);
	if (r < 0)
		return r;
	th.changed = true;
	*ret = th;
	return 0;
}

static int syscall_stop_op(pid_t tid, uint8_t *ret_op)
{
	struct syscall_info info = {};

	if (ptrace((enum __ptrace_request) PTRACE_GET_SYSCALL_INFO, tid, (void *) sizeof(info),
		   &info) < 0)
		return -errno;
	*ret_op = info.op;
	return 0;
}

/*
 * Resumes to the next syscall stop of kind want. Clone events are noted;
 * group stops (a SIGSTOP for the process) are passed over, the kernel
 * re-enters them when we detach; anything else means the injected code
 * faulted or the task died.
 */
static int run_to_syscall_stop(struct inject_thread *th, uint8_t want)
{
	for (int tries = 0; tries < 16; tries++) {
		unsigned long msg;
		uint8_t op = 0;
		int status, r;

		r = ptrace_syscall(th->tid);
		if (r < 0)
			return r;
		r = ptrace_wait_stop(th->tid, STOP_TIMEOUT_MS, &status);
		if (r < 0)
			return r;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			r = syscall_stop_op(th->tid, &op);
			if (r < 0)
				return r;
			if (op == want) {
				th->at_syscall_stop = true;
				return 0;
			}
			continue;
		}
		switch (status >> 16) {
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			r = ptrace_get_event_msg(th->tid, &msg);
			if (r < 0)
				return r;
			th->child = (pid_t) msg;
			continue;
		case PTRACE_EVENT_STOP:
			continue;
		default:
			break;
		}
		log_debug("thread %d stopped by signal %d while running injected code", th->tid,
			  WSTOPSIG(status));
		return -EFAULT;
	}
	return -EPROTO;
}

int inject_syscall(struct inject_target *t, struct inject_thread *th, long nr,
		   const uint64_t args[6], int64_t *ret_result)
{
	return inject_syscall_at(t, th, t->syscall_ip, nr, args, ret_result);
}

/*
 * Fault tests stretch the time a thread spends with injected registers, so
 * that killing ckptd lands there: CKPTD_TEST_INJECT_DELAY_US.
 */
static void test_delay(void)
{
	static long delay_us = -1;

	if (delay_us < 0) {
		const char *e = getenv("CKPTD_TEST_INJECT_DELAY_US");
		uint32_t v = 0;

		delay_us = e && parse_u32(e, 10, &v) >= 0 ? (long) v : 0;
	}
	if (delay_us > 0)
		(void) usleep((useconds_t) delay_us);
}

int inject_syscall_at(struct inject_target *t, struct inject_thread *th, uint64_t ip, long nr,
		      const uint64_t args[6], int64_t *ret_result)
{
	struct user_regs_struct regs = th->regs;
	int r;

	regs.rip = ip;
	regs.rsp = th->rsp;
	regs.rax = (uint64_t) nr;
	regs.orig_rax = (uint64_t) -1; /* no restart handling for the thread's own call */
	regs.rdi = args[0];
	regs.rsi = args[1];
	regs.rdx = args[2];
	regs.r10 = args[3];
	regs.r8 = args[4];
	regs.r9 = args[5];
	r = ptrace_set_regs(th->tid, &regs);
	if (r < 0)
		return r;
	th->changed = true;
	test_delay();
	r = run_to_syscall_stop(th, SYSCALL_INFO_ENTRY);
	if (r < 0)
		return r;
	test_delay();
	r = run_to_syscall_stop(th, SYSCALL_INFO_EXIT);
	if (r < 0)
		return r;
	r = ptrace_get_regs(th->tid, &regs);
	if (r < 0)
		return r;
	*ret_result = (int64_t) regs.rax;
	return 0;
}

int inject_thread_end(struct inject_target *t, struct inject_thread *th,
		      const struct user_regs_struct *regs, uint64_t sigmask)
{
	int status, r;

	r = ptrace_set_regs(th->tid, regs ? regs : &th->regs);
	if (r < 0)
		return r;
	r = ptrace_set_sigmask(th->tid, sigmask);
	if (r < 0)
		return r;
	th->changed = false;
	if (!th->at_syscall_stop)
		return 0;
	/*
	 * The kernel applies its syscall-restart rules only on its way out of
	 * the signal path; from a syscall-exit stop it would skip them and hand
	 * the thread -ERESTARTSYS. Trap it once more inside get_signal().
	 */
	r = ptrace_interrupt(th->tid);
	if (r >= 0)
		r = ptrace_cont(th->tid, 0);
	for (int tries = 0; r >= 0 && tries < 16; tries++) {
		r = ptrace_wait_stop(th->tid, STOP_TIMEOUT_MS, &status);
		if (r < 0)
			break;
		if (PTRACE_EVENT_STOP_STATUS(status)) {
			th->at_syscall_stop = false;
			return 0;
		}
		r = ptrace_cont(th->tid, 0);
	}
	return r < 0 ? r : -EPROTO;
}
