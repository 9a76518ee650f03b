// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A worker: one snapshot or one restore of one job, in its own process so
 * that a slow or stuck target never holds up the daemon. It reports to the
 * manager over a pipe, as NUL-terminated JSON: progress now and then, then
 * one result or one error. A snapshot is committed as a new version, made
 * latest, and old versions beyond the job's keep are removed.
 */
#define LOG_PREFIX "worker: "

#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>

#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define PROGRESS_EVERY_NS 100000000ULL /* ten a second */

struct report {
	int fd;
	uint64_t last_ns;
	json_object *cuts; /* a restore's files cut back (restore-append.c), for the reply */
};

static void send_message(struct report *rep, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	/* The NUL ends the message; a manager that is gone makes this fail, harmlessly. */
	(void) write_all(rep->fd, text, strlen(text) + 1);
	json_object_put(o);
}

static void report_cut(const char *path, uint64_t size, uint64_t was, const char *kept,
		       void *userdata)
{
	struct report *rep = userdata;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t) size));
	json_object_object_add(o, "was", json_object_new_int64((int64_t) was));
	if (kept)
		json_object_object_add(o, "kept", json_object_new_string(kept));
	json_object_array_add(rep->cuts, o);
}

static void progress(const char *phase, uint64_t done, uint64_t total, void *userdata)
{
	struct report *rep = userdata;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	json_object *o, *p;

	if (now - rep->last_ns < PROGRESS_EVERY_NS && done < total)
		return;
	rep->last_ns = now;
	o = json_object_new_object();
	p = json_object_new_object();
	json_object_object_add(p, "phase", json_object_new_string(phase));
	json_object_object_add(p, "done", json_object_new_int64((int64_t) done));
	json_object_object_add(p, "total", json_object_new_int64((int64_t) total));
	json_object_object_add(o, "progress", p);
	send_message(rep, o);
}

static _noreturn_ void finish_error(struct report *rep, int r, const char *fallback)
{
	const char *msg = log_last_error();
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "errno", json_object_new_int(-r));
	json_object_object_add(e, "message", json_object_new_string(*msg ? msg : fallback));
	json_object_object_add(o, "error", e);
	send_message(rep, o);
	_exit(1);
}

static _noreturn_ void finish_result(struct report *rep, json_object *result)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "result", result);
	send_message(rep, o);
	_exit(0);
}

static int64_t get_int(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) ? json_object_get_string(v) : NULL;
}

