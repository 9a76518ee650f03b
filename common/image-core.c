// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ELF core file of a snapshot (see image-core.h). Encoding goes through
 * libelf into a memfd; decoding treats the bytes as hostile: libelf parses
 * the container, the TLV reader every note, and snapshot_validate() the
 * result. Standard notes are written for other tools; on reading, only
 * NT_PRSTATUS (registers), NT_X86_XSTATE and NT_AUXV are taken from them.
 */
#include <assert.h>
#include <elf.h>
#include <endian.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>

#include "image-core.h"
#include "tlv.h"
#include "util.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

enum process_tag {
	TAG_P_PID = 1,
	TAG_P_PPID,
	TAG_P_PGID,
	TAG_P_SID,
	TAG_P_COMM,
	TAG_P_START_TIME,
	TAG_P_UIDS,
	TAG_P_GIDS,
	TAG_P_GROUPS,
	TAG_P_CAP_INH,
	TAG_P_CAP_PRM,
	TAG_P_CAP_EFF,
	TAG_P_CAP_BND,
	TAG_P_CAP_AMB,
	TAG_P_NO_NEW_PRIVS,
	TAG_P_DUMPABLE,
	TAG_P_UMASK,
	TAG_P_PERSONALITY,
	TAG_P_MM,
	TAG_P_CWD,
	TAG_P_EXE_FILE,
	TAG_P_CMDLINE,
	TAG_P_RLIMIT,
	TAG_P_SIGACTION,
	TAG_P_PENDING,
	TAG_P_ITIMER,
	TAG_P_XCOMP_PERM,
	TAG_P_CLOCKS, /* nested: A monotonic, B boottime, C host monotonic, D host boottime */
	TAG_P_TIMER,	      /* nested: enum timer_tag */
	TAG_P_SECCOMP_FILTER, /* nested: enum filter_tag; snapshot.filters in order */
	TAG_P_MEMBER, /* nested: pid (INDEX), ppid (A), pgid (B), sid (C),
		       * shares_files << 34 | shares_fs << 33 | zombie << 32 | status (D) */
	TAG_P_MEMBER_COMM, /* nested: pid (INDEX), comm (A as a string); after its TAG_P_MEMBER */
	TAG_P_PDEATHSIG,
};

enum timer_tag {
	TAG_TM_ID = 1,
	TAG_TM_CLOCK,
	TAG_TM_NOTIFY,
	TAG_TM_SIGNO,
	TAG_TM_VALUE,
	TAG_TM_TID,
	TAG_TM_INTERVAL_NS,
	TAG_TM_VALUE_NS,
};

enum filter_tag {
	TAG_SF_FLAGS = 1,
	TAG_SF_INSNS, /* struct sock_filter array, as the kernel lays it out */
};

enum nested_tag {
	TAG_N_INDEX = 1, /* rlimit resource, signal number, itimer which */
	TAG_N_A,
	TAG_N_B,
	TAG_N_C,
	TAG_N_D,
};

enum thread_tag {
	TAG_T_TID = 1,
	TAG_T_COMM,
	TAG_T_SIGMASK,
	TAG_T_RSEQ_POINTER,
	TAG_T_RSEQ_SIZE,
	TAG_T_RSEQ_SIGNATURE,
	TAG_T_RSEQ_FLAGS,
	TAG_T_ROBUST_LIST,
	TAG_T_ROBUST_LIST_LEN,
	TAG_T_CLEAR_CHILD_TID,
	TAG_T_ALTSTACK_SP,
	TAG_T_ALTSTACK_SIZE,
	TAG_T_ALTSTACK_FLAGS,
	TAG_T_PENDING,
	TAG_T_SECCOMP, /* u32 array: indices of snapshot.filters, oldest first */
};

enum cpu_tag {
	TAG_C_XCR0 = 1,
	TAG_C_XSTATE_SIZE,
	TAG_C_XFEATURES_USED,
	TAG_C_XFEATURE, /* nested: index, offset (A), size (B) */
};

enum region_tag {
	TAG_R_REGION = 1, /* nested */
	TAG_R_START,
	TAG_R_END,
	TAG_R_PROT,
	TAG_R_FLAGS,
	TAG_R_KIND,
	TAG_R_FILE,
	TAG_R_PGOFF,
	TAG_R_STREAM,
	TAG_R_NAME,
};

enum file_tag {
	TAG_F_FILE = 1, /* nested */
	TAG_F_KIND,
	TAG_F_PATH,
	TAG_F_DEV,
	TAG_F_INO,
	TAG_F_RDEV,
	TAG_F_MODE,
	TAG_F_SIZE,
	TAG_F_MTIME_NS,
	TAG_F_BUILD_ID,
	TAG_F_STREAM,
	TAG_F_SEALS,
	TAG_F_SHARED_WRITE,
	TAG_F_PIPE_SIZE,
	/* struct snapshot_anon, written for the anonymous-inode kinds only */
	TAG_F_COUNT,
	TAG_F_ANON_FLAGS,
	TAG_F_CLOCKID,
	TAG_F_VALUE_NS,
	TAG_F_INTERVAL_NS,
	TAG_F_EXPIRY_NS,
	TAG_F_SIGMASK,
	TAG_F_WATCH, /* nested: fd (INDEX), events (A), data (B) */
	/* struct snapshot_socket, written for the socket kinds only */
	TAG_F_SOCK_FAMILY,
	TAG_F_SOCK_TYPE,
	TAG_F_SOCK_SHUTDOWN,
	TAG_F_SOCK_PEER,
	TAG_F_SOCK_SNDBUF,
	TAG_F_SOCK_OPTIONS,
	TAG_F_SOCK_RCVTIMEO_US,
	TAG_F_SOCK_SNDTIMEO_US,
	TAG_F_SHARE, /* snapshot_file.share */
	TAG_F_SOCK_BACKLOG,
};

enum fds_tag {
	TAG_D_OPEN_FILE = 1, /* nested: file (A), flags (B), pos (C) */
	TAG_D_FD,	     /* nested: fd (INDEX), open file (A), cloexec (B) */
};

/* ---- encoding ---- */

static void put_u32_array(struct tlv_writer *w, uint32_t tag, const uint32_t *v, size_t n)
{
	_cleanup_free_ uint32_t *le = new0(uint32_t, n ? n : 1);

	if (!le) {
		w->error = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++)
		le[i] = htole32(v[i]);
	tlv_put_bytes(w, tag, le, n * sizeof(uint32_t));
}

static void put_nested4(struct tlv_writer *w, uint32_t tag, uint64_t index, uint64_t a, uint64_t b,
			uint64_t c, uint64_t d)
{
	size_t m = tlv_begin(w, tag);

	tlv_put_u64(w, TAG_N_INDEX, index);
	tlv_put_u64(w, TAG_N_A, a);
	tlv_put_u64(w, TAG_N_B, b);
	tlv_put_u64(w, TAG_N_C, c);
	tlv_put_u64(w, TAG_N_D, d);
	tlv_end(w, m);
}

static void encode_mm(struct tlv_writer *w, const struct snapshot_mm *mm)
{
	const uint64_t v[] = {
		mm->start_code, mm->end_code,  mm->start_data, mm->end_data,
		mm->start_brk,	mm->brk,       mm->start_stack, mm->arg_start,
		mm->arg_end,	mm->env_start, mm->env_end,
	};
	size_t m = tlv_begin(w, TAG_P_MM);

	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		tlv_put_u64(w, (uint32_t) i + 1, v[i]);
	tlv_end(w, m);
}

