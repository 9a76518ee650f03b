// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ckptd serve: parses its options, takes the state directory (one daemon per
 * directory, by an exclusive lock), sets up the control socket (or takes it
 * from systemd) and hands over to the spawner. Only starting things here.
 */
#define LOG_PREFIX "serve: "

#include <getopt.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "serve.h"
#include "util.h"

static int mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The state directory: root's alone (0700), and ours alone (a lock). */
static int take_state_dir(const char *dir, int *ret_dfd)
{
	struct stat st;
	int fd, r;

	r = mkdir_parents(dir, 0700);
	if (r < 0)
		return log_error_errno(r, "Cannot create the state directory %s: %m", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open the state directory %s: %m", dir);
	if (fstat(fd, &st) < 0 || st.st_uid != 0) {
		(void) close(fd);
		return log_error_errno(-EPERM, "The state directory %s is not owned by root", dir);
	}
	if ((st.st_mode & 07777) != 0700)
		(void) fchmod(fd, 0700);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		(void) close(fd);
		if (r == -EWOULDBLOCK)
			return log_error_errno(r, "Another ckptd serve already uses %s", dir);
		return log_error_errno(r, "Cannot lock %s: %m", dir);
	}
	if (mkdirat(fd, "jobs", 0700) < 0 && errno != EEXIST) {
		r = log_error_errno(-errno, "Cannot create %s/jobs: %m", dir);
		(void) close(fd);
		return r;
	}
	*ret_dfd = fd;
	return 0;
}

/* Everyone may connect: each request is authorized by the caller's credentials. */
static int make_socket(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!dir)
		return log_oom();
	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG, "The socket path %s is too long", path);
	r = mkdir_parents(dirname(dir), 0755);
	if (r < 0)
		return log_error_errno(r, "Cannot create the directory of %s: %m", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create a socket: %m");
	/* We hold the state directory's lock: a socket left here is a dead daemon's. */
	(void) unlink(path);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return log_error_errno(-errno, "Cannot bind %s: %m", path);
	if (chmod(path, 0666) < 0 || listen(fd, 128) < 0)
		return log_error_errno(-errno, "Cannot listen on %s: %m", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listen_socket(struct daemon_config *cfg)
{
	int n = sd_listen_fds(1);

	if (n > 1)
		return log_error_errno(-EINVAL, "systemd passed %d sockets; ckptd takes one", n);
	if (n == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
			return log_error_errno(-EINVAL, "The socket systemd passed is not a "
							"listening Unix stream socket");
		cfg->listen_fd = SD_LISTEN_FDS_START;
		(void) fd_set_cloexec_nonblock(cfg->listen_fd);
		return 0;
	}
	return make_socket(cfg->socket_path, &cfg->listen_fd);
}

static void usage(void)
{
	printf("Usage: ckptd serve [--state-dir DIR] [--socket PATH] [--boot-id-file FILE]\n\n"
	       "Runs the daemon in the foreground. Defaults: %s, %s.\n",
	       CKPTD_DEFAULT_STATE_DIR, CKPTD_DEFAULT_SOCKET);
}

int serve_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "boot-id-file", required_argument, NULL, 'b' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct daemon_config cfg = {
		.state_dir = (char *) CKPTD_DEFAULT_STATE_DIR,
		.socket_path = (char *) CKPTD_DEFAULT_SOCKET,
		.listen_fd = -EBADF,
		.sandbox = true,
	};
	int c, state_dfd = -EBADF, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'd':
			cfg.state_dir = optarg;
			break;
		case 's':
			cfg.socket_path = optarg;
			break;
		case 'b':
			cfg.boot_id_file = optarg;
			break;
		case 'N':
			cfg.sandbox = false;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return 2;
		}
	if (optind != argc) {
		usage();
		return 2;
	}
	log_setup(LOG_STYLE_JOURNAL, log_get_max_level());
	if (geteuid() != 0) {
		log_error("ckptd serve must run as root");
		return 1;
	}
	r = take_state_dir(cfg.state_dir, &state_dfd);
	if (r < 0)
		return 1;
	r = listen_socket(&cfg);
	if (r < 0)
		return 1;
	return spawner_run(&cfg, state_dfd);
}
