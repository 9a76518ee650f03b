// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Copy-on-write capture: the frozen target forks (an injected clone), the
 * target runs on at once, and its memory is read at leisure from the child,
 * a copy of that instant. The child never runs the target's code: it is
 * stopped by ptrace before its first instruction and killed when read, and
 * should ckptd die first, PTRACE_O_EXITKILL kills it, or, before that is
 * set, the few instructions it would run end in exit(). Its exit signal is
 * 0, so the target's wait() never sees it; ckptd reaps it from inside the
 * target, now or at the next snapshot.
 */
#define LOG_PREFIX "dump: "

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dump.h"
#include "log.h"
#include "ptrace.h"
#include "util.h"


/*
 * clone's return splits: the child exits in a loop, the target returns
 * through its sigreturn frame (the same ret the vDSO gadget ends in).
 *
 *	syscall
 *	test %rax, %rax
 *	jnz 1f
 * 0:	mov $60, %eax
 *	xor %edi, %edi
 *	syscall
 *	jmp 0b
 * 1:	ret
 */
static const uint8_t fork_code[] = {
	0x0f, 0x05, 0x48, 0x85, 0xc0, 0x75, 0x0b, 0xb8, 0x3c, 0x00, 0x00,
	0x00, 0x31, 0xff, 0x0f, 0x05, 0xeb, 0xf5, 0xc3,
};

static int map_code(struct dump_ctx *c, struct inject_thread *th, uint64_t *ret)
{
	int64_t res;
	int r;

	r = INJECT(&c->inj, th, SYS_mmap, &res, 0, PAGE_SIZE, PROT_READ | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t) -1, 0);
	if (r < 0)
		return r;
	if (res < 0 && res > -4096)
		return (int) res;
	r = inject_write(&c->inj, (uint64_t) res, fork_code, sizeof(fork_code));
	if (r < 0) {
		(void) INJECT(&c->inj, th, SYS_munmap, &res, (uint64_t) res, PAGE_SIZE, 0, 0, 0, 0);
		return r;
	}
	*ret = (uint64_t) res;
	return 0;
}

/* The child: held before its first instruction, and killed if we die. */
static int hold_child(pid_t child)
{
	int status, r;

	r = ptrace_wait_stop(child, 5000, &status);
	if (r < 0)
		return r;
	if (ptrace(PTRACE_SETOPTIONS, child, NULL,
		   (void *) (long) (SEIZE_OPTIONS | PTRACE_O_EXITKILL)) < 0)
		return -errno;
	return 0;
}

static int do_fork(struct dump_ctx *c, uint64_t code, pid_t *ret)
{
	struct inject_thread *th = &c->threads[0];
	pid_t leader = th->tid, child;
	int64_t res;
	int r;

	/* So that the child is ours from its first instant. */
	if (ptrace(PTRACE_SETOPTIONS, leader, NULL, (void *) (long) (SEIZE_OPTIONS |
								     PTRACE_O_TRACECLONE)) < 0)
		return -errno;
	th->child = 0;
	r = inject_syscall_at(&c->inj, th, code, SYS_clone, (const uint64_t[6]){ 0 }, &res);
	(void) ptrace(PTRACE_SETOPTIONS, leader, NULL, (void *) (long) SEIZE_OPTIONS);
	if (r < 0)
		return r;
	if (res < 0)
		return (int) res;
	/*
	 * clone returns the copy's PID where the target is, which its wait4
	 * needs, the clone event the one in ours, which ptrace and kill need:
	 * they differ in a PID namespace of the target's own.
	 */
	c->child_ns = (pid_t) res;
	child = th->child;
	if (child <= 0)
		return log_debug_errno(-ESRCH, "no clone event for the copy of PID %d", (int) c->pid);
	r = hold_child(child);
	if (r < 0) {
		(void) kill(child, SIGKILL);
		return r;
	}
	*ret = child;
	return 0;
}

/*
 * The copy is held right after its clone's syscall instruction, in our code
 * page, which the target unmapped but the copy still has: that instruction
 * runs the copy's calls (see dump-mem.c, why pages are dropped). The copy
 * never runs on, so its registers need no saving; every signal is blocked
 * in it (it forked while injected), so only SIGKILL reaches it.
 */
static void hold_for_drops(struct dump_ctx *c, uint64_t code)
{
	struct user_regs_struct regs;

	if (ptrace_get_regs(c->child, &regs) < 0) {
		c->drop_off = true;
		return;
	}
	c->child_code = code;
	c->child_th = (struct inject_thread){ .tid = c->child, .regs = regs, .rsp = regs.rsp };
}

