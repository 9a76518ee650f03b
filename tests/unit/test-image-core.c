// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ELF core image: every field of a snapshot survives encode and decode,
 * eu-readelf reads the registers, and hostile bytes are refused, never
 * trusted.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>

#include "image-core.h"
#include "util.h"

#define XSIZE 1024

static void fill_thread(struct snapshot_thread *t, pid_t tid, uint8_t seed)
{
	t->tid = tid;
	snprintf(t->comm, sizeof(t->comm), "thr-%d", (int) tid);
	memset(&t->regs, seed, sizeof(t->regs));
	t->regs.rip = 0x401000 + seed;
	t->regs.orig_rax = (uint64_t) -1;
	t->xstate = malloc(XSIZE);
	for (size_t i = 0; i < XSIZE; i++)
		t->xstate[i] = (uint8_t)(i * seed);
	t->xstate_size = XSIZE;
	t->sigmask = 0x1234ULL << seed;
	t->rseq = (struct snapshot_rseq){ 0x7000 + seed, 32, 0x53053053, 0 };
	t->robust_list = 0x8000 + seed;
	t->robust_list_len = 24;
	t->clear_child_tid = 0x9000 + seed;
	t->altstack_sp = 0xa000;
	t->altstack_size = 65536;
	t->altstack_flags = (int32_t) 0x80000000;
	t->n_pending = 2;
	t->pending = calloc(2, sizeof(*t->pending));
	t->pending[0].bytes[0] = 10;
	t->pending[1].bytes[0] = 34;
	t->pending[1].bytes[127] = seed;
}

/* One of each anonymous-inode kind, every state field set; the epoll watches fds 7 and 8. */
static void add_anon_files(struct snapshot *s)
{
	struct snapshot_file *f;

	f = snapshot_add_file(s);
	f->kind = FILE_KIND_EVENTFD;
	f->path = strdup("anon_inode:[eventfd]");
	f->anon.count = 0xfffffffffffffffeull;
	f->anon.flags = 1; /* EFD_SEMAPHORE */
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_TIMERFD;
	f->path = strdup("anon_inode:[timerfd]");
	f->anon = (struct snapshot_anon){ .count = 3, .flags = 3, .clockid = 8,
					  .value_ns = 1500000000, .interval_ns = 250000,
					  .expiry_ns = -2 };
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_SIGNALFD;
	f->path = strdup("anon_inode:[signalfd]");
	f->anon.sigmask = 0x8000000200000200ull;
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_EPOLL;
	f->path = strdup("anon_inode:[eventpoll]");
	*snapshot_add_watch(f) = (struct snapshot_epoll_watch){ 8, 0x80000019, UINT64_MAX };
	*snapshot_add_watch(f) = (struct snapshot_epoll_watch){ 7, 0x40000000, 7 };
}

/* Files 7-8: a datagram socketpair with a queue on one end; 9: a TCP socket given up. */
static void add_socket_files(struct snapshot *s)
{
	struct snapshot_file *f;

	for (uint32_t i = 0; i < 2; i++) {
		f = snapshot_add_file(s);
		f->kind = FILE_KIND_UNIX_PAIR;
		f->path = strdup("socketpair");
		f->id = (struct snapshot_identity){ .dev = 8, .ino = 900 + i, .mode = 0140777,
						    .size = i ? 0 : 13 };
		f->stream = i ? SNAPSHOT_NONE : 4;
		f->sock = (struct snapshot_socket){ AF_UNIX,	    SOCK_DGRAM, i ? 2 : 1,
						    8 - i,	    212992,	i + 1,
						    1500000 * i, 250 };
	}
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_TCP_CLOSED;
	f->path = strdup("a TCP connection 10.0.0.1:5555 -> 10.0.0.2:80");
	f->sock = (struct snapshot_socket){ .family = AF_INET6, .type = SOCK_STREAM };
}

