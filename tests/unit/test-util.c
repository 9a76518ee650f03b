// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for common/util.c: strict number and duration parsing, the human
 * formats, file names, and the file helpers (atomic write, bounded read,
 * recursive removal) in a directory of their own under /tmp.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static char tmpdir[] = "/tmp/ckptd-test-util-XXXXXX";
static int tmp_fd = -EBADF;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(tmpdir));
	tmp_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tmp_fd, 0);
}

static void teardown(void)
{
	if (tmp_fd >= 0)
		(void) close(tmp_fd);
	(void) rm_rf_at(AT_FDCWD, tmpdir);
}

TestSuite(util, .init = setup, .fini = teardown);

Test(util, parse_u64)
{
	static const struct {
		const char *s;
		int base;
		int result;
		uint64_t value;
	} cases[] = {
		{ "0", 10, 0, 0 },
		{ "1", 10, 0, 1 },
		{ "18446744073709551615", 10, 0, UINT64_MAX },
		{ "18446744073709551616", 10, -ERANGE, 0 },
		{ "99999999999999999999999", 10, -ERANGE, 0 },
		{ "", 10, -EINVAL, 0 },
		{ "-1", 10, -EINVAL, 0 },
		{ "-0", 10, -EINVAL, 0 },
		{ "+1", 10, -EINVAL, 0 },
		{ " 1", 10, -EINVAL, 0 },
		{ "\t1", 10, -EINVAL, 0 },
		{ "\n-1", 10, -EINVAL, 0 }, /* strtoull would skip the space and negate */
		{ "1 ", 10, -EINVAL, 0 },
		{ "1x", 10, -EINVAL, 0 },
		{ "x", 10, -EINVAL, 0 },
		{ "0x10", 0, 0, 16 },
		{ "0x10", 16, 0, 16 },
		{ "10", 16, 0, 16 },
		{ "ff", 16, 0, 255 },
		{ "0x10", 10, -EINVAL, 0 },
		{ "0x", 16, -EINVAL, 0 },
		{ "0x-1", 16, -EINVAL, 0 },
		{ "010", 0, 0, 8 },
		{ "010", 10, 0, 10 },
		{ "08", 0, -EINVAL, 0 },
		{ "ffffffffffffffff", 16, 0, UINT64_MAX },
		{ "10000000000000000", 16, -ERANGE, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint64_t v = 12345;

		cr_assert_eq(parse_u64(cases[i].s, cases[i].base, &v), cases[i].result,
			     "\"%s\" base %d", cases[i].s, cases[i].base);
		cr_assert_eq(v, cases[i].result == 0 ? cases[i].value : 12345,
			     "\"%s\": written only on success", cases[i].s);
	}
	cr_assert_eq(parse_u64(NULL, 10, &(uint64_t){ 0 }), -EINVAL);
}

Test(util, parse_u32)
{
	static const struct {
		const char *s;
		int base;
		int result;
		uint32_t value;
	} cases[] = {
		{ "4294967295", 10, 0, UINT32_MAX },
		{ "4294967296", 10, -ERANGE, 0 },
		{ "18446744073709551616", 10, -ERANGE, 0 },
		{ "0xffffffff", 0, 0, UINT32_MAX },
		{ "0x100000000", 0, -ERANGE, 0 },
		{ "-1", 10, -EINVAL, 0 },
		{ "+1", 10, -EINVAL, 0 },
		{ " 1", 10, -EINVAL, 0 },
		{ "", 10, -EINVAL, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t v = 7;

		cr_assert_eq(parse_u32(cases[i].s, cases[i].base, &v), cases[i].result, "\"%s\"",
			     cases[i].s);
		cr_assert_eq(v, cases[i].result == 0 ? cases[i].value : 7);
	}
}

Test(util, parse_i32)
{
	static const struct {
		const char *s;
		int base;
		int result;
		int32_t value;
	} cases[] = {
		{ "0", 10, 0, 0 },
		{ "-1", 10, 0, -1 },
		{ "+1", 10, 0, 1 }, /* a sign is fine for a signed number */
		{ "2147483647", 10, 0, INT32_MAX },
		{ "2147483648", 10, -ERANGE, 0 },
		{ "-2147483648", 10, 0, INT32_MIN },
		{ "-2147483649", 10, -ERANGE, 0 },
		{ "18446744073709551616", 10, -ERANGE, 0 },
		{ "-18446744073709551616", 10, -ERANGE, 0 },
		{ "0x10", 0, 0, 16 },
		{ "0x10", 16, 0, 16 },
		{ "-0x10", 0, 0, -16 },
		{ "0x10", 10, -EINVAL, 0 },
		{ "", 10, -EINVAL, 0 },
		{ "-", 10, -EINVAL, 0 },
		{ " 1", 10, -EINVAL, 0 },
		{ "\t1", 10, -EINVAL, 0 },
		{ "1 ", 10, -EINVAL, 0 },
		{ "1x", 10, -EINVAL, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int32_t v = 7;

		cr_assert_eq(parse_i32(cases[i].s, cases[i].base, &v), cases[i].result, "\"%s\"",
			     cases[i].s);
		cr_assert_eq(v, cases[i].result == 0 ? cases[i].value : 7, "\"%s\"", cases[i].s);
	}
}

Test(util, parse_pid)
{
	static const struct {
		const char *s;
		int result;
		pid_t value;
	} cases[] = {
		{ "1", 0, 1 },
		{ "4194304", 0, 4194304 },
		{ "2147483647", 0, INT32_MAX },
		{ "2147483648", -ERANGE, 0 },
		{ "4294967296", -ERANGE, 0 },
		{ "0", -ERANGE, 0 }, /* never a process */
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 }, /* decimal only */
		{ "010", 0, 10 },
		{ "", -EINVAL, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		pid_t v = 7;

		cr_assert_eq(parse_pid(cases[i].s, &v), cases[i].result, "\"%s\"", cases[i].s);
		cr_assert_eq(v, cases[i].result == 0 ? cases[i].value : 7);
	}
}

#define SEC 1000000000ULL

Test(util, parse_duration)
{
	static const struct {
		const char *s;
		int result;
		uint64_t ns;
	} cases[] = {
		{ "30s", 0, 30 * SEC },
		{ "10m", 0, 600 * SEC },
		{ "10min", 0, 600 * SEC },
		{ "2h", 0, 7200 * SEC },
		{ "1d", 0, 86400 * SEC },
		{ "500ms", 0, 500000000ULL },
		{ "5", 0, 5 * SEC },
		{ "0", 0, 0 }, /* callers that need a positive interval say so */
		{ "0s", 0, 0 },
		{ "18446744073s", 0, 18446744073 * SEC },
		{ "18446744074s", -ERANGE, 0 },
		{ "18446744073709551615ms", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 }, /* the number itself overflows */
		{ "999999999999999999999999999999999999d", -ERANGE, 0 },
		{ "-5m", -EINVAL, 0 },
		{ "+5m", -EINVAL, 0 },
		{ "5 m", -EINVAL, 0 },
		{ " 5m", -EINVAL, 0 },
		{ "5m ", -EINVAL, 0 },
		{ "m", -EINVAL, 0 },
		{ "10x", -EINVAL, 0 },
		{ "1.5h", -EINVAL, 0 },
		{ "5M", -EINVAL, 0 },
		{ "5mss", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint64_t ns = 7;

		cr_assert_eq(parse_duration(cases[i].s, &ns), cases[i].result, "\"%s\"",
			     cases[i].s);
		cr_assert_eq(ns, cases[i].result == 0 ? cases[i].ns : 7, "\"%s\"", cases[i].s);
	}
	cr_assert_eq(parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
}

Test(util, format_bytes)
{
	static const struct {
		uint64_t bytes;
		const char *want;
	} cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 12897485, "12.3 MiB" },
		{ 1048575, "1.0 MiB" }, /* not "1024.0 KiB" */
		{ 1048576, "1.0 MiB" },
		{ 8ULL << 30, "8.0 GiB" },
		{ 3ULL << 40, "3.0 TiB" },
		{ UINT64_MAX, "16777216.0 TiB" },
	};
	char buf[FORMAT_BYTES_MAX], small[5];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const char *s = format_bytes(buf, sizeof(buf), cases[i].bytes);

		cr_assert_eq(s, buf);
		cr_assert_str_eq(s, cases[i].want, "%" PRIu64, cases[i].bytes);
	}
	/* A short buffer truncates, still terminated. */
	cr_assert_str_eq(format_bytes(small, sizeof(small), 12897485), "12.3");
}

Test(util, format_duration)
{
	static const struct {
		uint64_t ns;
		const char *want;
	} cases[] = {
		{ 0, "0.0 ms" },
		{ 1500000, "1.5 ms" },
		{ 10000000, "10 ms" },
		{ 41000000, "41 ms" },
		{ 999999999, "999 ms" },
		{ 1 * SEC, "1.00 s" },
		{ 1200000000, "1.20 s" },
		{ 59 * SEC, "59.00 s" },
		{ 60 * SEC, "1m 00s" },
		{ 200 * SEC, "3m 20s" },
		{ 7200 * SEC, "120m 00s" },
	};
	char buf[FORMAT_DURATION_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		cr_assert_str_eq(format_duration(buf, sizeof(buf), cases[i].ns), cases[i].want,
				 "%" PRIu64, cases[i].ns);
	cr_assert_lt(strlen(format_duration(buf, sizeof(buf), UINT64_MAX)), sizeof(buf));
}

#define A16 "aaaaaaaaaaaaaaaa"

Test(util, name_is_valid)
{
	static const struct {
		const char *s;
		bool valid;
	} cases[] = {
		{ "sim-1", true },
		{ "a", true },
		{ "000007", true },
		{ "job_1.v2", true },
		{ "-x", true },
		{ A16 A16 A16 A16, true },	/* 64 bytes */
		{ A16 A16 A16 A16 "a", false }, /* 65 */
		{ "", false },
		{ ".", false },
		{ "..", false },
		{ ".hidden", false },
		{ "a/b", false },
		{ "sim@7", false }, /* "@" separates job and version */
		{ "/", false },
		{ "a b", false },
		{ "a\tb", false },
		{ "a\nb", false },
		{ "a\x7f", false },
		{ "caf\xc3\xa9", false }, /* printable ASCII only */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		cr_assert_eq(name_is_valid(cases[i].s), cases[i].valid, "\"%s\"", cases[i].s);
	cr_assert_not(name_is_valid(NULL));
}

Test(util, string_prefix_suffix)
{
	cr_assert(string_has_prefix("versions/1", "versions/"));
	cr_assert(string_has_prefix("abc", ""));
	cr_assert_not(string_has_prefix("ab", "abc"));
	cr_assert(string_has_suffix("x.pack", ".pack"));
	cr_assert(string_has_suffix("abc", ""));
	cr_assert_not(string_has_suffix("ck", ".pack"));
}

static size_t count_entries(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	cr_assert_geq(fd, 0);
	d = fdopendir(fd);
	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

Test(util, write_file_atomic_at)
{
	_cleanup_free_ char *back = NULL;
	size_t len;
	struct stat st;

	(void) umask(022);
	cr_assert_eq(write_file_atomic_at(tmp_fd, "job.json", "{\"a\":1}", 7, 0640), 0);
	cr_assert_eq(count_entries(tmp_fd, "."), 1, "no temporary file left");
	cr_assert_eq(read_full_file_at(tmp_fd, "job.json", 100, &back, &len), 0);
	cr_assert_eq(len, 7);
	cr_assert_str_eq(back, "{\"a\":1}");
	cr_assert_eq(fstatat(tmp_fd, "job.json", &st, 0), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	free(back);
	back = NULL;

	/* Replacing: the new content, whole, and still one entry. */
	cr_assert_eq(write_file_atomic_at(tmp_fd, "job.json", "{}", 2, 0600), 0);
	cr_assert_eq(count_entries(tmp_fd, "."), 1);
	cr_assert_eq(read_full_file_at(tmp_fd, "job.json", 100, &back, &len), 0);
	cr_assert_str_eq(back, "{}");
	free(back);
	back = NULL;

	/* Empty content. */
	cr_assert_eq(write_file_atomic_at(tmp_fd, "empty", "", 0, 0600), 0);
	cr_assert_eq(read_full_file_at(tmp_fd, "empty", 100, &back, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(back, "");

	/* A failure leaves no temporary behind either. */
	cr_assert_eq(mkdirat(tmp_fd, "dir", 0700), 0);
	cr_assert_lt(write_file_atomic_at(tmp_fd, "dir", "x", 1, 0600), 0);
	cr_assert_eq(count_entries(tmp_fd, "."), 3);
}

static void make_file(int dfd, const char *name, size_t size)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	_cleanup_free_ char *buf = malloc(size ? size : 1);

	cr_assert_geq(fd, 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char) ('a' + i % 26);
	cr_assert_eq(write_all(fd, buf, size), 0);
}

Test(util, read_full_fd_limits)
{
	static const struct {
		size_t size, max;
		int result;
	} cases[] = {
		{ 0, 0, 0 },	     { 1, 0, -E2BIG },	     { 10, 10, 0 },
		{ 10, 9, -E2BIG },    { 4095, 4095, 0 },      { 4096, 4095, -E2BIG },
		{ 4096, 4096, 0 },    { 4097, 4096, -E2BIG }, { 100000, 100000, 0 },
		{ 100000, 99999, -E2BIG }, { 100000, 1 << 20, 0 }, { 10000, SIZE_MAX, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_close_ int fd = -EBADF;
		char *buf = NULL;
		size_t len = 0;

		make_file(tmp_fd, "f", cases[i].size);
		fd = openat(tmp_fd, "f", O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		cr_assert_eq(read_full_fd(fd, cases[i].max, &buf, &len), cases[i].result,
			     "size %zu max %zu", cases[i].size, cases[i].max);
		if (cases[i].result == 0) {
			cr_assert_eq(len, cases[i].size);
			cr_assert_eq(buf[len], 0, "NUL-terminated");
			cr_assert(len == 0 || buf[len - 1] == 'a' + (char) ((len - 1) % 26));
		} else {
			cr_assert_null(buf);
		}
		free(buf);
	}
	cr_assert_eq(read_full_file_at(tmp_fd, "missing", 10, &(char *){ NULL }, NULL), -ENOENT);
}

Test(util, pread_exact_short_file)
{
	_cleanup_close_ int fd = -EBADF;
	char buf[8];

	make_file(tmp_fd, "f", 10);
	fd = openat(tmp_fd, "f", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(pread_exact(fd, buf, 8, 2), 0);
	cr_assert_eq(memcmp(buf, "cdefghij", 8), 0);
	cr_assert_eq(pread_exact(fd, buf, 8, 3), -EBADMSG);
}

/* A marker as long as scan_fd lets a match look ahead: 0xaa, then 0xbb to the end. */
static bool whole_marker(const uint8_t *p, size_t left)
{
	if (left < SCAN_LOOKAHEAD || p[0] != 0xaa)
		return false;
	for (size_t i = 1; i < SCAN_LOOKAHEAD; i++)
		if (p[i] != 0xbb)
			return false;
	return true;
}

static void put_marker(int fd, off_t at, bool on)
{
	uint8_t m[SCAN_LOOKAHEAD];

	memset(m, on ? 0xbb : 0, sizeof(m));
	m[0] = on ? 0xaa : 0;
	cr_assert_eq(pwrite(fd, m, sizeof(m), at), (ssize_t) sizeof(m));
}

/* Every marker is found, wherever the chunks scan_fd reads it in split it. */
Test(util, scan_fd_across_chunks)
{
	const size_t size = 256 * 1024, chunk = 64 * 1024 - SCAN_LOOKAHEAD;
	_cleanup_close_ int fd = -EBADF;
	uint64_t at;

	make_file(tmp_fd, "scan", 0);
	fd = openat(tmp_fd, "scan", O_RDWR | O_CLOEXEC);
	cr_assert_eq(ftruncate(fd, (off_t) size), 0);
	cr_assert_eq(scan_fd(fd, 0, size, whole_marker, &at), 0);
	for (size_t edge = chunk; edge < 3 * chunk; edge += chunk)
		for (size_t p = edge - 2 * SCAN_LOOKAHEAD; p < edge + SCAN_LOOKAHEAD; p++) {
			put_marker(fd, (off_t) p, true);
			at = 0;
			cr_assert_eq(scan_fd(fd, 0, size, whole_marker, &at), 1, "marker at %zu", p);
			cr_assert_eq(at, p);
			/* Started past it, the scan must not find it. */
			cr_assert_eq(scan_fd(fd, p + 1, size, whole_marker, &at), 0);
			put_marker(fd, (off_t) p, false);
		}
	/* The last bytes of the range, and the first of two markers. */
	put_marker(fd, (off_t) (size - SCAN_LOOKAHEAD), true);
	cr_assert_eq(scan_fd(fd, 1000, size, whole_marker, &at), 1);
	cr_assert_eq(at, size - SCAN_LOOKAHEAD);
	put_marker(fd, 70000, true);
	cr_assert_eq(scan_fd(fd, 0, size, whole_marker, &at), 1);
	cr_assert_eq(at, 70000);
	/* A range the file does not hold reads as no match. */
	cr_assert_eq(scan_fd(fd, size, size + 4096, whole_marker, &at), 0);
}

Test(util, rm_rf_at)
{
	struct stat st;

	/* A tree with files, an empty dir, a deep dir, and symlinks out of it. */
	cr_assert_eq(mkdirat(tmp_fd, "outside", 0700), 0);
	make_file(tmp_fd, "outside/keep", 4);
	cr_assert_eq(mkdirat(tmp_fd, "t", 0700), 0);
	cr_assert_eq(mkdirat(tmp_fd, "t/empty", 0700), 0);
	cr_assert_eq(mkdirat(tmp_fd, "t/packs", 0700), 0);
	cr_assert_eq(mkdirat(tmp_fd, "t/packs/a", 0700), 0);
	cr_assert_eq(mkdirat(tmp_fd, "t/packs/a/b", 0700), 0);
	make_file(tmp_fd, "t/manifest.json", 10);
	make_file(tmp_fd, "t/packs/0000000000000001.pack", 100);
	make_file(tmp_fd, "t/packs/a/b/deep", 1);
	cr_assert_eq(symlinkat("../outside", tmp_fd, "t/dirlink"), 0);
	cr_assert_eq(symlinkat("../../outside/keep", tmp_fd, "t/packs/filelink"), 0);
	cr_assert_eq(mkfifoat(tmp_fd, "t/fifo", 0600), 0);

	cr_assert_eq(rm_rf_at(tmp_fd, "t"), 0);
	cr_assert_eq(fstatat(tmp_fd, "t", &st, AT_SYMLINK_NOFOLLOW), -1);
	cr_assert_eq(errno, ENOENT);
	/* Nothing reached through a symlink was touched. */
	cr_assert_eq(fstatat(tmp_fd, "outside/keep", &st, 0), 0);
	cr_assert_eq(st.st_size, 4);

	cr_assert_eq(rm_rf_at(tmp_fd, "t"), -ENOENT);

	/* A plain file and a symlink (removed itself, not its target). */
	make_file(tmp_fd, "file", 1);
	cr_assert_eq(rm_rf_at(tmp_fd, "file"), 0);
	cr_assert_eq(symlinkat("outside", tmp_fd, "link"), 0);
	cr_assert_eq(rm_rf_at(tmp_fd, "link"), 0);
	cr_assert_eq(fstatat(tmp_fd, "outside/keep", &st, 0), 0);
	cr_assert_eq(count_entries(tmp_fd, "."), 1);
}

Test(util, grow_array)
{
	_cleanup_free_ uint64_t *a = NULL;
	size_t allocated = 0;

	cr_assert_eq(GROW(a, allocated, 1), 0);
	cr_assert_geq(allocated, 1);
	for (size_t i = 0; i < allocated; i++)
		cr_assert_eq(a[i], 0);
	cr_assert_eq(GROW(a, allocated, 1000), 0);
	cr_assert_geq(allocated, 1000);
	for (size_t i = 0; i < allocated; i++)
		cr_assert_eq(a[i], 0, "zeroed at %zu", i);
	cr_assert_eq(GROW(a, allocated, SIZE_MAX / 4), -ENOMEM);
}
