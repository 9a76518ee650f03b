// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * simd: state that lives only in extended registers while a snapshot hits.
 * An AVX-512 loop in one asm statement keeps all 32 zmm registers and the
 * opmask k3 live for seconds without spilling; then, when the CPU and kernel
 * allow AMX, a loop keeps eight tiles live (tdpbssd accumulating in tmm0-3
 * from tmm4-7). Afterwards the AVX-512 run is repeated in short slices and
 * compared, the asm is checked against plain C on a short run, and the tiles
 * against a C dot product; without AMX the result says "AMX: skipped".
 *
 *     simd OUT [READY] [AVX_ITERS=240000000] [AMX_ITERS=80000000] [SEED=1]
 */
#include <cpuid.h>
#include <sys/syscall.h>

#include "workload.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef uint64_t v8 __attribute__((vector_size(64)));

static const uint64_t addend = 0x9e3779b97f4a7c15ull;

/* One iteration, in C: what the asm below does, register for register. */
static const int rot[16] = {7, 13, 19, 29, 37, 41, 43, 47, 53, 59, 3, 5, 11, 17, 23, 31};

static void avx_reference(v8 *st, uint16_t *k3bits, uint64_t iters)
{
	v8 A[16], B[16], k3;

	for (int l = 0; l < 8; l++)
		k3[l] = *k3bits & (1u << l) ? ~0ull : 0;

	for (int j = 0; j < 16; j++) {
		A[j] = st[j];
		B[j] = st[16 + j];
	}
	for (uint64_t i = 0; i < iters; i++) {
		for (int j = 0; j < 16; j++) {
			A[j] += B[j];
			B[j] ^= A[(j + 1) & 15];
			B[j] = (B[j] << rot[j]) | (B[j] >> (64 - rot[j]));
		}
		v8 k1 = (v8) (A[0] < B[0]);
		A[15] += k1 & addend;
		k3 ^= k1;
		A[13] -= k3 & B[14];
	}
	for (int j = 0; j < 16; j++) {
		st[j] = A[j];
		st[16 + j] = B[j];
	}
	*k3bits = 0;
	for (int l = 0; l < 8; l++)
		*k3bits |= k3[l] ? 1u << l : 0;
}

/* clang-format off */
#define STEP(a, b, an, r)                                              \
	"vpaddq %%zmm" #b ", %%zmm" #a ", %%zmm" #a "\n\t"               \
	"vpxorq %%zmm" #an ", %%zmm" #b ", %%zmm" #b "\n\t"              \
	"vprolq $" #r ", %%zmm" #b ", %%zmm" #b "\n\t"

