// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The process and its threads, once the memory is back: mm layout (brk,
 * arguments, auxv, exe), signal dispositions, timers, then each thread with
 * its saved TID and its own per-thread state, the queued signals, limits,
 * credentials, and last the registers. Then the trampoline goes and the
 * threads are let go through the kernel's signal path, so a syscall they
 * were in is restarted or fails with EINTR just as the kernel would decide.
 */
#define LOG_PREFIX "restore: "

#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "cpu.h"
#include "log.h"
#include "ptrace.h"
#include "restore.h"
#include "util.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define PR_SET_MM_MAP_OPT 14
#define SS_DISABLE_FLAG 2
#define SS_AUTODISARM_FLAG (1U << 31)
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define SECCOMP_SET_MODE_FILTER_OP 1
#define SECCOMP_FLAG_TSYNC 1
#define SECCOMP_FLAG_LOG 2
#define LINEAR_TIMER_FILLERS_MAX 65536
#define TID_RETRIES 200 /* 10 ms apart */

/* The kernel's sigevent: 64 bytes, the target TID first in its union. */
struct kernel_sigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

struct kernel_itimerspec {
	struct timespec interval, value;
};

struct kernel_sock_fprog {
	uint16_t len;
	uint16_t pad[3];
	uint64_t filter;
};

struct kernel_prctl_mm_map {
	uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv;
	uint32_t auxv_size;
	uint32_t exe_fd;
};

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

/* Runs nr in thread i; a failure of the call itself is an error naming what. */
static int call(struct restore_ctx *c, size_t i, const char *what, long nr, uint64_t a0,
		uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, int64_t *ret)
{
	int64_t res;
	int r = STUB_CALL(c, i, nr, &res, a0, a1, a2, a3, a4, 0);

	if (r < 0)
		return r;
	if (res < 0 && res > -4096)
		return log_error_errno((int) res, "%s failed in thread %d: %m", what,
				       (int) c->threads[i].tid);
	if (ret)
		*ret = res;
	return 0;
}

static int restore_mm(struct restore_ctx *c)
{
	const struct snapshot_process *p = &c->snap->proc;
	struct kernel_prctl_mm_map m = {
		.start_code = p->mm.start_code,
		.end_code = p->mm.end_code,
		.start_data = p->mm.start_data,
		.end_data = p->mm.end_data,
		.start_brk = p->mm.start_brk,
		.brk = p->mm.brk,
		.start_stack = p->mm.start_stack,
		.arg_start = p->mm.arg_start,
		.arg_end = p->mm.arg_end,
		.env_start = p->mm.env_start,
		.env_end = p->mm.env_end,
		.auxv_size = (uint32_t) p->auxv_size,
		.exe_fd = p->exe_file == SNAPSHOT_NONE ? UINT32_MAX
						       : (uint32_t)(c->stub_fd_base + (int) p->exe_file),
	};
	uint64_t auxv_addr, map_addr;
	int r;

	r = restore_put(c, 0, p->auxv, p->auxv_size, &auxv_addr);
	if (r < 0)
		return r;
	m.auxv = auxv_addr;
	r = restore_put(c, ALIGN_TO(p->auxv_size, (size_t) 64), &m, sizeof(m), &map_addr);
	if (r < 0)
		return r;
	return call(c, 0, "Setting the memory layout (PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM,
		    PR_SET_MM_MAP_OPT, map_addr, sizeof(m), 0, NULL);
}

