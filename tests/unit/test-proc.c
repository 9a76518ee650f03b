// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests of the /proc parsers against files captured on a 6.18 kernel (see
 * tests/fixtures/proc/README) and hand-made broken variants, and of the readers
 * against this test process and the children and threads it makes.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* An exact-size heap copy, so that valgrind and ASan see any read past len. */
static char *copy_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	cr_assert_not_null(p);
	memcpy(p, s, len);
	return p;
}

static char *fixture(const char *name, size_t *ret_len)
{
	_cleanup_free_ char *path = strdup_printf("%s/proc/%s", FIXTURES, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	cr_assert_eq(read_full_file_at(AT_FDCWD, path, 16 * 1024 * 1024, &buf, &len), 0, "%s",
		     path);
	*ret_len = len;
	return copy_exact(buf, len);
}

static int maps_parse_string(const char *s, bool smaps, struct proc_map **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = copy_exact(s, strlen(s));

	return smaps ? proc_smaps_parse(buf, strlen(s), ret, ret_n)
		     : proc_maps_parse(buf, strlen(s), ret, ret_n);
}

/* maps */

static const struct {
	size_t index;
	uint64_t start, end;
	uint32_t prot;
	bool shared;
	uint64_t offset;
	uint32_t major, minor;
	uint64_t inode;
	const char *name;
	bool deleted;
} maps_odd_expected[] = {
	{0, 0x56105ad08000, 0x56105ad09000, PROT_READ, false, 0, 0xfe, 0, 10952849,
	 "/tmp/helperA/capture", false},
	{1, 0x56105ad09000, 0x56105ad0a000, PROT_READ | PROT_EXEC, false, 0x1000, 0xfe, 0, 10952849,
	 "/tmp/helperA/capture", false},
	{5, 0x5610964c7000, 0x5610964e8000, PROT_READ | PROT_WRITE, false, 0, 0, 0, 0, "[heap]",
	 false},
	{6, 0x7f8f87c1c000, 0x7f8f87c1d000, PROT_NONE, false, 0, 0, 0, 0, NULL, false},
	{9, 0x7f8f8841f000, 0x7f8f88421000, PROT_READ | PROT_WRITE | PROT_EXEC, false, 0, 0, 0, 0,
	 NULL, false},
	{28, 0x7f8f88535000, 0x7f8f8853a000, PROT_READ | PROT_WRITE, true, 0, 0, 1, 1030,
	 "/dev/zero", true},
	{32, 0x7f8f886b9000, 0x7f8f8870c000, PROT_READ, false, 0x17c000, 0xfe, 0, 332835,
	 "/usr/lib/x86_64-linux-gnu/libc.so.6", false},
	{37, 0x7f8f88721000, 0x7f8f88725000, PROT_READ | PROT_WRITE, true, 0, 0, 1, 1029,
	 "/memfd:x", true},
	{38, 0x7f8f88725000, 0x7f8f88728000, PROT_READ | PROT_WRITE, true, 0, 0xfe, 0, 10952894,
	 "/tmp/helperA/deleted.bin", true},
	{39, 0x7f8f88728000, 0x7f8f8872a000, PROT_READ, false, 0, 0xfe, 0, 10952846,
	 "/tmp/helperA/with space/a file.bin", false},
	{41, 0x7f8f8872c000, 0x7f8f88730000, PROT_READ, false, 0, 0, 0, 0, "[vvar]", false},
	{42, 0x7f8f88730000, 0x7f8f88732000, PROT_READ, false, 0, 0, 0, 0, "[vvar_vclock]", false},
	{43, 0x7f8f88732000, 0x7f8f88734000, PROT_READ | PROT_EXEC, false, 0, 0, 0, 0, "[vdso]",
	 false},
	{49, 0x7ffd88c52000, 0x7ffd88c73000, PROT_READ | PROT_WRITE, false, 0, 0, 0, 0, "[stack]",
	 false},
	{50, 0xffffffffff600000, 0xffffffffff601000, PROT_EXEC, false, 0, 0, 0, 0, "[vsyscall]",
	 false},
};

static void check_maps_odd(const struct proc_map *maps, size_t n)
{
	cr_assert_eq(n, 51);
	for (size_t i = 0; i < ELEMENTSOF(maps_odd_expected); i++) {
		const struct proc_map *m = &maps[maps_odd_expected[i].index];

		cr_expect_eq(m->start, maps_odd_expected[i].start, "line %zu",
			     maps_odd_expected[i].index + 1);
		cr_expect_eq(m->end, maps_odd_expected[i].end);
		cr_expect_eq(m->prot, maps_odd_expected[i].prot);
		cr_expect_eq(m->shared, maps_odd_expected[i].shared);
		cr_expect_eq(m->offset, maps_odd_expected[i].offset);
		cr_expect_eq(m->dev_major, maps_odd_expected[i].major);
		cr_expect_eq(m->dev_minor, maps_odd_expected[i].minor);
		cr_expect_eq(m->inode, maps_odd_expected[i].inode);
		if (maps_odd_expected[i].name)
			cr_expect_str_eq(m->name, maps_odd_expected[i].name);
		else
			cr_expect_null(m->name);
		cr_expect_eq(m->deleted, maps_odd_expected[i].deleted);
	}
}

Test(proc, maps_fixture_odd_mappings)
{
	size_t len, n;
	_cleanup_free_ char *buf = fixture("maps-odd", &len);
	struct proc_map *maps;

	cr_assert_eq(proc_maps_parse(buf, len, &maps, &n), 0);
	check_maps_odd(maps, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(maps[i].vmflags, 0, "maps has no VmFlags");
	proc_maps_free(maps, n);
}

Test(proc, maps_handmade_valid)
{
	static const struct {
		const char *line;
		uint64_t start, end;
		const char *name;
		bool deleted;
		uint32_t major, minor;
		uint64_t inode;
	} cases[] = {
		/* No newline at the end, no padding: still one whole line. */
		{"00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon", 0x400000,
		 0x452000, "/usr/bin/dbus-daemon", false, 8, 2, 173521},
		/* An anon name with a space is kept whole, brackets included. */
		{"7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          "
		 "[anon:foo bar]\n",
		 0x7f0000000000, 0x7f0000001000, "[anon:foo bar]", false, 0, 0, 0},
		/* No trailing space after the inode. */
		{"7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", 0x7f0000000000,
		 0x7f0000001000, NULL, false, 0, 0, 0},
		/* Only the last " (deleted)" is the kernel's. */
		{"1000-2000 r--s 00000000 103:1f 18446744073709551615 /x (deleted) (deleted)\n",
		 0x1000, 0x2000, "/x (deleted)", true, 0x103, 0x1f, UINT64_MAX},
		/* A file literally named " (deleted)" under / has no way to say so. */
		{"1000-2000 r--p 00000000 fe:00 5 /a (deleted)x\n", 0x1000, 0x2000, "/a (deleted)x",
		 false, 0xfe, 0, 5},
		{"1000-2000 r--p 00000000 fe:00 5  /two  spaces  inside \n", 0x1000, 0x2000,
		 "/two  spaces  inside ", false, 0xfe, 0, 5},
		{"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n",
		 0xffffffffff600000, 0xffffffffff601000, "[vsyscall]", false, 0, 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct proc_map *maps;
		size_t n;

		cr_assert_eq(maps_parse_string(cases[i].line, false, &maps, &n), 0, "case %zu", i);
		cr_assert_eq(n, 1, "case %zu", i);
		cr_expect_eq(maps[0].start, cases[i].start, "case %zu", i);
		cr_expect_eq(maps[0].end, cases[i].end, "case %zu", i);
		if (cases[i].name)
			cr_expect_str_eq(maps[0].name, cases[i].name, "case %zu", i);
		else
			cr_expect_null(maps[0].name, "case %zu", i);
		cr_expect_eq(maps[0].deleted, cases[i].deleted, "case %zu", i);
		cr_expect_eq(maps[0].dev_major, cases[i].major, "case %zu", i);
		cr_expect_eq(maps[0].dev_minor, cases[i].minor, "case %zu", i);
		cr_expect_eq(maps[0].inode, cases[i].inode, "case %zu", i);
		proc_maps_free(maps, n);
	}
}

Test(proc, maps_empty_is_no_mappings)
{
	struct proc_map *maps = (void *) 1;
	size_t n = 99;

	/* A zombie's maps is empty. */
	cr_assert_eq(proc_maps_parse("", 0, &maps, &n), 0);
	cr_expect_eq(n, 0);
	proc_maps_free(maps, n);
}

Test(proc, maps_rejects_malformed)
{
	static const struct {
		const char *text;
		int error;
	} cases[] = {
		{"0040000g-00452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* bad hex */
		{"00400000 00452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* no '-' */
		{"-00452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},		 /* no start */
		{"00400000-00400000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* empty */
		{"00500000-00400000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* backwards */
		{"00400800-00452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* unaligned */
		{"00400000-00452000 r-xq 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* perms */
		{"00400000-00452000 r-x 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* 3 perms */
		{"00400000-00452000 r-xps 00000000 08:02 1 /bin/x\n", -EBADMSG}, /* 5 perms */
		{"00400000-00452000 w-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},	 /* w first */
		{"00400000-00452000 r-xp 0000z000 08:02 1 /bin/x\n", -EBADMSG},	 /* offset */
		{"00400000-00452000 r-xp 00000800 08:02 1 /bin/x\n", -EBADMSG},	 /* offset align */
		{"00400000-00452000 r-xp 00000000 0802 1 /bin/x\n", -EBADMSG},	 /* no ':' */
		{"00400000-00452000 r-xp 00000000 08: 1 /bin/x\n", -EBADMSG},	 /* no minor */
		{"00400000-00452000 r-xp 00000000 08:02 1a /bin/x\n", -EBADMSG}, /* inode */
		{"00400000-00452000 r-xp 00000000 08:02 -1 /bin/x\n", -EBADMSG}, /* signed */
		{"00400000-00452000 r-xp 00000000 08:02\n", -EBADMSG},		 /* no inode */
		{"00400000-00452000 r-xp 00000000\n", -EBADMSG},		 /* short */
		{"00400000-00452000\n", -EBADMSG},
		{"10000000000000000-10000000000001000 r-xp 00000000 08:02 1\n", -EBADMSG},
		{"0x400000-0x452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},
		{" 00400000-00452000 r-xp 00000000 08:02 1 /bin/x\n", -EBADMSG},
		{"00400000-00452000 r-xp 00000000 08:02 1 /bin/x\n\n", -EBADMSG}, /* empty line */
		{"00400000-00452000 r-xp 00000000 08:02 1 /a\n"
		 "00451000-00460000 r-xp 00000000 08:02 1 /b\n",
		 -EBADMSG}, /* overlap */
		{"00500000-00600000 r-xp 00000000 08:02 1 /a\n"
		 "00400000-00452000 r-xp 00000000 08:02 1 /b\n",
		 -EBADMSG}, /* not sorted */
		/* smaps attribute lines are not maps */
		{"00400000-00452000 r-xp 00000000 08:02 1 /a\nRss:  4 kB\n", -EBADMSG},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct proc_map *maps = NULL;
		size_t n = 0;

		cr_expect_eq(maps_parse_string(cases[i].text, false, &maps, &n), cases[i].error,
			     "case %zu: %s", i, cases[i].text);
	}
}

Test(proc, maps_rejects_nul_in_name)
{
	static const char text[] = "00400000-00452000 r-xp 00000000 08:02 1 /bin\0x\n";
	_cleanup_free_ char *buf = copy_exact(text, sizeof(text) - 1);
	struct proc_map *maps;
	size_t n;

	cr_assert_eq(proc_maps_parse(buf, sizeof(text) - 1, &maps, &n), -EBADMSG);
}

Test(proc, maps_name_length_limit)
{
	static const char head[] = "00400000-00452000 r-xp 00000000 08:02 1 /";
	char *line = malloc(sizeof(head) + 4096 + 16);
	struct proc_map *maps;
	size_t n, len;

	cr_assert_not_null(line);
	/* "/" plus 4095 bytes: exactly the limit, then the same with " (deleted)". */
	len = sizeof(head) - 1;
	memcpy(line, head, len);
	memset(line + len, 'a', 4095);
	len += 4095;
	cr_assert_eq(proc_maps_parse(line, len, &maps, &n), 0);
	cr_expect_eq(strlen(maps[0].name), 4096);
	proc_maps_free(maps, n);

	memcpy(line + len, " (deleted)", 10);
	cr_assert_eq(proc_maps_parse(line, len + 10, &maps, &n), 0);
	cr_expect_eq(strlen(maps[0].name), 4096);
	cr_expect(maps[0].deleted);
	proc_maps_free(maps, n);

	line[len] = 'b';
	cr_expect_eq(proc_maps_parse(line, len + 1, &maps, &n), -E2BIG);
	free(line);
}

Test(proc, maps_line_count_limit, .timeout = 60)
{
	/* 1,000,001 one-page mappings: one more than we accept. */
	const size_t lines = 1000001, width = 47;
	char *buf = malloc(lines * width), *p = buf;
	struct proc_map *maps;
	size_t n;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < lines; i++) {
		int k = snprintf(p, width + 1, "%016zx-%016zx ---p 0 0:0 0", (i + 1) * 4096,
				 (i + 2) * 4096);

		cr_assert_eq(k, (int) width - 1);
		p[width - 1] = '\n';
		p += width;
	}
	cr_expect_eq(proc_maps_parse(buf, lines * width, &maps, &n), -E2BIG);
	/* One line fewer is accepted. */
	cr_assert_eq(proc_maps_parse(buf, (lines - 1) * width, &maps, &n), 0);
	cr_expect_eq(n, lines - 1);
	proc_maps_free(maps, n);
	free(buf);
}

/* smaps */

Test(proc, smaps_fixture_vmflags)
{
	static const struct {
		size_t index;
		uint32_t vmflags;
	} expected[] = {
		{0, 0},
		{6, PROC_VMFLAG_NOHUGEPAGE},
		{8, PROC_VMFLAG_UFFD},
		{11, PROC_VMFLAG_GROWSDOWN},
		{12, PROC_VMFLAG_DONTCOPY},
		{13, 0},
		{14, PROC_VMFLAG_WIPEONFORK},
		{16, PROC_VMFLAG_DONTDUMP},
		{18, PROC_VMFLAG_HUGEPAGE},
		{20, PROC_VMFLAG_NOHUGEPAGE},
		{22, PROC_VMFLAG_LOCKED},
		{24, PROC_VMFLAG_MERGEABLE},
		{26, PROC_VMFLAG_SEALED},
		{28, 0}, /* /dev/zero (deleted): "sh ms" are not ours */
		{36, PROC_VMFLAG_NORESERVE},
		{41, PROC_VMFLAG_IO | PROC_VMFLAG_DONTDUMP}, /* [vvar]: "pf io de dd" */
		{42, PROC_VMFLAG_IO | PROC_VMFLAG_DONTDUMP}, /* [vvar_vclock] */
		{43, 0},				     /* [vdso]: "de" only */
		{49, PROC_VMFLAG_GROWSDOWN},		     /* [stack] */
		{50, 0},				     /* [vsyscall]: "ex" */
	};
	size_t len, n;
	_cleanup_free_ char *buf = fixture("smaps-odd", &len);
	struct proc_map *maps;

	cr_assert_eq(proc_smaps_parse(buf, len, &maps, &n), 0);
	/* The same process, captured right after maps-odd: the same mappings. */
	check_maps_odd(maps, n);
	for (size_t i = 0; i < ELEMENTSOF(expected); i++)
		cr_expect_eq(maps[expected[i].index].vmflags, expected[i].vmflags, "entry %zu: %#x",
			     expected[i].index, maps[expected[i].index].vmflags);
	proc_maps_free(maps, n);
}

Test(proc, smaps_handmade)
{
	static const struct {
		const char *text;
		int error;
		uint32_t vmflags;
	} cases[] = {
		{"1000-2000 rw-p 00000000 00:00 0 \nSize: 4 kB\nVmFlags: rd wr gd zz ?? \n", 0,
		 PROC_VMFLAG_GROWSDOWN},
		/* Kernels before 3.8 had no VmFlags: we cannot tell what to restore. */
		{"1000-2000 rw-p 00000000 00:00 0 \nSize: 4 kB\n", -EBADMSG, 0},
		{"1000-2000 rw-p 00000000 00:00 0 \nVmFlags: rd\nVmFlags: rd\n", -EBADMSG, 0},
		{"VmFlags: rd\n1000-2000 rw-p 00000000 00:00 0 \nVmFlags: rd\n", -EBADMSG, 0},
		{"1000-2000 rw-p 00000000 00:00 0 \nVmFlags: rd wrx\n", -EBADMSG, 0},
		{"1000-2000 rw-p 00000000 00:00 0 \nVmFlags: rd w\n", -EBADMSG, 0},
		{"1000-2000 rw-p 00000000 00:00 0 \nRss 4 kB\nVmFlags: rd\n", -EBADMSG, 0},
		{"1000-2000 rw-p 00000000 00:00 0 \n"
		 "2000-3000 rw-p 00000000 00:00 0 \nVmFlags: rd\n",
		 -EBADMSG, 0},
		/* "Anonymous:" begins with a hex digit and is still an attribute. */
		{"1000-2000 rw-p 00000000 00:00 0 \nAnonymous: 0 kB\nVmFlags: lo um uw ui\n", 0,
		 PROC_VMFLAG_LOCKED | PROC_VMFLAG_UFFD},
		{"1000-2000 rw-p 00000000 00:00 0 \nVmFlags:\n", 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct proc_map *maps = NULL;
		size_t n = 0;

		cr_assert_eq(maps_parse_string(cases[i].text, true, &maps, &n), cases[i].error,
			     "case %zu", i);
		if (cases[i].error < 0)
			continue;
		cr_assert_eq(n, 1);
		cr_expect_eq(maps[0].vmflags, cases[i].vmflags, "case %zu", i);
		proc_maps_free(maps, n);
	}
}

/* stat */

Test(proc, stat_comm_with_spaces_and_paren)
{
	size_t len;
	_cleanup_free_ char *buf = fixture("stat-comm-paren", &len);
	struct proc_stat st;

	cr_assert_eq(proc_stat_parse(buf, len, &st), 0);
	cr_expect_eq(st.pid, 5053);
	cr_expect_str_eq(st.comm, "a b) c");
	cr_expect_eq(st.state, 'S');
	cr_expect_eq(st.ppid, 5052);
	cr_expect_eq(st.pgrp, 5036);
	cr_expect_eq(st.session, 2911);
	cr_expect_eq(st.tty_nr, 0);
	cr_expect_eq(st.flags, 4194304);
	cr_expect_eq(st.num_threads, 1);
	cr_expect_eq(st.starttime, 134898);
	cr_expect_eq(st.startcode, 94185722699776ULL);
	cr_expect_eq(st.endcode, 94185722717705ULL);
	cr_expect_eq(st.startstack, 140730657872064ULL);
	cr_expect_eq(st.start_data, 94185722731792ULL);
	cr_expect_eq(st.end_data, 94185722733056ULL);
	cr_expect_eq(st.start_brk, 94185809002496ULL);
	cr_expect_eq(st.arg_start, 140730657876614ULL);
	cr_expect_eq(st.arg_end, 140730657876630ULL);
	cr_expect_eq(st.env_start, 140730657876630ULL);
	cr_expect_eq(st.env_end, 140730657877996ULL);
	cr_expect_eq(st.exit_code, 0);
}

Test(proc, stat_fixtures)
{
	static const struct {
		const char *file;
		pid_t pid, ppid, pgrp;
		const char *comm;
		char state;
		uint32_t flags;
		int32_t threads;
		uint64_t starttime;
	} cases[] = {
		{"stat-prctl-comm", 5140, 5090, 5090, "x) (y) z", 'R', 4194560, 2, 135896},
		/* A kernel thread: PF_KTHREAD set, parent, group and session 0. */
		{"stat-kthreadd", 2, 0, 0, "kthreadd", 'S', 2129984, 1, 24},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		_cleanup_free_ char *buf = fixture(cases[i].file, &len);
		struct proc_stat st;

		cr_assert_eq(proc_stat_parse(buf, len, &st), 0, "%s", cases[i].file);
		cr_expect_eq(st.pid, cases[i].pid);
		cr_expect_eq(st.ppid, cases[i].ppid);
		cr_expect_eq(st.pgrp, cases[i].pgrp);
		cr_expect_str_eq(st.comm, cases[i].comm);
		cr_expect_eq(st.state, cases[i].state);
		cr_expect_eq(st.flags, cases[i].flags);
		cr_expect_eq(st.num_threads, cases[i].threads);
		cr_expect_eq(st.starttime, cases[i].starttime);
	}
}

#define STAT_TAIL                                                                                  \
	" 0 -1 4194304 133 0 0 0 0 0 0 0 20 0 1 0 134898 2990080 407 18446744073709551615 1 2 3 "  \
	"0 0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 45 46 47 48 49 50 51 52"

Test(proc, stat_handmade)
{
	static const struct {
		const char *text;
		int error;
		const char *comm;
	} cases[] = {
		{"7 (a\nb) S 1 1 1" STAT_TAIL "\n", 0, "a\nb"},
		{"7 ()) S 1 1 1" STAT_TAIL, 0, ")"},
		{"7 () S 1 1 1" STAT_TAIL "\n", 0, ""},
		/* Workqueue workers' names outgrow TASK_COMM_LEN; we keep 15 bytes. */
		{"7 (kworker/0:1-events_highpri) I 2 0 0" STAT_TAIL "\n", 0, "kworker/0:1-eve"},
		/* A field a later kernel might append. */
		{"7 (x) S 1 1 1" STAT_TAIL " 53\n", 0, "x"},
		{"7 (x) S 1 1 1" STAT_TAIL " -53\n", 0, "x"},
		{"7 (x) S 1 1 1" STAT_TAIL " 5x\n", -EBADMSG, NULL},
		{"7 (x) S 1 1 1" STAT_TAIL " \n", -EBADMSG, NULL},
		{"7 (x) S 1 1 1" STAT_TAIL "\n\n", -EBADMSG, NULL},
		{"0 (x) S 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"-7 (x) S 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 x) S 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 (x S 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 (x)S 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 (x) SS 1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 (x) S  1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		{"7 (x) S 1 1 1" STAT_TAIL "x\n", -EBADMSG, NULL},
		{"7 (x) S -1 1 1" STAT_TAIL "\n", -EBADMSG, NULL},
		/* 51 fields: exit_code (Linux 3.5) missing. */
		{"7 (x) S 1 1 1 0 -1 4194304 133 0 0 0 0 0 0 0 20 0 1 0 134898 2990080 407 1 1 2 3 "
		 "0 "
		 "0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 45 46 47 48 49 50 51\n",
		 -EBADMSG, NULL},
		{"7 (x)", -EBADMSG, NULL},
		{"7 (x) ", -EBADMSG, NULL},
		{"", -EBADMSG, NULL},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *buf = copy_exact(cases[i].text, strlen(cases[i].text));
		struct proc_stat st;

		cr_assert_eq(proc_stat_parse(buf, strlen(cases[i].text), &st), cases[i].error,
			     "case %zu: %s", i, cases[i].text);
		if (cases[i].error < 0)
			continue;
		cr_expect_str_eq(st.comm, cases[i].comm, "case %zu", i);
		cr_expect_eq(st.pid, 7);
		cr_expect_eq(st.startcode, 1);
		cr_expect_eq(st.start_data, 45);
		cr_expect_eq(st.env_end, 51);
		cr_expect_eq(st.exit_code, 52);
	}
}

/* status */

Test(proc, status_ids_and_caps)
{
	size_t len;
	_cleanup_free_ char *buf = fixture("status-ids", &len);
	struct proc_status st;

	cr_assert_eq(proc_status_parse(buf, len, &st), 0);
	cr_expect_eq(st.uid[0], 1000);
	cr_expect_eq(st.uid[1], 0);
	cr_expect_eq(st.uid[2], 1002);
	cr_expect_eq(st.uid[3], 1003);
	cr_expect_eq(st.gid[0], 2000);
	cr_expect_eq(st.gid[1], 2001);
	cr_expect_eq(st.gid[2], 2002);
	cr_expect_eq(st.gid[3], 2003);
	cr_expect_eq(st.n_groups, 0); /* "Groups:\t \n": the kernel always adds a space */
	cr_expect_null(st.groups);
	cr_expect(st.has_umask);
	cr_expect_eq(st.umask, 0);
	cr_expect_eq(st.cap_inh, 0);
	cr_expect_eq(st.cap_prm, 0x000001fffeffffffULL);
	cr_expect_eq(st.cap_eff, 0x000001fef6fffde0ULL);
	cr_expect_eq(st.cap_bnd, 0x000001fffeffffffULL);
	cr_expect_eq(st.cap_amb, 0);
	cr_expect_eq(st.kthread, 0);
	proc_status_done(&st);
}

Test(proc, status_signals_groups_threads)
{
	size_t len;
	_cleanup_free_ char *buf = fixture("status-signals", &len);
	struct proc_status st;

	cr_assert_eq(proc_status_parse(buf, len, &st), 0);
	cr_expect_eq(st.state, 'R');
	cr_expect_eq(st.tgid, 5140);
	cr_expect_eq(st.pid, 5140);
	cr_expect_eq(st.ppid, 5090);
	cr_expect_eq(st.tracer_pid, 0);
	cr_assert_eq(st.n_groups, 4);
	cr_expect_eq(st.groups[0], 4);
	cr_expect_eq(st.groups[1], 24);
	cr_expect_eq(st.groups[2], 27);
	cr_expect_eq(st.groups[3], 100);
	cr_expect(st.has_umask);
	cr_expect_eq(st.umask, 027);
	cr_expect_eq(st.threads, 2);
	cr_expect_eq(st.sig_pnd, 1ULL << (SIGUSR1 - 1));
	cr_expect_eq(st.shd_pnd, 0);
	cr_expect_eq(st.sig_blk, (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGUSR2 - 1)));
	cr_expect_eq(st.sig_ign, 1ULL << (SIGPIPE - 1));
	/* SIGTERM's handler, and glibc's for its internal signal 33 */
	cr_expect_eq(st.sig_cgt, (1ULL << (SIGTERM - 1)) | (1ULL << 32));
	cr_expect_not(st.no_new_privs);
	cr_expect_eq(st.seccomp, 0);
	cr_assert_eq(st.n_nspid, 1);
	cr_expect_eq(st.nspid[0], 5140);
	proc_status_done(&st);
	cr_expect_null(st.groups);
	cr_expect_eq(st.n_groups, 0);
}

Test(proc, status_fixtures)
{
	static const struct {
		const char *file;
		char state;
		pid_t pid, ppid;
		bool has_umask;
		uint32_t umask;
		int32_t kthread, seccomp;
		bool no_new_privs;
		size_t n_nspid;
		pid_t nspid_last, ns_pgid, ns_sid; /* 0: the leader is outside its namespace */
		uint64_t sig_ign;
		bool has_mm;
	} cases[] = {
		{"status-seccomp", 'R', 5140, 5090, true, 027, 0, 2, true, 1, 5140, 5090, 2911,
		 1ULL << 12, true},
		/* Forked after the filter went in: it inherits both. */
		{"status-pidns", 'R', 5142, 5140, true, 027, 0, 2, true, 2, 1, 0, 0, 1ULL << 12, true},
		{"status-kthreadd", 'S', 2, 0, true, 022, 1, 0, false, 1, 2, 0, 0, UINT64_MAX, false},
		/* A shell's background job: SIGINT and SIGQUIT ignored. */
		{"status-comm-paren", 'S', 5053, 5052, true, 022, 0, 0, false, 1, 5053, 5036, 2911, 6,
		 true},
		/* The same job exiting, its memory let go: no Vm lines. */
		{"status-exiting", 'S', 5053, 5052, true, 022, 0, 0, false, 1, 5053, 5036, 2911, 6,
		 false},
		/* Without the Umask (4.7) and Kthread (6.x) lines. */
		{"status-old-kernel", 'S', 5053, 5052, false, 0, -1, 0, false, 1, 5053, 5036, 2911, 6,
		 true},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		_cleanup_free_ char *buf = fixture(cases[i].file, &len);
		struct proc_status st;

		cr_assert_eq(proc_status_parse(buf, len, &st), 0, "%s", cases[i].file);
		cr_expect_eq(st.state, cases[i].state, "%s", cases[i].file);
		cr_expect_eq(st.pid, cases[i].pid, "%s", cases[i].file);
		cr_expect_eq(st.tgid, cases[i].pid, "%s", cases[i].file);
		cr_expect_eq(st.ppid, cases[i].ppid, "%s", cases[i].file);
		cr_expect_eq(st.has_umask, cases[i].has_umask, "%s", cases[i].file);
		cr_expect_eq(st.umask, cases[i].umask, "%s", cases[i].file);
		cr_expect_eq(st.kthread, cases[i].kthread, "%s", cases[i].file);
		cr_expect_eq(st.seccomp, cases[i].seccomp, "%s", cases[i].file);
		cr_expect_eq(st.no_new_privs, cases[i].no_new_privs, "%s", cases[i].file);
		cr_assert_eq(st.n_nspid, cases[i].n_nspid, "%s", cases[i].file);
		cr_expect_eq(st.nspid[0], cases[i].pid, "%s: outermost first", cases[i].file);
		cr_expect_eq(st.nspid[st.n_nspid - 1], cases[i].nspid_last, "%s", cases[i].file);
		cr_expect_eq(st.ns_pgid, cases[i].ns_pgid, "%s", cases[i].file);
		cr_expect_eq(st.ns_sid, cases[i].ns_sid, "%s", cases[i].file);
		cr_expect_eq(st.sig_ign, cases[i].sig_ign, "%s", cases[i].file);
		cr_expect_eq(st.has_mm, cases[i].has_mm, "%s", cases[i].file);
		proc_status_done(&st);
	}
}

/* Replaces the line starting with key (or appends one) in a copy of status-ids. */
static char *status_edit(const char *key, const char *line, size_t *ret_len)
{
	size_t len;
	_cleanup_free_ char *orig = fixture("status-ids", &len);
	char *out = malloc(len + strlen(line) + 2), *p = out;
	const char *s = orig, *end = orig + len;
	bool done = false;

	cr_assert_not_null(out);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t) (end - s));
		size_t n = (size_t) (nl - s) + 1;

		if (!done && strncmp(s, key, strlen(key)) == 0 && s[strlen(key)] == ':') {
			p = stpcpy(p, line);
			done = true;
		} else {
			memcpy(p, s, n);
			p += n;
		}
		s += n;
	}
	if (!done)
		p = stpcpy(p, line);
	*ret_len = (size_t) (p - out);
	return out;
}

Test(proc, status_rejects_malformed)
{
	static const struct {
		const char *key, *line;
		int error;
	} cases[] = {
		{"Uid", "", -EBADMSG}, /* a required line removed */
		{"Uid", "Uid:\t1\t2\t3\n", -EBADMSG},
		{"Uid", "Uid:\t1\t2\t3\t4\t5\n", -EBADMSG},
		{"Uid", "Uid:\t1\t2\t3\tx\n", -EBADMSG},
		{"Uid", "Uid:\t1\t2\t3\t4294967296\n", -EBADMSG},
		{"Gid", "Gid:\t1\t2\t3\t-4\n", -EBADMSG},
		{"Groups", "Groups:\t1 2 x \n", -EBADMSG},
		{"SigBlk", "SigBlk:\t000000000000a00\n", -EBADMSG}, /* 15 digits */
		{"SigBlk", "SigBlk:\t00000000000000a00\n", -EBADMSG},
		{"SigBlk", "SigBlk:\t0x00000000000a00\n", -EBADMSG},
		{"CapEff", "CapEff:\t000001fef6fffdeg\n", -EBADMSG},
		{"Pid", "Pid:\t1\nPid:\t2\n", -EBADMSG}, /* twice */
		{"Threads", "Threads:\t-1\n", -EBADMSG},
		{"NoNewPrivs", "NoNewPrivs:\t2\n", -EBADMSG},
		{"Seccomp", "Seccomp:\t3\n", -EBADMSG},
		{"Kthread", "Kthread:\tyes\n", -EBADMSG},
		{"Umask", "Umask:\t0800\n", -EBADMSG},
		{"Umask", "Umask:\t01000\n", -EBADMSG},
		{"State", "State:\t(running)\n", -EBADMSG},
		{"State", "State:\t\n", -EBADMSG},
		{"NSpid", "NSpid:\t\n", -EBADMSG},
		{"NSpid", "NSpid:\t5\t0\n", -EBADMSG},
		{"NSpid",
		 "NSpid:\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\t15\t16\t17\t18\t19\t20\t21"
		 "\t22\t23\t24\t25\t26\t27\t28\t29\t30\t31\t32\t33\n",
		 -E2BIG},
		{"Name", "no colon here\n", -EBADMSG},
		/* Still fine: */
		{"NSpid",
		 "NSpid:\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\t15\t16\t17\t18\t19\t20\t21"
		 "\t22\t23\t24\t25\t26\t27\t28\t29\t30\t31\t32\n",
		 0},
		{"Seccomp", "", 0},
		{"Seccomp_filters", "", 0},
		{"Unknown_new_line", "Unknown_new_line:\twhatever it says\n", 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		_cleanup_free_ char *buf = status_edit(cases[i].key, cases[i].line, &len);
		struct proc_status st;
		int r = proc_status_parse(buf, len, &st);

		cr_expect_eq(r, cases[i].error, "case %zu: %s -> %d", i, cases[i].line, r);
		if (r >= 0)
			proc_status_done(&st);
	}
}

/* fdinfo */

Test(proc, fdinfo_fixtures)
{
	static const struct {
		const char *file;
		uint64_t pos;
		uint32_t flags;
		int32_t mnt_id;
		uint64_t ino;
	} cases[] = {
		/* The kernel's O_LARGEFILE (0100000) shows although glibc's is 0 on x86_64. */
		{"fdinfo-regular", 1234, O_RDWR | O_APPEND | O_CLOEXEC | 0100000, 27, 10952846},
		{"fdinfo-eventfd", 0, O_RDWR | O_NONBLOCK | O_CLOEXEC, 17, 1038},
		{"fdinfo-epoll", 0, O_RDWR | O_CLOEXEC, 17, 1038},
		{"fdinfo-inotify", 0, O_RDONLY | O_CLOEXEC, 17, 1038},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		_cleanup_free_ char *buf = fixture(cases[i].file, &len);
		struct proc_fdinfo fi;

		cr_assert_eq(proc_fdinfo_parse(buf, len, &fi), 0, "%s", cases[i].file);
		cr_expect_eq(fi.pos, cases[i].pos, "%s", cases[i].file);
		cr_expect_eq(fi.flags, cases[i].flags, "%s: %#o", cases[i].file, fi.flags);
		cr_expect_eq(fi.mnt_id, cases[i].mnt_id, "%s", cases[i].file);
		cr_expect_eq(fi.ino, cases[i].ino, "%s", cases[i].file);
	}
}

Test(proc, fdinfo_handmade)
{
	static const struct {
		const char *text;
		int error;
		uint64_t pos, ino;
	} cases[] = {
		/* Older kernels print no "ino:". */
		{"pos:\t5\nflags:\t02\nmnt_id:\t3\n", 0, 5, 0},
		{"pos:\t-2\nflags:\t02\nmnt_id:\t3\nino:\t9", 0, UINT64_MAX - 1, 9},
		{"pos:\t5\nflags:\t02\nmnt_id:\t3\nino:\t9\nlock:\t1: FLOCK ADVISORY WRITE\n", 0, 5,
		 9},
		{"flags:\t02\nmnt_id:\t3\n", -EBADMSG, 0, 0},
		{"pos:\t5\nmnt_id:\t3\n", -EBADMSG, 0, 0},
		{"pos:\t5\nflags:\t02\n", -EBADMSG, 0, 0},
		{"pos:\t5\nflags:\t08\nmnt_id:\t3\n", -EBADMSG, 0, 0},
		{"pos:\t5\npos:\t5\nflags:\t02\nmnt_id:\t3\n", -EBADMSG, 0, 0},
		{"pos:\t\nflags:\t02\nmnt_id:\t3\n", -EBADMSG, 0, 0},
		{"pos:\t5\nflags:\t02\nmnt_id:\t3\nino:\tx\n", -EBADMSG, 0, 0},
		{"", -EBADMSG, 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *buf = copy_exact(cases[i].text, strlen(cases[i].text));
		struct proc_fdinfo fi;

		cr_assert_eq(proc_fdinfo_parse(buf, strlen(cases[i].text), &fi), cases[i].error,
			     "case %zu", i);
		if (cases[i].error < 0)
			continue;
		cr_expect_eq(fi.pos, cases[i].pos, "case %zu", i);
		cr_expect_eq(fi.flags, 2, "case %zu", i);
		cr_expect_eq(fi.mnt_id, 3, "case %zu", i);
		cr_expect_eq(fi.ino, cases[i].ino, "case %zu", i);
	}
}

/* fdinfo of eventfd, timerfd, signalfd and epoll */

Test(proc, anon_fdinfo_fixtures)
{
	_cleanup_free_ struct proc_epoll_watch *w = NULL;
	_cleanup_free_ char *ev = NULL, *sem = NULL, *tfd = NULL, *sfd = NULL, *ep = NULL;
	size_t ev_len, sem_len, tfd_len, sfd_len, ep_len, n;
	struct proc_eventfd e;
	struct proc_timerfd t;
	uint64_t mask;

	ev = fixture("fdinfo-eventfd", &ev_len);
	sem = fixture("fdinfo-eventfd-semaphore", &sem_len);
	tfd = fixture("fdinfo-timerfd", &tfd_len);
	sfd = fixture("fdinfo-signalfd", &sfd_len);
	ep = fixture("fdinfo-epoll-three", &ep_len);

	cr_assert_eq(proc_eventfd_parse(ev, ev_len, &e), 0);
	cr_expect(e.count == 7 && !e.semaphore);
	cr_assert_eq(proc_eventfd_parse(sem, sem_len, &e), 0);
	cr_expect(e.count == 0x1a2b3c && e.semaphore, "count %#" PRIx64, e.count);

	cr_assert_eq(proc_timerfd_parse(tfd, tfd_len, &t), 0);
	cr_expect_eq(t.clockid, CLOCK_BOOTTIME);
	cr_expect_eq(t.ticks, 1);
	cr_expect_eq(t.settime_flags, TFD_TIMER_ABSTIME);
	cr_expect_eq(t.value_ns, 0);
	cr_expect_eq(t.interval_ns, 2500000000ull);

	cr_assert_eq(proc_signalfd_parse(sfd, sfd_len, &mask), 0);
	cr_expect_eq(mask, (1ull << (SIGUSR1 - 1)) | (1ull << (34 - 1)) | (1ull << 63),
		     "%#" PRIx64, mask);

	cr_assert_eq(proc_epoll_parse(ep, ep_len, 16, &w, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect(w[0].tfd == 5 && w[0].events == (EPOLLOUT | EPOLLEXCLUSIVE | EPOLLERR | EPOLLHUP) &&
		  w[0].data == 0 && w[0].ino == 0x40e && w[0].sdev == 0x10);
	cr_expect(w[1].tfd == 3 && w[1].events == (EPOLLIN | EPOLLONESHOT | EPOLLERR | EPOLLHUP) &&
		  w[1].data == 7);
	cr_expect(w[2].tfd == 4 && w[2].events == (EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP) &&
		  w[2].data == 0xfedcba9876543210ull);
}

/* A file of one kind is not read as another, and an epoll without watches has none. */
Test(proc, anon_fdinfo_wrong_kind)
{
	_cleanup_free_ struct proc_epoll_watch *w = NULL;
	_cleanup_free_ char *ev = NULL, *reg = NULL;
	size_t ev_len, reg_len, n = 99;
	struct proc_timerfd t;
	struct proc_eventfd e;
	uint64_t mask;

	ev = fixture("fdinfo-eventfd", &ev_len);
	reg = fixture("fdinfo-regular", &reg_len);
	cr_expect_eq(proc_timerfd_parse(ev, ev_len, &t), -EBADMSG);
	cr_expect_eq(proc_signalfd_parse(ev, ev_len, &mask), -EBADMSG);
	cr_expect_eq(proc_eventfd_parse(reg, reg_len, &e), -EBADMSG);
	cr_assert_eq(proc_epoll_parse(reg, reg_len, 16, &w, &n), 0);
	cr_expect_eq(n, 0);
}

Test(proc, anon_fdinfo_handmade)
{
	static const struct {
		int kind; /* 0 eventfd, 1 timerfd, 2 signalfd, 3 epoll (at most 2 watches) */
		const char *text;
		int error;
	} cases[] = {
		{ 0, "eventfd-count: ffffffffffffffff\neventfd-semaphore: 0\n", 0 },
		{ 0, "eventfd-count: 10000000000000000\neventfd-semaphore: 0\n", -EBADMSG },
		{ 0, "eventfd-count: 5\n", -EBADMSG }, /* before 6.6: semaphore unknown */
		{ 0, "eventfd-count: 5\neventfd-semaphore: 2\n", -EBADMSG },
		{ 0, "eventfd-count: 5\neventfd-count: 6\neventfd-semaphore: 0\n", -EBADMSG },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 00\nit_value: (1, 2)\n"
		     "it_interval: (0, 0)\n", 0 },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 00\nit_value: (1, 1000000000)\n"
		     "it_interval: (0, 0)\n", -EBADMSG },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 08\nit_value: (1, 2)\n"
		     "it_interval: (0, 0)\n", -EBADMSG },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 00\nit_value: 1, 2\n"
		     "it_interval: (0, 0)\n", -EBADMSG },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 00\nit_value: (18446744073, 0)\n"
		     "it_interval: (0, 0)\n", 0 },
		{ 1, "clockid: 0\nticks: 0\nsettime flags: 00\nit_value: (18446744074, 0)\n"
		     "it_interval: (0, 0)\n", -EBADMSG },
		{ 2, "sigmask:\t0000000000000001\n", 0 },
		{ 2, "sigmask:\t01\n", -EBADMSG },
		{ 2, "sigmask:\t000000000000000g\n", -EBADMSG },
		{ 3, "tfd:        6 events:       19 data:               2a  pos:0 ino:40e sdev:10\n", 0 },
		{ 3, "tfd:       -6 events:       19 data:               2a  pos:0 ino:40e sdev:10\n",
		  -EBADMSG },
		{ 3, "tfd:        6 events:       19 data:               2a\n", -EBADMSG },
		{ 3, "tfd:        6 events: 100000000 data: 2a  pos:0 ino:40e sdev:10\n", -EBADMSG },
		{ 3, "tfd: 1 events: 1 data: 1 pos:0 ino:1 sdev:1\ntfd: 2 events: 1 data: 1 pos:0 "
		     "ino:1 sdev:1\ntfd: 3 events: 1 data: 1 pos:0 ino:1 sdev:1\n", -E2BIG },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len = strlen(cases[i].text), n;
		_cleanup_free_ char *buf = copy_exact(cases[i].text, len);
		_cleanup_free_ struct proc_epoll_watch *w = NULL;
		struct proc_eventfd e;
		struct proc_timerfd t;
		uint64_t mask;
		int r = 0;

		switch (cases[i].kind) {
		case 0:
			r = proc_eventfd_parse(buf, len, &e);
			break;
		case 1:
			r = proc_timerfd_parse(buf, len, &t);
			break;
		case 2:
			r = proc_signalfd_parse(buf, len, &mask);
			break;
		case 3:
			r = proc_epoll_parse(buf, len, 2, &w, &n);
			break;
		}
		cr_expect_eq(r, cases[i].error, "case %zu: %d", i, r);
	}
}

/* Readers, on this process */

/* A fresh directory for one test; the caller removes it. */
static char *tmp_dir_new(void)
{
	char *dir = strdup("/tmp/ckptd-test-proc-XXXXXX");

	cr_assert_not_null(dir);
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

Test(proc, read_maps_of_self)
{
	_cleanup_free_ char *dir = tmp_dir_new();
	_cleanup_free_ char *path = strdup_printf("%s/a name with spaces", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct proc_map *maps;
	char *p, *q;
	size_t n;
	bool found_file = false, found_anon = false;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 3 * 4096), 0);
	p = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED, fd, 4096);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(unlink(path), 0);
	q = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(q, MAP_FAILED);
	cr_assert_eq(madvise(q, 3 * 4096, MADV_DONTDUMP), 0);

	cr_assert_eq(proc_read_maps(getpid(), true, &maps, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (maps[i].start == (uintptr_t) p) {
			struct stat st;

			cr_assert_eq(fstat(fd, &st), 0);
			cr_expect_eq(maps[i].end, (uintptr_t) p + 2 * 4096);
			cr_expect_eq(maps[i].prot, PROT_READ);
			cr_expect(maps[i].shared);
			cr_expect_eq(maps[i].offset, 4096);
			cr_expect_eq(maps[i].inode, st.st_ino);
			cr_expect_eq(makedev(maps[i].dev_major, maps[i].dev_minor), st.st_dev);
			cr_expect_str_eq(maps[i].name, path);
			cr_expect(maps[i].deleted);
			found_file = true;
		}
		if (maps[i].start == (uintptr_t) q) {
			cr_expect_eq(maps[i].end, (uintptr_t) q + 3 * 4096);
			cr_expect_null(maps[i].name);
			cr_expect_eq(maps[i].vmflags, PROC_VMFLAG_DONTDUMP);
			found_anon = true;
		}
	}
	cr_expect(found_file);
	cr_expect(found_anon);
	proc_maps_free(maps, n);

	/* Plain maps: same mappings, no VmFlags. */
	cr_assert_eq(proc_read_maps(getpid(), false, &maps, &n), 0);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(maps[i].vmflags, 0);
	proc_maps_free(maps, n);
	(void) close(fd);
	(void) rmdir(dir);
}

Test(proc, read_stat_and_status_of_self)
{
	struct proc_stat st;
	struct proc_status status;
	sigset_t set;
	int ngroups = getgroups(0, NULL);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);

	cr_assert_eq(proc_read_stat(getpid(), &st), 0);
	cr_expect_eq(st.pid, getpid());
	cr_expect_eq(st.ppid, getppid());
	cr_expect_eq(st.pgrp, getpgrp());
	cr_expect_eq(st.session, getsid(0));
	cr_expect_eq(st.state, 'R');
	cr_expect_eq(st.flags & 0x00200000, 0, "not a kernel thread");

	cr_assert_eq(proc_read_status(getpid(), &status), 0);
	cr_expect_eq(status.pid, getpid());
	cr_expect_eq(status.tgid, getpid());
	cr_expect_eq(status.ppid, getppid());
	cr_expect_eq(status.uid[0], getuid());
	cr_expect_eq(status.uid[1], geteuid());
	cr_expect_eq(status.gid[0], getgid());
	cr_expect_eq(status.n_groups, (size_t) ngroups);
	cr_expect_neq(status.sig_blk & (1ULL << (SIGUSR2 - 1)), 0);
	cr_expect_eq(status.kthread, 0);
	cr_expect(status.has_mm);
	cr_expect_eq(status.nspid[status.n_nspid - 1], getpid());
	proc_status_done(&status);
}

Test(proc, read_fdinfo_of_self)
{
	_cleanup_free_ char *dir = tmp_dir_new();
	_cleanup_free_ char *path = strdup_printf("%s/fdinfo", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct proc_fdinfo fi;
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(lseek(fd, 4096 + 7, SEEK_SET), 4096 + 7);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(proc_read_fdinfo(getpid(), fd, &fi), 0);
	cr_expect_eq(fi.pos, 4096 + 7);
	cr_expect_eq(fi.flags & (O_ACCMODE | O_APPEND | O_CLOEXEC), O_RDWR | O_APPEND | O_CLOEXEC);
	cr_expect_eq(fi.ino, st.st_ino);
	cr_expect_gt(fi.mnt_id, 0);

	/* The process is there, the fd is not. */
	cr_expect_eq(proc_read_fdinfo(getpid(), 4000, &fi), -ENOENT);
	cr_expect_eq(proc_read_fdinfo(getpid(), -1, &fi), -EBADF);
	(void) close(fd);
	(void) unlink(path);
	(void) rmdir(dir);
}

static void *thread_sleep(void *arg)
{
	pid_t *tid = arg;

	*tid = gettid();
	pause();
	return NULL;
}

Test(proc, read_tids_sorted)
{
	pthread_t t[3];
	volatile pid_t tid[3] = {};
	pid_t *tids;
	size_t n, n_before;

	/* Criterion may run threads of its own in the test process. */
	cr_assert_eq(proc_read_tids(getpid(), &tids, &n_before), 0);
	free(tids);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_sleep, (void *) &tid[i]), 0);
	for (size_t i = 0; i < 3; i++)
		while (tid[i] == 0)
			usleep(1000);

	cr_assert_eq(proc_read_tids(getpid(), &tids, &n), 0);
	cr_assert_eq(n, n_before + 3);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(tids[i - 1], tids[i]);
	for (size_t i = 0; i < 4; i++) {
		pid_t want = i < 3 ? tid[i] : getpid();
		bool found = false;

		for (size_t j = 0; j < n; j++)
			found = found || tids[j] == want;
		cr_expect(found, "tid %d", want);
	}
	free(tids);
}

Test(proc, read_fds_sorted)
{
	int *fds;
	size_t n;
	bool has[3] = {};

	cr_assert_eq(dup3(STDERR_FILENO, 300, O_CLOEXEC), 300);
	cr_assert_eq(dup3(STDERR_FILENO, 77, O_CLOEXEC), 77);
	cr_assert_eq(dup3(STDERR_FILENO, 150, O_CLOEXEC), 150);
	cr_assert_eq(proc_read_fds(getpid(), &fds, &n), 0);
	cr_assert_geq(n, 3);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			cr_expect_lt(fds[i - 1], fds[i]);
		has[0] = has[0] || fds[i] == 77;
		has[1] = has[1] || fds[i] == 150;
		has[2] = has[2] || fds[i] == 300;
	}
	cr_expect(has[0] && has[1] && has[2]);
	free(fds);
}

static void *thread_fork(void *arg)
{
	pid_t *child = arg, c = fork();

	if (c == 0) {
		pause();
		_exit(0);
	}
	*child = c;
	return NULL;
}

Test(proc, read_children_of_all_threads)
{
	pid_t expected[4], *kids;
	pthread_t t;
	size_t n;

	for (size_t i = 0; i < 3; i++) {
		expected[i] = fork();
		cr_assert_geq(expected[i], 0);
		if (expected[i] == 0) {
			pause();
			_exit(0);
		}
	}
	/* A child of another thread is a child of the process too. */
	cr_assert_eq(pthread_create(&t, NULL, thread_fork, &expected[3]), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_gt(expected[3], 0);

	cr_assert_eq(proc_read_children(getpid(), &kids, &n), 0);
	for (size_t i = 0; i < 4; i++)
		(void) kill(expected[i], SIGKILL);
	for (size_t i = 0; i < 4; i++)
		(void) waitpid(expected[i], NULL, 0);
	cr_assert_eq(n, 4);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(kids[i - 1], kids[i]);
	for (size_t i = 0; i < 4; i++) {
		bool found = false;

		for (size_t j = 0; j < n; j++)
			found = found || kids[j] == expected[i];
		cr_expect(found, "child %d", expected[i]);
	}
	free(kids);
}

Test(proc, readlink_grows_buffer)
{
	char name[201], *link;
	_cleanup_free_ char *dir = NULL, *dir1 = NULL, *dir2 = NULL, *path = NULL, *exe = NULL;
	int fd;

	memset(name, 'd', 200);
	name[200] = 0;
	/* Over 256 and over 512 bytes: two doublings. */
	dir = tmp_dir_new();
	dir1 = strdup_printf("%s/%s", dir, name);
	dir2 = strdup_printf("%s/%s", dir1, name);
	path = strdup_printf("%s/%s", dir2, name);
	cr_assert_eq(mkdir(dir1, 0700), 0);
	cr_assert_eq(mkdir(dir2, 0700), 0);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_gt(strlen(path), 600);

	_cleanup_free_ char *what = strdup_printf("fd/%d", fd);
	cr_assert_eq(proc_readlink(getpid(), what, &link), 0);
	cr_expect_str_eq(link, path);
	free(link);

	exe = realpath("/proc/self/exe", NULL);
	cr_assert_not_null(exe);
	cr_assert_eq(proc_readlink(getpid(), "exe", &link), 0);
	cr_expect_str_eq(link, exe);
	free(link);

	cr_expect_eq(proc_readlink(getpid(), "fd/4000", &link), -ENOENT);
	cr_expect_eq(proc_readlink(getpid(), "", &link), -EINVAL);
	(void) close(fd);
	(void) unlink(path);
	(void) rmdir(dir2);
	(void) rmdir(dir1);
	(void) rmdir(dir);
}

Test(proc, readers_of_a_gone_process_say_esrch)
{
	struct proc_map *maps;
	struct proc_stat st;
	struct proc_status status;
	struct proc_fdinfo fi;
	pid_t *pids;
	int *fds;
	char *link;
	size_t n;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);

	cr_expect_eq(proc_read_maps(pid, false, &maps, &n), -ESRCH);
	cr_expect_eq(proc_read_maps(pid, true, &maps, &n), -ESRCH);
	cr_expect_eq(proc_read_stat(pid, &st), -ESRCH);
	cr_expect_eq(proc_read_status(pid, &status), -ESRCH);
	cr_expect_eq(proc_read_fdinfo(pid, 0, &fi), -ESRCH);
	cr_expect_eq(proc_read_tids(pid, &pids, &n), -ESRCH);
	cr_expect_eq(proc_read_fds(pid, &fds, &n), -ESRCH);
	cr_expect_eq(proc_read_children(pid, &pids, &n), -ESRCH);
	cr_expect_eq(proc_readlink(pid, "exe", &link), -ESRCH);
	cr_expect_eq(proc_read_stat(0, &st), -EINVAL);
}

Test(proc, parsers_take_no_bytes)
{
	struct proc_map *maps = (void *) 1;
	struct proc_stat st;
	struct proc_status status;
	struct proc_fdinfo fi;
	size_t n = 99;

	/* NULL with length 0 must not reach memchr() (UBSan would say so). */
	cr_expect_eq(proc_maps_parse(NULL, 0, &maps, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(proc_smaps_parse(NULL, 0, &maps, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(proc_stat_parse(NULL, 0, &st), -EBADMSG);
	cr_expect_eq(proc_status_parse(NULL, 0, &status), -EBADMSG);
	cr_expect_eq(proc_fdinfo_parse(NULL, 0, &fi), -EBADMSG);
}

Test(proc, limits_match_getrlimit)
{
	struct rlimit got[RLIM_NLIMITS], want;

	cr_assert_eq(proc_read_limits(getpid(), got), 0);
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		cr_assert_eq(getrlimit(i, &want), 0);
		cr_assert_eq(got[i].rlim_cur, want.rlim_cur, "limit %d soft", i);
		cr_assert_eq(got[i].rlim_max, want.rlim_max, "limit %d hard", i);
	}
}

Test(proc, limits_values_and_damage)
{
	static const char head[] = "Limit                     Soft Limit           Hard Limit           "
				   "Units     \n";
	char buf[4096];
	struct rlimit l[RLIM_NLIMITS];
	size_t n = 0;

	n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s", head);
	for (int i = 0; i < RLIM_NLIMITS; i++)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%-25s %-20s %-20llu %-10s\n",
				       i == 0 ? "Max cpu time" : "Max something", "unlimited",
				       18446744073709551614ULL - (unsigned long long) i, "units");
	cr_assert_eq(proc_limits_parse(buf, n, l), 0);
	cr_assert_eq(l[0].rlim_cur, RLIM_INFINITY);
	cr_assert_eq(l[3].rlim_max, 18446744073709551614ULL - 3);
	/* One line short, a missing header, a number that overflows: damage. */
	buf[n - 1] = 0;
	cr_assert_eq(proc_limits_parse(buf, (size_t) (strrchr(buf, '\n') + 1 - buf), l), -EBADMSG);
	buf[n - 1] = '\n';
	cr_assert_eq(proc_limits_parse(buf + strlen(head), n - strlen(head), l), -EBADMSG);
	memcpy(buf + strlen(head) + 26, "99999999999999999999999", 23);
	cr_assert_eq(proc_limits_parse(buf, n, l), -EBADMSG);
}

Test(proc, timens_offsets_parse)
{
	static const char ok[] = "monotonic     1000000         0\n"
				 "boottime           -5 250000000\n";
	static const struct {
		const char *text;
		int r;
	} bad[] = {
		{ "monotonic 1 0\n", -EBADMSG },		 /* boottime missing */
		{ "monotonic 1 0\nboottime 2 0", -EBADMSG },	 /* no final newline */
		{ "monotonic 1 1000000000\nboottime 2 0\n", -EBADMSG },
		{ "monotonic 1 -1\nboottime 2 0\n", -EBADMSG },
		{ "monotonic 1 0 9\nboottime 2 0\n", -EBADMSG },
		{ "monotonic 99999999999999999999 0\nboottime 2 0\n", -EBADMSG },
		{ "monotonic x 0\nboottime 2 0\n", -EBADMSG },
	};
	struct proc_timens_offsets o;

	cr_assert_eq(proc_timens_offsets_parse(ok, strlen(ok), &o), 0);
	cr_assert_eq(o.monotonic_ns, 1000000LL * 1000000000);
	cr_assert_eq(o.boottime_ns, -5LL * 1000000000 + 250000000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(proc_timens_offsets_parse(bad[i].text, strlen(bad[i].text), &o), bad[i].r,
			     "accepted: %s", bad[i].text);
}

Test(proc, timens_offsets_of_ourselves)
{
	struct proc_timens_offsets o;
	int r = proc_read_timens_offsets(getpid(), &o);

	if (r == -ENOENT)
		cr_skip_test("no time namespaces in this kernel");
	cr_assert_eq(r, 0);
}

/* Captured on Linux 6.18: SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE on a CPU clock, glibc's SIGEV_THREAD. */
Test(proc, timers_fixture)
{
	static const struct proc_timer want[] = {
		{ 3, 32, 0x558db65b9460, 4, 26201, 1 },
		{ 2, 35, 0x1234, 1, 26200, -6 },
		{ 1, 35, 0x1234, 4, 26200, 0 },
		{ 0, 35, 0x1234, 0, 26200, 1 },
	};
	size_t len, n;
	_cleanup_free_ char *buf = fixture("timers", &len);
	_cleanup_free_ struct proc_timer *t = NULL;

	cr_assert_eq(proc_timers_parse(buf, len, &t, &n), 0);
	cr_assert_eq(n, ELEMENTSOF(want));
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(memcmp(&t[i], &want[i], sizeof(want[i])), 0, "timer %zu", i);
}

Test(proc, timers_handmade)
{
	static const struct {
		const char *text;
		int error;
		size_t n;
	} cases[] = {
		{ "", 0, 0 },
		{ "ID: 7\nsignal: 14/0\nnotify: thread/pid.5\nClockID: 0", 0, 1 },
		{ "ID: 7\nsignal: 14/0\nnotify: signal/pid.5\n", -EBADMSG, 0 },
		{ "ID: 7\nsignal: 14/0\nnotify: signal/tgid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: 7\nsignal: 14/0\nnotify: other/pid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: -1\nsignal: 14/0\nnotify: signal/pid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: 7\nsignal: 14\nnotify: signal/pid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: 7\nsignal: 14/zz\nnotify: signal/pid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "signal: 14/0\nID: 7\nnotify: signal/pid.5\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: 7\nsignal: 14/0\nnotify: signal/pid.\nClockID: 0\n", -EBADMSG, 0 },
		{ "ID: 7x\nsignal: 14/0\nnotify: signal/pid.5\nClockID: 0\n", -EBADMSG, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ struct proc_timer *t = NULL;
		size_t n = 99;
		int r = proc_timers_parse(cases[i].text, strlen(cases[i].text), &t, &n);

		cr_expect_eq(r, cases[i].error, "case %zu: %d", i, r);
		if (r == 0)
			cr_expect_eq(n, cases[i].n, "case %zu", i);
	}
}

/*
 * A child that became nobody (65534) and waits on a pipe: traceable by
 * nobody once it is dumpable again, by no other user, and a credential
 * change alone leaves it not dumpable.
 */
static pid_t nobody_child(bool dumpable, int *ret_wait_fd)
{
	int ready[2], hold[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]); /* or the read below never sees the end */
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(1);
		if (dumpable)
			(void) prctl(PR_SET_DUMPABLE, 1);
		(void) write(ready[1], "x", 1);
		(void) read(hold[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the child could not become nobody");
	close(ready[0]);
	*ret_wait_fd = hold[1];
	return pid;
}

static void end_child(pid_t pid, int hold_fd)
{
	close(hold_fd);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
}

Test(proc, traceable_by_owner_only)
{
	const char *why = NULL;
	uid_t uid = 1;
	int hold;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a child of another user");
	pid = nobody_child(true, &hold);
	cr_expect_eq(proc_traceable_by(pid, 65534, 65534, &uid, &why), 1);
	cr_expect_eq(uid, 65534);
	cr_expect_eq(proc_traceable_by(pid, 1000, 65534, &uid, &why), 0);
	cr_expect_eq(uid, 65534, "the uid named is the process's, not the caller's");
	cr_expect_str_eq(why, "it runs as another user or group");
	cr_expect_eq(proc_traceable_by(pid, 65534, 1000, &uid, &why), 0, "another group");
	/* Ourselves (root): every uid differs from nobody's, and we hold capabilities. */
	cr_expect_eq(proc_traceable_by(getpid(), 65534, 65534, &uid, &why), 0);
	cr_expect_eq(uid, 0);
	end_child(pid, hold);
	cr_expect_eq(proc_traceable_by(pid, 65534, 65534, &uid, &why), -ESRCH);
}

Test(proc, traceable_by_not_dumpable)
{
	const char *why = NULL;
	uid_t uid;
	int hold, r;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a child of another user");
	pid = nobody_child(false, &hold);
	r = proc_traceable_by(pid, 65534, 65534, &uid, &why);
	cr_expect_eq(r, 0, "r = %d", r);
	cr_expect(r != 0 || strstr(why, "not dumpable") != NULL, "why: %s", why);
	end_child(pid, hold);
}

/*
 * A process that is exiting has let go of its memory, and the kernel then
 * shows its /proc files as root's, as for one that is not dumpable: a shell
 * loop's `sleep` children, looked at as they end, are gone, not refused.
 */
Test(proc, traceable_by_takes_an_exiting_process_for_gone)
{
	size_t looked = 0, refused = 0;
	const char *why = NULL;
	uid_t uid;
	pid_t sh;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a shell as another user");
	sh = fork();
	cr_assert_geq(sh, 0);
	if (sh == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(1);
		execl("/bin/sh", "sh", "-c", "while :; do sleep 0.001; done", (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 20000; i++) {
		_cleanup_free_ pid_t *children = NULL;
		size_t n = 0;

		if (proc_read_children(sh, &children, &n) < 0)
			break;
		for (size_t k = 0; k < n; k++, looked++)
			if (proc_traceable_by(children[k], 65534, 65534, &uid, &why) == 0)
				refused++;
	}
	kill(sh, SIGKILL);
	cr_assert_eq(waitpid(sh, NULL, 0), sh);
	cr_assert_gt(looked, 1000, "the shell's children were hardly seen (%zu)", looked);
	cr_assert_eq(refused, 0, "%zu of %zu looks at a child refused it: %s", refused, looked, why);
}

/* A process is found by its start and its PID in its own namespace, ours or a new one. */
Test(proc, find_started)
{
	int go[2];
	uint64_t t;
	pid_t child;
	char c = 0;

	cr_assert_eq(proc_start_time(getpid(), &t), 0);
	cr_expect_eq(proc_find_started(t, getpid()), getpid());
	cr_expect_eq(proc_find_started(t, -1), 0, "a PID no process has");
	cr_expect_eq(proc_find_started(t + 100000, getpid()), 0, "a start no process had");

	if (unshare(CLONE_NEWPID) < 0)
		cr_skip_test("needs root to make a PID namespace");
	cr_assert_eq(pipe(go), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		(void) close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1); /* PID 1 there, until the pipe closes */
	}
	(void) close(go[0]);
	cr_assert_eq(proc_start_time(child, &t), 0);
	cr_expect_eq(proc_find_started(t, 1), child, "PID 1 of its namespace is %d here", child);
	cr_expect_eq(proc_find_started(t, child), 0, "ours is not its PID there");
	(void) close(go[1]);
	cr_assert_eq(waitpid(child, NULL, 0), child);
}
