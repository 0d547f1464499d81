/* check_algoconf.c: the in-place rewrite of algorithmia.conf (algoconf.c):
 * values replaced, every other byte kept, malformed text refused. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "algoconf.h"
#include "testutil.h"
#include "xmalloc.h"

/* An algorithm's conf as the platform writes it. */
#define CONF_DEV							\
	"{\n    \"algoname\": \"Hello\",\n    \"username\": \"alice\",\n"	\
	"    \"language\": \"python3-1\",\n    \"full_access\": false,\n"	\
	"    \"package_set\": \"python36\", \"memory\": 4096,\n"		\
	"    \"tags\": [\"a\", \"b\"], \"meta\": {\"x\": 1.5e-3}\n}\n"
#define CONF_PROD							\
	"{\n    \"algoname\": \"HelloProd\",\n    \"username\": \"bob\",\n"	\
	"    \"language\": \"python3-1\",\n    \"full_access\": false,\n"	\
	"    \"package_set\": \"python36\", \"memory\": 4096,\n"		\
	"    \"tags\": [\"a\", \"b\"], \"meta\": {\"x\": 1.5e-3}\n}\n"

/* The rewrite of in (len bytes) with owner and algo. */
static void
rewrite_n(const char *in, size_t len, const char *owner, const char *algo,
    const char *want)
{
	char	*out = NULL, *cause = NULL;

	ck_assert_msg(algoconf_rewrite(&out, in, len, owner, algo,
	    &cause) == 0, "%s: %s", in, cause);
	ck_assert_str_eq(out, want);
	free(out);
}

static void
rewrite(const char *in, const char *want)
{
	rewrite_n(in, strlen(in), "bob", "HelloProd", want);
}

/* in (len bytes) is refused with cause want. */
static void
refused_n(const char *in, size_t len, const char *want)
{
	char	*out = NULL, *cause = NULL;

	ck_assert_msg(algoconf_rewrite(&out, in, len, "bob", "HelloProd",
	    &cause) == -1, "accepted: %s", in);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(cause, want);
	free(cause);
}

static void
refused(const char *in, const char *want)
{
	refused_n(in, strlen(in), want);
}

START_TEST(test_in_place)
{
	/* Values replaced where they stand; order and layout kept. */
	rewrite("{\"algoname\":\"X\",\"username\":\"alice\","
	    "\"language\":\"python3\"}",
	    "{\"algoname\":\"HelloProd\",\"username\":\"bob\","
	    "\"language\":\"python3\"}");
	rewrite(CONF_DEV, CONF_PROD);
	/* Any value is replaced, not only strings. */
	rewrite("{\"username\": null, \"algoname\": [1, {\"a\": 2}]}",
	    "{\"username\": \"bob\", \"algoname\": \"HelloProd\"}");
	/* A repeated key: every one. */
	rewrite("{\"username\": \"a\", \"username\": \"b\", \"algoname\": 1}",
	    "{\"username\": \"bob\", \"username\": \"bob\", "
	    "\"algoname\": \"HelloProd\"}");
	/* Nested members of the same name are not the conf's. */
	rewrite("{\"meta\": {\"username\": \"zz\"}, \"username\": "
	    "\"a\\\"b\", \"algoname\": \"\\u0041\"}",
	    "{\"meta\": {\"username\": \"zz\"}, \"username\": \"bob\", "
	    "\"algoname\": \"HelloProd\"}");
	/* Keys match byte for byte: escapes and case are other keys. */
	rewrite("{\"UserName\": 1, \"user\\u006eame\": 2, \"username\": 3, "
	    "\"algoname\": 4}",
	    "{\"UserName\": 1, \"user\\u006eame\": 2, \"username\": \"bob\", "
	    "\"algoname\": \"HelloProd\"}");
}
END_TEST

START_TEST(test_untouched_bytes)
{
	/* Every byte around the two values is kept: tabs, CRLF, white space
	 * before and after the object, number forms, escapes, UTF-8. */
	rewrite("\r\n\t{ \"username\"\t:\t\"a\" ,\r\n\"n\": -0.5E+10 ,"
	    " \"s\": \"\\/\\b\\f\\n\\r\\t\\\\ \xc3\xa9\","
	    " \"algoname\" : \"b\" } \n\n",
	    "\r\n\t{ \"username\"\t:\t\"bob\" ,\r\n\"n\": -0.5E+10 ,"
	    " \"s\": \"\\/\\b\\f\\n\\r\\t\\\\ \xc3\xa9\","
	    " \"algoname\" : \"HelloProd\" } \n\n");
	/* A UTF-8 byte order mark stays. */
	rewrite("\xef\xbb\xbf{\"username\": \"a\", \"algoname\": \"b\"}",
	    "\xef\xbb\xbf{\"username\": \"bob\", \"algoname\": "
	    "\"HelloProd\"}");
	/* Nothing to change: the same text. */
	rewrite("{\"username\": \"bob\", \"algoname\": \"HelloProd\"}",
	    "{\"username\": \"bob\", \"algoname\": \"HelloProd\"}");
	/* Only len bytes are read. */
	rewrite_n("{\"username\": 1}garbage", 15, "bob", "HelloProd",
	    "{\"username\": \"bob\", \"algoname\": \"HelloProd\"}");
}
END_TEST