/* A tree: a child of the root, a zombie grandchild under it, a zombie child killed by a signal. */
static void add_members(struct snapshot *s)
{
	*snapshot_add_member(s) = (struct snapshot_member){ .pid = 1300, .ppid = s->proc.pid,
							    .pgid = 1300, .sid = s->proc.sid,
							    .comm = "worker", .shares_fs = true };
	*snapshot_add_member(s) = (struct snapshot_member){ .pid = 1301, .ppid = 1300, .pgid = 1300,
							    .sid = s->proc.sid, .zombie = true,
							    .comm = "done", .exit_status = 7 << 8 };
	*snapshot_add_member(s) = (struct snapshot_member){ .pid = 1302, .ppid = s->proc.pid,
							    .pgid = 1300, .sid = s->proc.sid,
							    .zombie = true, .exit_status = 15 };
}

static struct snapshot *sample(void)
{
	struct snapshot *s = snapshot_new();
	struct snapshot_process *p = &s->proc;
	struct snapshot_region *r;
	struct snapshot_file *f;
	struct snapshot_open_file *o;
	struct snapshot_fd *fd;

	cr_assert_not_null(s);
	p->pid = 4242;
	p->ppid = 1;
	p->pgid = 4242;
	p->sid = 4200;
	strcpy(p->comm, "sim");
	p->start_time = 123456789;
	for (int i = 0; i < 4; i++) {
		p->uid[i] = 1000 + (uid_t) i;
		p->gid[i] = 2000 + (gid_t) i;
	}
	p->n_groups = 3;
	p->groups = calloc(3, sizeof(gid_t));
	p->groups[0] = 4, p->groups[1] = 24, p->groups[2] = 100;
	p->cap_inheritable = 1, p->cap_permitted = 2, p->cap_effective = 3, p->cap_bounding = ~0ULL;
	p->cap_ambient = 0;
	p->no_new_privs = true;
	p->dumpable = 1;
	p->pdeathsig = SIGTERM;
	p->umask = 027;
	p->personality = 0x40000;
	p->clocks = (struct snapshot_clocks){ 1000123456789012345LL, 23456789012345LL,
					      123456789012345LL, 123456789012346LL };
	p->mm = (struct snapshot_mm){ 0x400000, 0x401000, 0x600000, 0x601000, 0x700000, 0x721000,
				      0x7ffc0000, 0x7ffc1000, 0x7ffc1010, 0x7ffc1010, 0x7ffc1100 };
	p->auxv_size = 32;
	p->auxv = calloc(1, 32);
	p->auxv[0] = 33;
	p->cwd = strdup("/home/user/run");
	p->cmdline = malloc(8);
	memcpy(p->cmdline, "sim\0-n\0""5", 8);
	p->cmdline_size = 8;
	p->rlimits[RLIMIT_NOFILE] = (struct rlimit){ 1000, 4096 };
	p->sigactions[SIGUSR1 - 1] = (struct snapshot_sigaction){ 0x401234, 0x14000004, 0x401999, 0x2 };
	p->sigactions[SIGRTMAX - 1] = (struct snapshot_sigaction){ 1, 0, 0, 0 };
	p->n_pending = 1;
	p->pending = calloc(1, sizeof(*p->pending));
	p->pending[0].bytes[0] = 12;
	p->itimers[0] = (struct snapshot_itimer){ 1000000, 500000 };
	p->xcomp_perm = 0x602e7;

	s->cpu.xcr0 = 0x600e7;
	s->cpu.xstate_size = XSIZE;
	s->cpu.xfeatures_used = 0x3;
	s->cpu.xfeature_offset[2] = 576;
	s->cpu.xfeature_size[2] = 256;

	fill_thread(snapshot_add_thread(s), 4242, 1);
	fill_thread(snapshot_add_thread(s), 4250, 2);

