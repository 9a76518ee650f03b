// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The page store (see pack.h): the hash index used for deduplication, the pack
 * writer that compresses and writes frames on a background thread, and the
 * reader that verifies every byte it hands out, and retention's hole punching.
 * A pack is never visible under its final name half-written, and after its
 * rename into place it only loses frames that no version uses.
 */

/*
 * Pack file format, version 1. All integers little-endian.
 *
 *   0       header, 64 bytes
 *             0  "CKPTPACK"
 *             8  u32 format version (1)
 *            12  u32 page size (4096)
 *            16  u64 pack id
 *            24  zeros up to 64
 *   4096    frames, each starting at a multiple of 4096 so that retention can
 *           punch out a frame no kept version uses without touching another:
 *             0  "FRM1"
 *             4  u32 n_pages (1..PACK_PAGES_PER_FRAME)
 *             8  u32 stored_len, the payload's length
 *            12  u32 codec: 0 raw, 1 zstd
 *            16  u64 first_ordinal
 *            24  u64 XXH3_64 of a zstd payload; 0 for a raw one, whose pages
 *                are each checked against their hash in the trailer (earlier
 *                ckptd wrote it for raw frames too; no reader looks)
 *            32  payload: n_pages * 4096 bytes raw, or one zstd frame
 *           A frame is stored raw unless zstd saves at least 1/16, so that
 *           incompressible memory costs no decompression at restore.
 *   T       trailer, at the next multiple of 4096 after the last frame:
 *             frame table, per frame: u64 offset, u32 stored_len, u32 n_pages,
 *                                     u64 first_ordinal (24 bytes)
 *             page hash table: XXH3-128 canonical (big-endian) of each page,
 *                              16 bytes per ordinal, in ordinal order
 *   end-64  footer, 64 bytes
 *             0  "CKPTPIDX"
 *             8  u32 format version (1)
 *            12  u32 reserved (0)
 *            16  u64 n_frames
 *            24  u64 n_pages
 *            32  u64 trailer offset (T)
 *            40  u64 trailer length (frame table + hash table)
 *            48  XXH3-128 canonical of the trailer bytes
 *
 * Ordinals of a pack are 0..n_pages-1 with no gaps; frame i holds ordinals
 * [first_ordinal, first_ordinal + n_pages). The bytes between a frame's end and
 * the next 4096 boundary are unspecified (usually a hole). Retention may punch
 * a whole frame out (header, payload and padding), leaving zeros that the
 * reader refuses as a frame whose header does not match the table; header,
 * trailer and footer are never punched.
 */
#include <assert.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <xxhash.h>
#include <zstd.h>

#include "log.h"
#include "pack.h"
#include "le.h"
#include "util.h"

#define PACK_MAGIC "CKPTPACK"
#define PACK_FOOTER_MAGIC "CKPTPIDX"
#define PACK_VERSION 1
#define PACK_HEADER_SIZE 64
#define PACK_FOOTER_SIZE 64
#define FRAME_MAGIC "FRM1"
#define FRAME_HEADER_SIZE 32
#define FRAME_ALIGN 4096
#define FRAME_RAW_MAX (PACK_PAGES_PER_FRAME * PAGE_SIZE)
#define FRAME_ENTRY_SIZE 24
#define FRAME_CODEC_RAW 0
#define FRAME_CODEC_ZSTD 1

/*
 * Frames in flight between the caller and the writer thread: enough that
 * compression and disk writes overlap with the caller's reading and hashing,
 * few enough that a snapshot's memory stays small (~260 KiB each). The
 * thread writes up to WRITER_BATCH queued frames at once.
 */
#define WRITER_SLOTS 16
#define WRITER_BATCH 8
#define WRITER_SLOT_SIZE ALIGN_TO(FRAME_HEADER_SIZE + FRAME_RAW_MAX, FRAME_ALIGN)
/* How much written data may be dirty in the page cache before we push it out. */
#define WRITEBACK_CHUNK (8ULL << 20)
/* How far a long read asks the kernel to read ahead of where it is. */
#define READAHEAD_BYTES (16ULL << 20)

/* Grows like GROW() but leaves new memory untouched, so unused capacity costs no RSS. */
static int grow_lazy(void **array, size_t *allocated, size_t need, size_t elem_size)
{
	size_t n;
	void *p;

	if (need <= *allocated)
		return 0;
	n = MAX(need, MAX(*allocated + *allocated / 2, (size_t) 64));
	if (n > SIZE_MAX / elem_size)
		return -ENOMEM;
	p = realloc(*array, n * elem_size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*allocated = n;
	return 0;
}
#define GROW_LAZY(array, allocated, need)                                                          \
	grow_lazy((void **) &(array), &(allocated), (need), sizeof(*(array)))

void page_hash_compute(const void *page, struct page_hash *ret)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(page, PAGE_SIZE));
	memcpy(ret->bytes, c.digest, sizeof(ret->bytes));
}

const char *pack_path(uint64_t pack_id, char buf[static PACK_PATH_MAX])
{
	(void) snprintf(buf, PACK_PATH_MAX, PACK_DIR "/%016" PRIx64 ".pack", pack_id);
	return buf;
}

/*
 * The hash index. A slot would need 32 bytes for hash and ref, and an open
 * table is at most 3/4 full, so instead the hashes live in a dense array in
 * insertion order (16 bytes per entry), the table holds only an entry number
 * and a 32-bit fingerprint (8 bytes per slot), and refs are runs of consecutive
 * ordinals, which is what writers and pack_reader_index() produce: about
 * 27-37 bytes per entry in all. Misses, the common case while snapshotting,
 * are decided by the fingerprints alone.
 */
struct hash_run {
	uint64_t pack_id;
	uint64_t first_ordinal;
	size_t first_entry; /* the run lasts until the next run's first entry */
};

struct page_hash_index {
	struct page_hash *hashes;
	size_t n_entries, allocated_entries;
	uint64_t *slots; /* fingerprint << 32 | (entry + 1); 0 is empty */
	size_t n_slots;	 /* a power of two */
	struct hash_run *runs;
	size_t n_runs, allocated_runs;
};

#define HASH_INDEX_MIN_SLOTS 1024
#define HASH_INDEX_MAX_ENTRIES ((size_t) UINT32_MAX - 1)

static uint64_t hash_bucket(const struct page_hash *h)
{
	uint64_t v;

	memcpy(&v, h->bytes, sizeof(v));
	return v;
}

/* From bytes the bucket number does not use, so that it filters within a probe run. */
static uint32_t hash_fingerprint(const struct page_hash *h)
{
	uint32_t v;

	memcpy(&v, h->bytes + 8, sizeof(v));
	return v;
}

static void hash_index_place(uint64_t *slots, size_t n_slots, const struct page_hash *h,
			     size_t entry)
{
	size_t mask = n_slots - 1, pos = hash_bucket(h) & mask;

	while (slots[pos])
		pos = (pos + 1) & mask;
	slots[pos] = (uint64_t) hash_fingerprint(h) << 32 | (entry + 1);
}

