// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The manager's seccomp allow-list (libseccomp): what an event loop that
 * parses untrusted JSON, reads /proc and writes its state directory needs,
 * and nothing that could take over a process or the system. A call outside
 * the list fails with EPERM; the calls an attacker wants most (ptrace,
 * exec, fork, mounts, ids) kill the manager outright, and the spawner then
 * stops the daemon. Workers are forked by the spawner and never see this.
 */
#define LOG_PREFIX "sandbox: "

#include <seccomp.h>

#include "daemon.h"
#include "log.h"

static const char *const allowed[] = {
	/* files in /proc and the state directory */
	"openat", "open", "close", "close_range", "read", "pread64", "readv", "write", "pwrite64",
	"writev", "lseek", "fstat", "newfstatat", "statx", "stat", "lstat", "fstatfs", "getdents64",
	"readlink", "readlinkat", "mkdirat", "unlinkat", "renameat", "renameat2", "symlinkat",
	"fsync", "fdatasync", "ftruncate", "fchmod", "fchmodat", "fchown", "fcntl", "flock",
	"faccessat", "faccessat2", "access", "dup", "dup3", "fallocate", "sync_file_range",
	"fadvise64",
	/* the event loop and the sockets */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd4", "eventfd2",
	"accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "getsockopt", "setsockopt",
	"shutdown", "getsockname", "getpeername", "pidfd_send_signal", "ioctl",
	/* memory, time, signals, identity queries */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "clock_gettime",
	"clock_nanosleep", "nanosleep", "gettimeofday", "rt_sigprocmask", "rt_sigaction",
	"rt_sigreturn", "kill", "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid",
	"getegid", "getrandom", "sysinfo", "uname", "prlimit64", "sched_getaffinity",
	"sched_yield", "restart_syscall", "exit", "exit_group", "getrusage", "rseq",
};

static const char *const fatal[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "execve", "execveat", "fork", "vfork",
	"clone", "clone3", "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
	"setfsuid", "setfsgid", "capset", "init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load", "bpf", "perf_event_open", "keyctl", "add_key",
	"request_key", "personality", "userfaultfd", "io_uring_setup", "open_by_handle_at",
	"name_to_handle_at", "mknod", "mknodat", "swapon", "swapoff", "reboot",
};

static int add_rules(scmp_filter_ctx ctx, const char *const *names, size_t n, uint32_t action)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		r = seccomp_rule_add(ctx, action, nr, 0);
		if (r < 0)
			return log_error_errno(r, "Cannot add %s to the seccomp filter: %m",
					       names[i]);
	}
	return 0;
}

int sandbox_apply(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r;

	if (!ctx)
		return log_error_errno(-ENOMEM, "Cannot create a seccomp filter");
	r = add_rules(ctx, allowed, ELEMENTSOF(allowed), SCMP_ACT_ALLOW);
	if (r >= 0)
		r = add_rules(ctx, fatal, ELEMENTSOF(fatal), SCMP_ACT_KILL_PROCESS);
	if (r >= 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return log_error_errno(r, "Cannot confine the manager with seccomp: %m");
	return 0;
}
