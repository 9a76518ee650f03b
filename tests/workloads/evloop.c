// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * evloop: an epoll loop over a periodic timerfd, a one-shot timerfd, an
 * eventfd (written through a dup() of it on fd 20, read through the
 * original, edge-triggered), a semaphore eventfd and a signalfd. Each tick of
 * the periodic timer is one unit of work, and unit j writes values derived
 * from j to the eventfds and queues itself a SIGRTMIN carrying j: what the
 * loop reads back must add up to exactly what it wrote, however the ticks
 * are grouped. The counters are read slowly (the eventfd every 7th round,
 * the semaphore one at a time), so they usually hold something. Every round re-arms the one-shot
 * timer and its EPOLLONESHOT registration (EPOLL_CTL_MOD by fd number) and computes for longer than
 * the timer's 300 us, so a snapshot often finds it expired and unread: a lost tick or registration
 * stalls the loop, which fails after 5 s. At the end the fds' flags, clocks, masks and
 * registrations are printed from fdinfo. INOTIFY=1 also holds an inotify fd, which ckptd must
 * refuse to dump.
 *
 *     evloop OUT [READY] [UNITS=1500] [SEED=1] [INOTIFY=0]
 */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "workload.h"

#define EFD_WRITER 20
#define SHOT_NS 300000
#define SPIN 150000 /* mix64 rounds: longer than SHOT_NS */

enum { SRC_EVENT = 1, SRC_SEM, SRC_TICK, SRC_SHOT, SRC_SIGNAL };

static int efd, sem, tick, shot, far, sfd, ep;
static uint64_t seed, units, max_units, round_no;
static uint64_t want_event, got_event, want_sem, got_sem;
static uint64_t want_sig, got_sig, n_want_sig, n_got_sig, n_usr1;

static void unit(uint64_t j)
{
	uint64_t v = mix64(seed ^ j) & 0xffff, s = j % 4 + 1;

	if (write(EFD_WRITER, &v, sizeof(v)) != sizeof(v))
		wl_die("write eventfd: %m");
	want_event += v;
	if (j % 3 == 0) {
		if (write(sem, &s, sizeof(s)) != sizeof(s))
			wl_die("write semaphore: %m");
		want_sem += s;
	}
	if (j % 5 == 0) {
		if (sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = (int) j}) < 0)
			wl_die("sigqueue: %m");
		want_sig += j;
		n_want_sig++;
	}
	if (j == 1 && kill(getpid(), SIGUSR1) < 0)
		wl_die("kill: %m");
}

/* Reads a nonblocking counter until EAGAIN; each read adds to *sum. */
static void drain_counter(int fd, uint64_t *sum)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		*sum += v;
	if (errno != EAGAIN)
		wl_die("read fd %d: %m", fd);
}

static void drain_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if ((int) si.ssi_signo == SIGRTMIN) {
			got_sig += (uint64_t) si.ssi_int;
			n_got_sig++;
		} else if (si.ssi_signo == SIGUSR1)
			n_usr1++;
		else
			wl_fail("signalfd gave signal %u", si.ssi_signo);
	}
	if (errno != EAGAIN)
		wl_die("read signalfd: %m");
}

static void take_ticks(void)
{
	uint64_t k;

	if (read(tick, &k, sizeof(k)) != sizeof(k)) {
		if (errno == EAGAIN)
			return;
		wl_die("read tick timer: %m");
	}
	for (uint64_t i = 0; i < k && units < max_units; i++)
		unit(++units);
}