	p->n_timers = 3;
	p->timers = calloc(3, sizeof(*p->timers));
	p->timers[0] = (struct snapshot_timer){ 1, 1, SNAPSHOT_SIGEV_SIGNAL, 34, 0x1111, 0, 4000000,
						3999000 };
	p->timers[1] = (struct snapshot_timer){ 2, -6, SNAPSHOT_SIGEV_SIGNAL | SNAPSHOT_SIGEV_THREAD_ID,
						35, 0x7f0000001234, 4250, 0, 17 };
	p->timers[2] = (struct snapshot_timer){ 9, 0, SNAPSHOT_SIGEV_NONE, 0, 0, 0, 0, 0 };
	for (int i = 0; i < 2; i++) {
		struct snapshot_filter *flt = snapshot_add_filter(s);

		flt->flags = (uint64_t) i * 2; /* SECCOMP_FILTER_FLAG_LOG on the second */
		flt->n_insns = 3 + (size_t) i;
		flt->insns = calloc(flt->n_insns, sizeof(uint64_t));
		for (size_t k = 0; k < flt->n_insns; k++)
			flt->insns[k] = 0x0006000000000000ULL + k * 7 + (uint64_t) i;
	}
	/* The main thread: both filters; the other shares the first only. */
	s->threads[0].n_seccomp = 2;
	s->threads[0].seccomp = calloc(2, sizeof(uint32_t));
	s->threads[0].seccomp[1] = 1;
	s->threads[1].n_seccomp = 1;
	s->threads[1].seccomp = calloc(1, sizeof(uint32_t));

	f = snapshot_add_file(s);
	f->kind = FILE_KIND_REGULAR;
	f->path = strdup("/usr/bin/sim");
	f->id = (struct snapshot_identity){ .dev = 0xfe00, .ino = 42, .mode = 0100755, .size = 8192,
					    .mtime_ns = -5, .build_id = { 1, 2, 3 },
					    .build_id_size = 20 };
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_MEMFD;
	f->path = strdup("/memfd:cache");
	f->stream = 3;
	f->seals = 0x8;
	f = snapshot_add_file(s);
	f->kind = FILE_KIND_PIPE;
	f->path = strdup("pipe:[77]");
	f->pipe_size = 65536;
	add_anon_files(s);
	add_socket_files(s);
	p->exe_file = 0;

	r = snapshot_add_region(s);
	*r = (struct snapshot_region){ 0x400000, 0x401000, PROT_READ | PROT_EXEC, 0, REGION_KIND_FILE,
				       0, 0, SNAPSHOT_NONE, strdup("/usr/bin/sim") };
	r = snapshot_add_region(s);
	*r = (struct snapshot_region){ 0x700000, 0x721000, PROT_READ | PROT_WRITE,
				       REGION_FLAG_DONTFORK, REGION_KIND_ANON, SNAPSHOT_NONE, 0, 1,
				       strdup("[heap]") };
	r = snapshot_add_region(s);
	*r = (struct snapshot_region){ 0x7ffc0000, 0x7ffe0000, PROT_READ | PROT_WRITE,
				       REGION_FLAG_GROWSDOWN, REGION_KIND_ANON, SNAPSHOT_NONE, 0, 2,
				       NULL };

	o = snapshot_add_open_file(s);
	*o = (struct snapshot_open_file){ 1, O_RDWR, 77, .share = 41 };
	o = snapshot_add_open_file(s);
	*o = (struct snapshot_open_file){ 2, O_RDONLY | O_NONBLOCK, 0 };
	s->files[2].share = 42;
	add_members(s);
	fd = snapshot_add_fd(s);
	*fd = (struct snapshot_fd){ 1, 0, false };
	fd = snapshot_add_fd(s);
	*fd = (struct snapshot_fd){ 2, 0, false };
	fd = snapshot_add_fd(s);
	*fd = (struct snapshot_fd){ 7, 1, true };
	/* files 3-6: eventfd, timerfd, signalfd, epoll, on fds 8-11 */
	for (uint32_t i = 0; i < 4; i++) {
		o = snapshot_add_open_file(s);
		*o = (struct snapshot_open_file){ 3 + i, O_RDWR | (i % 2 ? O_NONBLOCK : 0), 0 };
		fd = snapshot_add_fd(s);
		*fd = (struct snapshot_fd){ 8 + (int32_t) i, 2 + i, i < 2 };
	}
	return s;
}

