// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for common/image.c: the manifest's JSON form and its strict parser,
 * the writer's all-or-nothing commit, and image_open()'s verification. Each
 * test works in its own directory under /tmp, removed afterwards.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "util.h"

static char tmpdir[] = "/tmp/ckptd-test-image-XXXXXX";
static int tmp_fd = -EBADF;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(tmpdir));
	tmp_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(tmp_fd, 0);
}

static void teardown(void)
{
	if (tmp_fd >= 0)
		(void) close(tmp_fd);
	(void) rm_rf_at(AT_FDCWD, tmpdir);
}

TestSuite(image, .init = setup, .fini = teardown);

/* A manifest with every field set to something distinctive. */
static struct image_manifest *manifest_sample(void)
{
	struct image_manifest *m = new0(struct image_manifest, 1);

	cr_assert_not_null(m);
	m->format = IMAGE_FORMAT_BASE;
	m->tool_version = strdup("0.1.0");
	m->created_ns = 1732470000123456789ULL;
	m->hostname = strdup("build-host.example");
	m->kernel_release = strdup("6.18.0-1-amd64");
	m->boot_id = strdup("5f0c1bb5-2b9f-4d2f-9a57-0f6a3c1d9e11");
	m->pid = 4242;
	m->uid = 1000;
	m->gid = 100;
	m->comm = strdup("sim \"worker\"");
	m->exe = strdup("/usr/local/bin/sim-1");
	m->cmdline = strdup("sim-1 --steps 1000 --out /tmp/x \\ y \xc3\xa9");
	m->store = IMAGE_STORE_JOB;
	m->stats = (struct image_stats){ .threads = 3,
					 .regions = 57,
					 .files = 4,
					 .pages = 123456,
					 .pages_stored = 789,
					 .bytes_written = (uint64_t) INT64_MAX,
					 .freeze_ns = 41000000,
					 .wall_ns = 1200000000 };
	m->n_packs = 3;
	m->packs = new0(uint64_t, 3);
	m->packs[0] = 0;
	m->packs[1] = 0xa3;
	m->packs[2] = 0xfedcba9876543210ULL;
	m->n_files = 2;
	m->files = new0(struct image_file_entry, 2);
	m->files[0].name = strdup(IMAGE_CORE);
	m->files[0].size = 8192;
	image_checksum_buf("core", 4, m->files[0].xxh128);
	m->files[1].name = strdup(IMAGE_PAGES);
	m->files[1].size = 0;
	image_checksum_buf("", 0, m->files[1].xxh128);
	return m;
}

static void assert_manifest_eq(const struct image_manifest *a, const struct image_manifest *b)
{
	cr_assert_eq(a->format, b->format);
	cr_assert_str_eq(a->tool_version, b->tool_version);
	cr_assert_eq(a->created_ns, b->created_ns);
	cr_assert_str_eq(a->hostname, b->hostname);
	cr_assert_str_eq(a->kernel_release, b->kernel_release);
	cr_assert_str_eq(a->boot_id, b->boot_id);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_eq(a->uid, b->uid);
	cr_assert_eq(a->gid, b->gid);
	cr_assert_str_eq(a->comm, b->comm);
	cr_assert_str_eq(a->exe, b->exe);
	cr_assert_str_eq(a->cmdline, b->cmdline);
	cr_assert_eq(a->store, b->store);
	cr_assert_eq(memcmp(&a->stats, &b->stats, sizeof(a->stats)), 0);
	cr_assert_eq(a->n_packs, b->n_packs);
	for (size_t i = 0; i < a->n_packs; i++)
		cr_assert_eq(a->packs[i], b->packs[i]);
	cr_assert_eq(a->n_files, b->n_files);
	for (size_t i = 0; i < a->n_files; i++) {
		cr_assert_str_eq(a->files[i].name, b->files[i].name);
		cr_assert_eq(a->files[i].size, b->files[i].size);
		cr_assert_str_eq(a->files[i].xxh128, b->files[i].xxh128);
	}
}

static char *sample_json(size_t *ret_len)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
	char *json = NULL;

	cr_assert_eq(image_manifest_to_json(m, &json, ret_len), 0);
	return json;
}

Test(image, checksum_known_vector)
{
	char hex[IMAGE_HASH_HEX];

	/* XXH3-128 of nothing, in canonical (big-endian) order. */
	image_checksum_buf("", 0, hex);
	cr_assert_str_eq(hex, "99aa06d3014798d86001c324468d497f");
}

Test(image, checksum_fd_matches_buffer)
{
	static char data[1 << 20];
	char a[IMAGE_HASH_HEX], b[IMAGE_HASH_HEX];
	_cleanup_close_ int fd = -EBADF;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char) (i * 7 + i / 4096);
	fd = openat(tmp_fd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write_all(fd, data, sizeof(data)), 0);
	/* The whole file, wherever the offset is. */
	cr_assert_eq(image_checksum_fd(fd, a), 0);
	image_checksum_buf(data, sizeof(data), b);
	cr_assert_str_eq(a, b);
}

