/* check_metrics.c: the Prometheus text writer and the histograms.
 * Exact output, escaping, value spelling, threads, and promcheck.py's word. */
#include <sys/wait.h>

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "testutil.h"
#include "xmalloc.h"

extern char **environ;

static void
value_is(double v, const char *want)
{
	char	 buf[METRICS_VALUE_MAX];

	metrics_format_value(buf, sizeof buf, v);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_value_spelling)
{
	value_is(0, "0");
	value_is(-0.0, "0");
	value_is(1, "1");
	value_is(-3, "-3");
	value_is(42, "42");
	value_is(1e15, "1000000000000000");
	value_is(123456789012.0, "123456789012");
	value_is(9007199254740992.0, "9007199254740992");	/* 2^53 */
	value_is(0.1, "0.1");
	value_is(0.005, "0.005");
	value_is(2.5, "2.5");
	value_is(-1.25, "-1.25");
	value_is(1e-7, "1e-07");
	value_is(1e300, "1e+300");
	value_is(18446744073709551616.0, "1.8446744073709552e+19"); /* 2^64 */
	value_is(1.0 / 3, "0.3333333333333333");
	value_is(NAN, "NaN");
	value_is(-NAN, "NaN");
	value_is(INFINITY, "+Inf");
	value_is(-INFINITY, "-Inf");
}
END_TEST

/* Whatever the double, the text reads back to it and holds nothing a
 * Prometheus value may not. */
START_TEST(test_value_roundtrip)
{
	char		 buf[METRICS_VALUE_MAX];
	uint64_t	 x = 0x9e3779b97f4a7c15ULL, bits;
	double		 v;
	int		 i;

	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bits = x;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v))
			continue;
		if (i % 4 == 0)		/* plenty of ordinary magnitudes too */
			v = (double)(int64_t)(x >> 20) / 1000.0;
		metrics_format_value(buf, sizeof buf, v);
		ck_assert_msg(strspn(buf, "0123456789.eE+-") == strlen(buf),
		    "%s", buf);
		ck_assert_msg(strtod(buf, NULL) == v, "%s != %.17g", buf, v);
		ck_assert_uint_lt(strlen(buf), METRICS_VALUE_MAX);
	}
}
END_TEST

START_TEST(test_family)
{
	struct metrics_buf	 b = { 0 };

	metrics_family(&b, "algopromote_promotions_total", "counter",
	    "Promotions done.\nOne line: a \\ backslash, \"quotes\" kept.");
	metrics_family(&b, "algopromote_up", "gauge", NULL);
	metrics_family(&b, "algopromote_odd", "counterx", "x");
	metrics_family(&b, "algopromote_seconds", "histogram", "");
	ck_assert_str_eq(b.data,
	    "# HELP algopromote_promotions_total Promotions done.\\nOne "
	    "line: a \\\\ backslash, \"quotes\" kept.\n"
	    "# TYPE algopromote_promotions_total counter\n"
	    "# TYPE algopromote_up gauge\n"
	    "# HELP algopromote_odd x\n"
	    "# TYPE algopromote_odd untyped\n"
	    "# HELP algopromote_seconds \n"
	    "# TYPE algopromote_seconds histogram\n");
	ck_assert_uint_eq(b.len, strlen(b.data));
	metrics_buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	metrics_buf_free(&b);		/* twice is harmless */
	metrics_buf_free(NULL);
}
END_TEST

START_TEST(test_sample)
{
	struct metrics_buf	 b = { 0 };

	metrics_sample(&b, "a_total", NULL, 3);
	metrics_sample(&b, "a_total", "", 4);
	metrics_sample(&b, "b", "pair=\"p\",dest=\"d\"", 0.25);
	metrics_sample(&b, "c:rate", "x=\"1\"", NAN);
	metrics_sample(&b, "bad-name.x", NULL, -INFINITY);
	metrics_sample(&b, "9lives", NULL, 1e21);
	metrics_sample(&b, "", NULL, 1);
	ck_assert_str_eq(b.data,
	    "a_total 3\n"
	    "a_total 4\n"
	    "b{pair=\"p\",dest=\"d\"} 0.25\n"
	    "c:rate{x=\"1\"} NaN\n"
	    "bad_name_x -Inf\n"
	    "_lives 1e+21\n"
	    "_ 1\n");
	metrics_buf_free(&b);
}
END_TEST

