/* stats.c: the service's counters, declared once (X-macro lists) and
 * emitted from those lists on /metrics; per-cluster request counts.
 *
 * Threads: stats_count() runs on workers (API and git requests) and the
 * loop (polls); it walks the cluster list and grows a cluster's counts
 * under stats.lock. Everything else runs on the loop, which alone links
 * new clusters into the list (under the lock) and alone touches
 * poll_failures and poll_error.
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
	const char	*name;
	const char	*help;
	size_t		 offset;
};

#define STATS_ROUTE_FAMILY(f, n, name, type, help, label, values)	\
	{ name, type, help, label, values, offsetof(struct stats_route, f) },
#define STATS_SERVER_FAMILY(f, n, name, type, help, label, values)	\
	{ name, type, help, label, values, offsetof(struct stats, f) },
#define STATS_ROUTE_HISTO(f, name, help)				\
	{ name, help, offsetof(struct stats_route, f) },

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

void
stats_init(struct stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_init(&st->lock, NULL);
	TAILQ_INIT(&st->clusters);
}

void
stats_clear(struct stats *st)
{
	struct stats_cluster	*c;

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

static void
stats_route_labels(const struct route *r, const char *prefix[4])
{
	prefix[0] = "pair";
	prefix[1] = r->pair_name;
	prefix[2] = "destination";
	prefix[3] = r->dest_full;
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

static void
stats_write_phases(struct server *s, struct metrics_buf *b)
{
	const char	*pre[4];
	struct route	*r;
	char		*l;
	int		 p, cur;

	metrics_family(b, "algopromoted_route_phase", "gauge",
	    "1 for the phase the route is in.");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		cur = stats_route_phase(r);
		stats_route_labels(r, pre);
		for (p = STATE_IDLE; p <= STATE_DATA; p++) {
			l = metrics_labels(pre[0], pre[1], pre[2], pre[3],
			    "phase", state_phase_name((enum state_phase)p),
			    NULL);
			metrics_sample(b, "algopromoted_route_phase", l,
			    p == cur ? 1 : 0);
			free(l);
		}
	}
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

static double
stats_build_timeout(const struct route *r, size_t k, uint64_t now_ms)
{
	return r->pair != NULL ?
	    (double)r->pair->policy.build_timeout_ms / 1000.0 : 0;
}

/* Route gauges worked out from the route as /metrics is written, after
 * algopromoted_route_phase; same columns as STATS_ROUTE_COUNTERS, with
 * the function that gives a sample (the index of its label value). */
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
	    "on drift (0: not held so).", "kind",
	    STATS_VALUES("paused", "pinned", "drift"), stats_hold_since },
	{ "algopromoted_route_build_waiting_seconds",
	    "How long the running job has waited for its destination build "
	    "so far (0: not waiting).", NULL, NULL, stats_build_waiting },
	{ "algopromoted_route_build_timeout_seconds",
	    "The route's build_timeout: a build wait fails past it.", NULL,
	    NULL, stats_build_timeout },
};

static void
stats_write_gauges(struct server *s, struct metrics_buf *b)
{
	const struct stats_gauge	*g;
	const char			*pre[4];
	struct route			*r;
	uint64_t			 now = monotime_ms();
	size_t				 i, k, n;
	char				*l;

	for (i = 0; i < STATS_NITEMS(stats_route_gauges); i++) {
		g = &stats_route_gauges[i];
		metrics_family(b, g->name, "gauge", g->help);
		for (n = 1; g->values != NULL && g->values[n] != NULL; n++)
			/* count */;
		TAILQ_FOREACH(r, &s->routes, entry) {
			if (r->removed)
				continue;
			stats_route_labels(r, pre);
			for (k = 0; k < n; k++) {
				l = metrics_labels(pre[0], pre[1], pre[2],
				    pre[3], g->values != NULL ? g->label : NULL,
				    g->values != NULL ? g->values[k] : NULL,
				    NULL);
				metrics_sample(b, g->name, l,
				    g->value(r, k, now));
				free(l);
			}
		}
	}
}

/* Every route family, in the order the lists give (removed routes,
 * whose job still runs, are left out). */
static void
stats_write_routes(struct server *s, struct metrics_buf *b)
{
	const char	*pre[4];
	struct route	*r;
	char		*l;
	size_t		 i, k = 0;

	metrics_family(b, "algopromoted_routes", "gauge",
	    "Routes (pair and destination) configured.");
	TAILQ_FOREACH(r, &s->routes, entry)
		k += !r->removed;
	metrics_sample(b, "algopromoted_routes", NULL, (double)k);
	for (i = 0; i < STATS_NITEMS(stats_route_families); i++) {
		const struct stats_family *f = &stats_route_families[i];

		metrics_family(b, f->name, f->type, f->help);
		TAILQ_FOREACH(r, &s->routes, entry) {
			if (r->removed)
				continue;
			stats_route_labels(r, pre);
			stats_write_samples(b, f, &r->stats, pre);
		}
	}
	stats_write_phases(s, b);
	stats_write_gauges(s, b);
	for (i = 0; i < STATS_NITEMS(stats_route_histos); i++) {
		const struct stats_histo *h = &stats_route_histos[i];

		metrics_family(b, h->name, "histogram", h->help);
		TAILQ_FOREACH(r, &s->routes, entry) {
			if (r->removed)
				continue;
			l = metrics_labels("pair", r->pair_name,
			    "destination", r->dest_full, NULL);
			metrics_histo_write(b, h->name, l,
			    (const struct metrics_histo *)(const void *)
			    ((const char *)&r->stats + h->offset));
			free(l);
		}
	}
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

void
stats_metrics(void *arg, struct metrics_buf *b)
{
	struct server	*s = arg;

	stats_write_routes(s, b);
	stats_write_clusters(&s->stats, b);
	stats_write_breakers(&s->sched, b);
	stats_write_server(&s->stats, b);
	if (s->notifier != NULL)
		notifier_metrics(s->notifier, b);
	stats_write_build(b);
	stats_write_process(b);
}
