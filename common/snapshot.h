/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The in-memory model of one snapshot of one process: what dump fills in, what
 * the image stores (image-core.c), what restore consumes and inspect prints.
 * Page contents are not here: regions and files name a page stream, and the
 * page index (page-index.h) says where each stream's pages live.
 */
#pragma once

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/user.h>

#include "macro.h"

#define SNAPSHOT_NONE UINT32_MAX /* "no file", "no stream" */
#define SNAPSHOT_MAX_THREADS 4096
#define SNAPSHOT_MAX_REGIONS 65536
#define SNAPSHOT_MAX_FILES 65536
#define SNAPSHOT_MAX_FDS 65536
#define SNAPSHOT_MAX_PENDING 4096
#define SNAPSHOT_PATH_MAX 4096
#define SNAPSHOT_XSTATE_MAX 65536
#define SNAPSHOT_AUXV_MAX 4096
#define SNAPSHOT_NSIG 64
#define SNAPSHOT_MAX_WATCHES 65536 /* registrations of one epoll */
/* The kernel keeps a time namespace's clocks below KTIME_SEC_MAX / 2 seconds. */
#define SNAPSHOT_CLOCK_MAX_NS (INT64_MAX / 2)
#define SNAPSHOT_MAX_TIMERS 65536
#define SNAPSHOT_MAX_FILTERS 4096	 /* seccomp filters in the whole process */
#define SNAPSHOT_MAX_FILTER_INSNS 4096 /* BPF_MAXINSNS */
#define SNAPSHOT_MAX_MEMBERS 4096 /* processes in a tree besides its root */

/* siginfo_t as the kernel hands it to PTRACE_PEEKSIGINFO. */
struct snapshot_siginfo {
	uint8_t bytes[128];
};

/* The kernel's x86_64 struct sigaction layout (not glibc's). */
struct snapshot_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct snapshot_rseq {
	uint64_t abi_pointer; /* 0: not registered */
	uint32_t size;
	uint32_t signature;
	uint32_t flags;
};

struct snapshot_thread {
	pid_t tid;
	char comm[16];
	struct user_regs_struct regs; /* as stopped; syscall restart is decided at restore */
	uint8_t *xstate;	      /* NT_X86_XSTATE, standard (non-compacted) format */
	size_t xstate_size;
	uint64_t sigmask;
	struct snapshot_rseq rseq;
	uint64_t robust_list;
	uint64_t robust_list_len;
	uint64_t clear_child_tid;
	uint64_t altstack_sp;
	uint64_t altstack_size;
	int32_t altstack_flags;
	struct snapshot_siginfo *pending; /* per-thread queue, oldest first */
	size_t n_pending;
	uint32_t *seccomp; /* indices into snapshot.filters, oldest (installed first) first */
	size_t n_seccomp;
};

struct snapshot_mm {
	uint64_t start_code, end_code;
	uint64_t start_data, end_data;
	uint64_t start_brk, brk;
	uint64_t start_stack;
	uint64_t arg_start, arg_end;
	uint64_t env_start, env_end;
};

struct snapshot_itimer {
	uint64_t interval_ns;
	uint64_t value_ns; /* time left; 0: disarmed */
};

/*
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME at the freeze, as the process saw them
 * (its time namespace's offsets included) and as the host's clocks read. All
 * zero in an image from a ckptd that did not record them.
 */
struct snapshot_clocks {
	int64_t monotonic_ns, boottime_ns;
	int64_t host_monotonic_ns, host_boottime_ns;
};

/* sigev_notify values as the kernel ABI (and the image) has them. */
#define SNAPSHOT_SIGEV_SIGNAL 0
#define SNAPSHOT_SIGEV_NONE 1
#define SNAPSHOT_SIGEV_THREAD_ID 4

/* A POSIX timer (timer_create); the kernel's timer id is what the process holds. */
struct snapshot_timer {
	int32_t id;
	int32_t clock;	 /* clockid_t, CPU clocks included (they encode the saved PID/TID) */
	int32_t notify;	 /* SIGEV_SIGNAL, SIGEV_NONE, or SIGEV_SIGNAL | SIGEV_THREAD_ID */
	int32_t signo;
	uint64_t value;	 /* sigev_value */
	pid_t tid;	 /* SIGEV_THREAD_ID: the thread signalled */
	uint64_t interval_ns;
	uint64_t value_ns; /* time left; 0: disarmed */
};

