// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * XSAVE layout facts from CPUID leaf 0xD and XGETBV (see cpu.h). The
 * standard (non-compacted) format puts feature i at CPUID(0xD, i).EBX, which
 * is what ptrace's NT_X86_XSTATE and signal frames use.
 */
#include <cpuid.h>
#include <string.h>

#include "cpu.h"
#include "util.h"

#define XSAVE_LEGACY_SIZE 512
#define XSAVE_HEADER_SIZE 64
#define XSAVE_SW_BYTES_OFFSET 464
#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U

struct fpx_sw_bytes {
	uint32_t magic1;
	uint32_t extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size;
	uint32_t padding[7];
};

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t) hi << 32) | lo;
}

void cpu_layout(struct snapshot_cpu *ret)
{
	unsigned a, b, c, d;

	memset(ret, 0, sizeof(*ret));
	ret->xcr0 = xgetbv0();
	__cpuid_count(0xd, 0, a, b, c, d);
	ret->xstate_size = b;
	for (unsigned i = 2; i < 64; i++) {
		if (!(ret->xcr0 & (1ULL << i)))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		ret->xfeature_size[i] = a;
		ret->xfeature_offset[i] = b;
	}
}

uint64_t cpu_xstate_bv(const uint8_t *xstate, size_t size)
{
	uint64_t bv;

	if (size < XSAVE_LEGACY_SIZE + XSAVE_HEADER_SIZE)
		return 0;
	memcpy(&bv, xstate + XSAVE_LEGACY_SIZE, sizeof(bv));
	return bv;
}

const char *cpu_feature_name(unsigned bit)
{
	static const char *const names[] = {
		[0] = "x87",
		[1] = "SSE",
		[2] = "AVX",
		[3] = "MPX bounds",
		[4] = "MPX CSR",
		[5] = "AVX-512 opmask",
		[6] = "AVX-512 ZMM_Hi256",
		[7] = "AVX-512 Hi16_ZMM",
		[9] = "PKRU",
		[11] = "CET user",
		[17] = "AMX TILECFG",
		[18] = "AMX TILEDATA",
		[19] = "APX",
	};

	if (bit < ELEMENTSOF(names) && names[bit])
		return names[bit];
	return "unknown";
}

int cpu_check(const struct snapshot_cpu *saved, const struct snapshot_cpu *now, char **ret_error)
{
	uint64_t missing = saved->xfeatures_used & ~now->xcr0;
	char buf[512] = "";
	size_t n = 0;

	for (unsigned i = 0; i < 64; i++) {
		if (saved->xfeatures_used & (1ULL << i) && i >= 2 && now->xcr0 & (1ULL << i) &&
		    saved->xfeature_size[i] != now->xfeature_size[i])
			missing |= 1ULL << i; /* same feature, other size: cannot convert */
	}
	if (!missing)
		return 0;
	for (unsigned i = 0; i < 64 && n < sizeof(buf) - 64; i++)
		if (missing & (1ULL << i))
			n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s (bit %u)",
					       n ? ", " : "", cpu_feature_name(i), i);
	*ret_error = strdup_printf("the snapshot's threads use CPU state this CPU lacks: %s; "
				   "restore on a machine with the same CPU features",
				   buf);
	return -EOPNOTSUPP;
}

void cpu_convert_xstate(const struct snapshot_cpu *saved, const uint8_t *src,
			const struct snapshot_cpu *now, uint8_t *dst)
{
	uint64_t bv = cpu_xstate_bv(src, saved->xstate_size) & now->xcr0, zero = 0;

	memset(dst, 0, now->xstate_size);
	memcpy(dst, src, XSAVE_LEGACY_SIZE + XSAVE_HEADER_SIZE);
	memcpy(dst + XSAVE_LEGACY_SIZE, &bv, sizeof(bv));
	memcpy(dst + XSAVE_LEGACY_SIZE + 8, &zero, sizeof(zero)); /* XCOMP_BV: standard format */
	for (unsigned i = 2; i < 64; i++) {
		uint32_t size = now->xfeature_size[i];

		if (!(bv & (1ULL << i)) || size == 0 || size != saved->xfeature_size[i] ||
		    saved->xfeature_offset[i] + size > saved->xstate_size ||
		    now->xfeature_offset[i] + size > now->xstate_size)
			continue;
		memcpy(dst + now->xfeature_offset[i], src + saved->xfeature_offset[i], size);
	}
}

size_t cpu_sigframe_fpstate(const struct snapshot_cpu *cpu, const uint8_t *xstate, uint8_t *dst)
{
	uint64_t bv = cpu_xstate_bv(xstate, cpu->xstate_size);
	uint64_t features = cpu->xcr0, zero = 0;
	struct fpx_sw_bytes sw = {};
	uint32_t magic2 = FP_XSTATE_MAGIC2;
	size_t size = XSAVE_LEGACY_SIZE + XSAVE_HEADER_SIZE;

	/*
	 * The kernel refuses a frame larger than the task's own fpstate, which
	 * holds AMX tile data only once the task has used it: leave the tiles
	 * out unless they are live.
	 */
	if (!(bv & (1ULL << XFEATURE_XTILEDATA)))
		features &= ~(1ULL << XFEATURE_XTILEDATA);
	for (unsigned i = 2; i < 64; i++)
		if (features & (1ULL << i))
			size = MAX(size, (size_t) cpu->xfeature_offset[i] + cpu->xfeature_size[i]);
	size = MIN(size, (size_t) cpu->xstate_size);

	memcpy(dst, xstate, size);
	bv &= features;
	memcpy(dst + XSAVE_LEGACY_SIZE, &bv, sizeof(bv));
	memcpy(dst + XSAVE_LEGACY_SIZE + 8, &zero, sizeof(zero));
	sw.magic1 = FP_XSTATE_MAGIC1;
	sw.extended_size = (uint32_t)(size + sizeof(magic2));
	sw.xfeatures = features;
	sw.xstate_size = (uint32_t) size;
	memcpy(dst + XSAVE_SW_BYTES_OFFSET, &sw, sizeof(sw));
	memcpy(dst + size, &magic2, sizeof(magic2));
	return size + sizeof(magic2);
}
