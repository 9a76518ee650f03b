/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the restore-*.c files share while one process is brought back.
 * Private to restore; engine.h is the interface.
 *
 * The order: load and verify the image; check everything it depends on
 * (CPU, PIDs, files); prepare every file in this process; fork the stub
 * with the saved PID; then drive the stub by ptrace: memory, mm layout,
 * signals, threads, credentials, registers; detach.
 */
#pragma once

#include "engine.h"
#include "image.h"
#include "inject.h"
#include "pack.h"
#include "page-index.h"
#include "snapshot.h"

#define RESTORE_CHUNK_PAGES 256
#define RESTORE_TRAMP_SIZE (512 * 1024) /* code page, data, and a stack for nothing */
#define RESTORE_TRAMP_AMX 64		 /* offset of the AMX warm-up code */
/* ptrace options of the stub; threads it clones inherit them. */
#define RESTORE_STUB_OPTIONS (PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE)

struct restore_tree;

/* A file the process appended to, grown since the snapshot (restore-append.c). */
struct restore_cut {
	int fd;	       /* opened for writing, with the rights the restore opens files with */
	uint32_t file; /* index into snapshot.files */
	int dir_fd;    /* the file's directory, and in it */
	char *aside;   /* the file made for what is cut, or NULL */
	int aside_fd;
	bool kept;     /* what was cut is in aside */
};

struct restore_ctx {
	const struct restore_options *opts;
	struct restore_tree *tree; /* this process is tree->procs[index] */
	size_t index;
	bool borrowed_image;	   /* img, pages and packs are the root's */
	struct image *img;
	struct snapshot *snap;
	struct page_index *pages;
	struct pack_reader **packs; /* parallel to pages->packs */
	struct snapshot_cpu cpu;    /* this CPU */
	uint8_t *buf;		    /* RESTORE_CHUNK_PAGES pages */

	/* Prepared in this process before the stub exists (restore-files.c). */
	int *file_fds; /* per snapshot file: what mappings map, -EBADF if none */
	int *open_fds; /* per open file description */
	int sync_fd[2];
	int stdio_fds[3]; /* per saved fd 0..2 that was a pipe or terminal: its stand-in */
	bool stdio_redirected;
	struct restore_cut *cuts; /* files to cut back once nothing else can fail */
	size_t n_cuts;

	/* The stub (restore-stub.c) and its fds once it has rearranged them. */
	pid_t pid;
	int stub_fd_base; /* file_fds[i] is stub fd stub_fd_base + i */
	int stub_fd_end;  /* what is staged for this process ends here */
	struct inject_target inj;
	struct inject_thread *threads; /* parallel to snap->threads */
	uint64_t pages_written, pages_to_write; /* progress */
	uint64_t tramp;		       /* the trampoline page in the stub */
	uint64_t tramp_data;
	size_t tramp_data_size;
};

/* An object the processes of a tree share (snapshot_file.share, snapshot_open_file.share). */
struct restore_shared {
	uint64_t key;
	bool description; /* an open file description, else a file object */
	int fd;		  /* ours, kept until the restore ends */
};

/* The processes of one image: procs[0] is the root, which owns the image and its packs. */
struct restore_tree {
	struct restore_ctx *procs;
	size_t n;
	pid_t init; /* with opts->pidns: the namespace's PID 1 (our child), else 0 */
	bool pid_taken; /* failed because a PID or TID it needs is someone else's */
	struct restore_shared *shared;
	size_t n_shared, allocated_shared;
};

/* restore-anon.c: an eventfd, timerfd, signalfd or epoll with its saved state, or -errno. */
int restore_create_anon(const struct snapshot_file *f);

