// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Parsers for /proc/PID/{maps,smaps,stat,status,fdinfo/N} and the readers that
 * feed them. The parsers only ever see (buf, len): they never read past len, never
 * trust a count or a length the text claims, and say -EBADMSG to anything the
 * kernel would not have written. Nothing here stops, ptraces or changes a process.
 */
#include <ctype.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "proc.h"
#include "util.h"

/* vm.max_map_count defaults to 65530; a million lines is no process we can dump. */
#define PROC_MAPS_MAX 1000000
/* SNAPSHOT_PATH_MAX: the kernel's d_path() cannot give more than a page either. */
#define PROC_NAME_MAX 4096
/* NGROUPS_MAX */
#define PROC_GROUPS_MAX 65536
/* pid_max cannot exceed PID_MAX_LIMIT (4M); fds are bounded by this too in practice. */
#define PROC_LIST_MAX ((size_t) 4 << 20)

/* Read limits: smaps is ~25 lines per mapping, maps one; status grows with Groups. */
#define PROC_MAPS_READ_MAX ((size_t) 64 << 20)
#define PROC_SMAPS_READ_MAX ((size_t) 512 << 20)
#define PROC_SMALL_READ_MAX ((size_t) 4 << 20)
/*
 * fdinfo of an epoll or inotify fd lists every watch after the four lines we
 * want, and can run to megabytes; those four lines always come first.
 */
#define PROC_FDINFO_READ_MAX ((size_t) 64 << 10)

#define DELETED_SUFFIX " (deleted)"

struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span s, const char *word)
{
	size_t n = strlen(word);

	return s.n == n && memcmp(s.p, word, n) == 0;
}

/* Takes the next line off *rest; the last line may lack its newline. */
static bool line_next(struct span *rest, struct span *ret)
{
	const char *nl;

	if (rest->n == 0)
		return false;
	nl = memchr(rest->p, '\n', rest->n);
	ret->p = rest->p;
	ret->n = nl ? (size_t) (nl - rest->p) : rest->n;
	rest->p += ret->n + (nl ? 1 : 0);
	rest->n -= ret->n + (nl ? 1 : 0);
	return true;
}

/* Splits off everything up to the first sep (which is consumed); false if there is none. */
static bool span_cut(struct span *s, char sep, struct span *ret)
{
	const char *p = s->n > 0 ? memchr(s->p, sep, s->n) : NULL;

	if (!p)
		return false;
	ret->p = s->p;
	ret->n = (size_t) (p - s->p);
	s->p = p + 1;
	s->n -= ret->n + 1;
	return true;
}

