/* check_treeglob.c: glob matching of repository paths (treeglob.c).
 * Each case is a pattern, a path and whether the one selects the other. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "treeglob.h"

struct tg_case {
	const char	*pattern;
	const char	*path;
	int		 want;
};

static void
run_cases(const struct tg_case *c, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		ck_assert_msg(treeglob_match(c[i].pattern, c[i].path) ==
		    c[i].want, "treeglob_match(\"%s\", \"%s\") != %d",
		    c[i].pattern, c[i].path, c[i].want);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

START_TEST(test_basename_any_depth)
{
	static const struct tg_case c[] = {
		{ "*.pyc", "a.pyc", 1 },
		{ "*.pyc", "src/pkg/a.pyc", 1 },
		{ "*.pyc", "src/pkg/a.py", 0 },
		{ "*.pyc", "a.pycx", 0 },
		{ "README.md", "README.md", 1 },
		{ "README.md", "docs/README.md", 1 },
		{ "README.md", "docs/README.md.bak", 0 },
		{ "README.md", "xREADME.md", 0 },
		{ ".git*", ".gitignore", 1 },
		{ ".git*", "sub/.gitattributes", 1 },
		{ "?.txt", "a.txt", 1 },
		{ "?.txt", "ab.txt", 0 },
		{ "*", "anything/at/all", 1 },
	};
	RUN(c);
}
END_TEST

START_TEST(test_anchored)
{
	static const struct tg_case c[] = {
		{ "/README.md", "README.md", 1 },
		{ "/README.md", "docs/README.md", 0 },
		{ "src/*.c", "src/main.c", 1 },
		{ "src/*.c", "src/sub/main.c", 0 },
		{ "src/*.c", "lib/src/main.c", 0 },
		{ "/src/*.c", "src/main.c", 1 },
		{ "src/main.c", "src/main.c", 1 },
		{ "src/main.c", "src/main.cc", 0 },
		{ "a/b", "x/a/b", 0 },
	};
	RUN(c);
}
END_TEST

START_TEST(test_star_does_not_cross_slash)
{
	static const struct tg_case c[] = {
		{ "a*b", "axxb", 1 },
		{ "a/*", "a/b/c", 1 },		/* c is under a/b */
		{ "a*/c", "a/b/c", 0 },
		{ "a?c", "a/c", 0 },
		{ "a[/]c", "a/c", 0 },		/* invalid pattern */
		{ "src/*/x", "src/a/x", 1 },
		{ "src/*/x", "src/a/b/x", 0 },
		{ "*.c", "dir.c/readme", 1 },	/* dir.c is a match */
	};
	RUN(c);
}
END_TEST

START_TEST(test_double_star)
{
	static const struct tg_case c[] = {
		{ "**/x", "x", 1 },
		{ "**/x", "a/x", 1 },
		{ "**/x", "a/b/c/x", 1 },
		{ "**/x", "a/b/c/xy", 0 },
		{ "**/x/y", "x/y", 1 },
		{ "**/x/y", "q/x/y", 1 },
		{ "**/x/y", "q/x/z/y", 0 },
		{ "a/**", "a/b", 1 },
		{ "a/**", "a/b/c/d", 1 },
		{ "a/**", "a", 0 },
		{ "a/**", "a/", 0 },
		{ "a/**", "b/a/c", 0 },
		{ "a/**/b", "a/b", 1 },
		{ "a/**/b", "a/x/b", 1 },
		{ "a/**/b", "a/x/y/z/b", 1 },
		{ "a/**/b", "a/x/y/z/bb", 0 },
		{ "a/**/b", "xa/b", 0 },
		{ "a/**/b/*.c", "a/q/b/z.c", 1 },
		{ "a/**/b/*.c", "a/q/b/r/z.h", 0 },
		{ "a**b", "axxb", 1 },		/* not a component: '*' */
		{ "a**b", "ax/xb", 0 },
		{ "**", "deep/down/file", 1 },
		{ "**/**/z", "a/b/z", 1 },
	};
	RUN(c);
}
END_TEST

START_TEST(test_directories)
{
	static const struct tg_case c[] = {
		{ "data", "data", 1 },
		{ "data", "data/x/y.bin", 1 },
		{ "data", "sub/data/y.bin", 1 },
		{ "data", "database", 0 },
		{ "data/", "data/x/y.bin", 1 },
		{ "data/", "data/", 1 },
		{ "data/", "data", 0 },		/* a file named data */
		{ "data/", "sub/data/z", 1 },
		{ "/data/", "sub/data/z", 0 },
		{ "models/*.bin", "models/big.bin", 1 },
		{ "models/", "models/big.bin", 1 },
		{ "build/", "src/build", 0 },
		{ "build/", "src/build/", 1 },
		{ "src/gen", "src/gen/a/b.py", 1 },
		{ "src/gen", "src/generated/a.py", 0 },
	};
	RUN(c);
}
END_TEST

