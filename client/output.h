/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon verbs print: aligned tables, times for people, JSON for
 * scripts, and a one-line progress bar on a terminal's stderr.
 */
#pragma once

#include <json-c/json.h>

#include "macro.h"

#define TABLE_COLUMNS_MAX 8

struct table;

/* header has n_columns names; bit i of right_aligned right-aligns column i. */
int table_new(const char *const *header, size_t n_columns, unsigned right_aligned,
	      struct table **ret);
struct table *table_free(struct table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free)
/* Copies n_columns cells; NULL prints as "-". */
int table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);

/* Pretty JSON, one object, on stdout. */
void print_json(json_object *o);

/* "10m", "90s", "1d", "500ms": the shortest exact form, as --every takes it. */
const char *format_interval(char *buf, size_t size, uint64_t ns);
/* "45s", "4m 10s", "2h 5m", "3d 4h": two units at most, for spans people read. */
const char *format_span(char *buf, size_t size, uint64_t ns);
/* "in 4m 10s", or "now" for a time not in the future. Both CLOCK_REALTIME. */
const char *format_until(char *buf, size_t size, int64_t when_ns, int64_t now_ns);
/* Local "YYYY-MM-DD HH:MM:SS" of a CLOCK_REALTIME time. */
const char *format_timestamp(char *buf, size_t size, int64_t realtime_ns);
#define FORMAT_TIME_MAX 48

/* A progress line on stderr, drawn only when stderr is a terminal. */
struct progress {
	bool enabled, drawn;
	char phase[32];
	int percent;
	uint64_t done;
};

void progress_init(struct progress *p);
void progress_update(struct progress *p, const char *phase, uint64_t done, uint64_t total);
/* Erases the line, if one was drawn; call before printing anything else. */
void progress_clear(struct progress *p);
