/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running system calls inside a stopped task. The thread is pointed at a
 * syscall instruction already in its address space (the vDSO's, at dump; the
 * restore trampoline's, at restore) and driven through its syscall-entry and
 * -exit stops. At dump, a sigreturn frame holding the thread's own state sits
 * below its stack's red zone and the instruction sequence after the syscall
 * returns into glibc's __restore_rt: if ckptd dies at any instant, the thread
 * puts its own registers and signal mask back and runs on.
 */
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include "snapshot.h"

#define INJECT_AREA_SIZE (24 * 1024) /* frame, fpstate and scratch data */

struct inject_target {
	pid_t pid;
	int mem_fd;	     /* /proc/PID/mem */
	uint64_t syscall_ip; /* a syscall instruction whose code goes on to a ret */
	uint64_t restore_rt; /* "mov $15, %rax; syscall", or 0: no safety frame */
	const struct snapshot_cpu *cpu;
};

struct inject_thread {
	pid_t tid;
	struct user_regs_struct regs; /* the thread's own */
	uint64_t sigmask;	      /* the thread's own */
	uint64_t rsp;		      /* stack pointer while running injected calls */
	uint64_t data;		      /* scratch for arguments and results */
	size_t data_size;
	pid_t child;		      /* set by a fork or clone it ran */
	bool changed;		      /* registers or mask differ from its own */
	bool at_syscall_stop;	      /* its last stop was a syscall exit */
};

int inject_open(pid_t pid, uint64_t syscall_ip, uint64_t restore_rt,
		const struct snapshot_cpu *cpu, struct inject_target *ret);
void inject_close(struct inject_target *t);

/*
 * Prepares a thread stopped in a ptrace stop. [area_lo, area_hi) is writable
 * memory in the target that nothing uses while the thread is stopped. With
 * xstate and a restore_rt, a sigreturn frame is written there first.
 */
int inject_thread_begin(struct inject_target *t, pid_t tid, const struct user_regs_struct *regs,
			uint64_t sigmask, const uint8_t *xstate, uint64_t area_lo, uint64_t area_hi,
			struct inject_thread *ret);

/* Runs syscall nr with up to six arguments; *ret_result is the raw return value. */
int inject_syscall(struct inject_target *t, struct inject_thread *th, long nr,
		   const uint64_t args[6], int64_t *ret_result);

/* The same, entering at ip: code there runs first and must end in the syscall. */
int inject_syscall_at(struct inject_target *t, struct inject_thread *th, uint64_t ip, long nr,
		      const uint64_t args[6], int64_t *ret_result);

#define INJECT(t, th, nr, res, ...)                                                               \
	inject_syscall((t), (th), (nr), (const uint64_t[6]){ __VA_ARGS__ }, (res))

/*
 * Gives the thread regs (its own when NULL) and sigmask and leaves it in a
 * stop inside the kernel's signal path, so that PTRACE_DETACH resumes it the
 * way the kernel resumes a stopped task: an interrupted syscall is restarted,
 * or fails with EINTR, exactly as without ckptd.
 */
int inject_thread_end(struct inject_target *t, struct inject_thread *th,
		      const struct user_regs_struct *regs, uint64_t sigmask);

int inject_write(struct inject_target *t, uint64_t addr, const void *buf, size_t len);
int inject_read(struct inject_target *t, uint64_t addr, void *buf, size_t len);
