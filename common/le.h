/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Little-endian integers at any alignment, for the on-disk formats. The put
 * functions return the byte after what they wrote, so fields can be chained.
 */
#pragma once

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint8_t *put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static inline uint8_t *put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}
