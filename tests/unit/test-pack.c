// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pack files: round trips, deduplication within and across packs, what is
 * left on disk after success, failure and ENOSPC, and every kind of damage the
 * reader must refuse. Packs are written to a fresh directory per test.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <xxhash.h>

#include "pack.h"
#include "util.h"

static char store_path[64];
static int store_fd = -EBADF;

static void store_setup(void)
{
	strcpy(store_path, "/tmp/ckptd-test-pack-XXXXXX");
	cr_assert_not_null(mkdtemp(store_path));
	store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(store_fd, 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void store_teardown(void)
{
	if (store_fd >= 0)
		close(store_fd);
	store_fd = -EBADF;
	(void) nftw(store_path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A tmpfs of the test's own, mounted in a mount namespace of its own. */
static bool tiny_mounted;

static void tmpfs_setup(const char *options)
{
	store_setup();
	close(store_fd);
	store_fd = -EBADF;
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", store_path, "tmpfs", 0, options) < 0)
		return;
	tiny_mounted = true;
	store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(store_fd, 0);
}

static void tiny_setup(void)
{
	tmpfs_setup("size=256k,mode=0700");
}

/* tmpfs refuses O_DIRECT: the writer's buffered path. */
static void tmpfs_16m_setup(void)
{
	tmpfs_setup("size=16m,mode=0700");
}

static void tiny_teardown(void)
{
	if (store_fd >= 0)
		close(store_fd);
	store_fd = -EBADF;
	if (tiny_mounted)
		(void) umount2(store_path, MNT_DETACH);
	tiny_mounted = false;
	(void) rmdir(store_path);
}

/*
 * An ext4 of 16 MiB on a loop device, mounted in a mount namespace of the
 * test's own: a file system that takes O_DIRECT, whatever /tmp is.
 */
static char ext4_image[64];

static void ext4_setup(void)
{
	char cmd[256];
	int fd;

	store_setup();
	close(store_fd);
	store_fd = -EBADF;
	strcpy(ext4_image, "/var/tmp/ckptd-test-ext4-XXXXXX");
	fd = mkstemp(ext4_image);
	cr_assert_geq(fd, 0);
	close(fd);
	(void) snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s 16M >/dev/null 2>&1", ext4_image);
	if (system(cmd) != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	(void) snprintf(cmd, sizeof(cmd), "mount -o loop %s %s >/dev/null 2>&1", ext4_image,
			store_path);
	if (system(cmd) != 0)
		return;
	tiny_mounted = true;
	store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(store_fd, 0);
}

static void ext4_teardown(void)
{
	tiny_teardown();
	(void) unlink(ext4_image);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill_random(uint8_t *buf, size_t n_pages, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < n_pages * PAGE_SIZE / 8; i++) {
		uint64_t v = rng_next(&s);

		memcpy(buf + i * 8, &v, 8);
	}
}

/* Text-like and unique per (seed, page): zstd makes it much smaller. */
static void fill_compressible(uint8_t *buf, size_t n_pages, uint64_t seed)
{
	for (size_t i = 0; i < n_pages; i++) {
		uint8_t *p = buf + i * PAGE_SIZE;
		char line[64];
		int len =
			snprintf(line, sizeof(line), "seed %" PRIu64 " page %zu: hello\n", seed, i);

		for (size_t o = 0; o < PAGE_SIZE; o += (size_t) len)
			memcpy(p + o, line, MIN((size_t) len, PAGE_SIZE - o));
	}
}

static uint8_t *pages_alloc(size_t n)
{
	uint8_t *p = calloc(n, PAGE_SIZE);

	cr_assert_not_null(p);
	return p;
}

/* Writes pages in batches of `batch` and returns the stats; refs may be NULL. */
static bool write_pack(uint64_t id, struct page_hash_index *known, const uint8_t *pages, size_t n,
		       size_t batch, struct page_ref *refs, struct pack_stats *ret_stats)
{
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	_cleanup_free_ struct page_ref *own = NULL;
	bool created = false;

	if (!refs)
		refs = own = calloc(MAX(n, 1), sizeof(*refs));
	cr_assert_eq(pack_writer_new(store_fd, id, known, 3, &w), 0);
	for (size_t i = 0; i < n; i += batch)
		cr_assert_eq(pack_writer_add(w, pages + i * PAGE_SIZE, MIN(batch, n - i), refs + i),
			     0);
	cr_assert_eq(pack_writer_finish(w, &created, ret_stats), 0);
	return created;
}

static size_t count_pack_dir(void)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	size_t n = 0;
	int fd = openat(store_fd, PACK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	return n;
}

static bool pack_exists(uint64_t id)
{
	char path[PACK_PATH_MAX];

	return faccessat(store_fd, pack_path(id, path), F_OK, 0) == 0;
}

static void file_load(uint64_t id, uint8_t **ret, size_t *ret_len)
{
	char path[PACK_PATH_MAX];
	char *buf;

	cr_assert_eq(read_full_file_at(store_fd, pack_path(id, path), SIZE_MAX / 2, &buf, ret_len),
		     0);
	*ret = (uint8_t *) buf;
}

static void file_store(uint64_t id, const uint8_t *buf, size_t len)
{
	char path[PACK_PATH_MAX];
	_cleanup_close_ int fd =
		openat(store_fd, pack_path(id, path), O_WRONLY | O_TRUNC | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write_all(fd, buf, len), 0);
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void set_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* Trailer geometry of a pack image, parsed here independently of pack.c. */
struct layout {
	uint64_t n_frames, n_pages, trailer, trailer_len;
};

static struct layout layout_of(const uint8_t *f, size_t len)
{
	const uint8_t *foot = f + len - 64;

	cr_assert_eq(memcmp(foot, "CKPTPIDX", 8), 0);
	return (struct layout){
		.n_frames = le64_at(foot + 16),
		.n_pages = le64_at(foot + 24),
		.trailer = le64_at(foot + 32),
		.trailer_len = le64_at(foot + 40),
	};
}

static uint64_t frame_offset(const uint8_t *f, const struct layout *l, size_t i)
{
	return le64_at(f + l->trailer + i * 24);
}

static void fix_trailer_checksum(uint8_t *f, size_t len)
{
	struct layout l = layout_of(f, len);
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(f + l.trailer, l.trailer_len));
	memcpy(f + len - 64 + 48, c.digest, 16);
}

Test(pack, page_hash_is_canonical_xxh3_128)
{
	uint8_t page[PAGE_SIZE];
	XXH128_canonical_t c;
	struct page_hash h;
	char path[PACK_PATH_MAX];

	fill_random(page, 1, 7);
	page_hash_compute(page, &h);
	XXH128_canonicalFromHash(&c, XXH3_128bits(page, PAGE_SIZE));
	cr_assert_eq(memcmp(h.bytes, c.digest, 16), 0);
	cr_assert_str_eq(pack_path(0xa3, path), "packs/00000000000000a3.pack");
	cr_assert_str_eq(pack_path(UINT64_MAX, path), "packs/ffffffffffffffff.pack");
}

static struct page_hash hash_of(uint64_t i)
{
	struct page_hash h;
	uint64_t s = i + 1, a = rng_next(&s), b = rng_next(&s);

	memcpy(h.bytes, &a, 8);
	memcpy(h.bytes + 8, &b, 8);
	return h;
}

Test(pack, hash_index_keeps_first_ref_and_scales)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *idx = NULL;
	const size_t n = 300000;
	struct page_ref ref;

	cr_assert_eq(page_hash_index_new(&idx), 0);
	cr_assert_eq(page_hash_index_size(idx), 0);
	for (size_t i = 0; i < n; i++) {
		struct page_hash h = hash_of(i);
		/* Runs of consecutive ordinals, and every 1000th a stray one. */
		struct page_ref r = {.pack_id = i / 100000, .ordinal = i % 1000 == 999 ? 7 : i};

		cr_assert_eq(page_hash_index_add(idx, &h, r), 1);
	}
	cr_assert_eq(page_hash_index_size(idx), n);
	for (size_t i = 0; i < n; i++) {
		struct page_hash h = hash_of(i);

		cr_assert(page_hash_index_lookup(idx, &h, &ref), "entry %zu missing", i);
		cr_assert_eq(ref.pack_id, i / 100000);
		cr_assert_eq(ref.ordinal, i % 1000 == 999 ? 7 : i);
	}
	for (size_t i = n; i < n + 1000; i++) {
		struct page_hash h = hash_of(i);

		cr_assert_not(page_hash_index_lookup(idx, &h, &ref));
	}
	/* Same hash again: the first ref stays. */
	ref = (struct page_ref){.pack_id = 99, .ordinal = 99};
	{
		struct page_hash h = hash_of(5);

		cr_assert_eq(page_hash_index_add(idx, &h, ref), 0);
		cr_assert(page_hash_index_lookup(idx, &h, &ref));
	}
	cr_assert_eq(ref.pack_id, 0);
	cr_assert_eq(ref.ordinal, 5);
	cr_assert_eq(page_hash_index_size(idx), n);
}

Test(pack, round_trip_across_frames, .init = store_setup, .fini = store_teardown)
{
	/* Two random frames, two compressible ones, then a partial random frame. */
	const size_t n = 4 * PACK_PAGES_PER_FRAME + 44;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n), *f = NULL;
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct pack_stats st;
	struct layout l;
	size_t len;
	static const struct {
		uint64_t ordinal;
		size_t n;
	} reads[] = {
		{0, 1},	    {60, 10},  {63, 2},	 {64, 64}, {127, 3},
		{100, 200}, {256, 44}, {299, 1}, {1, 298}, {5, 0},
	};

	fill_random(pages, 2 * PACK_PAGES_PER_FRAME, 1);
	fill_compressible(pages + 2 * PACK_PAGES_PER_FRAME * PAGE_SIZE, 2 * PACK_PAGES_PER_FRAME,
			  2);
	fill_random(pages + 4 * PACK_PAGES_PER_FRAME * PAGE_SIZE, 44, 3);

	cr_assert(write_pack(0xa3, NULL, pages, n, 7, refs, &st));
	cr_assert_eq(st.pages_in, n);
	cr_assert_eq(st.pages_stored, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(refs[i].pack_id, 0xa3);
		cr_assert_eq(refs[i].ordinal, i);
	}
	cr_assert_eq(count_pack_dir(), 1, "the temporary file must be gone");

	file_load(0xa3, &f, &len);
	cr_assert_eq(st.bytes_stored, len);
	cr_assert_eq(memcmp(f, "CKPTPACK", 8), 0);
	cr_assert_eq(le32_at(f + 8), 1);
	cr_assert_eq(le32_at(f + 12), 4096);
	cr_assert_eq(le64_at(f + 16), 0xa3);
	l = layout_of(f, len);
	cr_assert_eq(l.n_frames, 5);
	cr_assert_eq(l.n_pages, n);
	cr_assert_eq(l.trailer_len, 5 * 24 + n * 16);
	cr_assert_eq(l.trailer + l.trailer_len + 64, len);
	for (size_t i = 0; i < l.n_frames; i++) {
		uint64_t off = frame_offset(f, &l, i);
		/* Random frames stay raw, text-like ones are compressed. */
		uint32_t want_codec = i == 2 || i == 3 ? 1 : 0;

		cr_assert_eq(off % 4096, 0);
		cr_assert_eq(memcmp(f + off, "FRM1", 4), 0);
		cr_assert_eq(le32_at(f + off + 12), want_codec, "frame %zu codec", i);
		cr_assert_eq(le64_at(f + off + 16), i * PACK_PAGES_PER_FRAME);
		if (want_codec)
			cr_assert_lt(le32_at(f + off + 8), PACK_PAGES_PER_FRAME * PAGE_SIZE / 4);
	}

	cr_assert_eq(pack_reader_open(store_fd, 0xa3, &r), 0);
	cr_assert_eq(pack_reader_n_pages(r), n);
	cr_assert_eq(pack_reader_file_size(r), len);
	cr_assert_eq(pack_reader_read(r, 0, n, out), 0);
	cr_assert_eq(memcmp(out, pages, n * PAGE_SIZE), 0);
	for (size_t i = 0; i < ELEMENTSOF(reads); i++) {
		memset(out, 0xee, n * PAGE_SIZE);
		cr_assert_eq(pack_reader_read(r, reads[i].ordinal, reads[i].n, out), 0);
		cr_assert_eq(
			memcmp(out, pages + reads[i].ordinal * PAGE_SIZE, reads[i].n * PAGE_SIZE),
			0, "read %" PRIu64 "+%zu", reads[i].ordinal, reads[i].n);
		cr_assert_eq(out[reads[i].n * PAGE_SIZE], 0xee, "wrote past the end");
	}
	/* Page by page, backwards, so that the frame cache is switched often. */
	for (size_t i = n; i-- > 0;) {
		cr_assert_eq(pack_reader_read(r, i, 1, out), 0);
		cr_assert_eq(memcmp(out, pages + i * PAGE_SIZE, PAGE_SIZE), 0, "page %zu", i);
	}
	cr_assert_eq(pack_reader_read(r, n - 1, 2, out), -EBADMSG);
	cr_assert_eq(pack_reader_read(r, UINT64_MAX, 1, out), -EBADMSG);
	cr_assert(strstr(pack_reader_error(r), "pack 00000000000000a3: pages"));
}

Test(pack, one_big_add_with_level_1, .init = store_setup, .fini = store_teardown)
{
	/* Many more frames than the writer keeps in flight, in one call. */
	const size_t n = 40 * PACK_PAGES_PER_FRAME + 1;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct pack_stats st;
	bool created;

	for (size_t i = 0; i < n; i += 16)
		(i / 16 % 2 ? fill_random : fill_compressible)(pages + i * PAGE_SIZE,
							       MIN((size_t) 16, n - i), i);
	cr_assert_eq(pack_writer_new(store_fd, 1, NULL, 1, &w), 0);
	cr_assert_eq(pack_writer_add(w, pages, n, refs), 0);
	cr_assert_eq(pack_writer_finish(w, &created, &st), 0);
	cr_assert(created);
	cr_assert_eq(st.pages_stored, n);
	cr_assert_lt(st.bytes_stored, n * PAGE_SIZE, "half of it compresses well");
	cr_assert_eq(pack_writer_add(w, pages, 1, refs), -EINVAL, "finished");
	cr_assert_eq(pack_reader_open(store_fd, 1, &r), 0);
	cr_assert_eq(pack_reader_read(r, 0, n, out), 0);
	cr_assert_eq(memcmp(out, pages, n * PAGE_SIZE), 0);
}

Test(pack, compression_resumes_after_incompressible_frames, .init = store_setup,
     .fini = store_teardown)
{
	/* 32 frames of random data (zstd tried less and less), then 32 that compress. */
	const size_t half = 32 * PACK_PAGES_PER_FRAME, n = 2 * half;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct pack_stats st;
	bool created;

	fill_random(pages, half, 7);
	fill_compressible(pages + half * PAGE_SIZE, half, 7);
	cr_assert_eq(pack_writer_new(store_fd, 1, NULL, 1, &w), 0);
	cr_assert_eq(pack_writer_add(w, pages, n, refs), 0);
	cr_assert_eq(pack_writer_finish(w, &created, &st), 0);
	cr_assert_eq(st.pages_stored, n);
	/* Compressed again within RAW_PROBE frames: the second half costs little. */
	cr_assert_lt(st.bytes_stored, (half + 8 * PACK_PAGES_PER_FRAME) * PAGE_SIZE,
		     "stored %" PRIu64 " bytes", st.bytes_stored);
	cr_assert_eq(pack_reader_open(store_fd, 1, &r), 0);
	cr_assert_eq(pack_reader_read(r, 0, n, out), 0);
	cr_assert_eq(memcmp(out, pages, n * PAGE_SIZE), 0);
}

Test(pack, dedup_within_a_pack, .init = store_setup, .fini = store_teardown)
{
	/* 10 distinct pages repeated, and 56 zero pages: 11 contents in 256 pages. */
	const size_t n = 256;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(1), *distinct = NULL;
	struct page_ref refs[256];
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct pack_stats st;

	distinct = pages_alloc(10);
	fill_random(distinct, 10, 42);
	for (size_t i = 0; i < 200; i++)
		memcpy(pages + i * PAGE_SIZE, distinct + (i * 7 % 10) * PAGE_SIZE, PAGE_SIZE);

	cr_assert(write_pack(5, NULL, pages, n, 13, refs, &st));
	cr_assert_eq(st.pages_in, 256);
	cr_assert_eq(st.pages_stored, 11);
	for (size_t i = 0; i < n; i++) {
		size_t first = 200; /* the first page with the same content */

		if (i < 200)
			for (first = 0; first * 7 % 10 != i * 7 % 10; first++)
				;
		cr_assert_eq(refs[i].pack_id, 5);
		cr_assert_eq(refs[i].ordinal, refs[first].ordinal, "page %zu", i);
	}
	cr_assert_eq(pack_reader_open(store_fd, 5, &r), 0);
	cr_assert_eq(pack_reader_n_pages(r), 11);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(pack_reader_read(r, refs[i].ordinal, 1, out), 0);
		cr_assert_eq(memcmp(out, pages + i * PAGE_SIZE, PAGE_SIZE), 0);
	}
}

/* Reads every page through its ref from the packs in ids. */
static void assemble(const struct page_ref *refs, size_t n, const uint64_t *ids, size_t n_ids,
		     uint8_t *out)
{
	struct pack_reader *readers[4] = {};

	cr_assert_leq(n_ids, 4);
	for (size_t i = 0; i < n_ids; i++)
		cr_assert_eq(pack_reader_open(store_fd, ids[i], &readers[i]), 0);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < n_ids && ids[k] != refs[i].pack_id)
			k++;
		cr_assert_lt(k, n_ids, "page %zu refers to pack %" PRIu64, i, refs[i].pack_id);
		cr_assert_eq(pack_reader_read(readers[k], refs[i].ordinal, 1, out + i * PAGE_SIZE),
			     0);
	}
	for (size_t i = 0; i < n_ids; i++)
		pack_reader_free(readers[i]);
}

