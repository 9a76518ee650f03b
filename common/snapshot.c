// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ownership and structural validation of struct snapshot. Validation is what
 * stands between a decoded (untrusted) image and the code that acts on it:
 * every index must point inside its table and every region must be sane.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include <sys/socket.h>

#include "snapshot.h"

struct snapshot *snapshot_new(void)
{
	struct snapshot *s = new0(struct snapshot, 1);

	if (!s)
		return NULL;
	s->proc.exe_file = SNAPSHOT_NONE;
	for (size_t i = 0; i < RLIM_NLIMITS; i++)
		s->proc.rlimits[i] = (struct rlimit){ RLIM_INFINITY, RLIM_INFINITY };
	return s;
}

struct snapshot *snapshot_free(struct snapshot *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_threads; i++) {
		free(s->threads[i].xstate);
		free(s->threads[i].pending);
		free(s->threads[i].seccomp);
	}
	free(s->threads);
	for (size_t i = 0; i < s->n_regions; i++)
		free(s->regions[i].name);
	free(s->regions);
	for (size_t i = 0; i < s->n_files; i++) {
		free(s->files[i].path);
		free(s->files[i].anon.watches);
	}
	free(s->files);
	free(s->open_files);
	free(s->fds);
	free(s->proc.groups);
	free(s->proc.auxv);
	free(s->proc.cwd);
	free(s->proc.cmdline);
	free(s->proc.pending);
	free(s->proc.timers);
	for (size_t i = 0; i < s->n_filters; i++)
		free(s->filters[i].insns);
	free(s->filters);
	free(s->members);
	free(s);
	return NULL;
}

#define DEFINE_APPENDER_OF(owner, fn, type, array, allocated, count, max, init)                    \
	type *fn(owner *s)                                                                         \
	{                                                                                          \
		type *e;                                                                           \
		if (s->count >= (max))                                                             \
			return NULL;                                                               \
		if (GROW(s->array, s->allocated, s->count + 1) < 0)                                \
			return NULL;                                                               \
		e = &s->array[s->count++];                                                         \
		memset(e, 0, sizeof(*e));                                                          \
		init;                                                                              \
		return e;                                                                          \
	}
#define DEFINE_APPENDER(fn, type, array, count, max, init)                                         \
	DEFINE_APPENDER_OF(struct snapshot, fn, type, array, allocated_##array, count, max, init)

DEFINE_APPENDER(snapshot_add_thread, struct snapshot_thread, threads, n_threads,
		SNAPSHOT_MAX_THREADS, (void) 0)
DEFINE_APPENDER(snapshot_add_region, struct snapshot_region, regions, n_regions,
		SNAPSHOT_MAX_REGIONS, (e->file = SNAPSHOT_NONE, e->stream = SNAPSHOT_NONE))
DEFINE_APPENDER(snapshot_add_file, struct snapshot_file, files, n_files, SNAPSHOT_MAX_FILES,
		e->stream = SNAPSHOT_NONE)
DEFINE_APPENDER(snapshot_add_open_file, struct snapshot_open_file, open_files, n_open_files,
		SNAPSHOT_MAX_FDS, (void) 0)
DEFINE_APPENDER(snapshot_add_fd, struct snapshot_fd, fds, n_fds, SNAPSHOT_MAX_FDS, (void) 0)
DEFINE_APPENDER_OF(struct snapshot_file, snapshot_add_watch, struct snapshot_epoll_watch,
		   anon.watches, anon.allocated_watches, anon.n_watches, SNAPSHOT_MAX_WATCHES,
		   (void) 0)
DEFINE_APPENDER(snapshot_add_filter, struct snapshot_filter, filters, n_filters,
		SNAPSHOT_MAX_FILTERS, (void) 0)
DEFINE_APPENDER(snapshot_add_member, struct snapshot_member, members, n_members,
		SNAPSHOT_MAX_MEMBERS, (void) 0)

static int fail(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return -EBADMSG;
}

static int validate_regions(const struct snapshot *s, const char **ret_reason)
{
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];

		if (r->start >= r->end || !IS_ALIGNED(r->start, PAGE_SIZE) ||
		    !IS_ALIGNED(r->end, PAGE_SIZE) || r->end > (1ULL << 47))
			return fail(ret_reason, "a memory region has an invalid address range");
		if (i > 0 && s->regions[i - 1].end > r->start)
			return fail(ret_reason, "memory regions overlap or are out of order");
		if (r->prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
			return fail(ret_reason, "a memory region has unknown protection bits");
		if ((unsigned) r->kind >= _REGION_KIND_MAX)
			return fail(ret_reason, "a memory region has an unknown kind");
		if (r->kind == REGION_KIND_FILE && r->file >= s->n_files)
			return fail(ret_reason, "a memory region refers to a missing file");
		if (r->kind != REGION_KIND_FILE && r->file != SNAPSHOT_NONE)
			return fail(ret_reason, "an anonymous memory region refers to a file");
		if (!IS_ALIGNED(r->pgoff, PAGE_SIZE))
			return fail(ret_reason, "a file mapping has an unaligned offset");
	}
	return 0;
}

