// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The vDSO and its data pages at restore. glibc remembers where the vDSO's
 * functions were, so they must answer at the saved addresses. On the same
 * kernel the stub's [vvar], [vvar_vclock] and [vdso] move there together
 * (the vDSO finds its data at fixed offsets). After a kernel change the new
 * vDSO stays where it fits, and a copy of the old one at the old address has
 * each exported function replaced by a jump to the new one's.
 */
#define LOG_PREFIX "restore: "

#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "elf-id.h"
#include "log.h"
#include "proc.h"
#include "restore.h"
#include "util.h"

enum { TRIO_VVAR, TRIO_VVAR_VCLOCK, TRIO_VDSO, _TRIO_MAX };

struct trio {
	uint64_t start[_TRIO_MAX], end[_TRIO_MAX]; /* start == end: absent */
};

static void trio_saved(const struct snapshot *s, struct trio *t, const struct snapshot_region **vdso)
{
	memset(t, 0, sizeof(*t));
	*vdso = NULL;
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];
		int k = 0;

		switch (r->kind) {
		case REGION_KIND_VVAR:
			k = TRIO_VVAR;
			break;
		case REGION_KIND_VVAR_VCLOCK:
			k = TRIO_VVAR_VCLOCK;
			break;
		case REGION_KIND_VDSO:
			k = TRIO_VDSO;
			*vdso = r;
			break;
		case REGION_KIND_ANON:
		case REGION_KIND_FILE:
		case _REGION_KIND_MAX:
			continue;
		}
		t->start[k] = r->start;
		t->end[k] = r->end;
	}
}

static int trio_current(pid_t pid, struct trio *t)
{
	static const char *const names[_TRIO_MAX] = { "[vvar]", "[vvar_vclock]", "[vdso]" };
	struct proc_map *maps = NULL;
	size_t n;
	int r = proc_read_maps(pid, false, &maps, &n);

	if (r < 0)
		return r;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < _TRIO_MAX; k++)
			if (maps[i].name && strcmp(maps[i].name, names[k]) == 0) {
				t->start[k] = maps[i].start;
				t->end[k] = maps[i].end;
			}
	proc_maps_free(maps, n);
	return 0;
}

static uint64_t trio_base(const struct trio *t)
{
	uint64_t base = UINT64_MAX;

	for (int k = 0; k < _TRIO_MAX; k++)
		if (t->end[k] > t->start[k])
			base = MIN(base, t->start[k]);
	return base;
}

static uint64_t trio_top(const struct trio *t)
{
	uint64_t top = 0;

	for (int k = 0; k < _TRIO_MAX; k++)
		top = MAX(top, t->end[k]);
	return top;
}

/* Same pieces, same sizes, same distances: then they can move as they are. */
static bool trio_same_shape(const struct trio *a, const struct trio *b)
{
	uint64_t ba = trio_base(a), bb = trio_base(b);

	for (int k = 0; k < _TRIO_MAX; k++) {
		bool ha = a->end[k] > a->start[k], hb = b->end[k] > b->start[k];

		if (ha != hb)
			return false;
		if (ha && (a->end[k] - a->start[k] != b->end[k] - b->start[k] ||
			   a->start[k] - ba != b->start[k] - bb))
			return false;
	}
	return true;
}

static bool overlaps_saved(const struct restore_ctx *c, uint64_t start, uint64_t end)
{
	if (start < c->tramp + RESTORE_TRAMP_SIZE && c->tramp < end)
		return true;
	for (size_t i = 0; i < c->snap->n_regions; i++)
		if (start < c->snap->regions[i].end && c->snap->regions[i].start < end)
			return true;
	return false;
}

/* A place for the span [base, top): free in the saved layout and away from where it is. */
static uint64_t free_spot(const struct restore_ctx *c, const struct trio *cur, uint64_t span)
{
	for (uint64_t a = 0x7f0000000000ULL; a > 0x10000000ULL; a -= 0x10000000ULL)
		if (!overlaps_saved(c, a - PAGE_SIZE, a + span + PAGE_SIZE) &&
		    (a + span <= trio_base(cur) || a >= trio_top(cur)))
			return a;
	return 0;
}

static int mremap_piece(struct restore_ctx *c, uint64_t from, uint64_t size, uint64_t to)
{
	int64_t res;
	int r = STUB_CALL(c, 0, SYS_mremap, &res, from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
			  to, 0);

	if (r < 0)
		return r;
	if (res < 0 && res > -4096)
		return log_error_errno((int) res, "Cannot move the vDSO: %m");
	return 0;
}

/* Moves every piece of cur by the same distance so that its base lands at dst. */
static int trio_move(struct restore_ctx *c, struct trio *cur, uint64_t dst)
{
	uint64_t base = trio_base(cur);

	for (int k = 0; k < _TRIO_MAX; k++) {
		uint64_t size = cur->end[k] - cur->start[k];
		int r;

		if (!size)
			continue;
		r = mremap_piece(c, cur->start[k], size, dst + (cur->start[k] - base));
		if (r < 0)
			return r;
		cur->start[k] = dst + (cur->start[k] - base);
		cur->end[k] = cur->start[k] + size;
	}
	return 0;
}

/* Two steps, through a spot free of both layouts: the saved place may overlap the current. */
static int trio_relocate(struct restore_ctx *c, struct trio *cur, uint64_t dst)
{
	uint64_t span = trio_top(cur) - trio_base(cur), tmp;
	int r;

	if (trio_base(cur) == dst)
		return 0;
	tmp = free_spot(c, cur, span);
	if (!tmp)
		return log_error_errno(-ENOMEM, "No room to move the vDSO through");
	r = trio_move(c, cur, tmp);
	return r < 0 ? r : trio_move(c, cur, dst);
}

