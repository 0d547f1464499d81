/* once.c: `algopromoted --once`: every route promoted once through the
 * same scheduler and worker pool as the service, then return.
 *
 * A short-lived event loop carries the pool's completions; the scheduler
 * decides which route may start (each cluster's max_parallel), the pool
 * bounds the threads (`workers`).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "monotime.h"
#include "once.h"
#include "pool.h"
#include "scheduler.h"
#include "xmalloc.h"

struct once_route {
	const struct config_pair	*pair;
	size_t				 dest;
};

struct once {
	const struct config		*conf;
	const struct promote_opts	*opts;
	struct once_totals		*totals;
	struct scheduler		 sched;
	struct event_base		*base;
	struct pool			*pool;	/* NULL: promote in turn */
	size_t				 left;	/* routes not done yet */
};

struct once_job {
	struct pool_job		 pj;	/* first: the pool hands it back */
	struct once		*o;
	struct scheduler_route	*sr;
	enum promote_result	 result;
};

static void	once_submit(struct once *, struct scheduler_route *);

static void
once_job_run(struct pool_job *pj)
{
	struct once_job		*j = (struct once_job *)pj;
	const struct once_route	*r = j->sr->arg;

	promote_route(j->o->conf, r->pair, r->dest, j->o->opts, &j->result);
}

static void
once_count(struct once_totals *t, enum promote_result res)
{
	switch (res) {
	case PROMOTE_UPTODATE:
	case PROMOTE_DRYRUN:
		t->uptodate++;
		break;
	case PROMOTE_DONE:
		t->done++;
		break;
	case PROMOTE_FAILED:
		t->failed++;
		break;
	case PROMOTE_HELD:
		t->held++;
		break;
	}
}

/* Loop thread: the job's slots free up, so waiting routes may start. */
static void
once_job_done(struct pool_job *pj)
{
	struct once_job		*j = (struct once_job *)pj;
	struct once		*o = j->o;
	struct scheduler_route	*next;

	/* Each route runs once: no backoff to compute. */
	scheduler_finish(&o->sched, j->sr, 0, 0, monotime_ms());
	once_count(o->totals, j->result);
	free(j);
	while ((next = scheduler_next_waiting(&o->sched, monotime_ms())) != NULL)
		once_submit(o, next);
	if (--o->left == 0 && o->base != NULL)
		event_base_loopbreak(o->base);
}

static void
once_submit(struct once *o, struct scheduler_route *sr)
{
	struct once_job	*j = xcalloc(1, sizeof *j);

	j->pj.run = once_job_run;
	j->pj.done = once_job_done;
	j->o = o;
	j->sr = sr;
	if (o->pool != NULL)
		pool_submit(o->pool, &j->pj);
	else {
		once_job_run(&j->pj);
		once_job_done(&j->pj);
	}
}

/* The pool's threads, or NULL (and a warning) to promote in turn. */
static void
once_start_pool(struct once *o, size_t nroutes)
{
	size_t	 n;
	char	*cause = NULL;

	/* A dry run prints multi-line reports: one at a time. */
	n = o->opts->dry_run ? 1 : (size_t)o->conf->workers;
	if (n > nroutes)
		n = nroutes;
	if ((o->base = event_base_new()) == NULL ||
	    pool_new(&o->pool, o->base, (int)n, &cause) == -1) {
		log_warnx("cannot start worker threads (%s); promoting in "
		    "turn", cause != NULL ? cause : "no event base");
		free(cause);
		o->pool = NULL;
	}
}

void
once_run(const struct config *conf, const struct promote_opts *opts,
    struct once_totals *totals)
{
	struct once			 o;
	struct once_route		*routes;
	struct scheduler_route		*sr;
	const struct config_algo	*src, *dst;
	size_t				 i, d, n = 0;
	uint64_t			 now = monotime_ms();

	memset(&o, 0, sizeof o);
	memset(totals, 0, sizeof *totals);
	o.conf = conf;
	o.opts = opts;
	o.totals = totals;
	scheduler_init(&o.sched, now);
	routes = xcalloc(config_ndests(conf) + 1, sizeof *routes);
	for (i = 0; i < conf->npairs; i++) {
		for (d = 0; d < conf->pairs[i].ndests; d++) {
			src = &conf->pairs[i].source;
			dst = &conf->pairs[i].dests[d];
			routes[n].pair = &conf->pairs[i];
			routes[n].dest = d;
			scheduler_route_add(&o.sched, &routes[n++],
			    src->cluster->name, src->cluster->max_parallel,
			    dst->cluster->name, dst->cluster->max_parallel,
			    now);
		}
	}
	totals->routes = o.left = n;
	if (n > 0)
		once_start_pool(&o, n);
	/* In config order: what fits starts, the rest waits for a slot. */
	TAILQ_FOREACH(sr, &o.sched.routes, entry)
		if (scheduler_start(&o.sched, sr) == SCHEDULER_STARTED)
			once_submit(&o, sr);
	if (o.pool != NULL && o.left > 0)
		event_base_dispatch(o.base);
	pool_free(o.pool);
	if (o.base != NULL)
		event_base_free(o.base);
	scheduler_clear(&o.sched);
	free(routes);
}
