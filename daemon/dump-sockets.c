// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sockets: a unix socketpair whose both ends the process holds is saved with
 * its type, shutdown state and what each end has queued to read; a TCP
 * socket is recorded as closed when the user said --external tcp=close.
 * Every other socket fails the dump naming the fd and what it is. Queued
 * datagrams are read out of the frozen target and written back through the
 * peer at once, so the target finds its queues as they were whatever happens next.
 */
#define LOG_PREFIX "dump: "

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dump.h"
#include "log.h"
#include "util.h"

/* The process's fd holding socket ino, or -1. */
static int socket_fd(const struct dump_ctx *c, uint64_t ino)
{
	for (size_t i = 0; i < c->n_sockets; i++)
		if (c->sockets[i].ino == ino)
			return c->sockets[i].fd;
	return -1;
}

/* The process of the tree holding socket ino (c itself first), or NULL; its fd in *ret_fd. */
static const struct dump_ctx *socket_holder(const struct dump_ctx *c, uint64_t ino, int *ret_fd)
{
	*ret_fd = socket_fd(c, ino);
	if (*ret_fd >= 0)
		return c;
	for (size_t i = 0; c->tree && i < c->tree->n; i++) {
		*ret_fd = socket_fd(&c->tree->procs[i], ino);
		if (*ret_fd >= 0)
			return &c->tree->procs[i];
	}
	return NULL;
}

bool dump_holds_socket(const struct dump_ctx *c, uint64_t ino)
{
	int fd;

	return socket_holder(c, ino, &fd) != NULL;
}

int dump_scan_sockets(struct dump_ctx *c, const int *fds, size_t n)
{
	int r;

	c->n_sockets = 0;
	free(c->unix_socks);
	c->unix_socks = NULL;
	c->n_unix_socks = 0;
	for (size_t i = 0; i < n; i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) c->pid, fds[i]);
		if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (GROW(c->sockets, c->allocated_sockets, c->n_sockets + 1) < 0)
			return log_oom();
		c->sockets[c->n_sockets++] = (struct dump_socket_fd){ st.st_ino, fds[i] };
	}
	if (c->n_sockets == 0)
		return 0;
	r = sock_diag_list_unix(&c->unix_socks, &c->n_unix_socks);
	if (r < 0) /* then no unix socket is known, and each is refused naming the fd */
		log_debug_errno(r, "Cannot list unix sockets through sock_diag: %m");
	return 0;
}

static const char *type_name(int type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram"
	       : type == SOCK_SEQPACKET				   ? "seqpacket"
									   : "raw";
}

static void format_addr(const struct sockaddr_storage *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *) a;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) a;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else
		snprintf(buf, size, "?");
}

static int sockopt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	return getsockopt(fd, level, name, &v, &len) < 0 ? -errno : v;
}

/* "a TCP connection 10.0.0.1:5555 -> 10.0.0.2:80", for people. */
static void describe_inet(int own, int type, int protocol, char *buf, size_t size)
{
	struct sockaddr_storage local = {}, remote = {};
	socklen_t ll = sizeof(local), rl = sizeof(remote);
	char l[64], r[64];
	const char *proto = protocol == IPPROTO_TCP ? "TCP" : protocol == IPPROTO_UDP ? "UDP" : NULL;
	bool connected;

	(void) getsockname(own, (struct sockaddr *) &local, &ll);
	connected = getpeername(own, (struct sockaddr *) &remote, &rl) == 0;
	format_addr(&local, l, sizeof(l));
	format_addr(&remote, r, sizeof(r));
	if (!proto)
		snprintf(buf, size, "an IP %s socket (protocol %d) on %s", type_name(type), protocol, l);
	else if (sockopt(own, SOL_SOCKET, SO_ACCEPTCONN) == 1)
		snprintf(buf, size, "a %s socket listening on %s", proto, l);
	else if (connected)
		snprintf(buf, size, "a %s connection %s -> %s", proto, l, r);
	else
		snprintf(buf, size, "an unconnected %s socket on %s", proto, l);
}

static void describe_unix(const struct unix_sock_info *u, int type, char *buf, size_t size)
{
	if (!u)
		snprintf(buf, size,
			 "a unix %s socket sock_diag does not list (in another network namespace?)",
			 type_name(type));
	else if (u->state == TCP_LISTEN)
		snprintf(buf, size, "a listening unix %s socket", type_name(type));
	else if (u->peer == 0)
		snprintf(buf, size, "an unconnected unix %s socket", type_name(type));
	else
		snprintf(buf, size, "a unix %s socket%s connected to socket inode %" PRIu64,
			 type_name(type), u->named ? " with a name" : "", u->peer);
}

