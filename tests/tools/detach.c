// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * detach: what a workload is started through, so a snapshot sees only the
 * state the workload made itself.
 *
 *     detach CMD [ARGS...]
 *
 * Starts a new session (the caller must not lead a process group: a
 * background job of a non-interactive shell does not), closes every fd
 * above 2, and execs CMD with the same pid.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: detach CMD [ARGS...]\n");
		return 2;
	}
	if (setsid() < 0) {
		fprintf(stderr, "detach: setsid: %m (is the caller a process group leader?)\n");
		return 1;
	}
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		for (int fd = 3; fd < 1024; fd++)
			(void) close(fd);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "detach: exec %s: %m\n", argv[1]);
	return 127;
}
