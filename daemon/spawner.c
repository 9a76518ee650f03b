// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The spawner: the process systemd starts. It forks the manager, then only
 * forks workers when the manager asks (a JSON request over a SEQPACKET
 * socket) and hands back each worker's result pipe and pidfd. It stays
 * unconfined so that workers, and the processes they restore, are too. When
 * the manager ends, or on SIGTERM, every worker is killed: a process being
 * dumped recovers by itself, a half-restored one dies with its worker.
 */
#define LOG_PREFIX "spawner: "

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define REQUEST_MAX (64 * 1024)
#define WORKERS_MAX 1024

struct spawner {
	int state_dfd;
	int sock;
	int sigfd;
	pid_t manager;
	int manager_status;
	pid_t workers[WORKERS_MAX];
	size_t n_workers;
};

static void reply(struct spawner *s, json_object *o, const int *fds, size_t n_fds)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ssize_t n = send_with_fds(s->sock, text, strlen(text), fds, n_fds);

	if (n < 0)
		log_error_errno((int) n, "Cannot answer the manager: %m");
	json_object_put(o);
}

static void reply_error(struct spawner *s, const char *what, int error)
{
	json_object *o = json_object_new_object();
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-error));
	json_object_object_add(o, "error", json_object_new_string(msg));
	reply(s, o, NULL, 0);
}

/*
 * The worker finds the fds the manager passed (a restore's attached stdio)
 * in its request. Only we name them: a manager that named fds itself could
 * hand a restored process one of ours (the state directory).
 */
static void add_fds(json_object *request, const int *fds, size_t n_fds)
{
	json_object *a;

	json_object_object_del(request, "stdio_fds");
	if (!n_fds)
		return;
	a = json_object_new_array();
	for (size_t i = 0; i < n_fds; i++)
		json_object_array_add(a, json_object_new_int(fds[i]));
	json_object_object_add(request, "stdio_fds", a);
}

static _noreturn_ void run_worker(struct spawner *s, json_object *request, int out_fd)
{
	/* Dies with us: a target being dumped then recovers on its own. */
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void) prctl(PR_SET_NAME, "ckptd-worker");
	(void) close(s->sock);
	(void) close(s->sigfd);
	worker_main(s->state_dfd, request, out_fd);
}

static void spawn(struct spawner *s, json_object *request, const int *passed, size_t n_passed)
{
	int pipefd[2], pidfd, fds[2];
	json_object *o;
	pid_t pid;

	if (s->n_workers >= WORKERS_MAX) {
		reply_error(s, "too many workers", -EAGAIN);
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		reply_error(s, "cannot create a pipe", -errno);
		return;
	}
	pid = fork();
	if (pid < 0) {
		reply_error(s, "cannot fork a worker", -errno);
		(void) close(pipefd[0]);
		(void) close(pipefd[1]);
		return;
	}
	if (pid == 0) {
		(void) close(pipefd[0]);
		add_fds(request, passed, n_passed);
		run_worker(s, request, pipefd[1]);
	}
	(void) close(pipefd[1]);
	s->workers[s->n_workers++] = pid;
	pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		(void) kill(pid, SIGKILL);
		(void) close(pipefd[0]);
		reply_error(s, "cannot watch the worker", -errno);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(pid));
	fds[0] = pipefd[0];
	fds[1] = pidfd;
	reply(s, o, fds, 2);
	(void) close(pipefd[0]);
	(void) close(pidfd);
}

/* 0 to go on, 1 when the manager has gone. */
static int handle_request(struct spawner *s)
{
	_cleanup_free_ char *buf = malloc(REQUEST_MAX + 1);
	json_object *request;
	size_t n_fds;
	int fds[PASS_FDS_MAX];
	ssize_t n;

	if (!buf)
		return 0;
	n = recv_with_fds(s->sock, buf, REQUEST_MAX, fds, PASS_FDS_MAX, &n_fds);
	if (n == 0 || n == -ECONNRESET)
		return 1;
	if (n < 0)
		return n == -EAGAIN || n == -EINTR ? 0 : 1;
	buf[n] = 0;
	request = json_tokener_parse(buf);
	if (!request || !json_object_is_type(request, json_type_object))
		reply_error(s, "malformed request", -EBADMSG);
	else
		spawn(s, request, fds, n_fds == 3 ? n_fds : 0);
	json_object_put(request);
	/* The worker has its copies; a stray fd (not three) is dropped. */
	for (size_t i = 0; i < n_fds; i++)
		(void) close(fds[i]);
	return 0;
}

static void forget_worker(struct spawner *s, pid_t pid)
{
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i] == pid) {
			s->workers[i] = s->workers[--s->n_workers];
			return;
		}
}

/* Reaps what ended; 1 when the manager was among them. */
static int reap(struct spawner *s)
{
	int status, gone = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->manager) {
			s->manager_status = status;
			gone = 1;
		} else
			forget_worker(s, pid);
	}
	return gone;
}

static void kill_workers(struct spawner *s)
{
	for (size_t i = 0; i < s->n_workers; i++)
		(void) kill(s->workers[i], SIGKILL);
}

/* 0 to go on, 1 when the manager has gone. */
static int handle_signal(struct spawner *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			if (reap(s))
				return 1;
			break;
		default:
			/* SIGTERM and kin: the manager shuts down, and we with it. */
			log_info("Stopping on signal %u", si.ssi_signo);
			kill_workers(s);
			(void) kill(s->manager, SIGTERM);
			break;
		}
	}
	return 0;
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 1;
}

int spawner_run(struct daemon_config *cfg, int state_dfd)
{
	struct spawner s = { .state_dfd = state_dfd, .manager = -1 };
	int sp[2], r;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return log_error_errno(-errno, "Cannot set up: %m"), 1;
	s.manager = fork();
	if (s.manager < 0)
		return log_error_errno(-errno, "Cannot fork the manager: %m"), 1;
	if (s.manager == 0) {
		(void) close(sp[0]);
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		(void) prctl(PR_SET_NAME, "ckptd-manager");
		_exit(manager_run(cfg, state_dfd, sp[1]));
	}
	(void) close(sp[1]);
	(void) close(cfg->listen_fd); /* the manager's now */
	s.sock = sp[0];
	s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sigfd < 0)
		return log_error_errno(-errno, "Cannot create a signalfd: %m"), 1;

	for (;;) {
		struct pollfd p[2] = { { s.sock, POLLIN, 0 }, { s.sigfd, POLLIN, 0 } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents && handle_signal(&s))
			break;
		if (p[0].revents & POLLIN) {
			r = handle_request(&s);
			if (r)
				break;
		} else if (p[0].revents & (POLLHUP | POLLERR))
			break;
	}
	kill_workers(&s);
	while (waitpid(s.manager, &s.manager_status, 0) < 0 && errno == EINTR)
		;
	return exit_status(s.manager_status);
}
