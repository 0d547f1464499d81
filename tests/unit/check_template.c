/* check_template.c: placeholder expansion and template validation. */
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "testutil.h"

static const struct template_vars vars = {
	.source = "dev/alice/Hello",
	.destination = "prod/acme/Hello",
	.source_commit = "0123456789abcdef0123456789abcdef01234567",
	.source_version = "1.2.0",
	.pair = "hello",
	.algo = "Hello",
};

static void
assert_expands(const char *tmpl, const char *want)
{
	char	*out = template_expand(tmpl, &vars);

	ck_assert_str_eq(out, want);
	free(out);
}

static void
assert_bad(const char *tmpl, const char *want)
{
	char	*cause = NULL;

	ck_assert_int_eq(template_check(tmpl, &cause), -1);
	ck_assert_str_eq(cause, want);
	free(cause);
}

START_TEST(test_expand)
{
	assert_expands("Promote {source}@{source_short}",
	    "Promote dev/alice/Hello@0123456789ab");
	assert_expands("{source_commit}",
	    "0123456789abcdef0123456789abcdef01234567");
	assert_expands("{pair}:{algo} -> {destination} v{source_version}",
	    "hello:Hello -> prod/acme/Hello v1.2.0");
	assert_expands("", "");
	assert_expands("no placeholders", "no placeholders");
	assert_expands("{{literal}} {pair}", "{literal} hello");
}
END_TEST

START_TEST(test_missing_values)
{
	struct template_vars	 v = { .pair = "p" };
	char			*out;

	out = template_expand("[{source_version}] {pair} {source_short}", &v);
	ck_assert_str_eq(out, "[] p ");
	free(out);
}
END_TEST

START_TEST(test_check)
{
	char	*cause = NULL;

	ck_assert_int_eq(template_check("Promote {source}@{source_short}",
	    &cause), 0);
	assert_bad("{sourc}", "unknown placeholder \"{sourc}\" in \"{sourc}\" "
	    "(known: {source} {destination} {source_commit} {source_short} "
	    "{source_version} {pair} {algo})");
	assert_bad("x {pair", "unterminated \"{\" in \"x {pair\"");
	assert_bad("x } y", "unmatched \"}\" in \"x } y\"");
}
END_TEST

Suite *
template_suite(void)
{
	Suite	*s = suite_create("template");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_expand);
	tcase_add_test(tc, test_missing_values);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);
	return s;
}
