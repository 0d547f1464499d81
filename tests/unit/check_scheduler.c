/* check_scheduler.c: the scheduler's decisions, driven by a fake clock and
 * chosen random numbers: backoff, jitter, slots across reloads, one job
 * per route, the wait queue, and poll timing. No sleeping, no threads. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "scheduler.h"
#include "testutil.h"

START_TEST(test_backoff_doubles_to_the_cap)
{
	/* rnd = ms/10 puts jitter at the middle: no change. */
	ck_assert_uint_eq(scheduler_backoff(5000, 0, -1, 500), 5000);
	ck_assert_uint_eq(scheduler_backoff(5000, 1, -1, 1000), 10000);
	ck_assert_uint_eq(scheduler_backoff(5000, 2, -1, 2000), 20000);
	ck_assert_uint_eq(scheduler_backoff(5000, 3, -1, 4000), 40000);
	/* Capped at 30 minutes, jitter on top of the cap. */
	ck_assert_uint_eq(
	    scheduler_backoff(5000, 40, -1, SCHEDULER_BACKOFF_MAX_MS / 10),
	    SCHEDULER_BACKOFF_MAX_MS);
	ck_assert_uint_eq(scheduler_backoff(5000, 1000000, -1, 0),
			  SCHEDULER_BACKOFF_MAX_MS -
			      SCHEDULER_BACKOFF_MAX_MS / 10);
	ck_assert_uint_le(scheduler_backoff(UINT64_MAX / 4, 5, -1, 0),
			  SCHEDULER_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(test_backoff_honours_retry_after)
{
	/* Retry-After wins when it asks for longer ... */
	ck_assert_uint_eq(scheduler_backoff(5000, 1, 120000, 1000), 120000);
	/* ... and not when it asks for less. */
	ck_assert_uint_eq(scheduler_backoff(5000, 1, 3000, 1000), 10000);
	ck_assert_uint_eq(scheduler_backoff(5000, 1, 0, 1000), 10000);
}
END_TEST

START_TEST(test_one_job_per_route)
{
	struct scheduler s;
	struct scheduler_route *r;

	scheduler_init(&s, 1);
	r = scheduler_route_add(&s, NULL, "dev", 4, "prod", 4, 0);
	ck_assert_int_eq(scheduler_start(&s, r), SCHEDULER_STARTED);
	ck_assert_int_eq(scheduler_start(&s, r), SCHEDULER_BUSY);
	ck_assert_int_eq(s.clusters[0].busy, 1);
	ck_assert_int_eq(s.clusters[1].busy, 1);
	scheduler_finish(&s, r, 0, 5000, 10);
	/* A second finish changes nothing: slots are not freed twice. */
	scheduler_finish(&s, r, 0, 5000, 11);
	ck_assert_int_eq(s.clusters[0].busy, 0);
	ck_assert_int_eq(s.clusters[1].busy, 0);
	ck_assert_int_eq(scheduler_start(&s, r), SCHEDULER_STARTED);
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_slots_and_wait_queue)
{
	struct scheduler s;
	struct scheduler_route *a, *b, *c, *d;

	scheduler_init(&s, 1);
	/* dev allows 2, prod 1, stage 3. */
	a = scheduler_route_add(&s, NULL, "dev", 2, "prod", 1, 0);
	b = scheduler_route_add(&s, NULL, "dev", 2, "prod", 1, 0);
	c = scheduler_route_add(&s, NULL, "dev", 2, "stage", 3, 0);
	d = scheduler_route_add(&s, NULL, "dev", 2, "stage", 3, 0);
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	ck_assert_int_eq(scheduler_start(&s, b),
			 SCHEDULER_QUEUED); /* prod full */
	ck_assert_int_eq(scheduler_start(&s, b),
			 SCHEDULER_BUSY); /* queued once */
	ck_assert_int_eq(scheduler_start(&s, c), SCHEDULER_STARTED);
	ck_assert_int_eq(scheduler_start(&s, d),
			 SCHEDULER_QUEUED); /* dev full */
	ck_assert_ptr_null(scheduler_next_waiting(&s, 0));
	/* c ends: dev has room, prod still not: d goes before b. */
	scheduler_finish(&s, c, 0, 5000, 1);
	ck_assert_ptr_eq(scheduler_next_waiting(&s, 0), d);
	ck_assert_ptr_null(scheduler_next_waiting(&s, 0));
	/* a ends: b fits again. */
	scheduler_finish(&s, a, 0, 5000, 2);
	ck_assert_ptr_eq(scheduler_next_waiting(&s, 0), b);
	ck_assert_int_eq(s.clusters[0].busy, 2);
	scheduler_finish(&s, b, 0, 5000, 3);
	scheduler_finish(&s, d, 0, 5000, 3);
	ck_assert_int_eq(s.clusters[0].busy, 0);
	ck_assert_int_eq(s.clusters[1].busy, 0);
	ck_assert_int_eq(s.clusters[2].busy, 0);
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_same_cluster_takes_one_slot)
{
	struct scheduler s;
	struct scheduler_route *a, *b;

	scheduler_init(&s, 1);
	a = scheduler_route_add(&s, NULL, "one", 1, "one", 1, 0);
	b = scheduler_route_add(&s, NULL, "one", 1, "one", 1, 0);
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	ck_assert_int_eq(s.clusters[0].busy, 1);
	ck_assert_int_eq(scheduler_start(&s, b), SCHEDULER_QUEUED);
	scheduler_finish(&s, a, 0, 5000, 1);
	ck_assert_ptr_eq(scheduler_next_waiting(&s, 0), b);
	scheduler_clear(&s);
}
END_TEST

/* A reload moves a route to other clusters while its job runs: the job
 * frees the slots it took, not the new ones; indexes stay stable. */
START_TEST(test_slots_across_reload)
{
	struct scheduler s;
	struct scheduler_route *a, *b;
	size_t i;

	scheduler_init(&s, 1);
	a = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	scheduler_route_move(&s, a, "dev2", 1, "prod2", 1);
	ck_assert_uint_eq(s.nclusters, 4);
	b = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	ck_assert_int_eq(scheduler_start(&s, b), SCHEDULER_QUEUED);
	scheduler_finish(&s, a, 0, 5000, 1);
	for (i = 0; i < s.nclusters; i++)
		ck_assert_int_eq(s.clusters[i].busy, 0);
	ck_assert_ptr_eq(scheduler_next_waiting(&s, 0), b);
	/* The next job of a takes the new clusters. */
	ck_assert_int_eq(scheduler_start(&s, a), SCHEDULER_STARTED);
	ck_assert_int_eq(s.clusters[2].busy, 1);
	ck_assert_int_eq(s.clusters[3].busy, 1);
	/* A reload that raises a limit lets a waiting route in. */
	scheduler_route_move(&s, b, "dev", 1, "prod", 1);
	ck_assert_uint_eq(scheduler_cluster(&s, "prod", 2), 1);
	ck_assert_int_eq(s.clusters[1].max_parallel, 2);
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_removed_route_leaves_the_queue)
{
	struct scheduler s;
	struct scheduler_route *a, *b;

	scheduler_init(&s, 1);
	a = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	b = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	scheduler_start(&s, a);
	ck_assert_int_eq(scheduler_start(&s, b), SCHEDULER_QUEUED);
	scheduler_route_free(&s, b);
	scheduler_finish(&s, a, 0, 5000, 1);
	ck_assert_ptr_null(scheduler_next_waiting(&s, 0));
	ck_assert_ptr_eq(TAILQ_FIRST(&s.routes), a);
	ck_assert_ptr_null(TAILQ_NEXT(a, entry));
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_failed_job_backs_off)
{
	struct scheduler s;
	struct scheduler_route *r;
	struct scheduler_facts f = {.have_head = 1};
	uint64_t first, second;

	scheduler_init(&s, 7);
	r = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	ck_assert_int_eq(scheduler_wants(r, &f, 0), SCHEDULER_PROMOTE);
	scheduler_start(&s, r);
	scheduler_finish(&s, r, 1, 5000, 1000);
	first = r->retry_at_ms - 1000;
	/* The first failure waits the base (retry_min), with jitter. */
	ck_assert_uint_ge(first, 4500);
	ck_assert_uint_le(first, 5500);
	ck_assert_int_eq(scheduler_wants(r, &f, 1000 + first - 1),
			 SCHEDULER_NOTHING);
	ck_assert_int_eq(scheduler_wants(r, &f, 1000 + first),
			 SCHEDULER_PROMOTE);
	scheduler_start(&s, r);
	scheduler_finish(&s, r, 1, 5000, 50000);
	second = r->retry_at_ms - 50000;
	ck_assert_uint_ge(second, 9000);
	ck_assert_uint_le(second, 11000);
	/* Success clears it. */
	scheduler_start(&s, r);
	scheduler_finish(&s, r, 0, 5000, 80000);
	ck_assert_uint_eq(r->job_failures, 0);
	ck_assert_uint_eq(r->retry_at_ms, 0);
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_wants)
{
	struct scheduler_route r = {.last_job_ms = 1000};
	struct scheduler_facts f = {0};

	/* Nothing seen yet. */
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_NOTHING);
	/* A promotion to resume goes even before the first poll. */
	f.pending = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_PROMOTE);
	f.pending = 0;
	f.have_head = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_PROMOTE);
	f.head_failed = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_NOTHING);
	f.head_failed = 0;
	f.head_held = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_NOTHING);
	f.head_held = 0;
	f.head_done = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 2000), SCHEDULER_NOTHING);
	/* Reconcile an unchanged route once the interval has passed. */
	f.reconcile_ms = 5000;
	ck_assert_int_eq(scheduler_wants(&r, &f, 5999), SCHEDULER_NOTHING);
	ck_assert_int_eq(scheduler_wants(&r, &f, 6000), SCHEDULER_RECONCILE);
	/* A failed job backing off holds even a resume. */
	r.retry_at_ms = 9000;
	f.pending = 1;
	ck_assert_int_eq(scheduler_wants(&r, &f, 8999), SCHEDULER_NOTHING);
	ck_assert_int_eq(scheduler_wants(&r, &f, 9000), SCHEDULER_PROMOTE);
}
END_TEST