static void encode_timer(struct tlv_writer *w, const struct snapshot_timer *t)
{
	size_t m = tlv_begin(w, TAG_P_TIMER);

	tlv_put_u64(w, TAG_TM_ID, (uint64_t)(int64_t) t->id);
	tlv_put_u64(w, TAG_TM_CLOCK, (uint64_t)(int64_t) t->clock);
	tlv_put_u64(w, TAG_TM_NOTIFY, (uint64_t)(int64_t) t->notify);
	tlv_put_u64(w, TAG_TM_SIGNO, (uint64_t)(int64_t) t->signo);
	tlv_put_u64(w, TAG_TM_VALUE, t->value);
	tlv_put_u64(w, TAG_TM_TID, (uint64_t)(int64_t) t->tid);
	tlv_put_u64(w, TAG_TM_INTERVAL_NS, t->interval_ns);
	tlv_put_u64(w, TAG_TM_VALUE_NS, t->value_ns);
	tlv_end(w, m);
}

/* struct sock_filter ({u16 code; u8 jt, jf; u32 k}) stays in the kernel's own (x86_64) bytes. */
static void encode_filter(struct tlv_writer *w, const struct snapshot_filter *f)
{
	size_t m = tlv_begin(w, TAG_P_SECCOMP_FILTER);

	tlv_put_u64(w, TAG_SF_FLAGS, f->flags);
	tlv_put_bytes(w, TAG_SF_INSNS, f->insns, f->n_insns * sizeof(uint64_t));
	tlv_end(w, m);
}

static void encode_process(struct tlv_writer *w, const struct snapshot_process *p)
{
	tlv_put_u64(w, TAG_P_PID, (uint64_t) p->pid);
	tlv_put_u64(w, TAG_P_PPID, (uint64_t) p->ppid);
	tlv_put_u64(w, TAG_P_PGID, (uint64_t) p->pgid);
	tlv_put_u64(w, TAG_P_SID, (uint64_t) p->sid);
	tlv_put_str(w, TAG_P_COMM, p->comm);
	tlv_put_u64(w, TAG_P_START_TIME, p->start_time);
	put_u32_array(w, TAG_P_UIDS, p->uid, 4);
	put_u32_array(w, TAG_P_GIDS, p->gid, 4);
	put_u32_array(w, TAG_P_GROUPS, p->groups, p->n_groups);
	tlv_put_u64(w, TAG_P_CAP_INH, p->cap_inheritable);
	tlv_put_u64(w, TAG_P_CAP_PRM, p->cap_permitted);
	tlv_put_u64(w, TAG_P_CAP_EFF, p->cap_effective);
	tlv_put_u64(w, TAG_P_CAP_BND, p->cap_bounding);
	tlv_put_u64(w, TAG_P_CAP_AMB, p->cap_ambient);
	tlv_put_u64(w, TAG_P_NO_NEW_PRIVS, p->no_new_privs);
	tlv_put_u64(w, TAG_P_DUMPABLE, (uint64_t) p->dumpable);
	if (p->pdeathsig)
		tlv_put_u64(w, TAG_P_PDEATHSIG, (uint64_t) p->pdeathsig);
	tlv_put_u64(w, TAG_P_UMASK, p->umask);
	tlv_put_u64(w, TAG_P_PERSONALITY, p->personality);
	encode_mm(w, &p->mm);
	tlv_put_str(w, TAG_P_CWD, p->cwd);
	tlv_put_u64(w, TAG_P_EXE_FILE, p->exe_file);
	tlv_put_bytes(w, TAG_P_CMDLINE, p->cmdline, p->cmdline ? p->cmdline_size : 0);
	for (size_t i = 0; i < RLIM_NLIMITS; i++)
		put_nested4(w, TAG_P_RLIMIT, i, p->rlimits[i].rlim_cur, p->rlimits[i].rlim_max, 0,
			    0);
	for (size_t i = 0; i < SNAPSHOT_NSIG; i++) {
		const struct snapshot_sigaction *a = &p->sigactions[i];

		if (a->handler || a->flags || a->restorer || a->mask)
			put_nested4(w, TAG_P_SIGACTION, i + 1, a->handler, a->flags, a->restorer,
				    a->mask);
	}
	for (size_t i = 0; i < p->n_pending; i++)
		tlv_put_bytes(w, TAG_P_PENDING, &p->pending[i], sizeof(p->pending[i]));
	for (size_t i = 0; i < ELEMENTSOF(p->itimers); i++)
		put_nested4(w, TAG_P_ITIMER, i, p->itimers[i].interval_ns, p->itimers[i].value_ns,
			    0, 0);
	tlv_put_u64(w, TAG_P_XCOMP_PERM, p->xcomp_perm);
	put_nested4(w, TAG_P_CLOCKS, 0, (uint64_t) p->clocks.monotonic_ns,
		    (uint64_t) p->clocks.boottime_ns, (uint64_t) p->clocks.host_monotonic_ns,
		    (uint64_t) p->clocks.host_boottime_ns);
	for (size_t i = 0; i < p->n_timers; i++)
		encode_timer(w, &p->timers[i]);
}

static void encode_thread(struct tlv_writer *w, const struct snapshot_thread *t)
{
	tlv_put_u64(w, TAG_T_TID, (uint64_t) t->tid);
	tlv_put_str(w, TAG_T_COMM, t->comm);
	tlv_put_u64(w, TAG_T_SIGMASK, t->sigmask);
	tlv_put_u64(w, TAG_T_RSEQ_POINTER, t->rseq.abi_pointer);
	tlv_put_u64(w, TAG_T_RSEQ_SIZE, t->rseq.size);
	tlv_put_u64(w, TAG_T_RSEQ_SIGNATURE, t->rseq.signature);
	tlv_put_u64(w, TAG_T_RSEQ_FLAGS, t->rseq.flags);
	tlv_put_u64(w, TAG_T_ROBUST_LIST, t->robust_list);
	tlv_put_u64(w, TAG_T_ROBUST_LIST_LEN, t->robust_list_len);
	tlv_put_u64(w, TAG_T_CLEAR_CHILD_TID, t->clear_child_tid);
	tlv_put_u64(w, TAG_T_ALTSTACK_SP, t->altstack_sp);
	tlv_put_u64(w, TAG_T_ALTSTACK_SIZE, t->altstack_size);
	tlv_put_u64(w, TAG_T_ALTSTACK_FLAGS, (uint64_t)(int64_t) t->altstack_flags);
	for (size_t i = 0; i < t->n_pending; i++)
		tlv_put_bytes(w, TAG_T_PENDING, &t->pending[i], sizeof(t->pending[i]));
	if (t->n_seccomp)
		put_u32_array(w, TAG_T_SECCOMP, t->seccomp, t->n_seccomp);
}

static void encode_cpu(struct tlv_writer *w, const struct snapshot_cpu *c)
{
	tlv_put_u64(w, TAG_C_XCR0, c->xcr0);
	tlv_put_u64(w, TAG_C_XSTATE_SIZE, c->xstate_size);
	tlv_put_u64(w, TAG_C_XFEATURES_USED, c->xfeatures_used);
	for (size_t i = 0; i < 64; i++)
		if (c->xfeature_size[i])
			put_nested4(w, TAG_C_XFEATURE, i, c->xfeature_offset[i],
				    c->xfeature_size[i], 0, 0);
}

static void encode_regions(struct tlv_writer *w, const struct snapshot *s)
{
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];
		size_t m = tlv_begin(w, TAG_R_REGION);

		tlv_put_u64(w, TAG_R_START, r->start);
		tlv_put_u64(w, TAG_R_END, r->end);
		tlv_put_u64(w, TAG_R_PROT, r->prot);
		tlv_put_u64(w, TAG_R_FLAGS, r->flags);
		tlv_put_u64(w, TAG_R_KIND, r->kind);
		tlv_put_u64(w, TAG_R_FILE, r->file);
		tlv_put_u64(w, TAG_R_PGOFF, r->pgoff);
		tlv_put_u64(w, TAG_R_STREAM, r->stream);
		if (r->name)
			tlv_put_str(w, TAG_R_NAME, r->name);
		tlv_end(w, m);
	}
}

