// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tests for common/varlink.c: NUL framing, strict call parsing, typed
 * parameters, the exact bytes of what we send, and the blocking client
 * against a peer on a socketpair driven from a thread. Also checks that
 * the embedded interface text and docs/protocol.md match io.ckptd.varlink.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "util.h"
#include "varlink.h"

#define SOURCE_ROOT FIXTURES "/../.."

static json_object *json(const char *s)
{
	json_object *o = json_tokener_parse(s);

	cr_assert_not_null(o, "bad JSON in the test itself: %s", s);
	return o;
}

static const char *plain(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- framing ---- */

Test(varlink, reader_split_reads)
{
	struct varlink_reader r;
	const char *msg;
	size_t len;

	varlink_reader_init(&r, 1024);
	cr_assert_eq(varlink_reader_feed(&r, "{\"a\":", 5), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	cr_assert_eq(varlink_reader_feed(&r, "1}", 2), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	cr_assert_eq(varlink_reader_feed(&r, "\0{", 2), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 7);
	cr_assert_str_eq(msg, "{\"a\":1}"); /* NUL-terminated in place */
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	cr_assert_eq(varlink_reader_feed(&r, "}", 1), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	cr_assert_eq(varlink_reader_feed(&r, "\0", 1), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 2);
	cr_assert_str_eq(msg, "{}");
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	varlink_reader_done(&r);
}

Test(varlink, reader_byte_at_a_time)
{
	static const char text[] = "{\"method\":\"io.ckptd.List\"}";
	struct varlink_reader r;
	const char *msg;
	size_t len;

	varlink_reader_init(&r, VARLINK_CALL_MAX);
	for (size_t i = 0; i < sizeof(text); i++) { /* the NUL included */
		cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
		cr_assert_eq(varlink_reader_feed(&r, text + i, 1), 0);
	}
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, sizeof(text) - 1);
	cr_assert_eq(memcmp(msg, text, sizeof(text)), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	varlink_reader_done(&r);
}

Test(varlink, reader_several_in_one_read)
{
	static const char chunk[] = "a\0bb\0\0ccc"; /* "a", "bb", "", then "ccc" incomplete */
	struct varlink_reader r;
	const char *msg;
	size_t len;

	varlink_reader_init(&r, 16);
	cr_assert_eq(varlink_reader_feed(&r, chunk, sizeof(chunk) - 1), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 1);
	cr_assert_str_eq(msg, "a");
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 2);
	cr_assert_str_eq(msg, "bb");
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(msg, "");
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	/* Feeding moves the rest to the front; what was incomplete stays whole. */
	cr_assert_eq(varlink_reader_feed(&r, "d\0", 2), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 4);
	cr_assert_str_eq(msg, "cccd");
	cr_assert_eq(r.start, r.len);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	varlink_reader_done(&r);
}

Test(varlink, reader_empty_message)
{
	struct varlink_reader r;
	const char *msg = NULL;
	size_t len = 99;

	varlink_reader_init(&r, 16);
	cr_assert_eq(varlink_reader_feed(&r, "", 1), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 0);
	cr_assert_eq(msg[0], 0);
	/* Feeding nothing is allowed and changes nothing. */
	cr_assert_eq(varlink_reader_feed(&r, "x", 0), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 0);
	varlink_reader_done(&r);
}

Test(varlink, reader_max_size)
{
	struct varlink_reader r;
	const char *msg;
	size_t len;

	/* Exactly max bytes before the NUL: accepted, in one piece or in two. */
	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "12345678\0", 9), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 8);
	cr_assert_eq(varlink_reader_feed(&r, "1234", 4), 0);
	cr_assert_eq(varlink_reader_feed(&r, "5678", 4), 0);
	cr_assert_eq(varlink_reader_feed(&r, "\0", 1), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_str_eq(msg, "12345678");
	varlink_reader_done(&r);

	/* One more, without its NUL yet: refused as soon as it is known. */
	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "123456789", 9), -E2BIG);
	varlink_reader_done(&r);

	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "12345678", 8), 0);
	cr_assert_eq(varlink_reader_feed(&r, "9", 1), -E2BIG);
	varlink_reader_done(&r);

	/* Complete within one read but too long. */
	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "ok\0123456789\0", 13), -E2BIG);
	varlink_reader_done(&r);

	/* Completed by a later read but too long in all. */
	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "12345", 5), 0);
	cr_assert_eq(varlink_reader_feed(&r, "6789\0", 5), -E2BIG);
	varlink_reader_done(&r);

	/* A long tail after a short message is refused too. */
	varlink_reader_init(&r, 8);
	cr_assert_eq(varlink_reader_feed(&r, "a\0123456789", 11), -E2BIG);
	varlink_reader_done(&r);
}

Test(varlink, reader_holds_at_most_four_times_max)
{
	struct varlink_reader r;
	const char *msg;
	size_t len;

	/* A peer that sends small messages nobody takes cannot make us hold more. */
	varlink_reader_init(&r, 4);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(varlink_reader_feed(&r, "a\0", 2), 0);
	cr_assert_eq(r.len, 16);
	cr_assert_eq(varlink_reader_feed(&r, "a\0", 2), -E2BIG);
	/* Taking them makes room again. */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(varlink_reader_feed(&r, "bc\0", 3), 0);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_str_eq(msg, "bc");
	varlink_reader_done(&r);
}

