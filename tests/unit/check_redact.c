/* check_redact.c: secrets and URL credentials never survive redaction,
 * in any of the forms they travel in. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "testutil.h"
#include "xmalloc.h"

#define KEY	"simA1b2+C3d4/E5f6G7h8I9j0K1"	/* 28 chars, '+' and '/' */

static void
setup(void)
{
	redact_clear();
}

static void
assert_redacts(const char *in, const char *want)
{
	char	*out = redact(in);

	ck_assert_str_eq(out, want);
	free(out);
}

START_TEST(test_raw_key)
{
	redact_add(KEY);
	assert_redacts("key=" KEY " end", "key=*** end");
	assert_redacts(KEY KEY, "******");
	assert_redacts("no secret here", "no secret here");
}
END_TEST

START_TEST(test_encoded_key)
{
	char	*enc, *in;

	redact_add(KEY);
	enc = redact_pct_encode(KEY);
	ck_assert_str_eq(enc, "simA1b2%2BC3d4%2FE5f6G7h8I9j0K1");
	xasprintf(&in, "path?k=%s&x=1", enc);
	assert_redacts(in, "path?k=***&x=1");
	free(in);
	free(enc);
}
END_TEST

START_TEST(test_basic_header)
{
	char	*b64, *in;

	redact_add_basic("alice", KEY);
	b64 = redact_base64("alice:" KEY, strlen("alice:" KEY));
	xasprintf(&in, "Authorization: Basic %s", b64);
	assert_redacts(in, "Authorization: Basic ***");
	free(in);
	free(b64);
}
END_TEST

START_TEST(test_base64)
{
	char	*b;

	b = redact_base64("a", 1);
	ck_assert_str_eq(b, "YQ==");
	free(b);
	b = redact_base64("ab", 2);
	ck_assert_str_eq(b, "YWI=");
	free(b);
	b = redact_base64("abc", 3);
	ck_assert_str_eq(b, "YWJj");
	free(b);
	b = redact_base64("", 0);
	ck_assert_str_eq(b, "");
	free(b);
}
END_TEST

START_TEST(test_url_userinfo)
{
	assert_redacts("clone https://alice:pw@git.x/git/a/b.git failed",
	    "clone https://***@git.x/git/a/b.git failed");
	assert_redacts("http://u@h/p", "http://***@h/p");
	/* An '@' after the authority is no userinfo. */
	assert_redacts("https://h/p@x", "https://h/p@x");
	assert_redacts("mailto me@x", "mailto me@x");
	assert_redacts("a://b@c and d://e:f@g", "a://***@c and d://***@g");
	/* A raw key with '/' in the password still hides the userinfo. */
	assert_redacts("https://u:k/e+y@h/p", "https://***@h/p");
	/* A port is no password. */
	assert_redacts("https://h:8080/p@x", "https://h:8080/p@x");
}
END_TEST

START_TEST(test_longest_first)
{
	redact_add("abcd");
	redact_add("abcdefgh");
	assert_redacts("xabcdefghx", "x***x");
	assert_redacts("xabcdx", "x***x");
	ck_assert_uint_eq(redact_count(), 2);
	redact_add("abcd");	/* duplicates are kept once */
	ck_assert_uint_eq(redact_count(), 2);
	redact_add("abc");	/* too short to be a key: ignored */
	ck_assert_uint_eq(redact_count(), 2);
}
END_TEST

START_TEST(test_truncation)
{
	char	 out[8];

	redact_add(KEY);
	redact_buf("0123456789", out, sizeof out);
	ck_assert_str_eq(out, "0123456");
	/* A mask that does not fit is dropped whole, never half a key. */
	redact_buf("12345" KEY, out, sizeof out);
	ck_assert_str_eq(out, "12345");
}
END_TEST

Suite *
redact_suite(void)
{
	Suite	*s = suite_create("redact");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_raw_key);
	tcase_add_test(tc, test_encoded_key);
	tcase_add_test(tc, test_basic_header);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_url_userinfo);
	tcase_add_test(tc, test_longest_first);
	tcase_add_test(tc, test_truncation);
	suite_add_tcase(s, tc);
	return s;
}
