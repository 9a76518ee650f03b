// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Implementation of util.h. The atomic file write is the one durability
 * primitive small files use; page data has its own in pack.c.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "util.h"

int grow_array(void **array, size_t *allocated, size_t need, size_t elem_size)
{
	size_t n;
	void *p;

	if (need <= *allocated)
		return 0;
	n = MAX(need, MAX(*allocated * 2, (size_t) 8));
	if (n > SIZE_MAX / elem_size)
		return -ENOMEM;
	p = realloc(*array, n * elem_size);
	if (!p)
		return -ENOMEM;
	memset((char *) p + *allocated * elem_size, 0, (n - *allocated) * elem_size);
	*array = p;
	*allocated = n;
	return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, allocated = 0;

	for (;;) {
		ssize_t n;

		if (len + 1 >= allocated) {
			size_t want = allocated ? allocated * 2 : 4096;
			char *p;

			/* Written so that max == SIZE_MAX does not wrap around. */
			if (allocated > 0 && allocated - 1 > max)
				return -E2BIG;
			p = realloc(buf, want);
			if (!p)
				return -ENOMEM;
			buf = p;
			allocated = want;
		}
		n = read(fd, buf + len, allocated - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		if (len > max)
			return -E2BIG;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_full_file_at(int dfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	return read_full_fd(fd, max, ret, ret_len);
}

int fdopendir_consume(int fd, DIR **ret)
{
	DIR *d = fdopendir(fd);

	if (!d) {
		int r = -errno;

		(void) close(fd);
		return r;
	}
	*ret = d;
	return 0;
}

int opendir_at(int dfd, const char *path, int flags, DIR **ret)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);

	if (fd < 0)
		return -errno;
	return fdopendir_consume(fd, ret);
}

int fd_set_cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * PASS_FDS_MAX)];
	} control = {};
	struct iovec iov = { (void *) buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (n_fds > PASS_FDS_MAX)
		return -E2BIG;
	if (n_fds) {
		struct cmsghdr *c;

		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t recv_with_fds(int sock, void *buf, size_t size, int *fds, size_t max, size_t *ret_n_fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * PASS_FDS_MAX)];
	} control;
	struct iovec iov = { buf, size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	size_t got = 0;
	bool extra = false;
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < max)
				fds[got++] = fd;
			else {
				(void) close(fd);
				extra = true;
			}
		}
	}
	*ret_n_fds = got;
	if (extra || mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		for (size_t i = 0; i < got; i++)
			(void) close(fds[i]);
		*ret_n_fds = 0;
		return -EPROTO;
	}
	return n;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int pwrite_all(int fd, const void *buf, size_t len, off_t offset)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t) n;
		offset += n;
	}
	return 0;
}

int pread_exact(int fd, void *buf, size_t len, off_t offset)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG;
		p += n;
		len -= (size_t) n;
		offset += n;
	}
	return 0;
}

/* Chunks overlap by the lookahead, so no match is cut in two. */
#define SCAN_CHUNK (64 * 1024)

int scan_fd(int fd, uint64_t start, uint64_t end, bool (*match)(const uint8_t *p, size_t left),
	    uint64_t *ret)
{
	_cleanup_free_ uint8_t *buf = malloc(SCAN_CHUNK);
	uint64_t at = start;

	if (!buf)
		return -ENOMEM;
	while (at < end) {
		size_t len = (size_t) MIN((uint64_t) SCAN_CHUNK, end - at);
		size_t scan = at + len == end ? len : len - SCAN_LOOKAHEAD;

		if (pread_exact(fd, buf, len, (off_t) at) < 0)
			return 0;
		for (size_t i = 0; i < scan; i++)
			if (match(buf + i, len - i)) {
				*ret = at + i;
				return 1;
			}
		at += scan;
	}
	return 0;
}

int fsync_dir_at(int dfd, const char *path)
{
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Deep enough for any tree ckptd makes; a deeper one is not ours to remove. */
#define RM_RF_MAX_DEPTH 32

/* 1 if fd (a directory) is on the same mount as its parent, 0 if it is a mount point. */
static int dir_same_mount(int parent_fd, int fd)
{
	struct statx a, b;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &a) < 0)
		return -errno;
	if (a.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return !(a.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	/* Older kernels: a different device at least shows a mount; bind mounts stay hidden. */
	if (statx(parent_fd, "", AT_EMPTY_PATH, STATX_TYPE, &b) < 0)
		return -errno;
	return a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
}

static int rm_rf_one(int dfd, const char *name, unsigned depth);

/* Empties the directory fd (taken over); keeps going past errors and returns the first. */
static int rm_rf_children(int fd, unsigned depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	int r = 0;

	r = fdopendir_consume(fd, &d);
	if (r < 0)
		return r;
	for (;;) {
		struct dirent *de;
		int k;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0 && r >= 0)
				r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		k = rm_rf_one(dirfd(d), de->d_name, depth);
		if (k < 0 && k != -ENOENT && r >= 0)
			r = k;
	}
	return r;
}