static void avx_asm(v8 *st, uint16_t *k3, uint64_t iters)
{
	__asm__ volatile(
		"vmovdqu64 0*64(%[st]), %%zmm0\n\t"
		"vmovdqu64 1*64(%[st]), %%zmm1\n\t"
		"vmovdqu64 2*64(%[st]), %%zmm2\n\t"
		"vmovdqu64 3*64(%[st]), %%zmm3\n\t"
		"vmovdqu64 4*64(%[st]), %%zmm4\n\t"
		"vmovdqu64 5*64(%[st]), %%zmm5\n\t"
		"vmovdqu64 6*64(%[st]), %%zmm6\n\t"
		"vmovdqu64 7*64(%[st]), %%zmm7\n\t"
		"vmovdqu64 8*64(%[st]), %%zmm8\n\t"
		"vmovdqu64 9*64(%[st]), %%zmm9\n\t"
		"vmovdqu64 10*64(%[st]), %%zmm10\n\t"
		"vmovdqu64 11*64(%[st]), %%zmm11\n\t"
		"vmovdqu64 12*64(%[st]), %%zmm12\n\t"
		"vmovdqu64 13*64(%[st]), %%zmm13\n\t"
		"vmovdqu64 14*64(%[st]), %%zmm14\n\t"
		"vmovdqu64 15*64(%[st]), %%zmm15\n\t"
		"vmovdqu64 16*64(%[st]), %%zmm16\n\t"
		"vmovdqu64 17*64(%[st]), %%zmm17\n\t"
		"vmovdqu64 18*64(%[st]), %%zmm18\n\t"
		"vmovdqu64 19*64(%[st]), %%zmm19\n\t"
		"vmovdqu64 20*64(%[st]), %%zmm20\n\t"
		"vmovdqu64 21*64(%[st]), %%zmm21\n\t"
		"vmovdqu64 22*64(%[st]), %%zmm22\n\t"
		"vmovdqu64 23*64(%[st]), %%zmm23\n\t"
		"vmovdqu64 24*64(%[st]), %%zmm24\n\t"
		"vmovdqu64 25*64(%[st]), %%zmm25\n\t"
		"vmovdqu64 26*64(%[st]), %%zmm26\n\t"
		"vmovdqu64 27*64(%[st]), %%zmm27\n\t"
		"vmovdqu64 28*64(%[st]), %%zmm28\n\t"
		"vmovdqu64 29*64(%[st]), %%zmm29\n\t"
		"vmovdqu64 30*64(%[st]), %%zmm30\n\t"
		"vmovdqu64 31*64(%[st]), %%zmm31\n\t"
		"kmovw (%[k3]), %%k3\n\t"
		"1:\n\t"
		STEP(0, 16, 1, 7)
		STEP(1, 17, 2, 13)
		STEP(2, 18, 3, 19)
		STEP(3, 19, 4, 29)
		STEP(4, 20, 5, 37)
		STEP(5, 21, 6, 41)
		STEP(6, 22, 7, 43)
		STEP(7, 23, 8, 47)
		STEP(8, 24, 9, 53)
		STEP(9, 25, 10, 59)
		STEP(10, 26, 11, 3)
		STEP(11, 27, 12, 5)
		STEP(12, 28, 13, 11)
		STEP(13, 29, 14, 17)
		STEP(14, 30, 15, 23)
		STEP(15, 31, 0, 31)
		"vpcmpuq $1, %%zmm16, %%zmm0, %%k1\n\t" /* k1 = A0 < B0 */
		"vpaddq %[add]%{1to8%}, %%zmm15, %%zmm15%{%%k1%}\n\t"
		"kxorw %%k1, %%k3, %%k3\n\t"
		"vpsubq %%zmm30, %%zmm13, %%zmm13%{%%k3%}\n\t"
		"dec %[n]\n\t"
		"jnz 1b\n\t"
		"vmovdqu64 %%zmm0, 0*64(%[st])\n\t"
		"vmovdqu64 %%zmm1, 1*64(%[st])\n\t"
		"vmovdqu64 %%zmm2, 2*64(%[st])\n\t"
		"vmovdqu64 %%zmm3, 3*64(%[st])\n\t"
		"vmovdqu64 %%zmm4, 4*64(%[st])\n\t"
		"vmovdqu64 %%zmm5, 5*64(%[st])\n\t"
		"vmovdqu64 %%zmm6, 6*64(%[st])\n\t"
		"vmovdqu64 %%zmm7, 7*64(%[st])\n\t"
		"vmovdqu64 %%zmm8, 8*64(%[st])\n\t"
		"vmovdqu64 %%zmm9, 9*64(%[st])\n\t"
		"vmovdqu64 %%zmm10, 10*64(%[st])\n\t"
		"vmovdqu64 %%zmm11, 11*64(%[st])\n\t"
		"vmovdqu64 %%zmm12, 12*64(%[st])\n\t"
		"vmovdqu64 %%zmm13, 13*64(%[st])\n\t"
		"vmovdqu64 %%zmm14, 14*64(%[st])\n\t"
		"vmovdqu64 %%zmm15, 15*64(%[st])\n\t"
		"vmovdqu64 %%zmm16, 16*64(%[st])\n\t"
		"vmovdqu64 %%zmm17, 17*64(%[st])\n\t"
		"vmovdqu64 %%zmm18, 18*64(%[st])\n\t"
		"vmovdqu64 %%zmm19, 19*64(%[st])\n\t"
		"vmovdqu64 %%zmm20, 20*64(%[st])\n\t"
		"vmovdqu64 %%zmm21, 21*64(%[st])\n\t"
		"vmovdqu64 %%zmm22, 22*64(%[st])\n\t"
		"vmovdqu64 %%zmm23, 23*64(%[st])\n\t"
		"vmovdqu64 %%zmm24, 24*64(%[st])\n\t"
		"vmovdqu64 %%zmm25, 25*64(%[st])\n\t"
		"vmovdqu64 %%zmm26, 26*64(%[st])\n\t"
		"vmovdqu64 %%zmm27, 27*64(%[st])\n\t"
		"vmovdqu64 %%zmm28, 28*64(%[st])\n\t"
		"vmovdqu64 %%zmm29, 29*64(%[st])\n\t"
		"vmovdqu64 %%zmm30, 30*64(%[st])\n\t"
		"vmovdqu64 %%zmm31, 31*64(%[st])\n\t"
		"kmovw %%k3, (%[k3])\n\t"
		"vzeroupper\n\t"
		: [n] "+r"(iters)
		: [st] "r"(st), [k3] "r"(k3), [add] "m"(addend)
		: "memory", "cc", "k1", "k3", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		  "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
		  "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}
/* clang-format on */

struct tilecfg {
	uint8_t palette_id;
	uint8_t start_row;
	uint8_t reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} __attribute__((packed, aligned(64)));

static bool amx_usable(const char **ret_why)
{
	unsigned eax, ebx, ecx, edx;

	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 24)) ||
	    !(edx & (1u << 25))) {
		*ret_why = "no amx-tile/amx-int8 in CPUID";
		return false;
	}
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
		*ret_why = "ARCH_REQ_XCOMP_PERM refused";
		return false;
	}
	return true;
}