Test(pack, pages_read_into_the_room, .init = store_setup, .fini = store_teardown)
{
	/* Every third page repeats an earlier one: the pages after it move down in the frame. */
	const size_t n = 300;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	struct page_ref refs[300];
	struct pack_stats st;
	bool created;

	fill_random(pages, n, 7);
	for (size_t i = 3; i < n; i += 3)
		memcpy(pages + i * PAGE_SIZE, pages + (i / 2) * PAGE_SIZE, PAGE_SIZE);
	cr_assert_eq(pack_writer_new(store_fd, 6, NULL, 3, &w), 0);
	for (size_t i = 0; i < n;) {
		void *room;
		size_t k;

		cr_assert_eq(pack_writer_room(w, &room, &k), 0);
		cr_assert(k >= 1 && k <= PACK_PAGES_PER_FRAME);
		k = MIN(MIN(k, (size_t) 29), n - i);
		memcpy(room, pages + i * PAGE_SIZE, k * PAGE_SIZE);
		cr_assert_eq(pack_writer_add(w, room, k, refs + i), 0);
		i += k;
	}
	cr_assert_eq(pack_writer_finish(w, &created, &st), 0);
	cr_assert(created);
	cr_assert_eq(st.pages_stored, n - n / 3 + (n % 3 == 0));
	assemble(refs, n, (const uint64_t[]){ 6 }, 1, out);
	cr_assert_eq(memcmp(out, pages, n * PAGE_SIZE), 0);
}

