// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A job's versions on disk (see store.h): numbering and listing them, the
 * "latest" symlink, checking a version for listings, and retention, which
 * removes old versions and then the page data only they used. Writes no
 * image and no pack itself, and never removes page data that a version it
 * keeps may need: what a version uses is read from its pages.idx, and when
 * that cannot be read its packs are kept whole.
 */
#define LOG_PREFIX "store: "

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "log.h"
#include "page-index.h"
#include "store.h"
#include "util.h"

#define JOBS_DIR "jobs"
#define VERSIONS_DIR "versions"
#define LATEST "latest"
#define LATEST_TMP_PREFIX ".latest.tmp-"
#define TMP_INFIX ".tmp-"
#define REMOVING_INFIX ".removing-"
#define VERSION_DIGITS 6
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* pages.idx is zstd-compressed extents: a few MiB for real images; page-index.c's body limit. */
#define PAGE_INDEX_FILE_MAX ((size_t) 1 << 30)
#define MANIFEST_FILE_MAX ((size_t) 16 << 20)
/* Deep enough for any tree ckptd makes (a job is three levels). */
#define TREE_DEPTH_MAX 32

void store_version_done(struct store_version *v)
{
	if (!v)
		return;
	free(v->reason);
	v->reason = NULL;
}

const char *store_version_name(uint64_t number, char buf[static STORE_VERSION_NAME_MAX])
{
	(void) snprintf(buf, STORE_VERSION_NAME_MAX, "%06" PRIu64, number);
	return buf;
}

/* Digits only, at least six of them, and a number that fits. */
static bool parse_version_digits(const char *s, size_t n, uint64_t *ret)
{
	char buf[32];

	if (n < VERSION_DIGITS || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (strspn(buf, "0123456789") != n)
		return false;
	return parse_u64(buf, 10, ret) >= 0;
}

/*
 * The number of a versions/ entry: a committed "000007" or one being written,
 * ".000007.tmp-PID". Committed names must be exactly what store_version_name()
 * makes, so that no two entries stand for one number.
 */
static bool version_entry(const char *name, bool *ret_tmp, uint64_t *ret)
{
	char canonical[STORE_VERSION_NAME_MAX];
	const char *tmp;
	uint64_t v;

	if (name[0] == '.') {
		tmp = strstr(name + 1, TMP_INFIX);
		if (!tmp || !parse_version_digits(name + 1, (size_t) (tmp - name - 1), &v))
			return false;
		*ret_tmp = true;
		*ret = v;
		return true;
	}
	if (!parse_version_digits(name, strlen(name), &v) ||
	    strcmp(store_version_name(v, canonical), name) != 0)
		return false;
	*ret_tmp = false;
	*ret = v;
	return true;
}

/* "0000000000000007.pack", or its temporary "0000000000000007.pack.tmp-PID". */
static bool pack_entry(const char *name, bool *ret_tmp, uint64_t *ret)
{
	char hex[17];

	if (strspn(name, "0123456789abcdef") != 16 || !string_has_prefix(name + 16, ".pack"))
		return false;
	if (name[21] != 0 && !string_has_prefix(name + 21, TMP_INFIX))
		return false;
	memcpy(hex, name, 16);
	hex[16] = 0;
	if (parse_u64(hex, 16, ret) < 0)
		return false;
	*ret_tmp = name[21] != 0;
	return true;
}

static bool entry_is_dir(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode);
}

static bool dot_or_dotdot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Makes dfd/name (0700) and, when it is new, makes its entry durable. */
static int mkdir_durable(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0700) < 0)
		return errno == EEXIST ? 0 : -errno;
	return fsync_dir_at(dfd, ".");
}

/* Opens directory name in dfd, made first (durably) when create. */
static int open_dir(int dfd, const char *name, bool create, int *ret_fd)
{
	int r = create ? mkdir_durable(dfd, name) : 0;

	if (r < 0)
		return r;
	*ret_fd = openat(dfd, name, DIR_FLAGS);
	return *ret_fd < 0 ? -errno : 0;
}

