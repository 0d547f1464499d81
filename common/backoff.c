/* backoff.c: the one retry timing of algopromoted: a wait that doubles
 * from a base to a cap with jitter, never shorter than a server's
 * Retry-After, and a sleep that a cancel flag ends. The scheduler, the
 * API client and git transfers all wait by these. */
#include <sys/random.h>

#include <time.h>

#include "backoff.h"
#include "monotime.h"

uint64_t
backoff_jitter(uint64_t ms, uint64_t rnd)
{
	uint64_t	 span = ms / 5;

	if (span == 0)
		return ms;
	return ms - ms / 10 + rnd % (span + 1);
}

uint64_t
backoff_delay(uint64_t base_ms, uint64_t doublings, uint64_t cap_ms,
    long retry_after_ms, uint64_t rnd)
{
	uint64_t	 ms = base_ms, i;

	for (i = 0; i < doublings && ms < cap_ms; i++)
		ms *= 2;
	if (ms > cap_ms)
		ms = cap_ms;
	ms = backoff_jitter(ms, rnd);
	if (retry_after_ms > 0 && (uint64_t)retry_after_ms > ms)
		ms = (uint64_t)retry_after_ms;
	return ms;
}

uint64_t
backoff_random(void)
{
	uint64_t	 rnd;

	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = monotime_ms() * 0x9e3779b97f4a7c15ULL;
	return rnd;
}

int
backoff_sleep(const atomic_int *cancel, uint64_t ms)
{
	struct timespec	 ts;
	uint64_t	 end = monotime_ms() + ms, now, slice;

	for (;;) {
		if (cancel != NULL && atomic_load(cancel) != 0)
			return -1;
		if ((now = monotime_ms()) >= end)
			return 0;
		slice = end - now;
		if (slice > BACKOFF_SLICE_MS)
			slice = BACKOFF_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000L;
		nanosleep(&ts, NULL);
	}
}
