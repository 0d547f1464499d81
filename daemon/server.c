/* server.c: the service loop: one libevent loop owning every route, its
 * poll timer, its jobs on the worker pool, reloads, signals and endpoints.
 *
 * Threads: everything here runs on the loop thread except rjob_run(),
 * which runs promote_route() on a worker with a reference to the
 * configuration it started with, and the two observer callbacks, which
 * only touch stats under stats_lock and activate ev_dirty.
 */
#include <sys/queue.h>

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "atomicfile.h"
#include "config.h"
#include "control.h"
#include "httpd.h"
#include "log.h"
#include "monotime.h"
#include "metrics.h"
#include "notify.h"
#include "poller.h"
#include "pool.h"
#include "promote.h"
#include "server.h"
#include "state.h"
#include "vmap.h"
#include "xmalloc.h"

#define SERVER_BACKOFF_MAX_MS	(30 * 60 * 1000)
#define SERVER_STOP_GRACE_S	30
#define SERVER_UNREACHABLE	3	/* failed polls in a row: unhealthy */
#define SERVER_STUCK_MS		10000	/* loop lag that makes us unhealthy */
#define SERVER_START_SPREAD_MS	1000	/* first polls spread over this */

struct confref {
	struct config	*conf;
	int		 refs;
};

/* Counters of one cluster, for /metrics and /healthz. The request
 * counts are bumped from workers, hence the lock. */
struct reqcount {
	char		 kind[4];	/* "api" or "git" */
	long		 status;
	uint64_t	 n;
};

struct cstats {
	char		*name;
	int		 busy;		/* jobs holding a slot (loop only) */
	int		 poll_failures;	/* in a row (loop only) */
	char		*poll_error;	/* loop only */
	struct reqcount	*counts;	/* under stats_lock */
	size_t		 ncounts;
};

struct route;

struct rjob {
	struct pool_job			 pj;	/* first: pool hands it back */
	struct route			*route;
	struct confref			*cref;
	const struct config_pair	*pair;
	size_t				 dest;
	struct promote_opts		 opts;
	enum promote_result		 result;
	uint64_t			 started_ms;
	uint64_t			 build_start_ms;	/* worker */
	uint64_t			 build_ms;		/* worker */
	volatile int			 phase;			/* worker */
	int				 ret;
	size_t				 slot[2];	/* cstats held */
};

struct route {
	TAILQ_ENTRY(route)		 entry;
	TAILQ_ENTRY(route)		 waiting;	/* for a cluster slot */
	struct server			*srv;
	char				*id;	/* "pair->CLUSTER/OWNER/ALGO" */
	char				*pair_name;
	char				*dest_full;
	const struct config_pair	*pair;	/* in srv->cref */
	size_t				 dest;
	struct event			*timer;
	uint64_t			 poll_id;
	struct rjob			*job;
	int				 queued;	/* on srv->waitq */
	int				 removed;
	int				 trigger;	/* poll as soon as free */
	/* What the source says, from the last good poll. */
	int				 have_head;
	char				 head[65];
	char				 version[64];
	int64_t				 last_poll;
	uint64_t			 failures;	/* polls failed in a row */
	char				*poll_error;
	int				 poll_error_permanent;
	uint64_t			 next_poll_ms;	/* monotonic */
	/* What the state file says. */
	char				*done_commit;
	char				*failed_commit;
	char				*approval_commit;
	int				 pending;	/* a promotion to resume */
	uint64_t			 last_job_ms;	/* monotonic */
	uint64_t			 job_failures;	/* in a row */
	uint64_t			 job_retry_ms;	/* not before (monotonic) */
	/* Metrics. */
	uint64_t			 polls;
	uint64_t			 poll_errors[2];	/* transient, permanent */
	uint64_t			 results[5];	/* by promote_result */
	int64_t				 last_success;
	struct metrics_histo		 h_poll;
	struct metrics_histo		 h_promote;
	struct metrics_histo		 h_build;
};

TAILQ_HEAD(routes, route);

struct server {
	struct event_base	*base;
	char			*path;
	int			 verbose;
	struct confref		*cref;
	struct routes		 routes;
	struct routes		 waitq;
	struct poller		*poller;
	struct pool		*pool;
	struct httpd		*httpd;
	struct control		*control;
	struct event		*ev_sig[4];
	struct event		*ev_watchdog;
	struct event		*ev_beat;
	struct event		*ev_dirty;
	struct event		*ev_stop;
	volatile int		 cancel;
	int			 stopping;
	int			 ready;
	uint64_t		 last_beat_ms;
	int			 dirty;
	pthread_mutex_t		 stats_lock;
	struct cstats		*cstats;
	size_t			 ncstats;
	uint64_t		 reloads[2];	/* ok, failed */
	char			*last_promotion;
};

static void	route_poll(struct route *);
static void	route_schedule(struct route *, uint64_t ms);
static void	route_consider(struct route *);
static void	server_dirty(struct server *);

/* ms +- 10%, so that routes with one interval spread out. */
static uint64_t
jitter(uint64_t ms)
{
	uint64_t	 span = ms / 5;

	if (span == 0)
		return ms;
	return ms - ms / 10 + (uint64_t)random() % (span + 1);
}

static struct confref *
confref_new(struct config *conf)
{
	struct confref	*c = xcalloc(1, sizeof *c);

	c->conf = conf;
	c->refs = 1;
	return c;
}