START_TEST(test_classes_and_escapes)
{
	static const struct tg_case c[] = {
		{ "[abc].txt", "b.txt", 1 },
		{ "[abc].txt", "d.txt", 0 },
		{ "[a-c]x", "bx", 1 },
		{ "[a-c]x", "dx", 0 },
		{ "[!a-c]x", "dx", 1 },
		{ "[!a-c]x", "ax", 0 },
		{ "[^a-c]x", "dx", 1 },
		{ "[]]x", "]x", 1 },
		{ "[!]]x", "]x", 0 },
		{ "[a-]x", "-x", 1 },
		{ "\\*.txt", "*.txt", 1 },
		{ "\\*.txt", "a.txt", 0 },
		{ "a\\?", "a?", 1 },
		{ "a\\?", "ab", 0 },
		{ "[*]", "*", 1 },
		{ "[*]", "a", 0 },
	};
	RUN(c);
}
END_TEST

START_TEST(test_bad_inputs_match_nothing)
{
	static const struct tg_case c[] = {
		{ "", "a", 0 },
		{ "[abc", "[abc", 0 },
		{ "a/../b", "b", 0 },
		{ "x", "", 0 },
		{ "x", "/x", 0 },
	};
	RUN(c);
	ck_assert_int_eq(treeglob_match(NULL, "a"), 0);
	ck_assert_int_eq(treeglob_match("a", NULL), 0);
}
END_TEST

/* Many stars on a long non-matching path finish at once (the aborts). */
START_TEST(test_no_exponential_blowup)
{
	char	 path[4096];
	size_t	 i;

	for (i = 0; i + 1 < sizeof path; i++)
		path[i] = (i % 64 == 63) ? '/' : 'a';
	path[sizeof path - 1] = '\0';
	ck_assert_int_eq(treeglob_match("**/*a*a*a*a*a*a*a*a*a*a*b", path),
	    0);
	ck_assert_int_eq(treeglob_match(
	    "**/a*/**/a*/**/a*/**/a*/**/a*/**/b", path), 0);
	ck_assert_int_eq(treeglob_match("*a*a*a*a*a*a*a*a*a*a*b", path), 0);
}
END_TEST

static void
valid_bad(const char *pattern, const char *want)
{
	char	*cause = NULL;

	ck_assert_int_eq(treeglob_valid(pattern, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, want) != NULL, "\"%s\": %s", pattern,
	    cause);
	free(cause);
}

START_TEST(test_valid)
{
	const char *good[] = { "*.pyc", "/README.md", "data/", "a/**/b",
	    "**", "[]]", "[!a-z]?", "a\\*", ".github", "..x", "x..", NULL };
	char	 big[TREEGLOB_MAX + 2];
	char	*cause = NULL;
	size_t	 i;

	for (i = 0; good[i] != NULL; i++) {
		ck_assert_msg(treeglob_valid(good[i], &cause) == 0, "%s: %s",
		    good[i], cause);
		ck_assert_ptr_null(cause);
	}
	valid_bad("", "empty pattern");
	valid_bad(NULL, "empty pattern");
	valid_bad("..", "\"..\"");
	valid_bad("a/../b", "\"..\"");
	valid_bad("../x", "\"..\"");
	valid_bad("./x", "\".\"");
	valid_bad("a//b", "empty path component");
	valid_bad("/", "empty path component");
	valid_bad("[abc", "unterminated '['");
	valid_bad("x[]", "unterminated '['");
	valid_bad("a[b/c]d", "'/' inside");
	valid_bad("abc\\", "trailing");

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	valid_bad(big, "longer than");
}
END_TEST

Suite *
treeglob_suite(void)
{
	Suite	*s = suite_create("treeglob");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_basename_any_depth);
	tcase_add_test(tc, test_anchored);
	tcase_add_test(tc, test_star_does_not_cross_slash);
	tcase_add_test(tc, test_double_star);
	tcase_add_test(tc, test_directories);
	tcase_add_test(tc, test_classes_and_escapes);
	tcase_add_test(tc, test_bad_inputs_match_nothing);
	tcase_add_test(tc, test_no_exponential_blowup);
	tcase_add_test(tc, test_valid);
	suite_add_tcase(s, tc);
	return s;
}
