// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests of pagemap_scan() and its fallback on this test process's own memory:
 * mappings whose pages the test populates one by one, so the exact ranges are
 * known, and both paths must agree on them except for the zero page.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagemap.h"
#include "proc.h"
#include "util.h"

#define P PAGE_CATEGORY_PRESENT
#define F PAGE_CATEGORY_FILE
#define Z PAGE_CATEGORY_ZERO

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* [start, end) in pages from the mapping's start. */
struct expect {
	size_t start, end;
	uint32_t categories;
};

static int pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	return fd;
}

/* Anonymous memory in single pages: no THP, no mTHP, whatever the system's setting. */
static char *map_anon(size_t pages, int flags)
{
	char *p =
		mmap(NULL, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(madvise(p, pages * PAGE_SIZE, MADV_NOHUGEPAGE), 0);
	return p;
}

static void touch_write(char *base, size_t first, size_t last)
{
	for (size_t i = first; i <= last; i++)
		((volatile char *) base)[i * PAGE_SIZE] = (char) (i + 1);
}

static volatile char read_sink;

static void touch_read(const char *base, size_t first, size_t last)
{
	/* The value is used: valgrind's JIT drops loads whose result goes nowhere. */
	for (size_t i = first; i <= last; i++)
		read_sink ^= ((const volatile char *) base)[i * PAGE_SIZE];
}

/* Every output obeys the header's promise: aligned, inside, sorted, merged. */
static void check_well_formed(const struct page_range *r, size_t n, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert(IS_ALIGNED(r[i].start, PAGE_SIZE) && IS_ALIGNED(r[i].end, PAGE_SIZE));
		cr_assert_lt(r[i].start, r[i].end);
		cr_assert_geq(r[i].start, start);
		cr_assert_leq(r[i].end, end);
		cr_assert_neq(r[i].categories & (PAGE_CATEGORY_PRESENT | PAGE_CATEGORY_SWAPPED), 0);
		if (i > 0) {
			cr_assert_geq(r[i].start, r[i - 1].end);
			cr_assert(r[i].start != r[i - 1].end ||
					  r[i].categories != r[i - 1].categories,
				  "ranges %zu and %zu should have been merged", i - 1, i);
		}
	}
}

static void check_ranges(const char *what, const struct page_range *r, size_t n, const char *base,
			 const struct expect *e, size_t n_e)
{
	cr_assert_eq(n, n_e, "%s: %zu ranges, expected %zu", what, n, n_e);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(r[i].start, (uintptr_t) base + e[i].start * PAGE_SIZE, "%s: range %zu",
			     what, i);
		cr_expect_eq(r[i].end, (uintptr_t) base + e[i].end * PAGE_SIZE, "%s: range %zu",
			     what, i);
		cr_expect_eq(r[i].categories, e[i].categories, "%s: range %zu is %#x", what, i,
			     r[i].categories);
	}
}

/*
 * Runs both functions over [base, base + pages) and checks each against its
 * expected ranges; the fallback's are the scan's without Z, merged again.
 */
static void check_both(const char *base, size_t pages, const struct expect *scan, size_t n_scan,
		       const struct expect *entries, size_t n_entries)
{
	int fd = pagemap_open();
	uint64_t start = (uintptr_t) base, end = start + pages * PAGE_SIZE;
	struct page_range *a, *b;
	size_t na, nb;

	cr_assert_eq(pagemap_scan(fd, start, end, &a, &na), 0);
	cr_assert_eq(pagemap_scan_entries(fd, start, end, &b, &nb), 0);
	check_well_formed(a, na, start, end);
	check_well_formed(b, nb, start, end);
	check_ranges("scan", a, na, base, scan, n_scan);
	check_ranges("entries", b, nb, base, entries, n_entries);
	free(a);
	free(b);
	(void) close(fd);
}