/* One seccomp filter program; threads sharing it (inherited, TSYNC) refer to one entry. */
struct snapshot_filter {
	uint64_t flags;	 /* SECCOMP_FILTER_FLAG_* from PTRACE_SECCOMP_GET_METADATA */
	uint64_t *insns; /* struct sock_filter, 8 bytes each */
	size_t n_insns;
};

struct snapshot_process {
	pid_t pid, ppid, pgid, sid;
	char comm[16];
	uint64_t start_time; /* clock ticks since boot, /proc/PID/stat field 22 */
	uid_t uid[4];	     /* real, effective, saved, fs */
	gid_t gid[4];
	gid_t *groups;
	size_t n_groups;
	uint64_t cap_inheritable, cap_permitted, cap_effective, cap_bounding, cap_ambient;
	bool no_new_privs;
	int32_t dumpable;
	int32_t pdeathsig; /* PR_SET_PDEATHSIG: the signal it gets when its parent thread dies */
	uint32_t umask;
	uint32_t personality;
	struct snapshot_mm mm;
	uint8_t *auxv;
	size_t auxv_size;
	char *cwd;
	uint32_t exe_file; /* index into snapshot.files */
	char *cmdline;	   /* NUL-separated argv, for people; the real one lives in memory */
	size_t cmdline_size;
	struct rlimit rlimits[RLIM_NLIMITS];
	struct snapshot_sigaction sigactions[SNAPSHOT_NSIG]; /* index: signal - 1 */
	struct snapshot_siginfo *pending;		     /* process-wide queue */
	size_t n_pending;
	struct snapshot_itimer itimers[3]; /* ITIMER_REAL, _VIRTUAL, _PROF */
	uint64_t xcomp_perm;		   /* ARCH_GET_XCOMP_PERM: AMX needs it granted again */
	struct snapshot_clocks clocks;
	struct snapshot_timer *timers;	   /* sorted by id */
	size_t n_timers;
};

/* The CPU's extended state layout at dump, so restore can refuse or convert. */
struct snapshot_cpu {
	uint64_t xcr0;
	uint32_t xstate_size;
	uint32_t xfeature_offset[64];
	uint32_t xfeature_size[64];
	uint64_t xfeatures_used; /* union of the threads' xstate_bv */
};

enum region_kind {
	REGION_KIND_ANON,	 /* private anonymous: heap, stacks, malloc arenas */
	REGION_KIND_FILE,	 /* backed by snapshot.files[file], private or shared */
	REGION_KIND_VDSO,	 /* the kernel's; moved to its saved address, not written */
	REGION_KIND_VVAR,	 /* [vvar]: never read, re-created with the vDSO */
	REGION_KIND_VVAR_VCLOCK, /* [vvar_vclock]: likewise */
	_REGION_KIND_MAX,
};

enum region_flag {
	REGION_FLAG_SHARED = 1u << 0,
	REGION_FLAG_GROWSDOWN = 1u << 1,
	REGION_FLAG_DONTFORK = 1u << 2,
	REGION_FLAG_WIPEONFORK = 1u << 3,
	REGION_FLAG_DONTDUMP = 1u << 4,
	REGION_FLAG_HUGEPAGE = 1u << 5,
	REGION_FLAG_NOHUGEPAGE = 1u << 6,
	REGION_FLAG_NORESERVE = 1u << 7,
	REGION_FLAG_LOCKED = 1u << 8,
	REGION_FLAG_MERGEABLE = 1u << 9,
};

struct snapshot_region {
	uint64_t start, end;
	uint32_t prot;	/* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t flags; /* enum region_flag */
	enum region_kind kind;
	uint32_t file;	 /* REGION_KIND_FILE: index into snapshot.files */
	uint64_t pgoff;	 /* byte offset into the file */
	uint32_t stream; /* pages this process holds privately, or SNAPSHOT_NONE */
	char *name;	 /* as /proc/PID/maps showed it, for people */
};

