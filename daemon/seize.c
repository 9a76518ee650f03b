// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Target checks and freezing (see seize.h). The errors here are the first a
 * user meets, so each says what the process is and what to do instead.
 */
#define LOG_PREFIX "seize: "

#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "log.h"
#include "proc.h"
#include "ptrace.h"
#include "seize.h"
#include "timens.h"
#include "util.h"

#define PF_KTHREAD 0x00200000
#define PF_EXITING 0x00000004

/*
 * A time namespace is allowed: its clocks are recorded and recreated
 * (timens.c). So is a PID namespace of the root's own (a job restored with
 * --pidns): the PIDs it has there are saved (dump-pidns.c). Every other
 * member shares all of the root's.
 */
static int check_namespaces(pid_t pid, pid_t root)
{
	static const char *const kinds[] = { "pid", "mnt", "user", "net", "ipc", "uts" };

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		if (pid == root && strcmp(kinds[i], "pid") == 0)
			continue;
		/* Not 0: the same, or a kernel without that namespace kind. */
		if (proc_same_ns(pid, kinds[i], pid == root ? getpid() : root, kinds[i]) != 0)
			continue;
		if (pid == root)
			return log_error_errno(-EOPNOTSUPP,
					       "PID %d runs in another %s namespace (a container?); "
					       "ckptd checkpoints processes in its own namespaces only",
					       (int) pid, kinds[i]);
		return log_error_errno(-EOPNOTSUPP,
				       "PID %d, a descendant of PID %d, runs in a %s namespace of its "
				       "own; ckptd checkpoints a tree whose processes share their "
				       "namespaces",
				       (int) pid, (int) root, kinds[i]);
	}
	return 0;
}

/* PID 1 of a namespace is a container's init, whose namespace would end with it. */
static int check_not_ns_init(pid_t pid, const struct proc_status *st)
{
	if (st->n_nspid < 2 || st->nspid[st->n_nspid - 1] != 1)
		return 0;
	return log_error_errno(-EOPNOTSUPP, "PID %d is the init (PID 1) of a PID namespace of its "
					    "own (a container?); ckptd does not checkpoint a "
					    "namespace's init",
			       (int) pid);
}

static int check_tracer(pid_t pid, pid_t tracer)
{
	_cleanup_free_ char *comm = NULL, *path = strdup_printf("/proc/%d/comm", (int) tracer);
	size_t n;

	if (tracer == 0)
		return 0;
	if (path && read_full_file_at(AT_FDCWD, path, 64, &comm, &n) >= 0 && n > 0)
		comm[strcspn(comm, "\n")] = 0;
	return log_error_errno(-EBUSY,
			       "PID %d is already traced by PID %d (%s); detach the debugger or "
			       "tracer first",
			       (int) pid, (int) tracer, comm ? comm : "?");
}

int seize_check(pid_t pid, pid_t root)
{
	struct proc_status st = {};
	struct proc_stat ps;
	int r;

	if (pid == 1)
		return log_error_errno(-EPERM, "PID 1 is the init process; ckptd does not "
					       "checkpoint init");
	if (pid == getpid())
		return log_error_errno(-EINVAL, "PID %d is ckptd itself; a process cannot "
					       "checkpoint itself", (int) pid);
	r = proc_read_stat(pid, &ps);
	if (r == -ESRCH || r == -ENOENT)
		return log_error_errno(-ESRCH, "There is no process with PID %d", (int) pid);
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/stat: %m", (int) pid);
	if (ps.flags & PF_KTHREAD)
		return log_error_errno(-EPERM, "PID %d (%s) is a kernel thread; only user "
					       "processes can be checkpointed",
				       (int) pid, ps.comm);
	if (ps.state == 'Z' || ps.state == 'X')
		return log_error_errno(-ESRCH, "PID %d (%s) is a zombie: it has exited and "
					       "only waits for its parent to collect it",
				       (int) pid, ps.comm);
	r = proc_read_status(pid, &st);
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/status: %m", (int) pid);
	if (st.tgid != pid) {
		r = log_error_errno(-EINVAL, "%d is a thread of process %d; give the process id",
				    (int) pid, (int) st.tgid);
		goto out;
	}
	if (st.kthread == 1) {
		r = log_error_errno(-EPERM, "PID %d is a kernel thread; only user processes can "
					    "be checkpointed", (int) pid);
		goto out;
	}
	r = check_tracer(pid, st.tracer_pid);
	if (r >= 0)
		r = check_not_ns_init(pid, &st);
	if (r >= 0)
		r = check_namespaces(pid, root);
	if (r >= 0)
		r = timens_check(pid);
out:
	proc_status_done(&st);
	return r;
}