static int restore_sigactions(struct restore_ctx *c)
{
	for (int sig = 1; sig <= SNAPSHOT_NSIG; sig++) {
		const struct snapshot_sigaction *a = &c->snap->proc.sigactions[sig - 1];
		uint64_t addr;
		int r;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		r = restore_put(c, 0, a, sizeof(*a), &addr);
		if (r >= 0)
			r = call(c, 0, "Setting a signal handler", SYS_rt_sigaction, (uint64_t) sig,
				 addr, 0, 8, 0, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int restore_itimers(struct restore_ctx *c)
{
	for (int i = 0; i < 3; i++) {
		const struct snapshot_itimer *t = &c->snap->proc.itimers[i];
		struct itimerval v = {
			.it_interval = { (time_t)(t->interval_ns / 1000000000ULL),
					 (suseconds_t)(t->interval_ns % 1000000000ULL / 1000) },
			.it_value = { (time_t)(t->value_ns / 1000000000ULL),
				      (suseconds_t)(t->value_ns % 1000000000ULL / 1000) },
		};
		uint64_t addr;
		int r;

		if (!t->value_ns)
			continue;
		if (v.it_value.tv_sec == 0 && v.it_value.tv_usec == 0)
			v.it_value.tv_usec = 1; /* less than a microsecond left: fire at once */
		r = restore_put(c, 0, &v, sizeof(v), &addr);
		if (r >= 0)
			r = call(c, 0, "Setting an interval timer", SYS_setitimer, (uint64_t) i,
				 addr, 0, 0, 0, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

int restore_process_state(struct restore_ctx *c)
{
	const struct snapshot_process *p = &c->snap->proc;
	int r;

	r = restore_mm(c);
	if (r >= 0)
		r = restore_sigactions(c);
	if (r >= 0)
		r = restore_itimers(c);
	if (r >= 0 && p->personality)
		r = call(c, 0, "Setting the personality", SYS_personality, p->personality, 0, 0, 0,
			 0, NULL);
	if (r >= 0 && p->xcomp_perm & (1ULL << XFEATURE_XTILEDATA))
		r = call(c, 0, "Requesting AMX state", SYS_arch_prctl, ARCH_REQ_XCOMP_PERM,
			 XFEATURE_XTILEDATA, 0, 0, 0, NULL);
	return r;
}

static struct timespec ns_timespec(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ULL), (long) (ns % 1000000000ULL) };
}

/*
 * timer_create() in the main thread. With PR_TIMER_CREATE_RESTORE_IDS on,
 * the kernel takes the id from *created_timer_id instead of choosing one.
 */
static int create_timer(struct restore_ctx *c, const struct snapshot_timer *t, int32_t *ret_id)
{
	struct kernel_sigevent ev = {
		.value = t->value, .signo = t->signo, .notify = t->notify, .tid = t->tid
	};
	uint64_t ev_addr, id_addr;
	int32_t id = t->id;
	int r;

	r = restore_put(c, 0, &ev, sizeof(ev), &ev_addr);
	if (r >= 0)
		r = restore_put(c, 64, &id, sizeof(id), &id_addr);
	if (r >= 0)
		r = call(c, 0, "Creating a POSIX timer", SYS_timer_create,
			 (uint64_t)(int64_t) t->clock, ev_addr, id_addr, 0, 0, NULL);
	if (r >= 0)
		r = inject_read(&c->inj, id_addr, ret_id, sizeof(*ret_id));
	return r;
}

static int arm_timer(struct restore_ctx *c, const struct snapshot_timer *t)
{
	struct kernel_itimerspec v = { ns_timespec(t->interval_ns), ns_timespec(t->value_ns) };
	uint64_t addr;
	int r;

	if (!t->value_ns)
		return 0;
	r = restore_put(c, 0, &v, sizeof(v), &addr);
	if (r >= 0)
		r = call(c, 0, "Arming a POSIX timer", SYS_timer_settime, (uint64_t) t->id,
			 /* flags= */ 0, addr, 0, 0, NULL);
	return r;
}

/*
 * Before Linux 6.13 there is no way to ask for an id: ids come in order, so
 * timers are created in id order and the gaps filled with timers deleted
 * afterwards. A kernel that hands out another id is refused.
 */
static int create_timers_linear(struct restore_ctx *c)
{
	_cleanup_free_ int32_t *fillers = NULL;
	size_t n_fillers = 0, allocated = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < c->snap->proc.n_timers; i++) {
		const struct snapshot_timer *t = &c->snap->proc.timers[i];
		int32_t id = -1;

		while (r >= 0 && (r = create_timer(c, t, &id)) >= 0 && id < t->id) {
			if (n_fillers >= LINEAR_TIMER_FILLERS_MAX ||
			    GROW(fillers, allocated, n_fillers + 1) < 0)
				r = log_error_errno(-E2BIG, "Too many gaps before POSIX timer id %d",
						    t->id);
			else
				fillers[n_fillers++] = id;
		}
		if (r >= 0 && id != t->id)
			r = log_error_errno(-EEXIST,
					    "This kernel gave POSIX timer id %d where %d was saved; "
					    "it lacks PR_TIMER_CREATE_RESTORE_IDS (Linux 6.13)",
					    id, t->id);
	}
	for (size_t k = 0; r >= 0 && k < n_fillers; k++)
		r = call(c, 0, "Deleting a placeholder timer", SYS_timer_delete,
			 (uint64_t) fillers[k], 0, 0, 0, 0, NULL);
	return r;
}

/*
 * After the threads exist (a SIGEV_THREAD_ID timer names one) and their
 * queued signals are back: each timer gets its saved id and the time it had
 * left, relative to now.
 */
static int restore_timers(struct restore_ctx *c)
{
	const struct snapshot_process *p = &c->snap->proc;
	int64_t res;
	int r = 0;

	if (!p->n_timers)
		return 0;
	r = STUB_CALL(c, 0, SYS_prctl, &res, PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0, 0);
	if (r < 0)
		return r;
	if (res == -EINVAL)
		r = create_timers_linear(c);
	else if (res < 0)
		return log_error_errno((int) res, "PR_TIMER_CREATE_RESTORE_IDS failed: %m");
	for (size_t i = 0; res == 0 && r >= 0 && i < p->n_timers; i++) {
		int32_t id;

		r = create_timer(c, &p->timers[i], &id);
		if (r >= 0 && id != p->timers[i].id)
			r = log_error_errno(-EEXIST, "POSIX timer %d came back as %d",
					    p->timers[i].id, id);
	}
	if (res == 0 && r >= 0)
		r = call(c, 0, "Ending PR_TIMER_CREATE_RESTORE_IDS", SYS_prctl,
			 PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0, NULL);
	for (size_t i = 0; r >= 0 && i < p->n_timers; i++)
		r = arm_timer(c, &p->timers[i]);
	return r;
}

static bool tid_visible(pid_t tid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int) tid);
	return access(path, F_OK) == 0;
}

static int create_thread(struct restore_ctx *c, size_t i)
{
	struct snapshot_thread *t = &c->snap->threads[i];
	struct user_regs_struct regs;
	struct clone_args_v2 args = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			 CLONE_SYSVSEM,
		.set_tid_size = 1,
	};
	uint64_t tid = (uint64_t) t->tid, tid_addr, args_addr;
	int64_t res;
	pid_t ours;
	int status, r;

	r = restore_put(c, 0, &tid, sizeof(tid), &tid_addr);
	if (r < 0)
		return r;
	/* The thread never runs on this stack: it stops before its first instruction. */
	args.stack = c->tramp_data + c->tramp_data_size / 2;
	args.stack_size = PAGE_SIZE;
	args.set_tid = tid_addr;
	r = restore_put(c, 64, &args, sizeof(args), &args_addr);
	if (r < 0)
		return r;
	for (int tries = 0;; tries++) {
		r = STUB_CALL(c, 0, SYS_clone3, &res, args_addr, sizeof(args), 0, 0, 0, 0);
		if (r < 0)
			return r;
		/*
		 * A thread of a process killed just before this restore can hold
		 * its id a moment after /proc stopped showing it: wait for it.
		 */
		if (res != -EEXIST || tries >= TID_RETRIES || tid_visible(t->tid))
			break;
		(void) usleep(10000);
	}
	if (res == -EEXIST)
		return restore_pid_in_use(c->tree, t->tid, true, /* just_now= */ true);
	if (res < 0)
		return log_error_errno((int) res, "Cannot create thread %d: %m", (int) t->tid);
	/* clone3() said the id in the process's PID namespace; ptrace wants ours. */
	r = restore_our_tid(c, (pid_t) res, &ours);
	if (r >= 0)
		r = ptrace_wait_stop(ours, 5000, &status);
	if (r >= 0)
		r = ptrace_get_regs(ours, &regs);
	if (r >= 0)
		r = inject_thread_begin(&c->inj, ours, &regs, ~0ULL, NULL, c->tramp_data,
					c->tramp + RESTORE_TRAMP_SIZE, &c->threads[i]);
	if (r < 0)
		return log_error_errno(r, "Cannot take control of new thread %d: %m", (int) t->tid);
	return 0;
}