Test(image, manifest_round_trip)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
	_cleanup_(image_manifest_freep) struct image_manifest *back = NULL;
	_cleanup_free_ char *json = NULL, *again = NULL;
	const char *reason = NULL;
	size_t len, len2;

	cr_assert_eq(image_manifest_to_json(m, &json, &len), 0);
	cr_assert_eq(strlen(json), len);
	cr_assert_eq(image_manifest_from_json(json, len, &back, &reason), 0, "%s", reason);
	assert_manifest_eq(m, back);

	/* Deterministic: what was read serializes to the same bytes. */
	cr_assert_eq(image_manifest_to_json(back, &again, &len2), 0);
	cr_assert_eq(len, len2);
	cr_assert_str_eq(json, again);
}

Test(image, manifest_store_self_and_null_strings)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
	_cleanup_(image_manifest_freep) struct image_manifest *back = NULL;
	_cleanup_free_ char *json = NULL;
	size_t len;

	m->store = IMAGE_STORE_SELF;
	free(m->exe);
	m->exe = NULL;
	free(m->packs);
	m->packs = NULL;
	m->n_packs = 0;
	cr_assert_eq(image_manifest_to_json(m, &json, &len), 0);
	cr_assert_eq(image_manifest_from_json(json, len, &back, NULL), 0);
	cr_assert_eq(back->store, IMAGE_STORE_SELF);
	cr_assert_str_eq(back->exe, ""); /* NULL is written as "" */
	cr_assert_eq(back->n_packs, 0);
}

Test(image, manifest_members_in_fixed_order)
{
	static const char *const keys[] = {
		"\"format\"",	 "\"tool_version\"", "\"created_ns\"", "\"hostname\"",
		"\"kernel_release\"", "\"boot_id\"", "\"pid\"", "\"uid\"",
		"\"gid\"",	 "\"comm\"",	 "\"exe\"",	   "\"cmdline\"",
		"\"store\"",	 "\"stats\"",	 "\"threads\"",   "\"regions\"",
		"\"files\"",	 "\"pages\"",	 "\"pages_stored\"", "\"bytes_written\"",
		"\"freeze_ns\"", "\"wall_ns\"",	 "\"packs\"",	   "\"files\"",
		"\"name\"",	 "\"size\"",	 "\"xxh128\"",	   "\"checksum\"",
	};
	_cleanup_free_ char *json = sample_json(NULL);
	const char *p = json;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		p = strstr(p, keys[i]);
		cr_assert_not_null(p, "%s missing or out of order", keys[i]);
		p += strlen(keys[i]);
	}
}

Test(image, manifest_flipped_bytes_are_caught)
{
	_cleanup_(image_manifest_freep) struct image_manifest *orig = manifest_sample();
	_cleanup_free_ char *json = NULL;
	static const unsigned char masks[] = { 0x01, 0x02, 0x20, 0x80 };
	const char *format_digit;
	size_t len, caught = 0, tried = 0;

	cr_assert_eq(image_manifest_to_json(orig, &json, &len), 0);
	format_digit = strstr(json, "\"format\":");
	cr_assert_not_null(format_digit);
	format_digit = strchr(format_digit, '1');

	for (size_t i = 0; i < len; i++)
		for (size_t k = 0; k < ELEMENTSOF(masks); k++) {
			_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
			_cleanup_free_ char *bad = strndup(json, len);
			const char *reason = NULL;
			int r;

			bad[i] ^= (char) masks[k];
			r = image_manifest_from_json(bad, len, &m, &reason);
			tried++;
			if (r == 0) {
				/* Only a changed space between tokens may go unnoticed. */
				cr_assert(isspace((unsigned char) json[i]),
					  "flip %#x at %zu ('%c') accepted", masks[k], i, json[i]);
				assert_manifest_eq(orig, m);
				continue;
			}
			caught++;
			cr_assert_not_null(reason);
			cr_assert(string_has_prefix(reason, "manifest.json: "), "%s", reason);
			if (r == -EPROTO)
				cr_assert_eq(json + i, format_digit, "-EPROTO from byte %zu", i);
			else
				cr_assert_eq(r, -EBADMSG, "r=%d at %zu: %s", r, i, reason);
		}
	cr_assert_gt(caught, tried * 9 / 10);
}

Test(image, manifest_value_change_is_a_checksum_mismatch)
{
	_cleanup_free_ char *json = sample_json(NULL);
	_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
	const char *reason = NULL;
	char *p = strstr(json, "4242");

	cr_assert_not_null(p);
	p[3] = '3'; /* pid 4243: valid JSON, valid value, wrong checksum */
	cr_assert_eq(image_manifest_from_json(json, strlen(json), &m, &reason), -EBADMSG);
	cr_assert_str_eq(reason, "manifest.json: checksum mismatch (the image is damaged)");
	cr_assert_null(m);
}

