/* stats.h: the service's counters, declared once (X-macro lists) and
 * emitted from those lists on /metrics; per-cluster request counts. */
#ifndef STATS_H
#define STATS_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"
#include "promote.h"

#define STATS_UNREACHABLE	3	/* failed polls in a row: unhealthy */

/* The label values of a family, in sample order. */
#define STATS_VALUES(...)	((const char *const []){ __VA_ARGS__, NULL })

/*
 * One route counter per line: field, slots, family name, type, help,
 * label, label values. A family without a label has one sample (slot
 * 0); one with a label has a sample per value, in that order (a slot
 * past the values, like the dry-run result, is counted, not emitted).
 * The /metrics families come out in this order, after
 * algopromoted_routes. To keep a route's series few, a labelled sample
 * is written once it is not 0, and so is an unlabelled gauge; an
 * unlabelled counter always is.
 */
#define STATS_ROUTE_COUNTERS(X)						\
	X(polls, 1, "algopromoted_route_polls_total", "counter",	\
	    "Polls of the route's source.", NULL, NULL)			\
	X(poll_errors, 2, "algopromoted_route_poll_errors_total",	\
	    "counter", "Failed polls, by kind.", "kind",		\
	    STATS_VALUES("transient", "permanent"))			\
	X(promotions, PROMOTE_DRYRUN + 1,				\
	    "algopromoted_route_promotions_total", "counter",		\
	    "Promotion jobs, by result.", "result",			\
	    STATS_VALUES("uptodate", "promoted", "failed", "held"))	\
	X(last_success, 1,						\
	    "algopromoted_route_last_success_timestamp_seconds", "gauge",	\
	    "When the route last completed a promotion (absent: never).", \
	    NULL, NULL)

/*
 * The duration histograms: field, family name (per cluster, and per
 * route with metrics: per_route_histograms), help, and whose cluster
 * counts it (0: the route's source, 1: its destination).
 */
#define STATS_ROUTE_HISTOS(X)						\
	X(poll_seconds, "algopromoted_cluster_poll_duration_seconds",	\
	    "algopromoted_route_poll_duration_seconds",			\
	    "Time one poll of a source took.", 0)			\
	X(promotion_seconds,						\
	    "algopromoted_cluster_promotion_duration_seconds",		\
	    "algopromoted_route_promotion_duration_seconds",		\
	    "Time one promotion job took.", 1)				\
	X(build_wait_seconds, "algopromoted_cluster_build_wait_seconds", \
	    "algopromoted_route_build_wait_seconds",			\
	    "Time spent waiting for a destination build.", 1)

#define STATS_HISTO_ENUM(f, ...)	STATS_HISTO_##f,
enum stats_histo_id {
	STATS_ROUTE_HISTOS(STATS_HISTO_ENUM)
	STATS_NHISTOS
};

/* The service's own counters, last on /metrics; same columns as
 * STATS_ROUTE_COUNTERS. */
#define STATS_SERVER_COUNTERS(X)					\
	X(reloads, 2, "algopromoted_reloads_total", "counter",		\
	    "Configuration reloads, by result.", "result",		\
	    STATS_VALUES("ok", "failed"))

#define STATS_COUNTER_FIELD(f, n, ...)	uint64_t f[n];
/*
 * A route's histogram: where its observations go (its cluster's set, and
 * its own when there is one). A type of its own for each, so that an
 * observation finds its route (stats_observe_FIELD) and binds it then
 * if it was not, or was moved by a reload.
 */
#define STATS_REF_TYPE(f, ...)						\
	struct stats_ref_##f {						\
		struct metrics_histo	*to[2];				\
	};
STATS_ROUTE_HISTOS(STATS_REF_TYPE)
#define STATS_HISTO_FIELD(f, ...)	struct stats_ref_##f f;

struct stats_cluster;

/* A route's own histograms (metrics: per_route_histograms). */
struct stats_own {
	LIST_ENTRY(stats_own)	 entry;
	uint64_t		 seen;		/* the last scrape that did */
	struct metrics_histo	 h[STATS_NHISTOS];
};

