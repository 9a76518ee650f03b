// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bigmem: a large heap of seeded data mutated over many rounds of seeded
 * random choices, so a snapshot lands mid-mutation. At the end every byte is
 * re-derived from the seed alone and compared. Beside the heap it holds the
 * region kinds a dump must get right: a sparse region, a read-only one, a
 * PROT_NONE hole, shared anonymous memory, MADV_DONTFORK and MADV_WIPEONFORK.
 *
 *     bigmem OUT [READY] [MIB=300] [ROUNDS=10000] [SEED=1]
 */
#include <sys/mman.h>

#include "workload.h"

#define BLOCK_WORDS 4096u /* 32 KiB */
#define PICKS 64u	  /* blocks mutated per round */
#define SIDE_WORDS 32768u /* 256 KiB per side region */
#define SPARSE_PAGES 16384u
#define SPARSE_STRIDE 97u
#define RO_PAGES 16u
#define PAGE 4096u

static uint64_t seed;

static inline uint64_t initial(uint64_t i)
{
	return mix64(seed ^ (i * 0xd1b54a32d192ed03ull));
}

static inline uint64_t mutate(uint64_t x, uint64_t key, uint64_t i)
{
	return rotl64(x ^ key, 23) * 0xff51afd7ed558ccdull + i;
}

/* What each round does to the small regions, from its keys alone. */
static inline void side_update(uint64_t *sh, uint64_t *wipe, uint64_t *nofork, uint64_t key)
{
	sh[key % SIDE_WORDS] ^= key;
	wipe[(key >> 24) % SIDE_WORDS] += key;
	nofork[(key >> 40) % SIDE_WORDS] = rotl64(nofork[(key >> 40) % SIDE_WORDS], 1) ^ key;
}

static void *map(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		wl_die("mmap %zu bytes: %m", len);
	return p;
}

