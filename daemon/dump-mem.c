// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Memory of a frozen target: each mapping becomes a region, and the pages
 * only the process holds go to the page store. Only pages that exist are
 * read (pagemap); untouched file pages are left to the file, zero pages of
 * anonymous memory to the kernel's zero fill. [vvar] is never read.
 */
#define LOG_PREFIX "dump: "

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "dump.h"
#include "log.h"
#include "pagemap.h"
#include "util.h"

/*
 * The flags of each mapping (VmFlags: MADV_DONTFORK, WIPEONFORK, hugepage
 * advice...) are only in smaps, which walks every page table to count RSS:
 * 13 ms a GiB, too long to spend frozen. So smaps is read before the freeze,
 * and the frozen read of the cheap maps borrows the flags of every mapping
 * that is still the same. A madvise() in between changes no maps line;
 * dump_check_copy_flags() catches it afterwards in the copy, whose mappings
 * carry the flags they had at the fork, and the dump is taken again.
 */
void dump_preread_maps(struct dump_ctx *c)
{
	if (proc_read_maps(c->pid, /* with_vmflags= */ true, &c->pre_maps, &c->n_pre_maps) < 0) {
		c->pre_maps = NULL;
		c->n_pre_maps = 0;
	}
}

static bool same_map(const struct proc_map *a, const struct proc_map *b)
{
	return a->start == b->start && a->end == b->end && a->prot == b->prot &&
	       a->shared == b->shared && a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

static bool borrow_flags(struct dump_ctx *c)
{
	for (size_t i = 0; i < c->n_maps; i++) {
		const struct proc_map *p = proc_map_at(c->pre_maps, c->n_pre_maps, c->maps[i].start);

		if (!p || !same_map(p, &c->maps[i]))
			return false;
		c->maps[i].vmflags = p->vmflags;
	}
	return true;
}

static void drop_maps(struct dump_ctx *c)
{
	proc_maps_free(c->maps, c->n_maps);
	c->maps = NULL;
	c->n_maps = 0;
}

int dump_read_maps(struct dump_ctx *c)
{
	int r;

	drop_maps(c);
	c->flags_borrowed = false;
	if (c->pre_maps) {
		r = proc_read_maps(c->pid, /* with_vmflags= */ false, &c->maps, &c->n_maps);
		if (r >= 0 && borrow_flags(c)) {
			c->flags_borrowed = true;
			return 0;
		}
		drop_maps(c);
		log_debug("The memory map of PID %d changed since it was read; reading its flags "
			  "while frozen",
			  (int) c->pid);
	}
	r = proc_read_maps(c->pid, /* with_vmflags= */ true, &c->maps, &c->n_maps);
	if (r < 0)
		return log_error_errno(r, "Cannot read the memory map of PID %d: %m", (int) c->pid);
	return 0;
}

/* What a fork does not pass on, or may drop: mlock, userfaultfd registrations. */
#define FLAGS_NOT_INHERITED (PROC_VMFLAG_LOCKED | PROC_VMFLAG_UFFD | PROC_VMFLAG_DONTCOPY)

int dump_check_copy_flags(struct dump_ctx *c)
{
	struct proc_map *cm = NULL;
	size_t n = 0;
	int r;

	if (!c->flags_borrowed || !c->child)
		return 0;
	r = proc_read_maps(c->child, /* with_vmflags= */ true, &cm, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot read the memory map of the copy of PID %d: %m",
				       (int) c->pid);
	for (size_t i = 0; i < c->n_maps && r >= 0; i++) {
		const struct proc_map *m = &c->maps[i];
		/* The copy's mappings may have merged with ckptd's code page: contain, not equal. */
		const struct proc_map *k = proc_map_at(cm, n, m->start);
		bool gone = !k || k->end < m->end;

		if (m->vmflags & PROC_VMFLAG_DONTCOPY ? !gone
						       : gone || ((k->vmflags ^ m->vmflags) &
								  ~FLAGS_NOT_INHERITED)) {
			log_debug("The flags of 0x%" PRIx64 "-0x%" PRIx64 " changed before the "
				  "freeze; taking the snapshot again",
				  m->start, m->end);
			r = -ESTALE;
		}
	}
	proc_maps_free(cm, n);
	return r;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *) p;

	for (size_t i = 0; i < PAGE_SIZE / sizeof(uint64_t); i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	return true;
}

static int read_mem_file(struct dump_ctx *c, uint64_t addr, size_t n, uint8_t *buf)
{
	int r = pread_exact(c->mem_fd, buf, n * PAGE_SIZE, (off_t) addr);

	return r == -EBADMSG || r == -EIO ? -EFAULT : r;
}

/*
 * From the target: process_vm_readv, one copy (/proc/PID/mem also reaches
 * pages without PROT_READ). From the copy-on-write copy: /proc/PID/mem.
 * process_vm_readv pins the pages it reads, and pinning a page the copy
 * still shares with the target makes the kernel give the copy a page of
 * its own first (unsharing, which keeps a pinned page from changing under
 * the pin): a page allocation and copy per page read, half the reading
 * speed. /proc/PID/mem takes plain references, and the copy's pages are
 * dropped once read (note_read), which leaves the target its page with no
 * copy at all.
 */
static int read_pages(struct dump_ctx *c, uint64_t addr, size_t n, uint8_t *buf)
{
	struct iovec local = { buf, n * PAGE_SIZE };
	struct iovec remote = { (void *) (uintptr_t) addr, n * PAGE_SIZE };

	if (c->mem_pid == c->child)
		return read_mem_file(c, addr, n, buf);
	if (process_vm_readv(c->mem_pid, &local, 1, &remote, 1, 0) == (ssize_t)(n * PAGE_SIZE))
		return 0;
	return read_mem_file(c, addr, n, buf);
}

static int store_failed(int r)
{
	if (r == -ENOSPC || r == -EDQUOT)
		return log_error_errno(r, "Cannot store pages: no space left on the device that holds "
					  "the image; free some there and try again (this snapshot "
					  "is discarded)");
	return log_error_errno(r, "Cannot store pages: %m");
}

static int store_run(struct dump_ctx *c, uint32_t stream, uint64_t first_page, const uint8_t *buf,
		     size_t n)
{
	struct page_ref refs[DUMP_CHUNK_PAGES];
	int r;

	r = pack_writer_add(c->pack, buf, n, refs);
	if (r < 0)
		return store_failed(r);
	for (size_t i = 0; i < n; i++) {
		r = page_index_add_page(c->pages, stream, first_page + i, &refs[i]);
		if (r < 0)
			return log_oom();
	}
	c->pages_total += n;
	return 0;
}

/* Stores the non-zero pages of buf (n pages, the first being page first_page of stream). */
static int store_chunk(struct dump_ctx *c, uint32_t stream, uint64_t first_page, const uint8_t *buf,
		       size_t n, bool keep_zero)
{
	size_t run = 0;
	int r;

	for (size_t i = 0; i <= n; i++) {
		bool zero = i < n && page_is_zero(buf + i * PAGE_SIZE);

		if (i < n && !zero)
			continue;
		if (i > run) {
			r = store_run(c, stream, first_page + run, buf + run * PAGE_SIZE, i - run);
			if (r < 0)
				return r;
		}
		if (zero && keep_zero) {
			r = page_index_add_zero(c->pages, stream, first_page + i);
			if (r < 0)
				return log_oom();
			c->pages_total++;
		}
		run = i + 1;
	}
	return 0;
}

/*
 * While the copy lives, each page the target writes is copied for it: a
 * fault that costs about 4 us on this kind of machine, and a one-thread
 * workload writing all over 1 GiB spends most of a second in them. Once a
 * page is read (and copied into the pack writer's buffer), the copy drops
 * it (MADV_DONTNEED injected into the copy), and the target's next write
 * finds the page its own again and keeps it: a fault of 0.75 us, no copy.
 * Each injected call is a ptrace round trip (~120 us), so pages are dropped
 * DROP_BATCH at a time, within one region (a span over a hole or another
 * mapping would fail), and a region's tail under DROP_MIN dies with the copy.
 */
#define DROP_BATCH (32ULL << 20)
#define DROP_MIN (1ULL << 20)

static void flush_drops(struct dump_ctx *c, uint64_t min)
{
	uint64_t start = c->drop_start, end = c->drop_end;

	c->drop_start = c->drop_end = 0;
	if (end - start < min || c->drop_off)
		return;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int r = dump_child_drop(c, start, end);

	c->drop_ns += now_ns(CLOCK_MONOTONIC) - t0;
	c->drops++;
	c->dropped_bytes += end - start;
	if (r < 0) {
		log_debug("The copy of PID %d took no more calls; its pages stay until it dies",
			  (int) c->pid);
		c->drop_off = true;
	}
}

static void note_read(struct dump_ctx *c, uint64_t base, uint64_t start, uint64_t end)
{
	if (!c->child || c->mem_pid != c->child || c->drop_off)
		return;
	if (c->drop_end && c->drop_base != base)
		flush_drops(c, DROP_MIN);
	if (!c->drop_end) {
		c->drop_base = base;
		c->drop_start = start;
	}
	c->drop_end = end;
	if (c->drop_end - c->drop_start >= DROP_BATCH)
		flush_drops(c, 0);
}

/*
 * Pages are read straight into the frame the pack writer fills next, not
 * into a buffer of ours and copied: 7% less CPU for a GiB (0.04 s of user
 * time) beside a workload that keeps writing its memory.
 */
int dump_pages(struct dump_ctx *c, uint32_t stream, uint64_t base, uint64_t start, uint64_t end,
	       bool keep_zero)
{
	for (uint64_t addr = start; addr < end;) {
		void *room;
		size_t n;
		int r = pack_writer_room(c->pack, &room, &n);

		if (r < 0)
			return store_failed(r);
		n = MIN(n, (size_t)((end - addr) / PAGE_SIZE));
		r = read_pages(c, addr, n, room);
		if (r < 0)
			return log_error_errno(r, "Cannot read memory at 0x%" PRIx64 " of PID %d: %m",
					       addr, (int) c->pid);
		r = store_chunk(c, stream, (addr - base) / PAGE_SIZE, room, n, keep_zero);
		if (r < 0)
			return r;
		note_read(c, base, addr, addr + n * PAGE_SIZE);
		addr += n * PAGE_SIZE;
		c->pages_read += n;
		dump_check_yield(c);
		if (c->opts->progress)
			c->opts->progress("memory", c->pages_read,
					  MAX(c->pages_estimate, c->pages_read), c->opts->userdata);
	}
	return 0;
}

int dump_file_contents(struct dump_ctx *c, int fd, uint32_t *ret_stream)
{
	uint32_t stream;
	struct stat st;
	off_t off = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot stat a file of PID %d: %m", (int) c->pid);
	r = page_index_add_stream(c->pages, &stream);
	if (r < 0)
		return log_oom();
	while (off < st.st_size) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)
			return log_error_errno(-errno, "Cannot scan a file of PID %d: %m",
					       (int) c->pid);
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		data = ALIGN_DOWN(data, (off_t) PAGE_SIZE);
		while (data < hole) {
			size_t want = MIN((size_t) DUMP_CHUNK_PAGES * PAGE_SIZE,
					  (size_t)(ALIGN_TO(hole, (off_t) PAGE_SIZE) - data));
			ssize_t got = pread(fd, c->buf, want, data);

			if (got < 0)
				return log_error_errno(-errno, "Cannot read a file of PID %d: %m",
						       (int) c->pid);
			if (got == 0)
				break;
			memset(c->buf + got, 0, ALIGN_TO((size_t) got, PAGE_SIZE) - (size_t) got);
			r = store_chunk(c, stream, (uint64_t) data / PAGE_SIZE, c->buf,
					ALIGN_TO((size_t) got, PAGE_SIZE) / PAGE_SIZE, false);
			if (r < 0)
				return r;
			data += (off_t) ALIGN_TO((size_t) got, PAGE_SIZE);
		}
		off = hole;
	}
	*ret_stream = stream;
	return 0;
}

