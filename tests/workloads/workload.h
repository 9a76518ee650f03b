/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every workload shares: the argument convention (OUT READY ...), the
 * ready file, a seeded PRNG, and the result file whose last line is PASS or
 * FAIL. A workload's result must never depend on time, pids or addresses:
 * the e2e tests compare it byte for byte with an uninterrupted run.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct wl {
	const char *name;
	const char *out;
	const char *ready;
	char *res; /* the result text, written to OUT at the end */
	size_t len, cap;
	char fail[256]; /* first failure; empty: none */
};

static struct wl W;

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> ((64 - k) & 63));
}

/* splitmix64: a counter-based generator, so any element can be re-derived from its index. */
static inline uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t hash2(uint64_t a, uint64_t b)
{
	return mix64(a ^ rotl64(mix64(b), 29));
}

/* xoshiro256**, for sequences of choices. */
struct rng {
	uint64_t s[4];
};

static inline void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = mix64(seed + (uint64_t) i * 0x632be59bd9b4e019ull);
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return res;
}

static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t) (((unsigned __int128) rng_next(r) * n) >> 64);
}

static inline void wl_vappend(const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		abort();
	if (W.len + (size_t) n + 1 > W.cap) {
		W.cap = (W.len + (size_t) n + 1) * 2;
		W.res = realloc(W.res, W.cap);
		if (!W.res)
			abort();
	}
	vsnprintf(W.res + W.len, W.cap - W.len, fmt, ap);
	W.len += (size_t) n;
}

/* Adds a line (or part of one) to the result. */
__attribute__((format(printf, 1, 2))) static inline void wl_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wl_vappend(fmt, ap);
	va_end(ap);
}

/* Records a failed check; the first one is what the FAIL line says. Goes on running. */
__attribute__((format(printf, 1, 2))) static inline void wl_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: check failed: ", W.name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (W.fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(W.fail, sizeof(W.fail), fmt, ap);
	va_end(ap);
}

#define wl_check(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			wl_fail(__VA_ARGS__);                                                      \
	} while (0)

static inline int wl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static inline int wl_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Sleeps MS milliseconds, the whole of them even when a signal comes. */
static inline void wl_sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes the result with its PASS/FAIL line to OUT; the exit status of the workload. */
static inline int wl_finish(void)
{
	int fd, r;

	if (W.fail[0])
		wl_printf("FAIL %s\n", W.fail);
	else
		wl_printf("PASS\n");
	fd = open(W.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: open %s: %m\n", W.name, W.out);
		return 1;
	}
	r = wl_write_all(fd, W.res, W.len);
	if (close(fd) < 0 || r < 0) {
		fprintf(stderr, "%s: write %s failed\n", W.name, W.out);
		return 1;
	}
	return W.fail[0] ? 1 : 0;
}

/* An error that leaves nothing to verify: FAIL now. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void wl_die(const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wl_fail("%s", msg);
	(void) wl_finish();
	exit(1);
}

/*
 * argv[1] is OUT, argv[2] READY ("-" or absent: $READY_FILE). Returns the
 * index of the first workload-specific argument.
 */
static inline int wl_init(const char *name, int argc, char **argv, const char *usage)
{
	W.name = name;
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s OUT [READY] %s\n", name, usage);
		exit(2);
	}
	W.out = argv[1];
	W.ready = argc > 2 && strcmp(argv[2], "-") != 0 ? argv[2] : getenv("READY_FILE");
	return argc > 2 ? 3 : 2;
}

/*
 * Says the interesting state is built: writes "PID[ extra]\n" to READY
 * under a temporary name and renames it, so a reader never sees it half-written.
 */
static inline void wl_ready(const char *extra)
{
	char tmp[4096], line[4096];
	int fd, n;

	if (!W.ready)
		return;
	n = snprintf(line, sizeof(line), "%d%s%s\n", (int) getpid(), extra ? " " : "",
		     extra ? extra : "");
	snprintf(tmp, sizeof(tmp), "%s.tmp", W.ready);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || wl_write_all(fd, line, (size_t) n) < 0 || close(fd) < 0 ||
	    rename(tmp, W.ready) < 0)
		wl_die("cannot write ready file %s: %m", W.ready);
}

static inline unsigned long wl_arg(int argc, char **argv, int i, unsigned long def)
{
	char *end;
	unsigned long v;

	if (i >= argc)
		return def;
	errno = 0;
	v = strtoul(argv[i], &end, 0);
	if (errno || *end || end == argv[i]) {
		fprintf(stderr, "%s: bad number '%s'\n", W.name, argv[i]);
		exit(2);
	}
	return v;
}
