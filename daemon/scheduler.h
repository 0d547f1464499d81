/* scheduler.h: the one scheduler of the service and of --once: the route table,
 * when each route polls, which may start a job, per-cluster slots, backoff.
 *
 * Every decision is a function of the scheduler's state and the time and
 * random numbers passed in, so it is tested without sleeping or threads.
 * Loop thread only: nothing here is shared with workers.
 */
#ifndef SCHEDULER_H
#define SCHEDULER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

#define SCHEDULER_BACKOFF_MAX_MS (30 * 60 * 1000)
#define SCHEDULER_START_SPREAD_MS 1000 /* first polls spread over this */
/* Polls after a poll that went well are due on this grid, so that those
 * due close together wake the loop once (delays of SCHEDULER_GRID_MIN_MS
 * and more: later by less than a grid step, under 5%). */
#define SCHEDULER_GRID_MS 250
#define SCHEDULER_GRID_MIN_MS 5000

/* A cluster's promotion slots. Entries are never removed or moved, so an
 * index stays valid across reloads. */
struct scheduler_cluster {
	char *name;
	int max_parallel;
	int busy;		 /* jobs holding a slot */
	struct breaker *breaker; /* shared with jobs; freed by _clear */
};

struct scheduler_route {
	TAILQ_ENTRY(scheduler_route) entry;
	TAILQ_ENTRY(scheduler_route) waiting; /* for a cluster slot */
	void *arg;			      /* the owner's route */
	size_t cluster[2];		      /* source, destination */
	size_t slot[2];			      /* what a running job holds */
	int running;			      /* one job per route */
	int queued;			      /* on the wait queue */
	uint64_t poll_failures;		      /* in a row */
	uint64_t job_failures;		      /* in a row */
	uint64_t retry_at_ms;		      /* no job before this (0: none) */
	uint64_t last_job_ms;  /* when the last job ended (or added) */
	uint64_t next_poll_ms; /* when the armed poll is due */
};

TAILQ_HEAD(scheduler_routes, scheduler_route);

struct scheduler {
	struct scheduler_routes routes;
	struct scheduler_routes waitq;
	struct scheduler_cluster *clusters;
	size_t nclusters;
	uint64_t rnd; /* xorshift64 state, never 0 */
};

/* What the owner knows about a route when asking whether it needs a job. */
struct scheduler_facts {
	int held;	       /* paused, or held by drift: no job at all */
	int pending;	       /* an interrupted promotion to resume */
	int have_head;	       /* the last poll found the source */
	int head_done;	       /* the head is what was promoted */
	int head_failed;       /* the head failed permanently */
	int head_held;	       /* the head awaits approval */
	uint64_t reconcile_ms; /* 0: off */
};

enum scheduler_want {
	SCHEDULER_NOTHING = 0,
	SCHEDULER_PROMOTE,   /* a new source state, or one to resume */
	SCHEDULER_RECONCILE, /* re-check an unchanged destination */
};

enum scheduler_start {
	SCHEDULER_BUSY = -1,   /* already running or queued */
	SCHEDULER_QUEUED = 0,  /* waits for a free slot */
	SCHEDULER_STARTED = 1, /* slots taken: run the job now */
};

void scheduler_init(struct scheduler *, uint64_t seed);
void scheduler_clear(struct scheduler *);
uint64_t scheduler_random(struct scheduler *);

size_t scheduler_cluster(struct scheduler *, const char *name,
			 int max_parallel);

/* Adds a route between two clusters (found or added by name). */
struct scheduler_route *scheduler_route_add(struct scheduler *, void *arg,
					    const char *src, int src_max,
					    const char *dst, int dst_max,
					    uint64_t now);
/* A reload: the route's clusters and their limits may have changed. */
void scheduler_route_move(struct scheduler *, struct scheduler_route *,
			  const char *src, int src_max, const char *dst,
			  int dst_max);
/* Unlinks and frees a route; a running one must be finished first. */
void scheduler_route_free(struct scheduler *, struct scheduler_route *);
/* Takes a route off the wait queue (a reload removed it). */
void scheduler_route_dequeue(struct scheduler *, struct scheduler_route *);

/* Pure decisions. */
uint64_t scheduler_backoff(uint64_t base_ms, uint64_t failures,
			   long retry_after_ms, uint64_t rnd);
int scheduler_fits(const struct scheduler *, const struct scheduler_route *);
/* Is a cluster of the route failing (its breaker open)? why says which. */
int scheduler_failing(const struct scheduler *,
		      const struct scheduler_route *, uint64_t now, char *why,
		      size_t len);
enum scheduler_want scheduler_wants(const struct scheduler_route *,
				    const struct scheduler_facts *,
				    uint64_t now);

/* Jobs: one per route, within every cluster's max_parallel. */
enum scheduler_start scheduler_start(struct scheduler *,
				     struct scheduler_route *);
void scheduler_finish(struct scheduler *, struct scheduler_route *, int failed,
		      uint64_t base_ms, uint64_t now);
struct scheduler_route *scheduler_next_waiting(struct scheduler *,
					       uint64_t now);
void scheduler_clear_backoff(struct scheduler_route *);

/* Polls: the delay until the next one, after one ended ok or not. */
uint64_t scheduler_polled(struct scheduler *, struct scheduler_route *, int ok,
			  uint64_t base_ms, long retry_after_ms, uint64_t now);
uint64_t scheduler_first_poll(struct scheduler *, struct scheduler_route *,
			      uint64_t now);
void scheduler_poll_at(struct scheduler_route *, uint64_t delay, uint64_t now);
uint64_t scheduler_align(uint64_t delay, uint64_t now);

#endif
