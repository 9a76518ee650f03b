// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A process and all its descendants. Each is frozen as soon as it is found
 * and its children are listed only once it is frozen (a frozen process
 * cannot fork, and only it could collect a child that exits), so one pass
 * down the tree finds every member at one instant. Zombies are recorded
 * with their exit status; ckptd's own leftover copies (zombies with exit
 * signal 0) are not members. Once every member is captured, the file
 * objects and open file descriptions they share get one key each.
 */
#define LOG_PREFIX "dump: "

#include <linux/kcmp.h>
#include <string.h>
#include <sys/syscall.h>

#include "dump.h"
#include "log.h"
#include "proc.h"
#include "util.h"

bool dump_tree_has(const struct dump_tree *t, pid_t pid)
{
	const struct snapshot *root;

	if (!t)
		return false;
	root = t->procs[0].snap;
	if (pid == t->procs[0].pid)
		return true;
	for (size_t i = 0; i < root->n_members; i++)
		if (root->members[i].pid == pid)
			return true;
	return false;
}

static int add_member(struct dump_tree *t, pid_t ppid, const struct proc_stat *st)
{
	struct snapshot_member *m = snapshot_add_member(t->procs[0].snap);

	if (!m)
		return log_error_errno(-E2BIG, "The tree of PID %d has more than %d processes",
				       (int) t->procs[0].pid, SNAPSHOT_MAX_MEMBERS + 1);
	*m = (struct snapshot_member){ .pid = st->pid, .ppid = ppid, .pgid = st->pgrp,
				       .sid = st->session, .zombie = st->state == 'Z',
				       .exit_status = st->state == 'Z' ? st->exit_code : 0 };
	memcpy(m->comm, st->comm, sizeof(m->comm));
	return 0;
}

static bool shares(pid_t a, pid_t b, int what)
{
	return syscall(SYS_kcmp, a, b, what, 0, 0) == 0;
}

/*
 * What a child shares with its parent beyond what fork() copies. Memory
 * (vfork, posix_spawn) lasts until the child execs: refused for now. An fd
 * table (CLONE_FILES) and fs info (CLONE_FS) are shared again at restore.
 */
static int check_sharing(pid_t parent, pid_t pid, struct snapshot_member *m)
{
	if (shares(parent, pid, KCMP_VM))
		return log_error_errno(-EAGAIN, "PID %d shares its memory with its parent, PID %d "
						"(vfork or posix_spawn, until it runs its program); "
						"try again in a moment",
				       (int) pid, (int) parent);
	m->shares_files = shares(parent, pid, KCMP_FILES);
	m->shares_fs = shares(parent, pid, KCMP_FS);
	return 0;
}

int dump_check_owner(const struct dump_options *o, pid_t pid, pid_t root)
{
	const char *why = "?";
	uid_t uid = 0;
	int r;

	if (!o->check_owner)
		return 0;
	r = proc_traceable_by(pid, o->owner_uid, o->owner_gid, &uid, &why);
	if (r == -ENOENT || r == -ESRCH || r > 0)
		return 0; /* gone: the freeze or the capture that comes next says so */
	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/status: %m", (int) pid);
	if (pid == root)
		return log_error_errno(-EPERM, "The job's owner (uid %u) may not snapshot PID %d "
					       "(uid %u): %s",
				       (unsigned) o->owner_uid, (int) pid, (unsigned) uid, why);
	return log_error_errno(-EPERM, "The job's owner (uid %u) may not snapshot PID %d (uid %u), "
				       "a descendant of PID %d: %s. A snapshot takes every "
				       "descendant; only root may take one with a process its "
				       "owner could not trace itself",
			       (unsigned) o->owner_uid, (int) pid, (unsigned) uid, (int) root, why);
}

static int add_live(struct dump_tree *t, pid_t pid, int timeout_ms)
{
	struct dump_ctx *c;
	int r;

	if (GROW(t->procs, t->allocated, t->n + 1) < 0)
		return log_oom();
	c = &t->procs[t->n];
	*c = (struct dump_ctx){ .pid = pid, .opts = t->procs[0].opts, .inj.mem_fd = -EBADF,
				.mem_fd = -EBADF };
	r = seize_process(pid, timeout_ms, &c->seized);
	if (r < 0)
		return r;
	t->n++;
	return 0;
}