int store_open_job(int state_dfd, const char *name, bool create, int *ret_job_dfd)
{
	_cleanup_close_ int jobs_fd = -EBADF, fd = -EBADF;
	int r;

	if (!name_is_valid(name))
		return -EINVAL;
	r = open_dir(state_dfd, JOBS_DIR, create, &jobs_fd);
	if (r >= 0)
		r = open_dir(jobs_fd, name, create, &fd);
	if (r >= 0 && create)
		r = mkdir_durable(fd, VERSIONS_DIR);
	if (r >= 0 && create)
		r = mkdir_durable(fd, PACK_DIR);
	if (r < 0)
		return r;
	*ret_job_dfd = TAKE_FD(fd);
	return 0;
}

/* Removes what an interrupted store_remove_job() left: ".<job>.removing-PID". */
static void remove_job_leftovers(int jobs_fd)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (opendir_at(jobs_fd, ".", 0, &d) < 0)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && !dot_or_dotdot(de->d_name) &&
		    strstr(de->d_name, REMOVING_INFIX))
			(void) rm_rf_at(dirfd(d), de->d_name);
}

int store_remove_job(int state_dfd, const char *name)
{
	_cleanup_close_ int jobs_fd = -EBADF;
	_cleanup_free_ char *doomed = NULL;
	int r;

	if (!name_is_valid(name))
		return -EINVAL;
	jobs_fd = openat(state_dfd, JOBS_DIR, DIR_FLAGS);
	if (jobs_fd < 0)
		return -errno;
	doomed = strdup_printf(".%s" REMOVING_INFIX "%d", name, (int) getpid());
	if (!doomed)
		return -ENOMEM;

	/*
	 * Out of sight first, in one step: removing takes a while, and a crash
	 * meanwhile must not leave a job that is there but half gone.
	 */
	(void) rm_rf_at(jobs_fd, doomed);
	if (renameat(jobs_fd, name, jobs_fd, doomed) < 0)
		return -errno;
	r = fsync_dir_at(jobs_fd, ".");
	if (r < 0)
		return r;
	r = rm_rf_at(jobs_fd, doomed);
	if (r < 0)
		return r;
	remove_job_leftovers(jobs_fd);
	return fsync_dir_at(jobs_fd, ".");
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

int store_list_versions(int job_dfd, uint64_t **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ uint64_t *list = NULL;
	size_t n = 0, allocated = 0;
	struct dirent *de;
	int r;

	r = opendir_at(job_dfd, VERSIONS_DIR, O_NOFOLLOW, &d);
	if (r < 0 && r != -ENOENT)
		return r;
	for (errno = 0; d && (de = readdir(d)); errno = 0) {
		uint64_t v;
		bool tmp;

		if (!version_entry(de->d_name, &tmp, &v) || tmp || !entry_is_dir(d, de))
			continue;
		r = GROW(list, allocated, n + 1);
		if (r < 0)
			return r;
		list[n++] = v;
	}
	if (d && errno != 0)
		return -errno;
	if (!list) {
		list = new0(uint64_t, 1);
		if (!list)
			return -ENOMEM;
	}
	qsort(list, n, sizeof(*list), compare_u64);
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}

/* The largest number among the entries of job_dfd/dir that parse (entry_number), in *max. */
static int max_entry_number(int job_dfd, const char *dir,
			    bool (*entry_number)(const char *, bool *, uint64_t *), bool *found,
			    uint64_t *max)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r;

	r = opendir_at(job_dfd, dir, O_NOFOLLOW, &d);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		uint64_t v;
		bool tmp;

		/* Of any type: a number taken by anything is not to be taken again. */
		if (!entry_number(de->d_name, &tmp, &v))
			continue;
		if (!*found || v > *max)
			*max = v;
		*found = true;
	}
	return errno != 0 ? -errno : 0;
}

int store_next_version(int job_dfd, uint64_t *ret)
{
	uint64_t max = 0, latest;
	bool found = false;
	int r;

	/* Temporaries and packs count too: a crashed snapshot's number is not given out again. */
	r = max_entry_number(job_dfd, VERSIONS_DIR, version_entry, &found, &max);
	if (r < 0)
		return r;
	r = max_entry_number(job_dfd, PACK_DIR, pack_entry, &found, &max);
	if (r < 0)
		return r;
	if (store_get_latest(job_dfd, &latest) >= 0 && (!found || latest > max)) {
		max = latest;
		found = true;
	}
	if (found && max == UINT64_MAX)
		return -EOVERFLOW;
	*ret = found ? max + 1 : 1;
	return 0;
}