Test(varlink, reader_gives_back_memory)
{
	_cleanup_free_ char *big = malloc(60000);
	struct varlink_reader r;
	const char *msg;
	size_t len;

	/* After a large message, an idle connection does not keep its buffer. */
	cr_assert_not_null(big);
	memset(big, 'x', 59999);
	big[59999] = 0;
	varlink_reader_init(&r, VARLINK_CALL_MAX);
	cr_assert_eq(varlink_reader_feed(&r, big, 60000), 0);
	cr_assert_geq(r.allocated, 60000);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_eq(len, 59999);
	cr_assert_eq(varlink_reader_feed(&r, "{}\0", 3), 0);
	cr_assert_leq(r.allocated, 4096);
	cr_assert_eq(varlink_reader_next(&r, &msg, &len), 1);
	cr_assert_str_eq(msg, "{}");
	varlink_reader_done(&r);
	cr_assert_null(r.buf);
	cr_assert_eq(r.max, VARLINK_CALL_MAX);
}

/* ---- calls ---- */

struct call_case {
	const char *msg;
	size_t len; /* 0: strlen(msg) */
	int result;
	const char *expect; /* the method, or the reason */
	const char *params;
	bool more, oneway;
};

static void check_call(const struct call_case *c)
{
	struct varlink_call call = { .method = (char *) "untouched" };
	const char *reason = "untouched";
	size_t len = c->len ? c->len : strlen(c->msg);
	int r;

	r = varlink_call_parse(c->msg, len, &call, &reason);
	cr_assert_eq(r, c->result, "%s: %d, expected %d (%s)", c->msg, r, c->result, reason);
	if (r < 0) {
		cr_assert_str_eq(reason, c->expect, "%s: %s", c->msg, reason);
		cr_assert_str_eq(call.method, "untouched");
		return;
	}
	cr_assert_str_eq(reason, "untouched");
	cr_assert_str_eq(call.method, c->expect, "%s", c->msg);
	cr_assert_str_eq(plain(call.parameters), c->params ? c->params : "{}", "%s", c->msg);
	cr_assert_eq(call.more, c->more, "%s", c->msg);
	cr_assert_eq(call.oneway, c->oneway, "%s", c->msg);
	varlink_call_done(&call);
	cr_assert_null(call.method);
	cr_assert_null(call.parameters);
}

#define NOT_OBJECT "the message is not a JSON object"
#define NOT_JSON "the message is not valid JSON"
#define METHOD_MISSING "\"method\" is missing"
#define METHOD_NOT_STRING "\"method\" is not a string"
#define METHOD_BAD "\"method\" is not of the form interface.Method"
#define METHOD_LONG "\"method\" is longer than 256 bytes"
#define PARAMS_BAD "\"parameters\" is not an object"
#define MORE_BAD "\"more\" is not a boolean"
#define ONEWAY_BAD "\"oneway\" is not a boolean"
#define BOTH "\"more\" and \"oneway\" cannot both be true"
#define UNKNOWN "the call has a member other than method, parameters, more and oneway"
#define TRAILING "the message has bytes after its JSON object"

