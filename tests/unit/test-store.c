// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for daemon/store.c: real versions built the way the daemon builds
 * them (packs from pack_writer deduplicating against what is known, images
 * from image_writer with a real pages.idx; core.elf is a placeholder, which
 * the store never decodes), then numbering, latest, verification, retention
 * with its pack deletion and hole punching, and start-up cleanup. Each test
 * works in its own state directory under /tmp.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "page-index.h"
#include "store.h"
#include "util.h"

#define N_PAGES 256 /* four frames */

static char state_path[64];
static int state_fd = -EBADF, job_fd = -EBADF;

static void setup(void)
{
	strcpy(state_path, "/tmp/ckptd-test-store-XXXXXX");
	cr_assert_not_null(mkdtemp(state_path));
	state_fd = open(state_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(state_fd, 0);
	cr_assert_eq(store_open_job(state_fd, "web", /* create= */ true, &job_fd), 0);
}

static void teardown(void)
{
	if (job_fd >= 0)
		(void) close(job_fd);
	if (state_fd >= 0)
		(void) close(state_fd);
	job_fd = state_fd = -EBADF;
	(void) rm_rf_at(AT_FDCWD, state_path);
}

TestSuite(store, .init = setup, .fini = teardown);

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Incompressible pages, unique per seed: frames are stored raw, so sizes are predictable. */
static void fill_random(uint8_t *buf, size_t n_pages, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < n_pages * PAGE_SIZE / 8; i++) {
		uint64_t v = rng_next(&s);

		memcpy(buf + i * 8, &v, 8);
	}
}

static uint8_t *pages_alloc(size_t n)
{
	uint8_t *p = calloc(n, PAGE_SIZE);

	cr_assert_not_null(p);
	return p;
}

static int versions_open(void)
{
	int fd = openat(job_fd, "versions", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	return fd;
}

/*
 * Snapshots pages as version number: a pack with the pages known does not
 * hold (its id the version's number, as the daemon does), then the image.
 * Returns how many pages the pack stored.
 */
static uint64_t make_version(uint64_t number, const uint8_t *pages, size_t n,
			     struct page_hash_index *known)
{
	_cleanup_(pack_writer_freep) struct pack_writer *pw = NULL;
	_cleanup_(image_writer_freep) struct image_writer *iw = NULL;
	_cleanup_(page_index_freep) struct page_index *pi = NULL;
	_cleanup_(image_manifest_freep) struct image_manifest *m = new0(struct image_manifest, 1);
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	_cleanup_free_ void *idx_buf = NULL;
	_cleanup_close_ int versions_fd = versions_open();
	static const char core[] = "core.elf placeholder: the store does not decode it\n";
	char name[STORE_VERSION_NAME_MAX];
	struct pack_stats st;
	uint32_t stream;
	size_t idx_len;
	bool created;

	cr_assert_not_null(m);
	cr_assert_not_null(refs);
	cr_assert_eq(pack_writer_new(job_fd, number, known, 3, &pw), 0);
	for (size_t i = 0; i < n; i += 50)
		cr_assert_eq(pack_writer_add(pw, pages + i * PAGE_SIZE, MIN((size_t) 50, n - i),
					     refs + i),
			     0);
	cr_assert_eq(pack_writer_finish(pw, &created, &st), 0);

	cr_assert_eq(page_index_new(&pi), 0);
	cr_assert_eq(page_index_add_stream(pi, &stream), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(page_index_add_page(pi, stream, i, &refs[i]), 0);
	cr_assert_eq(page_index_encode(pi, &idx_buf, &idx_len), 0);

	cr_assert_eq(image_writer_new(versions_fd, store_version_name(number, name), &iw), 0);
	cr_assert_eq(image_writer_add(iw, IMAGE_CORE, core, sizeof(core) - 1), 0);
	cr_assert_eq(image_writer_add(iw, IMAGE_PAGES, idx_buf, idx_len), 0);
	m->format = IMAGE_FORMAT_BASE;
	m->tool_version = strdup("test");
	m->created_ns = number * 1000;
	m->pid = 4242;
	m->comm = strdup("sim");
	m->store = IMAGE_STORE_JOB;
	m->stats.pages = n;
	m->stats.pages_stored = st.pages_stored;
	m->stats.bytes_written = st.bytes_stored;
	m->stats.freeze_ns = number * 10;
	m->stats.wall_ns = number * 20;
	m->packs = calloc(MAX(pi->n_packs, (size_t) 1), sizeof(uint64_t));
	cr_assert_not_null(m->packs);
	memcpy(m->packs, pi->packs, pi->n_packs * sizeof(uint64_t));
	m->n_packs = pi->n_packs;
	cr_assert_eq(image_writer_commit(iw, m), 0);
	return st.pages_stored;
}

/* Reads every page of a version through its pages.idx and the packs, hashes checked. */
static void assert_version_reads(uint64_t number, const uint8_t *pages, size_t n)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_(page_index_freep) struct page_index *pi = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ void *buf = NULL;
	_cleanup_free_ uint8_t *out = pages_alloc(PACK_PAGES_PER_FRAME * 4);
	_cleanup_close_ int versions_fd = versions_open();
	char name[STORE_VERSION_NAME_MAX];
	uint64_t seen = 0;
	size_t len;

	store_version_name(number, name);
	cr_assert_eq(image_open(versions_fd, name, &img, &error), 0, "%s: %s", name, error);
	cr_assert_eq(image_read_file(img, IMAGE_PAGES, SIZE_MAX, &buf, &len, &error), 0);
	cr_assert_eq(page_index_decode(buf, len, &pi), 0);
	cr_assert_eq(pi->n_streams, 1);
	for (size_t i = 0; i < pi->streams[0].n_extents; i++) {
		const struct page_extent *e = &pi->streams[0].extents[i];
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;

		cr_assert_neq(e->pack, PAGE_INDEX_ZERO);
		cr_assert_eq(pack_reader_open(job_fd, pi->packs[e->pack], &r), 0);
		for (uint32_t done = 0; done < e->n_pages;) {
			size_t k = MIN((size_t) (e->n_pages - done), (size_t) PACK_PAGES_PER_FRAME * 4);

			cr_assert_eq(pack_reader_read(r, e->ordinal + done, k, out), 0,
				     "version %s: %s", name, pack_reader_error(r));
			cr_assert_eq(memcmp(out, pages + (e->first_page + done) * PAGE_SIZE,
					    k * PAGE_SIZE),
				     0, "version %s, page %" PRIu64, name, e->first_page + done);
			done += (uint32_t) k;
		}
		seen += e->n_pages;
	}
	cr_assert_eq(seen, n);
}

static void assert_versions(const uint64_t *want, size_t n_want)
{
	_cleanup_free_ uint64_t *got = NULL;
	size_t n;

	cr_assert_eq(store_list_versions(job_fd, &got, &n), 0);
	cr_assert_eq(n, n_want, "%zu versions, want %zu", n, n_want);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "version %zu is %" PRIu64, i, got[i]);
}

