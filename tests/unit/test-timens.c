// SPDX-License-Identifier: GPL-2.0-or-later
/* daemon/timens.c: which restores need a time namespace, and with what offsets. */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timens.h"

#define S 1000000000LL

Test(timens, plan_table)
{
	static const struct {
		const char *what;
		struct snapshot_clocks saved;
		int64_t now[2], own[2];
		bool needed;
		int64_t off[2];
	} cases[] = {
		{ "same boot, host ahead: a pause, no namespace",
		  { 100 * S, 120 * S, 100 * S, 120 * S }, { 150 * S, 170 * S }, { 0, 0 }, false, { 0, 0 } },
		{ "not recorded (older image)", {}, { 5 * S, 5 * S }, { 0, 0 }, false, { 0, 0 } },
		{ "after a reboot: both clocks continue",
		  { 5000 * S, 6000 * S, 5000 * S, 6000 * S }, { 30 * S, 31 * S }, { 0, 0 }, true,
		  { 4970 * S, 5969 * S } },
		{ "a namespace ahead on monotonic only",
		  { 1000100 * S, 120 * S, 100 * S, 120 * S }, { 150 * S, 170 * S }, { 0, 0 }, true,
		  { 999950 * S, 0 } },
		{ "equal: nothing goes back", { 150 * S, 170 * S }, { 150 * S, 170 * S }, { 0, 0 }, false,
		  { 0, 0 } },
		{ "ckptd in a namespace itself: offsets from the host's clocks",
		  { 1000 * S, 1000 * S }, { 600 * S, 2000 * S }, { 500 * S, -10 * S }, true,
		  { 900 * S, -10 * S } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t off[2] = { -1, -1 };
		bool needed = timens_plan(&cases[i].saved, cases[i].now, cases[i].own, off);

		cr_expect_eq(needed, cases[i].needed, "%s", cases[i].what);
		cr_expect_eq(off[0], cases[i].off[0], "%s: monotonic %lld", cases[i].what,
			     (long long) off[0]);
		cr_expect_eq(off[1], cases[i].off[1], "%s: boottime %lld", cases[i].what,
			     (long long) off[1]);
	}
}

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * S + ts.tv_nsec;
}

/*
 * What the restore's helper does: a child enters a namespace for its
 * children whose offsets timens_offsets_for() chose for a snapshot 1000 s
 * ahead, and forks. What timens_capture() reads of the grandchild is what
 * it reads itself, and at least the saved value. Nothing here waits without
 * a bound: the grandchild exits on its own after a few seconds.
 */
static void child(const int64_t off[2], int fd)
{
	int64_t msg[3];
	pid_t pid;

	if (timens_enter_for_children(off) < 0)
		_exit(1);
	pid = fork();
	if (pid != 0)
		_exit(pid < 0);
	msg[0] = getpid();
	msg[1] = clock_ns(CLOCK_MONOTONIC);
	msg[2] = clock_ns(CLOCK_BOOTTIME);
	(void) !write(fd, msg, sizeof(msg));
	sleep(5);
	_exit(0);
}

Test(timens, enter_then_capture)
{
	struct snapshot_clocks saved = {}, got;
	int64_t off[2], msg[3];
	int pipe_fd[2], status;
	pid_t pid;

	if (access("/proc/self/ns/time", F_OK) < 0 || geteuid() != 0)
		cr_skip_test("needs time namespaces and root");
	cr_assert_eq(timens_capture(getpid(), &saved), 0);
	cr_assert_eq(saved.monotonic_ns, saved.host_monotonic_ns); /* we are in the root namespace */
	saved.monotonic_ns += 1000 * S;
	cr_assert_eq(timens_offsets_for(&saved, off), 1);
	cr_assert_gt(off[0], 999 * S);
	cr_assert_eq(off[1], 0);
	cr_assert_eq(pipe(pipe_fd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		child(off, pipe_fd[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(read(pipe_fd[0], msg, sizeof(msg)), (ssize_t) sizeof(msg));
	cr_assert_eq(timens_capture((pid_t) msg[0], &got), 0);
	kill((pid_t) msg[0], SIGKILL);
	cr_expect_geq(msg[1], saved.monotonic_ns, "the grandchild's monotonic clock went back");
	cr_expect_geq(got.monotonic_ns, msg[1]);
	cr_expect_lt(got.monotonic_ns - msg[1], 10 * S);
	cr_expect_geq(got.boottime_ns, msg[2]);
	cr_expect_lt(got.boottime_ns - got.host_boottime_ns, S, "boottime needed no offset");
	/* We stayed where we were. */
	cr_expect_eq(timens_check(getpid()), 0);
}

Test(timens, host_ahead_makes_no_namespace)
{
	struct snapshot_clocks saved;
	int64_t off[2];

	cr_assert_eq(timens_capture(getpid(), &saved), 0);
	cr_expect_eq(timens_offsets_for(&saved, off), 0);
}

/* A process whose children get another time namespace than its own cannot be recreated. */
Test(timens, refuses_namespace_only_for_children)
{
	int pipe_fd[2], status;
	char byte;
	pid_t pid;

	if (access("/proc/self/ns/time", F_OK) < 0 || geteuid() != 0)
		cr_skip_test("needs time namespaces and root");
	cr_assert_eq(pipe(pipe_fd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pipe_fd[0]);
		if (unshare(CLONE_NEWTIME) < 0)
			_exit(1);
		(void) !write(pipe_fd[1], "x", 1);
		sleep(5); /* ends on its own if we fail before killing it */
		_exit(0);
	}
	close(pipe_fd[1]);
	cr_assert_eq(read(pipe_fd[0], &byte, 1), 1);
	cr_expect_eq(timens_check(pid), -EOPNOTSUPP);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}