static void
confref_drop(struct confref *c)
{
	if (c != NULL && --c->refs == 0) {
		config_free(c->conf);
		free(c);
	}
}

static struct cstats *
server_cstats(struct server *s, const char *name)
{
	size_t	 i;

	for (i = 0; i < s->ncstats; i++)
		if (strcmp(s->cstats[i].name, name) == 0)
			return &s->cstats[i];
	pthread_mutex_lock(&s->stats_lock);
	s->cstats = xreallocarray(s->cstats, s->ncstats + 1,
	    sizeof *s->cstats);
	memset(&s->cstats[s->ncstats], 0, sizeof *s->cstats);
	s->cstats[s->ncstats].name = xstrdup(name);
	pthread_mutex_unlock(&s->stats_lock);
	return &s->cstats[s->ncstats++];
}

/* Called from workers (API and git) and the loop (polls). */
static void
server_count(struct server *s, const char *cluster, const char *kind,
    long status)
{
	struct cstats	*c = NULL;
	size_t		 i;

	pthread_mutex_lock(&s->stats_lock);
	for (i = 0; i < s->ncstats; i++)
		if (strcmp(s->cstats[i].name, cluster) == 0)
			c = &s->cstats[i];
	if (c != NULL) {
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
	pthread_mutex_unlock(&s->stats_lock);
}

static void
rjob_observe(void *arg, const struct config_cluster *cluster,
    const char *kind, long status)
{
	struct rjob	*j = arg;

	server_count(j->route->srv, cluster->name, kind, status);
}

static void
rjob_progress(void *arg, int phase)
{
	struct rjob	*j = arg;

	if (phase == STATE_BUILDING && j->build_start_ms == 0)
		j->build_start_ms = monotime_ms();
	else if (phase != STATE_BUILDING && j->build_start_ms != 0 &&
	    j->build_ms == 0)
		j->build_ms = monotime_ms() - j->build_start_ms;
	j->phase = phase;
	event_active(j->route->srv->ev_dirty, EV_READ, 0);
}

static void
rjob_run(struct pool_job *pj)
{
	struct rjob	*j = (struct rjob *)pj;

	j->ret = promote_route(j->cref->conf, j->pair, j->dest, &j->opts,
	    &j->result);
}

/* ---- routes ------------------------------------------------------ */

static const struct config_algo *
route_dest(const struct route *r)
{
	return &r->pair->dests[r->dest];
}

/* Re-reads what the route's state file says: the loop's picture of it. */
static void
route_load_state(struct route *r)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *warning = NULL;

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	if (state_route_load(&st, dir, &cause, &warning) == -1) {
		log_warnx("route %s: %s", r->id, cause);
		free(cause);
		free(dir);
		return;
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
	if (st.last_time > r->last_success)
		r->last_success = st.last_time;
	state_route_clear(&st);
	free(dir);
}

static void
route_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	route_poll(arg);
}

static struct route *
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
	server_cstats(s, p->source.cluster->name);
	server_cstats(s, p->dests[d].cluster->name);
	TAILQ_INSERT_TAIL(&s->routes, r, entry);
	r->last_job_ms = monotime_ms();
	route_load_state(r);
	return r;
}

static void
route_free(struct route *r)
{
	struct server	*s = r->srv;

	if (r->poll_id != 0)
		poller_cancel(s->poller, r->poll_id);
	if (r->queued)
		TAILQ_REMOVE(&s->waitq, r, waiting);
	TAILQ_REMOVE(&s->routes, r, entry);
	event_free(r->timer);
	free(r->id);
	free(r->pair_name);
	free(r->dest_full);
	free(r->poll_error);
	free(r->done_commit);
	free(r->failed_commit);
	free(r->approval_commit);
	free(r);
}

static void
route_schedule(struct route *r, uint64_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	r->next_poll_ms = monotime_ms() + ms;
	evtimer_add(r->timer, &tv);
}

/* Does the source state the poll saw still need a promotion? */
static int
route_needs_job(const struct route *r)
{
	if (r->job_retry_ms != 0 && monotime_ms() < r->job_retry_ms)
		return 0;	/* the last job failed: backing off */
	if (r->pending)
		return 1;
	if (!r->have_head)
		return 0;
	if (r->done_commit != NULL && strcmp(r->done_commit, r->head) == 0)
		return 0;
	if (r->failed_commit != NULL && strcmp(r->failed_commit, r->head) == 0)
		return 0;
	if (r->approval_commit != NULL &&
	    strcmp(r->approval_commit, r->head) == 0)
		return 0;
	return 1;
}

/* The slots a job holds, by index into srv->cstats (entries are never
 * removed, so indexes stay valid across reloads and reallocations). */
static size_t
server_cindex(struct server *s, const char *name)
{
	return (size_t)(server_cstats(s, name) - s->cstats);
}

static int
route_fits(struct route *r)
{
	struct server			*s = r->srv;
	const struct config_cluster	*sc = r->pair->source.cluster;
	const struct config_cluster	*dc = route_dest(r)->cluster;
	size_t				 a = server_cindex(s, sc->name);
	size_t				 b = server_cindex(s, dc->name);

	if (a == b)
		return s->cstats[a].busy < sc->max_parallel;
	return s->cstats[a].busy < sc->max_parallel &&
	    s->cstats[b].busy < dc->max_parallel;
}

static void	rjob_done(struct pool_job *);

