/* route.c: one route of the service: its poll timer and polls, its job
 * on the pool, as the scheduler (scheduler.c) decides them.
 *
 * Threads: everything here runs on the loop thread except
 * route_job_run(), which runs promote_route() on a worker with a
 * reference to the configuration it started with, and the two observer
 * callbacks: route_job_progress() stores the phase and build times in
 * atomics and activates ev_dirty; route_job_observe() counts in stats
 * under its lock.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "httpmsg.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "poller.h"
#include "pool.h"
#include "promote.h"
#include "route.h"
#include "route_events.h"
#include "server_int.h"
#include "state.h"
#include "stats.h"
#include "xmalloc.h"

static void	route_consider(struct route *);
static void	route_job_done(struct pool_job *);
static void	route_job_submit(struct route *);

/* The breaker of the job's source or destination cluster. */
static struct breaker *
route_job_breaker(struct route_job *j, const struct config_cluster *cluster)
{
	return j->breaker[cluster == j->pair->source.cluster ? 0 : 1];
}

/* Worker: every API request's status (0: none) and git operation's end
 * counts in stats and tells the cluster's breaker whether it answered. */
static void
route_job_observe(void *arg, const struct config_cluster *cluster,
    const char *kind, long status)
{
	struct route_job	*j = arg;

	stats_count(&j->route->srv->stats, cluster->name, kind, status);
	breaker_report(route_job_breaker(j, cluster), BREAKER_JOB,
	    status != 0 && !httpmsg_status_transient(status),
	    (uintptr_t)j->route, monotime_ms());
}

/* Worker: before a failed request is tried again. A git try has not been
 * reported yet (observe sees the operation's end only). */
static int
route_job_halt(void *arg, const struct config_cluster *cluster, int git,
    char *why, size_t len)
{
	struct route_job	*j = arg;
	struct breaker		*b = route_job_breaker(j, cluster);

	if (git)
		breaker_report(b, BREAKER_JOB, 0, (uintptr_t)j->route,
		    monotime_ms());
	return breaker_open(b, monotime_ms(), why, len);
}

static void
route_job_progress(void *arg, int phase)
{
	struct route_job	*j = arg;
	uint64_t		 start = atomic_load(&j->build_start_ms);

	if (phase == STATE_BUILDING && start == 0)
		atomic_store(&j->build_start_ms, monotime_ms());
	else if (phase != STATE_BUILDING && start != 0 &&
	    atomic_load(&j->build_ms) == 0)
		atomic_store(&j->build_ms, monotime_ms() - start);
	atomic_store(&j->phase, phase);
	event_active(j->route->srv->ev_dirty, EV_READ, 0);
}

/* Worker: hosted data under way; the service's counters grow as the
 * bytes stream. */
static void
route_job_data_progress(void *arg, int64_t files_done, int64_t files_total,
    int64_t bytes_done, int64_t bytes_total)
{
	struct route_job	*j = arg;
	struct stats		*st = &j->route->srv->stats;
	int64_t			 was;

	was = atomic_exchange(&j->data_bytes_done, bytes_done);
	if (bytes_done > was)
		atomic_fetch_add(&st->data_bytes, (uint64_t)(bytes_done - was));
	was = atomic_exchange(&j->data_files_done, files_done);
	if (files_done > was)
		atomic_fetch_add(&st->data_files, (uint64_t)(files_done - was));
	atomic_store(&j->data_files_total, files_total);
	atomic_store(&j->data_bytes_total, bytes_total);
}

static void
route_job_run(struct pool_job *pj)
{
	struct route_job	*j = (struct route_job *)pj;

	j->ret = promote_route(j->cref->conf, j->pair, j->dest, &j->opts,
	    &j->result);
}

static const struct config_algo *
route_dest(const struct route *r)
{
	return &r->pair->dests[r->dest];
}

/* What operator.json says. One that cannot be read holds the route as
 * paused (hold_load), said once per new reason. */