static void hash_index_reslot(struct page_hash_index *idx)
{
	memset(idx->slots, 0, idx->n_slots * sizeof(*idx->slots));
	for (size_t e = 0; e < idx->n_entries; e++)
		hash_index_place(idx->slots, idx->n_slots, &idx->hashes[e], e);
}

static bool hash_index_find(const struct page_hash_index *idx, const struct page_hash *h,
			    size_t *ret_entry)
{
	size_t mask = idx->n_slots - 1;
	uint32_t fp = hash_fingerprint(h);

	for (size_t pos = hash_bucket(h) & mask;; pos = (pos + 1) & mask) {
		uint64_t s = idx->slots[pos];
		size_t e = (uint32_t) s - 1;

		if (!s)
			return false;
		if ((uint32_t) (s >> 32) == fp && memcmp(&idx->hashes[e], h, sizeof(*h)) == 0) {
			*ret_entry = e;
			return true;
		}
	}
}

static void hash_index_prefetch(const struct page_hash_index *idx, const struct page_hash *h)
{
	__builtin_prefetch(&idx->slots[hash_bucket(h) & (idx->n_slots - 1)]);
}

static struct page_ref hash_index_ref(const struct page_hash_index *idx, size_t entry)
{
	size_t lo = 0, hi = idx->n_runs;
	const struct hash_run *run;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (idx->runs[mid].first_entry <= entry)
			lo = mid;
		else
			hi = mid;
	}
	run = &idx->runs[lo];
	return (struct page_ref){
		.pack_id = run->pack_id,
		.ordinal = run->first_ordinal + (entry - run->first_entry),
	};
}

/*
 * Forgets entries from mark on. Forgetting is always safe, it only costs a page
 * stored twice; remembering a page in a pack that was never created is not.
 */
static void hash_index_truncate(struct page_hash_index *idx, size_t mark)
{
	if (mark >= idx->n_entries)
		return;
	idx->n_entries = mark;
	while (idx->n_runs > 0 && idx->runs[idx->n_runs - 1].first_entry >= mark)
		idx->n_runs--;
	hash_index_reslot(idx);
}

int page_hash_index_new(struct page_hash_index **ret)
{
	struct page_hash_index *idx;

	idx = new0(struct page_hash_index, 1);
	if (!idx)
		return -ENOMEM;
	idx->slots = new0(uint64_t, HASH_INDEX_MIN_SLOTS);
	if (!idx->slots) {
		free(idx);
		return -ENOMEM;
	}
	idx->n_slots = HASH_INDEX_MIN_SLOTS;
	*ret = idx;
	return 0;
}

struct page_hash_index *page_hash_index_free(struct page_hash_index *idx)
{
	if (!idx)
		return NULL;
	free(idx->hashes);
	free(idx->slots);
	free(idx->runs);
	free(idx);
	return NULL;
}

/* Adds a hash the index does not hold (the caller looked). */
static int hash_index_insert(struct page_hash_index *idx, const struct page_hash *h,
			     struct page_ref ref)
{
	const struct hash_run *last = idx->n_runs ? &idx->runs[idx->n_runs - 1] : NULL;
	size_t e = idx->n_entries;
	bool continues;
	int r;

	if (idx->n_entries >= HASH_INDEX_MAX_ENTRIES)
		return -E2BIG;

	/* Allocate everything first, so that a failure leaves the index as it was. */
	r = GROW_LAZY(idx->hashes, idx->allocated_entries, e + 1);
	if (r < 0)
		return r;
	continues = last && last->pack_id == ref.pack_id &&
		    last->first_ordinal + (e - last->first_entry) == ref.ordinal;
	if (!continues) {
		r = GROW(idx->runs, idx->allocated_runs, idx->n_runs + 1);
		if (r < 0)
			return r;
	}
	if (e + 1 > idx->n_slots / 4 * 3) {
		size_t n_slots = idx->n_slots * 2;
		uint64_t *slots = new0(uint64_t, n_slots);

		if (!slots)
			return -ENOMEM;
		free(idx->slots);
		idx->slots = slots;
		idx->n_slots = n_slots;
		hash_index_reslot(idx);
	}

	if (!continues)
		idx->runs[idx->n_runs++] = (struct hash_run){
			.pack_id = ref.pack_id,
			.first_ordinal = ref.ordinal,
			.first_entry = e,
		};
	idx->hashes[e] = *h;
	hash_index_place(idx->slots, idx->n_slots, h, e);
	idx->n_entries++;
	return 1;
}

/* Returns 1 when added, 0 when the hash was already there (its ref is kept). */
int page_hash_index_add(struct page_hash_index *idx, const struct page_hash *h, struct page_ref ref)
{
	size_t found;

	return hash_index_find(idx, h, &found) ? 0 : hash_index_insert(idx, h, ref);
}

bool page_hash_index_lookup(const struct page_hash_index *idx, const struct page_hash *h,
			    struct page_ref *ret)
{
	size_t e;

	if (!hash_index_find(idx, h, &e))
		return false;
	if (ret)
		*ret = hash_index_ref(idx, e);
	return true;
}

size_t page_hash_index_size(const struct page_hash_index *idx)
{
	return idx ? idx->n_entries : 0;
}

struct frame_entry {
	uint64_t offset;
	uint32_t stored_len;
	uint32_t n_pages;
	uint64_t first_ordinal;
};

struct frame_slot {
	uint8_t *buf; /* room for the frame header, then the pages */
	uint32_t n_pages;
	uint64_t first_ordinal;
};

struct pack_writer {
	int packs_fd;
	int fd;
	int direct_fd;
	uint64_t pack_id;
	char tmp_name[PACK_PATH_MAX];
	char name[PACK_PATH_MAX];
	struct page_hash_index *known;
	struct page_hash_index *own_known; /* when the caller passed none */
	size_t known_mark;		   /* known's size before we added to it */
	bool done;			   /* finished, or failed and cleaned up */

	/* The caller's. */
	struct frame_slot *filling;
	struct page_hash *hashes; /* by ordinal, for the trailer */
	size_t n_stored, allocated_hashes;
	uint64_t pages_in;

	/*
	 * Shared under lock. The caller fills slots[(head + n_queued) % WRITER_SLOTS];
	 * the thread stores slots[head] and frees it by advancing head.
	 */
	pthread_mutex_t lock;
	pthread_cond_t work_cond, room_cond;
	struct frame_slot slots[WRITER_SLOTS];
	unsigned head, n_queued;
	bool stopping;
	int error; /* the first failure; sticky */
	bool thread_running;
	pthread_t thread;

	/* The thread's; the caller reads them only after joining it. */
	ZSTD_CCtx *cctx;
	uint8_t *zbuf;
	uint64_t offset;	    /* where the next frame goes */
	uint64_t flushed, flushing; /* writeback: done before flushed, started before flushing */
	unsigned raw_streak;	    /* frames in a row zstd could not shrink */
	struct frame_entry *frames;
	size_t n_frames, allocated_frames;
};

/*
 * Page data is not read again until a restore, often much later, so start
 * writeback early and then drop it from the page cache: a snapshot of GiBs
 * neither piles up dirty pages for the final fsync nor evicts the job's cache.
 */