static void encode_anon(struct tlv_writer *w, const struct snapshot_anon *a)
{
	tlv_put_u64(w, TAG_F_COUNT, a->count);
	tlv_put_u64(w, TAG_F_ANON_FLAGS, a->flags);
	tlv_put_u64(w, TAG_F_CLOCKID, (uint64_t) a->clockid);
	tlv_put_u64(w, TAG_F_VALUE_NS, a->value_ns);
	tlv_put_u64(w, TAG_F_INTERVAL_NS, a->interval_ns);
	tlv_put_u64(w, TAG_F_EXPIRY_NS, (uint64_t) a->expiry_ns);
	tlv_put_u64(w, TAG_F_SIGMASK, a->sigmask);
	for (size_t i = 0; i < a->n_watches; i++)
		put_nested4(w, TAG_F_WATCH, (uint64_t) a->watches[i].fd, a->watches[i].events,
			    a->watches[i].data, 0, 0);
}

static void encode_socket(struct tlv_writer *w, const struct snapshot_socket *k)
{
	tlv_put_u64(w, TAG_F_SOCK_FAMILY, k->family);
	tlv_put_u64(w, TAG_F_SOCK_TYPE, k->type);
	tlv_put_u64(w, TAG_F_SOCK_SHUTDOWN, k->shutdown);
	tlv_put_u64(w, TAG_F_SOCK_PEER, k->peer);
	tlv_put_u64(w, TAG_F_SOCK_SNDBUF, k->sndbuf);
	tlv_put_u64(w, TAG_F_SOCK_OPTIONS, k->options);
	tlv_put_u64(w, TAG_F_SOCK_RCVTIMEO_US, k->rcvtimeo_us);
	tlv_put_u64(w, TAG_F_SOCK_SNDTIMEO_US, k->sndtimeo_us);
	if (k->backlog)
		tlv_put_u64(w, TAG_F_SOCK_BACKLOG, k->backlog);
}

static void encode_files(struct tlv_writer *w, const struct snapshot *s)
{
	for (size_t i = 0; i < s->n_files; i++) {
		const struct snapshot_file *f = &s->files[i];
		size_t m = tlv_begin(w, TAG_F_FILE);

		tlv_put_u64(w, TAG_F_KIND, f->kind);
		tlv_put_str(w, TAG_F_PATH, f->path);
		tlv_put_u64(w, TAG_F_DEV, f->id.dev);
		tlv_put_u64(w, TAG_F_INO, f->id.ino);
		tlv_put_u64(w, TAG_F_RDEV, f->id.rdev);
		tlv_put_u64(w, TAG_F_MODE, f->id.mode);
		tlv_put_u64(w, TAG_F_SIZE, f->id.size);
		tlv_put_u64(w, TAG_F_MTIME_NS, (uint64_t) f->id.mtime_ns);
		tlv_put_bytes(w, TAG_F_BUILD_ID, f->id.build_id, f->id.build_id_size);
		tlv_put_u64(w, TAG_F_STREAM, f->stream);
		tlv_put_u64(w, TAG_F_SEALS, f->seals);
		tlv_put_u64(w, TAG_F_SHARED_WRITE, f->mapped_shared_write);
		tlv_put_u64(w, TAG_F_PIPE_SIZE, f->pipe_size);
		if (f->share)
			tlv_put_u64(w, TAG_F_SHARE, f->share);
		if (file_kind_is_anon(f->kind))
			encode_anon(w, &f->anon);
		if (file_kind_is_socket(f->kind))
			encode_socket(w, &f->sock);
		tlv_end(w, m);
	}
}

static void encode_fds(struct tlv_writer *w, const struct snapshot *s)
{
	for (size_t i = 0; i < s->n_open_files; i++) {
		const struct snapshot_open_file *o = &s->open_files[i];

		put_nested4(w, TAG_D_OPEN_FILE, i, o->file, o->flags, o->pos, o->share);
	}
	for (size_t i = 0; i < s->n_fds; i++)
		put_nested4(w, TAG_D_FD, (uint64_t) s->fds[i].fd, s->fds[i].open_file,
			    s->fds[i].cloexec, 0, 0);
}

struct note_buf {
	uint8_t *data;
	size_t len, allocated;
};

static int note_add(struct note_buf *nb, const char *name, uint32_t type, const void *desc,
		    size_t desc_len)
{
	size_t name_len = strlen(name) + 1;
	size_t total = sizeof(Elf64_Nhdr) + ALIGN_TO(name_len, (size_t) 4) +
		       ALIGN_TO(desc_len, (size_t) 4);
	Elf64_Nhdr h = { .n_namesz = (Elf64_Word) name_len,
			 .n_descsz = (Elf64_Word) desc_len,
			 .n_type = type };
	uint8_t *p;

	if (desc_len > UINT32_MAX)
		return -E2BIG;
	if (GROW(nb->data, nb->allocated, nb->len + total) < 0)
		return -ENOMEM;
	p = nb->data + nb->len;
	memset(p, 0, total);
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), name, name_len);
	if (desc_len)
		memcpy(p + sizeof(h) + ALIGN_TO(name_len, (size_t) 4), desc, desc_len);
	nb->len += total;
	return 0;
}

typedef void (*tlv_encoder)(struct tlv_writer *w, const void *what);

static int note_add_tlv(struct note_buf *nb, uint32_t type, tlv_encoder encode, const void *what)
{
	struct tlv_writer w = {};
	_cleanup_free_ void *buf = NULL;
	size_t len;
	int r;

	encode(&w, what);
	r = tlv_finish(&w, &buf, &len);
	if (r < 0) {
		tlv_writer_done(&w);
		return r;
	}
	return note_add(nb, CKPTD_NOTE_NAME, type, buf, len);
}

static void encode_process_cb(struct tlv_writer *w, const void *what)
{
	const struct snapshot *s = what;

	encode_process(w, &s->proc);
	for (size_t i = 0; i < s->n_filters; i++)
		encode_filter(w, &s->filters[i]);
	for (size_t i = 0; i < s->n_members; i++) {
		const struct snapshot_member *m = &s->members[i];
		size_t mark;

		put_nested4(w, TAG_P_MEMBER, (uint64_t) m->pid, (uint64_t) m->ppid,
			    (uint64_t) m->pgid, (uint64_t) m->sid,
			    (uint64_t) m->shares_files << 34 | (uint64_t) m->shares_fs << 33 |
				    (uint64_t) m->zombie << 32 | (uint32_t) m->exit_status);
		mark = tlv_begin(w, TAG_P_MEMBER_COMM);
		tlv_put_u64(w, TAG_N_INDEX, (uint64_t) m->pid);
		tlv_put_str(w, TAG_N_A, m->comm);
		tlv_end(w, mark);
	}
}

static void encode_thread_cb(struct tlv_writer *w, const void *t)
{
	encode_thread(w, t);
}

static void encode_cpu_cb(struct tlv_writer *w, const void *s)
{
	encode_cpu(w, &((const struct snapshot *) s)->cpu);
}

static void encode_regions_cb(struct tlv_writer *w, const void *s)
{
	encode_regions(w, s);
}

static void encode_files_cb(struct tlv_writer *w, const void *s)
{
	encode_files(w, s);
}

static void encode_fds_cb(struct tlv_writer *w, const void *s)
{
	encode_fds(w, s);
}

