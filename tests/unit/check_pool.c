/* check_pool.c: jobs run on workers, complete on the loop thread, and
 * pool_free() finishes what was queued. */
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "pool.h"
#include "testutil.h"

#define NJOBS	200

struct tjob {
	struct pool_job	 job;
	pthread_t	 ran_on;
	pthread_t	 done_on;
	int		 value;
	int		*ndone;
	struct event_base *base;
};

static void
tjob_run(struct pool_job *pj)
{
	struct tjob	*t = (struct tjob *)pj;

	t->ran_on = pthread_self();
	t->value *= 2;
}

static void
tjob_done(struct pool_job *pj)
{
	struct tjob	*t = (struct tjob *)pj;

	t->done_on = pthread_self();
	if (++*t->ndone == NJOBS)
		event_base_loopbreak(t->base);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	ck_abort_msg("jobs did not complete in time");
}

START_TEST(test_run_and_complete)
{
	struct event_base	*base;
	struct pool		*p;
	struct tjob		*jobs;
	struct event		*guard;
	struct timeval		 tv = { 30, 0 };
	char			*cause = NULL;
	int			 i, ndone = 0;

	evthread_use_pthreads();
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_int_eq(pool_new(&p, base, 4, &cause), 0);
	jobs = calloc(NJOBS, sizeof *jobs);
	for (i = 0; i < NJOBS; i++) {
		jobs[i].job.run = tjob_run;
		jobs[i].job.done = tjob_done;
		jobs[i].value = i;
		jobs[i].ndone = &ndone;
		jobs[i].base = base;
		pool_submit(p, &jobs[i].job);
	}
	ck_assert_uint_gt(pool_pending(p), 0);
	guard = evtimer_new(base, on_timeout, NULL);
	evtimer_add(guard, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(ndone, NJOBS);
	ck_assert_uint_eq(pool_pending(p), 0);
	for (i = 0; i < NJOBS; i++) {
		ck_assert_int_eq(jobs[i].value, 2 * i);
		ck_assert(!pthread_equal(jobs[i].ran_on, pthread_self()));
		ck_assert(pthread_equal(jobs[i].done_on, pthread_self()));
	}
	event_free(guard);
	pool_free(p);
	event_base_free(base);
	free(jobs);
}
END_TEST

START_TEST(test_free_finishes_queue)
{
	struct event_base	*base;
	struct pool		*p;
	struct tjob		 jobs[10] = { 0 };
	char			*cause = NULL;
	int			 i, ndone = 0;

	evthread_use_pthreads();
	base = event_base_new();
	ck_assert_int_eq(pool_new(&p, base, 1, &cause), 0);
	for (i = 0; i < 10; i++) {
		jobs[i].job.run = tjob_run;
		jobs[i].job.done = tjob_done;
		jobs[i].value = i + 1;
		jobs[i].ndone = &ndone;
		jobs[i].base = base;
		pool_submit(p, &jobs[i].job);
	}
	pool_free(p);	/* no loop ran: done() comes from pool_free */
	ck_assert_int_eq(ndone, 10);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(jobs[i].value, 2 * (i + 1));
	event_base_free(base);
}
END_TEST

Suite *
pool_suite(void)
{
	Suite	*s = suite_create("pool");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_run_and_complete);
	tcase_add_test(tc, test_free_finishes_queue);
	suite_add_tcase(s, tc);
	return s;
}
