// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image directories (image.h): the manifest as checksummed JSON, the writer
 * that makes a complete image appear with one rename, and the reader that
 * refuses an image unless every file it lists is intact. Everything read from
 * an image is untrusted: every member is type- and range-checked, and an
 * error names the file at fault. Never logs; errors go back to the caller.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <xxhash.h>

#include "image.h"
#include "pack.h"
#include "util.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Both the writer and the verifier serialize with these flags: the checksum depends on them. */
#define MANIFEST_JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)
#define MANIFEST_SIZE_MAX (16U << 20)
#define MANIFEST_DEPTH_MAX 8		/* ours is 3 deep; bounds json-c's recursion */
#define MANIFEST_ENTRIES_MAX 65536	/* files and packs, each */
#define MANIFEST_SHORT_MAX 256		/* tool_version, hostname, kernel_release, boot_id, comm */
#define MANIFEST_EXE_MAX 4096		/* PATH_MAX */
#define MANIFEST_CMDLINE_MAX (2U << 20) /* the kernel's ARG_MAX with an 8 MiB stack */
#define CHECKSUM_CHUNK (256U << 10)

/* A member and the reasons given when it is wrong; all static strings. */
struct member {
	const char *key;
	const char *missing;
	const char *wrong_type;
	const char *bad_value;
};

#define MEMBER_PREFIX IMAGE_MANIFEST ": member \""
#define MEMBER(key, path, type, bad)                                                               \
	{                                                                                          \
		key, MEMBER_PREFIX path "\" is missing", MEMBER_PREFIX path "\" is not " type,     \
			MEMBER_PREFIX path "\" " bad                                               \
	}
#define MEMBER_INT(key, path) MEMBER(key, path, "an integer", "is out of range")
#define MEMBER_STR(key, path) MEMBER(key, path, "a string", "is too long or holds a NUL byte")
#define MEMBER_ARRAY(key) MEMBER(key, key, "an array", "has too many entries")
#define MEMBER_OBJECT(key) MEMBER(key, key, "an object", "is not valid")
#define M(...) (&(const struct member) __VA_ARGS__)

static const struct {
	struct member m;
	size_t offset;
	size_t max;
} string_members[] = {
	{ MEMBER_STR("tool_version", "tool_version"), offsetof(struct image_manifest, tool_version),
	  MANIFEST_SHORT_MAX },
	{ MEMBER_STR("hostname", "hostname"), offsetof(struct image_manifest, hostname),
	  MANIFEST_SHORT_MAX },
	{ MEMBER_STR("kernel_release", "kernel_release"),
	  offsetof(struct image_manifest, kernel_release), MANIFEST_SHORT_MAX },
	{ MEMBER_STR("boot_id", "boot_id"), offsetof(struct image_manifest, boot_id),
	  MANIFEST_SHORT_MAX },
	{ MEMBER_STR("comm", "comm"), offsetof(struct image_manifest, comm), MANIFEST_SHORT_MAX },
	{ MEMBER_STR("exe", "exe"), offsetof(struct image_manifest, exe), MANIFEST_EXE_MAX },
	{ MEMBER_STR("cmdline", "cmdline"), offsetof(struct image_manifest, cmdline),
	  MANIFEST_CMDLINE_MAX },
};

static const struct {
	struct member m;
	size_t offset;
} stats_members[] = {
#define STAT(name) { MEMBER_INT(#name, "stats." #name), offsetof(struct image_stats, name) }
	STAT(threads),	    STAT(regions),	 STAT(files),	  STAT(pages),
	STAT(pages_stored), STAT(bytes_written), STAT(freeze_ns), STAT(wall_ns),
#undef STAT
};

static inline void json_object_putp(json_object **o)
{
	if (*o)
		(void) json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static inline void json_tokener_freep(struct json_tokener **t)
{
	if (*t)
		json_tokener_free(*t);
}

static void xxh3_freep(XXH3_state_t **s)
{
	if (*s)
		(void) XXH3_freeState(*s);
}

static void hash_to_hex(XXH128_hash_t h, char ret[static IMAGE_HASH_HEX])
{
	static const char digits[] = "0123456789abcdef";
	XXH128_canonical_t c;

	/* The canonical (big-endian) form, so the hex matches what xxh128sum prints. */
	XXH128_canonicalFromHash(&c, h);
	for (size_t i = 0; i < sizeof(c.digest); i++) {
		ret[2 * i] = digits[c.digest[i] >> 4];
		ret[2 * i + 1] = digits[c.digest[i] & 15];
	}
	ret[IMAGE_HASH_HEX - 1] = 0;
}

static bool hex_is_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == 0;
}

void image_checksum_buf(const void *buf, size_t len, char ret[static IMAGE_HASH_HEX])
{
	hash_to_hex(XXH3_128bits(buf, len), ret);
}

