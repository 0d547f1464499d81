/* route_events.h: a route's events (promoted, failed, recovered,
 * pending-approval, held, drift, paused, resumed) for the notifier. */
#ifndef ROUTE_EVENTS_H
#define ROUTE_EVENTS_H

#include "promote.h"

struct route;
struct state_route;

/* What the loop knew of the route before a job ran. */
struct route_before {
	char	*done;		/* last source commit promoted */
	char	*approval;	/* commit waiting for approval */
	int	 failing;	/* the state file held an error */
	int	 drift_held;
};

/* Loop only. before() copies, after() compares with the state the job
 * left (as read by the loop) and emits what changed; clear() frees the
 * copy. */
void	 route_events_before(const struct route *, struct route_before *);
void	 route_events_after(struct route *, const struct route_before *,
	    const struct state_route *, enum promote_result, int drifted,
	    int stopping);
void	 route_events_clear(struct route_before *);
/* paused, resumed, held (a pin): the operator's commands. */
void	 route_events_operator(const struct route *, const char *type,
	    const char *reason);

#endif