static int add_thread_notes(struct note_buf *nb, const struct snapshot *s,
			    const struct snapshot_thread *t)
{
	struct elf_prstatus ps = {};
	int r;

	ps.pr_pid = t->tid;
	ps.pr_ppid = s->proc.ppid;
	ps.pr_pgrp = s->proc.pgid;
	ps.pr_sid = s->proc.sid;
	ps.pr_sighold = t->sigmask;
	ps.pr_fpvalid = 1;
	static_assert(sizeof(ps.pr_reg) == sizeof(t->regs), "pr_reg is user_regs_struct");
	memcpy(&ps.pr_reg, &t->regs, sizeof(t->regs));
	r = note_add(nb, "CORE", NT_PRSTATUS, &ps, sizeof(ps));
	if (r < 0)
		return r;
	/* The first 512 bytes of XSAVE are the FXSAVE image gdb reads as NT_FPREGSET. */
	r = note_add(nb, "CORE", NT_FPREGSET, t->xstate, MIN(t->xstate_size, (size_t) 512));
	if (r < 0)
		return r;
	r = note_add(nb, "LINUX", NT_X86_XSTATE, t->xstate, t->xstate_size);
	if (r < 0)
		return r;
	return note_add_tlv(nb, CKPTD_NOTE_THREAD, encode_thread_cb, t);
}

static int add_prpsinfo(struct note_buf *nb, const struct snapshot *s)
{
	struct elf_prpsinfo pi = {};
	size_t n;

	pi.pr_sname = 'R';
	pi.pr_uid = s->proc.uid[0];
	pi.pr_gid = s->proc.gid[0];
	pi.pr_pid = s->proc.pid;
	pi.pr_ppid = s->proc.ppid;
	pi.pr_pgrp = s->proc.pgid;
	pi.pr_sid = s->proc.sid;
	memcpy(pi.pr_fname, s->proc.comm, MIN(sizeof(pi.pr_fname), sizeof(s->proc.comm)));
	n = MIN(s->proc.cmdline_size, sizeof(pi.pr_psargs) - 1);
	if (s->proc.cmdline)
		memcpy(pi.pr_psargs, s->proc.cmdline, n);
	for (size_t i = 0; i < n; i++)
		if (pi.pr_psargs[i] == 0)
			pi.pr_psargs[i] = ' ';
	return note_add(nb, "CORE", NT_PRPSINFO, &pi, sizeof(pi));
}

/* NT_FILE lets gdb and eu-readelf name the mapped files. */
/* For NT_FILE, which only other tools read: an index out of range (the decoder refuses it) names
 * nothing rather than reading past the array. */
static const char *region_path(const struct snapshot *s, const struct snapshot_region *r)
{
	return r->file < s->n_files && s->files[r->file].path ? s->files[r->file].path : "";
}

static int add_nt_file(struct note_buf *nb, const struct snapshot *s)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t count = 0, names = 0, len, off;
	uint64_t *words;

	for (size_t i = 0; i < s->n_regions; i++)
		if (s->regions[i].kind == REGION_KIND_FILE) {
			count++;
			names += strlen(region_path(s, &s->regions[i])) + 1;
		}
	len = 16 + count * 24 + names;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	words = (uint64_t *) buf;
	words[0] = count;
	words[1] = PAGE_SIZE;
	off = 16 + count * 24;
	for (size_t i = 0, j = 0; i < s->n_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];
		const char *path;

		if (r->kind != REGION_KIND_FILE)
			continue;
		path = region_path(s, r);
		words[2 + j * 3] = r->start;
		words[3 + j * 3] = r->end;
		words[4 + j * 3] = r->pgoff / PAGE_SIZE;
		memcpy(buf + off, path, strlen(path) + 1);
		off += strlen(path) + 1;
		j++;
	}
	return note_add(nb, "CORE", NT_FILE, buf, len);
}

static int build_notes(const struct snapshot *s, struct note_buf *nb)
{
	int r;

	r = add_prpsinfo(nb, s);
	for (size_t i = 0; r >= 0 && i < s->n_threads; i++)
		r = add_thread_notes(nb, s, &s->threads[i]);
	if (r >= 0 && s->proc.auxv_size)
		r = note_add(nb, "CORE", NT_AUXV, s->proc.auxv, s->proc.auxv_size);
	if (r >= 0)
		r = add_nt_file(nb, s);
	if (r >= 0)
		r = note_add_tlv(nb, CKPTD_NOTE_PROCESS, encode_process_cb, s);
	if (r >= 0)
		r = note_add_tlv(nb, CKPTD_NOTE_CPU, encode_cpu_cb, s);
	if (r >= 0)
		r = note_add_tlv(nb, CKPTD_NOTE_REGIONS, encode_regions_cb, s);
	if (r >= 0)
		r = note_add_tlv(nb, CKPTD_NOTE_FILES, encode_files_cb, s);
	if (r >= 0)
		r = note_add_tlv(nb, CKPTD_NOTE_FDS, encode_fds_cb, s);
	return r;
}

static uint32_t region_pflags(const struct snapshot_region *r)
{
	return (r->prot & PROT_READ ? PF_R : 0) | (r->prot & PROT_WRITE ? PF_W : 0) |
	       (r->prot & PROT_EXEC ? PF_X : 0);
}

/*
 * Lays the file out by hand (ELF_F_LAYOUT): header, program headers, the
 * notes (held by one SHT_NOTE section, which is how libelf writes bytes),
 * then the section header table. PT_LOADs have no file contents.
 */
static int write_elf(int fd, const struct snapshot *s, const struct note_buf *nb)
{
	size_t phnum = 1 + s->n_regions;
	uint64_t notes_off = ALIGN_TO(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr), (size_t) 8);
	uint64_t end_off = ALIGN_TO(notes_off + nb->len, (uint64_t) 8);
	GElf_Ehdr ehdr;
	GElf_Shdr shdr;
	Elf_Scn *scn;
	Elf_Data *data;
	Elf *e;
	int r = -EIO;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EIO;
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	if (!e)
		return -EIO;
	elf_flagelf(e, ELF_C_SET, ELF_F_LAYOUT);
	if (!gelf_newehdr(e, ELFCLASS64) || !gelf_getehdr(e, &ehdr))
		goto out;
	ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
	ehdr.e_ident[EI_OSABI] = ELFOSABI_NONE;
	ehdr.e_type = ET_CORE;
	ehdr.e_machine = EM_X86_64;
	ehdr.e_version = EV_CURRENT;
	ehdr.e_phoff = sizeof(Elf64_Ehdr);
	ehdr.e_shoff = end_off;
	if (!gelf_update_ehdr(e, &ehdr) || !gelf_newphdr(e, phnum))
		goto out;

	scn = elf_newscn(e);
	data = scn ? elf_newdata(scn) : NULL;
	if (!data || !gelf_getshdr(scn, &shdr))
		goto out;
	data->d_buf = nb->data;
	data->d_size = nb->len;
	data->d_type = ELF_T_BYTE;
	data->d_align = 4;
	data->d_off = 0;
	shdr.sh_type = SHT_NOTE;
	shdr.sh_offset = notes_off;
	shdr.sh_size = nb->len;
	shdr.sh_addralign = 4;
	if (!gelf_update_shdr(scn, &shdr))
		goto out;

	GElf_Phdr note = { .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = nb->len,
			   .p_align = 4 };
	if (!gelf_update_phdr(e, 0, &note))
		goto out;
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct snapshot_region *reg = &s->regions[i];
		GElf_Phdr ph = { .p_type = PT_LOAD,
				 .p_offset = end_off,
				 .p_vaddr = reg->start,
				 .p_memsz = reg->end - reg->start,
				 .p_flags = region_pflags(reg),
				 .p_align = PAGE_SIZE };

		if (!gelf_update_phdr(e, (int) i + 1, &ph))
			goto out;
	}
	if (elf_update(e, ELF_C_WRITE) < 0)
		goto out;
	r = 0;
out:
	elf_end(e);
	return r;
}