Test(varlink, call_parse_valid)
{
	static const struct call_case cases[] = {
		{ "{\"method\":\"io.ckptd.List\"}", 0, 0, "io.ckptd.List" },
		{ "{\"method\":\"io.ckptd.Watch\",\"parameters\":{\"pid\":1},\"more\":true}", 0, 0,
		  "io.ckptd.Watch", "{\"pid\":1}", true },
		{ "{\"method\":\"org.varlink.service.GetInfo\",\"oneway\":true}", 0, 0,
		  "org.varlink.service.GetInfo", NULL, false, true },
		{ "{\"more\":false,\"oneway\":false,\"parameters\":{},\"method\":\"a.b.C\"}", 0, 0,
		  "a.b.C" },
		{ "{\"method\":\"io.ckptd.Status\",\"more\":false,\"oneway\":true}", 0, 0,
		  "io.ckptd.Status", NULL, false, true },
		{ " \t{\"method\" : \"io.ckptd.List\" }\r\n ", 0, 0, "io.ckptd.List" },
		{ "{\"method\":\"io.ckptd-2.x9.Ping2Pong\"}", 0, 0, "io.ckptd-2.x9.Ping2Pong" },
		{ "{\"method\":\"io.ckptd.Watch\","
		  "\"parameters\":{\"name\":\"s\\u00e9\",\"a\":[[{}]]}}",
		  0, 0, "io.ckptd.Watch", "{\"name\":\"s\u00e9\",\"a\":[[{}]]}" },
		/* A parameter that is null stays: the method treats it as absent. */
		{ "{\"method\":\"io.ckptd.Restore\",\"parameters\":{\"version\":null}}", 0, 0,
		  "io.ckptd.Restore", "{\"version\":null}" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_call(&cases[i]);
}

Test(varlink, call_parse_invalid)
{
	static const struct call_case cases[] = {
		/* not an object, or not JSON at all */
		{ "[]", 0, -EBADMSG, NOT_OBJECT },
		{ "\"io.ckptd.List\"", 0, -EBADMSG, NOT_OBJECT },
		{ "1 ", 0, -EBADMSG, NOT_OBJECT },
		{ "null", 0, -EBADMSG, NOT_OBJECT },
		{ "true ", 0, -EBADMSG, NOT_OBJECT },
		{ "hello", 0, -EBADMSG, NOT_OBJECT },
		{ " \n\t", 0, -EBADMSG, "the message ends in the middle of its JSON" },
		{ "{\"method\":}", 0, -EBADMSG, NOT_JSON },
		{ "{\"method\":\"a.b.C\",}", 0, -EBADMSG, NOT_JSON },
		{ "{\"method\":\"a.b.C\"", 0, -EBADMSG,
		  "the message ends in the middle of its JSON" },
		{ "", 1, -EBADMSG, "the message contains a NUL byte" },
		{ "{\"method\":\"a.b.C\"}\0", 19, -EBADMSG, "the message contains a NUL byte" },
		{ "x", 0, -EBADMSG, NOT_OBJECT },
		/* method */
		{ "{}", 0, -EBADMSG, METHOD_MISSING },
		{ "{\"parameters\":{}}", 0, -EBADMSG, METHOD_MISSING },
		{ "{\"method\":1}", 0, -EBADMSG, METHOD_NOT_STRING },
		{ "{\"method\":null}", 0, -EBADMSG, METHOD_NOT_STRING },
		{ "{\"method\":[\"io.ckptd.List\"]}", 0, -EBADMSG, METHOD_NOT_STRING },
		{ "{\"method\":{}}", 0, -EBADMSG, METHOD_NOT_STRING },
		{ "{\"method\":\"\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"ckptd.List\"}", 0, -EBADMSG, METHOD_BAD }, /* one label */
		{ "{\"method\":\"io.ckptd.list\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io..ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\".io.ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"IO.ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"1o.ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.-ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd-.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.Li st\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.Li-st\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.Li_st\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io/ckptd.List\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.List\\u0000\"}", 0, -EBADMSG, METHOD_BAD },
		{ "{\"method\":\"io.ckptd.Lis\\u00e9\"}", 0, -EBADMSG, METHOD_BAD },
		/* parameters, more, oneway */
		{ "{\"method\":\"a.b.C\",\"parameters\":[]}", 0, -EBADMSG, PARAMS_BAD },
		{ "{\"method\":\"a.b.C\",\"parameters\":\"x\"}", 0, -EBADMSG, PARAMS_BAD },
		{ "{\"method\":\"a.b.C\",\"parameters\":1}", 0, -EBADMSG, PARAMS_BAD },
		{ "{\"method\":\"a.b.C\",\"parameters\":null}", 0, -EBADMSG, PARAMS_BAD },
		{ "{\"method\":\"a.b.C\",\"parameters\":true}", 0, -EBADMSG, PARAMS_BAD },
		{ "{\"method\":\"a.b.C\",\"more\":1}", 0, -EBADMSG, MORE_BAD },
		{ "{\"method\":\"a.b.C\",\"more\":\"true\"}", 0, -EBADMSG, MORE_BAD },
		{ "{\"method\":\"a.b.C\",\"more\":null}", 0, -EBADMSG, MORE_BAD },
		{ "{\"method\":\"a.b.C\",\"oneway\":0}", 0, -EBADMSG, ONEWAY_BAD },
		{ "{\"method\":\"a.b.C\",\"oneway\":{}}", 0, -EBADMSG, ONEWAY_BAD },
		{ "{\"method\":\"a.b.C\",\"more\":true,\"oneway\":true}", 0, -EBADMSG, BOTH },
		/* anything else at the top */
		{ "{\"method\":\"a.b.C\",\"upgrade\":false}", 0, -EBADMSG, UNKNOWN },
		{ "{\"method\":\"a.b.C\",\"Method\":\"a.b.C\"}", 0, -EBADMSG, UNKNOWN },
		{ "{\"method\":\"a.b.C\",\"continues\":true}", 0, -EBADMSG, UNKNOWN },
		{ "{\"method\":\"a.b.C\",\"\":1}", 0, -EBADMSG, UNKNOWN },
		/* trailing garbage; trailing white space is fine (see above) */
		{ "{\"method\":\"a.b.C\"}x", 0, -EBADMSG, TRAILING },
		{ "{\"method\":\"a.b.C\"}{}", 0, -EBADMSG, TRAILING },
		{ "{\"method\":\"a.b.C\"} 1", 0, -EBADMSG, TRAILING },
		{ "{\"method\":\"a.b.C\"}]", 0, -EBADMSG, TRAILING },
		/* invalid UTF-8 is refused, wherever it is */
		{ "{\"method\":\"a.b.C\",\"parameters\":{\"name\":\"\xff\"}}", 0, -EBADMSG,
		  "the message is not valid UTF-8" },
		{ "{\"method\":\"a.b.C\",\"parameters\":{\"name\":\"\xc3\"}}", 0, -EBADMSG,
		  "the message is not valid UTF-8" },
		/* json-c lets an encoded surrogate through: harmless, and it must not crash. */
		{ "{\"method\":\"a.b.C\",\"parameters\":{\"\xed\xa0\x80\":1}}", 0, 0, "a.b.C",
		  "{\"\xed\xa0\x80\":1}" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_call(&cases[i]);
}

Test(varlink, call_parse_empty_and_too_long)
{
	_cleanup_free_ char *big = malloc(VARLINK_CALL_MAX + 2);
	struct call_case c = { "", 0, -EBADMSG, "the message is empty" };
	struct varlink_call call;
	const char *reason = NULL;
	size_t n;

	cr_assert_eq(varlink_call_parse("", 0, &call, &reason), -EBADMSG);
	cr_assert_str_eq(reason, "the message is empty");

	/* A valid call padded with spaces to exactly the limit, then one byte more. */
	cr_assert_not_null(big);
	n = (size_t) sprintf(big, "{\"method\":\"io.ckptd.List\"}");
	memset(big + n, ' ', VARLINK_CALL_MAX + 1 - n);
	big[VARLINK_CALL_MAX + 1] = 0;
	c.msg = big;
	c.len = VARLINK_CALL_MAX;
	c.result = 0;
	c.expect = "io.ckptd.List";
	check_call(&c);
	c.len = VARLINK_CALL_MAX + 1;
	c.result = -EBADMSG;
	c.expect = "the message is too long";
	check_call(&c);
}

Test(varlink, call_parse_method_length)
{
	char method[300], msg[400];
	struct call_case c = { msg, 0, 0, method };

	/* "io.c" + "k" * n + ".List": 256 bytes is the most a method may have. */
	for (size_t total = 255; total <= 257; total++) {
		size_t fill = total - strlen("io.c.List");

		strcpy(method, "io.c");
		memset(method + 4, 'k', fill);
		strcpy(method + 4 + fill, ".List");
		cr_assert_eq(strlen(method), total);
		snprintf(msg, sizeof(msg), "{\"method\":\"%s\"}", method);
		c.result = total <= 256 ? 0 : -EBADMSG;
		c.expect = total <= 256 ? method : METHOD_LONG;
		check_call(&c);
	}
}

Test(varlink, call_parse_depth)
{
	char msg[512];
	struct call_case c = { msg, 0, 0, "a.b.C" };
	size_t n;

	/* The call, its parameters, and arrays inside: 28 arrays is 30 levels, fine. */
	for (int depth = 28; depth <= 40; depth += 12) {
		n = (size_t) sprintf(msg, "{\"method\":\"a.b.C\",\"parameters\":{\"x\":");
		for (int i = 0; i < depth; i++)
			msg[n++] = '[';
		for (int i = 0; i < depth; i++)
			msg[n++] = ']';
		strcpy(msg + n, "}}");
		c.result = depth < 30 ? 0 : -EBADMSG;
		c.expect = depth < 30 ? "a.b.C" : "the message is nested too deeply";
		if (c.result == 0) {
			struct varlink_call call;
			const char *reason;

			cr_assert_eq(varlink_call_parse(msg, strlen(msg), &call, &reason), 0);
			cr_assert_str_eq(call.method, "a.b.C");
			varlink_call_done(&call);
		} else
			check_call(&c);
	}
}

/* ---- typed parameters ---- */

static const char params_json[] =
	"{\"s\":\"abc\",\"e\":\"\",\"nul\":\"a\\u0000b\",\"i\":42,\"neg\":-5,\"zero\":0,"
	"\"max\":9223372036854775807,\"min\":-9223372036854775808,"
	"\"huge\":18446744073709551615,\"d\":1.0,\"exp\":1e3,\"si\":\"42\","
	"\"t\":true,\"f\":false,\"sb\":\"true\",\"n\":null,\"o\":{},\"a\":[]}";

Test(varlink, param_string)
{
	static const struct {
		const char *name;
		bool required;
		size_t max_len;
		int result;
		const char *value;
	} cases[] = {
		{ "s", false, 10, 1, "abc" },
		{ "s", true, 3, 1, "abc" },
		{ "s", true, 2, -ERANGE },
		{ "e", true, 0, 1, "" },
		{ "missing", false, 10, 0 },
		{ "missing", true, 10, -EINVAL },
		{ "n", false, 10, 0 },
		{ "n", true, 10, -EINVAL },
		{ "nul", false, 10, -ERANGE },
		{ "i", false, 10, -EINVAL },
		{ "t", false, 10, -EINVAL },
		{ "o", false, 10, -EINVAL },
		{ "a", false, 10, -EINVAL },
		{ "S", false, 10, 0 }, /* names are case-sensitive */
	};
	json_object *p = json(params_json);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const char *v = "untouched";
		int r = varlink_param_string(p, cases[i].name, cases[i].required, cases[i].max_len,
					     &v);

		cr_assert_eq(r, cases[i].result, "%s: %d", cases[i].name, r);
		cr_assert_str_eq(v, r == 1 ? cases[i].value : "untouched", "%s", cases[i].name);
	}
	json_object_put(p);
}

Test(varlink, param_int)
{
	static const struct {
		const char *name;
		bool required;
		int64_t min, max;
		int result;
		int64_t value;
	} cases[] = {
		{ "i", false, 0, 100, 1, 42 },
		{ "i", true, 42, 42, 1, 42 },
		{ "i", true, 0, 41, -EINVAL },
		{ "i", true, 43, 100, -EINVAL },
		{ "neg", false, 0, 100, -EINVAL },
		{ "neg", false, -10, 0, 1, -5 },
		{ "zero", false, 0, 0, 1, 0 },
		{ "zero", false, 1, 10, -EINVAL },
		{ "max", false, INT64_MIN, INT64_MAX, 1, INT64_MAX },
		{ "min", false, INT64_MIN, INT64_MAX, 1, INT64_MIN },
		{ "huge", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "d", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "exp", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "si", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "t", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "s", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "o", false, INT64_MIN, INT64_MAX, -EINVAL },
		{ "missing", false, 0, 1, 0 },
		{ "missing", true, 0, 1, -EINVAL },
		{ "n", false, 0, 1, 0 },
		{ "n", true, 0, 1, -EINVAL },
	};
	json_object *p = json(params_json);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int64_t v = 7777;
		int r = varlink_param_int(p, cases[i].name, cases[i].required, cases[i].min,
					  cases[i].max, &v);

		cr_assert_eq(r, cases[i].result, "%s: %d", cases[i].name, r);
		cr_assert_eq(v, r == 1 ? cases[i].value : 7777, "%s", cases[i].name);
	}
	json_object_put(p);
}

Test(varlink, param_bool)
{
	static const struct {
		const char *name;
		bool required;
		int result;
		bool value;
	} cases[] = {
		{ "t", true, 1, true },	    { "f", true, 1, false },
		{ "sb", false, -EINVAL },   { "i", false, -EINVAL },
		{ "zero", false, -EINVAL }, { "o", false, -EINVAL },
		{ "missing", false, 0 },    { "missing", true, -EINVAL },
		{ "n", false, 0 },	    { "n", true, -EINVAL },
	};
	json_object *p = json(params_json);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		bool v = true;
		int r;

		if (cases[i].result != 1 || cases[i].value)
			v = false; /* so that a write shows */
		r = varlink_param_bool(p, cases[i].name, cases[i].required, &v);
		cr_assert_eq(r, cases[i].result, "%s: %d", cases[i].name, r);
		if (r == 1)
			cr_assert_eq(v, cases[i].value, "%s", cases[i].name);
		else
			cr_assert_eq(v, false, "%s written on failure", cases[i].name);
	}
	json_object_put(p);
}

Test(varlink, param_absent_object)
{
	const char *s = "untouched";
	int64_t i = 1;
	bool b = true;

	/* No parameters at all reads as every member absent. */
	cr_assert_eq(varlink_param_string(NULL, "s", false, 10, &s), 0);
	cr_assert_eq(varlink_param_string(NULL, "s", true, 10, &s), -EINVAL);
	cr_assert_eq(varlink_param_int(NULL, "i", false, 0, 9, &i), 0);
	cr_assert_eq(varlink_param_bool(NULL, "b", true, &b), -EINVAL);
	cr_assert_str_eq(s, "untouched");
	cr_assert_eq(i, 1);
	cr_assert_eq(b, true);
}

Test(varlink, params_only)
{
	static const char *const watch[] = { "pid", "name", "interval_ns", "keep",
					     "restore_on_boot", NULL };
	static const char *const none[] = { NULL };
	static const struct {
		const char *params;
		const char *const *allowed;
		int result;
		const char *unknown;
	} cases[] = {
		{ "{}", watch, 0 },
		{ "{}", none, 0 },
		{ "{\"pid\":1,\"name\":\"x\",\"keep\":2}", watch, 0 },
		{ "{\"pid\":1,\"name\":null}", watch, 0 },
		{ "{\"pid\":1,\"every\":2}", watch, -EINVAL, "every" },
		{ "{\"Pid\":1}", watch, -EINVAL, "Pid" },
		{ "{\"pid\":1}", none, -EINVAL, "pid" },
		{ "{\"\":1}", watch, -EINVAL, "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		json_object *p = json(cases[i].params);
		const char *unknown = "untouched";
		int r = varlink_params_only(p, cases[i].allowed, &unknown);

		cr_assert_eq(r, cases[i].result, "%s", cases[i].params);
		cr_assert_str_eq(unknown, cases[i].unknown ? cases[i].unknown : "untouched", "%s",
				 cases[i].params);
		json_object_put(p);
	}
}

/* ---- formatting ---- */

/* got and got_len by address: C does not say whether they are read before r is computed. */
static void assert_bytes(int r, char **pgot, size_t *pgot_len, const char *want)
{
	char *got = *pgot;
	size_t got_len = *pgot_len;

	cr_assert_eq(r, 0);
	cr_assert_eq(got_len, strlen(want) + 1, "length %zu for %s", got_len, want);
	cr_assert_eq(memcmp(got, want, got_len), 0, "got %s, expected %s", got, want);
	cr_assert_eq(got[got_len - 1], 0);
	free(got);
}

Test(varlink, format_reply)
{
	char *m = NULL;
	size_t n = 0;

	assert_bytes(varlink_format_reply(json("{\"a\":1}"), false, &m, &n), &m, &n,
		     "{\"parameters\":{\"a\":1}}");
	assert_bytes(varlink_format_reply(NULL, false, &m, &n), &m, &n, "{\"parameters\":{}}");
	assert_bytes(varlink_format_reply(json("{\"progress\":{\"phase\":\"memory\",\"done\":1,"
					       "\"total\":2}}"),
					  true, &m, &n),
		     &m, &n,
		     "{\"parameters\":{\"progress\":{\"phase\":\"memory\",\"done\":1,\"total\":2}},"
		     "\"continues\":true}");
	/* Slashes stay as they are; control characters and quotes are escaped. */
	assert_bytes(varlink_format_reply(json("{\"p\":\"/run/ckptd\",\"q\":\"a\\\"b\\n\\u0000\"}"),
					  false, &m, &n),
		     &m, &n, "{\"parameters\":{\"p\":\"/run/ckptd\",\"q\":\"a\\\"b\\n\\u0000\"}}");
	m = NULL;
	cr_assert_eq(varlink_format_reply(json("[1]"), false, &m, &n), -EINVAL);
	cr_assert_null(m);
}

Test(varlink, format_error)
{
	char *m = NULL;
	size_t n = 0;

	assert_bytes(varlink_format_error("io.ckptd.NoSuchJob",
					  json("{\"name\":\"sim\","
					       "\"message\":\"no job \\\"sim\\\"\"}"),
					  &m, &n),
		     &m, &n,
		     "{\"error\":\"io.ckptd.NoSuchJob\",\"parameters\":{\"name\":\"sim\","
		     "\"message\":\"no job \\\"sim\\\"\"}}");
	assert_bytes(varlink_format_error("org.varlink.service.ExpectedMore", NULL, &m, &n), &m, &n,
		     "{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}");
	m = NULL;
	cr_assert_eq(varlink_format_error("NoSuchJob", json("{}"), &m, &n), -EINVAL);
	cr_assert_eq(varlink_format_error("io.ckptd.noSuchJob", NULL, &m, &n), -EINVAL);
	cr_assert_eq(varlink_format_error(NULL, NULL, &m, &n), -EINVAL);
	cr_assert_eq(varlink_format_error("io.ckptd.Busy", json("\"x\""), &m, &n), -EINVAL);
	cr_assert_null(m);
}

Test(varlink, format_call)
{
	struct varlink_call call;
	const char *reason;
	char *m = NULL;
	size_t n = 0;

	assert_bytes(varlink_format_call("io.ckptd.List", NULL, false, &m, &n), &m, &n,
		     "{\"method\":\"io.ckptd.List\",\"parameters\":{}}");
	assert_bytes(varlink_format_call("io.ckptd.Snapshot", json("{\"name\":\"sim\"}"), true, &m,
					 &n),
		     &m, &n,
		     "{\"method\":\"io.ckptd.Snapshot\",\"parameters\":{\"name\":\"sim\"},"
		     "\"more\":true}");

	/* What we send, we accept. */
	cr_assert_eq(varlink_format_call("io.ckptd.Watch",
					 json("{\"pid\":4242,\"name\":\"sim\",\"keep\":6}"),
					 true, &m, &n),
		     0);
	cr_assert_eq(varlink_call_parse(m, n - 1, &call, &reason), 0);
	cr_assert_str_eq(call.method, "io.ckptd.Watch");
	cr_assert_str_eq(plain(call.parameters), "{\"pid\":4242,\"name\":\"sim\",\"keep\":6}");
	cr_assert(call.more);
	cr_assert_not(call.oneway);
	varlink_call_done(&call);
	free(m);

	m = NULL;
	cr_assert_eq(varlink_format_call("io.ckptd.list", NULL, false, &m, &n), -EINVAL);
	cr_assert_eq(varlink_format_call("io.ckptd.List", json("[]"), false, &m, &n), -EINVAL);
	cr_assert_null(m);
}

/* ---- the client against a scripted peer ---- */

struct peer {
	int fd;
	const char *script; /* written after the call arrives */
	size_t script_len;
	size_t chunk;	     /* write in pieces this big; 0: at once */
	size_t flood;	     /* then this many 'a's without a NUL */
	bool close_first;    /* hang up before reading anything */
	char call[4096];
	size_t call_len;
	int fds[PASS_FDS_MAX]; /* passed with the call */
	size_t n_fds;
};

static void *peer_run(void *userdata)
{
	struct peer *p = userdata;
	char buf[4096];

	if (p->close_first) {
		(void) close(TAKE_FD(p->fd));
		return NULL;
	}
	/* Read the call up to its NUL. */
	while (p->call_len == 0 || p->call[p->call_len - 1] != 0) {
		size_t got = 0;
		ssize_t n = recv_with_fds(p->fd, p->call + p->call_len,
					  sizeof(p->call) - p->call_len, p->fds + p->n_fds,
					  PASS_FDS_MAX - p->n_fds, &got);

		if (n <= 0)
			goto done;
		p->n_fds += got;
		p->call_len += (size_t) n;
	}
	for (size_t off = 0; off < p->script_len;) {
		size_t k = p->chunk ? MIN(p->chunk, p->script_len - off) : p->script_len - off;
		ssize_t n = send(p->fd, p->script + off, k, MSG_NOSIGNAL);

		if (n <= 0)
			goto done;
		off += (size_t) n;
	}
	memset(buf, 'a', sizeof(buf));
	for (size_t left = p->flood; left > 0;) {
		ssize_t n = send(p->fd, buf, MIN(left, sizeof(buf)), MSG_NOSIGNAL);

		if (n <= 0)
			break; /* the client gave up on us, as it should */
		left -= (size_t) n;
	}
done:
	(void) close(TAKE_FD(p->fd));
	return NULL;
}

struct seen {
	int count;
	int stop_after; /* return -ECANCELED from this reply on; 0: never */
	bool continues[8];
	char error[128];
	char params[8][512];
};

static int on_reply(const struct varlink_reply *r, void *userdata)
{
	struct seen *s = userdata;

	cr_assert_lt(s->count, 8);
	cr_assert_not_null(r->parameters);
	s->continues[s->count] = r->continues;
	snprintf(s->params[s->count], sizeof(s->params[0]), "%s", plain(r->parameters));
	if (r->error)
		snprintf(s->error, sizeof(s->error), "%s", r->error);
	s->count++;
	return s->stop_after && s->count >= s->stop_after ? -ECANCELED : 0;
}

/* Runs one call against a peer following the script; returns the call's result. */
static int run_client(struct peer *p, const char *method, const char *params, bool more,
		      struct seen *s)
{
	json_object *o = params ? json(params) : NULL;
	pthread_t t;
	int sv[2], r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->fd = sv[1];
	cr_assert_eq(pthread_create(&t, NULL, peer_run, p), 0);
	if (p->close_first)
		cr_assert_eq(pthread_join(t, NULL), 0);
	r = varlink_client_call(sv[0], method, o, more, on_reply, s);
	(void) close(sv[0]);
	if (!p->close_first)
		cr_assert_eq(pthread_join(t, NULL), 0);
	/* The caller keeps its parameters. */
	if (o)
		cr_assert_eq(json_object_put(o), 1);
	return r;
}

#define S(x) x, sizeof(x) - 1

Test(varlink, client_single_reply)
{
	struct peer p = { .script = S("{\"parameters\":{\"jobs\":[]}}\0") };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.List", NULL, false, &s), 0);
	cr_assert_eq(s.count, 1);
	cr_assert_str_eq(s.params[0], "{\"jobs\":[]}");
	cr_assert_not(s.continues[0]);
	cr_assert_str_eq(s.error, "");
	cr_assert_eq(p.call_len, sizeof("{\"method\":\"io.ckptd.List\",\"parameters\":{}}"));
	cr_assert_str_eq(p.call, "{\"method\":\"io.ckptd.List\",\"parameters\":{}}");
}

/* The fds ride with the call's bytes; the peer gets the same files. */
Test(varlink, client_passes_fds)
{
	struct peer p = { .script = S("{\"parameters\":{}}\0") };
	struct seen s = {};
	struct stat a, b;
	pthread_t t;
	int sv[2], pfd[2];

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p.fd = sv[1];
	cr_assert_eq(pthread_create(&t, NULL, peer_run, &p), 0);
	int fds[3] = { pfd[0], pfd[1], pfd[1] };
	json_object *params = json("{\"name\":\"a\"}");

	cr_assert_eq(varlink_client_call_fds(sv[0], "io.ckptd.Restore", params, false, fds, 3,
					     on_reply, &s),
		     0);
	json_object_put(params);
	(void) close(sv[0]);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(s.count, 1);
	cr_assert_str_eq(p.call, "{\"method\":\"io.ckptd.Restore\",\"parameters\":{\"name\":\"a\"}}");
	cr_assert_eq(p.n_fds, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(fstat(fds[i], &a), 0);
		cr_assert_eq(fstat(p.fds[i], &b), 0);
		cr_assert_eq(a.st_ino, b.st_ino);
		(void) close(p.fds[i]);
	}
	(void) close(pfd[0]);
	(void) close(pfd[1]);
}

Test(varlink, client_reply_without_parameters)
{
	struct peer p = { .script = S("{}\0") };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.Unwatch", "{\"name\":\"sim\"}", false, &s), 0);
	cr_assert_eq(s.count, 1);
	cr_assert_str_eq(s.params[0], "{}");
	cr_assert_str_eq(p.call,
			 "{\"method\":\"io.ckptd.Unwatch\",\"parameters\":{\"name\":\"sim\"}}");
}

static const char progress_script[] =
	"{\"parameters\":{\"progress\":{\"phase\":\"freezing\",\"done\":0,\"total\":1}},"
	"\"continues\":true}\0"
	"{\"parameters\":{\"progress\":{\"phase\":\"memory\",\"done\":5,\"total\":10}},"
	"\"continues\":true}\0"
	"{\"parameters\":{\"version\":{\"number\":7}}}\0";

Test(varlink, client_continues)
{
	/* In pieces of 7 bytes: every reply arrives split, some NULs alone. */
	struct peer p = { .script = S(progress_script), .chunk = 7 };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.Snapshot", "{\"name\":\"sim\"}", true, &s), 0);
	cr_assert_eq(s.count, 3);
	cr_assert(s.continues[0]);
	cr_assert(s.continues[1]);
	cr_assert_not(s.continues[2]);
	cr_assert_str_eq(s.params[1],
			 "{\"progress\":{\"phase\":\"memory\",\"done\":5,\"total\":10}}");
	cr_assert_str_eq(s.params[2], "{\"version\":{\"number\":7}}");
	cr_assert_str_eq(p.call, "{\"method\":\"io.ckptd.Snapshot\",\"parameters\":{\"name\":"
				 "\"sim\"},\"more\":true}");
}

