/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CPU's extended state (XSAVE) layout: what dump records, what restore
 * checks against this CPU, how a saved XSAVE image is moved into this CPU's
 * layout, and the fpstate a sigreturn frame needs.
 */
#pragma once

#include "snapshot.h"

#define XFEATURE_XTILEDATA 18

/* This CPU: XCR0, the XSAVE size ptrace uses, and each feature's offset and size. */
void cpu_layout(struct snapshot_cpu *ret);

uint64_t cpu_xstate_bv(const uint8_t *xstate, size_t size);

/*
 * 0 if the saved state can be restored here; otherwise -EOPNOTSUPP and a
 * sentence naming the features this CPU lacks.
 */
int cpu_check(const struct snapshot_cpu *saved, const struct snapshot_cpu *now, char **ret_error);

/* Copies a saved XSAVE image into this CPU's layout (dst has now->xstate_size bytes). */
void cpu_convert_xstate(const struct snapshot_cpu *saved, const uint8_t *src,
			const struct snapshot_cpu *now, uint8_t *dst);

/*
 * Writes the fpstate rt_sigreturn expects (XSAVE standard format, software
 * bytes, trailing magic) for the given ptrace XSAVE image into dst, which has
 * room for cpu->xstate_size + 64 bytes. Returns its size.
 */
size_t cpu_sigframe_fpstate(const struct snapshot_cpu *cpu, const uint8_t *xstate, uint8_t *dst);

const char *cpu_feature_name(unsigned bit);
