/* check_log.c: line format, journald priorities, redaction and reopen,
 * and whole lines while another thread changes the level and the file.
 * Each test runs in check's own fork, so stderr can be redirected. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"
#include "testutil.h"
#include "xmalloc.h"

static char *dir, *path;

static void
setup(void)
{
	dir = testutil_tmpdir();
	path = xprintf("%s/log", dir);
	unsetenv("JOURNAL_STREAM");
}

static void
teardown(void)
{
	log_close();
	testutil_rmtree(dir);
	free(path);
	free(dir);
}

static void
assert_match(const char *text, const char *re)
{
	regex_t	 r;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&r, text, 0, NULL, 0) == 0,
	    "\"%s\" does not match /%s/", text, re);
	regfree(&r);
}

START_TEST(test_file_format)
{
	char	*cause = NULL, *text;

	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open_file(path, &cause), 0);
	log_info("hello %d", 42);
	log_debug("hidden");
	log_warnx("careful");
	text = testutil_read(path);
	assert_match(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	    "[0-9]{2}\\.[0-9]{3}Z info: hello 42\n"
	    "[0-9T:.-]+Z warn: careful\n$");
	free(text);
}
END_TEST

START_TEST(test_journal_prefix)
{
	char		*text, *js;
	struct stat	 sb;
	int		 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	ck_assert_int_eq(fstat(STDERR_FILENO, &sb), 0);
	js = xprintf("%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_journal(), 1);
	log_errx("e");
	log_warnx("w");
	log_info("i");
	log_debug("d");
	text = testutil_read(path);
	ck_assert_str_eq(text, "<3>e\n<4>w\n<6>i\n<7>d\n");
	free(text);
	free(js);
}
END_TEST

START_TEST(test_journal_stream_mismatch)
{
	/* A JOURNAL_STREAM inherited by a child whose stderr is elsewhere
	 * must not switch the format. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_journal(), 0);
}
END_TEST

START_TEST(test_redacted_and_one_line)
{
	char	*cause = NULL, *text;

	redact_clear();
	redact_add("simSECRET+key/abc");
	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open_file(path, &cause), 0);
	log_info("push https://alice:simSECRET+key/abc@git/x failed: "
	    "line1\nline2 simSECRET%%2Bkey%%2Fabc");
	text = testutil_read(path);
	ck_assert_ptr_null(strstr(text, "SECRET"));
	assert_match(text, "info: push https://\\*\\*\\*@git/x failed: "
	    "line1 line2 \\*\\*\\*\n$");
	free(text);
}
END_TEST

START_TEST(test_errno_variant)
{
	char	*cause = NULL, *text;

	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open_file(path, &cause), 0);
	errno = ENOENT;
	log_warn("open %s", "x");
	text = testutil_read(path);
	assert_match(text, "warn: open x: No such file or directory\n$");
	free(text);
}
END_TEST

START_TEST(test_reopen)
{
	char	*cause = NULL, *moved, *text;

	moved = xprintf("%s/log.1", dir);
	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open_file(path, &cause), 0);
	log_info("before");
	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(log_reopen(&cause), 0);
	log_info("after");
	text = testutil_read(moved);
	assert_match(text, "info: before\n$");
	free(text);
	text = testutil_read(path);
	assert_match(text, "^[^\n]*info: after\n$");
	free(text);
	free(moved);
}
END_TEST

START_TEST(test_levels)
{
	ck_assert_int_eq(log_level_parse("error"), LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_level_parse("WARN"), LOG_LEVEL_WARN);
	ck_assert_int_eq(log_level_parse("info"), LOG_LEVEL_INFO);
	ck_assert_int_eq(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_parse("verbose"), -1);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
}
END_TEST

#define NWRITERS	4
#define NLINES		500

static void *
writer(void *arg)
{
	int	 i, id = *(int *)arg;

	for (i = 0; i < NLINES; i++) {
		log_info("writer %d line %d", id, i);
		log_debug("writer %d detail %d", id, i);
	}
	return NULL;
}

/* Counts the info lines in text; fails on any line that is not whole. */
static int
count_lines(const char *text)
{
	const char	*p, *nl;
	char		*line;
	int		 n = 0;

	for (p = text; *p != '\0'; p = nl + 1) {
		ck_assert_ptr_nonnull(nl = strchr(p, '\n'));
		line = xstrndup(p, (size_t)(nl - p));
		assert_match(line, "^[0-9T:.-]+Z (info|debug): writer [0-9]+ "
		    "(line|detail) [0-9]+$");
		if (strstr(line, " info: ") != NULL)
			n++;
		free(line);
	}
	return n;
}

/*
 * SIGHUP (level, file) and SIGUSR1 (reopen) happen on the loop thread
 * while workers log: every line lands whole in one of the files and
 * none is lost. Run under `make tsan`, this is the race check too.
 */
START_TEST(test_concurrent_reconfigure)
{
	pthread_t	 t[NWRITERS];
	char		*cause = NULL, *other, *text;
	int		 ids[NWRITERS], i, n;

	other = xprintf("%s/log.other", dir);
	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open_file(path, &cause), 0);
	for (i = 0; i < NWRITERS; i++) {
		ids[i] = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &ids[i]),
		    0);
	}
	for (i = 0; i < 200; i++) {
		log_set_level(i % 2 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
		ck_assert_int_eq(log_open_file(i % 2 ? other : path, &cause),
		    0);
		ck_assert_int_eq(log_reopen(&cause), 0);
		ck_assert_int_eq(log_journal(), 0);
	}
	for (i = 0; i < NWRITERS; i++)
		pthread_join(t[i], NULL);
	text = testutil_read(path);
	n = count_lines(text);
	free(text);
	text = testutil_read(other);
	n += count_lines(text);
	free(text);
	ck_assert_int_eq(n, NWRITERS * NLINES);
	free(other);
}
END_TEST

Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_format);
	tcase_add_test(tc, test_journal_prefix);
	tcase_add_test(tc, test_journal_stream_mismatch);
	tcase_add_test(tc, test_redacted_and_one_line);
	tcase_add_test(tc, test_errno_variant);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_concurrent_reconfigure);
	suite_add_tcase(s, tc);
	return s;
}