static int writer_writeback(struct pack_writer *w)
{
	if (w->offset - w->flushing < WRITEBACK_CHUNK)
		return 0;
	if (w->flushing > w->flushed) {
		if (sync_file_range(w->fd, (off_t) w->flushed, (off_t) (w->flushing - w->flushed),
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			return -errno;
		(void) posix_fadvise(w->fd, (off_t) w->flushed, (off_t) (w->flushing - w->flushed),
				     POSIX_FADV_DONTNEED);
		w->flushed = w->flushing;
	}
	if (sync_file_range(w->fd, (off_t) w->flushing, (off_t) (w->offset - w->flushing),
			    SYNC_FILE_RANGE_WRITE) < 0)
		return -errno;
	w->flushing = w->offset;
	return 0;
}

static void close_direct(struct pack_writer *w)
{
	if (w->direct_fd >= 0)
		(void) close(TAKE_FD(w->direct_fd));
}

static int pwritev_all(int fd, struct iovec *iov, int n, off_t offset)
{
	while (n > 0) {
		ssize_t k = pwritev(fd, iov, n, offset);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		offset += k;
		for (; n > 0 && (size_t) k >= iov->iov_len; iov++, n--)
			k -= (ssize_t) iov->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *) iov->iov_base + k;
			iov->iov_len -= (size_t) k;
		}
	}
	return 0;
}

/*
 * Frames go around the page cache where the file system allows it. Page data
 * is not read again until a restore; copying it into the cache and pushing
 * it out again took the writer thread 0.33 s of CPU a GiB (0.17 to 0.28 s
 * direct), and this VM's disk has taken buffered writeback at a third of the
 * speed it takes direct writes. Frames queued together go out in one write:
 * one frame a write kept the disk waiting on each. A file system that
 * refuses the alignment gets the buffered path from then on.
 */
static int writer_write(struct pack_writer *w, struct iovec *iov, int n, uint64_t offset)
{
	if (w->direct_fd >= 0) {
		struct iovec copy[WRITER_BATCH];
		int r;

		memcpy(copy, iov, (size_t) n * sizeof(*iov));
		r = pwritev_all(w->direct_fd, copy, n, (off_t) offset);
		if (r != -EINVAL)
			return r;
		close_direct(w);
	}
	return pwritev_all(w->fd, iov, n, (off_t) offset);
}

/*
 * Even failing, zstd costs this thread as much as the disk write on
 * incompressible memory (random data, compressed arrays), and this thread
 * then sets the pace. After RAW_STREAK frames in a row that did not shrink,
 * only one frame in RAW_PROBE is tried; one that shrinks ends the streak.
 */
#define RAW_STREAK 4
#define RAW_PROBE 8

static bool should_compress(const struct pack_writer *w)
{
	return w->raw_streak < RAW_STREAK || w->raw_streak % RAW_PROBE == 0;
}

/*
 * Makes the frame in its slot's buffer: header, then the pages or their zstd
 * form, then zeros up to the 4 KiB boundary (the buffer has the room).
 * Returns its length on disk.
 */
static size_t writer_make_frame(struct pack_writer *w, struct frame_slot *s)
{
	size_t raw_len = (size_t) s->n_pages * PAGE_SIZE, stored_len = raw_len, z, len;
	uint32_t codec = FRAME_CODEC_RAW;
	uint8_t *buf = s->buf;

	/*
	 * Output room for no more than the saving we insist on, so that zstd gives
	 * up early on incompressible data. Any zstd failure only costs space.
	 */
	z = (size_t) -1;
	if (should_compress(w))
		z = ZSTD_compress2(w->cctx, w->zbuf, raw_len - raw_len / 16,
				   buf + FRAME_HEADER_SIZE, raw_len);
	if (!ZSTD_isError(z)) {
		memcpy(buf + FRAME_HEADER_SIZE, w->zbuf, z);
		stored_len = z;
		codec = FRAME_CODEC_ZSTD;
		w->raw_streak = 0;
	} else
		w->raw_streak++;

	memcpy(buf, FRAME_MAGIC, 4);
	put_le32(buf + 4, s->n_pages);
	put_le32(buf + 8, (uint32_t) stored_len);
	put_le32(buf + 12, codec);
	put_le64(buf + 16, s->first_ordinal);
	/*
	 * A raw payload's pages each have their hash in the trailer; hashing it
	 * whole as well cost this thread about a quarter of its CPU time on
	 * incompressible memory.
	 */
	put_le64(buf + 24,
		 codec == FRAME_CODEC_RAW ? 0 : XXH3_64bits(buf + FRAME_HEADER_SIZE, stored_len));
	len = ALIGN_TO(FRAME_HEADER_SIZE + stored_len, (size_t) FRAME_ALIGN);
	memset(buf + FRAME_HEADER_SIZE + stored_len, 0, len - FRAME_HEADER_SIZE - stored_len);

	w->frames[w->n_frames++] = (struct frame_entry){
		.offset = w->offset,
		.stored_len = (uint32_t) stored_len,
		.n_pages = s->n_pages,
		.first_ordinal = s->first_ordinal,
	};
	w->offset += len;
	return len;
}

/* Stores the n frames queued from slot first on, one after the other. */
static int writer_store_frames(struct pack_writer *w, unsigned first, unsigned n)
{
	struct iovec iov[WRITER_BATCH];
	uint64_t offset = w->offset;
	int r;

	r = GROW(w->frames, w->allocated_frames, w->n_frames + n);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		struct frame_slot *s = &w->slots[(first + i) % WRITER_SLOTS];

		iov[i] = (struct iovec){.iov_base = s->buf, .iov_len = writer_make_frame(w, s)};
	}
	r = writer_write(w, iov, (int) n, offset);
	if (r < 0 || w->direct_fd >= 0)
		return r;
	r = writer_writeback(w);
	/* A filesystem that cannot start writeback early is no error; fsync decides. */
	if (r == -EINVAL || r == -EOPNOTSUPP || r == -ESPIPE)
		return 0;
	return r;
}