static void assert_same_thread(const struct snapshot_thread *a, const struct snapshot_thread *b)
{
	cr_assert_eq(a->tid, b->tid);
	cr_assert_str_eq(a->comm, b->comm);
	cr_assert_eq(memcmp(&a->regs, &b->regs, sizeof(a->regs)), 0);
	cr_assert_eq(a->xstate_size, b->xstate_size);
	cr_assert_eq(memcmp(a->xstate, b->xstate, a->xstate_size), 0);
	cr_assert_eq(a->sigmask, b->sigmask);
	cr_assert_eq(memcmp(&a->rseq, &b->rseq, sizeof(a->rseq)), 0);
	cr_assert_eq(a->robust_list, b->robust_list);
	cr_assert_eq(a->robust_list_len, b->robust_list_len);
	cr_assert_eq(a->clear_child_tid, b->clear_child_tid);
	cr_assert_eq(a->altstack_sp, b->altstack_sp);
	cr_assert_eq(a->altstack_size, b->altstack_size);
	cr_assert_eq(a->altstack_flags, b->altstack_flags);
	cr_assert_eq(a->n_pending, b->n_pending);
	cr_assert_eq(memcmp(a->pending, b->pending, a->n_pending * sizeof(*a->pending)), 0);
	cr_assert_eq(a->n_seccomp, b->n_seccomp);
	cr_assert_eq(memcmp(a->seccomp, b->seccomp, a->n_seccomp * sizeof(uint32_t)), 0);
}

static void assert_same_anon(const struct snapshot_anon *a, const struct snapshot_anon *b)
{
	cr_assert(a->count == b->count && a->flags == b->flags && a->clockid == b->clockid &&
		  a->value_ns == b->value_ns && a->interval_ns == b->interval_ns &&
		  a->expiry_ns == b->expiry_ns && a->sigmask == b->sigmask);
	cr_assert_eq(a->n_watches, b->n_watches);
	for (size_t i = 0; i < a->n_watches; i++)
		cr_assert(a->watches[i].fd == b->watches[i].fd &&
			  a->watches[i].events == b->watches[i].events &&
			  a->watches[i].data == b->watches[i].data, "watch %zu", i);
}

