// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gendata: deterministic test input on stdout, fast enough for hundreds of MiB.
 *
 *     gendata SEED SIZE[K|M|G] text|lines|random
 *
 * text: words from a skewed vocabulary with numbers and hex tokens mixed in
 * (compresses about like source code or logs); lines: lines with random keys,
 * for sort; random: incompressible bytes. Same arguments, same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 4096

static uint64_t s[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next(void)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static uint64_t below(uint64_t n)
{
	return (uint64_t) (((unsigned __int128) next() * n) >> 64);
}

static char out[1 << 20];
static size_t out_len;
static unsigned long long left;

static void flush(void)
{
	size_t off = 0;

	while (off < out_len) {
		ssize_t n = write(STDOUT_FILENO, out + off, out_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("gendata: write");
			exit(1);
		}
		off += (size_t) n;
	}
	out_len = 0;
}

/* Appends up to len bytes; returns 0 once SIZE bytes were produced. */
static int emit(const char *p, size_t len)
{
	if (len > left)
		len = (size_t) left;
	if (out_len + len > sizeof(out))
		flush();
	memcpy(out + out_len, p, len);
	out_len += len;
	left -= len;
	return left > 0;
}

int main(int argc, char **argv)
{
	static char words[VOCAB][12];
	char *end, tok[64];
	unsigned long long seed, size;

	if (argc != 4) {
		fprintf(stderr, "usage: gendata SEED SIZE[K|M|G] text|lines|random\n");
		return 2;
	}
	seed = strtoull(argv[1], NULL, 0);
	size = strtoull(argv[2], &end, 0);
	switch (*end) {
	case 'G':
		size <<= 10;
		/* fall through */
	case 'M':
		size <<= 10;
		/* fall through */
	case 'K':
		size <<= 10;
		break;
	case 0:
		break;
	default:
		fprintf(stderr, "gendata: bad size %s\n", argv[2]);
		return 2;
	}
	for (int i = 0; i < 4; i++) {
		uint64_t z = seed + 0x9e3779b97f4a7c15ull * (uint64_t) (i + 1);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		s[i] = z ^ (z >> 31);
	}
	for (int i = 0; i < VOCAB; i++) {
		int len = 2 + (int) below(9);
		for (int j = 0; j < len; j++)
			words[i][j] = (char) ('a' + below(26));
		words[i][len] = 0;
	}
	left = size;

	if (strcmp(argv[3], "random") == 0) {
		while (left > 0) {
			uint64_t v = next();
			if (!emit((const char *) &v, sizeof(v)))
				break;
		}
	} else if (strcmp(argv[3], "text") == 0) {
		for (unsigned long long n = 0; left > 0; n++) {
			uint64_t r = below(100);
			int len;
			if (r < 80) {
				/* Skewed: low word ids are far more common. */
				uint64_t a = below(VOCAB), b = below(VOCAB);
				len = snprintf(tok, sizeof(tok), "%s", words[a < b ? a : b]);
			} else if (r < 92) {
				len = snprintf(tok, sizeof(tok), "%llu",
					       (unsigned long long) below(100000));
			} else {
				len = snprintf(tok, sizeof(tok), "%016llx",
					       (unsigned long long) next());
			}
			tok[len++] = below(12) == 0 ? '\n' : ' ';
			if (!emit(tok, (size_t) len))
				break;
		}
	} else if (strcmp(argv[3], "lines") == 0) {
		while (left > 0) {
			uint64_t a = below(VOCAB), b = below(VOCAB);
			int len = snprintf(tok, sizeof(tok), "%s %s %llu\n", words[a], words[b],
					   (unsigned long long) below(1000000000));
			if (!emit(tok, (size_t) len))
				break;
		}
	} else {
		fprintf(stderr, "gendata: unknown kind %s\n", argv[3]);
		return 2;
	}
	flush();
	return 0;
}
