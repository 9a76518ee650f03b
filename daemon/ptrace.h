/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Thin, checked wrappers around ptrace(2) and waiting for tracee stops. The
 * caller must keep SIGCHLD blocked (ptrace_setup() does it): stops are
 * awaited with sigtimedwait() so a task that never stops cannot hang us.
 */
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include "snapshot.h"

#define PTRACE_EVENT_STOP_STATUS(status) ((status) >> 16 == PTRACE_EVENT_STOP)

void ptrace_setup(void);

int ptrace_seize(pid_t tid, unsigned long options);
int ptrace_interrupt(pid_t tid);
int ptrace_detach(pid_t tid);
int ptrace_cont(pid_t tid, int sig);
int ptrace_syscall(pid_t tid);

/*
 * Waits for tid to report (a stop, or its end). -ETIMEDOUT after timeout_ms,
 * -ESRCH if it is not our tracee any more.
 */
int ptrace_wait(pid_t tid, int timeout_ms, int *ret_status);
/* Waits for the next stop; -ESRCH with *ret_status set if the task ended instead. */
int ptrace_wait_stop(pid_t tid, int timeout_ms, int *ret_status);

int ptrace_get_regs(pid_t tid, struct user_regs_struct *ret);
int ptrace_set_regs(pid_t tid, const struct user_regs_struct *regs);
/* *size in: buffer size; out: the kernel's xstate size. */
int ptrace_get_xstate(pid_t tid, void *buf, size_t *size);
int ptrace_set_xstate(pid_t tid, const void *buf, size_t size);
int ptrace_get_sigmask(pid_t tid, uint64_t *ret);
int ptrace_set_sigmask(pid_t tid, uint64_t mask);
int ptrace_get_rseq(pid_t tid, struct snapshot_rseq *ret);
/* All queued signals of the thread (shared=false) or the process (shared=true), oldest first. */
int ptrace_peek_siginfo(pid_t tid, bool shared, struct snapshot_siginfo **ret, size_t *ret_n);
int ptrace_get_event_msg(pid_t tid, unsigned long *ret);