/* restore-files.c: sizes fd as f and writes f's saved contents into it. */
int restore_fill_file(struct restore_ctx *c, const struct snapshot_file *f, int fd);
/* restore-sockets.c: both ends of pair file i into c->file_fds, queues and shutdowns done. */
int restore_create_pair(struct restore_ctx *c, uint32_t i);
/* A unix socket listening on its saved name again (a stale socket file there is replaced). */
int restore_create_listener(struct restore_ctx *c, uint32_t i);
/* A TCP socket that never connected, for one dumped with --external tcp=close. */
int restore_create_tcp_closed(struct restore_ctx *c, uint32_t i);
/* Runs in the stub once its fds are the saved ones; -errno. */
int restore_epoll_watches(const struct snapshot *s);

/* restore-files.c */
/* A dup of the fd made for key by another process of the tree, or -ENOENT. */
int restore_shared_get(struct restore_ctx *c, bool description, uint64_t key);
/* Keeps a dup of fd for the other processes that share key. */
int restore_shared_put(struct restore_ctx *c, bool description, uint64_t key, int fd);
int restore_check_files(struct restore_ctx *c);
int restore_prepare_files(struct restore_ctx *c);
/* memfd seals go on last: a seal may forbid the mappings the stub still has to make. */
int restore_seal_files(struct restore_ctx *c);
void restore_close_files(struct restore_ctx *c);

/* restore-append.c: files the process appended to that grew, cut back to their size then. */
int restore_plan_cuts(struct restore_ctx *c);
void restore_cut_files(struct restore_ctx *c);
void restore_cuts_done(struct restore_ctx *c);

/* restore-stub.c: "syscall; ret" in ckptd's own text, which the stub shares until it unmaps it. */
extern const char ckptd_stub_syscall[];
int restore_check_pids(struct restore_tree *t);
/* Thread tid (as the process numbers it) as we number it: they differ with pidns. */
int restore_our_tid(const struct restore_ctx *c, pid_t tid, pid_t *ret);
/*
 * A PID or TID the tree needs is someone else's (just_now: it was free at
 * the check): says whose, remembers it for restore_result.pid_taken; -EEXIST.
 */
int restore_pid_in_use(struct restore_tree *t, pid_t id, bool thread, bool just_now);
/* Every process of the tree as a stub, each seized and stopped. */
int restore_fork_stubs(struct restore_tree *t);
void restore_kill_stubs(struct restore_tree *t);

/* restore-mem.c */
typedef int (*restore_page_sink)(struct restore_ctx *c, uint64_t first_page, size_t n,
				 const uint8_t *data, void *userdata);
/*
 * Hands a stream's pages to sink in order, read and verified from the packs;
 * data is NULL for pages that must read as zeros.
 */
int restore_stream(struct restore_ctx *c, uint32_t stream, restore_page_sink sink,
		   void *userdata);
int restore_memory(struct restore_ctx *c);
/* restore-fill.c: writes the saved pages of every region needs_fill() names. */
int restore_fill(struct restore_ctx *c,
		 bool (*needs_fill)(const struct restore_ctx *, const struct snapshot_region *));
/* Injects a syscall into the stub's main thread; -errno from the call itself is returned. */
int restore_syscall(struct restore_ctx *c, size_t thread, long nr, const uint64_t args[6],
		    int64_t *ret_result);
#define STUB_CALL(c, thread, nr, res, ...)                                                         \
	restore_syscall((c), (thread), (nr), (const uint64_t[6]){ __VA_ARGS__ }, (res))
/* Writes into the trampoline's data area; returns the address it landed at. */
int restore_put(struct restore_ctx *c, size_t offset, const void *buf, size_t len,
		uint64_t *ret_addr);

/* vdso.c */
int restore_vdso(struct restore_ctx *c);

/* restore-thread.c */
int restore_process_state(struct restore_ctx *c);
int restore_threads(struct restore_ctx *c);
/* Everything but letting go: the threads stay stopped with their own registers. */
int restore_finish(struct restore_ctx *c);
/* Lets every thread run (the whole tree is done by then). */
void restore_release(struct restore_ctx *c);