static void assert_same(const struct snapshot *a, const struct snapshot *b)
{
	const struct snapshot_process *p = &a->proc, *q = &b->proc;

	cr_assert_eq(p->pid, q->pid);
	cr_assert_eq(p->ppid, q->ppid);
	cr_assert_eq(p->pgid, q->pgid);
	cr_assert_eq(p->sid, q->sid);
	cr_assert_str_eq(p->comm, q->comm);
	cr_assert_eq(p->start_time, q->start_time);
	cr_assert_eq(memcmp(p->uid, q->uid, sizeof(p->uid)), 0);
	cr_assert_eq(memcmp(p->gid, q->gid, sizeof(p->gid)), 0);
	cr_assert_eq(p->n_groups, q->n_groups);
	cr_assert_eq(memcmp(p->groups, q->groups, p->n_groups * sizeof(gid_t)), 0);
	cr_assert_eq(p->cap_inheritable, q->cap_inheritable);
	cr_assert_eq(p->cap_permitted, q->cap_permitted);
	cr_assert_eq(p->cap_effective, q->cap_effective);
	cr_assert_eq(p->cap_bounding, q->cap_bounding);
	cr_assert_eq(p->no_new_privs, q->no_new_privs);
	cr_assert_eq(p->dumpable, q->dumpable);
	cr_assert_eq(p->pdeathsig, q->pdeathsig);
	cr_assert_eq(p->umask, q->umask);
	cr_assert_eq(p->personality, q->personality);
	cr_assert_eq(memcmp(&p->clocks, &q->clocks, sizeof(p->clocks)), 0);
	cr_assert_eq(memcmp(&p->mm, &q->mm, sizeof(p->mm)), 0);
	cr_assert_eq(p->auxv_size, q->auxv_size);
	cr_assert_eq(memcmp(p->auxv, q->auxv, p->auxv_size), 0);
	cr_assert_str_eq(p->cwd, q->cwd);
	cr_assert_eq(p->exe_file, q->exe_file);
	cr_assert_eq(p->cmdline_size, q->cmdline_size);
	cr_assert_eq(memcmp(p->cmdline, q->cmdline, p->cmdline_size), 0);
	cr_assert_eq(memcmp(p->rlimits, q->rlimits, sizeof(p->rlimits)), 0);
	cr_assert_eq(memcmp(p->sigactions, q->sigactions, sizeof(p->sigactions)), 0);
	cr_assert_eq(p->n_pending, q->n_pending);
	cr_assert_eq(memcmp(p->pending, q->pending, p->n_pending * sizeof(*p->pending)), 0);
	cr_assert_eq(memcmp(p->itimers, q->itimers, sizeof(p->itimers)), 0);
	cr_assert_eq(p->xcomp_perm, q->xcomp_perm);
	cr_assert_eq(p->n_timers, q->n_timers);
	cr_assert_eq(memcmp(p->timers, q->timers, p->n_timers * sizeof(*p->timers)), 0);
	cr_assert_eq(a->n_filters, b->n_filters);
	for (size_t i = 0; i < a->n_filters; i++) {
		cr_assert_eq(a->filters[i].flags, b->filters[i].flags);
		cr_assert_eq(a->filters[i].n_insns, b->filters[i].n_insns);
		cr_assert_eq(memcmp(a->filters[i].insns, b->filters[i].insns,
				    a->filters[i].n_insns * sizeof(uint64_t)),
			     0);
	}
	cr_assert_eq(memcmp(&a->cpu, &b->cpu, sizeof(a->cpu)), 0);

	cr_assert_eq(a->n_threads, b->n_threads);
	for (size_t i = 0; i < a->n_threads; i++)
		assert_same_thread(&a->threads[i], &b->threads[i]);
	cr_assert_eq(a->n_regions, b->n_regions);
	for (size_t i = 0; i < a->n_regions; i++) {
		const struct snapshot_region *r = &a->regions[i], *s = &b->regions[i];

		cr_assert(r->start == s->start && r->end == s->end && r->prot == s->prot &&
			  r->flags == s->flags && r->kind == s->kind && r->file == s->file &&
			  r->pgoff == s->pgoff && r->stream == s->stream, "region %zu", i);
		cr_assert_eq(!r->name, !s->name);
		if (r->name)
			cr_assert_str_eq(r->name, s->name);
	}
	cr_assert_eq(a->n_files, b->n_files);
	for (size_t i = 0; i < a->n_files; i++) {
		const struct snapshot_file *f = &a->files[i], *g = &b->files[i];

		cr_assert_eq(f->kind, g->kind);
		cr_assert_str_eq(f->path, g->path);
		cr_assert_eq(memcmp(&f->id, &g->id, sizeof(f->id)), 0);
		cr_assert_eq(memcmp(&f->sock, &g->sock, sizeof(f->sock)), 0, "file %zu", i);
		cr_assert(f->stream == g->stream && f->seals == g->seals &&
			  f->pipe_size == g->pipe_size &&
			  f->mapped_shared_write == g->mapped_shared_write && f->share == g->share);
		assert_same_anon(&f->anon, &g->anon);
	}
	cr_assert_eq(a->n_open_files, b->n_open_files);
	cr_assert_eq(memcmp(a->open_files, b->open_files, a->n_open_files * sizeof(*a->open_files)),
		     0);
	cr_assert_eq(a->n_fds, b->n_fds);
	cr_assert_eq(memcmp(a->fds, b->fds, a->n_fds * sizeof(*a->fds)), 0);
	cr_assert_eq(a->n_members, b->n_members);
	cr_assert_eq(memcmp(a->members, b->members, a->n_members * sizeof(*a->members)), 0);
}

Test(image_core, round_trip_keeps_every_field)
{
	struct snapshot *s = sample(), *d = NULL;
	const char *reason = NULL;
	void *buf;
	size_t len;

	cr_assert_eq(snapshot_validate(s, &reason), 0, "%s", reason);
	cr_assert_eq(image_core_encode(s, &buf, &len), 0);
	cr_assert_eq(image_core_decode(buf, len, &d, &reason), 0, "%s", reason);
	assert_same(s, d);
	free(buf);
	snapshot_free(s);
	snapshot_free(d);
}

