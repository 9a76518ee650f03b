// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The methods of io.ckptd and org.varlink.service. Each checks every
 * parameter, then who is asking (auth.c), then acts. Errors are varlink
 * errors whose "message" says what was wrong and what to do.
 */
#define LOG_PREFIX "methods: "

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "proc.h"
#include "store.h"
#include "util.h"

#define PF_KTHREAD 0x00200000
#define MIN_INTERVAL_NS 1000000000ULL
#define NAME_MAX_LEN 64

static const char org_varlink_service[] =
	"# The Varlink Service Interface is provided by every varlink service.\n"
	"interface org.varlink.service\n\n"
	"method GetInfo() -> (\n  vendor: string,\n  product: string,\n  version: string,\n"
	"  url: string,\n  interfaces: []string\n)\n\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n\n"
	"error InterfaceNotFound (interface: string)\n"
	"error MethodNotFound (method: string)\n"
	"error MethodNotImplemented (method: string)\n"
	"error InvalidParameter (parameter: string)\n"
	"error PermissionDenied ()\n"
	"error ExpectedMore ()\n";

static json_object *named(const char *key, const char *value)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, key, json_object_new_string(value));
	return o;
}

static void invalid_parameter(struct connection *c, const char *name)
{
	json_object *p = named("parameter", name);

	json_object_object_add(p, "message",
			       json_object_new_string("a parameter is missing, of the wrong type, "
						      "or not one this method takes"));
	control_error(c, "org.varlink.service.InvalidParameter", p);
}

/* Checks the parameter names; false (and the error sent) on an unknown one. */
static bool only(struct connection *c, struct varlink_call *call, const char *const *allowed)
{
	const char *unknown = NULL;

	if (varlink_params_only(call->parameters, allowed, &unknown) < 0) {
		invalid_parameter(c, unknown ? unknown : "?");
		return false;
	}
	return true;
}

/* The job the caller may see, or an error sent and NULL. */
static struct job *lookup(struct connection *c, struct varlink_call *call)
{
	const char *name;
	struct job *j;

	if (varlink_param_string(call->parameters, "name", true, NAME_MAX_LEN, &name) <= 0) {
		invalid_parameter(c, "name");
		return NULL;
	}
	j = job_find(c->m, name);
	if (!j || !auth_owns(c->uid, j)) {
		/* Another user's job does not exist, as far as this caller is told. */
		control_error_msg(c, "io.ckptd.NoSuchJob", named("name", name),
				  "There is no job \"%s\"; ckptd list shows the jobs", name);
		return NULL;
	}
	return j;
}

static void busy(struct connection *c, struct job *j)
{
	control_error_msg(c, "io.ckptd.Busy", named("name", j->name),
			  "Job \"%s\" is %s right now; try again when it is done", j->name,
			  job_state_to_string(j->state));
}

/* A name from the process's comm: what [A-Za-z0-9._-] keeps of it, unique. */
static void default_name(struct manager *m, const char *comm, pid_t pid, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = comm; *p && n + 1 < size && n < 15; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || (ch == '.' && n > 0);

		buf[n++] = ok ? ch : '-';
	}
	buf[n] = 0;
	if (!n)
		snprintf(buf, size, "job");
	if (job_find(m, buf))
		snprintf(buf + strlen(buf), size - strlen(buf), "-%d", (int) pid);
}