/* One child of a frozen member: frozen in turn, or recorded as a zombie, or gone. */
static int add_child(struct dump_tree *t, pid_t parent, pid_t pid, int timeout_ms)
{
	struct proc_stat st;
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = proc_read_stat(pid, &st);
		if (r == -ENOENT || r == -ESRCH)
			return 0; /* collected already */
		if (r < 0)
			return log_error_errno(r, "Cannot read /proc/%d/stat: %m", (int) pid);
		/* Collected and the PID taken again (a parent ignoring SIGCHLD): not ours. */
		if (st.ppid != parent || st.state == 'X')
			return 0;
		if (st.state == 'Z' && st.num_threads > 1)
			return log_error_errno(-EOPNOTSUPP, "PID %d (%s) has ended its main thread but "
							    "%d threads still run; ckptd cannot restore "
							    "that",
					       (int) pid, st.comm, st.num_threads - 1);
		if (st.state == 'Z')
			return st.exit_signal == 0 ? 0 : add_member(t, parent, &st);
		/* Before it is touched: another user's process is not even stopped. */
		r = dump_check_owner(t->procs[0].opts, pid, t->procs[0].pid);
		if (r < 0)
			return r;
		r = seize_check(pid, t->procs[0].pid);
		if (r == -ESRCH)
			continue; /* it exited since its stat was read: a zombie now, or gone */
		if (r < 0)
			return r;
		r = add_live(t, pid, timeout_ms);
		if (r >= 0 && (proc_read_stat(pid, &st) < 0 || st.ppid != parent)) {
			/* Frozen, its PID cannot change hands again: it did just before. */
			t->n--;
			t->procs[t->n].seized = seize_release(t->procs[t->n].seized);
			return 0;
		}
		if (r >= 0) {
			struct snapshot_member *m;

			r = add_member(t, parent, &st);
			if (r < 0)
				return r;
			m = &t->procs[0].snap->members[t->procs[0].snap->n_members - 1];
			return check_sharing(parent, pid, m);
		}
		if (r != -ESRCH)
			return r;
		/* It exited between the check and the freeze: a zombie now. */
	}
	return log_error_errno(-EAGAIN, "PID %d (child of %d) changed while being frozen; try again",
			       (int) pid, (int) parent);
}

int dump_seize_tree(struct dump_tree *t, int timeout_ms)
{
	for (size_t i = 0; i < t->n; i++) {
		_cleanup_free_ pid_t *children = NULL;
		pid_t parent = t->procs[i].pid;
		size_t n;
		int r = proc_read_children(parent, &children, &n);

		if (r < 0)
			return log_error_errno(r, "Cannot list the children of PID %d: %m",
					       (int) parent);
		for (size_t k = 0; k < n; k++) {
			if (dump_tree_has(t, children[k]))
				continue;
			r = add_child(t, parent, children[k], timeout_ms);
			if (r < 0)
				return r;
		}
	}
	/*
	 * Again, now that nothing can change its credentials: one could have
	 * exec'd a setuid program between its check and its freeze.
	 */
	for (size_t i = 0; i < t->n; i++) {
		int r = dump_check_owner(t->procs[0].opts, t->procs[i].pid, t->procs[0].pid);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < t->n; i++) {
		t->procs[i].tree = t;
		t->procs[i].index = i;
	}
	return 0;
}

/* The same inode as saved by a process before c, and that process's snapshot. */
static const struct snapshot_file *earlier_file(const struct dump_ctx *c, enum file_kind kind,
						uint64_t dev, uint64_t ino,
						const struct snapshot **ret_snap)
{
	for (size_t k = 0; c->tree && k < c->index; k++) {
		const struct snapshot *s = c->tree->procs[k].snap;

		for (size_t i = 0; i < s->n_files; i++)
			if (s->files[i].kind == kind && s->files[i].id.dev == dev &&
			    s->files[i].id.ino == ino) {
				*ret_snap = s;
				return &s->files[i];
			}
	}
	return NULL;
}