/*
 * The kernel takes tile data through ptrace only once the thread's FPU
 * buffer has grown, which its first AMX instruction does: run one.
 */
static int amx_warm_up(struct restore_ctx *c, size_t i)
{
	const struct snapshot_thread *t = &c->snap->threads[i];
	uint8_t cfg[64] = { 1 }; /* palette 1, tmm0: 16 rows of 64 bytes */
	uint64_t cfg_addr;
	int64_t res;
	int r;

	if (!(cpu_xstate_bv(t->xstate, t->xstate_size) & (1ULL << XFEATURE_XTILEDATA)))
		return 0;
	cfg[16] = 64;
	cfg[48] = 16;
	r = restore_put(c, 0, cfg, sizeof(cfg), &cfg_addr);
	if (r >= 0)
		r = inject_syscall_at(&c->inj, &c->threads[i], c->tramp + RESTORE_TRAMP_AMX,
				      SYS_getpid, (const uint64_t[6]){ cfg_addr }, &res);
	if (r < 0)
		return log_error_errno(r, "Cannot prepare the AMX state of thread %d: %m",
				       (int) t->tid);
	return 0;
}

static int thread_setup(struct restore_ctx *c, size_t i)
{
	const struct snapshot_thread *t = &c->snap->threads[i];
	uint64_t addr;
	int r = 0;

	if (t->robust_list)
		r = call(c, i, "set_robust_list", SYS_set_robust_list, t->robust_list,
			 t->robust_list_len, 0, 0, 0, NULL);
	if (r >= 0)
		r = call(c, i, "set_tid_address", SYS_set_tid_address, t->clear_child_tid, 0, 0,
			 0, 0, NULL);
	if (r >= 0 && !(t->altstack_flags & SS_DISABLE_FLAG)) {
		struct {
			uint64_t sp;
			int32_t flags, pad;
			uint64_t size;
		} ss = { t->altstack_sp, (int32_t)((uint32_t) t->altstack_flags & SS_AUTODISARM_FLAG),
			 0, t->altstack_size };

		r = restore_put(c, 0, &ss, sizeof(ss), &addr);
		if (r >= 0)
			r = call(c, i, "sigaltstack", SYS_sigaltstack, addr, 0, 0, 0, 0, NULL);
	}
	if (r >= 0 && t->rseq.abi_pointer)
		r = call(c, i, "Registering rseq", SYS_rseq, t->rseq.abi_pointer, t->rseq.size, 0,
			 t->rseq.signature, 0, NULL);
	if (r >= 0)
		r = restore_put(c, 0, t->comm, sizeof(t->comm), &addr);
	if (r >= 0)
		r = call(c, i, "Naming the thread", SYS_prctl, PR_SET_NAME, addr, 0, 0, 0, NULL);
	if (r >= 0)
		r = amx_warm_up(c, i);
	return r;
}