static void *writer_thread(void *userdata)
{
	struct pack_writer *w = userdata;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		unsigned first, n;
		bool failed;
		int r = 0;

		while (w->n_queued == 0 && !w->stopping)
			pthread_cond_wait(&w->work_cond, &w->lock);
		if (w->n_queued == 0)
			break;
		first = w->head;
		n = MIN(w->n_queued, (unsigned) WRITER_BATCH);
		failed = w->error < 0;
		pthread_mutex_unlock(&w->lock);

		/* After a failure frames are only drained, so the caller never waits for room. */
		if (!failed)
			r = writer_store_frames(w, first, n);

		pthread_mutex_lock(&w->lock);
		if (r < 0 && w->error == 0)
			w->error = r;
		w->head = (w->head + n) % WRITER_SLOTS;
		w->n_queued -= n;
		pthread_cond_signal(&w->room_cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int writer_start_thread(struct pack_writer *w)
{
	sigset_t all, saved;
	int r;

	/* Signals are the main thread's business; the thread inherits this mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	r = pthread_create(&w->thread, NULL, writer_thread, w);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r != 0)
		return -r;
	(void) pthread_setname_np(w->thread, "ckptd-pack");
	w->thread_running = true;
	return 0;
}

/* Lets the thread store what is queued (or, with error set, drop it) and joins it. */
static int writer_stop_thread(struct pack_writer *w, int error)
{
	int r;

	pthread_mutex_lock(&w->lock);
	if (error < 0 && w->error == 0)
		w->error = error;
	w->stopping = true;
	pthread_cond_signal(&w->work_cond);
	pthread_mutex_unlock(&w->lock);
	if (w->thread_running) {
		(void) pthread_join(w->thread, NULL);
		w->thread_running = false;
	}
	pthread_mutex_lock(&w->lock);
	r = w->error;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int writer_error(struct pack_writer *w)
{
	int r;

	pthread_mutex_lock(&w->lock);
	r = w->error;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int writer_take_slot(struct pack_writer *w)
{
	int r;

	pthread_mutex_lock(&w->lock);
	while (w->n_queued >= WRITER_SLOTS && w->error == 0)
		pthread_cond_wait(&w->room_cond, &w->lock);
	r = w->error;
	if (r == 0) {
		w->filling = &w->slots[(w->head + w->n_queued) % WRITER_SLOTS];
		w->filling->n_pages = 0;
		w->filling->first_ordinal = w->n_stored;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void writer_submit(struct pack_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->n_queued++;
	pthread_cond_signal(&w->work_cond);
	pthread_mutex_unlock(&w->lock);
	w->filling = NULL;
}

/* Undoes everything an unfinished writer did: thread, temporary file, entries in known. */
static void writer_abort(struct pack_writer *w)
{
	(void) writer_stop_thread(w, -ECANCELED);
	close_direct(w);
	if (w->fd >= 0) {
		(void) close(TAKE_FD(w->fd));
		(void) unlinkat(w->packs_fd, w->tmp_name, 0);
	}
	if (w->known)
		hash_index_truncate(w->known, w->known_mark);
	w->done = true;
}

int pack_writer_new(int store_dfd, uint64_t pack_id, struct page_hash_index *known, int zstd_level,
		    struct pack_writer **ret)
{
	_cleanup_(pack_writer_freep) struct pack_writer *w = NULL;
	uint8_t header[PACK_HEADER_SIZE] = {};
	size_t z;
	int r;

	w = new0(struct pack_writer, 1);
	if (!w)
		return -ENOMEM;
	w->packs_fd = w->fd = w->direct_fd = -EBADF;
	w->pack_id = pack_id;
	w->offset = w->flushed = w->flushing = FRAME_ALIGN;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work_cond, NULL);
	pthread_cond_init(&w->room_cond, NULL);

	if (mkdirat(store_dfd, PACK_DIR, 0700) >= 0) {
		r = fsync_dir_at(store_dfd, ".");
		if (r < 0)
			return r;
	} else if (errno != EEXIST)
		return -errno;
	w->packs_fd = openat(store_dfd, PACK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->packs_fd < 0)
		return -errno;

	(void) snprintf(w->name, sizeof(w->name), "%016" PRIx64 ".pack", pack_id);
	(void) snprintf(w->tmp_name, sizeof(w->tmp_name), "%016" PRIx64 ".pack.tmp-%d", pack_id,
			(int) getpid());
	/* O_TRUNC, not O_EXCL: a file of this name is a leftover of a crashed ckptd. */
	w->fd = openat(w->packs_fd, w->tmp_name,
		       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (w->fd < 0)
		return -errno;
	/* tmpfs and a few others refuse O_DIRECT: they get the buffered path (writer_write). */
	w->direct_fd =
		openat(w->packs_fd, w->tmp_name, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);

	memcpy(header, PACK_MAGIC, 8);
	put_le32(header + 8, PACK_VERSION);
	put_le32(header + 12, PAGE_SIZE);
	put_le64(header + 16, pack_id);
	r = pwrite_all(w->fd, header, sizeof(header), 0);
	if (r < 0)
		return r;

	if (!known) {
		r = page_hash_index_new(&w->own_known);
		if (r < 0)
			return r;
		known = w->own_known;
	}
	w->known = known;
	w->known_mark = page_hash_index_size(known);

	w->cctx = ZSTD_createCCtx();
	if (!w->cctx)
		return -ENOMEM;
	z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level);
	if (ZSTD_isError(z))
		return -EINVAL;
	/* Frames carry their own checksum and the table their size. */
	(void) ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0);
	w->zbuf = aligned_alloc(FRAME_ALIGN, WRITER_SLOT_SIZE);
	if (!w->zbuf)
		return -ENOMEM;
	for (size_t i = 0; i < WRITER_SLOTS; i++) {
		w->slots[i].buf = aligned_alloc(FRAME_ALIGN, WRITER_SLOT_SIZE);
		if (!w->slots[i].buf)
			return -ENOMEM;
	}

	r = writer_start_thread(w);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(w);
	return 0;
}

/* Stores one page unless an equal one is stored; *ref says where it lives. */
static int writer_add_page(struct pack_writer *w, const uint8_t *p, const struct page_hash *h,
			   struct page_ref *ref)
{
	uint8_t *dst;
	int r;

	w->pages_in++;
	if (page_hash_index_lookup(w->known, h, ref))
		return 0;
	if (!w->filling) {
		r = writer_take_slot(w);
		if (r < 0)
			return r;
	}
	r = GROW_LAZY(w->hashes, w->allocated_hashes, w->n_stored + 1);
	if (r < 0)
		return r;
	*ref = (struct page_ref){.pack_id = w->pack_id, .ordinal = w->n_stored};
	r = hash_index_insert(w->known, h, *ref);
	if (r < 0)
		return r;

	dst = w->filling->buf + FRAME_HEADER_SIZE + w->filling->n_pages * PAGE_SIZE;
	/* A page read into the room is in place, or moves down past pages not kept. */
	if (dst != p)
		memmove(dst, p, PAGE_SIZE);
	w->hashes[w->n_stored++] = *h;
	if (++w->filling->n_pages == PACK_PAGES_PER_FRAME)
		writer_submit(w);
	return 0;
}

/*
 * Pages are hashed a frame's worth at a time and their index slots fetched
 * ahead: each lookup is a cache miss in an index of megabytes, and waiting
 * for them one by one was 6% of a 1 GiB dump's CPU time (2% fetched ahead).
 */
int pack_writer_add(struct pack_writer *w, const void *pages, size_t n, struct page_ref *refs)
{
	const uint8_t *p = pages;
	int r;

	assert(w);
	assert(refs || n == 0);
	if (w->done)
		return -EINVAL;
	r = writer_error(w);
	if (r < 0)
		return r;

	for (size_t done = 0; done < n;) {
		struct page_hash h[PACK_PAGES_PER_FRAME];
		size_t k = MIN(n - done, (size_t) PACK_PAGES_PER_FRAME);

		for (size_t i = 0; i < k; i++) {
			page_hash_compute(p + i * PAGE_SIZE, &h[i]);
			hash_index_prefetch(w->known, &h[i]);
		}
		for (size_t i = 0; i < k; i++) {
			r = writer_add_page(w, p + i * PAGE_SIZE, &h[i], &refs[done + i]);
			if (r < 0)
				return r;
		}
		p += k * PAGE_SIZE;
		done += k;
	}
	return 0;
}

int pack_writer_room(struct pack_writer *w, void **ret, size_t *ret_pages)
{
	int r;

	assert(w);
	if (w->done)
		return -EINVAL;
	r = writer_error(w);
	if (r < 0)
		return r;
	if (!w->filling) {
		r = writer_take_slot(w);
		if (r < 0)
			return r;
	}
	*ret = w->filling->buf + FRAME_HEADER_SIZE + w->filling->n_pages * PAGE_SIZE;
	*ret_pages = PACK_PAGES_PER_FRAME - w->filling->n_pages;
	return 0;
}

static int writer_write_trailer(struct pack_writer *w)
{
	size_t table_len = w->n_frames * FRAME_ENTRY_SIZE, hashes_len = w->n_stored * 16;
	uint64_t trailer = w->offset; /* already aligned */
	_cleanup_free_ uint8_t *table = NULL;
	uint8_t footer[PACK_FOOTER_SIZE] = {};
	XXH128_canonical_t sum;
	XXH3_state_t *state;
	int r;

	table = malloc(MAX(table_len, (size_t) 1));
	state = XXH3_createState();
	if (!table || !state) {
		XXH3_freeState(state);
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->n_frames; i++) {
		uint8_t *e = table + i * FRAME_ENTRY_SIZE;

		put_le64(e, w->frames[i].offset);
		put_le32(e + 8, w->frames[i].stored_len);
		put_le32(e + 12, w->frames[i].n_pages);
		put_le64(e + 16, w->frames[i].first_ordinal);
	}
	XXH3_128bits_reset(state);
	XXH3_128bits_update(state, table, table_len);
	XXH3_128bits_update(state, w->hashes, hashes_len);
	XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(state));
	XXH3_freeState(state);

	memcpy(footer, PACK_FOOTER_MAGIC, 8);
	put_le32(footer + 8, PACK_VERSION);
	put_le64(footer + 16, w->n_frames);
	put_le64(footer + 24, w->n_stored);
	put_le64(footer + 32, trailer);
	put_le64(footer + 40, table_len + hashes_len);
	memcpy(footer + 48, sum.digest, 16);

	r = pwrite_all(w->fd, table, table_len, (off_t) trailer);
	if (r < 0)
		return r;
	r = pwrite_all(w->fd, w->hashes, hashes_len, (off_t) (trailer + table_len));
	if (r < 0)
		return r;
	return pwrite_all(w->fd, footer, sizeof(footer),
			  (off_t) (trailer + table_len + hashes_len));
}

/* Never replaces a pack: they are immutable, and a clash means a reused pack id. */
static int writer_rename(struct pack_writer *w)
{
	if (renameat2(w->packs_fd, w->tmp_name, w->packs_fd, w->name, RENAME_NOREPLACE) >= 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* A filesystem without RENAME_NOREPLACE: link(2) refuses to replace too. */
	if (linkat(w->packs_fd, w->tmp_name, w->packs_fd, w->name, 0) < 0)
		return -errno;
	(void) unlinkat(w->packs_fd, w->tmp_name, 0);
	return 0;
}

int pack_writer_finish(struct pack_writer *w, bool *ret_created, struct pack_stats *ret_stats)
{
	struct stat st;
	int r;

	assert(w);
	if (w->done)
		return -EINVAL;

	if (w->filling && w->filling->n_pages > 0)
		writer_submit(w);
	r = writer_stop_thread(w, 0);
	close_direct(w); /* the thread was its only user */
	if (r < 0)
		goto fail;

	if (w->n_stored == 0) {
		(void) close(TAKE_FD(w->fd));
		(void) unlinkat(w->packs_fd, w->tmp_name, 0);
		w->done = true;
		if (ret_stats)
			*ret_stats = (struct pack_stats){.pages_in = w->pages_in};
		if (ret_created)
			*ret_created = false;
		return 0;
	}

	r = writer_write_trailer(w);
	if (r < 0)
		goto fail;
	if (fsync(w->fd) < 0 || fstat(w->fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = writer_rename(w);
	if (r < 0)
		goto fail;
	if (fsync(w->packs_fd) < 0) {
		/* Not durable, so it does not exist: known must not point into it. */
		r = -errno;
		(void) unlinkat(w->packs_fd, w->name, 0);
		goto fail;
	}

	(void) close(TAKE_FD(w->fd));
	w->done = true;
	if (ret_stats)
		*ret_stats = (struct pack_stats){
			.pages_in = w->pages_in,
			.pages_stored = w->n_stored,
			.bytes_stored = (uint64_t) st.st_size,
		};
	if (ret_created)
		*ret_created = true;
	return 0;

fail:
	writer_abort(w);
	return r;
}

struct pack_writer *pack_writer_free(struct pack_writer *w)
{
	if (!w)
		return NULL;
	if (!w->done)
		writer_abort(w);
	close_direct(w);
	if (w->fd >= 0)
		(void) close(w->fd);
	if (w->packs_fd >= 0)
		(void) close(w->packs_fd);
	for (size_t i = 0; i < WRITER_SLOTS; i++)
		free(w->slots[i].buf);
	free(w->zbuf);
	ZSTD_freeCCtx(w->cctx);
	free(w->frames);
	free(w->hashes);
	page_hash_index_free(w->own_known);
	pthread_cond_destroy(&w->work_cond);
	pthread_cond_destroy(&w->room_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

struct pack_reader {
	int fd;
	uint64_t pack_id;
	uint64_t file_size;
	uint64_t n_pages;
	struct frame_entry *frames;
	size_t n_frames;
	uint8_t *trailer;
	const struct page_hash *hashes; /* in trailer */
	bool broken;			/* failed to open; only the error is left */

	uint64_t readahead_start, readahead_end; /* asked for with WILLNEED */
	uint64_t next_ordinal;			 /* where the last read ended */
	uint64_t trailer_offset;

	ZSTD_DCtx *dctx;
	uint8_t *zbuf;	/* a compressed frame with its header */
	uint8_t *cache; /* the last frame read in part, decompressed and verified */
	size_t cache_frame;
	bool cache_valid;

	uint8_t *map; /* the whole file, mapped on first use by pack_reader_map() */

	char error[192];
};

static int reader_fail(struct pack_reader *r, int error, const char *fmt, ...) _printf_(3, 4);
static int reader_fail(struct pack_reader *r, int error, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->error, sizeof(r->error), "pack %016" PRIx64 ": ", r->pack_id);
	va_start(ap, fmt);
	(void) vsnprintf(r->error + n, sizeof(r->error) - (size_t) n, fmt, ap);
	va_end(ap);
	log_debug("%s", r->error);
	return error;
}

static int reader_check_header(struct pack_reader *r)
{
	uint8_t h[PACK_HEADER_SIZE];
	uint32_t version;
	int q;

	q = pread_exact(r->fd, h, sizeof(h), 0);
	if (q < 0)
		return q == -EBADMSG ? reader_fail(r, q, "header: short read") : q;
	if (memcmp(h, PACK_MAGIC, 8) != 0)
		return reader_fail(r, -EBADMSG, "header: bad magic");
	version = get_le32(h + 8);
	if (version > PACK_VERSION)
		return reader_fail(r, -EPROTO,
				   "header: format version %" PRIu32
				   " is newer than this ckptd reads (%d)",
				   version, PACK_VERSION);
	if (version == 0)
		return reader_fail(r, -EBADMSG, "header: bad format version 0");
	if (get_le32(h + 12) != PAGE_SIZE)
		return reader_fail(r, -EBADMSG, "header: page size %" PRIu32 " is not %lu",
				   get_le32(h + 12), PAGE_SIZE);
	if (get_le64(h + 16) != r->pack_id)
		return reader_fail(r, -EBADMSG, "header names pack %016" PRIx64, get_le64(h + 16));
	return 0;
}

static int reader_check_frames(struct pack_reader *r, uint64_t trailer_offset)
{
	uint64_t next_ordinal = 0, min_offset = FRAME_ALIGN;

	r->frames = new0(struct frame_entry, MAX(r->n_frames, (size_t) 1));
	if (!r->frames)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_frames; i++) {
		const uint8_t *e = r->trailer + i * FRAME_ENTRY_SIZE;
		struct frame_entry *f = &r->frames[i];

		f->offset = get_le64(e);
		f->stored_len = get_le32(e + 8);
		f->n_pages = get_le32(e + 12);
		f->first_ordinal = get_le64(e + 16);

		if (f->n_pages < 1 || f->n_pages > PACK_PAGES_PER_FRAME)
			return reader_fail(r, -EBADMSG, "frame table entry %zu: %" PRIu32 " pages",
					   i, f->n_pages);
		if (f->stored_len < 1 || f->stored_len > f->n_pages * PAGE_SIZE)
			return reader_fail(r, -EBADMSG,
					   "frame table entry %zu: stored length %" PRIu32, i,
					   f->stored_len);
		if (!IS_ALIGNED(f->offset, FRAME_ALIGN) || f->offset < min_offset ||
		    f->offset > trailer_offset ||
		    trailer_offset - f->offset < FRAME_HEADER_SIZE + (uint64_t) f->stored_len)
			return reader_fail(r, -EBADMSG,
					   "frame table entry %zu: offset %" PRIu64 " out of place",
					   i, f->offset);
		if (f->first_ordinal != next_ordinal)
			return reader_fail(r, -EBADMSG,
					   "frame table entry %zu: first ordinal %" PRIu64
					   ", expected %" PRIu64,
					   i, f->first_ordinal, next_ordinal);
		next_ordinal += f->n_pages;
		min_offset = f->offset + FRAME_HEADER_SIZE + f->stored_len;
	}
	if (next_ordinal != r->n_pages)
		return reader_fail(r, -EBADMSG,
				   "frames hold %" PRIu64 " pages, footer says %" PRIu64,
				   next_ordinal, r->n_pages);
	return 0;
}

static int reader_check(struct pack_reader *r)
{
	uint8_t f[PACK_FOOTER_SIZE];
	uint64_t n_frames, trailer_offset, trailer_len, table_len;
	XXH128_canonical_t sum;
	uint32_t version;
	int q;

	if (r->file_size < PACK_HEADER_SIZE + PACK_FOOTER_SIZE)
		return reader_fail(r, -EBADMSG, "file too short (%" PRIu64 " bytes)", r->file_size);
	q = reader_check_header(r);
	if (q < 0)
		return q;

	q = pread_exact(r->fd, f, sizeof(f), (off_t) (r->file_size - PACK_FOOTER_SIZE));
	if (q < 0)
		return q == -EBADMSG ? reader_fail(r, q, "footer: short read") : q;
	if (memcmp(f, PACK_FOOTER_MAGIC, 8) != 0)
		return reader_fail(r, -EBADMSG, "footer: bad magic");
	version = get_le32(f + 8);
	if (version > PACK_VERSION)
		return reader_fail(r, -EPROTO,
				   "footer: format version %" PRIu32
				   " is newer than this ckptd reads (%d)",
				   version, PACK_VERSION);
	if (version == 0 || get_le32(f + 12) != 0)
		return reader_fail(r, -EBADMSG, "footer: bad version or reserved field");
	n_frames = get_le64(f + 16);
	r->n_pages = get_le64(f + 24);
	trailer_offset = get_le64(f + 32);
	trailer_len = get_le64(f + 40);

	/* Every size is checked against the file's before it is multiplied or allocated. */
	if (trailer_offset < PACK_HEADER_SIZE || trailer_offset > r->file_size - PACK_FOOTER_SIZE ||
	    trailer_len != r->file_size - PACK_FOOTER_SIZE - trailer_offset ||
	    n_frames > trailer_len / FRAME_ENTRY_SIZE ||
	    r->n_pages > (trailer_len - n_frames * FRAME_ENTRY_SIZE) / 16 ||
	    trailer_len != n_frames * FRAME_ENTRY_SIZE + r->n_pages * 16)
		return reader_fail(r, -EBADMSG, "footer: trailer size does not add up");
	r->n_frames = (size_t) n_frames;
	r->trailer_offset = trailer_offset;
	table_len = n_frames * FRAME_ENTRY_SIZE;

	r->trailer = malloc(MAX((size_t) trailer_len, (size_t) 1));
	if (!r->trailer)
		return -ENOMEM;
	q = pread_exact(r->fd, r->trailer, (size_t) trailer_len, (off_t) trailer_offset);
	if (q < 0)
		return q == -EBADMSG ? reader_fail(r, q, "trailer: short read") : q;
	XXH128_canonicalFromHash(&sum, XXH3_128bits(r->trailer, (size_t) trailer_len));
	if (memcmp(sum.digest, f + 48, 16) != 0)
		return reader_fail(r, -EBADMSG, "trailer checksum mismatch");
	r->hashes = (const struct page_hash *) (r->trailer + table_len);

	return reader_check_frames(r, trailer_offset);
}

/*
 * On -EBADMSG and -EPROTO *ret is set all the same, to a reader that only
 * reports what was wrong through pack_reader_error(): the header offers no
 * other way to pass the description on. Free it as usual.
 */
int pack_reader_open(int store_dfd, uint64_t pack_id, struct pack_reader **ret)
{
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	char path[PACK_PATH_MAX];
	struct stat st;
	int q;

	r = new0(struct pack_reader, 1);
	if (!r)
		return -ENOMEM;
	r->pack_id = pack_id;
	r->fd = openat(store_dfd, pack_path(pack_id, path),
		       O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (r->fd < 0)
		return -errno;
	if (fstat(r->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		q = reader_fail(r, -EBADMSG, "not a regular file");
	else {
		r->file_size = (uint64_t) st.st_size;
		q = reader_check(r);
	}
	if (q == -EBADMSG || q == -EPROTO) {
		r->broken = true;
		r->n_pages = 0;
		*ret = TAKE_PTR(r);
		return q;
	}
	if (q < 0)
		return q;

	r->dctx = ZSTD_createDCtx();
	r->zbuf = aligned_alloc(FRAME_ALIGN, WRITER_SLOT_SIZE);
	r->cache = aligned_alloc(FRAME_ALIGN, FRAME_RAW_MAX);
	if (!r->dctx || !r->zbuf || !r->cache)
		return -ENOMEM;
	*ret = TAKE_PTR(r);
	return 0;
}

static int preadv_exact(int fd, struct iovec *iov, int n, off_t offset)
{
	while (n > 0) {
		ssize_t k = preadv(fd, iov, n, offset);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EBADMSG;
		offset += k;
		while (n > 0 && (size_t) k >= iov->iov_len) {
			k -= (ssize_t) iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *) iov->iov_base + k;
			iov->iov_len -= (size_t) k;
		}
	}
	return 0;
}

/* Reads frame fi into dst (n_pages * 4096 bytes) and verifies all of it. */
static int reader_load_frame(struct pack_reader *r, size_t fi, uint8_t *dst)
{
	const struct frame_entry *f = &r->frames[fi];
	size_t raw_len = (size_t) f->n_pages * PAGE_SIZE;
	bool raw = f->stored_len == raw_len;
	const uint8_t *payload;
	uint8_t hdr[FRAME_HEADER_SIZE];
	int q;

	if (raw) {
		/* Straight into dst: incompressible memory is copied once, by the kernel. */
		struct iovec iov[2] = {
			{.iov_base = hdr, .iov_len = sizeof(hdr)},
			{.iov_base = dst, .iov_len = raw_len},
		};

		q = preadv_exact(r->fd, iov, 2, (off_t) f->offset);
		payload = dst;
	} else {
		q = pread_exact(r->fd, r->zbuf, FRAME_HEADER_SIZE + f->stored_len,
				(off_t) f->offset);
		memcpy(hdr, r->zbuf, sizeof(hdr));
		payload = r->zbuf + FRAME_HEADER_SIZE;
	}
	if (q == -EBADMSG)
		return reader_fail(r, q, "frame at offset %" PRIu64 ": short read", f->offset);
	if (q < 0)
		return q;

	if (memcmp(hdr, FRAME_MAGIC, 4) != 0 || get_le32(hdr + 4) != f->n_pages ||
	    get_le32(hdr + 8) != f->stored_len ||
	    get_le32(hdr + 12) != (raw ? FRAME_CODEC_RAW : FRAME_CODEC_ZSTD) ||
	    get_le64(hdr + 16) != f->first_ordinal)
		return reader_fail(r, -EBADMSG,
				   "frame at offset %" PRIu64 ": header does not match the table",
				   f->offset);
	/*
	 * A raw payload is nothing but the pages, which are all checked against
	 * their hashes below; hashing it twice would cost a quarter of the speed
	 * of restoring from the page cache for no more certainty.
	 */
	if (!raw && XXH3_64bits(payload, f->stored_len) != get_le64(hdr + 24))
		return reader_fail(r, -EBADMSG, "frame at offset %" PRIu64 ": checksum mismatch",
				   f->offset);
	if (!raw) {
		size_t z = ZSTD_decompressDCtx(r->dctx, dst, raw_len, payload, f->stored_len);

		if (ZSTD_isError(z) || z != raw_len)
			return reader_fail(
				r, -EBADMSG, "frame at offset %" PRIu64 ": cannot decompress (%s)",
				f->offset, ZSTD_isError(z) ? ZSTD_getErrorName(z) : "short");
	}
	for (uint32_t i = 0; i < f->n_pages; i++) {
		struct page_hash h;

		page_hash_compute(dst + (size_t) i * PAGE_SIZE, &h);
		if (memcmp(&h, &r->hashes[f->first_ordinal + i], sizeof(h)) != 0)
			return reader_fail(r, -EBADMSG,
					   "page %" PRIu64 " (frame at offset %" PRIu64
					   "): hash mismatch",
					   f->first_ordinal + i, f->offset);
	}
	return 0;
}

/*
 * Reads go frame by frame, and each waits for the disk and is then hashed; so
 * that the disk is busy meanwhile, ask for what a long read will need next.
 */
static void reader_readahead(struct pack_reader *r, const struct frame_entry *f, uint64_t end)
{
	uint64_t to;

	/* A read within one frame is one pread: nothing to overlap. */
	if (end <= f->offset + FRAME_HEADER_SIZE + f->stored_len)
		return;
	if (f->offset < r->readahead_start || f->offset > r->readahead_end)
		r->readahead_start = r->readahead_end = f->offset;
	if (r->readahead_end >= end || r->readahead_end - f->offset >= READAHEAD_BYTES / 2)
		return;
	to = MIN(end, f->offset + READAHEAD_BYTES);
	(void) posix_fadvise(r->fd, (off_t) r->readahead_end, (off_t) (to - r->readahead_end),
			     POSIX_FADV_WILLNEED);
	r->readahead_end = to;
}

static size_t reader_find_frame(const struct pack_reader *r, uint64_t ordinal)
{
	size_t lo = 0, hi = r->n_frames;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->frames[mid].first_ordinal <= ordinal)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int pack_reader_read(struct pack_reader *r, uint64_t ordinal, size_t n, void *dst)
{
	const struct frame_entry *last;
	uint8_t *p = dst;
	uint64_t end;
	size_t fi;
	int q;

	assert(r);
	if (r->broken)
		return -EBADMSG;
	if (ordinal > r->n_pages || n > r->n_pages - ordinal)
		/* The caller's ordinals come from an image, so this is a damaged image. */
		return reader_fail(r, -EBADMSG,
				   "pages %" PRIu64 "+%zu requested, the pack holds %" PRIu64,
				   ordinal, n, r->n_pages);

	if (n == 0)
		return 0;
	fi = reader_find_frame(r, ordinal);
	last = &r->frames[reader_find_frame(r, ordinal + n - 1)];
	/* A restore reads extent after extent; when they follow each other, read on ahead. */
	end = ordinal == r->next_ordinal ? r->trailer_offset
					 : last->offset + FRAME_HEADER_SIZE + last->stored_len;
	r->next_ordinal = ordinal + n;

	for (; n > 0; fi++) {
		const struct frame_entry *f = &r->frames[fi];
		uint64_t skip = ordinal - f->first_ordinal;
		size_t count = (size_t) MIN((uint64_t) n, f->n_pages - skip);
		bool cached = r->cache_valid && r->cache_frame == fi;

		reader_readahead(r, f, end);

		if (skip == 0 && count == f->n_pages && !cached) {
			q = reader_load_frame(r, fi, p);
			if (q < 0)
				return q;
		} else {
			if (!cached) {
				r->cache_valid = false;
				q = reader_load_frame(r, fi, r->cache);
				if (q < 0)
					return q;
				r->cache_frame = fi;
				r->cache_valid = true;
			}
			memcpy(p, r->cache + skip * PAGE_SIZE, count * PAGE_SIZE);
		}
		p += count * PAGE_SIZE;
		ordinal += count;
		n -= count;
	}
	return 0;
}

size_t pack_reader_frame_left(const struct pack_reader *r, uint64_t ordinal)
{
	const struct frame_entry *f;

	if (r->broken || ordinal >= r->n_pages)
		return 0;
	f = &r->frames[reader_find_frame(r, ordinal)];
	return (size_t)(f->first_ordinal + f->n_pages - ordinal);
}

int pack_reader_map(struct pack_reader *r, uint64_t ordinal, size_t n, const void **ret)
{
	const struct frame_entry *f;
	const uint8_t *hdr, *pages;
	uint64_t skip;

	if (r->broken)
		return -EBADMSG;
	if (n == 0 || ordinal > r->n_pages || n > r->n_pages - ordinal)
		return reader_fail(r, -EBADMSG,
				   "pages %" PRIu64 "+%zu requested, the pack holds %" PRIu64,
				   ordinal, n, r->n_pages);
	f = &r->frames[reader_find_frame(r, ordinal)];
	skip = ordinal - f->first_ordinal;
	if (f->stored_len != (size_t) f->n_pages * PAGE_SIZE || skip + n > f->n_pages)
		return -EAGAIN;
	if (!r->map) {
		void *m = mmap(NULL, r->file_size, PROT_READ, MAP_SHARED, r->fd, 0);

		if (m == MAP_FAILED)
			return -EAGAIN;
		(void) madvise(m, r->file_size, MADV_SEQUENTIAL);
		r->map = m;
	}
	hdr = r->map + f->offset;
	if (memcmp(hdr, FRAME_MAGIC, 4) != 0 || get_le32(hdr + 4) != f->n_pages ||
	    get_le32(hdr + 8) != f->stored_len || get_le32(hdr + 12) != FRAME_CODEC_RAW ||
	    get_le64(hdr + 16) != f->first_ordinal)
		return reader_fail(r, -EBADMSG,
				   "frame at offset %" PRIu64 ": header does not match the table",
				   f->offset);
	pages = hdr + FRAME_HEADER_SIZE + skip * PAGE_SIZE;
	for (size_t i = 0; i < n; i++) {
		struct page_hash h;

		page_hash_compute(pages + i * PAGE_SIZE, &h);
		if (memcmp(&h, &r->hashes[ordinal + i], sizeof(h)) != 0)
			return reader_fail(r, -EBADMSG,
					   "page %" PRIu64 " (frame at offset %" PRIu64
					   "): hash mismatch",
					   ordinal + i, f->offset);
	}
	*ret = pages;
	return 0;
}

uint64_t pack_reader_n_pages(const struct pack_reader *r)
{
	return r->n_pages;
}

uint64_t pack_reader_file_size(const struct pack_reader *r)
{
	return r->file_size;
}

int pack_reader_index(struct pack_reader *r, struct page_hash_index *idx)
{
	if (r->broken)
		return -EBADMSG;
	for (uint64_t o = 0; o < r->n_pages; o++) {
		int q = page_hash_index_add(idx, &r->hashes[o],
					    (struct page_ref){.pack_id = r->pack_id, .ordinal = o});

		if (q < 0)
			return q;
	}
	return 0;
}

int pack_reader_index_used(struct pack_reader *r, struct page_hash_index *idx, const uint64_t *used,
			   uint64_t n_used)
{
	if (r->broken)
		return -EBADMSG;
	for (uint64_t o = 0; o < MIN(r->n_pages, n_used); o++) {
		int q;

		if (!pack_bitmap_test(used, n_used, o))
			continue;
		q = page_hash_index_add(idx, &r->hashes[o],
					(struct page_ref){.pack_id = r->pack_id, .ordinal = o});
		if (q < 0)
			return q;
	}
	return 0;
}

static bool frame_is_used(const struct frame_entry *f, const uint64_t *used, uint64_t n_used)
{
	for (uint64_t o = f->first_ordinal; o < f->first_ordinal + f->n_pages; o++)
		if (pack_bitmap_test(used, n_used, o))
			return true;
	return false;
}

static int punch(int fd, uint64_t start, uint64_t end)
{
	if (end <= start)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) start,
		      (off_t) (end - start)) < 0)
		return -errno;
	return 0;
}

int pack_punch_unused(int store_dfd, uint64_t pack_id, const uint64_t *used, uint64_t n_used,
		      uint64_t *ret_freed_bytes)
{
	_cleanup_(pack_reader_freep) struct pack_reader *r = NULL;
	_cleanup_close_ int fd = -EBADF;
	uint64_t start = 0, end = 0;
	char path[PACK_PATH_MAX];
	struct stat before, after, st;
	int q;

	/* The reader checks the trailer: holes are only ever placed by a verified frame table. */
	q = pack_reader_open(store_dfd, pack_id, &r);
	if (q < 0)
		return q;
	fd = openat(store_dfd, pack_path(pack_id, path),
		    O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &before) < 0 || fstat(r->fd, &st) < 0)
		return -errno;
	/* Replaced between the two opens: what was verified is not what we would punch. */
	if (before.st_dev != st.st_dev || before.st_ino != st.st_ino)
		return -ESTALE;

	/* Runs of unused frames become one hole each. */
	for (size_t i = 0; i < r->n_frames; i++) {
		const struct frame_entry *f = &r->frames[i];
		uint64_t next = i + 1 < r->n_frames ? r->frames[i + 1].offset : r->trailer_offset;
		uint64_t frame_end = MIN(ALIGN_TO(f->offset + FRAME_HEADER_SIZE + f->stored_len,
						  (uint64_t) FRAME_ALIGN),
					 next);

		if (frame_is_used(f, used, n_used))
			continue;
		if (f->offset != end) {
			q = punch(fd, start, end);
			if (q < 0)
				return q;
			start = f->offset;
		}
		end = frame_end;
	}
	q = punch(fd, start, end);
	if (q < 0)
		return q;

	/*
	 * No fsync: a hole lost in a crash costs only space, and the next
	 * retention punches it again.
	 */
	if (fstat(fd, &after) < 0)
		return -errno;
	if (ret_freed_bytes)
		*ret_freed_bytes = after.st_blocks < before.st_blocks
					   ? (uint64_t) (before.st_blocks - after.st_blocks) * 512
					   : 0;
	return 0;
}

const char *pack_reader_error(const struct pack_reader *r)
{
	if (!r || !r->error[0])
		return "no error";
	return r->error;
}

struct pack_reader *pack_reader_free(struct pack_reader *r)
{
	if (!r)
		return NULL;
	if (r->fd >= 0)
		(void) close(r->fd);
	if (r->map)
		(void) munmap(r->map, r->file_size);
	free(r->frames);
	free(r->trailer);
	ZSTD_freeDCtx(r->dctx);
	free(r->zbuf);
	free(r->cache);
	free(r);
	return NULL;
}
