// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ptimers: POSIX timers that must come back with their ids, notifications
 * and periods. A periodic SIGEV_SIGNAL timer (process-directed), a periodic
 * SIGEV_THREAD_ID timer aimed at a worker thread, a glibc SIGEV_THREAD timer
 * (its helper thread and SIGEV_THREAD_ID underneath), a long SIGEV_NONE timer
 * that never fires, and a gap: a timer deleted at start, whose id must stay
 * free. Every delivery is checked (si_code SI_TIMER, the saved si_timerid and
 * sigev_value, the right thread); main computes a fixed amount of work and
 * waits until each timer has fired COUNT times. The ids are recorded at start
 * and checked again at the end.
 *
 *     ptimers OUT [READY] [COUNT=250] [WORK=30000000] [SEED=1]
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "workload.h"

#define SIG_PROC (SIGRTMIN + 2)
#define SIG_THREAD (SIGRTMIN + 3)
#define VALUE_PROC 0x1111
#define VALUE_THREAD 0x2222
#define NONE_INTERVAL_S 3
#define NONE_VALUE_S 100000

static timer_t t_gap, t_proc, t_thread, t_none, t_cb;
static int id_gap, id_proc, id_thread, id_none;
static pid_t worker_tid;
static atomic_uint n_proc, n_thread, n_cb;
static atomic_uint bad_proc, bad_thread;
static atomic_bool stop;
static uint64_t count;

/* glibc's timer_t for a signal timer is the kernel id. */
static int kernel_id(timer_t t)
{
	return (int) (intptr_t) t;
}

static void on_proc(int sig, siginfo_t *si, void *uc)
{
	(void) sig;
	(void) uc;
	if (si->si_code != SI_TIMER || si->si_timerid != id_proc ||
	    si->si_value.sival_int != VALUE_PROC)
		bad_proc++;
	n_proc++;
}

static void on_thread(int sig, siginfo_t *si, void *uc)
{
	(void) sig;
	(void) uc;
	if (si->si_code != SI_TIMER || si->si_timerid != id_thread ||
	    si->si_value.sival_int != VALUE_THREAD || (pid_t) syscall(SYS_gettid) != worker_tid)
		bad_thread++;
	n_thread++;
}

static void on_cb(union sigval v)
{
	if (v.sival_int == 7)
		n_cb++;
}

static void *worker(void *arg)
{
	sigset_t s;

	(void) arg;
	worker_tid = (pid_t) syscall(SYS_gettid);
	sigemptyset(&s);
	sigaddset(&s, SIG_THREAD);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	while (!stop)
		(void) usleep(1000);
	return NULL;
}

static void make_timer(clockid_t clock, int notify, int sig, int value, timer_t *ret)
{
	struct sigevent ev = { 0 };

	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		ev._sigev_un._tid = worker_tid;
	if (notify == SIGEV_THREAD)
		ev.sigev_notify_function = on_cb;
	if (timer_create(clock, &ev, ret) < 0)
		wl_die("timer_create: %m");
}

static void arm(timer_t t, long value_ns, long interval_ns)
{
	struct itimerspec v = { { interval_ns / 1000000000L, interval_ns % 1000000000L },
				{ value_ns / 1000000000L, value_ns % 1000000000L } };

	if (timer_settime(t, 0, &v, NULL) < 0)
		wl_die("timer_settime: %m");
}

static void setup(void)
{
	struct sigaction sa = { 0 };
	pthread_t th;
	sigset_t s;

	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sa.sa_sigaction = on_proc;
	if (sigaction(SIG_PROC, &sa, NULL) < 0)
		wl_die("sigaction: %m");
	sa.sa_sigaction = on_thread;
	if (sigaction(SIG_THREAD, &sa, NULL) < 0)
		wl_die("sigaction: %m");
	/* Only the worker takes SIG_THREAD: the kernel sends it there anyway, but say so. */
	sigemptyset(&s);
	sigaddset(&s, SIG_THREAD);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	if (pthread_create(&th, NULL, worker, NULL) != 0)
		wl_die("pthread_create");
	while (!worker_tid)
		(void) usleep(100);

	make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIG_PROC, 0, &t_gap);
	make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIG_PROC, VALUE_PROC, &t_proc);
	make_timer(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIG_THREAD, VALUE_THREAD, &t_thread);
	make_timer(CLOCK_REALTIME, SIGEV_NONE, 0, 0, &t_none);
	make_timer(CLOCK_MONOTONIC, SIGEV_THREAD, 0, 7, &t_cb);
	id_gap = kernel_id(t_gap);
	id_proc = kernel_id(t_proc);
	id_thread = kernel_id(t_thread);
	id_none = kernel_id(t_none);
	if (timer_delete(t_gap) < 0)
		wl_die("timer_delete: %m");
	arm(t_proc, 4000000, 4000000);
	arm(t_thread, 6000000, 6000000);
	arm(t_none, (long) NONE_VALUE_S * 1000000000L, NONE_INTERVAL_S * 1000000000L);
	arm(t_cb, 9000000, 9000000);
}

/* The ids held at start must still name the same timers; the deleted one must stay free. */
static void check_ids(void)
{
	struct itimerspec v;

	wl_check(kernel_id(t_proc) == id_proc && kernel_id(t_thread) == id_thread &&
			 kernel_id(t_none) == id_none,
		 "timer handles changed");
	wl_check(syscall(SYS_timer_gettime, id_gap, &v) < 0 && errno == EINVAL,
		 "the deleted timer id %d names a timer", id_gap);
	if (syscall(SYS_timer_gettime, id_none, &v) < 0)
		wl_die("timer_gettime of the SIGEV_NONE timer (id %d): %m", id_none);
	wl_check(v.it_interval.tv_sec == NONE_INTERVAL_S && v.it_interval.tv_nsec == 0,
		 "the SIGEV_NONE timer's interval changed");
	wl_check((v.it_value.tv_sec > 0 || v.it_value.tv_nsec > 0) &&
			 v.it_value.tv_sec <= NONE_VALUE_S,
		 "the SIGEV_NONE timer's time left is wrong");
	if (syscall(SYS_timer_gettime, id_proc, &v) < 0)
		wl_die("timer_gettime of the periodic timer (id %d): %m", id_proc);
	wl_check(v.it_interval.tv_sec == 0 && v.it_interval.tv_nsec == 4000000,
		 "the periodic timer's interval changed");
}

int main(int argc, char **argv)
{
	int a = wl_init("ptimers", argc, argv, "[COUNT=250] [WORK=30000000] [SEED=1]");
	uint64_t work = wl_arg(argc, argv, a + 1, 30000000);
	uint64_t seed = wl_arg(argc, argv, a + 2, 1), state = seed;

	count = wl_arg(argc, argv, a, 250);
	setup();
	wl_ready(NULL);
	for (uint64_t i = 0; i < work; i++)
		state = hash2(state, i);
	while (n_proc < count || n_thread < count || n_cb < count)
		(void) usleep(1000);
	stop = true;
	check_ids();
	wl_check(bad_proc == 0, "%u deliveries of the process timer were wrong", (unsigned) bad_proc);
	wl_check(bad_thread == 0, "%u deliveries of the thread timer were wrong",
		 (unsigned) bad_thread);
	wl_printf("ptimers: count=%lu work=%lu seed=%lu state %016lx\n", (unsigned long) count,
		  (unsigned long) work, (unsigned long) seed, (unsigned long) state);
	wl_printf("ids: gap %d process %d thread %d none %d\n", id_gap, id_proc, id_thread,
		  id_none);
	return wl_finish();
}