int image_core_encode(const struct snapshot *s, void **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -EBADF;
	struct note_buf nb = {};
	char *buf;
	size_t len;
	int r;

	r = build_notes(s, &nb);
	if (r < 0)
		goto out;
	fd = memfd_create("ckptd-core", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_elf(fd, s, &nb);
	if (r < 0)
		goto out;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	r = read_full_fd(fd, SIZE_MAX / 2, &buf, &len);
	if (r < 0)
		goto out;
	*ret = buf;
	*ret_len = len;
out:
	free(nb.data);
	return r;
}

/* ---- decoding ---- */

struct decoder {
	struct snapshot *s;
	struct snapshot_thread *thread; /* the one the last NT_PRSTATUS opened */
	bool thread_has_xstate, thread_has_note;
	bool has_process, has_cpu, has_regions, has_files, has_fds;
	const char *reason;
};

static int bad(struct decoder *d, const char *reason)
{
	if (!d->reason)
		d->reason = reason;
	return -EBADMSG;
}

static int get_u32_array(const struct tlv_reader *v, size_t max, uint32_t **ret, size_t *ret_n)
{
	size_t n = v->len / sizeof(uint32_t);
	uint32_t *a;

	if (v->len % sizeof(uint32_t) || n > max)
		return -EBADMSG;
	a = new0(uint32_t, n ? n : 1);
	if (!a)
		return -ENOMEM;
	memcpy(a, v->p, v->len);
	for (size_t i = 0; i < n; i++)
		a[i] = le32toh(a[i]);
	*ret = a;
	*ret_n = n;
	return 0;
}

static int get_fixed_u32_array(const struct tlv_reader *v, uint32_t *dst, size_t n)
{
	_cleanup_free_ uint32_t *a = NULL;
	size_t got;
	int r = get_u32_array(v, n, &a, &got);

	if (r < 0)
		return r;
	if (got != n)
		return -EBADMSG;
	memcpy(dst, a, n * sizeof(uint32_t));
	return 0;
}

static int get_comm(const struct tlv_reader *v, char comm[static 16])
{
	_cleanup_free_ char *s = NULL;
	int r = tlv_get_str(v, 15, &s);

	if (r < 0)
		return r;
	memset(comm, 0, 16);
	memcpy(comm, s, strlen(s));
	return 0;
}

/* Reads a nested {index, a, b, c, d} record. */
static int get_nested4(const struct tlv_reader *v, uint64_t out[static 5])
{
	struct tlv_reader r = *v, val;
	uint32_t tag;
	int k;

	memset(out, 0, 5 * sizeof(uint64_t));
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		if (tag < TAG_N_INDEX || tag > TAG_N_D)
			continue;
		k = tlv_get_u64(&val, &out[tag - TAG_N_INDEX]);
		if (k < 0)
			return k;
	}
	return k;
}

static int decode_mm(const struct tlv_reader *v, struct snapshot_mm *mm)
{
	uint64_t *fields[] = {
		&mm->start_code, &mm->end_code,	 &mm->start_data,  &mm->end_data,
		&mm->start_brk,	 &mm->brk,	 &mm->start_stack, &mm->arg_start,
		&mm->arg_end,	 &mm->env_start, &mm->env_end,
	};
	struct tlv_reader r = *v, val;
	uint32_t tag;
	int k;

	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		if (tag < 1 || tag > ELEMENTSOF(fields))
			continue;
		k = tlv_get_u64(&val, fields[tag - 1]);
		if (k < 0)
			return k;
	}
	return k;
}

static int append_siginfo(struct snapshot_siginfo **array, size_t *n, const struct tlv_reader *v)
{
	struct snapshot_siginfo *a;

	if (*n >= SNAPSHOT_MAX_PENDING || v->len != sizeof(struct snapshot_siginfo))
		return -EBADMSG;
	a = realloc(*array, (*n + 1) * sizeof(**array));
	if (!a)
		return -ENOMEM;
	*array = a;
	memcpy(&a[(*n)++], v->p, sizeof(*a));
	return 0;
}

static int decode_process_item(struct snapshot_process *p, uint32_t tag,
			       const struct tlv_reader *v)
{
	uint64_t n[5], x;
	int r = 0;

	switch (tag) {
	case TAG_P_PID:
		return tlv_get_i32(v, &p->pid);
	case TAG_P_PPID:
		return tlv_get_i32(v, &p->ppid);
	case TAG_P_PGID:
		return tlv_get_i32(v, &p->pgid);
	case TAG_P_SID:
		return tlv_get_i32(v, &p->sid);
	case TAG_P_COMM:
		return get_comm(v, p->comm);
	case TAG_P_START_TIME:
		return tlv_get_u64(v, &p->start_time);
	case TAG_P_UIDS:
		return get_fixed_u32_array(v, p->uid, 4);
	case TAG_P_GIDS:
		return get_fixed_u32_array(v, p->gid, 4);
	case TAG_P_GROUPS:
		free(p->groups);
		p->groups = NULL;
		return get_u32_array(v, 65536, &p->groups, &p->n_groups);
	case TAG_P_CAP_INH:
		return tlv_get_u64(v, &p->cap_inheritable);
	case TAG_P_CAP_PRM:
		return tlv_get_u64(v, &p->cap_permitted);
	case TAG_P_CAP_EFF:
		return tlv_get_u64(v, &p->cap_effective);
	case TAG_P_CAP_BND:
		return tlv_get_u64(v, &p->cap_bounding);
	case TAG_P_CAP_AMB:
		return tlv_get_u64(v, &p->cap_ambient);
	case TAG_P_NO_NEW_PRIVS:
		r = tlv_get_u64(v, &x);
		p->no_new_privs = x != 0;
		return r;
	case TAG_P_DUMPABLE:
		return tlv_get_i32(v, &p->dumpable);
	case TAG_P_PDEATHSIG:
		return tlv_get_i32(v, &p->pdeathsig);
	case TAG_P_UMASK:
		return tlv_get_u32(v, &p->umask);
	case TAG_P_PERSONALITY:
		return tlv_get_u32(v, &p->personality);
	case TAG_P_MM:
		return decode_mm(v, &p->mm);
	case TAG_P_CWD:
		free(p->cwd);
		p->cwd = NULL;
		return tlv_get_str(v, SNAPSHOT_PATH_MAX, &p->cwd);
	case TAG_P_EXE_FILE:
		return tlv_get_u32(v, &p->exe_file);
	case TAG_P_CMDLINE:
		free(p->cmdline);
		p->cmdline = NULL;
		return tlv_get_blob(v, 1 << 20, (void **) &p->cmdline, &p->cmdline_size);
	case TAG_P_RLIMIT:
		r = get_nested4(v, n);
		if (r < 0 || n[0] >= RLIM_NLIMITS)
			return r < 0 ? r : -EBADMSG;
		p->rlimits[n[0]] = (struct rlimit){ n[1], n[2] };
		return 0;
	case TAG_P_SIGACTION:
		r = get_nested4(v, n);
		if (r < 0 || n[0] < 1 || n[0] > SNAPSHOT_NSIG)
			return r < 0 ? r : -EBADMSG;
		p->sigactions[n[0] - 1] = (struct snapshot_sigaction){ n[1], n[2], n[3], n[4] };
		return 0;
	case TAG_P_PENDING:
		return append_siginfo(&p->pending, &p->n_pending, v);
	case TAG_P_ITIMER:
		r = get_nested4(v, n);
		if (r < 0 || n[0] >= ELEMENTSOF(p->itimers))
			return r < 0 ? r : -EBADMSG;
		p->itimers[n[0]] = (struct snapshot_itimer){ n[1], n[2] };
		return 0;
	case TAG_P_XCOMP_PERM:
		return tlv_get_u64(v, &p->xcomp_perm);
	case TAG_P_CLOCKS:
		r = get_nested4(v, n);
		if (r < 0)
			return r;
		/* Stored as two's complement; snapshot_validate() checks the range. */
		p->clocks = (struct snapshot_clocks){ (int64_t) n[1], (int64_t) n[2],
						      (int64_t) n[3], (int64_t) n[4] };
		return 0;
	default:
		return 0; /* a field from a newer ckptd: not needed to restore */
	}
}

