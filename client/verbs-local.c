// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The verbs that run the engine in this process, without a daemon:
 * "ckptd dump PID -D DIR" and "ckptd restore -D DIR", for scripts and tests.
 */
#include <getopt.h>
#include <libgen.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "util.h"
#include "verbs.h"

/* DIR as a parent directory fd and a last component, which is what atomic creation needs. */
static int split_dir(const char *dir, int *ret_dfd, char **ret_name)
{
	_cleanup_free_ char *a = strdup(dir), *b = strdup(dir);
	char *name;
	size_t n;
	int dfd;

	if (!a || !b)
		return log_oom();
	n = strlen(a);
	while (n > 1 && a[n - 1] == '/') {
		n--;
		a[n] = 0;
		b[n] = 0;
	}
	name = basename(a);
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "/") == 0)
		return log_error_errno(-EINVAL, "\"%s\" cannot be an image directory; give a new "
						"directory's path", dir);
	dfd = open(dirname(b), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_error_errno(-errno, "Cannot open the directory that is to hold %s: %m",
				       dir);
	*ret_name = strdup(name);
	if (!*ret_name) {
		(void) close(dfd);
		return log_oom();
	}
	*ret_dfd = dfd;
	return 0;
}

static void print_dump_summary(pid_t pid, const char *dir, const struct image_stats *s)
{
	char pages[FORMAT_BYTES_MAX], written[FORMAT_BYTES_MAX], freeze[FORMAT_DURATION_MAX],
		wall[FORMAT_DURATION_MAX];

	printf("pid %d: %" PRIu64 " threads, %" PRIu64 " regions, %" PRIu64 " pages (%s), %s "
	       "written, frozen %s, %s in all; image %s\n",
	       (int) pid, s->threads, s->regions, s->pages,
	       format_bytes(pages, sizeof(pages), s->pages * PAGE_SIZE),
	       format_bytes(written, sizeof(written), s->bytes_written),
	       format_duration(freeze, sizeof(freeze), s->freeze_ns),
	       format_duration(wall, sizeof(wall), s->wall_ns), dir);
}

int parse_external(const char *arg, bool *tcp_close, bool *pipe_close)
{
	if (strcmp(arg, "tcp=close") == 0)
		*tcp_close = true;
	else if (strcmp(arg, "pipe=close") == 0)
		*pipe_close = true;
	else {
		log_error("--external %s: the choices are tcp=close and pipe=close", arg);
		return -EINVAL;
	}
	return 0;
}

int verb_dump(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "leave-running", no_argument, NULL, 'R' },
		{ "external", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct dump_options o = { .store_dfd = -1 };
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int dfd = -EBADF;
	const char *dir = NULL;
	struct image_stats stats;
	pid_t pid;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "D:Rh", options, NULL)) >= 0)
		switch (c) {
		case 'D':
			dir = optarg;
			break;
		case 'R':
			o.leave_running = true;
			break;
		case 'E':
			if (parse_external(optarg, &o.tcp_close, &o.pipe_close) < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			printf("Usage: ckptd dump PID -D DIR [--leave-running] [--external WHAT=close]\n\n"
			       "Snapshots process PID and all its descendants into DIR (new or\n"
			       "empty). Without --leave-running they are killed once the image is\n"
			       "safe.\n"
			       "--external tcp=close gives up TCP sockets: they come back as\n"
			       "sockets that are not connected.\n"
			       "--external pipe=close gives up pipes to processes outside the tree:\n"
			       "they come back with the other end closed.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	if (optind + 1 != argc || !dir) {
		log_error("usage: ckptd dump PID -D DIR [--leave-running] [--external WHAT=close]");
		return EXIT_USAGE;
	}
	if (parse_pid(argv[optind], &pid) < 0) {
		log_error("\"%s\" is not a process id", argv[optind]);
		return EXIT_USAGE;
	}
	if (split_dir(dir, &dfd, &name) < 0)
		return 1;
	if (dump_process(pid, dfd, name, &o, &stats) < 0)
		return 1;
	print_dump_summary(pid, dir, &stats);
	return 0;
}

int verb_restore(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "vdso-patch", no_argument, NULL, 'P' },
		{ "pidns", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct restore_options o = {};
	const char *dir = NULL;
	char took[FORMAT_DURATION_MAX];
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct restore_result res;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "D:h", options, NULL)) >= 0)
		switch (c) {
		case 'D':
			dir = optarg;
			break;
		case 'P':
			o.force_vdso_patch = true;
			break;
		case 'N':
			o.pidns = true;
			break;
		case 'h':
			printf("Usage: ckptd restore -D DIR [--pidns]\n\n"
			       "Brings back the process saved in DIR, and every descendant saved\n"
			       "with it, with their PIDs and thread ids, and returns once they run.\n\n"
			       "  --pidns   in a new PID namespace, where the saved PIDs are free\n"
			       "            even if other processes hold them out here\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	if (optind != argc || !dir) {
		log_error("usage: ckptd restore -D DIR [--pidns]");
		return EXIT_USAGE;
	}
	if (restore_process(AT_FDCWD, dir, &o, &res) < 0)
		return 1;
	if (res.pid != res.saved_pid)
		printf("pid %d running again in a new PID namespace (PID %d outside it), restored "
		       "from %s in %s\n",
		       (int) res.saved_pid, (int) res.pid, dir,
		       format_duration(took, sizeof(took), now_ns(CLOCK_MONOTONIC) - t0));
	else
		printf("pid %d running again, restored from %s in %s\n", (int) res.pid, dir,
		       format_duration(took, sizeof(took), now_ns(CLOCK_MONOTONIC) - t0));
	return 0;
}