int dump_child_drop(struct dump_ctx *c, uint64_t start, uint64_t end)
{
	int64_t res;
	int r;

	r = inject_syscall_at(&c->inj, &c->child_th, c->child_code, SYS_madvise,
			      (const uint64_t[6]){ start, end - start, MADV_DONTNEED }, &res);
	if (r < 0)
		return r;
	if (res < 0)
		log_debug("Cannot drop 0x%" PRIx64 "-0x%" PRIx64 " from the copy of PID %d: %s",
			  start, end, (int) c->pid, strerror((int) -res));
	return 0;
}

/*
 * A target that unshared CLONE_NEWPID and has not forked since puts its
 * next child in the new namespace as its init: the copy would be that
 * init, and its death would end the namespace before the target's own
 * first child. The kernel shows no pid_for_children link for a namespace
 * without an init yet. (Had the target forked, that child would be in
 * another PID namespace than the target's, which the dump refuses.)
 */
static bool copy_would_be_init(pid_t pid)
{
	int r;

	if (proc_same_ns(getpid(), "pid", getpid(), "pid_for_children") < 0)
		return false; /* a kernel without these links */
	r = proc_same_ns(pid, "pid", pid, "pid_for_children");
	return r == 0 || r == -ENOENT;
}

int dump_fork_child(struct dump_ctx *c)
{
	struct inject_thread *th = &c->threads[0];
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), code;
	int64_t res;
	pid_t child = 0;
	int r;

	if (copy_would_be_init(c->pid)) {
		log_warning("PID %d has made a PID namespace for its children and has no child "
			    "there yet; a copy would be its init, so PID %d stays frozen while its "
			    "memory is read",
			    (int) c->pid, (int) c->pid);
		return -EOPNOTSUPP;
	}
	r = map_code(c, th, &code);
	if (r >= 0) {
		r = do_fork(c, code, &child);
		(void) INJECT(&c->inj, th, SYS_munmap, &res, code, PAGE_SIZE, 0, 0, 0, 0);
	}
	if (r < 0) {
		log_warning_errno(r, "Cannot fork a copy of PID %d (%m); it stays frozen while its "
				     "memory is read",
				  (int) c->pid);
		return r;
	}
	c->child = child;
	hold_for_drops(c, code);
	log_debug("forked copy %d of PID %d in %" PRIu64 " us", (int) child, (int) c->pid,
		  (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

/* Ends the copy and collects its ptrace exit; the target is its parent and reaps it. */
void dump_kill_child(struct dump_ctx *c)
{
	int status;

	if (c->child <= 0)
		return;
	(void) kill(c->child, SIGKILL);
	while (ptrace_wait(c->child, 5000, &status) >= 0 && !WIFEXITED(status) &&
	       !WIFSIGNALED(status))
		(void) ptrace_cont(c->child, 0);
}

/*
 * The dead copy is a zombie child of the target, invisible to its wait()
 * (exit signal 0) but taking a PID: stop one thread of the target a moment
 * and have it collect the copy, by the number clone gave it there.
 */
int dump_reap_copy(struct dump_ctx *c)
{
	struct inject_thread th;
	struct user_regs_struct regs;
	uint64_t mask, lo, hi, start;
	pid_t tid = c->pid;
	int status, r;

	if (c->child_ns <= 0)
		return 0;
	r = ptrace_seize(tid, SEIZE_OPTIONS);
	if (r < 0)
		return r;
	/* A member that ended meanwhile may have had its PID given to someone else. */
	if (proc_start_time(tid, &start) < 0 || start != c->snap->proc.start_time) {
		r = -ESRCH;
		goto out;
	}
	r = ptrace_interrupt(tid);
	if (r >= 0)
		r = ptrace_wait_stop(tid, 5000, &status);
	if (r >= 0)
		r = ptrace_get_regs(tid, &regs);
	if (r >= 0)
		r = ptrace_get_sigmask(tid, &mask);
	if (r < 0)
		goto out;
	r = dump_thread_scratch(c, tid, &regs, &lo, &hi);
	if (r >= 0) {
		size_t xsize = c->snap->cpu.xstate_size;
		_cleanup_free_ uint8_t *x = malloc(xsize);

		r = x ? ptrace_get_xstate(tid, x, &xsize) : -ENOMEM;
		if (r >= 0)
			r = inject_thread_begin(&c->inj, tid, &regs, mask, x, lo, hi, &th);
	} else {
		/*
		 * Not on a stack we know (a clone() child on a heap stack): wait4 needs no
		 * memory, so it goes without a frame, like the scratch mapping's mmap.
		 */
		r = inject_thread_begin(&c->inj, tid, &regs, mask, NULL, regs.rsp - 128 - 8192,
					regs.rsp - 128, &th);
		th.rsp = regs.rsp;
	}
	if (r >= 0) {
		int64_t res;

		(void) INJECT(&c->inj, &th, SYS_wait4, &res, (uint64_t) c->child_ns, 0,
			      __WALL | WNOHANG, 0, 0, 0);
		r = inject_thread_end(&c->inj, &th, NULL, mask);
	}
out:
	(void) ptrace_detach(tid);
	return r;
}
