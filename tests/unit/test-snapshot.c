// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapshot_validate(): the checks between a decoded image and the code that
 * acts on it, one table row per rule.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "snapshot.h"

static struct snapshot *minimal(void)
{
	struct snapshot *s = snapshot_new();
	struct snapshot_thread *t = snapshot_add_thread(s);
	struct snapshot_region *r = snapshot_add_region(s);
	struct snapshot_file *f = snapshot_add_file(s);
	struct snapshot_open_file *o = snapshot_add_open_file(s);
	struct snapshot_fd *fd = snapshot_add_fd(s);

	s->proc.pid = 100;
	s->cpu.xstate_size = 1024;
	t->tid = 100;
	t->xstate_size = 1024;
	*r = (struct snapshot_region){ 0x400000, 0x402000, PROT_READ, 0, REGION_KIND_FILE, 0, 0,
				       SNAPSHOT_NONE, NULL };
	f->kind = FILE_KIND_REGULAR;
	f->path = strdup("/bin/true");
	*o = (struct snapshot_open_file){ 0, 0, 0 };
	*fd = (struct snapshot_fd){ 0, 0, false };
	return s;
}

static void none(struct snapshot *s)
{
	(void) s;
}
static void no_pid(struct snapshot *s)
{
	s->proc.pid = 0;
}
static void tiny_xstate(struct snapshot *s)
{
	s->cpu.xstate_size = 100;
}
static void no_threads(struct snapshot *s)
{
	s->n_threads = 0;
}
static void leader_not_first(struct snapshot *s)
{
	s->threads[0].tid = 101;
}
static void xstate_mismatch(struct snapshot *s)
{
	s->threads[0].xstate_size = 512;
}
static void empty_region(struct snapshot *s)
{
	s->regions[0].end = s->regions[0].start;
}
static void kernel_address(struct snapshot *s)
{
	s->regions[0].end = 0xffff800000000000ULL;
}
static void unknown_prot(struct snapshot *s)
{
	s->regions[0].prot |= 0x10;
}
static void unknown_kind(struct snapshot *s)
{
	s->regions[0].kind = _REGION_KIND_MAX;
}
static void missing_file(struct snapshot *s)
{
	s->regions[0].file = 3;
}
static void anon_with_file(struct snapshot *s)
{
	s->regions[0].kind = REGION_KIND_ANON;
}
static void unaligned_pgoff(struct snapshot *s)
{
	s->regions[0].pgoff = 100;
}
static void relative_path(struct snapshot *s)
{
	free(s->files[0].path);
	s->files[0].path = strdup("bin/true");
}
static void huge_build_id(struct snapshot *s)
{
	s->files[0].id.build_id_size = 33;
}
static void bad_exe(struct snapshot *s)
{
	s->proc.exe_file = 9;
}
static void clocks_ahead(struct snapshot *s)
{
	s->proc.clocks = (struct snapshot_clocks){ 1000000LL * 1000000000 + 5, 7, 5, 7 };
}
static void negative_clock(struct snapshot *s)
{
	s->proc.clocks.boottime_ns = -1;
}
static void clock_past_kernel_limit(struct snapshot *s)
{
	s->proc.clocks.host_monotonic_ns = SNAPSHOT_CLOCK_MAX_NS + 1;
}
static void negative_fd(struct snapshot *s)
{
	s->fds[0].fd = -1;
}
static void duplicate_fd(struct snapshot *s)
{
	struct snapshot_fd *fd = snapshot_add_fd(s);

	*fd = s->fds[0];
}