static void
route_load_hold(struct route *r, const char *dir)
{
	struct hold	 h;
	char		*cause = NULL;

	if (hold_load(&h, dir, &cause) == -1) {
		if (r->hold.reason == NULL ||
		    strcmp(r->hold.reason, h.reason) != 0)
			log_warnx("route %s: %s", r->id, h.reason);
		free(cause);
	}
	hold_clear(&r->hold);
	r->hold = h;
}

/* Re-reads what the route's state file says: the loop's picture of it;
 * the whole state is kept in r->st (status shows it). 0, or -1 (said). */
static int
route_read_state(struct route *r)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *warning = NULL;

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	state_route_clear(&r->st);
	r->st_cached = 0;
	if (state_route_load(&st, dir, &cause, &warning) == -1) {
		log_warnx("route %s: %s", r->id, cause);
		free(cause);
		free(dir);
		return -1;
	}
	if (warning != NULL) {
		log_warnx("route %s: %s", r->id, warning);
		free(warning);
	}
	state_set(&r->done_commit, st.last_source_commit);
	state_set(&r->failed_commit, st.failed_source_commit);
	state_set(&r->approval_commit, st.phase == STATE_APPROVAL ?
	    st.pending_source_commit : NULL);
	r->pending = st.pending_source_commit != NULL &&
	    st.phase != STATE_APPROVAL && st.phase != STATE_FAILED;
	r->drift_held = st.phase == STATE_HELD;
	r->failing = st.error != NULL;
	route_load_hold(r, dir);
	r->pin_done = hold_pin_done(&r->hold, &st);
	if (st.last_time > 0 &&
	    (uint64_t)st.last_time > r->stats.last_success[0])
		r->stats.last_success[0] = (uint64_t)st.last_time;
	r->st = st;
	r->st_cached = 1;
	free(dir);
	return 0;
}

void
route_load_state(struct route *r)
{
	route_read_state(r);
}

static void
route_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	route_poll(arg);
}

struct route *
route_new(struct server *s, const struct config_pair *p, size_t d)
{
	struct route	*r = xcalloc(1, sizeof *r);

	r->srv = s;
	r->pair = p;
	r->dest = d;
	r->pair_name = xstrdup(p->name);
	r->dest_full = xstrdup(p->dests[d].full);
	r->id = promote_route_name(p, &p->dests[d]);
	r->timer = evtimer_new(s->base, route_timer_cb, r);
	if (r->timer == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&s->routes, r, entry);
	r->sr = scheduler_route_add(&s->sched, r, p->source.cluster->name,
	    p->source.cluster->max_parallel, p->dests[d].cluster->name,
	    p->dests[d].cluster->max_parallel, monotime_ms());
	route_move(r);
	route_load_state(r);
	return r;
}

/* The route's clusters, new or changed by a reload: counted in stats,
 * and the scheduler's slots and limits. */
void
route_move(struct route *r)
{
	const struct config_cluster	*sc = r->pair->source.cluster;
	const struct config_cluster	*dc = route_dest(r)->cluster;

	stats_cluster(&r->srv->stats, sc->name);
	stats_cluster(&r->srv->stats, dc->name);
	scheduler_route_move(&r->srv->sched, r->sr, sc->name,
	    sc->max_parallel, dc->name, dc->max_parallel);
}

void
route_free(struct route *r)
{
	struct server	*s = r->srv;

	if (r->poll_id != 0)
		poller_cancel(s->poller, r->poll_id);
	scheduler_route_free(&s->sched, r->sr);
	TAILQ_REMOVE(&s->routes, r, entry);
	event_free(r->timer);
	free(r->id);
	free(r->pair_name);
	free(r->dest_full);
	free(r->poll_error);
	free(r->done_commit);
	free(r->failed_commit);
	free(r->approval_commit);
	hold_clear(&r->hold);
	state_route_clear(&r->st);
	stats_route_clear(&s->stats, &r->stats);
	free(r);
}