/* Text from /proc never holds a NUL; one means the bytes are not what we think. */
static bool has_nul(const char *p, size_t n)
{
	return n > 0 && memchr(p, 0, n);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void span_trim(struct span *s)
{
	while (s->n > 0 && is_blank(s->p[0])) {
		s->p++;
		s->n--;
	}
	while (s->n > 0 && is_blank(s->p[s->n - 1]))
		s->n--;
}

/* Next blank-separated word of s; false when only blanks are left. */
static bool word_next(struct span *s, struct span *ret)
{
	size_t i = 0;

	span_trim(s);
	if (s->n == 0)
		return false;
	while (i < s->n && !is_blank(s->p[i]))
		i++;
	ret->p = s->p;
	ret->n = i;
	s->p += i;
	s->n -= i;
	return true;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Digits only: no sign, no "0x", no blanks, no overflow. */
static int span_to_u64(struct span s, unsigned base, uint64_t *ret)
{
	uint64_t v = 0;

	if (s.n == 0)
		return -EBADMSG;
	for (size_t i = 0; i < s.n; i++) {
		int d = digit_value(s.p[i]);

		if (d < 0 || (unsigned) d >= base)
			return -EBADMSG;
		if (v > (UINT64_MAX - (unsigned) d) / base)
			return -EBADMSG;
		v = v * base + (unsigned) d;
	}
	*ret = v;
	return 0;
}

static int span_to_u32(struct span s, unsigned base, uint32_t *ret)
{
	uint64_t v;

	if (span_to_u64(s, base, &v) < 0 || v > UINT32_MAX)
		return -EBADMSG;
	*ret = (uint32_t) v;
	return 0;
}

static int span_to_i64(struct span s, int64_t *ret)
{
	bool neg = s.n > 0 && s.p[0] == '-';
	uint64_t v;

	if (neg) {
		s.p++;
		s.n--;
	}
	if (span_to_u64(s, 10, &v) < 0)
		return -EBADMSG;
	if (neg ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
		return -EBADMSG;
	*ret = neg ? (int64_t) (0 - v) : (int64_t) v;
	return 0;
}

static int span_to_i32(struct span s, int32_t *ret)
{
	int64_t v;

	if (span_to_i64(s, &v) < 0 || v < INT32_MIN || v > INT32_MAX)
		return -EBADMSG;
	*ret = (int32_t) v;
	return 0;
}

/* A pid as /proc prints it: 0 is allowed (ppid of init, pgrp of a kernel thread). */
static int span_to_pid(struct span s, pid_t *ret)
{
	uint32_t v;

	if (span_to_u32(s, 10, &v) < 0 || v > INT32_MAX)
		return -EBADMSG;
	*ret = (pid_t) v;
	return 0;
}

/* maps and smaps */

void proc_maps_free(struct proc_map *maps, size_t n)
{
	if (!maps)
		return;
	for (size_t i = 0; i < n; i++)
		free(maps[i].name);
	free(maps);
}

/* "start-end perms offset major:minor inode   name" as show_map_vma() prints it. */
static int maps_parse_line(struct span line, struct proc_map *ret)
{
	struct proc_map m = {};
	struct span s = line, f;
	uint64_t v;

	if (has_nul(line.p, line.n))
		return -EBADMSG;

	if (!span_cut(&s, '-', &f) || f.n > 16 || span_to_u64(f, 16, &m.start) < 0)
		return -EBADMSG;
	if (!span_cut(&s, ' ', &f) || f.n > 16 || span_to_u64(f, 16, &m.end) < 0)
		return -EBADMSG;
	if (m.start >= m.end || !IS_ALIGNED(m.start, PAGE_SIZE) || !IS_ALIGNED(m.end, PAGE_SIZE))
		return -EBADMSG;

	if (!span_cut(&s, ' ', &f) || f.n != 4)
		return -EBADMSG;
	if (f.p[0] == 'r')
		m.prot |= PROT_READ;
	else if (f.p[0] != '-')
		return -EBADMSG;
	if (f.p[1] == 'w')
		m.prot |= PROT_WRITE;
	else if (f.p[1] != '-')
		return -EBADMSG;
	if (f.p[2] == 'x')
		m.prot |= PROT_EXEC;
	else if (f.p[2] != '-')
		return -EBADMSG;
	if (f.p[3] == 's')
		m.shared = true;
	else if (f.p[3] != 'p')
		return -EBADMSG;

	if (!span_cut(&s, ' ', &f) || f.n > 16 || span_to_u64(f, 16, &m.offset) < 0 ||
	    !IS_ALIGNED(m.offset, PAGE_SIZE))
		return -EBADMSG;

	if (!span_cut(&s, ':', &f) || f.n > 8 || span_to_u32(f, 16, &m.dev_major) < 0)
		return -EBADMSG;
	if (!span_cut(&s, ' ', &f) || f.n > 8 || span_to_u32(f, 16, &m.dev_minor) < 0)
		return -EBADMSG;

	/* The kernel ends the inode with a space even with no name after it; allow none. */
	if (!span_cut(&s, ' ', &f)) {
		f = s;
		s.n = 0;
	}
	if (span_to_u64(f, 10, &v) < 0)
		return -EBADMSG;
	m.inode = v;

	/*
	 * The name is padded to a column with spaces; a name that itself starts
	 * with a space cannot be told from the padding, as in every reader of maps.
	 */
	while (s.n > 0 && s.p[0] == ' ') {
		s.p++;
		s.n--;
	}
	if (s.n > 0) {
		size_t suffix = strlen(DELETED_SUFFIX);

		if (s.n > suffix && memcmp(s.p + s.n - suffix, DELETED_SUFFIX, suffix) == 0) {
			m.deleted = true;
			s.n -= suffix;
		}
		if (s.n > PROC_NAME_MAX)
			return -E2BIG;
		m.name = strndup(s.p, s.n);
		if (!m.name)
			return -ENOMEM;
	}

	*ret = m;
	return 0;
}

/* Two-letter mnemonics of show_smap_vma_flags(); the rest are not ours to restore. */
static const struct {
	char mnemonic[3];
	enum proc_vmflag flag;
} vmflag_table[] = {
	{"gd", PROC_VMFLAG_GROWSDOWN},	{"dc", PROC_VMFLAG_DONTCOPY},
	{"wf", PROC_VMFLAG_WIPEONFORK}, {"dd", PROC_VMFLAG_DONTDUMP},
	{"hg", PROC_VMFLAG_HUGEPAGE},	{"nh", PROC_VMFLAG_NOHUGEPAGE},
	{"nr", PROC_VMFLAG_NORESERVE},	{"lo", PROC_VMFLAG_LOCKED},
	{"mg", PROC_VMFLAG_MERGEABLE},	{"um", PROC_VMFLAG_UFFD},
	{"uw", PROC_VMFLAG_UFFD},	{"ui", PROC_VMFLAG_UFFD},
	{"sl", PROC_VMFLAG_SEALED},	{"ss", PROC_VMFLAG_SHADOW_STACK},
	{"io", PROC_VMFLAG_IO},		{"pf", PROC_VMFLAG_IO},
};

static int vmflags_parse(struct span s, uint32_t *ret)
{
	uint32_t flags = 0;
	struct span w;

	while (word_next(&s, &w)) {
		/* Every mnemonic is two characters ("??" for a bit the kernel has no name for). */
		if (w.n != 2 || !isgraph((unsigned char) w.p[0]) ||
		    !isgraph((unsigned char) w.p[1]))
			return -EBADMSG;
		for (size_t i = 0; i < ELEMENTSOF(vmflag_table); i++)
			if (memcmp(w.p, vmflag_table[i].mnemonic, 2) == 0)
				flags |= (uint32_t) vmflag_table[i].flag;
	}
	*ret = flags;
	return 0;
}

/* A smaps attribute line ("Rss:   4 kB"); false means it must be a mapping line. */
static bool smaps_is_attribute(struct span line, struct span *ret_key, struct span *ret_value)
{
	size_t i = 0;

	/* Mapping lines start with hex digits and a '-'; "Anonymous:" starts with one too. */
	while (i < line.n && digit_value(line.p[i]) >= 0)
		i++;
	if (i < line.n && line.p[i] == '-')
		return false;

	for (i = 0; i < line.n && (isalnum((unsigned char) line.p[i]) || line.p[i] == '_'); i++)
		;
	if (i == 0 || i >= line.n || line.p[i] != ':')
		return false;
	ret_key->p = line.p;
	ret_key->n = i;
	ret_value->p = line.p + i + 1;
	ret_value->n = line.n - i - 1;
	return true;
}

static int maps_parse_any(const char *buf, size_t len, bool smaps, struct proc_map **ret,
			  size_t *ret_n)
{
	struct proc_map *maps = NULL;
	size_t n = 0, allocated = 0;
	struct span rest = {buf, len}, line;
	bool have_vmflags = true;
	int r;

	while (line_next(&rest, &line)) {
		struct span key, value;

		if (smaps && smaps_is_attribute(line, &key, &value)) {
			if (n == 0) {
				r = -EBADMSG;
				goto fail;
			}
			if (!span_eq(key, "VmFlags"))
				continue;
			if (have_vmflags) {
				r = -EBADMSG;
				goto fail;
			}
			r = vmflags_parse(value, &maps[n - 1].vmflags);
			if (r < 0)
				goto fail;
			have_vmflags = true;
			continue;
		}

		/* Without VmFlags we could not tell what restore must reproduce. */
		if (!have_vmflags || n >= PROC_MAPS_MAX) {
			r = n >= PROC_MAPS_MAX ? -E2BIG : -EBADMSG;
			goto fail;
		}
		r = GROW(maps, allocated, n + 1);
		if (r < 0)
			goto fail;
		r = maps_parse_line(line, &maps[n]);
		if (r < 0)
			goto fail;
		n++;
		/* The kernel walks the VMA tree in order; anything else is not maps. */
		if (n > 1 && maps[n - 1].start < maps[n - 2].end) {
			r = -EBADMSG;
			goto fail;
		}
		have_vmflags = !smaps;
	}
	if (!have_vmflags) {
		r = -EBADMSG;
		goto fail;
	}

	*ret = maps;
	*ret_n = n;
	return 0;
fail:
	proc_maps_free(maps, n);
	return r;
}

int proc_maps_parse(const char *buf, size_t len, struct proc_map **ret, size_t *ret_n)
{
	return maps_parse_any(buf, len, /* smaps= */ false, ret, ret_n);
}

int proc_smaps_parse(const char *buf, size_t len, struct proc_map **ret, size_t *ret_n)
{
	return maps_parse_any(buf, len, /* smaps= */ true, ret, ret_n);
}

/* stat */

/* proc(5) numbers the fields from 1; comm is field 2 and state field 3. */
#define STAT_FIELDS 52

/* Every field after state is a decimal: signed (nice, tpgid) or a full u64 (rsslim). */
static bool stat_field_valid(struct span f)
{
	uint64_t u;
	int64_t i;

	return span_to_u64(f, 10, &u) >= 0 || span_to_i64(f, &i) >= 0;
}

int proc_stat_parse(const char *buf, size_t len, struct proc_stat *ret)
{
	struct proc_stat st = {};
	struct span field[STAT_FIELDS + 1] = {};
	struct span s = {buf, len}, f;
	const char *lparen, *rparen;
	size_t nf = 3;

	if (has_nul(buf, len))
		return -EBADMSG;
	if (len > 0 && buf[len - 1] == '\n')
		s.n--;

	/* comm is printed raw: it may hold spaces, ')' and even newlines, so take the last ')'. */
	if (!span_cut(&s, ' ', &f) || span_to_pid(f, &st.pid) < 0 || st.pid == 0)
		return -EBADMSG;
	lparen = s.p;
	if (s.n < 2 || lparen[0] != '(')
		return -EBADMSG;
	rparen = memrchr(s.p, ')', s.n);
	if (!rparen)
		return -EBADMSG;
	/* Workqueue workers have longer names ("kworker/0:1-events"): cut to TASK_COMM_LEN. */
	memcpy(st.comm, lparen + 1, MIN((size_t) (rparen - lparen - 1), sizeof(st.comm) - 1));
	s.n -= (size_t) (rparen + 1 - s.p);
	s.p = rparen + 1;
	if (s.n == 0 || s.p[0] != ' ')
		return -EBADMSG;
	s.p++;
	s.n--;

	/* Fields after the last one we know are allowed, so a newer kernel still parses. */
	for (bool last = false; !last; nf++) {
		last = !span_cut(&s, ' ', &f);
		if (last)
			f = s;
		if (nf <= STAT_FIELDS)
			field[nf] = f;
		else if (!stat_field_valid(f))
			return -EBADMSG;
	}
	if (nf <= STAT_FIELDS)
		return -EBADMSG;

	if (field[3].n != 1 || !isalpha((unsigned char) field[3].p[0]))
		return -EBADMSG;
	st.state = field[3].p[0];
	for (size_t i = 4; i <= STAT_FIELDS; i++)
		if (!stat_field_valid(field[i]))
			return -EBADMSG;

	if (span_to_pid(field[4], &st.ppid) < 0 || span_to_pid(field[5], &st.pgrp) < 0 ||
	    span_to_pid(field[6], &st.session) < 0 || span_to_i32(field[7], &st.tty_nr) < 0 ||
	    span_to_u32(field[9], 10, &st.flags) < 0 ||
	    span_to_i32(field[20], &st.num_threads) < 0 ||
	    span_to_u64(field[22], 10, &st.starttime) < 0 ||
	    span_to_u64(field[26], 10, &st.startcode) < 0 ||
	    span_to_u64(field[27], 10, &st.endcode) < 0 ||
	    span_to_u64(field[28], 10, &st.startstack) < 0 ||
	    span_to_i32(field[38], &st.exit_signal) < 0 ||
	    span_to_u64(field[45], 10, &st.start_data) < 0 ||
	    span_to_u64(field[46], 10, &st.end_data) < 0 ||
	    span_to_u64(field[47], 10, &st.start_brk) < 0 ||
	    span_to_u64(field[48], 10, &st.arg_start) < 0 ||
	    span_to_u64(field[49], 10, &st.arg_end) < 0 ||
	    span_to_u64(field[50], 10, &st.env_start) < 0 ||
	    span_to_u64(field[51], 10, &st.env_end) < 0 ||
	    span_to_i32(field[52], &st.exit_code) < 0)
		return -EBADMSG;

	*ret = st;
	return 0;
}

/* status */

enum status_key {
	STATUS_STATE,
	STATUS_TGID,
	STATUS_PID,
	STATUS_PPID,
	STATUS_TRACERPID,
	STATUS_UID,
	STATUS_GID,
	STATUS_GROUPS,
	STATUS_UMASK,
	STATUS_THREADS,
	STATUS_SIGPND,
	STATUS_SHDPND,
	STATUS_SIGBLK,
	STATUS_SIGIGN,
	STATUS_SIGCGT,
	STATUS_CAPINH,
	STATUS_CAPPRM,
	STATUS_CAPEFF,
	STATUS_CAPBND,
	STATUS_CAPAMB,
	STATUS_NONEWPRIVS,
	STATUS_SECCOMP,
	STATUS_KTHREAD,
	STATUS_NSPID,
	STATUS_NSPGID,
	STATUS_NSSID,
	STATUS_VMSIZE,
	_STATUS_MAX,
};

static const char *const status_key_name[_STATUS_MAX] = {
	[STATUS_STATE] = "State",
	[STATUS_TGID] = "Tgid",
	[STATUS_PID] = "Pid",
	[STATUS_PPID] = "PPid",
	[STATUS_TRACERPID] = "TracerPid",
	[STATUS_UID] = "Uid",
	[STATUS_GID] = "Gid",
	[STATUS_GROUPS] = "Groups",
	[STATUS_UMASK] = "Umask",
	[STATUS_THREADS] = "Threads",
	[STATUS_SIGPND] = "SigPnd",
	[STATUS_SHDPND] = "ShdPnd",
	[STATUS_SIGBLK] = "SigBlk",
	[STATUS_SIGIGN] = "SigIgn",
	[STATUS_SIGCGT] = "SigCgt",
	[STATUS_CAPINH] = "CapInh",
	[STATUS_CAPPRM] = "CapPrm",
	[STATUS_CAPEFF] = "CapEff",
	[STATUS_CAPBND] = "CapBnd",
	[STATUS_CAPAMB] = "CapAmb",
	[STATUS_NONEWPRIVS] = "NoNewPrivs",
	[STATUS_SECCOMP] = "Seccomp",
	[STATUS_KTHREAD] = "Kthread",
	[STATUS_NSPID] = "NSpid",
	[STATUS_NSPGID] = "NSpgid",
	[STATUS_NSSID] = "NSsid",
	[STATUS_VMSIZE] = "VmSize",
};

/*
 * Umask came in 4.7, Kthread in 6.x; Seccomp is missing without CONFIG_SECCOMP,
 * which means no filter can be installed: 0 is then the truth.
 */
/* The Vm lines are there only while the task has memory: not once it is exiting. */
#define STATUS_OPTIONAL                                                                            \
	((1u << STATUS_UMASK) | (1u << STATUS_KTHREAD) | (1u << STATUS_SECCOMP) |                  \
	 (1u << STATUS_VMSIZE))

/* Exactly n blank-separated values, as Uid: and Gid: print them. */
static int status_ids(struct span v, uint32_t *ids, size_t n)
{
	struct span w;

	for (size_t i = 0; i < n; i++)
		if (!word_next(&v, &w) || span_to_u32(w, 10, &ids[i]) < 0)
			return -EBADMSG;
	return word_next(&v, &w) ? -EBADMSG : 0;
}

static int status_hex(struct span v, uint64_t *ret)
{
	/* Always 16 digits: a shorter field is a truncated file, not a small mask. */
	return v.n == 16 ? span_to_u64(v, 16, ret) : -EBADMSG;
}

static int status_bool(struct span v, bool *ret)
{
	if (span_eq(v, "0") || span_eq(v, "1")) {
		*ret = v.p[0] == '1';
		return 0;
	}
	return -EBADMSG;
}

static int status_groups(struct span v, gid_t **ret, size_t *ret_n)
{
	_cleanup_free_ gid_t *groups = NULL;
	size_t n = 0, allocated = 0;
	struct span w;

	while (word_next(&v, &w)) {
		uint32_t g;

		if (n >= PROC_GROUPS_MAX)
			return -E2BIG;
		if (span_to_u32(w, 10, &g) < 0)
			return -EBADMSG;
		if (GROW(groups, allocated, n + 1) < 0)
			return -ENOMEM;
		groups[n++] = g;
	}
	*ret = TAKE_PTR(groups);
	*ret_n = n;
	return 0;
}

/* The last of a line of ids, one per namespace: 0 where the id is not visible. */
static int status_innermost(struct span v, pid_t *ret)
{
	struct span w;
	uint32_t id = 0;
	bool any = false;

	while (word_next(&v, &w)) {
		if (span_to_u32(w, 10, &id) < 0 || id > INT32_MAX)
			return -EBADMSG;
		any = true;
	}
	if (!any)
		return -EBADMSG;
	*ret = (pid_t) id;
	return 0;
}

static int status_value(struct proc_status *st, enum status_key key, struct span v)
{
	struct span w;
	int r;

	switch (key) {
	case STATUS_STATE:
		/* "R (running)": the letter is what the rest of proc(5) uses. */
		if (v.n == 0 || !isalpha((unsigned char) v.p[0]) || (v.n > 1 && v.p[1] != ' '))
			return -EBADMSG;
		st->state = v.p[0];
		return 0;
	case STATUS_TGID:
		return span_to_pid(v, &st->tgid);
	case STATUS_PID:
		return span_to_pid(v, &st->pid);
	case STATUS_PPID:
		return span_to_pid(v, &st->ppid);
	case STATUS_TRACERPID:
		return span_to_pid(v, &st->tracer_pid);
	case STATUS_UID:
		return status_ids(v, st->uid, ELEMENTSOF(st->uid));
	case STATUS_GID:
		return status_ids(v, st->gid, ELEMENTSOF(st->gid));
	case STATUS_GROUPS:
		return status_groups(v, &st->groups, &st->n_groups);
	case STATUS_UMASK:
		r = span_to_u32(v, 8, &st->umask);
		if (r < 0 || st->umask > 0777)
			return -EBADMSG;
		st->has_umask = true;
		return 0;
	case STATUS_THREADS:
		r = span_to_i32(v, &st->threads);
		return r < 0 || st->threads < 0 ? -EBADMSG : 0;
	case STATUS_SIGPND:
		return status_hex(v, &st->sig_pnd);
	case STATUS_SHDPND:
		return status_hex(v, &st->shd_pnd);
	case STATUS_SIGBLK:
		return status_hex(v, &st->sig_blk);
	case STATUS_SIGIGN:
		return status_hex(v, &st->sig_ign);
	case STATUS_SIGCGT:
		return status_hex(v, &st->sig_cgt);
	case STATUS_CAPINH:
		return status_hex(v, &st->cap_inh);
	case STATUS_CAPPRM:
		return status_hex(v, &st->cap_prm);
	case STATUS_CAPEFF:
		return status_hex(v, &st->cap_eff);
	case STATUS_CAPBND:
		return status_hex(v, &st->cap_bnd);
	case STATUS_CAPAMB:
		return status_hex(v, &st->cap_amb);
	case STATUS_NONEWPRIVS:
		return status_bool(v, &st->no_new_privs);
	case STATUS_SECCOMP:
		r = span_to_i32(v, &st->seccomp);
		return r < 0 || st->seccomp < 0 || st->seccomp > 2 ? -EBADMSG : 0;
	case STATUS_KTHREAD:
		r = span_to_i32(v, &st->kthread);
		return r < 0 || st->kthread < 0 || st->kthread > 1 ? -EBADMSG : 0;
	case STATUS_NSPID:
		while (word_next(&v, &w)) {
			/* MAX_PID_NS_LEVEL is 32. */
			if (st->n_nspid >= ELEMENTSOF(st->nspid))
				return -E2BIG;
			if (span_to_pid(w, &st->nspid[st->n_nspid]) < 0 ||
			    st->nspid[st->n_nspid] == 0)
				return -EBADMSG;
			st->n_nspid++;
		}
		return st->n_nspid > 0 ? 0 : -EBADMSG;
	case STATUS_NSPGID:
		return status_innermost(v, &st->ns_pgid);
	case STATUS_NSSID:
		return status_innermost(v, &st->ns_sid);
	case STATUS_VMSIZE:
		st->has_mm = true;
		return 0;
	case _STATUS_MAX:
		break;
	}
	return -EBADMSG;
}

void proc_status_done(struct proc_status *s)
{
	if (!s)
		return;
	free(s->groups);
	s->groups = NULL;
	s->n_groups = 0;
}

int proc_status_parse(const char *buf, size_t len, struct proc_status *ret)
{
	struct proc_status st = {.kthread = -1};
	struct span rest = {buf, len}, line;
	uint32_t seen = 0;
	int r;

	if (has_nul(buf, len))
		return -EBADMSG;

	while (line_next(&rest, &line)) {
		struct span key;
		enum status_key k;

		if (!span_cut(&line, ':', &key)) {
			r = -EBADMSG;
			goto fail;
		}
		for (k = 0; k < _STATUS_MAX; k++)
			if (span_eq(key, status_key_name[k]))
				break;
		if (k == _STATUS_MAX)
			continue;
		if (seen & (1u << k)) {
			r = -EBADMSG;
			goto fail;
		}
		seen |= 1u << k;
		span_trim(&line);
		r = status_value(&st, k, line);
		if (r < 0)
			goto fail;
	}
	if ((seen | STATUS_OPTIONAL) != (1u << _STATUS_MAX) - 1) {
		r = -EBADMSG;
		goto fail;
	}

	*ret = st;
	return 0;
fail:
	proc_status_done(&st);
	return r;
}

/* fdinfo */

int proc_fdinfo_parse(const char *buf, size_t len, struct proc_fdinfo *ret)
{
	struct proc_fdinfo fi = {};
	struct span rest = {buf, len}, line;
	bool have_pos = false, have_flags = false, have_mnt_id = false, have_ino = false;

	if (has_nul(buf, len))
		return -EBADMSG;

	/* Only seq_show()'s own lines; what a file type appends after them is its business. */
	while (line_next(&rest, &line)) {
		struct span key;
		bool *seen;
		int64_t pos;
		int r;

		if (!span_cut(&line, ':', &key))
			continue;
		if (span_eq(key, "pos"))
			seen = &have_pos;
		else if (span_eq(key, "flags"))
			seen = &have_flags;
		else if (span_eq(key, "mnt_id"))
			seen = &have_mnt_id;
		else if (span_eq(key, "ino"))
			seen = &have_ino;
		else
			continue;
		if (*seen)
			return -EBADMSG;
		*seen = true;
		span_trim(&line);

		if (seen == &have_pos) {
			/* Printed as a signed loff_t: /proc/PID/mem can sit past 2^63. */
			r = span_to_i64(line, &pos);
			if (r >= 0)
				fi.pos = (uint64_t) pos;
		} else if (seen == &have_flags) {
			r = span_to_u32(line, 8, &fi.flags);
		} else if (seen == &have_mnt_id) {
			r = span_to_i32(line, &fi.mnt_id);
		} else {
			r = span_to_u64(line, 10, &fi.ino);
		}
		if (r < 0)
			return -EBADMSG;
	}
	/* Older kernels print no "ino:"; the caller can fstat() the fd itself. */
	if (!have_pos || !have_flags || !have_mnt_id)
		return -EBADMSG;

	*ret = fi;
	return 0;
}

/* fdinfo of anonymous-inode files */

/* The value of the one "key: value" line, trimmed; -EBADMSG if none or several. */
static int fdinfo_field(const char *buf, size_t len, const char *key, struct span *ret)
{
	struct span rest = { buf, len }, line, k;
	bool found = false;

	if (has_nul(buf, len))
		return -EBADMSG;
	while (line_next(&rest, &line)) {
		if (!span_cut(&line, ':', &k) || !span_eq(k, key))
			continue;
		if (found)
			return -EBADMSG;
		found = true;
		span_trim(&line);
		*ret = line;
	}
	return found ? 0 : -EBADMSG;
}

static int fdinfo_u64(const char *buf, size_t len, const char *key, unsigned base, uint64_t *ret)
{
	struct span v;
	int r = fdinfo_field(buf, len, key, &v);

	return r < 0 ? r : span_to_u64(v, base, ret);
}

/* "(seconds, nanoseconds)" as timerfd prints an itimerspec member. */
static int fdinfo_timespec(const char *buf, size_t len, const char *key, uint64_t *ret_ns)
{
	struct span v, sec;
	uint64_t s, ns;
	int r = fdinfo_field(buf, len, key, &v);

	if (r < 0)
		return r;
	if (v.n < 2 || v.p[0] != '(' || v.p[v.n - 1] != ')')
		return -EBADMSG;
	v.p++;
	v.n -= 2;
	if (!span_cut(&v, ',', &sec))
		return -EBADMSG;
	span_trim(&v);
	if (span_to_u64(sec, 10, &s) < 0 || span_to_u64(v, 10, &ns) < 0 || ns >= 1000000000 ||
	    s > (UINT64_MAX - ns) / 1000000000)
		return -EBADMSG;
	*ret_ns = s * 1000000000 + ns;
	return 0;
}

int proc_eventfd_parse(const char *buf, size_t len, struct proc_eventfd *ret)
{
	uint64_t count, sem;

	if (fdinfo_u64(buf, len, "eventfd-count", 16, &count) < 0 ||
	    fdinfo_u64(buf, len, "eventfd-semaphore", 10, &sem) < 0 || sem > 1)
		return -EBADMSG;
	*ret = (struct proc_eventfd){ .count = count, .semaphore = sem != 0 };
	return 0;
}

int proc_timerfd_parse(const char *buf, size_t len, struct proc_timerfd *ret)
{
	struct proc_timerfd t = {};
	struct span v;
	uint64_t flags;

	if (fdinfo_field(buf, len, "clockid", &v) < 0 || span_to_i32(v, &t.clockid) < 0 ||
	    fdinfo_u64(buf, len, "ticks", 10, &t.ticks) < 0 ||
	    fdinfo_u64(buf, len, "settime flags", 8, &flags) < 0 || flags > UINT32_MAX ||
	    fdinfo_timespec(buf, len, "it_value", &t.value_ns) < 0 ||
	    fdinfo_timespec(buf, len, "it_interval", &t.interval_ns) < 0)
		return -EBADMSG;
	t.settime_flags = (uint32_t) flags;
	*ret = t;
	return 0;
}

int proc_signalfd_parse(const char *buf, size_t len, uint64_t *ret_mask)
{
	struct span v;

	/* render_sigset_t(): 16 hex digits, signal 64 first, like SigBlk in status. */
	if (fdinfo_field(buf, len, "sigmask", &v) < 0 || v.n != 16)
		return -EBADMSG;
	return span_to_u64(v, 16, ret_mask);
}

/* "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x" */
static int epoll_line_parse(struct span line, struct proc_epoll_watch *ret)
{
	struct span w[6], key;
	int64_t pos;

	for (size_t i = 0; i < ELEMENTSOF(w); i++)
		if (!word_next(&line, &w[i]))
			return -EBADMSG;
	if (!span_eq(w[1], "events:") || !span_eq(w[3], "data:") ||
	    span_to_i32(w[0], &ret->tfd) < 0 || ret->tfd < 0 || span_to_u32(w[2], 16, &ret->events) < 0 ||
	    span_to_u64(w[4], 16, &ret->data) < 0)
		return -EBADMSG;
	/* "pos:N ino:X sdev:X", no blank after the colons. */
	if (!span_cut(&w[5], ':', &key) || !span_eq(key, "pos") || span_to_i64(w[5], &pos) < 0 ||
	    !word_next(&line, &w[0]) || !span_cut(&w[0], ':', &key) || !span_eq(key, "ino") ||
	    span_to_u64(w[0], 16, &ret->ino) < 0 || !word_next(&line, &w[1]) ||
	    !span_cut(&w[1], ':', &key) || !span_eq(key, "sdev") ||
	    span_to_u32(w[1], 16, &ret->sdev) < 0)
		return -EBADMSG;
	return 0;
}

int proc_epoll_parse(const char *buf, size_t len, size_t max, struct proc_epoll_watch **ret,
		     size_t *ret_n)
{
	_cleanup_free_ struct proc_epoll_watch *v = NULL;
	struct span rest = { buf, len }, line;
	size_t n = 0, allocated = 0;

	if (has_nul(buf, len))
		return -EBADMSG;
	while (line_next(&rest, &line)) {
		struct span word, copy = line;

		if (!word_next(&copy, &word) || !span_eq(word, "tfd:"))
			continue;
		if (n >= max)
			return -E2BIG;
		if (GROW(v, allocated, n + 1) < 0)
			return -ENOMEM;
		if (epoll_line_parse(copy, &v[n]) < 0)
			return -EBADMSG;
		n++;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* Readers */

/* ENOENT under /proc/PID means the process is gone, unless /proc/PID is still there. */
static int proc_errno(pid_t pid, int error)
{
	char path[32];

	if (error == ESRCH)
		return -ESRCH;
	if (error != ENOENT)
		return -error;
	(void) snprintf(path, sizeof(path), "/proc/%d", (int) pid);
	return access(path, F_OK) < 0 && errno == ENOENT ? -ESRCH : -ENOENT;
}

static int proc_open(pid_t pid, const char *what, int flags)
{
	_cleanup_free_ char *path = NULL;
	int fd;

	if (pid <= 0 || !what || !*what)
		return -EINVAL;
	path = strdup_printf("/proc/%d/%s", (int) pid, what);
	if (!path)
		return -ENOMEM;
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return proc_errno(pid, errno);
	return fd;
}

static int proc_read_file(pid_t pid, const char *what, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = proc_open(pid, what, O_RDONLY);
	int r;

	if (fd < 0)
		return fd;
	r = read_full_fd(fd, max, ret, ret_len);
	return r < 0 ? proc_errno(pid, -r) : 0;
}

const struct proc_map *proc_map_at(const struct proc_map *maps, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (maps[mid].end <= addr)
			lo = mid + 1;
		else if (maps[mid].start > addr)
			hi = mid;
		else
			return &maps[mid];
	}
	return NULL;
}

int proc_read_maps(pid_t pid, bool with_vmflags, struct proc_map **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = proc_read_file(pid, with_vmflags ? "smaps" : "maps",
			   with_vmflags ? PROC_SMAPS_READ_MAX : PROC_MAPS_READ_MAX, &buf, &len);
	if (r < 0)
		return r;
	return maps_parse_any(buf, len, with_vmflags, ret, ret_n);
}

/* The readers of small /proc files: read whole, then parse. */
#define SMALL_READER(fn, type, file, parse)                                              \
	int fn(pid_t pid, type ret)                                                      \
	{                                                                                \
		_cleanup_free_ char *buf = NULL;                                         \
		size_t len;                                                              \
		int r = proc_read_file(pid, file, PROC_SMALL_READ_MAX, &buf, &len);      \
                                                                                         \
		return r < 0 ? r : parse(buf, len, ret);                                 \
	}

SMALL_READER(proc_read_stat, struct proc_stat *, "stat", proc_stat_parse)

int proc_start_time(pid_t pid, uint64_t *ret)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

	if (r < 0)
		return r;
	if (st.state == 'Z' || st.state == 'X')
		return -ESRCH;
	*ret = st.starttime;
	return 0;
}

int proc_same_ns(pid_t a, const char *a_kind, pid_t b, const char *b_kind)
{
	char pa[64], pb[64];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int) a, a_kind);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int) b, b_kind);
	if (stat(pa, &sa) < 0 || stat(pb, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

pid_t proc_find_started(uint64_t start_time, pid_t ns_pid)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		struct proc_status st = {};
		uint64_t t;
		pid_t pid;
		bool match;

		if (parse_i32(e->d_name, 10, &pid) < 0 || pid <= 0 ||
		    proc_start_time(pid, &t) < 0 || t != start_time)
			continue;
		match = proc_read_status(pid, &st) >= 0 && st.nspid[st.n_nspid - 1] == ns_pid;
		proc_status_done(&st);
		if (match)
			return pid;
	}
	return 0;
}

