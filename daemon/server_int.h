/* server_int.h: the service's shared structures (server, route, job),
 * private to server.c, route.c, status.c and stats.c. */
#ifndef SERVER_INT_H
#define SERVER_INT_H

#include <sys/queue.h>

#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "hold.h"
#include "pool.h"
#include "promote.h"
#include "scheduler.h"
#include "state.h"
#include "stats.h"

struct event;
struct event_base;

/* A configuration and the jobs that still run with it. Loop only. */
struct confref {
	struct config	*conf;
	int		 refs;
};

struct route;

/* One promotion job on the worker pool. The worker runs promote_route()
 * and reports through route_job_progress() (phase, build_*: atomics,
 * written by the worker, read by the loop) and route_job_observe()
 * (counted in stats under its lock); everything else is the loop's. */
struct route_job {
	struct pool_job			 pj;	/* first: pool hands it back */
	struct route			*route;
	struct confref			*cref;
	const struct config_pair	*pair;
	size_t				 dest;
	struct promote_opts		 opts;
	enum promote_result		 result;
	int				 ret;
	uint64_t			 started_ms;
	_Atomic uint64_t		 build_start_ms;	/* worker */
	_Atomic uint64_t		 build_ms;		/* worker */
	atomic_int			 phase;			/* worker */
	/* Hosted data under way (phase data), stored by the worker. */
	_Atomic int64_t			 data_files_done;
	_Atomic int64_t			 data_files_total;
	_Atomic int64_t			 data_bytes_done;
	_Atomic int64_t			 data_bytes_total;
	int				 drifted;		/* worker, then loop */
	/* The source's and destination's breakers: the scheduler's,
	 * locked objects that outlive every job. */
	struct breaker			*breaker[2];
};

/* One pair -> destination; the loop's only. */
struct route {
	TAILQ_ENTRY(route)		 entry;
	struct scheduler_route		*sr;	/* timing, slots, backoff */
	struct server			*srv;
	char				*id;	/* "pair->CLUSTER/OWNER/ALGO" */
	char				*pair_name;
	char				*dest_full;
	const struct config_pair	*pair;	/* in srv->cref */
	size_t				 dest;
	struct event			*timer;
	uint64_t			 poll_id;
	struct route_job		*job;
	int				 removed;
	int				 trigger;	/* poll as soon as free */
	/* What the source says, from the last good poll. */
	int				 have_head;
	char				 head[65];
	char				 version[64];
	int64_t				 last_poll;
	char				*poll_error;
	int				 poll_error_permanent;
	/* What the state file says. */
	char				*done_commit;
	char				*failed_commit;
	char				*approval_commit;
	int				 pending;	/* a promotion to resume */
	int				 failing;	/* an error is recorded */
	int				 drift_held;	/* STATE_HELD */
	/* The state file as last read (st_cached): status shows it while
	 * no job runs, without reading every route's file at each beat.
	 * Every change made outside a job is followed by a read. */
	struct state_route		 st;
	int				 st_cached;
	/* What operator.json says, and whether a pin is promoted. */
	struct hold			 hold;
	int				 pin_done;
	struct stats_route		 stats;
};

TAILQ_HEAD(routes, route);

struct server {
	struct event_base	*base;
	char			*path;
	int			 verbose;
	struct confref		*cref;
	struct routes		 routes;
	struct scheduler	 sched;
	struct poller		*poller;
	struct pool		*pool;
	struct httpd		*httpd;
	struct control		*control;
	struct notifier		*notifier;
	struct event		*ev_sig[4];
	struct event		*ev_watchdog;
	struct event		*ev_beat;
	struct event		*ev_dirty;
	struct event		*ev_stop;
	atomic_int		 cancel;	/* read by workers */
	int			 stopping;
	int			 ready;
	uint64_t		 last_beat_ms;
	int			 dirty;
	struct stats		 stats;
	char			*last_promotion;
	uint64_t		 trigger_refused_ms;	/* last said */
	uint64_t		 trigger_refused;	/* not said since */
	int			 planning;	/* a plan is under way */
};

/* server.c; route.h and status.h declare the other shared functions. */
struct confref	*server_confref_new(struct config *);
void		 server_confref_drop(struct confref *);
void		 server_dirty(struct server *);
/* A pool job's done(): the last one ends a stop. */
void		 server_job_ended(struct server *);

#endif
