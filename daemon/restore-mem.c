// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The stub's address space becomes the saved one: a trampoline page goes
 * into a hole of the saved layout, everything of the stub's own is unmapped,
 * the vDSO moves (vdso.c), each region is mapped back at its address with
 * its protections and flags, and the saved pages are written in, verified
 * against their hashes on the way.
 */
#define LOG_PREFIX "restore: "

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "log.h"
#include "proc.h"
#include "ptrace.h"
#include "restore.h"
#include "util.h"

#define TASK_TOP 0x7ffffffff000ULL
#define MMAP_MIN 0x10000ULL
#define RSEQ_FLAG_UNREGISTER 1

int restore_syscall(struct restore_ctx *c, size_t thread, long nr, const uint64_t args[6],
		    int64_t *ret_result)
{
	int r = inject_syscall(&c->inj, &c->threads[thread], nr, args, ret_result);

	if (r < 0)
		return log_error_errno(r, "Driving thread %d of the new process failed: %m",
				       (int) c->threads[thread].tid);
	return 0;
}

int restore_put(struct restore_ctx *c, size_t offset, const void *buf, size_t len,
		uint64_t *ret_addr)
{
	int r;

	if (offset + len > c->tramp_data_size)
		return log_error_errno(-E2BIG, "Restore data does not fit the trampoline");
	r = inject_write(&c->inj, c->tramp_data + offset, buf, len);
	if (r < 0)
		return log_error_errno(r, "Cannot write into the new process: %m");
	*ret_addr = c->tramp_data + offset;
	return 0;
}

/*
 * Up to *n pages from a pack: pages stored raw are handed over in place (one
 * copy, by the kernel, into the process); the others are read and
 * decompressed into our buffer, whole frames at a time.
 */
static int stream_pages(struct restore_ctx *c, struct pack_reader *r, uint64_t ordinal,
			size_t *n, const uint8_t **ret)
{
	size_t in_frame = pack_reader_frame_left(r, ordinal);
	const void *p;
	int q;

	if (in_frame && in_frame < *n)
		*n = in_frame;
	q = pack_reader_map(r, ordinal, *n, &p);
	if (q != -EAGAIN) {
		if (q >= 0)
			*ret = p;
		return q;
	}
	q = pack_reader_read(r, ordinal, *n, c->buf);
	if (q >= 0)
		*ret = c->buf;
	return q;
}

int restore_stream(struct restore_ctx *c, uint32_t stream, restore_page_sink sink,
		   void *userdata)
{
	const struct page_stream *s;

	if (stream == SNAPSHOT_NONE)
		return 0;
	if (stream >= c->pages->n_streams)
		return log_error_errno(-EBADMSG, "The image is damaged: page stream %u is missing",
				       stream);
	s = &c->pages->streams[stream];
	for (size_t i = 0; i < s->n_extents; i++) {
		const struct page_extent *e = &s->extents[i];

		for (uint32_t done = 0; done < e->n_pages;) {
			size_t n = MIN((size_t)(e->n_pages - done), (size_t) RESTORE_CHUNK_PAGES);
			const uint8_t *data = NULL;
			int r;

			if (e->pack != PAGE_INDEX_ZERO) {
				r = stream_pages(c, c->packs[e->pack], e->ordinal + done, &n, &data);
				if (r < 0)
					return log_error_errno(
						r, "The image's page data is damaged: %s",
						r == -EBADMSG ? pack_reader_error(c->packs[e->pack])
							      : strerror(-r));
			}
			r = sink(c, e->first_page + done, n, data, userdata);
			if (r < 0)
				return r;
			done += (uint32_t) n;
		}
	}
	return 0;
}

/* ---- address space layout ---- */

struct span {
	uint64_t start, end;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * A free range of size bytes, a page away from everything in the saved
 * layout and in avoid[] (what the stub still has mapped), highest first.
 */
static int find_hole(const struct restore_ctx *c, const struct proc_map *avoid, size_t n_avoid,
		     uint64_t size, uint64_t *ret)
{
	size_t n = c->snap->n_regions + n_avoid, k = 0;
	_cleanup_free_ struct span *s = new0(struct span, n + 1);
	uint64_t top = TASK_TOP;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < c->snap->n_regions; i++)
		s[k++] = (struct span){ c->snap->regions[i].start, c->snap->regions[i].end };
	for (size_t i = 0; i < n_avoid; i++)
		if (avoid[i].end <= TASK_TOP)
			s[k++] = (struct span){ avoid[i].start, avoid[i].end };
	qsort(s, k, sizeof(*s), cmp_span);
	for (size_t i = k; i-- > 0;) {
		if (s[i].end + PAGE_SIZE + size + PAGE_SIZE <= top) {
			*ret = top - PAGE_SIZE - size;
			return 0;
		}
		top = MIN(top, s[i].start);
	}
	if (top >= MMAP_MIN + 2 * PAGE_SIZE + size) {
		*ret = top - PAGE_SIZE - size;
		return 0;
	}
	return -ENOMEM;
}

