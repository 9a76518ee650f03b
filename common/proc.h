/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsers for the /proc files a checkpointer reads. The *_parse() functions
 * are pure: they take the file's bytes, check everything, and return -EBADMSG
 * on anything malformed, so tests feed them fixtures. The proc_read_*()
 * wrappers only open and read the file and then parse it.
 */
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include "macro.h"

/* VmFlags of /proc/PID/smaps that restore must reproduce or refuse. */
enum proc_vmflag {
	PROC_VMFLAG_GROWSDOWN = 1u << 0,  /* gd */
	PROC_VMFLAG_DONTCOPY = 1u << 1,	  /* dc: MADV_DONTFORK */
	PROC_VMFLAG_WIPEONFORK = 1u << 2, /* wf */
	PROC_VMFLAG_DONTDUMP = 1u << 3,	  /* dd */
	PROC_VMFLAG_HUGEPAGE = 1u << 4,	  /* hg */
	PROC_VMFLAG_NOHUGEPAGE = 1u << 5, /* nh */
	PROC_VMFLAG_NORESERVE = 1u << 6,  /* nr */
	PROC_VMFLAG_LOCKED = 1u << 7,	  /* lo */
	PROC_VMFLAG_MERGEABLE = 1u << 8,  /* mg */
	PROC_VMFLAG_UFFD = 1u << 9,	  /* um, uw, ui: a userfaultfd is registered */
	PROC_VMFLAG_SEALED = 1u << 10,	  /* sl: mseal()ed */
	PROC_VMFLAG_SHADOW_STACK = 1u << 11, /* ss */
	PROC_VMFLAG_IO = 1u << 12,	  /* io, pf: device memory */
};

struct proc_map {
	uint64_t start, end;
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;   /* 's' rather than 'p' */
	uint64_t offset;
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	char *name;    /* NULL when the line has none; without the " (deleted)" suffix */
	bool deleted;  /* the name ended in " (deleted)" */
	uint32_t vmflags; /* enum proc_vmflag; only proc_smaps_parse() fills it */
};

int proc_maps_parse(const char *buf, size_t len, struct proc_map **ret, size_t *ret_n);
int proc_smaps_parse(const char *buf, size_t len, struct proc_map **ret, size_t *ret_n);
void proc_maps_free(struct proc_map *maps, size_t n);
/* The mapping of maps[0..n) (sorted, as the kernel lists them) that contains addr, or NULL. */
const struct proc_map *proc_map_at(const struct proc_map *maps, size_t n, uint64_t addr);

struct proc_stat {
	pid_t pid;
	char comm[16];
	char state;
	pid_t ppid, pgrp, session;
	int32_t tty_nr;
	uint32_t flags; /* PF_*: PF_KTHREAD is 0x00200000 */
	int32_t num_threads;
	int32_t exit_signal; /* what the parent gets when it ends; 0 for ckptd's copies */
	uint64_t starttime;
	uint64_t startcode, endcode, startstack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int32_t exit_code;
};

int proc_stat_parse(const char *buf, size_t len, struct proc_stat *ret);

struct proc_status {
	char state;
	pid_t tgid, pid, ppid, tracer_pid;
	uid_t uid[4]; /* real, effective, saved, fs */
	gid_t gid[4];
	gid_t *groups;
	size_t n_groups;
	bool has_umask;
	uint32_t umask;
	int32_t threads;
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
	int32_t seccomp;	 /* 0 off, 1 strict, 2 filter */
	int32_t kthread;	 /* -1 when the kernel has no such line */
	pid_t nspid[32];	 /* NSpid: outermost first */
	size_t n_nspid;
	pid_t ns_pgid, ns_sid;	 /* NSpgid, NSsid, innermost: 0 when the leader is outside */
	bool has_mm; /* a VmSize line: the task has memory (not exiting, not a kernel thread) */
};

int proc_status_parse(const char *buf, size_t len, struct proc_status *ret);
/* /proc/PID/limits: one line per RLIMIT_*, in their order; exact values. */
int proc_limits_parse(const char *buf, size_t len, struct rlimit ret[RLIM_NLIMITS]);

/* /proc/PID/timens_offsets: the offsets of the time namespace PID's children get. */
struct proc_timens_offsets {
	int64_t monotonic_ns, boottime_ns;
	unsigned seen; /* parser's own: 1 monotonic, 2 boottime */
};
int proc_timens_offsets_parse(const char *buf, size_t len, struct proc_timens_offsets *ret);
void proc_status_done(struct proc_status *s);

struct proc_fdinfo {
	uint64_t pos;
	uint32_t flags; /* octal "flags:" line, O_CLOEXEC included as the kernel shows it */
	int32_t mnt_id;
	uint64_t ino;
};

