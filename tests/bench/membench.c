// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * membench: the benchmark's workload. It fills SIZE MiB with incompressible
 * data, then THREADS threads each loop forever doing "steps": a step reads
 * and (unless writes are off) changes four random cache lines of the
 * thread's share, then reads the clock. The gap between two consecutive
 * steps of a thread is how long that thread could not run: a freeze shows
 * up as one long gap in every thread.
 *
 *     membench -s MIB -t THREADS -o STATS [-r]
 *
 * The main thread only waits for signals, so the bench can ask, around a
 * snapshot, how the workload saw it:
 *
 *   SIGUSR1     write a report to STATS (written to STATS.tmp, then renamed)
 *               and start a new window
 *   SIGUSR2     change exactly 1% of the pages (every 100th page, at a random
 *               offset in each run of 100) to new random data, then report
 *   SIGRTMIN    steps stop writing (they still read and count), then report
 *   SIGRTMIN+1  steps write again, then report
 *   SIGRTMIN+2  time a fork() of this process (the child exits at once), then
 *               report it as fork_ns: what the kernel alone charges to copy
 *               this workload's page tables, the floor of a copy-on-write
 *               snapshot's freeze on this machine at this moment
 *
 * A report is one line of key=value pairs. For the window since the
 * previous report: steps (all threads), max_gap_ns (the longest gap of any
 * one thread, and which), all_gap_ns (the longest time during which no
 * thread made a step: the intersection of the threads' gaps, which is the
 * freeze proper, without a thread merely waiting for a CPU), gaps_1ms (how
 * many gaps exceeded 1 ms). real_ns (CLOCK_REALTIME) tells a fresh report
 * from an old one, also after a restore. The first report (state=ready) is
 * written once the memory is filled.
 *
 * -r starts with writes off.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define LINE 64u
#define LINES_PER_STEP 4
#define GAP_RECORD_NS 50000u /* gaps longer than this are kept for all_gap_ns */
#define RING 8192u	     /* kept gaps per thread (128 KiB) */

struct gap {
	uint64_t start, end;
};

struct worker {
	pthread_t tid;
	unsigned idx;
	uint8_t *lo; /* its share: whole pages */
	size_t len;
	_Atomic uint64_t steps;
	_Atomic uint64_t max_gap;
	_Atomic uint64_t gaps_1ms;
	_Atomic uint64_t n_gaps; /* gaps[] written so far (mod RING) */
	struct gap *gaps;
} __attribute__((aligned(64)));

static uint8_t *mem;
static size_t mem_len, n_pages;
static unsigned n_threads;
static struct worker *workers;
static const char *stats_path;
static _Atomic int writes = 1;
static _Atomic unsigned filled;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("membench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline uint64_t now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* wyrand: fast, and its output does not compress. */
static inline uint64_t rnd(uint64_t *s)
{
	__uint128_t m;

	*s += 0xa0761d6478bd642full;
	m = (__uint128_t) *s * (*s ^ 0xe7037ed1a0b428dbull);
	return (uint64_t) (m >> 64) ^ (uint64_t) m;
}

/* A uniform index below n, without a division. */
static inline uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t) (((__uint128_t) r * n) >> 64);
}

static void fill(uint8_t *p, size_t len, uint64_t *s)
{
	uint64_t *w = (uint64_t *) p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = rnd(s);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (w->idx + 1) ^ now(CLOCK_MONOTONIC);
	uint64_t n_lines = w->len / LINE, prev, max = 0, steps = 0;

	fill(w->lo, w->len, &s);
	atomic_fetch_add(&filled, 1);
	while (atomic_load(&filled) < n_threads)
		usleep(1000);

	prev = now(CLOCK_MONOTONIC);
	for (;;) {
		uint64_t t, gap;

		if (atomic_load_explicit(&writes, memory_order_relaxed)) {
			for (int k = 0; k < LINES_PER_STEP; k++) {
				uint64_t r = rnd(&s);
				volatile uint64_t *p = (uint64_t *) (w->lo + below(r, n_lines) * LINE);

				*p ^= r;
			}
		} else {
			uint64_t sum = 0;

			for (int k = 0; k < LINES_PER_STEP; k++) {
				uint64_t r = rnd(&s);

				sum += *(volatile uint64_t *) (w->lo + below(r, n_lines) * LINE);
			}
			s ^= sum & 1;
		}
		t = now(CLOCK_MONOTONIC);
		gap = t - prev;
		/* The main thread resets max_gap to 0: re-read it rather than trust a copy. */
		max = atomic_load_explicit(&w->max_gap, memory_order_relaxed);
		if (gap > max)
			atomic_store_explicit(&w->max_gap, gap, memory_order_relaxed);
		if (gap > GAP_RECORD_NS) {
			uint64_t n = atomic_load_explicit(&w->n_gaps, memory_order_relaxed);

			w->gaps[n % RING] = (struct gap){ prev, t };
			atomic_store_explicit(&w->n_gaps, n + 1, memory_order_release);
			if (gap > 1000000)
				atomic_fetch_add_explicit(&w->gaps_1ms, 1, memory_order_relaxed);
		}
		prev = t;
		atomic_store_explicit(&w->steps, ++steps, memory_order_relaxed);
	}
	return NULL;
}