Test(image_core, eu_readelf_shows_the_registers)
{
	struct snapshot *s = sample();
	char path[] = "/tmp/ckptd-core-XXXXXX", cmd[256], line[512];
	bool prstatus = false, rip = false, xstate = false;
	void *buf;
	size_t len;
	FILE *p;
	int fd;

	if (system("command -v eu-readelf >/dev/null 2>&1") != 0)
		cr_skip_test("eu-readelf is not installed");
	cr_assert_eq(image_core_encode(s, &buf, &len), 0);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write_all(fd, buf, len), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "eu-readelf -n %s 2>&1", path);
	p = popen(cmd, "r");
	while (fgets(line, sizeof(line), p)) {
		cr_assert_null(strstr(line, "garbage"), "eu-readelf: %s", line);
		prstatus |= strstr(line, "PRSTATUS") != NULL;
		xstate |= strstr(line, "X86_XSTATE") != NULL;
		/* thread 4242's rip, as fill_thread() set it */
		rip |= strstr(line, "rip:") && strstr(line, "0x0000000000401001");
	}
	cr_assert_eq(pclose(p), 0);
	unlink(path);
	cr_assert(prstatus && rip && xstate, "prstatus %d rip %d xstate %d", prstatus, rip, xstate);
	free(buf);
	snapshot_free(s);
}

/*
 * A truncated file is refused, or, when only the trailing section headers
 * are cut, decodes to exactly the original: never to part of it.
 */
Test(image_core, truncations_are_refused_or_complete)
{
	struct snapshot *s = sample(), *d;
	const char *reason;
	size_t len, refused = 0;
	void *buf;

	cr_assert_eq(image_core_encode(s, &buf, &len), 0);
	for (size_t n = 0; n < len; n += (n < 256 ? 1 : 37)) {
		int r;

		d = NULL;
		reason = NULL;
		r = image_core_decode(buf, n, &d, &reason);
		if (r == 0) {
			assert_same(s, d);
			snapshot_free(d);
			continue;
		}
		cr_assert_eq(r, -EBADMSG, "length %zu", n);
		cr_assert_not_null(reason);
		cr_assert_null(d);
		refused++;
	}
	cr_assert_gt(refused, len / 37 / 2);
	free(buf);
	snapshot_free(s);
}

/* A flipped byte either leaves a valid, self-consistent snapshot or is refused. */
Test(image_core, flipped_bytes_never_crash)
{
	struct snapshot *s = sample(), *d;
	const char *reason;
	uint8_t *buf;
	size_t len;
	int refused = 0;

	cr_assert_eq(image_core_encode(s, (void **) &buf, &len), 0);
	for (size_t i = 0; i < len; i += 3) {
		int r;

		buf[i] ^= 0x41;
		d = NULL;
		r = image_core_decode(buf, len, &d, &reason);
		cr_assert(r == 0 || r == -EBADMSG, "offset %zu: %d", i, r);
		if (r == 0)
			cr_assert_eq(snapshot_validate(d, &reason), 0, "offset %zu", i);
		else
			refused++;
		snapshot_free(d);
		buf[i] ^= 0x41;
	}
	cr_assert_gt(refused, 0);
	free(buf);
	snapshot_free(s);
}

static struct snapshot *decode_modified(void (*change)(struct snapshot *), const char **reason)
{
	struct snapshot *s = sample(), *d = NULL;
	void *buf;
	size_t len;
	int r;

	change(s);
	cr_assert_eq(image_core_encode(s, &buf, &len), 0);
	r = image_core_decode(buf, len, &d, reason);
	free(buf);
	snapshot_free(s);
	cr_assert_eq(r, d ? 0 : -EBADMSG);
	return d;
}

static void pair_end_alone(struct snapshot *s)
{
	s->files[8].sock.peer = 9; /* the TCP socket, not its other end */
}

