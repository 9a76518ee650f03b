// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The page index of a snapshot (see page-index.h): building it page by page
 * while dumping, and its encoded form "pages.idx". The decoder reads untrusted
 * bytes and checks every count and extent before anything is allocated or used.
 */

/*
 * "pages.idx", version 1. All integers little-endian.
 *
 *    0  "CKPTPGIX"
 *    8  u32 format version (1)
 *   12  u32 reserved (0)
 *   16  u64 body length, decompressed (at most PAGE_INDEX_BODY_MAX)
 *   24  u64 XXH3_64 of the bytes from 32 to the end
 *   32  one zstd frame holding the body:
 *         u64 n_packs, u64 n_streams
 *         n_packs * u64 pack id
 *         per stream: u64 n_extents,
 *                     n_extents * { u64 first_page, u32 n_pages, u32 pack, u64 ordinal }
 *
 * Extents of a stream are sorted and do not overlap; pack is an index into the
 * pack ids or PAGE_INDEX_ZERO, whose extents have ordinal 0.
 */
#include <endian.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "le.h"
#include "page-index.h"

#define PAGE_INDEX_MAGIC "CKPTPGIX"
#define PAGE_INDEX_VERSION 1
#define PAGE_INDEX_HEADER_SIZE 32
#define PAGE_INDEX_EXTENT_SIZE 24
/* 44M extents: a 170 GiB process fragmented down to single pages. Real images need a few MiB. */
#define PAGE_INDEX_BODY_MAX (1ULL << 30)
#define PAGE_INDEX_ZSTD_LEVEL 3
/*
 * Limits that what we write never reaches and that keep what a tampered file
 * makes us allocate near its body's size: a stream costs 8 bytes encoded and
 * 40 decoded. Streams are mappings and files (vm.max_map_count is 65530 by
 * default); packs are versions still referenced.
 */
#define PAGE_INDEX_STREAMS_MAX (1U << 22)
#define PAGE_INDEX_PACKS_MAX (1U << 16)

int page_index_new(struct page_index **ret)
{
	struct page_index *idx = new0(struct page_index, 1);

	if (!idx)
		return -ENOMEM;
	*ret = idx;
	return 0;
}

struct page_index *page_index_free(struct page_index *idx)
{
	if (!idx)
		return NULL;
	for (size_t i = 0; i < idx->n_streams; i++)
		free(idx->streams[i].extents);
	free(idx->streams);
	free(idx->packs);
	free(idx);
	return NULL;
}

int page_index_add_stream(struct page_index *idx, uint32_t *ret_id)
{
	int r;

	if (idx->n_streams >= PAGE_INDEX_STREAMS_MAX)
		return -E2BIG;
	r = GROW(idx->streams, idx->allocated_streams, idx->n_streams + 1);
	if (r < 0)
		return r;
	idx->streams[idx->n_streams] = (struct page_stream){};
	if (ret_id)
		*ret_id = (uint32_t) idx->n_streams;
	idx->n_streams++;
	return 0;
}

static int page_index_pack(struct page_index *idx, const struct page_stream *s, uint64_t pack_id,
			   uint32_t *ret)
{
	int r;

	/* Runs of pages come from one pack, so the last extent's pack is nearly always it. */
	if (s->n_extents > 0) {
		uint32_t last = s->extents[s->n_extents - 1].pack;

		if (last != PAGE_INDEX_ZERO && idx->packs[last] == pack_id) {
			*ret = last;
			return 0;
		}
	}
	for (size_t i = 0; i < idx->n_packs; i++)
		if (idx->packs[i] == pack_id) {
			*ret = (uint32_t) i;
			return 0;
		}
	if (idx->n_packs >= PAGE_INDEX_PACKS_MAX)
		return -E2BIG;
	r = GROW(idx->packs, idx->allocated_packs, idx->n_packs + 1);
	if (r < 0)
		return r;
	idx->packs[idx->n_packs] = pack_id;
	*ret = (uint32_t) idx->n_packs++;
	return 0;
}

static int page_index_append(struct page_index *idx, uint32_t stream, uint64_t page, uint32_t pack,
			     uint64_t ordinal)
{
	struct page_stream *s = &idx->streams[stream];
	struct page_extent *last = s->n_extents ? &s->extents[s->n_extents - 1] : NULL;
	int r;

	if (last && last->pack == pack && last->first_page + last->n_pages == page &&
	    (pack == PAGE_INDEX_ZERO || last->ordinal + last->n_pages == ordinal) &&
	    last->n_pages < UINT32_MAX) {
		last->n_pages++;
		s->n_pages++;
		return 0;
	}
	r = GROW(s->extents, s->allocated, s->n_extents + 1);
	if (r < 0)
		return r;
	s->extents[s->n_extents++] = (struct page_extent){
		.first_page = page,
		.n_pages = 1,
		.pack = pack,
		.ordinal = pack == PAGE_INDEX_ZERO ? 0 : ordinal,
	};
	s->n_pages++;
	return 0;
}

