// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Thread and process state that is not memory: registers and extended state,
 * signal masks and queues, rseq, robust lists from ptrace; credentials, mm
 * layout, limits from /proc; and what only the task itself can tell
 * (sigactions, timers, alternate stacks, clear_child_tid), by injecting the
 * query syscalls into it.
 */
#define LOG_PREFIX "dump: "

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "cpu.h"
#include "dump.h"
#include "log.h"
#include "ptrace.h"
#include "util.h"

#define ARCH_GET_XCOMP_PERM 0x1022
#define NUDGE_TRIES 50

struct kernel_rseq_cs {
	uint32_t version;
	uint32_t flags;
	uint64_t start_ip;
	uint64_t post_commit_offset;
	uint64_t abort_ip;
};

/*
 * A thread stopped inside an rseq critical section would have been aborted
 * by the kernel on its next return to user space; do it for the saved state.
 */
static void rseq_fixup(struct dump_ctx *c, struct snapshot_thread *t)
{
	struct kernel_rseq_cs cs;
	uint64_t cs_ptr;

	if (!t->rseq.abi_pointer)
		return;
	if (inject_read(&c->inj, t->rseq.abi_pointer + 8, &cs_ptr, sizeof(cs_ptr)) < 0 ||
	    !cs_ptr)
		return;
	if (inject_read(&c->inj, cs_ptr, &cs, sizeof(cs)) < 0)
		return;
	if (t->regs.rip >= cs.start_ip && t->regs.rip - cs.start_ip < cs.post_commit_offset) {
		log_debug("thread %d was in an rseq critical section; moved to its abort handler",
			  t->tid);
		t->regs.rip = cs.abort_ip;
	}
}

static int read_comm(pid_t pid, pid_t tid, char comm[static 16])
{
	_cleanup_free_ char *buf = NULL;
	char path[64];
	size_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int) pid, (int) tid);
	r = read_full_file_at(AT_FDCWD, path, 64, &buf, &n);
	if (r < 0)
		return r;
	buf[strcspn(buf, "\n")] = 0;
	memset(comm, 0, 16);
	memcpy(comm, buf, MIN(strlen(buf), (size_t) 15));
	return 0;
}

static int dump_thread(struct dump_ctx *c, pid_t tid, struct snapshot_thread *t)
{
	size_t xsize = c->snap->cpu.xstate_size;
	int r;

	t->tid = tid;
	r = ptrace_get_regs(tid, &t->regs);
	if (r < 0)
		return log_error_errno(r, "Cannot read the registers of thread %d: %m", (int) tid);
	t->xstate = calloc(1, xsize);
	if (!t->xstate)
		return log_oom();
	r = ptrace_get_xstate(tid, t->xstate, &xsize);
	if (r < 0)
		return log_error_errno(r, "Cannot read the extended state of thread %d: %m",
				       (int) tid);
	if (xsize != c->snap->cpu.xstate_size)
		return log_error_errno(-EPROTO, "The kernel's XSAVE size (%zu) is not CPUID's (%u)",
				       xsize, c->snap->cpu.xstate_size);
	t->xstate_size = xsize;
	c->snap->cpu.xfeatures_used |= cpu_xstate_bv(t->xstate, xsize);

	r = ptrace_get_sigmask(tid, &t->sigmask);
	if (r >= 0)
		r = ptrace_get_rseq(tid, &t->rseq);
	if (r >= 0)
		r = ptrace_peek_siginfo(tid, false, &t->pending, &t->n_pending);
	if (r >= 0 &&
	    syscall(SYS_get_robust_list, tid, &t->robust_list, &t->robust_list_len) < 0)
		r = -errno;
	if (r >= 0)
		r = read_comm(c->pid, tid, t->comm);
	if (r < 0)
		return log_error_errno(r, "Cannot read the state of thread %d: %m", (int) tid);
	rseq_fixup(c, t);
	return 0;
}

int dump_threads(struct dump_ctx *c)
{
	int r;

	for (size_t i = 0; i < c->seized->n_threads; i++) {
		struct snapshot_thread *t = snapshot_add_thread(c->snap);

		if (!t)
			return log_error_errno(-E2BIG, "PID %d has more than %d threads",
					       (int) c->pid, SNAPSHOT_MAX_THREADS);
		r = dump_thread(c, c->seized->threads[i].tid, t);
		if (r < 0)
			return r;
	}
	r = ptrace_peek_siginfo(c->pid, true, &c->snap->proc.pending, &c->snap->proc.n_pending);
	if (r < 0)
		return log_error_errno(r, "Cannot read the signals queued for PID %d: %m",
				       (int) c->pid);
	return 0;
}