Test(image, manifest_newer_format_is_eproto_even_when_damaged)
{
	_cleanup_free_ char *json = sample_json(NULL);
	_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
	const char *reason = NULL;
	char *p = strstr(json, "\"format\":");

	cr_assert_not_null(p);
	p = strchr(p, '1');
	*p = '9';
	/* Break more than the format: a newer writer may change anything. */
	p = strstr(json, "\"pid\":");
	memcpy(p, "\"xyz\"", 5);
	cr_assert_eq(image_manifest_from_json(json, strlen(json), &m, &reason), -EPROTO);
	cr_assert_not_null(strstr(reason, "newer than this ckptd reads (3)"), "%s", reason);
}

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)

/*
 * Sets (or with value NULL deletes) a member, "stats.x" for a nested one, and
 * re-seals the checksum the way a writer would, so only the parser's checks remain.
 */
static char *edit_json(const char *json, const char *path, const char *value)
{
	json_object *root = json_tokener_parse(json), *parent = root;
	const char *dot = strchr(path, '.'), *text;
	char sum[IMAGE_HASH_HEX];
	char *out;

	cr_assert_not_null(root);
	json_object_object_del(root, "checksum");
	if (dot) {
		_cleanup_free_ char *head = strndup(path, (size_t) (dot - path));

		cr_assert(json_object_object_get_ex(root, head, &parent));
		path = dot + 1;
	}
	if (value) {
		json_object *v = json_tokener_parse(value);

		cr_assert(v || strcmp(value, "null") == 0, "bad test value %s", value);
		cr_assert_eq(json_object_object_add(parent, path, v), 0);
	} else {
		json_object_object_del(parent, path);
	}
	text = json_object_to_json_string_ext(root, JSON_FLAGS);
	image_checksum_buf(text, strlen(text), sum);
	json_object_object_add(root, "checksum", json_object_new_string(sum));
	out = strdup(json_object_to_json_string_ext(root, JSON_FLAGS));
	json_object_put(root);
	return out;
}

#define HASH "0123456789abcdef0123456789abcdef"
#define FILE_ENTRY(name) "[{\"name\":" name ",\"size\":1,\"xxh128\":\"" HASH "\"}]"
#define WHY(member, what) "manifest.json: member \"" member "\" " what
#define BAD_NAME WHY("files[].name", "is not a plain file name")
#define BAD_PACK WHY("packs[]", "is not a 16-digit hex pack id")
#define BAD_HASH WHY("files[].xxh128", "is not 32 lowercase hex digits")

Test(image, manifest_strict_members)
{
	static const struct {
		const char *path;
		const char *value; /* NULL: delete the member */
		const char *reason;
	} cases[] = {
		{ "pid", "\"4242\"", WHY("pid", "is not an integer") },
		{ "pid", "4242.0", WHY("pid", "is not an integer") },
		{ "pid", "null", WHY("pid", "is not an integer") },
		{ "pid", "0", WHY("pid", "is out of range") },
		{ "pid", "-1", WHY("pid", "is out of range") },
		{ "pid", "2147483648", WHY("pid", "is out of range") },
		{ "pid", NULL, WHY("pid", "is missing") },
		{ "uid", "4294967295", WHY("uid", "is out of range") },
		{ "gid", "true", WHY("gid", "is not an integer") },
		{ "created_ns", "-5", WHY("created_ns", "is out of range") },
		{ "created_ns", "9223372036854775808", WHY("created_ns", "is out of range") },
		{ "created_ns", "18446744073709551615", WHY("created_ns", "is out of range") },
		{ "hostname", "5", WHY("hostname", "is not a string") },
		{ "hostname", "\"a\\u0000b\"", WHY("hostname", "is too long or holds a NUL byte") },
		{ "comm", NULL, WHY("comm", "is missing") },
		{ "store", "\"other\"", WHY("store", "is neither \"self\" nor \"job\"") },
		{ "store", "\"self\\u0000\"", WHY("store", "is neither \"self\" nor \"job\"") },
		{ "stats", "[]", WHY("stats", "is not an object") },
		{ "stats.pages", "\"1\"", WHY("stats.pages", "is not an integer") },
		{ "stats.wall_ns", NULL, WHY("stats.wall_ns", "is missing") },
		{ "packs", "{}", WHY("packs", "is not an array") },
		{ "packs", "[\"a3\"]", BAD_PACK },
		{ "packs", "[\"00000000000000A3\"]", BAD_PACK },
		{ "packs", "[163]", BAD_PACK },
		{ "files", "\"core.elf\"", WHY("files", "is not an array") },
		{ "files", "[1]", WHY("files[]", "is not an object") },
		{ "files", "[{\"size\":1,\"xxh128\":\"" HASH "\"}]",
		  WHY("files[].name", "is missing") },
		{ "files", FILE_ENTRY("\"\""), BAD_NAME },
		{ "files", FILE_ENTRY("\"..\""), BAD_NAME },
		{ "files", FILE_ENTRY("\".x\""), BAD_NAME },
		{ "files", FILE_ENTRY("\"a/b\""), BAD_NAME },
		{ "files", FILE_ENTRY("\"/etc\""), BAD_NAME },
		{ "files", FILE_ENTRY("\"manifest.json\""), BAD_NAME },
		{ "files", "[{\"name\":\"a\",\"size\":-1,\"xxh128\":\"" HASH "\"}]",
		  WHY("files[].size", "is out of range") },
		{ "files", "[{\"name\":\"a\",\"size\":1,\"xxh128\":\"0123\"}]", BAD_HASH },
		{ "files",
		  "[{\"name\":\"a\",\"size\":1,\"xxh128\":\"0123456789ABCDEF0123456789abcdef\"}]",
		  BAD_HASH },
		{ "files",
		  "[{\"name\":\"a\",\"size\":1,\"xxh128\":\"" HASH "\"},"
		  "{\"name\":\"b\",\"size\":1,\"xxh128\":\"" HASH "\"},"
		  "{\"name\":\"a\",\"size\":2,\"xxh128\":\"" HASH "\"}]",
		  WHY("files", "lists a file twice") },
	};
	_cleanup_free_ char *json = sample_json(NULL);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *bad = edit_json(json, cases[i].path, cases[i].value);
		_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
		const char *reason = NULL;
		int r = image_manifest_from_json(bad, strlen(bad), &m, &reason);

		cr_assert_eq(r, -EBADMSG, "case %zu (%s): r=%d", i, cases[i].path, r);
		cr_assert_str_eq(reason, cases[i].reason, "case %zu", i);
		cr_assert_null(m);
	}
}