/* A reload removed the route: it stops now, or when its job ends. */
void
route_retire(struct route *r)
{
	struct server	*s = r->srv;

	r->removed = 1;
	evtimer_del(r->timer);
	if (r->poll_id != 0) {
		poller_cancel(s->poller, r->poll_id);
		r->poll_id = 0;
	}
	scheduler_route_dequeue(&s->sched, r->sr);
	if (r->job == NULL) {
		log_info("route %s: removed", r->id);
		route_free(r);
	} else
		log_info("route %s: removed; its running promotion "
		    "finishes first", r->id);
}

void
route_schedule(struct route *r, uint64_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	scheduler_poll_at(r->sr, ms, monotime_ms());
	evtimer_add(r->timer, &tv);
}

/* What the scheduler needs to know of the route's source and state. */
static int
route_is(const char *commit, const struct route *r)
{
	return commit != NULL && strcmp(commit, r->head) == 0;
}

void
route_start_job(struct route *r)
{
	struct server		*s = r->srv;
	char			 why[160];

	if (s->stopping || r->removed)
		return;
	if (scheduler_failing(&s->sched, r->sr, monotime_ms(), why,
	    sizeof why)) {
		log_debug("route %s: not started: %s", r->id, why);
		server_dirty(s);
		return;
	}
	switch (scheduler_start(&s->sched, r->sr)) {
	case SCHEDULER_BUSY:
		return;
	case SCHEDULER_QUEUED:
		log_debug("route %s: waiting for a free slot", r->id);
		return;
	case SCHEDULER_STARTED:
		break;
	}
	route_job_submit(r);
}

static void
route_job_submit(struct route *r)
{
	struct server		*s = r->srv;
	struct route_job	*j;

	j = xcalloc(1, sizeof *j);
	j->pj.run = route_job_run;
	j->pj.done = route_job_done;
	j->route = r;
	j->cref = s->cref;
	j->cref->refs++;
	j->pair = r->pair;
	j->dest = r->dest;
	j->opts.cancel = &s->cancel;
	j->opts.progress = route_job_progress;
	j->opts.data_progress = route_job_data_progress;
	j->opts.progress_arg = j;
	j->opts.observe = route_job_observe;
	j->opts.observe_arg = j;
	j->opts.halt = route_job_halt;
	j->opts.halt_arg = j;
	j->opts.drifted = &j->drifted;
	j->breaker[0] = s->sched.clusters[r->sr->cluster[0]].breaker;
	j->breaker[1] = s->sched.clusters[r->sr->cluster[1]].breaker;
	j->started_ms = monotime_ms();
	atomic_init(&j->phase, STATE_FETCHING);	/* build_*: 0 from calloc */
	r->job = j;
	log_debug("route %s: promotion job started", r->id);
	pool_submit(s->pool, &j->pj);
	server_dirty(s);
}

static void
route_start_waiting(struct server *s)
{
	struct scheduler_route	*sr;

	if (s->stopping)
		return;		/* nothing new starts while stopping */
	while ((sr = scheduler_next_waiting(&s->sched, monotime_ms())) != NULL)
		route_job_submit(sr->arg);
}

/*
 * A new source state needs a job. So, every reconcile_interval, does an
 * unchanged one: the job checks that the destination still holds what
 * was promoted and promotes it again when a person changed it.
 */
static void
route_consider(struct route *r)
{
	struct scheduler_facts	 f = {
		.held = r->hold.kind == HOLD_PAUSED || r->drift_held,
		.pending = r->pending,
		.have_head = r->have_head,
		.head_done = r->have_head && route_is(r->done_commit, r),
		.head_failed = r->have_head && route_is(r->failed_commit, r),
		.head_held = r->have_head && route_is(r->approval_commit, r),
		.reconcile_ms = r->pair->policy.reconcile_ms,
	};

	if (r->hold.kind == HOLD_PINNED) {
		/* The operator's choice, whatever the source says now. */
		f.have_head = 1;
		f.head_done = r->pin_done;
		f.head_failed = !r->pin_done && r->failed_commit != NULL;
		f.head_held = 0;
	}
	switch (scheduler_wants(r->sr, &f, monotime_ms())) {
	case SCHEDULER_NOTHING:
		break;
	case SCHEDULER_RECONCILE:
		log_debug("route %s: reconciling the destination", r->id);
		route_start_job(r);
		break;
	case SCHEDULER_PROMOTE:
		route_start_job(r);
		break;
	}
}

