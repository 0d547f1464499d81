/* route.h: the scheduling of one route: its poll timer, backoff and
 * jitter, cluster slots, one job at a time, and the job on the pool. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct config_pair;
struct route;
struct server;

/* Loop only, like everything about a route (see server_int.h). */
struct route	*route_new(struct server *, const struct config_pair *,
		    size_t dest);
void		 route_free(struct route *);
void		 route_retire(struct route *);
void		 route_load_state(struct route *);
void		 route_schedule(struct route *, uint64_t ms);
void		 route_poll(struct route *);
void		 route_start_job(struct route *);
void		 route_move(struct route *);
void		 route_wake(struct route *);

/* Poll now, or once the poll or job under way ends: at most one trigger
 * waits per route. */
#define ROUTE_TRIGGER_NOW		0
#define ROUTE_TRIGGER_QUEUED		1
#define ROUTE_TRIGGER_QUEUED_BEFORE	2	/* one was waiting already */
int		 route_trigger(struct route *);

#endif