static uint64_t latest(void)
{
	uint64_t v = 0;

	cr_assert_eq(store_get_latest(job_fd, &v), 0);
	return v;
}

static uint64_t next_version(void)
{
	uint64_t v = 0;

	cr_assert_eq(store_next_version(job_fd, &v), 0);
	return v;
}

static bool exists(int dfd, const char *path)
{
	struct stat st;

	return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool pack_exists(uint64_t id)
{
	char path[PACK_PATH_MAX];

	return exists(job_fd, pack_path(id, path));
}

static struct stat pack_stat(uint64_t id)
{
	char path[PACK_PATH_MAX];
	struct stat st;

	cr_assert_eq(fstatat(job_fd, pack_path(id, path), &st, 0), 0);
	return st;
}

static void touch(int dfd, const char *path)
{
	_cleanup_close_ int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %m", path);
	cr_assert_eq(write_all(fd, "x", 1), 0);
}

static void flip_byte(const char *path, off_t offset)
{
	_cleanup_close_ int fd = openat(job_fd, path, O_RDWR | O_CLOEXEC);
	uint8_t b;

	cr_assert_geq(fd, 0, "%s: %m", path);
	cr_assert_eq(pread(fd, &b, 1, offset), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, offset), 1);
}

static size_t count_entries(int dfd, const char *path)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	size_t n = 0;

	cr_assert_eq(opendir_at(dfd, path, 0, &d), 0);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	return n;
}

/* Five versions of 256 pages, each changing some pages of the one before. */
struct history {
	uint8_t *pages[6]; /* [1..5] */
	uint64_t stored[6];
};

static void history_make(struct history *h, struct page_hash_index *known)
{
	static const struct {
		size_t first, n;
	} changes[] = {
		[2] = {0, 32},	  /* pack 2: all of it replaced again by version 3 */
		[3] = {0, 64},	  /* pack 1 frame 0 now unused */
		[4] = {200, 10},  /* pack 1 frame 3 stays used for its other pages */
		[5] = {64, 64},	  /* pack 1 frame 1 used by version 4 only */
	};

	for (uint64_t v = 1; v <= 5; v++) {
		h->pages[v] = pages_alloc(N_PAGES);
		if (v == 1)
			fill_random(h->pages[v], N_PAGES, 1);
		else {
			memcpy(h->pages[v], h->pages[v - 1], N_PAGES * PAGE_SIZE);
			fill_random(h->pages[v] + changes[v].first * PAGE_SIZE, changes[v].n, v);
		}
		cr_assert_eq(next_version(), v);
		h->stored[v] = make_version(v, h->pages[v], N_PAGES, known);
		cr_assert_eq(store_set_latest(job_fd, v), 0);
	}
	cr_assert_eq(h->stored[1], N_PAGES);
	for (uint64_t v = 2; v <= 5; v++)
		cr_assert_eq(h->stored[v], changes[v].n, "version %" PRIu64 " deduplicates", v);
}

static void history_free(struct history *h)
{
	for (size_t i = 0; i < ELEMENTSOF(h->pages); i++)
		free(h->pages[i]);
}

