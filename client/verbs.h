/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verbs of the ckptd command. Each parses its own arguments and returns
 * the process exit status: 0 success, 1 failure (already reported), 2 usage.
 */
#pragma once

#define EXIT_USAGE 2

int verb_dump(int argc, char **argv);
int verb_restore(int argc, char **argv);
int verb_inspect(int argc, char **argv);
