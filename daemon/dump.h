/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the dump-*.c files share while one snapshot is taken. Private to the
 * dump; engine.h is the interface.
 */
#pragma once

#include <sys/stat.h>

#include "engine.h"
#include "inject.h"
#include "pack.h"
#include "page-index.h"
#include "proc.h"
#include "seize.h"
#include "snapshot.h"
#include "sock-diag.h"

#define DUMP_CHUNK_PAGES 256 /* 1 MiB read at a time */

struct dump_pipe_end {
	uint64_t ino;
	uint32_t modes; /* 1 read, 2 write */
};

struct dump_socket_fd {
	uint64_t ino;
	int fd; /* one fd of the process holding it */
};

struct dump_tree;

struct dump_ctx {
	pid_t pid;
	struct dump_tree *tree; /* every process of the snapshot; this one is tree->procs[index] */
	size_t index;
	bool borrowed_store;	/* pages, pack and known are the root's */
	const struct dump_options *opts;
	struct seized *seized;
	struct snapshot *snap;
	struct proc_map *maps;
	size_t n_maps;
	/* smaps read before the freeze, whose flags the freeze borrows (see dump-mem.c) */
	struct proc_map *pre_maps;
	size_t n_pre_maps;
	bool flags_borrowed;
	struct inject_target inj;
	struct inject_thread *threads; /* parallel to snap->threads */
	uint64_t mmap_area;	       /* scratch mapped into the target, or 0 */
	uint64_t sig_not_default;      /* SigCgt | SigIgn: bit n-1 for signal n */
	uint64_t yield_until_ns;       /* CLOCK_MONOTONIC: nice 19 until then; 0: not yielding */
	struct page_index *pages;
	struct pack_writer *pack;
	struct page_hash_index *known;
	uint8_t *buf; /* DUMP_CHUNK_PAGES pages */
	uint64_t pages_total;
	uint64_t pages_read, pages_estimate; /* for progress: read so far, of about this many */
	struct dump_pipe_end *pipe_ends;
	size_t n_pipe_ends, allocated_pipe_ends;
	struct dump_socket_fd *sockets; /* every socket the process holds */
	size_t n_sockets, allocated_sockets;
	struct unix_sock_info *unix_socks; /* sock_diag's view, read once there are sockets */
	size_t n_unix_socks;
	pid_t mem_pid;	  /* whose memory pages are read from: the target or its copy */
	int mem_fd;	  /* /proc/<mem_pid>/mem */
	pid_t child;	  /* the copy-on-write copy, or 0 */
	pid_t child_ns;	  /* the copy's PID where the target is (clone's return) */
	struct inject_thread child_th; /* the copy, held after its clone: syscalls run in it */
	uint64_t child_code;	       /* ckptd's code page, still mapped in the copy */
	/* pages read from the copy, not yet dropped from it: [start, end) of the region at base */
	uint64_t drop_base, drop_start, drop_end;
	bool drop_off; /* the copy stopped answering: leave its pages to its death */
	uint64_t drops, dropped_bytes, drop_ns; /* for the debug log */
	pid_t *stale;	  /* copies a crashed ckptd left as zombies, to collect */
	size_t n_stale, allocated_stale;
};

/* The processes of one snapshot: procs[0] is the root, a parent comes before its children. */
struct dump_tree {
	struct dump_ctx *procs;
	size_t n, allocated;
};

/* dump-tree.c */
/*
 * Freezes every descendant of procs[0] (frozen already); zombies become its
 * members. With opts->check_owner each is checked before it is seized, and
 * every one again once all are frozen.
 */
int dump_seize_tree(struct dump_tree *t, int timeout_ms);
/* With o->check_owner: -EPERM (said why, naming pid and its uid) unless the owner could trace pid. */
int dump_check_owner(const struct dump_options *o, pid_t pid, pid_t root);
/* Whether pid is the root or a member (live or zombie) found so far. */
bool dump_tree_has(const struct dump_tree *t, pid_t pid);
/* A socket pair end a process before c saved, and its other end, in ret[0..1]. */
bool dump_tree_earlier_pair(const struct dump_ctx *c, uint64_t dev, uint64_t ino,
			    const struct snapshot_file *ret[static 2]);
/* Keys for the files and descriptions processes share (after every capture, still frozen). */
void dump_tree_share(struct dump_tree *t);
/* Lets every process go on (those of procs still held). */
void dump_tree_release(struct dump_tree *t);
/* The same inode as saved by a process before c, to share its saved contents; or NULL. */
const struct snapshot_file *dump_tree_earlier_file(const struct dump_ctx *c, enum file_kind kind,
						   uint64_t dev, uint64_t ino);

