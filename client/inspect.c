// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * "ckptd inspect DIR": what a snapshot holds, for people (a few aligned
 * sections) or scripts (--json). Reads through the same verified paths as
 * restore, so a damaged image is reported, not printed.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "image-core.h"
#include "image.h"
#include "log.h"
#include "page-index.h"
#include "snapshot.h"
#include "util.h"
#include "verbs.h"

#define ERESTART_FIRST 512
#define ERESTART_LAST 516

/* The XSAVE components a snapshot's threads had in use (XSTATE_BV bits). */
static const char *xfeature_name(unsigned bit)
{
	static const char *const names[] = {
		"x87", "SSE", "AVX", "MPX-bounds", "MPX-csr", "AVX512-opmask", "AVX512-zmm-hi256",
		"AVX512-hi16-zmm", "PT", "PKRU", "PASID", "CET-user", "CET-kernel", "HDC", "UINTR",
		"LBR", "HWP", "AMX-tilecfg", "AMX-tiledata", "APX",
	};

	return bit < ELEMENTSOF(names) ? names[bit] : "unknown";
}

struct loaded {
	struct image *img;
	struct snapshot *snap;
	struct page_index *pages;
};

static void loaded_done(struct loaded *l)
{
	page_index_free(l->pages);
	snapshot_free(l->snap);
	image_free(l->img);
}

static int load(const char *dir, struct loaded *l)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ void *core = NULL, *idx = NULL;
	const char *reason = NULL;
	size_t n_core, n_idx;
	int r;

	r = image_open(AT_FDCWD, dir, &l->img, &error);
	if (r >= 0)
		r = image_read_file(l->img, IMAGE_CORE, 256u << 20, &core, &n_core, &error);
	if (r >= 0)
		r = image_read_file(l->img, IMAGE_PAGES, 1u << 30, &idx, &n_idx, &error);
	if (r < 0)
		return log_error_errno(r, "Cannot read the image %s: %s", dir,
				       error ? error : strerror(-r));
	r = image_core_decode(core, n_core, &l->snap, &reason);
	if (r < 0)
		return log_error_errno(r, "The image %s is damaged: %s: %s", dir, IMAGE_CORE,
				       reason ? reason : strerror(-r));
	r = page_index_decode(idx, n_idx, &l->pages);
	if (r < 0)
		return log_error_errno(r, "The image %s is damaged: %s cannot be decoded", dir,
				       IMAGE_PAGES);
	return 0;
}

static uint64_t stream_pages(const struct loaded *l, uint32_t stream)
{
	if (stream == SNAPSHOT_NONE || stream >= l->pages->n_streams)
		return 0;
	return l->pages->streams[stream].n_pages;
}

/* Whether and how the thread was inside a system call. */
static const char *syscall_state(const struct snapshot_thread *t, char *buf, size_t size)
{
	int64_t rax = (int64_t) t->regs.rax;

	if ((int64_t) t->regs.orig_rax < 0)
		return "running";
	if (-rax >= ERESTART_FIRST && -rax <= ERESTART_LAST)
		snprintf(buf, size, "in syscall %lld (interrupted, %s)",
			 (long long) t->regs.orig_rax,
			 -rax == ERESTART_LAST ? "returns EINTR" : "restarts");
	else
		snprintf(buf, size, "after syscall %lld", (long long) t->regs.orig_rax);
	return buf;
}

static const struct snapshot_fd *fd_of(const struct snapshot *s, size_t i, const char **path,
				       const struct snapshot_open_file **of)
{
	const struct snapshot_fd *fd = &s->fds[i];

	*of = &s->open_files[fd->open_file];
	*path = s->files[(*of)->file].path;
	return fd;
}

