/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: one line per event on stderr. The daemon prefixes lines with the
 * syslog level as "<N>" so journald files them right; the client prints plain
 * "ckptd: ..." lines for people. common/ itself logs at debug only.
 */
#pragma once

#include <syslog.h>

#include "macro.h"

enum log_style {
	LOG_STYLE_HUMAN,   /* "ckptd: error: ..." for a terminal */
	LOG_STYLE_JOURNAL, /* "<3>dump: ..." for journald */
};

void log_setup(enum log_style style, int max_level);
int log_get_max_level(void);
/* The text of the last error logged by this process ("" if none): what a worker reports. */
const char *log_last_error(void);
void log_set_max_level(int level);

/* Writes one line; errno is set from error (if non-zero) so "%m" works. Returns -abs(error). */
int log_internal(int level, int error, const char *prefix, const char *file, int line,
		 const char *fmt, ...) _printf_(6, 7);

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

#define log_full_errno(level, error, ...)                                                          \
	({                                                                                         \
		int _l = (level), _e = (error);                                                    \
		(_l <= log_get_max_level())                                                        \
			? log_internal(_l, _e, LOG_PREFIX, __FILE__, __LINE__, __VA_ARGS__)        \
			: -abs(_e);                                                                \
	})

#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)

#define log_error(...) (void) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) (void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)

/* For the one place an allocation failure is reported. */
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
