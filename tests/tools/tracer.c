// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tracer: holds a process traced, as a debugger would, so a test can check
 * that ckptd refuses it.
 *
 *     tracer PID [READY]
 *
 * PTRACE_SEIZEs every thread of PID, writes READY (if given), and from then
 * on only passes signals through, so the tracee runs as before. Exits when
 * the tracee does; killing the tracer detaches it (the kernel does that).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[64];
	pid_t pid;
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (argc < 2 || (pid = (pid_t) atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: tracer PID [READY]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "tracer: %s: %m\n", path);
		return 1;
	}
	while ((de = readdir(d))) {
		pid_t tid = (pid_t) atoi(de->d_name);
		if (tid <= 0)
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
			fprintf(stderr, "tracer: PTRACE_SEIZE %d: %m\n", tid);
			return 1;
		}
		n++;
	}
	closedir(d);
	if (argc > 2) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dprintf(fd, "%d %d\n", getpid(), n) < 0 || close(fd) < 0) {
			fprintf(stderr, "tracer: %s: %m\n", argv[2]);
			return 1;
		}
	}

	for (;;) {
		int status;
		pid_t t = waitpid(-1, &status, __WALL);

		if (t < 0) {
			if (errno == EINTR)
				continue;
			return 0; /* ECHILD: every tracee is gone */
		}
		if (!WIFSTOPPED(status))
			continue;
		if (status >> 16 == PTRACE_EVENT_STOP) {
			int sig = WSTOPSIG(status);
			/* A group-stop: stay stopped as the tracee would, untraced; else go on. */
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
				ptrace(PTRACE_LISTEN, t, 0, 0);
			else
				ptrace(PTRACE_CONT, t, 0, 0);
			continue;
		}
		/* A signal-delivery-stop: deliver it. */
		ptrace(PTRACE_CONT, t, 0, (void *) (long) WSTOPSIG(status));
	}
}
