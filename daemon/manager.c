// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The manager: the daemon's event loop (sd-event). At start it loads the jobs
 * (cleaning half-written versions, telling live processes from lost ones),
 * notices a reboot by a changed boot id and restores the jobs that asked for
 * it, listens, tells systemd it is ready, and confines itself. Then it only
 * reacts: requests, timers, workers.
 */
#define LOG_PREFIX "manager: "

#include <signal.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define DAEMON_FILE "daemon.json"
#define KERNEL_BOOT_ID "/proc/sys/kernel/random/boot_id"

static int read_boot_id(const char *path, char buf[static 64])
{
	_cleanup_free_ char *s = NULL;
	int r = read_full_file_at(AT_FDCWD, path, 256, &s, NULL);

	if (r < 0)
		return log_error_errno(r, "Cannot read the boot id from %s: %m", path);
	s[strcspn(s, "\n")] = 0;
	if (!*s || strlen(s) >= 64)
		return log_error_errno(-EBADMSG, "%s holds no boot id", path);
	strcpy(buf, s);
	return 0;
}

/* The boot id the previous run saw, and this one's written in its place. */
static bool rebooted(struct manager *m)
{
	_cleanup_free_ char *text = NULL;
	json_object *o = NULL, *v;
	bool changed = false;
	const char *out;

	if (read_full_file_at(m->state_dfd, DAEMON_FILE, 4096, &text, NULL) >= 0)
		o = json_tokener_parse(text);
	if (o && json_object_object_get_ex(o, "boot_id", &v))
		changed = strcmp(json_object_get_string(v), m->boot_id) != 0;
	json_object_put(o);
	o = json_object_new_object();
	json_object_object_add(o, "boot_id", json_object_new_string(m->boot_id));
	out = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	if (write_file_atomic_at(m->state_dfd, DAEMON_FILE, out, strlen(out), 0600) < 0)
		log_warning("Cannot record the boot id in %s", DAEMON_FILE);
	json_object_put(o);
	return changed;
}

static void restore_after_boot(struct manager *m)
{
	for (struct job *j = m->jobs; j; j = j->next) {
		if (!j->restore_on_boot || j->state != JOB_STATE_LOST || !j->n_versions)
			continue;
		log_info("%s: restoring after the reboot", j->name);
		if (work_start(j, WORK_KIND_RESTORE, 0, /* scheduled= */ true, NULL) < 0)
			log_error("%s: cannot start the restore", j->name);
	}
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	log_info("Stopping on signal %u", si->ssi_signo);
	return sd_event_exit(m->event, 0);
}

static int setup(struct manager *m, struct daemon_config *cfg, int state_dfd, int spawner_fd)
{
	sigset_t mask;
	int r;

	*m = (struct manager){ .cfg = cfg, .state_dfd = state_dfd, .spawner_fd = spawner_fd,
			       .listen_fd = cfg->listen_fd,
			       .started_ns = now_ns(CLOCK_MONOTONIC) };
	m->spawns_tail = &m->spawns;
	r = read_boot_id(cfg->boot_id_file ? cfg->boot_id_file : KERNEL_BOOT_ID, m->boot_id);
	if (r < 0)
		return r;
	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Cannot create the event loop: %m");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	(void) sigprocmask(SIG_BLOCK, &mask, NULL);
	(void) sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
	(void) sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
	(void) sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m);
	(void) fd_set_cloexec_nonblock(spawner_fd);
	r = sd_event_add_io(m->event, &m->spawner_io, spawner_fd, EPOLLIN, work_spawner_io, m);
	if (r < 0)
		return log_error_errno(r, "Cannot watch the spawner: %m");
	return 0;
}

int manager_run(struct daemon_config *cfg, int state_dfd, int spawner_fd)
{
	struct manager m;
	bool boot;
	int r;

	r = setup(&m, cfg, state_dfd, spawner_fd);
	if (r < 0)
		return 1;
	boot = rebooted(&m);
	r = job_load_all(&m);
	if (r < 0)
		return 1;
	r = control_listen(&m);
	if (r < 0)
		return 1;
	if (boot)
		restore_after_boot(&m);
	/* Ready before the filter: sd_notify needs a socket of its own. */
	(void) sd_notify(0, "READY=1\nSTATUS=Serving");
	if (cfg->sandbox && sandbox_apply() < 0)
		return 1;
	log_info("Serving %u job%s from %s", m.n_jobs, m.n_jobs == 1 ? "" : "s", cfg->state_dir);
	r = sd_event_loop(m.event);
	control_close_all(&m);
	sd_event_unref(m.event);
	return r < 0 ? 1 : r;
}
