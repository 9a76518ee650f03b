// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sockpair: two halves of a loop talking through unix socket pairs. Unit j
 * writes a chunk derived from j into a SOCK_STREAM pair, a message into a
 * SOCK_DGRAM pair and one into a SOCK_SEQPACKET pair (sizes vary, some
 * empty); the reading half lags LAG units behind, so every queue holds data
 * at any moment. The stream's writer is a dup() on fd 30, the datagram
 * reader is non-blocking, the stream reader has a receive timeout and the
 * seqpacket writer SO_PASSCRED. A fourth pair was shut for writing at the start
 * after a farewell was queued: it must still read the farewell, then EOF.
 * Everything read is checked against what unit j wrote and folded into a
 * hash; at the end the fds' flags and the hash are printed.
 *
 * RIGHTS=1 also queues, on a datagram pair whose reading end is fd 40, a
 * message, then one carrying a pipe's write end (SCM_RIGHTS), then another:
 * ckptd must refuse the dump naming fd 40 and leave all three queued in
 * order, the fd working, which the workload checks at the end.
 *
 *     sockpair OUT [READY] [UNITS=1500] [SEED=1] [RIGHTS=0]
 */
#include <sys/socket.h>

#include "workload.h"

#define LAG 4
#define SPIN 250000
#define MAX_MSG 3000
#define STREAM_WRITER 30
#define RIGHTS_READER 40

static int st[2], dg[2], sq[2], shut_pair[2];
static uint64_t seed, hash = 0xcbf29ce484222325ull;

static size_t unit_size(uint64_t j, uint64_t salt)
{
	uint64_t x = mix64(seed ^ (j * 4 + salt));

	return x % 7 == 0 ? 0 : (size_t) (x % MAX_MSG);
}

static void unit_bytes(uint64_t j, uint64_t salt, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t) mix64(seed ^ j ^ (salt << 56) ^ (i * 0x9e3779b9ull));
}

static void fold(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ buf[i]) * 0x100000001b3ull;
	hash ^= len;
}

static void produce(uint64_t j)
{
	uint8_t buf[MAX_MSG];
	size_t n;

	n = unit_size(j, 1);
	unit_bytes(j, 1, buf, n);
	if (wl_write_all(STREAM_WRITER, buf, n) < 0)
		wl_die("write stream unit %llu: %m", (unsigned long long) j);
	n = unit_size(j, 2);
	unit_bytes(j, 2, buf, n);
	if (send(dg[0], buf, n, 0) != (ssize_t) n)
		wl_die("send datagram unit %llu: %m", (unsigned long long) j);
	n = unit_size(j, 3);
	unit_bytes(j, 3, buf, n);
	if (send(sq[0], buf, n, 0) != (ssize_t) n)
		wl_die("send seqpacket unit %llu: %m", (unsigned long long) j);
}

/* One message must be exactly unit j's: boundaries kept, nothing lost or doubled. */
static void check_message(int fd, uint64_t j, uint64_t salt, const char *what)
{
	uint8_t want[MAX_MSG], got[MAX_MSG + 1];
	size_t n = unit_size(j, salt);
	ssize_t k;

	do
		k = recv(fd, got, sizeof(got), 0);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		wl_die("recv %s unit %llu: %m", what, (unsigned long long) j);
	unit_bytes(j, salt, want, n);
	if ((size_t) k != n || memcmp(want, got, n) != 0)
		wl_die("%s unit %llu: got %zd bytes, want %zu", what, (unsigned long long) j, k, n);
	fold(got, n);
}

static void consume(uint64_t j)
{
	uint8_t want[MAX_MSG], got[MAX_MSG];
	size_t n = unit_size(j, 1);
	int r;

	r = wl_read_all(st[1], got, n);
	if (r < 0)
		wl_die("read stream unit %llu: %s", (unsigned long long) j, strerror(-r));
	unit_bytes(j, 1, want, n);
	if (memcmp(want, got, n) != 0)
		wl_die("stream unit %llu differs", (unsigned long long) j);
	fold(got, n);
	check_message(dg[1], j, 2, "datagram");
	check_message(sq[1], j, 3, "seqpacket");
}

static uint64_t spin(uint64_t x)
{
	for (int i = 0; i < SPIN; i++)
		x = mix64(x);
	return x;
}