/* The gaps of one thread since `from`, oldest first, clipped to [from, to]. */
static size_t thread_gaps(struct worker *w, uint64_t from, uint64_t to, struct gap *out)
{
	uint64_t n = atomic_load_explicit(&w->n_gaps, memory_order_acquire);
	uint64_t first = n > RING ? n - RING : 0;
	size_t k = 0;

	for (uint64_t i = first; i < n; i++) {
		struct gap g = w->gaps[i % RING];

		if (g.end <= from || g.start >= to)
			continue;
		if (g.start < from)
			g.start = from;
		if (g.end > to)
			g.end = to;
		if (k && g.start < out[k - 1].end) /* overwritten while read: keep order */
			continue;
		out[k++] = g;
	}
	return k;
}

/* out = a ∩ b (both sorted and disjoint); out holds at most na + nb entries. */
static size_t intersect(const struct gap *a, size_t na, const struct gap *b, size_t nb,
			struct gap *out)
{
	size_t i = 0, j = 0, k = 0;

	while (i < na && j < nb) {
		uint64_t s = a[i].start > b[j].start ? a[i].start : b[j].start;
		uint64_t e = a[i].end < b[j].end ? a[i].end : b[j].end;

		if (s < e)
			out[k++] = (struct gap){ s, e };
		if (a[i].end < b[j].end)
			i++;
		else
			j++;
	}
	return k;
}

/* The longest time during which every thread was in a gap. */
static uint64_t all_gap(uint64_t from, uint64_t to)
{
	static struct gap *acc, *tmp, *out;
	size_t cap = (size_t) n_threads * RING, n;
	uint64_t best = 0;

	if (!acc) {
		acc = malloc(cap * sizeof(*acc));
		tmp = malloc(RING * sizeof(*tmp));
		out = malloc(cap * sizeof(*out));
		if (!acc || !tmp || !out)
			die("out of memory");
	}
	/* An intersection holds fewer entries than its two inputs together. */
	n = thread_gaps(&workers[0], from, to, acc);
	for (unsigned t = 1; t < n_threads && n; t++) {
		size_t m = thread_gaps(&workers[t], from, to, tmp);
		struct gap *x = acc;

		n = intersect(acc, n, tmp, m, out);
		acc = out;
		out = x;
	}
	for (size_t i = 0; i < n; i++)
		if (acc[i].end - acc[i].start > best)
			best = acc[i].end - acc[i].start;
	return best;
}

static uint64_t fork_ns;

static void time_fork(void)
{
	uint64_t t = now(CLOCK_MONOTONIC);
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	fork_ns = now(CLOCK_MONOTONIC) - t;
	if (child < 0)
		die("cannot fork: %m");
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}

