// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The verbs that ask the daemon: watch, unwatch, snapshot, list, versions,
 * restore NAME[@VERSION] and status. Each makes one io.ckptd call and prints
 * the answer for people, or with --json the reply's parameters. The daemon
 * decides and checks everything; the client only refuses what is plainly
 * malformed on its own command line.
 */
#include <getopt.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "output.h"
#include "util.h"
#include "varlink.h"
#include "verbs.h"

#define REMOTE_STRING_MAX 4096

enum {
	ARG_JSON = 0x100,
	ARG_SOCKET,
	ARG_NAME,
	ARG_EVERY,
	ARG_KEEP,
	ARG_RESTORE_ON_BOOT,
	ARG_ATTACH,
	ARG_EXTERNAL,
	ARG_PIDNS,
};

#define COMMON_OPTIONS                                                                             \
	{ "json", no_argument, NULL, ARG_JSON },                                                   \
		{ "socket", required_argument, NULL, ARG_SOCKET },                                 \
		{ "help", no_argument, NULL, 'h' }

#define COMMON_HELP                                                                                \
	"\n  --json             print the daemon's reply as JSON\n"                                \
	"  --socket PATH      the daemon's socket (default: $CKPTD_SOCKET,\n"                       \
	"                     else " CKPTD_DEFAULT_SOCKET ")\n"

struct daemon_options {
	const char *socket;
	bool json;
	bool pass_stdio; /* send fds 0, 1 and 2 with the call (restore --attach) */
};

/* Handles the options every daemon verb takes; 1 if c was one of them. */
static int common_option(int c, struct daemon_options *o)
{
	switch (c) {
	case ARG_JSON:
		o->json = true;
		return 1;
	case ARG_SOCKET:
		o->socket = optarg;
		return 1;
	default:
		return 0;
	}
}

static const char *socket_path(const struct daemon_options *o)
{
	const char *e;

	if (o->socket)
		return o->socket;
	e = getenv("CKPTD_SOCKET");
	return e && *e ? e : CKPTD_DEFAULT_SOCKET;
}

/* getopt's '?' and ':' (with opterr off): our wording, and the usage exit status. */
static int option_error(int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		log_error("option %s needs a value; see ckptd %s --help", arg, argv[0]);
	else if (optopt)
		log_error("unknown option -%c; see ckptd %s --help", optopt, argv[0]);
	else
		log_error("unknown option %s; see ckptd %s --help", arg, argv[0]);
	return EXIT_USAGE;
}

static int usage_error(const char *synopsis)
{
	log_error("usage: ckptd %s", synopsis);
	return EXIT_USAGE;
}

/*
 * Strings from the daemon may carry what a process chose to call itself:
 * control characters become '?' before they reach a terminal.
 */
