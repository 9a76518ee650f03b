// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ckptd: one executable. This file only picks the verb; each lives in its
 * own file.
 */
#include <string.h>

#include "config.h"
#include "log.h"
#include "serve.h"
#include "verbs.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} verbs[] = {
	{ "watch", verb_watch,
	  "watch PID [--every 10m] [--keep 6]  snapshot a process tree on a timer" },
	{ "unwatch", verb_unwatch,
	  "unwatch NAME                        stop, and remove its versions" },
	{ "snapshot", verb_snapshot,
	  "snapshot NAME                       take one more version now" },
	{ "list", verb_list,
	  "list                                watched processes and versions" },
	{ "versions", verb_versions,
	  "versions NAME                       a job's versions" },
	{ "restore", verb_restore_daemon,
	  "restore NAME[@VERSION] | -D DIR     bring a tree back (a job's, or DIR's)" },
	{ "status", verb_status,
	  "status                              what the daemon is doing" },
	{ "dump", verb_dump, "dump PID -D DIR [--leave-running]   snapshot a process tree into DIR" },
	{ "inspect", verb_inspect, "inspect DIR [--json]                show what a snapshot holds" },
	{ "serve", serve_main, "serve [--state-dir DIR] [--socket PATH]   run the daemon" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: ckptd [-v] VERB [ARGS...]\n\nVerbs:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  ckptd %s\n", verbs[i].usage);
	fprintf(f, "\nckptd VERB --help shows a verb's options. The verbs that ask the daemon\n"
		   "take --json and --socket PATH (default: $CKPTD_SOCKET, else %s).\n",
		CKPTD_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	int level = LOG_INFO, i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			level = LOG_DEBUG;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("ckptd %s\n", CKPTD_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			log_setup(LOG_STYLE_HUMAN, LOG_INFO);
			log_error("unknown option %s; see ckptd --help", argv[i]);
			return EXIT_USAGE;
		}
	}
	log_setup(LOG_STYLE_HUMAN, level);
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < ELEMENTSOF(verbs); k++)
		if (strcmp(argv[i], verbs[k].name) == 0)
			return verbs[k].run(argc - i, argv + i);
	log_error("unknown verb \"%s\"; see ckptd --help", argv[i]);
	return EXIT_USAGE;
}
