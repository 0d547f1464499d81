/* stats.c: the service's counters, declared once (X-macro lists) and
 * emitted from those lists on /metrics; per-cluster request counts.
 *
 * Threads: stats_count() runs on workers (API and git requests) and the
 * loop (polls); it walks the cluster list and grows a cluster's counts
 * under stats.lock. Everything else runs on the loop, which alone links
 * new clusters into the list (under the lock) and alone touches
 * poll_failures and poll_error. Histograms are lock-free (metrics.c).
 *
 * A scrape copies what it writes of the routes first (labels, counters,
 * gauges: a few hundred bytes a route, about a millisecond a thousand
 * routes) and then writes from the copy as the reader asks, so that no
 * route pointer outlives the call that made the copy.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "monotime.h"
#include "notifier.h"
#include "procstat.h"
#include "server_int.h"
#include "state.h"
#include "stats.h"
#include "xmalloc.h"

#ifndef AP_VERSION
#define AP_VERSION	"unknown"
#endif

/* Each family as the X-macro lists declare it. */
struct stats_family {
	const char		*name;
	const char		*type;
	const char		*help;
	const char		*label;		/* NULL: one sample */
	const char *const	*values;
	size_t			 offset;	/* of the uint64_t slots */
};

struct stats_histo {
	const char	*cname;		/* per cluster */
	const char	*rname;		/* per route */
	const char	*help;
	size_t		 offset;	/* of the metrics_histo_ref */
	int		 side;		/* 0 source, 1 destination */
};

#define STATS_ROUTE_FAMILY(f, n, name, type, help, label, values)	\
	{ name, type, help, label, values, offsetof(struct stats_route, f) },
#define STATS_SERVER_FAMILY(f, n, name, type, help, label, values)	\
	{ name, type, help, label, values, offsetof(struct stats, f) },
#define STATS_ROUTE_HISTO(f, cname, rname, help, side)			\
	{ cname, rname, help, offsetof(struct stats_route, f), side },

static const struct stats_family stats_route_families[] = {
	STATS_ROUTE_COUNTERS(STATS_ROUTE_FAMILY)
};
static const struct stats_family stats_server_families[] = {
	STATS_SERVER_COUNTERS(STATS_SERVER_FAMILY)
};
static const struct stats_histo stats_route_histos[] = {
	STATS_ROUTE_HISTOS(STATS_ROUTE_HISTO)
};

#define STATS_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* No family has more label values than slots (NULL counts as none). */
#define STATS_CHECK_VALUES(f, n, name, type, help, label, values)	\
	_Static_assert(sizeof(values) / sizeof(const char *) - 1 <= (n),	\
	    name ": more label values than slots");
/* values is a NULL-ended array, or NULL itself (no label): sizeof
 * counts a pointer-sized NULL as an empty list, on purpose. */
/* NOLINTBEGIN(bugprone-sizeof-expression) */
STATS_ROUTE_COUNTERS(STATS_CHECK_VALUES)
STATS_SERVER_COUNTERS(STATS_CHECK_VALUES)
/* NOLINTEND(bugprone-sizeof-expression) */

/* The route counters' slots, in order: a scrape copies them at once. */
#define STATS_SLOT_ENUM(f, n, ...)					\
	STATS_SLOT_##f, STATS_SLOT_##f##_last = STATS_SLOT_##f + (n) - 1,
