// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One snapshot of one process, start to end: check the target, prepare the
 * image directory (so a bad DIR fails before the target is touched), freeze,
 * capture, commit, then let the target go or end it. Whatever fails, the
 * target gets its own state back and runs on, and no half image is left.
 */
#define LOG_PREFIX "dump: "

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "config.h"
#include "cpu.h"
#include "dump.h"
#include "image-core.h"
#include "log.h"
#include "ptrace.h"
#include "timens.h"
#include "util.h"

#define DEFAULT_FREEZE_TIMEOUT_MS 5000
#define DEFAULT_ZSTD_LEVEL 1

static int image_error(int r, const char *name)
{
	switch (r) {
	case -ENOTEMPTY:
	case -EEXIST:
		return log_error_errno(r, "%s is not empty; give a new directory for the image",
				       name);
	case -ENOTDIR:
		return log_error_errno(r, "%s exists and is not a directory", name);
	case -EROFS:
		return log_error_errno(r, "Cannot write the image to %s: read-only file system",
				       name);
	case -ENOSPC:
	case -EDQUOT:
		return log_error_errno(r, "Cannot write the image to %s: no space left on the "
					  "device", name);
	default:
		return log_error_errno(r, "Cannot write the image to %s: %m", name);
	}
}

static int dump_setup(struct dump_ctx *c, int store_dfd)
{
	const struct dump_options *o = c->opts;
	int r;

	c->snap = snapshot_new();
	c->buf = malloc(DUMP_CHUNK_PAGES * PAGE_SIZE);
	if (!c->snap || !c->buf)
		return log_oom();
	cpu_layout(&c->snap->cpu);
	r = page_index_new(&c->pages);
	if (r < 0)
		return log_oom();
	if (o->known)
		c->known = o->known;
	else {
		r = page_hash_index_new(&c->known);
		if (r < 0)
			return log_oom();
	}
	r = pack_writer_new(store_dfd, o->pack_id ? o->pack_id : 1, c->known,
			    o->zstd_level ? o->zstd_level : DEFAULT_ZSTD_LEVEL, &c->pack);
	return r;
}

/* A process of the tree other than its root: its pages go to the root's store. */
static int member_setup(struct dump_ctx *c, const struct dump_ctx *root)
{
	c->snap = snapshot_new();
	c->buf = malloc(DUMP_CHUNK_PAGES * PAGE_SIZE);
	if (!c->snap || !c->buf)
		return log_oom();
	cpu_layout(&c->snap->cpu);
	c->pages = root->pages;
	c->pack = root->pack;
	c->known = root->known;
	c->borrowed_store = true;
	return 0;
}

static void dump_ctx_done(struct dump_ctx *c)
{
	closep(&c->mem_fd);
	free(c->stale);
	free(c->threads);
	free(c->pipe_ends);
	free(c->sockets);
	free(c->unix_socks);
	free(c->buf);
	if (!c->borrowed_store) {
		pack_writer_free(c->pack);
		page_index_free(c->pages);
		if (c->known != c->opts->known)
			page_hash_index_free(c->known);
	}
	proc_maps_free(c->maps, c->n_maps);
	proc_maps_free(c->pre_maps, c->n_pre_maps);
	snapshot_free(c->snap);
	inject_close(&c->inj);
}

static int set_memory_source(struct dump_ctx *c, pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open %s: %m", path);
	closep(&c->mem_fd);
	c->mem_fd = fd;
	c->mem_pid = pid;
	return 0;
}

/*
 * Everything while the target is frozen: its state, its files, the pages a
 * fork would not copy, and (when it is to run on) a copy-on-write copy to
 * read the rest from. Without a copy the rest is read before it runs again.
 */
/* With -v: how long each step of the freeze took (the freeze is what users feel). */
static int timed(const char *what, uint64_t *t, int r)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	log_debug("frozen: %s %" PRIu64 " us", what, (now - *t) / 1000);
	*t = now;
	return r;
}

static int capture(struct dump_ctx *c)
{
	uint64_t t = now_ns(CLOCK_MONOTONIC);
	int r;

	r = timed("maps", &t, dump_read_maps(c));
	if (r < 0)
		return r;
	r = timed("threads", &t, dump_prepare_threads(c));
	if (r < 0)
		return r;
	if (r > 0 && (r = dump_read_maps(c)) < 0)
		return r;
	r = inject_open(c->pid, 0, 0, &c->snap->cpu, &c->inj);
	if (r < 0)
		return log_error_errno(r, "Cannot open the memory of PID %d: %m", (int) c->pid);
	r = timed("thread state", &t, dump_threads(c));
	if (r >= 0)
		r = timens_capture(c->pid, &c->snap->proc.clocks);
	if (r >= 0)
		r = timed("process state", &t, dump_process_state(c));
	if (r >= 0)
		r = timed("injected state", &t, dump_injected_state(c));
	if (r >= 0)
		r = set_memory_source(c, c->pid);
	if (r >= 0)
		r = timed("files", &t, dump_fds(c));
	if (r >= 0)
		r = timed("regions", &t, dump_regions(c));
	if (r >= 0 && c->opts->leave_running && !c->opts->no_fork)
		(void) timed("fork", &t, dump_fork_child(c)); /* on failure: read from the target */
	if (r >= 0 && !c->child)
		r = dump_region_pages(c);
	dump_uninject(c);
	return timed("uninject", &t, r);
}

