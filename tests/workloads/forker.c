// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * forker: a process that forks short-lived children all the time, one after
 * another, each computing a little and exiting with a status the parent
 * folds into its result. For dumps that must cope with a tree changing while
 * it is seized (tests/e2e/tree-bad-input.sh).
 *
 *     forker OUT READY [FORKS=2500] [PAUSE_MS=1]
 */
#include <sys/wait.h>

#include "workload.h"

static int child_status_for(uint64_t i)
{
	uint64_t v = i;

	for (int k = 0; k < 20000; k++)
		v = hash2(v, i);
	return (int) (v & 0x7f);
}

int main(int argc, char **argv)
{
	int a = wl_init("forker", argc, argv, "[FORKS] [PAUSE_MS]");
	uint64_t forks = wl_arg(argc, argv, a, 2500), acc = 0;
	unsigned long pause = wl_arg(argc, argv, a + 1, 1);

	wl_ready(NULL);
	for (uint64_t i = 0; i < forks; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			wl_die("fork %llu: %m", (unsigned long long) i);
		if (pid == 0)
			_exit(child_status_for(i));
		if (waitpid(pid, &status, 0) != pid)
			wl_die("waitpid: %m");
		wl_check(WIFEXITED(status) && WEXITSTATUS(status) == child_status_for(i),
			 "child %llu ended with status 0x%x", (unsigned long long) i, status);
		acc = hash2(acc, (uint64_t) status);
		wl_sleep_ms(pause);
	}
	wl_printf("forks %llu acc %016llx\n", (unsigned long long) forks, (unsigned long long) acc);
	return wl_finish();
}