struct vdso_image {
	uint8_t *bytes;
	size_t size;
};

static int collect_vdso(struct restore_ctx *c, uint64_t first_page, size_t n, const uint8_t *data,
			void *userdata)
{
	struct vdso_image *img = userdata;
	uint64_t off = first_page * PAGE_SIZE;

	if (off + n * PAGE_SIZE > img->size)
		return -EBADMSG;
	if (data)
		memcpy(img->bytes + off, data, n * PAGE_SIZE);
	return 0;
}

static int saved_vdso_bytes(struct restore_ctx *c, const struct snapshot_region *vdso,
			    struct vdso_image *ret)
{
	ret->size = vdso->end - vdso->start;
	ret->bytes = calloc(1, ret->size);
	if (!ret->bytes)
		return log_oom();
	return restore_stream(c, vdso->stream, collect_vdso, ret);
}

static bool same_vdso(const struct vdso_image *saved, const struct trio *cur)
{
	const void *ours = (const void *) getauxval(AT_SYSINFO_EHDR);

	return ours && saved->size == cur->end[TRIO_VDSO] - cur->start[TRIO_VDSO] &&
	       memcmp(ours, saved->bytes, saved->size) == 0;
}

/* jmp *0(%rip) followed by the absolute target. */
static void jump_to(uint8_t *at, uint64_t target)
{
	static const uint8_t jmp[] = { 0xff, 0x25, 0x00, 0x00, 0x00, 0x00 };

	memcpy(at, jmp, sizeof(jmp));
	memcpy(at + sizeof(jmp), &target, sizeof(target));
}

static int patch_entries(struct vdso_image *saved, uint64_t new_base, size_t new_size)
{
	const void *ours = (const void *) getauxval(AT_SYSINFO_EHDR);
	struct elf_symbol *old_syms = NULL, *new_syms = NULL;
	size_t n_old = 0, n_new = 0;
	int r;

	r = elf_image_symbols(saved->bytes, saved->size, &old_syms, &n_old);
	if (r >= 0)
		r = elf_image_symbols(ours, new_size, &new_syms, &n_new);
	for (size_t i = 0; r >= 0 && i < n_old; i++) {
		size_t j;

		for (j = 0; j < n_new; j++)
			if (strcmp(old_syms[i].name, new_syms[j].name) == 0)
				break;
		if (j == n_new) {
			r = log_error_errno(-ENOENT, "This kernel's vDSO lacks %s, which the "
						     "snapshot's used",
					    old_syms[i].name);
			break;
		}
		if (old_syms[i].value + 14 > saved->size) {
			r = log_error_errno(-EBADMSG, "The saved vDSO's symbol %s is out of range",
					    old_syms[i].name);
			break;
		}
		jump_to(saved->bytes + old_syms[i].value, new_base + new_syms[j].value);
	}
	elf_symbols_free(old_syms, n_old);
	elf_symbols_free(new_syms, n_new);
	return r;
}

/* The old vDSO's address gets a copy of it whose functions jump into this kernel's vDSO. */
static int install_patched(struct restore_ctx *c, const struct snapshot_region *vdso,
			   struct vdso_image *saved, const struct trio *cur)
{
	uint64_t addr, size = saved->size;
	int64_t res;
	int r;

	r = patch_entries(saved, cur->start[TRIO_VDSO], cur->end[TRIO_VDSO] - cur->start[TRIO_VDSO]);
	if (r < 0)
		return r;
	r = STUB_CALL(c, 0, SYS_mmap, &res, vdso->start, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t) -1, 0);
	if (r < 0)
		return r;
	if ((uint64_t) res != vdso->start)
		return log_error_errno(-EADDRNOTAVAIL, "Cannot map the old vDSO's place");
	addr = vdso->start;
	r = inject_write(&c->inj, addr, saved->bytes, size);
	if (r < 0)
		return log_error_errno(r, "Cannot write the patched vDSO: %m");
	r = STUB_CALL(c, 0, SYS_mprotect, &res, addr, size, PROT_READ | PROT_EXEC, 0, 0, 0);
	if (r >= 0 && res < 0)
		r = log_error_errno((int) res, "Cannot protect the patched vDSO: %m");
	return r;
}

int restore_vdso(struct restore_ctx *c)
{
	const struct snapshot_region *vdso;
	struct vdso_image saved = {};
	struct trio want, cur;
	int r;

	trio_saved(c->snap, &want, &vdso);
	r = trio_current(c->pid, &cur);
	if (r < 0)
		return log_error_errno(r, "Cannot read the stub's memory map: %m");
	if (!vdso)
		return 0; /* the process had none; the stub's stays out of the way */
	r = saved_vdso_bytes(c, vdso, &saved);
	if (r < 0)
		goto out;
	if (!c->opts->force_vdso_patch && trio_same_shape(&want, &cur) && same_vdso(&saved, &cur)) {
		r = trio_relocate(c, &cur, trio_base(&want));
		goto out;
	}
	log_info("The kernel's vDSO differs from the snapshot's; redirecting its functions");
	if (overlaps_saved(c, trio_base(&cur), trio_top(&cur))) {
		uint64_t spot = free_spot(c, &cur, trio_top(&cur) - trio_base(&cur));

		r = spot ? trio_move(c, &cur, spot)
			 : log_error_errno(-ENOMEM, "No room for this kernel's vDSO");
		if (r < 0)
			goto out;
	}
	r = install_patched(c, vdso, &saved, &cur);
out:
	free(saved.bytes);
	return r;
}