static const char *printable(char *buf, size_t size, const char *s)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < size; i++)
		buf[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

/* Members the daemon may or may not send: -1 or NULL when absent or not as the interface says. */
static int64_t reply_int(json_object *o, const char *name)
{
	int64_t v;

	return varlink_param_int(o, name, /* required= */ false, 0, INT64_MAX, &v) > 0 ? v : -1;
}

static const char *reply_string(json_object *o, const char *name)
{
	const char *v;

	return varlink_param_string(o, name, /* required= */ false, REMOTE_STRING_MAX, &v) > 0
		       ? v
		       : NULL;
}

static void print_remote_error(const char *error, json_object *params)
{
	char buf[REMOTE_STRING_MAX], what[256];
	const char *message = reply_string(params, "message"), *s;

	if (message && !*message)
		message = NULL;

	/* A parameter's name says more than a generic sentence: keep both. */
	if (strcmp(error, "org.varlink.service.InvalidParameter") == 0 &&
	    (s = reply_string(params, "parameter")))
		log_error("the daemon refused the parameter \"%s\"%s%s",
			  printable(what, sizeof(what), s), message ? ": " : "",
			  message ? printable(buf, sizeof(buf), message) : "");
	else if (message)
		log_error("%s", printable(buf, sizeof(buf), message));
	else if (strcmp(error, "org.varlink.service.MethodNotFound") == 0 &&
		 (s = reply_string(params, "method")))
		log_error("the daemon does not know %s; is it an older ckptd than this client?",
			  printable(buf, sizeof(buf), s));
	else if (strcmp(error, "org.varlink.service.InterfaceNotFound") == 0 &&
		 (s = reply_string(params, "interface")))
		log_error("the daemon does not offer the interface %s",
			  printable(buf, sizeof(buf), s));
	else {
		s = json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
		log_error("%s %s", error, printable(buf, sizeof(buf), s));
	}
}

struct call_state {
	struct progress bar;
	json_object *result;
};

static int on_reply(const struct varlink_reply *r, void *userdata)
{
	struct call_state *s = userdata;
	json_object *p;

	if (r->error) {
		progress_clear(&s->bar);
		print_remote_error(r->error, r->parameters);
		return 0;
	}
	if (r->continues) {
		if (json_object_object_get_ex(r->parameters, "progress", &p))
			progress_update(&s->bar, reply_string(p, "phase"),
					(uint64_t) MAX(reply_int(p, "done"), 0),
					(uint64_t) MAX(reply_int(p, "total"), 0));
		return 0;
	}
	progress_clear(&s->bar);
	s->result = json_object_get(r->parameters);
	return 0;
}

/*
 * One call (params taken over). On success *ret holds the final reply's
 * parameters; every failure, the daemon's included, is reported here.
 */
/* With --json the reply is the output: printed, freed, and true. */
static bool printed_as_json(const struct daemon_options *o, json_object *reply)
{
	if (!o->json)
		return false;
	print_json(reply);
	json_object_put(reply);
	return true;
}

static int call_daemon(const struct daemon_options *o, const char *method, json_object *params,
		       bool more, json_object **ret)
{
	const char *path = socket_path(o);
	_cleanup_close_ int fd = -EBADF;
	struct call_state s = {};
	int r;

	if (!params)
		return log_oom();
	r = varlink_connect(path, &fd);
	if (r == -ENAMETOOLONG)
		r = log_error_errno(r, "the socket path %s is too long for a Unix socket", path);
	else if (r == -ENOENT || r == -ECONNREFUSED)
		r = log_error_errno(r, "cannot reach the ckptd daemon at %s: %m; is it running? "
				       "(ckptd serve, or systemctl start ckptd)", path);
	else if (r < 0)
		r = log_error_errno(r, "cannot reach the ckptd daemon at %s: %m", path);
	if (r < 0) {
		json_object_put(params);
		return r;
	}

	static const int stdio[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };

	progress_init(&s.bar);
	r = varlink_client_call_fds(fd, method, params, more, stdio, o->pass_stdio ? 3 : 0,
				    on_reply, &s);
	json_object_put(params);
	progress_clear(&s.bar);
	if (r == -EREMOTE) /* the daemon said no, and on_reply said why */
		return r;
	if (r == -ECONNRESET)
		r = log_error_errno(r, "the ckptd daemon at %s hung up before it answered; its log "
				       "may say why (journalctl -u ckptd)", path);
	else if (r == -EPROTO)
		r = log_error_errno(r, "the ckptd daemon at %s answered with something that is not "
				       "a varlink reply", path);
	else if (r == -E2BIG)
		r = log_error_errno(r, "the ckptd daemon at %s sent a reply larger than %u MiB",
				    path, VARLINK_REPLY_MAX >> 20);
	else if (r < 0)
		r = log_error_errno(r, "talking to the ckptd daemon at %s failed: %m", path);
	if (r < 0) {
		json_object_put(s.result);
		return r;
	}
	if (!s.result)
		return log_error_errno(-EPROTO, "the ckptd daemon at %s sent no reply", path);
	*ret = s.result;
	return 0;
}

/* ---- reading replies ---- */

/* What the client shows of a Job; members it cannot read stay at -1 or NULL. */
struct job_view {
	const char *name, *state;
	int64_t pid, interval_ns, keep, versions, newest, size, next_snapshot_ns;
	bool restore_on_boot;
};

static void job_view_read(json_object *job, struct job_view *v)
{
	*v = (struct job_view){ .pid = -1, .interval_ns = -1, .keep = -1, .versions = -1,
				.newest = -1, .size = -1, .next_snapshot_ns = -1 };
	v->name = reply_string(job, "name");
	v->state = reply_string(job, "state");
	v->pid = reply_int(job, "pid");
	v->interval_ns = reply_int(job, "interval_ns");
	v->keep = reply_int(job, "keep");
	v->versions = reply_int(job, "versions");
	v->newest = reply_int(job, "newest");
	v->size = reply_int(job, "size");
	v->next_snapshot_ns = reply_int(job, "next_snapshot_ns");
	(void) varlink_param_bool(job, "restore_on_boot", /* required= */ false,
				  &v->restore_on_boot);
}

/* A cell for a count we may not have: "-" when the daemon did not say. */
static const char *int_cell(char *buf, size_t size, int64_t v)
{
	if (v < 0)
		return "-";
	snprintf(buf, size, "%" PRIi64, v);
	return buf;
}

static const char *bytes_cell(char *buf, size_t size, int64_t v)
{
	return v < 0 ? "-" : format_bytes(buf, size, (uint64_t) v);
}

static json_object *member(json_object *o, const char *name, enum json_type type)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* For a reply without what the interface promises; frees it, returns the exit status. */
static int missing(json_object *reply, const char *method, const char *what)
{
	json_object_put(reply);
	log_error("the daemon's answer to %s lacks \"%s\"", method, what);
	return 1;
}

/* ---- the verbs ---- */

#define WATCH_SYNOPSIS                                                                             \
	"watch PID [--name NAME] [--every 10m] [--keep 6] [--restore-on-boot] "                      \
	"[--external WHAT=close]... [--json] [--socket PATH]"

int verb_watch(int argc, char **argv)
{
	static const struct option options[] = {
		{ "name", required_argument, NULL, ARG_NAME },
		{ "every", required_argument, NULL, ARG_EVERY },
		{ "keep", required_argument, NULL, ARG_KEEP },
		{ "restore-on-boot", no_argument, NULL, ARG_RESTORE_ON_BOOT },
		{ "external", required_argument, NULL, ARG_EXTERNAL },
		COMMON_OPTIONS,
		{},
	};
	struct daemon_options o = {};
	const char *name = NULL;
	uint64_t every = 0;
	uint32_t keep = 0;
	bool restore_on_boot = false, tcp_close = false, pipe_close = false;
	json_object *params, *reply = NULL, *job;
	struct job_view v;
	char name_buf[REMOTE_STRING_MAX], interval[FORMAT_DURATION_MAX];
	pid_t pid;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		if (common_option(c, &o))
			continue;
		switch (c) {
		case ARG_NAME:
			name = optarg;
			break;
		case ARG_EVERY:
			if (parse_duration(optarg, &every) < 0 || every > INT64_MAX) {
				log_error("--every %s is not a duration; use e.g. 30s, 10m, 2h "
					  "or 1d", optarg);
				return EXIT_USAGE;
			}
			if (every == 0) {
				log_error("--every must be longer than 0");
				return EXIT_USAGE;
			}
			break;
		case ARG_KEEP:
			if (parse_u32(optarg, 10, &keep) < 0 || keep == 0) {
				log_error("--keep %s: give how many versions to keep, 1 or more",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case ARG_RESTORE_ON_BOOT:
			restore_on_boot = true;
			break;
		case ARG_EXTERNAL:
			if (parse_external(optarg, &tcp_close, &pipe_close) < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			printf("Usage: ckptd " WATCH_SYNOPSIS "\n\n"
			       "Asks the daemon to snapshot process PID and all its descendants\n"
			       "on a timer.\n\n"
			       "  --name NAME        the job's name (default: the process's name)\n"
			       "  --every TIME       how often: 30s, 10m, 2h, 1d (default 10m)\n"
			       "  --keep N           how many versions to keep (default 6)\n"
			       "  --restore-on-boot  bring the process back after a reboot\n"
			       "  --external tcp=close  give TCP sockets up: each snapshot records\n"
			       "                     them closed, a restore makes them disconnected\n"
			       "  --external pipe=close  give up pipes to processes outside the\n"
			       "                     tree: a restore brings them back with that end\n"
			       "                     closed"
			       COMMON_HELP);
			return 0;
		default:
			return option_error(c, argv);
		}
	}
	if (optind + 1 != argc)
		return usage_error(WATCH_SYNOPSIS);
	if (parse_pid(argv[optind], &pid) < 0) {
		log_error("\"%s\" is not a process id", argv[optind]);
		return EXIT_USAGE;
	}

	params = json_object_new_object();
	if (params) {
		json_object_object_add(params, "pid", json_object_new_int64(pid));
		if (name)
			json_object_object_add(params, "name", json_object_new_string(name));
		if (every > 0)
			json_object_object_add(params, "interval_ns",
					       json_object_new_int64((int64_t) every));
		if (keep > 0)
			json_object_object_add(params, "keep", json_object_new_int64(keep));
		if (restore_on_boot)
			json_object_object_add(params, "restore_on_boot",
					       json_object_new_boolean(1));
		if (tcp_close)
			json_object_object_add(params, "tcp_close", json_object_new_boolean(1));
		if (pipe_close)
			json_object_object_add(params, "pipe_close", json_object_new_boolean(1));
	}
	if (call_daemon(&o, "io.ckptd.Watch", params, false, &reply) < 0)
		return 1;
	if (printed_as_json(&o, reply))
		return 0;
	job = member(reply, "job", json_type_object);
	if (!job)
		return missing(reply, "io.ckptd.Watch", "job");
	job_view_read(job, &v);
	printf("watching pid %" PRIi64 " as \"%s\": a snapshot every %s, keeping %" PRIi64 "%s\n",
	       v.pid >= 0 ? v.pid : (int64_t) pid, printable(name_buf, sizeof(name_buf), v.name),
	       v.interval_ns > 0 ? format_interval(interval, sizeof(interval),
						   (uint64_t) v.interval_ns)
				 : "?",
	       v.keep, v.restore_on_boot ? ", and restoring it after a reboot" : "");
	json_object_put(reply);
	return 0;
}

/*
 * The verbs with only the common options and n_args (0 or 1) arguments: list
 * and status; unwatch, snapshot and versions (a job's name, in *ret_arg).
 * false when the verb is done already (--help, a usage error): exit with *ret_exit.
 */
static bool parse_plain_verb(int argc, char **argv, const char *synopsis, const char *help,
			     int n_args, struct daemon_options *o, const char **ret_arg,
			     int *ret_exit)
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		if (common_option(c, o))
			continue;
		if (c == 'h') {
			printf("Usage: ckptd %s\n\n%s\n" COMMON_HELP, synopsis, help);
			*ret_exit = 0;
		} else
			*ret_exit = option_error(c, argv);
		return false;
	}
	if (optind + n_args != argc) {
		*ret_exit = usage_error(synopsis);
		return false;
	}
	if (n_args > 0)
		*ret_arg = argv[optind];
	return true;
}

static json_object *name_params(const char *name)
{
	json_object *p = json_object_new_object();

	if (p && json_object_object_add(p, "name", json_object_new_string(name)) < 0) {
		json_object_put(p);
		return NULL;
	}
	return p;
}

int verb_unwatch(int argc, char **argv)
{
	static const char synopsis[] = "unwatch NAME [--json] [--socket PATH]";
	struct daemon_options o = {};
	json_object *reply = NULL;
	const char *name = NULL;
	char name_buf[REMOTE_STRING_MAX];
	int64_t versions;
	int r;

	if (!parse_plain_verb(argc, argv, synopsis,
			      "Stops watching the job NAME and removes all its versions.", 1, &o,
			      &name, &r))
		return r;
	if (call_daemon(&o, "io.ckptd.Unwatch", name_params(name), false, &reply) < 0)
		return 1;
	if (o.json)
		print_json(reply);
	else {
		/* The interface returns nothing; should a daemon say how many, use it. */
		versions = reply_int(reply, "versions");
		printable(name_buf, sizeof(name_buf), name);
		if (versions < 0)
			printf("stopped watching \"%s\" and removed its versions\n", name_buf);
		else if (versions == 0)
			printf("stopped watching \"%s\"; it had no versions\n", name_buf);
		else
			printf("stopped watching \"%s\" and removed its %" PRIi64 " version%s\n",
			       name_buf, versions, versions == 1 ? "" : "s");
	}
	json_object_put(reply);
	return 0;
}

int verb_snapshot(int argc, char **argv)
{
	static const char synopsis[] = "snapshot NAME [--json] [--socket PATH]";
	struct daemon_options o = {};
	json_object *reply = NULL, *version;
	const char *name = NULL;
	char name_buf[REMOTE_STRING_MAX], size[FORMAT_BYTES_MAX], frozen[FORMAT_DURATION_MAX],
		num_buf[24], pages_buf[24];
	int64_t number, pages, bytes, freeze_ns;
	int r;

	if (!parse_plain_verb(argc, argv, synopsis,
			      "Asks the daemon to take one more version of the job NAME now.", 1,
			      &o, &name, &r))
		return r;
	if (call_daemon(&o, "io.ckptd.Snapshot", name_params(name), true, &reply) < 0)
		return 1;
	if (printed_as_json(&o, reply))
		return 0;
	version = member(reply, "version", json_type_object);
	if (!version)
		return missing(reply, "io.ckptd.Snapshot", "version");
	number = reply_int(version, "number");
	pages = reply_int(version, "pages");
	bytes = reply_int(version, "size");
	freeze_ns = reply_int(version, "freeze_ns");
	printf("version %s of \"%s\": %s pages, %s new, frozen %s\n",
	       int_cell(num_buf, sizeof(num_buf), number),
	       printable(name_buf, sizeof(name_buf), name),
	       int_cell(pages_buf, sizeof(pages_buf), pages), bytes_cell(size, sizeof(size), bytes),
	       freeze_ns < 0 ? "?" : format_duration(frozen, sizeof(frozen), (uint64_t) freeze_ns));
	json_object_put(reply);
	return 0;
}

int verb_list(int argc, char **argv)
{
	static const char synopsis[] = "list [--json] [--socket PATH]";
	static const char *const header[] = { "NAME", "PID", "STATE", "VERSIONS",
					      "NEWEST", "SIZE", "NEXT" };
	_cleanup_(table_freep) struct table *t = NULL;
	struct daemon_options o = {};
	json_object *reply = NULL, *jobs;
	int64_t now = (int64_t) now_ns(CLOCK_REALTIME);
	size_t n;
	int r;

	if (!parse_plain_verb(argc, argv, synopsis,
			      "Lists the watched processes, their versions and next snapshot.", 0,
			      &o, NULL, &r))
		return r;
	if (call_daemon(&o, "io.ckptd.List", json_object_new_object(), false, &reply) < 0)
		return 1;
	if (printed_as_json(&o, reply))
		return 0;
	jobs = member(reply, "jobs", json_type_array);
	if (!jobs)
		return missing(reply, "io.ckptd.List", "jobs");
	n = json_object_array_length(jobs);
	if (n == 0) {
		printf("no processes are watched; start with: ckptd watch PID\n");
		json_object_put(reply);
		return 0;
	}
	if (table_new(header, ELEMENTSOF(header), 0x3a /* PID VERSIONS NEWEST SIZE */, &t) < 0) {
		json_object_put(reply);
		log_oom();
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char name[REMOTE_STRING_MAX], state[64], pid[24], versions[24], newest[24],
			size[FORMAT_BYTES_MAX], next[FORMAT_TIME_MAX];
		struct job_view v;

		job_view_read(json_object_array_get_idx(jobs, i), &v);
		if (table_add_row(t, (const char *const[]){
					     printable(name, sizeof(name), v.name ? v.name : "?"),
					     int_cell(pid, sizeof(pid), v.pid),
					     printable(state, sizeof(state),
						       v.state ? v.state : "?"),
					     int_cell(versions, sizeof(versions), v.versions),
					     int_cell(newest, sizeof(newest), v.newest),
					     bytes_cell(size, sizeof(size), v.size),
					     v.next_snapshot_ns < 0
						     ? "-"
						     : format_until(next, sizeof(next),
								    v.next_snapshot_ns, now),
				     }) < 0) {
			json_object_put(reply);
			log_oom();
			return 1;
		}
	}
	table_print(t, stdout);
	json_object_put(reply);
	return 0;
}

int verb_versions(int argc, char **argv)
{
	static const char synopsis[] = "versions NAME [--json] [--socket PATH]";
	static const char *const header[] = { "VERSION", "TAKEN", "SIZE",
					      "PAGES",	 "FROZEN", "STATE" };
	_cleanup_(table_freep) struct table *t = NULL;
	struct daemon_options o = {};
	json_object *reply = NULL, *versions;
	const char *name = NULL;
	char name_buf[REMOTE_STRING_MAX];
	size_t n;
	int r;

	if (!parse_plain_verb(argc, argv, synopsis, "Lists the versions of the job NAME.", 1, &o,
			      &name, &r))
		return r;
	if (call_daemon(&o, "io.ckptd.Versions", name_params(name), false, &reply) < 0)
		return 1;
	if (printed_as_json(&o, reply))
		return 0;
	versions = member(reply, "versions", json_type_array);
	if (!versions)
		return missing(reply, "io.ckptd.Versions", "versions");
	n = json_object_array_length(versions);
	if (n == 0) {
		printf("\"%s\" has no versions yet\n", printable(name_buf, sizeof(name_buf), name));
		json_object_put(reply);
		return 0;
	}
	if (table_new(header, ELEMENTSOF(header), 0x0d /* VERSION SIZE PAGES */, &t) < 0) {
		json_object_put(reply);
		log_oom();
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(versions, i);
		char number[24], taken[FORMAT_TIME_MAX], size[FORMAT_BYTES_MAX], pages[24],
			frozen[FORMAT_DURATION_MAX], state[REMOTE_STRING_MAX],
			raw[REMOTE_STRING_MAX];
		int64_t num, created, bytes, npages, freeze;
		const char *st, *reason;

		num = reply_int(v, "number");
		created = reply_int(v, "created_ns");
		bytes = reply_int(v, "size");
		npages = reply_int(v, "pages");
		freeze = reply_int(v, "freeze_ns");
		st = reply_string(v, "state");
		reason = reply_string(v, "reason");
		if (reason && *reason)
			snprintf(raw, sizeof(raw), "%s: %s", st ? st : "?", reason);
		else
			snprintf(raw, sizeof(raw), "%s", st ? st : "?");
		if (table_add_row(t, (const char *const[]){
					     int_cell(number, sizeof(number), num),
					     created < 0 ? "-"
							 : format_timestamp(taken, sizeof(taken),
									    created),
					     bytes_cell(size, sizeof(size), bytes),
					     int_cell(pages, sizeof(pages), npages),
					     freeze < 0 ? "-"
							: format_duration(frozen, sizeof(frozen),
									  (uint64_t) freeze),
					     printable(state, sizeof(state), raw),
				     }) < 0) {
			json_object_put(reply);
			log_oom();
			return 1;
		}
	}
	table_print(t, stdout);
	json_object_put(reply);
	return 0;
}

/* "sim@7" is version 7 of "sim"; an '@' not followed by a number is part of the name. */
static int parse_target(const char *arg, char **ret_name, int64_t *ret_version)
{
	const char *at = strrchr(arg, '@');
	uint64_t v;

	*ret_version = -1;
	if (at && at != arg && at[1] && parse_u64(at + 1, 10, &v) >= 0) {
		if (v > INT64_MAX)
			return -ERANGE;
		*ret_name = strndup(arg, (size_t) (at - arg));
		*ret_version = (int64_t) v;
	} else
		*ret_name = strdup(arg);
	return *ret_name ? 0 : -ENOMEM;
}

/* -D/--dir (or --vdso-patch) means the local engine: the image is a directory. */
static bool restore_is_local(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (string_has_prefix(a, "-D") || strcmp(a, "--dir") == 0 ||
		    string_has_prefix(a, "--dir=") || strcmp(a, "--vdso-patch") == 0)
			return true;
	}
	return false;
}

