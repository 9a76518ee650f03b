// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling the restored process's memory: what a restore of a large process
 * spends its time on, mostly in the kernel faulting in fresh pages. The
 * work is cut into pieces of at most one frame and taken by two threads,
 * each with its own pack readers, so that faults, page hashing and
 * decompression run on both cores. Pages stored raw are written from a
 * mapping of the pack: the only copy is the kernel's, into the process.
 */
#define LOG_PREFIX "restore: "

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>

#include "log.h"
#include "restore.h"
#include "util.h"

#define FILL_THREADS 2
#define PARALLEL_MIN_PAGES 16384 /* below 64 MiB a second thread is not worth starting */

struct fill_piece {
	const struct snapshot_region *reg;
	uint32_t pack; /* or PAGE_INDEX_ZERO */
	uint32_t n_pages;
	uint64_t ordinal;
	uint64_t first_page;
};

struct fill {
	struct restore_ctx *c;
	struct fill_piece *pieces;
	size_t n_pieces, allocated;
	atomic_size_t next;
	atomic_int error;
	atomic_uint_fast64_t pages_done;
};

struct filler {
	struct fill *f;
	struct pack_reader **packs; /* its own, or the context's */
	bool own_packs;
	uint8_t *buf;
	bool reports; /* the one thread that calls the progress callback */
};

static int add_piece(struct fill *f, const struct snapshot_region *reg,
		     const struct page_extent *e, uint32_t done, uint32_t n)
{
	if (GROW(f->pieces, f->allocated, f->n_pieces + 1) < 0)
		return -ENOMEM;
	f->pieces[f->n_pieces++] = (struct fill_piece){
		.reg = reg,
		.pack = e->pack,
		.n_pages = n,
		.ordinal = e->ordinal + done,
		.first_page = e->first_page + done,
	};
	return 0;
}

/* Pieces end where frames end, so each is one map or one frame's read. */
static int plan_region(struct fill *f, const struct snapshot_region *reg)
{
	const struct page_stream *s = &f->c->pages->streams[reg->stream];

	for (size_t i = 0; i < s->n_extents; i++) {
		const struct page_extent *e = &s->extents[i];

		for (uint32_t done = 0; done < e->n_pages;) {
			size_t n = MIN((size_t)(e->n_pages - done), (size_t) RESTORE_CHUNK_PAGES);
			int r;

			if (e->first_page + e->n_pages > (reg->end - reg->start) / PAGE_SIZE)
				return log_error_errno(-EBADMSG,
						       "The image is damaged: pages lie outside "
						       "their region 0x%" PRIx64 "-0x%" PRIx64,
						       reg->start, reg->end);
			if (e->pack != PAGE_INDEX_ZERO) {
				size_t left = pack_reader_frame_left(f->c->packs[e->pack],
								     e->ordinal + done);

				if (left && left < n)
					n = left;
			}
			r = add_piece(f, reg, e, done, (uint32_t) n);
			if (r < 0)
				return log_oom();
			done += (uint32_t) n;
		}
	}
	return 0;
}

static int piece_data(struct filler *w, const struct fill_piece *p, const uint8_t **ret)
{
	struct pack_reader *r;
	const void *m;
	int q;

	if (p->pack == PAGE_INDEX_ZERO) {
		memset(w->buf, 0, (size_t) p->n_pages * PAGE_SIZE);
		*ret = w->buf;
		return 0;
	}
	r = w->packs[p->pack];
	q = pack_reader_map(r, p->ordinal, p->n_pages, &m);
	if (q >= 0) {
		*ret = m;
		return 0;
	}
	if (q == -EAGAIN)
		q = pack_reader_read(r, p->ordinal, p->n_pages, w->buf);
	if (q < 0)
		return log_error_errno(q, "The image's page data is damaged: %s",
				       q == -EBADMSG ? pack_reader_error(r) : strerror(-q));
	*ret = w->buf;
	return 0;
}