/* One event; true when it was the one-shot timer. */
static bool handle(const struct epoll_event *e)
{
	uint64_t k;

	switch (e->data.u64) {
	case SRC_EVENT:
		/* Now and then, so that the counter usually holds something: edge-triggered,
		 * the next write reports it again. */
		if (round_no % 7 == 0)
			drain_counter(efd, &got_event);
		return false;
	case SRC_SEM:
		/* One at a time: the semaphore stays readable, and usually non-zero. */
		if (read(sem, &k, sizeof(k)) == sizeof(k))
			got_sem += k;
		else if (errno != EAGAIN)
			wl_die("read semaphore: %m");
		return false;
	case SRC_TICK:
		take_ticks();
		return false;
	case SRC_SHOT:
		if (read(shot, &k, sizeof(k)) != sizeof(k))
			wl_die("read one-shot timer: %m");
		wl_check(k == 1, "the one-shot timer expired %llu times", (unsigned long long) k);
		return true;
	case SRC_SIGNAL:
		drain_signals();
		return false;
	default:
		wl_die("epoll returned data %llx", (unsigned long long) e->data.u64);
	}
}

static void watch(int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};

	if (epoll_ctl(ep, op, fd, &ev) < 0)
		wl_die("epoll_ctl %d fd %d: %m", op, fd);
}

static void arm(int fd, uint64_t value_ns, uint64_t interval_ns)
{
	struct itimerspec its = {
		.it_value = {(time_t) (value_ns / 1000000000), (long) (value_ns % 1000000000)},
		.it_interval = {(time_t) (interval_ns / 1000000000),
				(long) (interval_ns % 1000000000)},
	};

	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		wl_die("timerfd_settime: %m");
}

static void setup(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGRTMIN);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		wl_die("sigprocmask: %m");
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sem = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
	tick = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	shot = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	far = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0 || sem < 0 || tick < 0 || shot < 0 || far < 0 || sfd < 0 || ep < 0 ||
	    dup2(efd, EFD_WRITER) < 0)
		wl_die("cannot create the fds: %m");
	watch(EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, SRC_EVENT);
	watch(EPOLL_CTL_ADD, sem, EPOLLIN, SRC_SEM);
	watch(EPOLL_CTL_ADD, tick, EPOLLIN, SRC_TICK);
	watch(EPOLL_CTL_ADD, shot, EPOLLIN | EPOLLONESHOT, SRC_SHOT);
	watch(EPOLL_CTL_ADD, sfd, EPOLLIN, SRC_SIGNAL);
	arm(far, 3600000000000ull, 3600000000000ull);
	arm(tick, 1000000, 1000000);
}

static uint64_t spin(uint64_t x)
{
	for (int i = 0; i < SPIN; i++)
		x = mix64(x);
	return x;
}

/* One round: the one-shot timer armed, a computation, events until the timer fires. */
static void round_(uint64_t r, volatile uint64_t *sink)
{
	struct epoll_event evs[8];
	struct timespec t0, t;
	bool fired = false;

	round_no = r;
	arm(shot, SHOT_NS, 0);
	if (r > 0)
		watch(EPOLL_CTL_MOD, shot, EPOLLIN | EPOLLONESHOT, SRC_SHOT);
	*sink = spin(*sink + r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!fired) {
		int n = epoll_wait(ep, evs, 8, 5000);

		/* Other events keep coming; the one-shot timer must still fire. */
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			wl_die("the one-shot timer did not fire within 5 s");

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wl_die("epoll_wait: %m");
		if (n == 0)
			wl_die("no event for 5 s: a timer, a tick or a registration was lost");
		for (int i = 0; i < n; i++)
			fired |= handle(&evs[i]);
	}
}

static void print_fd(const char *name, int fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	wl_printf("fd %s %d nonblock %d cloexec %d\n", name, fd, !!(fl & O_NONBLOCK),
		  !!(fdfl & FD_CLOEXEC));
}

static int line_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The fdinfo lines that do not change with time or the machine; epoll's sorted (the
 * kernel lists them by file address). */