static bool check_target(struct connection *c, pid_t pid, struct proc_stat *ret)
{
	json_object *p = json_object_new_object();
	struct auth_refusal no;
	const char *why = NULL;

	json_object_object_add(p, "pid", json_object_new_int(pid));
	if (proc_read_stat(pid, ret) < 0 || ret->state == 'Z' || ret->state == 'X') {
		control_error_msg(c, "io.ckptd.NoSuchProcess", p,
				  "There is no process with PID %d", (int) pid);
		return false;
	}
	json_object_put(p);
	if (pid == 1)
		why = "PID 1 is the init process; ckptd does not checkpoint init";
	else if (ret->flags & PF_KTHREAD)
		why = "it is a kernel thread; only user processes can be checkpointed";
	else if (pid == getpid() || pid == getppid())
		why = "it is the ckptd daemon itself";
	if (why) {
		control_error_msg(c, "io.ckptd.InvalidValue", named("parameter", "pid"),
				  "Cannot watch PID %d: %s", (int) pid, why);
		return false;
	}
	if (!auth_may_trace_tree(c->uid, c->gid, pid, &no)) {
		if (no.member == pid)
			control_error_msg(c, "io.ckptd.PermissionDenied", NULL,
					  "You may not watch PID %d: %s", (int) pid, no.reason);
		else
			control_error_msg(c, "io.ckptd.PermissionDenied", NULL,
					  "You may not watch PID %d: its descendant PID %d (uid %u) "
					  "is not yours to trace: %s. A snapshot takes every "
					  "descendant; only root may watch this tree",
					  (int) pid, (int) no.member, (unsigned) no.uid, no.reason);
		return false;
	}
	return true;
}

static bool check_limits(struct connection *c)
{
	struct manager *m = c->m;
	const char *what = NULL;
	unsigned limit = 0;
	json_object *p;

	if (m->n_jobs >= JOBS_MAX)
		what = "jobs", limit = JOBS_MAX;
	else if (jobs_of(m, c->uid) >= JOBS_PER_USER)
		what = "jobs per user", limit = JOBS_PER_USER;
	if (!what)
		return true;
	p = named("what", what);
	json_object_object_add(p, "limit", json_object_new_int((int) limit));
	control_error_msg(c, "io.ckptd.LimitReached", p,
			  "ckptd watches at most %u %s; unwatch one first", limit, what);
	return false;
}

struct watch_params {
	int64_t pid, interval, keep;
	const char *name;
	bool restore_on_boot, tcp_close, pipe_close;
};

static bool watch_params(struct connection *c, struct varlink_call *call, struct watch_params *w)
{
	json_object *p = call->parameters;
	int r;

	*w = (struct watch_params){ .interval = (int64_t) DEFAULT_INTERVAL_NS,
				    .keep = DEFAULT_KEEP };
	if (varlink_param_int(p, "pid", true, 1, INT32_MAX, &w->pid) < 0) {
		invalid_parameter(c, "pid");
		return false;
	}
	r = varlink_param_string(p, "name", false, NAME_MAX_LEN, &w->name);
	if (r == -EINVAL) {
		invalid_parameter(c, "name");
		return false;
	}
	if (r < 0) {
		control_error_msg(c, "io.ckptd.InvalidName", named("name", "?"),
				  "A job name is a string of at most %d characters", NAME_MAX_LEN);
		return false;
	}
	const char *bad = NULL;
	if (varlink_param_int(p, "interval_ns", false, INT64_MIN, INT64_MAX, &w->interval) < 0)
		bad = "interval_ns";
	else if (varlink_param_int(p, "keep", false, INT64_MIN, INT64_MAX, &w->keep) < 0)
		bad = "keep";
	else if (varlink_param_bool(p, "restore_on_boot", false, &w->restore_on_boot) < 0)
		bad = "restore_on_boot";
	else if (varlink_param_bool(p, "tcp_close", false, &w->tcp_close) < 0)
		bad = "tcp_close";
	else if (varlink_param_bool(p, "pipe_close", false, &w->pipe_close) < 0)
		bad = "pipe_close";
	if (bad) {
		invalid_parameter(c, bad);
		return false;
	}
	if (w->interval < (int64_t) MIN_INTERVAL_NS) {
		control_error_msg(c, "io.ckptd.InvalidValue", named("parameter", "interval_ns"),
				  "The interval must be at least 1s (like 30s, 10m or 2h)");
		return false;
	}
	if (w->keep < 1 || w->keep > KEEP_MAX) {
		control_error_msg(c, "io.ckptd.InvalidValue", named("parameter", "keep"),
				  "keep must be between 1 and %d", KEEP_MAX);
		return false;
	}
	if (w->name && !name_is_valid(w->name)) {
		control_error_msg(c, "io.ckptd.InvalidName", named("name", w->name),
				  "\"%s\" is not a valid job name: use letters, digits, '-', '_' "
				  "and '.', at most 64, not starting with '.'",
				  w->name);
		return false;
	}
	return true;
}

