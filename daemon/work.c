// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Work: a snapshot or restore running in a worker. The manager asks the
 * spawner for one (requests are answered in order, each with the worker's
 * result pipe and pidfd), follows its progress, and when it ends updates the
 * job and answers every connection that waits for it. A worker that dies
 * without a result (killed, crashed) is a failed work, nothing more.
 */
#define LOG_PREFIX "work: "

#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "proc.h"
#include "log.h"
#include "util.h"

#define SPAWN_REPLY_MAX 4096
#define WORKER_MESSAGE_MAX (64 * 1024)

static json_object *request_json(const struct work *w)
{
	const struct job *j = w->job;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(w->kind == WORK_KIND_SNAPSHOT
									 ? "snapshot"
									 : "restore"));
	json_object_object_add(o, "job", json_object_new_string(j->name));
	json_object_object_add(o, "pid", json_object_new_int(j->pid));
	json_object_object_add(o, "keep", json_object_new_int((int) j->keep));
	json_object_object_add(o, "owner", json_object_new_int64(j->owner));
	json_object_object_add(o, "owner_gid", json_object_new_int64(j->owner_gid));
	json_object_object_add(o, "version", json_object_new_int64((int64_t) w->version));
	json_object_object_add(o, "scheduled", json_object_new_boolean(w->scheduled));
	json_object_object_add(o, "pidns", json_object_new_boolean(w->pidns));
	json_object_object_add(o, "tcp_close", json_object_new_boolean(j->tcp_close));
	json_object_object_add(o, "pipe_close", json_object_new_boolean(j->pipe_close));
	return o;
}

/* stdio: fds for the worker's restore (attach), or NULL. */
static int start(struct job *j, enum work_kind kind, uint64_t version, bool scheduled, bool pidns,
		 const int *stdio, struct work **ret)
{
	struct manager *m = j->m;
	struct pending_spawn *p;
	struct work *w;
	json_object *req;
	const char *text;
	ssize_t n;

	if (j->work)
		return -EBUSY;
	w = new0(struct work, 1);
	p = new0(struct pending_spawn, 1);
	if (!w || !p) {
		free(w);
		free(p);
		return log_oom();
	}
	w->job = j;
	w->kind = kind;
	w->version = version;
	w->scheduled = scheduled;
	w->pidns = pidns;
	w->fd = w->pidfd = -EBADF;
	varlink_reader_init(&w->reader, WORKER_MESSAGE_MAX);
	req = request_json(w);
	if (stdio)
		json_object_object_add(req, "attach", json_object_new_boolean(true));
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	n = send_with_fds(m->spawner_fd, text, strlen(text), stdio, stdio ? 3 : 0);
	json_object_put(req);
	if (n < 0) {
		int r = log_error_errno((int) n, "Cannot ask for a worker: %m");

		varlink_reader_done(&w->reader);
		free(w);
		free(p);
		return r;
	}
	p->work = w;
	*m->spawns_tail = p;
	m->spawns_tail = &p->next;
	j->work = w;
	j->state = kind == WORK_KIND_SNAPSHOT ? JOB_STATE_SNAPSHOTTING : JOB_STATE_RESTORING;
	if (ret)
		*ret = w;
	return 0;
}

int work_start(struct job *j, enum work_kind kind, uint64_t version, bool scheduled,
	       struct work **ret)
{
	return start(j, kind, version, scheduled, /* pidns= */ false, NULL, ret);
}

int work_start_restore(struct job *j, uint64_t version, bool pidns, int *stdio, struct work **ret)
{
	int r = start(j, WORK_KIND_RESTORE, version, /* scheduled= */ false, pidns, stdio, ret);

	/* The spawner has its own copies now. */
	for (size_t i = 0; stdio && i < 3; i++)
		(void) close(stdio[i]);
	return r;
}

int work_add_waiter(struct work *w, struct connection *c, bool more)
{
	struct waiter *x = new0(struct waiter, 1);

	if (!x)
		return -ENOMEM;
	x->conn = c;
	x->more = more;
	x->next = w->waiters;
	w->waiters = x;
	control_set_waiting(c);
	return 0;
}

