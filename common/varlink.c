// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * varlink as ckptd speaks it: NUL-framed JSON on a stream socket. The reader,
 * the call parser and the formatters run inside the daemon's event loop on
 * untrusted bytes, so they never block, never log, and allocate only within
 * the limits they are given. The client at the end is the only blocking code.
 */
#include <assert.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"
#include "varlink.h"

/* Deeper than any message of io.ckptd needs (a reply's jobs are 5 levels). */
#define VARLINK_JSON_DEPTH 32
#define VARLINK_NAME_MAX 256
#define READER_KEEP (16 * 1024)

/* json_object_put() returns an int; the cleanup macro wants the NULL-returning kind. */
static json_object *json_object_unref(json_object *o)
{
	(void) json_object_put(o);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_unref)

#define _cleanup_json_ _cleanup_(json_object_unrefp)

/* ---- framing ---- */

void varlink_reader_init(struct varlink_reader *r, size_t max)
{
	*r = (struct varlink_reader){ .max = max };
}

void varlink_reader_done(struct varlink_reader *r)
{
	free(r->buf);
	*r = (struct varlink_reader){ .max = r->max };
}

static size_t reader_hold_max(const struct varlink_reader *r)
{
	return r->max > SIZE_MAX / 4 - 1 ? SIZE_MAX - 1 : r->max * 4;
}

int varlink_reader_feed(struct varlink_reader *r, const void *p, size_t n)
{
	const char *data = p, *nul;
	size_t pending, last_nul = SIZE_MAX;

	if (n == 0)
		return 0;

	/*
	 * Messages handed out by next() are dead once we are fed again: move
	 * what is left to the front. Done only when something was taken, so a
	 * large message arriving in small pieces is never copied twice.
	 */
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->tail -= r->start;
		r->start = 0;
	}
	/* An idle connection should not keep what its largest message needed. */
	if (r->len == 0 && r->allocated > READER_KEEP) {
		free(r->buf);
		r->buf = NULL;
		r->allocated = 0;
	}

	/* Every message completed by these bytes must fit, and so must the rest. */
	pending = r->len - r->tail;
	for (size_t off = 0; off < n;) {
		nul = memchr(data + off, 0, n - off);
		if (!nul)
			break;
		if ((size_t) (nul - (data + off)) > r->max - pending)
			return -E2BIG;
		pending = 0;
		last_nul = (size_t) (nul - data);
		off = last_nul + 1;
	}
	if (last_nul == SIZE_MAX) {
		if (n > r->max - pending)
			return -E2BIG;
	} else if (n - last_nul - 1 > r->max)
		return -E2BIG;
	if (n > reader_hold_max(r) || r->len > reader_hold_max(r) - n)
		return -E2BIG;

	if (r->len + n > r->allocated) {
		size_t want = MAX(r->allocated, (size_t) 4096);
		char *b;

		while (want < r->len + n)
			want = want > SIZE_MAX / 2 ? r->len + n : want * 2;
		b = realloc(r->buf, want);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->allocated = want;
	}
	memcpy(r->buf + r->len, data, n);
	if (last_nul != SIZE_MAX)
		r->tail = r->len + last_nul + 1;
	r->len += n;
	return 0;
}

int varlink_reader_next(struct varlink_reader *r, const char **ret_msg, size_t *ret_len)
{
	const char *m, *nul;

	if (r->start >= r->tail)
		return 0;
	m = r->buf + r->start;
	/* There is a NUL before tail: tail is just after the last one seen. */
	nul = memchr(m, 0, r->tail - r->start);
	assert(nul);
	*ret_msg = m;
	*ret_len = (size_t) (nul - m);
	r->start += (size_t) (nul - m) + 1;
	return 1;
}

/* ---- names ---- */

/*
 * An interface name as the varlink spec has it: lower-case reverse-domain,
 * at least two labels of [a-z0-9-], each starting and ending with a letter
 * or digit, the first with a letter.
 */
