// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Restore, start to end. Everything that can be checked is checked before
 * the stub exists: the image's checksums, the format, this CPU, the PIDs,
 * every file. After that a failure kills the stub, which leaves nothing
 * behind; a damaged page found while filling memory ends it the same way.
 */
#define LOG_PREFIX "restore: "

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cpu.h"
#include "image-core.h"
#include "log.h"
#include "proc.h"
#include "ptrace.h"
#include "restore.h"
#include "util.h"

#define CORE_MAX (256u << 20)
#define PAGES_IDX_MAX (1u << 30)

static int load_core(struct image *img, const char *path, const char *file,
		     struct snapshot **ret)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ void *core = NULL;
	const char *reason = NULL;
	size_t core_len;
	int r;

	r = image_read_file(img, file, CORE_MAX, &core, &core_len, &error);
	if (r < 0)
		return log_error_errno(r, "Cannot use the image %s: %s", path,
				       error ? error : strerror(-r));
	r = image_core_decode(core, core_len, ret, &reason);
	if (r < 0)
		return log_error_errno(r, "The image %s is damaged: %s: %s", path, file,
				       reason ? reason : strerror(-r));
	return 0;
}

static int load_image(struct restore_ctx *c, int dfd, const char *path)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ void *idx = NULL;
	size_t idx_len;
	int r;

	r = image_open(dfd, path, &c->img, &error);
	if (r < 0)
		return log_error_errno(r, "Cannot use the image %s: %s", path,
				       error ? error : strerror(-r));
	r = load_core(c->img, path, IMAGE_CORE, &c->snap);
	if (r < 0)
		return r;
	r = image_read_file(c->img, IMAGE_PAGES, PAGES_IDX_MAX, &idx, &idx_len, &error);
	if (r < 0)
		return log_error_errno(r, "Cannot use the image %s: %s", path,
				       error ? error : strerror(-r));
	r = page_index_decode(idx, idx_len, &c->pages);
	if (r < 0)
		return log_error_errno(r, "The image %s is damaged: %s cannot be decoded", path,
				       IMAGE_PAGES);
	return 0;
}

static int open_packs(struct restore_ctx *c, const char *path)
{
	c->packs = new0(struct pack_reader *, c->pages->n_packs ? c->pages->n_packs : 1);
	if (!c->packs)
		return log_oom();
	for (size_t i = 0; i < c->pages->n_packs; i++) {
		char name[PACK_PATH_MAX];
		int r = pack_reader_open(c->img->store_dfd, c->pages->packs[i], &c->packs[i]);

		if (r == -ENOENT)
			return log_error_errno(r, "The image %s is incomplete: %s is missing", path,
					       pack_path(c->pages->packs[i], name));
		if (r == -EPROTO)
			return log_error_errno(r, "%s of the image %s is from a newer ckptd; "
						  "upgrade ckptd to restore it",
					       pack_path(c->pages->packs[i], name), path);
		if (r == -EBADMSG)
			return log_error_errno(r, "The image %s is damaged: %s", path,
					       pack_reader_error(c->packs[i]));
		if (r < 0)
			return log_error_errno(r, "Cannot read %s of the image %s: %m",
					       pack_path(c->pages->packs[i], name), path);
	}
	return 0;
}

/* Streams must exist for every region and file that names one. */
static int check_streams(const struct restore_ctx *c)
{
	for (size_t i = 0; i < c->snap->n_regions; i++) {
		uint32_t s = c->snap->regions[i].stream;

		if (s != SNAPSHOT_NONE && s >= c->pages->n_streams)
			return log_error_errno(-EBADMSG, "The image is damaged: a memory region's "
							 "pages are missing from %s", IMAGE_PAGES);
	}
	for (size_t i = 0; i < c->snap->n_files; i++) {
		uint32_t s = c->snap->files[i].stream;

		if (s != SNAPSHOT_NONE && s >= c->pages->n_streams)
			return log_error_errno(-EBADMSG, "The image is damaged: a file's contents "
							 "are missing from %s", IMAGE_PAGES);
	}
	return 0;
}

