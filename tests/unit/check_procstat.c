/* check_procstat.c: the process metrics: /proc/self/stat parsing, real
 * readings that follow what the process does, and the exposition. */
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "procstat.h"
#include "testutil.h"
#include "xmalloc.h"

/* A real line of proc(5), with a command that holds ") (" and blanks. */
static const char stat_line[] =
    "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 1067 0 0 0 3 1 0 0 20 0 "
    "5 0 987654 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 4096 "
    "0 0 0 0 17 3 0 0 0 0 0\n";

START_TEST(test_parse_stat)
{
	unsigned long long	 start = 0, vsize = 0;
	long long		 rss = 0;

	ck_assert_int_eq(procstat_parse_stat(stat_line, &start, &vsize, &rss),
	    0);
	ck_assert_uint_eq(start, 987654);
	ck_assert_uint_eq(vsize, 123456789);
	ck_assert_int_eq(rss, 2345);
	/* No ')', too few fields, a field that is not a number. */
	ck_assert_int_eq(procstat_parse_stat("4242 a S 1", &start, &vsize,
	    &rss), -1);
	ck_assert_int_eq(procstat_parse_stat("4242 (a) S 1 2 3\n", &start,
	    &vsize, &rss), -1);
	ck_assert_int_eq(procstat_parse_stat("4242 (a) S 1 4242 4242 0 -1 "
	    "4194560 1067 0 0 0 3 1 0 0 20 0 5 0 x 1 2\n", &start, &vsize,
	    &rss), -1);
	ck_assert_int_eq(procstat_parse_stat("", &start, &vsize, &rss), -1);
}
END_TEST

static double
wall_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
read_ok(struct procstat *ps)
{
	char	*cause = NULL;

	ck_assert_msg(procstat_read(ps, &cause) == 0, "%s", cause);
	ck_assert_ptr_null(cause);
}

/* The readings follow what the process does. */
START_TEST(test_read_real)
{
	struct procstat	 a, b;
	struct rlimit	 rl;
	volatile double	 x = 0;
	char		*p;
	int		 fds[3];
	size_t		 i, big = 64 << 20;

	read_ok(&a);
	ck_assert(a.open_fds >= 3);
	ck_assert(a.resident_bytes > 0);
	ck_assert(a.virtual_bytes >= a.resident_bytes);
	ck_assert(a.cpu_seconds >= 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert(a.max_fds == (double)rl.rlim_cur);

	/* Three descriptors more; 64 MiB touched; CPU burnt. */
	for (i = 0; i < 3; i++)
		ck_assert_int_ge(fds[i] = open("/dev/null", O_RDONLY), 0);
	p = xmalloc(big);
	memset(p, 1, big);
	for (i = 0; i < 100000000 && x < 1e300; i++)
		x += (double)i * 0.5;
	read_ok(&b);
	ck_assert(b.open_fds == a.open_fds + 3);
	ck_assert(b.resident_bytes >= a.resident_bytes + (double)big / 2);
	ck_assert(b.virtual_bytes >= a.virtual_bytes + (double)big);
	ck_assert(b.cpu_seconds > a.cpu_seconds);
	ck_assert(b.start_time == a.start_time);
	free(p);
	for (i = 0; i < 3; i++)
		close(fds[i]);
}
END_TEST

/* A child's start time lies between the fork and the child's reading,
 * give or take the kernel's rounding (the boot time in whole seconds,
 * the start in clock ticks). */
START_TEST(test_start_time)
{
	struct procstat	 ps;
	double		 before, after, start = -1;
	pid_t		 pid;
	int		 fd[2], status;

	ck_assert_int_eq(pipe(fd), 0);
	before = wall_now();
	if ((pid = fork()) == 0) {
		char	*cause = NULL;

		close(fd[0]);
		if (procstat_read(&ps, &cause) == -1)
			_exit(1);
		if (write(fd[1], &ps.start_time, sizeof ps.start_time) !=
		    (ssize_t)sizeof ps.start_time)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(fd[1]);
	ck_assert_int_eq(read(fd[0], &start, sizeof start),
	    (ssize_t)sizeof start);
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	after = wall_now();
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_msg(start >= floor(before) - 1 && start <= after + 0.02,
	    "start %.3f not in [%.3f, %.3f]", start, before, after);
}
END_TEST

START_TEST(test_write)
{
	struct procstat		 ps = {
		.resident_bytes = 12345678, .virtual_bytes = 987654321,
		.cpu_seconds = 1.25, .open_fds = 17, .max_fds = 1024,
		.start_time = 1700000000.37,
	};
	struct metrics_buf	 b = { 0 };

	procstat_write(&b, &ps);
	ck_assert_str_eq(b.data,
	    "# HELP process_cpu_seconds_total Total user and system CPU time "
	    "spent in seconds.\n"
	    "# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total 1.25\n"
	    "# HELP process_open_fds Number of open file descriptors.\n"
	    "# TYPE process_open_fds gauge\n"
	    "process_open_fds 17\n"
	    "# HELP process_max_fds Maximum number of open file descriptors.\n"
	    "# TYPE process_max_fds gauge\n"
	    "process_max_fds 1024\n"
	    "# HELP process_virtual_memory_bytes Virtual memory size in "
	    "bytes.\n"
	    "# TYPE process_virtual_memory_bytes gauge\n"
	    "process_virtual_memory_bytes 987654321\n"
	    "# HELP process_resident_memory_bytes Resident memory size in "
	    "bytes.\n"
	    "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes 12345678\n"
	    "# HELP process_start_time_seconds Start time of the process "
	    "since unix epoch in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds 1700000000.37\n");
	metrics_buf_free(&b);

	/* What could not be read is left out, family and all. */
	ps.open_fds = -1;
	ps.start_time = -1;
	procstat_write(&b, &ps);
	ck_assert_ptr_null(strstr(b.data, "process_open_fds"));
	ck_assert_ptr_null(strstr(b.data, "process_start_time_seconds"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nprocess_max_fds 1024\n"));
	metrics_buf_free(&b);
}
END_TEST

Suite *
procstat_suite(void)
{
	Suite	*s = suite_create("procstat");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parse_stat);
	tcase_add_test(tc, test_read_real);
	tcase_add_test(tc, test_start_time);
	tcase_add_test(tc, test_write);
	suite_add_tcase(s, tc);
	return s;
}
