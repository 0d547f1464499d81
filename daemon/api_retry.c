/* api_retry.c: when a failed API request is tried again: which failures
 * may be repeated, how long to wait first, and the cancellable wait. */
#include <sys/random.h>

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
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
 * API_RETRY_FIRST_MS doubling each time, +-20% from rnd, but never less
 * than the server's Retry-After (-1: none).
 */
uint64_t
api_retry_wait(int done, long retry_after_ms, uint64_t rnd)
{
	uint64_t	 ms = API_RETRY_FIRST_MS;
	int		 i;

	for (i = 1; i < done && ms < API_RETRY_AFTER_MAX_MS; i++)
		ms *= 2;
	if (ms > API_RETRY_AFTER_MAX_MS)
		ms = API_RETRY_AFTER_MAX_MS;
	ms = ms - ms / 5 + rnd % (ms * 2 / 5 + 1);
	if (retry_after_ms > 0 && (uint64_t)retry_after_ms > ms)
		ms = (uint64_t)retry_after_ms;
	return ms;
}

/* A random number for the jitter; it need not be unpredictable. */
uint64_t
api_retry_random(void)
{
	uint64_t	 rnd;

	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = monotime_ms() * 0x9e3779b97f4a7c15ULL;
	return rnd;
}

/* Sleeps ms in slices of at most API_RETRY_SLICE_MS, looking at cancel
 * (NULL: none) between them. 0 slept, -1 cancelled. */
int
api_retry_sleep(const atomic_int *cancel, uint64_t ms)
{
	struct timespec	 ts;
	uint64_t	 end = monotime_ms() + ms, now, slice;

	for (;;) {
		if (cancel != NULL && atomic_load(cancel) != 0)
			return -1;
		if ((now = monotime_ms()) >= end)
			return 0;
		slice = end - now;
		if (slice > API_RETRY_SLICE_MS)
			slice = API_RETRY_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000L;
		nanosleep(&ts, NULL);
	}
}