static int check_cpu(struct restore_ctx *c)
{
	_cleanup_free_ char *error = NULL;
	int r;

	cpu_layout(&c->cpu);
	r = cpu_check(&c->snap->cpu, &c->cpu, &error);
	if (r < 0)
		return log_error_errno(r, "Cannot restore on this CPU: %s", error);
	return 0;
}

#define OWNER_GROUPS_MAX 1024

/* The owner's supplementary groups, as login would give them. */
static int owner_groups(uid_t uid, gid_t gid, gid_t *groups, int *n)
{
	struct passwd *pw = getpwuid(uid);

	if (!pw) {
		groups[0] = gid;
		*n = 1;
		return 0;
	}
	return getgrouplist(pw->pw_name, gid, groups, n) < 0 ? -E2BIG : 0;
}

/*
 * An owner gets back exactly the credentials it had: an image claiming any
 * other (or any capability) is refused, whoever wrote it.
 */
static int check_owner_creds(const struct restore_ctx *c, const gid_t *groups, int n_groups)
{
	const struct restore_options *o = c->opts;
	const struct snapshot_process *p = &c->snap->proc;

	for (int i = 0; i < 4; i++)
		if (p->uid[i] != o->owner_uid || p->gid[i] != o->owner_gid)
			return log_error_errno(-EPERM, "The image's process ran as uid %u gid %u, not "
						       "as its owner (uid %u gid %u); only root may "
						       "restore it",
					       (unsigned) p->uid[i], (unsigned) p->gid[i],
					       (unsigned) o->owner_uid, (unsigned) o->owner_gid);
	if (p->cap_permitted | p->cap_effective | p->cap_ambient | p->cap_inheritable)
		return log_error_errno(-EPERM, "The image's process held capabilities; only root "
					       "may restore it");
	for (size_t i = 0; i < p->n_groups; i++) {
		bool found = false;

		for (int k = 0; k < n_groups && !found; k++)
			found = groups[k] == p->groups[i];
		if (!found)
			return log_error_errno(-EPERM, "The image's process was in group %u, which "
						       "its owner is not in; only root may restore it",
					       (unsigned) p->groups[i]);
	}
	return 0;
}

/* Raw syscalls: glibc's setgroups would try to reach other threads (there are none). */
static int become_owner(gid_t gid, uid_t uid, const gid_t *groups, int n)
{
	if (syscall(SYS_setgroups, n, groups) < 0)
		return -errno;
	(void) setfsgid(gid);
	(void) setfsuid(uid);
	return 0;
}

static void become_root(void)
{
	(void) setfsuid(0);
	(void) setfsgid(0);
	(void) syscall(SYS_setgroups, 0, NULL);
}

static int open_files(struct restore_ctx *c)
{
	int r = restore_check_files(c);

	if (r >= 0)
		r = restore_plan_cuts(c);
	if (r >= 0)
		r = restore_prepare_files(c);
	return r;
}

/* Opens and prepares every file; for an owner, with the owner's rights. */
static int prepare_files(struct restore_ctx *c)
{
	gid_t groups[OWNER_GROUPS_MAX];
	int n = OWNER_GROUPS_MAX, r;

	if (!c->opts->as_owner)
		return open_files(c);
	r = owner_groups(c->opts->owner_uid, c->opts->owner_gid, groups, &n);
	if (r < 0)
		return log_error_errno(r, "uid %u is in too many groups", (unsigned) c->opts->owner_uid);
	r = check_owner_creds(c, groups, n);
	if (r < 0)
		return r;
	r = become_owner(c->opts->owner_gid, c->opts->owner_uid, groups, n);
	if (r < 0)
		return log_error_errno(r, "Cannot take the owner's rights: %m");
	r = open_files(c);
	become_root();
	return r;
}

