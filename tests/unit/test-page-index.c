// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The page index: how pages become extents, the round trip through
 * "pages.idx", and a table of malformed encodings the decoder must refuse.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "page-index.h"

static struct page_ref ref(uint64_t pack_id, uint64_t ordinal)
{
	return (struct page_ref){.pack_id = pack_id, .ordinal = ordinal};
}

static void assert_extent(const struct page_index *idx, uint32_t stream, size_t i,
			  uint64_t first_page, uint32_t n_pages, uint32_t pack, uint64_t ordinal)
{
	const struct page_stream *s = &idx->streams[stream];

	cr_assert_lt(i, s->n_extents, "stream %u has %zu extents", stream, s->n_extents);
	cr_assert_eq(s->extents[i].first_page, first_page, "extent %zu first_page", i);
	cr_assert_eq(s->extents[i].n_pages, n_pages, "extent %zu n_pages", i);
	cr_assert_eq(s->extents[i].pack, pack, "extent %zu pack", i);
	cr_assert_eq(s->extents[i].ordinal, ordinal, "extent %zu ordinal", i);
}

static const struct {
	uint32_t stream;
	uint64_t page;
	uint64_t pack_id, ordinal;
	bool zero;
} steps[] = {
	{0, 10, 0xa, 5, false},	 {0, 11, 0xa, 6, false}, {0, 12, 0xa, 7, false},
	{0, 13, 0xa, 9, false},			      /* ordinal gap */
	{0, 15, 0xa, 10, false},		      /* page gap */
	{0, 16, 0xb, 11, false},		      /* other pack */
	{0, 17, 0, 0, true},	 {0, 18, 0, 0, true}, /* zeros merge too */
	{0, 20, 0, 0, true},			      /* but not across a gap */
	{0, 21, 0xa, 11, false}, {1, 0, 0xb, 0, false},	 {1, 1, 0xb, 1, false},
};

Test(page_index, extents_merge_only_when_page_and_ordinal_continue)
{
	_cleanup_(page_index_freep) struct page_index *idx = NULL;
	uint32_t s0, s1;

	cr_assert_eq(page_index_new(&idx), 0);
	cr_assert_eq(page_index_add_stream(idx, &s0), 0);
	cr_assert_eq(page_index_add_stream(idx, &s1), 0);
	cr_assert_eq(s0, 0);
	cr_assert_eq(s1, 1);

	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		struct page_ref r = ref(steps[i].pack_id, steps[i].ordinal);

		if (steps[i].zero)
			cr_assert_eq(page_index_add_zero(idx, steps[i].stream, steps[i].page), 0);
		else
			cr_assert_eq(page_index_add_page(idx, steps[i].stream, steps[i].page, &r),
				     0);
	}

	cr_assert_eq(idx->n_packs, 2);
	cr_assert_eq(idx->packs[0], 0xa);
	cr_assert_eq(idx->packs[1], 0xb);
	cr_assert_eq(idx->streams[s0].n_extents, 7);
	assert_extent(idx, s0, 0, 10, 3, 0, 5);
	assert_extent(idx, s0, 1, 13, 1, 0, 9);
	assert_extent(idx, s0, 2, 15, 1, 0, 10);
	assert_extent(idx, s0, 3, 16, 1, 1, 11);
	assert_extent(idx, s0, 4, 17, 2, PAGE_INDEX_ZERO, 0);
	assert_extent(idx, s0, 5, 20, 1, PAGE_INDEX_ZERO, 0);
	assert_extent(idx, s0, 6, 21, 1, 0, 11);
	cr_assert_eq(idx->streams[s0].n_pages, 10);
	cr_assert_eq(idx->streams[s1].n_extents, 1);
	assert_extent(idx, s1, 0, 0, 2, 1, 0);
	cr_assert_eq(idx->streams[s1].n_pages, 2);
}