static int rm_rf_one(int dfd, const char *name, unsigned depth)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	/* unlink(2) a directory fails with EISDIR on Linux; anything else (a symlink too) goes. */
	if (unlinkat(dfd, name, 0) >= 0)
		return 0;
	if (errno != EISDIR)
		return -errno;
	if (depth >= RM_RF_MAX_DEPTH)
		return -ELOOP;
	/* O_NOFOLLOW: if it was swapped for a symlink since, we fail rather than follow it. */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = dir_same_mount(dfd, fd);
	if (r < 0)
		return r;
	if (r == 0)
		return -EXDEV;
	r = rm_rf_children(TAKE_FD(fd), depth + 1);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && r >= 0)
		r = -errno;
	return r;
}

int rm_rf_at(int dfd, const char *name)
{
	return rm_rf_one(dfd, name, 0);
}

int write_file_atomic_at(int dfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = strdup_printf(".%s.tmp-%d", name, (int) getpid());
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!tmp)
		return -ENOMEM;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void) unlinkat(dfd, tmp, 0);
		return r;
	}
	return fsync_dir_at(dfd, ".");
}

int parse_u64(const char *s, int base, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	/* strtoull() skips any leading space and then accepts (and negates) a '-'. */
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char) *s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || *end != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_u32(const char *s, int base, uint32_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, base, &v);

	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t) v;
	return 0;
}

int parse_i32(const char *s, int base, int32_t *ret)
{
	long v;
	char *end;

	if (!s || !*s || isspace((unsigned char) *s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno == ERANGE || v > INT32_MAX || v < INT32_MIN)
		return -ERANGE;
	if (errno != 0 || *end != 0)
		return -EINVAL;
	*ret = (int32_t) v;
	return 0;
}

int parse_pid(const char *s, pid_t *ret)
{
	uint32_t v;
	int r = parse_u32(s, 10, &v);

	if (r < 0)
		return r;
	if (v == 0 || v > (uint32_t) INT32_MAX)
		return -ERANGE;
	*ret = (pid_t) v;
	return 0;
}

int parse_duration(const char *s, uint64_t *ret_ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "ms", 1000000ULL },	      { "s", 1000000000ULL },	    { "m", 60000000000ULL },
		{ "min", 60000000000ULL },    { "h", 3600000000000ULL },    { "d", 86400000000000ULL },
		{ "", 1000000000ULL },
	};
	char digits[32];
	size_t n = 0;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(digits))
		return -ERANGE;
	memcpy(digits, s, n);
	digits[n] = 0;
	r = parse_u64(digits, 10, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strcmp(s + n, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ns)
			return -ERANGE;
		*ret_ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

const char *format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double) bytes;
	size_t i = 0;

	/* 1023.95 and up would print as "1024.0", so they take the next unit. */
	while (v >= 1023.95 && i + 1 < ELEMENTSOF(suffix)) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, suffix[i]);
	return buf;
}

const char *format_duration(char *buf, size_t size, uint64_t ns)
{
	if (ns < 10000000ULL)
		snprintf(buf, size, "%.1f ms", (double) ns / 1e6);
	else if (ns < 1000000000ULL)
		snprintf(buf, size, "%" PRIu64 " ms", ns / UINT64_C(1000000));
	else if (ns < 60000000000ULL)
		snprintf(buf, size, "%.2f s", (double) ns / 1e9);
	else
		snprintf(buf, size, "%" PRIu64 "m %02" PRIu64 "s", ns / UINT64_C(60000000000),
			 (ns / UINT64_C(1000000000)) % 60);
	return buf;
}

uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	(void) clock_gettime(clock, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

bool string_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool string_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool name_is_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];

		/* '@' separates a job from a version: "sim@7". */
		if (c == '/' || c == '@' || c <= ' ' || c >= 0x7f)
			return false;
	}
	return true;
}

char *strdup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}