/* Hashes the whole file from offset 0 and counts its bytes, whatever fstat() said. */
static int checksum_fd_size(int fd, char ret[static IMAGE_HASH_HEX], uint64_t *ret_size)
{
	_cleanup_(xxh3_freep) XXH3_state_t *state = XXH3_createState();
	_cleanup_free_ void *buf = malloc(CHECKSUM_CHUNK);
	uint64_t offset = 0;

	if (!state || !buf)
		return -ENOMEM;
	if (XXH3_128bits_reset(state) != XXH_OK)
		return -EIO;
	for (;;) {
		ssize_t n = pread(fd, buf, CHECKSUM_CHUNK, (off_t) offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		if (XXH3_128bits_update(state, buf, (size_t) n) != XXH_OK)
			return -EIO;
		offset += (uint64_t) n;
	}
	hash_to_hex(XXH3_128bits_digest(state), ret);
	if (ret_size)
		*ret_size = offset;
	return 0;
}

int image_checksum_fd(int fd, char ret[static IMAGE_HASH_HEX])
{
	return checksum_fd_size(fd, ret, NULL);
}

/* What an image may list: a plain top-level name, never the manifest itself. */
static bool file_name_ok(const char *s)
{
	return name_is_valid(s) && strcmp(s, IMAGE_MANIFEST) != 0;
}

/* Must match pack_path() in pack.c; spelled out here so image.c links without the pack code. */
static const char *pack_file(uint64_t id, char buf[static PACK_PATH_MAX])
{
	snprintf(buf, PACK_PATH_MAX, PACK_DIR "/%016" PRIx64 ".pack", id);
	return buf;
}

static void image_file_entries_free(struct image_file_entry *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i].name);
	free(files);
}

struct image_manifest *image_manifest_free(struct image_manifest *m)
{
	if (!m)
		return NULL;
	free(m->tool_version);
	free(m->hostname);
	free(m->kernel_release);
	free(m->boot_id);
	free(m->comm);
	free(m->exe);
	free(m->cmdline);
	free(m->packs);
	image_file_entries_free(m->files, m->n_files);
	free(m);
	return NULL;
}

/* Writing. Errors are sticky in *r so that building reads as a list of members. */

static void json_put(json_object *o, const char *key, json_object *v, int *r)
{
	if (*r >= 0 && !v)
		*r = -ENOMEM;
	if (*r >= 0 && json_object_object_add(o, key, v) < 0)
		*r = -ENOMEM; /* json-c did not take v */
	else if (*r >= 0)
		return;
	(void) json_object_put(v);
}

static void json_append(json_object *a, json_object *v, int *r)
{
	if (*r >= 0 && !v)
		*r = -ENOMEM;
	if (*r >= 0 && json_object_array_add(a, v) < 0)
		*r = -ENOMEM;
	else if (*r >= 0)
		return;
	(void) json_object_put(v);
}

/* json-c stores int64; the reader accepts 0..INT64_MAX, so the writer never goes beyond. */
static json_object *json_u64(uint64_t v, int *r)
{
	if (v > INT64_MAX) {
		if (*r >= 0)
			*r = -ERANGE;
		return NULL;
	}
	return json_object_new_int64((int64_t) v);
}

/* NULL is written as "" (and read back as ""). */
static json_object *json_str(const char *s, size_t max, int *r)
{
	if (!s)
		s = "";
	if (strlen(s) > max) {
		if (*r >= 0)
			*r = -E2BIG;
		return NULL;
	}
	return json_object_new_string(s);
}

