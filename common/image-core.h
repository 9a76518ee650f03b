/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-process state of a snapshot as an ELF core file, written and read
 * with libelf: one PT_LOAD per memory region (no file contents: the pages live
 * in the page store), the standard notes gdb and eu-readelf understand
 * (NT_PRSTATUS, NT_FPREGSET and NT_X86_XSTATE per thread, NT_PRPSINFO,
 * NT_AUXV, NT_FILE) and ckptd's own "CKPTD" notes, TLV-encoded, for the rest.
 */
#pragma once

#include "snapshot.h"

#define CKPTD_NOTE_NAME "CKPTD"

enum ckptd_note {
	CKPTD_NOTE_PROCESS = 1,
	CKPTD_NOTE_THREAD = 2, /* follows its thread's NT_PRSTATUS */
	CKPTD_NOTE_CPU = 3,
	CKPTD_NOTE_REGIONS = 4,
	CKPTD_NOTE_FILES = 5,
	CKPTD_NOTE_FDS = 6,
};

int image_core_encode(const struct snapshot *s, void **ret, size_t *ret_len);
/*
 * Decodes and validates (snapshot_validate) an untrusted core file.
 * -EBADMSG with *ret_reason saying what was wrong.
 */
int image_core_decode(const void *buf, size_t len, struct snapshot **ret, const char **ret_reason);