static int page_index_check_page(const struct page_index *idx, uint32_t stream, uint64_t page)
{
	const struct page_stream *s;

	if (stream >= idx->n_streams)
		return -EINVAL;
	s = &idx->streams[stream];
	/* UINT64_MAX could not be the start of an extent whose end fits in 64 bits. */
	if (page == UINT64_MAX)
		return -EINVAL;
	if (s->n_extents > 0) {
		const struct page_extent *last = &s->extents[s->n_extents - 1];

		if (page < last->first_page + last->n_pages)
			return -EINVAL;
	}
	return 0;
}

int page_index_add_page(struct page_index *idx, uint32_t stream, uint64_t page,
			const struct page_ref *ref)
{
	uint32_t pack;
	int r;

	r = page_index_check_page(idx, stream, page);
	if (r < 0)
		return r;
	if (ref->ordinal == UINT64_MAX)
		return -EINVAL;
	r = page_index_pack(idx, &idx->streams[stream], ref->pack_id, &pack);
	if (r < 0)
		return r;
	return page_index_append(idx, stream, page, pack, ref->ordinal);
}

int page_index_add_zero(struct page_index *idx, uint32_t stream, uint64_t page)
{
	int r;

	r = page_index_check_page(idx, stream, page);
	if (r < 0)
		return r;
	return page_index_append(idx, stream, page, PAGE_INDEX_ZERO, 0);
}

int page_index_encode(const struct page_index *idx, void **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *body = NULL, *out = NULL;
	uint64_t body_len = 16 + (uint64_t) idx->n_packs * 8;
	ZSTD_CCtx *cctx;
	uint8_t *p;
	size_t bound, z;

	for (size_t i = 0; i < idx->n_streams; i++)
		body_len += 8 + (uint64_t) idx->streams[i].n_extents * PAGE_INDEX_EXTENT_SIZE;
	/* The decoder would refuse it. */
	if (body_len > PAGE_INDEX_BODY_MAX)
		return -E2BIG;

	body = malloc(body_len);
	if (!body)
		return -ENOMEM;
	p = put_le64(body, idx->n_packs);
	p = put_le64(p, idx->n_streams);
	for (size_t i = 0; i < idx->n_packs; i++)
		p = put_le64(p, idx->packs[i]);
	for (size_t i = 0; i < idx->n_streams; i++) {
		const struct page_stream *s = &idx->streams[i];

		p = put_le64(p, s->n_extents);
		for (size_t j = 0; j < s->n_extents; j++) {
			p = put_le64(p, s->extents[j].first_page);
			p = put_le32(p, s->extents[j].n_pages);
			p = put_le32(p, s->extents[j].pack);
			p = put_le64(p, s->extents[j].ordinal);
		}
	}

	bound = ZSTD_compressBound(body_len);
	out = malloc(PAGE_INDEX_HEADER_SIZE + bound);
	cctx = ZSTD_createCCtx();
	if (!out || !cctx) {
		ZSTD_freeCCtx(cctx);
		return -ENOMEM;
	}
	(void) ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, PAGE_INDEX_ZSTD_LEVEL);
	z = ZSTD_compress2(cctx, out + PAGE_INDEX_HEADER_SIZE, bound, body, body_len);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(z))
		return -ENOMEM;

	memcpy(out, PAGE_INDEX_MAGIC, 8);
	p = put_le32(out + 8, PAGE_INDEX_VERSION);
	p = put_le32(p, 0);
	p = put_le64(p, body_len);
	(void) put_le64(p, XXH3_64bits(out + PAGE_INDEX_HEADER_SIZE, z));
	*ret_len = PAGE_INDEX_HEADER_SIZE + z;
	*ret = TAKE_PTR(out);
	return 0;
}

/* Reads the body; p and end bound what is left, and every count is checked against it. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* A pack listed twice would make "the" index of a pack ambiguous for later additions. */
static int page_index_check_packs(const struct page_index *idx)
{
	_cleanup_free_ uint64_t *sorted = NULL;

	if (idx->n_packs < 2)
		return 0;
	sorted = new0(uint64_t, idx->n_packs);
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, idx->packs, idx->n_packs * sizeof(*sorted));
	qsort(sorted, idx->n_packs, sizeof(*sorted), cmp_u64);
	for (size_t i = 1; i < idx->n_packs; i++)
		if (sorted[i] == sorted[i - 1])
			return -EBADMSG;
	return 0;
}