static void
route_start_job(struct route *r)
{
	struct server	*s = r->srv;
	struct rjob	*j;

	if (r->job != NULL || r->queued || s->stopping || r->removed)
		return;
	if (!route_fits(r)) {
		r->queued = 1;
		TAILQ_INSERT_TAIL(&s->waitq, r, waiting);
		log_debug("route %s: waiting for a free slot", r->id);
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->slot[0] = server_cindex(s, r->pair->source.cluster->name);
	j->slot[1] = server_cindex(s, route_dest(r)->cluster->name);
	s->cstats[j->slot[0]].busy++;
	if (j->slot[1] != j->slot[0])
		s->cstats[j->slot[1]].busy++;
	j->pj.run = rjob_run;
	j->pj.done = rjob_done;
	j->route = r;
	j->cref = s->cref;
	j->cref->refs++;
	j->pair = r->pair;
	j->dest = r->dest;
	j->opts.cancel = &s->cancel;
	j->opts.progress = rjob_progress;
	j->opts.progress_arg = j;
	j->opts.observe = rjob_observe;
	j->opts.observe_arg = j;
	j->started_ms = monotime_ms();
	j->phase = STATE_FETCHING;
	r->job = j;
	log_debug("route %s: promotion job started", r->id);
	pool_submit(s->pool, &j->pj);
	server_dirty(s);
}

static void
server_start_waiting(struct server *s)
{
	struct route	*r, *next;

	for (r = TAILQ_FIRST(&s->waitq); r != NULL; r = next) {
		next = TAILQ_NEXT(r, waiting);
		if (!route_fits(r))
			continue;
		TAILQ_REMOVE(&s->waitq, r, waiting);
		r->queued = 0;
		route_start_job(r);
	}
}

/*
 * A new source state needs a job. So, every reconcile_interval, does an
 * unchanged one: the job checks that the destination still holds what
 * was promoted and promotes it again when a person changed it.
 */
static void
route_consider(struct route *r)
{
	uint64_t	 every = r->pair->policy.reconcile_ms;

	if (route_needs_job(r))
		route_start_job(r);
	else if (every != 0 && r->have_head && r->done_commit != NULL &&
	    strcmp(r->done_commit, r->head) == 0 &&
	    monotime_ms() - r->last_job_ms >= every) {
		log_debug("route %s: reconciling the destination", r->id);
		route_start_job(r);
	}
}

static uint64_t	route_backoff(struct route *, uint64_t, long);

static void
rjob_done(struct pool_job *pj)
{
	struct rjob		*j = (struct rjob *)pj;
	struct route		*r = j->route;
	struct server		*s = r->srv;
	enum promote_result	 result = j->result;
	uint64_t		 took = monotime_ms() - j->started_ms;

	s->cstats[j->slot[0]].busy--;
	if (j->slot[1] != j->slot[0])
		s->cstats[j->slot[1]].busy--;
	r->job = NULL;
	r->last_job_ms = monotime_ms();
	r->results[result]++;
	metrics_histo_observe(&r->h_promote, (double)took / 1000.0);
	if (j->build_start_ms != 0)
		metrics_histo_observe(&r->h_build, (double)(j->build_ms != 0 ?
		    j->build_ms : monotime_ms() - j->build_start_ms) / 1000.0);
	confref_drop(j->cref);
	free(j);
	if (r->removed) {
		log_info("route %s: removed", r->id);
		route_free(r);
		goto out;
	}
	route_load_state(r);
	if (result == PROMOTE_FAILED && !s->stopping) {
		r->job_failures++;
		r->job_retry_ms = monotime_ms() + route_backoff(r, r->job_failures,
		    -1);
	} else {
		r->job_failures = 0;
		r->job_retry_ms = 0;
	}
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
	}
out:
	server_start_waiting(s);
	server_dirty(s);
	if (s->stopping && pool_pending(s->pool) == 0)
		event_base_loopbreak(s->base);
}

/* ---- polling ------------------------------------------------------- */

/* Exponential in the number of failures in a row, with jitter, capped
 * at 30 minutes; a server's Retry-After wins when it asks for longer. */
static uint64_t
route_backoff(struct route *r, uint64_t failures, long retry_after_ms)
{
	uint64_t	 ms = r->pair->policy.poll_ms;
	uint64_t	 i;

	for (i = 0; i < failures && ms < SERVER_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > SERVER_BACKOFF_MAX_MS)
		ms = SERVER_BACKOFF_MAX_MS;
	ms = jitter(ms);
	if (retry_after_ms > 0 && (uint64_t)retry_after_ms > ms)
		ms = (uint64_t)retry_after_ms;
	return ms;
}

