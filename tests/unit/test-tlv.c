// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for common/tlv.c: what the writer encodes reads back the same, the
 * exact byte layout, and the decoder's refusal of every malformed length.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <string.h>

#include "tlv.h"

enum {
	TAG_U64 = 1,
	TAG_STR = 2,
	TAG_BYTES = 3,
	TAG_NESTED = 100, /* walk() descends into these */
	TAG_UNKNOWN = 0xdeadbeef,
};

static void encode(struct tlv_writer *w, void **ret, size_t *ret_len)
{
	cr_assert_eq(tlv_finish(w, ret, ret_len), 0);
	cr_assert_eq(*ret_len % 8, 0, "records are padded to 8 bytes");
}

static struct tlv_reader next_ok(struct tlv_reader *r, uint32_t want_tag)
{
	struct tlv_reader v;
	uint32_t tag;

	cr_assert_eq(tlv_next(r, &tag, &v), 1);
	cr_assert_eq(tag, want_tag);
	return v;
}

Test(tlv, u64_round_trip)
{
	static const uint64_t values[] = { 0, 1, 0xff, 0x100, UINT32_MAX, (uint64_t) UINT32_MAX + 1,
					   INT64_MAX, UINT64_MAX };
	struct tlv_writer w = {};
	struct tlv_reader r, v;
	void *buf;
	size_t len;
	uint32_t tag;
	uint64_t x;

	for (size_t i = 0; i < ELEMENTSOF(values); i++)
		tlv_put_u64(&w, TAG_U64 + (uint32_t) i, values[i]);
	encode(&w, &buf, &len);
	cr_assert_eq(len, ELEMENTSOF(values) * 16);

	r = tlv_reader_init(buf, len);
	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		v = next_ok(&r, TAG_U64 + (uint32_t) i);
		cr_assert_eq(tlv_get_u64(&v, &x), 0);
		cr_assert_eq(x, values[i]);
	}
	cr_assert_eq(tlv_next(&r, &tag, &v), 0);
	cr_assert_eq(tlv_next(&r, &tag, &v), 0, "the end stays the end");
	free(buf);
}

Test(tlv, exact_layout)
{
	static const uint8_t want[] = {
		0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* tag 1, length 8 */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* little-endian value */
		0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, /* tag 2, length 3 */
		'a',  'b',  'c',  0x00, 0x00, 0x00, 0x00, 0x00, /* padded with zeros */
		0x64, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* nested, length 8 */
		0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* empty bytes record */
	};
	struct tlv_writer w = {};
	size_t mark, len;
	void *buf;

	tlv_put_u64(&w, TAG_U64, 0x0102030405060708ULL);
	tlv_put_str(&w, TAG_STR, "abc");
	mark = tlv_begin(&w, TAG_NESTED);
	tlv_put_bytes(&w, TAG_BYTES, NULL, 0);
	tlv_end(&w, mark);
	encode(&w, &buf, &len);
	cr_assert_eq(len, sizeof(want));
	cr_assert_eq(memcmp(buf, want, len), 0);
	free(buf);
}

Test(tlv, str_and_bytes_round_trip)
{
	static const char *const strs[] = { "", "a", "1234567", "12345678", "123456789",
					    "/usr/lib/x86_64-linux-gnu/libc.so.6" };
	static uint8_t big[100003];
	struct tlv_writer w = {};
	struct tlv_reader r, v;
	void *buf, *blob;
	size_t len, blob_len;
	uint32_t tag;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t) (i * 31);
	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		tlv_put_str(&w, TAG_STR, strs[i]);
	tlv_put_str(&w, TAG_STR, NULL);
	for (size_t n = 0; n <= 17; n++)
		tlv_put_bytes(&w, TAG_BYTES, big, n);
	tlv_put_bytes(&w, TAG_BYTES, big, sizeof(big));
	encode(&w, &buf, &len);

	r = tlv_reader_init(buf, len);
	for (size_t i = 0; i < ELEMENTSOF(strs); i++) {
		_cleanup_free_ char *s = NULL;

		v = next_ok(&r, TAG_STR);
		cr_assert_eq(tlv_get_str(&v, 4096, &s), 0);
		cr_assert_str_eq(s, strs[i]);
	}
	{
		_cleanup_free_ char *s = NULL;

		v = next_ok(&r, TAG_STR);
		cr_assert_eq(tlv_get_str(&v, 0, &s), 0, "NULL is written as the empty string");
		cr_assert_str_eq(s, "");
	}
	for (size_t n = 0; n <= 17; n++) {
		uint8_t dst[17];

		v = next_ok(&r, TAG_BYTES);
		cr_assert_eq(v.len, n);
		cr_assert_eq(tlv_get_bytes(&v, dst, n), 0);
		cr_assert_eq(memcmp(dst, big, n), 0);
	}
	v = next_ok(&r, TAG_BYTES);
	cr_assert_eq(tlv_get_blob(&v, sizeof(big), &blob, &blob_len), 0);
	cr_assert_eq(blob_len, sizeof(big));
	cr_assert_eq(memcmp(blob, big, sizeof(big)), 0);
	free(blob);
	cr_assert_eq(tlv_get_blob(&v, sizeof(big) - 1, &blob, &blob_len), -EBADMSG);
	cr_assert_eq(tlv_next(&r, &tag, &v), 0);
	free(buf);
}

