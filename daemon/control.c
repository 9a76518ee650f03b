// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket: connections, their credentials (SO_PEERCRED, taken
 * once at accept), framing, output buffering, and the limits that keep one
 * client from hurting the others: connections per user and in all, message
 * size, output a client does not read, a client that says nothing. One call
 * is handled at a time per connection; a call whose answer comes later
 * (snapshot, restore) holds the connection's later calls until it is done.
 */
#define LOG_PREFIX "control: "

#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static void close_passed_fds(struct connection *c)
{
	for (size_t i = 0; i < c->n_passed_fds; i++)
		(void) close(c->passed_fds[i]);
	c->n_passed_fds = 0;
}

bool control_take_fds(struct connection *c, int fds[CONTROL_PASSED_FDS_MAX])
{
	if (c->n_passed_fds != CONTROL_PASSED_FDS_MAX)
		return false;
	memcpy(fds, c->passed_fds, sizeof(c->passed_fds));
	c->n_passed_fds = 0;
	return true;
}

static void connection_free(struct connection *c)
{
	struct manager *m = c->m;

	for (struct connection **p = &m->connections; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	m->n_connections--;
	work_drop_connection(m, c);
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->idle);
	closep(&c->fd);
	varlink_reader_done(&c->reader);
	close_passed_fds(c);
	free(c->out);
	free(c);
}

static unsigned connections_of(struct manager *m, uid_t uid)
{
	unsigned n = 0;

	for (struct connection *c = m->connections; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static void update_events(struct connection *c)
{
	uint32_t ev = EPOLLRDHUP;

	/* Calls pipelined behind a pending one wait in the socket, not in our memory. */
	if (!c->closing && !c->waiting)
		ev |= EPOLLIN;
	/* A closing connection wakes up once writable, to be freed outside any caller. */
	if (c->out_sent < c->out_len || c->closing)
		ev |= EPOLLOUT;
	(void) sd_event_source_set_io_events(c->io, ev);
}

/* Writes what the socket takes now; the rest waits for EPOLLOUT. */
static int flush(struct connection *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		c->out_sent += (size_t) n;
	}
	if (c->out_sent == c->out_len) {
		c->out_sent = c->out_len = 0;
		if (c->closing)
			return -ECONNRESET;
	}
	update_events(c);
	return 0;
}

void control_send(struct connection *c, char *msg, size_t len)
{
	if (c->oneway) {
		free(msg);
		return;
	}
	if (c->out_len - c->out_sent + len > OUTPUT_MAX) {
		log_warning("A client of uid %u reads too slowly; closing it", (unsigned) c->uid);
		free(msg);
		c->closing = true;
		c->out_len = c->out_sent = 0;
		update_events(c);
		return;
	}
	if (c->out_sent) {
		memmove(c->out, c->out + c->out_sent, c->out_len - c->out_sent);
		c->out_len -= c->out_sent;
		c->out_sent = 0;
	}
	if (c->out_len + len > 0) {
		char *p = realloc(c->out, c->out_len + len);

		if (!p) {
			free(msg);
			c->closing = true;
			return;
		}
		c->out = p;
	}
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
	free(msg);
	if (flush(c) < 0)
		c->closing = true;
	update_events(c);
}

void control_reply(struct connection *c, json_object *params, bool continues)
{
	char *msg;
	size_t len;

	if (varlink_format_reply(params, continues, &msg, &len) < 0) {
		c->closing = true;
		return;
	}
	control_send(c, msg, len);
}

void control_error(struct connection *c, const char *error, json_object *params)
{
	char *msg;
	size_t len;

	if (varlink_format_error(error, params ? params : json_object_new_object(), &msg, &len) <
	    0) {
		c->closing = true;
		return;
	}
	control_send(c, msg, len);
}

void control_error_msg(struct connection *c, const char *error, json_object *params,
		       const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!params)
		params = json_object_new_object();
	json_object_object_add(params, "message", json_object_new_string(buf));
	control_error(c, error, params);
}

static void handle_messages(struct connection *c);

void control_set_waiting(struct connection *c)
{
	c->waiting = true;
	update_events(c);
}

void control_done_waiting(struct connection *c)
{
	c->waiting = false;
	update_events(c);
	/* Calls that arrived meanwhile are next. */
	handle_messages(c);
}

static void handle_one(struct connection *c, const char *msg, size_t len)
{
	struct varlink_call call = {};
	const char *reason = NULL;

	if (varlink_call_parse(msg, len, &call, &reason) < 0) {
		control_error_msg(c, "io.ckptd.InvalidRequest", NULL,
				  "The message is not a valid varlink call: %s",
				  reason ? reason : "malformed");
		return;
	}
	c->oneway = call.oneway;
	methods_dispatch(c, &call);
	c->oneway = false;
	varlink_call_done(&call);
}

/* Fds go with one call only: what the call handled did not take is closed. */
static void handle_one_closing_fds(struct connection *c, const char *msg, size_t len)
{
	handle_one(c, msg, len);
	close_passed_fds(c);
}

