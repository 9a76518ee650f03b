// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sharedtable: a parent and a child made with clone(CLONE_FILES | CLONE_FS)
 * share one fd table and one working directory. In turns, the child enters
 * a directory and opens a new file there by a relative name, and says only
 * the fd number; the parent writes a record to that fd and closes it. That
 * works only if the table is one: a restored child with a table of its own
 * would hand over numbers that mean nothing to the parent (EBADF), and with
 * a cwd of its own the parent's relative stat() would miss the file. The
 * child also asks for SIGUSR2 when its parent dies (PR_SET_PDEATHSIG) and
 * checks every round that it still has it.
 *
 *     sharedtable OUT READY DIR [ROUNDS=600] [PAUSE_MS=8]
 *
 * READY holds "PARENT CHILD". OUT: one line per round, then PASS.
 */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "workload.h"

#define STACK_SIZE (256 * 1024)

static int to_child[2], to_parent[2];
static const char *dir;

/* The child: for each round, chdir and open "f-ROUND" there, and hand the fd number over. */
static int child_main(void *arg)
{
	(void) arg;
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2) < 0)
		return 9;
	for (;;) {
		char name[32];
		int round, fd, sig = 0;

		if (wl_read_all(to_child[0], &round, sizeof(round)) < 0)
			return 10;
		if (round < 0)
			return 0;
		if (prctl(PR_GET_PDEATHSIG, &sig) < 0 || sig != SIGUSR2)
			return 14;
		if (chdir(dir) < 0)
			return 11;
		snprintf(name, sizeof(name), "f-%d", round);
		fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return 12;
		if (wl_write_all(to_parent[1], &fd, sizeof(fd)) < 0)
			return 13;
	}
}

/* One round: the fd the child opened is ours too, and the cwd it entered is ours. */
static void round_trip(int round, unsigned long pause_len)
{
	char rec[64], name[32];
	struct stat st;
	int fd, n;

	if (wl_write_all(to_child[1], &round, sizeof(round)) < 0 ||
	    wl_read_all(to_parent[0], &fd, sizeof(fd)) < 0)
		wl_die("the child is gone at round %d", round);
	snprintf(name, sizeof(name), "f-%d", round);
	wl_check(stat(name, &st) == 0, "round %d: %s is not in our working directory", round, name);
	n = snprintf(rec, sizeof(rec), "round %d %016llx\n", round,
		     (unsigned long long) hash2((uint64_t) round, 77));
	wl_check(write(fd, rec, (size_t) n) == n, "round %d: fd %d the child opened: %m", round, fd);
	wl_check(close(fd) == 0, "round %d: close fd %d: %m", round, fd);
	wl_printf("round %d fd %d\n", round, fd);
	wl_sleep_ms(pause_len);
}

int main(int argc, char **argv)
{
	int a = wl_init("sharedtable", argc, argv, "DIR [ROUNDS] [PAUSE_MS]");
	int rounds, status, stop = -1;
	unsigned long pause_len;
	char extra[32], *stack;
	pid_t child;

	if (a >= argc)
		wl_die("no DIR argument");
	dir = argv[a];
	rounds = (int) wl_arg(argc, argv, a + 1, 600);
	pause_len = wl_arg(argc, argv, a + 2, 8);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		wl_die("mkdir %s: %m", dir);
	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		wl_die("pipe: %m");
	stack = malloc(STACK_SIZE);
	if (!stack)
		wl_die("malloc");
	child = clone(child_main, stack + STACK_SIZE, CLONE_FILES | CLONE_FS | SIGCHLD, NULL);
	if (child < 0)
		wl_die("clone: %m");
	snprintf(extra, sizeof(extra), "%d", (int) child);
	wl_ready(extra);
	for (int r = 0; r < rounds; r++)
		round_trip(r, pause_len);
	if (wl_write_all(to_child[1], &stop, sizeof(stop)) < 0 || waitpid(child, &status, 0) != child)
		wl_die("the child did not stop: %m");
	wl_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with status 0x%x",
		 status);
	return wl_finish();
}
