// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sockets for a restore: a socketpair made again with each end's saved
 * queue written in through the other end (datagrams one message each, so
 * boundaries hold), then the send buffer sizes and shutdowns; a listening
 * unix socket bound to its name again; and a TCP socket dumped with
 * --external tcp=close, made as one that never connected.
 */
#define LOG_PREFIX "restore: "

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "restore.h"
#include "util.h"

#define RCV_SHUT 1u
#define SEND_SHUT 2u
#define FILL_SNDBUF (64u << 20)

static int send_bytes(int fd, const uint8_t *p, size_t len, bool message)
{
	do {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ENOBUFS : -errno;
		if (message && (size_t) n != len)
			return -EMSGSIZE;
		p += n;
		len -= (size_t) n;
	} while (len > 0);
	return 0;
}

/* Each message of a datagram queue: a le32 length and that many bytes, all within len. */
static int send_messages(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		uint32_t n;
		int r;

		if (len < sizeof(n))
			return -EBADMSG;
		memcpy(&n, p, sizeof(n));
		n = le32toh(n);
		p += sizeof(n);
		len -= sizeof(n);
		if (n > len)
			return -EBADMSG;
		r = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t) n ? 0
		    : errno == EAGAIN					   ? -ENOBUFS
									   : -errno;
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

/* The saved queue of file f, sent through writer so that f's end has it to read. */
static int fill_queue(struct restore_ctx *c, const struct snapshot_file *f, int writer)
{
	_cleanup_close_ int mem = -EBADF;
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	if (f->id.size == 0)
		return 0;
	if (f->id.size > SIZE_MAX / 2)
		return -EBADMSG;
	mem = memfd_create("ckptd-socket", MFD_CLOEXEC);
	buf = malloc((size_t) f->id.size);
	if (mem < 0 || !buf)
		return -ENOMEM;
	r = restore_fill_file(c, f, mem);
	if (r < 0)
		return r;
	if (pread(mem, buf, (size_t) f->id.size, 0) != (ssize_t) f->id.size)
		return -EIO;
	if (f->sock.type == SOCK_STREAM)
		return send_bytes(writer, buf, (size_t) f->id.size, /* message= */ false);
	return send_messages(writer, buf, (size_t) f->id.size);
}

static void set_sndbuf(int fd, uint32_t saved)
{
	int half = (int) (saved / 2); /* the kernel doubles what it is given */

	if (saved == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof(half)) < 0)
		(void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &half, sizeof(half));
}

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

static int set_timeout(int fd, int name, uint64_t us)
{
	struct timeval tv = { .tv_sec = (time_t) (us / 1000000), .tv_usec = (suseconds_t) (us % 1000000) };

	if (us == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

/* The options that change what the process sees: credentials with each message, timeouts. */
static int set_options(int fd, const struct snapshot_socket *k)
{
	static const int one = 1;
	int r;

	if (k->options & SOCKET_OPTION_PASSCRED &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return -errno;
	if (k->options & SOCKET_OPTION_PASSPIDFD &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)) < 0)
		return -errno;
	r = set_timeout(fd, SO_RCVTIMEO, k->rcvtimeo_us);
	return r < 0 ? r : set_timeout(fd, SO_SNDTIMEO, k->sndtimeo_us);
}

/* Shutdowns last: a shut end would take no queued data. */
static int shut(int fd, uint32_t how)
{
	if (how & RCV_SHUT && shutdown(fd, SHUT_RD) < 0)
		return -errno;
	if (how & SEND_SHUT && shutdown(fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

int restore_create_pair(struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	uint32_t file[2] = { i, f->sock.peer };
	int sv[2], r = 0;

	if (socketpair(AF_UNIX, (int) f->sock.type | SOCK_CLOEXEC, 0, sv) < 0)
		return log_error_errno(-errno, "Cannot create a unix socket pair: %m");
	c->file_fds[file[0]] = sv[0];
	c->file_fds[file[1]] = sv[1];
	/* Room for whatever was queued however it was cut into buffers; the saved size after. */
	for (int k = 0; k < 2; k++)
		set_sndbuf(sv[k], FILL_SNDBUF);
	for (int k = 0; k < 2 && r >= 0; k++)
		r = fill_queue(c, &c->snap->files[file[k]], sv[1 - k]);
	if (r < 0)
		return log_error_errno(r, "Cannot put back what a socket pair had queued: %m");
	for (int k = 0; k < 2 && r >= 0; k++) {
		set_sndbuf(sv[k], c->snap->files[file[k]].sock.sndbuf);
		r = set_options(sv[k], &c->snap->files[file[k]].sock);
	}
	if (r < 0)
		return log_error_errno(r, "Cannot set a socket pair's options as they were: %m");
	for (int k = 0; k < 2 && r >= 0; k++)
		r = shut(sv[k], c->snap->files[file[k]].sock.shutdown);
	if (r < 0)
		return log_error_errno(r, "Cannot shut a socket pair down as it was: %m");
	return 0;
}

/* The name as bind() takes it: a path, or "@" for an abstract name (a leading NUL). */
static int listener_address(const char *name, struct sockaddr_un *a, socklen_t *len)
{
	size_t n = strlen(name);

	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (n == 0 || n >= sizeof(a->sun_path))
		return -EINVAL;
	memcpy(a->sun_path, name, n);
	if (name[0] == '@')
		a->sun_path[0] = 0;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
	return 0;
}

/*
 * The socket file the process's listener left behind keeps the name taken
 * (bind() never reuses one): it is replaced, but nothing that is not a socket.
 */
static int free_name(const char *path)
{
	struct stat st;

	if (path[0] == '@' || lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return log_error_errno(-EEXIST, "%s, where the process listened, is now not a "
						"socket; move it away before restoring",
				       path);
	return unlink(path) < 0 ? log_error_errno(-errno, "Cannot replace %s: %m", path) : 0;
}

int restore_create_listener(struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	struct sockaddr_un a;
	socklen_t len;
	mode_t old;
	int fd, r;

	if (listener_address(f->path, &a, &len) < 0)
		return log_error_errno(-EBADMSG, "A listening socket has the invalid name \"%s\"",
				       f->path);
	r = free_name(f->path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, (int) f->sock.type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create a unix socket: %m");
	old = umask((mode_t) c->snap->proc.umask); /* the socket file's mode, as the process made it */
	r = bind(fd, (struct sockaddr *) &a, len) < 0 ? -errno : 0;
	umask(old);
	if (r >= 0 && listen(fd, (int) f->sock.backlog) < 0)
		r = -errno;
	if (r < 0) {
		(void) close(fd);
		return log_error_errno(r, "Cannot listen on %s again: %m", f->path);
	}
	c->file_fds[i] = fd;
	return 0;
}

int restore_create_tcp_closed(struct restore_ctx *c, uint32_t i)
{
	const struct snapshot_file *f = &c->snap->files[i];
	int fd;

	if (f->sock.family != AF_INET && f->sock.family != AF_INET6)
		return log_error_errno(-EBADMSG, "A closed TCP socket has address family %u",
				       f->sock.family);
	fd = socket((int) f->sock.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create a TCP socket: %m");
	c->file_fds[i] = fd;
	return 0;
}