Test(pagemap, private_anonymous_with_zero_pages)
{
	char *p = map_anon(64, MAP_PRIVATE);
	/* Reading an untouched private page maps the shared zero page. */
	static const struct expect scan[] = {
		{0, 4, P}, {10, 12, P | Z}, {20, 21, P}, {30, 31, P | Z}, {31, 32, P}, {63, 64, P},
	};
	static const struct expect entries[] = {
		{0, 4, P}, {10, 12, P}, {20, 21, P}, {30, 32, P}, {63, 64, P},
	};

	touch_write(p, 0, 3);
	touch_read(p, 10, 11);
	touch_write(p, 20, 20);
	touch_read(p, 30, 30);
	touch_write(p, 31, 31);
	touch_write(p, 63, 63);
	check_both(p, 64, scan, ELEMENTSOF(scan), entries, ELEMENTSOF(entries));
	cr_assert_eq(munmap(p, 64 * PAGE_SIZE), 0);
}

Test(pagemap, shared_anonymous_is_file)
{
	char *p = map_anon(16, MAP_SHARED);
	/* shmem: read faults allocate real pages, never the zero page, and all are "file". */
	static const struct expect both[] = {{0, 2, P | F}, {5, 6, P | F}, {15, 16, P | F}};

	touch_write(p, 0, 1);
	touch_read(p, 5, 5);
	touch_write(p, 15, 15);
	check_both(p, 16, both, ELEMENTSOF(both), both, ELEMENTSOF(both));
	cr_assert_eq(munmap(p, 16 * PAGE_SIZE), 0);
}

static int tmp_file(size_t pages)
{
	char path[] = "/tmp/ckptd-test-pagemap-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	char page[PAGE_SIZE];

	cr_assert_geq(fd, 0);
	cr_assert_eq(unlink(path), 0);
	memset(page, 'x', sizeof(page));
	for (size_t i = 0; i < pages; i++)
		cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t) sizeof(page));
	return fd;
}