static void handle_messages(struct connection *c)
{
	const char *msg;
	size_t len;

	while (!c->waiting && !c->closing && varlink_reader_next(&c->reader, &msg, &len) > 0)
		handle_one_closing_fds(c, msg, len);
}

static void reset_idle(struct connection *c)
{
	(void) sd_event_source_set_time_relative(c->idle, IDLE_TIMEOUT_NS / 1000);
	(void) sd_event_source_set_enabled(c->idle, SD_EVENT_ONESHOT);
}

/*
 * Reads what the client sent and the fds that came with it. A read ends
 * with the bytes the fds were sent with, so they belong to the next call
 * handled when the client pipelines nothing before it and sends the call
 * whole with them (protocol.md asks exactly that).
 */
static ssize_t receive(struct connection *c, char *buf, size_t size)
{
	int fds[CONTROL_PASSED_FDS_MAX];
	size_t n_fds = 0;
	ssize_t n = recv_with_fds(c->fd, buf, size, fds, CONTROL_PASSED_FDS_MAX, &n_fds);

	if (n_fds) {
		close_passed_fds(c); /* none left by now; never leak one */
		memcpy(c->passed_fds, fds, n_fds * sizeof(int));
		c->n_passed_fds = n_fds;
	}
	return n;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct connection *c = userdata;
	char buf[16384];

	if (revents & EPOLLOUT && flush(c) < 0) {
		connection_free(c);
		return 0;
	}
	if (revents & EPOLLIN && !c->closing) {
		ssize_t n = receive(c, buf, sizeof(buf));

		if (n == -EPROTO) {
			log_warning("A client of uid %u sent more than %u fds with a call; closing it",
				    (unsigned) c->uid, CONTROL_PASSED_FDS_MAX);
			connection_free(c);
			return 0;
		}
		if (n > 0) {
			reset_idle(c);
			if (varlink_reader_feed(&c->reader, buf, (size_t) n) < 0) {
				log_warning("A client of uid %u sent a message over %u bytes; closing "
					    "it",
					    (unsigned) c->uid, VARLINK_CALL_MAX);
				connection_free(c);
				return 0;
			}
			handle_messages(c);
			/*
			 * Fds go with a call that arrived whole with them; none wait
			 * for later bytes, so a client cannot make us hold fds.
			 */
			close_passed_fds(c);
		} else if (n == 0 || (n != -EAGAIN && n != -EINTR)) {
			connection_free(c);
			return 0;
		}
	}
	if (revents & (EPOLLHUP | EPOLLERR) ||
	    (revents & EPOLLRDHUP && !(revents & EPOLLIN))) {
		connection_free(c);
		return 0;
	}
	if (c->closing && c->out_sent == c->out_len)
		connection_free(c);
	return 0;
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct connection *c = userdata;

	if (c->waiting) {
		reset_idle(c); /* a long snapshot is not idleness */
		return 0;
	}
	log_debug("Closing a connection of uid %u that said nothing", (unsigned) c->uid);
	connection_free(c);
	return 0;
}

/* Refuses with a reply when a limit is reached; the connection is closed after. */
static bool over_limit(struct connection *c)
{
	struct manager *m = c->m;
	json_object *p;
	unsigned limit;
	const char *what;

	if (m->n_connections > CONNECTIONS_MAX) {
		what = "connections";
		limit = CONNECTIONS_MAX;
	} else if (connections_of(m, c->uid) > CONNECTIONS_PER_USER) {
		what = "connections per user";
		limit = CONNECTIONS_PER_USER;
	} else
		return false;
	p = json_object_new_object();
	json_object_object_add(p, "what", json_object_new_string(what));
	json_object_object_add(p, "limit", json_object_new_int((int) limit));
	control_error_msg(c, "io.ckptd.LimitReached", p,
			  "Too many connections to ckptd (at most %u %s); close some and retry",
			  limit, what);
	c->closing = true;
	return true;
}

static int add_connection(struct manager *m, int fd)
{
	struct connection *c = new0(struct connection, 1);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	if (!c) {
		(void) close(fd);
		return -ENOMEM;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		(void) close(fd);
		free(c);
		return -errno;
	}
	c->m = m;
	c->fd = fd;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	varlink_reader_init(&c->reader, VARLINK_CALL_MAX);
	c->next = m->connections;
	m->connections = c;
	m->n_connections++;
	r = sd_event_add_io(m->event, &c->io, fd, EPOLLIN | EPOLLRDHUP, on_io, c);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &c->idle, CLOCK_MONOTONIC,
					       IDLE_TIMEOUT_NS / 1000, 0, on_idle, c);
	if (r < 0) {
		connection_free(c);
		return r;
	}
	(void) over_limit(c);
	return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning_errno(-errno, "accept failed: %m");
			return 0;
		}
		(void) add_connection(m, cfd);
	}
}

int control_listen(struct manager *m)
{
	int r = sd_event_add_io(m->event, &m->listen_io, m->listen_fd, EPOLLIN, on_accept, m);

	if (r < 0)
		return log_error_errno(r, "Cannot watch the control socket: %m");
	return 0;
}

void control_close_all(struct manager *m)
{
	while (m->connections)
		connection_free(m->connections);
}
