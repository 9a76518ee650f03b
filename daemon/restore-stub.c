// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The stub: a child created with clone3(set_tid) so it has the saved PID.
 * It runs a little of ckptd's own code (its fd table, session, working
 * directory, umask), says it is ready, and blocks; from then on ptrace
 * drives it. It dies with us until it is handed its new life (EXITKILL,
 * and its parent-death signal until the very end).
 */
#define LOG_PREFIX "restore: "

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "log.h"
#include "proc.h"
#include "ptrace.h"
#include "restore.h"
#include "timens.h"
#include "util.h"

__asm__(".text\n"
	".globl ckptd_stub_syscall\n"
	".type ckptd_stub_syscall, @function\n"
	"ckptd_stub_syscall:\n"
	"\tsyscall\n"
	"\tret\n"
	".size ckptd_stub_syscall, . - ckptd_stub_syscall\n");

struct clone_args_v2 {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

/* "PID 12 (name)", "a thread of PID 12 (name)", "a zombie ..." or "another process". */
static void describe_holder(pid_t tid, char *buf, size_t size)
{
	struct proc_status st = {};
	struct proc_stat ps = {};

	snprintf(buf, size, "another process");
	if (proc_read_status(tid, &st) < 0 || proc_read_stat(st.tgid, &ps) < 0) {
		proc_status_done(&st);
		return;
	}
	if (ps.state == 'Z')
		snprintf(buf, size, "a zombie (%s) that its parent, PID %d, has not collected",
			 ps.comm, (int) ps.ppid);
	else if (st.tgid != tid)
		snprintf(buf, size, "a thread of PID %d (%s)", (int) st.tgid, ps.comm);
	else
		snprintf(buf, size, "PID %d (%s)", (int) tid, ps.comm);
	proc_status_done(&st);
}

int restore_pid_in_use(struct restore_tree *t, pid_t id, bool thread, bool just_now)
{
	char holder[128];

	if (t)
		t->pid_taken = true;
	describe_holder(id, holder, sizeof(holder));
	return log_error_errno(-EEXIST,
			       "%s %d, which the snapshot needs, is in use%s by %s; end it before "
			       "restoring, or restore with --pidns (in a new PID namespace)",
			       thread ? "Thread id" : "PID", (int) id,
			       just_now ? " (taken just now)" : "", holder);
}

static int check_pid_free(struct restore_tree *t, pid_t tid, bool thread)
{
	char path[32];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int) tid);
	if (stat(path, &st) < 0)
		return 0;
	return restore_pid_in_use(t, tid, thread, /* just_now= */ false);
}

int restore_check_pids(struct restore_tree *t)
{
	const struct snapshot *root = t->procs[0].snap;
	int r = 0;

	for (size_t k = 0; r >= 0 && k < t->n; k++) {
		const struct snapshot *s = t->procs[k].snap;

		for (size_t i = 0; r >= 0 && i < s->n_threads; i++)
			r = check_pid_free(t, s->threads[i].tid, i > 0);
	}
	for (size_t i = 0; r >= 0 && i < root->n_members; i++)
		if (root->members[i].zombie)
			r = check_pid_free(t, root->members[i].pid, false);
	return r;
}

static int max_open_fd(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int max = 2;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int32_t fd;

		if (parse_i32(de->d_name, 10, &fd) >= 0 && fd > max)
			max = fd;
	}
	return max;
}

struct stub_plan {
	int hi;	       /* staged fds start here: files, then go, ready, descriptions */
	int stub_go;   /* the stub's ends, as staged */
	int stub_ready;
	int first_description;
	int first_stdio; /* stand-ins for stdio that was a pipe or terminal, after those */
	int end;	 /* the next process's range starts here */
};

/* What every stub of the tree inherits: its own plan is plans[its index]. */
struct stub_args {
	struct restore_tree *tree;
	struct stub_plan *plans;
	int go_rd, ready_wr; /* ours, as every stub inherits them */
};