static json_object *manifest_build(const struct image_manifest *m, int *r)
{
	json_object *root, *stats, *packs, *files;

	if (m->format < 1 || m->pid <= 0 || m->uid == (uid_t) -1 || m->gid == (gid_t) -1 ||
	    (m->store != IMAGE_STORE_SELF && m->store != IMAGE_STORE_JOB))
		*r = -EINVAL;
	if (m->n_packs > MANIFEST_ENTRIES_MAX || m->n_files > MANIFEST_ENTRIES_MAX)
		*r = -E2BIG;
	for (size_t i = 0; *r >= 0 && i < m->n_files; i++)
		if (!file_name_ok(m->files[i].name) || !hex_is_valid(m->files[i].xxh128, 32))
			*r = -EINVAL;
	if (*r < 0)
		return NULL;

	root = json_object_new_object();
	if (!root) {
		*r = -ENOMEM;
		return NULL;
	}
	/* The order is the format: it is what the checksum covers. */
	json_put(root, "format", json_u64(m->format, r), r);
	json_put(root, "tool_version", json_str(m->tool_version, MANIFEST_SHORT_MAX, r), r);
	json_put(root, "created_ns", json_u64(m->created_ns, r), r);
	json_put(root, "hostname", json_str(m->hostname, MANIFEST_SHORT_MAX, r), r);
	json_put(root, "kernel_release", json_str(m->kernel_release, MANIFEST_SHORT_MAX, r), r);
	json_put(root, "boot_id", json_str(m->boot_id, MANIFEST_SHORT_MAX, r), r);
	json_put(root, "pid", json_u64((uint64_t) m->pid, r), r);
	json_put(root, "uid", json_u64(m->uid, r), r);
	json_put(root, "gid", json_u64(m->gid, r), r);
	json_put(root, "comm", json_str(m->comm, MANIFEST_SHORT_MAX, r), r);
	json_put(root, "exe", json_str(m->exe, MANIFEST_EXE_MAX, r), r);
	json_put(root, "cmdline", json_str(m->cmdline, MANIFEST_CMDLINE_MAX, r), r);
	json_put(root, "store",
		 json_object_new_string(m->store == IMAGE_STORE_JOB ? "job" : "self"), r);

	stats = json_object_new_object();
	json_put(root, "stats", stats, r);
	for (size_t i = 0; *r >= 0 && i < ELEMENTSOF(stats_members); i++) {
		const uint64_t *v = (const uint64_t *) ((const char *) &m->stats +
							stats_members[i].offset);

		json_put(stats, stats_members[i].m.key, json_u64(*v, r), r);
	}

	packs = json_object_new_array();
	json_put(root, "packs", packs, r);
	for (size_t i = 0; *r >= 0 && i < m->n_packs; i++) {
		char hex[17];

		snprintf(hex, sizeof(hex), "%016" PRIx64, m->packs[i]);
		json_append(packs, json_object_new_string(hex), r);
	}

	files = json_object_new_array();
	json_put(root, "files", files, r);
	for (size_t i = 0; *r >= 0 && i < m->n_files; i++) {
		json_object *f = json_object_new_object();

		json_append(files, f, r);
		json_put(f, "name", json_object_new_string(m->files[i].name), r);
		json_put(f, "size", json_u64(m->files[i].size, r), r);
		json_put(f, "xxh128", json_object_new_string(m->files[i].xxh128), r);
	}

	if (*r < 0) {
		(void) json_object_put(root);
		return NULL;
	}
	return root;
}

/* Serializes o and returns the checksum of that text, the way the verifier recomputes it. */
static int json_checksum(json_object *o, char ret[static IMAGE_HASH_HEX])
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, MANIFEST_JSON_FLAGS, &len);

	if (!s)
		return -ENOMEM;
	image_checksum_buf(s, len, ret);
	return 0;
}

int image_manifest_to_json(const struct image_manifest *m, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_object *root = NULL;
	char sum[IMAGE_HASH_HEX];
	const char *s;
	size_t len;
	char *text;
	int r = 0;

	root = manifest_build(m, &r);
	if (!root)
		return r;
	r = json_checksum(root, sum);
	if (r < 0)
		return r;
	json_put(root, "checksum", json_object_new_string(sum), &r);
	if (r < 0)
		return r;
	s = json_object_to_json_string_length(root, MANIFEST_JSON_FLAGS, &len);
	if (!s)
		return -ENOMEM;
	/* A final newline for people who cat it; the reader allows trailing whitespace. */
	text = malloc(len + 2);
	if (!text)
		return -ENOMEM;
	memcpy(text, s, len);
	text[len] = '\n';
	text[len + 1] = 0;
	*ret = text;
	if (ret_len)
		*ret_len = len + 1;
	return 0;
}

/* Reading. Every failure gives a static reason naming the member. */

static int fail(const char **ret_reason, int r, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return r;
}

/* An integer in [min, max]; json-c's uint64 values above INT64_MAX are out of range too. */
static int get_u64(json_object *o, const struct member *mb, uint64_t min, uint64_t max,
		   uint64_t *ret, const char **ret_reason)
{
	json_object *j;
	int64_t v;

	if (!json_object_object_get_ex(o, mb->key, &j))
		return fail(ret_reason, -EBADMSG, mb->missing);
	if (!json_object_is_type(j, json_type_int))
		return fail(ret_reason, -EBADMSG, mb->wrong_type);
	/* get_int64() clamps a larger uint64 to INT64_MAX; get_uint64() tells them apart. */
	v = json_object_get_int64(j);
	if (v < 0 || (uint64_t) v != json_object_get_uint64(j) || (uint64_t) v < min ||
	    (uint64_t) v > max)
		return fail(ret_reason, -EBADMSG, mb->bad_value);
	*ret = (uint64_t) v;
	return 0;
}

static int get_typed(json_object *o, const struct member *mb, enum json_type type,
		     json_object **ret, const char **ret_reason)
{
	json_object *j;

	if (!json_object_object_get_ex(o, mb->key, &j))
		return fail(ret_reason, -EBADMSG, mb->missing);
	if (!json_object_is_type(j, type))
		return fail(ret_reason, -EBADMSG, mb->wrong_type);
	*ret = j;
	return 0;
}

