// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sigalt: signal handlers (SA_SIGINFO | SA_ONSTACK) on a sigaltstack, and
 * signals that sit pending across a snapshot. Each cycle first computes while
 * sending itself signals that arrive at once (raise, tgkill, kill, sigqueue),
 * then blocks SIGUSR2, SIGRTMIN and SIGRTMIN+1, queues them with distinct
 * values (process-wide and thread-directed), computes for a long while, and
 * unblocks: every queued signal must arrive exactly once, with its value, in
 * the order the kernel delivers them (thread-directed queue first, then the
 * process-wide one; lowest signal first; each queue FIFO).
 *
 *     sigalt OUT [READY] [CYCLES=10] [WORK=120000000] [SEED=1]
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "workload.h"

#define ALT_SIZE (64u * 1024)
#define MAX_LOG 4096

struct delivery {
	int signo, code, value;
	bool on_altstack, sender_ok;
};

static char *alt;
static volatile sig_atomic_t n_log;
static struct delivery log_[MAX_LOG];
static uint64_t folded;

static void handler(int sig, siginfo_t *si, void *uc)
{
	char here;
	stack_t ss;
	struct delivery *d;

	(void) uc;
	if (n_log >= MAX_LOG)
		return;
	d = &log_[n_log];
	d->signo = sig;
	d->code = si->si_code;
	d->value = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
	d->on_altstack = &here >= alt && &here < alt + ALT_SIZE && sigaltstack(NULL, &ss) == 0 &&
			 (ss.ss_flags & SS_ONSTACK);
	d->sender_ok = si->si_pid == getpid() && si->si_uid == getuid();
	folded = hash2(folded, (uint64_t) sig << 40 ^ (uint64_t) (uint32_t) d->code << 20 ^
				       (uint64_t) (uint32_t) d->value);
	n_log = n_log + 1;
}

/* What the log must hold, built next to it. */
static struct delivery expect[MAX_LOG];
static int n_expect;

static void expect_add(int signo, int code, int value)
{
	if (n_expect < MAX_LOG)
		expect[n_expect++] = (struct delivery){signo, code, value, true, true};
}

static void check_log(int cycle, const char *phase)
{
	if (n_log != n_expect) {
		wl_fail("cycle %d %s: %d signals delivered, expected %d", cycle, phase, (int) n_log,
			n_expect);
		n_expect = n_log; /* report once */
		return;
	}
	for (int i = 0; i < n_expect; i++) {
		const struct delivery *g = &log_[i], *e = &expect[i];

		if (g->signo != e->signo || g->code != e->code || g->value != e->value) {
			wl_fail("cycle %d %s: delivery %d was signal %d code %d value %d, expected "
				"signal %d code %d value %d",
				cycle, phase, i, g->signo, g->code, g->value, e->signo, e->code,
				e->value);
			break;
		}
		if (!g->on_altstack) {
			wl_fail("cycle %d %s: delivery %d (signal %d) did not run on the altstack",
				cycle, phase, i, g->signo);
			break;
		}
		if (!g->sender_ok) {
			wl_fail("cycle %d %s: delivery %d (signal %d) has a wrong si_pid/si_uid",
				cycle, phase, i, g->signo);
			break;
		}
	}
}

static void queue(int sig, int value)
{
	if (sigqueue(getpid(), sig, (union sigval){.sival_int = value}) < 0)
		wl_die("sigqueue: %m");
}

static void queue_thread(int sig, int value)
{
	if ((errno = pthread_sigqueue(pthread_self(), sig, (union sigval){.sival_int = value})))
		wl_die("pthread_sigqueue: %m");
}

static void check_setup(int cycle)
{
	stack_t ss;
	struct sigaction sa;
	int sigs[] = {SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 1};

	if (sigaltstack(NULL, &ss) < 0 || ss.ss_sp != alt || ss.ss_size != ALT_SIZE ||
	    ss.ss_flags != 0)
		wl_fail("cycle %d: sigaltstack changed", cycle);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &sa) < 0 || sa.sa_sigaction != handler ||
		    (sa.sa_flags & (SA_SIGINFO | SA_ONSTACK)) != (SA_SIGINFO | SA_ONSTACK) ||
		    !sigismember(&sa.sa_mask, SIGUSR2) || !sigismember(&sa.sa_mask, SIGRTMIN))
			wl_fail("cycle %d: the action of signal %d changed", cycle, sigs[i]);
}

