/* gitops_retry.c: the tries of one git network step (ls, fetch, push):
 * the backoff between them, the step's budget and cancellation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitops_int.h"
#include "log.h"
#include "monotime.h"
#include "redact.h"
#include "scheduler.h"
#include "xmalloc.h"

static __thread uint64_t	 gitops_retry_state;

/* This thread's xorshift64, for jitter only. */
static uint64_t
gitops_retry_random(void)
{
	uint64_t	 x = gitops_retry_state;

	if (x == 0)
		x = (monotime_ms() ^ (uint64_t)(uintptr_t)&gitops_retry_state) |
		    1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	gitops_retry_state = x;
	return x;
}

/* The next try's timeout: the remote's, cut to what is left of the
 * budget (never 0, which would mean the default). */
static uint64_t
gitops_retry_timeout(const struct gitops_retry *t)
{
	uint64_t	 tmo, used, budget = t->r->retry_budget_ms;

	tmo = t->r->timeout_ms != 0 ? t->r->timeout_ms :
	    GITOPS_TIMEOUT_DEFAULT;
	if (budget == 0)
		return tmo;
	used = monotime_ms() - t->start;
	if (used >= budget)
		return 1;
	return budget - used < tmo ? budget - used : tmo;
}

void
gitops_retry_begin(struct gitops_retry *t, const struct gitops_remote *r)
{
	memset(t, 0, sizeof *t);
	t->r = r;
	t->start = monotime_ms();
	t->tries = r != NULL && r->retries > 1 ? r->retries : 1;
	if (r == NULL)
		return;
	t->now = *r;
	t->now.timeout_ms = gitops_retry_timeout(t);
}

/* Waits ms in slices of GITOPS_RETRY_SLICE_MS; 0 when cancelled. */
static int
gitops_retry_sleep(const atomic_int *cancel, uint64_t ms)
{
	struct timespec	 ts;
	uint64_t	 end = monotime_ms() + ms, now, left;

	for (;;) {
		if (cancel != NULL && atomic_load(cancel) != 0)
			return 0;
		if ((now = monotime_ms()) >= end)
			return 1;
		left = end - now;
		if (left > GITOPS_RETRY_SLICE_MS)
			left = GITOPS_RETRY_SLICE_MS;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

int
gitops_retry_again(struct gitops_retry *t, int transient, const char *what,
    char **cause)
{
	uint64_t	 wait, used;
	char		*old, *url;

	t->done++;
	if (!transient || t->r == NULL || t->done >= t->tries)
		goto stop;
	wait = scheduler_backoff(GITOPS_RETRY_BASE_MS, (uint64_t)t->done - 1,
	    0, gitops_retry_random());
	used = monotime_ms() - t->start;
	if (t->r->retry_budget_ms != 0 &&
	    used + wait >= t->r->retry_budget_ms)
		goto stop;
	log_info("%s; try %d of %d failed, next in %llu ms", *cause, t->done,
	    t->tries, (unsigned long long)wait);
	free(*cause);
	*cause = NULL;
	if (!gitops_retry_sleep(t->r->cancel, wait)) {
		url = redact(t->r->url);
		gitops_cause(cause, "%s %s: cancelled", what, url);
		free(url);
		return 0;
	}
	t->now.timeout_ms = gitops_retry_timeout(t);
	return 1;

stop:
	if (t->done > 1) {
		old = *cause;
		*cause = xprintf("%s (after %d tries)", old, t->done);
		free(old);
	}
	return 0;
}