static void
route_polled(const struct poller_result *res, void *arg)
{
	struct route	*r = arg;
	struct server	*s = r->srv;
	struct cstats	*c;
	uint64_t	 next;
	const char	*cluster = r->pair->source.cluster->name;
	int		 changed;

	r->poll_id = 0;
	r->polls++;
	r->last_poll = (int64_t)time(NULL);
	metrics_histo_observe(&r->h_poll, (double)res->elapsed_ms / 1000.0);
	server_count(s, cluster, "git", res->status);
	c = server_cstats(s, cluster);
	if (!res->ok) {
		r->failures++;
		r->poll_errors[res->transient ? 0 : 1]++;
		c->poll_failures++;
		free(c->poll_error);
		c->poll_error = xstrdup(res->error);
		if (r->failures == 1 || r->poll_error == NULL ||
		    strcmp(r->poll_error, res->error) != 0)
			log_warnx("route %s: poll failed (%s): %s", r->id,
			    res->transient ? "transient" : "permanent",
			    res->error);
		free(r->poll_error);
		r->poll_error = xstrdup(res->error);
		r->poll_error_permanent = !res->transient;
		next = route_backoff(r, r->failures, res->retry_after_ms);
		log_debug("route %s: next poll in %llu ms", r->id,
		    (unsigned long long)next);
		route_schedule(r, next);
		server_dirty(s);
		return;
	}
	/* A poll that finds what the last one found changes nothing worth
	 * rewriting status.json for: an idle daemon writes nothing. */
	changed = r->failures > 0 || r->have_head != res->found ||
	    strcmp(r->head, res->head) != 0 ||
	    strcmp(r->version, res->version) != 0;
	if (r->failures > 0)
		log_info("route %s: polling works again after %llu failures",
		    r->id, (unsigned long long)r->failures);
	r->failures = 0;
	c->poll_failures = 0;
	free(r->poll_error);
	r->poll_error = NULL;
	r->have_head = res->found;
	memcpy(r->head, res->head, sizeof r->head);
	memcpy(r->version, res->version, sizeof r->version);
	route_schedule(r, jitter(r->pair->policy.poll_ms));
	route_consider(r);
	if (changed)
		server_dirty(s);
}

static void
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

/* ---- status -------------------------------------------------------- */

static cJSON *
route_json(struct route *r)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *t;
	cJSON			*o, *live;
	uint64_t		 now = monotime_ms();

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	/* Read only: a corrupt file is reported by the next job. */
	if (state_route_peek(&st, dir, &cause) == -1)
		free(cause);
	state_set(&st.pair, r->pair_name);
	state_set(&st.source, r->pair->source.full);
	state_set(&st.destination, r->dest_full);
	if (r->job != NULL)
		st.phase = (enum state_phase)r->job->phase;
	o = state_route_to_json(&st);
	state_route_clear(&st);
	free(dir);
	live = cJSON_AddObjectToObject(o, "live");
	cJSON_AddBoolToObject(live, "job", r->job != NULL);
	cJSON_AddBoolToObject(live, "waiting_for_slot", r->queued);
	if (r->have_head)
		cJSON_AddStringToObject(live, "source_head", r->head);
	else
		cJSON_AddNullToObject(live, "source_head");
	if (r->version[0] != '\0')
		cJSON_AddStringToObject(live, "source_version", r->version);
	if (r->last_poll != 0) {
		t = vmap_time_format(r->last_poll);
		cJSON_AddStringToObject(live, "last_poll", t);
		free(t);
	} else
		cJSON_AddNullToObject(live, "last_poll");
	cJSON_AddNumberToObject(live, "next_poll_in_ms",
	    r->next_poll_ms > now && evtimer_pending(r->timer, NULL) ?
	    (double)(r->next_poll_ms - now) : 0);
	cJSON_AddNumberToObject(live, "poll_failures", (double)r->failures);
	if (r->poll_error != NULL) {
		cJSON_AddStringToObject(live, "poll_error", r->poll_error);
		cJSON_AddBoolToObject(live, "poll_error_permanent",
		    r->poll_error_permanent);
	} else
		cJSON_AddNullToObject(live, "poll_error");
	return o;
}

static cJSON *
server_status(struct server *s)
{
	struct route	*r;
	cJSON		*arr = cJSON_CreateArray();

	TAILQ_FOREACH(r, &s->routes, entry)
		if (!r->removed)
			cJSON_AddItemToArray(arr, route_json(r));
	return arr;
}

static char *
server_status_text(void *arg)
{
	cJSON	*arr = server_status(arg);
	char	*text = cJSON_Print(arr), *out;

	cJSON_Delete(arr);
	if (text == NULL)
		fatalx("out of memory");
	out = xprintf("%s\n", text);
	free(text);
	return out;
}

static void
server_notify_status(struct server *s)
{
	struct route	*r;
	size_t		 n = 0, failing = 0, busy = 0;

	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		n++;
		if (r->failed_commit != NULL || r->failures > 0)
			failing++;
		if (r->job != NULL)
			busy++;
	}
	notify_send("STATUS=%zu routes, %zu failing, %zu promoting%s%s", n,
	    failing, busy, s->last_promotion ? "; last promotion: " : "",
	    s->last_promotion ? s->last_promotion : "");
}

/* Rewrites state_dir/status.json (at most once a second: the beat). */
static void
server_write_status(struct server *s)
{
	char	*text, *path, *cause = NULL;

	if (!s->dirty)
		return;
	s->dirty = 0;
	text = server_status_text(s);
	path = xprintf("%s/status.json", s->cref->conf->state_dir);
	if (atomicfile_write(path, text, strlen(text), 0600, &cause) == -1) {
		log_warnx("%s", cause);
		free(cause);
	}
	free(path);
	free(text);
	server_notify_status(s);
}

static void
server_dirty(struct server *s)
{
	s->dirty = 1;
}

static void
server_dirty_cb(evutil_socket_t fd, short what, void *arg)
{
	server_dirty(arg);
}

static void
server_beat(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;

	s->last_beat_ms = monotime_ms();
	server_write_status(s);
}

static void
server_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;

	if (monotime_ms() - s->last_beat_ms < SERVER_STUCK_MS)
		notify_send("WATCHDOG=1");
}