Test(store, version_names)
{
	char buf[STORE_VERSION_NAME_MAX];

	cr_assert_str_eq(store_version_name(7, buf), "000007");
	cr_assert_str_eq(store_version_name(0, buf), "000000");
	cr_assert_str_eq(store_version_name(1234567, buf), "1234567");
	cr_assert_str_eq(store_version_name(UINT64_MAX, buf), "18446744073709551615");
}

Test(store, open_job_creates_private_directories)
{
	static const char *const dirs[] = {"jobs", "jobs/web", "jobs/web/versions",
					   "jobs/web/packs"};
	_cleanup_close_ int again = -EBADF;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		struct stat st;

		cr_assert_eq(fstatat(state_fd, dirs[i], &st, AT_SYMLINK_NOFOLLOW), 0, "%s", dirs[i]);
		cr_assert(S_ISDIR(st.st_mode));
		cr_assert_eq(st.st_mode & 077, 0, "%s is mode %o", dirs[i], st.st_mode & 07777);
	}
	cr_assert_eq(store_open_job(state_fd, "web", /* create= */ false, &again), 0);
	cr_assert_eq(fcntl(again, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	cr_assert_eq(store_open_job(state_fd, "db", /* create= */ false, &again), -ENOENT);

	/* A symlink in place of a job is never followed. */
	cr_assert_eq(symlinkat("web", state_fd, "jobs/link"), 0);
	cr_assert_lt(store_open_job(state_fd, "link", /* create= */ false, &again), 0);
	cr_assert_lt(store_open_job(state_fd, "link", /* create= */ true, &again), 0);
}

Test(store, invalid_job_names)
{
	static const char *const names[] = {
		"",  ".", "..", "a/b", ".hidden", "x y", "tab\t", "del\x7f", "\xc3\xa9",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	int fd = -EBADF;

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		cr_assert_eq(store_open_job(state_fd, names[i], true, &fd), -EINVAL, "\"%s\"",
			     names[i]);
		cr_assert_eq(store_open_job(state_fd, names[i], false, &fd), -EINVAL);
		cr_assert_eq(store_remove_job(state_fd, names[i]), -EINVAL);
	}
	cr_assert_eq(fd, -EBADF);
	cr_assert_eq(store_remove_job(state_fd, NULL), -EINVAL);
	cr_assert_eq(count_entries(state_fd, "jobs"), 1, "only \"web\"");
	cr_assert(exists(state_fd, "jobs/web/versions"), "\"..\" must not have removed anything");
}

Test(store, remove_job)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(8);
	_cleanup_close_ int other = -EBADF;
	int web = job_fd;

	cr_assert_eq(store_open_job(state_fd, "db", true, &other), 0);
	fill_random(pages, 8, 3);
	job_fd = other;
	make_version(1, pages, 8, NULL);
	cr_assert_eq(store_set_latest(job_fd, 1), 0);
	job_fd = web;

	cr_assert_eq(store_remove_job(state_fd, "db"), 0);
	cr_assert_not(exists(state_fd, "jobs/db"));
	cr_assert_eq(count_entries(state_fd, "jobs"), 1, "no leftovers beside \"web\"");
	cr_assert_eq(store_open_job(state_fd, "db", false, &other), -ENOENT);
	cr_assert_eq(store_remove_job(state_fd, "db"), -ENOENT);
	cr_assert(exists(state_fd, "jobs/web/versions"));

	/* What a crash in the middle of a removal left is removed with the next one. */
	cr_assert_eq(mkdirat(state_fd, "jobs/.old.removing-1", 0700), 0);
	touch(state_fd, "jobs/.old.removing-1/file");
	cr_assert_eq(store_remove_job(state_fd, "web"), 0);
	cr_assert_eq(count_entries(state_fd, "jobs"), 0);
}