int proc_fdinfo_parse(const char *buf, size_t len, struct proc_fdinfo *ret);

/* What fdinfo adds for anonymous-inode files (6.x formats; older kernels lack lines: -EBADMSG). */
struct proc_eventfd {
	uint64_t count; /* "eventfd-count:", hex */
	bool semaphore; /* "eventfd-semaphore:" */
};

struct proc_timerfd {
	int32_t clockid;
	uint64_t ticks;		/* expirations not read yet */
	uint32_t settime_flags; /* TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET */
	uint64_t value_ns;	/* time left; 0 also once expired */
	uint64_t interval_ns;
};

struct proc_epoll_watch {
	int32_t tfd;	 /* the fd number it was added with */
	uint32_t events; /* EPOLLET, EPOLLONESHOT... included */
	uint64_t data;
	uint64_t ino; /* the target's inode and device */
	uint32_t sdev;
};

int proc_eventfd_parse(const char *buf, size_t len, struct proc_eventfd *ret);
int proc_timerfd_parse(const char *buf, size_t len, struct proc_timerfd *ret);
/* "sigmask:": bit n-1 for signal n. */
int proc_signalfd_parse(const char *buf, size_t len, uint64_t *ret_mask);
/* Every "tfd:" line, in the kernel's order; -E2BIG past max of them. */
int proc_epoll_parse(const char *buf, size_t len, size_t max, struct proc_epoll_watch **ret,
		     size_t *ret_n);

/* One entry of /proc/PID/timers (POSIX timers). */
struct proc_timer {
	int32_t id;
	int32_t signo;
	uint64_t sigev_value;
	int32_t notify; /* SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, | SIGEV_THREAD_ID for "tid" */
	pid_t target;	/* the pid or tid after "notify: how/pid." */
	int32_t clock;
};

/* /proc/PID/timers: four lines per timer (ID, signal, notify, ClockID); any order of timers. */
int proc_timers_parse(const char *buf, size_t len, struct proc_timer **ret, size_t *ret_n);

/* Readers: open /proc/PID/..., read, parse. -ESRCH when the process is gone. */
int proc_read_maps(pid_t pid, bool with_vmflags, struct proc_map **ret, size_t *ret_n);
int proc_read_stat(pid_t pid, struct proc_stat *ret);
int proc_read_status(pid_t pid, struct proc_status *ret);
int proc_read_limits(pid_t pid, struct rlimit *ret); /* RLIM_NLIMITS of them */
int proc_read_timens_offsets(pid_t pid, struct proc_timens_offsets *ret);
int proc_read_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n);
/* Field 22 of a live process's stat; -ESRCH when gone or a zombie. With the
 * PID it names one process for good: a reused PID has another start time. */
int proc_start_time(pid_t pid, uint64_t *ret);
/*
 * 1: a's namespace of a_kind ("pid", "time_for_children"...) is b's of
 * b_kind, 0: not, -errno: a link is missing (-ENOENT: a kernel without
 * that kind, a process gone, or a namespace for children without an init).
 */
int proc_same_ns(pid_t a, const char *a_kind, pid_t b, const char *b_kind);
/*
 * The live process that started at start_time and is ns_pid in its own PID
 * namespace (which may be ours, or one of its own): its PID in ours, or 0.
 * A walk of /proc.
 */
pid_t proc_find_started(uint64_t start_time, pid_t ns_pid);
int proc_read_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret);
/* The whole of fdinfo/FD (an epoll's lists every registration), up to max bytes. */
int proc_read_fdinfo_text(pid_t pid, int fd, size_t max, char **ret, size_t *ret_len);
/* Sorted ascending. */
int proc_read_tids(pid_t pid, pid_t **ret, size_t *ret_n);
int proc_read_fds(pid_t pid, int **ret, size_t *ret_n);
/* Direct children of every thread of pid (task/TID/children), sorted, no duplicates. */
int proc_read_children(pid_t pid, pid_t **ret, size_t *ret_n);
/*
 * Whether user uid:gid could ptrace pid itself, as the kernel's own check
 * would say: the same real, effective, saved and fs uids and gids, no
 * capabilities, dumpable (its /proc files are the user's); a zombie is
 * anyone's. 1 yes; 0 no, with
 * *ret_reason saying why and *ret_uid the process's uid that differs (its
 * effective uid when the uids agree); -ESRCH gone, or another -errno.
 */
int proc_traceable_by(pid_t pid, uid_t uid, gid_t gid, uid_t *ret_uid, const char **ret_reason);
/* readlink() of /proc/PID/<what> (e.g. "exe", "cwd", "fd/3"), newly allocated. */
int proc_readlink(pid_t pid, const char *what, char **ret);
