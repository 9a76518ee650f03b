// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Jobs: what was asked (jobs/<name>/job.json, written atomically) and what
 * is (the process still the one watched? what the store holds?), and each
 * job's timer. Loading at start-up cleans each job's store and tells a
 * process that is gone, or whose PID was reused, from one that runs on.
 */
#define LOG_PREFIX "job: "

#include <string.h>

#include "daemon.h"
#include "log.h"
#include "proc.h"
#include "store.h"
#include "util.h"

#define JOB_FILE "job.json"
#define JOB_FILE_MAX (64 * 1024)

const char *job_state_to_string(enum job_state s)
{
	switch (s) {
	case JOB_STATE_WATCHING:
		return "watching";
	case JOB_STATE_SNAPSHOTTING:
		return "snapshotting";
	case JOB_STATE_RESTORING:
		return "restoring";
	case JOB_STATE_LOST:
		return "lost";
	case _JOB_STATE_MAX:
		break;
	}
	return "?";
}

bool job_process_alive(const struct job *j)
{
	uint64_t t;

	return proc_start_time(j->pid, &t) >= 0 && t == j->start_time;
}

struct job *job_find(struct manager *m, const char *name)
{
	for (struct job *j = m->jobs; j; j = j->next)
		if (strcmp(j->name, name) == 0)
			return j;
	return NULL;
}

struct job *job_find_pid(struct manager *m, pid_t pid)
{
	for (struct job *j = m->jobs; j; j = j->next)
		if (j->pid == pid && j->state != JOB_STATE_LOST)
			return j;
	return NULL;
}

unsigned jobs_of(struct manager *m, uid_t uid)
{
	unsigned n = 0;

	for (struct job *j = m->jobs; j; j = j->next)
		n += j->owner == uid;
	return n;
}

static json_object *saved_json(const struct job *j)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(j->name));
	json_object_object_add(o, "pid", json_object_new_int(j->pid));
	json_object_object_add(o, "start_time", json_object_new_int64((int64_t) j->start_time));
	json_object_object_add(o, "owner", json_object_new_int64(j->owner));
	json_object_object_add(o, "owner_gid", json_object_new_int64(j->owner_gid));
	json_object_object_add(o, "interval_ns", json_object_new_int64((int64_t) j->interval_ns));
	json_object_object_add(o, "keep", json_object_new_int((int) j->keep));
	json_object_object_add(o, "restore_on_boot", json_object_new_boolean(j->restore_on_boot));
	json_object_object_add(o, "tcp_close", json_object_new_boolean(j->tcp_close));
	json_object_object_add(o, "pipe_close", json_object_new_boolean(j->pipe_close));
	json_object_object_add(o, "created_ns", json_object_new_int64((int64_t) j->created_ns));
	if (j->log)
		json_object_object_add(o, "log", json_object_new_string(j->log));
	if (j->last_error)
		json_object_object_add(o, "last_error", json_object_new_string(j->last_error));
	return o;
}

int job_save(struct job *j)
{
	_cleanup_close_ int dfd = -EBADF;
	json_object *o = saved_json(j);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int r;

	r = store_open_job(j->m->state_dfd, j->name, /* create= */ true, &dfd);
	if (r >= 0)
		r = write_file_atomic_at(dfd, JOB_FILE, text, strlen(text), 0600);
	json_object_put(o);
	if (r < 0)
		return log_error_errno(r, "Cannot save job %s: %m", j->name);
	return 0;
}

/* Versions, newest and size from the store: cheap enough to do after every change. */
void job_refresh(struct job *j)
{
	_cleanup_free_ uint64_t *v = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t n = 0;

	if (store_open_job(j->m->state_dfd, j->name, false, &dfd) < 0)
		return;
	if (store_list_versions(dfd, &v, &n) >= 0) {
		j->n_versions = (unsigned) n;
		j->newest = n ? v[n - 1] : 0;
	}
	(void) store_job_size(dfd, &j->size);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	int r;

	j->due_ns = 0;
	if (j->work)
		return 0; /* the running work reschedules when it ends */
	if (!job_process_alive(j)) {
		log_info("%s: pid %d is gone; the job keeps its versions for a restore", j->name,
			 (int) j->pid);
		j->state = JOB_STATE_LOST;
		(void) job_save(j);
		return 0;
	}
	r = work_start(j, WORK_KIND_SNAPSHOT, 0, /* scheduled= */ true, NULL);
	if (r < 0)
		job_schedule(j, j->interval_ns);
	return 0;
}

