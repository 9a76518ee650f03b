// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * takepid: starts a command with a chosen pid, to make a pid "in use".
 *
 *     takepid PID CMD [ARGS...]
 *
 * clone3() with set_tid (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE),
 * the child execs CMD with stdin and stdout on /dev/null; takepid prints
 * the pid and exits at once, leaving the child to its subreaper. Fails
 * (exit 1) if PID is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	pid_t want, pid;
	struct clone_args args;

	if (argc < 3 || (want = (pid_t) atoi(argv[1])) <= 1) {
		fprintf(stderr, "usage: takepid PID CMD [ARGS...]\n");
		return 2;
	}
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t) (uintptr_t) &want;
	args.set_tid_size = 1;
	pid = (pid_t) syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		fprintf(stderr, "takepid: clone3 with pid %d: %m\n", want);
		return 1;
	}
	if (pid == 0) {
		/* Not the caller's stdout: $(takepid ...) must not wait for CMD to exit. */
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		execvp(argv[2], argv + 2);
		fprintf(stderr, "takepid: exec %s: %m\n", argv[2]);
		_exit(127);
	}
	printf("%d\n", pid);
	return 0;
}
