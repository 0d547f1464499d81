/* gitops_retry.c: the tries of one git network step (ls, fetch, push):
 * the backoff between them, the step's budget and cancellation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "gitops_int.h"
#include "log.h"
#include "monotime.h"
#include "redact.h"
#include "xmalloc.h"

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

int
gitops_retry_again(struct gitops_retry *t, int transient, const char *what,
    char **cause)
{
	uint64_t	 wait, used;
	char		*old, *url, why[160];

	t->done++;
	if (!transient || t->r == NULL || t->done >= t->tries)
		goto stop;
	if (t->r->halt != NULL && t->r->halt(t->r->halt_arg, why,
	    sizeof why) != 0) {
		old = *cause;
		*cause = xprintf("%s (not tried again: %s)", old, why);
		free(old);
		return 0;
	}
	wait = backoff_delay(GITOPS_RETRY_BASE_MS, (uint64_t)t->done - 1,
	    GITOPS_RETRY_MAX_MS, -1, backoff_random());
	used = monotime_ms() - t->start;
	if (t->r->retry_budget_ms != 0 &&
	    used + wait >= t->r->retry_budget_ms)
		goto stop;
	/* Worded as the API client's retries are. */
	log_info("%s%s%s%s; try %d of %d in %.1f s", t->r->who ? "route " : "",
	    t->r->who ? t->r->who : "", t->r->who ? ": " : "", *cause,
	    t->done + 1, t->tries, (double)wait / 1000);
	free(*cause);
	*cause = NULL;
	if (backoff_sleep(t->r->cancel, wait) == -1) {
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