/* Versions a restore passed over: the user should know the newest was damaged. */
static void warn_skipped(json_object *reply, const char *name)
{
	json_object *skipped, *s;
	char name_buf[REMOTE_STRING_MAX];

	if (!json_object_object_get_ex(reply, "skipped", &skipped) ||
	    !json_object_is_type(skipped, json_type_array))
		return;
	printable(name_buf, sizeof(name_buf), name);
	for (size_t i = 0; i < json_object_array_length(skipped); i++) {
		s = json_object_array_get_idx(skipped, i);
		json_object *reason = NULL;
		(void) json_object_object_get_ex(s, "reason", &reason);
		log_warning("\"%s\" version %" PRIi64 " is damaged and was skipped: %s", name_buf,
			    reply_int(s, "number"), reason ? json_object_get_string(reason) : "?");
	}
}

/* Logs the restore cut back: the user should know where the lines after the snapshot went. */
static void print_cuts(json_object *reply)
{
	json_object *cuts = member(reply, "cut", json_type_array);
	char path[REMOTE_STRING_MAX], kept[REMOTE_STRING_MAX], size[FORMAT_BYTES_MAX],
		was[FORMAT_BYTES_MAX];

	for (size_t i = 0; cuts && i < json_object_array_length(cuts); i++) {
		json_object *c = json_object_array_get_idx(cuts, i);
		const char *p = reply_string(c, "path"), *k = reply_string(c, "kept");

		printf("%s cut back to %s, its size at the snapshot (it had %s); ",
		       printable(path, sizeof(path), p ? p : "?"),
		       bytes_cell(size, sizeof(size), reply_int(c, "size")),
		       bytes_cell(was, sizeof(was), reply_int(c, "was")));
		if (k)
			printf("what was cut is in %s\n", printable(kept, sizeof(kept), k));
		else
			printf("what was cut is gone\n");
	}
}