/* What went wrong in a stub, before ckptd could take it over. */
enum stub_stage {
	STUB_STAGE_FILES,
	STUB_STAGE_EPOLL,
	STUB_STAGE_CWD,
	STUB_STAGE_SESSION,
	STUB_STAGE_CHILD, /* pid is the child that could not be created */
};

/* One per process, each written whole (atomic on a pipe): 0, or -errno at stage. */
struct stub_report {
	int32_t pid;
	int32_t code;
	int32_t stage;
};

static _noreturn_ void stub_fail(int fd, pid_t pid, enum stub_stage stage, int error)
{
	struct stub_report rep = { pid, error, stage };

	(void) !write(fd, &rep, sizeof(rep));
	_exit(127);
}

static long clone_stub(pid_t pid, uint64_t flags)
{
	pid_t tid = pid;
	struct clone_args_v2 args = {
		.flags = flags,
		.exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD,
		.set_tid = (uintptr_t) &tid,
		.set_tid_size = 1,
	};
	long r = syscall(SYS_clone3, &args, sizeof(args));

	return r < 0 ? -errno : r;
}

static ssize_t tree_index(const struct restore_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].snap->proc.pid == pid)
			return (ssize_t) i;
	return -1;
}

/* A session or group that names no process of the tree becomes the root's (a new session). */
static pid_t tree_id(const struct restore_tree *t, pid_t id)
{
	const struct snapshot *root = t->procs[0].snap;

	for (size_t i = 0; i < root->n_members; i++)
		if (root->members[i].pid == id)
			return id;
	return root->proc.pid;
}

static int stub_session(const struct restore_tree *t, pid_t pid, pid_t sid, pid_t pgid)
{
	pid_t want_sid = tree_id(t, sid), want_pgid = tree_id(t, pgid);

	if (pid == t->procs[0].snap->proc.pid) {
		(void) setsid();
		return 0;
	}
	if (want_sid == pid && setsid() < 0)
		return -errno;
	if (getsid(0) != want_sid)
		return -ESRCH;
	if (getpgid(0) != want_pgid && setpgid(0, want_pgid) < 0)
		return -errno;
	return 0;
}

/* A zombie of the tree: born, in its session and group, and dead the way it died. */
static _noreturn_ void zombie_main(const struct stub_args *a, const struct snapshot_member *m)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t set;
	int sig;

	(void) stub_session(a->tree, m->pid, m->sid, m->pgid);
	(void) prctl(PR_SET_NAME, m->comm);
	if (!WIFSIGNALED(m->exit_status))
		_exit(WEXITSTATUS(m->exit_status));
	sig = WTERMSIG(m->exit_status);
	(void) setrlimit(RLIMIT_CORE, &no_core);
	(void) signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	(void) sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void) syscall(SYS_kill, (pid_t) syscall(SYS_getpid), sig);
	_exit(128 + sig);
}

static _noreturn_ void stub_main(const struct stub_args *a, size_t self);

#define TABLE_READY_SIGNAL SIGUSR1
#define TABLE_READY_TIMEOUT_S 5

/*
 * A child sharing our fd table creates its own children before we clear
 * the table of ckptd's fds (they copy it as it is when they are born): it
 * says so with a signal, which we take blocked (see stub_main). If it dies
 * first, the restore fails anyway; the timeout only keeps us from waiting.
 */
static void wait_table_ready(pid_t child)
{
	struct timespec ts = { TABLE_READY_TIMEOUT_S, 0 };
	siginfo_t info;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, TABLE_READY_SIGNAL);
	while (sigtimedwait(&set, &info, &ts) == TABLE_READY_SIGNAL && info.si_pid != child)
		;
}