/*
 * As the dump uses the room: each read fills the whole room, zero pages are
 * not handed over (so a read becomes several adds, the first not always at
 * the room's start), and duplicates move the later pages down. Every page
 * handed over must read back as it was, also those of frames filled to the
 * last slot.
 */
Test(pack, room_reads_split_around_zero_pages, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 1000;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	_cleanup_free_ bool *zero = calloc(n, sizeof(bool));
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	size_t stored = 0, full_rooms = 0;
	struct pack_stats st;
	bool created;

	cr_assert_not_null(refs);
	cr_assert_not_null(zero);
	fill_random(pages, n, 21);
	/* Zero runs at the start of a frame's pages, inside, and at the end. */
	for (size_t i = 0; i < n; i++)
		if (i % 64 == 0 || i % 97 == 5 || i % 64 == 63 || (i >= 300 && i < 310))
			zero[i] = true;
	for (size_t i = 0; i < n; i++) {
		if (zero[i])
			memset(pages + i * PAGE_SIZE, 0, PAGE_SIZE);
		else if (i % 7 == 3 && i > 10)
			memcpy(pages + i * PAGE_SIZE, pages + (i - 9) * PAGE_SIZE, PAGE_SIZE);
	}
	cr_assert_eq(pack_writer_new(store_fd, 8, NULL, 3, &w), 0);
	for (size_t i = 0; i < n;) {
		uint8_t *room;
		size_t k, run = 0;

		cr_assert_eq(pack_writer_room(w, (void **) &room, &k), 0);
		cr_assert(k >= 1 && k <= PACK_PAGES_PER_FRAME);
		full_rooms += k == PACK_PAGES_PER_FRAME;
		k = MIN(k, n - i);
		memcpy(room, pages + i * PAGE_SIZE, k * PAGE_SIZE);
		for (size_t j = 0; j <= k; j++) {
			if (j < k && !zero[i + j])
				continue;
			if (j > run)
				cr_assert_eq(pack_writer_add(w, room + run * PAGE_SIZE, j - run,
							     refs + i + run),
					     0);
			run = j + 1;
		}
		i += k;
	}
	cr_assert_eq(pack_writer_finish(w, &created, &st), 0);
	cr_assert(created);
	cr_assert_gt(full_rooms, 3, "the reads never started on an empty frame");
	for (size_t i = 0; i < n; i++)
		stored += !zero[i];
	cr_assert_eq(st.pages_in, stored);
	cr_assert_lt(st.pages_stored, stored, "the duplicates were stored again");

	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;

	cr_assert_eq(pack_reader_open(store_fd, 8, &r), 0);
	for (size_t i = 0; i < n; i++) {
		if (zero[i])
			continue;
		cr_assert_eq(refs[i].pack_id, 8);
		cr_assert_eq(pack_reader_read(r, refs[i].ordinal, 1, out + i * PAGE_SIZE), 0);
		cr_assert_eq(memcmp(out + i * PAGE_SIZE, pages + i * PAGE_SIZE, PAGE_SIZE), 0,
			     "page %zu", i);
	}
}

