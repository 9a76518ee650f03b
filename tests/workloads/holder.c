// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * holder: builds process state with known values, says ready, and waits for
 * SIGUSR1; then checks every value is still what it set and writes PASS or
 * FAIL. For property checks after a restore and for bad-input tests, which
 * need a target that never finishes on its own. Its result holds pid and
 * TIDs, so it is not compared with another run.
 *
 *     holder OUT READY DIR [-b MIB] [-m FILE] [-l LIBRARY]
 *
 * In DIR (its cwd) it opens, at fixed fd numbers:
 *   10 ro.dat O_RDONLY at 1234   20 dup of 10     15 ro.dat again, O_CLOEXEC, at 4321
 *   11 wr.dat O_WRONLY at 5678   12 app.log O_WRONLY|O_APPEND   13 /dev/null O_RDWR
 *   14 DIR O_DIRECTORY           16 rw.dat O_RDWR at 777
 *   1, 2 stdio.log, one open file description (as after 2>&1)
 * and three threads: one in pthread_cond_wait, one in a nanosleep loop, one in
 * read() on a pipe. -b holds MIB of seeded data, -m maps FILE MAP_PRIVATE
 * (one page dirtied) and MAP_SHARED read-only, -l dlopen()s LIBRARY.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "workload.h"

#define N_THREADS 3
#define RO_SIZE 8192
#define NOFILE_SOFT 1000

struct fd_expect {
	int fd;
	const char *path; /* relative to DIR; NULL: not a named file we made */
	int flags;	  /* for open() */
	off_t pos;
	/* recorded at setup */
	int getfl, getfd;
	dev_t dev;
	ino_t ino;
};

static struct fd_expect fds[] = {
	{.fd = 10, .path = "ro.dat", .flags = O_RDONLY, .pos = 1234},
	{.fd = 11, .path = "wr.dat", .flags = O_WRONLY | O_CREAT | O_TRUNC, .pos = 5678},
	{.fd = 12, .path = "app.log", .flags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, .pos = 100},
	{.fd = 13, .path = "/dev/null", .flags = O_RDWR, .pos = 0},
	{.fd = 14, .path = ".", .flags = O_RDONLY | O_DIRECTORY, .pos = 0},
	{.fd = 15, .path = "ro.dat", .flags = O_RDONLY | O_CLOEXEC, .pos = 4321},
	{.fd = 16, .path = "rw.dat", .flags = O_RDWR | O_CREAT | O_TRUNC, .pos = 777},
	{.fd = 20, .path = NULL, .flags = 0, .pos = 1234}, /* dup of 10 */
	{.fd = 1, .path = "stdio.log", .flags = O_WRONLY | O_CREAT | O_TRUNC, .pos = 0},
	{.fd = 2, .path = NULL, .flags = 0, .pos = 0}, /* dup of 1 */
};
#define N_FDS (sizeof(fds) / sizeof(fds[0]))

