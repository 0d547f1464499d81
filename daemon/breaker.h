/* breaker.h: a cluster's circuit breaker: when the cluster fails every route,
 * jobs stop retrying against it and no job starts on it until it answers.
 *
 * Failures and answers are reported by the loop (polls) and by workers
 * (each try of a job's requests); the breaker opens after BREAKER_TRIP
 * transient failures in a row that came from more than one route, so one
 * route's own trouble never cuts its retries short. Open, it refuses for
 * a cool-off (BREAKER_COOL_MS doubling to BREAKER_COOL_MAX_MS) that a
 * poll answered by the cluster ends early; then it is half-open: one job
 * may start (the scheduler's rule), and its first failed try opens it
 * again. An answer to a job's request closes it. Time is passed in, so it
 * is tested without sleeping.
 */
#ifndef BREAKER_H
#define BREAKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define BREAKER_TRIP		4	/* failures in a row, two routes+ */
#define BREAKER_COOL_MS		5000
#define BREAKER_COOL_MAX_MS	60000

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_OPEN,	/* refuses */
	BREAKER_HALF,	/* cooled off: one job may try, a failure opens it */
};

enum breaker_from {
	BREAKER_POLL,	/* a poll of the cluster (loop) */
	BREAKER_JOB,	/* a try of one of a job's requests (worker) */
};

struct breaker {
	pthread_mutex_t	 lock;
	char		*name;		/* the cluster's: immutable */
	/* Under lock: */
	unsigned	 fails;		/* transient failures in a row */
	unsigned	 job_fails;	/* of them, by jobs */
	uintptr_t	 who;		/* the route of the first of them */
	int		 many;		/* more than one route among them */
	unsigned	 trips;		/* times opened in this streak */
	uint64_t	 until;		/* refuses before this (monotonic) */
	uint64_t	 opened;	/* times opened, ever (metrics) */
};

struct breaker	*breaker_new(const char *cluster);
void		 breaker_free(struct breaker *);
/* Any thread: one request to the cluster failed transiently (ok == 0:
 * no answer, 5xx, 429, 408) or was answered (ok == 1), for route who. */
void		 breaker_report(struct breaker *, enum breaker_from, int ok,
		    uintptr_t who, uint64_t now);
/* Any thread: 1 while open, with a sentence saying so in why; else 0. A
 * NULL breaker is never open. */
int		 breaker_open(struct breaker *, uint64_t now, char *why,
		    size_t len);
/* Any thread: the state now; with why as breaker_open() when not closed. */
enum breaker_state breaker_state(struct breaker *, uint64_t now, char *why,
		    size_t len);
/* Any thread: times opened since start. */
uint64_t	 breaker_opened(struct breaker *);

#endif