/*
 * Adds up dfd/name and everything under it, without following symlinks or
 * crossing into another filesystem: allocated bytes of every entry, or the
 * sizes of the regular files.
 */
static int tree_size(int dfd, const char *name, bool allocated, unsigned depth, uint64_t *sum)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (allocated)
		*sum += (uint64_t) st.st_blocks * 512;
	else if (S_ISREG(st.st_mode))
		*sum += (uint64_t) st.st_size;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth >= TREE_DEPTH_MAX)
		return -ELOOP;
	r = opendir_at(dfd, name, O_NOFOLLOW, &d);
	if (r < 0)
		return r;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		struct stat sub;
		int k;

		if (dot_or_dotdot(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sub, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && r >= 0)
				r = -errno;
			continue;
		}
		/* A mount point: what is below it is not the job's. */
		if (S_ISDIR(sub.st_mode) && sub.st_dev != st.st_dev)
			continue;
		k = tree_size(dirfd(d), de->d_name, allocated, depth + 1, sum);
		if (k < 0 && k != -ENOENT && r >= 0)
			r = k;
	}
	if (errno != 0 && r >= 0)
		r = -errno;
	return r;
}

int store_job_size(int job_dfd, uint64_t *ret)
{
	uint64_t sum = 0;
	int r;

	r = tree_size(job_dfd, ".", /* allocated= */ true, 0, &sum);
	if (r < 0)
		return r;
	*ret = sum;
	return 0;
}

/* The manifest alone, when the image as a whole does not verify. NULL if it cannot be read. */
static struct image_manifest *manifest_read(int versions_fd, const char *name)
{
	_cleanup_free_ char *path = strdup_printf("%s/" IMAGE_MANIFEST, name), *buf = NULL;
	struct image_manifest *m = NULL;
	size_t len;

	if (!path || read_full_file_at(versions_fd, path, MANIFEST_FILE_MAX, &buf, &len) < 0 ||
	    image_manifest_from_json(buf, len, &m, NULL) < 0)
		return NULL;
	return m;
}