void job_schedule(struct job *j, uint64_t delay_ns)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	int r;

	j->due_ns = now + delay_ns;
	if (!j->timer) {
		r = sd_event_add_time(j->m->event, &j->timer, CLOCK_MONOTONIC, j->due_ns / 1000, 1000,
				      on_timer, j);
		if (r < 0) {
			log_error_errno(r, "Cannot schedule job %s: %m", j->name);
			j->due_ns = 0;
		}
		return;
	}
	(void) sd_event_source_set_time(j->timer, j->due_ns / 1000);
	(void) sd_event_source_set_enabled(j->timer, SD_EVENT_ONESHOT);
}

static struct job *job_alloc(struct manager *m, const char *name)
{
	struct job *j = new0(struct job, 1);

	if (!j || !(j->name = strdup(name))) {
		free(j);
		return NULL;
	}
	j->m = m;
	j->next = m->jobs;
	m->jobs = j;
	m->n_jobs++;
	return j;
}

int job_new(struct manager *m, const char *name, pid_t pid, uint64_t start_time, uid_t owner,
	    gid_t owner_gid, const struct job_settings *s, struct job **ret)
{
	struct job *j = job_alloc(m, name);
	int r;

	if (!j)
		return log_oom();
	j->pid = pid;
	j->start_time = start_time;
	j->owner = owner;
	j->owner_gid = owner_gid;
	j->interval_ns = s->interval_ns;
	j->keep = s->keep;
	j->restore_on_boot = s->restore_on_boot;
	j->tcp_close = s->tcp_close;
	j->pipe_close = s->pipe_close;
	j->created_ns = now_ns(CLOCK_REALTIME);
	j->state = JOB_STATE_WATCHING;
	r = job_save(j);
	if (r < 0) {
		job_remove(j);
		return r;
	}
	*ret = j;
	return 0;
}

static void job_free(struct job *j)
{
	sd_event_source_disable_unref(j->timer);
	free(j->name);
	free(j->last_error);
	free(j->log);
	free(j);
}

void job_remove(struct job *j)
{
	struct manager *m = j->m;
	int r;

	for (struct job **p = &m->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	m->n_jobs--;
	r = store_remove_job(m->state_dfd, j->name);
	if (r < 0 && r != -ENOENT)
		log_error_errno(r, "Cannot remove the files of job %s: %m", j->name);
	job_free(j);
}

static int get_i64(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -EBADMSG;
	*ret = json_object_get_int64(v);
	return *ret >= min && *ret <= max ? 0 : -EBADMSG;
}

static int parse_job(json_object *o, struct job *j)
{
	int64_t v[7];
	json_object *x;
	int r = 0;

	r |= get_i64(o, "pid", 1, INT32_MAX, &v[0]);
	r |= get_i64(o, "start_time", 0, INT64_MAX, &v[1]);
	r |= get_i64(o, "owner", 0, UINT32_MAX - 1, &v[2]);
	r |= get_i64(o, "owner_gid", 0, UINT32_MAX - 1, &v[3]);
	r |= get_i64(o, "interval_ns", 1000000000LL, INT64_MAX, &v[4]);
	r |= get_i64(o, "keep", 1, KEEP_MAX, &v[5]);
	r |= get_i64(o, "created_ns", 0, INT64_MAX, &v[6]);
	if (r)
		return -EBADMSG;
	j->pid = (pid_t) v[0];
	j->start_time = (uint64_t) v[1];
	j->owner = (uid_t) v[2];
	j->owner_gid = (gid_t) v[3];
	j->interval_ns = (uint64_t) v[4];
	j->keep = (unsigned) v[5];
	j->created_ns = (uint64_t) v[6];
	j->restore_on_boot = json_object_object_get_ex(o, "restore_on_boot", &x) &&
			     json_object_get_boolean(x);
	j->tcp_close = json_object_object_get_ex(o, "tcp_close", &x) && json_object_get_boolean(x);
	/* Absent in a job.json from before pipe=close: false. */
	j->pipe_close = json_object_object_get_ex(o, "pipe_close", &x) && json_object_get_boolean(x);
	if (json_object_object_get_ex(o, "log", &x) && json_object_is_type(x, json_type_string))
		j->log = strdup(json_object_get_string(x));
	if (json_object_object_get_ex(o, "last_error", &x) &&
	    json_object_is_type(x, json_type_string))
		j->last_error = strdup(json_object_get_string(x));
	return 0;
}

/* Schedules the first snapshot one interval after the newest version, or now. */
static void schedule_after(struct job *j, uint64_t newest_created_ns)
{
	uint64_t now = now_ns(CLOCK_REALTIME), due = newest_created_ns + j->interval_ns;

	job_schedule(j, newest_created_ns && due > now ? due - now : 0);
}

static void load_one(struct manager *m, const char *name)
{
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ char *text = NULL;
	struct store_version newest = {};
	json_object *o;
	struct job *j;
	int r;

	if (!name_is_valid(name) || store_open_job(m->state_dfd, name, false, &dfd) < 0)
		return;
	r = read_full_file_at(dfd, JOB_FILE, JOB_FILE_MAX, &text, NULL);
	o = r >= 0 ? json_tokener_parse(text) : NULL;
	if (!o) {
		log_warning("Job %s has no readable %s; leaving it alone", name, JOB_FILE);
		return;
	}
	j = job_alloc(m, name);
	if (!j || parse_job(o, j) < 0) {
		log_warning("Job %s: %s is malformed; leaving it alone", name, JOB_FILE);
		if (j) {
			m->jobs = j->next;
			m->n_jobs--;
			job_free(j);
		}
		json_object_put(o);
		return;
	}
	json_object_put(o);
	r = store_cleanup(dfd);
	if (r < 0)
		log_warning_errno(r, "Cannot clean up job %s: %m", name);
	job_refresh(j);
	if (!job_process_alive(j)) {
		j->state = JOB_STATE_LOST;
		log_info("%s: pid %d is gone or is another process now", name, (int) j->pid);
		return;
	}
	j->state = JOB_STATE_WATCHING;
	if (j->newest)
		(void) store_version_info(dfd, j->newest, &newest);
	schedule_after(j, newest.created_ns);
	store_version_done(&newest);
}

int job_load_all(struct manager *m)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r;

	r = opendir_at(m->state_dfd, "jobs", O_NOFOLLOW, &d);
	if (r < 0)
		return log_error_errno(r, "Cannot read the jobs directory: %m");
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			load_one(m, de->d_name);
	return 0;
}