static uint32_t region_flags(const struct proc_map *m)
{
	static const struct {
		uint32_t vm, region;
	} map[] = {
		{ PROC_VMFLAG_GROWSDOWN, REGION_FLAG_GROWSDOWN },
		{ PROC_VMFLAG_DONTCOPY, REGION_FLAG_DONTFORK },
		{ PROC_VMFLAG_WIPEONFORK, REGION_FLAG_WIPEONFORK },
		{ PROC_VMFLAG_DONTDUMP, REGION_FLAG_DONTDUMP },
		{ PROC_VMFLAG_HUGEPAGE, REGION_FLAG_HUGEPAGE },
		{ PROC_VMFLAG_NOHUGEPAGE, REGION_FLAG_NOHUGEPAGE },
		{ PROC_VMFLAG_NORESERVE, REGION_FLAG_NORESERVE },
		{ PROC_VMFLAG_LOCKED, REGION_FLAG_LOCKED },
		{ PROC_VMFLAG_MERGEABLE, REGION_FLAG_MERGEABLE },
	};
	uint32_t f = m->shared ? REGION_FLAG_SHARED : 0;

	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (m->vmflags & map[i].vm)
			f |= map[i].region;
	return f;
}

static int refuse_map(const struct dump_ctx *c, const struct proc_map *m, const char *what)
{
	return log_error_errno(-EOPNOTSUPP,
			       "PID %d maps %s at 0x%" PRIx64 "-0x%" PRIx64 " (%s); ckptd cannot "
			       "checkpoint that",
			       (int) c->pid, what, m->start, m->end, m->name ? m->name : "anonymous");
}