/* The next word of a limits line: "unlimited" or a decimal number. */
static int limit_value(struct span *line, rlim_t *ret)
{
	struct span w;
	uint64_t v;

	if (!word_next(line, &w))
		return -EBADMSG;
	if (span_eq(w, "unlimited")) {
		*ret = RLIM_INFINITY;
		return 0;
	}
	if (span_to_u64(w, 10, &v) < 0)
		return -EBADMSG;
	*ret = (rlim_t) v;
	return 0;
}

/*
 * The kernel prints "%-25s %-20s %-20s %-10s": the name, padded to 25
 * characters, holds spaces itself ("Max cpu time"), so values start at
 * column 26.
 */
int proc_limits_parse(const char *buf, size_t len, struct rlimit ret[RLIM_NLIMITS])
{
	const char *end = buf + len, *line = memchr(buf, '\n', len);
	int i = 0;

	if (!line || len < 6 || memcmp(buf, "Limit ", 6) != 0)
		return -EBADMSG;
	for (line++; line < end && i < RLIM_NLIMITS; i++) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		struct span values;

		if (!eol || eol - line < 26 || line[25] != ' ')
			return -EBADMSG;
		values = (struct span){ line + 26, (size_t)(eol - line - 26) };
		if (limit_value(&values, &ret[i].rlim_cur) < 0 ||
		    limit_value(&values, &ret[i].rlim_max) < 0)
			return -EBADMSG;
		line = eol + 1;
	}
	return i == RLIM_NLIMITS ? 0 : -EBADMSG;
}

