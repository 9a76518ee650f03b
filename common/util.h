/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File, string and time helpers shared by every part. Pure or plain-syscall
 * code only: nothing here ptraces, forks or logs above debug.
 */
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <time.h>

#include "macro.h"

/* Reads a whole file (at most max bytes, else -E2BIG); the result is NUL-terminated. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
int read_full_file_at(int dfd, const char *path, size_t max, char **ret, size_t *ret_len);

/* A DIR for fd, which it takes over: on failure fd is closed too. */
int fdopendir_consume(int fd, DIR **ret);
/* opendir() relative to dfd, flags added to O_RDONLY | O_DIRECTORY | O_CLOEXEC. */
int opendir_at(int dfd, const char *path, int flags, DIR **ret);

int fd_set_cloexec_nonblock(int fd);

/* One message with up to 8 fds attached (SCM_RIGHTS). */
#define PASS_FDS_MAX 8
ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds);
/* Received fds are O_CLOEXEC; more than max are closed and -EPROTO returned. */
ssize_t recv_with_fds(int sock, void *buf, size_t size, int *fds, size_t max, size_t *ret_n_fds);

int write_all(int fd, const void *buf, size_t len);
int pwrite_all(int fd, const void *buf, size_t len, off_t offset);
/* Reads exactly len bytes at offset; a short file gives -EBADMSG. */
int pread_exact(int fd, void *buf, size_t len, off_t offset);

/*
 * The first offset in [start, end) of fd at which match() holds, read in
 * chunks so that an early match costs little (match may look up to
 * SCAN_LOOKAHEAD bytes ahead; left is what the buffer holds from p on).
 * 1 and *ret when found, 0 when not found or unreadable, -ENOMEM.
 */
#define SCAN_LOOKAHEAD 64
int scan_fd(int fd, uint64_t start, uint64_t end, bool (*match)(const uint8_t *p, size_t left),
	    uint64_t *ret);

/* Writes a file under dfd durably: temporary name, fsync, rename, fsync of the directory. */
int write_file_atomic_at(int dfd, const char *name, const void *buf, size_t len, mode_t mode);
int fsync_dir_at(int dfd, const char *path);
/*
 * Removes dfd/name and, if it is a directory, everything under it. Never follows a
 * symlink and never descends into another mount (-EXDEV); removes what it can and
 * returns the first error. -ENOENT if name does not exist.
 */
int rm_rf_at(int dfd, const char *name);

/* Strict numbers: the whole string must parse, no sign for unsigned, no overflow. */
int parse_u64(const char *s, int base, uint64_t *ret);
int parse_u32(const char *s, int base, uint32_t *ret);
int parse_i32(const char *s, int base, int32_t *ret);
int parse_pid(const char *s, pid_t *ret);
/* "30s", "10m", "2h", "1d", "500ms"; a bare number is seconds. Result in nanoseconds. */
int parse_duration(const char *s, uint64_t *ret_ns);

/* "12.3 MiB": writes into buf and returns it. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);
/* "41 ms", "1.20 s", "3m 20s". */
const char *format_duration(char *buf, size_t size, uint64_t ns);
#define FORMAT_BYTES_MAX 32
#define FORMAT_DURATION_MAX 32

uint64_t now_ns(clockid_t clock);

bool string_has_prefix(const char *s, const char *prefix);
bool string_has_suffix(const char *s, const char *suffix);
/* A plain file name: not empty, not starting with '.', no '/' or '@', printable, ≤ 64 bytes. */
bool name_is_valid(const char *s);

char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