Test(snapshot, validate_table)
{
	static const struct {
		const char *what;
		void (*change)(struct snapshot *);
		bool valid;
	} cases[] = {
		{ "minimal", none, true },
		{ "no pid", no_pid, false },
		{ "xstate too small", tiny_xstate, false },
		{ "no threads", no_threads, false },
		{ "leader not first", leader_not_first, false },
		{ "thread xstate size", xstate_mismatch, false },
		{ "empty region", empty_region, false },
		{ "kernel address", kernel_address, false },
		{ "unknown prot", unknown_prot, false },
		{ "unknown kind", unknown_kind, false },
		{ "missing file", missing_file, false },
		{ "anonymous with file", anon_with_file, false },
		{ "unaligned offset", unaligned_pgoff, false },
		{ "relative path", relative_path, false },
		{ "build-id too long", huge_build_id, false },
		{ "bad exe", bad_exe, false },
		{ "clocks in a namespace ahead", clocks_ahead, true },
		{ "negative clock", negative_clock, false },
		{ "clock past the kernel's limit", clock_past_kernel_limit, false },
		{ "negative fd", negative_fd, false },
		{ "duplicate fd", duplicate_fd, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snapshot *s = minimal();
		const char *reason = NULL;
		int r;

		cases[i].change(s);
		r = snapshot_validate(s, &reason);
		if (cases[i].valid)
			cr_expect_eq(r, 0, "%s: %s", cases[i].what, reason);
		else {
			cr_expect_eq(r, -EBADMSG, "%s accepted", cases[i].what);
			cr_expect_not_null(reason, "%s", cases[i].what);
		}
		snapshot_free(s);
	}
}

Test(snapshot, appenders_stop_at_their_limit)
{
	struct snapshot *s = snapshot_new();

	for (size_t i = 0; i < SNAPSHOT_MAX_THREADS; i++)
		cr_assert_not_null(snapshot_add_thread(s));
	cr_assert_null(snapshot_add_thread(s));
	snapshot_free(s);
	cr_assert_null(snapshot_free(NULL));
}

Test(snapshot, watches_stop_at_their_limit)
{
	struct snapshot_file f = {};

	for (size_t i = 0; i < SNAPSHOT_MAX_WATCHES; i++)
		cr_assert_not_null(snapshot_add_watch(&f));
	cr_assert_null(snapshot_add_watch(&f));
	cr_assert_eq(f.anon.n_watches, SNAPSHOT_MAX_WATCHES);
	free(f.anon.watches);
}

Test(snapshot, names)
{
	struct snapshot_region r = { .prot = PROT_READ | PROT_EXEC, .flags = REGION_FLAG_SHARED };
	char buf[5];

	cr_assert_str_eq(region_prot_to_string(&r, buf), "r-xs");
	cr_assert_str_eq(region_kind_to_string(REGION_KIND_VVAR_VCLOCK), "vvar_vclock");
	cr_assert_str_eq(file_kind_to_string(FILE_KIND_PIPE), "pipe");
	cr_assert_str_eq(file_kind_to_string(FILE_KIND_EPOLL), "epoll");
	cr_assert(file_kind_is_anon(FILE_KIND_TIMERFD) && !file_kind_is_anon(FILE_KIND_PIPE));
	cr_assert_str_eq(file_kind_to_string(FILE_KIND_UNIX_PAIR), "socketpair");
	cr_assert_str_eq(file_kind_to_string(FILE_KIND_TCP_CLOSED), "tcp-closed");
	cr_assert(file_kind_is_socket(FILE_KIND_UNIX_PAIR) && !file_kind_is_anon(FILE_KIND_UNIX_PAIR));
	cr_assert_str_eq(file_kind_to_string(_FILE_KIND_MAX), "?");
}

/* Three processes of a tree, each with one file and one description of it, no keys yet. */
static void tree_of_three(struct snapshot *s[3])
{
	for (size_t i = 0; i < 3; i++) {
		s[i] = minimal();
		s[i]->proc.pid = 100 + (pid_t) i;
		s[i]->files[0].id.dev = 8;
		s[i]->files[0].id.ino = 1000 + i;
	}
}

static void free_three(struct snapshot *s[3])
{
	for (size_t i = 0; i < 3; i++)
		snapshot_free(s[i]);
}

static int shares(struct snapshot *s[3], size_t pair[2], const char **why)
{
	return snapshot_validate_shares((const struct snapshot *const *) s, 3, pair, why);
}

Test(snapshot, one_share_key_is_one_object)
{
	struct snapshot *s[3];
	const char *why = NULL;
	size_t pair[2] = { 9, 9 };

	tree_of_three(s);
	/* Keys on different objects, or 0 (a process's own), are fine. */
	s[0]->files[0].share = 1;
	s[2]->files[0].share = 2;
	cr_assert_eq(shares(s, pair, &why), 0);
	/* One key, one object (same dev and inode) in two processes. */
	s[2]->files[0].id.ino = 1000;
	s[2]->files[0].share = 1;
	cr_assert_eq(shares(s, pair, &why), 0);
	/* One key, two inodes: the later process is named with the first that holds it. */
	s[2]->files[0].id.ino = 1002;
	cr_assert_eq(shares(s, pair, &why), -EBADMSG);
	cr_assert_eq(pair[0], 0);
	cr_assert_eq(pair[1], 2);
	cr_assert_str_eq(why, "a file");
	/* The same for kinds: an anonymous object keyed like a regular file. */
	s[2]->files[0].id.ino = 1000;
	s[2]->files[0].kind = FILE_KIND_EVENTFD;
	cr_assert_eq(shares(s, pair, &why), -EBADMSG);
	/* Two anonymous objects of one kind under one key: one object (no inode to compare). */
	s[0]->files[0].kind = FILE_KIND_EVENTFD;
	s[0]->files[0].id.ino = 7;
	cr_assert_eq(shares(s, pair, &why), 0);
	free_three(s);
}

Test(snapshot, one_description_key_is_one_object)
{
	struct snapshot *s[3];
	const char *why = NULL;
	size_t pair[2] = { 9, 9 };

	tree_of_three(s);
	s[1]->open_files[0].share = 5;
	s[2]->open_files[0].share = 5;
	cr_assert_eq(shares(s, pair, &why), -EBADMSG, "descriptions of two inodes");
	cr_assert_eq(pair[0], 1);
	cr_assert_eq(pair[1], 2);
	cr_assert_str_eq(why, "an open file");
	s[2]->files[0].id.ino = 1001;
	cr_assert_eq(shares(s, pair, &why), 0, "one description of one file in two processes");
	free_three(s);
}