SMALL_READER(proc_read_limits, struct rlimit *, "limits", proc_limits_parse)

/* One "NAME SECONDS NANOSECONDS" line of timens_offsets; seconds may be negative. */
static int timens_line(const char *line, size_t len, struct proc_timens_offsets *o)
{
	char copy[128], name[16];
	long long sec;
	long nsec;
	int used = 0;

	if (len >= sizeof(copy))
		return -EBADMSG;
	memcpy(copy, line, len);
	copy[len] = 0;
	if (sscanf(copy, "%15s %lld %ld%n", name, &sec, &nsec, &used) != 3 || copy[used] ||
	    nsec < 0 || nsec >= 1000000000L || sec > INT64_MAX / 1000000000LL - 1 ||
	    sec < INT64_MIN / 1000000000LL + 1)
		return -EBADMSG;
	if (strcmp(name, "monotonic") == 0) {
		o->monotonic_ns = sec * 1000000000LL + nsec;
		o->seen |= 1;
	} else if (strcmp(name, "boottime") == 0) {
		o->boottime_ns = sec * 1000000000LL + nsec;
		o->seen |= 2;
	} /* else a clock a newer kernel offsets too */
	return 0;
}

int proc_timens_offsets_parse(const char *buf, size_t len, struct proc_timens_offsets *ret)
{
	struct proc_timens_offsets o = {};
	const char *end = buf + len;

	for (const char *line = buf; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		int r;

		if (!eol)
			return -EBADMSG;
		r = timens_line(line, (size_t)(eol - line), &o);
		if (r < 0)
			return r;
		line = eol + 1;
	}
	if (o.seen != 3)
		return -EBADMSG;
	*ret = o;
	return 0;
}