enum { STATS_ROUTE_COUNTERS(STATS_SLOT_ENUM) STATS_NSLOTS };
#define STATS_CHECK_SLOT(f, ...)					\
	_Static_assert(offsetof(struct stats_route, f) ==		\
	    STATS_SLOT_##f * sizeof(uint64_t), #f ": not in slot order");
STATS_ROUTE_COUNTERS(STATS_CHECK_SLOT)

void
stats_init(struct stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_init(&st->lock, NULL);
	TAILQ_INIT(&st->clusters);
	LIST_INIT(&st->owns);
}

void
stats_clear(struct stats *st)
{
	struct stats_cluster	*c;
	struct stats_own	*o;

	while ((o = LIST_FIRST(&st->owns)) != NULL) {
		LIST_REMOVE(o, entry);
		free(o);
	}
	while ((c = TAILQ_FIRST(&st->clusters)) != NULL) {
		TAILQ_REMOVE(&st->clusters, c, entry);
		free(c->name);
		free(c->poll_error);
		free(c->counts);
		free(c);
	}
	pthread_mutex_destroy(&st->lock);
}

static struct stats_cluster *
stats_find(struct stats *st, const char *name)
{
	struct stats_cluster	*c;

	TAILQ_FOREACH(c, &st->clusters, entry)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

struct stats_cluster *
stats_cluster(struct stats *st, const char *name)
{
	struct stats_cluster	*c;

	/* The loop is the only writer: its own walk needs no lock. */
	if ((c = stats_find(st, name)) != NULL)
		return c;
	c = xcalloc(1, sizeof *c);
	c->name = xstrdup(name);
	pthread_mutex_lock(&st->lock);
	TAILQ_INSERT_TAIL(&st->clusters, c, entry);
	pthread_mutex_unlock(&st->lock);
	return c;
}

void
stats_count(struct stats *st, const char *cluster, const char *kind,
    long status)
{
	struct stats_cluster	*c;
	size_t			 i;

	pthread_mutex_lock(&st->lock);
	if ((c = stats_find(st, cluster)) != NULL) {
		for (i = 0; i < c->ncounts; i++)
			if (c->counts[i].status == status &&
			    strcmp(c->counts[i].kind, kind) == 0)
				break;
		if (i == c->ncounts) {
			c->counts = xreallocarray(c->counts, c->ncounts + 1,
			    sizeof *c->counts);
			memset(&c->counts[i], 0, sizeof *c->counts);
			snprintf(c->counts[i].kind, sizeof c->counts[i].kind,
			    "%s", kind);
			c->counts[i].status = status;
			c->ncounts++;
		}
		c->counts[i].n++;
	}
	pthread_mutex_unlock(&st->lock);
}

int
stats_healthy(struct stats *st, char **why)
{
	struct stats_cluster	*c;

	TAILQ_FOREACH(c, &st->clusters, entry) {
		if (c->poll_failures >= STATS_UNREACHABLE) {
			xasprintf(why, "cluster %s unreachable: %d polls "
			    "failed in a row: %s", c->name, c->poll_failures,
			    c->poll_error ? c->poll_error : "?");
			return 0;
		}
	}
	return 1;
}

/* The samples of one family for one owner of its slots; pre holds the
 * owner's labels ("pair", "destination") or NULLs. */
static void
stats_write_samples(struct metrics_buf *b, const struct stats_family *f,
    const void *owner, const char *const pre[4])
{
	const uint64_t	*slot = (const uint64_t *)(const void *)
			    ((const char *)owner + f->offset);
	const char	*value;
	char		*l;
	size_t		 i, n = 1;

	if (f->label != NULL)
		for (n = 0; f->values[n] != NULL; n++)
			/* count */;
	for (i = 0; i < n; i++) {
		value = f->label != NULL ? f->values[i] : NULL;
		if (pre[0] != NULL)
			l = metrics_labels(pre[0], pre[1], pre[2], pre[3],
			    f->label, value, NULL);
		else
			l = metrics_labels(f->label, value, NULL);
		metrics_sample(b, f->name, *l != '\0' ? l : NULL,
		    (double)slot[i]);
		free(l);
	}
}

static int
stats_route_phase(const struct route *r)
{
	if (r->job != NULL)
		return atomic_load(&r->job->phase);
	if (r->drift_held)
		return STATE_HELD;
	if (r->failed_commit != NULL)
		return STATE_FAILED;
	if (r->approval_commit != NULL)
		return STATE_APPROVAL;
	return STATE_IDLE;
}

/* The hold kinds of algopromoted_route_hold_since_timestamp_seconds. */
enum stats_hold {
	STATS_HOLD_PAUSED,
	STATS_HOLD_PINNED,
	STATS_HOLD_DRIFT,
};

/* When the route was held that way (wall-clock seconds), 0 if it is not.
 * A drift's time is in the state file, read (small, rare: drift holds
 * only) as /status reads it. */
static double
stats_hold_since(const struct route *r, size_t kind, uint64_t now_ms)
{
	struct state_route	 st;
	char			*dir, *cause = NULL;
	double			 since = 0;

	switch (kind) {
	case STATS_HOLD_PAUSED:
		return r->hold.kind == HOLD_PAUSED ? (double)r->hold.since : 0;
	case STATS_HOLD_PINNED:
		return r->hold.kind == HOLD_PINNED ? (double)r->hold.since : 0;
	default:
		break;
	}
	if (!r->drift_held)
		return 0;
	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	if (state_route_peek(&st, dir, &cause) == 0) {
		if (st.phase == STATE_HELD && st.drift_time > 0)
			since = (double)st.drift_time;
	} else
		free(cause);
	state_route_clear(&st);
	free(dir);
	return since;
}

/* How long the running job has waited for its destination build. */
static double
stats_build_waiting(const struct route *r, size_t k, uint64_t now_ms)
{
	uint64_t	 start;

	if (r->job == NULL || atomic_load(&r->job->build_ms) != 0 ||
	    (start = atomic_load(&r->job->build_start_ms)) == 0 ||
	    now_ms < start)
		return 0;
	return (double)(now_ms - start) / 1000.0;
}

/* The route's build_timeout, while it waits for a build (beside the
 * wait, for alerting): 0 otherwise. */
static double
stats_build_timeout(const struct route *r, size_t k, uint64_t now_ms)
{
	if (r->pair == NULL || stats_build_waiting(r, 0, now_ms) == 0)
		return 0;
	return (double)r->pair->policy.build_timeout_ms / 1000.0;
}

/* Route gauges worked out from the route as a scrape copies it, written
 * after algopromoted_route_phase, a sample only when it is not 0; same
 * columns as STATS_ROUTE_COUNTERS, with the function that gives a sample
 * (the index of its label value). */
static const struct stats_gauge {
	const char		*name;
	const char		*help;
	const char		*label;
	const char *const	*values;
	double		       (*value)(const struct route *, size_t,
				    uint64_t);
} stats_route_gauges[] = {
	{ "algopromoted_route_hold_since_timestamp_seconds",
	    "When the route was paused or pinned by an operator, or held "
	    "on drift (absent: not held so).", "kind",
	    STATS_VALUES("paused", "pinned", "drift"), stats_hold_since },
	{ "algopromoted_route_build_waiting_seconds",
	    "How long the running job has waited for its destination build "
	    "so far (absent: not waiting).", NULL, NULL, stats_build_waiting },
	{ "algopromoted_route_build_timeout_seconds",
	    "The route's build_timeout, while it waits for a build: a build "
	    "wait fails past it.", NULL, NULL, stats_build_timeout },
};

#define STATS_NGAUGES		STATS_NITEMS(stats_route_gauges)
#define STATS_GAUGE_VALUES	3	/* at most, of a gauge's label */

/* ---- binding a route's histograms ---------------------------------- */

/* Every route histogram's type has this layout (stats.h). */
struct stats_ref {
	struct metrics_histo	*to[2];
};

static void
stats_route_refs(struct stats_route *rs)
{
	const struct stats_histo	*h;
	struct stats_ref		*ref;
	size_t				 i;

	for (i = 0; i < STATS_NHISTOS; i++) {
		h = &stats_route_histos[i];
		ref = (struct stats_ref *)(void *)((char *)rs + h->offset);
		ref->to[0] = rs->bound[h->side] != NULL ?
		    &rs->bound[h->side]->histos[i] : NULL;
		ref->to[1] = rs->own != NULL ? &rs->own->h[i] : NULL;
	}
}

/* The route's own set, made or dropped as own says. */
static void
stats_route_own(struct stats *st, struct stats_route *rs, int own)
{
	if (own && rs->own == NULL) {
		rs->own = xcalloc(1, sizeof *rs->own);
		rs->own->seen = st->scrapes;
		LIST_INSERT_HEAD(&st->owns, rs->own, entry);
	} else if (!own && rs->own != NULL) {
		LIST_REMOVE(rs->own, entry);
		free(rs->own);
		rs->own = NULL;
	}
}

/* The names of the route's clusters (0 without a configuration: tests). */
static int
stats_route_clusters(const struct route *r, const char *name[2])
{
	const struct config_pair	*p = r->pair;

	if (p == NULL || p->source.cluster == NULL || p->dests == NULL ||
	    r->dest >= p->ndests || p->dests[r->dest].cluster == NULL)
		return 0;
	name[0] = p->source.cluster->name;
	name[1] = p->dests[r->dest].cluster->name;
	return 1;
}

static int
stats_per_route(const struct server *s)
{
	return s->cref != NULL && s->cref->conf != NULL &&
	    s->cref->conf->metrics_per_route_histograms;
}

/* Binds r when its clusters or its own set are not what they should be. */
static void
stats_route_check(struct route *r, int own)
{
	struct stats_route	*rs = &r->stats;
	const char		*name[2];
	int			 i, moved = 0;

	if (stats_route_clusters(r, name))
		for (i = 0; i < 2; i++)
			if (rs->bound[i] == NULL ||
			    strcmp(rs->bound[i]->name, name[i]) != 0) {
				rs->bound[i] = stats_cluster(&r->srv->stats,
				    name[i]);
				moved = 1;
			}
	if (moved || (own != 0) != (rs->own != NULL)) {
		stats_route_own(&r->srv->stats, rs, own);
		stats_route_refs(rs);
	}
}

void
stats_route_bind(struct route *r)
{
	stats_route_check(r, stats_per_route(r->srv));
}

void
stats_route_clear(struct stats *st, struct stats_route *rs)
{
	stats_route_own(st, rs, 0);
	stats_route_refs(rs);
}

/* An observation of a route's histogram: bound first when it is not
 * (or no longer) what the route's clusters and configuration say. */
static void
stats_observe(struct stats_route *rs, struct stats_ref *ref, double seconds)
{
	struct route	*r = (struct route *)(void *)((char *)rs -
			    offsetof(struct route, stats));
	size_t		 i;

	stats_route_check(r, stats_per_route(r->srv));
	for (i = 0; i < 2; i++)
		if (ref->to[i] != NULL)
			metrics_histo_observe(ref->to[i], seconds);
}

#define STATS_OBSERVE_DEF(f, ...)					\
void									\
stats_observe_##f(struct stats_ref_##f *ref, double seconds)		\
{									\
	stats_observe((struct stats_route *)(void *)((char *)ref -	\
	    offsetof(struct stats_route, f)),				\
	    (struct stats_ref *)(void *)ref, seconds);			\
}
STATS_ROUTE_HISTOS(STATS_OBSERVE_DEF)

/* ---- a scrape: the routes copied, then written a slice at a time --- */

/* One route as a scrape copied it. */
struct stats_snap {
	size_t			 labels;	/* in the arena: pair="...",
						 * destination="..." */
	uint64_t		 slots[STATS_NSLOTS];
	double			 gauge[STATS_NGAUGES][STATS_GAUGE_VALUES];
	int			 phase;
	struct metrics_histo	*own;		/* a copy, or NULL */
};

/* Where the writing is: stages in the order they are written. */
enum stats_stage {
	STATS_STAGE_ROUTES,		/* algopromoted_routes */
	STATS_STAGE_COUNTERS,		/* family by family */
	STATS_STAGE_PHASE,
	STATS_STAGE_GAUGES,
	STATS_STAGE_OWN,		/* per route histograms, if any */
	STATS_STAGE_CLUSTER,		/* per cluster histograms */
	STATS_STAGE_TAIL,		/* what was written at the copy */
	STATS_STAGE_DONE,
};

struct stats_scrape {
	struct stats_snap	*routes;
	size_t			 nroutes;
	struct metrics_buf	 arena;		/* the routes' labels */
	int			 own;		/* the routes have own sets */
	char			**cnames;	/* cluster labels */
	struct metrics_histo	(*chistos)[STATS_NHISTOS];
	size_t			 nclusters;
	struct metrics_buf	 tail;
	enum stats_stage	 stage;
	size_t			 family;	/* within the stage */
	size_t			 k;		/* route or cluster */
};

static void
stats_snap_route(struct stats_snap *sn, struct metrics_buf *arena,
    struct route *r, int own, uint64_t now)
{
	const struct stats_gauge	*g;
	size_t				 i, k;

	sn->labels = arena->len;
	metrics_buf_label(arena, "pair", r->pair_name);
	metrics_buf_append(arena, ",", 1);
	metrics_buf_label(arena, "destination", r->dest_full);
	metrics_buf_append(arena, "", 1);	/* its end */
	memcpy(sn->slots, &r->stats, sizeof sn->slots);
	sn->phase = stats_route_phase(r);
	for (i = 0; i < STATS_NGAUGES; i++) {
		g = &stats_route_gauges[i];
		for (k = 0; k < STATS_GAUGE_VALUES; k++)
			sn->gauge[i][k] = (k == 0 || (g->values != NULL &&
			    g->values[k] != NULL)) ? g->value(r, k, now) : 0;
	}
	sn->own = NULL;
	if (own && r->stats.own != NULL) {
		sn->own = xcalloc(STATS_NHISTOS, sizeof *sn->own);
		for (i = 0; i < STATS_NHISTOS; i++)
			metrics_histo_add(&sn->own[i], &r->stats.own->h[i]);
	}
}

static void	stats_write_tail(struct server *, struct metrics_buf *);

/* Loop: the copy a scrape writes from. Binds the routes it meets. */
static struct stats_scrape *
stats_scrape_new(struct server *s)
{
	struct stats_scrape	*sc = xcalloc(1, sizeof *sc);
	struct stats_cluster	*c;
	struct stats_own	*o, *next;
	struct route		*r;
	uint64_t		 now = monotime_ms(), gen;
	size_t			 n = 0, i;

	sc->own = stats_per_route(s);
	gen = ++s->stats.scrapes;
	TAILQ_FOREACH(r, &s->routes, entry) {
		stats_route_check(r, sc->own);
		if (r->stats.own != NULL)
			r->stats.own->seen = gen;
		n += !r->removed;
	}
	/* Sets no route in the list holds any more: their routes are gone
	 * (freed without stats_route_clear). */
	for (o = LIST_FIRST(&s->stats.owns); o != NULL; o = next) {
		next = LIST_NEXT(o, entry);
		if (o->seen != gen) {
			LIST_REMOVE(o, entry);
			free(o);
		}
	}
	sc->routes = xcalloc(n != 0 ? n : 1, sizeof *sc->routes);
	TAILQ_FOREACH(r, &s->routes, entry)
		if (!r->removed)
			stats_snap_route(&sc->routes[sc->nroutes++],
			    &sc->arena, r, sc->own, now);
	TAILQ_FOREACH(c, &s->stats.clusters, entry)
		sc->nclusters++;
	sc->cnames = xcalloc(sc->nclusters + 1, sizeof *sc->cnames);
	sc->chistos = xcalloc(sc->nclusters + 1, sizeof *sc->chistos);
	i = 0;
	TAILQ_FOREACH(c, &s->stats.clusters, entry) {
		sc->cnames[i] = metrics_labels("cluster", c->name, NULL);
		for (n = 0; n < STATS_NHISTOS; n++)
			metrics_histo_add(&sc->chistos[i][n], &c->histos[n]);
		i++;
	}
	stats_write_tail(s, &sc->tail);
	return sc;
}

static void
stats_scrape_free(void *arg)
{
	struct stats_scrape	*sc = arg;
	size_t			 i;

	if (sc == NULL)
		return;
	for (i = 0; i < sc->nroutes; i++)
		free(sc->routes[i].own);
	metrics_buf_free(&sc->arena);
	free(sc->routes);
	for (i = 0; i < sc->nclusters; i++)
		free(sc->cnames[i]);
	free(sc->cnames);
	free(sc->chistos);
	metrics_buf_free(&sc->tail);
	free(sc);
}

/* labels and name="value", or labels alone without a name. */
static void
stats_sample2(struct metrics_buf *b, const char *family, const char *labels,
    const char *name, const char *value, double v)
{
	if (name == NULL)
		metrics_sample(b, family, labels, v);
	else
		metrics_sample_label(b, family, labels, name, value, v);
}

/*
 * One route's samples of the counter family f. A labelled sample shows
 * once it counted something, an unlabelled gauge once it is not 0: a
 * route has few series (polls and phase only, until things happen).
 */
static void
stats_write_counter(struct metrics_buf *b, const struct stats_family *f,
    const struct stats_snap *sn, const char *labels)
{
	const uint64_t	*slot = sn->slots + f->offset / sizeof(uint64_t);
	size_t		 i;

	if (f->label == NULL) {
		if (slot[0] != 0 || strcmp(f->type, "counter") == 0)
			metrics_sample(b, f->name, labels, (double)slot[0]);
		return;
	}
	for (i = 0; f->values[i] != NULL; i++)
		if (slot[i] != 0)
			stats_sample2(b, f->name, labels, f->label,
			    f->values[i], (double)slot[i]);
}

static void
stats_write_gauge(struct metrics_buf *b, const struct stats_gauge *g,
    const double *v, const char *labels)
{
	size_t	 k;

	for (k = 0; k < STATS_GAUGE_VALUES; k++) {
		if (k > 0 && (g->values == NULL || g->values[k] == NULL))
			break;
		if (v[k] != 0)
			stats_sample2(b, g->name, labels, g->values != NULL ?
			    g->label : NULL, g->values != NULL ?
			    g->values[k] : NULL, v[k]);
	}
}

/* The number of families in a stage (1 for one without families). */
static size_t
stats_stage_families(const struct stats_scrape *sc)
{
	switch (sc->stage) {
	case STATS_STAGE_COUNTERS:
		return STATS_NITEMS(stats_route_families);
	case STATS_STAGE_GAUGES:
		return STATS_NGAUGES;
	case STATS_STAGE_OWN:
		return sc->own ? STATS_NHISTOS : 0;
	case STATS_STAGE_CLUSTER:
		return STATS_NHISTOS;
	default:
		return 1;
	}
}

/* The family's HELP and TYPE, at the start of each family. */
static void
stats_scrape_head(struct stats_scrape *sc, struct metrics_buf *b)
{
	const struct stats_family	*f;
	const struct stats_gauge	*g;
	const struct stats_histo	*h;

	switch (sc->stage) {
	case STATS_STAGE_COUNTERS:
		f = &stats_route_families[sc->family];
		metrics_family(b, f->name, f->type, f->help);
		break;
	case STATS_STAGE_PHASE:
		metrics_family(b, "algopromoted_route_phase", "gauge",
		    "1 for the phase the route is in (the others are "
		    "absent).");
		break;
	case STATS_STAGE_GAUGES:
		g = &stats_route_gauges[sc->family];
		metrics_family(b, g->name, "gauge", g->help);
		break;
	case STATS_STAGE_OWN:
		h = &stats_route_histos[sc->family];
		metrics_family(b, h->rname, "histogram", h->help);
		break;
	case STATS_STAGE_CLUSTER:
		h = &stats_route_histos[sc->family];
		metrics_family(b, h->cname, "histogram", h->help);
		break;
	default:
		break;
	}
}

/* Writes the k-th item of the current family; 0 past the last. */
static int
stats_scrape_item(struct stats_scrape *sc, struct metrics_buf *b)
{
	const struct stats_snap	*sn;
	const char		*l;
	size_t			 i = sc->family;

	switch (sc->stage) {
	case STATS_STAGE_ROUTES:
		metrics_family(b, "algopromoted_routes", "gauge",
		    "Routes (pair and destination) configured.");
		metrics_sample(b, "algopromoted_routes", NULL,
		    (double)sc->nroutes);
		return 0;
	case STATS_STAGE_CLUSTER:
		if (sc->k >= sc->nclusters)
			return 0;
		metrics_histo_write(b, stats_route_histos[i].cname,
		    sc->cnames[sc->k], &sc->chistos[sc->k][i]);
		return 1;
	case STATS_STAGE_TAIL:
		if (sc->tail.len > 0)
			metrics_buf_append(b, sc->tail.data, sc->tail.len);
		return 0;
	default:
		break;
	}
	if (sc->k >= sc->nroutes)
		return 0;
	sn = &sc->routes[sc->k];
	l = sc->arena.data + sn->labels;
	switch (sc->stage) {
	case STATS_STAGE_COUNTERS:
		stats_write_counter(b, &stats_route_families[i], sn, l);
		break;
	case STATS_STAGE_PHASE:
		stats_sample2(b, "algopromoted_route_phase", l, "phase",
		    state_phase_name((enum state_phase)sn->phase), 1);
		break;
	case STATS_STAGE_GAUGES:
		stats_write_gauge(b, &stats_route_gauges[i], sn->gauge[i], l);
		break;
	case STATS_STAGE_OWN:
		if (sn->own != NULL)
			metrics_histo_write(b, stats_route_histos[i].rname, l,
			    &sn->own[i]);
		break;
	default:
		break;
	}
	return 1;
}

/* metrics_buf's more(): about b->slice more bytes (all without slice). */
static int
stats_scrape_more(void *arg, struct metrics_buf *b)
{
	struct stats_scrape	*sc = arg;
	size_t			 start = b->len;

	while (sc->stage != STATS_STAGE_DONE) {
		if (b->slice != 0 && b->len - start >= b->slice)
			return 1;
		if (sc->family >= stats_stage_families(sc)) {
			sc->stage++;
			sc->family = 0;
			sc->k = 0;
			continue;
		}
		if (sc->k == 0)
			stats_scrape_head(sc, b);
		if (stats_scrape_item(sc, b)) {
			sc->k++;
			continue;
		}
		sc->family++;
		sc->k = 0;
	}
	return 0;
}

void
stats_write_clusters(struct stats *st, struct metrics_buf *b)
{
	struct stats_cluster	*c;
	char			*l, code[24];
	size_t			 k;

	metrics_family(b, "algopromoted_cluster_requests_total", "counter",
	    "Requests to a cluster, by kind (api, git) and HTTP status "
	    "(0: no answer).");
	pthread_mutex_lock(&st->lock);
	TAILQ_FOREACH(c, &st->clusters, entry) {
		for (k = 0; k < c->ncounts; k++) {
			snprintf(code, sizeof code, "%ld", c->counts[k].status);
			l = metrics_labels("cluster", c->name, "kind",
			    c->counts[k].kind, "status", code, NULL);
			metrics_sample(b, "algopromoted_cluster_requests_total",
			    l, (double)c->counts[k].n);
			free(l);
		}
	}
	pthread_mutex_unlock(&st->lock);
	metrics_family(b, "algopromoted_cluster_up", "gauge",
	    "0 while the cluster's polls fail in a row.");
	TAILQ_FOREACH(c, &st->clusters, entry) {
		l = metrics_labels("cluster", c->name, NULL);
		metrics_sample(b, "algopromoted_cluster_up", l,
		    c->poll_failures >= STATS_UNREACHABLE ? 0 : 1);
		free(l);
	}
}

/* The clusters' breakers (breaker.h): open now, and how often. */
static void
stats_write_breakers(struct scheduler *sc, struct metrics_buf *b)
{
	uint64_t	 now = monotime_ms();
	char		*l;
	size_t		 i;

	metrics_family(b, "algopromoted_cluster_failing", "gauge",
	    "1 while the cluster fails every route: no job starts on it and "
	    "none retries against it.");
	for (i = 0; i < sc->nclusters; i++) {
		l = metrics_labels("cluster", sc->clusters[i].name, NULL);
		metrics_sample(b, "algopromoted_cluster_failing", l,
		    breaker_open(sc->clusters[i].breaker, now, NULL, 0));
		free(l);
	}
	metrics_family(b, "algopromoted_cluster_failing_total", "counter",
	    "Times the cluster was found failing every route.");
	for (i = 0; i < sc->nclusters; i++) {
		l = metrics_labels("cluster", sc->clusters[i].name, NULL);
		metrics_sample(b, "algopromoted_cluster_failing_total", l,
		    (double)breaker_opened(sc->clusters[i].breaker));
		free(l);
	}
}

void
stats_write_server(struct stats *st, struct metrics_buf *b)
{
	static const char *const none[4];
	size_t			 i;

	for (i = 0; i < STATS_NITEMS(stats_server_families); i++) {
		const struct stats_family *f = &stats_server_families[i];

		metrics_family(b, f->name, f->type, f->help);
		stats_write_samples(b, f, st, none);
	}
	metrics_family(b, "algopromoted_data_copied_bytes_total", "counter",
	    "Bytes of hosted data copied to destinations, as they stream.");
	metrics_sample(b, "algopromoted_data_copied_bytes_total", NULL,
	    (double)atomic_load(&st->data_bytes));
	metrics_family(b, "algopromoted_data_copied_files_total", "counter",
	    "Hosted data files copied to destinations.");
	metrics_sample(b, "algopromoted_data_copied_files_total", NULL,
	    (double)atomic_load(&st->data_files));
}

void
stats_write_build(struct metrics_buf *b)
{
	char	*l;

	metrics_family(b, "algopromoted_build_info", "gauge",
	    "Always 1, labelled with the version of algopromoted running.");
	l = metrics_labels("version", AP_VERSION, NULL);
	metrics_sample(b, "algopromoted_build_info", l, 1);
	free(l);
}

/* The process_* families from a fresh reading; what cannot be read is
 * left out and said at debug level. */
static void
stats_write_process(struct metrics_buf *b)
{
	struct procstat	 ps;
	char		*cause = NULL;

	if (procstat_read(&ps, &cause) == -1) {
		log_debug("metrics: %s", cause);
		free(cause);
	}
	procstat_write(b, &ps);
}

/* Everything after the routes' and the histogram families: small. */
static void
stats_write_tail(struct server *s, struct metrics_buf *b)
{
	stats_write_clusters(&s->stats, b);
	stats_write_breakers(&s->sched, b);
	stats_write_server(&s->stats, b);
	if (s->notifier != NULL)
		notifier_metrics(s->notifier, b);
	stats_write_build(b);
	stats_write_process(b);
}

void
stats_metrics(void *arg, struct metrics_buf *b)
{
	struct stats_scrape	*sc = stats_scrape_new(arg);

	if (stats_scrape_more(sc, b) == 0)
		stats_scrape_free(sc);
	else
		metrics_buf_defer(b, stats_scrape_more, stats_scrape_free,
		    sc);
}
