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

void restore_describe_holder(pid_t tid, char *buf, size_t size)
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

int restore_check_pids(const struct restore_ctx *c)
{
	for (size_t i = 0; i < c->snap->n_threads; i++) {
		pid_t tid = c->snap->threads[i].tid;
		char path[32], holder[128];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d", (int) tid);
		if (stat(path, &st) < 0)
			continue;
		restore_describe_holder(tid, holder, sizeof(holder));
		return log_error_errno(-EEXIST,
				       "%s %d, which the snapshot needs, is in use by %s; end it "
				       "before restoring",
				       i == 0 ? "PID" : "Thread id", (int) tid, holder);
	}
	return 0;
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
	int go_fd;     /* our end: closing it tells the stub we are gone */
	int ready_fd;  /* our end */
	int stub_go;   /* the stub's ends, as staged */
	int stub_ready;
	int first_description;
	int first_stdio; /* stand-ins for stdio that was a pipe or terminal, after those */
};

static _noreturn_ void stub_fail(int fd, int error)
{
	(void) !write(fd, &error, sizeof(error));
	_exit(127);
}

/*
 * Runs in the stub, a clone3() child with no glibc fork bookkeeping: only
 * plain system calls from here, nothing that trusts glibc's cached thread id.
 */
static _noreturn_ void stub_main(struct restore_ctx *c, const struct stub_plan *p, int go_rd,
				 int ready_wr)
{
	const struct snapshot *s = c->snap;
	int ok = 0, n = (int) s->n_files;
	char byte;

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(127);
	(void) setsid();
	/* Stage everything above every fd number in use, then clear the low range. */
	for (int i = 0; i < n; i++)
		if (c->file_fds[i] >= 0 && dup2(c->file_fds[i], p->hi + i) < 0)
			stub_fail(ready_wr, -errno);
	if (dup2(go_rd, p->stub_go) < 0 || dup2(ready_wr, p->stub_ready) < 0)
		stub_fail(ready_wr, -errno);
	ready_wr = p->stub_ready;
	for (size_t i = 0; i < s->n_open_files; i++)
		if (dup2(c->open_fds[i], p->first_description + (int) i) < 0)
			stub_fail(ready_wr, -errno);
	for (int i = 0; i < 3; i++)
		if (c->stdio_fds[i] >= 0 && dup2(c->stdio_fds[i], p->first_stdio + i) < 0)
			stub_fail(ready_wr, -errno);
	if (syscall(SYS_close_range, 0, p->hi - 1, 0) < 0)
		stub_fail(ready_wr, -errno);
	for (size_t i = 0; i < s->n_fds; i++) {
		const struct snapshot_fd *fd = &s->fds[i];

		int from = fd->fd <= 2 && c->stdio_fds[fd->fd] >= 0
				   ? p->first_stdio + fd->fd
				   : p->first_description + (int) fd->open_file;

		if (dup3(from, fd->fd, fd->cloexec ? O_CLOEXEC : 0) < 0)
			stub_fail(ready_wr, -errno);
	}
	(void) syscall(SYS_close_range, p->first_description, ~0U, 0);
	/* Every target fd exists now, with its own number: the key epoll files it under. */
	ok = restore_epoll_watches(s);
	if (ok < 0)
		stub_fail(ready_wr, ok);
	if (chdir(s->proc.cwd) < 0)
		stub_fail(ready_wr, -errno);
	umask((mode_t) s->proc.umask);
	if (write(ready_wr, &ok, sizeof(ok)) != sizeof(ok))
		_exit(127);
	(void) syscall(SYS_close, ready_wr);
	/* ckptd takes over from inside this read; EOF means it died first. */
	(void) !read(p->stub_go, &byte, 1);
	_exit(127);
}

