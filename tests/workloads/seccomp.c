// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seccomp: a process under seccomp filters that must keep filtering exactly
 * as before. With no_new_privs set, filter A (getppid and setgroups fail
 * with EPERM) is installed before a worker thread starts, so both threads
 * share it; then filter B (getpgrp fails with EACCES, logged:
 * SECCOMP_FILTER_FLAG_LOG) in the main thread only. Both threads compute and
 * check their filters all along. At the end, a TSYNC filter from the main
 * thread succeeds only if the worker's filter is still one the main thread
 * shares (the kernel's ancestry check), and no_new_privs must still be set.
 *
 *     seccomp OUT [READY] [WORK=600000000] [SEED=1]
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "workload.h"

#define CHECK_EVERY 100000

static atomic_bool stop;
static atomic_int phase; /* 0: check; 1: main asks the worker to stop checking; 2: it has */
static atomic_uint worker_checks, worker_bad;
static uint64_t worker_state;

/* nr == which: fail with ret, else allow. */
static int install(unsigned which, unsigned which2, unsigned ret, unsigned flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, which, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, which2, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, ret),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* errno of a call expected to fail, 0 if it succeeded. */
static int err_of(long r)
{
	return r < 0 ? errno : 0;
}

static bool filters_hold(bool main_thread)
{
	int ppid = err_of(syscall(SYS_getppid));
	int pgrp = err_of(syscall(SYS_getpgrp));

	return ppid == EPERM && pgrp == (main_thread ? EACCES : 0);
}

static void *worker(void *arg)
{
	uint64_t s = 99;

	(void) arg;
	for (uint64_t i = 0; !stop; i++) {
		if (phase != 0) {
			phase = 2;
			(void) usleep(1000);
			continue;
		}
		s = hash2(s, i);
		if (i % CHECK_EVERY == 0) {
			if (!filters_hold(false))
				worker_bad++;
			worker_checks++;
		}
	}
	worker_state = s;
	return NULL;
}

int main(int argc, char **argv)
{
	int a = wl_init("seccomp", argc, argv, "[WORK=600000000] [SEED=1]");
	uint64_t work = wl_arg(argc, argv, a, 600000000);
	uint64_t seed = wl_arg(argc, argv, a + 1, 1), state = seed;
	unsigned bad = 0, checks = 0;
	int r;
	pthread_t th;
	gid_t g = getgid();

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		wl_die("PR_SET_NO_NEW_PRIVS: %m");
	if (install(SYS_getppid, SYS_setgroups, SECCOMP_RET_ERRNO | EPERM, 0) < 0)
		wl_die("seccomp A: %m");
	if (pthread_create(&th, NULL, worker, NULL) != 0)
		wl_die("pthread_create");
	if (install(SYS_getpgrp, SYS_getpgrp, SECCOMP_RET_ERRNO | EACCES,
		    SECCOMP_FILTER_FLAG_LOG) < 0)
		wl_die("seccomp B: %m");
	wl_check(filters_hold(true), "the filters do not hold before the snapshot");
	wl_check(err_of(syscall(SYS_setgroups, 1, &g)) == EPERM, "setgroups was not denied");
	wl_ready(NULL);

	for (uint64_t i = 0; i < work; i++) {
		state = hash2(state, i);
		if (i % CHECK_EVERY == 0) {
			bad += !filters_hold(true);
			checks++;
		}
	}
	while (worker_checks < 10)
		(void) usleep(1000);
	/*
	 * The worker, alive since before the snapshot, has filter A only: a
	 * TSYNC from here succeeds only if A is still the main thread's A.
	 */
	phase = 1;
	while (phase != 2)
		(void) usleep(1000);
	r = install(SYS_getpgrp, SYS_getpgrp, SECCOMP_RET_ERRNO | EACCES, SECCOMP_FILTER_FLAG_TSYNC);
	wl_check(r == 0, "TSYNC failed (%s): the threads no longer share their first filter",
		 r > 0 ? "a thread could not sync" : strerror(errno));
	stop = true;
	pthread_join(th, NULL);

	wl_check(bad == 0, "the main thread's filters failed %u of %u checks", bad, checks);
	wl_check(worker_bad == 0, "the worker's filter failed %u checks", (unsigned) worker_bad);
	wl_check(err_of(syscall(SYS_setgroups, 1, &g)) == EPERM, "setgroups is no longer denied");
	wl_check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs was lost");
	wl_printf("seccomp: work=%lu seed=%lu state %016lx\n", (unsigned long) work,
		  (unsigned long) seed, (unsigned long) state);
	return wl_finish();
}