/* dump-pidns.c */
/*
 * A tree in a PID namespace of its own gets the PIDs it has there in what
 * is saved (frozen, after the capture, which uses ours). Nothing in ours.
 */
int dump_pidns_convert(struct dump_tree *t);
/* A child of c's target as the target numbers it (what a wait4 injected there needs); 0: gone. */
pid_t dump_ns_pid_of_child(const struct dump_ctx *c, pid_t child);

/* dump-proc.c: registers and everything per thread and per process that is not memory. */
/* Lets threads caught off their stacks move on; 1 if any moved (read the maps again). */
int dump_prepare_threads(struct dump_ctx *c);
int dump_threads(struct dump_ctx *c);
int dump_process_state(struct dump_ctx *c);
int dump_injected_state(struct dump_ctx *c);
/* dump-seccomp.c: every thread's seccomp filters (after dump_threads). */
int dump_seccomp(struct dump_ctx *c);
/* Puts every thread's own registers and mask back; safe to call twice. */
void dump_uninject(struct dump_ctx *c);

/* The scratch range of a thread's stack for injection; -ENOSPC when there is none. */
int dump_thread_scratch(struct dump_ctx *c, pid_t tid, const struct user_regs_struct *regs,
			uint64_t *ret_lo, uint64_t *ret_hi);

/* Back to our normal priority once a yielding snapshot has run long (dump.c). */
void dump_check_yield(struct dump_ctx *c);

/* dump-mem.c */
/* Before the freeze: the maps with their flags (smaps walks every page table: slow). */
void dump_preread_maps(struct dump_ctx *c);
/* Frozen: the maps, with flags from the pre-read where nothing changed. */
int dump_read_maps(struct dump_ctx *c);
/* The copy's flags match what was borrowed; -ESTALE when the pre-read was outrun. */
int dump_check_copy_flags(struct dump_ctx *c);
/* Regions and file objects, and the pages a fork would not copy (DONTFORK, WIPEONFORK). */
int dump_regions(struct dump_ctx *c);
/* The other private pages, from c->mem_pid. */
int dump_region_pages(struct dump_ctx *c);
/* Stores pages [start, end) of the target into stream; zero pages only if keep_zero. */
int dump_pages(struct dump_ctx *c, uint32_t stream, uint64_t base, uint64_t start, uint64_t end,
	       bool keep_zero);
/* Stores the contents of an open file (through fd, in the daemon) as a new stream. */
int dump_file_contents(struct dump_ctx *c, int fd, uint32_t *ret_stream);

/* dump-fork.c */
int dump_fork_child(struct dump_ctx *c);
/* madvise(MADV_DONTNEED) of [start, end) in the copy: -errno when the copy is out of reach. */
int dump_child_drop(struct dump_ctx *c, uint64_t start, uint64_t end);
void dump_kill_child(struct dump_ctx *c);
/* Has the target collect its dead copy (a zombie of its own, invisible to its wait()). */
int dump_reap_copy(struct dump_ctx *c);

/* dump-files.c */
/* Which pipe ends and sockets the process holds, for the whole tree to see (frozen). */
int dump_scan_fds(struct dump_ctx *c);
int dump_fds(struct dump_ctx *c);
/* kcmp(KCMP_FILE): whether fds a and b of pid share one open file description. */
bool dump_same_description(pid_t pid, int a, int b);
/* Finds or adds the file object for an inode; path as /proc shows it. */
int dump_file_object(struct dump_ctx *c, const char *path, bool deleted, int fd,
		     uint32_t *ret_index);

/* The target's fd as an fd of ours (pidfd_getfd: the same open file description), or -errno. */
int dump_copy_fd(const struct dump_ctx *c, int fd);

/* dump-sockets.c: which sockets the process holds (before dump_fd). */
/* Whether a process of the tree (this one first) holds socket ino. */
bool dump_holds_socket(const struct dump_ctx *c, uint64_t ino);
int dump_scan_sockets(struct dump_ctx *c, const int *fds, size_t n);
/* A socketpair's two ends, a TCP socket given up, or a refusal naming the fd. */
int dump_socket_object(struct dump_ctx *c, int fd, const struct stat *st, uint32_t *ret_index);

/* dump-socketpair.c */
struct dump_pair_end {
	pid_t pid; /* the process of the tree holding it */
	int fd;	 /* that process's */
	int own; /* our copy of it */
	const struct unix_sock_info *info;
	uint32_t file;
};
/* Fills in both ends' file objects, queues included. */
int dump_socketpair(struct dump_ctx *c, struct dump_pair_end ends[static 2]);

/* dump-anon.c: eventfd, timerfd, signalfd, epoll (and inotify, refused). */
bool dump_anon_handles(const char *link);
int dump_anon_object(struct dump_ctx *c, int fd, const char *link, uint32_t *ret_index);