static void print_fdinfo(const char *name, int fd)
{
	char *lines[64];
	size_t n = 0;
	static const char *const keep[] = {
		"clockid:", "eventfd-semaphore:", "sigmask:", "settime flags:",
		"tfd:",	    "it_interval:"};
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		wl_die("open %s: %m", path);
	while (fgets(line, sizeof(line), f)) {
		char *pos = strstr(line, " pos:");

		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			if (strncmp(line, keep[i], strlen(keep[i])) != 0)
				continue;
			if (pos) /* an epoll line: the target's inode is not ours to compare */
				strcpy(pos, "\n");
			if (n < 64 && !(lines[n++] = strdup(line)))
				abort();
		}
	}
	fclose(f);
	qsort(lines, n, sizeof(lines[0]), line_compare);
	for (size_t i = 0; i < n; i++) {
		wl_printf("%s %s", name, lines[i]);
		free(lines[i]);
	}
}

static void report(void)
{
	struct itimerspec its;

	drain_counter(efd, &got_event);
	drain_counter(sem, &got_sem);
	drain_signals();
	wl_printf("units %llu\n", (unsigned long long) units);
	wl_printf("eventfd sum %llu\n", (unsigned long long) got_event);
	wl_printf("semaphore reads %llu\n", (unsigned long long) got_sem);
	wl_printf("rt signals %llu sum %llu usr1 %llu\n", (unsigned long long) n_got_sig,
		  (unsigned long long) got_sig, (unsigned long long) n_usr1);
	wl_check(got_event == want_event, "eventfd: read %llu, wrote %llu",
		 (unsigned long long) got_event, (unsigned long long) want_event);
	wl_check(got_sem == want_sem, "semaphore: %llu reads, %llu posted",
		 (unsigned long long) got_sem, (unsigned long long) want_sem);
	wl_check(got_sig == want_sig && n_got_sig == n_want_sig,
		 "signals: %llu (sum %llu), sent %llu (sum %llu)", (unsigned long long) n_got_sig,
		 (unsigned long long) got_sig, (unsigned long long) n_want_sig,
		 (unsigned long long) want_sig);
	wl_check(n_usr1 == 1, "SIGUSR1 arrived %llu times", (unsigned long long) n_usr1);
	if (timerfd_gettime(far, &its) < 0)
		wl_die("timerfd_gettime: %m");
	wl_check(its.it_interval.tv_sec == 3600 && its.it_interval.tv_nsec == 0 &&
			 its.it_value.tv_sec < 3600 && its.it_value.tv_sec > 3000,
		 "the far timer: %ld s left, period %ld s", (long) its.it_value.tv_sec,
		 (long) its.it_interval.tv_sec);
	print_fd("eventfd", efd);
	print_fd("eventfd-dup", EFD_WRITER);
	print_fd("semaphore", sem);
	print_fd("tick", tick);
	print_fd("shot", shot);
	print_fd("far", far);
	print_fd("signalfd", sfd);
	print_fd("epoll", ep);
	print_fdinfo("eventfd", efd);
	print_fdinfo("semaphore", sem);
	print_fdinfo("tick", tick);
	print_fdinfo("shot", shot);
	print_fdinfo("far", far);
	print_fdinfo("signalfd", sfd);
	print_fdinfo("epoll", ep);
}

int main(int argc, char **argv)
{
	int a = wl_init("evloop", argc, argv, "[UNITS=1500] [SEED=1] [INOTIFY=0]");
	uint64_t last_units = 0, idle = 0;
	volatile uint64_t sink = 0;

	max_units = wl_arg(argc, argv, a, 1500);
	seed = wl_arg(argc, argv, a + 1, 1);
	setup();
	if (wl_arg(argc, argv, a + 2, 0)) {
		int in = inotify_init1(IN_CLOEXEC);

		if (in < 0 || inotify_add_watch(in, ".", IN_CREATE) < 0)
			wl_die("inotify: %m");
	}
	for (uint64_t r = 0; units < max_units; r++) {
		if (r == 20)
			wl_ready(NULL);
		round_(r, &sink);
		idle = units == last_units ? idle + 1 : 0;
		last_units = units;
		if (idle > 10000)
			wl_die("the periodic timer stopped at unit %llu",
			       (unsigned long long) units);
	}
	report();
	return wl_finish();
}
