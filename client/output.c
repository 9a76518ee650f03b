// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Output helpers of the daemon verbs: tables, human times, JSON, and the
 * progress line. Nothing here talks to the daemon; stdout gets results,
 * stderr gets the progress line and errors.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "output.h"
#include "util.h"

struct table {
	size_t n_columns;
	unsigned right_aligned;
	char **cells; /* row-major, the header first */
	size_t n_rows, allocated;
};

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

int table_new(const char *const *header, size_t n_columns, unsigned right_aligned,
	      struct table **ret)
{
	_cleanup_(table_freep) struct table *t = NULL;
	int r;

	if (n_columns == 0 || n_columns > TABLE_COLUMNS_MAX)
		return -EINVAL;
	t = new0(struct table, 1);
	if (!t)
		return -ENOMEM;
	t->n_columns = n_columns;
	t->right_aligned = right_aligned;
	r = table_add_row(t, header);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}

int table_add_row(struct table *t, const char *const *cells)
{
	size_t base = t->n_rows * t->n_columns;

	if (GROW(t->cells, t->allocated, base + t->n_columns) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_columns; i++) {
		t->cells[base + i] = strdup(cells[i] ? cells[i] : "-");
		if (!t->cells[base + i]) {
			while (i > 0)
				free(t->cells[base + --i]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

void table_print(const struct table *t, FILE *f)
{
	size_t width[TABLE_COLUMNS_MAX] = {};

	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_columns; c++)
			width[c] = MAX(width[c], strlen(t->cells[r * t->n_columns + c]));

	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_columns; c++) {
			const char *cell = t->cells[r * t->n_columns + c];
			bool last = c + 1 == t->n_columns;
			int w = (int) width[c];

			if (t->right_aligned & (1u << c))
				fprintf(f, "%*s", w, cell);
			else if (last) /* no trailing blanks */
				fputs(cell, f);
			else
				fprintf(f, "%-*s", w, cell);
			if (!last)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

void print_json(json_object *o)
{
	int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE;

	puts(json_object_to_json_string_ext(o, flags));
}

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)
#define NS_PER_MIN (60 * NS_PER_SEC)
#define NS_PER_HOUR (60 * NS_PER_MIN)
#define NS_PER_DAY (24 * NS_PER_HOUR)

const char *format_interval(char *buf, size_t size, uint64_t ns)
{
	static const struct {
		uint64_t ns;
		const char *unit;
	} units[] = {
		{ NS_PER_DAY, "d" }, { NS_PER_HOUR, "h" }, { NS_PER_MIN, "m" },
		{ NS_PER_SEC, "s" }, { NS_PER_MS, "ms" },
	};

	if (ns > 0)
		for (size_t i = 0; i < ELEMENTSOF(units); i++)
			if (ns % units[i].ns == 0) {
				snprintf(buf, size, "%" PRIu64 "%s", ns / units[i].ns,
					 units[i].unit);
				return buf;
			}
	return format_duration(buf, size, ns);
}

const char *format_span(char *buf, size_t size, uint64_t ns)
{
	uint64_t s = ns / NS_PER_SEC;

	if (s < 60)
		snprintf(buf, size, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

const char *format_until(char *buf, size_t size, int64_t when_ns, int64_t now)
{
	char span[FORMAT_TIME_MAX];
	uint64_t left;

	if (when_ns <= now) {
		snprintf(buf, size, "now");
		return buf;
	}
	left = (uint64_t) when_ns - (uint64_t) now;
	/* Round up: 300 ms from now is "in 1s", not "in 0s". */
	left = left / NS_PER_SEC * NS_PER_SEC + (left % NS_PER_SEC ? NS_PER_SEC : 0);
	snprintf(buf, size, "in %s", format_span(span, sizeof(span), left));
	return buf;
}

const char *format_timestamp(char *buf, size_t size, int64_t realtime_ns)
{
	time_t t = (time_t) (realtime_ns / (int64_t) NS_PER_SEC);
	struct tm tm;

	if (realtime_ns < 0 || !localtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "?");
	return buf;
}

void progress_init(struct progress *p)
{
	*p = (struct progress){ .enabled = isatty(STDERR_FILENO) == 1, .percent = -1 };
}

static unsigned terminal_columns(void)
{
	struct winsize w = {};

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) < 0 || w.ws_col == 0)
		return 80;
	return w.ws_col;
}

void progress_update(struct progress *p, const char *phase, uint64_t done, uint64_t total)
{
	char bar[64];
	unsigned cols, width, fill;
	int percent;

	if (!p->enabled)
		return;
	if (!phase)
		phase = "working";
	if (done > total)
		done = total;
	percent = total > 0 ? (int) (done * 100.0 / (double) total) : -1;
	/* Redraw only what a person would see change. */
	if (p->drawn && strncmp(p->phase, phase, sizeof(p->phase) - 1) == 0 &&
	    percent == p->percent && (total > 0 || done == p->done))
		return;
	snprintf(p->phase, sizeof(p->phase), "%s", phase);
	p->percent = percent;
	p->done = done;

	cols = terminal_columns();
	if (total == 0) {
		fprintf(stderr, "\r%-12.24s %" PRIu64 "\033[K", p->phase, done);
	} else {
		/* "phase  [####....]  52%": what is left of the line for the bar, within reason. */
		width = cols > 40 ? MIN(cols - 24, (unsigned) sizeof(bar) - 1) : 10;
		fill = (unsigned) ((double) width * (double) done / (double) total);
		memset(bar, '#', fill);
		memset(bar + fill, '.', width - fill);
		bar[width] = 0;
		fprintf(stderr, "\r%-12.12s [%s] %3d%%\033[K", p->phase, bar, percent);
	}
	fflush(stderr);
	p->drawn = true;
}

void progress_clear(struct progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->drawn = false;
}