START_TEST(test_poll_timing)
{
	struct scheduler s;
	struct scheduler_route *r;
	uint64_t d;

	scheduler_init(&s, 3);
	r = scheduler_route_add(&s, NULL, "dev", 1, "prod", 1, 0);
	d = scheduler_first_poll(&s, r, 100);
	ck_assert_uint_lt(d, SCHEDULER_START_SPREAD_MS);
	ck_assert_uint_eq(r->next_poll_ms, 100 + d);
	d = scheduler_polled(&s, r, 1, 60000, -1, 1000);
	ck_assert_uint_ge(d, 54000);
	ck_assert_uint_le(d, 66000);
	ck_assert_uint_eq(r->next_poll_ms, 1000 + d);
	ck_assert_uint_eq((1000 + d) % SCHEDULER_GRID_MS, 0);
	/* Failures back off from the interval; Retry-After can ask more. */
	d = scheduler_polled(&s, r, 0, 60000, -1, 2000);
	ck_assert_uint_ge(d, 108000);
	ck_assert_uint_le(d, 132000);
	d = scheduler_polled(&s, r, 0, 60000, 3600000, 3000);
	ck_assert_uint_eq(d, 3600000);
	ck_assert_uint_eq(r->poll_failures, 2);
	d = scheduler_polled(&s, r, 1, 60000, -1, 4000);
	ck_assert_uint_eq(r->poll_failures, 0);
	ck_assert_uint_le(d, 66000);
	scheduler_clear(&s);
}
END_TEST