static int read_proc_file(pid_t pid, const char *what, size_t max, char **ret, size_t *ret_len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, what);
	return read_full_file_at(AT_FDCWD, path, max, ret, ret_len);
}

static int dump_stat(struct dump_ctx *c)
{
	struct snapshot_process *p = &c->snap->proc;
	struct proc_stat ps;
	int r = proc_read_stat(c->pid, &ps);

	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/stat: %m", (int) c->pid);
	p->pid = c->pid;
	p->ppid = ps.ppid;
	p->pgid = ps.pgrp;
	p->sid = ps.session;
	p->start_time = ps.starttime;
	memcpy(p->comm, ps.comm, sizeof(p->comm));
	p->mm = (struct snapshot_mm){
		.start_code = ps.startcode,
		.end_code = ps.endcode,
		.start_data = ps.start_data,
		.end_data = ps.end_data,
		.start_brk = ps.start_brk,
		.start_stack = ps.startstack,
		.arg_start = ps.arg_start,
		.arg_end = ps.arg_end,
		.env_start = ps.env_start,
		.env_end = ps.env_end,
	};
	return 0;
}

static int dump_status(struct dump_ctx *c)
{
	struct snapshot_process *p = &c->snap->proc;
	struct proc_status st = {};
	int r = proc_read_status(c->pid, &st);

	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/status: %m", (int) c->pid);
	memcpy(p->uid, st.uid, sizeof(p->uid));
	memcpy(p->gid, st.gid, sizeof(p->gid));
	p->groups = TAKE_PTR(st.groups);
	p->n_groups = st.n_groups;
	p->cap_inheritable = st.cap_inh;
	p->cap_permitted = st.cap_prm;
	p->cap_effective = st.cap_eff;
	p->cap_bounding = st.cap_bnd;
	p->cap_ambient = st.cap_amb;
	p->no_new_privs = st.no_new_privs;
	p->umask = st.has_umask ? st.umask : 022;
	c->sig_not_default = st.sig_cgt | st.sig_ign;
	proc_status_done(&st);
	return 0;
}

static int dump_paths(struct dump_ctx *c)
{
	struct snapshot_process *p = &c->snap->proc;
	_cleanup_free_ char *root = NULL;
	int r;

	r = proc_readlink(c->pid, "root", &root);
	if (r < 0)
		return log_error_errno(r, "Cannot read the root directory of PID %d: %m",
				       (int) c->pid);
	if (strcmp(root, "/") != 0)
		return log_error_errno(-EOPNOTSUPP,
				       "PID %d runs in a chroot (%s); ckptd cannot restore that yet",
				       (int) c->pid, root);
	r = proc_readlink(c->pid, "cwd", &p->cwd);
	if (r < 0)
		return log_error_errno(r, "Cannot read the working directory of PID %d: %m",
				       (int) c->pid);
	if (string_has_suffix(p->cwd, " (deleted)"))
		return log_error_errno(-ENOENT,
				       "The working directory of PID %d (%s) was deleted; it "
				       "could not be entered again on restore",
				       (int) c->pid, p->cwd);
	return 0;
}