int store_version_info(int job_dfd, uint64_t number, struct store_version *ret)
{
	_cleanup_(image_manifest_freep) struct image_manifest *own = NULL;
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_close_ int versions_fd = -EBADF;
	_cleanup_free_ char *error = NULL;
	char name[STORE_VERSION_NAME_MAX], path[PACK_PATH_MAX];
	const struct image_manifest *m;
	struct store_version v = {.number = number};
	struct stat st;
	int r;

	versions_fd = openat(job_dfd, VERSIONS_DIR, DIR_FLAGS);
	if (versions_fd < 0)
		return -errno;
	store_version_name(number, name);
	if (fstatat(versions_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;

	r = image_open(versions_fd, name, &img, &error);
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		v.ok = true;
		m = img->manifest;
	} else {
		v.reason = error ? TAKE_PTR(error) : strdup_printf("cannot open: %s", strerror(-r));
		if (!v.reason)
			return -ENOMEM;
		/* Damage elsewhere leaves the manifest's facts worth showing. */
		m = own = manifest_read(versions_fd, name);
	}
	if (m) {
		v.created_ns = m->created_ns;
		v.pages = m->stats.pages;
		v.freeze_ns = m->stats.freeze_ns;
		v.wall_ns = m->stats.wall_ns;
	}

	/* Best effort: a size is for people, and a damaged version may lack files. */
	(void) tree_size(versions_fd, name, /* allocated= */ false, 0, &v.size);
	/* After retention punched it, the pack costs what is left of it. */
	if (fstatat(job_dfd, pack_path(number, path), &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
	    S_ISREG(st.st_mode))
		v.size += MIN((uint64_t) st.st_size, (uint64_t) st.st_blocks * 512);

	*ret = v;
	return 0;
}

int store_set_latest(int job_dfd, uint64_t number)
{
	char name[STORE_VERSION_NAME_MAX], target[sizeof(VERSIONS_DIR) + STORE_VERSION_NAME_MAX],
		tmp[sizeof(LATEST_TMP_PREFIX) + 16];
	struct stat st;

	(void) snprintf(target, sizeof(target), VERSIONS_DIR "/%s",
			store_version_name(number, name));
	if (fstatat(job_dfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;

	(void) snprintf(tmp, sizeof(tmp), LATEST_TMP_PREFIX "%d", (int) getpid());
	(void) unlinkat(job_dfd, tmp, 0); /* a leftover of a crashed process with our pid */
	if (symlinkat(target, job_dfd, tmp) < 0)
		return -errno;
	/* rename(2) replaces atomically: "latest" names a version at every instant. */
	if (renameat(job_dfd, tmp, job_dfd, LATEST) < 0) {
		int r = -errno;

		(void) unlinkat(job_dfd, tmp, 0);
		return r;
	}
	return fsync_dir_at(job_dfd, ".");
}

int store_get_latest(int job_dfd, uint64_t *ret)
{
	char buf[sizeof(VERSIONS_DIR) + STORE_VERSION_NAME_MAX + 1];
	uint64_t v;
	ssize_t n;
	bool tmp;

	n = readlinkat(job_dfd, LATEST, buf, sizeof(buf));
	if (n < 0)
		return errno == EINVAL ? -EBADMSG : -errno; /* EINVAL: not a symlink */
	if ((size_t) n >= sizeof(buf))
		return -EBADMSG;
	buf[n] = 0;
	if (!string_has_prefix(buf, VERSIONS_DIR "/") ||
	    !version_entry(buf + sizeof(VERSIONS_DIR), &tmp, &v) || tmp)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/*
 * What a set of versions uses of the job's packs: per pack, runs of ordinals.
 * A pack is listed when a version's manifest or page index names it, even if
 * no extent refers to it: image_open() wants every listed pack present.
 */
struct ordinal_run {
	uint64_t start, end;
};

struct pack_use {
	uint64_t id;
	bool pinned; /* used by a version whose page index cannot be read: keep it whole */
	struct ordinal_run *runs;
	size_t n_runs, allocated_runs;
};

struct usage {
	struct pack_use *packs;
	size_t n_packs, allocated_packs;
	bool unknown; /* a version's manifest cannot be read: it may use any pack */
	bool for_gc;  /* what is kept whole is worth a warning */
};

static void usage_done(struct usage *u)
{
	for (size_t i = 0; i < u->n_packs; i++)
		free(u->packs[i].runs);
	free(u->packs);
	*u = (struct usage){};
}

static struct pack_use *usage_find(const struct usage *u, uint64_t id)
{
	for (size_t i = 0; i < u->n_packs; i++)
		if (u->packs[i].id == id)
			return &u->packs[i];
	return NULL;
}

/* The index of id's entry, added if new. Indices, not pointers: the array moves. */
static int usage_pack(struct usage *u, uint64_t id, size_t *ret)
{
	int r;

	for (size_t i = 0; i < u->n_packs; i++)
		if (u->packs[i].id == id) {
			*ret = i;
			return 0;
		}
	r = GROW(u->packs, u->allocated_packs, u->n_packs + 1);
	if (r < 0)
		return r;
	u->packs[u->n_packs] = (struct pack_use){.id = id};
	*ret = u->n_packs++;
	return 0;
}

static int usage_add_run(struct pack_use *p, uint64_t ordinal, uint64_t n)
{
	uint64_t end = ordinal > UINT64_MAX - n ? UINT64_MAX : ordinal + n;
	struct ordinal_run *last = p->n_runs ? &p->runs[p->n_runs - 1] : NULL;
	int r;

	/* Extents follow each other in a stream, so most runs continue the last one. */
	if (last && ordinal >= last->start && ordinal <= last->end) {
		last->end = MAX(last->end, end);
		return 0;
	}
	r = GROW(p->runs, p->allocated_runs, p->n_runs + 1);
	if (r < 0)
		return r;
	p->runs[p->n_runs++] = (struct ordinal_run){.start = ordinal, .end = end};
	return 0;
}

static int usage_pin(struct usage *u, const struct image_manifest *m)
{
	/* A version with its own store uses none of the job's packs. */
	if (m->store != IMAGE_STORE_JOB)
		return 0;
	for (size_t i = 0; i < m->n_packs; i++) {
		size_t k;
		int r = usage_pack(u, m->packs[i], &k);

		if (r < 0)
			return r;
		u->packs[k].pinned = true;
	}
	return 0;
}

/* A version that does not verify: keeps whole what its manifest names, or everything. */
static int usage_add_damaged(struct usage *u, int versions_fd, const char *name, const char *error)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_read(versions_fd, name);

	if (!m) {
		(void) log_full_errno(u->for_gc ? LOG_WARNING : LOG_DEBUG, 0,
				      "Version %s: %s; without its manifest, no page data is freed "
				      "while it exists",
				      name, error);
		u->unknown = true;
		return 0;
	}
	(void) log_full_errno(u->for_gc ? LOG_WARNING : LOG_DEBUG, 0,
			      "Version %s: %s; its packs are kept whole", name, error);
	return usage_pin(u, m);
}

static int usage_add_index(struct usage *u, const struct page_index *pi)
{
	_cleanup_free_ size_t *map = new0(size_t, MAX(pi->n_packs, (size_t) 1));
	int r;

	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < pi->n_packs; i++) {
		r = usage_pack(u, pi->packs[i], &map[i]);
		if (r < 0)
			return r;
	}
	for (size_t s = 0; s < pi->n_streams; s++)
		for (size_t i = 0; i < pi->streams[s].n_extents; i++) {
			const struct page_extent *e = &pi->streams[s].extents[i];

			if (e->pack == PAGE_INDEX_ZERO)
				continue;
			/* page_index_decode() checked e->pack against n_packs. */
			r = usage_add_run(&u->packs[map[e->pack]], e->ordinal, e->n_pages);
			if (r < 0)
				return r;
		}
	return 0;
}

static int usage_add_version(struct usage *u, int versions_fd, uint64_t number)
{
	_cleanup_(page_index_freep) struct page_index *pi = NULL;
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ void *buf = NULL;
	char name[STORE_VERSION_NAME_MAX];
	size_t len;
	int r;

	store_version_name(number, name);
	r = image_open(versions_fd, name, &img, &error);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return usage_add_damaged(u, versions_fd, name, error ?: strerror(-r));
	if (img->manifest->store != IMAGE_STORE_JOB)
		return 0;
	for (size_t i = 0; i < img->manifest->n_packs; i++) {
		size_t k;

		r = usage_pack(u, img->manifest->packs[i], &k);
		if (r < 0)
			return r;
	}

	r = image_read_file(img, IMAGE_PAGES, PAGE_INDEX_FILE_MAX, &buf, &len, &error);
	if (r == -ENOENT) /* not listed: a version without pages */
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		r = page_index_decode(buf, len, &pi);
		if (r == -ENOMEM)
			return r;
		if (r < 0 && !error)
			error = strdup_printf(IMAGE_PAGES ": %s", strerror(-r));
	}
	if (r < 0) {
		(void) log_full_errno(u->for_gc ? LOG_WARNING : LOG_DEBUG, 0,
				      "Version %s: %s; its packs are kept whole", name,
				      error ?: strerror(-r));
		return usage_pin(u, img->manifest);
	}
	return usage_add_index(u, pi);
}

static int usage_collect(int job_dfd, const uint64_t *versions, size_t n, struct usage *u)
{
	_cleanup_close_ int versions_fd = -EBADF;

	if (n == 0)
		return 0;
	versions_fd = openat(job_dfd, VERSIONS_DIR, DIR_FLAGS);
	if (versions_fd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		int r = usage_add_version(u, versions_fd, versions[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static void bitmap_set_range(uint64_t *b, uint64_t start, uint64_t end)
{
	for (; start < end && start % 64 != 0; start++)
		b[start / 64] |= 1ULL << (start % 64);
	for (; start < end && end - start >= 64; start += 64)
		b[start / 64] = UINT64_MAX;
	for (; start < end; start++)
		b[start / 64] |= 1ULL << (start % 64);
}

/* The ordinals p uses below limit, as pack.h's bitmap. */
static int usage_bitmap(const struct pack_use *p, uint64_t limit, uint64_t **ret)
{
	uint64_t *b;

	if (PACK_BITMAP_WORDS(limit) > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	b = new0(uint64_t, MAX((size_t) PACK_BITMAP_WORDS(limit), (size_t) 1));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_runs; i++)
		bitmap_set_range(b, MIN(p->runs[i].start, limit), MIN(p->runs[i].end, limit));
	*ret = b;
	return 0;
}

static uint64_t usage_end(const struct pack_use *p)
{
	uint64_t end = 0;

	for (size_t i = 0; i < p->n_runs; i++)
		end = MAX(end, p->runs[i].end);
	return end;
}

static int compare_pack_use_newest_first(const void *a, const void *b)
{
	return -compare_u64(&((const struct pack_use *) a)->id, &((const struct pack_use *) b)->id);
}

int store_load_known(int job_dfd, struct page_hash_index *idx)
{
	_cleanup_(usage_done) struct usage u = {};
	_cleanup_free_ uint64_t *versions = NULL;
	size_t n;
	int r;

	r = store_list_versions(job_dfd, &versions, &n);
	if (r < 0)
		return r;
	r = usage_collect(job_dfd, versions, n, &u);
	if (r < 0)
		return r;

	/*
	 * Newest first, so that a content stored twice is found in the newer
	 * pack: new versions then refer to what is kept longest, and old packs
	 * empty sooner.
	 */
	qsort(u.packs, u.n_packs, sizeof(*u.packs), compare_pack_use_newest_first);
	for (size_t i = 0; i < u.n_packs; i++) {
		_cleanup_(pack_reader_freep) struct pack_reader *reader = NULL;
		_cleanup_free_ uint64_t *used = NULL;
		const struct pack_use *p = &u.packs[i];
		uint64_t n_pages;

		if (p->n_runs == 0)
			continue;
		r = pack_reader_open(job_dfd, p->id, &reader);
		if (r == -ENOENT || r == -EBADMSG || r == -EPROTO) {
			/* Deduplicating against it would only spread the damage. */
			log_warning("Not deduplicating against pack %016" PRIx64 ": %s", p->id,
				    r == -ENOENT ? "missing" : pack_reader_error(reader));
			continue;
		}
		if (r < 0)
			return r;
		/*
		 * Only what versions use: retention may have punched out the rest,
		 * and a new version must never refer to a page that is gone.
		 */
		n_pages = pack_reader_n_pages(reader);
		r = usage_bitmap(p, n_pages, &used);
		if (r < 0)
			return r;
		r = pack_reader_index_used(reader, idx, used, n_pages);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Deletes the packs u does not use and, with punch, punches out the frames
 * of the others that u does not use. Packs with ids above max_id are left
 * alone. Returns the first error after doing what it can.
 */
static int store_gc(int job_dfd, const struct usage *u, bool punch, uint64_t max_id)
{
	_cleanup_closedir_ DIR *d = NULL;
	bool removed = false, can_punch = punch;
	struct dirent *de;
	int r = 0, k;

	if (u->unknown)
		return 0; /* usage_add_damaged() said so */
	k = opendir_at(job_dfd, PACK_DIR, O_NOFOLLOW, &d);
	if (k == -ENOENT)
		return 0;
	if (k < 0)
		return k;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		_cleanup_free_ uint64_t *used = NULL;
		const struct pack_use *p;
		uint64_t id, limit, freed = 0;
		struct stat st;
		bool tmp;

		if (!pack_entry(de->d_name, &tmp, &id) || tmp || id > max_id)
			continue;
		p = usage_find(u, id);
		if (!p) {
			if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
				if (errno != ENOENT && r >= 0)
					r = -errno;
				continue;
			}
			log_debug("Removed pack %s: no version uses it", de->d_name);
			removed = true;
			continue;
		}
		if (!can_punch || p->pinned)
			continue;

		/* A pack of n pages holds 16 bytes of hash per page: a bound for a bad index. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		limit = MIN(usage_end(p), (uint64_t) st.st_size / 16);
		k = usage_bitmap(p, limit, &used);
		if (k >= 0)
			k = pack_punch_unused(job_dfd, id, used, limit, &freed);
		if (k == -EOPNOTSUPP) {
			log_warning("The filesystem cannot punch holes: page data of removed "
				    "versions stays until no version uses its pack");
			can_punch = false;
		} else if (k == -EBADMSG || k == -EPROTO)
			log_warning("Not freeing anything in pack %s: it does not verify",
				    de->d_name);
		else if (k < 0 && k != -ENOENT && r >= 0)
			r = k;
		else if (freed > 0)
			log_debug("Freed %" PRIu64 " bytes in pack %s", freed, de->d_name);
	}
	if (errno != 0 && r >= 0)
		r = -errno;
	if (removed) {
		k = fsync(dirfd(d)) < 0 ? -errno : 0;
		if (k < 0 && r >= 0)
			r = k;
	}
	return r;
}

/*
 * Takes a version out of the committed set in one step: a crash during the
 * removal that follows leaves a temporary, which store_cleanup() removes,
 * never a committed version with files missing.
 */
static int version_hide(int versions_fd, uint64_t number, char **ret_hidden)
{
	char name[STORE_VERSION_NAME_MAX];
	_cleanup_free_ char *hidden = NULL;
	int r;

	store_version_name(number, name);
	hidden = strdup_printf(".%s" TMP_INFIX "%d", name, (int) getpid());
	if (!hidden)
		return -ENOMEM;
	r = rm_rf_at(versions_fd, hidden);
	if (r < 0 && r != -ENOENT)
		return r;
	if (renameat(versions_fd, name, versions_fd, hidden) < 0)
		return -errno;
	*ret_hidden = TAKE_PTR(hidden);
	return 0;
}

static void strv_freep(char ***p)
{
	for (char **s = *p; s && *s; s++)
		free(*s);
	free(*p);
}

/*
 * Removes the versions that are neither among the newest keep nor latest's;
 * what stays is in kept. Everything to go is hidden first, then removed, each
 * step durable before the next. A failure after which page data must not be
 * freed is returned; one that only left something behind is put in
 * *ret_error, and the work goes on.
 */
static int retain_versions(int job_dfd, const uint64_t *versions, size_t n, unsigned keep,
			   uint64_t *kept, size_t *ret_n_kept, int *ret_error)
{
	_cleanup_(strv_freep) char **hidden = NULL;
	_cleanup_close_ int versions_fd = -EBADF;
	size_t n_kept = 0, n_hidden = 0;
	uint64_t latest;
	bool has_latest;
	int r, k;

	r = store_get_latest(job_dfd, &latest);
	if (r < 0 && r != -ENOENT && r != -EBADMSG)
		return r;
	has_latest = r >= 0;
	versions_fd = openat(job_dfd, VERSIONS_DIR, DIR_FLAGS);
	if (versions_fd < 0)
		return -errno;
	hidden = new0(char *, n + 1);
	if (!hidden)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		if (i + keep < n && !(has_latest && versions[i] == latest)) {
			k = version_hide(versions_fd, versions[i], &hidden[n_hidden]);
			if (k >= 0) {
				n_hidden++;
				continue;
			}
			if (*ret_error >= 0)
				*ret_error = k; /* it stays, and what it uses with it */
		}
		kept[n_kept++] = versions[i];
	}
	if (n_hidden > 0) {
		/* Not durably hidden, a version could come back after a crash without its packs. */
		r = fsync_dir_at(versions_fd, ".");
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n_hidden; i++) {
		k = rm_rf_at(versions_fd, hidden[i]);
		if (k < 0 && k != -ENOENT && *ret_error >= 0)
			*ret_error = k; /* a temporary now: store_cleanup() removes it */
		log_debug("Removed version %.*s", (int) strcspn(hidden[i] + 1, "."), hidden[i] + 1);
	}
	if (n_hidden > 0) {
		k = fsync_dir_at(versions_fd, ".");
		if (k < 0 && *ret_error >= 0)
			*ret_error = k;
	}
	*ret_n_kept = n_kept;
	return 0;
}

int store_retain(int job_dfd, unsigned keep, uint64_t *ret_freed_bytes)
{
	_cleanup_(usage_done) struct usage u = {.for_gc = true};
	_cleanup_free_ uint64_t *versions = NULL, *kept = NULL;
	uint64_t before, after;
	size_t n, n_kept = 0;
	int r, error = 0;

	if (keep < 1)
		return -EINVAL;
	r = store_job_size(job_dfd, &before);
	if (r < 0)
		return r;
	r = store_list_versions(job_dfd, &versions, &n);
	if (r < 0)
		return r;
	kept = new0(uint64_t, MAX(n, (size_t) 1));
	if (!kept)
		return -ENOMEM;
	r = retain_versions(job_dfd, versions, n, keep, kept, &n_kept, &error);
	if (r < 0)
		return r;

	/*
	 * Page data, from what every kept version uses. Packs above the newest
	 * version belong to no committed version yet; a crashed snapshot's are
	 * removed at start-up.
	 */
	r = usage_collect(job_dfd, kept, n_kept, &u);
	if (r < 0)
		return r;
	r = store_gc(job_dfd, &u, /* punch= */ true, n > 0 ? versions[n - 1] : 0);
	if (r < 0)
		return r;
	if (error < 0)
		return error;

	r = store_job_size(job_dfd, &after);
	if (r < 0)
		return r;
	if (ret_freed_bytes)
		*ret_freed_bytes = before > after ? before - after : 0;
	return 0;
}

/* Removes the entries of job_dfd/dir that match(). Returns the first error; *ret_removed. */
static int remove_matching(int job_dfd, const char *dir, bool (*match)(const char *name),
			   bool *ret_removed)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r;

	*ret_removed = false;
	r = opendir_at(job_dfd, dir, O_NOFOLLOW, &d);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		int k;

		if (!match(de->d_name))
			continue;
		k = rm_rf_at(dirfd(d), de->d_name);
		if (k < 0 && k != -ENOENT) {
			if (r >= 0)
				r = k;
			continue;
		}
		log_debug("Removed %s/%s, left by an interrupted operation", dir, de->d_name);
		*ret_removed = true;
	}
	if (errno != 0 && r >= 0)
		r = -errno;
	return r;
}

static bool is_version_tmp(const char *name)
{
	return name[0] == '.' && !dot_or_dotdot(name) && strstr(name, TMP_INFIX);
}

static bool is_pack_tmp(const char *name)
{
	uint64_t id;
	bool tmp;

	return pack_entry(name, &tmp, &id) && tmp;
}

static bool is_latest_tmp(const char *name)
{
	return string_has_prefix(name, LATEST_TMP_PREFIX);
}

static bool version_is_good(int job_dfd, uint64_t number)
{
	struct store_version v = {};
	bool ok;

	if (store_version_info(job_dfd, number, &v) < 0)
		return false;
	ok = v.ok;
	if (!ok)
		log_warning("Version %06" PRIu64 " is damaged: %s", number, v.reason);
	store_version_done(&v);
	return ok;
}

/* Points latest at the newest good version if it names none; removes it if there is none. */
static int repair_latest(int job_dfd, const uint64_t *versions, size_t n)
{
	uint64_t latest;
	int r;

	r = store_get_latest(job_dfd, &latest);
	if (r < 0 && r != -ENOENT && r != -EBADMSG)
		return r;
	if (r >= 0 && version_is_good(job_dfd, latest))
		return 0;

	for (size_t i = n; i > 0; i--) {
		if (r >= 0 && versions[i - 1] == latest)
			continue; /* just found damaged */
		if (!version_is_good(job_dfd, versions[i - 1]))
			continue;
		log_warning("Pointing latest at version %06" PRIu64 ", the newest intact one",
			    versions[i - 1]);
		return store_set_latest(job_dfd, versions[i - 1]);
	}
	if (r == -ENOENT)
		return 0;
	if (unlinkat(job_dfd, LATEST, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	log_warning("Removed latest: no version is intact");
	return fsync_dir_at(job_dfd, ".");
}

int store_cleanup(int job_dfd)
{
	_cleanup_(usage_done) struct usage u = {.for_gc = true};
	_cleanup_free_ uint64_t *versions = NULL;
	bool removed;
	size_t n;
	int r = 0, k;

	k = remove_matching(job_dfd, VERSIONS_DIR, is_version_tmp, &removed);
	if (k < 0 && r >= 0)
		r = k;
	if (removed) {
		k = fsync_dir_at(job_dfd, VERSIONS_DIR);
		if (k < 0 && r >= 0)
			r = k;
	}
	k = remove_matching(job_dfd, PACK_DIR, is_pack_tmp, &removed);
	if (k < 0 && r >= 0)
		r = k;
	if (removed) {
		k = fsync_dir_at(job_dfd, PACK_DIR);
		if (k < 0 && r >= 0)
			r = k;
	}
	k = remove_matching(job_dfd, ".", is_latest_tmp, &removed);
	if (k < 0 && r >= 0)
		r = k;

	k = store_list_versions(job_dfd, &versions, &n);
	if (k < 0)
		return r < 0 ? r : k;
	k = repair_latest(job_dfd, versions, n);
	if (k < 0 && r >= 0)
		r = k;

	/* At start-up nothing is being written: every pack above the newest version is a leftover.
	 */
	k = usage_collect(job_dfd, versions, n, &u);
	if (k < 0)
		return r < 0 ? r : k;
	k = store_gc(job_dfd, &u, /* punch= */ false, UINT64_MAX);
	if (k < 0 && r >= 0)
		r = k;
	return r;
}