/* tmm0..3 += tmm4/5 x tmm6/7, iters times, all in tiles; then stored to c[4][16][16]. */
/* clang-format off */
static void amx_asm(const struct tilecfg *cfg, const int8_t a[2][16][64],
		    const int8_t b[2][16][64], int32_t c[4][16][16], uint64_t iters)
{
	const uint64_t stride = 64;

	__asm__ volatile(
		"ldtilecfg (%[cfg])\n\t"
		"tilezero %%tmm0\n\t"
		"tilezero %%tmm1\n\t"
		"tilezero %%tmm2\n\t"
		"tilezero %%tmm3\n\t"
		"tileloadd (%[a0],%[s],1), %%tmm4\n\t"
		"tileloadd (%[a1],%[s],1), %%tmm5\n\t"
		"tileloadd (%[b0],%[s],1), %%tmm6\n\t"
		"tileloadd (%[b1],%[s],1), %%tmm7\n\t"
		"1:\n\t"
		"tdpbssd %%tmm6, %%tmm4, %%tmm0\n\t"
		"tdpbssd %%tmm7, %%tmm4, %%tmm1\n\t"
		"tdpbssd %%tmm6, %%tmm5, %%tmm2\n\t"
		"tdpbssd %%tmm7, %%tmm5, %%tmm3\n\t"
		"dec %[n]\n\t"
		"jnz 1b\n\t"
		"tilestored %%tmm0, (%[c0],%[s],1)\n\t"
		"tilestored %%tmm1, (%[c1],%[s],1)\n\t"
		"tilestored %%tmm2, (%[c2],%[s],1)\n\t"
		"tilestored %%tmm3, (%[c3],%[s],1)\n\t"
		"tilerelease\n\t"
		: [n] "+r"(iters)
		: [cfg] "r"(cfg), [s] "r"(stride), [a0] "r"(a[0]), [a1] "r"(a[1]), [b0] "r"(b[0]),
		  [b1] "r"(b[1]), [c0] "r"(c[0]), [c1] "r"(c[1]), [c2] "r"(c[2]), [c3] "r"(c[3])
		: "memory", "cc");
}
/* clang-format on */

static uint64_t digest(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t h = 0;

	for (size_t i = 0; i < len / 8; i++)
		h = hash2(h, w[i]);
	return h;
}