Test(store, list_next_and_latest_round_trip)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(16);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_free_ uint64_t *list = NULL;
	char target[64];
	ssize_t n;
	size_t count = 99;
	uint64_t v;

	cr_assert_eq(store_list_versions(job_fd, &list, &count), 0);
	cr_assert_eq(count, 0);
	cr_assert_eq(next_version(), 1);
	cr_assert_eq(store_get_latest(job_fd, &v), -ENOENT);

	cr_assert_eq(page_hash_index_new(&known), 0);
	fill_random(pages, 16, 1);
	make_version(next_version(), pages, 16, known);
	cr_assert_eq(store_set_latest(job_fd, 1), 0);
	cr_assert_eq(latest(), 1);
	fill_random(pages, 4, 2);
	make_version(next_version(), pages, 16, known);
	assert_versions((uint64_t[]){1, 2}, 2);
	cr_assert_eq(latest(), 1, "latest moves only when told");
	cr_assert_eq(store_set_latest(job_fd, 2), 0);
	cr_assert_eq(latest(), 2);
	n = readlinkat(job_fd, "latest", target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = 0;
	cr_assert_str_eq(target, "versions/000002");
	cr_assert_eq(next_version(), 3);
	cr_assert_eq(count_entries(job_fd, "."), 3, "versions, packs, latest; no temporaries");

	/* Only a committed version can be latest. */
	cr_assert_eq(store_set_latest(job_fd, 7), -ENOENT);
	cr_assert_eq(latest(), 2);

	/* Entries that are not committed versions are not listed. */
	cr_assert_eq(mkdirat(job_fd, "versions/foo", 0700), 0);
	cr_assert_eq(mkdirat(job_fd, "versions/0000003", 0700), 0); /* not how we spell 3 */
	cr_assert_eq(mkdirat(job_fd, "versions/12345", 0700), 0);   /* too short */
	cr_assert_eq(mkdirat(job_fd, "versions/.000004", 0700), 0);
	cr_assert_eq(symlinkat("000001", job_fd, "versions/000005"), 0);
	assert_versions((uint64_t[]){1, 2}, 2);
	/* ...but a number that anything took is never given out again. */
	cr_assert_eq(next_version(), 6);
	touch(job_fd, "versions/000009");
	assert_versions((uint64_t[]){1, 2}, 2);
	cr_assert_eq(next_version(), 10);

	/* latest pointing anywhere but at a version. */
	static const char *const bad[] = {"/etc", "versions/foo", "versions/0000002",
					  "versions/000001/../000002", "../web/versions/000002",
					  "versions/000002/"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(unlinkat(job_fd, "latest", 0), 0);
		cr_assert_eq(symlinkat(bad[i], job_fd, "latest"), 0);
		cr_assert_eq(store_get_latest(job_fd, &v), -EBADMSG, "%s", bad[i]);
	}
	cr_assert_eq(unlinkat(job_fd, "latest", 0), 0);
	touch(job_fd, "latest");
	cr_assert_eq(store_get_latest(job_fd, &v), -EBADMSG, "a regular file");
	cr_assert_eq(store_set_latest(job_fd, 1), 0, "replaces whatever was there");
	cr_assert_eq(latest(), 1);
}

Test(store, next_version_after_a_crash)
{
	_cleanup_free_ uint8_t *v1 = pages_alloc(8), *v2 = pages_alloc(8), *other = pages_alloc(8);

	fill_random(v1, 8, 1);
	make_version(1, v1, 8, NULL);
	fill_random(v2, 8, 2);
	make_version(2, v2, 8, NULL);
	cr_assert_eq(store_set_latest(job_fd, 2), 0);

	/* A snapshot died while writing version 7; another had begun pack 9. */
	cr_assert_eq(mkdirat(job_fd, "versions/.000007.tmp-999", 0700), 0);
	touch(job_fd, "versions/.000007.tmp-999/core.elf");
	assert_versions((uint64_t[]){1, 2}, 2);
	cr_assert_eq(next_version(), 8);
	touch(job_fd, "packs/0000000000000009.pack.tmp-999");
	cr_assert_eq(next_version(), 10);
	/* And a finished pack whose version never committed. */
	fill_random(other, 8, 3);
	{
		_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
		struct page_ref refs[8];

		cr_assert_eq(pack_writer_new(job_fd, 12, NULL, 1, &w), 0);
		cr_assert_eq(pack_writer_add(w, other, 8, refs), 0);
		cr_assert_eq(pack_writer_finish(w, NULL, NULL), 0);
	}
	cr_assert_eq(next_version(), 13);

	/* Start-up removes all three: no committed version used those numbers. */
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_not(exists(job_fd, "versions/.000007.tmp-999"));
	cr_assert_not(exists(job_fd, "packs/0000000000000009.pack.tmp-999"));
	cr_assert_not(pack_exists(12));
	cr_assert_eq(next_version(), 3);
	cr_assert_eq(latest(), 2);
	assert_version_reads(1, v1, 8);
	assert_version_reads(2, v2, 8);
}

static uint64_t file_size_at(int dfd, const char *path)
{
	struct stat st;

	cr_assert_eq(fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW), 0, "%s", path);
	return (uint64_t) st.st_size;
}