static void m_watch(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "pid", "name", "interval_ns", "keep",
					       "restore_on_boot", "tcp_close", "pipe_close", NULL };
	struct manager *m = c->m;
	struct job_settings settings;
	struct watch_params w;
	struct proc_stat st;
	struct job *j;
	char name[NAME_MAX_LEN + 16];
	json_object *o;

	if (!only(c, call, allowed) || !watch_params(c, call, &w) ||
	    !check_target(c, (pid_t) w.pid, &st) || !check_limits(c))
		return;
	j = job_find_pid(m, (pid_t) w.pid);
	if (j && j->start_time == st.starttime) {
		o = named("name", j->name);
		json_object_object_add(o, "pid", json_object_new_int((int) w.pid));
		control_error_msg(c, "io.ckptd.AlreadyWatched", o,
				  "PID %d is already watched as \"%s\"", (int) w.pid, j->name);
		return;
	}
	if (w.name)
		snprintf(name, sizeof(name), "%s", w.name);
	else
		default_name(m, st.comm, (pid_t) w.pid, name, sizeof(name));
	settings = (struct job_settings){ .interval_ns = (uint64_t) w.interval,
					  .keep = (unsigned) w.keep,
					  .restore_on_boot = w.restore_on_boot,
					  .tcp_close = w.tcp_close,
					  .pipe_close = w.pipe_close };
	if (job_find(m, name)) {
		control_error_msg(c, "io.ckptd.JobExists", named("name", name),
				  "A job named \"%s\" exists already; choose another --name", name);
		return;
	}
	if (job_new(m, name, (pid_t) w.pid, st.starttime, c->uid, c->gid, &settings, &j) < 0) {
		control_error_msg(c, "io.ckptd.SnapshotFailed", named("name", name),
				  "Cannot create job \"%s\": %s", name, log_last_error());
		return;
	}
	log_info("%s: watching pid %d for uid %u", name, (int) w.pid, (unsigned) c->uid);
	job_schedule(j, 0); /* a first version right away */
	o = json_object_new_object();
	json_object_object_add(o, "job", job_to_json(j));
	control_reply(c, o, false);
}

static void m_unwatch(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "name", NULL };
	json_object *o;
	unsigned n;
	struct job *j;

	if (!only(c, call, allowed) || !(j = lookup(c, call)))
		return;
	if (j->work) {
		busy(c, j);
		return;
	}
	log_info("%s: no longer watched; its versions are removed", j->name);
	n = j->n_versions;
	job_remove(j);
	o = json_object_new_object();
	json_object_object_add(o, "versions", json_object_new_int((int) n));
	control_reply(c, o, false);
}

/* Makes the caller wait for the end of the work just started or joined (r < 0: not started). */
static void wait_for(struct connection *c, struct varlink_call *call, struct job *j,
		     enum work_kind kind, int r)
{
	if (r < 0) {
		control_error_msg(c, kind == WORK_KIND_SNAPSHOT ? "io.ckptd.SnapshotFailed"
								: "io.ckptd.RestoreFailed",
				  named("name", j->name), "Cannot start: %s", strerror(-r));
		return;
	}
	if (call->oneway)
		return;
	if (work_add_waiter(j->work, c, call->more) < 0)
		control_error_msg(c, "io.ckptd.Busy", named("name", j->name), "Out of memory");
}

static void m_snapshot(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "name", NULL };
	struct job *j;

	if (!only(c, call, allowed) || !(j = lookup(c, call)))
		return;
	if (!j->work && !job_process_alive(j)) {
		j->state = JOB_STATE_LOST;
		control_error_msg(c, "io.ckptd.SnapshotFailed", named("name", j->name),
				  "PID %d of job \"%s\" is gone; bring it back with ckptd restore "
				  "%s",
				  (int) j->pid, j->name, j->name);
		return;
	}
	if (j->work && j->work->kind != WORK_KIND_SNAPSHOT) {
		busy(c, j);
		return;
	}
	/* A snapshot already running (the timer's) is joined. */
	wait_for(c, call, j, WORK_KIND_SNAPSHOT,
		 j->work ? 0 : work_start(j, WORK_KIND_SNAPSHOT, 0, /* scheduled= */ false, NULL));
}