Test(image, manifest_counts_have_limits)
{
	_cleanup_free_ char *json = sample_json(NULL);
	size_t n = 65537, size = n * 20 + 3;
	_cleanup_free_ char *packs = malloc(size), *bad = NULL;
	_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
	const char *reason = NULL;
	char *p = packs;

	*p++ = '[';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"%016zx\"", i ? "," : "", i);
	strcpy(p, "]");
	bad = edit_json(json, "packs", packs);
	cr_assert_eq(image_manifest_from_json(bad, strlen(bad), &m, &reason), -EBADMSG);
	cr_assert_str_eq(reason, WHY("packs", "has too many entries"));

	/* One fewer is fine. */
	packs[strlen(packs) - 20] = ']';
	packs[strlen(packs) - 19] = 0;
	free(bad);
	bad = edit_json(json, "packs", packs);
	cr_assert_eq(image_manifest_from_json(bad, strlen(bad), &m, &reason), 0, "%s", reason);
	cr_assert_eq(m->n_packs, 65536);
	cr_assert_eq(m->packs[65535], 65535);
}

Test(image, manifest_unknown_members_are_ignored)
{
	_cleanup_free_ char *json = sample_json(NULL);
	_cleanup_free_ char *more = edit_json(json, "future", "{\"x\":[1,2,3]}");
	_cleanup_free_ char *more2 = edit_json(more, "stats.future_ns", "5");
	_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
	_cleanup_(image_manifest_freep) struct image_manifest *orig = manifest_sample();

	cr_assert_eq(image_manifest_from_json(more2, strlen(more2), &m, NULL), 0);
	assert_manifest_eq(orig, m);
}

Test(image, manifest_malformed_text)
{
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
		{ "", "manifest.json: not valid JSON (the image is damaged)" },
		{ "{", "manifest.json: not valid JSON (the image is damaged)" },
		{ "{\"format\": 1} x", "manifest.json: not valid JSON (the image is damaged)" },
		{ "{\"format\": 01}", "manifest.json: not valid JSON (the image is damaged)" },
		/* json-c takes {'format': 1} even in strict mode; harmless, the checksum covers
		 * the re-serialized (double-quoted) form. */
		{ "{\"format\": 1} /* */", "manifest.json: not valid JSON (the image is damaged)" },
		{ "[1]", "manifest.json: not a JSON object" },
		{ "{}", "manifest.json: member \"format\" is missing" },
		{ "{\"format\": \"1\"}", "manifest.json: member \"format\" is not an integer" },
		{ "{\"format\": 0}", "manifest.json: member \"format\" is out of range" },
		{ "{\"format\": 1}", "manifest.json: member \"checksum\" is missing" },
		{ "{\"format\": 1, \"checksum\": 7}",
		  "manifest.json: member \"checksum\" is not a string" },
		{ "{\"format\": 1, \"checksum\": \"nope\"}",
		  "manifest.json: checksum mismatch (the image is damaged)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
		const char *reason = NULL;

		cr_assert_eq(image_manifest_from_json(cases[i].text, strlen(cases[i].text), &m,
						      &reason),
			     -EBADMSG, "case %zu", i);
		cr_assert_str_eq(reason, cases[i].reason, "case %zu", i);
	}

	/* A NUL byte inside the buffer. */
	{
		_cleanup_free_ char *json = sample_json(NULL);
		_cleanup_(image_manifest_freep) struct image_manifest *m = NULL;
		const char *reason = NULL;
		size_t len = strlen(json);

		json[len - 1] = 0; /* the final newline */
		cr_assert_eq(image_manifest_from_json(json, len, &m, &reason), -EBADMSG);
		cr_assert_str_eq(reason, "manifest.json: holds a NUL byte (the image is damaged)");
	}
}