/* The string of j, if it has at most max bytes and no NUL (json-c allows "\u0000"). */
static const char *json_string_checked(json_object *j, size_t max)
{
	const char *s = json_object_get_string(j);
	size_t len = (size_t) json_object_get_string_len(j);

	if (!s || len > max || strlen(s) != len)
		return NULL;
	return s;
}

static int get_str(json_object *o, const struct member *mb, size_t max, char **ret,
		   const char **ret_reason)
{
	json_object *j;
	const char *s;
	char *copy;
	int r;

	r = get_typed(o, mb, json_type_string, &j, ret_reason);
	if (r < 0)
		return r;
	s = json_string_checked(j, max);
	if (!s)
		return fail(ret_reason, -EBADMSG, mb->bad_value);
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

static int parse_pack_id(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!hex_is_valid(s, 16))
		return -EBADMSG;
	for (size_t i = 0; i < 16; i++)
		v = v << 4 | (uint64_t) (s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	*ret = v;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int parse_files(json_object *root, struct image_manifest *m, const char **ret_reason)
{
	static const struct member files_m = MEMBER_ARRAY("files");
	_cleanup_free_ char **names = NULL;
	json_object *a;
	size_t n;
	int r;

	r = get_typed(root, &files_m, json_type_array, &a, ret_reason);
	if (r < 0)
		return r;
	n = json_object_array_length(a);
	if (n > MANIFEST_ENTRIES_MAX)
		return fail(ret_reason, -EBADMSG, files_m.bad_value);
	m->files = new0(struct image_file_entry, MAX(n, (size_t) 1));
	names = new0(char *, MAX(n, (size_t) 1));
	if (!m->files || !names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *f = json_object_array_get_idx(a, i), *j;
		struct image_file_entry *e = &m->files[i];
		const char *s;

		if (!json_object_is_type(f, json_type_object))
			return fail(ret_reason, -EBADMSG,
				    MEMBER_PREFIX "files[]\" is not an object");
		r = get_typed(f, M(MEMBER_STR("name", "files[].name")), json_type_string, &j,
			      ret_reason);
		if (r < 0)
			return r;
		s = json_string_checked(j, NAME_MAX);
		if (!s || !file_name_ok(s))
			return fail(ret_reason, -EBADMSG,
				    MEMBER_PREFIX "files[].name\" is not a plain file name");
		e->name = strdup(s);
		if (!e->name)
			return -ENOMEM;
		m->n_files++;
		names[i] = e->name;
		r = get_u64(f, M(MEMBER_INT("size", "files[].size")), 0, INT64_MAX, &e->size,
			    ret_reason);
		if (r < 0)
			return r;
		r = get_typed(f, M(MEMBER_STR("xxh128", "files[].xxh128")), json_type_string, &j,
			      ret_reason);
		if (r < 0)
			return r;
		s = json_string_checked(j, IMAGE_HASH_HEX - 1);
		if (!s || !hex_is_valid(s, IMAGE_HASH_HEX - 1))
			return fail(ret_reason, -EBADMSG,
				    MEMBER_PREFIX "files[].xxh128\" is not 32 lowercase hex "
						  "digits");
		memcpy(e->xxh128, s, IMAGE_HASH_HEX);
	}
	/* A name listed twice would let two entries disagree about one file. */
	qsort(names, n, sizeof(*names), compare_names);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			return fail(ret_reason, -EBADMSG,
				    MEMBER_PREFIX "files\" lists a file twice");
	return 0;
}

static int parse_members(json_object *root, struct image_manifest *m, const char **ret_reason)
{
	static const struct member packs_m = MEMBER_ARRAY("packs");
	const char *store, *id;
	json_object *j;
	uint64_t v;
	size_t n;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(string_members); i++) {
		char **dst = (char **) ((char *) m + string_members[i].offset);

		r = get_str(root, &string_members[i].m, string_members[i].max, dst, ret_reason);
		if (r < 0)
			return r;
	}
	r = get_u64(root, M(MEMBER_INT("created_ns", "created_ns")), 0, INT64_MAX,
		    &m->created_ns, ret_reason);
	if (r < 0)
		return r;
	r = get_u64(root, M(MEMBER_INT("pid", "pid")), 1, INT32_MAX, &v, ret_reason);
	if (r < 0)
		return r;
	m->pid = (pid_t) v;
	/* (uid_t) -1 means "no change" to the kernel, never a real owner. */
	r = get_u64(root, M(MEMBER_INT("uid", "uid")), 0, UINT32_MAX - 1, &v, ret_reason);
	if (r < 0)
		return r;
	m->uid = (uid_t) v;
	r = get_u64(root, M(MEMBER_INT("gid", "gid")), 0, UINT32_MAX - 1, &v, ret_reason);
	if (r < 0)
		return r;
	m->gid = (gid_t) v;

	r = get_typed(root, M(MEMBER_STR("store", "store")), json_type_string, &j, ret_reason);
	if (r < 0)
		return r;
	store = json_string_checked(j, 4);
	if (store && strcmp(store, "self") == 0)
		m->store = IMAGE_STORE_SELF;
	else if (store && strcmp(store, "job") == 0)
		m->store = IMAGE_STORE_JOB;
	else
		return fail(ret_reason, -EBADMSG,
			    MEMBER_PREFIX "store\" is neither \"self\" nor \"job\"");

	r = get_typed(root, M(MEMBER_OBJECT("stats")), json_type_object, &j, ret_reason);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(stats_members); i++) {
		uint64_t *dst = (uint64_t *) ((char *) &m->stats + stats_members[i].offset);

		r = get_u64(j, &stats_members[i].m, 0, INT64_MAX, dst, ret_reason);
		if (r < 0)
			return r;
	}

	r = get_typed(root, &packs_m, json_type_array, &j, ret_reason);
	if (r < 0)
		return r;
	n = json_object_array_length(j);
	if (n > MANIFEST_ENTRIES_MAX)
		return fail(ret_reason, -EBADMSG, packs_m.bad_value);
	m->packs = new0(uint64_t, MAX(n, (size_t) 1));
	if (!m->packs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(j, i);

		id = json_object_is_type(p, json_type_string) ? json_string_checked(p, 16) : NULL;
		if (!id || parse_pack_id(id, &m->packs[i]) < 0)
			return fail(ret_reason, -EBADMSG,
				    MEMBER_PREFIX "packs[]\" is not a 16-digit hex pack id");
	}
	m->n_packs = n;

	return parse_files(root, m, ret_reason);
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* image_manifest_from_json(), and on -EPROTO the format found, for a better message. */
static int manifest_parse(const char *buf, size_t len, struct image_manifest **ret,
			  const char **ret_reason, uint32_t *ret_format)
{
	_cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
	_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
	_cleanup_json_ json_object *root = NULL;
	char want[IMAGE_HASH_HEX], got[IMAGE_HASH_HEX];
	const char *s;
	json_object *j;
	uint64_t format;
	size_t end;
	int r;

	if (len > MANIFEST_SIZE_MAX)
		return fail(ret_reason, -EBADMSG, IMAGE_MANIFEST ": larger than 16 MiB");
	if (memchr(buf, 0, len))
		return fail(ret_reason, -EBADMSG,
			    IMAGE_MANIFEST ": holds a NUL byte (the image is damaged)");

	tok = json_tokener_new_ex(MANIFEST_DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	/*
	 * Strict: no comments, leading zeros or trailing bytes; valid UTF-8. json-c
	 * still takes 'single quotes', which is harmless: the checksum is over the
	 * re-serialized document, so only what the writer could have written passes.
	 */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int) len);
	end = json_tokener_get_parse_end(tok);
	while (root && end < len && json_space(buf[end]))
		end++;
	if (!root || end != len)
		return fail(ret_reason, -EBADMSG,
			    IMAGE_MANIFEST ": not valid JSON (the image is damaged)");
	if (!json_object_is_type(root, json_type_object))
		return fail(ret_reason, -EBADMSG, IMAGE_MANIFEST ": not a JSON object");

	/*
	 * The format first: a newer ckptd may have changed anything else, checksum
	 * rules included, and "too new" is the message that helps.
	 */
	r = get_u64(root, M(MEMBER_INT("format", "format")), 1, UINT32_MAX, &format, ret_reason);
	if (r < 0)
		return r;
	if (format > IMAGE_FORMAT) {
		if (ret_format)
			*ret_format = (uint32_t) format;
		return fail(ret_reason, -EPROTO,
			    IMAGE_MANIFEST ": the image format is newer than this ckptd reads "
					   "(" STRINGIFY(IMAGE_FORMAT) ")");
	}

	/* The checksum covers the document without itself, serialized the way the writer did. */
	r = get_typed(root, M(MEMBER_STR("checksum", "checksum")), json_type_string, &j,
		      ret_reason);
	if (r < 0)
		return r;
	s = json_string_checked(j, IMAGE_HASH_HEX - 1);
	if (!s || !hex_is_valid(s, IMAGE_HASH_HEX - 1))
		return fail(ret_reason, -EBADMSG,
			    IMAGE_MANIFEST ": checksum mismatch (the image is damaged)");
	memcpy(want, s, IMAGE_HASH_HEX);
	json_object_object_del(root, "checksum"); /* frees j and s */
	r = json_checksum(root, got);
	if (r < 0)
		return r;
	if (strcmp(want, got) != 0)
		return fail(ret_reason, -EBADMSG,
			    IMAGE_MANIFEST ": checksum mismatch (the image is damaged)");

	m = new0(struct image_manifest, 1);
	if (!m)
		return -ENOMEM;
	m->format = (uint32_t) format;
	r = parse_members(root, m, ret_reason);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

int image_manifest_from_json(const char *buf, size_t len, struct image_manifest **ret,
			     const char **ret_reason)
{
	return manifest_parse(buf, len, ret, ret_reason, NULL);
}

/* Writer. */

struct image_writer {
	int parent_fd; /* a real fd (not O_PATH) on the parent, so it can be fsynced */
	int dfd;       /* the temporary directory; after commit, the image */
	char *name;
	char *tmp_name;
	struct image_file_entry *files;
	size_t n_files, allocated_files;
	bool created; /* the temporary directory is ours to remove */
	bool committed;
};

/* 1 if the directory dfd/name holds anything besides "." and "..". */
static int dir_has_entries(int dfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	int r;

	r = opendir_at(dfd, name, O_NOFOLLOW, &d);
	if (r < 0)
		return r;
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d);
		if (!de)
			return errno != 0 ? -errno : 0;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return 1;
	}
}

