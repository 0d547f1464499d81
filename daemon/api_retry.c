/* api_retry.c: when a failed API request is tried again: which failures
 * may be repeated and how long to wait first (backoff.c waits). */
#include <stdint.h>
#include <string.h>

#include "api_int.h"
#include "backoff.h"

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