Test(varlink, client_on_reply_stops)
{
	struct peer p = { .script = S(progress_script) };
	struct seen s = { .stop_after = 2 };

	cr_assert_eq(run_client(&p, "io.ckptd.Snapshot", "{\"name\":\"sim\"}", true, &s),
		     -ECANCELED);
	cr_assert_eq(s.count, 2);
}

Test(varlink, client_error_reply)
{
	struct peer p = { .script = S("{\"error\":\"io.ckptd.NoSuchJob\",\"parameters\":"
				      "{\"name\":\"x\","
				      "\"message\":\"There is no job \\\"x\\\".\"}}\0") };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.Versions", "{\"name\":\"x\"}", false, &s), -EREMOTE);
	cr_assert_eq(s.count, 1);
	cr_assert_str_eq(s.error, "io.ckptd.NoSuchJob");
	cr_assert_str_eq(s.params[0],
			 "{\"name\":\"x\",\"message\":\"There is no job \\\"x\\\".\"}");
}

Test(varlink, client_error_after_progress)
{
	struct peer p = { .script = S("{\"parameters\":{\"progress\":{\"phase\":\"memory\",\"done\""
				      ":1,\"total\":2}},\"continues\":true}\0"
				      "{\"error\":\"io.ckptd.SnapshotFailed\"}\0") };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.Snapshot", "{\"name\":\"x\"}", true, &s), -EREMOTE);
	cr_assert_eq(s.count, 2);
	cr_assert_str_eq(s.error, "io.ckptd.SnapshotFailed");
	cr_assert_str_eq(s.params[1], "{}");
}

