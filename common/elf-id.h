/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File identity (what restore checks before it maps a file again) and the
 * ELF facts ckptd needs, read with libelf: a file's GNU build-id, and the
 * exported symbols of an in-memory ELF image (the vDSO).
 */
#pragma once

#include "snapshot.h"

/* The NT_GNU_BUILD_ID of an ELF file; *ret_size = 0 when it is not ELF or has none. */
int elf_read_build_id(int fd, uint8_t *buf, size_t size, size_t *ret_size);

/* fstat() of fd and, when with_build_id, its build-id. */
int file_identity_from_fd(int fd, bool with_build_id, struct snapshot_identity *ret);

/*
 * NULL when a file found at restore may stand for the saved one, else a short
 * reason for people ("its size changed", "it is a different file"). Same
 * device, inode, size and mtime match; so does another inode with equal size
 * and equal non-empty build-ids (a library reinstalled from the same package). With shared_write
 * only device and inode must match: the process itself changes the file.
 */
const char *file_identity_diff(const struct snapshot_identity *saved,
			       const struct snapshot_identity *now, bool shared_write);

struct elf_symbol {
	char *name;
	uint64_t value; /* as in the image: an offset from its load address for the vDSO */
	uint64_t size;
};

/* Defined function symbols of the image's dynamic symbol table. */
int elf_image_symbols(const void *image, size_t size, struct elf_symbol **ret, size_t *ret_n);
void elf_symbols_free(struct elf_symbol *s, size_t n);