START_TEST(test_poll_grid)
{
	uint64_t now, delay, d;

	/* Polls due within one step of the grid come due together. */
	ck_assert_uint_eq(scheduler_align(60010, 1000), 60250);
	ck_assert_uint_eq(scheduler_align(60200, 1050), 60200);
	ck_assert_uint_eq(1000 + scheduler_align(60010, 1000),
			  1050 + scheduler_align(60200, 1050));
	/* On the grid already: unchanged. */
	ck_assert_uint_eq(scheduler_align(5000, 0), 5000);
	ck_assert_uint_eq(scheduler_align(5000, 1), 5249);
	/* Short delays (a retry, a first backoff step) are left alone,
	 * and a clock at its end does not wrap. */
	ck_assert_uint_eq(scheduler_align(SCHEDULER_GRID_MIN_MS - 1, 7),
			  SCHEDULER_GRID_MIN_MS - 1);
	ck_assert_uint_eq(scheduler_align(0, 7), 0);
	ck_assert_uint_eq(scheduler_align(10000, UINT64_MAX - 100), 10000);
	/* Never earlier, later by less than a step, on the grid. */
	for (now = 0; now < 3 * SCHEDULER_GRID_MS; now += 7)
		for (delay = SCHEDULER_GRID_MIN_MS;
		     delay < SCHEDULER_GRID_MIN_MS + 2 * SCHEDULER_GRID_MS;
		     delay += 13) {
			d = scheduler_align(delay, now);
			ck_assert_uint_ge(d, delay);
			ck_assert_uint_lt(d - delay, SCHEDULER_GRID_MS);
			ck_assert_uint_eq((now + d) % SCHEDULER_GRID_MS, 0);
		}
}
END_TEST

START_TEST(test_same_seed_same_decisions)
{
	struct scheduler a, b;
	int i;

	scheduler_init(&a, 99);
	scheduler_init(&b, 99);
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(scheduler_random(&a), scheduler_random(&b));
	scheduler_init(&a, 0); /* 0 is no xorshift state: replaced */
	ck_assert_uint_ne(scheduler_random(&a), 0);
}
END_TEST

Suite *
scheduler_suite(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_backoff_doubles_to_the_cap);
	tcase_add_test(tc, test_backoff_honours_retry_after);
	tcase_add_test(tc, test_one_job_per_route);
	tcase_add_test(tc, test_slots_and_wait_queue);
	tcase_add_test(tc, test_same_cluster_takes_one_slot);
	tcase_add_test(tc, test_slots_across_reload);
	tcase_add_test(tc, test_removed_route_leaves_the_queue);
	tcase_add_test(tc, test_failed_job_backs_off);
	tcase_add_test(tc, test_wants);
	tcase_add_test(tc, test_poll_timing);
	tcase_add_test(tc, test_poll_grid);
	tcase_add_test(tc, test_same_seed_same_decisions);
	suite_add_tcase(s, tc);
	return s;
}