static void pair_types_differ(struct snapshot *s)
{
	s->files[8].sock.type = SOCK_STREAM;
}

static void bad_region_file(struct snapshot *s)
{
	s->regions[0].file = 99;
}

static void overlapping_regions(struct snapshot *s)
{
	s->regions[2].start = s->regions[1].start;
}

static void wrong_leader(struct snapshot *s)
{
	s->threads[0].tid = 7;
}

static void bad_open_file(struct snapshot *s)
{
	s->fds[2].open_file = 99;
}

static void duplicate_tid(struct snapshot *s)
{
	s->threads[1].tid = s->threads[0].tid;
}

static void missing_filter(struct snapshot *s)
{
	s->threads[1].seccomp[0] = 2;
}

static void empty_filter(struct snapshot *s)
{
	s->filters[0].n_insns = 0;
}

static void timer_ids_out_of_order(struct snapshot *s)
{
	s->proc.timers[1].id = s->proc.timers[0].id;
}

static void timer_for_a_missing_thread(struct snapshot *s)
{
	s->proc.timers[1].tid = 9999;
}

static void timer_bad_notify(struct snapshot *s)
{
	s->proc.timers[0].notify = 2; /* SIGEV_THREAD: glibc's, never the kernel's */
}

static void timer_bad_signal(struct snapshot *s)
{
	s->proc.timers[0].signo = 65;
}

static void unaligned_region(struct snapshot *s)
{
	s->regions[1].end += 1;
}

static void member_before_parent(struct snapshot *s)
{
	struct snapshot_member m = s->members[0];

	s->members[0] = s->members[1];
	s->members[1] = m;
}

static void member_under_a_zombie(struct snapshot *s)
{
	s->members[2].ppid = 1301;
}

static void member_twice(struct snapshot *s)
{
	s->members[2].pid = 1300;
}

static void member_is_the_root(struct snapshot *s)
{
	s->members[0].pid = s->proc.pid;
}

/* A zombie "killed" by SIGSTOP would stop at restore, and its parent wait for it forever. */
static void zombie_stopped(struct snapshot *s)
{
	s->members[1].exit_status = SIGSTOP;
}

static struct snapshot_file *epoll_of(struct snapshot *s)
{
	return &s->files[6];
}

static void watch_missing_fd(struct snapshot *s)
{
	epoll_of(s)->anon.watches[0].fd = 12;
}

static void watch_nested_epoll(struct snapshot *s)
{
	epoll_of(s)->anon.watches[1].fd = 11; /* the epoll itself */
}

static void watches_on_an_eventfd(struct snapshot *s)
{
	*snapshot_add_watch(&s->files[3]) = (struct snapshot_epoll_watch){ 7, 1, 0 };
}

/* Structurally invalid snapshots are refused with a reason, whatever encoded them. */
Test(image_core, invalid_contents_are_refused)
{
	void (*changes[])(struct snapshot *) = {
		bad_region_file,  overlapping_regions, wrong_leader,
		bad_open_file,	  duplicate_tid,       unaligned_region,
		watch_missing_fd, watch_nested_epoll,  watches_on_an_eventfd,
		missing_filter,	 empty_filter,	      timer_ids_out_of_order,
		timer_for_a_missing_thread, timer_bad_notify, timer_bad_signal,
		pair_end_alone, pair_types_differ,
		member_before_parent, member_under_a_zombie, member_twice, member_is_the_root,
		zombie_stopped,
	};

	for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
		const char *reason = NULL;
		struct snapshot *d = decode_modified(changes[i], &reason);

		cr_assert_null(d, "change %zu accepted", i);
		cr_assert_not_null(reason, "change %zu", i);
	}
}

Test(image_core, not_a_core_file)
{
	static const char text[] = "this is not an ELF file at all, just text";
	struct snapshot *d = NULL;
	const char *reason = NULL;

	cr_assert_eq(image_core_decode(text, sizeof(text), &d, &reason), -EBADMSG);
	cr_assert_not_null(reason);
	cr_assert_eq(image_core_decode("", 0, &d, &reason), -EBADMSG);
}