Test(page_index, rejects_pages_out_of_order)
{
	_cleanup_(page_index_freep) struct page_index *idx = NULL;
	struct page_ref r = ref(1, 0);
	uint32_t s;

	cr_assert_eq(page_index_new(&idx), 0);
	cr_assert_eq(page_index_add_page(idx, 0, 0, &r), -EINVAL, "no such stream");
	cr_assert_eq(page_index_add_stream(idx, &s), 0);
	cr_assert_eq(page_index_add_page(idx, s, 100, &r), 0);
	cr_assert_eq(page_index_add_page(idx, s, 100, &r), -EINVAL);
	cr_assert_eq(page_index_add_page(idx, s, 99, &r), -EINVAL);
	cr_assert_eq(page_index_add_zero(idx, s, 100), -EINVAL);
	cr_assert_eq(page_index_add_zero(idx, s, 5), -EINVAL);
	cr_assert_eq(page_index_add_page(idx, s, UINT64_MAX, &r), -EINVAL);
	cr_assert_eq(page_index_add_page(idx, s + 1, 200, &r), -EINVAL);
	cr_assert_eq(idx->streams[s].n_extents, 1);
	cr_assert_eq(idx->streams[s].n_pages, 1);
	cr_assert_null(page_index_free(NULL));
}

static void assert_same(const struct page_index *a, const struct page_index *b)
{
	cr_assert_eq(a->n_packs, b->n_packs);
	for (size_t i = 0; i < a->n_packs; i++)
		cr_assert_eq(a->packs[i], b->packs[i]);
	cr_assert_eq(a->n_streams, b->n_streams);
	for (size_t i = 0; i < a->n_streams; i++) {
		const struct page_stream *x = &a->streams[i], *y = &b->streams[i];

		cr_assert_eq(x->n_extents, y->n_extents, "stream %zu", i);
		cr_assert_eq(x->n_pages, y->n_pages, "stream %zu", i);
		for (size_t j = 0; j < x->n_extents; j++)
			cr_assert_eq(memcmp(&x->extents[j], &y->extents[j], sizeof(x->extents[j])),
				     0, "stream %zu extent %zu", i, j);
	}
}

Test(page_index, round_trip)
{
	_cleanup_(page_index_freep) struct page_index *idx = NULL, *back = NULL, *empty = NULL;
	_cleanup_free_ void *buf = NULL, *buf2 = NULL;
	size_t len, len2;
	uint32_t s;

	cr_assert_eq(page_index_new(&idx), 0);
	for (int k = 0; k < 3; k++)
		cr_assert_eq(page_index_add_stream(idx, &s), 0);
	/* Stream 0: a big region of three packs with holes; stream 1 empty; stream 2 zeros. */
	for (uint64_t p = 0; p < 100000; p++) {
		struct page_ref r = ref(p % 3 == 0 ? 7 : 9 + p / 40000, p / 2);

		if (p % 97 == 5)
			continue;
		if (p % 89 == 0)
			cr_assert_eq(page_index_add_zero(idx, 0, p), 0);
		else
			cr_assert_eq(page_index_add_page(idx, 0, p, &r), 0);
	}
	cr_assert_eq(page_index_add_zero(idx, 2, (1ULL << 52) - 1), 0);
	cr_assert_eq(page_index_add_page(idx, 2, 1ULL << 52, &(struct page_ref){UINT64_MAX, 3}), 0);

	cr_assert_eq(page_index_encode(idx, &buf, &len), 0);
	cr_assert_gt(len, 32);
	cr_assert_eq(memcmp(buf, "CKPTPGIX", 8), 0);
	cr_assert_eq(page_index_decode(buf, len, &back), 0);
	assert_same(idx, back);
	cr_assert_eq(back->n_packs, 5);

	/* The decoded index keeps growing the same way. */
	cr_assert_eq(
		page_index_add_page(back, 2, (1ULL << 52) + 1, &(struct page_ref){UINT64_MAX, 4}),
		0);
	cr_assert_eq(back->streams[2].n_extents, 2);
	cr_assert_eq(back->streams[2].extents[1].n_pages, 2);

	cr_assert_eq(page_index_new(&empty), 0);
	cr_assert_eq(page_index_encode(empty, &buf2, &len2), 0);
	page_index_free(back);
	cr_assert_eq(page_index_decode(buf2, len2, &back), 0);
	assert_same(empty, back);
}