static int decode_timer(struct snapshot_process *p, const struct tlv_reader *v)
{
	struct tlv_reader r = *v, val;
	struct snapshot_timer t = {}, *a;
	uint32_t tag;
	int k;

	if (p->n_timers >= SNAPSHOT_MAX_TIMERS)
		return -EBADMSG;
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		switch (tag) {
		case TAG_TM_ID:
			k = tlv_get_i32(&val, &t.id);
			break;
		case TAG_TM_CLOCK:
			k = tlv_get_i32(&val, &t.clock);
			break;
		case TAG_TM_NOTIFY:
			k = tlv_get_i32(&val, &t.notify);
			break;
		case TAG_TM_SIGNO:
			k = tlv_get_i32(&val, &t.signo);
			break;
		case TAG_TM_VALUE:
			k = tlv_get_u64(&val, &t.value);
			break;
		case TAG_TM_TID:
			k = tlv_get_i32(&val, &t.tid);
			break;
		case TAG_TM_INTERVAL_NS:
			k = tlv_get_u64(&val, &t.interval_ns);
			break;
		case TAG_TM_VALUE_NS:
			k = tlv_get_u64(&val, &t.value_ns);
			break;
		default:
			break;
		}
		if (k < 0)
			return k;
	}
	if (k < 0)
		return k;
	a = realloc(p->timers, (p->n_timers + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->timers = a;
	a[p->n_timers++] = t;
	return 0;
}

static int decode_filter(struct snapshot *s, const struct tlv_reader *v)
{
	struct snapshot_filter *f = snapshot_add_filter(s);
	struct tlv_reader r = *v, val;
	uint32_t tag;
	int k;

	if (!f)
		return s->n_filters >= SNAPSHOT_MAX_FILTERS ? -EBADMSG : -ENOMEM;
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		if (tag == TAG_SF_FLAGS)
			k = tlv_get_u64(&val, &f->flags);
		else if (tag == TAG_SF_INSNS) {
			size_t len = 0;

			free(f->insns);
			f->insns = NULL;
			k = tlv_get_blob(&val, SNAPSHOT_MAX_FILTER_INSNS * sizeof(uint64_t),
					 (void **) &f->insns, &len);
			if (k >= 0 && len % sizeof(uint64_t))
				k = -EBADMSG;
			f->n_insns = len / sizeof(uint64_t);
		}
		if (k < 0)
			return k;
	}
	return k;
}

static int decode_member(struct snapshot *s, const struct tlv_reader *v)
{
	struct snapshot_member *m;
	uint64_t n[5];
	int r = get_nested4(v, n);

	if (r < 0)
		return r;
	for (int i = 0; i < 4; i++)
		if (n[i] > INT32_MAX)
			return -EBADMSG;
	if (n[4] >> 35)
		return -EBADMSG;
	m = snapshot_add_member(s);
	if (!m)
		return s->n_members >= SNAPSHOT_MAX_MEMBERS ? -EBADMSG : -ENOMEM;
	*m = (struct snapshot_member){ .pid = (pid_t) n[0], .ppid = (pid_t) n[1],
				       .pgid = (pid_t) n[2], .sid = (pid_t) n[3],
				       .zombie = (n[4] >> 32) & 1, .shares_fs = (n[4] >> 33) & 1,
				       .shares_files = (n[4] >> 34) & 1,
				       .exit_status = (int32_t)(uint32_t) n[4] };
	return 0;
}

/* The name of the member just decoded (only for people: ps shows it). */
static int decode_member_comm(struct snapshot *s, const struct tlv_reader *v)
{
	struct tlv_reader r = *v, val;
	uint64_t pid = 0;
	uint32_t tag;
	int k;

	if (s->n_members == 0)
		return -EBADMSG;
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		if (tag == TAG_N_INDEX)
			k = tlv_get_u64(&val, &pid);
		else if (tag == TAG_N_A)
			k = get_comm(&val, s->members[s->n_members - 1].comm);
		if (k < 0)
			return k;
	}
	if (k < 0 || pid != (uint64_t) s->members[s->n_members - 1].pid)
		return -EBADMSG;
	return 0;
}

static int decode_process_note_item(struct snapshot *s, uint32_t tag, const struct tlv_reader *v)
{
	if (tag == TAG_P_MEMBER)
		return decode_member(s, v);
	if (tag == TAG_P_MEMBER_COMM)
		return decode_member_comm(s, v);
	if (tag == TAG_P_TIMER)
		return decode_timer(&s->proc, v);
	if (tag == TAG_P_SECCOMP_FILTER)
		return decode_filter(s, v);
	return decode_process_item(&s->proc, tag, v);
}

static int decode_thread_item(struct snapshot_thread *t, uint32_t tag, const struct tlv_reader *v)
{
	pid_t tid;
	int r;

	switch (tag) {
	case TAG_T_TID:
		r = tlv_get_i32(v, &tid);
		return r < 0 ? r : (tid == t->tid ? 0 : -EBADMSG);
	case TAG_T_COMM:
		return get_comm(v, t->comm);
	case TAG_T_SIGMASK:
		return tlv_get_u64(v, &t->sigmask);
	case TAG_T_RSEQ_POINTER:
		return tlv_get_u64(v, &t->rseq.abi_pointer);
	case TAG_T_RSEQ_SIZE:
		return tlv_get_u32(v, &t->rseq.size);
	case TAG_T_RSEQ_SIGNATURE:
		return tlv_get_u32(v, &t->rseq.signature);
	case TAG_T_RSEQ_FLAGS:
		return tlv_get_u32(v, &t->rseq.flags);
	case TAG_T_ROBUST_LIST:
		return tlv_get_u64(v, &t->robust_list);
	case TAG_T_ROBUST_LIST_LEN:
		return tlv_get_u64(v, &t->robust_list_len);
	case TAG_T_CLEAR_CHILD_TID:
		return tlv_get_u64(v, &t->clear_child_tid);
	case TAG_T_ALTSTACK_SP:
		return tlv_get_u64(v, &t->altstack_sp);
	case TAG_T_ALTSTACK_SIZE:
		return tlv_get_u64(v, &t->altstack_size);
	case TAG_T_ALTSTACK_FLAGS:
		return tlv_get_i32(v, &t->altstack_flags);
	case TAG_T_PENDING:
		return append_siginfo(&t->pending, &t->n_pending, v);
	case TAG_T_SECCOMP:
		free(t->seccomp);
		t->seccomp = NULL;
		return get_u32_array(v, SNAPSHOT_MAX_FILTERS, &t->seccomp, &t->n_seccomp);
	default:
		return 0;
	}
}

static int decode_cpu_item(struct snapshot_cpu *c, uint32_t tag, const struct tlv_reader *v)
{
	uint64_t n[5];
	int r;

	switch (tag) {
	case TAG_C_XCR0:
		return tlv_get_u64(v, &c->xcr0);
	case TAG_C_XSTATE_SIZE:
		return tlv_get_u32(v, &c->xstate_size);
	case TAG_C_XFEATURES_USED:
		return tlv_get_u64(v, &c->xfeatures_used);
	case TAG_C_XFEATURE:
		r = get_nested4(v, n);
		if (r < 0 || n[0] >= 64 || n[1] > SNAPSHOT_XSTATE_MAX || n[2] > SNAPSHOT_XSTATE_MAX)
			return r < 0 ? r : -EBADMSG;
		c->xfeature_offset[n[0]] = (uint32_t) n[1];
		c->xfeature_size[n[0]] = (uint32_t) n[2];
		return 0;
	default:
		return 0;
	}
}

