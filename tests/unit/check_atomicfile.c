/* check_atomicfile.c: atomic replace, append and bounded reads. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "testutil.h"
#include "xmalloc.h"

static char *dir;

static void
setup(void)
{
	dir = testutil_tmpdir();
}

static void
teardown(void)
{
	testutil_rmtree(dir);
	free(dir);
}

static int
count_entries(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_write_replace)
{
	char		*path, *data;
	struct stat	 sb;

	path = xprintf("%s/state.json", dir);
	testutil_write(path, "first", 0600);
	testutil_write(path, "second", 0640);
	data = testutil_read(path);
	ck_assert_str_eq(data, "second");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	/* No temporary file is left behind. */
	ck_assert_int_eq(count_entries(dir), 1);
	free(data);
	free(path);
}
END_TEST

START_TEST(test_write_fails_cleanly)
{
	char	*path, *cause = NULL;

	path = xprintf("%s/missing/state.json", dir);
	ck_assert_int_eq(atomicfile_write(path, "x", 1, 0600, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "No such file or directory"));
	ck_assert_ptr_nonnull(strstr(cause, path));
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_append)
{
	char	*path, *data, *cause = NULL;

	path = xprintf("%s/map.jsonl", dir);
	ck_assert_int_eq(atomicfile_append(path, "a\n", 2, &cause), 0);
	ck_assert_int_eq(atomicfile_append(path, "b\n", 2, &cause), 0);
	data = testutil_read(path);
	ck_assert_str_eq(data, "a\nb\n");
	free(data);
	free(path);
}
END_TEST

/* A write cut short (here by RLIMIT_FSIZE, as ENOSPC would) is taken
 * back: the file ends where it ended before, and later appends work. */
START_TEST(test_append_failure_is_taken_back)
{
	struct rlimit	 rl, old;
	char		*path, *data, *cause = NULL, big[300];

	memset(big, 'x', sizeof big);
	path = xprintf("%s/map.jsonl", dir);
	ck_assert_int_eq(atomicfile_append(path, "a\n", 2, &cause), 0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = 100;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ck_assert_int_eq(atomicfile_append(path, big, sizeof big, &cause), -1);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert_ptr_nonnull(strstr(cause, "append to"));
	ck_assert_ptr_nonnull(strstr(cause, path));
	free(cause);
	data = testutil_read(path);
	ck_assert_str_eq(data, "a\n");
	free(data);
	ck_assert_int_eq(atomicfile_append(path, "b\n", 2, &cause), 0);
	data = testutil_read(path);
	ck_assert_str_eq(data, "a\nb\n");
	free(data);
	free(path);
}
END_TEST

/* What a crash in the middle of atomicfile_write leaves (PATH.XXXXXX)
 * goes; nothing else does. */
START_TEST(test_clean_leftovers)
{
	char	*path, *p;

	path = xprintf("%s/state.json", dir);
	testutil_write(path, "{}", 0600);
	p = xprintf("%s.a1B2c3", path);
	testutil_write(p, "{", 0600);
	free(p);
	p = xprintf("%s.corrupt-1700000000", path);
	testutil_write(p, "x", 0600);
	free(p);
	p = xprintf("%s/versions.jsonl", dir);
	testutil_write(p, "", 0600);
	free(p);
	ck_assert_int_eq(atomicfile_clean(path), 1);
	ck_assert_int_eq(count_entries(dir), 3);
	ck_assert_int_eq(atomicfile_clean(path), 0);
	free(path);
}
END_TEST

START_TEST(test_read_limit)
{
	char	*path, *data = NULL, *cause = NULL;
	size_t	 len = 0;

	path = xprintf("%s/big", dir);
	testutil_write(path, "0123456789", 0600);
	ck_assert_int_eq(atomicfile_read(path, &data, &len, 5, &cause), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(cause, "larger than 5 bytes"));
	free(cause);
	ck_assert_int_eq(atomicfile_read(path, &data, &len, 10, &cause), 0);
	ck_assert_uint_eq(len, 10);
	free(data);
	free(path);
}
END_TEST

START_TEST(test_read_missing)
{
	char	*path, *data = NULL, *cause = NULL;

	path = xprintf("%s/none", dir);
	ck_assert_int_eq(atomicfile_read(path, &data, NULL, 0, &cause), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_mkdirs)
{
	char		*path, *cause = NULL;
	struct stat	 sb;

	path = xprintf("%s/a/b/c", dir);
	ck_assert_int_eq(atomicfile_mkdirs(path, 0700, &cause), 0);
	ck_assert_int_eq(atomicfile_mkdirs(path, 0700, &cause), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	free(path);
}
END_TEST

Suite *
atomicfile_suite(void)
{
	Suite	*s = suite_create("atomicfile");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_replace);
	tcase_add_test(tc, test_write_fails_cleanly);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_append_failure_is_taken_back);
	tcase_add_test(tc, test_clean_leftovers);
	tcase_add_test(tc, test_read_limit);
	tcase_add_test(tc, test_read_missing);
	tcase_add_test(tc, test_mkdirs);
	suite_add_tcase(s, tc);
	return s;
}