Test(pack, second_pack_stores_only_changed_pages, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 150;
	static const size_t changed[] = {3, 50, 63, 64, 65, 100, 149};
	_cleanup_free_ uint8_t *v1 = pages_alloc(n), *v2 = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	struct page_ref refs1[150], refs2[150];
	const uint64_t ids[] = {1, 2};
	struct pack_stats st;

	fill_random(v1, n / 2, 10);
	fill_compressible(v1 + n / 2 * PAGE_SIZE, n - n / 2, 11);
	memcpy(v2, v1, n * PAGE_SIZE);
	for (size_t i = 0; i < ELEMENTSOF(changed); i++)
		fill_random(v2 + changed[i] * PAGE_SIZE, 1, 1000 + i);

	cr_assert_eq(page_hash_index_new(&known), 0);
	cr_assert(write_pack(1, known, v1, n, 32, refs1, &st));
	cr_assert_eq(st.pages_stored, n);
	cr_assert_eq(page_hash_index_size(known), n);

	cr_assert(write_pack(2, known, v2, n, 9, refs2, &st));
	cr_assert_eq(st.pages_in, n);
	cr_assert_eq(st.pages_stored, ELEMENTSOF(changed));
	cr_assert_eq(page_hash_index_size(known), n + ELEMENTSOF(changed));
	for (size_t i = 0, k = 0; i < n; i++) {
		if (k < ELEMENTSOF(changed) && changed[k] == i) {
			cr_assert_eq(refs2[i].pack_id, 2);
			cr_assert_eq(refs2[i].ordinal, k, "page %zu", i);
			k++;
		} else {
			cr_assert_eq(refs2[i].pack_id, 1, "page %zu", i);
			cr_assert_eq(refs2[i].ordinal, i);
		}
	}
	assemble(refs2, n, ids, 2, out);
	cr_assert_eq(memcmp(out, v2, n * PAGE_SIZE), 0);
	assemble(refs1, n, ids, 1, out);
	cr_assert_eq(memcmp(out, v1, n * PAGE_SIZE), 0);
}

Test(pack, index_from_reader_and_nothing_new, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 100;
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct page_ref refs[100], ref;
	struct pack_stats st;

	fill_random(pages, n, 77);
	cr_assert(write_pack(1, NULL, pages, n, 100, refs, &st));

	/* What a restarted daemon does: rebuild the index from the packs. */
	cr_assert_eq(page_hash_index_new(&known), 0);
	cr_assert_eq(pack_reader_open(store_fd, 1, &r), 0);
	cr_assert_eq(pack_reader_index(r, known), 0);
	cr_assert_eq(page_hash_index_size(known), n);
	for (size_t i = 0; i < n; i++) {
		struct page_hash h;

		page_hash_compute(pages + i * PAGE_SIZE, &h);
		cr_assert(page_hash_index_lookup(known, &h, &ref));
		cr_assert_eq(ref.pack_id, 1);
		cr_assert_eq(ref.ordinal, i);
	}

	/* Nothing new: no pack 2, not even a temporary file. */
	cr_assert_not(write_pack(2, known, pages, n, 10, refs, &st));
	cr_assert_eq(st.pages_in, n);
	cr_assert_eq(st.pages_stored, 0);
	cr_assert_eq(st.bytes_stored, 0);
	cr_assert_not(pack_exists(2));
	cr_assert_eq(count_pack_dir(), 1);
	for (size_t i = 0; i < n; i++)
		cr_assert(refs[i].pack_id == 1 && refs[i].ordinal == i);

	/* Nothing at all. */
	cr_assert_not(write_pack(3, known, pages, 0, 1, refs, &st));
	cr_assert_eq(st.pages_in, 0);
	cr_assert_eq(count_pack_dir(), 1);
}