static void m_restore(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "name", "version", "attach", "pidns", NULL };
	_cleanup_free_ uint64_t *v = NULL;
	_cleanup_close_ int dfd = -EBADF;
	int64_t version = 0;
	bool found = false, attach = false, pidns = false;
	int stdio[CONTROL_PASSED_FDS_MAX];
	struct job *j;
	size_t n = 0;

	if (!only(c, call, allowed) || !(j = lookup(c, call)))
		return;
	if (varlink_param_int(call->parameters, "version", false, 1, INT64_MAX, &version) < 0) {
		invalid_parameter(c, "version");
		return;
	}
	if (varlink_param_bool(call->parameters, "attach", false, &attach) < 0) {
		invalid_parameter(c, "attach");
		return;
	}
	/*
	 * Allowed to an owner: the worker is root, and the namespace holds
	 * only the tree, restored with the owner's credentials.
	 */
	if (varlink_param_bool(call->parameters, "pidns", false, &pidns) < 0) {
		invalid_parameter(c, "pidns");
		return;
	}
	if (j->work) {
		busy(c, j);
		return;
	}
	if (version) {
		if (store_open_job(c->m->state_dfd, j->name, false, &dfd) >= 0 &&
		    store_list_versions(dfd, &v, &n) >= 0)
			for (size_t i = 0; i < n; i++)
				found |= v[i] == (uint64_t) version;
		if (!found) {
			json_object *p = named("name", j->name);

			json_object_object_add(p, "version", json_object_new_int64(version));
			control_error_msg(c, "io.ckptd.NoSuchVersion", p,
					  "Job \"%s\" has no version %" PRId64
					  "; ckptd versions %s lists them",
					  j->name, version, j->name);
			return;
		}
	}
	/* Taken last: fds no call took are closed once the call is handled. */
	if (attach && !control_take_fds(c, stdio)) {
		json_object *p = named("parameter", "attach");

		control_error_msg(c, "io.ckptd.InvalidValue", p,
				  "attach needs the caller's fds 0, 1 and 2 sent with the call "
				  "(SCM_RIGHTS); none came");
		return;
	}
	wait_for(c, call, j, WORK_KIND_RESTORE,
		 work_start_restore(j, (uint64_t) version, pidns, attach ? stdio : NULL, NULL));
}

static void m_list(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { NULL };
	json_object *a, *o;

	if (!only(c, call, allowed))
		return;
	a = json_object_new_array();
	for (struct job *j = c->m->jobs; j; j = j->next)
		if (auth_owns(c->uid, j))
			json_object_array_add(a, job_to_json(j));
	o = json_object_new_object();
	json_object_object_add(o, "jobs", a);
	control_reply(c, o, false);
}

static void m_versions(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "name", NULL };
	_cleanup_free_ uint64_t *v = NULL;
	_cleanup_close_ int dfd = -EBADF;
	json_object *a, *o;
	struct job *j;
	size_t n = 0;

	if (!only(c, call, allowed) || !(j = lookup(c, call)))
		return;
	a = json_object_new_array();
	if (store_open_job(c->m->state_dfd, j->name, false, &dfd) >= 0 &&
	    store_list_versions(dfd, &v, &n) >= 0)
		for (size_t i = 0; i < n; i++) {
			struct store_version info = { .number = v[i] };

			(void) store_version_info(dfd, v[i], &info);
			json_object_array_add(a, version_to_json(&info));
			store_version_done(&info);
		}
	o = json_object_new_object();
	json_object_object_add(o, "job", job_to_json(j));
	json_object_object_add(o, "versions", a);
	control_reply(c, o, false);
}