Test(tlv, nested_round_trip_and_unknown_tags)
{
	struct tlv_writer w = {};
	struct tlv_reader r, outer, inner, v;
	size_t m1, m2, len;
	uint32_t tag;
	uint64_t x;
	void *buf;

	tlv_put_u64(&w, TAG_UNKNOWN, 7); /* a reader from before this tag skips it */
	m1 = tlv_begin(&w, TAG_NESTED);
	tlv_put_u64(&w, TAG_U64, 42);
	m2 = tlv_begin(&w, TAG_NESTED);
	tlv_put_str(&w, TAG_STR, "deep");
	tlv_end(&w, m2);
	m2 = tlv_begin(&w, TAG_NESTED); /* empty */
	tlv_end(&w, m2);
	tlv_end(&w, m1);
	tlv_put_u64(&w, TAG_U64, 43);
	encode(&w, &buf, &len);

	r = tlv_reader_init(buf, len);
	(void) next_ok(&r, TAG_UNKNOWN);
	outer = next_ok(&r, TAG_NESTED);
	v = next_ok(&outer, TAG_U64);
	cr_assert_eq(tlv_get_u64(&v, &x), 0);
	cr_assert_eq(x, 42);
	inner = next_ok(&outer, TAG_NESTED);
	{
		_cleanup_free_ char *s = NULL;

		v = next_ok(&inner, TAG_STR);
		cr_assert_eq(tlv_get_str(&v, 16, &s), 0);
		cr_assert_str_eq(s, "deep");
		cr_assert_eq(tlv_next(&inner, &tag, &v), 0);
	}
	inner = next_ok(&outer, TAG_NESTED);
	cr_assert_eq(inner.len, 0);
	cr_assert_eq(tlv_next(&inner, &tag, &v), 0);
	cr_assert_eq(tlv_next(&outer, &tag, &v), 0);
	v = next_ok(&r, TAG_U64);
	cr_assert_eq(tlv_get_u64(&v, &x), 0);
	cr_assert_eq(x, 43);
	cr_assert_eq(tlv_next(&r, &tag, &v), 0);
	free(buf);
}

/* Integer accessors: each checks the width and the range. */
Test(tlv, integer_accessors)
{
	static const struct {
		uint64_t stored;
		int u32;      /* expected result of tlv_get_u32 */
		int i32;      /* ... and of tlv_get_i32 */
		int64_t want; /* the i32 value when it succeeds */
	} cases[] = {
		{ 0, 0, 0, 0 },
		{ UINT32_MAX, 0, -EBADMSG, 0 },
		{ (uint64_t) UINT32_MAX + 1, -EBADMSG, -EBADMSG, 0 },
		{ INT32_MAX, 0, 0, INT32_MAX },
		{ (uint64_t) INT32_MAX + 1, 0, -EBADMSG, 0 },
		{ (uint64_t) (int64_t) -5, -EBADMSG, 0, -5 },
		{ (uint64_t) (int64_t) INT32_MIN, -EBADMSG, 0, INT32_MIN },
		{ (uint64_t) ((int64_t) INT32_MIN - 1), -EBADMSG, -EBADMSG, 0 },
		{ 0xfffffffbULL, 0, -EBADMSG, 0 }, /* -5 as a u32 is not an i32 */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint64_t le = htole64(cases[i].stored);
		struct tlv_reader v = tlv_reader_init(&le, sizeof(le));
		uint32_t u;
		int32_t s;
		int64_t s64;

		cr_assert_eq(tlv_get_u32(&v, &u), cases[i].u32, "case %zu", i);
		if (cases[i].u32 == 0)
			cr_assert_eq(u, (uint32_t) cases[i].stored);
		cr_assert_eq(tlv_get_i32(&v, &s), cases[i].i32, "case %zu", i);
		if (cases[i].i32 == 0)
			cr_assert_eq(s, cases[i].want);
		cr_assert_eq(tlv_get_i64(&v, &s64), 0);
		cr_assert_eq((uint64_t) s64, cases[i].stored);
	}
}

