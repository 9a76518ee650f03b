// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Which pages of a range are populated, from an open /proc/PID/pagemap: the
 * PAGEMAP_SCAN ioctl (Linux 6.7) when the kernel has it, else the classic 64-bit
 * entries read in batches. Page-table facts only: never reads page contents, and
 * never write-protects or clears anything (no PM_SCAN_WP_MATCHING, no clear_refs).
 */
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>

#include "pagemap.h"

/* Debian 12's kernel headers are 6.1's: include/uapi/linux/fs.h as of 6.7. */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* Came after MADV_GUARD_INSTALL (6.13); kernels without it reject the bit with EINVAL. */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#endif

/* The classic entry, Documentation/admin-guide/mm/pagemap.rst. */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_SWAP (UINT64_C(1) << 62)
#define PM_FILE (UINT64_C(1) << 61) /* file page or shared anonymous */
#define PM_GUARD_REGION (UINT64_C(1) << 58)

/* Output regions per ioctl call: the loop below resumes at walk_end when they run out. */
#define SCAN_VEC_LEN 512
/* 64 KiB of entries per pread(): 256 MiB of address space. */
#define ENTRIES_BATCH 8192

struct ranges {
	struct page_range *v;
	size_t n, allocated;
};

/* Appends [start, end), merging with the previous range when it continues it exactly. */
static int ranges_add(struct ranges *r, uint64_t start, uint64_t end, uint32_t categories)
{
	if (r->n > 0 && r->v[r->n - 1].end == start && r->v[r->n - 1].categories == categories) {
		r->v[r->n - 1].end = end;
		return 0;
	}
	if (GROW(r->v, r->allocated, r->n + 1) < 0)
		return -ENOMEM;
	r->v[r->n++] = (struct page_range){start, end, categories};
	return 0;
}

static int range_check(uint64_t start, uint64_t end)
{
	if (start > end || !IS_ALIGNED(start, PAGE_SIZE) || !IS_ALIGNED(end, PAGE_SIZE))
		return -EINVAL;
	return 0;
}

static uint32_t scan_categories(uint64_t c)
{
	uint32_t r = 0;

	if (c & PAGE_IS_PRESENT)
		r |= PAGE_CATEGORY_PRESENT;
	if (c & PAGE_IS_SWAPPED)
		r |= PAGE_CATEGORY_SWAPPED;
	if (c & PAGE_IS_FILE)
		r |= PAGE_CATEGORY_FILE;
	if (c & PAGE_IS_PFNZERO)
		r |= PAGE_CATEGORY_ZERO;
	return r;
}

int pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end, struct page_range **ret,
		 size_t *ret_n)
{
	_cleanup_free_ struct page_region *vec = NULL;
	struct ranges out = {};
	bool skip_guard = true;
	uint64_t addr = start;
	int r;

	r = range_check(start, end);
	if (r < 0)
		return r;
	vec = new0(struct page_region, SCAN_VEC_LEN);
	if (!vec)
		return -ENOMEM;

	while (addr < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = addr,
			.end = end,
			.vec = (uintptr_t) vec,
			.vec_len = SCAN_VEC_LEN,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask =
				PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO,
		};
		uint64_t prev_end = addr;
		long k;

		/*
		 * A guard region (MADV_GUARD_INSTALL) is a marker in the page table that
		 * the kernel counts as "swapped"; reading it faults. It holds no data.
		 */
		if (skip_guard) {
			arg.category_mask = PAGE_IS_GUARD;
			arg.category_inverted = PAGE_IS_GUARD;
		}
		k = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
		if (k < 0) {
			r = -errno;
			if (r == -EINTR)
				continue;
			if (r == -EINVAL && skip_guard && addr == start) {
				/* No such category yet: no guard regions to report either. */
				skip_guard = false;
				continue;
			}
			if ((r == -ENOTTY || r == -EINVAL) && addr == start) {
				free(out.v);
				return pagemap_scan_entries(pagemap_fd, start, end, ret, ret_n);
			}
			goto fail;
		}
		/* The kernel's answer is checked like any other input before it is used. */
		if ((unsigned long) k > SCAN_VEC_LEN || arg.walk_end <= addr ||
		    arg.walk_end > end) {
			r = -EIO;
			goto fail;
		}
		for (long i = 0; i < k; i++) {
			const struct page_region *p = &vec[i];

			if (p->start < prev_end || p->start >= p->end || p->end > arg.walk_end ||
			    !IS_ALIGNED(p->start, PAGE_SIZE) || !IS_ALIGNED(p->end, PAGE_SIZE)) {
				r = -EIO;
				goto fail;
			}
			/* Resuming at walk_end splits what the kernel would have merged. */
			r = ranges_add(&out, p->start, p->end, scan_categories(p->categories));
			if (r < 0)
				goto fail;
			prev_end = p->end;
		}
		addr = arg.walk_end;
	}

	*ret = out.v;
	*ret_n = out.n;
	return 0;
fail:
	free(out.v);
	return r;
}

int pagemap_scan_entries(int pagemap_fd, uint64_t start, uint64_t end, struct page_range **ret,
			 size_t *ret_n)
{
	_cleanup_free_ uint64_t *entries = NULL;
	struct ranges out = {};
	uint64_t addr = start;
	int r;

	r = range_check(start, end);
	if (r < 0)
		return r;
	entries = new0(uint64_t, ENTRIES_BATCH);
	if (!entries)
		return -ENOMEM;

	while (addr < end) {
		size_t want = (size_t) MIN((end - addr) / PAGE_SIZE, (uint64_t) ENTRIES_BATCH);
		ssize_t n = pread(pagemap_fd, entries, want * sizeof(uint64_t),
				  (off_t) (addr / PAGE_SIZE * sizeof(uint64_t)));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		/* Past the task's address space the kernel reads nothing; the ioctl says EFAULT. */
		if (n == 0) {
			r = -EFAULT;
			goto fail;
		}
		if ((size_t) n % sizeof(uint64_t) != 0) {
			r = -EIO;
			goto fail;
		}
		for (size_t i = 0; i < (size_t) n / sizeof(uint64_t); i++) {
			uint64_t e = entries[i], page = addr + i * PAGE_SIZE;
			uint32_t categories = 0;

			if (e & PM_GUARD_REGION)
				continue;
			if (e & PM_PRESENT)
				categories = PAGE_CATEGORY_PRESENT;
			else if (e & PM_SWAP)
				categories = PAGE_CATEGORY_SWAPPED;
			else
				continue;
			/* The zero page shows as a plain present page: only the ioctl names it. */
			if (e & PM_FILE)
				categories |= PAGE_CATEGORY_FILE;
			r = ranges_add(&out, page, page + PAGE_SIZE, categories);
			if (r < 0)
				goto fail;
		}
		addr += (uint64_t) n / sizeof(uint64_t) * PAGE_SIZE;
	}

	*ret = out.v;
	*ret_n = out.n;
	return 0;
fail:
	free(out.v);
	return r;
}
