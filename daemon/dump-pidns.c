// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A tree in a PID namespace of its own (a job restored with --pidns) is
 * saved with the PIDs it has there: they are what a restore must give back
 * (glibc keeps each thread's TID in its memory; parents, groups and
 * sessions name them). /proc and ptrace speak ours, so the dump works with
 * ours throughout and converts what it saves at the end of the capture,
 * still frozen, while every thread and zombie can be asked.
 */
#define LOG_PREFIX "dump: "

#include "dump.h"
#include "log.h"
#include "proc.h"

/* Where a process or thread is in the tree's namespace, which is `level` deep. */
struct ns_ids {
	pid_t host, pid, pgid, sid; /* pgid, sid: 0 when led from outside (read_ns_ids) */
};

static int read_ns_ids(pid_t host, size_t level, struct ns_ids *ret)
{
	struct proc_status st = {};
	int r = proc_read_status(host, &st);

	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/status: %m", (int) host);
	if (st.n_nspid != level)
		r = log_error_errno(-EOPNOTSUPP, "PID %d is not in the PID namespace of the tree it "
						 "belongs to; ckptd cannot save it",
				    (int) host);
	else
		*ret = (struct ns_ids){ .host = host, .pid = st.nspid[level - 1],
					.pgid = st.ns_pgid, .sid = st.ns_sid };
	proc_status_done(&st);
	return r;
}

/* How deep pid's PID namespace is from ours: 1 for ours (two stats, the usual case). */
static size_t pidns_level(pid_t pid)
{
	struct proc_status st = {};
	size_t level = 1;

	if (proc_same_ns(pid, "pid", getpid(), "pid") != 0)
		return 1;
	if (proc_read_status(pid, &st) >= 0)
		level = st.n_nspid;
	proc_status_done(&st);
	return level;
}

/* host's PID in the namespace `level` deep on its way down from ours: 0 when not in it. */
static pid_t pid_at_level(pid_t host, size_t level)
{
	struct proc_status st = {};
	pid_t pid = 0;

	if (proc_read_status(host, &st) >= 0 && st.n_nspid >= level)
		pid = st.nspid[level - 1];
	proc_status_done(&st);
	return pid;
}

pid_t dump_ns_pid_of_child(const struct dump_ctx *c, pid_t child)
{
	size_t level = pidns_level(c->pid);

	/* The child may be deeper (the target unshared CLONE_NEWPID): the target's level. */
	return level == 1 ? child : pid_at_level(child, level);
}

static const struct ns_ids *ids_of(const struct ns_ids *ids, size_t n, pid_t host)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i].host == host)
			return &ids[i];
	return NULL;
}

static pid_t ns_pid_of(const struct ns_ids *ids, size_t n, pid_t host)
{
	const struct ns_ids *found = ids_of(ids, n, host);

	return found ? found->pid : 0;
}

static int convert_threads(struct snapshot *s, size_t level)
{
	_cleanup_free_ struct ns_ids *ids = new0(struct ns_ids, s->n_threads);

	if (!ids)
		return log_oom();
	for (size_t i = 0; i < s->n_threads; i++) {
		int r = read_ns_ids(s->threads[i].tid, level, &ids[i]);

		if (r < 0)
			return r;
	}
	/* Both from the old TIDs first: a new one may equal another thread's old one. */
	for (size_t i = 0; i < s->proc.n_timers; i++)
		if (s->proc.timers[i].tid)
			s->proc.timers[i].tid = ns_pid_of(ids, s->n_threads, s->proc.timers[i].tid);
	for (size_t i = 0; i < s->n_threads; i++)
		s->threads[i].tid = ids[i].pid;
	return 0;
}

/* ids[0] is the root, ids[1 + k] member k of the root's snapshot. */
static int tree_ids(const struct dump_tree *t, size_t level, struct ns_ids **ret)
{
	const struct snapshot *root = t->procs[0].snap;
	_cleanup_free_ struct ns_ids *ids = new0(struct ns_ids, root->n_members + 1);
	int r;

	if (!ids)
		return log_oom();
	r = read_ns_ids(t->procs[0].pid, level, &ids[0]);
	for (size_t k = 0; r >= 0 && k < root->n_members; k++)
		r = read_ns_ids(root->members[k].pid, level, &ids[1 + k]);
	if (r < 0)
		return r;
	/*
	 * A group or session led from outside the namespace has no number in
	 * it; restore makes such a one the root's (tree_id), so that is saved.
	 */
	for (size_t i = 0; i <= root->n_members; i++) {
		if (!ids[i].pgid)
			ids[i].pgid = ids[0].pid;
		if (!ids[i].sid)
			ids[i].sid = ids[0].pid;
	}
	*ret = TAKE_PTR(ids);
	return 0;
}

static int convert_process(struct snapshot_process *p, const struct ns_ids *ids, size_t n,
			   size_t level)
{
	const struct ns_ids *me = ids_of(ids, n, p->pid);

	if (!me)
		return log_error_errno(-ESRCH, "PID %d is not in its own tree", (int) p->pid);
	/* The root's parent is outside the tree: its PID there, 0 when outside the namespace. */
	p->ppid = me == &ids[0] ? pid_at_level(p->ppid, level) : ns_pid_of(ids, n, p->ppid);
	p->pid = me->pid;
	p->pgid = me->pgid;
	p->sid = me->sid;
	return 0;
}

int dump_pidns_convert(struct dump_tree *t)
{
	size_t level = pidns_level(t->procs[0].pid);
	struct snapshot *root = t->procs[0].snap;
	_cleanup_free_ struct ns_ids *ids = NULL;
	size_t n;
	int r;

	if (level < 2)
		return 0; /* our namespace: our PIDs are the tree's */
	r = tree_ids(t, level, &ids);
	if (r < 0)
		return r;
	n = root->n_members + 1;
	for (size_t i = 0; i < t->n; i++) {
		r = convert_threads(t->procs[i].snap, level);
		if (r >= 0)
			r = convert_process(&t->procs[i].snap->proc, ids, n, level);
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < root->n_members; k++) {
		struct snapshot_member *m = &root->members[k];

		m->ppid = ns_pid_of(ids, n, m->ppid);
		m->pid = ids[1 + k].pid;
		m->pgid = ids[1 + k].pgid;
		m->sid = ids[1 + k].sid;
	}
	log_debug("PID %d is PID %d in its own PID namespace; its tree is saved with the PIDs "
		  "it has there",
		  (int) t->procs[0].pid, (int) root->proc.pid);
	return 0;
}