START_TEST(test_missing_members)
{
	/* Added after the last member, laid out like the first. */
	rewrite("{\n  \"language\": \"python3\"\n}\n",
	    "{\n  \"language\": \"python3\",\n  \"username\": \"bob\",\n"
	    "  \"algoname\": \"HelloProd\"\n}\n");
	rewrite("{\"username\":\"alice\"}",
	    "{\"username\":\"bob\", \"algoname\":\"HelloProd\"}");
	rewrite("{\"algoname\" : 1, \"x\": 2}",
	    "{\"algoname\" : \"HelloProd\", \"x\": 2, \"username\" : \"bob\"}");
	/* An empty object: right after the '{'. */
	rewrite("{}", "{\"username\": \"bob\", \"algoname\": \"HelloProd\"}");
	rewrite(" { } \n", " {\"username\": \"bob\", \"algoname\": "
	    "\"HelloProd\" } \n");
}
END_TEST

START_TEST(test_values_escaped)
{
	rewrite_n("{}", 2, "a\"b\\c", "x\ty\001",
	    "{\"username\": \"a\\\"b\\\\c\", \"algoname\": "
	    "\"x\\u0009y\\u0001\"}");
	rewrite_n("{\"username\": 1, \"algoname\": 2}", 30, "", "\xc3\xa9",
	    "{\"username\": \"\", \"algoname\": \"\xc3\xa9\"}");
}
END_TEST

/* {"a": [[...]]} with n levels of arrays. */
static char *
nested(int n)
{
	char	*s;

	s = xmalloc(2 * (size_t)n + 16);
	memcpy(s, "{\"a\": ", 6);
	memset(s + 6, '[', (size_t)n);
	memset(s + 6 + n, ']', (size_t)n);
	memcpy(s + 6 + 2 * n, "}", 2);
	return s;
}

START_TEST(test_malformed)
{
	char	*deep, *p, *out = NULL, *cause = NULL;

	/* Not an object at all. */
	refused("not json {", "not a JSON object: line 1, column 1: "
	    "unexpected 'n'");
	refused("[1, 2]", "not a JSON object: line 1, column 1: "
	    "unexpected '['");
	refused("", "not a JSON object: line 1, column 1: "
	    "unexpected end of text");
	refused(" \n ", "not a JSON object: line 2, column 2: "
	    "unexpected end of text");
	/* Where it goes wrong, line and column. */
	refused("{\"a\": 1} trailing", "not a JSON object: line 1, "
	    "column 10: unexpected 't'");
	refused("{\"a\": 01}", "not a JSON object: line 1, column 8: "
	    "unexpected '1'");
	refused("{\"a\": \"tab\there\"}", "not a JSON object: line 1, "
	    "column 11: unexpected byte 0x09");
	refused("{\"a\": [1,]}", "not a JSON object: line 1, column 10: "
	    "unexpected ']'");
	refused("{\n  \"a\": 1,\n  \"b\" 2\n}", "not a JSON object: line 3, "
	    "column 7: unexpected '2'");
	refused("{\"a\": 1", "not a JSON object: line 1, column 8: "
	    "unexpected end of text");
	refused("{\"a\": \"open", "not a JSON object: line 1, column 12: "
	    "unexpected end of text");
	refused("{a: 1}", "not a JSON object: line 1, column 2: "
	    "unexpected 'a'");
	refused("{\"a\": \"\\x\"}", "not a JSON object: line 1, column 9: "
	    "unexpected 'x'");
	refused("{\"a\": \"\\u00g0\"}", "not a JSON object: line 1, "
	    "column 12: unexpected 'g'");
	refused("{\"a\": tru}", "not a JSON object: line 1, column 7: "
	    "unexpected 't'");
	refused("{\"a\": 1.}", "not a JSON object: line 1, column 9: "
	    "unexpected '}'");
	refused("{\"a\": 1,}", "not a JSON object: line 1, column 9: "
	    "unexpected '}'");
	refused("{\"a\": 1}{}", "not a JSON object: line 1, column 9: "
	    "unexpected '{'");
	refused_n("{\"a\": 1}\0", 9, "not a JSON object: line 1, column 9: "
	    "unexpected byte 0x00");

	/* Nesting is bounded: 128 levels of arrays in a member are fine,
	 * 129 are not. */
	deep = nested(ALGOCONF_DEPTH + 1);
	refused(deep, "not a JSON object: line 1, column 135: nested more "
	    "than 128 levels");
	free(deep);
	deep = nested(ALGOCONF_DEPTH);
	ck_assert_int_eq(algoconf_rewrite(&out, deep, strlen(deep), "b", "a",
	    &cause), 0);
	ck_assert_int_eq(strncmp(out, deep, strlen(deep) - 1), 0);
	free(out);
	free(deep);

	/* Size is bounded: ALGOCONF_MAX bytes are fine, one more is not. */
	p = xmalloc(ALGOCONF_MAX + 2);
	memset(p, ' ', ALGOCONF_MAX + 1);
	p[0] = '{';
	p[ALGOCONF_MAX - 1] = '}';
	p[ALGOCONF_MAX + 1] = '\0';
	refused_n(p, ALGOCONF_MAX + 1, "larger than 1048576 bytes");
	ck_assert_int_eq(algoconf_rewrite(&out, p, ALGOCONF_MAX, "b", "a",
	    &cause), 0);
	ck_assert_uint_eq(strlen(out), ALGOCONF_MAX +
	    strlen("\"username\": \"b\", \"algoname\": \"a\""));
	free(out);
	free(p);
}
END_TEST

Suite *
algoconf_suite(void)
{
	Suite	*s = suite_create("algoconf");
	TCase	*tc = tcase_create("rewrite");

	tcase_add_test(tc, test_in_place);
	tcase_add_test(tc, test_untouched_bytes);
	tcase_add_test(tc, test_missing_members);
	tcase_add_test(tc, test_values_escaped);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
