// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The two ends of a unix socketpair the process holds: type, shutdown state,
 * send buffer size, and what each end has queued to read. A byte stream is
 * peeked at (nothing changes); datagrams and seqpackets can only be read
 * whole, so they are read out of the frozen target and written back through
 * the other end, in order, before anything else happens. Queued fds and
 * credentials cannot be brought back: refused, naming the fd.
 */
#define LOG_PREFIX "dump: "

#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "dump.h"
#include "log.h"
#include "util.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

#define RCV_SHUT 1u
#define SEND_SHUT 2u
#define RIGHTS_SPACE CMSG_SPACE(253 * sizeof(int)) /* SCM_MAX_FD */

struct msg_queue {
	uint8_t *data; /* the stream's bytes, or each message as le32 length + bytes */
	size_t len, allocated;
	size_t n_msgs;
	uint8_t **control; /* per message: SCM_RIGHTS as received, or NULL */
	size_t *control_len;
	size_t allocated_control, allocated_control_len;
	bool rights;
};

static void queue_done(struct msg_queue *q)
{
	for (size_t i = 0; i < q->n_msgs && q->control; i++) {
		struct msghdr m = { .msg_control = q->control[i],
				    .msg_controllen = q->control_len[i] };

		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			int *fds = (int *) CMSG_DATA(h);
			size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t k = 0; h->cmsg_type == SCM_RIGHTS && k < n; k++)
				(void) close(fds[k]);
		}
		free(q->control[i]);
	}
	free(q->control);
	free(q->control_len);
	free(q->data);
}

static int sockopt(int fd, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, name, &v, &len) < 0 ? 0 : v;
}

static uint64_t timeout_us(int fd, int name)
{
	struct timeval tv = {};
	socklen_t len = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, name, &tv, &len) < 0)
		return 0;
	return (uint64_t) tv.tv_sec * 1000000 + (uint64_t) tv.tv_usec;
}

static int refuse(const struct dump_pair_end *e, const char *what)
{
	return log_error_errno(-EOPNOTSUPP,
			       "fd %d of PID %d is a unix socket pair end with %s queued; ckptd "
			       "cannot bring that back: let the process read it first, then "
			       "checkpoint",
			       e->fd, (int) e->pid, what);
}

/* SCM_RIGHTS in what was received: noted, and the fds kept to pass back or close. */
static int keep_control(struct msg_queue *q, const struct msghdr *m)
{
	uint8_t *copy = NULL;

	if (m->msg_controllen > 0) {
		q->rights = true;
		copy = malloc(m->msg_controllen);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, m->msg_control, m->msg_controllen);
	}
	if (GROW(q->control, q->allocated_control, q->n_msgs + 1) < 0 ||
	    GROW(q->control_len, q->allocated_control_len, q->n_msgs + 1) < 0) {
		free(copy);
		return -ENOMEM;
	}
	q->control[q->n_msgs] = copy;
	q->control_len[q->n_msgs] = copy ? m->msg_controllen : 0;
	return 0;
}

static int peek_stream(struct dump_ctx *c, const struct dump_pair_end *e, struct msg_queue *q)
{
	uint8_t control[RIGHTS_SPACE];
	int inq = 0;
	ssize_t n;

	if (ioctl(e->own, SIOCINQ, &inq) < 0)
		return log_error_errno(-errno, "Cannot size the queue of fd %d of PID %d: %m", e->fd,
				       (int) e->pid);
	if (inq == 0)
		return 0;
	q->data = malloc((size_t) inq);
	if (!q->data)
		return log_oom();
	struct iovec iov = { q->data, (size_t) inq };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			    .msg_controllen = sizeof(control) };

	n = recvmsg(e->own, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return log_error_errno(-errno, "Cannot read the queue of fd %d of PID %d: %m", e->fd,
				       (int) e->pid);
	q->len = (size_t) n;
	if (keep_control(q, &m) < 0)
		return log_oom();
	q->n_msgs = 1;
	if (q->rights || m.msg_flags & MSG_CTRUNC)
		return refuse(e, "passed file descriptors (SCM_RIGHTS)");
	if (n != inq)
		return refuse(e, "data the kernel will not hand over in one piece "
					"(from another process, or out-of-band)");
	return 0;
}

static int append_message(struct msg_queue *q, uint32_t len, uint8_t **ret)
{
	uint32_t le = htole32(len);

	if (GROW(q->data, q->allocated, q->len + sizeof(le) + len) < 0)
		return -ENOMEM;
	memcpy(q->data + q->len, &le, sizeof(le));
	*ret = q->data + q->len + sizeof(le);
	return 0;
}

/* Reads every queued message out of the end; the caller writes them back at once. */
static int drain_messages(struct dump_ctx *c, const struct dump_pair_end *e, struct msg_queue *q)
{
	for (;;) {
		uint8_t control[RIGHTS_SPACE], *p;
		ssize_t len = recv(e->own, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT), n;

		if (len < 0 && errno == EAGAIN)
			return 0;
		if (len < 0)
			return log_error_errno(-errno, "Cannot read the queue of fd %d of PID %d: %m",
					       e->fd, (int) e->pid);
		if (len == 0 && e->info->type == SOCK_SEQPACKET && e->info->shutdown & RCV_SHUT)
			return 0; /* a seqpacket's end of file */
		if (append_message(q, (uint32_t) len, &p) < 0 || keep_control(q, &(struct msghdr){}) < 0)
			return log_oom();
		struct iovec iov = { p, (size_t) len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				    .msg_controllen = sizeof(control) };

		n = recvmsg(e->own, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n != len)
			return log_error_errno(n < 0 ? -errno : -EIO,
					       "Cannot read a message queued on fd %d of PID %d: %m",
					       e->fd, (int) e->pid);
		if (m.msg_controllen > 0) {
			q->rights = true;
			q->control[q->n_msgs] = malloc(m.msg_controllen);
			if (!q->control[q->n_msgs])
				return log_oom();
			memcpy(q->control[q->n_msgs], control, m.msg_controllen);
			q->control_len[q->n_msgs] = m.msg_controllen;
		}
		q->len += sizeof(uint32_t) + (size_t) len;
		q->n_msgs++;
	}
}