Test(pack, free_unfinished_writer_leaves_nothing, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 300;
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	struct pack_writer *w = NULL;
	struct page_ref refs[300], ref;
	struct page_hash h;

	fill_random(pages, n, 5);
	cr_assert_eq(page_hash_index_new(&known), 0);
	cr_assert(write_pack(1, known, pages, 50, 50, refs, NULL));

	cr_assert_eq(pack_writer_new(store_fd, 2, known, 3, &w), 0);
	cr_assert_eq(pack_writer_add(w, pages, n, refs), 0);
	cr_assert_eq(page_hash_index_size(known), n);
	cr_assert_eq(count_pack_dir(), 2, "pack 1 and the temporary file");
	cr_assert_null(pack_writer_free(w));

	cr_assert_eq(count_pack_dir(), 1);
	cr_assert_not(pack_exists(2));
	/* known must not point into a pack that was never written. */
	cr_assert_eq(page_hash_index_size(known), 50);
	page_hash_compute(pages + 49 * PAGE_SIZE, &h);
	cr_assert(page_hash_index_lookup(known, &h, &ref));
	cr_assert_eq(ref.pack_id, 1);
	page_hash_compute(pages + 50 * PAGE_SIZE, &h);
	cr_assert_not(page_hash_index_lookup(known, &h, &ref));

	cr_assert_null(pack_writer_free(NULL));
	cr_assert_null(pack_reader_free(NULL));
	cr_assert_null(page_hash_index_free(NULL));
}

Test(pack, existing_pack_is_never_replaced, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 10;
	_cleanup_free_ uint8_t *a = pages_alloc(n), *b = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	struct page_ref refs[10];
	bool created = true;

	fill_random(a, n, 1);
	fill_random(b, n, 2);
	cr_assert(write_pack(7, NULL, a, n, n, refs, NULL));
	cr_assert_eq(pack_writer_new(store_fd, 7, NULL, 3, &w), 0);
	cr_assert_eq(pack_writer_add(w, b, n, refs), 0);
	cr_assert_eq(pack_writer_finish(w, &created, NULL), -EEXIST);
	cr_assert(created, "not written on failure");
	cr_assert_eq(count_pack_dir(), 1);
	cr_assert_eq(pack_reader_open(store_fd, 7, &r), 0);
	cr_assert_eq(pack_reader_read(r, 0, n, out), 0);
	cr_assert_eq(memcmp(out, a, n * PAGE_SIZE), 0);
}

/*
 * Damage: each case changes a good pack (2 random frames, 1 compressible, 20
 * pages) and says where the reader must notice.
 */
enum damage_at { DAMAGE_AT_OPEN, DAMAGE_AT_READ };

struct damage {
	const char *name;
	void (*apply)(uint8_t *f, size_t *len);
	enum damage_at at;
	int error;
	const char *message;
};

#define GOOD_PAGES (3 * PACK_PAGES_PER_FRAME + 20)

static void flip_raw_payload(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);

	f[frame_offset(f, &l, 1) + 32 + 5000] ^= 0x01;
}

static void flip_zstd_payload(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);

	f[frame_offset(f, &l, 2) + 32 + 10] ^= 0x80;
}

static void flip_frame_table(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);

	f[l.trailer + 24 + 16] ^= 0x01; /* frame 1's first ordinal */
}

static void flip_hash(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);

	f[l.trailer + l.n_frames * 24 + 70 * 16 + 3] ^= 0x10; /* page 70 */
}

static void flip_hash_and_fix_checksum(uint8_t *f, size_t *len)
{
	flip_hash(f, len);
	fix_trailer_checksum(f, *len);
}

static void bad_frame_offset_checksummed(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);
	uint64_t off = htole64(frame_offset(f, &l, 1) - 4096); /* into frame 0 */

	memcpy(f + l.trailer + 24, &off, 8);
	fix_trailer_checksum(f, *len);
}

static void frame_header_mismatch(uint8_t *f, size_t *len)
{
	struct layout l = layout_of(f, *len);

	set_le32(f + frame_offset(f, &l, 0) + 4, 63);
}

static void truncate_by_one(uint8_t *f, size_t *len)
{
	(*len)--;
}

static void truncate_to_half(uint8_t *f, size_t *len)
{
	*len /= 2;
}

static void truncate_to_100(uint8_t *f, size_t *len)
{
	*len = 100;
}

static void truncate_to_0(uint8_t *f, size_t *len)
{
	*len = 0;
}

static void cut_footer(uint8_t *f, size_t *len)
{
	/* A pack whose writer died before the trailer: the frames end it. */
	*len = layout_of(f, *len).trailer;
}

static void bad_header_magic(uint8_t *f, size_t *len)
{
	f[0] = 'X';
}

static void bad_footer_magic(uint8_t *f, size_t *len)
{
	f[*len - 64 + 7] = 'Y';
}

static void newer_header_version(uint8_t *f, size_t *len)
{
	set_le32(f + 8, 2);
}

static void newer_footer_version(uint8_t *f, size_t *len)
{
	set_le32(f + *len - 64 + 8, 2);
}

static void footer_n_pages_off(uint8_t *f, size_t *len)
{
	f[*len - 64 + 24] ^= 0x01;
}

static void wrong_page_size(uint8_t *f, size_t *len)
{
	set_le32(f + 12, 8192);
}

static void other_pack_id(uint8_t *f, size_t *len)
{
	f[16] ^= 0x01;
}

static const struct damage damages[] = {
	{"raw payload", flip_raw_payload, DAMAGE_AT_READ, -EBADMSG,
	 "page 65 (frame at offset 270336): hash mismatch"},
	{"zstd payload", flip_zstd_payload, DAMAGE_AT_READ, -EBADMSG, "checksum mismatch"},
	{"frame table", flip_frame_table, DAMAGE_AT_OPEN, -EBADMSG, "trailer checksum mismatch"},
	{"hash", flip_hash, DAMAGE_AT_OPEN, -EBADMSG, "trailer checksum mismatch"},
	{"hash, checksum fixed", flip_hash_and_fix_checksum, DAMAGE_AT_READ, -EBADMSG,
	 "page 70 (frame at offset 270336): hash mismatch"},
	{"frame offset, checksum fixed", bad_frame_offset_checksummed, DAMAGE_AT_OPEN, -EBADMSG,
	 "frame table entry 1: offset 266240 out of place"},
	{"frame header", frame_header_mismatch, DAMAGE_AT_READ, -EBADMSG, "header does not match"},
	{"truncated by one", truncate_by_one, DAMAGE_AT_OPEN, -EBADMSG, "footer: bad magic"},
	{"truncated to half", truncate_to_half, DAMAGE_AT_OPEN, -EBADMSG, "footer"},
	{"truncated to 100", truncate_to_100, DAMAGE_AT_OPEN, -EBADMSG, "file too short"},
	{"empty", truncate_to_0, DAMAGE_AT_OPEN, -EBADMSG, "file too short"},
	{"no trailer", cut_footer, DAMAGE_AT_OPEN, -EBADMSG, "footer"},
	{"header magic", bad_header_magic, DAMAGE_AT_OPEN, -EBADMSG, "header: bad magic"},
	{"footer magic", bad_footer_magic, DAMAGE_AT_OPEN, -EBADMSG, "footer: bad magic"},
	{"newer header", newer_header_version, DAMAGE_AT_OPEN, -EPROTO, "version 2 is newer"},
	{"newer footer", newer_footer_version, DAMAGE_AT_OPEN, -EPROTO, "version 2 is newer"},
	{"footer page count", footer_n_pages_off, DAMAGE_AT_OPEN, -EBADMSG, "does not add up"},
	{"page size", wrong_page_size, DAMAGE_AT_OPEN, -EBADMSG, "page size"},
	{"pack id", other_pack_id, DAMAGE_AT_OPEN, -EBADMSG, "header names pack"},
};