static int timer_cmp(const void *a, const void *b)
{
	const struct snapshot_timer *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/*
 * POSIX timers as /proc lists them; their times are asked from inside
 * (query_timers). A SIGEV_THREAD timer is glibc's: a helper thread it
 * signals with SIGEV_THREAD_ID, restored like any other thread.
 */
static int dump_timers(struct dump_ctx *c)
{
	struct snapshot_process *p = &c->snap->proc;
	_cleanup_free_ struct proc_timer *pt = NULL;
	size_t n;
	int r;

	r = proc_read_timers(c->pid, &pt, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/timers: %m", (int) c->pid);
	if (n > SNAPSHOT_MAX_TIMERS)
		return log_error_errno(-E2BIG, "PID %d has %zu POSIX timers; ckptd saves at most %d",
				       (int) c->pid, n, SNAPSHOT_MAX_TIMERS);
	p->timers = new0(struct snapshot_timer, n ? n : 1);
	if (!p->timers)
		return log_oom();
	for (size_t i = 0; i < n; i++) {
		if (pt[i].notify != SNAPSHOT_SIGEV_SIGNAL && pt[i].notify != SNAPSHOT_SIGEV_NONE &&
		    pt[i].notify != (SNAPSHOT_SIGEV_SIGNAL | SNAPSHOT_SIGEV_THREAD_ID))
			return log_error_errno(-EOPNOTSUPP,
					       "POSIX timer %d of PID %d has notification %d, which "
					       "ckptd does not know",
					       pt[i].id, (int) c->pid, pt[i].notify);
		p->timers[i] = (struct snapshot_timer){
			.id = pt[i].id,
			.clock = pt[i].clock,
			.notify = pt[i].notify,
			.signo = pt[i].signo,
			.value = pt[i].sigev_value,
			.tid = (pt[i].notify & SNAPSHOT_SIGEV_THREAD_ID) ? pt[i].target : 0,
		};
	}
	p->n_timers = n;
	qsort(p->timers, n, sizeof(*p->timers), timer_cmp);
	return 0;
}

/*
 * Copies an earlier snapshot left behind (its ckptd died before collecting
 * them): zombies with exit signal 0. They are collected, not counted as
 * children.
 */
static int sort_out_stale(struct dump_ctx *c, pid_t *children, size_t *n)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		struct proc_stat st;

		if (proc_read_stat(children[i], &st) >= 0 && st.state == 'Z' && st.exit_signal == 0) {
			if (GROW(c->stale, c->allocated_stale, c->n_stale + 1) < 0)
				return log_oom();
			c->stale[c->n_stale++] = children[i];
			continue;
		}
		children[kept++] = children[i];
	}
	*n = kept;
	return 0;
}