/* Builds raw bodies for the decoder, to say things the encoder never would. */
struct body {
	uint8_t *b; /* BODY_MAX bytes */
	size_t len;
};

#define BODY_MAX (40U << 20)

static void u64(struct body *b, uint64_t v)
{
	v = htole64(v);
	memcpy(b->b + b->len, &v, 8);
	b->len += 8;
}

static void extent(struct body *b, uint64_t first, uint32_t n, uint32_t pack, uint64_t ordinal)
{
	uint32_t x = htole32(n), y = htole32(pack);

	u64(b, first);
	memcpy(b->b + b->len, &x, 4);
	memcpy(b->b + b->len + 4, &y, 4);
	b->len += 8;
	u64(b, ordinal);
}

/* What page_index_encode() writes around a body. */
static size_t wrap(const struct body *body, uint64_t declared, uint8_t *out, size_t room)
{
	size_t z = ZSTD_compress(out + 32, room - 32, body->b, body->len, 3);
	uint64_t v;
	uint32_t w;

	cr_assert(!ZSTD_isError(z));
	memcpy(out, "CKPTPGIX", 8);
	w = htole32(1);
	memcpy(out + 8, &w, 4);
	memset(out + 12, 0, 4);
	v = htole64(declared);
	memcpy(out + 16, &v, 8);
	v = htole64(XXH3_64bits(out + 32, z));
	memcpy(out + 24, &v, 8);
	return 32 + z;
}

/* One pack (id 5), one stream, then whatever the case adds. */
static void head(struct body *b, uint64_t n_extents)
{
	u64(b, 1);
	u64(b, 1);
	u64(b, 5);
	u64(b, n_extents);
}

static void body_good(struct body *b)
{
	head(b, 2);
	extent(b, 0, 4, 0, 0);
	extent(b, 4, 4, PAGE_INDEX_ZERO, 0); /* adjacent is fine */
}

static void body_overlap(struct body *b)
{
	head(b, 2);
	extent(b, 0, 4, 0, 0);
	extent(b, 3, 4, 0, 10);
}

static void body_unsorted(struct body *b)
{
	head(b, 2);
	extent(b, 10, 1, 0, 0);
	extent(b, 5, 1, 0, 1);
}

static void body_pack_out_of_range(struct body *b)
{
	head(b, 1);
	extent(b, 0, 1, 1, 0);
}

static void body_zero_pages(struct body *b)
{
	head(b, 1);
	extent(b, 0, 0, 0, 0);
}

static void body_page_overflow(struct body *b)
{
	head(b, 1);
	extent(b, UINT64_MAX - 1, 2, 0, 0);
}

static void body_ordinal_overflow(struct body *b)
{
	head(b, 1);
	extent(b, 0, 2, 0, UINT64_MAX);
}

static void body_zero_with_ordinal(struct body *b)
{
	head(b, 1);
	extent(b, 0, 2, PAGE_INDEX_ZERO, 1);
}

static void body_too_many_extents(struct body *b)
{
	head(b, 1ULL << 60);
	extent(b, 0, 1, 0, 0);
}

static void body_extent_cut(struct body *b)
{
	head(b, 2);
	extent(b, 0, 1, 0, 0);
	u64(b, 1);
}

static void body_too_many_packs(struct body *b)
{
	u64(b, UINT64_MAX / 8);
	u64(b, 0);
}

static void body_pack_index_zero_count(struct body *b)
{
	u64(b, PAGE_INDEX_ZERO);
	u64(b, 0);
}