static int page_index_parse(struct page_index *idx, const uint8_t *p, const uint8_t *end)
{
	uint64_t n_packs, n_streams;
	int r;

	if (end - p < 16)
		return -EBADMSG;
	n_packs = get_le64(p);
	n_streams = get_le64(p + 8);
	p += 16;
	if (n_packs > PAGE_INDEX_PACKS_MAX || n_packs > (uint64_t) (end - p) / 8)
		return -EBADMSG;
	/* Each stream needs at least its count. */
	if (n_streams > PAGE_INDEX_STREAMS_MAX ||
	    n_streams > ((uint64_t) (end - p) - n_packs * 8) / 8)
		return -EBADMSG;

	idx->packs = new0(uint64_t, MAX(n_packs, 1));
	idx->streams = new0(struct page_stream, MAX(n_streams, 1));
	if (!idx->packs || !idx->streams)
		return -ENOMEM;
	idx->allocated_packs = MAX(n_packs, 1);
	idx->allocated_streams = MAX(n_streams, 1);

	for (size_t i = 0; i < n_packs; i++, p += 8)
		idx->packs[idx->n_packs++] = get_le64(p);
	r = page_index_check_packs(idx);
	if (r < 0)
		return r;

	for (size_t i = 0; i < n_streams; i++) {
		struct page_stream *s = &idx->streams[i];
		uint64_t n_extents, next_page = 0;

		idx->n_streams++; /* so that page_index_free() sees the extents */
		if (end - p < 8)
			return -EBADMSG;
		n_extents = get_le64(p);
		p += 8;
		if (n_extents > (uint64_t) (end - p) / PAGE_INDEX_EXTENT_SIZE)
			return -EBADMSG;
		if (n_extents == 0)
			continue;
		s->extents = new0(struct page_extent, n_extents);
		if (!s->extents)
			return -ENOMEM;
		s->allocated = n_extents;

		for (size_t j = 0; j < n_extents; j++, p += PAGE_INDEX_EXTENT_SIZE) {
			struct page_extent e = {
				.first_page = get_le64(p),
				.n_pages = get_le32(p + 8),
				.pack = get_le32(p + 12),
				.ordinal = get_le64(p + 16),
			};

			if (e.n_pages == 0 || e.first_page < next_page ||
			    e.first_page > UINT64_MAX - e.n_pages)
				return -EBADMSG;
			if (e.pack == PAGE_INDEX_ZERO) {
				if (e.ordinal != 0)
					return -EBADMSG;
			} else if (e.pack >= n_packs || e.ordinal > UINT64_MAX - e.n_pages)
				return -EBADMSG;
			next_page = e.first_page + e.n_pages;
			s->extents[s->n_extents++] = e;
			s->n_pages += e.n_pages;
		}
	}
	if (p != end)
		return -EBADMSG;
	return 0;
}

int page_index_decode(const void *buf, size_t len, struct page_index **ret)
{
	_cleanup_(page_index_freep) struct page_index *idx = NULL;
	_cleanup_free_ uint8_t *body = NULL;
	const uint8_t *b = buf;
	uint64_t body_len;
	unsigned long long content;
	uint32_t version;
	size_t z;
	int r;

	if (len < PAGE_INDEX_HEADER_SIZE || memcmp(b, PAGE_INDEX_MAGIC, 8) != 0)
		return -EBADMSG;
	version = get_le32(b + 8);
	if (version > PAGE_INDEX_VERSION)
		return -EPROTO;
	if (version == 0 || get_le32(b + 12) != 0)
		return -EBADMSG;
	body_len = get_le64(b + 16);
	if (body_len > PAGE_INDEX_BODY_MAX)
		return -EBADMSG;
	if (XXH3_64bits(b + PAGE_INDEX_HEADER_SIZE, len - PAGE_INDEX_HEADER_SIZE) !=
	    get_le64(b + 24))
		return -EBADMSG;

	/* The size declared in the header and in the zstd frame must agree before we allocate. */
	content =
		ZSTD_getFrameContentSize(b + PAGE_INDEX_HEADER_SIZE, len - PAGE_INDEX_HEADER_SIZE);
	if (content != body_len || ZSTD_findFrameCompressedSize(b + PAGE_INDEX_HEADER_SIZE,
								len - PAGE_INDEX_HEADER_SIZE) !=
					   len - PAGE_INDEX_HEADER_SIZE)
		return -EBADMSG;
	body = malloc(MAX(body_len, 1));
	if (!body)
		return -ENOMEM;
	z = ZSTD_decompress(body, body_len, b + PAGE_INDEX_HEADER_SIZE,
			    len - PAGE_INDEX_HEADER_SIZE);
	if (ZSTD_isError(z) || z != body_len)
		return -EBADMSG;

	r = page_index_new(&idx);
	if (r < 0)
		return r;
	r = page_index_parse(idx, body, body + body_len);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(idx);
	return 0;
}