static int dump_misc(struct dump_ctx *c)
{
	struct snapshot_process *p = &c->snap->proc;
	_cleanup_free_ char *pers = NULL;
	_cleanup_free_ pid_t *children = NULL;
	size_t n;
	int r;

	r = read_proc_file(c->pid, "auxv", SNAPSHOT_AUXV_MAX, (char **) &p->auxv, &p->auxv_size);
	if (r >= 0)
		r = read_proc_file(c->pid, "cmdline", 1 << 20, &p->cmdline, &p->cmdline_size);
	if (r >= 0)
		r = read_proc_file(c->pid, "personality", 64, &pers, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d: %m", (int) c->pid);
	pers[strcspn(pers, "\n")] = 0;
	if (parse_u32(pers, 16, &p->personality) < 0)
		return log_error_errno(-EBADMSG, "Cannot parse /proc/%d/personality", (int) c->pid);

	r = dump_timers(c);
	if (r < 0)
		return r;
	r = proc_read_children(c->pid, &children, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot list the children of PID %d: %m", (int) c->pid);
	/* The others are members of the tree (dump-tree.c). */
	return sort_out_stale(c, children, &n);
}

int dump_process_state(struct dump_ctx *c)
{
	int r = dump_stat(c);

	if (r >= 0)
		r = dump_status(c);
	if (r >= 0)
		r = dump_paths(c);
	if (r >= 0)
		r = dump_misc(c);
	if (r >= 0)
		r = dump_seccomp(c);
	return r;
}

/* ---- injection ---- */

/*
 * Scratch memory below the red zone of a thread's own stack: free by the
 * ABI (a signal frame could land there any moment). Only trusted when the
 * mapping is surely a stack, so an alternate signal stack carved out of the
 * heap is never written past its end.
 */
static bool stack_scratch(const struct dump_ctx *c, uint64_t rsp, uint64_t *lo, uint64_t *hi)
{
	const struct proc_map *m = proc_map_at(c->maps, c->n_maps, rsp - 1);
	uint64_t top = ALIGN_DOWN(rsp - 128, (uint64_t) 64);
	bool is_stack;

	if (!m || m->shared || (m->prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE))
		return false;
	is_stack = (m->name && strcmp(m->name, "[stack]") == 0);
	if (!is_stack && m > c->maps) {
		const struct proc_map *below = m - 1;

		/* glibc and most runtimes put a PROT_NONE guard right under a thread stack. */
		is_stack = !m->name && below->end == m->start && below->prot == 0;
	}
	if (!is_stack || top < m->start + INJECT_AREA_SIZE)
		return false;
	*lo = top - INJECT_AREA_SIZE;
	*hi = top;
	return true;
}

int dump_thread_scratch(struct dump_ctx *c, pid_t tid, const struct user_regs_struct *regs,
			uint64_t *ret_lo, uint64_t *ret_hi)
{
	return stack_scratch(c, regs->rsp, ret_lo, ret_hi) ? 0 : -ENOSPC;
}

/*
 * Lets a thread that is not on a recognisable stack (inside a handler on
 * an alternate stack, most likely) run a moment longer, then stops it again.
 */
static int nudge_thread(pid_t tid)
{
	int status, r;

	/* It runs its own code: under its own seccomp filters. */
	if (ptrace(PTRACE_SETOPTIONS, tid, NULL, (void *) (long) SEIZE_OPTIONS_RUNNING) < 0)
		return -errno;
	r = ptrace_cont(tid, 0);
	if (r < 0)
		return r;
	(void) usleep(1000);
	r = ptrace_interrupt(tid);
	if (r >= 0)
		r = ptrace_wait_stop(tid, 5000, &status);
	if (r >= 0 && ptrace(PTRACE_SETOPTIONS, tid, NULL, (void *) (long) SEIZE_OPTIONS) < 0)
		r = -errno;
	return r;
}

/*
 * A thread inside the vDSO's code could not go on from there after a
 * restore on another kernel: the old code stays only as jumps to the new
 * vDSO's functions, and the data pages it reads at fixed offsets moved with
 * the new one (restore --vdso-patch: the restored clocks test crashed so,
 * one run in seven). Its functions return in well under the millisecond a
 * nudge lets it run.
 */
static const struct proc_map *vdso_map(const struct dump_ctx *c)
{
	for (size_t i = 0; i < c->n_maps; i++)
		if (c->maps[i].name && strcmp(c->maps[i].name, "[vdso]") == 0)
			return &c->maps[i];
	return NULL;
}

static bool in_vdso(const struct dump_ctx *c, uint64_t ip)
{
	const struct proc_map *m = vdso_map(c);

	return m && ip >= m->start && ip < m->end;
}

/*
 * Before thread state is read: every thread should stand on a stack we can
 * borrow scratch space from, outside the vDSO. Returns 1 if any thread was
 * moved (the maps must then be read again).
 */
int dump_prepare_threads(struct dump_ctx *c)
{
	bool moved = false;
	int r;

	for (size_t i = 0; i < c->seized->n_threads; i++) {
		pid_t tid = c->seized->threads[i].tid;
		struct user_regs_struct regs = {};
		uint64_t lo, hi;

		for (int tries = 0; tries < NUDGE_TRIES; tries++) {
			uint64_t last_rsp = regs.rsp;

			r = ptrace_get_regs(tid, &regs);
			if (r < 0)
				return log_error_errno(r, "Cannot read the registers of thread %d: %m",
						       (int) tid);
			bool vdso = in_vdso(c, regs.rip);

			if (!vdso && stack_scratch(c, regs.rsp, &lo, &hi))
				break;
			/* Still where it was (blocked in a call, or living there): no point waiting. */
			if (!vdso && tries > 0 && regs.rsp == last_rsp)
				break;
			r = nudge_thread(tid);
			if (r < 0)
				return log_error_errno(r, "Thread %d did not stop again: %m",
						       (int) tid);
			moved = true;
		}
	}
	return moved;
}

/* "syscall" followed only by register-clearing xors and a ret: the vDSO has such fallbacks. */
static bool is_syscall_ret(const uint8_t *p, size_t left)
{
	size_t i = 2;

	if (left < 3 || p[0] != 0x0f || p[1] != 0x05)
		return false;
	while (i < left && i < 32) {
		if (p[i] == 0xc3)
			return true;
		if (p[i] == 0x31 && i + 1 < left && p[i + 1] >= 0xc0 && (p[i + 1] & 7) != 4)
			i += 2;
		else if ((p[i] == 0x45 || p[i] == 0x48 || p[i] == 0x4d) && i + 2 < left &&
			 p[i + 1] == 0x31 && p[i + 2] >= 0xc0 && (p[i + 2] & 7) != 4)
			i += 3;
		else
			return false;
	}
	return false;
}

/*
 * Only up to the first match is read (scan_fd): the search runs while the
 * target is frozen, and __restore_rt sits in the first 100 KiB of glibc's
 * 1.4 MiB of code, all of which took 1 to 1.5 ms to read.
 */
static int find_in_map(struct dump_ctx *c, const struct proc_map *m, bool (*match)(const uint8_t *,
									   size_t),
		       uint64_t *ret)
{
	if (m->end - m->start > 64 << 20)
		return 0;
	return scan_fd(c->inj.mem_fd, m->start, m->end, match, ret);
}

static bool is_restore_rt(const uint8_t *p, size_t left)
{
	static const uint8_t movq[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	static const uint8_t movl[] = { 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };

	return (left >= sizeof(movq) && memcmp(p, movq, sizeof(movq)) == 0) ||
	       (left >= sizeof(movl) && memcmp(p, movl, sizeof(movl)) == 0);
}

static bool is_syscall_ret_cb(const uint8_t *p, size_t left)
{
	return is_syscall_ret(p, left);
}

/* The syscall gadget (vDSO) and __restore_rt (libc first, then any code). */
static int find_gadgets(struct dump_ctx *c, uint64_t *ret_syscall, uint64_t *ret_restore_rt)
{
	const struct proc_map *vdso = vdso_map(c);
	int r = 0;

	*ret_syscall = *ret_restore_rt = 0;
	if (vdso)
		r = find_in_map(c, vdso, is_syscall_ret_cb, ret_syscall);
	if (r < 0)
		return r;
	for (int pass = 0; pass < 2 && !*ret_restore_rt; pass++)
		for (size_t i = 0; i < c->n_maps && !*ret_restore_rt; i++) {
			const struct proc_map *m = &c->maps[i];
			bool libc = m->name && strstr(m->name, "/libc");

			if (!(m->prot & PROT_EXEC) || !m->name || m->name[0] != '/' ||
			    libc != (pass == 0))
				continue;
			r = find_in_map(c, m, is_restore_rt, ret_restore_rt);
			if (r < 0)
				return r;
		}
	return 0;
}

static int query(struct dump_ctx *c, struct inject_thread *th, long nr, uint64_t a0, uint64_t a1,
		 uint64_t a2, uint64_t a3, int64_t *ret)
{
	int r = INJECT(&c->inj, th, nr, ret, a0, a1, a2, a3, 0, 0);

	if (r < 0)
		return log_error_errno(r, "Running %ld in thread %d failed: %m", nr, (int) th->tid);
	return 0;
}

/*
 * Each query costs a ptrace round trip while the target is frozen, so only
 * actions that are not SIG_DFL are asked (SigCgt and SigIgn say which), and
 * SIGCHLD, whose SA_NOCLDSTOP and SA_NOCLDWAIT matter even under SIG_DFL.
 * Flags and masks stored with another SIG_DFL change nothing the kernel
 * does; they come back as zero.
 */
static bool sigaction_wanted(const struct dump_ctx *c, int sig)
{
	if (sig == SIGKILL || sig == SIGSTOP)
		return false;
	return sig == SIGCHLD || (c->sig_not_default & (1ULL << (sig - 1)));
}

static int query_sigactions(struct dump_ctx *c, struct inject_thread *th)
{
	for (int sig = 1; sig <= SNAPSHOT_NSIG; sig++) {
		int64_t res;
		int r;

		if (!sigaction_wanted(c, sig))
			continue;
		r = query(c, th, SYS_rt_sigaction, (uint64_t) sig, 0, th->data, 8, &res);
		if (r < 0)
			return r;
		if (res < 0)
			continue; /* signals glibc reserves still answer; anything else is absent */
		r = inject_read(&c->inj, th->data, &c->snap->proc.sigactions[sig - 1],
				sizeof(struct snapshot_sigaction));
		if (r < 0)
			return r;
	}
	return 0;
}

static uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t) ts->tv_sec * 1000000000ULL + (uint64_t) ts->tv_nsec;
}

/* Time left and interval of each POSIX timer, relative (timer_gettime's answer). */
static int query_timers(struct dump_ctx *c, struct inject_thread *th)
{
	struct snapshot_process *p = &c->snap->proc;

	for (size_t i = 0; i < p->n_timers; i++) {
		struct snapshot_timer *t = &p->timers[i];
		struct itimerspec v;
		int64_t res;
		int r;

		r = query(c, th, SYS_timer_gettime, (uint64_t) t->id, th->data, 0, 0, &res);
		if (r >= 0 && res < 0)
			r = log_error_errno((int) res, "Cannot read POSIX timer %d of PID %d: %m",
					    t->id, (int) c->pid);
		if (r >= 0)
			r = inject_read(&c->inj, th->data, &v, sizeof(v));
		if (r < 0)
			return r;
		t->interval_ns = timespec_ns(&v.it_interval);
		t->value_ns = timespec_ns(&v.it_value);
	}
	return 0;
}

static int query_process(struct dump_ctx *c, struct inject_thread *th)
{
	struct snapshot_process *p = &c->snap->proc;
	int64_t res;
	int r;

	r = query_sigactions(c, th);
	/* Not prlimit(): on another user's process it needs CAP_SYS_RESOURCE. */
	if (r >= 0 && (r = proc_read_limits(c->pid, p->rlimits)) < 0)
		return log_error_errno(r, "Cannot read /proc/%d/limits: %m", (int) c->pid);
	for (int i = 0; r >= 0 && i < 3; i++) {
		struct itimerval v;

		r = query(c, th, SYS_getitimer, (uint64_t) i, th->data, 0, 0, &res);
		if (r >= 0 && res == 0)
			r = inject_read(&c->inj, th->data, &v, sizeof(v));
		if (r >= 0 && res == 0) {
			p->itimers[i].interval_ns = (uint64_t) v.it_interval.tv_sec * 1000000000ULL +
						    (uint64_t) v.it_interval.tv_usec * 1000ULL;
			p->itimers[i].value_ns = (uint64_t) v.it_value.tv_sec * 1000000000ULL +
						 (uint64_t) v.it_value.tv_usec * 1000ULL;
		}
	}
	if (r >= 0)
		r = query_timers(c, th);
	if (r >= 0)
		r = query(c, th, SYS_brk, 0, 0, 0, 0, &res);
	if (r >= 0)
		p->mm.brk = (uint64_t) res;
	if (r >= 0)
		r = query(c, th, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, &res);
	if (r >= 0)
		p->dumpable = (int32_t) res;
	if (r >= 0)
		r = query(c, th, SYS_prctl, PR_GET_PDEATHSIG, th->data, 0, 0, &res);
	if (r >= 0 && res == 0)
		r = inject_read(&c->inj, th->data, &p->pdeathsig, sizeof(p->pdeathsig));
	if (r >= 0)
		r = query(c, th, SYS_arch_prctl, ARCH_GET_XCOMP_PERM, th->data, 0, 0, &res);
	if (r >= 0 && res == 0)
		r = inject_read(&c->inj, th->data, &p->xcomp_perm, sizeof(p->xcomp_perm));
	return r;
}

static int query_thread(struct dump_ctx *c, struct inject_thread *th, struct snapshot_thread *t)
{
	struct {
		uint64_t sp;
		int32_t flags;
		int32_t pad;
		uint64_t size;
	} ss;
	int64_t res;
	int r;

	r = query(c, th, SYS_sigaltstack, 0, th->data, 0, 0, &res);
	if (r >= 0 && res == 0)
		r = inject_read(&c->inj, th->data, &ss, sizeof(ss));
	if (r < 0)
		return r;
	t->altstack_sp = ss.sp;
	t->altstack_size = ss.size;
	t->altstack_flags = ss.flags;
	r = query(c, th, SYS_prctl, PR_GET_TID_ADDRESS, th->data, 0, 0, &res);
	if (r >= 0 && res == 0)
		r = inject_read(&c->inj, th->data, &t->clear_child_tid, sizeof(uint64_t));
	return r;
}

/* A scratch area mapped for a thread whose stack offers none (rare). */
static int map_scratch(struct dump_ctx *c, struct inject_thread *th)
{
	int64_t res;
	int r;

	r = INJECT(&c->inj, th, SYS_mmap, &res, 0, INJECT_AREA_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t) -1, 0);
	if (r < 0)
		return r;
	if (res < 0 && res > -4096)
		return (int) res;
	c->mmap_area = (uint64_t) res;
	return 0;
}