/* An operator changed the route's hold or state: read them again and
 * act on them now, or when the running job ends. */
void
route_wake(struct route *r)
{
	scheduler_clear_backoff(r->sr);
	if (r->job != NULL) {
		r->trigger = 1;
		return;
	}
	route_load_state(r);
	route_poll(r);
	if (r->hold.kind == HOLD_PINNED)
		route_consider(r);
}

static void
route_job_done(struct pool_job *pj)
{
	struct route_job	*j = (struct route_job *)pj;
	struct route		*r = j->route;
	struct server		*s = r->srv;
	enum promote_result	 result = j->result;
	uint64_t		 took = monotime_ms() - j->started_ms, now;
	uint64_t		 bstart = atomic_load(&j->build_start_ms);
	uint64_t		 bms = atomic_load(&j->build_ms);
	struct route_before	 before;
	int			 drifted = j->drifted;

	/* A failed job backs off: retry_min, doubling to the cap. */
	scheduler_finish(&s->sched, r->sr, result == PROMOTE_FAILED &&
	    !s->stopping, s->cref->conf->retry_min_ms, monotime_ms());
	r->job = NULL;
	r->stats.promotions[result]++;
	metrics_histo_observe(&r->stats.promotion_seconds,
	    (double)took / 1000.0);
	if (bstart != 0)
		metrics_histo_observe(&r->stats.build_wait_seconds,
		    (double)(bms != 0 ? bms : monotime_ms() - bstart) / 1000.0);
	server_confref_drop(j->cref);
	free(j);
	if (r->removed) {
		log_info("route %s: removed", r->id);
		route_free(r);
		goto out;
	}
	route_events_before(r, &before);
	if (route_read_state(r) == 0)
		route_events_after(r, &before, &r->st, result, drifted,
		    s->stopping);
	route_events_clear(&before);
	if (result == PROMOTE_DONE) {
		free(s->last_promotion);
		s->last_promotion = xstrdup(r->id);
	}
	if (!s->stopping) {
		if (r->trigger) {
			r->trigger = 0;
			route_poll(r);
		} else
			route_consider(r);
		/* A failed job tries again after its backoff (retry_min
		 * first), not at the next poll: poll then, which asks. */
		now = monotime_ms();
		if (result == PROMOTE_FAILED && r->poll_id == 0 &&
		    r->job == NULL && r->sr->retry_at_ms > now &&
		    r->sr->retry_at_ms < r->sr->next_poll_ms)
			route_schedule(r, r->sr->retry_at_ms - now);
	}
out:
	route_start_waiting(s);
	server_dirty(s);
	server_job_ended(s);
}

/* ---- polling ------------------------------------------------------- */