Test(image, manifest_writer_refuses_what_reader_would)
{
	char *json = NULL;
	size_t len;

	{
		_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
		m->created_ns = (uint64_t) INT64_MAX + 1;
		cr_assert_eq(image_manifest_to_json(m, &json, &len), -ERANGE);
	}
	{
		_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
		m->stats.pages = UINT64_MAX;
		cr_assert_eq(image_manifest_to_json(m, &json, &len), -ERANGE);
	}
	{
		_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
		m->pid = 0;
		cr_assert_eq(image_manifest_to_json(m, &json, &len), -EINVAL);
	}
	{
		_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
		free(m->files[0].name);
		m->files[0].name = strdup("../core.elf");
		cr_assert_eq(image_manifest_to_json(m, &json, &len), -EINVAL);
	}
	{
		_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
		m->comm = realloc(m->comm, 1000);
		memset(m->comm, 'x', 999);
		m->comm[999] = 0;
		cr_assert_eq(image_manifest_to_json(m, &json, &len), -E2BIG);
	}
	cr_assert_null(json);
}

/* Writer and reader on disk. */

static char **list_dir(int dfd, const char *path, size_t *ret_n)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	cr_assert_geq(fd, 0, "%s: %m", path);
	d = fdopendir(fd);
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	*ret_n = n;
	return names;
}

static int compare_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Asserts that dfd/path holds exactly the given names (NULL-terminated). */
static void assert_dir_is(int dfd, const char *path, const char *const *want)
{
	size_t n, n_want = 0;
	char **names;
	const char *sorted[16];

	names = list_dir(dfd, path, &n);
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_str);
	while (want[n_want]) {
		cr_assert_lt(n_want, ELEMENTSOF(sorted));
		sorted[n_want] = want[n_want];
		n_want++;
	}
	qsort(sorted, n_want, sizeof(*sorted), compare_str);
	cr_assert_eq(n, n_want, "%s: %zu entries, want %zu (first: %s)", path, n, n_want,
		     n ? names[0] : "-");
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(names[i], sorted[i], "%s", path);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ".NAME.tmp-PID", in a static buffer. */
static const char *tmp_name(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), ".%s.tmp-%d", name, (int) getpid());
	return buf;
}

/* write_file_atomic_at() takes a name in a directory, so open the directory first. */
static void write_at(int dfd, const char *path, const char *content)
{
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_close_ int fd = -EBADF;
	char *slash = strrchr(dir, '/');
	const char *name = path;

	if (slash) {
		*slash = 0;
		name = path + (slash - dir) + 1;
		fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cr_assert_geq(fd, 0, "%s: %m", dir);
		dfd = fd;
	}
	cr_assert_eq(write_file_atomic_at(dfd, name, content, strlen(content), 0600), 0, "%s",
		     path);
}

static void mkdir_at(int dfd, const char *path)
{
	cr_assert_eq(mkdirat(dfd, path, 0700), 0, "%s: %m", path);
}

/*
 * Writes a committed image at dfd/name: core.elf, pages.idx, and with store
 * SELF a packs/ directory holding pack 0xa3.
 */
static void write_image(int dfd, const char *name, enum image_store store)
{
	_cleanup_(image_writer_freep) struct image_writer *w = NULL;
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
	static char core[10000];

	for (size_t i = 0; i < sizeof(core); i++)
		core[i] = (char) i;
	m->store = store;
	m->n_packs = 1;
	m->packs[0] = 0xa3;
	cr_assert_eq(image_writer_new(dfd, name, &w), 0);
	cr_assert_eq(image_writer_add(w, IMAGE_CORE, core, sizeof(core)), 0);
	cr_assert_eq(image_writer_add(w, IMAGE_PAGES, "page index", 10), 0);
	if (store == IMAGE_STORE_SELF) {
		mkdir_at(image_writer_dfd(w), "packs");
		write_at(image_writer_dfd(w), "packs/00000000000000a3.pack", "pack data");
	}
	cr_assert_eq(image_writer_commit(w, m), 0);
	cr_assert_eq(m->format, IMAGE_FORMAT_BASE);
	cr_assert_eq(m->n_files, 2);
	cr_assert_str_eq(m->files[0].name, IMAGE_CORE);
	cr_assert_eq(m->files[0].size, sizeof(core));
	cr_assert_str_eq(m->files[1].name, IMAGE_PAGES);
	cr_assert_eq(m->files[1].size, 10);
}