/* The children of process self, each a stub of its own or a zombie, in the tree's order. */
static void stub_children(const struct stub_args *a, size_t self)
{
	const struct snapshot *root = a->tree->procs[0].snap;
	pid_t me = a->tree->procs[self].snap->proc.pid;

	for (size_t i = 0; i < root->n_members; i++) {
		const struct snapshot_member *m = &root->members[i];
		siginfo_t info;
		long r;

		if (m->ppid != me)
			continue;
		r = clone_stub(m->pid, (m->shares_fs ? CLONE_FS : 0) | (m->shares_files ? CLONE_FILES : 0));
		if (r == 0 && m->zombie)
			zombie_main(a, m);
		if (r == 0)
			stub_main(a, (size_t) tree_index(a->tree, m->pid));
		if (r < 0)
			stub_fail(a->ready_wr, m->pid, STUB_STAGE_CHILD, (int) r);
		/*
		 * A group the child leads exists before a sibling cloned next joins it
		 * (the child does it too; whoever comes first, as shells do). Not for
		 * a child that leads its session: setsid() refuses a group leader,
		 * and its group is its own session's, which no sibling can join.
		 */
		if (tree_id(a->tree, m->pgid) == m->pid && tree_id(a->tree, m->sid) != m->pid)
			(void) setpgid((pid_t) r, (pid_t) r);
		/* Dead before anyone traces us: its SIGCHLD (unblocked, default: discarded) is gone. */
		if (m->zombie)
			(void) waitid(P_PID, (id_t) r, &info, WEXITED | WNOWAIT);
		if (m->shares_files)
			wait_table_ready((pid_t) r);
	}
}

static const struct snapshot_member *member_of(const struct restore_tree *t, size_t k)
{
	const struct snapshot *root = t->procs[0].snap;

	for (size_t i = 0; k > 0 && i < root->n_members; i++)
		if (root->members[i].pid == t->procs[k].snap->proc.pid)
			return &root->members[i];
	return NULL;
}

static bool shares_parent_files(const struct restore_tree *t, size_t k)
{
	const struct snapshot_member *m = member_of(t, k);

	return m && m->shares_files;
}

/* Whether process k uses the fd table of process owner (itself, or by CLONE_FILES down to it). */
static bool in_table_of(const struct restore_tree *t, size_t owner, size_t k)
{
	while (k != owner) {
		const struct snapshot_member *m = member_of(t, k);
		ssize_t parent;

		if (!m || !m->shares_files || (parent = tree_index(t, m->ppid)) < 0)
			return false;
		k = (size_t) parent;
	}
	return true;
}

/* Process k's files (what its mappings map) and its ends of our pipes, in its own range. */
static int stage_files(const struct stub_args *a, size_t k)
{
	const struct restore_ctx *c = &a->tree->procs[k];
	const struct stub_plan *p = &a->plans[k];

	for (int i = 0; i < (int) c->snap->n_files; i++)
		if (c->file_fds[i] >= 0 && dup2(c->file_fds[i], p->hi + i) < 0)
			return -errno;
	if (dup2(a->go_rd, p->stub_go) < 0 || dup2(a->ready_wr, p->stub_ready) < 0)
		return -errno;
	return 0;
}

/*
 * A table that processes share (CLONE_FILES) is set up once, by the one
 * that owns it, before any of them exists: theirs are staged with its own.
 */
static int stage_table(const struct stub_args *a, size_t self)
{
	for (size_t k = self; k < a->tree->n; k++) {
		int r = in_table_of(a->tree, self, k) ? stage_files(a, k) : 0;

		if (r < 0)
			return r;
	}
	return 0;
}

/* After the saved fds are placed: every other process's range goes, but those sharing ours. */
static void close_others(const struct stub_args *a, size_t self)
{
	const struct stub_plan *p = &a->plans[self];

	(void) syscall(SYS_close_range, p->first_description, p->end - 1, 0);
	for (size_t k = self + 1; k < a->tree->n; k++)
		if (!in_table_of(a->tree, self, k))
			(void) syscall(SYS_close_range, a->plans[k].hi, a->plans[k].end - 1, 0);
	(void) syscall(SYS_close_range, a->plans[a->tree->n - 1].end, ~0U, 0);
}

