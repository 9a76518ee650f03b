// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * threads: a main thread and seven others, each waiting in a different way,
 * that together compute a hash chain:
 *
 *   producer --(mutex+cond queue)--> worker --(futex ring)--> consumer
 *   consumer --pipe--> poller (poll() with a timeout) --pipe--> reader (read())
 *   two sleepers: clock_nanosleep(TIMER_ABSTIME) and relative nanosleep loops
 *
 * The result is a function of the work, never of timing; main re-derives it
 * alone at the end. Every thread lives until the end (a final barrier) and
 * checks that its TID did not change.
 *
 *     threads OUT [READY] [ITEMS=60000] [WORK=20000] [SEED=1]
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "workload.h"

#define QA 8u
#define QB 8u
#define RECORD_EVERY 16u
#define N_THREADS 7

enum { T_PRODUCER, T_WORKER, T_CONSUMER, T_POLLER, T_READER, T_SLEEP_ABS, T_SLEEP_REL };
static const char *const thread_names[N_THREADS] = {
	"producer", "worker", "consumer", "poller", "reader", "sleep-abs", "sleep-rel",
};

static uint64_t n_items, work, seed;

/* Queue A: mutex and condition variables. */
static pthread_mutex_t qa_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qa_not_empty = PTHREAD_COND_INITIALIZER,
		      qa_not_full = PTHREAD_COND_INITIALIZER;
static uint64_t qa[QA];
static unsigned qa_head, qa_tail;

/* Ring B: one producer, one consumer, raw futex waits on the indices. */
static uint64_t qb[QB];
static _Atomic uint32_t qb_head, qb_tail;

static int p1[2], p2[2];
struct record {
	uint64_t index, chain;
};

static pid_t tids[N_THREADS + 1]; /* [N_THREADS]: main */
static pthread_barrier_t start_barrier, end_barrier;
static atomic_bool stop_sleeping;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static bool pipeline_done;

/* What the threads computed, for main to check. */
static uint64_t consumer_chain, poller_sum, reader_sum, reader_records;
static uint64_t sleeper_iterations[2];
static char thread_fail[N_THREADS][128];

static uint64_t heavy(uint64_t x)
{
	for (uint64_t i = 0; i < work; i++)
		x = mix64(x + i);
	return x;
}

static long futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	return syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void thread_check(int t, bool ok, const char *what)
{
	if (!ok && !thread_fail[t][0])
		snprintf(thread_fail[t], sizeof(thread_fail[t]), "%s: %s", thread_names[t], what);
}

static void producer(void)
{
	for (uint64_t i = 0; i < n_items; i++) {
		pthread_mutex_lock(&qa_mu);
		while (qa_tail - qa_head == QA)
			pthread_cond_wait(&qa_not_full, &qa_mu);
		qa[qa_tail++ % QA] = hash2(seed, i);
		pthread_cond_signal(&qa_not_empty);
		pthread_mutex_unlock(&qa_mu);
	}
}

static void worker(void)
{
	for (uint64_t i = 0; i < n_items; i++) {
		uint64_t item, v;
		uint32_t h, t;

		pthread_mutex_lock(&qa_mu);
		while (qa_tail == qa_head)
			pthread_cond_wait(&qa_not_empty, &qa_mu);
		item = qa[qa_head++ % QA];
		pthread_cond_signal(&qa_not_full);
		pthread_mutex_unlock(&qa_mu);

		v = heavy(item);

		t = atomic_load(&qb_tail);
		while ((h = atomic_load(&qb_head)) + QB == t)
			futex_wait(&qb_head, h); /* EINTR, EAGAIN: look again */
		qb[t % QB] = v;
		atomic_store(&qb_tail, t + 1);
		futex_wake(&qb_tail);
	}
}

