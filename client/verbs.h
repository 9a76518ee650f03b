/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verbs of the ckptd command. Each parses its own arguments and returns
 * the process exit status: 0 success, 1 failure (already reported), 2 usage.
 */
#pragma once

#define EXIT_USAGE 2

#include <stdbool.h>

/* --external WHAT=close, for dump and watch; -EINVAL (said why) for anything else. */
int parse_external(const char *arg, bool *tcp_close, bool *pipe_close);

int verb_dump(int argc, char **argv);
int verb_restore(int argc, char **argv);
int verb_inspect(int argc, char **argv);

/* verbs-daemon.c: the verbs that ask the daemon */
int verb_watch(int argc, char **argv);
int verb_unwatch(int argc, char **argv);
int verb_snapshot(int argc, char **argv);
int verb_list(int argc, char **argv);
int verb_versions(int argc, char **argv);
/* NAME[@VERSION] from the daemon; with -D DIR, verb_restore() without one. */
int verb_restore_daemon(int argc, char **argv);
int verb_status(int argc, char **argv);