static int queue_signals(struct restore_ctx *c)
{
	const struct snapshot *s = c->snap;
	int r = 0;

	/* Sent from the main thread: the kernel lets a process queue any siginfo to itself. */
	for (size_t i = 0; r >= 0 && i < s->n_threads; i++)
		for (size_t k = 0; r >= 0 && k < s->threads[i].n_pending; k++) {
			const struct snapshot_siginfo *si = &s->threads[i].pending[k];
			int32_t sig;
			uint64_t addr;

			memcpy(&sig, si->bytes, sizeof(sig));
			r = restore_put(c, 0, si, sizeof(*si), &addr);
			if (r >= 0)
				r = call(c, 0, "Queueing a signal", SYS_rt_tgsigqueueinfo,
					 (uint64_t) s->proc.pid, (uint64_t) s->threads[i].tid,
					 (uint64_t) sig, addr, 0, NULL);
		}
	for (size_t k = 0; r >= 0 && k < s->proc.n_pending; k++) {
		const struct snapshot_siginfo *si = &s->proc.pending[k];
		int32_t sig;
		uint64_t addr;

		memcpy(&sig, si->bytes, sizeof(sig));
		r = restore_put(c, 0, si, sizeof(*si), &addr);
		if (r >= 0)
			r = call(c, 0, "Queueing a signal", SYS_rt_sigqueueinfo,
				 (uint64_t) s->proc.pid, (uint64_t) sig, addr, 0, 0, NULL);
	}
	return r;
}

