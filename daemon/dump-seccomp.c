// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seccomp filters, per thread, read with PTRACE_SECCOMP_GET_FILTER and
 * PTRACE_SECCOMP_GET_METADATA (both need CAP_SYS_ADMIN and a tracer that is
 * not itself filtered). Filters threads share (inherited at clone, or synced
 * with TSYNC) are stored once, so a restore can share them again.
 */
#define LOG_PREFIX "dump: "

#include <string.h>
#include <sys/ptrace.h>

#include "dump.h"
#include "log.h"
#include "proc.h"

/* glibc's enum has them (as enumerators, which #ifndef cannot see). */
#define SECCOMP_GET_FILTER ((enum __ptrace_request) 0x420c)
#define SECCOMP_GET_METADATA ((enum __ptrace_request) 0x420d)

struct filter_metadata {
	uint64_t filter_off;
	uint64_t flags;
};

/*
 * The index-th filter of tid, counted from its oldest (0), as the kernel's
 * get_nth_filter() counts; -ENOENT past the newest.
 */
static int read_filter(pid_t tid, uint64_t index, uint64_t *buf, struct snapshot_filter *ret)
{
	struct filter_metadata md = { .filter_off = index };
	long n;

	n = ptrace(SECCOMP_GET_FILTER, tid, (void *) index, buf);
	if (n < 0)
		return -errno;
	if (n == 0 || n > SNAPSHOT_MAX_FILTER_INSNS)
		return -EBADMSG;
	if (ptrace(SECCOMP_GET_METADATA, tid, (void *) sizeof(md), &md) < 0)
		return -errno;
	ret->flags = md.flags;
	ret->n_insns = (size_t) n;
	ret->insns = buf;
	return 0;
}

static bool same_filter(const struct snapshot_filter *a, const struct snapshot_filter *b)
{
	return a->flags == b->flags && a->n_insns == b->n_insns &&
	       memcmp(a->insns, b->insns, a->n_insns * sizeof(uint64_t)) == 0;
}

/*
 * The kernel does not say whether two threads' filters are one object: a
 * filter is taken as shared when an earlier thread has the same program at
 * the same depth on top of the same (shared) filters. Two identical chains
 * built separately become shared; they filter exactly alike, and only a
 * later TSYNC could tell.
 */
static int filter_index(struct snapshot *s, size_t thread, size_t depth,
			const struct snapshot_filter *f, uint32_t *ret)
{
	const uint32_t *mine = s->threads[thread].seccomp;
	struct snapshot_filter *n;

	for (size_t j = 0; j < thread; j++) {
		const struct snapshot_thread *t = &s->threads[j];

		if (t->n_seccomp > depth && (depth == 0 || t->seccomp[depth - 1] == mine[depth - 1]) &&
		    same_filter(&s->filters[t->seccomp[depth]], f)) {
			*ret = t->seccomp[depth];
			return 0;
		}
	}
	n = snapshot_add_filter(s);
	if (!n)
		return -E2BIG;
	n->flags = f->flags;
	n->n_insns = f->n_insns;
	n->insns = new0(uint64_t, f->n_insns);
	if (!n->insns)
		return -ENOMEM;
	memcpy(n->insns, f->insns, f->n_insns * sizeof(uint64_t));
	*ret = (uint32_t)(s->n_filters - 1);
	return 0;
}

static int dump_thread_filters(struct dump_ctx *c, size_t i, uint64_t *buf)
{
	struct snapshot_thread *t = &c->snap->threads[i];
	struct snapshot_filter f;
	size_t n = 0;
	int r;

	/* Count first, to size the chain. */
	while ((r = read_filter(t->tid, n, buf, &f)) >= 0)
		if (++n > SNAPSHOT_MAX_FILTERS)
			return log_error_errno(-E2BIG, "Thread %d has more than %d seccomp filters",
					       (int) t->tid, SNAPSHOT_MAX_FILTERS);
	if (r != -ENOENT)
		return log_error_errno(r, "Cannot read the seccomp filters of thread %d: %m",
				       (int) t->tid);
	t->seccomp = new0(uint32_t, n ? n : 1);
	if (!t->seccomp)
		return log_oom();
	t->n_seccomp = n;
	for (size_t d = 0; d < n; d++) {
		r = read_filter(t->tid, d, buf, &f);
		if (r >= 0)
			r = filter_index(c->snap, i, d, &f, &t->seccomp[d]);
		log_debug("thread %d filter %zu: %zu instructions, flags %#" PRIx64 ", stored as %u",
			  (int) t->tid, d, f.n_insns, f.flags, t->seccomp[d]);
		if (r < 0)
			return log_error_errno(r, "Cannot read seccomp filter %zu of thread %d: %m", d,
					       (int) t->tid);
	}
	return 0;
}

/* The seccomp mode of one thread: /proc/TID/status reaches threads too. */
static int thread_seccomp_mode(pid_t tid, int32_t *ret)
{
	struct proc_status st = {};
	int r = proc_read_status(tid, &st);

	if (r < 0)
		return log_error_errno(r, "Cannot read /proc/%d/status: %m", (int) tid);
	*ret = st.seccomp;
	proc_status_done(&st);
	return 0;
}

int dump_seccomp(struct dump_ctx *c)
{
	_cleanup_free_ uint64_t *buf = new0(uint64_t, SNAPSHOT_MAX_FILTER_INSNS);
	int r;

	if (!buf)
		return log_oom();
	for (size_t i = 0; i < c->snap->n_threads; i++) {
		pid_t tid = c->snap->threads[i].tid;
		int32_t mode;

		r = thread_seccomp_mode(tid, &mode);
		if (r < 0)
			return r;
		if (mode == 1)
			return log_error_errno(-EOPNOTSUPP,
					       "Thread %d of PID %d runs in strict seccomp mode "
					       "(SECCOMP_MODE_STRICT); ckptd cannot restore that",
					       (int) tid, (int) c->pid);
		if (mode != 2)
			continue;
		r = dump_thread_filters(c, i, buf);
		if (r < 0)
			return r;
	}
	return 0;
}
