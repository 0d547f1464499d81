/* breaker.c: a cluster's circuit breaker (breaker.h): counts transient
 * failures in a row across routes, opens, cools off, closes on an answer.
 *
 * Threads: every field but name is read and written under b->lock; the
 * log lines are written after it is released.
 */
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"
#include "breaker.h"
#include "log.h"
#include "xmalloc.h"

struct breaker *
breaker_new(const char *cluster)
{
	struct breaker	*b = xcalloc(1, sizeof *b);

	if (pthread_mutex_init(&b->lock, NULL) != 0)
		fatalx("pthread_mutex_init failed");
	b->name = xstrdup(cluster);
	return b;
}

void
breaker_free(struct breaker *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->name);
	free(b);
}

/* The streak ended: closed, nothing counted. */
static void
breaker_reset(struct breaker *b)
{
	b->fails = 0;
	b->job_fails = 0;
	b->who = 0;
	b->many = 0;
	b->trips = 0;
	b->until = 0;
}

void
breaker_report(struct breaker *b, enum breaker_from from, int ok,
    uintptr_t who, uint64_t now)
{
	unsigned	 opened = 0, closed = 0;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	if (ok && from == BREAKER_JOB) {
		/* A job's request was answered: the cluster works. */
		closed = b->trips > 0 ? b->fails : 0;
		breaker_reset(b);
	} else if (ok) {
		/*
		 * A poll was answered. That proves the poll's request only
		 * (a ref advertisement may come while upload-pack hangs):
		 * it ends a cool-off, so jobs may try again, and ends a
		 * streak of polls' failures alone, not one of jobs'.
		 */
		if (b->job_fails == 0) {
			closed = b->trips > 0 ? b->fails : 0;
			breaker_reset(b);
		} else if (b->until > now)
			b->until = now;
	} else {
		if (b->fails++ == 0)
			b->who = who;
		else if (who != b->who)
			b->many = 1;
		if (from == BREAKER_JOB)
			b->job_fails++;
		/* Open, or half-open and failing again: (re)open. */
		if (b->fails >= BREAKER_TRIP && b->many && b->until <= now) {
			b->until = now + backoff_delay(BREAKER_COOL_MS,
			    b->trips, BREAKER_COOL_MAX_MS, -1,
			    backoff_random());
			if (b->trips++ == 0)
				opened = b->fails;
			b->opened++;
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (opened != 0)
		log_warnx("cluster %s: %u requests in a row failed, for more "
		    "than one route: no retries and no new promotions on it "
		    "until it answers", b->name, opened);
	if (closed != 0)
		log_info("cluster %s answers again (after %u failed requests "
		    "in a row)", b->name, closed);
}

enum breaker_state
breaker_state(struct breaker *b, uint64_t now, char *why, size_t len)
{
	enum breaker_state	 st = BREAKER_CLOSED;
	unsigned		 fails;

	if (b == NULL)
		return BREAKER_CLOSED;
	pthread_mutex_lock(&b->lock);
	if (b->until > now)
		st = BREAKER_OPEN;
	else if (b->trips > 0)
		st = BREAKER_HALF;
	fails = b->fails;
	pthread_mutex_unlock(&b->lock);
	if (st != BREAKER_CLOSED && why != NULL && len > 0)
		snprintf(why, len, "cluster %s is failing (%u requests in a "
		    "row, for more than one route)", b->name, fails);
	return st;
}

int
breaker_open(struct breaker *b, uint64_t now, char *why, size_t len)
{
	return breaker_state(b, now, why, len) == BREAKER_OPEN;
}

uint64_t
breaker_opened(struct breaker *b)
{
	uint64_t	 n;

	pthread_mutex_lock(&b->lock);
	n = b->opened;
	pthread_mutex_unlock(&b->lock);
	return n;
}