static void consumer(void)
{
	uint64_t chain = seed;

	for (uint64_t i = 0; i < n_items; i++) {
		uint32_t h = atomic_load(&qb_head), t;

		while ((t = atomic_load(&qb_tail)) == h)
			futex_wait(&qb_tail, t);
		chain = hash2(chain, qb[h % QB]);
		atomic_store(&qb_head, h + 1);
		futex_wake(&qb_head);
		if ((i + 1) % RECORD_EVERY == 0 || i + 1 == n_items) {
			struct record rec = {i, chain};
			thread_check(T_CONSUMER, wl_write_all(p1[1], &rec, sizeof(rec)) == 0,
				     "write to poller failed");
		}
	}
	consumer_chain = chain;
	close(p1[1]);
}

static void poller(void)
{
	struct pollfd pfd = {.fd = p1[0], .events = POLLIN};
	uint64_t sum = 0;

	for (;;) {
		struct record rec;
		int r = poll(&pfd, 1, /* timeout_ms= */ 30);
		if (r < 0) {
			thread_check(T_POLLER, errno == EINTR, "poll failed");
			continue;
		}
		if (r == 0)
			continue; /* timeouts are not counted: they depend on timing */
		r = wl_read_all(p1[0], &rec, sizeof(rec));
		if (r == -EPIPE)
			break;
		if (r < 0) {
			thread_check(T_POLLER, false, "read failed");
			break;
		}
		sum = hash2(sum ^ rec.index, rec.chain);
		thread_check(T_POLLER, wl_write_all(p2[1], &rec, sizeof(rec)) == 0,
			     "write to reader failed");
	}
	poller_sum = sum;
	close(p2[1]);
}

static void reader(void)
{
	uint64_t sum = 0, n = 0;
	struct record rec;
	int r;

	while ((r = wl_read_all(p2[0], &rec, sizeof(rec))) == 0) {
		sum = rotl64(sum, 5) ^ rec.chain ^ mix64(rec.index);
		n++;
	}
	thread_check(T_READER, r == -EPIPE, "read failed");
	reader_sum = sum;
	reader_records = n;
	pthread_mutex_lock(&done_mu);
	pipeline_done = true;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_mu);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/*
 * A sleeper keeps a chain of its own on its stack; how many steps it makes
 * depends on timing, so only their consistency is checked, never the count.
 * A restored thread may see its sleep fail with EINTR: it sleeps again for
 * what is left, computed from the clock (never from a rem it may not get).
 */
static void sleeper(int t)
{
	uint64_t state = seed ^ (uint64_t) t, steps = 0, check = 0;
	bool absolute = t == T_SLEEP_ABS;
	uint64_t period = absolute ? 37000000 : 23000000;

	while (!atomic_load(&stop_sleeping)) {
		uint64_t deadline = now_ns() + period;

		if (absolute) {
			struct timespec ts = {(time_t) (deadline / 1000000000u),
					      (long) (deadline % 1000000000u)};
			int r;
			while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) ==
			       EINTR)
				;
			thread_check(t, r == 0, "clock_nanosleep failed");
		} else {
			uint64_t n;
			while ((n = now_ns()) < deadline) {
				struct timespec ts = {(time_t) ((deadline - n) / 1000000000u),
						      (long) ((deadline - n) % 1000000000u)};
				if (nanosleep(&ts, NULL) < 0)
					thread_check(t, errno == EINTR, "nanosleep failed");
			}
		}
		state = mix64(state + steps);
		steps++;
		check = hash2(check, state);
	}
	/* Re-derive the chain from its length. */
	uint64_t s = seed ^ (uint64_t) t, c = 0;
	for (uint64_t i = 0; i < steps; i++) {
		s = mix64(s + i);
		c = hash2(c, s);
	}
	thread_check(t, s == state && c == check, "its stack state is inconsistent");
	sleeper_iterations[t - T_SLEEP_ABS] = steps;
}

