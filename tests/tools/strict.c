// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strict READY: enters seccomp strict mode (read, write, exit, sigreturn
 * only) and blocks in read() on a pipe it holds both ends of, for ever.
 * READY is written just before, for a test that expects its dump refused.
 */
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int p[2];
	char c;
	FILE *f;

	if (argc != 2 || pipe(p) < 0)
		return 2;
	f = fopen(argv[1], "we");
	if (!f || fprintf(f, "%d\n", (int) getpid()) < 0 || fclose(f) != 0)
		return 1;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) < 0)
		return 1;
	for (;;)
		(void) !read(p[0], &c, 1);
}