Test(pack, damaged_packs_are_refused, .init = store_setup, .fini = store_teardown)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(GOOD_PAGES), *out = pages_alloc(GOOD_PAGES);
	_cleanup_free_ uint8_t *good = NULL, *f = NULL;
	size_t good_len;

	fill_random(pages, 2 * PACK_PAGES_PER_FRAME, 1);
	fill_compressible(pages + 2 * PACK_PAGES_PER_FRAME * PAGE_SIZE, PACK_PAGES_PER_FRAME + 20,
			  2);
	cr_assert(write_pack(0xa3, NULL, pages, GOOD_PAGES, GOOD_PAGES, NULL, NULL));
	file_load(0xa3, &good, &good_len);
	f = malloc(good_len);
	cr_assert_not_null(f);

	for (size_t i = 0; i < ELEMENTSOF(damages); i++) {
		const struct damage *d = &damages[i];
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
		size_t len = good_len;
		int q;

		memcpy(f, good, good_len);
		d->apply(f, &len);
		file_store(0xa3, f, len);

		q = pack_reader_open(store_fd, 0xa3, &r);
		if (d->at == DAMAGE_AT_OPEN) {
			cr_assert_eq(q, d->error, "%s: open gave %d", d->name, q);
			cr_assert_not_null(r, "%s: the error must be readable", d->name);
			cr_assert_eq(pack_reader_read(r, 0, 1, out), -EBADMSG);
		} else {
			cr_assert_eq(q, 0, "%s: open gave %d (%s)", d->name, q,
				     pack_reader_error(r));
			/* The damage is in frame 1 or 2; frame 0 still reads. */
			if (d->apply != frame_header_mismatch)
				cr_assert_eq(pack_reader_read(r, 0, PACK_PAGES_PER_FRAME, out), 0,
					     "%s", d->name);
			q = pack_reader_read(r, 0, GOOD_PAGES, out);
			cr_assert_eq(q, d->error, "%s: read gave %d", d->name, q);
			/* Through the cache too. */
			cr_assert_eq(pack_reader_read(r, 2 * PACK_PAGES_PER_FRAME - 1, 2, out) <
						     0 ||
					     pack_reader_read(r, 1, 1, out) < 0,
				     true, "%s", d->name);
		}
		cr_assert(strstr(pack_reader_error(r), d->message), "%s: error is \"%s\"", d->name,
			  pack_reader_error(r));
		cr_assert(strncmp(pack_reader_error(r), "pack 00000000000000a3: ", 23) == 0);
	}
}

Test(pack, missing_pack)
{
	struct pack_reader *r = NULL;

	cr_assert_eq(pack_reader_open(AT_FDCWD, 0xdead, &r), -ENOENT);
	cr_assert_null(r);
}

static void write_until_error(uint64_t id, struct page_hash_index *known, const uint8_t *pages,
			      size_t n, int *ret_add, int *ret_finish)
{
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	_cleanup_free_ struct page_ref *refs = calloc(n, sizeof(*refs));
	bool created = false;
	int q = 0;

	*ret_add = *ret_finish = 0;
	q = pack_writer_new(store_fd, id, known, 3, &w);
	cr_assert_eq(q, 0, "writer: %d", q);
	for (size_t i = 0; i < n && q == 0; i += 16)
		q = pack_writer_add(w, pages + i * PAGE_SIZE, MIN((size_t) 16, n - i), refs + i);
	*ret_add = q;
	if (q == 0) {
		*ret_finish = pack_writer_finish(w, &created, NULL);
		if (*ret_finish == 0)
			cr_assert(created);
	}
}

Test(pack, enospc_in_frames_reaches_the_caller, .init = tiny_setup, .fini = tiny_teardown)
{
	const size_t n = 512; /* 2 MiB of random pages into 256 KiB */
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	int add, finish;

	if (!tiny_mounted)
		cr_skip_test("cannot mount a tmpfs here (%m)");
	fill_random(pages, n, 3);
	cr_assert_eq(page_hash_index_new(&known), 0);

	write_until_error(1, known, pages, n, &add, &finish);
	cr_assert(add == -ENOSPC || finish == -ENOSPC, "add %d, finish %d", add, finish);
	cr_assert_eq(count_pack_dir(), 0, "nothing may be left behind");
	cr_assert_eq(page_hash_index_size(known), 0, "known must forget the pack");
}