static int begin_stub(struct restore_ctx *c)
{
	struct user_regs_struct regs;
	uint64_t mask;
	int r;

	c->threads = new0(struct inject_thread, c->snap->n_threads);
	if (!c->threads)
		return log_oom();
	r = inject_open(c->pid, (uint64_t)(uintptr_t) ckptd_stub_syscall, 0, &c->cpu, &c->inj);
	if (r >= 0)
		r = ptrace_get_regs(c->pid, &regs);
	if (r >= 0)
		r = ptrace_get_sigmask(c->pid, &mask);
	/* No scratch is needed before the trampoline exists; the range is never written. */
	if (r >= 0)
		r = inject_thread_begin(&c->inj, c->pid, &regs, mask, NULL, regs.rsp - 65536,
					regs.rsp - 4096, &c->threads[0]);
	if (r < 0)
		return log_error_errno(r, "Cannot prepare the restore stub: %m");
	return 0;
}

static void restore_ctx_done(struct restore_ctx *c)
{
	if (!c->borrowed_image) {
		if (c->packs)
			for (size_t i = 0; i < c->pages->n_packs; i++)
				pack_reader_free(c->packs[i]);
		free(c->packs);
		page_index_free(c->pages);
		image_free(c->img);
	}
	restore_close_files(c);
	restore_cuts_done(c);
	closep(&c->sync_fd[0]);
	inject_close(&c->inj);
	free(c->threads);
	free(c->buf);
	snapshot_free(c->snap);
}

static void restore_tree_done(struct restore_tree *t)
{
	for (size_t i = t->n; i-- > 0;)
		restore_ctx_done(&t->procs[i]);
	for (size_t i = 0; i < t->n_shared; i++)
		closep(&t->shared[i].fd);
	free(t->shared);
	free(t->procs);
}

static int run_stub(struct restore_ctx *c)
{
	int r = begin_stub(c);

	if (r >= 0)
		r = restore_memory(c);
	if (r >= 0)
		r = restore_process_state(c);
	if (r >= 0)
		r = restore_threads(c);
	if (r >= 0)
		r = restore_finish(c);
	return r;
}

static void ctx_init(struct restore_ctx *c, const struct restore_options *opts)
{
	*c = (struct restore_ctx){ .opts = opts, .sync_fd = { -EBADF, -EBADF },
				   .stdio_fds = { -EBADF, -EBADF, -EBADF }, .inj.mem_fd = -EBADF };
}

/* Each live process of the tree but the root, from its own core file, sharing the root's pages. */
static int load_members(struct restore_tree *t, const char *path)
{
	const struct snapshot *root = t->procs[0].snap;
	struct restore_ctx *procs;
	size_t live = 1;

	for (size_t i = 0; i < root->n_members; i++)
		live += !root->members[i].zombie;
	procs = realloc(t->procs, live * sizeof(*t->procs));
	if (!procs)
		return log_oom();
	t->procs = procs;
	for (size_t i = 0; i < root->n_members; i++) {
		const struct snapshot_member *m = &root->members[i];
		struct restore_ctx *c = &t->procs[t->n], *r0 = &t->procs[0];
		char file[IMAGE_MEMBER_CORE_MAX];
		int r;

		if (m->zombie)
			continue;
		ctx_init(c, r0->opts);
		t->n++;
		c->tree = t;
		c->index = t->n - 1;
		c->borrowed_image = true;
		c->img = r0->img;
		c->pages = r0->pages;
		c->packs = r0->packs;
		c->buf = malloc(RESTORE_CHUNK_PAGES * PAGE_SIZE);
		if (!c->buf)
			return log_oom();
		r = load_core(c->img, path, image_member_core(m->pid, file), &c->snap);
		if (r < 0)
			return r;
		if (c->snap->proc.pid != m->pid || c->snap->n_members)
			return log_error_errno(-EBADMSG, "The image %s is damaged: %s is not PID %d's",
					       path, file, (int) m->pid);
	}
	t->procs[0].tree = t;
	return 0;
}

#define CAP_SYS_ADMIN_BIT 21