static char *read_boot_id(void)
{
	char *s = NULL;

	if (read_full_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 256, &s, NULL) < 0)
		return strdup("");
	s[strcspn(s, "\n")] = 0;
	return s;
}

static char *cmdline_for_people(const struct snapshot_process *p)
{
	char *s = malloc(p->cmdline_size + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < p->cmdline_size; i++)
		s[i] = p->cmdline[i] ? p->cmdline[i] : ' ';
	s[p->cmdline_size] = 0;
	while (p->cmdline_size && s[0] && s[strlen(s) - 1] == ' ')
		s[strlen(s) - 1] = 0;
	return s;
}

/* The oldest format whose readers restore everything the tree holds. */
static uint32_t image_format(const struct dump_tree *t)
{
	uint32_t format = IMAGE_FORMAT_BASE;

	if (t->n > 1 || t->procs[0].snap->n_members)
		return IMAGE_FORMAT_TREE;
	/* A reader of 2 does not know the kind (it would call the image damaged). */
	for (size_t i = 0; i < t->procs[0].snap->n_files; i++)
		if (t->procs[0].snap->files[i].kind == FILE_KIND_UNIX_LISTEN)
			return IMAGE_FORMAT_TREE;
	/* Readers of format 1 would restore the process without its timers or filters. */
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].snap->proc.n_timers || t->procs[i].snap->n_filters)
			format = 2;
	return format;
}

static int fill_manifest(struct dump_ctx *c, struct image_manifest *m)
{
	const struct snapshot_process *p = &c->snap->proc;
	char host[256] = "";
	struct utsname u;

	(void) gethostname(host, sizeof(host) - 1);
	(void) uname(&u);
	m->tool_version = strdup(CKPTD_VERSION);
	m->created_ns = now_ns(CLOCK_REALTIME);
	m->hostname = strdup(host);
	m->kernel_release = strdup(u.release);
	m->boot_id = read_boot_id();
	m->pid = p->pid;
	m->uid = p->uid[0];
	m->gid = p->gid[0];
	m->comm = strdup(p->comm);
	m->exe = strdup(p->exe_file < c->snap->n_files ? c->snap->files[p->exe_file].path : "");
	m->cmdline = cmdline_for_people(p);
	m->store = c->opts->store_dfd >= 0 ? IMAGE_STORE_JOB : IMAGE_STORE_SELF;
	m->format = image_format(c->tree);
	m->n_packs = c->pages->n_packs;
	m->packs = new0(uint64_t, m->n_packs ? m->n_packs : 1);
	if (!m->tool_version || !m->hostname || !m->kernel_release || !m->boot_id || !m->comm ||
	    !m->exe || !m->cmdline || !m->packs)
		return log_oom();
	memcpy(m->packs, c->pages->packs, m->n_packs * sizeof(uint64_t));
	return 0;
}

/* core.elf for the root, core-PID.elf for every other live process. */
static int add_cores(struct dump_tree *t, struct image_writer *w, const char *name,
		     struct image_stats *stats)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct dump_ctx *c = &t->procs[i];
		_cleanup_free_ void *core = NULL;
		char file[IMAGE_MEMBER_CORE_MAX];
		size_t len;
		int r = image_core_encode(c->snap, &core, &len);

		if (r < 0)
			return log_error_errno(r, "Cannot encode the state of PID %d: %m", (int) c->pid);
		/* Named as the members list it: by saved PID (another under --pidns). */
		r = image_writer_add(w, i ? image_member_core(c->snap->proc.pid, file) : IMAGE_CORE,
				     core, len);
		if (r < 0)
			return image_error(r, name);
		stats->threads += c->snap->n_threads;
		stats->regions += c->snap->n_regions;
		stats->files += c->snap->n_files;
		stats->pages += c->pages_total;
		stats->bytes_written += len;
	}
	return 0;
}

