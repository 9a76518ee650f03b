// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Line-oriented logging to stderr. Never allocates, so it works on the paths
 * that report allocation failures, and writes each line with one write(2) so
 * lines from forked workers do not interleave.
 */
#include <stdarg.h>
#include <string.h>

#include "log.h"

static enum log_style log_style = LOG_STYLE_HUMAN;
static char last_error[1024];
static int log_max_level = LOG_INFO;

void log_setup(enum log_style style, int max_level)
{
	log_style = style;
	log_max_level = max_level;
}

const char *log_last_error(void)
{
	return last_error;
}

int log_get_max_level(void)
{
	return log_max_level;
}

void log_set_max_level(int level)
{
	log_max_level = level;
}

static const char *level_word(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	case LOG_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

int log_internal(int level, int error, const char *prefix, const char *file _unused_,
		 int line _unused_, const char *fmt, ...)
{
	char buf[2048];
	int saved_errno = errno;
	size_t n;
	va_list ap;

	if (error != 0)
		errno = abs(error);

	if (log_style == LOG_STYLE_JOURNAL)
		n = (size_t) snprintf(buf, sizeof(buf), "<%d>%s", level, prefix);
	else
		n = (size_t) snprintf(buf, sizeof(buf), "ckptd: %s", level_word(level));
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;

	va_start(ap, fmt);
	{
		size_t start = n;

		n += (size_t) vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		if (level <= LOG_ERR)
			snprintf(last_error, sizeof(last_error), "%s", buf + start);
	}
	va_end(ap);
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	/* One event, one line: fold embedded newlines so journald keeps it together. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	(void) !write(STDERR_FILENO, buf, n);

	errno = saved_errno;
	return -abs(error);
}