static int refuse(const struct dump_ctx *c, int fd, const char *what, const char *advice)
{
	return log_error_errno(-EOPNOTSUPP, "fd %d of PID %d is %s; ckptd cannot checkpoint that: %s",
			       fd, (int) c->pid, what, advice);
}

static int add_socket_file(struct dump_ctx *c, enum file_kind kind, const char *what,
			   const struct stat *st, uint32_t *ret_index)
{
	struct snapshot_file *f = snapshot_add_file(c->snap);

	if (!f || !(f->path = strdup(what)))
		return log_oom();
	f->kind = kind;
	f->stream = SNAPSHOT_NONE;
	f->id = (struct snapshot_identity){ .dev = st->st_dev, .ino = st->st_ino, .mode = st->st_mode };
	*ret_index = (uint32_t)(c->snap->n_files - 1);
	return 0;
}

/* --external tcp=close: the connection is given up; restore makes a TCP socket never connected. */
static int tcp_closed(struct dump_ctx *c, int fd, int family, const char *what,
		      const struct stat *st, uint32_t *ret_index)
{
	int r = add_socket_file(c, FILE_KIND_TCP_CLOSED, what, st, ret_index);

	if (r < 0)
		return r;
	c->snap->files[*ret_index].sock = (struct snapshot_socket){ .family = (uint32_t) family,
								     .type = SOCK_STREAM };
	log_warning("fd %d of PID %d is %s: recorded as closed (--external tcp=close); "
		    "the restored process finds it disconnected",
		    fd, (int) c->pid, what);
	return 0;
}

/* A listener's name as restore binds it: a relative path is taken from the working directory. */
static char *listener_name(const struct dump_ctx *c, const char *name)
{
	if (name[0] == '/' || name[0] == '@')
		return strdup(name);
	return strdup_printf("%s/%s", c->snap->proc.cwd ? c->snap->proc.cwd : "", name);
}

static int listener_object(struct dump_ctx *c, int fd, const struct unix_sock_info *u,
			   const struct stat *st, uint32_t *ret_index)
{
	_cleanup_free_ char *name = listener_name(c, u->name);
	char what[256];
	int r;

	if (!name)
		return log_oom();
	if (u->rqueue > 0) {
		snprintf(what, sizeof(what),
			 "a unix socket listening on %s with %u connection%s not accepted yet", name,
			 u->rqueue, u->rqueue == 1 ? "" : "s");
		return refuse(c, fd, what, "let the process accept them, then checkpoint");
	}
	r = add_socket_file(c, FILE_KIND_UNIX_LISTEN, name, st, ret_index);
	if (r < 0)
		return r;
	c->snap->files[*ret_index].sock = (struct snapshot_socket){
		.family = AF_UNIX, .type = u->type, .backlog = u->wqueue, .peer = SNAPSHOT_NONE };
	return 0;
}

/* The file object of a socket already saved: an fd dup()ed from another, or a pair's other end. */
static int find_socket(const struct dump_ctx *c, uint64_t ino)
{
	for (size_t i = 0; i < c->snap->n_files; i++)
		if (file_kind_is_socket(c->snap->files[i].kind) && c->snap->files[i].id.ino == ino)
			return (int) i;
	return -1;
}

/*
 * A pair another process of the tree saved already (its other end is
 * there): both ends' records again, queues and all, for restore to share.
 */
static int copy_pair(struct dump_ctx *c, const struct stat *st, uint32_t *ret_index)
{
	const struct snapshot_file *from[2] = {};
	uint32_t index[2];

	if (!dump_tree_earlier_pair(c, st->st_dev, st->st_ino, from))
		return log_error_errno(-EPROTO, "A socket pair of PID %d was saved without its other "
						"end",
				       (int) c->pid);
	for (int k = 0; k < 2; k++) {
		struct snapshot_file *f = snapshot_add_file(c->snap);

		if (!f || !(f->path = strdup(from[k]->path)))
			return log_oom();
		f->kind = FILE_KIND_UNIX_PAIR;
		f->id = from[k]->id;
		f->stream = from[k]->stream;
		f->sock = from[k]->sock;
		index[k] = (uint32_t)(c->snap->n_files - 1);
	}
	c->snap->files[index[0]].sock.peer = index[1];
	c->snap->files[index[1]].sock.peer = index[0];
	*ret_index = index[0];
	return 0;
}