SMALL_READER(proc_read_timens_offsets, struct proc_timens_offsets *, "timens_offsets",
	     proc_timens_offsets_parse)

SMALL_READER(proc_read_status, struct proc_status *, "status", proc_status_parse)

/* timers */

/* The kernel's show_timer(): sigev_notify's name, without SIGEV_THREAD_ID. */
static int timer_notify(struct span how, struct span whom, int32_t *ret)
{
	static const char *const names[] = { "signal", "none", "thread" }; /* 0, 1, 2 */
	int32_t n = -1;

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (span_eq(how, names[i]))
			n = (int32_t) i;
	if (n < 0)
		return -EBADMSG;
	if (span_eq(whom, "tid"))
		n |= 4; /* SIGEV_THREAD_ID */
	else if (!span_eq(whom, "pid"))
		return -EBADMSG;
	*ret = n;
	return 0;
}

static int timer_line(struct proc_timer *t, int k, struct span key, struct span v)
{
	static const char *const keys[] = { "ID", "signal", "notify", "ClockID" };
	struct span a, b;
	int r;

	if (!span_eq(key, keys[k]))
		return -EBADMSG;
	span_trim(&v);
	switch (k) {
	case 0:
		r = span_to_i32(v, &t->id);
		return r >= 0 && t->id < 0 ? -EBADMSG : r;
	case 1: /* "signal: 14/00007f0000001234" */
		if (!span_cut(&v, '/', &a))
			return -EBADMSG;
		r = span_to_i32(a, &t->signo);
		return r < 0 ? r : span_to_u64(v, 16, &t->sigev_value);
	case 2: /* "notify: signal/tid.1234" */
		if (!span_cut(&v, '/', &a) || !span_cut(&v, '.', &b))
			return -EBADMSG;
		r = timer_notify(a, b, &t->notify);
		return r < 0 ? r : span_to_i32(v, &t->target);
	default:
		return span_to_i32(v, &t->clock);
	}
}