int main(int argc, char **argv)
{
	int a = wl_init("simd", argc, argv, "[AVX_ITERS=240000000] [AMX_ITERS=80000000] [SEED=1]");
	uint64_t avx_iters = wl_arg(argc, argv, a, 240000000);
	uint64_t amx_iters = wl_arg(argc, argv, a + 1, 80000000);
	uint64_t seed = wl_arg(argc, argv, a + 2, 1);
	static v8 st[32], again[32], small[32], small_ref[32];
	static int8_t ta[2][16][64], tb[2][16][64];
	static int32_t tc[4][16][16];
	static struct tilecfg cfg;
	uint16_t k3 = 0, k3_again = 0, k3_small = 0, k3_small_ref = 0;
	const char *why = NULL;
	bool amx;

	if (!__builtin_cpu_supports("avx512f"))
		wl_die("the CPU has no AVX-512F");
	if (avx_iters == 0 || amx_iters == 0)
		wl_die("iteration counts must be positive");
	for (int j = 0; j < 32; j++)
		for (int l = 0; l < 8; l++)
			st[j][l] = again[j][l] = small[j][l] = small_ref[j][l] =
				mix64(seed ^ (uint64_t) (j * 8 + l));
	amx = amx_usable(&why);
	if (amx) {
		cfg.palette_id = 1;
		for (int t = 0; t < 8; t++) {
			cfg.rows[t] = 16;
			cfg.colsb[t] = 64;
		}
		for (int i = 0; i < 2 * 16 * 64; i++) {
			((int8_t *) ta)[i] = (int8_t) mix64(seed + 0x1000 + (uint64_t) i);
			((int8_t *) tb)[i] = (int8_t) mix64(seed + 0x9000 + (uint64_t) i);
		}
	}

	wl_ready(NULL);

	/* The long stretches a snapshot is meant to hit: state only in registers. */
	avx_asm(st, &k3, avx_iters);
	if (amx)
		amx_asm(&cfg, ta, tb, tc, amx_iters);

	/*
	 * Checks. The same AVX-512 run again in short slices (state through
	 * memory between them), and a short run of the asm against plain C so
	 * the asm is known to mean what the C says.
	 */
	for (uint64_t done = 0; done < avx_iters;) {
		uint64_t n = avx_iters - done < 1000000 ? avx_iters - done : 1000000;
		avx_asm(again, &k3_again, n);
		done += n;
	}
	for (int j = 0; j < 32; j++)
		if (memcmp(&st[j], &again[j], sizeof(v8)) != 0) {
			wl_fail("zmm%d differs from a run in slices", j);
			break;
		}
	wl_check(k3 == k3_again, "k3 is %#x, a run in slices has %#x", k3, k3_again);
	avx_asm(small, &k3_small, 100000);
	avx_reference(small_ref, &k3_small_ref, 100000);
	wl_check(memcmp(small, small_ref, sizeof(small)) == 0 && k3_small == k3_small_ref,
		 "the AVX-512 asm does not compute what the C reference does");

	wl_printf("simd: avx_iters=%lu amx_iters=%lu seed=%lu\n", (unsigned long) avx_iters,
		  (unsigned long) amx_iters, (unsigned long) seed);
	for (int j = 0; j < 32; j++)
		wl_printf("zmm%d: %016lx\n", j, (unsigned long) digest(&st[j], sizeof(v8)));
	wl_printf("k3: %04x\n", k3);

	if (amx) {
		/* C[m][n] += sum over k of A[m][k] * B[k/4][4n + k%4], wrapping at 32 bits. */
		int bad = 0;
		for (int t = 0; t < 4; t++) {
			const int8_t(*A)[64] = ta[t >> 1], (*B)[64] = tb[t & 1];
			for (int m = 0; m < 16; m++)
				for (int n = 0; n < 16; n++) {
					uint32_t dot = 0, want;
					for (int k = 0; k < 64; k++)
						dot += (uint32_t) ((int32_t) A[m][k] *
								   (int32_t)
									   B[k / 4][4 * n + k % 4]);
					want = (uint32_t) (dot * amx_iters);
					if ((uint32_t) tc[t][m][n] != want && bad++ == 0)
						wl_fail("tmm%d[%d][%d] is %08x, expected %08x", t,
							m, n, (uint32_t) tc[t][m][n], want);
				}
		}
		for (int t = 0; t < 4; t++)
			wl_printf("tmm%d: %016lx\n", t,
				  (unsigned long) digest(tc[t], sizeof(tc[t])));
	} else {
		fprintf(stderr, "simd: AMX not used: %s\n", why);
		wl_printf("AMX: skipped\n");
	}
	return wl_finish();
}