static const char *const thread_names[N_THREADS] = {"holder-cond", "holder-sleep", "holder-read"};
static pid_t tids[N_THREADS];
static pthread_t th[N_THREADS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t started;
static bool quit;
static int wake_pipe[2];
static char thread_fail[N_THREADS][128];

static uint8_t pattern(size_t i)
{
	return (uint8_t) mix64(i * 31 + 7);
}

static void *thread_main(void *arg)
{
	int t = (int) (intptr_t) arg;
	bool done = false;

	tids[t] = gettid();
	pthread_setname_np(pthread_self(), thread_names[t]);
	pthread_barrier_wait(&started);
	switch (t) {
	case 0:
		pthread_mutex_lock(&mu);
		while (!quit)
			pthread_cond_wait(&cond, &mu);
		pthread_mutex_unlock(&mu);
		break;
	case 1:
		while (!done) {
			struct timespec ts = {0, 50000000};
			if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
				snprintf(thread_fail[t], sizeof(thread_fail[t]), "nanosleep: %m");
			pthread_mutex_lock(&mu);
			done = quit;
			pthread_mutex_unlock(&mu);
		}
		break;
	case 2: {
		char c;
		ssize_t n;
		while ((n = read(wake_pipe[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1 || c != 'q')
			snprintf(thread_fail[t], sizeof(thread_fail[t]), "read on the pipe got %zd",
				 n);
		break;
	}
	}
	if (gettid() != tids[t] && !thread_fail[t][0])
		snprintf(thread_fail[t], sizeof(thread_fail[t]), "TID changed");
	return NULL;
}

static void write_file(const char *path, size_t len, size_t salt)
{
	uint8_t buf[RO_SIZE];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i + salt);
	if (fd < 0 || wl_write_all(fd, buf, len) < 0 || close(fd) < 0)
		wl_die("write %s: %m", path);
}

static void open_fds(void)
{
	uint8_t buf[RO_SIZE];

	write_file("ro.dat", RO_SIZE, 0);
	for (unsigned i = 0; i < N_FDS; i++) {
		struct fd_expect *e = &fds[i];
		int fd;

		if (!e->path)
			continue;
		fd = open(e->path, e->flags, 0644);
		if (fd < 0 || dup3(fd, e->fd, e->flags & O_CLOEXEC) < 0)
			wl_die("open %s at %d: %m", e->path, e->fd);
		close(fd);
		if (e->flags & O_CREAT) {
			for (off_t k = 0; k < e->pos; k++)
				buf[k] = pattern((size_t) k + 99);
			if (wl_write_all(e->fd, buf, (size_t) e->pos) < 0)
				wl_die("write fd %d: %m", e->fd);
		} else if (lseek(e->fd, e->pos, SEEK_SET) != e->pos) {
			wl_die("lseek fd %d: %m", e->fd);
		}
	}
	if (dup2(10, 20) < 0 || dup2(1, 2) < 0)
		wl_die("dup2: %m");
	for (unsigned i = 0; i < N_FDS; i++) {
		struct fd_expect *e = &fds[i];
		struct stat st;

		e->getfl = fcntl(e->fd, F_GETFL);
		e->getfd = fcntl(e->fd, F_GETFD);
		if (fstat(e->fd, &st) < 0)
			wl_die("fstat %d: %m", e->fd);
		e->dev = st.st_dev;
		e->ino = st.st_ino;
	}
}

/* Which fds are open, as a sorted list, without the one used to list them. */
static int list_fds(int *out, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		wl_die("opendir /proc/self/fd: %m");
	while ((de = readdir(d)) && n < max) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] != '.' && fd != dirfd(d))
			out[n++] = fd;
	}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
}

/* Bytes of every mapping of path, hashed, and how many mappings there are. */
static uint64_t hash_mappings(const char *path, int *ret_n)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4352];
	uint64_t h = 0;
	int n = 0;

	if (!f)
		wl_die("open maps: %m");
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char perms[5], *name = strchr(line, '/');
		if (!name || sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, path) != 0)
			continue;
		n++;
		h = hash2(h, start ^ end);
		if (perms[0] == 'r')
			for (unsigned long p = start; p < end; p += 8)
				h = hash2(h, *(const uint64_t *) p);
	}
	fclose(f);
	*ret_n = n;
	return h;
}

