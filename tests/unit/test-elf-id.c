// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests of build-id reading against the objects loaded in this very process
 * (whose notes the dynamic loader already mapped, so they are read twice, two
 * ways), hand-built and broken ELF files, identity comparison, and the symbols
 * of this process's vDSO, called through the addresses we find.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "elf-id.h"
#include "proc.h"
#include "util.h"

/* Build-ids */

struct note_id {
	uint8_t id[64];
	size_t size;
};

/* The build-id note of a loaded object, read straight from its mapped PT_NOTE segments. */
static bool loaded_build_id(const struct dl_phdr_info *info, struct note_id *ret)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *) (info->dlpi_addr + ph->p_vaddr);
		size_t align = ph->p_align == 8 ? 8 : 4, off = 0;

		if (ph->p_type != PT_NOTE)
			continue;
		while (off + sizeof(ElfW(Nhdr)) <= ph->p_memsz) {
			const ElfW(Nhdr) *n = (const void *) (p + off);
			size_t name = off + sizeof(*n), desc = ALIGN_TO(name + n->n_namesz, align);

			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp(p + name, "GNU", 4) == 0) {
				cr_assert_leq(n->n_descsz, sizeof(ret->id));
				memcpy(ret->id, p + desc, n->n_descsz);
				ret->size = n->n_descsz;
				return true;
			}
			off = ALIGN_TO(desc + n->n_descsz, align);
		}
	}
	return false;
}

struct loaded {
	char path[4096];
	struct note_id id;
};

struct loaded_list {
	struct loaded v[64];
	size_t n;
};

static int collect_loaded(struct dl_phdr_info *info, size_t size, void *userdata)
{
	struct loaded_list *l = userdata;
	struct loaded *o = &l->v[l->n];

	if (l->n >= ELEMENTSOF(l->v) || !info->dlpi_name)
		return 0;
	/* The main program has no name here; the vDSO has no file. */
	if (!*info->dlpi_name)
		cr_assert_not_null(realpath("/proc/self/exe", o->path));
	else if (info->dlpi_name[0] == '/')
		(void) snprintf(o->path, sizeof(o->path), "%s", info->dlpi_name);
	else
		return 0;
	if (loaded_build_id(info, &o->id))
		l->n++;
	return 0;
}

Test(elf_id, build_id_of_every_loaded_object)
{
	struct loaded_list l = {};

	dl_iterate_phdr(collect_loaded, &l);
	/* At least this program, libc, the loader and libcriterion. */
	cr_assert_geq(l.n, 4);
	for (size_t i = 0; i < l.n; i++) {
		uint8_t buf[32];
		size_t n = 99;
		int fd = open(l.v[i].path, O_RDONLY | O_CLOEXEC);

		cr_assert_geq(fd, 0, "%s", l.v[i].path);
		/* The caller's offset is the caller's: it must not move. */
		cr_assert_eq(lseek(fd, 777, SEEK_SET), 777);
		cr_assert_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), 0, "%s", l.v[i].path);
		cr_expect_eq(lseek(fd, 0, SEEK_CUR), 777, "%s", l.v[i].path);
		cr_assert_eq(n, l.v[i].id.size, "%s", l.v[i].path);
		cr_expect_eq(memcmp(buf, l.v[i].id.id, n), 0, "%s", l.v[i].path);
		(void) close(fd);

		/* Through an O_PATH fd, which cannot be read directly. */
		fd = open(l.v[i].path, O_PATH | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		n = 0;
		cr_assert_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), 0, "%s", l.v[i].path);
		cr_expect_eq(n, l.v[i].id.size);
		cr_expect_eq(memcmp(buf, l.v[i].id.id, n), 0);

		/* A buffer too small for the id. */
		cr_expect_eq(elf_read_build_id(fd, buf, n - 1, &n), -E2BIG);
		(void) close(fd);
	}
}

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("elf", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite_all(fd, data, len, 0), 0);
	return fd;
}

