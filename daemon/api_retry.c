/* api_retry.c: when a failed API request is tried again: which failures
 * may be repeated, how long to wait first, and the loop of tries. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "api_int.h"
#include "backoff.h"
#include "log.h"
#include "monotime.h"

/*
 * Worth another try? Only a transient failure (httpmsg's classification),
 * never a cancelled one. A GET may always be repeated; a request that
 * changes state (POST, PUT, PATCH, DELETE) only when the server cannot
 * have acted on it: it never reached it (sent == 0) or it was refused
 * (429, 503). Anything else of such a request is ambiguous, and the
 * caller looks at the destination instead of repeating it.
 */
int
api_retry_may(const char *method, const struct api_error *err, int sent)
{
	if (err->cancelled || !err->transient)
		return 0;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return 1;
	if (err->status == 0)
		return !sent;
	return err->status == 429 || err->status == 503;
}

/*
 * How long to wait after failed try number done (1 for the first): about
 * API_RETRY_FIRST_MS doubling each time, with backoff.c's jitter, but
 * never less than the server's Retry-After (-1: none).
 */
uint64_t
api_retry_wait(int done, long retry_after_ms, uint64_t rnd)
{
	return backoff_delay(API_RETRY_FIRST_MS, (uint64_t)(done - 1),
	    API_RETRY_AFTER_MAX_MS, retry_after_ms, rnd);
}

/* Is either client cancelled? */
int
api_retry_cancelled(struct api_client *const cl[2])
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (cl[i] != NULL && cl[i]->cancel != NULL &&
		    atomic_load(cl[i]->cancel) != 0)
			return 1;
	return 0;
}

void
api_retry_cancel_fail(struct api_error *err, const char *what)
{
	api_error_reset(err);
	err->cancelled = 1;
	api_fail(err, "%s: cancelled", what);
}

/* Sleeps ms looking at both cancel flags: 0, or -1 cancelled. */
static int
api_retry_sleep(struct api_client *const cl[2], uint64_t ms)
{
	uint64_t	 end = monotime_ms() + ms, now, slice;

	while (!api_retry_cancelled(cl) && (now = monotime_ms()) < end) {
		slice = end - now < BACKOFF_SLICE_MS ? end - now :
		    BACKOFF_SLICE_MS;
		if (backoff_sleep(cl[0]->cancel, slice) != 0)
			return -1;
	}
	return api_retry_cancelled(cl) ? -1 : 0;
}

/* Does a halt hook of either client stop the tries? */
static int
api_retry_halted(struct api_client *const cl[2], struct api_error *err)
{
	char	 last[sizeof err->message], why[160];
	int	 i;

	for (i = 0; i < 2; i++) {
		if (cl[i] == NULL || cl[i]->halt == NULL ||
		    cl[i]->halt(cl[i]->halt_arg, why, sizeof why) == 0)
			continue;
		memcpy(last, err->message, sizeof last);
		api_fail(err, "%s (not tried again: %s)", last, why);
		err->halted = 1;
		return 1;
	}
	return 0;
}

/*
 * Tries r until it succeeds, its failure may not be repeated, the tries
 * or the retry budget run out, a halt hook or a cancel stops it. Waits
 * api_retry_wait() between tries. A failure after several tries says how
 * many, and when the budget ended them, that. Returns once()'s last.
 */
int
api_retry_run(const struct api_retry_req *r, struct api_error *err)
{
	struct api_client	*log_c = r->cl[1] != NULL ? r->cl[1] : r->cl[0];
	char			 last[sizeof err->message];
	uint64_t		 start = monotime_ms(), wait, budget_ms;
	int			 n, rv, again, tries, budget = 0;

	tries = r->cl[0]->tries;
	budget_ms = r->cl[0]->retry_budget_ms;
	if (r->cl[1] != NULL) {
		if (r->cl[1]->tries < tries)
			tries = r->cl[1]->tries;
		if (r->cl[1]->retry_budget_ms < budget_ms)
			budget_ms = r->cl[1]->retry_budget_ms;
	}
	for (n = 1;; n++) {
		again = 0;
		rv = r->once(r->arg, err, &again);
		if (rv == 0 || n >= tries || !again)
			break;
		if (api_retry_halted(r->cl, err))
			return -1;
		wait = api_retry_wait(n, err->retry_after_ms,
		    backoff_random());
		if (monotime_ms() - start + wait > budget_ms) {
			budget = 1;
			break;
		}
		log_info("%s%sapi: %s; try %d of %d in %.1f s",
		    log_c->who ? "route " : "", log_c->who ? log_c->who : "",
		    err->message, n + 1, tries, (double)wait / 1000);
		if (api_retry_sleep(r->cl, wait) != 0) {
			api_retry_cancel_fail(err, r->what);
			return -1;
		}
	}
	if (rv == 0 || (n < 2 && !budget))
		return rv;
	memcpy(last, err->message, sizeof last);
	if (budget)
		api_fail(err, "%s (%d %s; the next would pass the %.1f s retry "
		    "budget)", last, n, n == 1 ? "try" : "tries",
		    (double)budget_ms / 1000);
	else
		api_fail(err, "%s (%d tries)", last, n);
	return rv;
}
