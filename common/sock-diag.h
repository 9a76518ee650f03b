/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unix sockets as NETLINK_SOCK_DIAG reports them: who is connected to whom,
 * shutdown state and queue lengths. The parser takes the bytes of a dump
 * reply and trusts nothing in them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unix_sock_info {
	uint64_t ino;
	uint64_t peer;	   /* the connected socket's inode, 0: none */
	uint32_t type;	   /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state;	   /* TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE */
	uint32_t shutdown; /* RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2, as sk_shutdown */
	uint32_t rqueue;   /* bytes (stream) or messages (datagram) queued to read; a
			    * listening socket: connections not accepted yet */
	uint32_t wqueue;   /* a listening socket: its backlog */
	bool named;	   /* bound to a path or an abstract name it chose */
	char name[109];	   /* the path, or "@" and an abstract name; "" unnamed */
	bool autobound;	   /* given an abstract name by the kernel (SO_PASSCRED, autobind) */
};

/*
 * Appends the sockets of one netlink reply buffer to *list; 1 when the dump
 * is done (NLMSG_DONE), 0 when more replies follow, -EBADMSG if malformed,
 * the kernel's -errno on NLMSG_ERROR.
 */
int sock_diag_parse_unix(const void *buf, size_t len, struct unix_sock_info **list, size_t *n,
			 size_t *allocated);
/* Every unix socket of the caller's network namespace. */
int sock_diag_list_unix(struct unix_sock_info **ret, size_t *ret_n);
const struct unix_sock_info *sock_diag_find(const struct unix_sock_info *list, size_t n,
					    uint64_t ino);