Test(image, writer_commit_creates_exactly_the_image)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_free_ char *err = NULL;
	_cleanup_free_ void *buf = NULL;
	struct stat st;
	size_t len;

	write_image(tmp_fd, "000001", IMAGE_STORE_SELF);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "000001", NULL });
	assert_dir_is(tmp_fd, "000001",
		      (const char *[]){ "manifest.json", "core.elf", "pages.idx", "packs", NULL });
	cr_assert_eq(fstatat(tmp_fd, "000001", &st, 0), 0);
	cr_assert_eq(st.st_mode & 07777, 0700);
	cr_assert_eq(fstatat(tmp_fd, "000001/core.elf", &st, 0), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);

	cr_assert_eq(image_open(tmp_fd, "000001", &img, &err), 0, "%s", err);
	cr_assert_eq(img->manifest->n_files, 2);
	cr_assert_eq(img->manifest->store, IMAGE_STORE_SELF);
	cr_assert_eq(image_read_file(img, IMAGE_PAGES, 100, &buf, &len, &err), 0, "%s", err);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(buf, "page index", 10), 0);
	/* The store is the image itself. */
	{
		struct stat a, b;

		cr_assert_eq(fstat(img->dfd, &a), 0);
		cr_assert_eq(fstat(img->store_dfd, &b), 0);
		cr_assert_eq(a.st_ino, b.st_ino);
		cr_assert_neq(img->dfd, img->store_dfd);
		cr_assert(fcntl(img->store_dfd, F_GETFD) & FD_CLOEXEC);
	}
}

Test(image, writer_abort_removes_everything)
{
	struct image_writer *w = NULL;
	struct stat st;

	/* Something outside the image that a symlink inside points to must survive. */
	mkdir_at(tmp_fd, "outside");
	write_at(tmp_fd, "outside/keep", "keep");

	cr_assert_eq(image_writer_new(tmp_fd, "000002", &w), 0);
	cr_assert_eq(image_writer_add(w, IMAGE_CORE, "core", 4), 0);
	mkdir_at(image_writer_dfd(w), "packs");
	mkdir_at(image_writer_dfd(w), "packs/deeper");
	write_at(image_writer_dfd(w), "packs/0000000000000001.pack", "x");
	write_at(image_writer_dfd(w), "packs/deeper/y", "y");
	cr_assert_eq(symlinkat("../../outside", image_writer_dfd(w), "packs/link"), 0);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "outside", tmp_name("000002"), NULL });
	w = image_writer_free(w);
	cr_assert_null(w);

	assert_dir_is(tmp_fd, ".", (const char *[]){ "outside", NULL });
	cr_assert_eq(fstatat(tmp_fd, "outside/keep", &st, 0), 0);
}

Test(image, writer_refuses_non_empty_target_and_leaves_it)
{
	struct image_writer *w = NULL;

	mkdir_at(tmp_fd, "000003");
	write_at(tmp_fd, "000003/precious", "data");
	cr_assert_eq(image_writer_new(tmp_fd, "000003", &w), -ENOTEMPTY);
	cr_assert_null(w);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "000003", NULL });
	assert_dir_is(tmp_fd, "000003", (const char *[]){ "precious", NULL });

	write_at(tmp_fd, "file", "x");
	cr_assert_eq(image_writer_new(tmp_fd, "file", &w), -EEXIST);
	cr_assert_eq(symlinkat("000003", tmp_fd, "link"), 0);
	cr_assert_eq(image_writer_new(tmp_fd, "link", &w), -EEXIST);
	cr_assert_null(w);

	cr_assert_eq(image_writer_new(tmp_fd, "a/b", &w), -EINVAL);
	cr_assert_eq(image_writer_new(tmp_fd, ".hidden", &w), -EINVAL);
	cr_assert_eq(image_writer_new(tmp_fd, "", &w), -EINVAL);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "000003", "file", "link", NULL });
}

Test(image, writer_replaces_empty_target)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_free_ char *err = NULL;

	mkdir_at(tmp_fd, "000004");
	write_image(tmp_fd, "000004", IMAGE_STORE_SELF);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "000004", NULL });
	cr_assert_eq(image_open(tmp_fd, "000004", &img, &err), 0, "%s", err);
}

Test(image, writer_commit_refuses_target_filled_meanwhile)
{
	_cleanup_(image_manifest_freep) struct image_manifest *m = manifest_sample();
	struct image_writer *w = NULL;

	cr_assert_eq(image_writer_new(tmp_fd, "000005", &w), 0);
	cr_assert_eq(image_writer_add(w, IMAGE_CORE, "core", 4), 0);
	mkdir_at(tmp_fd, "000005");
	write_at(tmp_fd, "000005/other", "someone else's");
	cr_assert_eq(image_writer_commit(w, m), -ENOTEMPTY);
	w = image_writer_free(w);
	assert_dir_is(tmp_fd, ".", (const char *[]){ "000005", NULL });
	assert_dir_is(tmp_fd, "000005", (const char *[]){ "other", NULL });
}