Test(store, version_info_of_good_and_damaged_versions)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_free_ uint8_t *pages = pages_alloc(N_PAGES);
	struct store_version v = {};
	uint64_t files;
	struct stat st;

	cr_assert_eq(page_hash_index_new(&known), 0);
	fill_random(pages, N_PAGES, 1);
	make_version(1, pages, N_PAGES, known);
	fill_random(pages, 10, 2);
	make_version(2, pages, N_PAGES, known);
	fill_random(pages, 10, 3);
	make_version(3, pages, N_PAGES, known);
	fill_random(pages, 10, 4);
	make_version(4, pages, N_PAGES, known);

	cr_assert_eq(store_version_info(job_fd, 2, &v), 0);
	cr_assert(v.ok);
	cr_assert_null(v.reason);
	cr_assert_eq(v.number, 2);
	cr_assert_eq(v.created_ns, 2000);
	cr_assert_eq(v.pages, N_PAGES);
	cr_assert_eq(v.freeze_ns, 20);
	cr_assert_eq(v.wall_ns, 40);
	/* Its own files and its own (small) pack, not the big pack 1 it mostly uses. */
	files = file_size_at(job_fd, "versions/000002/" IMAGE_MANIFEST) +
		file_size_at(job_fd, "versions/000002/" IMAGE_CORE) +
		file_size_at(job_fd, "versions/000002/" IMAGE_PAGES);
	st = pack_stat(2);
	cr_assert_eq(v.size, files + MIN((uint64_t) st.st_size, (uint64_t) st.st_blocks * 512));
	cr_assert_gt(v.size, files + 10 * PAGE_SIZE);
	cr_assert_lt(v.size, 20 * PAGE_SIZE + files);
	store_version_done(&v);
	store_version_done(&v); /* twice is fine */

	/* A flipped byte in core.elf: not ok, says which file; the manifest still tells. */
	flip_byte("versions/000002/" IMAGE_CORE, 3);
	cr_assert_eq(store_version_info(job_fd, 2, &v), 0);
	cr_assert_not(v.ok);
	cr_assert_not_null(v.reason);
	cr_assert(strstr(v.reason, IMAGE_CORE), "reason: %s", v.reason);
	cr_assert(strstr(v.reason, "checksum"), "reason: %s", v.reason);
	cr_assert_eq(v.pages, N_PAGES);
	cr_assert_eq(v.created_ns, 2000);
	store_version_done(&v);

	/* A flipped byte in the manifest. */
	flip_byte("versions/000003/" IMAGE_MANIFEST, 40);
	cr_assert_eq(store_version_info(job_fd, 3, &v), 0);
	cr_assert_not(v.ok);
	cr_assert(strstr(v.reason, IMAGE_MANIFEST), "reason: %s", v.reason);
	store_version_done(&v);

	/* A pack it lists is gone. */
	cr_assert_eq(unlinkat(job_fd, "packs/0000000000000004.pack", 0), 0);
	cr_assert_eq(store_version_info(job_fd, 4, &v), 0);
	cr_assert_not(v.ok);
	cr_assert(strstr(v.reason, "0000000000000004.pack is missing"), "reason: %s", v.reason);
	store_version_done(&v);

	/* The others are unaffected; a version that does not exist is an error. */
	cr_assert_eq(store_version_info(job_fd, 1, &v), 0);
	cr_assert(v.ok);
	store_version_done(&v);
	cr_assert_eq(store_version_info(job_fd, 5, &v), -ENOENT);
}

/* Every hash known must lead to a page that reads back with that content. */
static void assert_known_is_readable(const struct page_hash_index *known, const uint8_t *pages,
				     size_t n, size_t *ret_found)
{
	_cleanup_free_ uint8_t *out = pages_alloc(1);

	for (size_t i = 0; i < n; i++) {
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
		struct page_hash h;
		struct page_ref ref;

		page_hash_compute(pages + i * PAGE_SIZE, &h);
		if (!page_hash_index_lookup(known, &h, &ref))
			continue;
		(*ret_found)++;
		cr_assert_eq(pack_reader_open(job_fd, ref.pack_id, &r), 0,
			     "page %zu: pack %" PRIu64, i, ref.pack_id);
		cr_assert_eq(pack_reader_read(r, ref.ordinal, 1, out), 0,
			     "page %zu: pack %" PRIu64 " ordinal %" PRIu64 ": %s", i, ref.pack_id,
			     ref.ordinal, pack_reader_error(r));
		cr_assert_eq(memcmp(out, pages + i * PAGE_SIZE, PAGE_SIZE), 0);
	}
}

static bool known_has(const struct page_hash_index *known, const uint8_t *page,
		      struct page_ref *ret)
{
	struct page_hash h;

	page_hash_compute(page, &h);
	return page_hash_index_lookup(known, &h, ret);
}

Test(store, load_known_indexes_what_versions_use)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL, *loaded = NULL;
	_cleanup_free_ uint8_t *v1 = pages_alloc(200), *v2 = pages_alloc(200);
	struct page_ref ref;
	size_t found = 0;

	cr_assert_eq(page_hash_index_new(&known), 0);
	fill_random(v1, 200, 1);
	cr_assert_eq(make_version(1, v1, 200, known), 200);
	memcpy(v2, v1, 200 * PAGE_SIZE);
	fill_random(v2 + 50 * PAGE_SIZE, 10, 2);
	cr_assert_eq(make_version(2, v2, 200, known), 10);

	/* What a restarted daemon rebuilds is what the running one had. */
	cr_assert_eq(page_hash_index_new(&loaded), 0);
	cr_assert_eq(store_load_known(job_fd, loaded), 0);
	cr_assert_eq(page_hash_index_size(loaded), 210);
	assert_known_is_readable(loaded, v1, 200, &found);
	assert_known_is_readable(loaded, v2, 200, &found);
	cr_assert_eq(found, 400);
	cr_assert(known_has(loaded, v2 + 50 * PAGE_SIZE, &ref));
	cr_assert(ref.pack_id == 2 && ref.ordinal == 0);
	cr_assert(known_has(loaded, v1 + 50 * PAGE_SIZE, &ref));
	cr_assert(ref.pack_id == 1 && ref.ordinal == 50);

	/* A pack left by no version is not offered; nor is one that does not verify. */
	{
		_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
		_cleanup_free_ uint8_t *stray = pages_alloc(4);
		_cleanup_(page_hash_index_freep) struct page_hash_index *again = NULL;
		struct page_ref refs[4];
		uint64_t size = file_size_at(job_fd, "packs/0000000000000002.pack");

		fill_random(stray, 4, 9);
		cr_assert_eq(pack_writer_new(job_fd, 3, NULL, 1, &w), 0);
		cr_assert_eq(pack_writer_add(w, stray, 4, refs), 0);
		cr_assert_eq(pack_writer_finish(w, NULL, NULL), 0);
		flip_byte("packs/0000000000000002.pack", (off_t) size - 70); /* in the hashes */

		cr_assert_eq(page_hash_index_new(&again), 0);
		cr_assert_eq(store_load_known(job_fd, again), 0);
		cr_assert_eq(page_hash_index_size(again), 200);
		cr_assert_not(known_has(again, stray, &ref));
		cr_assert_not(known_has(again, v2 + 50 * PAGE_SIZE, &ref));
	}
}