static int begin_thread(struct dump_ctx *c, size_t i)
{
	struct snapshot_thread *t = &c->snap->threads[i];
	struct inject_thread *th = &c->threads[i];
	uint64_t lo, hi;
	int r;

	if (stack_scratch(c, t->regs.rsp, &lo, &hi))
		return inject_thread_begin(&c->inj, t->tid, &t->regs, t->sigmask, t->xstate, lo, hi,
					   th);
	log_debug("thread %d is not on a stack ckptd recognises; using a scratch mapping",
		  t->tid);
	if (!c->mmap_area) {
		struct inject_thread tmp;

		/* No frame protects this one call: the thread's own rsp is all there is. */
		r = inject_thread_begin(&c->inj, t->tid, &t->regs, t->sigmask, NULL,
					t->regs.rsp - 128 - 8192, t->regs.rsp - 128, &tmp);
		if (r >= 0) {
			tmp.rsp = t->regs.rsp;
			r = map_scratch(c, &tmp);
		}
		if (r < 0) {
			*th = tmp;
			return r;
		}
		r = inject_thread_begin(&c->inj, t->tid, &t->regs, t->sigmask, t->xstate,
					c->mmap_area, c->mmap_area + INJECT_AREA_SIZE, th);
		th->at_syscall_stop = tmp.at_syscall_stop;
		return r;
	}
	return inject_thread_begin(&c->inj, t->tid, &t->regs, t->sigmask, t->xstate, c->mmap_area,
				   c->mmap_area + INJECT_AREA_SIZE, th);
}