int proc_timers_parse(const char *buf, size_t len, struct proc_timer **ret, size_t *ret_n)
{
	_cleanup_free_ struct proc_timer *timers = NULL;
	struct span rest = { buf, len }, line;
	size_t n = 0, allocated = 0;
	int k = 0;

	if (has_nul(buf, len))
		return -EBADMSG;
	while (line_next(&rest, &line)) {
		struct span key;

		if (k == 0) {
			if (GROW(timers, allocated, n + 1) < 0)
				return -ENOMEM;
			memset(&timers[n], 0, sizeof(timers[n]));
		}
		if (!span_cut(&line, ':', &key) || timer_line(&timers[n], k, key, line) < 0)
			return -EBADMSG;
		if (++k == 4) {
			k = 0;
			n++;
		}
	}
	if (k != 0)
		return -EBADMSG;
	*ret = TAKE_PTR(timers);
	*ret_n = n;
	return 0;
}

int proc_read_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = proc_read_file(pid, "timers", PROC_SMALL_READ_MAX, &buf, &len);

	return r < 0 ? r : proc_timers_parse(buf, len, ret, ret_n);
}

int proc_read_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret)
{
	_cleanup_free_ char *what = NULL, *buf = NULL;
	_cleanup_close_ int info_fd = -EBADF;
	size_t len = 0;

	if (fd < 0)
		return -EBADF;
	what = strdup_printf("fdinfo/%d", fd);
	if (!what)
		return -ENOMEM;
	info_fd = proc_open(pid, what, O_RDONLY);
	if (info_fd < 0)
		return info_fd;
	buf = malloc(PROC_FDINFO_READ_MAX);
	if (!buf)
		return -ENOMEM;
	while (len < PROC_FDINFO_READ_MAX) {
		ssize_t n = read(info_fd, buf + len, PROC_FDINFO_READ_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return proc_errno(pid, errno);
		if (n == 0)
			break;
		len += (size_t) n;
	}
	if (len == PROC_FDINFO_READ_MAX) {
		/* Cut after the last whole line; ours came first. */
		const char *nl = memrchr(buf, '\n', len);

		len = nl ? (size_t) (nl - buf + 1) : 0;
	}
	return proc_fdinfo_parse(buf, len, ret);
}

int proc_read_fdinfo_text(pid_t pid, int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *what = NULL;

	if (fd < 0)
		return -EBADF;
	what = strdup_printf("fdinfo/%d", fd);
	if (!what)
		return -ENOMEM;
	return proc_read_file(pid, what, max, ret, ret_len);
}

static int int_compare(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;

	return (x > y) - (x < y);
}

/* Sorts and drops duplicates in place; returns the new count. */
static size_t ints_sort_unique(int *v, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), int_compare);
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[k])
			v[++k] = v[i];
	return k + 1;
}