/* ---- HTTP ---------------------------------------------------------- */

static int
server_health(void *arg, char **why)
{
	struct server	*s = arg;
	size_t		 i;

	if (!s->ready) {
		*why = xstrdup("starting");
		return 0;
	}
	if (monotime_ms() - s->last_beat_ms > SERVER_STUCK_MS) {
		*why = xstrdup("event loop stuck");
		return 0;
	}
	for (i = 0; i < s->ncstats; i++) {
		if (s->cstats[i].poll_failures >= SERVER_UNREACHABLE) {
			xasprintf(why, "cluster %s unreachable: %d polls "
			    "failed in a row: %s", s->cstats[i].name,
			    s->cstats[i].poll_failures,
			    s->cstats[i].poll_error ? s->cstats[i].poll_error :
			    "?");
			return 0;
		}
	}
	return 1;
}

/* One histogram family with a series per route. */
static void
server_metrics_histo(struct server *s, struct metrics_buf *b,
    const char *name, const char *help, size_t offset)
{
	struct route	*r;
	char		*l;

	metrics_family(b, name, "histogram", help);
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		l = metrics_labels("pair", r->pair_name, "destination",
		    r->dest_full, NULL);
		metrics_histo_write(b, name, l,
		    (const struct metrics_histo *)((const char *)r + offset));
		free(l);
	}
}

static void
server_metrics(void *arg, struct metrics_buf *b)
{
	static const char *const results[] = { "uptodate", "promoted",
	    "failed", "held", "dryrun" };
	struct server	*s = arg;
	struct route	*r;
	char		*l, *l2;
	size_t		 i, k;
	int		 p;

	metrics_family(b, "algopromoted_routes", "gauge",
	    "Routes (pair and destination) configured.");
	k = 0;
	TAILQ_FOREACH(r, &s->routes, entry)
		k += !r->removed;	/* removed: only a job still runs */
	metrics_sample(b, "algopromoted_routes", NULL, (double)k);

	metrics_family(b, "algopromoted_route_polls_total", "counter",
	    "Polls of the route's source.");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		l = metrics_labels("pair", r->pair_name, "destination",
		    r->dest_full, NULL);
		metrics_sample(b, "algopromoted_route_polls_total", l,
		    (double)r->polls);
		free(l);
	}
	metrics_family(b, "algopromoted_route_poll_errors_total", "counter",
	    "Failed polls, by kind.");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		for (i = 0; i < 2; i++) {
			l = metrics_labels("pair", r->pair_name,
			    "destination", r->dest_full, "kind",
			    i == 0 ? "transient" : "permanent", NULL);
			metrics_sample(b,
			    "algopromoted_route_poll_errors_total", l,
			    (double)r->poll_errors[i]);
			free(l);
		}
	}
	metrics_family(b, "algopromoted_route_promotions_total", "counter",
	    "Promotion jobs, by result.");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		for (i = 0; i < 4; i++) {
			l = metrics_labels("pair", r->pair_name,
			    "destination", r->dest_full, "result", results[i],
			    NULL);
			metrics_sample(b,
			    "algopromoted_route_promotions_total", l,
			    (double)r->results[i]);
			free(l);
		}
	}
	metrics_family(b, "algopromoted_route_last_success_timestamp_seconds",
	    "gauge", "When the route last completed a promotion (0: never).");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		l = metrics_labels("pair", r->pair_name, "destination",
		    r->dest_full, NULL);
		metrics_sample(b,
		    "algopromoted_route_last_success_timestamp_seconds", l,
		    (double)r->last_success);
		free(l);
	}
	metrics_family(b, "algopromoted_route_phase", "gauge",
	    "1 for the phase the route is in.");
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		int cur = r->job != NULL ? r->job->phase :
		    r->failed_commit != NULL ? STATE_FAILED :
		    r->approval_commit != NULL ? STATE_APPROVAL : STATE_IDLE;

		for (p = STATE_IDLE; p <= STATE_APPROVAL; p++) {
			l = metrics_labels("pair", r->pair_name,
			    "destination", r->dest_full, "phase",
			    state_phase_name((enum state_phase)p), NULL);
			metrics_sample(b, "algopromoted_route_phase", l,
			    p == cur ? 1 : 0);
			free(l);
		}
	}
	server_metrics_histo(s, b, "algopromoted_route_poll_duration_seconds",
	    "Time one poll of the source took.",
	    offsetof(struct route, h_poll));
	server_metrics_histo(s, b,
	    "algopromoted_route_promotion_duration_seconds",
	    "Time one promotion job took.",
	    offsetof(struct route, h_promote));
	server_metrics_histo(s, b, "algopromoted_route_build_wait_seconds",
	    "Time spent waiting for destination builds.",
	    offsetof(struct route, h_build));
	metrics_family(b, "algopromoted_cluster_requests_total", "counter",
	    "Requests to a cluster, by kind (api, git) and HTTP status "
	    "(0: no answer).");
	pthread_mutex_lock(&s->stats_lock);
	for (i = 0; i < s->ncstats; i++) {
		for (k = 0; k < s->cstats[i].ncounts; k++) {
			char st[24];

			snprintf(st, sizeof st, "%ld",
			    s->cstats[i].counts[k].status);
			l = metrics_labels("cluster", s->cstats[i].name,
			    "kind", s->cstats[i].counts[k].kind, "status", st,
			    NULL);
			metrics_sample(b, "algopromoted_cluster_requests_total",
			    l, (double)s->cstats[i].counts[k].n);
			free(l);
		}
	}
	pthread_mutex_unlock(&s->stats_lock);
	metrics_family(b, "algopromoted_cluster_up", "gauge",
	    "0 while the cluster's polls fail in a row.");
	for (i = 0; i < s->ncstats; i++) {
		l = metrics_labels("cluster", s->cstats[i].name, NULL);
		metrics_sample(b, "algopromoted_cluster_up", l,
		    s->cstats[i].poll_failures >= SERVER_UNREACHABLE ? 0 : 1);
		free(l);
	}
	metrics_family(b, "algopromoted_reloads_total", "counter",
	    "Configuration reloads, by result.");
	l = metrics_labels("result", "ok", NULL);
	l2 = metrics_labels("result", "failed", NULL);
	metrics_sample(b, "algopromoted_reloads_total", l,
	    (double)s->reloads[0]);
	metrics_sample(b, "algopromoted_reloads_total", l2,
	    (double)s->reloads[1]);
	free(l);
	free(l2);
}