static int write_piece(struct filler *w, const struct fill_piece *p)
{
	struct restore_ctx *c = w->f->c;
	uint64_t addr = p->reg->start + p->first_page * PAGE_SIZE;
	size_t len = (size_t) p->n_pages * PAGE_SIZE;
	const uint8_t *data = NULL;
	struct iovec local, remote;
	int r = piece_data(w, p, &data);

	if (r < 0)
		return r;
	local = (struct iovec){ (void *) data, len };
	remote = (struct iovec){ (void *) (uintptr_t) addr, len };
	if (process_vm_writev(c->pid, &local, 1, &remote, 1, 0) == (ssize_t) len)
		return 0;
	r = pwrite_all(c->inj.mem_fd, data, len, (off_t) addr);
	if (r < 0)
		return log_error_errno(r, "Cannot write memory at 0x%" PRIx64 ": %m", addr);
	return 0;
}

static void *fill_thread(void *userdata)
{
	struct filler *w = userdata;
	struct fill *f = w->f;
	size_t i;

	while (atomic_load(&f->error) == 0 && (i = atomic_fetch_add(&f->next, 1)) < f->n_pieces) {
		int r = write_piece(w, &f->pieces[i]);
		uint64_t done;

		if (r < 0) {
			int zero = 0;

			(void) atomic_compare_exchange_strong(&f->error, &zero, r);
			break;
		}
		done = atomic_fetch_add(&f->pages_done, f->pieces[i].n_pages) +
		       f->pieces[i].n_pages;
		if (w->reports && f->c->opts->progress)
			f->c->opts->progress("loading", done, f->c->pages_to_write,
					     f->c->opts->userdata);
	}
	return NULL;
}

static int open_own_packs(struct filler *w, struct restore_ctx *c)
{
	w->packs = new0(struct pack_reader *, c->pages->n_packs ? c->pages->n_packs : 1);
	if (!w->packs)
		return -ENOMEM;
	w->own_packs = true;
	for (size_t i = 0; i < c->pages->n_packs; i++) {
		int r = pack_reader_open(c->img->store_dfd, c->pages->packs[i], &w->packs[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static void filler_done(struct filler *w, size_t n_packs)
{
	if (w->own_packs && w->packs)
		for (size_t i = 0; i < n_packs; i++)
			pack_reader_free(w->packs[i]);
	if (w->own_packs)
		free(w->packs);
	free(w->buf);
}

static int run_fillers(struct fill *f, size_t n)
{
	struct restore_ctx *c = f->c;
	struct filler w[FILL_THREADS] = {};
	pthread_t tid[FILL_THREADS];
	size_t started = 0;
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++) {
		w[i] = (struct filler){ .f = f, .packs = c->packs, .reports = i == 0 };
		w[i].buf = malloc(RESTORE_CHUNK_PAGES * PAGE_SIZE);
		if (!w[i].buf)
			r = -ENOMEM;
		else if (i > 0)
			r = open_own_packs(&w[i], c);
	}
	for (size_t i = 1; i < n && r >= 0; i++) {
		if (pthread_create(&tid[i], NULL, fill_thread, &w[i]) != 0)
			break; /* one thread fewer: slower, not wrong */
		started = i;
	}
	if (r >= 0)
		fill_thread(&w[0]);
	for (size_t i = 1; i <= started; i++)
		(void) pthread_join(tid[i], NULL);
	for (size_t i = 0; i < n; i++)
		filler_done(&w[i], c->pages->n_packs);
	if (r < 0)
		return log_error_errno(r, "Cannot prepare to fill memory: %m");
	return atomic_load(&f->error);
}

int restore_fill(struct restore_ctx *c, bool (*needs_fill)(const struct restore_ctx *,
							  const struct snapshot_region *))
{
	struct fill f = { .c = c };
	int r = 0;

	for (size_t i = 0; i < c->snap->n_regions && r >= 0; i++)
		if (needs_fill(c, &c->snap->regions[i]))
			r = plan_region(&f, &c->snap->regions[i]);
	if (r >= 0 && f.n_pieces)
		r = run_fillers(&f, c->pages_to_write >= PARALLEL_MIN_PAGES ? FILL_THREADS : 1);
	free(f.pieces);
	return r;
}
