/* once.c: `algopromoted --once`: every route promoted once, in parallel
 * up to `workers` and each cluster's `max_parallel`, then return. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "once.h"
#include "xmalloc.h"

struct once_route {
	const struct config_pair	*pair;
	size_t				 dest;
	int				 taken;
};

struct once {
	const struct config		*conf;
	const struct promote_opts	*opts;
	struct once_route		*routes;
	size_t				 nroutes;
	size_t				 next;	/* routes before it are taken */
	int				*busy;	/* per cluster, as in conf */
	struct once_totals		*totals;
	pthread_mutex_t			 lock;
	pthread_cond_t			 freed;
};

static size_t
once_cluster(const struct once *o, const struct config_cluster *c)
{
	return (size_t)(c - o->conf->clusters);
}

static int
once_fits(const struct once *o, const struct once_route *r)
{
	const struct config_cluster *s = r->pair->source.cluster;
	const struct config_cluster *d = r->pair->dests[r->dest].cluster;

	if (s == d)
		return o->busy[once_cluster(o, s)] < s->max_parallel;
	return o->busy[once_cluster(o, s)] < s->max_parallel &&
	    o->busy[once_cluster(o, d)] < d->max_parallel;
}

static void
once_hold(struct once *o, const struct once_route *r, int delta)
{
	const struct config_cluster *s = r->pair->source.cluster;
	const struct config_cluster *d = r->pair->dests[r->dest].cluster;

	o->busy[once_cluster(o, s)] += delta;
	if (d != s)
		o->busy[once_cluster(o, d)] += delta;
}

/* The first untaken route whose clusters have room; NULL when all are
 * taken. Waits while routes remain but none fits. */
static struct once_route *
once_take(struct once *o)
{
	size_t	 i;

	for (;;) {
		while (o->next < o->nroutes && o->routes[o->next].taken)
			o->next++;
		if (o->next == o->nroutes)
			return NULL;
		for (i = o->next; i < o->nroutes; i++) {
			if (!o->routes[i].taken && once_fits(o, &o->routes[i])) {
				o->routes[i].taken = 1;
				once_hold(o, &o->routes[i], 1);
				return &o->routes[i];
			}
		}
		pthread_cond_wait(&o->freed, &o->lock);
	}
}

static void *
once_worker(void *arg)
{
	struct once		*o = arg;
	struct once_route	*r;
	enum promote_result	 res;

	pthread_mutex_lock(&o->lock);
	while ((r = once_take(o)) != NULL) {
		pthread_mutex_unlock(&o->lock);
		promote_route(o->conf, r->pair, r->dest, o->opts, &res);
		pthread_mutex_lock(&o->lock);
		once_hold(o, r, -1);
		switch (res) {
		case PROMOTE_UPTODATE:
		case PROMOTE_DRYRUN:
			o->totals->uptodate++;
			break;
		case PROMOTE_DONE:
			o->totals->done++;
			break;
		case PROMOTE_FAILED:
			o->totals->failed++;
			break;
		case PROMOTE_HELD:
			o->totals->held++;
			break;
		}
		pthread_cond_broadcast(&o->freed);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

void
once_run(const struct config *conf, const struct promote_opts *opts,
    struct once_totals *totals)
{
	struct once	 o;
	pthread_t	*threads;
	size_t		 i, d, n, nthreads;

	memset(&o, 0, sizeof o);
	memset(totals, 0, sizeof *totals);
	o.conf = conf;
	o.opts = opts;
	o.totals = totals;
	o.routes = xcalloc(config_ndests(conf) + 1, sizeof *o.routes);
	for (i = 0; i < conf->npairs; i++)
		for (d = 0; d < conf->pairs[i].ndests; d++) {
			o.routes[o.nroutes].pair = &conf->pairs[i];
			o.routes[o.nroutes++].dest = d;
		}
	o.busy = xcalloc(conf->nclusters + 1, sizeof *o.busy);
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.freed, NULL);
	totals->routes = o.nroutes;

	/* A dry run prints multi-line reports: one at a time. */
	nthreads = opts->dry_run ? 1 : (size_t)conf->workers;
	if (nthreads > o.nroutes)
		nthreads = o.nroutes;
	threads = xcalloc(nthreads + 1, sizeof *threads);
	for (n = 0; n < nthreads; n++)
		if (pthread_create(&threads[n], NULL, once_worker, &o) != 0)
			break;
	if (n == 0 && nthreads > 0) {
		log_warnx("cannot start worker threads; promoting in turn");
		once_worker(&o);
	}
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_cond_destroy(&o.freed);
	pthread_mutex_destroy(&o.lock);
	free(o.busy);
	free(o.routes);
}
