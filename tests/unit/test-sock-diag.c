// SPDX-License-Identifier: GPL-2.0-or-later
/* sock_diag replies for unix sockets: parsed as untrusted bytes, and the live kernel's answer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sock-diag.h"

struct builder {
	uint8_t buf[4096];
	size_t len, msg;
};

static void put(struct builder *b, const void *p, size_t n)
{
	cr_assert_leq(b->len + NLMSG_ALIGN(n), sizeof(b->buf));
	memcpy(b->buf + b->len, p, n);
	b->len += NLMSG_ALIGN(n);
}

static void begin(struct builder *b, uint16_t type)
{
	struct nlmsghdr h = { .nlmsg_type = type };

	b->msg = b->len;
	put(b, &h, sizeof(h));
}

static void end(struct builder *b)
{
	((struct nlmsghdr *) (b->buf + b->msg))->nlmsg_len = (uint32_t) (b->len - b->msg);
}

static void attr(struct builder *b, uint16_t type, const void *data, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t) (NLA_HDRLEN + n), .nla_type = type };
	size_t at = b->len;

	put(b, &a, sizeof(a));
	b->len = at + NLA_HDRLEN;
	put(b, data, n);
}

static void sock(struct builder *b, uint32_t ino, uint8_t type, uint32_t peer, uint8_t shut,
		 uint32_t rq, bool named)
{
	struct unix_diag_msg m = { .udiag_family = AF_UNIX, .udiag_type = type,
				   .udiag_state = 1, .udiag_ino = ino };
	struct unix_diag_rqlen q = { rq, 0 };

	begin(b, SOCK_DIAG_BY_FAMILY);
	put(b, &m, sizeof(m));
	if (named)
		attr(b, UNIX_DIAG_NAME, "/run/x", 6);
	else if (type == SOCK_SEQPACKET)
		attr(b, UNIX_DIAG_NAME, "\0" "0a1f9", 6); /* autobind */
	if (peer)
		attr(b, UNIX_DIAG_PEER, &peer, sizeof(peer));
	attr(b, UNIX_DIAG_RQLEN, &q, sizeof(q));
	attr(b, UNIX_DIAG_SHUTDOWN, &shut, 1);
	end(b);
}

static int parse(const struct builder *b, struct unix_sock_info **list, size_t *n)
{
	size_t allocated = 0;

	*list = NULL;
	*n = 0;
	return sock_diag_parse_unix(b->buf, b->len, list, n, &allocated);
}

Test(sock_diag, parses_a_pair_and_done)
{
	struct builder b = {};
	struct unix_sock_info *l;
	size_t n;

	sock(&b, 100, SOCK_STREAM, 101, 2, 17, false);
	sock(&b, 101, SOCK_STREAM, 100, 1, 0, true);
	begin(&b, NLMSG_DONE);
	put(&b, &(int){ 0 }, sizeof(int));
	end(&b);
	cr_assert_eq(parse(&b, &l, &n), 1);
	cr_assert_eq(n, 2);
	cr_assert(l[0].ino == 100 && l[0].peer == 101 && l[0].type == SOCK_STREAM &&
		  l[0].shutdown == 2 && l[0].rqueue == 17 && !l[0].named);
	cr_assert(l[1].ino == 101 && l[1].peer == 100 && l[1].shutdown == 1 && l[1].named);
	cr_assert_eq(sock_diag_find(l, n, 101), &l[1]);
	cr_assert_null(sock_diag_find(l, n, 5));
	free(l);
}

Test(sock_diag, autobind_name_is_not_a_chosen_one)
{
	struct builder b = {};
	struct unix_sock_info *l;
	size_t n;

	sock(&b, 7, SOCK_SEQPACKET, 8, 0, 0, false);
	cr_assert_eq(parse(&b, &l, &n), 0);
	cr_assert(n == 1 && l[0].autobound && !l[0].named);
	free(l);
}

Test(sock_diag, more_to_come_without_done)
{
	struct builder b = {};
	struct unix_sock_info *l;
	size_t n;

	sock(&b, 7, SOCK_DGRAM, 0, 0, 0, false);
	cr_assert_eq(parse(&b, &l, &n), 0);
	cr_assert(n == 1 && l[0].peer == 0 && l[0].type == SOCK_DGRAM);
	free(l);
}

Test(sock_diag, kernel_error_is_returned)
{
	struct builder b = {};
	struct nlmsgerr e = { .error = -EPERM };
	struct unix_sock_info *l;
	size_t n;

	begin(&b, NLMSG_ERROR);
	put(&b, &e, sizeof(e));
	end(&b);
	cr_assert_eq(parse(&b, &l, &n), -EPERM);
	free(l);
}

Test(sock_diag, malformed_replies_are_refused)
{
	static const struct {
		const char *what;
		size_t at;   /* byte offset to change, from the start */
		uint8_t val; /* new value */
		size_t cut;  /* bytes cut off the end */
	} cases[] = {
		{ "message longer than the buffer", 1, 0x10, 0 },
		{ "message shorter than its header", 0, 4, 0 },
		{ "attribute past its message", NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct unix_diag_msg)),
		  0xff, 0 },
		{ "truncated", 0, 0, 9 },
		{ "not AF_UNIX", NLMSG_HDRLEN, AF_INET, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct builder b = {};
		struct unix_sock_info *l;
		size_t n;

		sock(&b, 100, SOCK_STREAM, 101, 0, 0, false);
		if (cases[i].cut)
			b.len -= cases[i].cut;
		else
			b.buf[cases[i].at] = cases[i].val;
		cr_expect_eq(parse(&b, &l, &n), -EBADMSG, "%s", cases[i].what);
		free(l);
	}
}

/* The kernel itself: a socketpair's ends name each other, a shutdown shows on both. */
Test(sock_diag, live_socketpair)
{
	struct unix_sock_info *l = NULL;
	const struct unix_sock_info *a, *b;
	struct stat sa, sb;
	size_t n = 0;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(shutdown(sv[0], SHUT_WR), 0);
	cr_assert_eq(send(sv[1], "abc", 3, 0), 3);
	cr_assert_eq(fstat(sv[0], &sa), 0);
	cr_assert_eq(fstat(sv[1], &sb), 0);
	cr_assert_eq(sock_diag_list_unix(&l, &n), 0);
	a = sock_diag_find(l, n, sa.st_ino);
	b = sock_diag_find(l, n, sb.st_ino);
	cr_assert(a && b);
	cr_assert(a->peer == sb.st_ino && b->peer == sa.st_ino);
	cr_assert(a->type == SOCK_SEQPACKET && !a->named);
	cr_assert_eq(a->shutdown, 2); /* SEND_SHUTDOWN */
	cr_assert_eq(b->shutdown, 1); /* RCV_SHUTDOWN, from the peer */
	cr_assert_eq(a->rqueue, 3);
	cr_assert(!b->autobound);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)), 0);
	cr_assert_eq(send(sv[1], "d", 1, 0), 1); /* binds it to an abstract name of the kernel's */
	free(l);
	l = NULL;
	cr_assert_eq(sock_diag_list_unix(&l, &n), 0);
	b = sock_diag_find(l, n, sb.st_ino);
	cr_assert(b && b->autobound && !b->named);
	free(l);
	close(sv[0]);
	close(sv[1]);
}
