/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The varlink protocol as ckptd speaks it: JSON messages ended by a NUL byte
 * on a stream socket. Framing, parsing a call (untrusted input: every type
 * and length checked), formatting replies and errors, typed parameter
 * access for method implementations, and a small blocking client.
 * The io.ckptd interface itself is in io.ckptd.varlink.
 */
#pragma once

#include <json-c/json.h>

#include "macro.h"

#define VARLINK_CALL_MAX (64 * 1024)   /* a request larger than this is refused */
#define VARLINK_REPLY_MAX (16u << 20)  /* what the client accepts */

/* The text of io.ckptd.varlink, for org.varlink.service.GetInterfaceDescription. */
extern const char varlink_ckptd_interface[];

/*
 * Bytes from a peer, cut into messages at NUL bytes. It holds at most what
 * was fed and not yet taken with next(), and never more than 4 * max: take
 * every complete message after each feed, or stop reading while busy.
 */
struct varlink_reader {
	char *buf;
	size_t len, allocated;
	size_t start; /* where the next unreturned message begins */
	size_t tail;  /* where the incomplete message after the last NUL begins */
	size_t max;   /* longest message accepted */
};

void varlink_reader_init(struct varlink_reader *r, size_t max);
void varlink_reader_done(struct varlink_reader *r);
/* -E2BIG when a message grows past max before its NUL, or 4 * max are held. */
int varlink_reader_feed(struct varlink_reader *r, const void *p, size_t n);
/*
 * 1 and the next complete message (NUL-terminated, the NUL not counted),
 * valid until the next feed; 0 when none is complete yet.
 */
int varlink_reader_next(struct varlink_reader *r, const char **ret_msg, size_t *ret_len);

struct varlink_call {
	char *method;		 /* "io.ckptd.Watch" */
	json_object *parameters; /* always an object ({} when absent); owned */
	bool more, oneway;
};

/*
 * Parses one request. -EBADMSG when it is not a valid varlink call; then
 * *ret_reason says why (for org.varlink.service.InvalidParameter or a
 * protocol error).
 */
int varlink_call_parse(const char *msg, size_t len, struct varlink_call *ret,
		       const char **ret_reason);
void varlink_call_done(struct varlink_call *c);

/* Serialised messages ending in their NUL (counted in *ret_len); params is taken over. */
int varlink_format_reply(json_object *params, bool continues, char **ret, size_t *ret_len);
int varlink_format_error(const char *error, json_object *params, char **ret, size_t *ret_len);
int varlink_format_call(const char *method, json_object *params, bool more, char **ret,
			size_t *ret_len);

/*
 * Typed parameters. Each returns 1 and the value when present and valid, 0
 * when absent and not required, and -EINVAL when absent but required, of
 * the wrong type, or out of range. A string longer than max_len or holding
 * a NUL is -ERANGE, so a caller can tell a bad value from a malformed call.
 */
int varlink_param_string(json_object *params, const char *name, bool required, size_t max_len,
			 const char **ret);
int varlink_param_int(json_object *params, const char *name, bool required, int64_t min,
		      int64_t max, int64_t *ret);
int varlink_param_bool(json_object *params, const char *name, bool required, bool *ret);
/* -EINVAL and the first unknown name when params holds a member not in allowed (NULL-ended). */
int varlink_params_only(json_object *params, const char *const *allowed, const char **ret_unknown);

/* ---- client ---- */

int varlink_connect(const char *path, int *ret_fd);

struct varlink_reply {
	json_object *parameters; /* {} when absent */
	const char *error;	 /* NULL unless an error reply */
	bool continues;
};

/*
 * Sends one call and hands each reply to on_reply until one without
 * "continues" (or an error) arrives. on_reply returning < 0 stops. -EPROTO
 * for a malformed reply, -ECONNRESET if the daemon hung up.
 * params is borrowed (NULL for {}); a reply is valid during on_reply only.
 * 0 after a final reply, -EREMOTE after an error reply (which on_reply saw),
 * -E2BIG for a reply over VARLINK_REPLY_MAX.
 */
int varlink_client_call(int fd, const char *method, json_object *params, bool more,
			int (*on_reply)(const struct varlink_reply *r, void *userdata),
			void *userdata);
/* The same, passing fds (SCM_RIGHTS) with the call's first bytes. */
int varlink_client_call_fds(int fd, const char *method, json_object *params, bool more,
			    const int *fds, size_t n_fds,
			    int (*on_reply)(const struct varlink_reply *r, void *userdata),
			    void *userdata);