static _noreturn_ void snapshot(int job_dfd, json_object *req, struct report *rep)
{
	_cleanup_(page_hash_index_freep) struct page_hash_index *known = NULL;
	_cleanup_close_ int versions_dfd = -EBADF;
	char name[STORE_VERSION_NAME_MAX];
	struct store_version info = {};
	struct image_stats stats;
	uint64_t number, freed = 0;
	int r;

	r = store_next_version(job_dfd, &number);
	if (r >= 0)
		r = page_hash_index_new(&known);
	if (r >= 0)
		r = store_load_known(job_dfd, known);
	if (r < 0)
		finish_error(rep, r, "cannot read the job's earlier versions");
	versions_dfd = openat(job_dfd, "versions", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (versions_dfd < 0)
		finish_error(rep, -errno, "cannot open the job's versions");

	struct dump_options o = {
		.leave_running = true,
		.yield_after_thaw = get_int(req, "scheduled") != 0, /* json-c reads true as 1 */
		.tcp_close = get_int(req, "tcp_close") != 0,
		.pipe_close = get_int(req, "pipe_close") != 0,
		/* The worker is root: the owner's rights are checked on every member. */
		.check_owner = get_int(req, "owner") != 0,
		.owner_uid = (uid_t) get_int(req, "owner"),
		.owner_gid = (gid_t) get_int(req, "owner_gid"),
		.store_dfd = job_dfd,
		.pack_id = number,
		.known = known,
		.progress = progress,
		.userdata = rep,
	};
	r = dump_process((pid_t) get_int(req, "pid"), versions_dfd,
			 store_version_name(number, name), &o, &stats);
	if (r < 0)
		finish_error(rep, r, "the snapshot failed");
	progress("committing", 1, 1, rep);
	r = store_set_latest(job_dfd, number);
	if (r < 0)
		finish_error(rep, r, "cannot make the new version the latest");
	r = store_retain(job_dfd, (unsigned) get_int(req, "keep"), &freed);
	if (r < 0)
		log_warning_errno(r, "Cannot remove old versions: %m");
	r = store_version_info(job_dfd, number, &info);
	if (r < 0)
		finish_error(rep, r, "cannot read the new version back");
	log_info("%s: version %" PRIu64 " committed, %" PRIu64 " pages, frozen %" PRIu64 " ms",
		 get_str(req, "job"), number, stats.pages, stats.freeze_ns / 1000000);
	finish_result(rep, version_to_json(&info));
}

static void add_skipped(json_object *skipped, uint64_t number, const char *reason)
{
	json_object *o = json_object_new_object();

	log_warning("Version %" PRIu64 " is damaged (%s); trying an older one", number, reason);
	json_object_object_add(o, "number", json_object_new_int64((int64_t) number));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_array_add(skipped, o);
}

/*
 * The newest version below below (0: any) that verifies, unless one was
 * asked for; those passed over go to skipped.
 */
static int pick_version(int job_dfd, uint64_t asked, uint64_t below, json_object *skipped,
			uint64_t *ret)
{
	_cleanup_free_ uint64_t *v = NULL;
	size_t n;
	int r;

	if (asked) {
		*ret = asked;
		return 0;
	}
	r = store_list_versions(job_dfd, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = n; i-- > 0;) {
		if (below && v[i] >= below)
			continue;
		struct store_version info = {};
		bool ok = store_version_info(job_dfd, v[i], &info) >= 0 && info.ok;

		if (!ok)
			add_skipped(skipped, v[i], info.reason ? info.reason : "unreadable");
		store_version_done(&info);
		if (ok) {
			*ret = v[i];
			return 0;
		}
	}
	return log_error_errno(-ENOENT, "The job has no good version to restore");
}

/* Stdio that was a pipe goes to the job's log; input reads as empty. */
static int open_log(int job_dfd, uid_t owner, gid_t group, int stdio[3])
{
	stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	stdio[1] = openat(job_dfd, "output.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (stdio[0] < 0 || stdio[1] < 0)
		return -errno;
	(void) fchown(stdio[1], owner, group);
	stdio[2] = stdio[1];
	return 0;
}

/*
 * The pump: copies what the restored process writes to its new terminal
 * into the log until every slave fd is closed (read then fails with EIO).
 * Forked from the worker, so the restored process is its sibling, not its
 * parent; it keeps nothing of the worker's but the two fds.
 */
static _noreturn_ void pump(int master, int log_fd, uid_t owner, gid_t group)
{
	char buf[4096];
	sigset_t none;
	ssize_t n;

	(void) prctl(PR_SET_NAME, "ckptd-pty");
	(void) setsid(); /* the daemon's signals are not ours */
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL); /* the spawner blocks some */
	/* Above 4 first, so that neither dup2 overwrites the other fd. */
	master = fcntl(master, F_DUPFD, 5);
	log_fd = fcntl(log_fd, F_DUPFD, 5);
	if (master < 0 || log_fd < 0 || dup2(master, 3) < 0 || dup2(log_fd, 4) < 0)
		_exit(1);
	(void) close_range(5, ~0U, 0);
	(void) close_range(0, 2, 0);
	if (owner && (setgroups(0, NULL) < 0 || setresgid(group, group, group) < 0 ||
		      setresuid(owner, owner, owner) < 0))
		_exit(1);
	for (;;) {
		n = read(3, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* EIO: the process closed its terminal, or ended */
		if (write_all(4, buf, (size_t) n) < 0)
			_exit(1);
	}
}

/* A raw-ish terminal: output as written (no \r added), nothing echoed. */
static int open_pty_slave(int master, uid_t owner, gid_t group)
{
	char name[64];
	struct termios t;
	int fd;

	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)))
		return -errno;
	fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) == 0) {
		t.c_oflag &= ~(tcflag_t) ONLCR;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		(void) tcsetattr(fd, TCSANOW, &t);
	}
	(void) fchown(fd, owner, group);
	return fd;
}

/*
 * Stdio that was a terminal becomes a new pseudo-terminal whose output a
 * pump appends to the log: the process still sees a terminal. *ret_slave
 * is the slave (ours to close once the process has its copies).
 */
static int open_pty(int log_fd, uid_t owner, gid_t group, int *ret_slave)
{
	_cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	int slave;
	pid_t pid;

	if (master < 0)
		return log_error_errno(-errno, "Cannot open a pseudo-terminal: %m");
	slave = open_pty_slave(master, owner, group);
	if (slave < 0)
		return log_error_errno(slave, "Cannot open a pseudo-terminal's slave: %m");
	pid = fork();
	if (pid < 0) {
		(void) close(slave);
		return log_error_errno(-errno, "Cannot fork the terminal's pump: %m");
	}
	if (pid == 0)
		pump(master, log_fd, owner, group);
	*ret_slave = slave;
	return 0;
}