/* Many small appends: the buffer grows and stays one string. */
START_TEST(test_buf_growth)
{
	struct metrics_buf	 b = { 0 };
	char			 want[64];
	size_t			 expect = 0;
	int			 i;

	for (i = 0; i < 10000; i++) {
		metrics_sample(&b, "n", NULL, i);
		expect += (size_t)snprintf(want, sizeof want, "n %d\n", i);
	}
	ck_assert_uint_eq(b.len, expect);
	ck_assert_uint_eq(strlen(b.data), expect);
	ck_assert_uint_gt(b.cap, b.len);
	ck_assert(strncmp(b.data + b.len - 7, "n 9999\n", 7) == 0);
	metrics_buf_free(&b);
}
END_TEST

START_TEST(test_label_escaping)
{
	char	*s;

	s = metrics_label("pair", "a\"b\\c\nd");
	ck_assert_str_eq(s, "pair=\"a\\\"b\\\\c\\nd\"");
	free(s);
	s = metrics_label("pair", "");
	ck_assert_str_eq(s, "pair=\"\"");
	free(s);
	s = metrics_label("pair", NULL);
	ck_assert_str_eq(s, "pair=\"\"");
	free(s);
	/* UTF-8 passes; what is not UTF-8 becomes U+FFFD, byte by byte. */
	s = metrics_label("n", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80");
	ck_assert_str_eq(s, "n=\"h\xc3\xa9llo \xe2\x9c\x93 "
	    "\xf0\x9f\x98\x80\"");
	free(s);
	s = metrics_label("n", "a\xff" "b");
	ck_assert_str_eq(s, "n=\"a\xef\xbf\xbd" "b\"");
	free(s);
	s = metrics_label("n", "\xc0\xaf");		/* overlong '/' */
	ck_assert_str_eq(s, "n=\"\xef\xbf\xbd\xef\xbf\xbd\"");
	free(s);
	s = metrics_label("n", "\xed\xa0\x80");		/* a surrogate */
	ck_assert_str_eq(s, "n=\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	free(s);
	s = metrics_label("n", "\xf4\x90\x80\x80");	/* past U+10FFFF */
	ck_assert_str_eq(s, "n=\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\"");
	free(s);
	s = metrics_label("n", "x\xe2\x9c");		/* cut short */
	ck_assert_str_eq(s, "n=\"x\xef\xbf\xbd\xef\xbf\xbd\"");
	free(s);
	/* A label name holds no ':' and starts with no digit. */
	s = metrics_label("a:b-c", "v");
	ck_assert_str_eq(s, "a_b_c=\"v\"");
	free(s);
	s = metrics_label("1st", "v");
	ck_assert_str_eq(s, "_st=\"v\"");
	free(s);
}
END_TEST

START_TEST(test_labels)
{
	char	*s;

	s = metrics_labels("pair", "hello", "dest", "prod/acme/Hello",
	    "why", "said \"no\"", NULL);
	ck_assert_str_eq(s, "pair=\"hello\",dest=\"prod/acme/Hello\","
	    "why=\"said \\\"no\\\"\"");
	free(s);
	s = metrics_labels("one", "1", NULL);
	ck_assert_str_eq(s, "one=\"1\"");
	free(s);
	s = metrics_labels(NULL, NULL, NULL);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

/* A sample with one label more; labels added to a buffer; a deferred
 * writer finished at once. */
static int	more_left;

static int
more_lines(void *arg, struct metrics_buf *b)
{
	metrics_sample_label(b, "t", NULL, "n", arg, more_left);
	return --more_left > 0;
}

static void
more_done(void *arg)
{
	more_left = -1;
}

START_TEST(test_sample_label_and_defer)
{
	struct metrics_buf	 b = { 0 };
	char			 val[] = "x\"y";

	metrics_sample_label(&b, "a:b", "pair=\"p\"", "le", "+Inf", 1);
	metrics_sample_label(&b, "c", "", "kind", "t\n", 2);
	metrics_buf_label(&b, "1x", "v\\");
	ck_assert_str_eq(b.data, "a:b{pair=\"p\",le=\"+Inf\"} 1\n"
	    "c{kind=\"t\\n\"} 2\n_x=\"v\\\\\"");
	metrics_buf_free(&b);

	metrics_buf_finish(&b);			/* nothing deferred */
	ck_assert_ptr_null(b.data);
	more_left = 3;
	metrics_buf_defer(&b, more_lines, more_done, val);
	metrics_buf_finish(&b);
	ck_assert_str_eq(b.data, "t{n=\"x\\\"y\"} 3\nt{n=\"x\\\"y\"} 2\n"
	    "t{n=\"x\\\"y\"} 1\n");
	ck_assert_int_eq(more_left, -1);	/* done() once, at the end */
	ck_assert_ptr_null(b.more);
	metrics_buf_free(&b);
}
END_TEST

START_TEST(test_histo_buckets)
{
	struct metrics_histo	 h = { 0 };
	size_t			 i;

	ck_assert_uint_eq(METRICS_NBUCKETS, 18);
	ck_assert(isinf(metrics_bounds[METRICS_NBUCKETS - 1]));
	for (i = 1; i < METRICS_NBUCKETS; i++)
		ck_assert(metrics_bounds[i] > metrics_bounds[i - 1]);

	metrics_histo_observe(&h, 0.005);	/* le is inclusive */
	metrics_histo_observe(&h, 0.0051);
	metrics_histo_observe(&h, 1);
	metrics_histo_observe(&h, 1800);
	metrics_histo_observe(&h, 1800.5);
	metrics_histo_observe(&h, 1e9);
	metrics_histo_observe(&h, -2);		/* a clock went back: 0 */
	metrics_histo_observe(&h, NAN);		/* dropped */
	metrics_histo_observe(&h, INFINITY);	/* dropped */
	ck_assert_uint_eq(h.buckets[0], 2);
	ck_assert_uint_eq(h.buckets[1], 1);
	ck_assert_uint_eq(h.buckets[7], 1);
	ck_assert_uint_eq(h.buckets[16], 1);
	ck_assert_uint_eq(h.buckets[17], 2);
	ck_assert_uint_eq(h.count, 7);
	ck_assert(h.sum == 0.005 + 0.0051 + 1 + 1800 + 1800.5 + 1e9);
}
END_TEST

START_TEST(test_histo_write)
{
	struct metrics_buf	 b = { 0 };
	struct metrics_histo	 h = { 0 };

	metrics_histo_observe(&h, 0.02);
	metrics_histo_observe(&h, 0.5);
	metrics_histo_observe(&h, 3);
	metrics_histo_observe(&h, 4000);
	metrics_histo_write(&b, "d_seconds", "pair=\"p\"", &h);
	ck_assert_str_eq(b.data,
	    "d_seconds_bucket{pair=\"p\",le=\"0.005\"} 0\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.01\"} 0\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.025\"} 1\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.05\"} 1\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.1\"} 1\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.25\"} 1\n"
	    "d_seconds_bucket{pair=\"p\",le=\"0.5\"} 2\n"
	    "d_seconds_bucket{pair=\"p\",le=\"1\"} 2\n"
	    "d_seconds_bucket{pair=\"p\",le=\"2.5\"} 2\n"
	    "d_seconds_bucket{pair=\"p\",le=\"5\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"10\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"30\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"60\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"120\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"300\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"600\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"1800\"} 3\n"
	    "d_seconds_bucket{pair=\"p\",le=\"+Inf\"} 4\n"
	    "d_seconds_sum{pair=\"p\"} 4003.52\n"
	    "d_seconds_count{pair=\"p\"} 4\n");
	metrics_buf_free(&b);

	/* No labels: le alone; an empty histogram is all zeros. */
	memset(&h, 0, sizeof h);
	metrics_histo_write(&b, "e", NULL, &h);
	ck_assert(strncmp(b.data, "e_bucket{le=\"0.005\"} 0\n", 23) == 0);
	ck_assert_ptr_nonnull(strstr(b.data,
	    "e_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n"));
	metrics_buf_free(&b);
	metrics_histo_write(&b, "e", "", &h);
	ck_assert(strncmp(b.data, "e_bucket{le=\"0.005\"} 0\n", 23) == 0);
	metrics_buf_free(&b);
}
END_TEST

#define OBSERVERS	4
#define OBSERVATIONS	200000

static void *
observer(void *arg)
{
	struct metrics_histo	*h = arg;
	int			 i;

	for (i = 0; i < OBSERVATIONS; i++)
		metrics_histo_observe(h, (i & 1) ? 0.5 : 20);
	return NULL;
}

/* The counts of one written histogram: cumulative, and _count equal to
 * the +Inf bucket, even while observers are running. */
static uint64_t
consistent(const char *text)
{
	const char	*p = text;
	uint64_t	 prev = 0, v = 0, count;
	int		 n = 0;

	while ((p = strstr(p, "_bucket{")) != NULL) {
		p = strchr(p, '}');
		ck_assert_int_eq(sscanf(p, "} %" SCNu64, &v), 1);
		ck_assert_uint_ge(v, prev);
		prev = v;
		n++;
	}
	ck_assert_int_eq(n, METRICS_NBUCKETS);
	p = strstr(text, "h_count ");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "h_count %" SCNu64, &count), 1);
	ck_assert_uint_eq(count, v);
	return count;
}

START_TEST(test_histo_threads)
{
	struct metrics_histo	 h = { 0 };
	struct metrics_buf	 b = { 0 };
	pthread_t		 t[OBSERVERS];
	uint64_t		 last = 0, now;
	int			 i, writes = 0;

	for (i = 0; i < OBSERVERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, observer, &h), 0);
	/* Write while they observe, until they are done. */
	do {
		metrics_histo_write(&b, "h", NULL, &h);
		now = consistent(b.data);
		ck_assert_uint_ge(now, last);
		last = now;
		metrics_buf_free(&b);
		writes++;
	} while (now < (uint64_t)OBSERVERS * OBSERVATIONS);
	for (i = 0; i < OBSERVERS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);

	ck_assert_uint_eq(h.count, (uint64_t)OBSERVERS * OBSERVATIONS);
	ck_assert_uint_eq(h.buckets[6], (uint64_t)OBSERVERS * OBSERVATIONS / 2);
	ck_assert_uint_eq(h.buckets[11],
	    (uint64_t)OBSERVERS * OBSERVATIONS / 2);
	/* Halves and twenties add up exactly in a double. */
	ck_assert(h.sum == (double)OBSERVERS * OBSERVATIONS / 2 * 20.5);
	ck_assert_int_gt(writes, 0);
}
END_TEST

