// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * drip: the producer of a pipeline (tests/e2e/tree-pipeline.sh). Writes
 * deterministic lines to stdout in bursts with pauses between them (none:
 * as fast as the reader takes them, the pipe full whenever it is busy),
 * closes stdout, and lingers before it exits, so that the pipeline keeps its
 * shape while the reader works on.
 *
 *     drip OUT READY [MIB=40] [BURST_KIB=256] [PAUSE_MS=40] [LINGER_MS=0]
 *
 * OUT gets the number of lines and bytes written and PASS.
 */

#include "workload.h"

#define LINE_LEN 26 /* "%016llx %08llu\n" */

int main(int argc, char **argv)
{
	int a = wl_init("drip", argc, argv, "[MIB] [BURST_KIB] [PAUSE_MS] [LINGER_MS]");
	unsigned long mib = wl_arg(argc, argv, a, 40), burst_kib = wl_arg(argc, argv, a + 1, 256);
	unsigned long pause = wl_arg(argc, argv, a + 2, 40), linger = wl_arg(argc, argv, a + 3, 0);
	unsigned long long lines = mib * 1024 * 1024 / LINE_LEN, per_burst, i = 0;
	size_t cap;
	char *buf;

	per_burst = burst_kib * 1024 / LINE_LEN;
	if (per_burst == 0)
		per_burst = 1;
	cap = (size_t) per_burst * LINE_LEN + 1;
	buf = malloc(cap);
	if (!buf)
		wl_die("out of memory");
	wl_ready(NULL);
	while (i < lines) {
		size_t len = 0;
		int r;

		for (unsigned long long n = 0; n < per_burst && i < lines; n++, i++)
			len += (size_t) snprintf(buf + len, cap - len, "%016llx %08llu\n",
						 (unsigned long long) mix64(0xd21f ^ i), i);
		r = wl_write_all(STDOUT_FILENO, buf, len);
		if (r < 0)
			wl_die("write to stdout: %s", strerror(-r));
		if (pause)
			wl_sleep_ms(pause);
	}
	if (close(STDOUT_FILENO) < 0)
		wl_fail("close stdout: %m");
	wl_sleep_ms(linger);
	wl_printf("lines %llu bytes %llu\n", lines, lines * LINE_LEN);
	free(buf);
	return wl_finish();
}