int dump_injected_state(struct dump_ctx *c)
{
	uint64_t syscall_ip, restore_rt;
	int r;

	r = find_gadgets(c, &syscall_ip, &restore_rt);
	if (r < 0)
		return log_error_errno(r, "Cannot read the code of PID %d: %m", (int) c->pid);
	if (!syscall_ip)
		return log_error_errno(-EOPNOTSUPP,
				       "PID %d has no vDSO system call ckptd can borrow; it cannot "
				       "be checkpointed",
				       (int) c->pid);
	if (!restore_rt)
		log_debug("no __restore_rt in PID %d: a crash of ckptd mid-snapshot could harm it",
			  (int) c->pid);
	c->inj.syscall_ip = syscall_ip;
	c->inj.restore_rt = restore_rt;
	c->threads = new0(struct inject_thread, c->snap->n_threads);
	if (!c->threads)
		return log_oom();

	for (size_t i = 0; i < c->snap->n_threads; i++) {
		r = begin_thread(c, i);
		if (r < 0)
			return log_error_errno(r, "Cannot prepare thread %d for queries: %m",
					       (int) c->snap->threads[i].tid);
		r = 0;
		if (i == 0)
			r = query_process(c, &c->threads[0]);
		for (size_t k = 0; r >= 0 && i == 0 && k < c->n_stale; k++) {
			pid_t ns_pid = dump_ns_pid_of_child(c, c->stale[k]);
			int64_t res;

			if (ns_pid > 0)
				r = query(c, &c->threads[0], SYS_wait4, (uint64_t) ns_pid, 0,
					  __WALL | WNOHANG, 0, &res);
		}
		if (r >= 0)
			r = query_thread(c, &c->threads[i], &c->snap->threads[i]);
		if (r < 0)
			return r;
	}
	/* The threads stay prepared: the dump may still fork the target (dump-fork.c). */
	return 0;
}

void dump_uninject(struct dump_ctx *c)
{
	if (!c->threads)
		return;
	if (c->mmap_area) {
		int64_t res;

		(void) INJECT(&c->inj, &c->threads[0], SYS_munmap, &res, c->mmap_area,
			      INJECT_AREA_SIZE, 0, 0, 0, 0);
		c->mmap_area = 0;
	}
	for (size_t i = 0; i < c->snap->n_threads; i++) {
		struct inject_thread *th = &c->threads[i];
		int r;

		if (!th->changed)
			continue;
		r = inject_thread_end(&c->inj, th, &c->snap->threads[i].regs,
				      c->snap->threads[i].sigmask);
		if (r < 0)
			log_error_errno(r, "Cannot give thread %d its registers back: %m",
					(int) th->tid);
	}
}
