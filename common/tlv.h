/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tag-length-value records, the encoding of ckptd's own ELF notes. A record is
 * a u32 tag, a u32 length and the value padded to 8 bytes, all little-endian;
 * a value may itself be a sequence of records. Readers skip tags they do not
 * know, so a field can be added without a format version bump; a length that
 * runs past its container is -EBADMSG.
 */
#pragma once

#include "macro.h"

struct tlv_writer {
	uint8_t *data;
	size_t len;
	size_t allocated;
	int error; /* sticky: the first allocation failure */
};

void tlv_put_u64(struct tlv_writer *w, uint32_t tag, uint64_t value);
void tlv_put_bytes(struct tlv_writer *w, uint32_t tag, const void *p, size_t n);
void tlv_put_str(struct tlv_writer *w, uint32_t tag, const char *s);
/* Opens a nested record; pass the result to tlv_end(). */
size_t tlv_begin(struct tlv_writer *w, uint32_t tag);
void tlv_end(struct tlv_writer *w, size_t mark);
/* Hands the encoded bytes to the caller, or returns the sticky error. */
int tlv_finish(struct tlv_writer *w, void **ret, size_t *ret_len);
void tlv_writer_done(struct tlv_writer *w);

struct tlv_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static inline struct tlv_reader tlv_reader_init(const void *p, size_t len)
{
	return (struct tlv_reader){ .p = p, .len = len };
}

/* 1 and the next record, 0 at the end, -EBADMSG if the bytes are malformed. */
int tlv_next(struct tlv_reader *r, uint32_t *ret_tag, struct tlv_reader *ret_value);

/* Value accessors; each checks the length and range and returns -EBADMSG otherwise. */
int tlv_get_u64(const struct tlv_reader *v, uint64_t *ret);
int tlv_get_u32(const struct tlv_reader *v, uint32_t *ret);
int tlv_get_i32(const struct tlv_reader *v, int32_t *ret);
int tlv_get_i64(const struct tlv_reader *v, int64_t *ret);
/* Exactly n bytes. */
int tlv_get_bytes(const struct tlv_reader *v, void *dst, size_t n);
/* A string of at most max bytes without NUL bytes, newly allocated. */
int tlv_get_str(const struct tlv_reader *v, size_t max, char **ret);
/* Any length up to max, newly allocated. */
int tlv_get_blob(const struct tlv_reader *v, size_t max, void **ret, size_t *ret_len);