static void m_status(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { NULL };
	struct manager *m = c->m;
	json_object *o, *load;
	double avg[3] = {};
	int busy_jobs = 0;

	if (!only(c, call, allowed))
		return;
	for (struct job *j = m->jobs; j; j = j->next)
		busy_jobs += j->work != NULL;
	(void) getloadavg(avg, 3);
	load = json_object_new_array();
	for (int i = 0; i < 3; i++)
		json_object_array_add(load, json_object_new_double(avg[i]));
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(CKPTD_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getppid()));
	json_object_object_add(o, "uptime_ns", json_object_new_int64((int64_t)(
							now_ns(CLOCK_MONOTONIC) - m->started_ns)));
	json_object_object_add(o, "jobs", json_object_new_int((int) m->n_jobs));
	json_object_object_add(o, "busy", json_object_new_int(busy_jobs));
	json_object_object_add(o, "state_dir", json_object_new_string(m->cfg->state_dir));
	json_object_object_add(o, "boot_id", json_object_new_string(m->boot_id));
	json_object_object_add(o, "load", load);
	control_reply(c, o, false);
}

static void m_get_info(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { NULL };
	json_object *o, *ifs;

	if (!only(c, call, allowed))
		return;
	ifs = json_object_new_array();
	json_object_array_add(ifs, json_object_new_string("org.varlink.service"));
	json_object_array_add(ifs, json_object_new_string("io.ckptd"));
	o = json_object_new_object();
	json_object_object_add(o, "vendor", json_object_new_string("ckptd"));
	json_object_object_add(o, "product", json_object_new_string("ckptd"));
	json_object_object_add(o, "version", json_object_new_string(CKPTD_VERSION));
	json_object_object_add(o, "url", json_object_new_string("https://ckptd.invalid/"));
	json_object_object_add(o, "interfaces", ifs);
	control_reply(c, o, false);
}

static void m_describe(struct connection *c, struct varlink_call *call)
{
	static const char *const allowed[] = { "interface", NULL };
	const char *name, *text = NULL;
	json_object *o;

	if (!only(c, call, allowed))
		return;
	if (varlink_param_string(call->parameters, "interface", true, 256, &name) <= 0) {
		invalid_parameter(c, "interface");
		return;
	}
	if (strcmp(name, "io.ckptd") == 0)
		text = varlink_ckptd_interface;
	else if (strcmp(name, "org.varlink.service") == 0)
		text = org_varlink_service;
	if (!text) {
		control_error(c, "org.varlink.service.InterfaceNotFound", named("interface", name));
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "description", json_object_new_string(text));
	control_reply(c, o, false);
}

static const struct {
	const char *name;
	void (*run)(struct connection *c, struct varlink_call *call);
} methods[] = {
	{ "io.ckptd.Watch", m_watch },
	{ "io.ckptd.Unwatch", m_unwatch },
	{ "io.ckptd.Snapshot", m_snapshot },
	{ "io.ckptd.Restore", m_restore },
	{ "io.ckptd.List", m_list },
	{ "io.ckptd.Versions", m_versions },
	{ "io.ckptd.Status", m_status },
	{ "org.varlink.service.GetInfo", m_get_info },
	{ "org.varlink.service.GetInterfaceDescription", m_describe },
};

void methods_dispatch(struct connection *c, struct varlink_call *call)
{
	const char *dot = strrchr(call->method, '.');

	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		if (strcmp(call->method, methods[i].name) == 0) {
			methods[i].run(c, call);
			return;
		}
	if (dot && ((size_t)(dot - call->method) == strlen("io.ckptd") ||
		    (size_t)(dot - call->method) == strlen("org.varlink.service")) &&
	    (strncmp(call->method, "io.ckptd.", 9) == 0 ||
	     strncmp(call->method, "org.varlink.service.", 20) == 0)) {
		control_error(c, "org.varlink.service.MethodNotFound",
			      named("method", call->method));
		return;
	}
	if (dot) {
		_cleanup_free_ char *iface = strndup(call->method, (size_t)(dot - call->method));

		control_error(c, "org.varlink.service.InterfaceNotFound",
			      named("interface", iface ? iface : ""));
		return;
	}
	control_error(c, "org.varlink.service.MethodNotFound", named("method", call->method));
}