Test(image, writer_removes_stale_temporary)
{
	_cleanup_(image_writer_freep) struct image_writer *w = NULL;
	char path[256];

	/* What a crashed run with our pid would have left, nested packs/ included. */
	mkdir_at(tmp_fd, tmp_name("000006"));
	snprintf(path, sizeof(path), "%s/core.elf", tmp_name("000006"));
	write_at(tmp_fd, path, "old");
	snprintf(path, sizeof(path), "%s/packs", tmp_name("000006"));
	mkdir_at(tmp_fd, path);
	snprintf(path, sizeof(path), "%s/packs/0000000000000001.pack", tmp_name("000006"));
	write_at(tmp_fd, path, "old pack");

	cr_assert_eq(image_writer_new(tmp_fd, "000006", &w), 0);
	assert_dir_is(tmp_fd, tmp_name("000006"), (const char *[]){ NULL });
	/* The stale core.elf is gone, so adding it works; twice does not (O_EXCL). */
	cr_assert_eq(image_writer_add(w, IMAGE_CORE, "new", 3), 0);
	cr_assert_eq(image_writer_add(w, IMAGE_CORE, "new", 3), -EEXIST);
}

Test(image, writer_add_refuses_bad_names)
{
	_cleanup_(image_writer_freep) struct image_writer *w = NULL;
	static const char *const bad[] = { "", ".", "..", ".x", "a/b", "/etc/passwd",
					   "manifest.json" };

	cr_assert_eq(image_writer_new(tmp_fd, "000007", &w), 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		cr_assert_eq(image_writer_add(w, bad[i], "x", 1), -EINVAL, "%s", bad[i]);
	assert_dir_is(tmp_fd, tmp_name("000007"), (const char *[]){ NULL });
}

/* image_open() and what it reports. */

static int open_image(const char *path, char **ret_error)
{
	_cleanup_(image_freep) struct image *img = NULL;
	int r = image_open(tmp_fd, path, &img, ret_error);

	if (r >= 0)
		cr_assert_not_null(img);
	else
		cr_assert_null(img);
	return r;
}

static void flip_byte_at(int dfd, const char *path, off_t offset)
{
	_cleanup_close_ int fd = openat(dfd, path, O_RDWR | O_CLOEXEC);
	char c;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, offset), 1);
	c ^= 0x10;
	cr_assert_eq(pwrite(fd, &c, 1, offset), 1);
}

Test(image, open_reports_missing_file)
{
	_cleanup_free_ char *err = NULL;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	cr_assert_eq(unlinkat(tmp_fd, "v/core.elf", 0), 0);
	cr_assert_eq(open_image("v", &err), -EBADMSG);
	cr_assert_str_eq(err, "core.elf is missing (the image is incomplete)");
}

Test(image, open_reports_wrong_size)
{
	_cleanup_free_ char *err = NULL;
	_cleanup_close_ int fd = -EBADF;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	fd = openat(tmp_fd, "v/pages.idx", O_WRONLY | O_APPEND | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "!", 1), 1);
	cr_assert_eq(open_image("v", &err), -EBADMSG);
	cr_assert_str_eq(err,
			 "pages.idx: 11 bytes, but manifest.json says 10 (the image is damaged)");
}

Test(image, open_reports_flipped_byte)
{
	static const off_t offsets[] = { 0, 1, 4095, 4096, 9999 };

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
		_cleanup_free_ char *err = NULL;

		flip_byte_at(tmp_fd, "v/core.elf", offsets[i]);
		cr_assert_eq(open_image("v", &err), -EBADMSG);
		cr_assert_str_eq(err, "core.elf: checksum mismatch (the image is damaged)");
		flip_byte_at(tmp_fd, "v/core.elf", offsets[i]); /* back */
		cr_assert_eq(open_image("v", NULL), 0);
	}
}

Test(image, open_reports_damaged_manifest)
{
	_cleanup_free_ char *err = NULL;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	flip_byte_at(tmp_fd, "v/manifest.json", 200);
	cr_assert_eq(open_image("v", &err), -EBADMSG);
	cr_assert(string_has_prefix(err, "manifest.json: "), "%s", err);
}

Test(image, open_reports_newer_format)
{
	_cleanup_free_ char *err = NULL, *json = NULL;
	char *p;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	cr_assert_eq(read_full_file_at(tmp_fd, "v/manifest.json", 1 << 20, &json, NULL), 0);
	p = strchr(strstr(json, "\"format\":"), '1');
	*p = '7';
	write_at(tmp_fd, "v/manifest.json", json);
	cr_assert_eq(open_image("v", &err), -EPROTO);
	cr_assert_str_eq(err, "image format 7 is newer than this ckptd reads (3)");
}

Test(image, open_reports_missing_pack)
{
	_cleanup_free_ char *err = NULL;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	cr_assert_eq(unlinkat(tmp_fd, "v/packs/00000000000000a3.pack", 0), 0);
	cr_assert_eq(open_image("v", &err), -EBADMSG);
	cr_assert_str_eq(err, "packs/00000000000000a3.pack is missing (the image is incomplete)");
}