static const struct snapshot_file *file_of_fd(const struct snapshot *s, int32_t fd)
{
	for (size_t i = 0; i < s->n_fds; i++)
		if (s->fds[i].fd == fd)
			return &s->files[s->open_files[s->fds[i].open_file].file];
	return NULL;
}

/* Runs after the fd table is known good: every target must be a non-epoll fd of the process. */
static int validate_watches(const struct snapshot *s, const char **ret_reason)
{
	for (size_t i = 0; i < s->n_files; i++) {
		const struct snapshot_file *f = &s->files[i];

		if (f->anon.n_watches > 0 && f->kind != FILE_KIND_EPOLL)
			return fail(ret_reason, "a file that is not an epoll has registrations");
		for (size_t j = 0; j < f->anon.n_watches; j++) {
			const struct snapshot_file *t = file_of_fd(s, f->anon.watches[j].fd);

			if (!t)
				return fail(ret_reason, "an epoll registration names a missing fd");
			if (t->kind == FILE_KIND_EPOLL)
				return fail(ret_reason, "an epoll registration names an epoll");
		}
	}
	return 0;
}

/* Ends of a pair name each other and agree on the type; a pair's queues restore in order. */
static bool pair_valid(const struct snapshot *s, size_t i)
{
	const struct snapshot_file *f = &s->files[i], *p;

	if (f->sock.peer >= s->n_files || f->sock.peer == i)
		return false;
	p = &s->files[f->sock.peer];
	return p->kind == FILE_KIND_UNIX_PAIR && p->sock.peer == i && p->sock.type == f->sock.type &&
	       (f->sock.type == SOCK_STREAM || f->sock.type == SOCK_DGRAM ||
		f->sock.type == SOCK_SEQPACKET) &&
	       f->sock.family == AF_UNIX;
}

static int validate_files(const struct snapshot *s, const char **ret_reason)
{
	for (size_t i = 0; i < s->n_files; i++) {
		const struct snapshot_file *f = &s->files[i];

		if ((unsigned) f->kind >= _FILE_KIND_MAX)
			return fail(ret_reason, "a file has an unknown kind");
		if (!f->path)
			return fail(ret_reason, "a file has no path");
		if ((f->kind == FILE_KIND_REGULAR || f->kind == FILE_KIND_DIRECTORY ||
		     f->kind == FILE_KIND_DEVICE) &&
		    f->path[0] != '/')
			return fail(ret_reason, "a file path is not absolute");
		if (f->id.build_id_size > sizeof(f->id.build_id))
			return fail(ret_reason, "a build-id is too long");
		if (f->kind == FILE_KIND_UNIX_PAIR && !pair_valid(s, i))
			return fail(ret_reason, "a socket pair end has no matching other end");
	}
	for (size_t i = 0; i < s->n_open_files; i++)
		if (s->open_files[i].file >= s->n_files)
			return fail(ret_reason, "an open file refers to a missing file");
	for (size_t i = 0; i < s->n_fds; i++) {
		if (s->fds[i].fd < 0 || s->fds[i].open_file >= s->n_open_files)
			return fail(ret_reason, "a file descriptor entry is invalid");
		if (i > 0 && s->fds[i - 1].fd >= s->fds[i].fd)
			return fail(ret_reason, "file descriptors are duplicated or out of order");
	}
	return validate_watches(s, ret_reason);
}

static int validate_clocks(const struct snapshot_clocks *c, const char **ret_reason)
{
	const int64_t v[] = { c->monotonic_ns, c->boottime_ns, c->host_monotonic_ns,
			      c->host_boottime_ns };

	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		if (v[i] < 0 || v[i] > SNAPSHOT_CLOCK_MAX_NS)
			return fail(ret_reason, "a saved clock reading is out of range");
	return 0;
}

