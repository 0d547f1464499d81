/* notifier.h: notifications of what happened to a route, delivered at
 * least once to webhooks and commands from the persistent outbox. */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include <stdint.h>

#include "config.h"
#include "metrics.h"

#define NOTIFIER_HTTP_TIMEOUT_MS	(10 * 1000)
#define NOTIFIER_CMD_TIMEOUT_MS		(30 * 1000)
#define NOTIFIER_RETRY_MIN_MS		1000
#define NOTIFIER_RETRY_MAX_MS		(5 * 60 * 1000)	/* Retry-After too */
#define NOTIFIER_ERROR_MAX		2000	/* bytes of an event's error */

struct event_base;
struct notifier;

/* What happened; strings are copied. */
struct notifier_event {
	const char	*type;		/* "promoted", "failed", "recovered",
					 * "pending-approval", "held",
					 * "paused", "resumed" */
	const char	*pair, *source, *destination;	/* destination:
							 * "CLUSTER/OWNER/ALGO" */
	const char	*source_commit, *source_version;	/* each may be */
	const char	*dest_commit, *dest_version;		/* NULL */
	const char	*error;		/* may be NULL; redacted here */
	const char	*reason;	/* may be NULL: why paused or held */
};

/* The timings; tests shorten them. */
struct notifier_timing {
	uint64_t	 http_timeout_ms;
	uint64_t	 cmd_timeout_ms;
	uint64_t	 retry_min_ms;
	uint64_t	 retry_max_ms;
};

/*
 * Opens state_dir/outbox and resumes what it holds (deliveries whose
 * sink the configuration no longer has are dropped, counted). Loop
 * thread only, like every function here. -1 and *cause when the outbox
 * cannot be read or curl cannot be set up.
 */
int	 notifier_new(struct notifier **, struct event_base *,
	    const struct config *, char **cause);
/* After a reload: the new sinks; pending deliveries to a sink that is
 * gone are dropped (counted); the rest carry on. */
void	 notifier_configure(struct notifier *, const struct config *);
/*
 * Queues ev for every sink of pair (the top level's and the pair's own)
 * that wants ev->type, each delivery in the outbox before this returns;
 * delivery follows on the loop. A pending approval is announced once
 * per route and source commit.
 */
void	 notifier_emit(struct notifier *, const struct config_pair *,
	    const struct notifier_event *);
/* The algopromoted_notify_* families. */
void	 notifier_metrics(struct notifier *, struct metrics_buf *);
/* NULL is fine. Requests in flight are abandoned (they stay in the
 * outbox); commands still running are killed. */
void	 notifier_free(struct notifier *);

void	 notifier_set_timing(struct notifier *, const struct notifier_timing *);
/* Deliveries waiting (in flight included). */
size_t	 notifier_pending(const struct notifier *);

#endif