Test(store, retain_removes_old_versions_and_their_page_data)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL, *loaded = NULL;
	_cleanup_free_ uint8_t *v6 = NULL;
	struct history h = {};
	uint64_t freed = 0, pack1_before, pack2_size, size_before, size_after;
	struct page_ref ref;
	size_t found = 0;
	struct stat st;

	cr_assert_eq(page_hash_index_new(&known), 0);
	history_make(&h, known);
	cr_assert_eq(latest(), 5);
	for (uint64_t v = 1; v <= 5; v++)
		cr_assert(pack_exists(v));
	st = pack_stat(1);
	pack1_before = (uint64_t) st.st_blocks * 512;
	pack2_size = (uint64_t) pack_stat(2).st_blocks * 512;
	cr_assert_eq(store_job_size(job_fd, &size_before), 0);

	cr_assert_eq(store_retain(job_fd, 0, &freed), -EINVAL);
	cr_assert_eq(store_retain(job_fd, 2, &freed), 0);

	/* Exactly the oldest three are gone, with nothing left behind in versions/. */
	assert_versions((uint64_t[]){4, 5}, 2);
	cr_assert_eq(count_entries(job_fd, "versions"), 2);
	cr_assert_eq(latest(), 5);

	/* Pack 2 served versions 2 and 3 only; the others are still used. */
	cr_assert_not(pack_exists(2));
	for (uint64_t v = 1; v <= 5; v++)
		if (v != 2)
			cr_assert(pack_exists(v), "pack %" PRIu64, v);
	cr_assert_eq(count_entries(job_fd, "packs"), 4);

	/* In pack 1, frame 0 (ordinals 0-63) only served versions 1-3: punched, and only it. */
	st = pack_stat(1);
	cr_assert_leq((uint64_t) st.st_blocks * 512 + PACK_PAGES_PER_FRAME * PAGE_SIZE,
		      pack1_before);
	cr_assert_geq((uint64_t) st.st_blocks * 512 + (PACK_PAGES_PER_FRAME + 2) * PAGE_SIZE,
		      pack1_before);
	{
		_cleanup_close_ int fd = openat(job_fd, "packs/0000000000000001.pack",
						O_RDONLY | O_CLOEXEC);

		cr_assert_geq(fd, 0);
		/* Frame 1 starts after frame 0's header and raw pages, rounded up to 4096. */
		cr_assert_eq(lseek(fd, 4096, SEEK_DATA),
			     4096 + ALIGN_TO(32 + PACK_PAGES_PER_FRAME * PAGE_SIZE, 4096));
	}

	/* What was reported is what the job's directory shrank by. */
	cr_assert_eq(store_job_size(job_fd, &size_after), 0);
	cr_assert_eq(freed, size_before - size_after);
	cr_assert_geq(freed, pack2_size + PACK_PAGES_PER_FRAME * PAGE_SIZE);

	/* Every page of every kept version reads back, hashes checked. */
	assert_version_reads(4, h.pages[4], N_PAGES);
	assert_version_reads(5, h.pages[5], N_PAGES);

	/*
	 * Deduplication from now on only offers pages that are there: whatever
	 * content of any version, old ones included, is found reads back right.
	 */
	cr_assert_eq(page_hash_index_new(&loaded), 0);
	cr_assert_eq(store_load_known(job_fd, loaded), 0);
	for (uint64_t v = 1; v <= 5; v++)
		assert_known_is_readable(loaded, h.pages[v], N_PAGES, &found);
	cr_assert_not(known_has(loaded, h.pages[1], &ref), "pack 1 ordinal 0 is punched");
	cr_assert_not(known_has(loaded, h.pages[2], &ref), "pack 2 is gone");
	cr_assert_not(known_has(loaded, h.pages[1] + 200 * PAGE_SIZE, &ref),
		      "pack 1 ordinal 200 is used by no version");
	cr_assert(known_has(loaded, h.pages[1] + 64 * PAGE_SIZE, &ref), "version 4 uses it");
	cr_assert(ref.pack_id == 1 && ref.ordinal == 64);

	/*
	 * Version 1's content again: the pages whose frames went, and those no
	 * kept version uses, are stored anew rather than referred to.
	 */
	v6 = pages_alloc(N_PAGES);
	memcpy(v6, h.pages[1], N_PAGES * PAGE_SIZE);
	cr_assert_eq(next_version(), 6);
	cr_assert_eq(make_version(6, v6, N_PAGES, loaded), PACK_PAGES_PER_FRAME + 10);
	cr_assert_eq(store_set_latest(job_fd, 6), 0);
	assert_version_reads(6, v6, N_PAGES);
	assert_version_reads(5, h.pages[5], N_PAGES);

	/* Again, keeping one: version 6 uses pack 6 and pack 1's frames 1-3, nothing else. */
	cr_assert_eq(store_retain(job_fd, 1, &freed), 0);
	assert_versions((uint64_t[]){6}, 1);
	cr_assert(pack_exists(1) && pack_exists(6));
	cr_assert_eq(count_entries(job_fd, "packs"), 2);
	assert_version_reads(6, v6, N_PAGES);
	cr_assert_eq(store_retain(job_fd, 1, &freed), 0);
	cr_assert_eq(freed, 0, "nothing left to free");
	history_free(&h);
}