static void body_too_many_streams(struct body *b)
{
	u64(b, 0);
	u64(b, (1ULL << 32) + 1);
}

/* Many packs or streams that the body really holds: the limits, not the length, must refuse. */
static void many_packs(struct body *b, uint64_t n)
{
	u64(b, n);
	u64(b, 0);
	for (uint64_t i = 0; i < n; i++)
		u64(b, i * 3);
}

static void body_packs_at_limit(struct body *b)
{
	many_packs(b, 65536);
}

static void body_packs_over_limit(struct body *b)
{
	many_packs(b, 65537);
}

static void many_streams(struct body *b, uint64_t n)
{
	u64(b, 0);
	u64(b, n);
	for (uint64_t i = 0; i < n; i++)
		u64(b, 0);
}

static void body_streams_at_limit(struct body *b)
{
	many_streams(b, 1U << 22);
}

static void body_streams_over_limit(struct body *b)
{
	many_streams(b, (1U << 22) + 1);
}

static void body_streams_missing(struct body *b)
{
	u64(b, 0);
	u64(b, 3);
	u64(b, 0);
	u64(b, 0);
}

static void body_duplicate_pack(struct body *b)
{
	u64(b, 2);
	u64(b, 0);
	u64(b, 5);
	u64(b, 5);
}

static void body_trailing_bytes(struct body *b)
{
	body_good(b);
	u64(b, 0);
}

static void body_short(struct body *b)
{
	u64(b, 0);
}

static const struct {
	const char *name;
	void (*build)(struct body *b);
	int expected;
} bodies[] = {
	{"good", body_good, 0},
	{"overlapping extents", body_overlap, -EBADMSG},
	{"unsorted extents", body_unsorted, -EBADMSG},
	{"pack index out of range", body_pack_out_of_range, -EBADMSG},
	{"extent of no pages", body_zero_pages, -EBADMSG},
	{"first_page + n_pages overflows", body_page_overflow, -EBADMSG},
	{"ordinal + n_pages overflows", body_ordinal_overflow, -EBADMSG},
	{"zero extent with an ordinal", body_zero_with_ordinal, -EBADMSG},
	{"2^60 extents", body_too_many_extents, -EBADMSG},
	{"extent cut short", body_extent_cut, -EBADMSG},
	{"2^61 packs", body_too_many_packs, -EBADMSG},
	{"2^32-1 packs", body_pack_index_zero_count, -EBADMSG},
	{"2^32+1 streams", body_too_many_streams, -EBADMSG},
	{"65536 packs", body_packs_at_limit, 0},
	{"65537 packs", body_packs_over_limit, -EBADMSG},
	{"2^22 streams", body_streams_at_limit, 0},
	{"2^22+1 streams", body_streams_over_limit, -EBADMSG},
	{"streams missing", body_streams_missing, -EBADMSG},
	{"duplicate pack id", body_duplicate_pack, -EBADMSG},
	{"trailing bytes", body_trailing_bytes, -EBADMSG},
	{"short body", body_short, -EBADMSG},
};

Test(page_index, rejects_malformed_bodies)
{
	_cleanup_free_ uint8_t *out = malloc(BODY_MAX + 1024);
	struct body b = {.b = malloc(BODY_MAX)};

	cr_assert(out && b.b);
	for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
		struct page_index *idx = NULL;
		size_t len;
		int r;

		b.len = 0;
		bodies[i].build(&b);
		cr_assert_leq(b.len, BODY_MAX);
		len = wrap(&b, b.len, out, BODY_MAX + 1024);
		r = page_index_decode(out, len, &idx);
		cr_assert_eq(r, bodies[i].expected, "%s: got %d", bodies[i].name, r);
		if (r == 0) {
			if (bodies[i].build == body_good)
				cr_assert_eq(idx->streams[0].n_pages, 8);
			page_index_free(idx);
		} else
			cr_assert_null(idx, "%s: ret written on failure", bodies[i].name);
	}
	free(b.b);
}