int verb_restore_daemon(int argc, char **argv)
{
	static const char synopsis[] =
		"restore NAME[@VERSION] [--attach] [--pidns] [--json] [--socket PATH]";
	static const struct option options[] = {
		COMMON_OPTIONS,
		{ "attach", no_argument, NULL, ARG_ATTACH },
		{ "pidns", no_argument, NULL, ARG_PIDNS },
		{},
	};
	struct daemon_options o = {};
	_cleanup_free_ char *name = NULL;
	json_object *params, *reply = NULL;
	char name_buf[REMOTE_STRING_MAX];
	int64_t version, pid, saved, got;
	bool pidns = false;
	int c;

	if (restore_is_local(argc, argv))
		return verb_restore(argc, argv);

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		if (common_option(c, &o))
			continue;
		if (c == ARG_ATTACH) {
			o.pass_stdio = true;
			continue;
		}
		if (c == ARG_PIDNS) {
			pidns = true;
			continue;
		}
		if (c == 'h') {
			printf("Usage: ckptd %s\n"
			       "       ckptd restore -D DIR\n\n"
			       "Asks the daemon to bring back the job NAME's process, and every\n"
			       "descendant saved with it, from VERSION (default: the newest good\n"
			       "one) and to watch it on.\n"
			       "With -D, restores the image in DIR in this process, without\n"
			       "a daemon.\n\n"
			       "  --attach           the process's stdio that was a terminal or\n"
			       "                     pipe becomes this command's stdin, stdout\n"
			       "                     and stderr (not as controlling terminal);\n"
			       "                     without it, a terminal becomes a new\n"
			       "                     pseudo-terminal and a pipe the job's log,\n"
			       "                     both written to output.log\n"
			       "  --pidns            in a new PID namespace, where the saved PIDs\n"
			       "                     are free even if other processes hold them\n"
			       "                     out here\n" COMMON_HELP,
			       synopsis);
			return 0;
		}
		return option_error(c, argv);
	}
	if (optind + 1 != argc)
		return usage_error("restore NAME[@VERSION]  or  ckptd restore -D DIR");
	if (parse_target(argv[optind], &name, &version) < 0) {
		log_error("\"%s\": the version is out of range", argv[optind]);
		return EXIT_USAGE;
	}

	params = name_params(name);
	if (params && version >= 0)
		json_object_object_add(params, "version", json_object_new_int64(version));
	if (params && o.pass_stdio)
		json_object_object_add(params, "attach", json_object_new_boolean(true));
	if (params && pidns)
		json_object_object_add(params, "pidns", json_object_new_boolean(true));
	if (call_daemon(&o, "io.ckptd.Restore", params, true, &reply) < 0)
		return 1;
	if (o.json)
		print_json(reply);
	else {
		warn_skipped(reply, name);
		pid = reply_int(reply, "pid");
		saved = reply_int(reply, "saved_pid");
		got = reply_int(reply, "version");
		printable(name_buf, sizeof(name_buf), name);
		if (pid < 0)
			printf("\"%s\" restored\n", name_buf);
		else {
			if (saved >= 0 && saved != pid)
				printf("pid %" PRIi64 " running again in a new PID namespace (PID "
				       "%" PRIi64 " outside it)",
				       saved, pid);
			else
				printf("pid %" PRIi64 " running again", pid);
			printf(" from \"%s\"", name_buf);
			if (got >= 0)
				printf(" version %" PRIi64, got);
			printf("\n");
		}
		print_cuts(reply);
	}
	json_object_put(reply);
	return 0;
}