/* promcheck.py FILE: its exit status, its stderr in *err. */
static int
promcheck(const char *dir, const char *file, char **err)
{
	posix_spawn_file_actions_t	 fa;
	char				*script, *errpath;
	char				*argv[4];
	pid_t				 pid;
	int				 status;

	xasprintf(&script, "%s/tests/tools/promcheck.py", testutil_srcdir());
	xasprintf(&errpath, "%s/promcheck.err", dir);
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1,
	    "/dev/null", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, errpath,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	argv[0] = xstrdup("python3");
	argv[1] = script;
	argv[2] = xstrdup(file);
	argv[3] = NULL;
	ck_assert_int_eq(posix_spawnp(&pid, "python3", &fa, NULL, argv,
	    environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	posix_spawn_file_actions_destroy(&fa);
	*err = testutil_read(errpath);
	free(argv[0]);
	free(argv[2]);
	free(script);
	free(errpath);
	ck_assert_msg(WIFEXITED(status), "promcheck.py died: %d", status);
	return WEXITSTATUS(status);
}

/* A scrape as the daemon will write it, with every awkward case. */
static void
write_exposition(struct metrics_buf *b)
{
	struct metrics_histo	 h = { 0 }, empty = { 0 };
	char			*l1, *l2;

	l1 = metrics_labels("pair", "hello \"world\"\n\\", "dest",
	    "prod/acme/H\xc3\xa9llo", NULL);
	l2 = metrics_labels("pair", "bad\xff utf8", "dest", "", NULL);

	metrics_family(b, "algopromote_build_info", "gauge",
	    "Build information, always 1.");
	metrics_sample(b, "algopromote_build_info", "version=\"0.1.0\"", 1);
	metrics_family(b, "algopromote_promotions_total", "counter",
	    "Promotions by pair\nand destination, with a \\ in the help.");
	metrics_sample(b, "algopromote_promotions_total", l1, 12);
	metrics_sample(b, "algopromote_promotions_total", l2, 0);
	metrics_family(b, "algopromote_odd_values", "gauge", "Odd values.");
	metrics_sample(b, "algopromote_odd_values", "v=\"nan\"", NAN);
	metrics_sample(b, "algopromote_odd_values", "v=\"inf\"", INFINITY);
	metrics_sample(b, "algopromote_odd_values", "v=\"-inf\"", -INFINITY);
	metrics_sample(b, "algopromote_odd_values", "v=\"tiny\"", 1e-300);
	metrics_sample(b, "algopromote_odd_values", "v=\"big\"", 1e300);
	metrics_sample(b, "algopromote_odd_values", "v=\"third\"", 1.0 / 3);
	metrics_family(b, "algopromote_cycle_seconds", "histogram",
	    "Promotion cycle durations.");
	metrics_histo_observe(&h, 0.003);
	metrics_histo_observe(&h, 7.5);
	metrics_histo_observe(&h, 7200);
	metrics_histo_write(b, "algopromote_cycle_seconds", l1, &h);
	metrics_histo_write(b, "algopromote_cycle_seconds", l2, &empty);
	metrics_family(b, "algopromote_poll_seconds", "histogram", NULL);
	metrics_histo_write(b, "algopromote_poll_seconds", NULL, &h);
	metrics_family(b, "bad name!", "nonsense", "sanitised");
	metrics_sample(b, "bad name!", NULL, 2);
	free(l1);
	free(l2);
}

START_TEST(test_promcheck_accepts)
{
	struct metrics_buf	 b = { 0 };
	char			*dir, *path, *err;

	dir = testutil_tmpdir();
	xasprintf(&path, "%s/metrics.txt", dir);
	write_exposition(&b);
	testutil_write(path, b.data, 0600);
	ck_assert_msg(promcheck(dir, path, &err) == 0, "%s\n%s", err, b.data);
	ck_assert_str_eq(err, "");
	free(err);

	/* The checker is awake: a repeated series is refused. */
	metrics_sample(&b, "bad_name_", NULL, 3);
	testutil_write(path, b.data, 0600);
	ck_assert_int_eq(promcheck(dir, path, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "duplicate series bad_name_"));
	free(err);

	metrics_buf_free(&b);
	testutil_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_value_spelling);
	tcase_add_test(tc, test_value_roundtrip);
	tcase_add_test(tc, test_family);
	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_buf_growth);
	tcase_add_test(tc, test_label_escaping);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_sample_label_and_defer);
	tcase_add_test(tc, test_histo_buckets);
	tcase_add_test(tc, test_histo_write);
	tcase_add_test(tc, test_histo_threads);
	tcase_add_test(tc, test_promcheck_accepts);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