void work_drop_connection(struct manager *m, struct connection *c)
{
	for (struct job *j = m->jobs; j; j = j->next) {
		if (!j->work)
			continue;
		for (struct waiter **p = &j->work->waiters; *p;) {
			struct waiter *x = *p;

			if (x->conn == c) {
				*p = x->next;
				free(x);
			} else
				p = &x->next;
		}
	}
}

static void forward_progress(struct work *w, json_object *progress)
{
	for (struct waiter *x = w->waiters; x; x = x->next) {
		json_object *o;

		if (!x->more)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "progress", json_object_get(progress));
		control_reply(x->conn, o, /* continues= */ true);
	}
}

static void read_messages(struct work *w)
{
	const char *msg;
	size_t len;

	while (varlink_reader_next(&w->reader, &msg, &len) > 0) {
		json_object *o = json_tokener_parse(msg), *v;

		if (!o)
			continue;
		if (json_object_object_get_ex(o, "progress", &v))
			forward_progress(w, v);
		else if (json_object_object_get_ex(o, "result", &v) ||
			 json_object_object_get_ex(o, "error", &v)) {
			json_object_put(w->result);
			w->result = json_object_get(o);
		}
		json_object_put(o);
	}
}

static const char *error_message(json_object *result)
{
	json_object *e, *msg;

	if (result && json_object_object_get_ex(result, "error", &e) &&
	    json_object_object_get_ex(e, "message", &msg))
		return json_object_get_string(msg);
	return "the worker ended without a result (killed, or it crashed)";
}

static void set_error(struct job *j, const char *msg)
{
	free(j->last_error);
	j->last_error = msg ? strdup(msg) : NULL;
}

static void finish_snapshot(struct work *w, json_object *result)
{
	struct job *j = w->job;

	j->state = JOB_STATE_WATCHING;
	if (result)
		set_error(j, NULL);
	else {
		set_error(j, error_message(w->result));
		if (!job_process_alive(j))
			j->state = JOB_STATE_LOST;
	}
	if (j->state == JOB_STATE_WATCHING)
		job_schedule(j, j->interval_ns);
}

static void finish_restore(struct work *w, json_object *result)
{
	struct job *j = w->job;
	json_object *v;

	if (!result) {
		set_error(j, error_message(w->result));
		j->state = job_process_alive(j) ? JOB_STATE_WATCHING : JOB_STATE_LOST;
		if (j->state == JOB_STATE_WATCHING)
			job_schedule(j, j->interval_ns);
		return;
	}
	set_error(j, NULL);
	if (json_object_object_get_ex(result, "pid", &v))
		j->pid = json_object_get_int(v);
	(void) proc_start_time(j->pid, &j->start_time);
	/* Attached to a caller's stdio, or with none to stand in for: no log. */
	free(j->log);
	j->log = NULL;
	if (json_object_object_get_ex(result, "log_used", &v) && json_object_get_boolean(v))
		j->log = strdup_printf("%s/jobs/%s/output.log", j->m->cfg->state_dir, j->name);
	j->state = JOB_STATE_WATCHING;
	job_schedule(j, j->interval_ns);
}

static void answer_waiters(struct work *w, json_object *result)
{
	struct job *j = w->job;

	while (w->waiters) {
		struct waiter *x = w->waiters;

		w->waiters = x->next;
		if (result) {
			json_object *o = json_object_new_object();

			if (w->kind == WORK_KIND_SNAPSHOT)
				json_object_object_add(o, "version", json_object_get(result));
			else {
				json_object_object_foreach(result, k, val)
				{
					if (strcmp(k, "log_used") != 0)
						json_object_object_add(o, k, json_object_get(val));
				}
			}
			control_reply(x->conn, o, false);
		} else {
			json_object *p = json_object_new_object();

			json_object_object_add(p, "name", json_object_new_string(j->name));
			control_error_msg(x->conn,
					  w->kind == WORK_KIND_SNAPSHOT ? "io.ckptd.SnapshotFailed"
									: "io.ckptd.RestoreFailed",
					  p, "%s", error_message(w->result));
		}
		control_done_waiting(x->conn);
		free(x);
	}
}