static int validate_threads(const struct snapshot *s, const char **ret_reason)
{
	if (s->n_threads == 0)
		return fail(ret_reason, "the image holds no thread");
	if (s->threads[0].tid != s->proc.pid)
		return fail(ret_reason, "the first thread is not the process's main thread");
	for (size_t i = 0; i < s->n_threads; i++) {
		const struct snapshot_thread *t = &s->threads[i];

		if (t->tid <= 0)
			return fail(ret_reason, "a thread has an invalid id");
		for (size_t j = 0; j < i; j++)
			if (s->threads[j].tid == t->tid)
				return fail(ret_reason, "two threads have the same id");
		if (t->xstate_size != s->cpu.xstate_size)
			return fail(ret_reason, "a thread's extended state has the wrong size");
		if (t->n_seccomp > SNAPSHOT_MAX_FILTERS)
			return fail(ret_reason, "a thread has too many seccomp filters");
		for (size_t k = 0; k < t->n_seccomp; k++)
			if (t->seccomp[k] >= s->n_filters)
				return fail(ret_reason, "a thread refers to a missing seccomp filter");
	}
	return 0;
}

static bool is_thread(const struct snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

/* Timers and filters: what restore hands to timer_create() and seccomp() must be sane. */
static int validate_timers_and_filters(const struct snapshot *s, const char **ret_reason)
{
	for (size_t i = 0; i < s->proc.n_timers; i++) {
		const struct snapshot_timer *t = &s->proc.timers[i];

		if (t->id < 0 || (i > 0 && s->proc.timers[i - 1].id >= t->id))
			return fail(ret_reason, "POSIX timer ids are invalid, repeated or out of order");
		if (t->notify != SNAPSHOT_SIGEV_SIGNAL && t->notify != SNAPSHOT_SIGEV_NONE &&
		    t->notify != (SNAPSHOT_SIGEV_SIGNAL | SNAPSHOT_SIGEV_THREAD_ID))
			return fail(ret_reason, "a POSIX timer has an unknown notification");
		if (t->notify != SNAPSHOT_SIGEV_NONE && (t->signo < 1 || t->signo > SNAPSHOT_NSIG))
			return fail(ret_reason, "a POSIX timer has an invalid signal");
		if ((t->notify & SNAPSHOT_SIGEV_THREAD_ID) && !is_thread(s, t->tid))
			return fail(ret_reason, "a POSIX timer signals a thread the image lacks");
	}
	for (size_t i = 0; i < s->n_filters; i++)
		if (s->filters[i].n_insns == 0 || s->filters[i].n_insns > SNAPSHOT_MAX_FILTER_INSNS)
			return fail(ret_reason, "a seccomp filter has an invalid length");
	return 0;
}

/* What wait() can report of a process that ended: an exit code, or a signal that kills. */
static bool exit_status_valid(int32_t st)
{
	int sig = st & 0x7f;

	if (st & ~0xffff)
		return false;
	if (sig == 0)
		return true;
	return sig != 0x7f && sig <= SNAPSHOT_NSIG && (st >> 8) == 0 && sig != SIGSTOP &&
	       sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU && sig != SIGCHLD && sig != SIGCONT &&
	       sig != SIGURG && sig != SIGWINCH;
}

/* Each member is new and its parent came before it: restore creates them in this order. */
static int validate_members(const struct snapshot *s, const char **ret_reason)
{
	for (size_t i = 0; i < s->n_members; i++) {
		const struct snapshot_member *m = &s->members[i];
		bool parent = m->ppid == s->proc.pid;

		if (m->pid <= 0 || m->pid == s->proc.pid || m->pgid <= 0 || m->sid <= 0)
			return fail(ret_reason, "a process of the tree has an invalid id");
		if (m->zombie && !exit_status_valid(m->exit_status))
			return fail(ret_reason, "a zombie of the tree has an invalid exit status");
		for (size_t k = 0; k < i; k++) {
			if (s->members[k].pid == m->pid)
				return fail(ret_reason, "a process of the tree appears twice");
			parent = parent || (s->members[k].pid == m->ppid && !s->members[k].zombie);
		}
		if (!parent)
			return fail(ret_reason, "a process of the tree comes before its parent");
	}
	return 0;
}

static bool same_object(const struct snapshot_file *a, const struct snapshot_file *b)
{
	return a->kind == b->kind &&
	       (file_kind_is_anon(a->kind) || (a->id.dev == b->id.dev && a->id.ino == b->id.ino));
}

/* Item i of s, among its files or its open file descriptions: its share key and its file. */
static const struct snapshot_file *shared_item(const struct snapshot *s, bool descriptions,
					       size_t i, uint64_t *ret_key)
{
	if (!descriptions) {
		*ret_key = s->files[i].share;
		return &s->files[i];
	}
	*ret_key = s->open_files[i].share;
	return &s->files[s->open_files[i].file];
}

static size_t n_items(const struct snapshot *s, bool descriptions)
{
	return descriptions ? s->n_open_files : s->n_files;
}

/* The first process q < p holding key for another object than f; -1 when none. */
static ssize_t share_clash(const struct snapshot *const *snaps, size_t p, bool descriptions,
			   uint64_t key, const struct snapshot_file *f)
{
	for (size_t q = 0; q < p; q++)
		for (size_t k = 0; k < n_items(snaps[q], descriptions); k++) {
			uint64_t other;
			const struct snapshot_file *g = shared_item(snaps[q], descriptions, k, &other);

			if (other == key && !same_object(f, g))
				return (ssize_t) q;
		}
	return -1;
}

int snapshot_validate_shares(const struct snapshot *const *snaps, size_t n, size_t ret_pair[2],
			     const char **ret_reason)
{
	for (int descriptions = 1; descriptions >= 0; descriptions--)
		for (size_t p = 1; p < n; p++)
			for (size_t i = 0; i < n_items(snaps[p], descriptions); i++) {
				uint64_t key;
				const struct snapshot_file *f =
					shared_item(snaps[p], descriptions, i, &key);
				ssize_t q = key ? share_clash(snaps, p, descriptions, key, f) : -1;

				if (q >= 0) {
					ret_pair[0] = (size_t) q;
					ret_pair[1] = p;
					return fail(ret_reason, descriptions ? "an open file" : "a file");
				}
			}
	return 0;
}

int snapshot_validate(const struct snapshot *s, const char **ret_reason)
{
	int r;

	if (s->proc.pid <= 0)
		return fail(ret_reason, "the process id is invalid");
	if (s->cpu.xstate_size < 576 || s->cpu.xstate_size > SNAPSHOT_XSTATE_MAX)
		return fail(ret_reason, "the extended state size is invalid");
	if (s->proc.exe_file != SNAPSHOT_NONE && s->proc.exe_file >= s->n_files)
		return fail(ret_reason, "the executable refers to a missing file");
	r = validate_clocks(&s->proc.clocks, ret_reason);
	if (r < 0)
		return r;
	r = validate_threads(s, ret_reason);
	if (r < 0)
		return r;
	r = validate_timers_and_filters(s, ret_reason);
	if (r < 0)
		return r;
	r = validate_members(s, ret_reason);
	if (r < 0)
		return r;
	r = validate_regions(s, ret_reason);
	if (r < 0)
		return r;
	return validate_files(s, ret_reason);
}

const char *region_kind_to_string(enum region_kind k)
{
	switch (k) {
	case REGION_KIND_ANON:
		return "anon";
	case REGION_KIND_FILE:
		return "file";
	case REGION_KIND_VDSO:
		return "vdso";
	case REGION_KIND_VVAR:
		return "vvar";
	case REGION_KIND_VVAR_VCLOCK:
		return "vvar_vclock";
	case _REGION_KIND_MAX:
		break;
	}
	return "?";
}

const char *file_kind_to_string(enum file_kind k)
{
	switch (k) {
	case FILE_KIND_REGULAR:
		return "file";
	case FILE_KIND_DELETED:
		return "deleted";
	case FILE_KIND_MEMFD:
		return "memfd";
	case FILE_KIND_SHMEM:
		return "shmem";
	case FILE_KIND_DIRECTORY:
		return "dir";
	case FILE_KIND_DEVICE:
		return "device";
	case FILE_KIND_EXTERNAL:
		return "external";
	case FILE_KIND_PIPE:
		return "pipe";
	case FILE_KIND_EVENTFD:
		return "eventfd";
	case FILE_KIND_TIMERFD:
		return "timerfd";
	case FILE_KIND_SIGNALFD:
		return "signalfd";
	case FILE_KIND_EPOLL:
		return "epoll";
	case FILE_KIND_UNIX_PAIR:
		return "socketpair";
	case FILE_KIND_TCP_CLOSED:
		return "tcp-closed";
	case FILE_KIND_UNIX_LISTEN:
		return "unix-listen";
	case _FILE_KIND_MAX:
		break;
	}
	return "?";
}

bool file_kind_is_anon(enum file_kind k)
{
	return k == FILE_KIND_EVENTFD || k == FILE_KIND_TIMERFD || k == FILE_KIND_SIGNALFD ||
	       k == FILE_KIND_EPOLL;
}

bool file_kind_is_socket(enum file_kind k)
{
	return k == FILE_KIND_UNIX_PAIR || k == FILE_KIND_TCP_CLOSED || k == FILE_KIND_UNIX_LISTEN;
}

const char *region_prot_to_string(const struct snapshot_region *r, char buf[static 5])
{
	buf[0] = r->prot & PROT_READ ? 'r' : '-';
	buf[1] = r->prot & PROT_WRITE ? 'w' : '-';
	buf[2] = r->prot & PROT_EXEC ? 'x' : '-';
	buf[3] = r->flags & REGION_FLAG_SHARED ? 's' : 'p';
	buf[4] = 0;
	return buf;
}