static bool seized_has(const struct seized *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

static void seized_drop(struct seized *s, size_t i)
{
	memmove(&s->threads[i], &s->threads[i + 1], (s->n_threads - i - 1) * sizeof(*s->threads));
	s->n_threads--;
}

static int describe_stuck(pid_t pid, pid_t tid, int timeout_ms)
{
	char path[64];
	_cleanup_free_ char *wchan = NULL;
	struct proc_stat ps = {};

	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", (int) pid, (int) tid);
	(void) read_full_file_at(AT_FDCWD, path, 256, &wchan, NULL);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
	{
		_cleanup_free_ char *buf = NULL;
		size_t n;

		if (read_full_file_at(AT_FDCWD, path, 4096, &buf, &n) >= 0)
			(void) proc_stat_parse(buf, n, &ps);
	}
	return log_error_errno(-ETIMEDOUT,
			       "Thread %d of PID %d did not stop within %d ms (state %c%s%s%s); "
			       "it is probably in an uninterruptible wait (slow disk or network "
			       "file system). Try again later",
			       (int) tid, (int) pid, timeout_ms, ps.state ? ps.state : '?',
			       wchan && *wchan ? ", waiting in " : "", wchan ? wchan : "",
			       ps.state == 'D' ? ", uninterruptible" : "");
}

/*
 * PTRACE_SEIZE refuses a thread that has begun to exit with EPERM, as it
 * does one it may not trace: a tree's short-lived children often are.
 */
static bool thread_exiting(pid_t pid, pid_t tid)
{
	_cleanup_free_ char *buf = NULL;
	struct proc_stat ps;
	char path[64];
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
	if (read_full_file_at(AT_FDCWD, path, 4096, &buf, &len) < 0)
		return true; /* gone already */
	return proc_stat_parse(buf, len, &ps) >= 0 &&
	       ((ps.flags & PF_EXITING) || ps.state == 'Z' || ps.state == 'X');
}

/* Seizes and interrupts the threads not yet held; 1 if any was new. */
static int seize_new_threads(struct seized *s, int timeout_ms)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n, first_new = s->n_threads;
	int r;

	r = proc_read_tids(s->pid, &tids, &n);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	for (size_t i = 0; i < n; i++) {
		if (seized_has(s, tids[i]))
			continue;
		/* Until it stops it runs its own code: seccomp stays on till then. */
		r = ptrace_seize(tids[i], SEIZE_OPTIONS_RUNNING);
		if (r == -EPERM && thread_exiting(s->pid, tids[i]))
			r = -ESRCH; /* a main thread missing is said below */
		if (r == -ESRCH)
			continue; /* exited meanwhile */
		if (r == -EPERM)
			return log_error_errno(r, "Cannot attach to thread %d of PID %d: it is "
						  "traced by someone else or not accessible",
					       (int) tids[i], (int) s->pid);
		if (r < 0)
			return log_error_errno(r, "Cannot attach to thread %d of PID %d: %m",
					       (int) tids[i], (int) s->pid);
		if (GROW(s->threads, s->allocated, s->n_threads + 1) < 0) {
			(void) ptrace_detach(tids[i]);
			return log_oom();
		}
		s->threads[s->n_threads++] = (struct seized_thread){ .tid = tids[i] };
		(void) ptrace_interrupt(tids[i]);
	}
	for (size_t i = first_new; i < s->n_threads;) {
		r = ptrace_wait_stop(s->threads[i].tid, timeout_ms, &s->threads[i].status);
		if (r == -ETIMEDOUT)
			return describe_stuck(s->pid, s->threads[i].tid, timeout_ms);
		if (r == -ESRCH) {
			if (s->threads[i].tid == s->pid)
				return -ESRCH; /* the caller says so, if it matters */
			seized_drop(s, i); /* the thread exited */
			continue;
		}
		if (r >= 0 && ptrace(PTRACE_SETOPTIONS, s->threads[i].tid, NULL,
				     (void *) (long) SEIZE_OPTIONS) < 0)
			r = -errno;
		if (r < 0)
			return log_error_errno(r, "Waiting for thread %d to stop failed: %m",
					       (int) s->threads[i].tid);
		i++;
	}
	return s->n_threads > first_new;
}

static void leader_first(struct seized *s)
{
	for (size_t i = 1; i < s->n_threads; i++)
		if (s->threads[i].tid == s->pid) {
			struct seized_thread t = s->threads[i];

			s->threads[i] = s->threads[0];
			s->threads[0] = t;
		}
}

int seize_process(pid_t pid, int timeout_ms, struct seized **ret)
{
	struct seized *s = new0(struct seized, 1);
	int r;

	if (!s)
		return log_oom();
	s->pid = pid;
	/* Until a pass finds no new thread: one may have been cloned meanwhile. */
	for (int pass = 0;; pass++) {
		r = seize_new_threads(s, timeout_ms);
		if (r <= 0)
			break;
		if (pass > 1000) {
			r = log_error_errno(-EAGAIN, "PID %d keeps creating threads faster than "
						     "they can be frozen", (int) pid);
			break;
		}
	}
	if (r >= 0 && !seized_has(s, pid))
		r = -ESRCH; /* exiting; the caller says so, if it matters */
	if (r < 0) {
		seize_release(s);
		return r;
	}
	leader_first(s);
	*ret = s;
	return 0;
}

struct seized *seize_release(struct seized *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_threads; i++)
		(void) ptrace_detach(s->threads[i].tid);
	return seize_free(s);
}

struct seized *seize_free(struct seized *s)
{
	if (!s)
		return NULL;
	free(s->threads);
	free(s);
	return NULL;
}