/* Both ends at once: an end's queue is read through it and written back through the other. */
static int pair_object(struct dump_ctx *c, int fd, int own, const struct unix_sock_info *u,
		       const struct unix_sock_info *p, const struct stat *st, uint32_t *ret_index)
{
	struct dump_pair_end ends[2] = {
		{ .pid = c->pid, .fd = fd, .own = own, .info = u },
		{ .own = -EBADF, .info = p },
	};
	const struct dump_ctx *holder = socket_holder(c, p->ino, &ends[1].fd);
	struct stat peer_st = *st;
	uint32_t a, b;
	int r;

	ends[1].pid = holder->pid;
	ends[1].own = dump_copy_fd(holder, ends[1].fd);
	if (ends[1].own < 0)
		return log_error_errno(ends[1].own, "Cannot reach the socket on fd %d of PID %d: %m",
				       ends[1].fd, (int) holder->pid);
	peer_st.st_ino = p->ino;
	r = add_socket_file(c, FILE_KIND_UNIX_PAIR, "socketpair", st, &a);
	if (r >= 0)
		r = add_socket_file(c, FILE_KIND_UNIX_PAIR, "socketpair", &peer_st, &b);
	if (r >= 0) {
		ends[0].file = a;
		ends[1].file = b;
		r = dump_socketpair(c, ends);
	}
	closep(&ends[1].own);
	if (r < 0)
		return r;
	*ret_index = a;
	return 0;
}

int dump_socket_object(struct dump_ctx *c, int fd, const struct stat *st, uint32_t *ret_index)
{
	_cleanup_close_ int own = -EBADF;
	const struct unix_sock_info *u;
	int family, type, protocol, i;
	char what[256];

	i = find_socket(c, st->st_ino);
	if (i >= 0) {
		*ret_index = (uint32_t) i;
		return 0;
	}
	if (dump_tree_earlier_file(c, FILE_KIND_UNIX_PAIR, st->st_dev, st->st_ino))
		return copy_pair(c, st, ret_index);
	own = dump_copy_fd(c, fd);
	if (own < 0)
		return log_error_errno(own, "Cannot reach the socket on fd %d of PID %d: %m", fd,
				       (int) c->pid);
	family = sockopt(own, SOL_SOCKET, SO_DOMAIN);
	type = sockopt(own, SOL_SOCKET, SO_TYPE);
	protocol = sockopt(own, SOL_SOCKET, SO_PROTOCOL);
	if (family == AF_UNIX) {
		u = sock_diag_find(c->unix_socks, c->n_unix_socks, st->st_ino);
		if (u && u->state == TCP_LISTEN && u->named)
			return listener_object(c, fd, u, st, ret_index);
		/*
		 * Connected ends of the tree: a pair again. A name (an end accepted
		 * from a listener, one bound before connecting) is not kept.
		 */
		if (u && u->peer && dump_holds_socket(c, u->peer)) {
			const struct unix_sock_info *p =
				sock_diag_find(c->unix_socks, c->n_unix_socks, u->peer);

			if (p && p->peer == u->ino)
				return pair_object(c, fd, own, u, p, st, ret_index);
		}
		describe_unix(u, type, what, sizeof(what));
		if (u && u->peer && !dump_holds_socket(c, u->peer))
			strncat(what, " outside the process tree", sizeof(what) - strlen(what) - 1);
		return refuse(c, fd, what,
			      "only connected sockets whose both ends the process tree holds, "
			      "and listening ones, are saved; close it before the checkpoint");
	}
	if (family == AF_INET || family == AF_INET6) {
		describe_inet(own, type, protocol, what, sizeof(what));
		if (type == SOCK_STREAM && protocol == IPPROTO_TCP && c->opts->tcp_close)
			return tcp_closed(c, fd, family, what, st, ret_index);
		return refuse(c, fd, what,
			      type == SOCK_STREAM && protocol == IPPROTO_TCP
				      ? "pass --external tcp=close to give the connection up, "
					"or close it before the checkpoint"
				      : "close it before the checkpoint");
	}
	if (family == AF_NETLINK)
		snprintf(what, sizeof(what), "a netlink socket (protocol %d)", protocol);
	else
		snprintf(what, sizeof(what), "a socket of address family %d", family);
	return refuse(c, fd, what, "close it before the checkpoint");
}
