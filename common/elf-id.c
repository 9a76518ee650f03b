// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What makes a file the same file at restore (fstat fields, the GNU build-id)
 * and the exported functions of an in-memory ELF image (the vDSO), read with
 * libelf. Every input is untrusted: offsets and sizes come through libelf's
 * bounds-checked accessors and are checked again; anything inconsistent is
 * -EBADMSG, never a crash. Never maps files: one truncated under us would SIGBUS.
 */
#include <fcntl.h>
#include <gelf.h>
#include <string.h>
#include <sys/stat.h>

#include "elf-id.h"
#include "util.h"

static void elf_endp(Elf **e)
{
	if (*e)
		(void) elf_end(*e);
}
#define _cleanup_elf_ _cleanup_(elf_endp)

/* n entries of the size libelf expects, at off, all inside total bytes. */
static bool table_inside(Elf *elf, Elf_Type type, uint64_t off, size_t n, uint16_t entsize,
			 uint64_t total)
{
	size_t size = gelf_fsize(elf, type, 1, EV_CURRENT);

	if (n == 0)
		return true;
	return off > 0 && size > 0 && entsize == size && off <= total && n <= (total - off) / size;
}

/*
 * libelf treats a program or section header table that lies outside the file
 * as absent (it reports zero entries) rather than as an error: a file cut short
 * would pass for one without sections. So the header's own counts are held
 * against the file's size, and libelf must then agree with them.
 */
static int elf_check_tables(Elf *elf, uint64_t total)
{
	size_t phnum, shnum, n;
	GElf_Ehdr eh;

	if (!gelf_getehdr(elf, &eh))
		return -EBADMSG;
	phnum = eh.e_phnum;
	shnum = eh.e_shnum;
	/* Extended numbering: the real counts live in section header 0. */
	if ((shnum == 0 && eh.e_shoff != 0) || phnum == PN_XNUM) {
		if (!table_inside(elf, ELF_T_SHDR, eh.e_shoff, 1, eh.e_shentsize, total))
			return -EBADMSG;
		if (shnum == 0 && elf_getshdrnum(elf, &shnum) < 0)
			return -EBADMSG;
		if (phnum == PN_XNUM && elf_getphdrnum(elf, &phnum) < 0)
			return -EBADMSG;
	}
	if (!table_inside(elf, ELF_T_PHDR, eh.e_phoff, phnum, eh.e_phentsize, total) ||
	    !table_inside(elf, ELF_T_SHDR, eh.e_shoff, shnum, eh.e_shentsize, total))
		return -EBADMSG;
	if (elf_getphdrnum(elf, &n) < 0 || n != phnum || elf_getshdrnum(elf, &n) < 0 || n != shnum)
		return -EBADMSG;
	return 0;
}

static int elf_setup(void)
{
	/* Idempotent and cheap; the version lives in libelf, not in a global of ours. */
	return elf_version(EV_CURRENT) == EV_NONE ? -EOPNOTSUPP : 0;
}

/*
 * Looks through one block of notes. 1: found, 0: not there, <0: error. Bytes
 * after the last note must be zero padding; anything else is a broken note.
 */
static int notes_find_build_id(Elf_Data *data, uint8_t *buf, size_t size, size_t *ret_size)
{
	const uint8_t *d = data->d_buf;
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nhdr;

	if (!d && data->d_size > 0)
		return -EBADMSG;
	while (off < data->d_size &&
	       (next = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
		if (next <= off || name_off > data->d_size ||
		    data->d_size - name_off < nhdr.n_namesz || desc_off > data->d_size ||
		    data->d_size - desc_off < nhdr.n_descsz)
			return -EBADMSG;
		off = next;
		if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != sizeof(ELF_NOTE_GNU) ||
		    memcmp(d + name_off, ELF_NOTE_GNU, sizeof(ELF_NOTE_GNU)) != 0)
			continue;
		if (nhdr.n_descsz == 0)
			return -EBADMSG;
		if (nhdr.n_descsz > size)
			return -E2BIG;
		memcpy(buf, d + desc_off, nhdr.n_descsz);
		*ret_size = nhdr.n_descsz;
		return 1;
	}
	for (; off < data->d_size; off++)
		if (d[off] != 0)
			return -EBADMSG;
	return 0;
}