Test(elf_id, not_elf_is_no_build_id)
{
	static const struct {
		const char *data;
		size_t len;
	} cases[] = {
#define S(s) {s, sizeof(s) - 1}
		S(""),
		S("\177EL"),
		S("hello, world\n"),
		S("!<arch>\nnot an ELF file, an archive\n"),
		S("\177ELx and then some bytes to be longer than an ELF header.........."),
#undef S
	};
	uint8_t buf[32];
	size_t n;
	int fd;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		fd = memfd_with(cases[i].data, cases[i].len);
		n = 99;
		cr_expect_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), 0, "case %zu", i);
		cr_expect_eq(n, 0, "case %zu", i);
		(void) close(fd);
	}

	/* Not regular files at all. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	n = 99;
	cr_expect_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), 0);
	cr_expect_eq(n, 0);
	(void) close(fd);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = 99;
	cr_expect_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), 0);
	cr_expect_eq(n, 0);
	(void) close(fd);
	cr_expect_eq(elf_read_build_id(-1, buf, sizeof(buf), &n), -EBADF);
}

/* A tiny ELF file: header, one PT_NOTE program header (or a note section), the notes. */
struct note {
	uint32_t namesz, descsz, type;
	const char *name; /* namesz bytes, NUL included */
	uint8_t fill;	  /* descsz bytes of it */
};

struct elf_spec {
	struct note notes[3];
	size_t align;	     /* 4 or 8 */
	bool use_section;    /* a SHT_NOTE section instead of a PT_NOTE segment */
	size_t extra_filesz; /* bytes the segment claims past the notes */
	uint8_t pad_byte;    /* what those bytes are */
	int64_t offset_bias; /* added to p_offset / sh_offset */
	uint16_t phnum;	     /* 0: 1 */
	uint8_t class;	     /* 0: ELFCLASS64 */
};

static size_t elf_build(const struct elf_spec *s, uint8_t *out, size_t size)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *) out;
	size_t align = s->align ? s->align : 4;
	size_t notes_at = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), off = notes_at, end;

	memset(out, 0, size);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = s->class ? s->class : ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(Elf64_Ehdr);

	for (size_t i = 0; i < ELEMENTSOF(s->notes) && s->notes[i].name; i++) {
		const struct note *n = &s->notes[i];
		Elf64_Nhdr nh = {n->namesz, n->descsz, n->type};
		size_t desc;

		/* A size over 64 is a lie: only 64 bytes follow, and then the segment ends. */
		memcpy(out + off, &nh, sizeof(nh));
		memcpy(out + off + sizeof(nh), n->name, strlen(n->name) + 1);
		desc = ALIGN_TO(off + sizeof(nh) + MIN(n->namesz, (uint32_t) 64), align);
		memset(out + desc, n->fill, MIN(n->descsz, (uint32_t) 64));
		off = ALIGN_TO(desc + MIN(n->descsz, (uint32_t) 64), align);
	}
	memset(out + off, s->pad_byte, s->extra_filesz);
	end = off + s->extra_filesz;

	if (s->use_section) {
		Elf64_Shdr *sh = (Elf64_Shdr *) (out + ALIGN_TO(end, 8));

		eh->e_shoff = (uint64_t) ((uint8_t *) sh - out);
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 2;
		sh[1].sh_type = SHT_NOTE;
		sh[1].sh_offset = (uint64_t) ((int64_t) notes_at + s->offset_bias);
		sh[1].sh_size = end - notes_at;
		sh[1].sh_addralign = align;
		end = eh->e_shoff + 2 * sizeof(Elf64_Shdr);
	} else {
		Elf64_Phdr *ph = (Elf64_Phdr *) (out + sizeof(Elf64_Ehdr));

		eh->e_phoff = sizeof(Elf64_Ehdr);
		eh->e_phentsize = sizeof(Elf64_Phdr);
		eh->e_phnum = s->phnum ? s->phnum : 1;
		ph->p_type = PT_NOTE;
		ph->p_offset = (uint64_t) ((int64_t) notes_at + s->offset_bias);
		ph->p_filesz = ph->p_memsz = end - notes_at;
		ph->p_align = align;
	}
	return end;
}