static int decode_region(struct snapshot *s, const struct tlv_reader *v)
{
	struct snapshot_region *reg = snapshot_add_region(s);
	struct tlv_reader r = *v, val;
	uint32_t tag, kind = 0;
	int k;

	if (!reg)
		return s->n_regions >= SNAPSHOT_MAX_REGIONS ? -EBADMSG : -ENOMEM;
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		switch (tag) {
		case TAG_R_START:
			k = tlv_get_u64(&val, &reg->start);
			break;
		case TAG_R_END:
			k = tlv_get_u64(&val, &reg->end);
			break;
		case TAG_R_PROT:
			k = tlv_get_u32(&val, &reg->prot);
			break;
		case TAG_R_FLAGS:
			k = tlv_get_u32(&val, &reg->flags);
			break;
		case TAG_R_KIND:
			k = tlv_get_u32(&val, &kind);
			reg->kind = (enum region_kind) kind;
			break;
		case TAG_R_FILE:
			k = tlv_get_u32(&val, &reg->file);
			break;
		case TAG_R_PGOFF:
			k = tlv_get_u64(&val, &reg->pgoff);
			break;
		case TAG_R_STREAM:
			k = tlv_get_u32(&val, &reg->stream);
			break;
		case TAG_R_NAME:
			free(reg->name);
			reg->name = NULL;
			k = tlv_get_str(&val, SNAPSHOT_PATH_MAX, &reg->name);
			break;
		default:
			break;
		}
		if (k < 0)
			return k;
	}
	if (kind >= _REGION_KIND_MAX)
		return -EBADMSG;
	return k;
}

static int decode_watch(struct snapshot_file *f, const struct tlv_reader *v)
{
	struct snapshot_epoll_watch *w;
	uint64_t n[5];
	int r = get_nested4(v, n);

	if (r < 0)
		return r;
	if (n[0] > INT32_MAX || n[1] > UINT32_MAX)
		return -EBADMSG;
	w = snapshot_add_watch(f);
	if (!w)
		return f->anon.n_watches >= SNAPSHOT_MAX_WATCHES ? -EBADMSG : -ENOMEM;
	*w = (struct snapshot_epoll_watch){ (int32_t) n[0], (uint32_t) n[1], n[2] };
	return 0;
}

/* The struct snapshot_anon tags; 0 for a tag that is not one of them. */
static int decode_anon_item(struct snapshot_file *f, uint32_t tag, const struct tlv_reader *v)
{
	struct snapshot_anon *a = &f->anon;

	switch (tag) {
	case TAG_F_COUNT:
		return tlv_get_u64(v, &a->count);
	case TAG_F_ANON_FLAGS:
		return tlv_get_u32(v, &a->flags);
	case TAG_F_CLOCKID:
		return tlv_get_i32(v, &a->clockid);
	case TAG_F_VALUE_NS:
		return tlv_get_u64(v, &a->value_ns);
	case TAG_F_INTERVAL_NS:
		return tlv_get_u64(v, &a->interval_ns);
	case TAG_F_EXPIRY_NS:
		return tlv_get_i64(v, &a->expiry_ns);
	case TAG_F_SIGMASK:
		return tlv_get_u64(v, &a->sigmask);
	case TAG_F_WATCH:
		return decode_watch(f, v);
	default:
		return 0;
	}
}

static int decode_file(struct snapshot *s, const struct tlv_reader *v)
{
	struct snapshot_file *f = snapshot_add_file(s);
	struct tlv_reader r = *v, val;
	uint32_t tag, kind = 0;
	uint64_t x;
	int k;

	if (!f)
		return s->n_files >= SNAPSHOT_MAX_FILES ? -EBADMSG : -ENOMEM;
	while ((k = tlv_next(&r, &tag, &val)) > 0) {
		switch (tag) {
		case TAG_F_KIND:
			k = tlv_get_u32(&val, &kind);
			f->kind = (enum file_kind) kind;
			break;
		case TAG_F_PATH:
			free(f->path);
			f->path = NULL;
			k = tlv_get_str(&val, SNAPSHOT_PATH_MAX, &f->path);
			break;
		case TAG_F_DEV:
			k = tlv_get_u64(&val, &f->id.dev);
			break;
		case TAG_F_INO:
			k = tlv_get_u64(&val, &f->id.ino);
			break;
		case TAG_F_RDEV:
			k = tlv_get_u64(&val, &f->id.rdev);
			break;
		case TAG_F_MODE:
			k = tlv_get_u32(&val, &f->id.mode);
			break;
		case TAG_F_SIZE:
			k = tlv_get_u64(&val, &f->id.size);
			break;
		case TAG_F_MTIME_NS:
			k = tlv_get_i64(&val, &f->id.mtime_ns);
			break;
		case TAG_F_BUILD_ID:
			if (val.len > sizeof(f->id.build_id))
				return -EBADMSG;
			memcpy(f->id.build_id, val.p, val.len);
			f->id.build_id_size = (uint32_t) val.len;
			break;
		case TAG_F_STREAM:
			k = tlv_get_u32(&val, &f->stream);
			break;
		case TAG_F_SEALS:
			k = tlv_get_u32(&val, &f->seals);
			break;
		case TAG_F_SHARED_WRITE:
			k = tlv_get_u64(&val, &x);
			f->mapped_shared_write = x != 0;
			break;
		case TAG_F_PIPE_SIZE:
			k = tlv_get_u32(&val, &f->pipe_size);
			break;
		case TAG_F_SHARE:
			k = tlv_get_u64(&val, &f->share);
			break;
		case TAG_F_SOCK_FAMILY:
			k = tlv_get_u32(&val, &f->sock.family);
			break;
		case TAG_F_SOCK_TYPE:
			k = tlv_get_u32(&val, &f->sock.type);
			break;
		case TAG_F_SOCK_SHUTDOWN:
			k = tlv_get_u32(&val, &f->sock.shutdown);
			break;
		case TAG_F_SOCK_PEER:
			k = tlv_get_u32(&val, &f->sock.peer);
			break;
		case TAG_F_SOCK_SNDBUF:
			k = tlv_get_u32(&val, &f->sock.sndbuf);
			break;
		case TAG_F_SOCK_OPTIONS:
			k = tlv_get_u32(&val, &f->sock.options);
			break;
		case TAG_F_SOCK_RCVTIMEO_US:
			k = tlv_get_u64(&val, &f->sock.rcvtimeo_us);
			break;
		case TAG_F_SOCK_SNDTIMEO_US:
			k = tlv_get_u64(&val, &f->sock.sndtimeo_us);
			break;
		case TAG_F_SOCK_BACKLOG:
			k = tlv_get_u32(&val, &f->sock.backlog);
			break;
		default:
			k = decode_anon_item(f, tag, &val);
			break;
		}
		if (k < 0)
			return k;
	}
	if (kind >= _FILE_KIND_MAX)
		return -EBADMSG;
	return k;
}

static int decode_fd_item(struct snapshot *s, uint32_t tag, const struct tlv_reader *v)
{
	struct snapshot_open_file *o;
	struct snapshot_fd *fd;
	uint64_t n[5];
	int r;

	if (tag != TAG_D_OPEN_FILE && tag != TAG_D_FD)
		return 0;
	r = get_nested4(v, n);
	if (r < 0)
		return r;
	if (tag == TAG_D_OPEN_FILE) {
		if (n[0] != s->n_open_files || n[1] > UINT32_MAX || n[2] > UINT32_MAX)
			return -EBADMSG;
		o = snapshot_add_open_file(s);
		if (!o)
			return -EBADMSG;
		*o = (struct snapshot_open_file){ (uint32_t) n[1], (uint32_t) n[2], n[3], n[4] };
		return 0;
	}
	if (n[0] > INT32_MAX || n[1] > UINT32_MAX)
		return -EBADMSG;
	fd = snapshot_add_fd(s);
	if (!fd)
		return -EBADMSG;
	*fd = (struct snapshot_fd){ (int32_t) n[0], (uint32_t) n[1], n[2] != 0 };
	return 0;
}

