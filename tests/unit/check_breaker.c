/* check_breaker.c: a cluster's circuit breaker, driven by a fake clock:
 * when it opens, what ends a cool-off, what closes it, and what never
 * opens it (one route's own failures). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "breaker.h"
#include "scheduler.h"
#include "testutil.h"

#define A ((uintptr_t)1)
#define B ((uintptr_t)2)

static void
failing(struct breaker *b, enum breaker_from from, uintptr_t who, int n,
    uint64_t now)
{
	while (n-- > 0)
		breaker_report(b, from, 0, who, now);
}

START_TEST(test_one_route_never_opens_it)
{
	struct breaker *b = breaker_new("dev");

	/* One route's retries are its own business: its budget ends them. */
	failing(b, BREAKER_JOB, A, 100, 1000);
	failing(b, BREAKER_POLL, A, 100, 1000);
	ck_assert_int_eq(breaker_open(b, 1000, NULL, 0), 0);
	ck_assert_uint_eq(breaker_opened(b), 0);
	/* A second route's failure makes it the cluster's. */
	failing(b, BREAKER_JOB, B, 1, 1000);
	ck_assert_int_eq(breaker_open(b, 1000, NULL, 0), 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_opens_after_trip_failures_of_two_routes)
{
	struct breaker *b = breaker_new("dev-sick");
	char why[160] = "";

	failing(b, BREAKER_JOB, A, 2, 1000);
	failing(b, BREAKER_JOB, B, BREAKER_TRIP - 3, 1000);
	ck_assert_int_eq(breaker_open(b, 1000, why, sizeof why), 0);
	ck_assert_str_eq(why, "");
	failing(b, BREAKER_POLL, B, 1, 1000);
	ck_assert_int_eq(breaker_open(b, 1000, why, sizeof why), 1);
	ck_assert_str_eq(why, "cluster dev-sick is failing (4 requests in a "
	    "row, for more than one route)");
	/* The cool-off: about BREAKER_COOL_MS (+-10% jitter). */
	ck_assert_int_eq(breaker_open(b, 1000 + BREAKER_COOL_MS * 9 / 10 - 1,
	    NULL, 0), 1);
	ck_assert_int_eq(breaker_open(b, 1000 + BREAKER_COOL_MS * 11 / 10 + 1,
	    NULL, 0), 0);
	ck_assert_uint_eq(breaker_opened(b), 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_half_open_fails_again_and_cools_longer)
{
	struct breaker *b = breaker_new("dev");
	uint64_t now = 1000;

	failing(b, BREAKER_JOB, A, 2, now);
	failing(b, BREAKER_JOB, B, 2, now);
	ck_assert_int_eq(breaker_open(b, now, NULL, 0), 1);
	/* Failures while open change nothing. */
	failing(b, BREAKER_JOB, A, 10, now + 1);
	ck_assert_uint_eq(breaker_opened(b), 1);
	/* Half-open: the first failure opens it again, for longer. */
	now += BREAKER_COOL_MS * 2;
	ck_assert_int_eq(breaker_open(b, now, NULL, 0), 0);
	ck_assert_int_eq(breaker_state(b, now, NULL, 0), BREAKER_HALF);
	failing(b, BREAKER_JOB, A, 1, now);
	ck_assert_uint_eq(breaker_opened(b), 2);
	ck_assert_int_eq(breaker_open(b, now + BREAKER_COOL_MS * 2 * 9 / 10 - 1,
	    NULL, 0), 1);
	/* The cool-off doubles to its cap, never past it. */
	for (int i = 0; i < 20; i++) {
		now += BREAKER_COOL_MAX_MS * 2;
		failing(b, BREAKER_JOB, B, 1, now);
	}
	ck_assert_int_eq(breaker_open(b, now + BREAKER_COOL_MAX_MS * 9 / 10 - 1,
	    NULL, 0), 1);
	ck_assert_int_eq(breaker_open(b, now + BREAKER_COOL_MAX_MS * 11 / 10 +
	    1, NULL, 0), 0);
	breaker_free(b);
}
END_TEST

START_TEST(test_an_answer_to_a_job_closes_it)
{
	struct breaker *b = breaker_new("dev");

	failing(b, BREAKER_JOB, A, 2, 0);
	failing(b, BREAKER_JOB, B, 2, 0);
	ck_assert_int_eq(breaker_open(b, 0, NULL, 0), 1);
	breaker_report(b, BREAKER_JOB, 1, A, 1);
	ck_assert_int_eq(breaker_state(b, 1, NULL, 0), BREAKER_CLOSED);
	/* Closed: the count starts again. */
	failing(b, BREAKER_JOB, A, 1, 2);
	failing(b, BREAKER_JOB, B, BREAKER_TRIP - 2, 2);
	ck_assert_int_eq(breaker_open(b, 2, NULL, 0), 0);
	/* And a success in the middle of a streak ends it. */
	breaker_report(b, BREAKER_JOB, 1, B, 3);
	failing(b, BREAKER_JOB, A, 1, 4);
	failing(b, BREAKER_JOB, B, BREAKER_TRIP - 2, 4);
	ck_assert_int_eq(breaker_open(b, 4, NULL, 0), 0);
	breaker_free(b);
}
END_TEST

START_TEST(test_an_answered_poll_ends_a_cool_off_only)
{
	struct breaker *b = breaker_new("dev");

	/* Jobs' fetches time out while the polls' ref advertisements come:
	 * a poll's answer lets jobs try again, and the first failure of
	 * one opens it again at once. */
	failing(b, BREAKER_JOB, A, 2, 0);
	failing(b, BREAKER_JOB, B, 2, 0);
	ck_assert_int_eq(breaker_open(b, 0, NULL, 0), 1);
	breaker_report(b, BREAKER_POLL, 1, A, 100);
	ck_assert_int_eq(breaker_open(b, 100, NULL, 0), 0);
	failing(b, BREAKER_JOB, A, 1, 200);
	ck_assert_int_eq(breaker_open(b, 200, NULL, 0), 1);
	ck_assert_uint_eq(breaker_opened(b), 2);
	/* A poll's answer in a streak of jobs' failures does not end it. */
	breaker_report(b, BREAKER_JOB, 1, A, 300);
	failing(b, BREAKER_JOB, A, 2, 400);
	breaker_report(b, BREAKER_POLL, 1, A, 400);
	failing(b, BREAKER_JOB, B, 2, 400);
	ck_assert_int_eq(breaker_open(b, 400, NULL, 0), 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_an_answered_poll_ends_a_streak_of_polls)
{
	struct breaker *b = breaker_new("dev");

	/* An idle service's occasional failed polls, hours apart, with
	 * answered polls between them, never add up. */
	for (int i = 0; i < 10; i++) {
		failing(b, BREAKER_POLL, i % 2 ? A : B, BREAKER_TRIP - 1, i);
		breaker_report(b, BREAKER_POLL, 1, A, i);
	}
	ck_assert_int_eq(breaker_open(b, 10, NULL, 0), 0);
	ck_assert_uint_eq(breaker_opened(b), 0);
	/* Polls failing for everyone open it: no job would get further. */
	failing(b, BREAKER_POLL, A, 2, 20);
	failing(b, BREAKER_POLL, B, 2, 20);
	ck_assert_int_eq(breaker_open(b, 20, NULL, 0), 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_null_is_never_open)
{
	char why[8] = "x";

	breaker_report(NULL, BREAKER_JOB, 0, A, 0);
	ck_assert_int_eq(breaker_open(NULL, 0, why, sizeof why), 0);
	ck_assert_str_eq(why, "x");
}
END_TEST

START_TEST(test_scheduler_skips_a_failing_cluster)
{
	struct scheduler s;
	struct scheduler_route *a, *b, *c;
	char why[160];

	scheduler_init(&s, 1);
	/* Both routes share prod (one slot); a and b come from sick. */
	a = scheduler_route_add(&s, NULL, "sick", 4, "prod", 1, 0);
	b = scheduler_route_add(&s, NULL, "sick", 4, "prod", 1, 0);
	c = scheduler_route_add(&s, NULL, "well", 4, "prod", 1, 0);
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	ck_assert_int_eq(scheduler_start(&s, b), SCHEDULER_QUEUED);
	ck_assert_int_eq(scheduler_start(&s, c), SCHEDULER_QUEUED);
	ck_assert_int_eq(scheduler_failing(&s, a, 0, why, sizeof why), 0);
	failing(s.clusters[0].breaker, BREAKER_JOB, A, 2, 0);
	failing(s.clusters[0].breaker, BREAKER_JOB, B, 2, 0);
	ck_assert_int_eq(scheduler_failing(&s, a, 0, why, sizeof why), 1);
	ck_assert_str_eq(why, "cluster sick is failing (4 requests in a row, "
	    "for more than one route)");
	ck_assert_int_eq(scheduler_failing(&s, c, 0, why, sizeof why), 0);
	/* a's job ends: its slot goes to c, ahead of b, which leaves the
	 * queue (its next poll asks again). */
	scheduler_finish(&s, a, 1, 5000, 0);
	ck_assert_ptr_eq(scheduler_next_waiting(&s, 0), c);
	ck_assert_int_eq(b->queued, 0);
	ck_assert_ptr_null(TAILQ_FIRST(&s.waitq));
	scheduler_finish(&s, c, 0, 5000, 0);
	/* Cooled off (half-open): one job tries the cluster, then the
	 * others wait for what it finds. */
	ck_assert_int_eq(breaker_state(s.clusters[0].breaker,
	    BREAKER_COOL_MS * 2, NULL, 0), BREAKER_HALF);
	ck_assert_int_eq(scheduler_failing(&s, a, BREAKER_COOL_MS * 2, NULL,
	    0), 0);
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	ck_assert_int_eq(scheduler_failing(&s, b, BREAKER_COOL_MS * 2, NULL,
	    0), 1);
	/* A healthy route beside it is not held back. */
	scheduler_finish(&s, a, 0, 5000, 0);
	ck_assert_int_eq(scheduler_failing(&s, c, BREAKER_COOL_MS * 2, NULL,
	    0), 0);
	scheduler_clear(&s);
}
END_TEST

Suite *
breaker_suite(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_route_never_opens_it);
	tcase_add_test(tc, test_opens_after_trip_failures_of_two_routes);
	tcase_add_test(tc, test_half_open_fails_again_and_cools_longer);
	tcase_add_test(tc, test_an_answer_to_a_job_closes_it);
	tcase_add_test(tc, test_an_answered_poll_ends_a_cool_off_only);
	tcase_add_test(tc, test_an_answered_poll_ends_a_streak_of_polls);
	tcase_add_test(tc, test_null_is_never_open);
	tcase_add_test(tc, test_scheduler_skips_a_failing_cluster);
	suite_add_tcase(s, tc);
	return s;
}