Test(image, open_job_store_is_two_levels_up)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_free_ char *err = NULL;
	_cleanup_close_ int versions_fd = -EBADF;
	struct stat a, b;

	/* <job>/versions/000001, with the job's packs/ beside versions/ */
	mkdir_at(tmp_fd, "job");
	mkdir_at(tmp_fd, "job/versions");
	versions_fd = openat(tmp_fd, "job/versions", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(versions_fd, 0);
	write_image(versions_fd, "000001", IMAGE_STORE_JOB);

	cr_assert_eq(open_image("job/versions/000001", &err), -EBADMSG);
	cr_assert_str_eq(err, "packs/00000000000000a3.pack is missing (the image is incomplete)");
	free(err);
	err = NULL;

	mkdir_at(tmp_fd, "job/packs");
	write_at(tmp_fd, "job/packs/00000000000000a3.pack", "pack");
	cr_assert_eq(image_open(tmp_fd, "job/versions/000001", &img, &err), 0, "%s", err);
	cr_assert_eq(img->manifest->store, IMAGE_STORE_JOB);
	cr_assert_eq(fstatat(tmp_fd, "job", &a, 0), 0);
	cr_assert_eq(fstat(img->store_dfd, &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert(fcntl(img->store_dfd, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(img->dfd, F_GETFD) & FD_CLOEXEC);
}

Test(image, open_reports_not_an_image)
{
	_cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;

	cr_assert_eq(open_image("nothing", &e1), -ENOENT);
	cr_assert_str_eq(e1, "nothing: no such image");

	mkdir_at(tmp_fd, "empty");
	cr_assert_eq(open_image("empty", &e2), -ENOENT);
	cr_assert_str_eq(e2, "empty is not a ckptd image (no manifest.json)");

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	cr_assert_eq(symlinkat("v", tmp_fd, "latest"), 0);
	cr_assert_eq(open_image("latest", &e3), -ELOOP);
	cr_assert_str_eq(e3, "latest is a symbolic link, not an image");

	/* The manifest must be a regular file, not a symlink to one. */
	mkdir_at(tmp_fd, "w");
	cr_assert_eq(symlinkat("../v/manifest.json", tmp_fd, "w/manifest.json"), 0);
	cr_assert_eq(open_image("w", &e4), -EBADMSG);
	cr_assert_str_eq(e4, "manifest.json is not a regular file (the image is damaged)");

	/* Neither may a listed file be (a FIFO would block a plain open). */
	cr_assert_eq(unlinkat(tmp_fd, "v/pages.idx", 0), 0);
	cr_assert_eq(mkfifoat(tmp_fd, "v/pages.idx", 0600), 0);
	cr_assert_eq(open_image("v", &e5), -EBADMSG);
	cr_assert_str_eq(e5, "pages.idx is not a regular file (the image is damaged)");
}

Test(image, read_file_checks_again)
{
	_cleanup_(image_freep) struct image *img = NULL;
	_cleanup_free_ char *err = NULL;
	void *buf = NULL;
	size_t len;

	write_image(tmp_fd, "v", IMAGE_STORE_SELF);
	cr_assert_eq(image_open(tmp_fd, "v", &img, &err), 0, "%s", err);

	cr_assert_eq(image_read_file(img, IMAGE_CORE, 10000, &buf, &len, &err), 0, "%s", err);
	cr_assert_eq(len, 10000);
	cr_assert_eq(((unsigned char *) buf)[9999], 9999 & 0xff);
	free(buf);
	buf = NULL;

	cr_assert_eq(image_read_file(img, IMAGE_CORE, 9999, &buf, &len, &err), -E2BIG);
	cr_assert_str_eq(err, "core.elf: 10000 bytes, more than the 9999 allowed");
	free(err);
	err = NULL;

	cr_assert_eq(image_read_file(img, "nope", 100, &buf, &len, &err), -ENOENT);
	cr_assert_str_eq(err, "nope is not listed in manifest.json");
	free(err);
	err = NULL;

	/* Changed after image_open(): same size, one byte different. */
	flip_byte_at(tmp_fd, "v/pages.idx", 3);
	cr_assert_eq(image_read_file(img, IMAGE_PAGES, 100, &buf, &len, &err), -EBADMSG);
	cr_assert_str_eq(err, "pages.idx: checksum mismatch (the image is damaged)");
	free(err);
	err = NULL;

	write_at(tmp_fd, "v/pages.idx", "page index, longer now");
	cr_assert_eq(image_read_file(img, IMAGE_PAGES, 100, &buf, &len, &err), -EBADMSG);
	cr_assert_str_eq(err,
			 "pages.idx: 22 bytes, but manifest.json says 10 (the image is damaged)");
	free(err);
	err = NULL;

	cr_assert_eq(unlinkat(tmp_fd, "v/pages.idx", 0), 0);
	cr_assert_eq(image_read_file(img, IMAGE_PAGES, 100, &buf, &len, &err), -EBADMSG);
	cr_assert_str_eq(err, "pages.idx is missing (the image is incomplete)");
	cr_assert_null(buf);
}