int image_writer_new(int parent_dfd, const char *name, struct image_writer **ret)
{
	_cleanup_(image_writer_freep) struct image_writer *w = NULL;
	struct stat st;
	int r;

	if (!name_is_valid(name))
		return -EINVAL;
	if (fstatat(parent_dfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
		if (!S_ISDIR(st.st_mode))
			return -EEXIST;
		r = dir_has_entries(parent_dfd, name);
		if (r < 0)
			return r;
		if (r > 0)
			return -ENOTEMPTY;
		/* An empty directory is fine: rename(2) replaces it atomically. */
	} else if (errno != ENOENT)
		return -errno;

	w = new0(struct image_writer, 1);
	if (!w)
		return -ENOMEM;
	w->parent_fd = w->dfd = -EBADF;
	w->parent_fd = openat(parent_dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->parent_fd < 0)
		return -errno;
	w->name = strdup(name);
	w->tmp_name = strdup_printf(".%s.tmp-%d", name, (int) getpid());
	if (!w->name || !w->tmp_name)
		return -ENOMEM;

	/* Left by a crashed run of a process with our pid: it was never committed. */
	r = rm_rf_at(w->parent_fd, w->tmp_name);
	if (r < 0 && r != -ENOENT)
		return r;
	if (mkdirat(w->parent_fd, w->tmp_name, 0700) < 0)
		return -errno;
	w->created = true;
	w->dfd = openat(w->parent_fd, w->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w->dfd < 0)
		return -errno;
	*ret = TAKE_PTR(w);
	return 0;
}

int image_writer_dfd(const struct image_writer *w)
{
	return w->dfd;
}

static int write_file_durably(int dfd, const char *name, const void *buf, size_t len)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r < 0)
		(void) unlinkat(dfd, name, 0);
	return r;
}