#define GNU(sz, fill)                                                                              \
	{                                                                                          \
		4, sz, NT_GNU_BUILD_ID, "GNU", fill                                                \
	}

Test(elf_id, build_id_of_handmade_files)
{
	static const struct {
		struct elf_spec spec;
		int error;
		size_t size;
		uint8_t fill;
	} cases[] = {
		{{.notes = {GNU(20, 0xab)}}, 0, 20, 0xab},
		/* After an ABI tag note, 16 bytes (--build-id=md5). */
		{{.notes = {{4, 16, NT_GNU_ABI_TAG, "GNU", 1}, GNU(16, 0xcd)}}, 0, 16, 0xcd},
		/* 8-aligned notes, as .note.gnu.property makes them. */
		{{.notes = {{4, 16, NT_GNU_PROPERTY_TYPE_0, "GNU", 2}, GNU(20, 0x11)}, .align = 8},
		 0,
		 20,
		 0x11},
		/* A note section and no segments, as in a .o file. */
		{{.notes = {GNU(20, 0x22)}, .use_section = true}, 0, 20, 0x22},
		/* Trailing zeros are padding. */
		{{.notes = {GNU(20, 0x33)}, .extra_filesz = 12}, 0, 20, 0x33},
		/* Not ours: another owner, another type. */
		{{.notes = {{4, 20, NT_GNU_BUILD_ID, "GNX", 1}}}, 0, 0, 0},
		{{.notes = {{6, 20, NT_GNU_BUILD_ID, "Linux", 1}}}, 0, 0, 0},
		{{.notes = {{4, 16, NT_GNU_ABI_TAG, "GNU", 1}}}, 0, 0, 0},
		{{.phnum = 0, .notes = {{0}}}, 0, 0, 0},
		/* Too big for our 32 bytes. */
		{{.notes = {GNU(40, 0x44)}}, -E2BIG, 0, 0},
		/* Broken: lengths that run out of the segment, non-zero junk, an empty id. */
		{{.notes = {GNU(0x1000, 0x55)}}, -EBADMSG, 0, 0},
		{{.notes = {{0x1000, 20, NT_GNU_BUILD_ID, "GNU", 1}}}, -EBADMSG, 0, 0},
		/* Junk after the build-id is never looked at. */
		{{.notes = {GNU(20, 0x66)}, .extra_filesz = 12, .pad_byte = 0xff}, 0, 20, 0x66},
		{{.notes = {{4, 16, NT_GNU_ABI_TAG, "GNU", 1}}, .extra_filesz = 3, .pad_byte = 1},
		 -EBADMSG,
		 0,
		 0},
		{{.notes = {GNU(0, 0)}}, -EBADMSG, 0, 0},
		/* The segment or section lies past the end of the file. */
		{{.notes = {GNU(20, 0x77)}, .offset_bias = 4096}, -EBADMSG, 0, 0},
		{{.notes = {GNU(20, 0x77)}, .offset_bias = 4096, .use_section = true},
		 -EBADMSG,
		 0,
		 0},
		/* Program headers that are not in the file. */
		{{.notes = {GNU(20, 0x88)}, .phnum = 1000}, -EBADMSG, 0, 0},
		/* The magic, and then no valid class. */
		{{.notes = {GNU(20, 0x99)}, .class = 7}, -EBADMSG, 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint8_t image[8192], buf[32];
		size_t len = elf_build(&cases[i].spec, image, sizeof(image)), n = 99;
		int fd = memfd_with(image, len);

		int r = elf_read_build_id(fd, buf, sizeof(buf), &n);

		cr_expect_eq(r, cases[i].error, "case %zu: %d", i, r);
		if (cases[i].error == 0) {
			cr_expect_eq(n, cases[i].size, "case %zu", i);
			for (size_t k = 0; k < MIN(n, sizeof(buf)); k++)
				cr_expect_eq(buf[k], cases[i].fill, "case %zu byte %zu", i, k);
		}
		(void) close(fd);
	}
}

Test(elf_id, build_id_of_truncated_library)
{
	_cleanup_free_ char *lib = NULL;
	struct loaded_list l = {};
	size_t len;

	dl_iterate_phdr(collect_loaded, &l);
	for (size_t i = 0; i < l.n && !lib; i++)
		if (strstr(l.v[i].path, "/libc.so"))
			cr_assert_eq(read_full_file_at(AT_FDCWD, l.v[i].path, 64 * 1024 * 1024,
						       &lib, &len),
				     0);
	cr_assert_not_null(lib);

	/* Cut anywhere before its section headers (at the end), it is a broken ELF file. */
	const size_t cuts[] = {20, 63, 64, 100, 1000, 4096, len / 2, len - 1};
	for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
		uint8_t buf[32];
		size_t n = 99;
		int fd = memfd_with(lib, cuts[i]);

		cr_expect_eq(elf_read_build_id(fd, buf, sizeof(buf), &n), -EBADMSG, "cut at %zu",
			     cuts[i]);
		(void) close(fd);
	}
}