enum file_kind {
	FILE_KIND_REGULAR,   /* reopened by path; identity checked at restore */
	FILE_KIND_DELETED,   /* a regular file with no name left: contents saved */
	FILE_KIND_MEMFD,     /* contents, name and seals saved */
	FILE_KIND_SHMEM,     /* MAP_SHARED|MAP_ANONYMOUS memory: contents saved */
	FILE_KIND_DIRECTORY, /* reopened by path */
	FILE_KIND_DEVICE,    /* /dev/null and its kin: reopened by path */
	FILE_KIND_EXTERNAL,  /* a pipe, terminal or socket on stdio: not ours to save */
	FILE_KIND_PIPE,	     /* a pipe whose both ends the process holds: contents saved */
	/* Anonymous-inode objects: one file per open file description, state in .anon. */
	FILE_KIND_EVENTFD,  /* counter and EFD_SEMAPHORE */
	FILE_KIND_TIMERFD,  /* clock, settime flags, time left, period, unread ticks */
	FILE_KIND_SIGNALFD, /* signal mask */
	FILE_KIND_EPOLL,    /* registrations, re-made once every fd exists */
	/* Sockets: one file per socket (a socket is one open file description). */
	FILE_KIND_UNIX_PAIR,  /* one end of a socketpair the process holds both ends of */
	FILE_KIND_TCP_CLOSED, /* a TCP socket dumped with --external tcp=close: comes back dead */
	FILE_KIND_UNIX_LISTEN, /* a listening unix socket: bound to its name again (path) */
	_FILE_KIND_MAX,
};

struct snapshot_identity {
	uint64_t dev, ino, rdev;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
	uint8_t build_id[32];
	uint32_t build_id_size; /* 0: none (not an ELF file, or no note) */
};

/* One epoll registration: the target is the process's own fd of that number. */
struct snapshot_epoll_watch {
	int32_t fd;
	uint32_t events; /* as the kernel keeps them: EPOLLET, EPOLLONESHOT... included */
	uint64_t data;
};

/* State of an eventfd, timerfd, signalfd or epoll; each kind uses its own fields. */
struct snapshot_anon {
	uint64_t count;	 /* eventfd: counter; timerfd: expirations not read yet */
	uint32_t flags;	 /* eventfd: EFD_SEMAPHORE; timerfd: TFD_TIMER_ABSTIME, ..._CANCEL_ON_SET */
	int32_t clockid; /* timerfd */
	uint64_t value_ns;    /* timerfd: time left; 0: disarmed */
	uint64_t interval_ns; /* timerfd */
	int64_t expiry_ns;    /* timerfd: value_ns + the timer's clock at dump */
	uint64_t sigmask;     /* signalfd: bit n-1 for signal n */
	struct snapshot_epoll_watch *watches; /* epoll */
	size_t n_watches, allocated_watches;
};

enum socket_option {
	SOCKET_OPTION_PASSCRED = 1u << 0,
	SOCKET_OPTION_PASSPIDFD = 1u << 1,
};

/*
 * A socket. For FILE_KIND_UNIX_PAIR, snapshot_file.stream holds what this end
 * had queued to read (id.size bytes); for SOCK_DGRAM and SOCK_SEQPACKET each
 * message as a 32-bit little-endian length and its bytes, to keep boundaries.
 */
struct snapshot_socket {
	uint32_t family;   /* AF_UNIX, AF_INET, AF_INET6 */
	uint32_t type;	   /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t shutdown; /* this end's sk_shutdown: 1 reads shut, 2 writes shut */
	uint32_t peer;	   /* FILE_KIND_UNIX_PAIR: index of the other end's file */
	uint32_t sndbuf;   /* SO_SNDBUF as getsockopt reports it (doubled), 0: default */
	uint32_t options;  /* enum socket_option */
	uint64_t rcvtimeo_us, sndtimeo_us; /* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
	uint32_t backlog;		   /* FILE_KIND_UNIX_LISTEN */
};