static int classify(const struct dump_ctx *c, const struct proc_map *m, enum region_kind *ret)
{
	/* The kernel's own pages first: [vvar] is an I/O mapping, and that is expected. */
	if (m->name && strcmp(m->name, "[vdso]") == 0) {
		*ret = REGION_KIND_VDSO;
		return 0;
	}
	if (m->name && strcmp(m->name, "[vvar]") == 0) {
		*ret = REGION_KIND_VVAR;
		return 0;
	}
	if (m->name && strcmp(m->name, "[vvar_vclock]") == 0) {
		*ret = REGION_KIND_VVAR_VCLOCK;
		return 0;
	}
	if (m->vmflags & PROC_VMFLAG_UFFD)
		return refuse_map(c, m, "memory registered with a userfaultfd");
	if (m->vmflags & PROC_VMFLAG_SEALED)
		return refuse_map(c, m, "sealed memory (mseal)");
	if (m->vmflags & PROC_VMFLAG_SHADOW_STACK)
		return refuse_map(c, m, "a shadow stack");
	if (m->vmflags & PROC_VMFLAG_IO)
		return refuse_map(c, m, "device memory");
	if (!m->name || strcmp(m->name, "[heap]") == 0 || strcmp(m->name, "[stack]") == 0 ||
	    string_has_prefix(m->name, "[anon:")) {
		*ret = REGION_KIND_ANON;
		return m->shared && m->inode == 0 ? refuse_map(c, m, "odd shared memory") : 0;
	}
	if (string_has_prefix(m->name, "/SYSV"))
		return refuse_map(c, m, "System V shared memory");
	else if (m->name[0] == '/')
		*ret = REGION_KIND_FILE;
	else
		return refuse_map(c, m, "a special kernel mapping");
	return 0;
}

