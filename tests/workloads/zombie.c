// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * zombie: a parent holding a zombie child and a live one. Child A exits with
 * status 7 at once and is left unreaped (waitid WNOWAIT sees it exit); child
 * B computes a hash chain for seconds, writing a record a round into a pipe
 * the parent reads only after B has ended (the bytes sit in the pipe), and
 * exits with status 3. Then the parent reaps A. OUT says what waitpid gave
 * for each and what B sent: the same in every run only if a restored A is
 * still the parent's zombie with its status.
 *
 *     zombie OUT READY [ROUNDS=400] [PAUSE_MS=15]
 *
 * READY holds "PARENT A B".
 */
#include <sys/wait.h>

#include "workload.h"

#define A_STATUS 7
#define B_STATUS 3

struct rec {
	uint32_t round;
	uint32_t pad;
	uint64_t value;
};

static uint64_t round_value(uint64_t v, uint32_t round)
{
	for (int i = 0; i < 200000; i++)
		v = hash2(v, round);
	return v;
}

static int b_loop(int out, uint32_t rounds, unsigned long pause)
{
	uint64_t v = 0;

	for (uint32_t r = 0; r < rounds; r++) {
		struct rec rec = { .round = r };

		v = round_value(v, r);
		rec.value = v;
		if (wl_write_all(out, &rec, sizeof(rec)) < 0)
			return 10;
		wl_sleep_ms(pause);
	}
	return B_STATUS;
}

static void report_status(const char *who, pid_t pid)
{
	int status;
	pid_t r = waitpid(pid, &status, 0);

	if (r != pid) {
		wl_fail("waitpid for child %s: %s", who, r < 0 ? strerror(errno) : "another pid");
		return;
	}
	if (WIFEXITED(status))
		wl_printf("child %s: exited %d\n", who, WEXITSTATUS(status));
	else
		wl_printf("child %s: status 0x%x\n", who, status);
}

/* B's records, read after it ended: every round in order with the right value. */
static void read_records(int in, uint32_t rounds)
{
	struct rec rec;
	uint64_t v = 0, sum = 0;
	uint32_t n = 0;

	while (wl_read_all(in, &rec, sizeof(rec)) == 0) {
		v = round_value(v, n);
		wl_check(rec.round == n && rec.value == v, "record %u is wrong", n);
		sum = hash2(sum, rec.value);
		n++;
	}
	wl_check(n == rounds, "got %u records of %u", n, rounds);
	wl_printf("records %u sum %016llx\n", n, (unsigned long long) sum);
}

int main(int argc, char **argv)
{
	int a = wl_init("zombie", argc, argv, "[ROUNDS] [PAUSE_MS]");
	uint32_t rounds = (uint32_t) wl_arg(argc, argv, a, 400);
	unsigned long pause = wl_arg(argc, argv, a + 1, 15);
	int p[2];
	pid_t za, b;
	siginfo_t si;
	char extra[64];

	if (rounds * sizeof(struct rec) > 65536)
		wl_die("%u rounds would fill the pipe", rounds);
	za = fork();
	if (za < 0)
		wl_die("fork: %m");
	if (za == 0)
		_exit(A_STATUS);
	/* A is a zombie from here on: seen exited, not reaped. */
	if (waitid(P_PID, (id_t) za, &si, WEXITED | WNOWAIT) < 0)
		wl_die("waitid: %m");
	if (pipe(p) < 0)
		wl_die("pipe: %m");
	b = fork();
	if (b < 0)
		wl_die("fork: %m");
	if (b == 0) {
		close(p[0]);
		_exit(b_loop(p[1], rounds, pause));
	}
	close(p[1]);
	snprintf(extra, sizeof(extra), "%d %d", (int) za, (int) b);
	wl_ready(extra);

	report_status("b", b);
	read_records(p[0], rounds);
	report_status("a", za);
	return wl_finish();
}