static void print_fd(const char *name, int fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), type = 0, cred = 0;
	struct timeval tv = {};
	socklen_t len = sizeof(type), clen = sizeof(cred), tlen = sizeof(tv);

	(void) getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	(void) getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &cred, &clen);
	(void) getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tlen);
	wl_printf("fd %s %d type %d nonblock %d cloexec %d passcred %d rcvtimeo %ld.%06ld\n",
		  name, fd, type, !!(fl & O_NONBLOCK), !!(fdfl & FD_CLOEXEC), cred,
		  (long) tv.tv_sec, (long) tv.tv_usec);
}

static int rights_pipe[2];

static void queue_rights(void)
{
	int pair[2];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = {};
	struct iovec iov = { (char *) "with-fd", 7 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) < 0 || pipe(rights_pipe) < 0 ||
	    dup2(pair[1], RIGHTS_READER) < 0 || close(pair[1]) < 0)
		wl_die("rights setup: %m");
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &rights_pipe[1], sizeof(int));
	if (send(pair[0], "first", 5, 0) != 5 || sendmsg(pair[0], &m, 0) != 7 ||
	    send(pair[0], "last", 4, 0) != 4 || close(rights_pipe[1]) < 0)
		wl_die("rights send: %m");
}

/* The three messages in order, the passed pipe end still the pipe's. */
static void check_rights(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = {};
	char a[16] = "", b[16] = "", c[16] = "", got[4] = "";
	struct iovec iov = { b, sizeof(b) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;
	int passed = -1;

	if (recv(RIGHTS_READER, a, sizeof(a) - 1, 0) < 0 || recvmsg(RIGHTS_READER, &m, 0) < 0 ||
	    recv(RIGHTS_READER, c, sizeof(c) - 1, 0) < 0)
		wl_die("rights recv: %m");
	h = CMSG_FIRSTHDR(&m);
	if (h && h->cmsg_type == SCM_RIGHTS)
		memcpy(&passed, CMSG_DATA(h), sizeof(int));
	wl_check(!strcmp(a, "first") && !strcmp(b, "with-fd") && !strcmp(c, "last"),
		 "rights messages: '%s' '%s' '%s'", a, b, c);
	wl_check(passed >= 0 && write(passed, "ok", 2) == 2 && read(rights_pipe[0], got, 2) == 2 &&
			 !strcmp(got, "ok"),
		 "the passed fd does not reach its pipe");
	wl_printf("rights: first, with-fd (a working pipe end), last\n");
}

static void check_shut_pair(void)
{
	char buf[64];
	ssize_t n = read(shut_pair[1], buf, sizeof(buf));

	wl_check(n == 8 && memcmp(buf, "farewell", 8) == 0, "the shut pair read %zd bytes", n);
	n = read(shut_pair[1], buf, sizeof(buf));
	wl_check(n == 0, "the shut pair read %zd after its farewell, not EOF", n);
	wl_check(send(shut_pair[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
		 "the shut end could still send");
	wl_printf("shut pair: farewell, EOF, EPIPE\n");
}

int main(int argc, char **argv)
{
	int a = wl_init("sockpair", argc, argv, "[UNITS=1500] [SEED=1]");
	uint64_t units = wl_arg(argc, argv, a, 1500);
	volatile uint64_t sink = 0;
	bool rights = wl_arg(argc, argv, a + 2, 0) != 0;

	seed = wl_arg(argc, argv, a + 1, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sq) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, shut_pair) < 0)
		wl_die("socketpair: %m");
	if (dup2(st[0], STREAM_WRITER) < 0 || fcntl(dg[1], F_SETFL, O_NONBLOCK) < 0)
		wl_die("fd setup: %m");
	/* Options a restore must keep: a reader that would time out, a writer that wants creds. */
	if (setsockopt(st[1], SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 5, 250000 },
		       sizeof(struct timeval)) < 0 ||
	    setsockopt(sq[0], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0)
		wl_die("socket options: %m");
	if (write(shut_pair[0], "farewell", 8) != 8 || shutdown(shut_pair[0], SHUT_WR) < 0)
		wl_die("shut pair: %m");
	for (uint64_t j = 0; j < LAG; j++)
		produce(j);
	if (rights)
		queue_rights();
	wl_ready(NULL);
	for (uint64_t j = 0; j < units; j++) {
		if (j + LAG < units)
			produce(j + LAG);
		sink = spin(sink + j);
		consume(j);
	}
	print_fd("stream-reader", st[1]);
	print_fd("stream-writer", STREAM_WRITER);
	print_fd("dgram-reader", dg[1]);
	print_fd("seqpacket-writer", sq[0]);
	check_shut_pair();
	if (rights)
		check_rights();
	wl_printf("units %llu hash %016llx\n", (unsigned long long) units, (unsigned long long) hash);
	return wl_finish();
}