/* What an event fd or socket pair end held, for people; "" for other kinds. */
static const char *anon_state(const struct snapshot_file *f, char *buf, size_t size)
{
	const struct snapshot_anon *a = &f->anon;

	buf[0] = 0;
	if (f->kind == FILE_KIND_EVENTFD)
		snprintf(buf, size, "count %" PRIu64 "%s", a->count,
			 a->flags & 1 ? " semaphore" : "");
	else if (f->kind == FILE_KIND_TIMERFD)
		snprintf(buf, size, "clock %d flags %u left %" PRIu64 " ns every %" PRIu64
				    " ns, %" PRIu64 " unread",
			 (int) a->clockid, a->flags, a->value_ns, a->interval_ns, a->count);
	else if (f->kind == FILE_KIND_SIGNALFD)
		snprintf(buf, size, "mask %016" PRIx64, a->sigmask);
	else if (f->kind == FILE_KIND_EPOLL)
		snprintf(buf, size, "%zu registrations", a->n_watches);
	else if (f->kind == FILE_KIND_UNIX_PAIR)
		snprintf(buf, size, "type %u, %" PRIu64 " bytes queued%s%s", f->sock.type, f->id.size,
			 f->sock.shutdown & 1 ? ", reads shut" : "",
			 f->sock.shutdown & 2 ? ", writes shut" : "");
	return buf;
}

static const char *member_state(const struct snapshot_member *m, char *buf, size_t size)
{
	if (!m->zombie)
		snprintf(buf, size, "running%s", m->shares_fs ? ", shares cwd with its parent" : "");
	else if (WIFSIGNALED(m->exit_status))
		snprintf(buf, size, "zombie, killed by signal %d", WTERMSIG(m->exit_status));
	else
		snprintf(buf, size, "zombie, exit status %d", WEXITSTATUS(m->exit_status));
	return buf;
}

/* The processes of a tree; the sections after this one are about the root. */
static void print_tree(const struct snapshot *s)
{
	if (!s->n_members)
		return;
	printf("\ntree (%zu processes)\n", s->n_members + 1);
	printf("  %-7s %-7s %-7s %-7s\n", "PID", "PPID", "PGID", "SID");
	printf("  %-7d %-7d %-7d %-7d root\n", (int) s->proc.pid, (int) s->proc.ppid,
	       (int) s->proc.pgid, (int) s->proc.sid);
	for (size_t i = 0; i < s->n_members; i++) {
		const struct snapshot_member *m = &s->members[i];
		char st[64];

		printf("  %-7d %-7d %-7d %-7d %s\n", (int) m->pid, (int) m->ppid, (int) m->pgid,
		       (int) m->sid, member_state(m, st, sizeof(st)));
	}
	printf("\nthe root process:\n");
}

static void print_human(const char *dir, const struct loaded *l)
{
	const struct image_manifest *m = l->img->manifest;
	const struct snapshot *s = l->snap;
	char b1[FORMAT_BYTES_MAX], b2[FORMAT_BYTES_MAX], d1[FORMAT_DURATION_MAX], when[64];
	time_t t = (time_t)(m->created_ns / 1000000000ULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	printf("image     %s (format %u, ckptd %s)\n", dir, m->format, m->tool_version);
	printf("taken     %s on %s, kernel %s\n", when, m->hostname, m->kernel_release);
	printf("process   %d %s, uid %u, exe %s\n", (int) s->proc.pid, s->proc.comm,
	       (unsigned) s->proc.uid[0], m->exe);
	printf("cmdline   %s\n", m->cmdline);
	printf("cwd       %s\n", s->proc.cwd);
	printf("clocks    monotonic %.3f s, boottime %.3f s (host: %.3f s, %.3f s)\n",
	       (double) s->proc.clocks.monotonic_ns / 1e9, (double) s->proc.clocks.boottime_ns / 1e9,
	       (double) s->proc.clocks.host_monotonic_ns / 1e9,
	       (double) s->proc.clocks.host_boottime_ns / 1e9);
	printf("cpu state");
	for (unsigned i = 0; i < 64; i++)
		if (s->cpu.xfeatures_used & (1ULL << i))
			printf(" %s", xfeature_name(i));
	printf("\n");
	printf("snapshot  %" PRIu64 " pages (%s), %s written, frozen %s\n", m->stats.pages,
	       format_bytes(b1, sizeof(b1), m->stats.pages * PAGE_SIZE),
	       format_bytes(b2, sizeof(b2), m->stats.bytes_written),
	       format_duration(d1, sizeof(d1), m->stats.freeze_ns));
	print_tree(s);

	printf("\nthreads (%zu)\n", s->n_threads);
	for (size_t i = 0; i < s->n_threads; i++) {
		const struct snapshot_thread *th = &s->threads[i];
		char st[96];

		printf("  %-7d %-16s rip 0x%012llx  %s\n", (int) th->tid, th->comm,
		       (unsigned long long) th->regs.rip, syscall_state(th, st, sizeof(st)));
	}

	printf("\nmemory (%zu regions)\n", s->n_regions);
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];
		char prot[5];

		printf("  %012" PRIx64 "-%012" PRIx64 " %s %-11s %8" PRIu64 " pages  %s\n",
		       r->start, r->end, region_prot_to_string(r, prot), region_kind_to_string(r->kind),
		       stream_pages(l, r->stream), r->name ? r->name : "");
	}

	printf("\nfiles (%zu fds)\n", s->n_fds);
	for (size_t i = 0; i < s->n_fds; i++) {
		const struct snapshot_open_file *of;
		const char *path;
		const struct snapshot_fd *fd = fd_of(s, i, &path, &of);
		char state[160];

		printf("  %-4d %-9s pos %-10" PRIu64 " flags 0%o%s  %s %s\n", fd->fd,
		       file_kind_to_string(s->files[of->file].kind), of->pos, of->flags,
		       fd->cloexec ? " cloexec" : "", path,
		       anon_state(&s->files[of->file], state, sizeof(state)));
	}
}