/* Creating a PID namespace needs CAP_SYS_ADMIN: say so before anything is made. */
static int check_pidns(const struct restore_options *o)
{
	struct proc_status st = {};
	bool can;

	if (!o->pidns)
		return 0;
	can = proc_read_status(getpid(), &st) >= 0 && (st.cap_eff >> CAP_SYS_ADMIN_BIT) & 1;
	proc_status_done(&st);
	if (!can)
		return log_error_errno(-EPERM, "--pidns needs CAP_SYS_ADMIN; run ckptd as root, or "
					       "restore through the daemon");
	return 0;
}

/* One share key, one object, across the tree's processes (snapshot_validate_shares). */
static int check_shares(const struct restore_tree *t)
{
	_cleanup_free_ const struct snapshot **snaps = new0(const struct snapshot *, t->n);
	const char *what = "?";
	size_t pair[2];

	if (!snaps)
		return log_oom();
	for (size_t i = 0; i < t->n; i++)
		snaps[i] = t->procs[i].snap;
	if (snapshot_validate_shares(snaps, t->n, pair, &what) >= 0)
		return 0;
	return log_error_errno(-EBADMSG, "The image is damaged: PID %d and PID %d share %s that "
					 "is not the same",
			       (int) snaps[pair[0]]->proc.pid, (int) snaps[pair[1]]->proc.pid, what);
}

/* Everything that can be checked before any process exists. */
static int check_tree(struct restore_tree *t)
{
	int r = check_pidns(t->procs[0].opts);

	if (r >= 0)
		r = check_shares(t);

	for (size_t i = 0; r >= 0 && i < t->n; i++)
		r = check_streams(&t->procs[i]);
	for (size_t i = 0; r >= 0 && i < t->n; i++)
		r = check_cpu(&t->procs[i]);
	if (r >= 0 && !t->procs[0].opts->pidns)
		r = restore_check_pids(t);
	for (size_t i = 0; r >= 0 && i < t->n; i++)
		r = prepare_files(&t->procs[i]);
	return r;
}

static int load_tree(struct restore_tree *t, int dfd, const char *path,
		     const struct restore_options *opts)
{
	struct restore_ctx *root;
	int r;

	t->procs = new0(struct restore_ctx, 1);
	if (!t->procs)
		return log_oom();
	t->n = 1;
	root = &t->procs[0];
	ctx_init(root, opts);
	root->tree = t;
	root->buf = malloc(RESTORE_CHUNK_PAGES * PAGE_SIZE);
	if (!root->buf)
		return log_oom();
	r = load_image(root, dfd, path);
	if (r >= 0)
		r = open_packs(root, path);
	if (r >= 0)
		r = load_members(t, path);
	return r;
}

int restore_process(int dfd, const char *path, const struct restore_options *opts,
		    struct restore_result *ret)
{
	struct restore_tree t = {};
	int r;

	ret->pid_taken = false;
	ptrace_setup();
	r = load_tree(&t, dfd, path, opts);
	if (r >= 0)
		r = check_tree(&t);
	if (r >= 0)
		r = restore_fork_stubs(&t);
	if (r < 0)
		goto out;
	for (size_t i = 0; r >= 0 && i < t.n; i++)
		r = run_stub(&t.procs[i]);
	if (r < 0) {
		restore_kill_stubs(&t);
		goto out;
	}
	/* Last: a restore that fails leaves the files as they were. */
	for (size_t i = 0; i < t.n; i++)
		restore_cut_files(&t.procs[i]);
	/* Only now does any process of the tree run: none sees another half restored. */
	for (size_t i = 0; i < t.n; i++)
		restore_release(&t.procs[i]);
	*ret = (struct restore_result){ t.procs[0].pid, t.procs[0].snap->proc.pid, false };
	for (size_t i = 0; i < t.n; i++)
		ret->stdio_redirected |= t.procs[i].stdio_redirected;
out:
	if (r < 0)
		ret->pid_taken = t.pid_taken;
	restore_tree_done(&t);
	return r;
}
