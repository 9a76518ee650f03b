// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sharedfd: a parent and its child write records through ONE open file
 * description (opened by the parent before the fork, no O_APPEND: they share
 * its offset), taking turns handed over through two pipes, and both update
 * an accumulator in a MAP_SHARED anonymous page. Who writes which record is
 * fixed by the turn number, so LOG is the same in every run, and it is only
 * whole if the offset and the page are shared: a restored child with its own
 * copy of either would overwrite records or compute another accumulator.
 *
 *     sharedfd OUT READY LOG [TURNS=700] [PAUSE_MS=8]
 *
 * READY holds "PARENT CHILD". OUT: the totals, each side's count, PASS.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "workload.h"

#define REC_LEN 30 /* "%05d %-6s %016llx\n" */
#define REC_BUF 64 /* room for more digits, to see a record that would not fit */

struct shared {
	uint64_t acc;
	uint64_t turns[2]; /* taken by the parent, by the child */
};

static struct shared *S;
static int log_fd;
static unsigned long pause_len;

static int owner(int turn)
{
	return (int) ((mix64((uint64_t) turn) >> 7) & 1);
}

static int record(char *buf, int turn, uint64_t acc)
{
	return snprintf(buf, REC_BUF, "%05d %-6s %016llx\n", turn, owner(turn) ? "child" : "parent",
			(unsigned long long) acc);
}

/* One turn: the shared accumulator moves on and the record goes at the shared offset. */
static int take_turn(int turn)
{
	char buf[REC_BUF];

	S->acc = hash2(S->acc, (uint64_t) turn);
	S->turns[owner(turn)]++;
	if (record(buf, turn, S->acc) != REC_LEN)
		return -EINVAL;
	wl_sleep_ms(pause_len);
	return wl_write_all(log_fd, buf, REC_LEN);
}

/* The child: turns as the parent hands them over, until it hands over -1. */
static int child_loop(int from_parent, int to_parent)
{
	for (;;) {
		int turn;

		if (wl_read_all(from_parent, &turn, sizeof(turn)) < 0)
			return 10;
		if (turn < 0)
			return 0;
		if (take_turn(turn) < 0)
			return 11;
		if (wl_write_all(to_parent, &turn, sizeof(turn)) < 0)
			return 12;
	}
}

static void hand_over(int to_child, int from_child, int turn)
{
	int back;

	if (wl_write_all(to_child, &turn, sizeof(turn)) < 0)
		wl_die("write to the child: %m");
	if (turn < 0)
		return;
	if (wl_read_all(from_child, &back, sizeof(back)) < 0 || back != turn)
		wl_die("the child did not give turn %d back", turn);
}

/* What LOG and the page must hold after TURNS turns. */
static void verify(int turns)
{
	uint64_t acc = 0, counts[2] = { 0, 0 };
	off_t size = (off_t) turns * REC_LEN;
	char want[REC_BUF], got[REC_BUF];

	wl_check(lseek(log_fd, 0, SEEK_CUR) == size, "the shared offset is %lld, not %lld",
		 (long long) lseek(log_fd, 0, SEEK_CUR), (long long) size);
	for (int t = 0; t < turns; t++) {
		acc = hash2(acc, (uint64_t) t);
		counts[owner(t)]++;
		record(want, t, acc);
		if (pread(log_fd, got, REC_LEN, (off_t) t * REC_LEN) != REC_LEN ||
		    memcmp(got, want, REC_LEN) != 0) {
			wl_fail("record %d is not what turn %d wrote", t, t);
			break;
		}
	}
	wl_check(S->acc == acc, "the shared accumulator is %llx, not %llx",
		 (unsigned long long) S->acc, (unsigned long long) acc);
	wl_check(S->turns[0] == counts[0] && S->turns[1] == counts[1],
		 "the shared counts are %llu/%llu, not %llu/%llu", (unsigned long long) S->turns[0],
		 (unsigned long long) S->turns[1], (unsigned long long) counts[0],
		 (unsigned long long) counts[1]);
	wl_printf("records %d bytes %lld acc %016llx parent %llu child %llu\n", turns, (long long) size,
		  (unsigned long long) S->acc, (unsigned long long) S->turns[0],
		  (unsigned long long) S->turns[1]);
}

int main(int argc, char **argv)
{
	int a = wl_init("sharedfd", argc, argv, "LOG [TURNS] [PAUSE_MS]");
	int turns, to_child[2], to_parent[2], status;
	char extra[32];
	pid_t child;

	if (a >= argc)
		wl_die("no LOG argument");
	turns = (int) wl_arg(argc, argv, a + 1, 700);
	pause_len = wl_arg(argc, argv, a + 2, 8);
	/* Shared with the child through the fork: one description, one offset. */
	log_fd = open(argv[a], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (log_fd < 0)
		wl_die("open %s: %m", argv[a]);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		wl_die("mmap: %m");
	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		wl_die("pipe: %m");
	child = fork();
	if (child < 0)
		wl_die("fork: %m");
	if (child == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(child_loop(to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);
	snprintf(extra, sizeof(extra), "%d", (int) child);
	wl_ready(extra);

	for (int t = 0; t < turns; t++) {
		if (owner(t))
			hand_over(to_child[1], to_parent[0], t);
		else if (take_turn(t) < 0)
			wl_die("write the record of turn %d: %m", t);
	}
	hand_over(to_child[1], to_parent[0], -1);
	if (waitpid(child, &status, 0) != child)
		wl_die("waitpid: %m");
	wl_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with status 0x%x",
		 status);
	verify(turns);
	return wl_finish();
}