/* Identity */

Test(elf_id, identity_from_fd)
{
	char path[] = "/tmp/ckptd-test-elf-id-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	const struct timespec times[2] = {{1, 0}, {1234567890, 123456789}};
	struct snapshot_identity id;
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "not an elf file", 15), 15);
	cr_assert_eq(futimens(fd, times), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(file_identity_from_fd(fd, true, &id), 0);
	cr_expect_eq(id.dev, st.st_dev);
	cr_expect_eq(id.ino, st.st_ino);
	cr_expect_eq(id.rdev, 0);
	cr_expect_eq(id.mode, st.st_mode);
	cr_expect(S_ISREG(id.mode));
	cr_expect_eq(id.size, 15);
	cr_expect_eq(id.mtime_ns, INT64_C(1234567890123456789));
	cr_expect_eq(id.build_id_size, 0);
	(void) close(fd);
	(void) unlink(path);

	/* A device: rdev is what tells /dev/null from /dev/zero. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(file_identity_from_fd(fd, true, &id), 0);
	cr_expect_eq(id.rdev, makedev(1, 3));
	cr_expect(S_ISCHR(id.mode));
	(void) close(fd);

	/* This test program, through an O_PATH fd: the same id the loader mapped. */
	struct loaded_list l = {};
	dl_iterate_phdr(collect_loaded, &l);
	cr_assert_geq(l.n, 1);
	fd = open(l.v[0].path, O_PATH | O_CLOEXEC);
	cr_assert_eq(file_identity_from_fd(fd, true, &id), 0);
	cr_expect_eq(id.build_id_size, l.v[0].id.size);
	cr_expect_eq(memcmp(id.build_id, l.v[0].id.id, id.build_id_size), 0);
	cr_assert_eq(file_identity_from_fd(fd, false, &id), 0);
	cr_expect_eq(id.build_id_size, 0);
	(void) close(fd);
	cr_expect_eq(file_identity_from_fd(-1, true, &id), -EBADF);
}

static struct snapshot_identity identity(uint64_t dev, uint64_t ino, uint64_t size, int64_t mtime,
					 uint8_t id_first, uint32_t id_size)
{
	struct snapshot_identity id = {.dev = dev,
				       .ino = ino,
				       .mode = S_IFREG | 0644,
				       .size = size,
				       .mtime_ns = mtime,
				       .build_id_size = id_size};

	for (size_t i = 0; i < sizeof(id.build_id); i++)
		id.build_id[i] = (uint8_t) (id_first + i);
	return id;
}