/* ---- control socket ------------------------------------------------ */

static char *
reply_json(cJSON *o)
{
	char	*s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s == NULL)
		fatalx("out of memory");
	return s;
}

static char *
reply_error(const char *fmt, ...)
{
	cJSON	*o = cJSON_CreateObject();
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg);
	free(msg);
	return reply_json(o);
}

/* retry and approve edit the state file: only while no job runs. */
static int
route_edit_state(struct route *r, int approve, char **msg)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *warning = NULL, *op;
	int			 changed;

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	if (state_route_load(&st, dir, &cause, &warning) == -1) {
		*msg = cause;
		free(dir);
		return -1;
	}
	free(warning);
	changed = state_route_operate(&st, approve, &op);
	*msg = xprintf("%s: %s", r->id, op);
	free(op);
	if (changed && state_route_save(&st, dir, &cause) == -1) {
		free(*msg);
		*msg = cause;
		changed = -1;
	}
	state_route_clear(&st);
	free(dir);
	if (changed == 1)
		route_load_state(r);
	return changed;
}

static char *
server_control(void *arg, const char *cmd, const char *pair)
{
	struct server	*s = arg;
	struct route	*r;
	cJSON		*o, *msgs;
	char		*msg;
	int		 n = 0, approve;

	if (strcmp(cmd, "status") == 0) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddItemToObject(o, "routes", server_status(s));
		return reply_json(o);
	}
	if (strcmp(cmd, "trigger") != 0 && strcmp(cmd, "retry") != 0 &&
	    strcmp(cmd, "approve") != 0)
		return reply_error("unknown command \"%s\"", cmd);
	if (pair == NULL)
		return reply_error("%s needs a pair", cmd);
	if (s->stopping)
		return reply_error("shutting down");
	approve = strcmp(cmd, "approve") == 0;
	o = cJSON_CreateObject();
	msgs = cJSON_CreateArray();
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed || strcmp(r->pair_name, pair) != 0)
			continue;
		n++;
		if (strcmp(cmd, "trigger") == 0) {
			log_info("route %s: poll triggered", r->id);
			r->job_retry_ms = 0;
			if (r->job != NULL)
				r->trigger = 1;
			else
				route_poll(r);
			msg = xprintf("%s: %s", r->id, r->job != NULL ?
			    "busy; polls when the promotion ends" :
			    "polling now");
		} else if (r->job != NULL) {
			msg = xprintf("%s: a promotion is running; try again "
			    "when it ends", r->id);
		} else {
			if (route_edit_state(r, approve, &msg) == 1) {
				r->job_retry_ms = 0;
				log_info("route %s: %s by algopromotectl",
				    r->id, approve ? "approved" : "retry");
				route_poll(r);
			}
		}
		cJSON_AddItemToArray(msgs, cJSON_CreateString(msg));
		free(msg);
	}
	if (n == 0) {
		cJSON_Delete(o);
		cJSON_Delete(msgs);
		return reply_error("no pair \"%s\"", pair);
	}
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "messages", msgs);
	server_dirty(s);
	return reply_json(o);
}

/* ---- reload and signals -------------------------------------------- */

static struct route *
server_find_route(struct server *s, const char *pair, const char *dest)
{
	struct route	*r;

	/* The analyzer loses track of TAILQ_REMOVE in route_free(). */
	TAILQ_FOREACH(r, &s->routes, entry)
		if (!r->removed && /* NOLINT(clang-analyzer-unix.Malloc) */
		    strcmp(r->pair_name, pair) == 0 &&
		    strcmp(r->dest_full, dest) == 0)
			return r;
	return NULL;
}