/* The caller's fds 0, 1, 2 that came with the call (Restore attach), if any. */
static bool attached_stdio(json_object *req, int stdio[3])
{
	json_object *a;

	if (!json_object_object_get_ex(req, "stdio_fds", &a) ||
	    !json_object_is_type(a, json_type_array) || json_object_array_length(a) != 3)
		return false;
	for (size_t i = 0; i < 3; i++)
		stdio[i] = json_object_get_int(json_object_array_get_idx(a, i));
	return true;
}

static _noreturn_ void restore(int job_dfd, json_object *req, struct report *rep)
{
	char path[64], name[STORE_VERSION_NAME_MAX];
	uint64_t asked = (uint64_t) get_int(req, "version");
	uid_t owner = (uid_t) get_int(req, "owner");
	gid_t group = (gid_t) get_int(req, "owner_gid");
	struct restore_result res;
	json_object *o, *skipped = json_object_new_array();
	uint64_t number = 0, tried;
	int stdio[3] = { -EBADF, -EBADF, -EBADF }, tty = -EBADF, r;
	bool attached = attached_stdio(req, stdio);

	r = pick_version(job_dfd, asked, 0, skipped, &number);
	if (r < 0)
		finish_error(rep, r, "no version to restore");
	if (!attached) {
		r = open_log(job_dfd, owner, group, stdio);
		if (r < 0)
			finish_error(rep, r, "cannot open the job's output log");
		r = open_pty(stdio[1], owner, group, &tty);
		if (r < 0)
			finish_error(rep, r, "cannot open a pseudo-terminal for the process");
	}
	struct restore_options opts = {
		.use_stdio = true,
		.stdio = { stdio[0], stdio[1], stdio[2] },
		.use_tty = !attached,
		.pidns = get_int(req, "pidns") != 0,
		.tty = { tty, tty, tty },
		.as_owner = owner != 0,
		.owner_uid = owner,
		.owner_gid = group,
		.progress = progress,
		.cut = report_cut,
		.userdata = rep,
	};
	rep->cuts = json_object_new_array();
	for (;;) {
		snprintf(path, sizeof(path), "versions/%s", store_version_name(number, name));
		r = restore_process(job_dfd, path, &opts, &res);
		/*
		 * After a reboot nobody is there to choose: a PID the tree needs
		 * that some other process took (or that is a kernel thread's, for
		 * a tree numbered in a PID namespace of its own) is no reason to
		 * leave the job down. The same version goes into a new PID
		 * namespace, where its PIDs are free.
		 */
		if (r < 0 && res.pid_taken && !opts.pidns && get_int(req, "scheduled") != 0) {
			log_info("%s: a PID version %" PRIu64 " needs is taken; restoring it in a new "
				 "PID namespace",
				 get_str(req, "job"), number);
			opts.pidns = true;
			continue;
		}
		/*
		 * Damage found while filling memory shows only then; nothing has
		 * changed (the stub is gone), so the next older version may serve.
		 */
		if (r != -EBADMSG || asked)
			break;
		tried = number;
		add_skipped(skipped, tried, log_last_error());
		if (pick_version(job_dfd, 0, tried, skipped, &number) < 0)
			break;
	}
	if (r < 0)
		finish_error(rep, r, "the restore failed");
	log_info("%s: version %" PRIu64 " restored as pid %d", get_str(req, "job"), number,
		 (int) res.pid);
	o = json_object_new_object();
	/* The daemon watches the PID it sees; the tree's own, inside its namespace, differs. */
	json_object_object_add(o, "pid", json_object_new_int(res.pid));
	if (res.saved_pid != res.pid)
		json_object_object_add(o, "saved_pid", json_object_new_int(res.saved_pid));
	json_object_object_add(o, "version", json_object_new_int64((int64_t) number));
	json_object_object_add(o, "log_used",
			       json_object_new_boolean(res.stdio_redirected && !attached));
	if (json_object_array_length(skipped))
		json_object_object_add(o, "skipped", skipped);
	else
		json_object_put(skipped);
	if (json_object_array_length(rep->cuts))
		json_object_object_add(o, "cut", rep->cuts);
	else
		json_object_put(rep->cuts);
	finish_result(rep, o);
}

_noreturn_ void worker_main(int state_dfd, json_object *request, int out_fd)
{
	struct report rep = { .fd = out_fd };
	const char *op = get_str(request, "op"), *job = get_str(request, "job");
	int job_dfd, r;

	if (!op || !job)
		finish_error(&rep, -EINVAL, "malformed worker request");
	r = store_open_job(state_dfd, job, /* create= */ true, &job_dfd);
	if (r < 0)
		finish_error(&rep, r, "cannot open the job's directory");
	if (strcmp(op, "snapshot") == 0)
		snapshot(job_dfd, request, &rep);
	if (strcmp(op, "restore") == 0)
		restore(job_dfd, request, &rep);
	finish_error(&rep, -EINVAL, "unknown worker operation");
}
