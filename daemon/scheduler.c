/* scheduler.c: the one scheduler of the service and of --once: the route table,
 * poll timing with jitter, backoff, per-cluster slots, one job per route.
 *
 * Decisions take the time (monotonic ms) and random numbers as arguments;
 * the callers own the clocks, the timers and the worker pool.
 */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "scheduler.h"
#include "xmalloc.h"

void
scheduler_init(struct scheduler *s, uint64_t seed)
{
	memset(s, 0, sizeof *s);
	TAILQ_INIT(&s->routes);
	TAILQ_INIT(&s->waitq);
	s->rnd = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

void
scheduler_clear(struct scheduler *s)
{
	struct scheduler_route *r;
	size_t i;

	/* scheduler_route_free() unlinks r; the analyzer cannot see it. */
	while ((r = TAILQ_FIRST(&s->routes)) != NULL)
		scheduler_route_free(s, r); /* NOLINT(clang-analyzer-unix.Malloc) */
	for (i = 0; i < s->nclusters; i++) {
		free(s->clusters[i].name);
		breaker_free(s->clusters[i].breaker);
	}
	free(s->clusters);
	s->clusters = NULL;
	s->nclusters = 0;
}

/* xorshift64: cheap, and reproducible from the seed in tests. */
uint64_t
scheduler_random(struct scheduler *s)
{
	uint64_t x = s->rnd;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rnd = x;
	return x;
}

/* ---- clusters ------------------------------------------------------ */

static int
scheduler_cluster_find(const struct scheduler *s, const char *name,
		       size_t *index)
{
	size_t i;

	for (i = 0; i < s->nclusters; i++) {
		if (strcmp(s->clusters[i].name, name) == 0) {
			*index = i;
			return 1;
		}
	}
	return 0;
}

/* The index of the named cluster, added when new; its limit updated. */
size_t
scheduler_cluster(struct scheduler *s, const char *name, int max_parallel)
{
	size_t i;

	if (!scheduler_cluster_find(s, name, &i)) {
		s->clusters = xreallocarray(s->clusters, s->nclusters + 1,
					    sizeof *s->clusters);
		i = s->nclusters++;
		memset(&s->clusters[i], 0, sizeof s->clusters[i]);
		s->clusters[i].name = xstrdup(name);
		s->clusters[i].breaker = breaker_new(name);
	}
	s->clusters[i].max_parallel = max_parallel;
	return i;
}

/* ---- routes -------------------------------------------------------- */

struct scheduler_route *
scheduler_route_add(struct scheduler *s, void *arg, const char *src,
		    int src_max, const char *dst, int dst_max, uint64_t now)
{
	struct scheduler_route *r = xcalloc(1, sizeof *r);

	r->arg = arg;
	r->last_job_ms = now;
	scheduler_route_move(s, r, src, src_max, dst, dst_max);
	TAILQ_INSERT_TAIL(&s->routes, r, entry);
	return r;
}

void
scheduler_route_move(struct scheduler *s, struct scheduler_route *r,
		     const char *src, int src_max, const char *dst, int dst_max)
{
	r->cluster[0] = scheduler_cluster(s, src, src_max);
	r->cluster[1] = scheduler_cluster(s, dst, dst_max);
}

void
scheduler_route_dequeue(struct scheduler *s, struct scheduler_route *r)
{
	if (r->queued) {
		TAILQ_REMOVE(&s->waitq, r, waiting);
		r->queued = 0;
	}
}

void
scheduler_route_free(struct scheduler *s, struct scheduler_route *r)
{
	if (r == NULL)
		return;
	scheduler_route_dequeue(s, r);
	TAILQ_REMOVE(&s->routes, r, entry);
	free(r);
}

/* ---- decisions ----------------------------------------------------- */

/* Exponential in the number of failures in a row, with jitter, capped at
 * 30 minutes; a server's Retry-After wins when it asks for longer. */
uint64_t
scheduler_backoff(uint64_t base_ms, uint64_t failures, long retry_after_ms,
		  uint64_t rnd)
{
	return backoff_delay(base_ms, failures, SCHEDULER_BACKOFF_MAX_MS,
			     retry_after_ms, rnd);
}

/* Do both clusters of the route have a free slot? */
int
scheduler_fits(const struct scheduler *s, const struct scheduler_route *r)
{
	const struct scheduler_cluster *a = &s->clusters[r->cluster[0]];
	const struct scheduler_cluster *b = &s->clusters[r->cluster[1]];

	if (a == b)
		return a->busy < a->max_parallel;
	return a->busy < a->max_parallel && b->busy < b->max_parallel;
}

/* A cluster failing every route takes no job while its breaker is open,
 * and one at a time while it is half-open: that one tries it first. */
static int
scheduler_cluster_failing(const struct scheduler_cluster *c, uint64_t now,
			  char *why, size_t len)
{
	switch (breaker_state(c->breaker, now, why, len)) {
	case BREAKER_CLOSED:
		return 0;
	case BREAKER_OPEN:
		return 1;
	case BREAKER_HALF:
		break;
	}
	return c->busy > 0;
}

int
scheduler_failing(const struct scheduler *s, const struct scheduler_route *r,
		  uint64_t now, char *why, size_t len)
{
	return scheduler_cluster_failing(&s->clusters[r->cluster[0]], now, why,
					 len) ||
	       scheduler_cluster_failing(&s->clusters[r->cluster[1]], now, why,
					 len);
}

/*
 * A new source state needs a job; so, every reconcile_ms, does an
 * unchanged one (the job checks that the destination still holds what
 * was promoted). Nothing starts while a failed job backs off.
 */
enum scheduler_want
scheduler_wants(const struct scheduler_route *r,
		const struct scheduler_facts *f, uint64_t now)
{
	if (f->held || (r->retry_at_ms != 0 && now < r->retry_at_ms))
		return SCHEDULER_NOTHING;
	if (f->pending)
		return SCHEDULER_PROMOTE;
	if (!f->have_head)
		return SCHEDULER_NOTHING;
	if (!f->head_done && !f->head_failed && !f->head_held)
		return SCHEDULER_PROMOTE;
	if (f->head_done && f->reconcile_ms != 0 &&
	    now - r->last_job_ms >= f->reconcile_ms)
		return SCHEDULER_RECONCILE;
	return SCHEDULER_NOTHING;
}

/* ---- jobs ---------------------------------------------------------- */

static void
scheduler_hold(struct scheduler *s, struct scheduler_route *r, int delta)
{
	s->clusters[r->slot[0]].busy += delta;
	if (r->slot[1] != r->slot[0])
		s->clusters[r->slot[1]].busy += delta;
}

static void
scheduler_take(struct scheduler *s, struct scheduler_route *r)
{
	r->slot[0] = r->cluster[0];
	r->slot[1] = r->cluster[1];
	r->running = 1;
	scheduler_hold(s, r, 1);
}

/* Starts a job for r when its clusters have room, else queues it. */
enum scheduler_start
scheduler_start(struct scheduler *s, struct scheduler_route *r)
{
	if (r->running || r->queued)
		return SCHEDULER_BUSY;
	if (!scheduler_fits(s, r)) {
		r->queued = 1;
		TAILQ_INSERT_TAIL(&s->waitq, r, waiting);
		return SCHEDULER_QUEUED;
	}
	scheduler_take(s, r);
	return SCHEDULER_STARTED;
}

/* A job ended: its slots are free; a failed one backs off base_ms (the
 * first failure in a row), then twice that, and so on to the cap; a good
 * one clears the backoff. */
void
scheduler_finish(struct scheduler *s, struct scheduler_route *r, int failed,
		 uint64_t base_ms, uint64_t now)
{
	if (!r->running)
		return;
	scheduler_hold(s, r, -1);
	r->running = 0;
	r->last_job_ms = now;
	if (failed) {
		r->job_failures++;
		r->retry_at_ms =
		    now + scheduler_backoff(base_ms, r->job_failures - 1, -1,
					    scheduler_random(s));
	} else
		scheduler_clear_backoff(r);
}

void
scheduler_clear_backoff(struct scheduler_route *r)
{
	r->job_failures = 0;
	r->retry_at_ms = 0;
}

/* The first waiting route that fits now, off the queue and holding its
 * slots; NULL when none fits. Call until NULL after slots free up. A
 * route whose cluster is failing leaves the queue: its next poll, which
 * asks again, comes before the cluster is tried again. */
struct scheduler_route *
scheduler_next_waiting(struct scheduler *s, uint64_t now)
{
	struct scheduler_route *r, *next;

	for (r = TAILQ_FIRST(&s->waitq); r != NULL; r = next) {
		next = TAILQ_NEXT(r, waiting);
		if (scheduler_failing(s, r, now, NULL, 0))
			scheduler_route_dequeue(s, r);
		else if (scheduler_fits(s, r)) {
			scheduler_route_dequeue(s, r);
			scheduler_take(s, r);
			return r;
		}
	}
	return NULL;
}

/* ---- polls --------------------------------------------------------- */

void
scheduler_poll_at(struct scheduler_route *r, uint64_t delay, uint64_t now)
{
	r->next_poll_ms = now + delay;
}

/* The first poll of a new route: spread over SCHEDULER_START_SPREAD_MS. */
uint64_t
scheduler_first_poll(struct scheduler *s, struct scheduler_route *r,
		     uint64_t now)
{
	uint64_t delay = scheduler_random(s) % SCHEDULER_START_SPREAD_MS;

	scheduler_poll_at(r, delay, now);
	return delay;
}

/*
 * delay, made to end on a SCHEDULER_GRID_MS step of the clock now is
 * read from. An idle poll costs mostly the wake-ups around it (0.7 ms of
 * CPU for one poll alone on a 2-core VM, 0.04 ms for one of 2,000 a
 * second): polls due in the same step share them. Short delays (a retry,
 * a backoff's first steps) are left as they are.
 */
uint64_t
scheduler_align(uint64_t delay, uint64_t now)
{
	uint64_t at;

	if (delay < SCHEDULER_GRID_MIN_MS ||
	    now > UINT64_MAX - delay - SCHEDULER_GRID_MS)
		return delay;
	at = now + delay + SCHEDULER_GRID_MS - 1;
	return at - at % SCHEDULER_GRID_MS - now;
}

/* After a poll: the interval with jitter (on the grid), or a backoff
 * when it failed. */
uint64_t
scheduler_polled(struct scheduler *s, struct scheduler_route *r, int ok,
		 uint64_t base_ms, long retry_after_ms, uint64_t now)
{
	uint64_t delay;

	if (ok) {
		r->poll_failures = 0;
		delay = scheduler_align(
		    backoff_jitter(base_ms, scheduler_random(s)), now);
	} else {
		r->poll_failures++;
		delay = scheduler_backoff(base_ms, r->poll_failures,
					  retry_after_ms, scheduler_random(s));
	}
	scheduler_poll_at(r, delay, now);
	return delay;
}