static void set32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void set64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void fix_checksum(uint8_t *f, size_t len)
{
	set64(f + 24, XXH3_64bits(f + 32, len - 32));
}

static void hdr_truncated(uint8_t *f, size_t *len)
{
	*len = 31;
}

static void hdr_body_cut(uint8_t *f, size_t *len)
{
	(*len)--;
	fix_checksum(f, *len);
}

static void hdr_magic(uint8_t *f, size_t *len)
{
	f[3] ^= 0x20;
}

static void hdr_newer(uint8_t *f, size_t *len)
{
	set32(f + 8, 2);
}

static void hdr_version_0(uint8_t *f, size_t *len)
{
	set32(f + 8, 0);
}

static void hdr_reserved(uint8_t *f, size_t *len)
{
	set32(f + 12, 1);
}

static void hdr_declared_smaller(uint8_t *f, size_t *len)
{
	set64(f + 16, 8);
}

static void hdr_declared_huge(uint8_t *f, size_t *len)
{
	set64(f + 16, (1ULL << 30) + 1);
}

static void hdr_checksum(uint8_t *f, size_t *len)
{
	f[*len - 1] ^= 0x01;
}

static void hdr_trailing_frame(uint8_t *f, size_t *len)
{
	/* A second, empty zstd frame after the body. */
	*len += ZSTD_compress(f + *len, 64, "", 0, 1);
	fix_checksum(f, *len);
}

static void hdr_no_content_size(uint8_t *f, size_t *len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	uint8_t body[16] = {};
	ZSTD_inBuffer in = {body, sizeof(body), 0};
	ZSTD_outBuffer out = {f + 32, 256, 0};

	cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
	cr_assert_eq(ZSTD_compressStream2(c, &out, &in, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	set64(f + 16, sizeof(body));
	*len = 32 + out.pos;
	fix_checksum(f, *len);
}

static const struct {
	const char *name;
	void (*apply)(uint8_t *f, size_t *len);
	int expected;
} headers[] = {
	{"shorter than the header", hdr_truncated, -EBADMSG},
	{"body cut, checksum fixed", hdr_body_cut, -EBADMSG},
	{"magic", hdr_magic, -EBADMSG},
	{"newer version", hdr_newer, -EPROTO},
	{"version 0", hdr_version_0, -EBADMSG},
	{"reserved field", hdr_reserved, -EBADMSG},
	{"declared size too small", hdr_declared_smaller, -EBADMSG},
	{"declared size over 1 GiB", hdr_declared_huge, -EBADMSG},
	{"checksum", hdr_checksum, -EBADMSG},
	{"trailing zstd frame", hdr_trailing_frame, -EBADMSG},
	{"no content size", hdr_no_content_size, -EBADMSG},
};

Test(page_index, rejects_malformed_headers)
{
	_cleanup_(page_index_freep) struct page_index *idx = NULL;
	_cleanup_free_ void *good = NULL;
	struct page_ref r = ref(5, 0);
	size_t good_len;
	uint32_t s;

	cr_assert_eq(page_index_new(&idx), 0);
	cr_assert_eq(page_index_add_stream(idx, &s), 0);
	for (uint64_t p = 0; p < 50; p += 2, r.ordinal += 3)
		cr_assert_eq(page_index_add_page(idx, s, p, &r), 0);
	cr_assert_eq(page_index_encode(idx, &good, &good_len), 0);
	cr_assert_lt(good_len, 1024);

	for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
		struct page_index *back = NULL;
		uint8_t f[2048];
		size_t len = good_len;
		int q;

		memcpy(f, good, good_len);
		headers[i].apply(f, &len);
		q = page_index_decode(f, len, &back);
		cr_assert_eq(q, headers[i].expected, "%s: got %d", headers[i].name, q);
		cr_assert_null(back);
	}
}