static json_object *json_hex(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

static json_object *json_cmdline(const struct snapshot_process *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < p->cmdline_size;) {
		size_t n = strnlen(p->cmdline + i, p->cmdline_size - i);

		json_object_array_add(a, json_object_new_string_len(p->cmdline + i, (int) n));
		i += n + 1;
	}
	return a;
}

/* As the process saw them at the freeze, and the host's (both in nanoseconds). */
static json_object *json_clocks(const struct snapshot_clocks *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "monotonic_ns", json_object_new_int64(c->monotonic_ns));
	json_object_object_add(o, "boottime_ns", json_object_new_int64(c->boottime_ns));
	json_object_object_add(o, "host_monotonic_ns", json_object_new_int64(c->host_monotonic_ns));
	json_object_object_add(o, "host_boottime_ns", json_object_new_int64(c->host_boottime_ns));
	return o;
}

static json_object *json_threads(const struct snapshot *s)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n_threads; i++) {
		const struct snapshot_thread *t = &s->threads[i];
		json_object *o = json_object_new_object();
		char st[96];

		json_object_object_add(o, "tid", json_object_new_int(t->tid));
		json_object_object_add(o, "comm", json_object_new_string(t->comm));
		json_object_object_add(o, "rip", json_hex(t->regs.rip));
		json_object_object_add(o, "rsp", json_hex(t->regs.rsp));
		json_object_object_add(o, "state",
				       json_object_new_string(syscall_state(t, st, sizeof(st))));
		json_object_object_add(o, "sigmask", json_hex(t->sigmask));
		json_object_object_add(o, "pending", json_object_new_int((int) t->n_pending));
		json_object_object_add(o, "seccomp_filters", json_object_new_int((int) t->n_seccomp));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_timers(const struct snapshot_process *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < p->n_timers; i++) {
		const struct snapshot_timer *t = &p->timers[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int(t->id));
		json_object_object_add(o, "clock", json_object_new_int(t->clock));
		json_object_object_add(o, "notify", json_object_new_int(t->notify));
		json_object_object_add(o, "signal", json_object_new_int(t->signo));
		json_object_object_add(o, "tid", json_object_new_int(t->tid));
		json_object_object_add(o, "value_ns", json_object_new_int64((int64_t) t->value_ns));
		json_object_object_add(o, "interval_ns",
				       json_object_new_int64((int64_t) t->interval_ns));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_regions(const struct loaded *l)
{
	const struct snapshot *s = l->snap;
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];
		json_object *o = json_object_new_object();
		char prot[5];

		json_object_object_add(o, "start", json_hex(r->start));
		json_object_object_add(o, "end", json_hex(r->end));
		json_object_object_add(o, "prot",
				       json_object_new_string(region_prot_to_string(r, prot)));
		json_object_object_add(o, "kind",
				       json_object_new_string(region_kind_to_string(r->kind)));
		json_object_object_add(o, "name", json_object_new_string(r->name ? r->name : ""));
		json_object_object_add(o, "pages",
				       json_object_new_int64((int64_t) stream_pages(l, r->stream)));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_fds(const struct snapshot *s)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n_fds; i++) {
		const struct snapshot_open_file *of;
		const char *path;
		const struct snapshot_fd *fd = fd_of(s, i, &path, &of);
		json_object *o = json_object_new_object();
		char state[160];

		json_object_object_add(o, "fd", json_object_new_int(fd->fd));
		if (file_kind_is_anon(s->files[of->file].kind) ||
		    s->files[of->file].kind == FILE_KIND_UNIX_PAIR)
			json_object_object_add(o, "state",
					       json_object_new_string(anon_state(
						       &s->files[of->file], state, sizeof(state))));
		json_object_object_add(
			o, "kind", json_object_new_string(file_kind_to_string(s->files[of->file].kind)));
		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "pos", json_object_new_int64((int64_t) of->pos));
		json_object_object_add(o, "flags", json_object_new_int((int) of->flags));
		json_object_object_add(o, "cloexec", json_object_new_boolean(fd->cloexec));
		json_object_object_add(o, "description", json_object_new_int((int) fd->open_file));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_members(const struct snapshot *s)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n_members; i++) {
		const struct snapshot_member *m = &s->members[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "pid", json_object_new_int(m->pid));
		json_object_object_add(o, "ppid", json_object_new_int(m->ppid));
		json_object_object_add(o, "pgid", json_object_new_int(m->pgid));
		json_object_object_add(o, "sid", json_object_new_int(m->sid));
		json_object_object_add(o, "zombie", json_object_new_boolean(m->zombie));
		if (m->zombie)
			json_object_object_add(o, "exit_status", json_object_new_int(m->exit_status));
		json_object_array_add(a, o);
	}
	return a;
}