const char *image_member_core(pid_t pid, char buf[static IMAGE_MEMBER_CORE_MAX])
{
	snprintf(buf, IMAGE_MEMBER_CORE_MAX, "core-%d.elf", (int) pid);
	return buf;
}

int image_writer_add(struct image_writer *w, const char *file, const void *buf, size_t len)
{
	struct image_file_entry *e;
	char *name;
	int r;

	if (w->committed)
		return -EALREADY;
	if (!file_name_ok(file))
		return -EINVAL;
	if (w->n_files >= MANIFEST_ENTRIES_MAX)
		return -E2BIG;
	if (len > INT64_MAX)
		return -EFBIG;
	name = strdup(file);
	if (!name)
		return -ENOMEM;
	if (GROW(w->files, w->allocated_files, w->n_files + 1) < 0) {
		free(name);
		return -ENOMEM;
	}
	r = write_file_durably(w->dfd, file, buf, len);
	if (r < 0) {
		free(name);
		return r;
	}
	e = &w->files[w->n_files++];
	e->name = name;
	e->size = len;
	image_checksum_buf(buf, len, e->xxh128);
	return 0;
}

int image_writer_commit(struct image_writer *w, struct image_manifest *m)
{
	_cleanup_free_ char *json = NULL;
	struct image_file_entry *files;
	size_t len;
	int r;

	if (w->committed)
		return -EALREADY;

	/* m gets its own copies of the entries (any it had are freed), so m stays freeable. */
	files = new0(struct image_file_entry, MAX(w->n_files, (size_t) 1));
	if (!files)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_files; i++) {
		files[i] = w->files[i];
		files[i].name = strdup(w->files[i].name);
		if (!files[i].name) {
			image_file_entries_free(files, i);
			return -ENOMEM;
		}
	}
	image_file_entries_free(m->files, m->n_files);
	m->files = files;
	m->n_files = w->n_files;
	m->format = MAX(m->format, (uint32_t) IMAGE_FORMAT_BASE);

	r = image_manifest_to_json(m, &json, &len);
	if (r < 0)
		return r;
	r = write_file_durably(w->dfd, IMAGE_MANIFEST, json, len);
	if (r < 0)
		return r;
	/* Pack writers fsync their own files; their directory entries need the directory. */
	r = fsync_dir_at(w->dfd, PACK_DIR);
	if (r < 0 && r != -ENOENT)
		return r;
	if (fsync(w->dfd) < 0)
		return -errno;

	/* Replaces an empty directory atomically; a non-empty one put there meanwhile stops us. */
	if (renameat(w->parent_fd, w->tmp_name, w->parent_fd, w->name) < 0)
		return errno == EEXIST ? -ENOTEMPTY : -errno;
	w->committed = true;
	/* After this the image is in place; an error here means it may not survive a crash. */
	if (fsync(w->parent_fd) < 0)
		return -errno;
	return 0;
}