static bool interface_name_is_valid(const char *s, size_t n)
{
	size_t labels = 0, i = 0;

	while (i < n) {
		size_t begin = i;

		while (i < n && s[i] != '.') {
			char c = s[i];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
				return false;
			i++;
		}
		if (i == begin || s[begin] == '-' || s[i - 1] == '-')
			return false;
		if (labels == 0 && !(s[begin] >= 'a' && s[begin] <= 'z'))
			return false;
		labels++;
		if (i < n) {
			i++; /* the dot */
			if (i == n)
				return false;
		}
	}
	return labels >= 2;
}

/* "io.ckptd.Watch", "io.ckptd.NoSuchJob": an interface, a dot, [A-Z][A-Za-z0-9]*. */
static bool qualified_name_is_valid(const char *s, size_t n)
{
	const char *dot;

	if (n == 0 || n > VARLINK_NAME_MAX || memchr(s, 0, n))
		return false;
	dot = memrchr(s, '.', n);
	if (!dot || dot + 1 == s + n)
		return false;
	if (!(dot[1] >= 'A' && dot[1] <= 'Z'))
		return false;
	for (const char *c = dot + 2; c < s + n; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9')))
			return false;
	return interface_name_is_valid(s, (size_t) (dot - s));
}

/* ---- parsing ---- */

/* One JSON object filling all of msg[0..len), or -EBADMSG and why. */
static int json_parse_object(const char *msg, size_t len, size_t max, json_object **ret,
			     const char **ret_reason)
{
	struct json_tokener *tok;
	json_object *o;
	enum json_tokener_error e;
	size_t end;

	if (len == 0) {
		*ret_reason = "the message is empty";
		return -EBADMSG;
	}
	if (len > max || len > INT32_MAX) {
		*ret_reason = "the message is too long";
		return -EBADMSG;
	}
	/* Framing cuts at NUL, but a caller may hand us anything. */
	if (memchr(msg, 0, len)) {
		*ret_reason = "the message contains a NUL byte";
		return -EBADMSG;
	}

	/*
	 * Only an object will do. Saying so before json-c looks also spares us
	 * its answer to a bare "null" or "1", which is "give me more".
	 */
	for (size_t i = 0; i < len && msg[i] != '{'; i++)
		if (!strchr(" \t\r\n", msg[i])) {
			*ret_reason = "the message is not a JSON object";
			return -EBADMSG;
		}

	tok = json_tokener_new_ex(VARLINK_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	/* Trailing bytes are allowed here only to be refused below with a clearer reason. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
					    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, msg, (int) len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (!o || e != json_tokener_success) {
		(void) json_object_put(o);
		/* json-c's enum, not ours: an if chain rather than a switch without default. */
		if (e == json_tokener_error_depth)
			*ret_reason = "the message is nested too deeply";
		else if (e == json_tokener_error_parse_utf8_string)
			*ret_reason = "the message is not valid UTF-8";
		else if (e == json_tokener_continue)
			*ret_reason = "the message ends in the middle of its JSON";
		else
			*ret_reason = "the message is not valid JSON";
		return -EBADMSG;
	}
	if (end != len) {
		(void) json_object_put(o);
		*ret_reason = "the message has bytes after its JSON object";
		return -EBADMSG;
	}
	if (!json_object_is_type(o, json_type_object)) {
		(void) json_object_put(o);
		*ret_reason = "the message is not a JSON object";
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

int varlink_call_parse(const char *msg, size_t len, struct varlink_call *ret,
		       const char **ret_reason)
{
	_cleanup_json_ json_object *root = NULL;
	json_object *method = NULL, *params = NULL, *more = NULL, *oneway = NULL;
	const char *reason = NULL;
	char *m;
	int r;

	r = json_parse_object(msg, len, VARLINK_CALL_MAX, &root, &reason);
	if (r < 0)
		goto fail;

	{
		json_object_object_foreach(root, key, value)
		{
			if (strcmp(key, "method") == 0)
				method = value;
			else if (strcmp(key, "parameters") == 0)
				params = value;
			else if (strcmp(key, "more") == 0)
				more = value;
			else if (strcmp(key, "oneway") == 0)
				oneway = value;
			else {
				reason = "the call has a member other than method, parameters, "
					 "more and oneway";
				r = -EBADMSG;
				goto fail;
			}
		}
	}

	r = -EBADMSG;
	if (!json_object_object_get_ex(root, "method", NULL)) {
		reason = "\"method\" is missing";
		goto fail;
	}
	if (!json_object_is_type(method, json_type_string)) {
		reason = "\"method\" is not a string";
		goto fail;
	}
	if ((size_t) json_object_get_string_len(method) > VARLINK_NAME_MAX) {
		reason = "\"method\" is longer than 256 bytes";
		goto fail;
	}
	if (!qualified_name_is_valid(json_object_get_string(method),
				     (size_t) json_object_get_string_len(method))) {
		reason = "\"method\" is not of the form interface.Method";
		goto fail;
	}
	/* json-c turns a JSON null member into a NULL value. */
	if (json_object_object_get_ex(root, "parameters", NULL) &&
	    !json_object_is_type(params, json_type_object)) {
		reason = "\"parameters\" is not an object";
		goto fail;
	}
	if (json_object_object_get_ex(root, "more", NULL) &&
	    !json_object_is_type(more, json_type_boolean)) {
		reason = "\"more\" is not a boolean";
		goto fail;
	}
	if (json_object_object_get_ex(root, "oneway", NULL) &&
	    !json_object_is_type(oneway, json_type_boolean)) {
		reason = "\"oneway\" is not a boolean";
		goto fail;
	}
	if (more && oneway && json_object_get_boolean(more) && json_object_get_boolean(oneway)) {
		reason = "\"more\" and \"oneway\" cannot both be true";
		goto fail;
	}

	m = strdup(json_object_get_string(method));
	if (!m)
		return -ENOMEM;
	if (params)
		params = json_object_get(params);
	else {
		params = json_object_new_object();
		if (!params) {
			free(m);
			return -ENOMEM;
		}
	}
	*ret = (struct varlink_call){
		.method = m,
		.parameters = params,
		.more = more && json_object_get_boolean(more),
		.oneway = oneway && json_object_get_boolean(oneway),
	};
	return 0;

fail:
	if (r == -EBADMSG && ret_reason)
		*ret_reason = reason;
	return r;
}

void varlink_call_done(struct varlink_call *c)
{
	free(c->method);
	(void) json_object_put(c->parameters);
	*c = (struct varlink_call){};
}

/* ---- formatting ---- */

/* Serialises o (taken over) and appends the NUL. */
static int format_message(json_object *o, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_object *msg = o;
	const char *s;
	size_t n;
	char *buf;

	s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		return -ENOMEM;
	if (n >= VARLINK_REPLY_MAX)
		return -E2BIG;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s, n);
	buf[n] = 0;
	*ret = buf;
	*ret_len = n + 1;
	return 0;
}

/* Adds key: value to o, taking value over in all cases. */
static int object_add(json_object *o, const char *key, json_object *value)
{
	if (!value)
		return -ENOMEM;
	if (json_object_object_add(o, key, value) < 0) {
		(void) json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

/* {"parameters": params} with params taken over; NULL means {}. */
static int message_new(json_object *params, json_object **ret)
{
	_cleanup_json_ json_object *p = params, *o = NULL;
	int r;

	if (p && !json_object_is_type(p, json_type_object))
		return -EINVAL;
	if (!p) {
		p = json_object_new_object();
		if (!p)
			return -ENOMEM;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = object_add(o, "parameters", TAKE_PTR(p));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int varlink_format_reply(json_object *params, bool continues, char **ret, size_t *ret_len)
{
	json_object *o;
	int r;

	r = message_new(params, &o);
	if (r < 0)
		return r;
	if (continues) {
		r = object_add(o, "continues", json_object_new_boolean(1));
		if (r < 0) {
			(void) json_object_put(o);
			return r;
		}
	}
	return format_message(o, ret, ret_len);
}

int varlink_format_error(const char *error, json_object *params, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_object *o = NULL;
	int r;

	if (!error || !qualified_name_is_valid(error, strlen(error))) {
		(void) json_object_put(params);
		return -EINVAL;
	}
	o = json_object_new_object();
	if (!o) {
		(void) json_object_put(params);
		return -ENOMEM;
	}
	/* "error" first: a reader of the raw bytes sees what happened before the details. */
	r = object_add(o, "error", json_object_new_string(error));
	if (r < 0) {
		(void) json_object_put(params);
		return r;
	}
	if (params && !json_object_is_type(params, json_type_object)) {
		(void) json_object_put(params);
		return -EINVAL;
	}
	r = object_add(o, "parameters", params ? params : json_object_new_object());
	if (r < 0)
		return r;
	return format_message(TAKE_PTR(o), ret, ret_len);
}

int varlink_format_call(const char *method, json_object *params, bool more, char **ret,
			size_t *ret_len)
{
	_cleanup_json_ json_object *o = NULL;
	int r;

	if (!method || !qualified_name_is_valid(method, strlen(method)) ||
	    (params && !json_object_is_type(params, json_type_object))) {
		(void) json_object_put(params);
		return -EINVAL;
	}
	o = json_object_new_object();
	if (!o) {
		(void) json_object_put(params);
		return -ENOMEM;
	}
	r = object_add(o, "method", json_object_new_string(method));
	if (r < 0) {
		(void) json_object_put(params);
		return r;
	}
	r = object_add(o, "parameters", params ? params : json_object_new_object());
	if (r < 0)
		return r;
	if (more) {
		r = object_add(o, "more", json_object_new_boolean(1));
		if (r < 0)
			return r;
	}
	return format_message(TAKE_PTR(o), ret, ret_len);
}

/* ---- typed parameters ---- */

/* The member, or NULL when absent or null: varlink sends null for an unset ?type. */
static json_object *param_get(json_object *params, const char *name)
{
	json_object *v = NULL;

	if (!params || !json_object_is_type(params, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(params, name, &v))
		return NULL;
	return v;
}

int varlink_param_string(json_object *params, const char *name, bool required, size_t max_len,
			 const char **ret)
{
	json_object *v = param_get(params, name);
	size_t n;

	if (!v)
		return required ? -EINVAL : 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	n = (size_t) json_object_get_string_len(v);
	/* "\u0000" decodes to a NUL that would cut the string short in C. */
	if (n > max_len || memchr(json_object_get_string(v), 0, n))
		return -ERANGE;
	*ret = json_object_get_string(v);
	return 1;
}

int varlink_param_int(json_object *params, const char *name, bool required, int64_t min,
		      int64_t max, int64_t *ret)
{
	json_object *v = param_get(params, name);
	int64_t i;

	if (!v)
		return required ? -EINVAL : 0;
	/* Integers only: 1.0 and 1e3 are doubles and refused, as are booleans. */
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	i = json_object_get_int64(v);
	/* json-c keeps values past INT64_MAX as uint64 and clamps them here. */
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t) INT64_MAX)
		return -EINVAL;
	if (i < min || i > max)
		return -EINVAL;
	*ret = i;
	return 1;
}

int varlink_param_bool(json_object *params, const char *name, bool required, bool *ret)
{
	json_object *v = param_get(params, name);

	if (!v)
		return required ? -EINVAL : 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*ret = json_object_get_boolean(v);
	return 1;
}

int varlink_params_only(json_object *params, const char *const *allowed, const char **ret_unknown)
{
	if (!params)
		return 0;
	if (!json_object_is_type(params, json_type_object))
		return -EINVAL;

	json_object_object_foreach(params, key, value)
	{
		bool found = false;

		(void) value;
		for (const char *const *a = allowed; a && *a; a++)
			if (strcmp(key, *a) == 0) {
				found = true;
				break;
			}
		if (!found) {
			if (ret_unknown)
				*ret_unknown = key;
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- client ---- */

int varlink_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;
	size_t n;
	socklen_t salen;

	if (!path || !*path)
		return -EINVAL;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n);
	salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
	/* "@name" is a socket in the abstract namespace, as systemd spells it. */
	if (path[0] == '@') {
		sa.sun_path[0] = 0;
		salen--;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *) &sa, salen) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int error = 0;
		socklen_t len = sizeof(error);

		if (errno != EINTR && errno != EINPROGRESS)
			return -errno;
		/* Interrupted: the connection goes on in the background; wait for its outcome. */
		while (poll(&p, 1, -1) < 0)
			if (errno != EINTR)
				return -errno;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
			return -errno;
		if (error != 0)
			return -error;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A peer that closed must give an error, not a SIGPIPE that kills the client. */
static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* A reply: only "parameters" (an object), "continues" (a boolean), "error" (a name). */
static int reply_parse(const char *msg, size_t len, json_object **ret_root,
		       struct varlink_reply *ret)
{
	_cleanup_json_ json_object *root = NULL;
	json_object *params = NULL, *continues = NULL, *error = NULL;
	const char *reason;

	if (json_parse_object(msg, len, VARLINK_REPLY_MAX, &root, &reason) < 0)
		return -EPROTO;
	{
		json_object_object_foreach(root, key, value)
		{
			if (strcmp(key, "parameters") == 0)
				params = value;
			else if (strcmp(key, "continues") == 0)
				continues = value;
			else if (strcmp(key, "error") == 0)
				error = value;
			else
				return -EPROTO;
		}
	}
	if (json_object_object_get_ex(root, "parameters", NULL) &&
	    !json_object_is_type(params, json_type_object))
		return -EPROTO;
	if (json_object_object_get_ex(root, "continues", NULL) &&
	    !json_object_is_type(continues, json_type_boolean))
		return -EPROTO;
	if (json_object_object_get_ex(root, "error", NULL) &&
	    (!json_object_is_type(error, json_type_string) ||
	     !qualified_name_is_valid(json_object_get_string(error),
				      (size_t) json_object_get_string_len(error))))
		return -EPROTO;
	if (!params) {
		params = json_object_new_object();
		if (!params || json_object_object_add(root, "parameters", params) < 0) {
			(void) json_object_put(params);
			return -ENOMEM;
		}
	}
	*ret = (struct varlink_reply){
		.parameters = params,
		.error = error ? json_object_get_string(error) : NULL,
		.continues = continues && json_object_get_boolean(continues),
	};
	*ret_root = TAKE_PTR(root);
	return 0;
}

int varlink_client_call(int fd, const char *method, json_object *params, bool more,
			int (*on_reply)(const struct varlink_reply *r, void *userdata),
			void *userdata)
{
	return varlink_client_call_fds(fd, method, params, more, NULL, 0, on_reply, userdata);
}

/* The fds ride on the call's first bytes, so the daemon gets them with this call. */
static int send_call(int fd, const char *call, size_t len, const int *fds, size_t n_fds)
{
	ssize_t n = 0;

	if (n_fds) {
		n = send_with_fds(fd, call, len, fds, n_fds);
		if (n < 0)
			return (int) n;
	}
	return send_all(fd, call + n, len - (size_t) n);
}

int varlink_client_call_fds(int fd, const char *method, json_object *params, bool more,
			    const int *fds, size_t n_fds,
			    int (*on_reply)(const struct varlink_reply *r, void *userdata),
			    void *userdata)
{
	_cleanup_free_ char *call = NULL, *chunk = NULL;
	struct varlink_reader reader;
	size_t len;
	int r;

	r = varlink_format_call(method, params ? json_object_get(params) : NULL, more, &call, &len);
	if (r < 0)
		return r;
	r = send_call(fd, call, len, fds, n_fds);
	if (r < 0)
		return r;

	chunk = malloc(VARLINK_CALL_MAX);
	if (!chunk)
		return -ENOMEM;
	varlink_reader_init(&reader, VARLINK_REPLY_MAX);
	for (;;) {
		const char *msg;
		size_t n;
		ssize_t k;

		while ((r = varlink_reader_next(&reader, &msg, &n)) > 0) {
			_cleanup_json_ json_object *root = NULL;
			struct varlink_reply reply;

			r = reply_parse(msg, n, &root, &reply);
			if (r < 0)
				goto finish;
			/* Only a call with "more" may be answered more than once. */
			if (reply.continues && !more && !reply.error) {
				r = -EPROTO;
				goto finish;
			}
			r = on_reply(&reply, userdata);
			if (r < 0)
				goto finish;
			if (reply.error) {
				r = -EREMOTE;
				goto finish;
			}
			if (!reply.continues) {
				r = 0;
				goto finish;
			}
		}

		k = read(fd, chunk, VARLINK_CALL_MAX);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto finish;
		}
		if (k == 0) {
			r = -ECONNRESET;
			goto finish;
		}
		r = varlink_reader_feed(&reader, chunk, (size_t) k);
		if (r < 0)
			goto finish;
	}

finish:
	varlink_reader_done(&reader);
	return r;
}