Test(varlink, client_hangup)
{
	static const struct {
		const char *script;
		size_t len;
		int replies;
	} cases[] = {
		{ S(""), 0 },				    /* nothing at all */
		{ S("{\"parameters\":{\"jo"), 0 },	    /* in the middle of a reply */
		{ S("{\"parameters\":{}}"), 0 },	    /* all but the NUL */
		{ S("{\"parameters\":{},\"continues\":true}\0{\"para"), 1 }, /* after a progress */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct peer p = { .script = cases[i].script, .script_len = cases[i].len };
		struct seen s = {};

		cr_assert_eq(run_client(&p, "io.ckptd.Snapshot", "{\"name\":\"x\"}", true, &s),
			     -ECONNRESET, "case %zu", i);
		cr_assert_eq(s.count, cases[i].replies, "case %zu", i);
	}
}

Test(varlink, client_peer_gone_before_call)
{
	/* Writing to a closed peer must give an error, not kill us with SIGPIPE. */
	struct peer p = { .close_first = true };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.List", NULL, false, &s), -ECONNRESET);
	cr_assert_eq(s.count, 0);
}

Test(varlink, client_malformed_replies)
{
	static const struct {
		const char *script;
		size_t len;
		bool more;
	} cases[] = {
		{ S("[1]\0") },
		{ S("not json\0") },
		{ S("{\"parameters\":[]}\0") },
		{ S("{\"parameters\":null}\0") },
		{ S("{\"parameters\":{},\"extra\":1}\0") },
		{ S("{\"parameters\":{},\"continues\":1}\0"), true },
		{ S("{\"error\":\"NoSuchJob\"}\0") },
		{ S("{\"error\":7}\0") },
		{ S("{\"parameters\":{}} x\0") },
		{ S("\0") },
		/* "continues" to a call that did not ask for more */
		{ S("{\"parameters\":{},\"continues\":true}\0{\"parameters\":{}}\0"), false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct peer p = { .script = cases[i].script, .script_len = cases[i].len };
		struct seen s = {};

		cr_assert_eq(run_client(&p, "io.ckptd.List", NULL, cases[i].more, &s), -EPROTO,
			     "case %zu", i);
		cr_assert_eq(s.count, 0, "case %zu", i);
	}
}

Test(varlink, client_oversized_reply)
{
	struct peer p = { .script = S("{\"parameters\":{\"x\":\""), .flood = VARLINK_REPLY_MAX };
	struct seen s = {};

	cr_assert_eq(run_client(&p, "io.ckptd.List", NULL, false, &s), -E2BIG);
	cr_assert_eq(s.count, 0);
}

Test(varlink, client_large_reply_within_limit)
{
	/* 1 MiB of string in one reply: arrives in many reads and is accepted. */
	size_t fill = 1u << 20;
	_cleanup_free_ char *script = malloc(fill + 64);
	struct peer p = {};
	struct seen s = {};
	int n;

	cr_assert_not_null(script);
	n = sprintf(script, "{\"parameters\":{\"x\":\"");
	memset(script + n, 'a', fill);
	strcpy(script + n + fill, "\"}}");
	p.script = script;
	p.script_len = (size_t) n + fill + 4; /* with the NUL */
	cr_assert_eq(run_client(&p, "io.ckptd.List", NULL, false, &s), 0);
	cr_assert_eq(s.count, 1);
}

Test(varlink, client_refuses_bad_method)
{
	struct seen s = {};
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(varlink_client_call(sv[0], "List", NULL, false, on_reply, &s), -EINVAL);
	cr_assert_eq(s.count, 0);
	(void) close(sv[0]);
	(void) close(sv[1]);
}

/* ---- connecting ---- */

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	strcpy(sa.sun_path, path);
	if (path[0] == '@') {
		sa.sun_path[0] = 0;
		len--;
	}
	cr_assert_eq(bind(fd, (struct sockaddr *) &sa, len), 0, "bind %s: %m", path);
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

Test(varlink, connect)
{
	char dir[] = "/tmp/ckptd-test-varlink-XXXXXX", path[128], abstract[64], longpath[200];
	int lfd, fd = -1;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	lfd = listen_on(path);
	cr_assert_eq(varlink_connect(path, &fd), 0);
	cr_assert_geq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	(void) close(fd);
	(void) close(lfd);

	/* Nothing listens any more: refused; nothing there at all: not found. */
	fd = -1;
	cr_assert_eq(varlink_connect(path, &fd), -ECONNREFUSED);
	cr_assert_eq(fd, -1);
	(void) unlink(path);
	cr_assert_eq(varlink_connect(path, &fd), -ENOENT);
	cr_assert_eq(rmdir(dir), 0);

	snprintf(abstract, sizeof(abstract), "@ckptd-test-varlink-%d", (int) getpid());
	lfd = listen_on(abstract);
	cr_assert_eq(varlink_connect(abstract, &fd), 0);
	(void) close(fd);
	(void) close(lfd);

	/* sun_path holds 107 bytes and a NUL. */
	memset(longpath, 'x', sizeof(longpath));
	longpath[0] = '/';
	longpath[108] = 0;
	fd = -1;
	cr_assert_eq(varlink_connect(longpath, &fd), -ENAMETOOLONG);
	longpath[107] = 0;
	cr_assert_eq(varlink_connect(longpath, &fd), -ENOENT);
	cr_assert_eq(varlink_connect("", &fd), -EINVAL);
	cr_assert_eq(fd, -1);
}

/* ---- the interface text has one source ---- */

static char *read_source(const char *rel, size_t *ret_len)
{
	_cleanup_free_ char *path = strdup_printf("%s/%s", SOURCE_ROOT, rel);
	char *buf = NULL;

	cr_assert_not_null(path);
	cr_assert_eq(read_full_file_at(AT_FDCWD, path, 1u << 20, &buf, ret_len), 0, "%s", path);
	return buf;
}

Test(varlink, embedded_interface_is_the_file)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	text = read_source("common/io.ckptd.varlink", &len);
	cr_assert_gt(len, 0);
	cr_assert_eq(strlen(varlink_ckptd_interface), len);
	cr_assert_eq(memcmp(varlink_ckptd_interface, text, len), 0);
	cr_assert(string_has_prefix(strstr(text, "interface "), "interface io.ckptd\n"));
}

Test(varlink, protocol_doc_holds_the_interface)
{
	_cleanup_free_ char *text = NULL, *doc = NULL;
	size_t len, doc_len;

	text = read_source("common/io.ckptd.varlink", &len);
	doc = read_source("docs/protocol.md", &doc_len);
	cr_assert_not_null(memmem(doc, doc_len, text, len),
			   "docs/protocol.md must hold common/io.ckptd.varlink verbatim");
}