static void
server_apply_logging(const struct config *conf, int verbose)
{
	char	*cause = NULL;
	int	 level = conf->log_level + verbose;

	log_set_level(level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	if (conf->log_file != NULL &&
	    log_open_file(conf->log_file, &cause) == -1) {
		log_warnx("log_file: %s", cause);
		free(cause);
	}
}

static void
server_reload(struct server *s)
{
	struct config	*conf, *old = s->cref->conf;
	struct route	*r, *next;
	char		*errors = NULL, *line, *save = NULL;
	size_t		 i, d, added = 0, removed = 0;

	notify_send("RELOADING=1");
	log_info("reloading %s", s->path);
	if (config_load(&conf, s->path, 0, &errors) == -1) {
		for (line = strtok_r(errors, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_errx("reload: %s", line);
		log_errx("reload failed: keeping the running configuration");
		free(errors);
		s->reloads[1]++;
		notify_send("READY=1");
		return;
	}
	if (strcmp(conf->state_dir, old->state_dir) != 0 ||
	    (conf->listen == NULL) != (old->listen == NULL) ||
	    (conf->listen != NULL && strcmp(conf->listen, old->listen) != 0) ||
	    strcmp(conf->control_socket, old->control_socket) != 0 ||
	    conf->workers != old->workers)
		log_warnx("reload: state_dir, listen, control_socket and "
		    "workers take effect at the next restart");
	for (i = 0; i < conf->nclusters; i++) {
		const struct config_cluster *oc = config_cluster_find(old,
		    conf->clusters[i].name);
		const char *a = conf->clusters[i].ca_file;

		if (a != NULL && (oc == NULL || oc->ca_file == NULL ||
		    strcmp(a, oc->ca_file) != 0))
			log_warnx("reload: cluster %s: a new ca_file reaches "
			    "the API and polls now, git transfers at the next "
			    "restart", conf->clusters[i].name);
	}
	/* The running state_dir stays: routes read their state there. */
	free(conf->state_dir);
	conf->state_dir = xstrdup(old->state_dir);

	for (r = TAILQ_FIRST(&s->routes); r != NULL; r = next) {
		const struct config_pair *p = config_pair_find(conf,
		    r->pair_name);

		next = TAILQ_NEXT(r, entry);
		if (r->removed)
			continue;
		for (d = 0; p != NULL && d < p->ndests; d++)
			if (strcmp(p->dests[d].full, r->dest_full) == 0)
				break;
		if (p != NULL && d < p->ndests) {
			r->pair = p;
			r->dest = d;
			server_cstats(s, p->source.cluster->name);
			server_cstats(s, p->dests[d].cluster->name);
			continue;
		}
		removed++;
		r->removed = 1;
		evtimer_del(r->timer);
		if (r->poll_id != 0) {
			poller_cancel(s->poller, r->poll_id);
			r->poll_id = 0;
		}
		if (r->queued) {
			TAILQ_REMOVE(&s->waitq, r, waiting);
			r->queued = 0;
		}
		if (r->job == NULL) {
			log_info("route %s: removed", r->id);
			route_free(r);
		} else
			log_info("route %s: removed; its running promotion "
			    "finishes first", r->id);
	}
	confref_drop(s->cref);
	s->cref = confref_new(conf);
	for (i = 0; i < conf->npairs; i++) {
		for (d = 0; d < conf->pairs[i].ndests; d++) {
			if (server_find_route(s, conf->pairs[i].name,
			    conf->pairs[i].dests[d].full) != NULL)
				continue;
			r = route_new(s, &conf->pairs[i], d);
			log_info("route %s: added", r->id);
			added++;
			route_schedule(r, (uint64_t)random() %
			    SERVER_START_SPREAD_MS);
		}
	}
	server_apply_logging(conf, s->verbose);
	s->reloads[0]++;
	log_info("reloaded: %zu routes, %zu added, %zu removed",
	    config_ndests(conf), added, removed);
	server_dirty(s);
	notify_send("READY=1");
}

static void
server_stop(struct server *s, int sig)
{
	struct route	*r;
	struct timeval	 tv = { SERVER_STOP_GRACE_S, 0 };

	if (s->stopping)
		return;
	s->stopping = 1;
	notify_send("STOPPING=1");
	log_info("signal %d: stopping; in-flight promotions stop at a safe "
	    "point", sig);
	TAILQ_FOREACH(r, &s->routes, entry) {
		evtimer_del(r->timer);
		if (r->poll_id != 0) {
			poller_cancel(s->poller, r->poll_id);
			r->poll_id = 0;
		}
	}
	s->cancel = 1;
	if (pool_pending(s->pool) == 0)
		event_base_loopbreak(s->base);
	else
		evtimer_add(s->ev_stop, &tv);
}

static void
server_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;

	log_warnx("promotions did not stop within %d s; exiting anyway",
	    SERVER_STOP_GRACE_S);
	event_base_loopbreak(s->base);
}

static void
server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;
	char		*cause = NULL;

	switch (sig) {
	case SIGHUP:
		if (!s->stopping)
			server_reload(s);
		break;
	case SIGUSR1:
		if (log_reopen(&cause) == -1) {
			log_warnx("reopening the log: %s", cause);
			free(cause);
		} else
			log_info("log reopened");
		break;
	default:
		server_stop(s, (int)sig);
		break;
	}
}

/* ---- start and run ------------------------------------------------- */

static int
server_setup(struct server *s, char **cause)
{
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	const struct config	*conf = s->cref->conf;
	struct httpd_handlers	 h = {
		.health = server_health,
		.status_json = server_status_text,
		.metrics = server_metrics,
		.arg = s,
	};
	struct timeval		 beat = { 1, 0 }, wd;
	uint64_t		 usec;
	size_t			 i, d;

	if ((s->base = event_base_new()) == NULL) {
		*cause = xstrdup("event_base_new failed");
		return -1;
	}
	for (i = 0; i < 4; i++) {
		s->ev_sig[i] = evsignal_new(s->base, sigs[i], server_signal, s);
		if (s->ev_sig[i] == NULL || evsignal_add(s->ev_sig[i],
		    NULL) == -1) {
			*cause = xstrdup("cannot watch signals");
			return -1;
		}
	}
	s->ev_dirty = event_new(s->base, -1, 0, server_dirty_cb, s);
	s->ev_stop = evtimer_new(s->base, server_stop_timeout, s);
	s->ev_beat = event_new(s->base, -1, EV_PERSIST, server_beat, s);
	if (s->ev_dirty == NULL || s->ev_stop == NULL || s->ev_beat == NULL) {
		*cause = xstrdup("event_new failed");
		return -1;
	}
	evtimer_add(s->ev_beat, &beat);
	s->last_beat_ms = monotime_ms();
	if ((usec = notify_watchdog_usec()) > 0) {
		wd.tv_sec = (time_t)(usec / 2 / 1000000);
		wd.tv_usec = (suseconds_t)(usec / 2 % 1000000);
		s->ev_watchdog = event_new(s->base, -1, EV_PERSIST,
		    server_watchdog, s);
		if (s->ev_watchdog == NULL || evtimer_add(s->ev_watchdog,
		    &wd) == -1) {
			*cause = xstrdup("cannot arm the watchdog timer");
			return -1;
		}
	}
	if (poller_new(&s->poller, s->base, cause) == -1 ||
	    pool_new(&s->pool, s->base, conf->workers, cause) == -1)
		return -1;
	if (conf->listen != NULL &&
	    httpd_start(&s->httpd, s->base, conf->listen, &h, cause) == -1)
		return -1;
	if (control_start(&s->control, s->base, conf->control_socket,
	    server_control, s, cause) == -1)
		return -1;
	for (i = 0; i < conf->npairs; i++) {
		for (d = 0; d < conf->pairs[i].ndests; d++) {
			struct route *r = route_new(s, &conf->pairs[i], d);

			if (r->pending) {
				log_info("route %s: resuming an interrupted "
				    "promotion", r->id);
				route_start_job(r);
			}
			route_schedule(r, (uint64_t)random() %
			    SERVER_START_SPREAD_MS);
		}
	}
	return 0;
}

static void
server_teardown(struct server *s, int clean)
{
	struct route	*r;
	size_t		 i;

	if (clean) {
		/* pool_free() waits for workers and calls done() for each. */
		pool_free(s->pool);
		s->pool = NULL;
	}
	/* route_free() unlinks r; the analyzer cannot see through it. */
	while ((r = TAILQ_FIRST(&s->routes)) != NULL)
		route_free(r);	/* NOLINT(clang-analyzer-unix.Malloc) */
	control_free(s->control);
	httpd_free(s->httpd);
	poller_free(s->poller);
	for (i = 0; i < 4; i++)
		if (s->ev_sig[i] != NULL)
			event_free(s->ev_sig[i]);
	if (s->ev_dirty != NULL)
		event_free(s->ev_dirty);
	if (s->ev_stop != NULL)
		event_free(s->ev_stop);
	if (s->ev_beat != NULL)
		event_free(s->ev_beat);
	if (s->ev_watchdog != NULL)
		event_free(s->ev_watchdog);
	if (s->base != NULL)
		event_base_free(s->base);
	for (i = 0; i < s->ncstats; i++) {
		free(s->cstats[i].name);
		free(s->cstats[i].poll_error);
		free(s->cstats[i].counts);
	}
	free(s->cstats);
	free(s->last_promotion);
	confref_drop(s->cref);
	pthread_mutex_destroy(&s->stats_lock);
}

int
server_run(struct config *conf, const char *path, int verbose)
{
	struct server	 s;
	char		*cause = NULL;
	int		 clean;

	memset(&s, 0, sizeof s);
	TAILQ_INIT(&s.routes);
	TAILQ_INIT(&s.waitq);
	pthread_mutex_init(&s.stats_lock, NULL);
	s.path = xstrdup(path);
	s.verbose = verbose;
	s.cref = confref_new(conf);
	srandom((unsigned int)(time(NULL) ^ getpid()));
	evthread_use_pthreads();
	if (server_setup(&s, &cause) == -1) {
		log_errx("%s", cause);
		free(cause);
		server_teardown(&s, 1);
		free(s.path);
		return 1;
	}
	s.ready = 1;
	s.dirty = 1;
	if (s.httpd != NULL) {
		const char *colon = strrchr(conf->listen, ':');

		log_info("algopromoted %s ready: %zu routes, %d workers, http "
		    "on %.*s:%d", AP_VERSION, config_ndests(conf),
		    conf->workers, (int)(colon - conf->listen), conf->listen,
		    httpd_port(s.httpd));
	} else
		log_info("algopromoted %s ready: %zu routes, %d workers",
		    AP_VERSION, config_ndests(conf), conf->workers);
	notify_send("READY=1\nMAINPID=%lu", (unsigned long)getpid());
	server_write_status(&s);
	event_base_dispatch(s.base);

	clean = pool_pending(s.pool) == 0;
	s.dirty = 1;
	if (clean)
		server_write_status(&s);
	log_info("stopped%s", clean ? "" : " with promotions still running");
	if (!clean) {
		/* Workers are stuck in a blocking call: their state on disk
		 * is consistent, and exiting now is the safe point. */
		notify_close();
		_exit(0);
	}
	server_teardown(&s, 1);
	free(s.path);
	return 0;
}