int verb_status(int argc, char **argv)
{
	static const char synopsis[] = "status [--json] [--socket PATH]";
	struct daemon_options o = {};
	json_object *reply = NULL, *load;
	const char *version, *state_dir, *boot_id;
	int64_t pid, uptime, jobs, busy;
	char buf[REMOTE_STRING_MAX], span[FORMAT_TIME_MAX], num[24];
	int r;

	if (!parse_plain_verb(argc, argv, synopsis,
			      "Shows what the daemon is and what it is doing.", 0, &o, NULL, &r))
		return r;
	if (call_daemon(&o, "io.ckptd.Status", json_object_new_object(), false, &reply) < 0)
		return 1;
	if (printed_as_json(&o, reply))
		return 0;
	version = reply_string(reply, "version");
	state_dir = reply_string(reply, "state_dir");
	boot_id = reply_string(reply, "boot_id");
	pid = reply_int(reply, "pid");
	uptime = reply_int(reply, "uptime_ns");
	jobs = reply_int(reply, "jobs");
	busy = reply_int(reply, "busy");

	printf("daemon     ckptd %s\n", printable(buf, sizeof(buf), version ? version : "?"));
	printf("pid        %s\n", int_cell(num, sizeof(num), pid));
	printf("uptime     %s\n",
	       uptime < 0 ? "-" : format_span(span, sizeof(span), (uint64_t) uptime));
	printf("jobs       %s", int_cell(num, sizeof(num), jobs));
	if (busy >= 0)
		printf(", %" PRIi64 " busy", busy);
	printf("\nstate dir  %s\n", printable(buf, sizeof(buf), state_dir ? state_dir : "-"));
	printf("boot id    %s\n", printable(buf, sizeof(buf), boot_id ? boot_id : "-"));
	load = member(reply, "load", json_type_array);
	if (load) {
		printf("load      ");
		for (size_t i = 0; i < json_object_array_length(load); i++)
			printf(" %.2f", json_object_get_double(json_object_array_get_idx(load, i)));
		printf("\n");
	}
	printf("socket     %s\n", socket_path(&o));
	json_object_put(reply);
	return 0;
}