static int check_result(const char *what, int64_t res)
{
	if (res < 0 && res > -4096)
		return log_error_errno((int) res, "%s in the new process failed: %m", what);
	return 0;
}

/* Drops the stub's rseq registration: its glibc's TLS is about to be unmapped. */
static int unregister_rseq(struct restore_ctx *c)
{
	struct snapshot_rseq rs;
	int64_t res;
	int r = ptrace_get_rseq(c->pid, &rs);

	if (r < 0 || !rs.abi_pointer)
		return 0;
	r = STUB_CALL(c, 0, SYS_rseq, &res, rs.abi_pointer, rs.size, RSEQ_FLAG_UNREGISTER,
		      rs.signature, 0, 0);
	return r < 0 ? r : check_result("Unregistering rseq", res);
}

static int place_trampoline(struct restore_ctx *c, const struct proc_map *maps, size_t n_maps)
{
	static const uint8_t code[] = { 0x0f, 0x05, 0xc3 }; /* syscall; ret */
	/* ldtilecfg (%rdi); tilezero %tmm0; tilerelease; syscall; ret */
	static const uint8_t amx[] = { 0xc4, 0xe2, 0x78, 0x49, 0x07, 0xc4, 0xe2, 0x7b, 0x49, 0xc0,
				       0xc4, 0xe2, 0x78, 0x49, 0xc0, 0x0f, 0x05, 0xc3 };
	struct inject_thread *th = &c->threads[0];
	uint64_t addr;
	int64_t res;
	int r;

	r = find_hole(c, maps, n_maps, RESTORE_TRAMP_SIZE, &addr);
	if (r < 0)
		return log_error_errno(r, "The saved address space has no room for ckptd's "
					  "trampoline");
	r = STUB_CALL(c, 0, SYS_mmap, &res, addr, RESTORE_TRAMP_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t) -1, 0);
	if (r < 0 || (r = check_result("Mapping the trampoline", res)) < 0)
		return r;
	c->tramp = addr;
	c->tramp_data = addr + PAGE_SIZE;
	c->tramp_data_size = RESTORE_TRAMP_SIZE - 2 * PAGE_SIZE;
	r = inject_write(&c->inj, addr, code, sizeof(code));
	if (r >= 0)
		r = inject_write(&c->inj, addr + RESTORE_TRAMP_AMX, amx, sizeof(amx));
	if (r < 0)
		return log_error_errno(r, "Cannot write the trampoline: %m");
	c->inj.syscall_ip = addr;
	th->rsp = addr + RESTORE_TRAMP_SIZE - 64;
	th->data = c->tramp_data;
	th->data_size = c->tramp_data_size;
	return 0;
}

static bool is_kernel_mapping(const struct proc_map *m)
{
	return m->name && (strcmp(m->name, "[vdso]") == 0 || strcmp(m->name, "[vvar]") == 0 ||
			   strcmp(m->name, "[vvar_vclock]") == 0 ||
			   strcmp(m->name, "[vsyscall]") == 0);
}

/* Everything the stub brought along goes, but the trampoline and the kernel's own pages. */
static int unmap_stub(struct restore_ctx *c, const struct proc_map *maps, size_t n_maps)
{
	for (size_t i = 0; i < n_maps;) {
		uint64_t start = maps[i].start, end = maps[i].end;
		int64_t res;
		int r;

		if (is_kernel_mapping(&maps[i]) || maps[i].start == c->tramp) {
			i++;
			continue;
		}
		while (++i < n_maps && maps[i].start == end && !is_kernel_mapping(&maps[i]) &&
		       maps[i].start != c->tramp)
			end = maps[i].end;
		r = STUB_CALL(c, 0, SYS_munmap, &res, start, end - start, 0, 0, 0, 0);
		if (r < 0 || (r = check_result("Unmapping the stub", res)) < 0)
			return r;
	}
	return 0;
}

static bool region_needs_fill(const struct restore_ctx *c, const struct snapshot_region *r)
{
	/* The vDSO's saved bytes are for vdso.c, never written over what it put there. */
	return (r->kind == REGION_KIND_ANON || r->kind == REGION_KIND_FILE) &&
	       r->stream != SNAPSHOT_NONE && r->stream < c->pages->n_streams &&
	       c->pages->streams[r->stream].n_extents > 0 && !(r->flags & REGION_FLAG_SHARED);
}