Test(elf_id, identity_diff)
{
	static const char *const different = "it is a different file";
	static const struct {
		const char *what;
		uint64_t dev, ino, size;
		int64_t mtime;
		uint8_t id_first;
		uint32_t id_size;
		bool shared_write;
		const char *reason;
	} cases[] = {
		/* saved: dev 0xfe00, inode 42, 4096 bytes, mtime 1000, a 20-byte id from 1 */
		{"unchanged", 0xfe00, 42, 4096, 1000, 1, 20, false, NULL},
		{"unchanged, id not read now", 0xfe00, 42, 4096, 1000, 0, 0, false, NULL},
		{"other inode, other id", 0xfe00, 43, 4096, 1000, 9, 20, false, different},
		{"other device, no id", 0xfe01, 42, 4096, 1000, 0, 0, false, different},
		{"grown", 0xfe00, 42, 8192, 1000, 1, 20, false, "its size changed"},
		{"touched, no id", 0xfe00, 42, 4096, 2000, 0, 0, false, "it was modified"},
		{"touched, other id", 0xfe00, 42, 4096, 2000, 7, 20, false, "it was modified"},
		/* Written in place: the bytes changed whatever the id says. */
		{"touched, same id", 0xfe00, 42, 4096, 2000, 1, 20, false, "it was modified"},
		/* New inode, same size, same id: the rule for reinstalled libraries. */
		{"reinstalled", 0xfe00, 99, 4096, 5000, 1, 20, false, NULL},
		{"reinstalled elsewhere", 0xfe01, 99, 4096, 5000, 1, 20, false, NULL},
		{"reinstalled, other id", 0xfe00, 99, 4096, 5000, 2, 20, false, different},
		{"reinstalled, no id", 0xfe00, 99, 4096, 5000, 0, 0, false, different},
		{"reinstalled, shorter id", 0xfe00, 99, 4096, 5000, 1, 16, false, different},
		{"reinstalled, bigger", 0xfe00, 99, 8192, 5000, 1, 20, false, different},
		/* Written through a shared mapping: only the inode counts. */
		{"shared, changed", 0xfe00, 42, 1, 7, 0, 0, true, NULL},
		{"shared, other inode", 0xfe00, 7, 4096, 1000, 1, 20, true, different},
		{"shared, other device", 0xfe01, 42, 4096, 1000, 1, 20, true, different},
	};
	const struct snapshot_identity saved = identity(0xfe00, 42, 4096, 1000, 1, 20);
	struct snapshot_identity a, b;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct snapshot_identity now =
			identity(cases[i].dev, cases[i].ino, cases[i].size, cases[i].mtime,
				 cases[i].id_first, cases[i].id_size);
		const char *r = file_identity_diff(&saved, &now, cases[i].shared_write);

		if (cases[i].reason)
			cr_expect(r && strcmp(r, cases[i].reason) == 0, "%s: %s", cases[i].what,
				  r ?: "(match)");
		else
			cr_expect_null(r, "%s: %s", cases[i].what, r);
	}

	/* Neither has an id: empty ids are not equal ids. */
	a = identity(0xfe00, 42, 4096, 1000, 0, 0);
	b = identity(0xfe00, 43, 4096, 1000, 0, 0);
	cr_expect_str_eq(file_identity_diff(&a, &b, false), different);
}

/* The vDSO */

