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
 * The /metrics families come out in this order, between
 * algopromoted_routes and the route histograms, one series per route.
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
	    "When the route last completed a promotion (0: never).",	\
	    NULL, NULL)

/* The route histograms, after algopromoted_route_phase: field, family
 * name, help. */
#define STATS_ROUTE_HISTOS(X)						\
	X(poll_seconds, "algopromoted_route_poll_duration_seconds",	\
	    "Time one poll of the source took.")			\
	X(promotion_seconds,						\
	    "algopromoted_route_promotion_duration_seconds",		\
	    "Time one promotion job took.")				\
	X(build_wait_seconds, "algopromoted_route_build_wait_seconds",	\
	    "Time spent waiting for destination builds.")

/* The service's own counters, last on /metrics; same columns as
 * STATS_ROUTE_COUNTERS. */
#define STATS_SERVER_COUNTERS(X)					\
	X(reloads, 2, "algopromoted_reloads_total", "counter",		\
	    "Configuration reloads, by result.", "result",		\
	    STATS_VALUES("ok", "failed"))

#define STATS_COUNTER_FIELD(f, n, ...)	uint64_t f[n];
#define STATS_HISTO_FIELD(f, ...)	struct metrics_histo f;

/* A route's counters: the loop's (histograms may be observed anywhere). */
struct stats_route {
	STATS_ROUTE_COUNTERS(STATS_COUNTER_FIELD)
	STATS_ROUTE_HISTOS(STATS_HISTO_FIELD)
};

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
/* Loop only: 0 and *why when a cluster's polls fail in a row. */
int	 stats_healthy(struct stats *, char **why);

/* Loop only: the per-cluster and service families. */
void	 stats_write_clusters(struct stats *, struct metrics_buf *);
void	 stats_write_server(struct stats *, struct metrics_buf *);
/* algopromoted_build_info{version}: always 1. */
void	 stats_write_build(struct metrics_buf *);
/* Loop only: all of /metrics (the process_* families last, procstat.h);
 * arg is the struct server. */
void	 stats_metrics(void *server, struct metrics_buf *);

#endif