static int write_image(struct dump_tree *t, struct image_writer *w, const char *name,
		       struct image_stats *stats)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = new0(struct image_manifest, 1);
	struct dump_ctx *c = &t->procs[0];
	_cleanup_free_ void *idx = NULL;
	size_t idx_len;
	int r;

	if (!m)
		return log_oom();
	r = add_cores(t, w, name, stats);
	if (r < 0)
		return r;
	r = page_index_encode(c->pages, &idx, &idx_len);
	if (r < 0)
		return log_error_errno(r, "Cannot encode the page index: %m");
	r = image_writer_add(w, IMAGE_PAGES, idx, idx_len);
	if (r < 0)
		return image_error(r, name);
	r = fill_manifest(c, m);
	if (r < 0)
		return r;
	stats->bytes_written += idx_len;
	m->stats = *stats;
	r = image_writer_commit(w, m);
	if (r < 0)
		return image_error(r, name);
	return 0;
}

/*
 * A snapshot of a process that ended while its copy was read would bring
 * back a computation that already finished (or crashed): rather keep the
 * versions before it and say what happened. That is the root's to say: a
 * member ending meanwhile is a tree's ordinary life (a shell's sleep, a
 * compiler under make), and its copy, taken at the instant, reads on.
 */
static int check_target_lives(const struct dump_ctx *c)
{
	uint64_t t;

	if (c->index > 0)
		return 0;
	if (proc_start_time(c->pid, &t) >= 0 && t == c->snap->proc.start_time)
		return 0;
	return log_error_errno(-ESRCH,
			       "PID %d ended while its memory was being copied; this snapshot "
			       "is discarded and earlier ones are unchanged",
			       (int) c->pid);
}

/*
 * Every thread of ours, the pack writer included, and the copies (one per
 * process of the tree): the calls that drop their pages and their exits,
 * which free what is left of their memory, run in their own context, at
 * the target's priority otherwise.
 */
static void set_nice(struct dump_ctx *c, int nice)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			(void) setpriority(PRIO_PROCESS, (id_t) atoi(e->d_name), nice);
	for (size_t i = 0; c->tree && i < c->tree->n; i++)
		if (c->tree->procs[i].child)
			(void) setpriority(PRIO_PROCESS, (id_t) c->tree->procs[i].child, nice);
}

/*
 * The freeze is over: reading the copy is background work, and it should
 * take the cores the target does not use rather than the target's own
 * (nice 10 still cost a one-thread workload 6% on two cores; nice 19
 * under 2%). But while the copy lives, every page the target writes is
 * copied, so a snapshot starved on a busy machine costs memory: past
 * YIELD_MAX_NS it takes its share again (dump_check_yield).
 */
#define YIELD_MAX_NS (10ULL * 1000000000ULL)

static void yield_to_target(struct dump_ctx *c)
{
	set_nice(c, 19);
	c->yield_until_ns = now_ns(CLOCK_MONOTONIC) + YIELD_MAX_NS;
}

void dump_check_yield(struct dump_ctx *c)
{
	if (c->tree)
		c = &c->tree->procs[0];
	if (!c->yield_until_ns || now_ns(CLOCK_MONOTONIC) < c->yield_until_ns)
		return;
	log_debug("The snapshot of PID %d is slow in the background; it takes its share again",
		  (int) c->pid);
	set_nice(c, 0);
	c->yield_until_ns = 0;
}

/* Kills the frozen tree and waits until every thread is gone (its PIDs may be reused next). */
static void kill_tree(struct dump_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		(void) kill(t->procs[i].pid, SIGKILL);
	for (size_t k = 0; k < t->n; k++) {
		struct seized *s = t->procs[k].seized;

		for (size_t i = s ? s->n_threads : 0; i-- > 0;) {
			int status;

			while (ptrace_wait(s->threads[i].tid, 5000, &status) >= 0 && !WIFEXITED(status) &&
			       !WIFSIGNALED(status))
				(void) ptrace_cont(s->threads[i].tid, 0);
		}
		t->procs[k].seized = seize_free(s);
	}
}

static int finish_pack(struct dump_ctx *c, struct image_stats *stats)
{
	struct pack_stats ps = {};
	bool created;
	int r = pack_writer_finish(c->pack, &created, &ps);

	if (r < 0)
		return r;
	c->pack = pack_writer_free(c->pack);
	stats->pages_stored = ps.pages_stored;
	stats->bytes_written = ps.bytes_stored;
	return 0;
}

/* The root, frozen, and then every descendant; each member gets its capture state. */
/* *ret_frozen_ns: when the first thread was stopped, the start of the freeze. */
static int freeze_tree(struct dump_tree *t, bool preread, uint64_t *ret_frozen_ns)
{
	const struct dump_options *o = t->procs[0].opts;
	int timeout = o->freeze_timeout_ms ? o->freeze_timeout_ms : DEFAULT_FREEZE_TIMEOUT_MS;
	int r;

	r = dump_check_owner(o, t->procs[0].pid, t->procs[0].pid);
	if (r < 0)
		return r;
	if (preread)
		dump_preread_maps(&t->procs[0]);
	*ret_frozen_ns = now_ns(CLOCK_MONOTONIC);
	r = seize_process(t->procs[0].pid, timeout, &t->procs[0].seized);
	if (r == -ESRCH)
		return log_error_errno(r, "PID %d exited while being frozen", (int) t->procs[0].pid);
	if (r < 0)
		return r;
	r = dump_seize_tree(t, timeout);
	for (size_t i = 1; r >= 0 && i < t->n; i++)
		r = member_setup(&t->procs[i], &t->procs[0]);
	log_debug("frozen: seize %" PRIu64 " us", (now_ns(CLOCK_MONOTONIC) - *ret_frozen_ns) / 1000);
	return r;
}