static const void *vdso_image(size_t *ret_size)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	struct proc_map *maps;
	size_t n;

	*ret_size = 0;
	if (base == 0)
		return NULL;
	cr_assert_eq(proc_read_maps(getpid(), false, &maps, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (maps[i].name && strcmp(maps[i].name, "[vdso]") == 0) {
			cr_assert_eq(maps[i].start, base);
			*ret_size = maps[i].end - maps[i].start;
		}
	proc_maps_free(maps, n);
	cr_assert_gt(*ret_size, 0);
	return (const void *) base;
}

/*
 * A copy of the vDSO, or where there is none (valgrind hides it from its
 * guest) of a small library from disk, so the parser still runs under valgrind.
 */
static uint8_t *image_copy(size_t *ret_size)
{
	const void *vdso = vdso_image(ret_size);
	char *buf = NULL;
	uint8_t *copy;

	if (vdso) {
		copy = malloc(*ret_size);
		cr_assert_not_null(copy);
		memcpy(copy, vdso, *ret_size);
		return copy;
	}
	if (read_full_file_at(AT_FDCWD, "/lib/x86_64-linux-gnu/libdl.so.2", 1 << 20, &buf,
			      ret_size) < 0)
		cr_skip_test("no vDSO and no libdl.so.2 to stand in for it");
	return (uint8_t *) buf;
}

static const struct elf_symbol *symbol(const struct elf_symbol *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}

Test(elf_id, vdso_symbols)
{
	size_t size, n;
	const uint8_t *vdso = vdso_image(&size);
	const struct elf_symbol *gettime, *gettimeofday_sym, *alias;

	if (!vdso)
		cr_skip_test("no vDSO in this process (valgrind hides it)");
	struct elf_symbol *syms;
	struct timespec a, b, c;
	int (*fn)(clockid_t, struct timespec *);

	cr_assert_eq(elf_image_symbols(vdso, size, &syms, &n), 0);
	gettime = symbol(syms, n, "__vdso_clock_gettime");
	gettimeofday_sym = symbol(syms, n, "__vdso_gettimeofday");
	cr_assert_not_null(gettime);
	cr_assert_not_null(gettimeofday_sym);
	/* LINUX_2.6 is the version definition's ABS object, not a function. */
	cr_expect_null(symbol(syms, n, "LINUX_2.6"));
	/* The weak alias glibc looks up first points at the same code. */
	alias = symbol(syms, n, "clock_gettime");
	cr_assert_not_null(alias);
	cr_expect_eq(alias->value, gettime->value);
	for (size_t i = 0; i < n; i++) {
		cr_expect_gt(syms[i].size, 0, "%s", syms[i].name);
		cr_expect_lt(syms[i].value + syms[i].size, size, "%s", syms[i].name);
	}

	/* The value is an offset from the load address: calling it must tell the time. */
	fn = (int (*)(clockid_t, struct timespec *))(uintptr_t) (vdso + gettime->value);
	cr_assert_eq(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	cr_assert_eq(fn(CLOCK_MONOTONIC, &b), 0);
	cr_assert_eq(clock_gettime(CLOCK_MONOTONIC, &c), 0);
	cr_expect(b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
	cr_expect(c.tv_sec > b.tv_sec || (c.tv_sec == b.tv_sec && c.tv_nsec >= b.tv_nsec));
	elf_symbols_free(syms, n);

	/* The vDSO's own build-id, read as a file. */
	uint8_t id[32];
	int fd = memfd_with(vdso, size);
	cr_assert_eq(elf_read_build_id(fd, id, sizeof(id), &n), 0);
	cr_expect_eq(n, 20);
	(void) close(fd);
}

static size_t image_shdr_end(const uint8_t *image)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *) image;

	return eh->e_shoff + (size_t) eh->e_shnum * eh->e_shentsize;
}

Test(elf_id, image_truncated)
{
	size_t size, n_full, end;
	_cleanup_free_ uint8_t *image = image_copy(&size);
	struct elf_symbol *full, *syms;

	cr_assert_eq(elf_image_symbols(image, size, &full, &n_full), 0);
	cr_assert_gt(n_full, 0);
	end = image_shdr_end(image);
	cr_assert_leq(end, size);
	/* Short of the section headers it is broken, past them it is whole. */
	for (size_t len = 0; len <= end; len++) {
		size_t n;
		int r;

		/* Every length in the vDSO's 8 KiB; a sample in anything bigger. */
		if (len > 8192 && end - len > 512 && len % 7 != 0)
			continue;
		r = elf_image_symbols(image, len, &syms, &n);
		if (len < end) {
			cr_assert_eq(r, -EBADMSG, "length %zu", len);
			continue;
		}
		cr_assert_eq(r, 0, "length %zu", len);
		cr_assert_eq(n, n_full);
		for (size_t i = 0; i < n; i++) {
			cr_expect_str_eq(syms[i].name, full[i].name);
			cr_expect_eq(syms[i].value, full[i].value);
		}
		elf_symbols_free(syms, n);
	}
	elf_symbols_free(full, n_full);
}

static Elf64_Shdr *section_of_type(uint8_t *image, uint32_t type)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *) image;
	Elf64_Shdr *sh = (Elf64_Shdr *) (image + eh->e_shoff);

	for (size_t i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == type)
			return &sh[i];
	cr_assert_fail("no section of type %u", type);
	return NULL;
}