int main(int argc, char **argv)
{
	int a = wl_init("sigalt", argc, argv, "[CYCLES=10] [WORK=120000000] [SEED=1]");
	uint64_t cycles = wl_arg(argc, argv, a, 10);
	uint64_t work = wl_arg(argc, argv, a + 1, 120000000);
	uint64_t seed = wl_arg(argc, argv, a + 2, 1), state = seed;
	int sigs[] = {SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 1};
	struct sigaction sa = {.sa_sigaction = handler, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigset_t pend_set, pending;
	stack_t ss;

	alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (alt == MAP_FAILED)
		wl_die("mmap: %m");
	ss = (stack_t){.ss_sp = alt, .ss_size = ALT_SIZE};
	if (sigaltstack(&ss, NULL) < 0)
		wl_die("sigaltstack: %m");
	/* Handlers block one another, so each runs alone and the order is the kernel's dequeue
	 * order. */
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			wl_die("sigaction: %m");
	sigemptyset(&pend_set);
	sigaddset(&pend_set, SIGUSR2);
	sigaddset(&pend_set, SIGRTMIN);
	sigaddset(&pend_set, SIGRTMIN + 1);

	wl_ready(NULL);

	for (int c = 0; c < (int) cycles; c++) {
		int v = c * 100;

		/* Signals that arrive at once, interleaved with computing. */
		n_log = 0;
		n_expect = 0;
		for (uint64_t i = 0; i < work / 8; i++) {
			state = mix64(state + i);
			if (i % (work / 64) == 0) {
				switch ((i / (work / 64)) % 4) {
				case 0:
					raise(SIGUSR1);
					expect_add(SIGUSR1, SI_TKILL, 0);
					break;
				case 1:
					syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
					expect_add(SIGUSR1, SI_TKILL, 0);
					break;
				case 2:
					kill(getpid(), SIGUSR1);
					expect_add(SIGUSR1, SI_USER, 0);
					break;
				case 3:
					queue(SIGRTMIN, ++v);
					expect_add(SIGRTMIN, SI_QUEUE, v);
					break;
				}
			}
		}
		check_log(c, "immediate");

		/* Signals that wait, blocked, through a long computation (and maybe a snapshot). */
		n_log = 0;
		n_expect = 0;
		if (sigprocmask(SIG_BLOCK, &pend_set, NULL) < 0)
			wl_die("sigprocmask: %m");
		int usr2 = ++v, rt[4], rt1[2];
		queue(SIGUSR2, usr2);
		for (int k = 0; k < 4; k++)
			queue(SIGRTMIN, rt[k] = ++v);
		for (int k = 0; k < 2; k++)
			queue_thread(SIGRTMIN + 1, rt1[k] = ++v);
		raise(SIGUSR1); /* not blocked: arrives now, over the pending ones */
		expect_add(SIGUSR1, SI_TKILL, 0);

		for (uint64_t i = 0; i < work; i++)
			state = mix64(state ^ i);

		if (sigpending(&pending) < 0 || !sigismember(&pending, SIGUSR2) ||
		    !sigismember(&pending, SIGRTMIN) || !sigismember(&pending, SIGRTMIN + 1))
			wl_fail("cycle %d: a blocked signal is no longer pending", c);
		/* The kernel dequeues the thread's queue before the process's; lowest signal first.
		 */
		for (int k = 0; k < 2; k++)
			expect_add(SIGRTMIN + 1, SI_QUEUE, rt1[k]);
		expect_add(SIGUSR2, SI_QUEUE, usr2);
		for (int k = 0; k < 4; k++)
			expect_add(SIGRTMIN, SI_QUEUE, rt[k]);
		if (sigprocmask(SIG_UNBLOCK, &pend_set, NULL) < 0)
			wl_die("sigprocmask: %m");
		check_log(c, "pending");
		check_setup(c);
		wl_printf("cycle %d: state %016lx signals %016lx\n", c, (unsigned long) state,
			  (unsigned long) folded);
	}
	wl_printf("sigalt: cycles=%lu work=%lu seed=%lu\n", (unsigned long) cycles,
		  (unsigned long) work, (unsigned long) seed);
	return wl_finish();
}
