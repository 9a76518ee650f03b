// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unix sockets through NETLINK_SOCK_DIAG (UNIX_DIAG_PEER and friends): the
 * one place the kernel says which socket another is connected to. Replies
 * are parsed as untrusted bytes; every length is checked before use.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock-diag.h"
#include "util.h"

/* The kernel's autobind name: an abstract "\0" and five hex digits, nobody's choice. */
static bool autobind_name(const uint8_t *p, size_t len)
{
	if (len != 6 || p[0] != 0)
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* A path ends at its NUL; an abstract name (leading NUL) is all its bytes, shown with "@". */
static void copy_name(struct unix_sock_info *u, const uint8_t *data, size_t len)
{
	size_t n = MIN(len, sizeof(u->name) - 1);

	memset(u->name, 0, sizeof(u->name));
	if (n > 0 && data[0] == 0) {
		u->name[0] = '@';
		memcpy(u->name + 1, data + 1, n - 1);
	} else
		memcpy(u->name, data, strnlen((const char *) data, n));
}

static int parse_attrs(const uint8_t *p, size_t len, struct unix_sock_info *u)
{
	while (len >= sizeof(struct nlattr)) {
		struct nlattr a;
		const uint8_t *data = p + NLA_HDRLEN;
		size_t dlen, step;

		memcpy(&a, p, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > len)
			return -EBADMSG;
		dlen = a.nla_len - NLA_HDRLEN;
		switch (a.nla_type & NLA_TYPE_MASK) {
		case UNIX_DIAG_NAME:
			if (autobind_name(data, dlen))
				u->autobound = true;
			else
				u->named = true;
			copy_name(u, data, dlen);
			break;
		case UNIX_DIAG_PEER: {
			uint32_t peer;

			if (dlen < sizeof(peer))
				return -EBADMSG;
			memcpy(&peer, data, sizeof(peer));
			u->peer = peer;
			break;
		}
		case UNIX_DIAG_RQLEN: {
			struct unix_diag_rqlen q;

			if (dlen < sizeof(q))
				return -EBADMSG;
			memcpy(&q, data, sizeof(q));
			u->rqueue = q.udiag_rqueue;
			u->wqueue = q.udiag_wqueue;
			break;
		}
		case UNIX_DIAG_SHUTDOWN:
			if (dlen < 1)
				return -EBADMSG;
			u->shutdown = data[0];
			break;
		default:
			break;
		}
		step = NLA_ALIGN(a.nla_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

static int parse_one(const uint8_t *p, size_t len, struct unix_sock_info *u)
{
	struct unix_diag_msg m;
	size_t off = NLMSG_ALIGN(sizeof(m));

	if (len < sizeof(m))
		return -EBADMSG;
	memcpy(&m, p, sizeof(m));
	if (m.udiag_family != AF_UNIX)
		return -EBADMSG;
	*u = (struct unix_sock_info){ .ino = m.udiag_ino, .type = m.udiag_type,
				      .state = m.udiag_state };
	return len > off ? parse_attrs(p + off, len - off, u) : 0;
}

int sock_diag_parse_unix(const void *buf, size_t len, struct unix_sock_info **list, size_t *n,
			 size_t *allocated)
{
	const uint8_t *p = buf;

	while (len > 0) {
		struct nlmsghdr h;
		size_t step;
		int r;

		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return -EBADMSG;
		if (h.nlmsg_type == NLMSG_DONE)
			return 1;
		if (h.nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr e;

			if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(e))
				return -EBADMSG;
			memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
			return e.error < 0 ? e.error : -EBADMSG;
		}
		if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			if (GROW(*list, *allocated, *n + 1) < 0)
				return -ENOMEM;
			r = parse_one(p + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN, &(*list)[*n]);
			if (r < 0)
				return r;
			(*n)++;
		}
		step = NLMSG_ALIGN(h.nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

static int request_dump(int fd)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req req;
	} msg = {
		.h = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = UINT32_MAX,
			 .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN },
	};
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };

	/* UNIX_DIAG_SHUTDOWN comes unasked. */

	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *) &nl, sizeof(nl)) < 0)
		return -errno;
	return 0;
}

int sock_diag_list_unix(struct unix_sock_info **ret, size_t *ret_n)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	_cleanup_free_ struct unix_sock_info *list = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t n = 0, allocated = 0, size = 32768;
	int r;

	if (fd < 0)
		return -errno;
	r = request_dump(fd);
	if (r < 0)
		return r;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	do {
		ssize_t k = recv(fd, buf, size, 0);

		if (k < 0)
			return -errno;
		if (k == 0)
			return -EBADMSG;
		r = sock_diag_parse_unix(buf, (size_t) k, &list, &n, &allocated);
		if (r < 0)
			return r;
	} while (r == 0);
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}

const struct unix_sock_info *sock_diag_find(const struct unix_sock_info *list, size_t n,
					    uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].ino == ino)
			return &list[i];
	return NULL;
}