Test(tlv, wrong_sizes_are_ebadmsg)
{
	static const uint8_t bytes[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	static const size_t sizes[] = { 0, 1, 4, 7, 9, 16 };

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		struct tlv_reader v = tlv_reader_init(bytes, sizes[i]);
		uint64_t x;
		uint32_t u;
		int32_t s;
		int64_t s64;
		uint8_t dst[16];

		cr_assert_eq(tlv_get_u64(&v, &x), -EBADMSG, "size %zu", sizes[i]);
		cr_assert_eq(tlv_get_u32(&v, &u), -EBADMSG, "size %zu", sizes[i]);
		cr_assert_eq(tlv_get_i32(&v, &s), -EBADMSG, "size %zu", sizes[i]);
		cr_assert_eq(tlv_get_i64(&v, &s64), -EBADMSG, "size %zu", sizes[i]);
		cr_assert_eq(tlv_get_bytes(&v, dst, 8), -EBADMSG, "size %zu", sizes[i]);
	}
}

Test(tlv, strings_are_checked)
{
	static const struct {
		const char *bytes;
		size_t len, max;
		int result;
	} cases[] = {
		{ "abc", 3, 3, 0 },
		{ "abc", 3, 2, -EBADMSG },   /* over the limit */
		{ "a\0c", 3, 16, -EBADMSG }, /* a NUL inside */
		{ "abc\0", 4, 16, -EBADMSG }, /* a NUL at the end counts too */
		{ "", 0, 0, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct tlv_reader v = tlv_reader_init(cases[i].bytes, cases[i].len);
		char *s = NULL;

		cr_assert_eq(tlv_get_str(&v, cases[i].max, &s), cases[i].result, "case %zu", i);
		if (cases[i].result == 0) {
			cr_assert_eq(strlen(s), cases[i].len);
			cr_assert_eq(memcmp(s, cases[i].bytes, cases[i].len), 0);
		} else {
			cr_assert_null(s, "not written on failure");
		}
		free(s);
	}
}

/* Walks every record, descending into TAG_NESTED: the count, or the first error. */
static int walk(struct tlv_reader r)
{
	struct tlv_reader v;
	uint32_t tag;
	int n = 0, k;

	while ((k = tlv_next(&r, &tag, &v)) > 0) {
		n++;
		if (tag == TAG_NESTED) {
			int m = walk(v);

			if (m < 0)
				return m;
			n += m;
		}
	}
	return k < 0 ? k : n;
}

#define LE32(x) (uint8_t) ((x) & 0xff), (uint8_t) (((x) >> 8) & 0xff), \
		(uint8_t) (((x) >> 16) & 0xff), (uint8_t) (((x) >> 24) & 0xff)
#define HDR(tag, len) LE32(tag), LE32(len)
#define PAD8 0, 0, 0, 0, 0, 0, 0, 0

Test(tlv, malformed_inputs)
{
	static const struct {
		const char *what;
		uint8_t bytes[48];
		size_t len;
		int result;
	} cases[] = {
		{ "empty", {}, 0, 0 },
		{ "one record", { HDR(1, 8), PAD8 }, 16, 1 },
		{ "zero-length record", { HDR(1, 0) }, 8, 1 },
		{ "truncated header (1 byte)", { 1 }, 1, -EBADMSG },
		{ "truncated header (4 bytes)", { LE32(1) }, 4, -EBADMSG },
		{ "truncated header (7 bytes)", { HDR(1, 0) }, 7, -EBADMSG },
		{ "truncated header after a record", { HDR(1, 0), LE32(2) }, 12, -EBADMSG },
		{ "length past the end", { HDR(1, 16), PAD8 }, 16, -EBADMSG },
		{ "length past the end by one", { HDR(1, 9), PAD8 }, 16, -EBADMSG },
		{ "padding missing", { HDR(1, 3), 'a', 'b', 'c' }, 11, -EBADMSG },
		{ "length 0xffffffff", { HDR(1, 0xffffffffu), PAD8 }, 16, -EBADMSG },
		{ "length 0xfffffff8", { HDR(1, 0xfffffff8u), PAD8 }, 16, -EBADMSG },
		{ "nested", { HDR(TAG_NESTED, 16), HDR(1, 8), PAD8 }, 24, 2 },
		{ "nested record longer than its container",
		  { HDR(TAG_NESTED, 16), HDR(1, 24), PAD8, PAD8 }, 32, -EBADMSG },
		{ "nested length not a multiple of 8",
		  { HDR(TAG_NESTED, 12), HDR(1, 4), PAD8 }, 24, -EBADMSG },
		{ "nested truncated header", { HDR(TAG_NESTED, 4), PAD8 }, 16, -EBADMSG },
		{ "doubly nested overrun",
		  { HDR(TAG_NESTED, 24), HDR(TAG_NESTED, 16), HDR(1, 16), PAD8 }, 32, -EBADMSG },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		cr_assert_eq(walk(tlv_reader_init(cases[i].bytes, cases[i].len)), cases[i].result,
			     "%s", cases[i].what);
}

Test(tlv, every_truncation_of_a_valid_encoding_fails)
{
	struct tlv_writer w = {};
	size_t mark, len;
	uint8_t *buf;

	tlv_put_u64(&w, TAG_U64, 1);
	mark = tlv_begin(&w, TAG_NESTED);
	tlv_put_str(&w, TAG_STR, "hello, world");
	tlv_end(&w, mark);
	cr_assert_eq(tlv_finish(&w, (void **) &buf, &len), 0);

	cr_assert_eq(walk(tlv_reader_init(buf, len)), 3);
	for (size_t n = 0; n < len; n++) {
		int r = walk(tlv_reader_init(buf, n));

		/* Cutting exactly between top-level records leaves a shorter valid encoding. */
		if (n == 0 || n == 16)
			cr_assert_eq(r, n == 0 ? 0 : 1);
		else
			cr_assert_eq(r, -EBADMSG, "cut at %zu", n);
	}
	free(buf);
}

Test(tlv, writer_errors_are_sticky)
{
	struct tlv_writer w = {};
	void *buf = NULL;
	size_t len = 0;

	tlv_put_u64(&w, TAG_U64, 1);
	/* Over the u32 length: refused before the (fake) source is touched. */
	tlv_put_bytes(&w, TAG_BYTES, "", (size_t) UINT32_MAX + 1);
	cr_assert_eq(w.error, -E2BIG);
	tlv_put_u64(&w, TAG_U64, 2);
	cr_assert_eq(w.len, 16, "nothing is added after an error");
	cr_assert_eq(tlv_finish(&w, &buf, &len), -E2BIG);
	cr_assert_null(buf);
	tlv_writer_done(&w);
	cr_assert_null(w.data);

	/* The first error is the one reported. */
	w = (struct tlv_writer){ .error = -ENOMEM };
	tlv_put_bytes(&w, TAG_BYTES, "", (size_t) UINT32_MAX + 1);
	cr_assert_eq(tlv_finish(&w, &buf, &len), -ENOMEM);
	tlv_writer_done(&w);
}

Test(tlv, finish_hands_over_and_resets)
{
	struct tlv_writer w = {};
	void *buf = NULL;
	size_t len = 1;

	cr_assert_eq(tlv_finish(&w, &buf, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(walk(tlv_reader_init(buf, len)), 0);
	free(buf);

	tlv_put_u64(&w, TAG_U64, 1);
	cr_assert_eq(tlv_finish(&w, &buf, &len), 0);
	cr_assert_eq(w.data, NULL);
	cr_assert_eq(w.len, 0);
	free(buf);
}
