/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ckptd serve: what its parts share. Two processes:
 *
 *   the spawner (spawner.c), the parent systemd starts: unconfined, it only
 *     forks workers on request and hands back their result pipes;
 *   the manager (manager.c and friends), its child: the event loop, the
 *     control socket, jobs and their schedule, persisted state. It parses
 *     everything untrusted and runs under a seccomp allow-list (sandbox.c),
 *     which must not reach workers or the processes they restore: that is
 *     why workers come from the spawner.
 *
 * A worker (worker.c) runs one snapshot or restore with the engine and
 * reports NUL-terminated JSON messages on its pipe: {"progress": {...}}
 * any number of times, then {"result": {...}} or {"error": {...}}.
 */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

#include "varlink.h"

#define CONNECTIONS_PER_USER 64
#define CONNECTIONS_MAX 256
#define JOBS_PER_USER 32
#define JOBS_MAX 256
#define IDLE_TIMEOUT_NS (30ULL * 1000000000ULL)
#define OUTPUT_MAX (4u << 20) /* a client that reads nothing is dropped past this */
#define DEFAULT_INTERVAL_NS (600ULL * 1000000000ULL)
#define DEFAULT_KEEP 6
#define KEEP_MAX 1000
/* Fds a client may pass with one call: its stdin, stdout and stderr (Restore attach). */
#define CONTROL_PASSED_FDS_MAX 3

struct daemon_config {
	char *state_dir;
	char *socket_path;
	char *boot_id_file; /* NULL: the kernel's */
	int listen_fd;	    /* from socket activation, or -EBADF */
	bool sandbox;
};

/* ---- spawner.c: the parent ---- */

/*
 * Forks the manager and serves its spawn requests until it exits; returns
 * the exit status for the daemon.
 */
int spawner_run(struct daemon_config *cfg, int state_dfd);

/* ---- worker.c: runs in a worker process ---- */

/* Executes one request ({"op": "snapshot"|"restore", ...}) and reports on out_fd. */
_noreturn_ void worker_main(int state_dfd, json_object *request, int out_fd);

/* ---- the manager ---- */

enum job_state {
	JOB_STATE_WATCHING,
	JOB_STATE_SNAPSHOTTING,
	JOB_STATE_RESTORING,
	JOB_STATE_LOST,
	_JOB_STATE_MAX,
};

enum work_kind {
	WORK_KIND_SNAPSHOT,
	WORK_KIND_RESTORE,
};

struct manager;
struct connection;
struct work;

struct job {
	struct manager *m;
	struct job *next;
	char *name;
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22: tells a reused PID apart */
	uid_t owner;
	gid_t owner_gid;
	uint64_t interval_ns;
	unsigned keep;
	bool restore_on_boot;
	bool tcp_close;	 /* --external tcp=close */
	bool pipe_close; /* --external pipe=close */
	uint64_t created_ns;
	enum job_state state;
	char *last_error;
	char *log; /* output.log, once a restore sent output there */
	sd_event_source *timer;
	uint64_t due_ns; /* CLOCK_MONOTONIC of the next snapshot; 0: none */
	struct work *work;
	/* What the store holds, refreshed after each change. */
	unsigned n_versions;
	uint64_t newest;
	uint64_t size;
};

/* A connection waiting for a work's result. */
struct waiter {
	struct waiter *next;
	struct connection *conn;
	bool more;
};

struct work {
	struct job *job;
	enum work_kind kind;
	uint64_t version;  /* restore: which; 0 = newest good */
	bool scheduled;	   /* by the job's timer or at start-up, not by a caller */
	bool pidns;	   /* restore: into a new PID namespace */
	pid_t pid;	   /* the worker */
	int fd;		   /* its result pipe */
	int pidfd;
	sd_event_source *io, *exited;
	struct varlink_reader reader;
	json_object *result; /* the worker's last result or error message */
	struct waiter *waiters;
	bool spawned;
};

struct connection {
	struct manager *m;
	struct connection *next;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	sd_event_source *io, *idle;
	struct varlink_reader reader;
	char *out;
	size_t out_len, out_sent;
	bool waiting; /* an asynchronous reply is pending */
	bool closing; /* close once the output is flushed */
	bool oneway;  /* the call being handled wants no reply */
	/*
	 * Fds a client sent (SCM_RIGHTS) with the bytes just read: the next
	 * call handled may take them (Restore with attach); any call closes
	 * what it left, and so does the end of the read.
	 */
	int passed_fds[CONTROL_PASSED_FDS_MAX];
	size_t n_passed_fds;
};

