/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where each page of a snapshot lives. A snapshot has numbered page streams
 * (one per memory region with private pages, one per saved file); a stream is
 * a sorted list of extents mapping runs of its pages to runs of ordinals in a
 * pack. Pages a stream does not list are holes: zeros for anonymous memory,
 * the file's own page for a file mapping. The encoded form is the image file
 * "pages.idx".
 */
#pragma once

#include "pack.h"

#define PAGE_INDEX_ZERO UINT32_MAX /* extent.pack: pages that must read as zeros, stored nowhere */

struct page_extent {
	uint64_t first_page; /* page number within the stream */
	uint32_t n_pages;
	uint32_t pack;	  /* index into page_index.packs, or PAGE_INDEX_ZERO */
	uint64_t ordinal; /* first ordinal in that pack */
};

struct page_stream {
	struct page_extent *extents;
	size_t n_extents, allocated;
	uint64_t n_pages; /* sum over extents */
};

struct page_index {
	uint64_t *packs; /* pack ids referenced */
	size_t n_packs, allocated_packs;
	struct page_stream *streams;
	size_t n_streams, allocated_streams;
};

int page_index_new(struct page_index **ret);
struct page_index *page_index_free(struct page_index *idx);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct page_index *, page_index_free);

int page_index_add_stream(struct page_index *idx, uint32_t *ret_id);
/* Pages are added in increasing page order; a page that continues the last extent extends it. */
int page_index_add_page(struct page_index *idx, uint32_t stream, uint64_t page,
			const struct page_ref *ref);
int page_index_add_zero(struct page_index *idx, uint32_t stream, uint64_t page);

int page_index_encode(const struct page_index *idx, void **ret, size_t *ret_len);
/* Checks every extent: sorted, not overlapping, pack index in range. -EBADMSG otherwise. */
int page_index_decode(const void *buf, size_t len, struct page_index **ret);