static int decode_tlv_note(struct decoder *d, uint32_t type, const void *desc, size_t len)
{
	struct tlv_reader r = tlv_reader_init(desc, len), v;
	uint32_t tag;
	int k;

	switch (type) {
	case CKPTD_NOTE_THREAD:
		if (!d->thread || d->thread_has_note)
			return bad(d, "a thread note is not preceded by its registers");
		d->thread_has_note = true;
		break;
	case CKPTD_NOTE_PROCESS:
		if (d->has_process)
			return bad(d, "the process note appears twice");
		d->has_process = true;
		break;
	case CKPTD_NOTE_CPU:
		if (d->has_cpu)
			return bad(d, "the CPU note appears twice");
		d->has_cpu = true;
		break;
	case CKPTD_NOTE_REGIONS:
		if (d->has_regions)
			return bad(d, "the regions note appears twice");
		d->has_regions = true;
		break;
	case CKPTD_NOTE_FILES:
		if (d->has_files)
			return bad(d, "the files note appears twice");
		d->has_files = true;
		break;
	case CKPTD_NOTE_FDS:
		if (d->has_fds)
			return bad(d, "the file descriptor note appears twice");
		d->has_fds = true;
		break;
	default:
		return 0;
	}

	while ((k = tlv_next(&r, &tag, &v)) > 0) {
		switch (type) {
		case CKPTD_NOTE_THREAD:
			k = decode_thread_item(d->thread, tag, &v);
			break;
		case CKPTD_NOTE_PROCESS:
			k = decode_process_note_item(d->s, tag, &v);
			break;
		case CKPTD_NOTE_CPU:
			k = decode_cpu_item(&d->s->cpu, tag, &v);
			break;
		case CKPTD_NOTE_REGIONS:
			k = tag == TAG_R_REGION ? decode_region(d->s, &v) : 0;
			break;
		case CKPTD_NOTE_FILES:
			k = tag == TAG_F_FILE ? decode_file(d->s, &v) : 0;
			break;
		case CKPTD_NOTE_FDS:
			k = decode_fd_item(d->s, tag, &v);
			break;
		}
		if (k < 0)
			break;
	}
	if (k == -ENOMEM)
		return k;
	return k < 0 ? bad(d, "a ckptd note is malformed") : 0;
}

static int decode_core_note(struct decoder *d, uint32_t type, const void *desc, size_t len)
{
	struct elf_prstatus ps;

	switch (type) {
	case NT_PRSTATUS:
		if (len != sizeof(ps))
			return bad(d, "a thread's registers have the wrong size");
		if (d->thread && (!d->thread_has_xstate || !d->thread_has_note))
			return bad(d, "a thread lacks its extended state or its ckptd note");
		d->thread = snapshot_add_thread(d->s);
		if (!d->thread)
			return d->s->n_threads >= SNAPSHOT_MAX_THREADS
				       ? bad(d, "the image holds too many threads")
				       : -ENOMEM;
		d->thread_has_xstate = d->thread_has_note = false;
		memcpy(&ps, desc, sizeof(ps));
		d->thread->tid = ps.pr_pid;
		memcpy(&d->thread->regs, &ps.pr_reg, sizeof(d->thread->regs));
		return 0;
	case NT_AUXV:
		if (d->s->proc.auxv || len > SNAPSHOT_AUXV_MAX || len % 16)
			return bad(d, "the auxiliary vector is malformed");
		d->s->proc.auxv = malloc(len ? len : 1);
		if (!d->s->proc.auxv)
			return -ENOMEM;
		memcpy(d->s->proc.auxv, desc, len);
		d->s->proc.auxv_size = len;
		return 0;
	default:
		return 0;
	}
}

static int decode_xstate(struct decoder *d, const void *desc, size_t len)
{
	if (!d->thread || d->thread_has_xstate)
		return bad(d, "extended state is not preceded by its thread's registers");
	if (len < 576 || len > SNAPSHOT_XSTATE_MAX)
		return bad(d, "a thread's extended state has an invalid size");
	d->thread->xstate = malloc(len);
	if (!d->thread->xstate)
		return -ENOMEM;
	memcpy(d->thread->xstate, desc, len);
	d->thread->xstate_size = len;
	d->thread_has_xstate = true;
	return 0;
}

static int decode_notes(struct decoder *d, Elf_Data *data)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	while (off < data->d_size && (next = gelf_getnote(data, off, &nh, &name_off, &desc_off))) {
		const char *name = (const char *) data->d_buf + name_off;
		const void *desc = (const char *) data->d_buf + desc_off;
		int r = 0;

		/* gelf_getnote checked the sizes against the data; the name is not trusted yet. */
		if (nh.n_namesz == 0 || name[nh.n_namesz - 1] != 0)
			return bad(d, "a note's name is not terminated");
		if (strcmp(name, CKPTD_NOTE_NAME) == 0)
			r = decode_tlv_note(d, nh.n_type, desc, nh.n_descsz);
		else if (strcmp(name, "CORE") == 0)
			r = decode_core_note(d, nh.n_type, desc, nh.n_descsz);
		else if (strcmp(name, "LINUX") == 0 && nh.n_type == NT_X86_XSTATE)
			r = decode_xstate(d, desc, nh.n_descsz);
		if (r < 0)
			return r;
		off = next;
	}
	if (off != data->d_size)
		return bad(d, "the note segment is truncated");
	return 0;
}

static int check_loads(struct decoder *d, Elf *e, size_t phnum)
{
	size_t n = 0;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int) i, &ph))
			return bad(d, "a program header is unreadable");
		if (ph.p_type != PT_LOAD)
			continue;
		if (n >= d->s->n_regions || ph.p_vaddr != d->s->regions[n].start ||
		    ph.p_memsz != d->s->regions[n].end - d->s->regions[n].start)
			return bad(d, "the program headers disagree with the memory regions");
		n++;
	}
	if (n != d->s->n_regions)
		return bad(d, "the program headers disagree with the memory regions");
	return 0;
}

static int decode_elf(struct decoder *d, Elf *e)
{
	GElf_Ehdr ehdr;
	size_t phnum;
	int r;

	if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &ehdr))
		return bad(d, "it is not an ELF file");
	if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB ||
	    ehdr.e_type != ET_CORE || ehdr.e_machine != EM_X86_64)
		return bad(d, "it is not an x86-64 core file");
	if (elf_getphdrnum(e, &phnum) < 0 || phnum == 0 || phnum > SNAPSHOT_MAX_REGIONS + 16)
		return bad(d, "the program header count is invalid");
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(e, (int) i, &ph))
			return bad(d, "a program header is unreadable");
		if (ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(e, (int64_t) ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		if (!data)
			return bad(d, "the note segment lies outside the file");
		r = decode_notes(d, data);
		if (r < 0)
			return r;
	}
	if (d->thread && (!d->thread_has_xstate || !d->thread_has_note))
		return bad(d, "a thread lacks its extended state or its ckptd note");
	if (!d->has_process || !d->has_cpu || !d->has_regions || !d->has_files || !d->has_fds)
		return bad(d, "a ckptd note is missing");
	return check_loads(d, e, phnum);
}

int image_core_decode(const void *buf, size_t len, struct snapshot **ret, const char **ret_reason)
{
	_cleanup_(snapshot_freep) struct snapshot *s = snapshot_new();
	_cleanup_free_ char *copy = NULL;
	struct decoder d = {};
	Elf *e;
	int r;

	if (!s)
		return -ENOMEM;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EIO;
	/* elf_memory() wants a writable buffer and keeps pointing into it. */
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	e = elf_memory(copy, len);
	if (!e) {
		*ret_reason = "it is not an ELF file";
		return -EBADMSG;
	}
	d.s = s;
	r = decode_elf(&d, e);
	elf_end(e);
	if (r < 0) {
		if (ret_reason)
			*ret_reason = d.reason ? d.reason : "it is malformed";
		return r;
	}
	r = snapshot_validate(s, ret_reason);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}