json_object *version_to_json(const struct store_version *v)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "number", json_object_new_int64((int64_t) v->number));
	json_object_object_add(o, "created_ns", json_object_new_int64((int64_t) v->created_ns));
	json_object_object_add(o, "size", json_object_new_int64((int64_t) v->size));
	json_object_object_add(o, "pages", json_object_new_int64((int64_t) v->pages));
	json_object_object_add(o, "freeze_ns", json_object_new_int64((int64_t) v->freeze_ns));
	json_object_object_add(o, "wall_ns", json_object_new_int64((int64_t) v->wall_ns));
	json_object_object_add(o, "state", json_object_new_string(v->ok ? "ok" : "damaged"));
	json_object_object_add(o, "reason", v->reason ? json_object_new_string(v->reason) : NULL);
	return o;
}

static json_object *opt_int(bool present, int64_t v)
{
	return present ? json_object_new_int64(v) : NULL;
}

json_object *job_to_json(const struct job *j)
{
	json_object *o = json_object_new_object();
	uint64_t next = 0;

	if (j->due_ns && j->state != JOB_STATE_LOST) {
		uint64_t now = now_ns(CLOCK_MONOTONIC);

		next = now_ns(CLOCK_REALTIME) + (j->due_ns > now ? j->due_ns - now : 0);
	}
	json_object_object_add(o, "name", json_object_new_string(j->name));
	json_object_object_add(o, "pid", json_object_new_int(j->pid));
	json_object_object_add(o, "owner", json_object_new_int64(j->owner));
	json_object_object_add(o, "state", json_object_new_string(job_state_to_string(j->state)));
	json_object_object_add(o, "interval_ns", json_object_new_int64((int64_t) j->interval_ns));
	json_object_object_add(o, "keep", json_object_new_int((int) j->keep));
	json_object_object_add(o, "restore_on_boot", json_object_new_boolean(j->restore_on_boot));
	json_object_object_add(o, "tcp_close", json_object_new_boolean(j->tcp_close));
	json_object_object_add(o, "pipe_close", json_object_new_boolean(j->pipe_close));
	json_object_object_add(o, "versions", json_object_new_int((int) j->n_versions));
	json_object_object_add(o, "newest", opt_int(j->newest != 0, (int64_t) j->newest));
	json_object_object_add(o, "size", json_object_new_int64((int64_t) j->size));
	json_object_object_add(o, "next_snapshot_ns", opt_int(next != 0, (int64_t) next));
	json_object_object_add(o, "last_error",
			       j->last_error ? json_object_new_string(j->last_error) : NULL);
	json_object_object_add(o, "log", j->log ? json_object_new_string(j->log) : NULL);
	return o;
}