/*
 * A route's counters: the loop's. Its histograms point at its clusters'
 * (and at its own set, with per_route_histograms); observed on the loop
 * with metrics_histo_observe(&r->stats.poll_seconds, seconds) as a
 * histogram is.
 */
struct stats_route {
	STATS_ROUTE_COUNTERS(STATS_COUNTER_FIELD)
	STATS_ROUTE_HISTOS(STATS_HISTO_FIELD)
	struct stats_cluster	*bound[2];	/* source, destination */
	struct stats_own	*own;
};

#define STATS_OBSERVE_DECL(f, ...)					\
	void	 stats_observe_##f(struct stats_ref_##f *, double);
STATS_ROUTE_HISTOS(STATS_OBSERVE_DECL)

/* metrics_histo_observe() of a route's histogram, or of a histogram. */
#define STATS_OBSERVE_CASE(f, ...)					\
	struct stats_ref_##f *: stats_observe_##f,
#undef metrics_histo_observe
#define metrics_histo_observe(h, s)					\
	_Generic((h), STATS_ROUTE_HISTOS(STATS_OBSERVE_CASE)		\
	    default: metrics_histo_observe)((h), (s))

struct stats_reqcount {
	char		 kind[4];	/* "api" or "git" */
	long		 status;
	uint64_t	 n;
};

/* One cluster. Allocated once and never moved or freed before
 * stats_clear(), so the loop may keep pointers to it (job slots). */
struct stats_cluster {
	TAILQ_ENTRY(stats_cluster) entry;
	char			*name;
	int			 poll_failures;	/* in a row (loop) */
	char			*poll_error;	/* loop */
	struct stats_reqcount	*counts;	/* under stats.lock */
	size_t			 ncounts;	/* under stats.lock */
	/* Every route's observations, by enum stats_histo_id. */
	struct metrics_histo	 histos[STATS_NHISTOS];
};

TAILQ_HEAD(stats_clusters, stats_cluster);

/*
 * Only the loop adds clusters, linking them under lock; workers walk the
 * list under lock only (stats_count), the loop also without it.
 */
struct stats {
	pthread_mutex_t		 lock;
	struct stats_clusters	 clusters;
	STATS_SERVER_COUNTERS(STATS_COUNTER_FIELD)
	/* The routes' own histograms (loop), and scrapes made. */
	LIST_HEAD(, stats_own)	 owns;
	uint64_t		 scrapes;
	/* Hosted data copied, as it streams (workers add, any reads). */
	_Atomic uint64_t	 data_bytes;
	_Atomic uint64_t	 data_files;
};

void	 stats_init(struct stats *);
void	 stats_clear(struct stats *);
/* Loop only: the cluster's entry, added when new. */
struct stats_cluster *stats_cluster(struct stats *, const char *name);
/* Any thread: one request of kind ("api", "git") to a known cluster. */
void	 stats_count(struct stats *, const char *cluster, const char *kind,
	    long status);
/*
 * Loop only: the route's histograms count in its clusters' (the source's
 * for polls, the destination's for promotions and build waits), added
 * when new, and in a set of the route's own when the configuration says
 * metrics: per_route_histograms. An observation and a scrape bind a
 * route that is not (or that a reload moved); this binds it at once.
 */
struct route;
void	 stats_route_bind(struct route *);
/* Loop only: frees the route's own set now, before the route is freed
 * (else the first scrape after frees it). */
void	 stats_route_clear(struct stats *, struct stats_route *);
/* Loop only: 0 and *why when a cluster's polls fail in a row. */
int	 stats_healthy(struct stats *, char **why);

/* Loop only: the per-cluster and service families. */
void	 stats_write_clusters(struct stats *, struct metrics_buf *);
void	 stats_write_server(struct stats *, struct metrics_buf *);
/* algopromoted_build_info{version}: always 1. */
void	 stats_write_build(struct metrics_buf *);
/*
 * Loop only: all of /metrics (the process_* families last, procstat.h);
 * arg is the struct server.  For a reader that takes it in pieces (slice
 * set, metrics.h) the routes are copied first, cheaply, and written a
 * slice at a time from the copy: a route a reload removes meanwhile is
 * written as it was.
 */
void	 stats_metrics(void *server, struct metrics_buf *);

#endif