const struct snapshot_file *dump_tree_earlier_file(const struct dump_ctx *c, enum file_kind kind,
						   uint64_t dev, uint64_t ino)
{
	const struct snapshot *s;

	return earlier_file(c, kind, dev, ino, &s);
}

bool dump_tree_earlier_pair(const struct dump_ctx *c, uint64_t dev, uint64_t ino,
			    const struct snapshot_file *ret[static 2])
{
	const struct snapshot *s;
	const struct snapshot_file *f = earlier_file(c, FILE_KIND_UNIX_PAIR, dev, ino, &s);

	if (!f || f->sock.peer >= s->n_files)
		return false;
	ret[0] = f;
	ret[1] = &s->files[f->sock.peer];
	return true;
}

/* An fd of the process that uses open file description of. */
static int fd_of(const struct snapshot *s, uint32_t of)
{
	for (size_t i = 0; i < s->n_fds; i++)
		if (s->fds[i].open_file == of)
			return s->fds[i].fd;
	return -1;
}

static bool same_inode(const struct snapshot_file *a, const struct snapshot_file *b)
{
	return a->kind == b->kind && a->id.dev == b->id.dev && a->id.ino == b->id.ino;
}

/* Anonymous-inode files are one per description: the same file only if kcmp says so. */
static bool same_description(const struct dump_ctx *a, uint32_t of_a, const struct dump_ctx *b,
			     uint32_t of_b)
{
	const struct snapshot_file *fa = &a->snap->files[a->snap->open_files[of_a].file];
	const struct snapshot_file *fb = &b->snap->files[b->snap->open_files[of_b].file];
	int fd_a = fd_of(a->snap, of_a), fd_b = fd_of(b->snap, of_b);

	if (fa->kind != fb->kind || (!file_kind_is_anon(fa->kind) && !same_inode(fa, fb)))
		return false;
	if (fd_a < 0 || fd_b < 0)
		return false;
	return syscall(SYS_kcmp, a->pid, b->pid, KCMP_FILE, fd_a, fd_b) == 0;
}

/* Looks for description of of process b in the processes before it. */
static uint64_t earlier_description(const struct dump_tree *t, size_t b, uint32_t of)
{
	for (size_t k = 0; k < b; k++) {
		const struct snapshot *s = t->procs[k].snap;

		for (size_t o = 0; o < s->n_open_files; o++)
			if (same_description(&t->procs[k], (uint32_t) o, &t->procs[b], of))
				return s->open_files[o].share;
	}
	return 0;
}

static uint64_t earlier_inode(const struct dump_tree *t, size_t b, const struct snapshot_file *f)
{
	for (size_t k = 0; k < b; k++) {
		const struct snapshot *s = t->procs[k].snap;

		for (size_t i = 0; i < s->n_files; i++)
			if (same_inode(&s->files[i], f))
				return s->files[i].share;
	}
	return 0;
}

/*
 * Keys for what processes share: a file object by inode (anonymous-inode
 * ones by description), an open file description by kcmp. Every object
 * gets one; equal keys in two processes are one object at restore.
 */
void dump_tree_share(struct dump_tree *t)
{
	uint64_t next = 1;

	if (t->n < 2)
		return;
	for (size_t p = 0; p < t->n; p++) {
		struct snapshot *s = t->procs[p].snap;

		for (size_t i = 0; i < s->n_files; i++) {
			struct snapshot_file *f = &s->files[i];

			if (file_kind_is_anon(f->kind) || f->kind == FILE_KIND_EXTERNAL)
				continue;
			f->share = earlier_inode(t, p, f);
			if (!f->share)
				f->share = next++;
		}
		for (size_t o = 0; o < s->n_open_files; o++) {
			struct snapshot_open_file *of = &s->open_files[o];
			struct snapshot_file *f = &s->files[of->file];

			of->share = earlier_description(t, p, (uint32_t) o);
			if (!of->share)
				of->share = next++;
			if (file_kind_is_anon(f->kind))
				f->share = of->share;
		}
	}
}

void dump_tree_release(struct dump_tree *t)
{
	for (size_t i = t->n; i-- > 0;)
		if (t->procs[i].seized) {
			dump_uninject(&t->procs[i]);
			t->procs[i].seized = seize_release(t->procs[i].seized);
		}
}