Test(store, retain_never_removes_latest)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(8);
	uint64_t freed;

	for (uint64_t v = 1; v <= 3; v++) {
		fill_random(pages, 8, v);
		make_version(v, pages, 8, NULL);
	}
	/* A snapshot being written has finished its pack, but not yet committed. */
	fill_random(pages, 8, 4);
	{
		_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
		struct page_ref refs[8];

		cr_assert_eq(pack_writer_new(job_fd, 4, NULL, 1, &w), 0);
		cr_assert_eq(pack_writer_add(w, pages, 8, refs), 0);
		cr_assert_eq(pack_writer_finish(w, NULL, NULL), 0);
	}
	cr_assert_eq(store_set_latest(job_fd, 1), 0);
	cr_assert_eq(store_retain(job_fd, 2, &freed), 0);
	assert_versions((uint64_t[]){1, 2, 3}, 3);
	cr_assert(pack_exists(4), "retention leaves packs above the newest version alone");
	cr_assert_eq(store_retain(job_fd, 1, &freed), 0);
	assert_versions((uint64_t[]){1, 3}, 2);
	cr_assert_eq(latest(), 1);
	cr_assert(pack_exists(1) && !pack_exists(2) && pack_exists(3));
	cr_assert_eq(store_set_latest(job_fd, 3), 0);
	cr_assert_eq(store_retain(job_fd, 1, &freed), 0);
	assert_versions((uint64_t[]){3}, 1);
	fill_random(pages, 8, 3);
	assert_version_reads(3, pages, 8);
	cr_assert(pack_exists(4));
	/* At start-up nothing is being written: it is a leftover. */
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_not(pack_exists(4));
	cr_assert(pack_exists(3));
}

Test(store, retain_keeps_whole_what_a_damaged_version_may_use)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	struct history h = {};
	uint64_t freed, blocks;

	cr_assert_eq(page_hash_index_new(&known), 0);
	history_make(&h, known);
	blocks = (uint64_t) pack_stat(1).st_blocks;
	/* Version 4's pages.idx is damaged: which pages it uses is unknown. */
	flip_byte("versions/000004/" IMAGE_PAGES, 40);
	cr_assert_eq(store_retain(job_fd, 2, &freed), 0);
	assert_versions((uint64_t[]){4, 5}, 2);
	cr_assert_eq((uint64_t) pack_stat(1).st_blocks, blocks, "pack 1 is not punched");
	cr_assert_not(pack_exists(2), "no kept version lists pack 2");
	assert_version_reads(5, h.pages[5], N_PAGES);

	/* Its manifest too: nothing at all is freed while it exists. */
	flip_byte("versions/000004/" IMAGE_MANIFEST, 40);
	cr_assert_eq(rm_rf_at(job_fd, "versions/000005"), 0);
	cr_assert_eq(store_set_latest(job_fd, 4), 0);
	cr_assert_eq(store_retain(job_fd, 2, &freed), 0);
	cr_assert(pack_exists(5), "version 4 might use it");
	cr_assert_eq((uint64_t) pack_stat(1).st_blocks, blocks);
	history_free(&h);
}

/* A copy of every file under versions/<name> and of the listed packs, to compare later. */
struct file_copy {
	char path[128];
	char *data;
	size_t len;
};

static size_t snapshot_files(const char *const *paths, size_t n, struct file_copy *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out[i].path, sizeof(out[i].path), "%s", paths[i]);
		cr_assert_eq(read_full_file_at(job_fd, paths[i], SIZE_MAX / 2, &out[i].data,
					       &out[i].len),
			     0, "%s", paths[i]);
	}
	return n;
}

static void assert_files_unchanged(struct file_copy *copies, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *now = NULL;
		size_t len;

		cr_assert_eq(read_full_file_at(job_fd, copies[i].path, SIZE_MAX / 2, &now, &len), 0,
			     "%s", copies[i].path);
		cr_assert_eq(len, copies[i].len, "%s", copies[i].path);
		cr_assert_eq(memcmp(now, copies[i].data, len), 0, "%s changed", copies[i].path);
		free(copies[i].data);
	}
}