static void report(const char *state, uint64_t changed, uint64_t fill_ns)
{
	static uint64_t seq, window_start, steps_before;
	uint64_t t = now(CLOCK_MONOTONIC), steps = 0, max = 0, gaps_1ms = 0, ag;
	unsigned max_thread = 0;
	char tmp[4096], line[1024];
	int fd, len;

	for (unsigned i = 0; i < n_threads; i++) {
		uint64_t g = atomic_exchange(&workers[i].max_gap, 0);

		steps += atomic_load(&workers[i].steps);
		gaps_1ms += atomic_exchange(&workers[i].gaps_1ms, 0);
		if (g > max) {
			max = g;
			max_thread = i;
		}
	}
	ag = window_start ? all_gap(window_start, t) : 0;
	len = snprintf(line, sizeof(line),
		       "seq=%" PRIu64 " pid=%d state=%s real_ns=%" PRIu64 " window_ns=%" PRIu64
		       " steps=%" PRIu64 " steps_total=%" PRIu64 " max_gap_ns=%" PRIu64
		       " max_gap_thread=%u all_gap_ns=%" PRIu64 " gaps_1ms=%" PRIu64
		       " changed_pages=%" PRIu64 " writes=%d pages=%zu threads=%u fill_ns=%" PRIu64
		       " fork_ns=%" PRIu64 "\n",
		       seq++, (int) getpid(), state, now(CLOCK_REALTIME),
		       window_start ? t - window_start : 0, steps - steps_before, steps, max,
		       max_thread, ag, gaps_1ms, changed, atomic_load(&writes), n_pages, n_threads,
		       fill_ns, fork_ns);
	window_start = t;
	steps_before = steps;
	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot open %s: %m", tmp);
	if (write(fd, line, (size_t) len) != len)
		die("cannot write %s: %m", tmp);
	close(fd);
	if (rename(tmp, stats_path) < 0)
		die("cannot rename %s: %m", tmp);
}

/* Exactly n_pages/100 pages (at least one) get new random contents. */
static uint64_t change_one_percent(void)
{
	static uint64_t s;
	uint64_t runs = n_pages / 100, changed = 0;

	if (!s)
		s = now(CLOCK_REALTIME) ^ ((uint64_t) getpid() << 32);
	if (runs == 0) {
		fill(mem + below(rnd(&s), n_pages) * PAGE, PAGE, &s);
		return 1;
	}
	for (uint64_t r = 0; r < runs; r++) {
		size_t page = r * 100 + below(rnd(&s), 100);

		fill(mem + page * PAGE, PAGE, &s);
		changed++;
	}
	return changed;
}

int main(int argc, char **argv)
{
	uint64_t mib = 0, t0, fill_ns;
	int opt, sig;
	sigset_t set;

	n_threads = 1;
	while ((opt = getopt(argc, argv, "s:t:o:r")) != -1) {
		switch (opt) {
		case 's':
			mib = strtoull(optarg, NULL, 10);
			break;
		case 't':
			n_threads = (unsigned) strtoul(optarg, NULL, 10);
			break;
		case 'o':
			stats_path = optarg;
			break;
		case 'r':
			writes = 0;
			break;
		default:
			die("usage: membench -s MIB -t THREADS -o STATS [-r]");
		}
	}
	if (!mib || !n_threads || n_threads > 256 || !stats_path)
		die("usage: membench -s MIB -t THREADS -o STATS [-r]");

	/* Signals are for the main thread alone: block them before any thread exists. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	mem_len = (size_t) mib << 20;
	n_pages = mem_len / PAGE;
	mem = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("cannot map %" PRIu64 " MiB: %m", mib);
	workers = aligned_alloc(64, n_threads * sizeof(*workers));
	if (!workers)
		die("out of memory");
	memset(workers, 0, n_threads * sizeof(*workers));

	t0 = now(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < n_threads; i++) {
		struct worker *w = &workers[i];
		size_t lo = n_pages * i / n_threads, hi = n_pages * (i + 1) / n_threads;
		int r;

		w->idx = i;
		w->lo = mem + lo * PAGE;
		w->len = (hi - lo) * PAGE;
		w->gaps = calloc(RING, sizeof(*w->gaps));
		if (!w->gaps || hi == lo)
			die("cannot set up thread %u", i);
		r = pthread_create(&w->tid, NULL, worker_main, w);
		if (r)
			die("cannot start a thread: %s", strerror(r));
	}
	while (atomic_load(&filled) < n_threads)
		usleep(1000);
	fill_ns = now(CLOCK_MONOTONIC) - t0;
	report("ready", 0, fill_ns);

	for (;;) {
		siginfo_t si;
		uint64_t changed = 0;

		sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue; /* EINTR: ptrace and restores may cause it */
		if (sig == SIGUSR2)
			changed = change_one_percent();
		else if (sig == SIGRTMIN)
			atomic_store(&writes, 0);
		else if (sig == SIGRTMIN + 1)
			atomic_store(&writes, 1);
		else if (sig == SIGRTMIN + 2)
			time_fork();
		report(sig == SIGUSR2 ? "changed" : "report", changed, fill_ns);
	}
}
