/* route_events.c: what happened to a route, told to the notifier: the
 * changes a job made to the route's state, and an operator's commands.
 *
 * Threads: loop only, like the route and the notifier.
 */
#include <stdlib.h>
#include <string.h>

#include "notifier.h"
#include "route_events.h"
#include "server_int.h"
#include "state.h"
#include "xmalloc.h"

static int
route_events_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

void
route_events_before(const struct route *r, struct route_before *b)
{
	b->done = r->done_commit != NULL ? xstrdup(r->done_commit) : NULL;
	b->approval = r->approval_commit != NULL ?
	    xstrdup(r->approval_commit) : NULL;
	b->failing = r->failing;
	b->drift_held = r->drift_held;
}

void
route_events_clear(struct route_before *b)
{
	free(b->done);
	free(b->approval);
	memset(b, 0, sizeof *b);
}

/* The event's route fields. */
static void
route_events_init(const struct route *r, struct notifier_event *ev,
    const char *type)
{
	memset(ev, 0, sizeof *ev);
	ev->type = type;
	ev->pair = r->pair_name;
	ev->source = r->pair->source.full;
	ev->destination = r->dest_full;
}

static void
route_events_emit(const struct route *r, const struct notifier_event *ev)
{
	if (r->srv->notifier != NULL)
		notifier_emit(r->srv->notifier, r->pair, ev);
}

void
route_events_after(struct route *r, const struct route_before *b,
    const struct state_route *st, enum promote_result result, int drifted,
    int stopping)
{
	struct notifier_event	 ev;
	char			*reason;

	if (r->srv->notifier == NULL)
		return;

	if (drifted) {
		route_events_init(r, &ev, "drift");
		ev.dest_commit = st->accepted_dest_commit;
		ev.reason = "the destination was changed outside "
		    "algopromoted; promoted over it (on_drift: overwrite)";
		route_events_emit(r, &ev);
	}
	if (result == PROMOTE_DONE && st->last_source_commit != NULL &&
	    (!route_events_same(b->done, st->last_source_commit) ||
	    b->failing || drifted)) {
		route_events_init(r, &ev, "promoted");
		ev.source_commit = st->last_source_commit;
		ev.source_version = st->last_source_version;
		ev.dest_commit = st->last_dest_commit;
		ev.dest_version = st->last_dest_version;
		route_events_emit(r, &ev);
		if (b->failing) {
			ev.type = "recovered";
			route_events_emit(r, &ev);
		}
	}
	/* A failure is told when the route starts failing, not at every
	 * retry; a shutdown's interruption is not one. */
	if (result == PROMOTE_FAILED && !stopping && st->error != NULL &&
	    !b->failing) {
		route_events_init(r, &ev, "failed");
		ev.source_commit = st->pending_source_commit != NULL ?
		    st->pending_source_commit : st->failed_source_commit;
		ev.source_version = st->pending_source_version;
		ev.error = st->error;
		route_events_emit(r, &ev);
	}
	if (st->phase == STATE_APPROVAL && st->pending_source_commit != NULL &&
	    !route_events_same(b->approval, st->pending_source_commit)) {
		route_events_init(r, &ev, "pending-approval");
		ev.source_commit = st->pending_source_commit;
		ev.source_version = st->pending_source_version;
		ev.reason = "approval: manual; waiting for `algopromotectl "
		    "approve`";
		route_events_emit(r, &ev);
	}
	if (st->phase == STATE_HELD && !b->drift_held) {
		route_events_init(r, &ev, "held");
		ev.dest_commit = st->drift_dest_commit;
		reason = xprintf("drift: the destination head was pushed by "
		    "%s (\"%s\"), not by algopromoted (on_drift: hold)",
		    st->drift_author != NULL ? st->drift_author : "?",
		    st->drift_subject != NULL ? st->drift_subject : "?");
		ev.reason = reason;
		route_events_emit(r, &ev);
		free(reason);
	}
}

void
route_events_operator(const struct route *r, const char *type,
    const char *reason)
{
	struct notifier_event	 ev;

	route_events_init(r, &ev, type);
	ev.reason = reason;
	if (r->hold.kind == HOLD_PINNED && strcmp(type, "held") == 0) {
		ev.source_commit = r->hold.source_commit;
		ev.source_version = r->hold.source_version;
	}
	route_events_emit(r, &ev);
}
