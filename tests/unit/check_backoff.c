/* check_backoff.c: the one retry timing: jitter bounds, doubling to a
 * cap, Retry-After as a floor, and a sleep a cancel flag ends. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "backoff.h"
#include "monotime.h"
#include "testutil.h"

START_TEST(test_jitter_bounds)
{
	uint64_t	 ms, lo = UINT64_MAX, hi = 0;
	int		 i;

	/* Every random number lands within +-10% of the interval ... */
	for (i = 0; i < 100000; i++) {
		ms = backoff_jitter(60000, backoff_random());
		if (ms < lo)
			lo = ms;
		if (ms > hi)
			hi = ms;
	}
	ck_assert_uint_ge(lo, 54000);
	ck_assert_uint_le(hi, 66000);
	/* ... and the spread is used, not a constant. */
	ck_assert_uint_lt(lo, 54100);
	ck_assert_uint_gt(hi, 65900);
	/* The extremes, exactly. */
	ck_assert_uint_eq(backoff_jitter(60000, 0), 54000);
	ck_assert_uint_eq(backoff_jitter(60000, 12000), 66000);
	ck_assert_uint_eq(backoff_jitter(60000, 12001), 54000);
	/* Too short to spread: as it is. */
	ck_assert_uint_eq(backoff_jitter(4, 3), 4);
	ck_assert_uint_eq(backoff_jitter(0, 7), 0);
}
END_TEST

START_TEST(test_delay)
{
	/* rnd = ms/10 puts the jitter in the middle: no change. */
	ck_assert_uint_eq(backoff_delay(1000, 0, 60000, -1, 100), 1000);
	ck_assert_uint_eq(backoff_delay(1000, 3, 60000, -1, 800), 8000);
	/* The cap, then jitter on it; no overflow however many doublings. */
	ck_assert_uint_eq(backoff_delay(1000, 10, 60000, -1, 6000), 60000);
	ck_assert_uint_eq(backoff_delay(1000, 1000000, 60000, -1, 0), 54000);
	ck_assert_uint_le(backoff_delay(UINT64_MAX / 4, 5, 60000, -1, 0),
	    60000);
	/* Retry-After wins when longer, never when shorter or absent. */
	ck_assert_uint_eq(backoff_delay(1000, 0, 60000, 5000, 100), 5000);
	ck_assert_uint_eq(backoff_delay(1000, 0, 60000, 500, 100), 1000);
	ck_assert_uint_eq(backoff_delay(1000, 0, 60000, 0, 100), 1000);
	/* A Retry-After beyond the cap is still honoured. */
	ck_assert_uint_eq(backoff_delay(1000, 0, 60000, 120000, 100), 120000);
}
END_TEST

static void *
backoff_test_cancel(void *arg)
{
	struct timespec	 ts = { 0, 200 * 1000000L };

	nanosleep(&ts, NULL);
	atomic_store((atomic_int *)arg, 1);
	return NULL;
}

START_TEST(test_sleep)
{
	atomic_int	 cancel = 0;
	pthread_t	 t;
	uint64_t	 start, took;

	start = monotime_ms();
	ck_assert_int_eq(backoff_sleep(NULL, 150), 0);
	ck_assert_uint_ge(monotime_ms() - start, 150);
	ck_assert_int_eq(backoff_sleep(&cancel, 0), 0);
	/* Cancelled before: at once. */
	atomic_store(&cancel, 1);
	start = monotime_ms();
	ck_assert_int_eq(backoff_sleep(&cancel, 10000), -1);
	ck_assert_uint_lt(monotime_ms() - start, 50);
	/* Cancelled during a long wait: within a slice or two. */
	atomic_store(&cancel, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, backoff_test_cancel,
	    &cancel), 0);
	start = monotime_ms();
	ck_assert_int_eq(backoff_sleep(&cancel, 30000), -1);
	took = monotime_ms() - start;
	pthread_join(t, NULL);
	ck_assert_uint_ge(took, 150);
	ck_assert_uint_lt(took, 200 + 2 * BACKOFF_SLICE_MS + 200);
}
END_TEST

Suite *
backoff_suite(void)
{
	Suite	*s = suite_create("backoff");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_jitter_bounds);
	tcase_add_test(tc, test_delay);
	tcase_add_test(tc, test_sleep);
	suite_add_tcase(s, tc);
	return s;
}