struct image_writer *image_writer_free(struct image_writer *w)
{
	if (!w)
		return NULL;
	if (w->created && !w->committed)
		(void) rm_rf_at(w->parent_fd, w->tmp_name);
	if (w->dfd >= 0)
		(void) close(w->dfd);
	if (w->parent_fd >= 0)
		(void) close(w->parent_fd);
	image_file_entries_free(w->files, w->n_files);
	free(w->name);
	free(w->tmp_name);
	free(w);
	return NULL;
}

/* Reader. */

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (!ret_error)
		return r;
	errno = -r; /* for %m */
	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	va_end(ap);
	return r;
}

/*
 * Opens dfd/name for reading if it is a regular file (-EBADMSG otherwise). The
 * type is checked before open(2), which has side effects on FIFOs and devices.
 */
static int open_regular(int dfd, const char *name, int *ret_fd, struct stat *ret_st)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st, st2;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st2) < 0)
		return -errno;
	if (!S_ISREG(st2.st_mode) || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		return -EBADMSG;
	*ret_fd = TAKE_FD(fd);
	if (ret_st)
		*ret_st = st2;
	return 0;
}

static int open_listed(int dfd, const char *name, int *ret_fd, struct stat *ret_st,
		       char **ret_error)
{
	int r = open_regular(dfd, name, ret_fd, ret_st);

	if (r == -ENOENT)
		return set_error(ret_error, -EBADMSG, "%s is missing (the image is incomplete)",
				 name);
	if (r == -EBADMSG)
		return set_error(ret_error, r, "%s is not a regular file (the image is damaged)",
				 name);
	if (r < 0)
		return set_error(ret_error, r, "%s: cannot open: %m", name);
	return 0;
}

static int size_mismatch(char **ret_error, const struct image_file_entry *e, uint64_t size)
{
	return set_error(ret_error, -EBADMSG,
			 "%s: %" PRIu64 " bytes, but " IMAGE_MANIFEST " says %" PRIu64
			 " (the image is damaged)",
			 e->name, size, e->size);
}

static int verify_file(int dfd, const struct image_file_entry *e, char **ret_error)
{
	_cleanup_close_ int fd = -EBADF;
	char sum[IMAGE_HASH_HEX];
	struct stat st;
	uint64_t size;
	int r;

	r = open_listed(dfd, e->name, &fd, &st, ret_error);
	if (r < 0)
		return r;
	if ((uint64_t) st.st_size != e->size)
		return size_mismatch(ret_error, e, (uint64_t) st.st_size);
	r = checksum_fd_size(fd, sum, &size);
	if (r < 0)
		return set_error(ret_error, r, "%s: cannot read: %m", e->name);
	if (size != e->size)
		return size_mismatch(ret_error, e, size);
	if (strcmp(sum, e->xxh128) != 0)
		return set_error(ret_error, -EBADMSG,
				 "%s: checksum mismatch (the image is damaged)", e->name);
	return 0;
}

struct image *image_free(struct image *img)
{
	if (!img)
		return NULL;
	if (img->dfd >= 0)
		(void) close(img->dfd);
	if (img->store_dfd >= 0)
		(void) close(img->store_dfd);
	image_manifest_free(img->manifest);
	free(img);
	return NULL;
}

