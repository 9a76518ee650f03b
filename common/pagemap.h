/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which pages of an address range exist, from /proc/PID/pagemap. Uses the
 * PAGEMAP_SCAN ioctl (Linux 6.7) and falls back to reading the 64-bit
 * entries where the kernel lacks it. Never reads page contents.
 */
#pragma once

#include "macro.h"

enum page_category {
	PAGE_CATEGORY_PRESENT = 1u << 0, /* in RAM */
	PAGE_CATEGORY_SWAPPED = 1u << 1, /* in swap */
	PAGE_CATEGORY_FILE = 1u << 2,	 /* a page-cache page (file or shared memory) */
	PAGE_CATEGORY_ZERO = 1u << 3,	 /* the shared zero page: reads as zeros */
};

/* [start, end) page-aligned; consecutive pages with equal categories are merged. */
struct page_range {
	uint64_t start, end;
	uint32_t categories;
};

/*
 * Lists the pages of [start, end) that are present or swapped. pagemap_fd is
 * an open /proc/PID/pagemap. A range with no pages gives *ret_n == 0.
 */
int pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end, struct page_range **ret,
		 size_t *ret_n);

/* The same through the classic 64-bit entries only (the fallback; tests compare both). */
int pagemap_scan_entries(int pagemap_fd, uint64_t start, uint64_t end, struct page_range **ret,
			 size_t *ret_n);