/* The numeric entries of /proc/PID/<what>, each at least min, sorted. */
static int proc_list_numbers(pid_t pid, const char *what, int min, int **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ int *v = NULL;
	size_t n = 0, allocated = 0;
	int fd;

	fd = proc_open(pid, what, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	fd = fdopendir_consume(fd, &d);
	if (fd < 0)
		return fd;
	for (;;) {
		struct dirent *de;
		uint32_t x;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0)
				return proc_errno(pid, errno);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (parse_u32(de->d_name, 10, &x) < 0 || x > INT32_MAX || (int) x < min)
			return -EBADMSG;
		if (n >= PROC_LIST_MAX)
			return -E2BIG;
		if (GROW(v, allocated, n + 1) < 0)
			return -ENOMEM;
		v[n++] = (int) x;
	}
	n = ints_sort_unique(v, n);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int proc_read_tids(pid_t pid, pid_t **ret, size_t *ret_n)
{
	return proc_list_numbers(pid, "task", /* min= */ 1, ret, ret_n);
}

int proc_read_fds(pid_t pid, int **ret, size_t *ret_n)
{
	return proc_list_numbers(pid, "fd", /* min= */ 0, ret, ret_n);
}

/* Appends the blank-separated pids of s to *v. */
static int pids_append(struct span s, pid_t **v, size_t *n, size_t *allocated)
{
	struct span w;

	while (word_next(&s, &w)) {
		pid_t p;

		if (span_to_pid(w, &p) < 0 || p == 0)
			return -EBADMSG;
		if (*n >= PROC_LIST_MAX)
			return -E2BIG;
		if (GROW(*v, *allocated, *n + 1) < 0)
			return -ENOMEM;
		(*v)[(*n)++] = p;
	}
	return 0;
}

/*
 * Without CONFIG_PROC_CHILDREN (Debian's 6.x kernels among them) there is no
 * children file: every process whose stat names pid as its parent is a child.
 * stat's ppid is the parent's tgid, so children of any thread are found.
 */
static int proc_children_by_scan(pid_t pid, pid_t **v, size_t *n, size_t *allocated)
{
	_cleanup_closedir_ DIR *d = NULL;
	int k;

	k = opendir_at(AT_FDCWD, "/proc", 0, &d);
	if (k < 0)
		return k;
	for (;;) {
		struct proc_stat st;
		struct dirent *de;
		pid_t p;
		int r;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0)
				return -errno;
			break;
		}
		if (parse_pid(de->d_name, &p) < 0)
			continue;
		r = proc_read_stat(p, &st);
		if (r == -ESRCH)
			continue; /* it exited while we looked */
		if (r < 0)
			return r;
		if (st.ppid != pid || p == pid)
			continue;
		if (*n >= PROC_LIST_MAX)
			return -E2BIG;
		if (GROW(*v, *allocated, *n + 1) < 0)
			return -ENOMEM;
		(*v)[(*n)++] = p;
	}
	return 0;
}