/* Stage everything above every fd number in use, then clear the low range, then place each fd. */
static int stub_fds(const struct stub_args *a, size_t self)
{
	const struct restore_ctx *c = &a->tree->procs[self];
	const struct stub_plan *p = &a->plans[self];
	const struct snapshot *s = c->snap;

	for (size_t i = 0; i < s->n_open_files; i++)
		if (dup2(c->open_fds[i], p->first_description + (int) i) < 0)
			return -errno;
	for (int i = 0; i < 3; i++)
		if (c->stdio_fds[i] >= 0 && dup2(c->stdio_fds[i], p->first_stdio + i) < 0)
			return -errno;
	if (syscall(SYS_close_range, 0, p->hi - 1, 0) < 0)
		return -errno;
	for (size_t i = 0; i < s->n_fds; i++) {
		const struct snapshot_fd *fd = &s->fds[i];
		int from = fd->fd <= 2 && c->stdio_fds[fd->fd] >= 0
				   ? p->first_stdio + fd->fd
				   : p->first_description + (int) fd->open_file;

		if (dup3(from, fd->fd, fd->cloexec ? O_CLOEXEC : 0) < 0)
			return -errno;
	}
	close_others(a, self);
	return 0;
}

/*
 * Runs in the stub, a clone3() child with no glibc fork bookkeeping: only
 * plain system calls from here, nothing that trusts glibc's cached thread id.
 * Children are created first: they need the fds we are about to rearrange.
 */