static int build_id_from_segments(Elf *elf, uint8_t *buf, size_t size, size_t *ret_size,
				  bool *ret_had_notes)
{
	size_t n;

	if (elf_getphdrnum(elf, &n) < 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		Elf_Data *data;
		int r;

		if (!gelf_getphdr(elf, (int) i, &ph))
			return -EBADMSG;
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
			continue;
		*ret_had_notes = true;
		/* libelf refuses a chunk that is not inside the file. */
		data = elf_getdata_rawchunk(elf, (int64_t) ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!data)
			return -EBADMSG;
		r = notes_find_build_id(data, buf, size, ret_size);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Relocatable objects and some debug files have note sections but no segments. */
static int build_id_from_sections(Elf *elf, uint8_t *buf, size_t size, size_t *ret_size)
{
	size_t n;

	if (elf_getshdrnum(elf, &n) < 0)
		return -EBADMSG;
	/* Section 0 is the null section. */
	for (size_t i = 1; i < n; i++) {
		Elf_Scn *scn = elf_getscn(elf, i);
		GElf_Shdr sh;
		Elf_Data *data;
		int r;

		if (!scn || !gelf_getshdr(scn, &sh))
			return -EBADMSG;
		if (sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			return -EBADMSG;
		r = notes_find_build_id(data, buf, size, ret_size);
		if (r != 0)
			return r;
	}
	return 0;
}

int elf_read_build_id(int fd, uint8_t *buf, size_t size, size_t *ret_size)
{
	_cleanup_close_ int own_fd = -EBADF;
	_cleanup_elf_ Elf *elf = NULL;
	uint8_t magic[SELFMAG];
	bool had_notes = false;
	size_t found = 0;
	struct stat st;
	ssize_t n;
	int flags, r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		*ret_size = 0;
		return 0;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	/* An O_PATH or write-only fd cannot be read: open the same inode again for reading. */
	if ((flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY) {
		char path[32];

		(void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		own_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (own_fd < 0)
			return -errno;
		fd = own_fd;
	}

	n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0)
		return -errno;
	if ((size_t) n < sizeof(magic) || memcmp(magic, ELFMAG, SELFMAG) != 0) {
		*ret_size = 0;
		return 0;
	}

	r = elf_setup();
	if (r < 0)
		return r;
	/* ELF_C_READ reads with pread(): the caller's file offset is left where it was. */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	/* The magic is there, so anything libelf cannot take is a broken ELF file. */
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		return -EBADMSG;
	r = elf_check_tables(elf, (uint64_t) st.st_size);
	if (r < 0)
		return r;

	r = build_id_from_segments(elf, buf, size, &found, &had_notes);
	if (r == 0 && !had_notes)
		r = build_id_from_sections(elf, buf, size, &found);
	if (r < 0)
		return r;
	*ret_size = r > 0 ? found : 0;
	return 0;
}

int file_identity_from_fd(int fd, bool with_build_id, struct snapshot_identity *ret)
{
	struct snapshot_identity id = {};
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	id.rdev = st.st_rdev;
	id.mode = st.st_mode;
	id.size = (uint64_t) st.st_size;
	id.mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;

	if (with_build_id && S_ISREG(st.st_mode)) {
		size_t n = 0;
		int r = elf_read_build_id(fd, id.build_id, sizeof(id.build_id), &n);

		/*
		 * The build-id only loosens the check; a file whose notes we cannot
		 * read (or one with an oversized id) is still identified by its inode.
		 */
		if (r < 0 && r != -EBADMSG && r != -E2BIG)
			return r;
		id.build_id_size = r < 0 ? 0 : (uint32_t) n;
	}

	*ret = id;
	return 0;
}

static bool build_ids_match(const struct snapshot_identity *a, const struct snapshot_identity *b)
{
	return a->build_id_size > 0 && a->build_id_size <= sizeof(a->build_id) &&
	       a->build_id_size == b->build_id_size &&
	       memcmp(a->build_id, b->build_id, a->build_id_size) == 0;
}

const char *file_identity_diff(const struct snapshot_identity *saved,
			       const struct snapshot_identity *now, bool shared_write)
{
	bool same_inode = saved->dev == now->dev && saved->ino == now->ino;

	/* The process wrote to it through a shared mapping: only the inode says anything. */
	if (shared_write)
		return same_inode ? NULL : "it is a different file";

	if (same_inode && saved->size == now->size && saved->mtime_ns == now->mtime_ns)
		return NULL;
	/*
	 * A library reinstalled from the same package: new inode, same bytes. The
	 * same inode with a new mtime was written in place, build-id or not.
	 */
	if (!same_inode && saved->size == now->size && build_ids_match(saved, now))
		return NULL;

	if (!same_inode)
		return "it is a different file";
	if (saved->size != now->size)
		return "its size changed";
	return "it was modified";
}

void elf_symbols_free(struct elf_symbol *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i].name);
	free(s);
}

static int symbols_from_dynsym(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_symbol **ret,
			       size_t *ret_n)
{
	struct elf_symbol *syms = NULL;
	size_t n = 0, allocated = 0, entsize, count;
	Elf_Scn *strscn;
	GElf_Shdr strsh;
	Elf_Data *data;
	int r;

	entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
	if (entsize == 0 || sh->sh_entsize != entsize)
		return -EBADMSG;
	strscn = elf_getscn(elf, sh->sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strsh) || strsh.sh_type != SHT_STRTAB)
		return -EBADMSG;
	data = elf_getdata(scn, NULL);
	if (!data || data->d_size != sh->sh_size || data->d_size % entsize != 0)
		return -EBADMSG;
	count = data->d_size / entsize;

	/* Entry 0 is the null symbol. */
	for (size_t i = 1; i < count; i++) {
		const char *name;
		GElf_Sym sym;
		int type;

		if (!gelf_getsym(data, (int) i, &sym)) {
			r = -EBADMSG;
			goto fail;
		}
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF)
			continue;
		/* elf_strptr() checks the offset and that the string ends inside the table. */
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name) {
			r = -EBADMSG;
			goto fail;
		}
		if (!*name)
			continue;
		r = GROW(syms, allocated, n + 1);
		if (r < 0)
			goto fail;
		syms[n].name = strdup(name);
		if (!syms[n].name) {
			r = -ENOMEM;
			goto fail;
		}
		syms[n].value = sym.st_value;
		syms[n].size = sym.st_size;
		n++;
	}
	*ret = syms;
	*ret_n = n;
	return 0;
fail:
	elf_symbols_free(syms, n);
	return r;
}

int elf_image_symbols(const void *image, size_t size, struct elf_symbol **ret, size_t *ret_n)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_elf_ Elf *elf = NULL;
	GElf_Ehdr ehdr;
	size_t n;
	int r;

	if (!image || size < SELFMAG || memcmp(image, ELFMAG, SELFMAG) != 0)
		return -EBADMSG;
	r = elf_setup();
	if (r < 0)
		return r;
	/* elf_memory() wants writable memory (it may convert in place); the caller's is const. */
	copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, image, size);
	elf = elf_memory(copy, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) ||
	    elf_check_tables(elf, size) < 0 || elf_getshdrnum(elf, &n) < 0)
		return -EBADMSG;

	for (size_t i = 1; i < n; i++) {
		Elf_Scn *scn = elf_getscn(elf, i);
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh))
			return -EBADMSG;
		if (sh.sh_type == SHT_DYNSYM)
			return symbols_from_dynsym(elf, scn, &sh, ret, ret_n);
	}
	*ret = NULL;
	*ret_n = 0;
	return 0;
}