static int plan_fds(struct restore_ctx *c, struct stub_plan *p)
{
	int max_saved = 2, max_ours = max_open_fd(), need;
	struct rlimit rl;

	if (max_ours < 0)
		return log_error_errno(max_ours, "Cannot list our own fds: %m");
	for (size_t i = 0; i < c->snap->n_fds; i++)
		max_saved = MAX(max_saved, c->snap->fds[i].fd);
	p->hi = MAX(max_saved, max_ours) + 1;
	p->stub_go = p->hi + (int) c->snap->n_files;
	p->stub_ready = p->stub_go + 1;
	p->first_description = p->stub_ready + 1;
	p->first_stdio = p->first_description + (int) c->snap->n_open_files;
	need = p->first_stdio + 3 + 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if ((rlim_t) need > rl.rlim_cur) {
		if ((rlim_t) need > rl.rlim_max)
			return log_error_errno(-EMFILE,
					       "The process had fd %d open; this ckptd may open only "
					       "%llu files (raise its RLIMIT_NOFILE)",
					       max_saved, (unsigned long long) rl.rlim_max);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	c->stub_fd_base = p->hi;
	return 0;
}

static int clone_stub(pid_t pid, uint64_t flags)
{
	pid_t tid = pid;
	struct clone_args_v2 args = {
		.flags = flags,
		.exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD,
		.set_tid = (uintptr_t) &tid,
		.set_tid_size = 1,
	};
	long r = syscall(SYS_clone3, &args, sizeof(args));

	return r < 0 ? -errno : (int) r;
}

#define HELPER_FAILED 255 /* the helper said why itself */

/*
 * The stub in a time namespace of its own. A new namespace takes only the
 * children of whoever unshare()s, and we cannot leave it again (setns()
 * refuses a process with threads), so a helper forked for the purpose makes
 * it and creates the stub with CLONE_PARENT: the stub is our child, born in
 * the namespace, and the helper exits. Its exit status is the clone's errno.
 */
static int helper_clone_stub(struct restore_ctx *c, const struct stub_plan *p, int go_rd,
			     int ready_wr, const int64_t off[2])
{
	int status;
	pid_t helper = fork();

	if (helper < 0)
		return log_error_errno(-errno, "Cannot fork: %m");
	if (helper == 0) {
		int r;

		/* The next free PID may be the very one the stub needs: let another helper try. */
		if (getpid() == c->snap->proc.pid)
			_exit(EAGAIN);
		r = timens_enter_for_children(off);
		if (r < 0)
			_exit(HELPER_FAILED);
		r = clone_stub(c->snap->proc.pid, CLONE_PARENT);
		if (r == 0)
			stub_main(c, p, go_rd, ready_wr);
		_exit(r < 0 ? -r : 0);
	}
	while (waitpid(helper, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "Cannot wait for the helper: %m");
	if (!WIFEXITED(status))
		return log_error_errno(-ECHILD, "The helper that creates the process died");
	if (WEXITSTATUS(status) == HELPER_FAILED)
		return -ECHILD;
	return WEXITSTATUS(status) ? -WEXITSTATUS(status) : c->snap->proc.pid;
}

static int clone_stub_in_timens(struct restore_ctx *c, const struct stub_plan *p, int go_rd,
				int ready_wr, const int64_t off[2])
{
	int r = -EAGAIN;

	/* Bounded: clone3() itself says EAGAIN when processes run out. */
	for (int tries = 0; tries < 3 && r == -EAGAIN; tries++)
		r = helper_clone_stub(c, p, go_rd, ready_wr, off);
	return r;
}

static int take_over(struct restore_ctx *c, int ready_rd)
{
	int code = 0, status, r;
	ssize_t n;

	do
		n = read(ready_rd, &code, sizeof(code));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(code))
		return log_error_errno(-EIO, "The restore stub died while preparing");
	if (code < 0)
		return log_error_errno(code, "The restore stub could not prepare its files, epoll "
					     "registrations or working directory (%s): %m",
				       c->snap->proc.cwd);
	r = ptrace_seize(c->pid, RESTORE_STUB_OPTIONS);
	if (r >= 0)
		r = ptrace_interrupt(c->pid);
	if (r >= 0)
		r = ptrace_wait_stop(c->pid, 5000, &status);
	if (r < 0)
		return log_error_errno(r, "Cannot take control of the restore stub: %m");
	return 0;
}

int restore_fork_stub(struct restore_ctx *c)
{
	int go[2] = { -EBADF, -EBADF }, ready[2] = { -EBADF, -EBADF };
	struct stub_plan plan = {};
	int64_t off[2];
	int r;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
		r = log_error_errno(-errno, "Cannot create pipes: %m");
		goto out;
	}
	/* After the pipes: the staging range must lie above every fd we hold. */
	r = plan_fds(c, &plan);
	if (r < 0)
		goto out;
	r = timens_offsets_for(&c->snap->proc.clocks, off);
	if (r < 0)
		goto out;
	if (r > 0) {
		r = clone_stub_in_timens(c, &plan, go[0], ready[1], off);
		if (r == -ECHILD)
			goto out; /* said already */
	} else {
		r = clone_stub(c->snap->proc.pid, /* flags= */ 0);
		if (r == 0)
			stub_main(c, &plan, go[0], ready[1]);
	}
	if (r == -EEXIST) {
		r = log_error_errno(r, "PID %d is in use (taken just now); end that process "
				       "before restoring",
				    (int) c->snap->proc.pid);
		goto out;
	}
	if (r == -EPERM) {
		r = log_error_errno(r, "Choosing the PID needs CAP_CHECKPOINT_RESTORE; run ckptd "
				       "as root");
		goto out;
	}
	if (r < 0) {
		r = log_error_errno(r, "Cannot create the process: %m");
		goto out;
	}
	c->pid = r;
	closep(&ready[1]);
	ready[1] = -EBADF;
	r = take_over(c, ready[0]);
	if (r < 0)
		(void) restore_kill_stub(c);
	c->sync_fd[0] = TAKE_FD(go[1]); /* closed when we are done or dead */
out:
	closep(&go[0]);
	closep(&go[1]);
	closep(&ready[0]);
	closep(&ready[1]);
	return r;
}

int restore_kill_stub(struct restore_ctx *c)
{
	int status;

	if (c->pid <= 0)
		return 0;
	(void) kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, __WALL) < 0 && errno == EINTR)
		;
	c->pid = 0;
	return 0;
}