int main(int argc, char **argv)
{
	int a = wl_init("holder", argc, argv, "DIR [-b MIB] [-m FILE] [-l LIBRARY]");
	const char *dir, *map_path = NULL, *lib_path = NULL;
	char cwd[4096], cmdline[8192], now[8192], path[4096], name[64], tidlist[128];
	size_t cmdline_len = 0, mib = 0, map_len = 0;
	uint64_t *mem = NULL, lib_hash = 0;
	uint8_t *map_priv = NULL, *map_shared = NULL, *map_copy = NULL;
	int open_before[256], n_open_before, lib_maps = 0, opt;
	sigset_t usr1;
	siginfo_t si;
	struct rlimit rl;

	if (argc <= a)
		wl_die("no DIR given");
	dir = argv[a];
	optind = a + 1;
	while ((opt = getopt(argc, argv, "b:m:l:")) != -1) {
		switch (opt) {
		case 'b':
			mib = (size_t) strtoul(optarg, NULL, 0);
			break;
		case 'm':
			map_path = optarg;
			break;
		case 'l':
			lib_path = optarg;
			break;
		default:
			return 2;
		}
	}
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (cmdline_len + l > sizeof(cmdline))
			wl_die("command line too long");
		memcpy(cmdline + cmdline_len, argv[i], l);
		cmdline_len += l;
	}

	/* OUT and READY stay where they were meant, whatever the cwd becomes. */
	if (!getcwd(cwd, sizeof(cwd)))
		wl_die("getcwd: %m");
	if (W.out[0] != '/' && asprintf((char **) &W.out, "%s/%s", cwd, W.out) < 0)
		wl_die("out of memory");
	if (W.ready && W.ready[0] != '/' && asprintf((char **) &W.ready, "%s/%s", cwd, W.ready) < 0)
		wl_die("out of memory");
	if (chdir(dir) < 0 || !getcwd(cwd, sizeof(cwd)))
		wl_die("chdir %s: %m", dir);
	umask(027);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		wl_die("getrlimit: %m");
	rl.rlim_cur = NOFILE_SOFT;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		wl_die("setrlimit: %m");
	prctl(PR_SET_NAME, "holder-main");
	open_fds();
	if (wl_write_all(1, "holder: stdout\n", 15) < 0)
		wl_die("write stdout: %m");

	if (mib) {
		mem = malloc(mib << 20);
		if (!mem)
			wl_die("out of memory");
		for (size_t i = 0; i < (mib << 20) / 8; i++)
			mem[i] = mix64(i);
	}
	if (map_path) {
		int fd = open(map_path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 8192)
			wl_die("open %s (needs at least 2 pages): %m", map_path);
		map_len = (size_t) st.st_size;
		map_priv = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		map_shared = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (map_priv == MAP_FAILED || map_shared == MAP_FAILED)
			wl_die("mmap %s: %m", map_path);
		map_copy = malloc(map_len);
		if (!map_copy)
			wl_die("out of memory");
		memcpy(map_copy, map_priv, map_len);
		map_priv[4096 + 17] ^= 0xff; /* one private dirty page; the rest stays the file's */
	}
	if (lib_path) {
		if (!dlopen(lib_path, RTLD_NOW | RTLD_LOCAL))
			wl_die("dlopen %s: %s", lib_path, dlerror());
		lib_hash = hash_mappings(lib_path, &lib_maps);
		if (lib_maps == 0)
			wl_die("%s is not in /proc/self/maps", lib_path);
	}

	/* Threads start with SIGUSR1 blocked, so only sigwaitinfo() takes it. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL) < 0 || pipe2(wake_pipe, O_CLOEXEC) < 0)
		wl_die("setup: %m");
	pthread_barrier_init(&started, NULL, N_THREADS + 1);
	for (int t = 0; t < N_THREADS; t++)
		if ((errno = pthread_create(&th[t], NULL, thread_main, (void *) (intptr_t) t)))
			wl_die("pthread_create: %m");
	pthread_barrier_wait(&started);
	n_open_before = list_fds(open_before, 256);
	snprintf(tidlist, sizeof(tidlist), "%d %d %d", tids[0], tids[1], tids[2]);
	wl_ready(tidlist);

	while (sigwaitinfo(&usr1, &si) < 0)
		if (errno != EINTR)
			wl_die("sigwaitinfo: %m");

	/* Identity. */
	wl_printf("pid %d\ntids %s\n", (int) getpid(), tidlist);
	wl_check(gettid() == getpid(), "main thread %d is not the leader %d", gettid(), getpid());
	{
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;
		int seen = 0, others = 0;
		while (d && (de = readdir(d))) {
			pid_t t = atoi(de->d_name);
			if (de->d_name[0] == '.' || t == getpid())
				continue;
			bool known = false;
			for (int i = 0; i < N_THREADS; i++)
				known |= t == tids[i];
			if (known)
				seen++;
			else
				others++;
		}
		if (d)
			closedir(d);
		wl_check(seen == N_THREADS && others == 0,
			 "threads are not %s: %d of them present, %d others", tidlist, seen,
			 others);
	}
	for (int t = 0; t < N_THREADS; t++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tids[t]);
		read_text(path, name, sizeof(name));
		wl_check(strcmp(name, thread_names[t]) == 0, "thread %d is named '%s', not '%s'",
			 tids[t], name, thread_names[t]);
		wl_check(pthread_kill(th[t], 0) == 0, "pthread_kill(thread %d, 0) failed", t);
	}
	read_text("/proc/self/comm", name, sizeof(name));
	wl_check(strcmp(name, "holder-main") == 0, "comm is '%s'", name);
	{
		int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, now, sizeof(now));
		if (fd >= 0)
			close(fd);
		wl_check(n == (ssize_t) cmdline_len && memcmp(now, cmdline, cmdline_len) == 0,
			 "/proc/self/cmdline differs from argv");
	}
	wl_check(getcwd(now, sizeof(now)) && strcmp(now, cwd) == 0, "cwd is not %s", cwd);
	wl_check(umask(027) == 027, "umask changed");
	wl_check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == NOFILE_SOFT,
		 "RLIMIT_NOFILE soft limit changed");

	/* Files: what each fd is, its flags and offset. */
	for (unsigned i = 0; i < N_FDS; i++) {
		const struct fd_expect *e = &fds[i];
		struct stat st;
		off_t pos = lseek(e->fd, 0, SEEK_CUR);

		wl_check(fcntl(e->fd, F_GETFL) == e->getfl, "fd %d: flags %#x, expected %#x", e->fd,
			 fcntl(e->fd, F_GETFL), e->getfl);
		wl_check(fcntl(e->fd, F_GETFD) == e->getfd, "fd %d: fd flags %#x, expected %#x",
			 e->fd, fcntl(e->fd, F_GETFD), e->getfd);
		wl_check(fstat(e->fd, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino,
			 "fd %d is another file", e->fd);
		if (e->fd == 1 || e->fd == 2)
			wl_check(pos == 15, "fd %d at %ld, expected 15", e->fd, (long) pos);
		else if (e->fd != 13 && e->fd != 14)
			wl_check(pos == e->pos, "fd %d at %ld, expected %ld", e->fd, (long) pos,
				 (long) e->pos);
	}
	{
		uint8_t buf[16];
		bool ok = pread(10, buf, sizeof(buf), 1234) == sizeof(buf);
		for (size_t k = 0; ok && k < sizeof(buf); k++)
			ok = buf[k] == pattern(1234 + k);
		wl_check(ok, "ro.dat does not read back");
	}
	/* Shared descriptions move together; separate ones do not. */
	wl_check(lseek(10, 100, SEEK_CUR) == 1334 && lseek(20, 0, SEEK_CUR) == 1334,
		 "fds 10 and 20 no longer share an offset");
	wl_check(lseek(15, 0, SEEK_CUR) == 4321, "fd 15 moved with fd 10");
	wl_check(wl_write_all(1, "holder: check\n", 14) == 0 && lseek(2, 0, SEEK_CUR) == 29,
		 "fds 1 and 2 no longer share an offset");
	wl_check(wl_write_all(12, "0123456789", 10) == 0 && lseek(12, 0, SEEK_CUR) == 110,
		 "app.log did not append at its end");
	{
		int open_now[256], n_now = list_fds(open_now, 256);
		wl_check(n_now == n_open_before &&
				 memcmp(open_now, open_before, sizeof(int) * (size_t) n_now) == 0,
			 "the set of open fds changed (%d fds, was %d)", n_now, n_open_before);
	}

	/* Memory. */
	for (size_t i = 0; mem && i < (mib << 20) / 8; i++)
		if (mem[i] != mix64(i)) {
			wl_fail("heap differs at byte %zu", i * 8);
			break;
		}
	if (map_path) {
		map_copy[4096 + 17] ^= 0xff;
		wl_check(memcmp(map_priv, map_copy, map_len) == 0, "private mapping of %s differs",
			 map_path);
		map_copy[4096 + 17] ^= 0xff;
		wl_check(memcmp(map_shared, map_copy, map_len) == 0, "shared mapping of %s differs",
			 map_path);
	}
	if (lib_path) {
		int n;
		wl_check(hash_mappings(lib_path, &n) == lib_hash && n == lib_maps,
			 "mappings of %s differ", lib_path);
	}

	/* Threads: wake each the way it waits; each checks its own TID. */
	pthread_mutex_lock(&mu);
	quit = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	if (wl_write_all(wake_pipe[1], "q", 1) < 0)
		wl_fail("write to the pipe: %m");
	for (int t = 0; t < N_THREADS; t++) {
		pthread_join(th[t], NULL);
		wl_check(!thread_fail[t][0], "thread %s: %s", thread_names[t], thread_fail[t]);
	}
	return wl_finish();
}