int restore_threads(struct restore_ctx *c)
{
	int r;

	for (size_t i = 1; i < c->snap->n_threads; i++) {
		r = create_thread(c, i);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->snap->n_threads; i++) {
		r = thread_setup(c, i);
		if (r < 0)
			return r;
	}
	r = queue_signals(c);
	if (r >= 0)
		r = restore_timers(c);
	return r;
}

static void restore_rlimits(struct restore_ctx *c)
{
	for (int i = 0; i < RLIM_NLIMITS; i++)
		if (prlimit(c->pid, (__rlimit_resource_t) i, &c->snap->proc.rlimits[i], NULL) < 0)
			log_warning_errno(-errno, "Cannot restore resource limit %d: %m", i);
}

static int drop_bounding(struct restore_ctx *c, size_t i)
{
	uint64_t keep = c->snap->proc.cap_bounding;

	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		int64_t res;
		int r;

		if (keep & (1ULL << cap))
			continue;
		r = STUB_CALL(c, i, SYS_prctl, &res, PR_CAPBSET_DROP, (uint64_t) cap, 0, 0, 0, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Credentials are per thread in Linux: each one gets the saved set. */
static int restore_creds(struct restore_ctx *c, size_t i)
{
	const struct snapshot_process *p = &c->snap->proc;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t) p->cap_effective, (uint32_t) p->cap_permitted,
		  (uint32_t) p->cap_inheritable },
		{ (uint32_t)(p->cap_effective >> 32), (uint32_t)(p->cap_permitted >> 32),
		  (uint32_t)(p->cap_inheritable >> 32) },
	};
	uint64_t groups_addr, hdr_addr, data_addr;
	int r;

	r = drop_bounding(c, i);
	if (r >= 0)
		r = restore_put(c, 0, p->groups, p->n_groups * sizeof(gid_t), &groups_addr);
	if (r >= 0)
		r = call(c, i, "setgroups", SYS_setgroups, p->n_groups, groups_addr, 0, 0, 0, NULL);
	if (r >= 0)
		r = call(c, i, "setresgid", SYS_setresgid, p->gid[0], p->gid[1], p->gid[2], 0, 0,
			 NULL);
	if (r >= 0)
		(void) call(c, i, "setfsgid", SYS_setfsgid, p->gid[3], 0, 0, 0, 0, NULL);
	if (r >= 0)
		r = call(c, i, "Keeping capabilities", SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, NULL);
	if (r >= 0)
		r = call(c, i, "setresuid", SYS_setresuid, p->uid[0], p->uid[1], p->uid[2], 0, 0,
			 NULL);
	if (r >= 0)
		(void) call(c, i, "setfsuid", SYS_setfsuid, p->uid[3], 0, 0, 0, 0, NULL);
	if (r >= 0)
		r = restore_put(c, 512, &hdr, sizeof(hdr), &hdr_addr);
	if (r >= 0)
		r = restore_put(c, 576, data, sizeof(data), &data_addr);
	if (r >= 0)
		r = call(c, i, "capset", SYS_capset, hdr_addr, data_addr, 0, 0, 0, NULL);
	for (int cap = 0; r >= 0 && cap <= CAP_LAST_CAP; cap++)
		if (p->cap_ambient & (1ULL << cap))
			r = call(c, i, "Raising an ambient capability", SYS_prctl, PR_CAP_AMBIENT,
				 PR_CAP_AMBIENT_RAISE, (uint64_t) cap, 0, 0, NULL);
	if (r >= 0)
		r = call(c, i, "Resetting keepcaps", SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, NULL);
	if (r >= 0 && p->no_new_privs)
		r = call(c, i, "Setting no_new_privs", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0,
			 NULL);
	return r;
}