static int map_region(struct restore_ctx *c, const struct snapshot_region *r)
{
	uint64_t prot = r->prot, flags = MAP_FIXED_NOREPLACE, fd = (uint64_t) -1;
	int64_t res;
	int rr;

	if (region_needs_fill(c, r))
		prot |= PROT_READ | PROT_WRITE;
	flags |= r->flags & REGION_FLAG_SHARED ? MAP_SHARED : MAP_PRIVATE;
	if (r->flags & REGION_FLAG_GROWSDOWN)
		flags |= MAP_GROWSDOWN;
	if (r->flags & REGION_FLAG_NORESERVE)
		flags |= MAP_NORESERVE;
	if (r->kind == REGION_KIND_FILE)
		fd = (uint64_t)(c->stub_fd_base + (int) r->file);
	else
		flags |= MAP_ANONYMOUS;
	rr = STUB_CALL(c, 0, SYS_mmap, &res, r->start, r->end - r->start, prot, flags, fd,
		       r->kind == REGION_KIND_FILE ? r->pgoff : 0);
	if (rr < 0)
		return rr;
	if (res < 0 && res > -4096)
		return log_error_errno((int) res,
				       "Cannot map 0x%" PRIx64 "-0x%" PRIx64 " (%s) again: %m",
				       r->start, r->end, r->name ? r->name : "anonymous");
	if ((uint64_t) res != r->start)
		return log_error_errno(-EADDRNOTAVAIL, "The kernel placed 0x%" PRIx64
						       " at another address",
				       r->start);
	return 0;
}

static int advise_region(struct restore_ctx *c, const struct snapshot_region *r);

/* Its own protections back (it was writable to be filled), and its madvise flags. */
static int finish_region(struct restore_ctx *c, const struct snapshot_region *r)
{
	int64_t res;
	int rr;

	if (region_needs_fill(c, r) && r->prot != (r->prot | PROT_READ | PROT_WRITE)) {
		rr = STUB_CALL(c, 0, SYS_mprotect, &res, r->start, r->end - r->start, r->prot, 0, 0,
			       0);
		if (rr < 0 || (rr = check_result("Setting protections", res)) < 0)
			return rr;
	}
	return advise_region(c, r);
}

static int advise_region(struct restore_ctx *c, const struct snapshot_region *r)
{
	static const struct {
		uint32_t flag;
		int advice;
	} advice[] = {
		{ REGION_FLAG_DONTFORK, MADV_DONTFORK },   { REGION_FLAG_WIPEONFORK, MADV_WIPEONFORK },
		{ REGION_FLAG_DONTDUMP, MADV_DONTDUMP },   { REGION_FLAG_HUGEPAGE, MADV_HUGEPAGE },
		{ REGION_FLAG_NOHUGEPAGE, MADV_NOHUGEPAGE }, { REGION_FLAG_MERGEABLE, MADV_MERGEABLE },
	};
	uint64_t len = r->end - r->start;
	int64_t res;
	int rr;

	for (size_t i = 0; i < ELEMENTSOF(advice); i++) {
		if (!(r->flags & advice[i].flag))
			continue;
		rr = STUB_CALL(c, 0, SYS_madvise, &res, r->start, len, (uint64_t) advice[i].advice,
			       0, 0, 0);
		if (rr < 0)
			return rr;
		if (res < 0)
			log_warning_errno((int) res, "Cannot set advice %d on 0x%" PRIx64 ": %m",
					  advice[i].advice, r->start);
	}
	if (r->flags & REGION_FLAG_LOCKED) {
		rr = STUB_CALL(c, 0, SYS_mlock, &res, r->start, len, 0, 0, 0, 0);
		if (rr < 0)
			return rr;
		if (res < 0)
			log_warning_errno((int) res, "Cannot lock 0x%" PRIx64 " in memory: %m",
					  r->start);
	}
	return 0;
}

int restore_memory(struct restore_ctx *c)
{
	struct proc_map *maps = NULL;
	size_t n_maps = 0;
	int r;

	r = unregister_rseq(c);
	if (r < 0)
		return r;
	r = proc_read_maps(c->pid, /* with_vmflags= */ false, &maps, &n_maps);
	if (r < 0)
		return log_error_errno(r, "Cannot read the stub's memory map: %m");
	r = place_trampoline(c, maps, n_maps);
	if (r >= 0)
		r = unmap_stub(c, maps, n_maps);
	proc_maps_free(maps, n_maps);
	if (r < 0)
		return r;
	r = restore_vdso(c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->snap->n_regions; i++)
		if (region_needs_fill(c, &c->snap->regions[i]))
			c->pages_to_write += c->pages->streams[c->snap->regions[i].stream].n_pages;
	/* Map everything, fill it (restore-fill.c), then give each region its final state. */
	for (size_t i = 0; i < c->snap->n_regions; i++) {
		const struct snapshot_region *reg = &c->snap->regions[i];

		if (reg->kind != REGION_KIND_ANON && reg->kind != REGION_KIND_FILE)
			continue; /* the vDSO and vvar are the kernel's: vdso.c */
		r = map_region(c, reg);
		if (r < 0)
			return r;
	}
	r = restore_fill(c, region_needs_fill);
	for (size_t i = 0; r >= 0 && i < c->snap->n_regions; i++) {
		const struct snapshot_region *reg = &c->snap->regions[i];

		if (reg->kind != REGION_KIND_ANON && reg->kind != REGION_KIND_FILE)
			continue;
		r = finish_region(c, reg);
	}
	return r;
}