struct snapshot_file {
	enum file_kind kind;
	char *path; /* FILE_KIND_MEMFD: the memfd's name; FILE_KIND_EXTERNAL: what it was */
	struct snapshot_identity id;
	uint32_t stream;	  /* saved contents, or SNAPSHOT_NONE */
	uint32_t seals;		  /* FILE_KIND_MEMFD */
	uint32_t pipe_size;	  /* FILE_KIND_PIPE: its capacity (F_GETPIPE_SZ) */
	bool mapped_shared_write; /* it changes under us: check only that it is the same inode */
	uint64_t share; /* in a tree: the same nonzero value in two processes is one object; 0: own */
	struct snapshot_anon anon;
	struct snapshot_socket sock; /* FILE_KIND_UNIX_PAIR, FILE_KIND_TCP_CLOSED */
};

/* One open file description; fds that share it were dup()ed from one another. */
struct snapshot_open_file {
	uint32_t file;	/* index into snapshot.files */
	uint32_t flags; /* O_ACCMODE and status flags, without O_CLOEXEC */
	uint64_t pos;
	uint64_t share; /* as snapshot_file.share: processes of a tree sharing one description */
};

struct snapshot_fd {
	int32_t fd;
	uint32_t open_file; /* index into snapshot.open_files */
	bool cloexec;
};

/*
 * Another process of the tree whose root this snapshot is. Live members have
 * a snapshot of their own (image_core_member_name()); a zombie is only this.
 */
struct snapshot_member {
	pid_t pid, ppid, pgid, sid;
	char comm[16];
	bool zombie;
	bool shares_fs;	     /* cwd, root and umask shared with its parent (clone CLONE_FS) */
	bool shares_files;   /* its fd table is its parent's (clone CLONE_FILES) */
	int32_t exit_status; /* zombie: as wait() reports it */
};

struct snapshot {
	struct snapshot_process proc;
	struct snapshot_cpu cpu;
	struct snapshot_thread *threads; /* threads[0] is the thread group leader */
	size_t n_threads, allocated_threads;
	struct snapshot_region *regions; /* sorted by address, not overlapping */
	size_t n_regions, allocated_regions;
	struct snapshot_file *files;
	size_t n_files, allocated_files;
	struct snapshot_open_file *open_files;
	size_t n_open_files, allocated_open_files;
	struct snapshot_fd *fds; /* sorted by fd */
	size_t n_fds, allocated_fds;
	struct snapshot_filter *filters; /* seccomp filters; a child's parent comes before it */
	size_t n_filters, allocated_filters;
	struct snapshot_member *members; /* the tree's root only: a parent before its children */
	size_t n_members, allocated_members;
};

struct snapshot *snapshot_new(void);
struct snapshot *snapshot_free(struct snapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct snapshot *, snapshot_free);

/* Appenders return a zeroed element (NULL on allocation failure) owned by the snapshot. */
struct snapshot_thread *snapshot_add_thread(struct snapshot *s);
struct snapshot_region *snapshot_add_region(struct snapshot *s);
struct snapshot_file *snapshot_add_file(struct snapshot *s);
struct snapshot_open_file *snapshot_add_open_file(struct snapshot *s);
struct snapshot_fd *snapshot_add_fd(struct snapshot *s);
struct snapshot_epoll_watch *snapshot_add_watch(struct snapshot_file *f);
/* The kinds whose state lives in snapshot_file.anon, one file per description. */
bool file_kind_is_anon(enum file_kind k);
bool file_kind_is_socket(enum file_kind k);
struct snapshot_filter *snapshot_add_filter(struct snapshot *s);
struct snapshot_member *snapshot_add_member(struct snapshot *s);

/* Structural checks that a decoded snapshot must pass before anything uses it. */
int snapshot_validate(const struct snapshot *s, const char **ret_reason);
/*
 * Across the processes of a tree, each validated alone first: one nonzero
 * share key, of a file or of an open file description, is one object (a
 * hostile image giving one key to files of different kinds would have one
 * process handed another's). -EBADMSG with ret_pair the two processes
 * (indices into snaps) and *ret_reason what they share ("a file").
 */
int snapshot_validate_shares(const struct snapshot *const *snaps, size_t n, size_t ret_pair[2],
			     const char **ret_reason);

const char *region_kind_to_string(enum region_kind k);
const char *file_kind_to_string(enum file_kind k);
/* "r-xp" as maps shows it. */
const char *region_prot_to_string(const struct snapshot_region *r, char buf[static 5]);
