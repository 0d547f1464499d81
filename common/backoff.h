/* backoff.h: the one retry timing of algopromoted: a wait that doubles
 * from a base to a cap with jitter, never shorter than a server's
 * Retry-After, and a sleep that a cancel flag ends. */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <stdatomic.h>
#include <stdint.h>

#define BACKOFF_SLICE_MS	100	/* a cancel is seen this soon */

/* ms +- 10% from rnd, so that things with one interval spread out. */
uint64_t	 backoff_jitter(uint64_t ms, uint64_t rnd);
/* base_ms doubled `doublings` times, at most cap_ms, then jittered; a
 * longer retry_after_ms (<= 0: none) wins. */
uint64_t	 backoff_delay(uint64_t base_ms, uint64_t doublings,
		    uint64_t cap_ms, long retry_after_ms, uint64_t rnd);
/* A random number for jitter (any thread); it need not be secret. */
uint64_t	 backoff_random(void);
/* Sleeps ms in slices, looking at cancel (NULL: none) between them:
 * 0 slept it all, -1 cancelled. */
int		 backoff_sleep(const atomic_int *cancel, uint64_t ms);

#endif