static void print_json(const struct loaded *l)
{
	const struct image_manifest *m = l->img->manifest;
	const struct snapshot *s = l->snap;
	json_object *o = json_object_new_object(), *st = json_object_new_object();

	json_object_object_add(o, "format", json_object_new_int((int) m->format));
	json_object_object_add(o, "created_ns", json_object_new_int64((int64_t) m->created_ns));
	json_object_object_add(o, "hostname", json_object_new_string(m->hostname));
	json_object_object_add(o, "kernel", json_object_new_string(m->kernel_release));
	json_object_object_add(o, "pid", json_object_new_int(s->proc.pid));
	json_object_object_add(o, "comm", json_object_new_string(s->proc.comm));
	json_object_object_add(o, "exe", json_object_new_string(m->exe));
	json_object_object_add(o, "cmdline", json_cmdline(&s->proc));
	json_object_object_add(o, "cwd", json_object_new_string(s->proc.cwd ? s->proc.cwd : ""));
	json_object_object_add(o, "uid", json_object_new_int64(s->proc.uid[0]));
	json_object_object_add(o, "clocks", json_clocks(&s->proc.clocks));
	json_object_object_add(o, "xfeatures_used", json_hex(s->cpu.xfeatures_used));
	json_object_object_add(o, "no_new_privs", json_object_new_boolean(s->proc.no_new_privs));
	json_object_object_add(o, "seccomp_filters", json_object_new_int((int) s->n_filters));
	json_object_object_add(o, "timers", json_timers(&s->proc));
	json_object_object_add(o, "threads", json_threads(s));
	json_object_object_add(o, "regions", json_regions(l));
	json_object_object_add(o, "fds", json_fds(s));
	json_object_object_add(o, "members", json_members(s));
	json_object_object_add(st, "pages", json_object_new_int64((int64_t) m->stats.pages));
	json_object_object_add(st, "bytes_written",
			       json_object_new_int64((int64_t) m->stats.bytes_written));
	json_object_object_add(st, "freeze_ns", json_object_new_int64((int64_t) m->stats.freeze_ns));
	json_object_object_add(st, "wall_ns", json_object_new_int64((int64_t) m->stats.wall_ns));
	json_object_object_add(o, "stats", st);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int verb_inspect(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct loaded l = {};
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", options, NULL)) >= 0)
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: ckptd inspect DIR [--json]\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	if (optind + 1 != argc) {
		log_error("usage: ckptd inspect DIR [--json]");
		return EXIT_USAGE;
	}
	r = load(argv[optind], &l);
	if (r >= 0) {
		if (json)
			print_json(&l);
		else
			print_human(argv[optind], &l);
	}
	loaded_done(&l);
	return r < 0 ? 1 : 0;
}