int main(int argc, char **argv)
{
	int a = wl_init("bigmem", argc, argv, "[MIB=300] [ROUNDS=10000] [SEED=1]");
	uint64_t mib = wl_arg(argc, argv, a, 300);
	uint64_t rounds = wl_arg(argc, argv, a + 1, 10000);
	size_t nwords, nblocks, npicks;
	uint64_t *buf, *sh, *wipe, *nofork, *exp_side, *keys, cs = 0, digest = 0;
	uint8_t *sparse, *ro, *hole;
	uint32_t *start, *fill;
	struct rng rng;

	seed = wl_arg(argc, argv, a + 2, 1);
	if (mib == 0 || rounds == 0)
		wl_die("MIB and ROUNDS must be positive");
	nwords = (size_t) mib << 17;
	nblocks = nwords / BLOCK_WORDS;
	npicks = (size_t) rounds * PICKS;

	/* The heap: its own mapping, every page touched. */
	buf = map(nwords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	for (size_t i = 0; i < nwords; i++)
		buf[i] = initial(i);

	sh = map(SIDE_WORDS * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
	wipe = map(SIDE_WORDS * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	nofork = map(SIDE_WORDS * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	if (madvise(wipe, SIDE_WORDS * 8, MADV_WIPEONFORK) < 0)
		wl_die("MADV_WIPEONFORK: %m");
	if (madvise(nofork, SIDE_WORDS * 8, MADV_DONTFORK) < 0)
		wl_die("MADV_DONTFORK: %m");
	for (uint64_t i = 0; i < SIDE_WORDS; i++) {
		sh[i] = initial(~i);
		wipe[i] = initial(i ^ 0x5555);
		nofork[i] = initial(i ^ 0xaaaa);
	}

	/* Sparse: one page in SPARSE_STRIDE holds data, the rest were never touched. */
	sparse = map((size_t) SPARSE_PAGES * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	for (uint64_t p = 0; p < SPARSE_PAGES; p += SPARSE_STRIDE)
		for (uint64_t j = 0; j < PAGE / 8; j++)
			((uint64_t *) (sparse + p * PAGE))[j] = initial(p << 32 | j);

	/* Read-only after filling; and three pages whose middle one is PROT_NONE. */
	ro = map(RO_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	for (uint64_t j = 0; j < RO_PAGES * PAGE / 8; j++)
		((uint64_t *) ro)[j] = initial(j + 0x1000000);
	if (mprotect(ro, RO_PAGES * PAGE, PROT_READ) < 0)
		wl_die("mprotect: %m");
	hole = map(3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(hole, 0xa5, PAGE);
	memset(hole + 2 * PAGE, 0x5a, PAGE);
	if (mprotect(hole + PAGE, PAGE, PROT_NONE) < 0)
		wl_die("mprotect: %m");

	wl_ready(NULL);

	rng_seed(&rng, seed);
	for (uint64_t r = 0; r < rounds; r++) {
		for (unsigned k = 0; k < PICKS; k++) {
			uint64_t b = rng_below(&rng, nblocks), key = rng_next(&rng), sum = 0;
			uint64_t *blk = buf + b * BLOCK_WORDS, base = b * BLOCK_WORDS;

			for (unsigned w = 0; w < BLOCK_WORDS; w++) {
				blk[w] = mutate(blk[w], key, base + w);
				sum += blk[w];
			}
			cs = hash2(cs ^ sum, b);
			side_update(sh, wipe, nofork, key);
		}
	}

	/*
	 * Verification from the seed alone: replay the choices, sort each
	 * block's keys by block (stably: the order of rounds matters), and
	 * rebuild each block from scratch.
	 */
	keys = malloc(npicks * 8);
	start = calloc(nblocks + 1, 4);
	fill = calloc(nblocks, 4);
	uint32_t *pick_block = malloc(npicks * 4), *pos = malloc(npicks * 4);
	uint64_t *pick_key = malloc(npicks * 8), *sums = malloc(npicks * 8);
	exp_side = calloc(3 * SIDE_WORDS, 8);
	if (!keys || !start || !fill || !pick_block || !pos || !pick_key || !sums || !exp_side)
		wl_die("out of memory");
	for (uint64_t i = 0; i < SIDE_WORDS; i++) {
		exp_side[i] = initial(~i);
		exp_side[SIDE_WORDS + i] = initial(i ^ 0x5555);
		exp_side[2 * SIDE_WORDS + i] = initial(i ^ 0xaaaa);
	}
	rng_seed(&rng, seed);
	for (size_t p = 0; p < npicks; p++) {
		pick_block[p] = (uint32_t) rng_below(&rng, nblocks);
		pick_key[p] = rng_next(&rng);
		start[pick_block[p] + 1]++;
		side_update(exp_side, exp_side + SIDE_WORDS, exp_side + 2 * SIDE_WORDS,
			    pick_key[p]);
	}
	for (size_t b = 0; b < nblocks; b++)
		start[b + 1] += start[b];
	for (size_t p = 0; p < npicks; p++) {
		uint32_t b = pick_block[p];
		pos[p] = start[b] + fill[b]++;
		keys[pos[p]] = pick_key[p];
	}

	uint64_t tmp[BLOCK_WORDS];
	size_t bad_blocks = 0;
	for (size_t b = 0; b < nblocks; b++) {
		uint64_t base = b * BLOCK_WORDS;

		for (unsigned w = 0; w < BLOCK_WORDS; w++)
			tmp[w] = initial(base + w);
		for (uint32_t k = start[b]; k < start[b + 1]; k++) {
			uint64_t sum = 0;
			for (unsigned w = 0; w < BLOCK_WORDS; w++) {
				tmp[w] = mutate(tmp[w], keys[k], base + w);
				sum += tmp[w];
			}
			sums[k] = sum;
		}
		if (memcmp(tmp, buf + base, sizeof(tmp)) != 0) {
			if (bad_blocks++ == 0) {
				unsigned w = 0;
				while (tmp[w] == buf[base + w])
					w++;
				wl_fail("heap differs first at byte %zu (block %zu)",
					(size_t) (base + w) * 8, b);
			}
		}
		for (unsigned w = 0; w < BLOCK_WORDS; w++)
			digest = digest * 0x100000001b3ull + tmp[w];
	}
	wl_check(bad_blocks == 0, "%zu of %zu heap blocks differ", bad_blocks, nblocks);

	/* The running checksum, from the sums the replay saw, in the order of the rounds. */
	uint64_t exp_cs = 0;
	for (size_t p = 0; p < npicks; p++)
		exp_cs = hash2(exp_cs ^ sums[pos[p]], pick_block[p]);
	wl_check(cs == exp_cs, "running checksum %016lx, expected %016lx", (unsigned long) cs,
		 (unsigned long) exp_cs);

	wl_check(memcmp(sh, exp_side, SIDE_WORDS * 8) == 0, "shared anonymous region differs");
	wl_check(memcmp(wipe, exp_side + SIDE_WORDS, SIDE_WORDS * 8) == 0,
		 "MADV_WIPEONFORK region differs");
	wl_check(memcmp(nofork, exp_side + 2 * SIDE_WORDS, SIDE_WORDS * 8) == 0,
		 "MADV_DONTFORK region differs");

	for (uint64_t p = 0; p < SPARSE_PAGES; p++) {
		const uint64_t *pg = (const uint64_t *) (sparse + p * PAGE);
		for (uint64_t j = 0; j < PAGE / 8; j++) {
			uint64_t want = p % SPARSE_STRIDE == 0 ? initial(p << 32 | j) : 0;
			if (pg[j] != want) {
				wl_fail("sparse region differs at page %lu word %lu",
					(unsigned long) p, (unsigned long) j);
				p = SPARSE_PAGES;
				break;
			}
		}
	}
	for (uint64_t j = 0; j < RO_PAGES * PAGE / 8; j++)
		if (((const uint64_t *) ro)[j] != initial(j + 0x1000000)) {
			wl_fail("read-only region differs at word %lu", (unsigned long) j);
			break;
		}
	for (unsigned j = 0; j < PAGE; j++)
		if (hole[j] != 0xa5 || hole[2 * PAGE + j] != 0x5a) {
			wl_fail("pages around the PROT_NONE hole differ at byte %u", j);
			break;
		}

	wl_printf("bigmem: mib=%lu rounds=%lu picks=%u seed=%lu\n", (unsigned long) mib,
		  (unsigned long) rounds, PICKS, (unsigned long) seed);
	wl_printf("checksum: %016lx\n", (unsigned long) cs);
	wl_printf("digest: %016lx\n", (unsigned long) digest);
	wl_printf("side: %016lx\n", (unsigned long) hash2(hash2(sh[0], wipe[1]), nofork[2]));
	return wl_finish();
}