Test(store, cleanup_removes_leftovers_and_repairs_latest)
{
	static const char *const good[] = {
		"versions/000001/" IMAGE_MANIFEST, "versions/000001/" IMAGE_CORE,
		"versions/000001/" IMAGE_PAGES,	   "versions/000002/" IMAGE_MANIFEST,
		"versions/000002/" IMAGE_CORE,	   "versions/000002/" IMAGE_PAGES,
		"packs/0000000000000001.pack",	   "packs/0000000000000002.pack",
	};
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_free_ uint8_t *v1 = pages_alloc(N_PAGES), *v2 = pages_alloc(N_PAGES),
			       *v3 = pages_alloc(N_PAGES);
	struct file_copy copies[ELEMENTSOF(good)];
	uint64_t v;

	cr_assert_eq(page_hash_index_new(&known), 0);
	fill_random(v1, N_PAGES, 1);
	make_version(1, v1, N_PAGES, known);
	memcpy(v2, v1, N_PAGES * PAGE_SIZE);
	fill_random(v2, 20, 2);
	make_version(2, v2, N_PAGES, known);
	memcpy(v3, v2, N_PAGES * PAGE_SIZE);
	fill_random(v3 + 100 * PAGE_SIZE, 20, 3);
	make_version(3, v3, N_PAGES, known);
	cr_assert_eq(store_set_latest(job_fd, 3), 0);

	/* A crash left all of these. */
	cr_assert_eq(mkdirat(job_fd, "versions/.000004.tmp-999", 0700), 0);
	touch(job_fd, "versions/.000004.tmp-999/" IMAGE_CORE);
	cr_assert_eq(mkdirat(job_fd, "versions/.000001.tmp-998", 0700), 0); /* a removal's */
	touch(job_fd, "packs/0000000000000004.pack.tmp-999");
	cr_assert_eq(symlinkat("versions/000002", job_fd, ".latest.tmp-999"), 0);
	{
		_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
		struct page_ref refs[4];

		cr_assert_eq(pack_writer_new(job_fd, 42, NULL, 1, &w), 0);
		cr_assert_eq(pack_writer_add(w, v3 + 100 * PAGE_SIZE, 4, refs), 0);
		cr_assert_eq(pack_writer_finish(w, NULL, NULL), 0);
	}
	/* And the newest version is damaged. */
	flip_byte("versions/000003/" IMAGE_CORE, 0);
	snapshot_files(good, ELEMENTSOF(good), copies);

	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_eq(count_entries(job_fd, "versions"), 3, "only the committed versions");
	assert_versions((uint64_t[]){1, 2, 3}, 3);
	cr_assert_not(exists(job_fd, "packs/0000000000000004.pack.tmp-999"));
	cr_assert_not(exists(job_fd, ".latest.tmp-999"));
	cr_assert_not(pack_exists(42), "no version uses it");
	cr_assert(pack_exists(3), "damaged version 3 lists it: kept");
	cr_assert_eq(count_entries(job_fd, "packs"), 3);
	cr_assert_eq(latest(), 2, "the newest intact version");
	assert_files_unchanged(copies, ELEMENTSOF(good));
	assert_version_reads(1, v1, N_PAGES);
	assert_version_reads(2, v2, N_PAGES);

	/* Dangling: pointed at the newest intact version again. */
	cr_assert_eq(unlinkat(job_fd, "latest", 0), 0);
	cr_assert_eq(symlinkat("versions/000009", job_fd, "latest"), 0);
	snapshot_files(good, ELEMENTSOF(good), copies);
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_eq(latest(), 2);
	assert_files_unchanged(copies, ELEMENTSOF(good));

	/* Missing: the same. Intact: left alone, even when not the newest. */
	cr_assert_eq(unlinkat(job_fd, "latest", 0), 0);
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_eq(latest(), 2);
	cr_assert_eq(store_set_latest(job_fd, 1), 0);
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_eq(latest(), 1);

	/* No intact version at all: no latest. */
	flip_byte("versions/000001/" IMAGE_PAGES, 50);
	flip_byte("versions/000002/" IMAGE_MANIFEST, 50);
	cr_assert_eq(store_cleanup(job_fd), 0);
	cr_assert_eq(store_get_latest(job_fd, &v), -ENOENT);
	cr_assert(pack_exists(1) && pack_exists(2) && pack_exists(3),
		  "damaged versions keep their packs");
}

static uint64_t tree_blocks;

static int add_blocks(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	tree_blocks += (uint64_t) st->st_blocks * 512;
	return 0;
}

Test(store, job_size_counts_allocated_bytes)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(N_PAGES);
	char path[128];
	uint64_t size, before;

	cr_assert_eq(store_job_size(job_fd, &before), 0);
	cr_assert_gt(before, 0);
	fill_random(pages, N_PAGES, 1);
	make_version(1, pages, N_PAGES, NULL);
	cr_assert_eq(store_set_latest(job_fd, 1), 0);
	cr_assert_eq(store_job_size(job_fd, &size), 0);
	cr_assert_geq(size, before + N_PAGES * PAGE_SIZE);

	snprintf(path, sizeof(path), "%s/jobs/web", state_path);
	tree_blocks = 0;
	cr_assert_eq(nftw(path, add_blocks, 16, FTW_PHYS), 0);
	cr_assert_eq(size, tree_blocks);
}