static _noreturn_ void stub_main(const struct stub_args *a, size_t self)
{
	const struct restore_ctx *c = &a->tree->procs[self];
	const struct stub_plan *p = &a->plans[self];
	const struct snapshot *s = c->snap;
	pid_t me = s->proc.pid;
	struct stub_report ok = { me, 0, 0 };
	sigset_t set;
	bool shared;
	int r;
	char byte;

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Our parent died already (unless it is the init of our new PID namespace). */
	if (getppid() == 1 && !(self == 0 && c->opts->pidns))
		_exit(127);
	/* SIGCHLD discarded (our zombie children's), the table-ready signal kept for sigtimedwait. */
	(void) signal(SIGCHLD, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	(void) sigprocmask(SIG_UNBLOCK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, TABLE_READY_SIGNAL);
	(void) sigprocmask(SIG_BLOCK, &set, NULL);
	r = stub_session(a->tree, me, s->proc.sid, s->proc.pgid);
	if (r < 0)
		stub_fail(a->ready_wr, me, STUB_STAGE_SESSION, r);
	/* A table shared with our parent is set up already, by whoever owns it. */
	shared = shares_parent_files(a->tree, self);
	r = shared ? 0 : stage_table(a, self);
	if (r < 0)
		stub_fail(a->ready_wr, me, STUB_STAGE_FILES, r);
	stub_children(a, self);
	if (shared)
		(void) kill(getppid(), TABLE_READY_SIGNAL);
	r = shared ? 0 : stub_fds(a, self);
	if (r < 0)
		stub_fail(a->ready_wr, me, STUB_STAGE_FILES, r);
	/* Every target fd exists now, with its own number: the key epoll files it under. */
	r = shared ? 0 : restore_epoll_watches(s);
	if (r < 0)
		stub_fail(p->stub_ready, me, STUB_STAGE_EPOLL, r);
	if (chdir(s->proc.cwd) < 0)
		stub_fail(p->stub_ready, me, STUB_STAGE_CWD, -errno);
	umask((mode_t) s->proc.umask);
	if (write(p->stub_ready, &ok, sizeof(ok)) != sizeof(ok))
		_exit(127);
	(void) syscall(SYS_close, p->stub_ready);
	/* ckptd takes over from inside this read; EOF means it died first. */
	(void) !read(p->stub_go, &byte, 1);
	_exit(127);
}

static int max_saved_fd(const struct restore_tree *t)
{
	int max = 2;

	for (size_t k = 0; k < t->n; k++)
		for (size_t i = 0; i < t->procs[k].snap->n_fds; i++)
			max = MAX(max, t->procs[k].snap->fds[i].fd);
	return max;
}

/* One staging base above every fd of ours and every saved one; each process its own layout. */
static int plan_fds(struct restore_tree *t, struct stub_plan *plans)
{
	int max_saved = max_saved_fd(t), max_ours = max_open_fd(), need = 0;
	struct rlimit rl;

	if (max_ours < 0)
		return log_error_errno(max_ours, "Cannot list our own fds: %m");
	/* One range after the other: processes sharing a table stage theirs side by side. */
	for (size_t k = 0; k < t->n; k++) {
		struct restore_ctx *c = &t->procs[k];
		struct stub_plan *p = &plans[k];

		p->hi = k ? plans[k - 1].end : MAX(max_saved, max_ours) + 1;
		p->stub_go = p->hi + (int) c->snap->n_files;
		p->stub_ready = p->stub_go + 1;
		p->first_description = p->stub_ready + 1;
		p->first_stdio = p->first_description + (int) c->snap->n_open_files;
		p->end = p->first_stdio + 3;
		need = p->end + 1;
		c->stub_fd_base = p->hi;
		c->stub_fd_end = p->end;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if ((rlim_t) need > rl.rlim_cur) {
		if ((rlim_t) need > rl.rlim_max)
			return log_error_errno(-EMFILE,
					       "Restoring needs %d fds at once (the highest saved fd is "
					       "%d); this ckptd may open only %llu (raise its "
					       "RLIMIT_NOFILE)",
					       need, max_saved, (unsigned long long) rl.rlim_max);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	return 0;
}

#define HELPER_FAILED 255 /* the helper said why itself */

/*
 * The stub in a time namespace of its own. A new namespace takes only the
 * children of whoever unshare()s, and we cannot leave it again (setns()
 * refuses a process with threads), so a helper forked for the purpose makes
 * it and creates the stub with CLONE_PARENT: the stub is our child, born in
 * the namespace, and the helper exits. Its exit status is the clone's errno.
 */
static int helper_clone_stub(const struct stub_args *a, const int64_t off[2])
{
	pid_t root = a->tree->procs[0].snap->proc.pid;
	int status;
	pid_t helper = fork();

	if (helper < 0)
		return log_error_errno(-errno, "Cannot fork: %m");
	if (helper == 0) {
		long r;

		/* The next free PID may be one the tree needs: let another helper try. */
		if (tree_id(a->tree, getpid()) == getpid()) /* the root or a member */
			_exit(EAGAIN);
		r = timens_enter_for_children(off);
		if (r < 0)
			_exit(HELPER_FAILED);
		r = clone_stub(root, CLONE_PARENT);
		if (r == 0)
			stub_main(a, 0);
		_exit(r < 0 ? (int) -r : 0);
	}
	while (waitpid(helper, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "Cannot wait for the helper: %m");
	if (!WIFEXITED(status))
		return log_error_errno(-ECHILD, "The helper that creates the process died");
	if (WEXITSTATUS(status) == HELPER_FAILED)
		return -ECHILD;
	return WEXITSTATUS(status) ? -WEXITSTATUS(status) : root;
}

static int clone_stub_in_timens(const struct stub_args *a, const int64_t off[2])
{
	int r = -EAGAIN;

	/* Bounded: clone3() itself says EAGAIN when processes run out. */
	for (int tries = 0; tries < 3 && r == -EAGAIN; tries++)
		r = helper_clone_stub(a, off);
	return r;
}

/*
 * PID 1 of a new PID namespace: creates the root (its saved PID is free in
 * here), then only collects orphans, as an init must, and ends with the
 * root's status once nobody is left. It holds none of our fds.
 */
static _noreturn_ void pidns_init_main(const struct stub_args *a, const int64_t *off)
{
	pid_t root = a->tree->procs[0].snap->proc.pid, p;
	int status, root_status = 0;
	long r;

	(void) prctl(PR_SET_NAME, "ckptd-init");
	if (off && timens_enter_for_children(off) < 0)
		stub_fail(a->ready_wr, root, STUB_STAGE_CHILD, -EPERM);
	r = clone_stub(root, 0);
	if (r == 0)
		stub_main(a, 0);
	if (r < 0)
		stub_fail(a->ready_wr, root, STUB_STAGE_CHILD, (int) r);
	(void) syscall(SYS_close_range, 0, ~0U, 0);
	while ((p = wait(&status)) > 0 || errno == EINTR)
		if (p == root)
			root_status = status;
	_exit(WIFSIGNALED(root_status) ? 128 + WTERMSIG(root_status) : WEXITSTATUS(root_status));
}

static int clone_pidns_init(struct stub_args *a, const int64_t *off)
{
	struct clone_args_v2 args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	long r = syscall(SYS_clone3, &args, sizeof(args));

	if (r == 0)
		pidns_init_main(a, off);
	if (r < 0 && errno == EPERM)
		return log_error_errno(-EPERM, "--pidns needs CAP_SYS_ADMIN; run ckptd as root, or "
					       "restore through the daemon");
	if (r < 0)
		return log_error_errno(-errno, "Cannot create a PID namespace: %m");
	a->tree->init = (pid_t) r;
	return 0;
}

static bool is_ns_pid(pid_t ours, pid_t theirs)
{
	struct proc_status st = {};
	bool match = proc_read_status(ours, &st) >= 0 && st.n_nspid > 1 &&
		     st.nspid[st.n_nspid - 1] == theirs;

	proc_status_done(&st);
	return match;
}

/*
 * Stubs report the PIDs they have in their namespace; with --pidns we need
 * ours: a walk down from the init (a child may report before its parent).
 */
static int our_pid(const struct restore_tree *t, pid_t pid, pid_t *ret)
{
	_cleanup_free_ pid_t *queue = NULL;
	size_t n = 0, allocated = 0;

	*ret = pid;
	if (!t->init)
		return 0;
	if (GROW(queue, allocated, 1) < 0)
		return log_oom();
	queue[n++] = t->init;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ pid_t *children = NULL;
		size_t k;

		if (i > 0 && is_ns_pid(queue[i], pid)) {
			*ret = queue[i];
			return 0;
		}
		if (proc_read_children(queue[i], &children, &k) < 0)
			continue;
		if (GROW(queue, allocated, n + k) < 0)
			return log_oom();
		memcpy(queue + n, children, k * sizeof(*children));
		n += k;
	}
	return log_error_errno(-ESRCH, "Cannot find PID %d of the new PID namespace", (int) pid);
}

int restore_our_tid(const struct restore_ctx *c, pid_t tid, pid_t *ret)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n;
	int r;

	if (!c->tree || !c->tree->init) {
		*ret = tid;
		return 0;
	}
	r = proc_read_tids(c->pid, &tids, &n);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++)
		if (is_ns_pid(tids[k], tid)) {
			*ret = tids[k];
			return 0;
		}
	return -ESRCH;
}

static int report_error(const struct restore_ctx *c, const struct stub_report *rep)
{
	switch (rep->stage) {
	case STUB_STAGE_CHILD:
		if (rep->code == -EEXIST)
			return restore_pid_in_use(c->tree, rep->pid, false, /* just_now= */ true);
		return log_error_errno(rep->code, "Cannot create PID %d of the tree: %m",
				       (int) rep->pid);
	case STUB_STAGE_SESSION:
		return log_error_errno(rep->code, "PID %d cannot get back its session %d and "
						  "process group %d: %m",
				       (int) rep->pid, (int) c->snap->proc.sid,
				       (int) c->snap->proc.pgid);
	case STUB_STAGE_CWD:
		return log_error_errno(rep->code, "PID %d cannot enter its working directory "
						  "%s: %m",
				       (int) rep->pid, c->snap->proc.cwd);
	case STUB_STAGE_EPOLL:
		return log_error_errno(rep->code, "PID %d cannot make its epoll registrations "
						  "again: %m",
				       (int) rep->pid);
	default:
		return log_error_errno(rep->code, "PID %d cannot put its files in place: %m",
				       (int) rep->pid);
	}
}

/* Every stub says it is ready (or why not); then each is seized where it waits. */
static int take_over(struct restore_tree *t, int ready_rd)
{
	int r;

	for (size_t done = 0; done < t->n; done++) {
		struct stub_report rep;
		ssize_t n, k;

		do
			n = read(ready_rd, &rep, sizeof(rep));
		while (n < 0 && errno == EINTR);
		if (n != sizeof(rep))
			return log_error_errno(-EIO, "The restore stub died while preparing");
		k = tree_index(t, rep.pid);
		if (rep.code < 0)
			return report_error(&t->procs[k < 0 ? 0 : k], &rep);
		if (k < 0)
			return log_error_errno(-EPROTO, "A restore stub reported as PID %d",
					       (int) rep.pid);
		r = our_pid(t, rep.pid, &t->procs[k].pid);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < t->n; i++) {
		pid_t pid = t->procs[i].pid;
		int status;

		r = ptrace_seize(pid, RESTORE_STUB_OPTIONS);
		if (r >= 0)
			r = ptrace_interrupt(pid);
		if (r >= 0)
			r = ptrace_wait_stop(pid, 5000, &status);
		if (r < 0)
			return log_error_errno(r, "Cannot take control of the restore stub of PID %d: "
						  "%m",
					       (int) pid);
	}
	return 0;
}

static int clone_root(struct stub_args *a)
{
	struct restore_ctx *root = &a->tree->procs[0];
	int64_t off[2];
	long r = timens_offsets_for(&root->snap->proc.clocks, off);

	if (r < 0)
		return (int) r;
	/* Its init creates the root and says so like any stub; take_over learns its PID. */
	if (root->opts->pidns)
		return clone_pidns_init(a, r > 0 ? off : NULL);
	if (r > 0) {
		r = clone_stub_in_timens(a, off);
		if (r == -ECHILD)
			return (int) r; /* said already */
	} else {
		r = clone_stub(root->snap->proc.pid, /* flags= */ 0);
		if (r == 0)
			stub_main(a, 0);
	}
	if (r == -EEXIST)
		return restore_pid_in_use(a->tree, root->snap->proc.pid, false, /* just_now= */ true);
	if (r == -EPERM)
		return log_error_errno((int) r, "Choosing the PID needs CAP_CHECKPOINT_RESTORE; "
						"run ckptd as root");
	if (r < 0)
		return log_error_errno((int) r, "Cannot create the process: %m");
	root->pid = (pid_t) r;
	return 0;
}

int restore_fork_stubs(struct restore_tree *t)
{
	int go[2] = { -EBADF, -EBADF }, ready[2] = { -EBADF, -EBADF };
	_cleanup_free_ struct stub_plan *plans = new0(struct stub_plan, t->n);
	struct stub_args a = { .tree = t, .plans = plans };
	int r;

	if (!plans)
		return log_oom();
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
		r = log_error_errno(-errno, "Cannot create pipes: %m");
		goto out;
	}
	/* After the pipes: the staging range must lie above every fd we hold. */
	r = plan_fds(t, plans);
	if (r < 0)
		goto out;
	a.go_rd = go[0];
	a.ready_wr = ready[1];
	r = clone_root(&a);
	if (r < 0)
		goto out;
	closep(&ready[1]);
	ready[1] = -EBADF;
	r = take_over(t, ready[0]);
	if (r < 0)
		restore_kill_stubs(t);
	t->procs[0].sync_fd[0] = TAKE_FD(go[1]); /* closed when we are done or dead */
out:
	closep(&go[0]);
	closep(&go[1]);
	closep(&ready[0]);
	closep(&ready[1]);
	return r;
}

/* The root's death takes every other stub with it (parent-death signals), but not at once. */
void restore_kill_stubs(struct restore_tree *t)
{
	pid_t root = t->init ? t->init : t->procs[0].pid;
	int status;

	if (t->init)
		(void) kill(t->init, SIGKILL); /* and with it, everything in its namespace */
	t->init = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].pid > 0)
			(void) kill(t->procs[i].pid, SIGKILL);
	for (size_t i = 0; i < t->n; i++)
		t->procs[i].pid = 0;
	if (root <= 0)
		return;
	while (waitpid(root, &status, __WALL) < 0 && errno == EINTR)
		;
}