static void
route_polled_1(struct route *r, const struct poller_result *res)
{
	struct server	*s = r->srv;
	struct stats_cluster *c;
	uint64_t	 next, failures = r->sr->poll_failures;
	const char	*cluster = r->pair->source.cluster->name;
	int		 changed;

	r->poll_id = 0;
	r->stats.polls[0]++;
	r->last_poll = (int64_t)time(NULL);
	metrics_histo_observe(&r->stats.poll_seconds,
	    (double)res->elapsed_ms / 1000.0);
	/* A versions poll asks the API; a commits poll asks git. */
	stats_count(&s->stats, cluster, r->pair->policy.track ==
	    CONFIG_TRACK_COMMITS ? "git" : "api", res->status);
	c = stats_cluster(&s->stats, cluster);
	/* A permanent failure (401, 404) is an answer too. */
	breaker_report(s->sched.clusters[r->sr->cluster[0]].breaker,
	    BREAKER_POLL, res->ok || !res->transient, (uintptr_t)r,
	    monotime_ms());
	next = scheduler_polled(&s->sched, r->sr, res->ok,
	    r->pair->policy.poll_ms, res->retry_after_ms, monotime_ms());
	if (!res->ok) {
		r->stats.poll_errors[res->transient ? 0 : 1]++;
		c->poll_failures++;
		free(c->poll_error);
		c->poll_error = xstrdup(res->error);
		if (failures == 0 || r->poll_error == NULL ||
		    strcmp(r->poll_error, res->error) != 0)
			log_warnx("route %s: poll failed (%s): %s", r->id,
			    res->transient ? "transient" : "permanent",
			    res->error);
		free(r->poll_error);
		r->poll_error = xstrdup(res->error);
		r->poll_error_permanent = !res->transient;
		log_debug("route %s: next poll in %llu ms", r->id,
		    (unsigned long long)next);
		route_schedule(r, next);
		server_dirty(s);
		return;
	}
	/* A poll that finds what the last one found changes nothing worth
	 * rewriting status.json for: an idle daemon writes nothing. */
	changed = failures > 0 || r->have_head != res->found ||
	    strcmp(r->head, res->head) != 0 ||
	    strcmp(r->version, res->version) != 0;
	if (failures > 0)
		log_info("route %s: polling works again after %llu failures",
		    r->id, (unsigned long long)failures);
	c->poll_failures = 0;
	free(r->poll_error);
	r->poll_error = NULL;
	r->have_head = res->found;
	memcpy(r->head, res->head, sizeof r->head);
	memcpy(r->version, res->version, sizeof r->version);
	route_schedule(r, next);
	route_consider(r);
	if (changed)
		server_dirty(s);
}

static void
route_polled(const struct poller_result *res, void *arg)
{
	struct route	*r = arg;

	route_polled_1(r, res);
	/* A trigger that came while this poll was under way: the change
	 * it announces may have landed after the answer. A job started
	 * meanwhile polls when it ends. */
	if (r->trigger && r->job == NULL && !r->srv->stopping) {
		r->trigger = 0;
		route_poll(r);
	}
}

int
route_trigger(struct route *r)
{
	int	 was = r->trigger;

	if (r->job == NULL && r->poll_id == 0) {
		route_poll(r);
		return ROUTE_TRIGGER_NOW;
	}
	r->trigger = 1;
	return was ? ROUTE_TRIGGER_QUEUED_BEFORE : ROUTE_TRIGGER_QUEUED;
}

void
route_poll(struct route *r)
{
	struct server			*s = r->srv;
	const struct config_algo	*src = &r->pair->source;
	const struct config_cluster	*c = src->cluster;
	struct poller_req		 req;
	char				*url = NULL, *ref = NULL;

	evtimer_del(r->timer);
	if (s->stopping || r->removed || r->poll_id != 0)
		return;
	if (r->job != NULL) {
		/* One thing at a time: poll again when the job is done. */
		r->trigger = 1;
		return;
	}
	memset(&req, 0, sizeof req);
	req.key = c->api_key;
	req.ca_file = c->ca_file;
	req.timeout_ms = c->timeout_ms;
	if (r->pair->policy.track == CONFIG_TRACK_COMMITS) {
		url = xprintf("%s/git/%s/%s.git", c->git, src->owner,
		    src->name);
		ref = xprintf("refs/heads/%s", r->pair->policy.branch);
		req.url = url;
		req.ref = ref;
		req.user = c->key_owner;
		r->poll_id = poller_start(s->poller, POLLER_REFS, &req,
		    route_polled, r);
	} else {
		req.url = c->api;
		req.owner = src->owner;
		req.algo = src->name;
		r->poll_id = poller_start(s->poller, POLLER_VERSION, &req,
		    route_polled, r);
	}
	free(url);
	free(ref);
}