static void *thread_main(void *arg)
{
	int t = (int) (intptr_t) arg;

	tids[t] = gettid();
	pthread_setname_np(pthread_self(), thread_names[t]);
	pthread_barrier_wait(&start_barrier);
	switch (t) {
	case T_PRODUCER:
		producer();
		break;
	case T_WORKER:
		worker();
		break;
	case T_CONSUMER:
		consumer();
		break;
	case T_POLLER:
		poller();
		break;
	case T_READER:
		reader();
		break;
	case T_SLEEP_ABS:
	case T_SLEEP_REL:
		sleeper(t);
		break;
	}
	pthread_barrier_wait(&end_barrier);
	thread_check(t, gettid() == tids[t], "TID changed");
	return NULL;
}

int main(int argc, char **argv)
{
	int a = wl_init("threads", argc, argv, "[ITEMS=60000] [WORK=20000] [SEED=1]");
	pthread_t th[N_THREADS];
	char tidlist[256];
	size_t off = 0;

	n_items = wl_arg(argc, argv, a, 60000);
	work = wl_arg(argc, argv, a + 1, 20000);
	seed = wl_arg(argc, argv, a + 2, 1);
	if (n_items == 0)
		wl_die("ITEMS must be positive");
	if (pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
		wl_die("pipe: %m");

	tids[N_THREADS] = gettid();
	pthread_barrier_init(&start_barrier, NULL, N_THREADS + 1);
	pthread_barrier_init(&end_barrier, NULL, N_THREADS + 1);
	for (int t = 0; t < N_THREADS; t++)
		if ((errno = pthread_create(&th[t], NULL, thread_main, (void *) (intptr_t) t)))
			wl_die("pthread_create: %m");
	pthread_barrier_wait(&start_barrier);
	for (int t = 0; t < N_THREADS; t++)
		off += (size_t) snprintf(tidlist + off, sizeof(tidlist) - off, "%s%d", t ? " " : "",
					 (int) tids[t]);
	wl_ready(tidlist);

	/* The pipeline ends with the reader's EOF; meanwhile main re-derives everything. */
	uint64_t chain = seed, psum = 0, rsum = 0, nrec = 0;
	for (uint64_t i = 0; i < n_items; i++) {
		chain = hash2(chain, heavy(hash2(seed, i)));
		if ((i + 1) % RECORD_EVERY == 0 || i + 1 == n_items) {
			psum = hash2(psum ^ i, chain);
			rsum = rotl64(rsum, 5) ^ chain ^ mix64(i);
			nrec++;
		}
	}

	/* The pipeline is done once the reader saw the poller close its pipe. */
	pthread_mutex_lock(&done_mu);
	while (!pipeline_done)
		pthread_cond_wait(&done_cond, &done_mu);
	pthread_mutex_unlock(&done_mu);
	atomic_store(&stop_sleeping, true);
	pthread_barrier_wait(&end_barrier);
	for (int t = 0; t < N_THREADS; t++)
		pthread_join(th[t], NULL);

	for (int t = 0; t < N_THREADS; t++)
		wl_check(!thread_fail[t][0], "%s", thread_fail[t]);
	wl_check(gettid() == tids[N_THREADS], "main thread's TID changed");
	wl_check(getpid() == tids[N_THREADS], "main thread is not the leader");
	wl_check(consumer_chain == chain, "consumer's chain %016lx, expected %016lx",
		 (unsigned long) consumer_chain, (unsigned long) chain);
	wl_check(poller_sum == psum, "poller's sum differs");
	wl_check(reader_sum == rsum, "reader's sum differs");
	wl_check(reader_records == nrec, "reader got %lu records, expected %lu",
		 (unsigned long) reader_records, (unsigned long) nrec);
	wl_check(sleeper_iterations[0] > 0 && sleeper_iterations[1] > 0, "a sleeper never woke");

	wl_printf("threads: items=%lu work=%lu seed=%lu threads=%d\n", (unsigned long) n_items,
		  (unsigned long) work, (unsigned long) seed, N_THREADS + 1);
	wl_printf("chain: %016lx\n", (unsigned long) consumer_chain);
	wl_printf("poller: %016lx\n", (unsigned long) poller_sum);
	wl_printf("reader: %016lx records=%lu\n", (unsigned long) reader_sum,
		  (unsigned long) reader_records);
	return wl_finish();
}