static int open_map_file(const struct dump_ctx *c, const struct proc_map *m)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int) c->pid,
		 m->start, m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open the file mapped at 0x%" PRIx64
					       " (%s): %m",
				       m->start, m->name);
	return fd;
}

static int read_region(struct dump_ctx *c, struct snapshot_region *reg, int pagemap_fd)
{
	_cleanup_free_ struct page_range *ranges = NULL;
	size_t n;
	int r;

	if (reg->kind == REGION_KIND_VDSO)
		return dump_pages(c, reg->stream, reg->start, reg->start, reg->end, true);
	r = pagemap_scan(pagemap_fd, reg->start, reg->end, &ranges, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot read the page map of PID %d: %m", (int) c->pid);
	for (size_t i = 0; i < n; i++) {
		bool anon = reg->kind == REGION_KIND_ANON;

		/* In a private file mapping only the pages the process wrote are its own. */
		if (!anon && ranges[i].categories & PAGE_CATEGORY_FILE)
			continue;
		if (anon && ranges[i].categories & PAGE_CATEGORY_ZERO)
			continue;
		r = dump_pages(c, reg->stream, reg->start, ranges[i].start, ranges[i].end, !anon);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pages a fork would not hand to the copy: read from the target while it is frozen. */
static bool read_early(const struct snapshot_region *r)
{
	return r->kind == REGION_KIND_VDSO ||
	       (!(r->flags & REGION_FLAG_SHARED) &&
		r->flags & (REGION_FLAG_DONTFORK | REGION_FLAG_WIPEONFORK));
}

static int dump_region(struct dump_ctx *c, const struct proc_map *m, int pagemap_fd)
{
	struct snapshot_region *reg;
	enum region_kind kind;
	int r;

	if (m->name && strcmp(m->name, "[vsyscall]") == 0)
		return 0; /* the kernel's fixed page, in every process */
	r = classify(c, m, &kind);
	if (r < 0)
		return r;
	reg = snapshot_add_region(c->snap);
	if (!reg)
		return log_error_errno(-E2BIG, "PID %d has too many memory mappings", (int) c->pid);
	reg->start = m->start;
	reg->end = m->end;
	reg->prot = m->prot;
	reg->flags = region_flags(m);
	reg->kind = kind;
	reg->pgoff = kind == REGION_KIND_FILE ? m->offset : 0;
	if (m->name) {
		reg->name = strdup(m->name);
		if (!reg->name)
			return log_oom();
	}
	if (kind == REGION_KIND_FILE) {
		_cleanup_close_ int fd = open_map_file(c, m);

		if (fd < 0)
			return fd;
		r = dump_file_object(c, m->name, m->deleted, fd, &reg->file);
		if (r < 0)
			return r;
		if (m->shared && m->prot & PROT_WRITE)
			c->snap->files[reg->file].mapped_shared_write = true;
		if (m->shared)
			return 0; /* the file holds the contents */
	}
	if (kind == REGION_KIND_VVAR || kind == REGION_KIND_VVAR_VCLOCK)
		return 0;
	r = page_index_add_stream(c->pages, &reg->stream);
	if (r < 0)
		return log_oom();
	return read_early(reg) ? read_region(c, reg, pagemap_fd) : 0;
}

static int open_pagemap(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open %s: %m", path);
	return fd;
}

int dump_region_pages(struct dump_ctx *c)
{
	_cleanup_close_ int pagemap_fd = open_pagemap(c->mem_pid);

	if (pagemap_fd < 0)
		return pagemap_fd;
	/* The stream of each region was added in address order, so pages stay in order. */
	for (size_t i = 0; i < c->snap->n_regions; i++) {
		struct snapshot_region *reg = &c->snap->regions[i];
		int r;

		if (reg->stream == SNAPSHOT_NONE || read_early(reg))
			continue;
		r = read_region(c, reg, pagemap_fd);
		if (r < 0)
			return r;
	}
	flush_drops(c, DROP_MIN);
	if (c->drops)
		log_debug("dropped %" PRIu64 " MiB from the copy in %" PRIu64 " calls, %" PRIu64
			  " us",
			  c->dropped_bytes >> 20, c->drops, c->drop_ns / 1000);
	return 0;
}

int dump_regions(struct dump_ctx *c)
{
	_cleanup_close_ int pagemap_fd = -EBADF;
	char path[64];
	int r;

	{
		_cleanup_free_ char *statm = NULL;
		unsigned long long size, resident;

		/* Resident pages: what there is to read, near enough for a progress bar. */
		snprintf(path, sizeof(path), "/proc/%d/statm", (int) c->pid);
		if (read_full_file_at(AT_FDCWD, path, 256, &statm, NULL) >= 0 &&
		    sscanf(statm, "%llu %llu", &size, &resident) == 2)
			c->pages_estimate = resident;
	}
	pagemap_fd = open_pagemap(c->pid);
	if (pagemap_fd < 0)
		return pagemap_fd;
	for (size_t i = 0; i < c->n_maps; i++) {
		r = dump_region(c, &c->maps[i], pagemap_fd);
		if (r < 0)
			return r;
	}
	return 0;
}