static int capture_tree(struct dump_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		int r = dump_scan_fds(&t->procs[i]);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < t->n; i++) {
		int r = capture(&t->procs[i]);

		if (r < 0)
			return r;
	}
	dump_tree_share(t);
	return dump_pidns_convert(t);
}

/* Reads one process's memory from its copy, then ends the copy. */
static int read_copy(struct dump_ctx *c)
{
	int r = set_memory_source(c, c->child);

	if (r >= 0)
		r = dump_check_copy_flags(c);
	if (r >= 0)
		r = dump_region_pages(c);
	if (r >= 0)
		r = check_target_lives(c);
	dump_kill_child(c);
	(void) dump_reap_copy(c);
	c->child = c->child_ns = 0; /* collected: its PID may be anyone's now */
	return r;
}

/* Copies left by a failure: killed, and collected once their parents run again. */
static void tree_done(struct dump_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].child)
			dump_kill_child(&t->procs[i]);
	dump_tree_release(t);
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].child_ns) /* a copy whose hold failed is dead, not yet collected */
			(void) dump_reap_copy(&t->procs[i]);
	for (size_t i = t->n; i-- > 0;)
		dump_ctx_done(&t->procs[i]);
	free(t->procs);
}

static int dump_attempt(pid_t pid, int parent_dfd, const char *name,
			const struct dump_options *opts, bool preread, struct image_stats *ret_stats)
{
	_cleanup_(image_writer_freep) struct image_writer *w = NULL;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), t_frozen = 0, t_thawed = 0;
	struct dump_tree t = {};
	struct image_stats stats = {};
	struct dump_ctx *root;
	int r;

	ptrace_setup();
	r = seize_check(pid, pid);
	if (r < 0)
		return r;
	r = image_writer_new(parent_dfd, name, &w);
	if (r < 0)
		return image_error(r, name);
	t.procs = new0(struct dump_ctx, 1);
	if (!t.procs)
		return log_oom();
	t.n = t.allocated = 1;
	t.procs[0] = (struct dump_ctx){ .pid = pid, .opts = opts, .tree = &t,
					.inj.mem_fd = -EBADF, .mem_fd = -EBADF };
	r = dump_setup(&t.procs[0], opts->store_dfd >= 0 ? opts->store_dfd : image_writer_dfd(w));
	if (r < 0) {
		r = image_error(r, name);
		goto out;
	}
	r = freeze_tree(&t, preread, &t_frozen);
	if (r >= 0)
		r = capture_tree(&t);
	if (r < 0)
		goto out;
	if (opts->leave_running) {
		dump_tree_release(&t);
		t_thawed = now_ns(CLOCK_MONOTONIC);
		if (opts->yield_after_thaw)
			yield_to_target(&t.procs[0]);
	}
	for (size_t i = 0; r >= 0 && i < t.n; i++)
		if (t.procs[i].child)
			r = read_copy(&t.procs[i]);
	if (r < 0)
		goto out;
	root = &t.procs[0];
	r = finish_pack(root, &stats);
	if (r < 0) {
		r = image_error(r, name);
		goto out;
	}
	stats.freeze_ns = (t_thawed ? t_thawed : now_ns(CLOCK_MONOTONIC)) - t_frozen;
	stats.wall_ns = now_ns(CLOCK_MONOTONIC) - t0;
	r = write_image(&t, w, name, &stats);
	if (r < 0)
		goto out;
	if (!opts->leave_running) {
		kill_tree(&t);
		stats.freeze_ns = now_ns(CLOCK_MONOTONIC) - t_frozen;
	}
	stats.wall_ns = now_ns(CLOCK_MONOTONIC) - t0;
	*ret_stats = stats;
out:
	tree_done(&t);
	return r;
}

int dump_process(pid_t pid, int parent_dfd, const char *name, const struct dump_options *opts,
		 struct image_stats *ret_stats)
{
	int r = dump_attempt(pid, parent_dfd, name, opts, /* preread= */ true, ret_stats);

	/* A madvise() raced the pre-read (rare): again, with every flag read while frozen. */
	if (r == -ESTALE)
		r = dump_attempt(pid, parent_dfd, name, opts, /* preread= */ false, ret_stats);
	return r;
}