static void work_finish(struct work *w)
{
	struct job *j = w->job;
	json_object *result = NULL;

	read_messages(w);
	if (w->result)
		(void) json_object_object_get_ex(w->result, "result", &result);
	j->work = NULL;
	if (w->kind == WORK_KIND_SNAPSHOT)
		finish_snapshot(w, result);
	else
		finish_restore(w, result);
	if (!result)
		log_error("%s: %s failed: %s", j->name,
			  w->kind == WORK_KIND_SNAPSHOT ? "snapshot" : "restore",
			  error_message(w->result));
	job_refresh(j);
	(void) job_save(j);
	answer_waiters(w, result);
	sd_event_source_disable_unref(w->io);
	sd_event_source_disable_unref(w->exited);
	closep(&w->fd);
	closep(&w->pidfd);
	varlink_reader_done(&w->reader);
	json_object_put(w->result);
	free(w);
}

static int on_result(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct work *w = userdata;
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0) {
		if (varlink_reader_feed(&w->reader, buf, (size_t) n) < 0)
			log_warning("A worker sent an oversized message");
		read_messages(w);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* EOF: the worker is done (its exit follows); stop listening to the pipe. */
	(void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
	return 0;
}

static int on_worker_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct work *w = userdata;
	char buf[16384];
	ssize_t n;

	/* Whatever it wrote last is still in the pipe. */
	while ((n = read(w->fd, buf, sizeof(buf))) > 0)
		(void) varlink_reader_feed(&w->reader, buf, (size_t) n);
	work_finish(w);
	return 0;
}

static void spawn_failed(struct work *w, const char *why)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "message", json_object_new_string(why));
	json_object_object_add(o, "error", e);
	w->result = o;
	work_finish(w);
}

static int attach(struct manager *m, struct work *w, json_object *reply, int *fds, size_t n_fds)
{
	json_object *v;
	int r;

	if (json_object_object_get_ex(reply, "error", &v) || n_fds != 2)
		return -EIO;
	w->fd = fds[0];
	w->pidfd = fds[1];
	(void) fd_set_cloexec_nonblock(w->fd);
	if (json_object_object_get_ex(reply, "pid", &v))
		w->pid = json_object_get_int(v);
	r = sd_event_add_io(m->event, &w->io, w->fd, EPOLLIN, on_result, w);
	if (r >= 0)
		r = sd_event_add_io(m->event, &w->exited, w->pidfd, EPOLLIN, on_worker_exit, w);
	return r;
}

int work_spawner_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	char buf[SPAWN_REPLY_MAX + 1];
	struct pending_spawn *p;
	int fds[PASS_FDS_MAX];
	size_t n_fds = 0;
	json_object *reply;
	ssize_t n;

	n = recv_with_fds(fd, buf, SPAWN_REPLY_MAX, fds, PASS_FDS_MAX, &n_fds);
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n <= 0) {
		log_error("The spawner is gone; stopping");
		return sd_event_exit(m->event, 1);
	}
	buf[n] = 0;
	p = m->spawns;
	if (!p) {
		for (size_t i = 0; i < n_fds; i++)
			(void) close(fds[i]);
		return 0;
	}
	m->spawns = p->next;
	if (!m->spawns)
		m->spawns_tail = &m->spawns;
	reply = json_tokener_parse(buf);
	if (!reply || attach(m, p->work, reply, fds, n_fds) < 0) {
		json_object *e;
		const char *why = "the daemon could not start a worker";

		if (reply && json_object_object_get_ex(reply, "error", &e))
			why = json_object_get_string(e);
		for (size_t i = 0; i < n_fds; i++)
			(void) close(fds[i]);
		p->work->fd = p->work->pidfd = -EBADF;
		spawn_failed(p->work, why);
	}
	json_object_put(reply);
	free(p);
	return 0;
}