/* Takes all room in the store but `blocks` blocks; returns the file holding it. */
static int fill_store(uint64_t blocks)
{
	int filler = openat(store_fd, "filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	struct statvfs sv;

	cr_assert_geq(filler, 0);
	cr_assert_eq(fstatvfs(store_fd, &sv), 0);
	cr_assert_eq(fallocate(filler, 0, 0, (off_t) ((sv.f_bavail - blocks) * sv.f_frsize)), 0);
	return filler;
}

Test(pack, enospc_in_trailer_reaches_the_caller, .init = tiny_setup, .fini = tiny_teardown)
{
	const size_t n = PACK_PAGES_PER_FRAME;
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_close_ int filler = -EBADF;
	int add, finish;

	if (!tiny_mounted)
		cr_skip_test("cannot mount a tmpfs here (%m)");
	/* One frame that compresses to less than a block: the header and it fit, the trailer not.
	 */
	fill_compressible(pages, n, 9);
	cr_assert_eq(mkdirat(store_fd, "packs", 0700), 0);
	filler = fill_store(2);

	write_until_error(1, NULL, pages, n, &add, &finish);
	cr_assert_eq(add, 0);
	cr_assert_eq(finish, -ENOSPC);
	cr_assert_eq(count_pack_dir(), 0, "nothing may be left behind");

	/* With room again, the same pack can be written. */
	cr_assert_eq(ftruncate(filler, 0), 0);
	write_until_error(1, NULL, pages, n, &add, &finish);
	cr_assert_eq(finish, 0);
	cr_assert(pack_exists(1));
}

/* Random frames, compressible ones, then a partial frame. */
static void fill_mixed(uint8_t *pages, uint64_t seed)
{
	fill_random(pages, 2 * PACK_PAGES_PER_FRAME, seed);
	fill_compressible(pages + 2 * PACK_PAGES_PER_FRAME * PAGE_SIZE, 2 * PACK_PAGES_PER_FRAME,
			  seed + 1);
	fill_random(pages + 4 * PACK_PAGES_PER_FRAME * PAGE_SIZE, 44, seed + 2);
}

#define MIXED_PAGES (4 * PACK_PAGES_PER_FRAME + 44)

static void check_reads_back(uint64_t id, const uint8_t *pages, size_t n)
{
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	_cleanup_free_ uint8_t *out = pages_alloc(n);

	cr_assert_eq(pack_reader_open(store_fd, id, &r), 0);
	cr_assert_eq(pack_reader_n_pages(r), n);
	cr_assert_eq(pack_reader_read(r, 0, n, out), 0);
	cr_assert_eq(memcmp(out, pages, n * PAGE_SIZE), 0);
}

/* Where the trailer starts, from the footer alone (reading the frames would cache them). */
static uint64_t trailer_offset(uint64_t id)
{
	char path[PACK_PATH_MAX];
	_cleanup_close_ int fd = openat(store_fd, pack_path(id, path), O_RDONLY | O_CLOEXEC);
	uint8_t foot[64];
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(pread(fd, foot, sizeof(foot), st.st_size - 64), 64);
	cr_assert_eq(memcmp(foot, "CKPTPIDX", 8), 0);
	return le64_at(foot + 32);
}

/* How many pages of [from, to) of the pack are in the page cache. */
static size_t pages_cached(uint64_t id, uint64_t from, uint64_t to)
{
	char path[PACK_PATH_MAX];
	_cleanup_close_ int fd = openat(store_fd, pack_path(id, path), O_RDONLY | O_CLOEXEC);
	size_t n = (to - from) / PAGE_SIZE, cached = 0;
	_cleanup_free_ unsigned char *vec = calloc(n, 1);
	void *m;

	cr_assert_geq(fd, 0);
	m = mmap(NULL, to - from, PROT_READ, MAP_SHARED, fd, (off_t) from);
	cr_assert_neq(m, MAP_FAILED);
	cr_assert_eq(mincore(m, to - from, vec), 0);
	munmap(m, to - from);
	for (size_t i = 0; i < n; i++)
		cached += vec[i] & 1;
	return cached;
}

Test(pack, frames_go_around_the_page_cache_where_the_file_system_allows, .init = ext4_setup,
     .fini = ext4_teardown)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(MIXED_PAGES);
	uint64_t trailer;

	if (!tiny_mounted)
		cr_skip_test("cannot mount an ext4 on a loop device here");
	fill_mixed(pages, 21);
	cr_assert(write_pack(0xd1, NULL, pages, MIXED_PAGES, 50, NULL, NULL));
	cr_assert_eq(count_pack_dir(), 1, "the temporary file must be gone");
	trailer = trailer_offset(0xd1);
	cr_assert_gt(trailer, 5 * 4096);
	cr_assert_eq(pages_cached(0xd1, 4096, trailer), 0,
		     "the frames went through the page cache");
	check_reads_back(0xd1, pages, MIXED_PAGES);
}

Test(pack, a_file_system_without_o_direct_gets_buffered_frames, .init = tmpfs_16m_setup,
     .fini = tiny_teardown)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(MIXED_PAGES);

	if (!tiny_mounted)
		cr_skip_test("cannot mount a tmpfs here (%m)");
	fill_mixed(pages, 31);
	cr_assert(write_pack(0xd2, NULL, pages, MIXED_PAGES, 50, NULL, NULL));
	cr_assert_eq(count_pack_dir(), 1, "the temporary file must be gone");
	check_reads_back(0xd2, pages, MIXED_PAGES);
}

Test(pack, enospc_in_direct_frames_reaches_the_caller, .init = ext4_setup, .fini = ext4_teardown)
{
	const size_t n = 1024; /* 4 MiB of random pages into about 1 MiB */
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_close_ int filler = -EBADF;
	int add, finish;

	if (!tiny_mounted)
		cr_skip_test("cannot mount an ext4 on a loop device here");
	fill_random(pages, n, 41);
	cr_assert_eq(page_hash_index_new(&known), 0);
	filler = fill_store(256); /* 256 KiB of 1 KiB blocks */

	write_until_error(1, known, pages, n, &add, &finish);
	cr_assert(add == -ENOSPC || finish == -ENOSPC, "add %d, finish %d", add, finish);
	cr_assert_eq(count_pack_dir(), 0, "nothing may be left behind");
	cr_assert_eq(page_hash_index_size(known), 0, "known must forget the pack");
}

static void bitmap_set(uint64_t *b, uint64_t o)
{
	b[o / 64] |= 1ULL << (o % 64);
}

static uint64_t allocated_bytes(uint64_t id)
{
	char path[PACK_PATH_MAX];
	struct stat st;

	cr_assert_eq(fstatat(store_fd, pack_path(id, path), &st, 0), 0);
	return (uint64_t) st.st_blocks * 512;
}

