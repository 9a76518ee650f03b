/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The page store: page contents, compressed with zstd and addressed by their
 * XXH3-128 hash, in pack files that the versions of a job share. A pack is
 * written once (by one snapshot) and afterwards only ever loses whole frames
 * that retention punches out (pack_punch_unused()); a version refers to a
 * page by (pack id, ordinal), where the ordinal counts the pages stored in
 * that pack. The format is in docs/architecture.md ("Page store").
 */
#pragma once

#include "macro.h"

#define PACK_DIR "packs"
#define PACK_PATH_MAX 64
#define PACK_PAGES_PER_FRAME 64 /* 256 KiB of pages compressed together */

struct page_hash {
	uint8_t bytes[16]; /* XXH128_canonical_t: big-endian */
};

struct page_ref {
	uint64_t pack_id;
	uint64_t ordinal;
};

void page_hash_compute(const void *page, struct page_hash *ret);

/* "packs/00000000000000a3.pack" */
const char *pack_path(uint64_t pack_id, char buf[static PACK_PATH_MAX]);

/* hash -> where a page with that content is stored, for deduplication. */
struct page_hash_index;
int page_hash_index_new(struct page_hash_index **ret);
struct page_hash_index *page_hash_index_free(struct page_hash_index *idx);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct page_hash_index *, page_hash_index_free);
/* Keeps the first ref stored for a hash. */
int page_hash_index_add(struct page_hash_index *idx, const struct page_hash *h, struct page_ref ref);
bool page_hash_index_lookup(const struct page_hash_index *idx, const struct page_hash *h,
			    struct page_ref *ret);
size_t page_hash_index_size(const struct page_hash_index *idx);

struct pack_stats {
	uint64_t pages_in;     /* pages handed to pack_writer_add() */
	uint64_t pages_stored; /* of those, new contents written to this pack */
	uint64_t bytes_stored; /* size of the pack file */
};

struct pack_writer;
/*
 * Starts packs/<pack_id>.pack under store_dfd, written as a temporary file.
 * known (may be NULL) lists pages already stored in other packs; the writer
 * adds the pages it stores, so the caller's index stays current.
 */
int pack_writer_new(int store_dfd, uint64_t pack_id, struct page_hash_index *known,
		    int zstd_level, struct pack_writer **ret);
/* Stores n pages (n * 4096 bytes) and sets refs[i] to where page i lives. */
int pack_writer_add(struct pack_writer *w, const void *pages, size_t n, struct page_ref *refs);
/*
 * Where the next new pages will go: *ret_pages (1 to PACK_PAGES_PER_FRAME)
 * free pages of the frame being filled. Pages read straight there and then
 * handed to pack_writer_add stay in place instead of being copied. Waits
 * while every frame is on its way to the disk.
 */
int pack_writer_room(struct pack_writer *w, void **ret, size_t *ret_pages);
/*
 * Writes the trailer, fsyncs and renames the pack into place. When no page
 * was new the file is removed and *ret_created is false.
 */
int pack_writer_finish(struct pack_writer *w, bool *ret_created, struct pack_stats *ret_stats);
/* Frees; an unfinished pack's temporary file is removed. */
struct pack_writer *pack_writer_free(struct pack_writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pack_writer *, pack_writer_free);

struct pack_reader;
/* Opens and checks the trailer: -EBADMSG for a damaged pack, -EPROTO for a newer format. */
int pack_reader_open(int store_dfd, uint64_t pack_id, struct pack_reader **ret);
/* Copies pages [ordinal, ordinal + n) to dst, verifying frame checksums and page hashes. */
int pack_reader_read(struct pack_reader *r, uint64_t ordinal, size_t n, void *dst);
/*
 * Pages [ordinal, ordinal + n) without a copy, when they lie in one frame
 * stored raw: a pointer into a read-only mapping of the pack, valid until
 * the reader is freed, after the same checks as pack_reader_read(). -EAGAIN
 * when they do not (compressed, or across frames): read them instead.
 */
int pack_reader_map(struct pack_reader *r, uint64_t ordinal, size_t n, const void **ret);
/* Pages left in the frame that holds ordinal (from ordinal on): how far one map can reach. */
size_t pack_reader_frame_left(const struct pack_reader *r, uint64_t ordinal);
uint64_t pack_reader_n_pages(const struct pack_reader *r);
uint64_t pack_reader_file_size(const struct pack_reader *r);
/* Adds every page of the pack to idx. */
int pack_reader_index(struct pack_reader *r, struct page_hash_index *idx);

/*
 * Sets of ordinals: ordinal o is in the set when bit (o % 64) of used[o / 64]
 * is set; ordinals at or beyond n_used are not in it (used may be NULL when
 * n_used is 0).
 */
#define PACK_BITMAP_WORDS(n) (((n) + 63) / 64)
static inline bool pack_bitmap_test(const uint64_t *used, uint64_t n_used, uint64_t o)
{
	return o < n_used && (used[o / 64] >> (o % 64) & 1);
}

/*
 * Adds only the pages whose ordinals are in used. For deduplication after
 * retention, which punches out frames: a page no version uses may be gone.
 */
int pack_reader_index_used(struct pack_reader *r, struct page_hash_index *idx, const uint64_t *used,
			   uint64_t n_used);

/* After -EBADMSG: what was wrong and where ("frame at offset 1052672: checksum mismatch"). */
const char *pack_reader_error(const struct pack_reader *r);
struct pack_reader *pack_reader_free(struct pack_reader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pack_reader *, pack_reader_free);

/*
 * Frees the page data nobody uses: punches a hole over every frame none of
 * whose ordinals is in used (the frame's header and payload up to the next
 * 4096 boundary). The header and trailer stay, so the pack still opens and
 * the other frames still read. Refuses (-EBADMSG, -EPROTO) a pack whose
 * trailer does not verify; -EOPNOTSUPP where the filesystem cannot punch.
 * *ret_freed_bytes is what the file's allocation shrank by. An index of
 * hashes built before (pack_reader_index(), a writer's known) may point into
 * what is punched: build it again afterwards, with pack_reader_index_used().
 */
int pack_punch_unused(int store_dfd, uint64_t pack_id, const uint64_t *used, uint64_t n_used,
		      uint64_t *ret_freed_bytes);