int proc_read_children(pid_t pid, pid_t **ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *tids = NULL, *v = NULL;
	size_t n_tids = 0, n = 0, allocated = 0;
	int r;

	r = proc_read_tids(pid, &tids, &n_tids);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_tids; i++) {
		_cleanup_free_ char *what = NULL, *buf = NULL;
		size_t len;

		what = strdup_printf("task/%d/children", (int) tids[i]);
		if (!what)
			return -ENOMEM;
		r = proc_read_file(pid, what, PROC_SMALL_READ_MAX, &buf, &len);
		if (r == -ENOENT && i == 0) {
			char task[64];

			/* The thread is there but the file is not: no CONFIG_PROC_CHILDREN. */
			(void) snprintf(task, sizeof(task), "/proc/%d/task/%d", (int) pid,
					(int) tids[i]);
			if (access(task, F_OK) == 0) {
				r = proc_children_by_scan(pid, &v, &n, &allocated);
				if (r < 0)
					return r;
				break;
			}
		}
		if (r == -ENOENT)
			continue; /* that thread exited */
		if (r < 0)
			return r;
		if (has_nul(buf, len))
			return -EBADMSG;
		r = pids_append((struct span){buf, len}, &v, &n, &allocated);
		if (r < 0)
			return r;
	}
	/* Every thread's file may have vanished because the whole process did. */
	r = proc_errno(pid, ENOENT);
	if (r == -ESRCH)
		return r;

	n = ints_sort_unique(v, n);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int proc_readlink(pid_t pid, const char *what, char **ret)
{
	_cleanup_free_ char *path = NULL;

	if (pid <= 0 || !what || !*what)
		return -EINVAL;
	path = strdup_printf("/proc/%d/%s", (int) pid, what);
	if (!path)
		return -ENOMEM;

	/* d_path() stops at a page; socket: and anon_inode: names are the kernel's to choose. */
	for (size_t size = 256; size <= ((size_t) 1 << 20); size *= 2) {
		_cleanup_free_ char *buf = malloc(size);
		ssize_t n;

		if (!buf)
			return -ENOMEM;
		n = readlink(path, buf, size);
		if (n < 0)
			return proc_errno(pid, errno);
		if ((size_t) n < size) {
			buf[n] = 0;
			*ret = TAKE_PTR(buf);
			return 0;
		}
	}
	return -E2BIG;
}

/* The first of the process's uids that is not uid: the one to name in a refusal. */
static uid_t differing_uid(const struct proc_status *st, uid_t uid)
{
	for (int i = 0; i < 4; i++)
		if (st->uid[i] != uid)
			return st->uid[i];
	return st->uid[1];
}

int proc_traceable_by(pid_t pid, uid_t uid, gid_t gid, uid_t *ret_uid, const char **ret_reason)
{
	struct proc_status st = {};
	char path[32];
	struct stat sb;
	int r;

	/*
	 * A process that is not dumpable has the files under /proc/PID owned by
	 * root; not the directory itself, which always shows the effective uid
	 * (the kernel's task_dump_owner, kept so for ps). So has one that is
	 * exiting and has let go of its memory: its status, read after, shows no
	 * memory then (a shell's `sleep` ending as it is looked at).
	 */
	(void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if (stat(path, &sb) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	r = proc_read_status(pid, &st);
	if (r < 0)
		return r;
	*ret_uid = differing_uid(&st, uid);
	r = 0;
	if (st.state == 'Z' || st.state == 'X') {
		r = 1; /* a zombie holds nothing of its user's but an exit status */
		goto out;
	}
	for (int i = 0; i < 4; i++)
		if (st.uid[i] != uid || st.gid[i] != gid) {
			*ret_reason = "it runs as another user or group";
			goto out;
		}
	if (st.cap_prm != 0) {
		*ret_reason = "it holds capabilities";
		goto out;
	}
	if (sb.st_uid != uid && !st.has_mm) {
		r = -ESRCH; /* exiting: gone for our purposes, and the freeze will see it so */
		goto out;
	}
	if (sb.st_uid != uid) {
		*ret_reason = "it is not dumpable (it changed its credentials or asked not to be "
			      "traced)";
		goto out;
	}
	r = 1;
out:
	proc_status_done(&st);
	return r;
}