Test(pagemap, private_file_mapping_with_written_pages)
{
	int fd = tmp_file(8);
	char *p = mmap(NULL, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	/*
	 * Every page is read first (fault-around would map its cached neighbours
	 * anyway); a write then gives that page a private anonymous copy.
	 */
	static const struct expect both[] = {
		{0, 2, P | F}, {2, 3, P}, {3, 5, P | F}, {5, 6, P}, {6, 8, P | F},
	};

	cr_assert_neq(p, MAP_FAILED);
	touch_read(p, 0, 7);
	touch_write(p, 2, 2);
	touch_write(p, 5, 5);
	check_both(p, 8, both, ELEMENTSOF(both), both, ELEMENTSOF(both));
	cr_assert_eq(munmap(p, 8 * PAGE_SIZE), 0);
	(void) close(fd);
}

Test(pagemap, untouched_mappings_have_no_pages)
{
	int fd = tmp_file(4);
	/* The file's pages are in the page cache, but nothing maps them yet. */
	char *f = mmap(NULL, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	char *a = map_anon(4, MAP_PRIVATE);

	cr_assert_neq(f, MAP_FAILED);
	check_both(f, 4, NULL, 0, NULL, 0);
	check_both(a, 4, NULL, 0, NULL, 0);
	/* An empty range is not an error. */
	check_both(a, 0, NULL, 0, NULL, 0);
	(void) close(fd);
}

Test(pagemap, guard_pages_are_not_listed)
{
	char *p = map_anon(8, MAP_PRIVATE);
	static const struct expect both[] = {{0, 2, P}, {4, 5, P}};

	touch_write(p, 0, 4);
	/* Guard markers look "swapped" to both interfaces; reading them would fault. */
	if (madvise(p + 2 * PAGE_SIZE, 2 * PAGE_SIZE, MADV_GUARD_INSTALL) < 0)
		cr_skip_test("MADV_GUARD_INSTALL: %s (Linux 6.13+)", strerror(errno));
	check_both(p, 8, both, ELEMENTSOF(both), both, ELEMENTSOF(both));
}

Test(pagemap, more_ranges_than_one_ioctl_returns)
{
	/* 1024 separate ranges: the ioctl's output vector fills up and the scan resumes. */
	const size_t pages = 2048;
	char *p = map_anon(pages, MAP_PRIVATE);
	struct expect *e = new0(struct expect, pages / 2);

	cr_assert_not_null(e);
	for (size_t i = 0; i < pages / 2; i++) {
		touch_write(p, 2 * i, 2 * i);
		e[i] = (struct expect){2 * i, 2 * i + 1, P};
	}
	check_both(p, pages, e, pages / 2, e, pages / 2);

	/* Now every page: one range, although the kernel reports it in pieces. */
	touch_write(p, 0, pages - 1);
	check_both(p, pages, &(struct expect){0, pages, P}, 1, &(struct expect){0, pages, P}, 1);
	free(e);
	cr_assert_eq(munmap(p, pages * PAGE_SIZE), 0);
}

Test(pagemap, rejects_bad_ranges)
{
	static const struct {
		uint64_t start, end;
		int error;
	} cases[] = {
		{0x10000, 0x10001, -EINVAL},
		{0x10001, 0x20000, -EINVAL},
		{0x20000, 0x10000, -EINVAL},
		/* Above the task's address space: [vsyscall] is not in the page tables. */
		{0xffffffffff600000, 0xffffffffff601000, -EFAULT},
		{0x7ffffffff000, 0x800000000000, -EFAULT},
	};
	int fd = pagemap_open();

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct page_range *r = NULL;
		size_t n = 0;

		cr_expect_eq(pagemap_scan(fd, cases[i].start, cases[i].end, &r, &n), cases[i].error,
			     "case %zu", i);
		cr_expect_eq(pagemap_scan_entries(fd, cases[i].start, cases[i].end, &r, &n),
			     cases[i].error, "case %zu", i);
	}
	(void) close(fd);
}

/* Expands ranges to one category set per page, Z dropped, so the two paths can be compared. */
static uint32_t *per_page(const struct page_range *r, size_t n, uint64_t start, size_t pages)
{
	uint32_t *v = new0(uint32_t, pages ? pages : 1);

	cr_assert_not_null(v);
	for (size_t i = 0; i < n; i++)
		for (uint64_t a = r[i].start; a < r[i].end; a += PAGE_SIZE)
			v[(a - start) / PAGE_SIZE] = r[i].categories & ~(uint32_t) Z;
	return v;
}

static bool same_pages(int fd, uint64_t start, uint64_t end)
{
	size_t pages = (end - start) / PAGE_SIZE, na, nb;
	struct page_range *a, *b;
	uint32_t *va, *vb;
	bool same;

	cr_assert_eq(pagemap_scan(fd, start, end, &a, &na), 0);
	cr_assert_eq(pagemap_scan_entries(fd, start, end, &b, &nb), 0);
	check_well_formed(a, na, start, end);
	check_well_formed(b, nb, start, end);
	va = per_page(a, na, start, pages);
	vb = per_page(b, nb, start, pages);
	same = memcmp(va, vb, pages * sizeof(uint32_t)) == 0;
	free(va);
	free(vb);
	free(a);
	free(b);
	return same;
}

Test(pagemap, both_agree_on_every_mapping_of_this_process)
{
	struct proc_map *maps;
	size_t n, compared = 0;
	int fd = pagemap_open();

	cr_assert_eq(proc_read_maps(getpid(), false, &maps, &n), 0);
	for (size_t i = 0; i < n; i++) {
		bool same = false;

		/* [vsyscall] is above the page tables; the heap and stacks move as we run. */
		if (maps[i].name &&
		    (strcmp(maps[i].name, "[vsyscall]") == 0 ||
		     strcmp(maps[i].name, "[heap]") == 0 || strcmp(maps[i].name, "[stack]") == 0))
			continue;
		if (!maps[i].name && (maps[i].prot & PROT_WRITE))
			continue;
		/* The fallback reads 8 bytes a page: ASan's terabyte shadow would take minutes. */
		if (maps[i].end - maps[i].start > ((uint64_t) 256 << 20))
			continue;
		/* The first call may fault in code the second runs: a page that moves, a retry. */
		for (int attempt = 0; attempt < 3 && !same; attempt++)
			same = same_pages(fd, maps[i].start, maps[i].end);
		cr_expect(same, "%" PRIx64 "-%" PRIx64 " %s", maps[i].start, maps[i].end,
			  maps[i].name ?: "");
		compared++;
	}
	cr_expect_gt(compared, 5);
	proc_maps_free(maps, n);
	(void) close(fd);
}

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_SWAP (UINT64_C(1) << 62)
#define PM_FILE (UINT64_C(1) << 61)
#define PM_GUARD (UINT64_C(1) << 58)
#define PM_UFFD_WP (UINT64_C(1) << 57)
#define PM_EXCLUSIVE (UINT64_C(1) << 56)
#define PM_SOFT_DIRTY (UINT64_C(1) << 55)

/* A memfd holding made-up entries: it has no PAGEMAP_SCAN, so pagemap_scan() falls back. */
static int fake_pagemap(const uint64_t *entries, size_t n)
{
	int fd = memfd_create("fake-pagemap", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite_all(fd, entries, n * sizeof(uint64_t), 0), 0);
	return fd;
}

Test(pagemap, entries_decoding_through_the_fallback)
{
	static const uint64_t entries[] = {
		0,
		PM_PRESENT | 0x1234,			   /* 1 */
		PM_PRESENT | PM_FILE,			   /* 2 */
		PM_SWAP | 0x5678,			   /* 3: no swap here to make one */
		PM_SWAP | PM_FILE,			   /* 4 */
		PM_SWAP | PM_GUARD,			   /* 5: a guard marker, not data */
		PM_UFFD_WP | PM_SOFT_DIRTY,		   /* 6: nothing mapped */
		PM_PRESENT | PM_SOFT_DIRTY | PM_EXCLUSIVE, /* 7 */
		PM_PRESENT | PM_UFFD_WP,		   /* 8: merges with 7 */
		PM_SWAP,				   /* 9 */
		0,
	};
	static const struct page_range expected[] = {
		{0x1000, 0x2000, PAGE_CATEGORY_PRESENT},
		{0x2000, 0x3000, PAGE_CATEGORY_PRESENT | PAGE_CATEGORY_FILE},
		{0x3000, 0x4000, PAGE_CATEGORY_SWAPPED},
		{0x4000, 0x5000, PAGE_CATEGORY_SWAPPED | PAGE_CATEGORY_FILE},
		{0x7000, 0x9000, PAGE_CATEGORY_PRESENT},
		{0x9000, 0xa000, PAGE_CATEGORY_SWAPPED},
	};
	int fd = fake_pagemap(entries, ELEMENTSOF(entries));
	struct page_range *r;
	size_t n;

	cr_assert_eq(pagemap_scan(fd, 0, ELEMENTSOF(entries) * PAGE_SIZE, &r, &n), 0);
	cr_assert_eq(n, ELEMENTSOF(expected));
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(r[i].start, expected[i].start, "range %zu", i);
		cr_expect_eq(r[i].end, expected[i].end, "range %zu", i);
		cr_expect_eq(r[i].categories, expected[i].categories, "range %zu", i);
	}
	free(r);

	/* Past the end of what the "kernel" gives: as the ioctl says above the address space. */
	cr_expect_eq(pagemap_scan(fd, 0, (ELEMENTSOF(entries) + 1) * PAGE_SIZE, &r, &n), -EFAULT);
	(void) close(fd);
}

Test(pagemap, entries_merge_across_batches)
{
	/* More entries than one pread() takes, all present: one range. */
	const size_t pages = 20000;
	uint64_t *entries = new0(uint64_t, pages);
	struct page_range *r;
	size_t n;
	int fd;

	cr_assert_not_null(entries);
	for (size_t i = 1; i < pages - 1; i++)
		entries[i] = PM_PRESENT;
	fd = fake_pagemap(entries, pages);
	cr_assert_eq(pagemap_scan_entries(fd, 0, pages * PAGE_SIZE, &r, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(r[0].start, PAGE_SIZE);
	cr_expect_eq(r[0].end, (pages - 1) * PAGE_SIZE);
	cr_expect_eq(r[0].categories, PAGE_CATEGORY_PRESENT);
	free(r);
	free(entries);
	(void) close(fd);
}
