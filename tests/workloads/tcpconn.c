// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcpconn: holds a TCP connection to 127.0.0.1:PORT on fd 7 (non-blocking)
 * for MS milliseconds, then says what the connection does: a live one takes
 * a send and has nothing to read, one ckptd restored as closed (--external
 * tcp=close) fails both as a dead connection would. Either is a PASS; the
 * test reads the "conn" line. A PORT starting with '/' is a unix socket path
 * to connect to instead.
 *
 *     tcpconn OUT [READY] PORT|PATH [MS=1500]
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "workload.h"

#define CONN_FD 7

static const char *result(ssize_t n)
{
	return n >= 0 ? "ok" : errno == EAGAIN ? "EAGAIN" : errno == EPIPE ? "EPIPE"
			   : errno == ENOTCONN				   ? "ENOTCONN"
									   : strerror(errno);
}

int main(int argc, char **argv)
{
	int a = wl_init("tcpconn", argc, argv, "PORT [MS=1500]");
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	unsigned long ms;
	const char *sent, *got;
	char b;
	int fd;

	if (argc <= a)
		wl_die("no port given");
	ms = wl_arg(argc, argv, a + 1, 1500);
	if (argv[a][0] == '/') {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[a]);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
			wl_die("connect %s: %m", argv[a]);
	} else {
		sin.sin_port = htons((uint16_t) wl_arg(argc, argv, a, 0));
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0)
			wl_die("connect: %m");
	}
	if (dup2(fd, CONN_FD) < 0 || close(fd) < 0 || fcntl(CONN_FD, F_SETFL, O_NONBLOCK) < 0)
		wl_die("fd setup: %m");
	wl_ready(NULL);
	for (unsigned long i = 0; i < ms / 10; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	sent = result(send(CONN_FD, "ping", 4, MSG_NOSIGNAL));
	got = result(recv(CONN_FD, &b, 1, 0));
	wl_printf("conn send %s recv %s nonblock %d\n", sent, got,
		  !!(fcntl(CONN_FD, F_GETFL) & O_NONBLOCK));
	return wl_finish();
}
