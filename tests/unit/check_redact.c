/* check_redact.c: secrets and URL credentials never survive redaction,
 * in any of the forms they travel in, and adding one never deadlocks. */
#include <sys/resource.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
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

/* Waits up to secs for pid; kills it and returns -1 if it is still there. */
static int
wait_deadline(pid_t pid, int secs)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 i, status;

	for (i = 0; i < secs * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/*
 * Out of memory while adding a secret ends in fatalx(), whose log line
 * goes through redact_buf(). It used to happen with redact_lock held,
 * and the process hung instead of exiting. A child with too little
 * address space left for the copy of a 64 MB secret must exit 1 with
 * the fatal message, within a deadline. (Sanitizer runtimes reserve
 * their own address space and die on a failed allocation themselves:
 * there the test has nothing to show.)
 */
START_TEST(test_oom_while_adding_exits)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return;
#else
	const size_t	 len = 64 * 1024 * 1024;
	struct rlimit	 rl;
	char		*dir, *errlog, *big, *text;
	unsigned long	 pages;
	pid_t		 pid;
	FILE		*f;
	int		 fd, status;

	dir = testutil_tmpdir();
	errlog = xprintf("%s/stderr", dir);
	if ((pid = fork()) == 0) {
		fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, STDERR_FILENO);
		log_init(LOG_LEVEL_INFO);
		big = malloc(len + 1);
		memset(big, 'k', len);
		big[len] = '\0';
		f = fopen("/proc/self/statm", "r");
		if (f == NULL || fscanf(f, "%lu", &pages) != 1)
			_exit(3);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages *
		    (unsigned long)sysconf(_SC_PAGESIZE) + len / 4;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			_exit(4);
		alarm(5);	/* a hang must not outlive the parent */
		redact_add(big);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	status = wait_deadline(pid, 3);
	ck_assert_msg(status != -1, "out of memory in redact_add hung");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "child ended with status 0x%x, not exit 1", status);
	text = testutil_read(errlog);
	ck_assert_ptr_nonnull(strstr(text, "error: xstrdup: "));
	free(text);
	testutil_rmtree(dir);
	free(errlog);
	free(dir);
#endif
}
END_TEST

#define NADDERS		4
#define NPERADDER	50

static void *
adder(void *arg)
{
	char	 s[32];
	int	 i, id = *(int *)arg;

	for (i = 0; i < NPERADDER; i++) {
		snprintf(s, sizeof s, "secret-%d-%d", id, i);
		redact_add(s);
	}
	return NULL;
}

/* Workers add keys (a poller or a git transfer may) while others redact:
 * no secret is lost to a concurrent add, none is kept twice. */
START_TEST(test_concurrent_add)
{
	pthread_t	 t[NADDERS];
	int		 ids[NADDERS], i, j;
	char		 in[64], out[64];

	for (i = 0; i < NADDERS; i++) {
		ids[i] = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, adder, &ids[i]),
		    0);
	}
	for (i = 0; i < 200; i++)
		redact_buf("secret-0-0 and secret-1-1", out, sizeof out);
	for (i = 0; i < NADDERS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(redact_count(), NADDERS * NPERADDER);
	for (i = 0; i < NADDERS; i++)
		for (j = 0; j < NPERADDER; j++) {
			snprintf(in, sizeof in, "<secret-%d-%d>", i, j);
			redact_buf(in, out, sizeof out);
			ck_assert_str_eq(out, "<***>");
		}
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
	tcase_add_test(tc, test_oom_while_adding_exits);
	tcase_add_test(tc, test_concurrent_add);
	suite_add_tcase(s, tc);
	return s;
}