static int install_filter(struct restore_ctx *c, size_t i, uint32_t index, bool tsync)
{
	const struct snapshot_filter *f = &c->snap->filters[index];
	struct kernel_sock_fprog prog = { .len = (uint16_t) f->n_insns };
	uint64_t insns_addr, prog_addr;
	int64_t res;
	int r;

	r = restore_put(c, 64, f->insns, f->n_insns * sizeof(uint64_t), &insns_addr);
	if (r < 0)
		return r;
	prog.filter = insns_addr;
	r = restore_put(c, 0, &prog, sizeof(prog), &prog_addr);
	if (r >= 0)
		r = call(c, i, "Installing a seccomp filter", SYS_seccomp,
			 SECCOMP_SET_MODE_FILTER_OP,
			 (f->flags & SECCOMP_FLAG_LOG) | (tsync ? SECCOMP_FLAG_TSYNC : 0), prog_addr,
			 0, 0, &res);
	if (r >= 0 && res > 0) /* TSYNC names the thread it could not sync */
		r = log_error_errno(-EBUSY, "Thread %d did not take a shared seccomp filter",
				    (int) res);
	return r;
}

/* How many filters, oldest first, every thread shares. */
static size_t shared_filters(const struct snapshot *s)
{
	size_t n = s->threads[0].n_seccomp;

	for (size_t i = 1; i < s->n_threads; i++) {
		size_t k = 0;

		while (k < n && k < s->threads[i].n_seccomp &&
		       s->threads[i].seccomp[k] == s->threads[0].seccomp[k])
			k++;
		n = k;
	}
	return n;
}

/* Filters installed per thread past the shared ones, copies included. */
static size_t count_suffixes(const struct snapshot *s, size_t shared)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_threads; i++)
		n += s->threads[i].n_seccomp - shared;
	return n;
}

/*
 * Filters go on once the stub needs nothing more that a filter could
 * forbid: every later call we inject passes because the threads are traced
 * with PTRACE_O_SUSPEND_SECCOMP, which ends at detach. They go on before the
 * credentials drop, since without no_new_privs seccomp() needs
 * CAP_SYS_ADMIN. Filters every thread shares are installed once from the
 * main thread with TSYNC, which makes them one filter again; the rest per
 * thread, so only filters some but not all threads share are copied.
 */
static int restore_seccomp(struct restore_ctx *c)
{
	const struct snapshot *s = c->snap;
	size_t shared;
	int r = 0;

	if (!s->n_filters)
		return 0;
	for (size_t i = 0; i < s->n_threads; i++)
		if (ptrace(PTRACE_SETOPTIONS, c->threads[i].tid, NULL,
			   (void *) (long) (RESTORE_STUB_OPTIONS | PTRACE_O_SUSPEND_SECCOMP)) < 0)
			return log_error_errno(-errno,
					       "Cannot restore seccomp filters: tracing thread %d "
					       "with PTRACE_O_SUSPEND_SECCOMP failed (ckptd needs "
					       "CAP_SYS_ADMIN and no seccomp filter of its own): %m",
					       (int) s->threads[i].tid);
	shared = shared_filters(s);
	log_debug("seccomp: %zu filters, %zu shared by every thread", s->n_filters, shared);
	if (shared + count_suffixes(s, shared) > s->n_filters)
		log_warning("Seccomp filters some threads of PID %d shared are restored as copies "
			    "per thread: they filter alike, but a later TSYNC may fail",
			    (int) s->proc.pid);
	for (size_t k = 0; r >= 0 && k < shared; k++)
		r = install_filter(c, 0, s->threads[0].seccomp[k], /* tsync= */ true);
	for (size_t i = 0; r >= 0 && i < s->n_threads; i++)
		for (size_t k = shared; r >= 0 && k < s->threads[i].n_seccomp; k++)
			r = install_filter(c, i, s->threads[i].seccomp[k], /* tsync= */ false);
	return r;
}