/* Puts the messages back, in order, as the other end's sends: the target finds what it had. */
static int write_back(struct dump_ctx *c, const struct dump_pair_end *reader, int writer,
		      const struct msg_queue *q)
{
	size_t off = 0;

	for (size_t i = 0; i < q->n_msgs; i++) {
		uint32_t len;

		memcpy(&len, q->data + off, sizeof(len));
		len = le32toh(len);
		off += sizeof(len);
		struct iovec iov = { q->data + off, len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = q->control[i],
				    .msg_controllen = q->control_len[i] };

		if (sendmsg(writer, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t) len)
			return log_error_errno(-errno,
					       "Cannot put back %zu messages read from fd %d of PID "
					       "%d; the process lost them: %m",
					       q->n_msgs - i, reader->fd, (int) reader->pid);
		off += len;
	}
	return 0;
}

/* Keeps the queue as the end's saved contents, through a memfd like any file's. */
static int save_queue(struct dump_ctx *c, struct snapshot_file *f, const struct msg_queue *q)
{
	_cleanup_close_ int mem = memfd_create("ckptd-socket", MFD_CLOEXEC);

	if (mem < 0 || (q->len > 0 && write_all(mem, q->data, q->len) < 0))
		return log_error_errno(-errno, "Cannot copy a socket queue of PID %d: %m",
				       (int) c->pid);
	f->id.size = q->len;
	return dump_file_contents(c, mem, &f->stream);
}

static bool queue_empty(const struct dump_pair_end *e)
{
	int inq = 0;
	uint8_t b;

	/* A seqpacket end shut for reading answers an empty queue with 0, like an empty message. */
	if (e->info->type == SOCK_STREAM ||
	    (e->info->type == SOCK_SEQPACKET && e->info->shutdown & RCV_SHUT))
		return ioctl(e->own, SIOCINQ, &inq) == 0 && inq == 0;
	return recv(e->own, &b, 0, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static int dump_queue(struct dump_ctx *c, const struct dump_pair_end *e,
		      const struct dump_pair_end *other)
{
	struct snapshot_file *f = &c->snap->files[e->file];
	struct msg_queue q = {};
	int r, k, peek_off = -1;
	socklen_t len = sizeof(peek_off);

	/* Peeking would move it, and restore would not set it: the process would peek elsewhere. */
	if (getsockopt(e->own, SOL_SOCKET, SO_PEEK_OFF, &peek_off, &len) == 0 && peek_off >= 0)
		return log_error_errno(-EOPNOTSUPP,
				       "fd %d of PID %d is a unix socket pair end with a peek offset "
				       "(SO_PEEK_OFF); ckptd cannot checkpoint that yet",
				       e->fd, (int) e->pid);
	if (queue_empty(e))
		return save_queue(c, f, &q);
	if (f->sock.options)
		return refuse(e, "data that carries credentials (SO_PASSCRED)");
	if (e->info->type == SOCK_STREAM) {
		r = peek_stream(c, e, &q);
	} else {
		/* A shut end takes no message back: read nothing that cannot be put back. */
		if (e->info->shutdown & RCV_SHUT || other->info->shutdown & SEND_SHUT)
			return refuse(e, "messages and shut down");
		r = drain_messages(c, e, &q);
		k = write_back(c, e, other->own, &q);
		r = r < 0 ? r : k;
		if (r >= 0 && q.rights)
			r = refuse(e, "passed file descriptors (SCM_RIGHTS)");
	}
	if (r >= 0)
		r = save_queue(c, f, &q);
	queue_done(&q);
	return r;
}

int dump_socketpair(struct dump_ctx *c, struct dump_pair_end ends[static 2])
{
	for (int i = 0; i < 2; i++) {
		struct snapshot_file *f = &c->snap->files[ends[i].file];

		f->sock = (struct snapshot_socket){
			.family = AF_UNIX,
			.type = ends[i].info->type,
			.shutdown = ends[i].info->shutdown,
			.peer = ends[1 - i].file,
			.sndbuf = (uint32_t) sockopt(ends[i].own, SO_SNDBUF),
			.options = (sockopt(ends[i].own, SO_PASSCRED) ? SOCKET_OPTION_PASSCRED : 0) |
				   (sockopt(ends[i].own, SO_PASSPIDFD) ? SOCKET_OPTION_PASSPIDFD : 0),
			.rcvtimeo_us = timeout_us(ends[i].own, SO_RCVTIMEO),
			.sndtimeo_us = timeout_us(ends[i].own, SO_SNDTIMEO),
		};
	}
	for (int i = 0; i < 2; i++) {
		int r = dump_queue(c, &ends[i], &ends[1 - i]);

		if (r < 0)
			return r;
	}
	return 0;
}