static off_t next_data(uint64_t id, off_t from)
{
	char path[PACK_PATH_MAX];
	_cleanup_close_ int fd = openat(store_fd, pack_path(id, path), O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	return lseek(fd, from, SEEK_DATA);
}

Test(pack, punch_frees_unused_frames_and_the_rest_still_reads, .init = store_setup,
     .fini = store_teardown)
{
	/* Frames: 0, 1 random; 2 compressible; 3 random; 4 random, 44 pages. */
	const size_t n = 4 * PACK_PAGES_PER_FRAME + 44;
	_cleanup_free_ uint8_t *pages = pages_alloc(n), *out = pages_alloc(n);
	_cleanup_free_ uint8_t *before = NULL, *after = NULL;
	uint64_t used[PACK_BITMAP_WORDS(300)] = {}, freed = 1, blocks;
	size_t len, len2;
	struct layout l;

	fill_random(pages, 2 * PACK_PAGES_PER_FRAME, 1);
	fill_compressible(pages + 2 * PACK_PAGES_PER_FRAME * PAGE_SIZE, PACK_PAGES_PER_FRAME, 2);
	fill_random(pages + 3 * PACK_PAGES_PER_FRAME * PAGE_SIZE, PACK_PAGES_PER_FRAME + 44, 3);
	cr_assert(write_pack(0xa3, NULL, pages, n, 64, NULL, NULL));
	file_load(0xa3, &before, &len);
	l = layout_of(before, len);
	cr_assert_eq(l.n_frames, 5);
	blocks = allocated_bytes(0xa3);

	/* One page each in frames 1 and 3 is used; frames 0, 2 and 4 are not. */
	bitmap_set(used, 100);
	bitmap_set(used, 200);
	cr_assert_eq(pack_punch_unused(store_fd, 0xa3, used, n, &freed), 0);
	cr_assert_eq(freed, blocks - allocated_bytes(0xa3));
	cr_assert_geq(freed, (64 + 44) * PAGE_SIZE, "freed %" PRIu64, freed);

	/* Holes exactly where frames 0, 2 and 4 were; everything else is untouched. */
	cr_assert_eq(next_data(0xa3, 0), 0);
	cr_assert_eq(next_data(0xa3, (off_t) frame_offset(before, &l, 0)),
		     (off_t) frame_offset(before, &l, 1));
	cr_assert_eq(next_data(0xa3, (off_t) frame_offset(before, &l, 2)),
		     (off_t) frame_offset(before, &l, 3));
	cr_assert_eq(next_data(0xa3, (off_t) frame_offset(before, &l, 4)), (off_t) l.trailer);
	file_load(0xa3, &after, &len2);
	cr_assert_eq(len2, len, "the size is kept");
	for (size_t i = 0; i < l.n_frames; i++) {
		uint64_t from = frame_offset(before, &l, i),
			 to = i + 1 < l.n_frames ? frame_offset(before, &l, i + 1) : l.trailer;
		bool punched = i == 0 || i == 2 || i == 4;

		for (uint64_t o = from; o < to; o++)
			cr_assert_eq(after[o], punched ? 0 : before[o], "frame %zu byte %" PRIu64, i,
				     o - from);
	}
	cr_assert_eq(memcmp(after, before, frame_offset(before, &l, 0)), 0);
	cr_assert_eq(memcmp(after + l.trailer, before + l.trailer, len - l.trailer), 0);

	/* The pack opens, kept frames read back, punched ones are refused. */
	{
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;

		cr_assert_eq(pack_reader_open(store_fd, 0xa3, &r), 0);
		cr_assert_eq(pack_reader_read(r, 64, 64, out), 0);
		cr_assert_eq(memcmp(out, pages + 64 * PAGE_SIZE, 64 * PAGE_SIZE), 0);
		cr_assert_eq(pack_reader_read(r, 192, 64, out), 0);
		cr_assert_eq(memcmp(out, pages + 192 * PAGE_SIZE, 64 * PAGE_SIZE), 0);
		cr_assert_eq(pack_reader_read(r, 0, 1, out), -EBADMSG);
		cr_assert_eq(pack_reader_read(r, 130, 1, out), -EBADMSG);
		cr_assert_eq(pack_reader_read(r, 299, 1, out), -EBADMSG);
	}

	/* Again: nothing more to free. */
	cr_assert_eq(pack_punch_unused(store_fd, 0xa3, used, n, &freed), 0);
	cr_assert_eq(freed, 0);

	/* Ordinals at or beyond n_used are unused, whatever the bits say: frame 3 goes too. */
	cr_assert_eq(pack_punch_unused(store_fd, 0xa3, used, 128, &freed), 0);
	cr_assert_geq(freed, 64 * PAGE_SIZE);
	{
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;

		cr_assert_eq(pack_reader_open(store_fd, 0xa3, &r), 0);
		cr_assert_eq(pack_reader_read(r, 100, 1, out), 0);
		cr_assert_eq(memcmp(out, pages + 100 * PAGE_SIZE, PAGE_SIZE), 0);
		cr_assert_eq(pack_reader_read(r, 200, 1, out), -EBADMSG);
	}

	/* Nothing used: every frame goes, the pack still opens. */
	cr_assert_eq(pack_punch_unused(store_fd, 0xa3, NULL, 0, NULL), 0);
	cr_assert_eq(next_data(0xa3, (off_t) frame_offset(before, &l, 0)), (off_t) l.trailer);
	{
		_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;

		cr_assert_eq(pack_reader_open(store_fd, 0xa3, &r), 0);
		cr_assert_eq(pack_reader_n_pages(r), n);
	}
}

Test(pack, punch_refuses_a_pack_that_does_not_verify, .init = store_setup, .fini = store_teardown)
{
	_cleanup_free_ uint8_t *pages = pages_alloc(GOOD_PAGES), *f = NULL, *again = NULL;
	uint64_t used[PACK_BITMAP_WORDS(GOOD_PAGES)] = {}, freed = 7, blocks;
	size_t len, len2;

	fill_random(pages, GOOD_PAGES, 4);
	cr_assert(write_pack(0xa3, NULL, pages, GOOD_PAGES, GOOD_PAGES, NULL, NULL));
	file_load(0xa3, &f, &len);
	flip_frame_table(f, &len);
	file_store(0xa3, f, len);
	blocks = allocated_bytes(0xa3);

	cr_assert_eq(pack_punch_unused(store_fd, 0xa3, used, GOOD_PAGES, &freed), -EBADMSG);
	cr_assert_eq(freed, 7, "written only on success");
	cr_assert_eq(allocated_bytes(0xa3), blocks);
	file_load(0xa3, &again, &len2);
	cr_assert_eq(len2, len);
	cr_assert_eq(memcmp(again, f, len), 0);

	cr_assert_eq(pack_punch_unused(store_fd, 0xdead, used, GOOD_PAGES, &freed), -ENOENT);
}

Test(pack, index_used_adds_only_used_pages, .init = store_setup, .fini = store_teardown)
{
	const size_t n = 150;
	static const uint64_t in[] = {3, 64, 65, 66, 67, 68, 69, 70, 149};
	_cleanup_free_ uint8_t *pages = pages_alloc(n);
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	uint64_t used[PACK_BITMAP_WORDS(150)] = {};

	fill_random(pages, n, 5);
	cr_assert(write_pack(7, NULL, pages, n, n, NULL, NULL));
	cr_assert_eq(pack_reader_open(store_fd, 7, &r), 0);
	for (size_t i = 0; i < ELEMENTSOF(in); i++)
		bitmap_set(used, in[i]);

	for (int pass = 0; pass < 2; pass++) {
		_cleanup_(page_hash_index_freep) struct page_hash_index *idx = NULL;
		/* The second pass stops short of ordinal 149. */
		uint64_t n_used = pass == 0 ? n : 149;

		cr_assert_eq(page_hash_index_new(&idx), 0);
		cr_assert_eq(pack_reader_index_used(r, idx, used, n_used), 0);
		cr_assert_eq(page_hash_index_size(idx), ELEMENTSOF(in) - pass);
		for (uint64_t o = 0, k = 0; o < n; o++) {
			bool want = k < ELEMENTSOF(in) && in[k] == o && o < n_used;
			struct page_hash h;
			struct page_ref ref;

			if (k < ELEMENTSOF(in) && in[k] == o)
				k++;
			page_hash_compute(pages + o * PAGE_SIZE, &h);
			cr_assert_eq(page_hash_index_lookup(idx, &h, &ref), want, "ordinal %" PRIu64,
				     o);
			if (want)
				cr_assert(ref.pack_id == 7 && ref.ordinal == o);
		}
	}
}
