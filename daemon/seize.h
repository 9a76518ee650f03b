/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Freezing a process for a snapshot: every thread seized with PTRACE_SEIZE
 * and stopped with PTRACE_INTERRUPT (which leaves job control and pending
 * signals alone), re-reading the thread list until no new thread appears.
 * Before that, the checks that refuse targets ckptd must not or cannot touch.
 */
#pragma once

#include <sys/ptrace.h>
#include <sys/types.h>

#include "macro.h"

/*
 * Options of every seized thread: injected syscalls pass any seccomp filter.
 * A thread let run its own code must not keep PTRACE_O_SUSPEND_SECCOMP.
 */
#define SEIZE_OPTIONS_RUNNING PTRACE_O_TRACESYSGOOD
#define SEIZE_OPTIONS (SEIZE_OPTIONS_RUNNING | PTRACE_O_SUSPEND_SECCOMP)

struct seized_thread {
	pid_t tid;
	int status; /* of its stop */
};

struct seized {
	pid_t pid;
	struct seized_thread *threads; /* threads[0] is the leader */
	size_t n_threads, allocated;
};

/*
 * Refuses, with an error that names the cause, a target that is gone, a
 * kernel thread, init, ckptd itself, a zombie, a thread id, a process traced
 * by someone else, or one in other namespaces: for the root (pid == root)
 * other than ours but for a PID namespace, for a member other than the
 * root's.
 */
int seize_check(pid_t pid, pid_t root);

/*
 * Stops every thread of pid; on failure every thread seized so far is
 * released. -ESRCH, unreported, when pid exits meanwhile.
 */
int seize_process(pid_t pid, int timeout_ms, struct seized **ret);
/* Detaches every thread (they go on as they were) and frees. */
struct seized *seize_release(struct seized *s);
/* Frees without detaching: for a target that was killed. */
struct seized *seize_free(struct seized *s);