enum image_damage {
	DAMAGE_DYNSYM_SIZE_HUGE,
	DAMAGE_DYNSYM_SIZE_ODD,
	DAMAGE_DYNSYM_OFFSET,
	DAMAGE_DYNSYM_ENTSIZE,
	DAMAGE_DYNSYM_LINK_NULL,
	DAMAGE_DYNSYM_LINK_SELF,
	DAMAGE_DYNSYM_LINK_HUGE,
	DAMAGE_SYMBOL_NAME,
	DAMAGE_DYNSTR_UNTERMINATED,
	DAMAGE_SHNUM,
	DAMAGE_SHOFF,
	DAMAGE_SHENTSIZE,
	DAMAGE_CLASS,
	DAMAGE_NO_DYNSYM,
};

static void image_damage(uint8_t *image, enum image_damage d)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *) image;
	Elf64_Shdr *dynsym = section_of_type(image, SHT_DYNSYM);
	Elf64_Shdr *shdrs = (Elf64_Shdr *) (image + eh->e_shoff);
	Elf64_Sym *syms = (Elf64_Sym *) (image + dynsym->sh_offset);
	Elf64_Shdr *dynstr = &shdrs[dynsym->sh_link];

	switch (d) {
	case DAMAGE_DYNSYM_SIZE_HUGE:
		dynsym->sh_size = UINT64_C(1) << 40;
		break;
	case DAMAGE_DYNSYM_SIZE_ODD:
		dynsym->sh_size -= 5;
		break;
	case DAMAGE_DYNSYM_OFFSET:
		dynsym->sh_offset = 0x7fffffff;
		break;
	case DAMAGE_DYNSYM_ENTSIZE:
		dynsym->sh_entsize = 16;
		break;
	case DAMAGE_DYNSYM_LINK_NULL:
		dynsym->sh_link = 0;
		break;
	case DAMAGE_DYNSYM_LINK_SELF:
		dynsym->sh_link = (uint32_t) (dynsym - shdrs);
		break;
	case DAMAGE_DYNSYM_LINK_HUGE:
		dynsym->sh_link = 4000;
		break;
	case DAMAGE_SYMBOL_NAME:
		for (size_t i = 1; i < dynsym->sh_size / sizeof(Elf64_Sym); i++)
			if (ELF64_ST_TYPE(syms[i].st_info) == STT_FUNC &&
			    syms[i].st_shndx != SHN_UNDEF) {
				syms[i].st_name = 0x7ffffff0;
				break;
			}
		break;
	case DAMAGE_DYNSTR_UNTERMINATED:
		/* Every name now runs off the end of its table. */
		memset(image + dynstr->sh_offset, 'A', dynstr->sh_size);
		break;
	case DAMAGE_SHNUM:
		eh->e_shnum = 60000;
		break;
	case DAMAGE_SHOFF:
		eh->e_shoff = UINT64_C(1) << 60;
		break;
	case DAMAGE_SHENTSIZE:
		eh->e_shentsize = 12;
		break;
	case DAMAGE_CLASS:
		eh->e_ident[EI_CLASS] = 9;
		break;
	case DAMAGE_NO_DYNSYM:
		dynsym->sh_type = SHT_PROGBITS;
		break;
	}
}

Test(elf_id, image_damaged)
{
	static const struct {
		enum image_damage damage;
		int error;
	} cases[] = {
		{DAMAGE_DYNSYM_SIZE_HUGE, -EBADMSG},
		{DAMAGE_DYNSYM_SIZE_ODD, -EBADMSG},
		{DAMAGE_DYNSYM_OFFSET, -EBADMSG},
		{DAMAGE_DYNSYM_ENTSIZE, -EBADMSG},
		{DAMAGE_DYNSYM_LINK_NULL, -EBADMSG},
		{DAMAGE_DYNSYM_LINK_SELF, -EBADMSG},
		{DAMAGE_DYNSYM_LINK_HUGE, -EBADMSG},
		{DAMAGE_SYMBOL_NAME, -EBADMSG},
		{DAMAGE_DYNSTR_UNTERMINATED, -EBADMSG},
		{DAMAGE_SHNUM, -EBADMSG},
		{DAMAGE_SHOFF, -EBADMSG},
		{DAMAGE_SHENTSIZE, -EBADMSG},
		{DAMAGE_CLASS, -EBADMSG},
		{DAMAGE_NO_DYNSYM, 0},
	};
	size_t size;
	_cleanup_free_ uint8_t *image = image_copy(&size);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ uint8_t *copy = malloc(size);
		struct elf_symbol *syms = NULL;
		size_t n = 99;

		cr_assert_not_null(copy);
		memcpy(copy, image, size);
		image_damage(copy, cases[i].damage);
		cr_expect_eq(elf_image_symbols(copy, size, &syms, &n), cases[i].error, "case %zu",
			     i);
		if (cases[i].error == 0) {
			cr_expect_eq(n, 0);
			elf_symbols_free(syms, n);
		}
	}
}

