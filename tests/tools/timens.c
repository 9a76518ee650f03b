// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * timens: runs a command, with the same pid, in a new time namespace whose
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME are ahead of the host's by the given
 * seconds (util-linux's unshare --time forks; a workload must keep its pid).
 *
 *     timens MONOTONIC_SECS BOOTTIME_SECS CMD [ARGS...]
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int die(const char *what)
{
	fprintf(stderr, "timens: %s: %m\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	char offsets[128];
	int fd, n;

	if (argc < 4) {
		fprintf(stderr, "usage: timens MONOTONIC_SECS BOOTTIME_SECS CMD [ARGS...]\n");
		return 2;
	}
	n = snprintf(offsets, sizeof(offsets), "monotonic %lld 0\nboottime %lld 0\n",
		     atoll(argv[1]), atoll(argv[2]));
	if (unshare(CLONE_NEWTIME) < 0)
		return die("unshare(CLONE_NEWTIME)");
	/* Offsets are written before any process is in the namespace; entering freezes them. */
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, offsets, (size_t) n) != n)
		return die("writing /proc/self/timens_offsets");
	close(fd);
	/* unshare() moved only our future children; setns() moves us, pid and all. */
	fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWTIME) < 0)
		return die("entering the new time namespace");
	close(fd);
	execvp(argv[3], argv + 3);
	return die(argv[3]);
}