static int image_open_store(struct image *img, char **ret_error)
{
	if (img->manifest->store == IMAGE_STORE_SELF)
		img->store_dfd = fcntl(img->dfd, F_DUPFD_CLOEXEC, 3);
	else /* <job>/versions/<version>: the job's packs/ is beside versions/ */
		img->store_dfd = openat(img->dfd, "../..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (img->store_dfd < 0)
		return set_error(ret_error, -errno, "cannot open the image's page store: %m");

	for (size_t i = 0; i < img->manifest->n_packs; i++) {
		char path[PACK_PATH_MAX];
		struct stat st;

		pack_file(img->manifest->packs[i], path);
		if (fstatat(img->store_dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return set_error(ret_error, -EBADMSG,
						 "%s is missing (the image is incomplete)", path);
			return set_error(ret_error, -errno, "%s: %m", path);
		}
		if (!S_ISREG(st.st_mode))
			return set_error(ret_error, -EBADMSG,
					 "%s is not a regular file (the image is damaged)", path);
	}
	return 0;
}

int image_open(int dfd, const char *path, struct image **ret, char **ret_error)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_close_ int mfd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	const char *reason = NULL;
	uint32_t format = 0;
	size_t len;
	int r;

	img = new0(struct image, 1);
	if (!img)
		return set_error(ret_error, -ENOMEM, "out of memory");
	img->store_dfd = -EBADF;
	/* No symlink as the image itself: callers resolve "latest" and say which version. */
	img->dfd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (img->dfd < 0) {
		struct stat st;

		r = -errno;
		/* O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR; say what it is. */
		if ((r == -ENOTDIR || r == -ELOOP) &&
		    fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
			r = -ELOOP;
		if (r == -ENOENT)
			return set_error(ret_error, r, "%s: no such image", path);
		if (r == -ENOTDIR)
			return set_error(ret_error, r, "%s is not a directory", path);
		if (r == -ELOOP)
			return set_error(ret_error, r, "%s is a symbolic link, not an image", path);
		return set_error(ret_error, r, "%s: %m", path);
	}

	r = open_regular(img->dfd, IMAGE_MANIFEST, &mfd, NULL);
	if (r == -ENOENT)
		return set_error(ret_error, r, "%s is not a ckptd image (no " IMAGE_MANIFEST ")",
				 path);
	if (r == -EBADMSG)
		return set_error(ret_error, r,
				 IMAGE_MANIFEST " is not a regular file (the image is damaged)");
	if (r < 0)
		return set_error(ret_error, r, IMAGE_MANIFEST ": cannot open: %m");
	r = read_full_fd(mfd, MANIFEST_SIZE_MAX, &buf, &len);
	if (r == -E2BIG)
		return set_error(ret_error, -EBADMSG,
				 IMAGE_MANIFEST " is larger than 16 MiB (the image is damaged)");
	if (r < 0)
		return set_error(ret_error, r, IMAGE_MANIFEST ": cannot read: %m");

	r = manifest_parse(buf, len, &img->manifest, &reason, &format);
	if (r == -EPROTO)
		return set_error(ret_error, r,
				 "image format %" PRIu32 " is newer than this ckptd reads (%d)",
				 format, IMAGE_FORMAT);
	if (r == -ENOMEM)
		return set_error(ret_error, r, "out of memory");
	if (r < 0 && reason && strstr(reason, "damaged"))
		return set_error(ret_error, r, "%s", reason);
	if (r < 0)
		return set_error(ret_error, r, "%s (the image is damaged)",
				 reason ?: IMAGE_MANIFEST " is malformed");

	for (size_t i = 0; i < img->manifest->n_files; i++) {
		r = verify_file(img->dfd, &img->manifest->files[i], ret_error);
		if (r < 0)
			return r;
	}
	r = image_open_store(img, ret_error);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

int image_read_file(struct image *img, const char *name, size_t max, void **ret, size_t *ret_len,
		    char **ret_error)
{
	const struct image_file_entry *e = NULL;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	char sum[IMAGE_HASH_HEX];
	struct stat st;
	size_t len;
	int r;

	for (size_t i = 0; i < img->manifest->n_files && !e; i++)
		if (strcmp(img->manifest->files[i].name, name) == 0)
			e = &img->manifest->files[i];
	if (!e)
		return set_error(ret_error, -ENOENT, "%s is not listed in " IMAGE_MANIFEST, name);
	if (e->size > max)
		return set_error(ret_error, -E2BIG,
				 "%s: %" PRIu64 " bytes, more than the %zu allowed", name, e->size,
				 max);

	r = open_listed(img->dfd, name, &fd, &st, ret_error);
	if (r < 0)
		return r;
	if ((uint64_t) st.st_size != e->size)
		return size_mismatch(ret_error, e, (uint64_t) st.st_size);
	/* Reads at most e->size bytes: a file that grew since fstat() gives -E2BIG. */
	r = read_full_fd(fd, (size_t) e->size, &buf, &len);
	if (r == -E2BIG)
		return set_error(ret_error, -EBADMSG,
				 "%s: changed while being read (the image is damaged)", name);
	if (r < 0)
		return set_error(ret_error, r, "%s: cannot read: %m", name);
	if (len != e->size)
		return size_mismatch(ret_error, e, len);
	image_checksum_buf(buf, len, sum);
	if (strcmp(sum, e->xxh128) != 0)
		return set_error(ret_error, -EBADMSG,
				 "%s: checksum mismatch (the image is damaged)", name);
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}