/* A spawn request sent to the spawner and not yet answered. */
struct pending_spawn {
	struct pending_spawn *next;
	struct work *work;
};

struct manager {
	struct daemon_config *cfg;
	sd_event *event;
	int state_dfd;
	int spawner_fd;
	sd_event_source *spawner_io;
	struct pending_spawn *spawns, **spawns_tail;
	int listen_fd;
	sd_event_source *listen_io;
	struct job *jobs;
	unsigned n_jobs;
	struct connection *connections;
	unsigned n_connections;
	char boot_id[64];
	uint64_t started_ns; /* CLOCK_MONOTONIC */
};

/* manager.c */
int manager_run(struct daemon_config *cfg, int state_dfd, int spawner_fd);
const char *job_state_to_string(enum job_state s);

/* job.c: the job table and its persistence */
int job_load_all(struct manager *m);
struct job *job_find(struct manager *m, const char *name);
struct job *job_find_pid(struct manager *m, pid_t pid);
unsigned jobs_of(struct manager *m, uid_t uid);
/* What Watch asked for a job beyond its process and owner. */
struct job_settings {
	uint64_t interval_ns;
	unsigned keep;
	bool restore_on_boot;
	bool tcp_close;
	bool pipe_close;
};
int job_new(struct manager *m, const char *name, pid_t pid, uint64_t start_time, uid_t owner,
	    gid_t owner_gid, const struct job_settings *s, struct job **ret);
int job_save(struct job *j);
void job_remove(struct job *j);
void job_refresh(struct job *j);
void job_schedule(struct job *j, uint64_t delay_ns);
json_object *job_to_json(const struct job *j);
struct store_version;
/* A Version of io.ckptd.varlink. */
json_object *version_to_json(const struct store_version *v);
/* Whether the job's process is the one it watched (PID alive, same start time). */
bool job_process_alive(const struct job *j);

/* work.c: asking the spawner for workers and following them */
/*
 * Asks the spawner for a worker. Nobody waits on a scheduled snapshot
 * (scheduled: true), so its worker gives way to the target once it runs.
 */
int work_start(struct job *j, enum work_kind kind, uint64_t version, bool scheduled,
	       struct work **ret);
/*
 * A restore a caller asked for: with stdio (taken over, closed here), the
 * process's terminal or pipe stdio becomes stdio[0..2]; with pidns, the tree
 * comes back in a new PID namespace.
 */
int work_start_restore(struct job *j, uint64_t version, bool pidns, int *stdio, struct work **ret);
int work_add_waiter(struct work *w, struct connection *c, bool more);
void work_drop_connection(struct manager *m, struct connection *c);
int work_spawner_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* control.c: the socket and its connections */
int control_listen(struct manager *m);
void control_send(struct connection *c, char *msg, size_t len);
void control_reply(struct connection *c, json_object *params, bool continues);
void control_error(struct connection *c, const char *error, json_object *params);
/* io.ckptd errors carry a sentence for people. */
void control_error_msg(struct connection *c, const char *error, json_object *params,
		       const char *fmt, ...) _printf_(4, 5);
void control_set_waiting(struct connection *c);
/* The caller's fds 0, 1, 2 sent with the call being handled, taken over; false if none. */
bool control_take_fds(struct connection *c, int fds[CONTROL_PASSED_FDS_MAX]);
void control_done_waiting(struct connection *c);
void control_close_all(struct manager *m);

/* methods.c */
void methods_dispatch(struct connection *c, struct varlink_call *call);

/* auth.c */
/* Why a caller may not watch a tree: which member, its uid, and what is wrong. */
struct auth_refusal {
	pid_t member;
	uid_t uid;
	const char *reason;
};
/* Whether the caller could ptrace pid and every descendant itself (root: always). */
bool auth_may_trace_tree(uid_t uid, gid_t gid, pid_t pid, struct auth_refusal *ret);
bool auth_owns(uid_t uid, const struct job *j);

/* sandbox.c */
int sandbox_apply(void);
