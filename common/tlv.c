// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * TLV encoder and decoder (see tlv.h). The decoder is the first thing that
 * touches untrusted image bytes, so every length is checked before use.
 */
#include <endian.h>
#include <string.h>

#include "tlv.h"
#include "le.h"
#include "util.h"

#define TLV_HEADER 8

static uint8_t *tlv_reserve(struct tlv_writer *w, size_t n)
{
	if (w->error)
		return NULL;
	if (GROW(w->data, w->allocated, w->len + n) < 0) {
		w->error = -ENOMEM;
		return NULL;
	}
	return w->data + w->len;
}

void tlv_put_bytes(struct tlv_writer *w, uint32_t tag, const void *p, size_t n)
{
	size_t padded = ALIGN_TO(n, (size_t) 8);
	uint8_t *dst;

	if (n > UINT32_MAX) {
		if (!w->error)
			w->error = -E2BIG;
		return;
	}
	dst = tlv_reserve(w, TLV_HEADER + padded);
	if (!dst)
		return;
	put_le32(dst, tag);
	put_le32(dst + 4, (uint32_t) n);
	if (n)
		memcpy(dst + TLV_HEADER, p, n);
	memset(dst + TLV_HEADER + n, 0, padded - n);
	w->len += TLV_HEADER + padded;
}

void tlv_put_u64(struct tlv_writer *w, uint32_t tag, uint64_t value)
{
	uint64_t le = htole64(value);

	tlv_put_bytes(w, tag, &le, sizeof(le));
}

void tlv_put_str(struct tlv_writer *w, uint32_t tag, const char *s)
{
	tlv_put_bytes(w, tag, s ? s : "", s ? strlen(s) : 0);
}

size_t tlv_begin(struct tlv_writer *w, uint32_t tag)
{
	uint8_t *dst = tlv_reserve(w, TLV_HEADER);
	size_t mark = w->len;

	if (!dst)
		return 0;
	put_le32(dst, tag);
	put_le32(dst + 4, 0);
	w->len += TLV_HEADER;
	return mark;
}

void tlv_end(struct tlv_writer *w, size_t mark)
{
	size_t n;

	if (w->error)
		return;
	n = w->len - mark - TLV_HEADER;
	if (n > UINT32_MAX) {
		w->error = -E2BIG;
		return;
	}
	/* Nested values are sequences of padded records, so already 8-aligned. */
	put_le32(w->data + mark + 4, (uint32_t) n);
}

int tlv_finish(struct tlv_writer *w, void **ret, size_t *ret_len)
{
	if (w->error)
		return w->error;
	*ret = w->data;
	*ret_len = w->len;
	*w = (struct tlv_writer){};
	return 0;
}

void tlv_writer_done(struct tlv_writer *w)
{
	free(w->data);
	*w = (struct tlv_writer){};
}

int tlv_next(struct tlv_reader *r, uint32_t *ret_tag, struct tlv_reader *ret_value)
{
	uint32_t tag, n;
	size_t padded;

	if (r->pos == r->len)
		return 0;
	if (r->len - r->pos < TLV_HEADER)
		return -EBADMSG;
	tag = get_le32(r->p + r->pos);
	n = get_le32(r->p + r->pos + 4);
	padded = ALIGN_TO((size_t) n, (size_t) 8);
	if (padded > r->len - r->pos - TLV_HEADER)
		return -EBADMSG;
	*ret_tag = tag;
	*ret_value = tlv_reader_init(r->p + r->pos + TLV_HEADER, n);
	r->pos += TLV_HEADER + padded;
	return 1;
}

int tlv_get_u64(const struct tlv_reader *v, uint64_t *ret)
{
	uint64_t le;

	if (v->len != sizeof(le))
		return -EBADMSG;
	memcpy(&le, v->p, sizeof(le));
	*ret = le64toh(le);
	return 0;
}

int tlv_get_u32(const struct tlv_reader *v, uint32_t *ret)
{
	uint64_t x;
	int r = tlv_get_u64(v, &x);

	if (r < 0)
		return r;
	if (x > UINT32_MAX)
		return -EBADMSG;
	*ret = (uint32_t) x;
	return 0;
}

int tlv_get_i64(const struct tlv_reader *v, int64_t *ret)
{
	uint64_t x;
	int r = tlv_get_u64(v, &x);

	if (r < 0)
		return r;
	*ret = (int64_t) x;
	return 0;
}

int tlv_get_i32(const struct tlv_reader *v, int32_t *ret)
{
	int64_t x;
	int r = tlv_get_i64(v, &x);

	if (r < 0)
		return r;
	if (x < INT32_MIN || x > INT32_MAX)
		return -EBADMSG;
	*ret = (int32_t) x;
	return 0;
}

int tlv_get_bytes(const struct tlv_reader *v, void *dst, size_t n)
{
	if (v->len != n)
		return -EBADMSG;
	if (n)
		memcpy(dst, v->p, n);
	return 0;
}

int tlv_get_str(const struct tlv_reader *v, size_t max, char **ret)
{
	char *s;

	if (v->len > max || memchr(v->p, 0, v->len))
		return -EBADMSG;
	s = malloc(v->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, v->p, v->len);
	s[v->len] = 0;
	*ret = s;
	return 0;
}

int tlv_get_blob(const struct tlv_reader *v, size_t max, void **ret, size_t *ret_len)
{
	void *p;

	if (v->len > max)
		return -EBADMSG;
	p = malloc(v->len ? v->len : 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, v->p, v->len);
	*ret = p;
	*ret_len = v->len;
	return 0;
}