static void fill_random(uint8_t *buf, size_t len, uint32_t *x)
{
	for (size_t i = 0; i < len; i++) {
		*x = *x * 1103515245 + 12345;
		buf[i] = (uint8_t) (*x >> 16);
	}
}

Test(elf_id, image_garbage)
{
	uint8_t buf[4096];
	Elf64_Ehdr *eh = (Elf64_Ehdr *) buf;
	struct elf_symbol *syms;
	size_t n, accepted = 0;
	uint32_t x = 12345;

	cr_expect_eq(elf_image_symbols(NULL, 0, &syms, &n), -EBADMSG);
	memset(buf, 0, sizeof(buf));
	cr_expect_eq(elf_image_symbols(buf, sizeof(buf), &syms, &n), -EBADMSG);
	memcpy(buf, ELFMAG, SELFMAG);
	cr_expect_eq(elf_image_symbols(buf, sizeof(buf), &syms, &n), -EBADMSG);
	cr_expect_eq(elf_image_symbols(buf, 3, &syms, &n), -EBADMSG);

	for (int round = 0; round < 400; round++) {
		int r;

		fill_random(buf, sizeof(buf), &x);
		memcpy(buf, ELFMAG, SELFMAG);
		buf[EI_CLASS] = ELFCLASS64;
		buf[EI_DATA] = ELFDATA2LSB;
		buf[EI_VERSION] = EV_CURRENT;
		if (round % 2 == 0) {
			/* Random tables: their offsets and counts lie. */
			r = elf_image_symbols(buf, sizeof(buf), &syms, &n);
			cr_expect_eq(r, -EBADMSG, "round %d: %d", round, r);
			continue;
		}
		/* Plausible tables: a .dynsym of random symbols linked to a random string table. */
		Elf64_Shdr *sh = (Elf64_Shdr *) (buf + 2048);
		size_t shnum = 2 + x % 24;

		eh->e_shoff = 2048;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = (uint16_t) shnum;
		eh->e_phnum = 0;
		eh->e_phoff = 0;
		eh->e_shstrndx = 0;
		sh[1].sh_type = SHT_DYNSYM;
		sh[1].sh_entsize = sizeof(Elf64_Sym);
		sh[1].sh_offset = 64 + (x >> 8) % 1024;
		sh[1].sh_size = sizeof(Elf64_Sym) * ((x >> 4) % 40);
		sh[1].sh_link = (uint32_t) ((x >> 12) % shnum);
		if (round % 4 == 1) {
			sh[sh[1].sh_link].sh_type = SHT_STRTAB;
			sh[sh[1].sh_link].sh_offset = (x >> 3) % 2048;
			sh[sh[1].sh_link].sh_size = (x >> 5) % 1024;
		}
		r = elf_image_symbols(buf, sizeof(buf), &syms, &n);
		/* Whatever libelf makes of it, we answer and valgrind sees no bad read. */
		cr_expect(r == -EBADMSG || r == 0, "round %d: %d", round, r);
		if (r == 0) {
			accepted++;
			elf_symbols_free(syms, n);
		}
	}
	/* Some random symbol tables do make sense; most do not. */
	cr_expect_gt(accepted, 0);
	cr_expect_lt(accepted, 200);
}