static int final_xstate(struct restore_ctx *c, size_t i)
{
	const struct snapshot_thread *t = &c->snap->threads[i];
	_cleanup_free_ uint8_t *x = NULL;
	int r;

	if (c->snap->cpu.xstate_size == c->cpu.xstate_size &&
	    memcmp(c->snap->cpu.xfeature_offset, c->cpu.xfeature_offset,
		   sizeof(c->cpu.xfeature_offset)) == 0)
		r = ptrace_set_xstate(c->threads[i].tid, t->xstate, t->xstate_size);
	else {
		x = malloc(c->cpu.xstate_size);
		if (!x)
			return log_oom();
		cpu_convert_xstate(&c->snap->cpu, t->xstate, &c->cpu, x);
		r = ptrace_set_xstate(c->threads[i].tid, x, c->cpu.xstate_size);
	}
	if (r < 0)
		return log_error_errno(r, "Cannot set the FPU/vector state of thread %d: %m",
				       (int) t->tid);
	return 0;
}

static int let_go(struct restore_ctx *c, size_t i)
{
	const struct snapshot_thread *t = &c->snap->threads[i];
	int r = final_xstate(c, i);

	if (r >= 0)
		r = inject_thread_end(&c->inj, &c->threads[i], &t->regs, t->sigmask);
	if (r < 0)
		return log_error_errno(r, "Cannot give thread %d its registers: %m", (int) t->tid);
	return 0;
}

/*
 * Ours (the stub dies with its parent) gives way to the process's own. But
 * the root's parent is now ckptd, which exits: the root keeps its signal
 * only under --pidns, where its parent is the namespace's init.
 */
static int restored_pdeathsig(const struct restore_ctx *c)
{
	const struct snapshot_process *p = &c->snap->proc;

	if (!p->pdeathsig || c->index > 0 || c->opts->pidns)
		return p->pdeathsig;
	log_warning("PID %d asked for signal %d when its parent dies; its parent is now ckptd, "
		    "which ends next, so it comes back without it",
		    (int) p->pid, p->pdeathsig);
	return 0;
}

int restore_finish(struct restore_ctx *c)
{
	const struct snapshot_process *p = &c->snap->proc;
	int64_t res;
	int r;

	/* Only ours: a table shared with another process of the tree holds its range too. */
	r = call(c, 0, "Closing ckptd's fds", SYS_close_range, (uint64_t) c->stub_fd_base,
		 (uint64_t) c->stub_fd_end - 1, 0, 0, 0, NULL);
	if (r < 0)
		return r;
	restore_rlimits(c);
	r = restore_seal_files(c);
	if (r >= 0)
		r = restore_seccomp(c);
	for (size_t i = 0; r >= 0 && i < c->snap->n_threads; i++)
		r = restore_creds(c, i);
	if (r >= 0)
		r = call(c, 0, "Setting dumpable", SYS_prctl, PR_SET_DUMPABLE,
			 (uint64_t) p->dumpable, 0, 0, 0, NULL);
	if (r >= 0)
		r = call(c, 0, "Setting the parent-death signal", SYS_prctl, PR_SET_PDEATHSIG,
			 (uint64_t) restored_pdeathsig(c), 0, 0, 0, NULL);
	for (size_t i = 1; r >= 0 && i < c->snap->n_threads; i++)
		r = let_go(c, i);
	if (r < 0)
		return r;
	/* Returns into the unmapped page, but the thread is stopped at the syscall's exit. */
	r = STUB_CALL(c, 0, SYS_munmap, &res, c->tramp, RESTORE_TRAMP_SIZE, 0, 0, 0, 0);
	if (r < 0)
		return r;
	return let_go(c, 0);
}

void restore_release(struct restore_ctx *c)
{
	for (size_t i = 0; i < c->snap->n_threads; i++)
		(void) ptrace_detach(c->threads[i].tid);
}
