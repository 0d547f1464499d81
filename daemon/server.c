/* server.c: the service loop: setup and teardown, signals, reload,
 * stop, the watchdog, /healthz and the control commands.
 *
 * Threads: everything here runs on the loop thread. Workers share with it
 * the cancel flag (an atomic), the stats (stats.c) and job progress
 * (route.c); see doc/threads.md.
 */
#include <sys/queue.h>

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "control.h"
#include "httpd.h"
#include "log.h"
#include "monotime.h"
#include "notifier.h"
#include "notify.h"
#include "plan.h"
#include "poller.h"
#include "pool.h"
#include "route.h"
#include "route_events.h"
#include "server.h"
#include "server_int.h"
#include "state.h"
#include "stats.h"
#include "status.h"
#include "xmalloc.h"

#define SERVER_STOP_GRACE_S	30
#define SERVER_STUCK_MS		10000	/* loop lag that makes us unhealthy */
#define SERVER_REFUSED_LOG_MS	60000	/* refused triggers: one line */

struct confref *
server_confref_new(struct config *conf)
{
	struct confref	*c = xcalloc(1, sizeof *c);

	c->conf = conf;
	c->refs = 1;
	return c;
}

void
server_confref_drop(struct confref *c)
{
	if (c != NULL && --c->refs == 0) {
		config_free(c->conf);
		free(c);
	}
}

void
server_dirty(struct server *s)
{
	s->dirty = 1;
}

void
server_job_ended(struct server *s)
{
	if (s->stopping && pool_pending(s->pool) == 0)
		event_base_loopbreak(s->base);
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
	status_write(s);
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

	if (!s->ready) {
		*why = xstrdup("starting");
		return 0;
	}
	if (monotime_ms() - s->last_beat_ms > SERVER_STUCK_MS) {
		*why = xstrdup("event loop stuck");
		return 0;
	}
	return stats_healthy(&s->stats, why);
}

/* ---- control socket ------------------------------------------------ */

static char *
server_reply_json(cJSON *o)
{
	char	*s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s == NULL)
		fatalx("out of memory");
	return s;
}

static char *
server_reply_error(const char *fmt, ...)
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
	return server_reply_json(o);
}

static char *
server_cmd_status(struct server *s, const cJSON *req)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "routes", status_routes(s));
	return server_reply_json(o);
}

enum server_edit {
	SERVER_EDIT_RETRY,
	SERVER_EDIT_APPROVE,
	SERVER_EDIT_DRIFT,	/* resume over a drift held */
};

/* The state file's retry, approve or accepted drift, while no job runs;
 * loads the result into the route. 1 changed, 0 not, -1; *msg says what
 * happened, or why not (caller frees). */
static int
server_route_edit(struct route *r, enum server_edit what, char **msg)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *warning = NULL;
	int			 changed;

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	if (state_route_load(&st, dir, &cause, &warning) == -1) {
		*msg = cause;
		free(dir);
		return -1;
	}
	free(warning);
	if (what == SERVER_EDIT_DRIFT)
		changed = state_route_accept_drift(&st, msg);
	else
		changed = state_route_operate(&st, what == SERVER_EDIT_APPROVE,
		    msg);
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

/* trigger: poll now, or as soon as the running job ends. */
static char *
server_cmd_trigger(struct route *r, const cJSON *req)
{
	log_info("route %s: poll triggered", r->id);
	scheduler_clear_backoff(r->sr);
	if (route_trigger(r) == ROUTE_TRIGGER_NOW)
		return xprintf("%s: polling now", r->id);
	return xprintf("%s: busy; polls when the %s ends", r->id,
	    r->job != NULL ? "promotion" : "poll under way");
}

/* Said at most once a minute, with how many were not said: a client
 * hammering the endpoint does not flood the log. */
static void
server_trigger_refused(struct server *s, const char *why)
{
	uint64_t	 now = monotime_ms();

	if (s->trigger_refused_ms != 0 &&
	    now - s->trigger_refused_ms < SERVER_REFUSED_LOG_MS) {
		s->trigger_refused++;
		return;
	}
	if (s->trigger_refused > 0)
		log_warnx("http: POST /trigger refused: %s (and %llu more "
		    "refused in the last minute)", why,
		    (unsigned long long)s->trigger_refused);
	else
		log_warnx("http: POST /trigger refused: %s", why);
	s->trigger_refused_ms = now;
	s->trigger_refused = 0;
}

/*
 * POST /trigger/PAIR (httpd.c): a dev CI announcing a push. The token
 * first, so that a client without it learns nothing of the pairs; then
 * a poll of each of the pair's routes, as a timer's would be (backoffs
 * stay; that is the operator's `algopromotectl trigger`).
 */
static int
server_http_trigger(void *arg, const char *pair, const char *auth,
    char **text)
{
	struct server	*s = arg;
	struct route	*r;
	const char	*token = s->cref->conf->trigger_token;
	size_t		 n = 0, queued = 0, before = 0;
	int		 rv;

	if (token == NULL)
		return 0;	/* no trigger_token_file: read-only */
	if (pair == NULL)
		return 405;	/* on, for POST only */
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    !config_secret_equal(token, auth + 7)) {
		server_trigger_refused(s, auth == NULL ?
		    "no Authorization header" : "not the trigger token");
		*text = xstrdup("unauthorized: send Authorization: Bearer and "
		    "the token of trigger_token_file");
		return 401;
	}
	if (s->stopping) {
		*text = xstrdup("shutting down");
		return 503;
	}
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed || strcmp(r->pair_name, pair) != 0)
			continue;
		n++;
		if ((rv = route_trigger(r)) != ROUTE_TRIGGER_NOW)
			queued++;
		if (rv == ROUTE_TRIGGER_QUEUED_BEFORE)
			before++;
	}
	if (n == 0) {
		*text = xstrdup("no such pair");
		return 404;
	}
	log_info("pair %s: poll triggered over http", pair);
	server_dirty(s);
	if (before == n)
		*text = xprintf("%s: a trigger is already waiting", pair);
	else if (queued > 0)
		*text = xprintf("%s: polls when the work under way ends", pair);
	else
		*text = xprintf("%s: polling now", pair);
	return 202;
}

/* retry and approve: edit the state file while no job runs, then poll. */
static char *
server_cmd_edit(struct route *r, enum server_edit what)
{
	char	*msg, *out;

	if (r->job != NULL)
		return xprintf("%s: a promotion is running; try again when "
		    "it ends", r->id);
	if (server_route_edit(r, what, &msg) == 1) {
		scheduler_clear_backoff(r->sr);
		log_info("route %s: %s by algopromotectl", r->id,
		    what == SERVER_EDIT_APPROVE ? "approved" : "retry");
		route_poll(r);
	}
	out = xprintf("%s: %s", r->id, msg);
	free(msg);
	return out;
}

static char *
server_cmd_retry(struct route *r, const cJSON *req)
{
	return server_cmd_edit(r, SERVER_EDIT_RETRY);
}

static char *
server_cmd_approve(struct route *r, const cJSON *req)
{
	return server_cmd_edit(r, SERVER_EDIT_APPROVE);
}

static const char *
server_arg(const cJSON *req, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req,
	    name));
}

/* Writes the route's new hold; the loop's copy follows the file. */
static int
server_hold_save(struct route *r, struct hold *h, char **msg)
{
	char	*dir, *cause = NULL;
	int	 rv;

	dir = state_route_dir(r->srv->cref->conf->state_dir, r->pair_name,
	    r->dest_full);
	if ((rv = hold_save(h, dir, &cause)) == -1) {
		*msg = xprintf("%s: %s", r->id, cause);
		free(cause);
	}
	free(dir);
	return rv;
}

/* A drift held is let go by the operator: the next promotion goes on
 * top of the foreign head. Only while no job runs (none does while it
 * is held). Returns a message to add, or NULL. */
static char *
server_accept_drift(struct route *r)
{
	char	*msg = NULL, *out;
	int	 rv;

	if (!r->drift_held || r->job != NULL)
		return NULL;
	if ((rv = server_route_edit(r, SERVER_EDIT_DRIFT, &msg)) == 1)
		return msg;
	out = rv == -1 ? xprintf("the drift held stays: %s", msg) : NULL;
	free(msg);
	return out;
}

/* pause: nothing remote changes until resume; polls go on. */
static char *
server_cmd_pause(struct route *r, const cJSON *req)
{
	struct hold	 h = { 0 };
	const char	*reason = server_arg(req, "reason");
	char		*msg = NULL, *cause = NULL;

	if (reason != NULL && hold_reason_valid(reason, &cause) == -1) {
		msg = xprintf("%s: not paused: the reason %s", r->id, cause);
		free(cause);
		return msg;
	}
	h.kind = HOLD_PAUSED;
	h.reason = reason != NULL ? xstrdup(reason) : NULL;
	h.since = (int64_t)time(NULL);
	if (server_hold_save(r, &h, &msg) == 0) {
		hold_clear(&r->hold);
		r->hold = h;
		log_info("route %s: paused by operator%s%s", r->id,
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
		msg = xprintf("%s: paused%s", r->id, r->job != NULL ?
		    "; the promotion running now ends first" : "");
		route_events_operator(r, "paused", reason);
	} else
		hold_clear(&h);
	return msg;
}

/* resume: the operator's hold is gone, and a drift held is accepted. */
static char *
server_cmd_resume(struct route *r, const cJSON *req)
{
	struct hold	 none = { 0 };
	char		*msg = NULL, *drift;
	const char	*was = hold_kind_name(r->hold.kind);

	if (r->hold.kind == HOLD_NONE && !r->drift_held)
		return xprintf("%s: nothing to resume", r->id);
	if (r->hold.kind != HOLD_NONE) {
		if (server_hold_save(r, &none, &msg) == -1)
			return msg;
		log_info("route %s: resumed by operator (was %s)", r->id, was);
		msg = xprintf("%s: resumed (was %s)", r->id, was);
		hold_clear(&r->hold);
	}
	if ((drift = server_accept_drift(r)) != NULL) {
		log_info("route %s: resumed by operator: %s", r->id, drift);
		if (msg == NULL)
			msg = xprintf("%s: %s", r->id, drift);
		else {
			char *both = xprintf("%s; %s", msg, drift);

			free(msg);
			msg = both;
		}
		free(drift);
	}
	route_events_operator(r, "resumed", NULL);
	route_wake(r);
	return msg;
}

/* promote: exactly that source state now, then held there. */
static char *
server_cmd_promote(struct route *r, const cJSON *req)
{
	struct hold	 h = { 0 };
	const char	*commit = server_arg(req, "source_commit");
	const char	*version = server_arg(req, "source_version");
	char		*msg = NULL, *cause = NULL, *drift, *why;

	if (hold_pin_valid(commit, version, &cause) == -1) {
		msg = xprintf("%s: not pinned: %s", r->id, cause);
		free(cause);
		return msg;
	}
	h.kind = HOLD_PINNED;
	h.source_commit = commit != NULL ? xstrdup(commit) : NULL;
	h.source_version = version != NULL ? xstrdup(version) : NULL;
	h.since = (int64_t)time(NULL);
	xasprintf(&h.reason, "pinned to %s%s by operator", commit != NULL ?
	    "source commit " : "source version ", commit != NULL ? commit :
	    version);
	if (server_hold_save(r, &h, &msg) == -1) {
		hold_clear(&h);
		return msg;
	}
	hold_clear(&r->hold);
	r->hold = h;
	why = xstrdup(h.reason);
	log_info("route %s: %s", r->id, why);
	drift = server_accept_drift(r);
	msg = xprintf("%s: %s; promoting it%s%s%s", r->id, why,
	    r->job != NULL ? " when the running promotion ends" : " now",
	    drift != NULL ? "; " : "", drift != NULL ? drift : "");
	route_events_operator(r, "held", why);
	free(why);
	free(drift);
	route_wake(r);
	return msg;
}

/* Commands with a pair run once per route of the pair and return a
 * message each; the others return the whole reply. */
static const struct server_cmd {
	const char	*name;
	int		 needs_pair;
	char		*(*exec)(struct server *, const cJSON *);
	char		*(*exec_route)(struct route *, const cJSON *);
} server_cmd_table[] = {
	{ "status", 0, server_cmd_status, NULL },
	{ "trigger", 1, NULL, server_cmd_trigger },
	{ "retry", 1, NULL, server_cmd_retry },
	{ "approve", 1, NULL, server_cmd_approve },
	{ "pause", 1, NULL, server_cmd_pause },
	{ "resume", 1, NULL, server_cmd_resume },
	{ "promote", 1, NULL, server_cmd_promote },
};

static char *
server_cmd_routes(struct server *s, const struct server_cmd *c,
    const char *pair, const cJSON *req)
{
	struct route	*r;
	cJSON		*o, *msgs;
	const char	*dest = server_arg(req, "destination");
	char		*msg;
	int		 n = 0, m = 0;

	msgs = cJSON_CreateArray();
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed || strcmp(r->pair_name, pair) != 0)
			continue;
		m++;
		if (dest != NULL && strcmp(r->dest_full, dest) != 0)
			continue;
		n++;
		msg = c->exec_route(r, req);
		cJSON_AddItemToArray(msgs, cJSON_CreateString(msg));
		free(msg);
	}
	if (n == 0) {
		cJSON_Delete(msgs);
		if (m > 0)
			return server_reply_error("pair \"%s\" has no "
			    "destination \"%s\"", pair, dest);
		return server_reply_error("no pair \"%s\"", pair);
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "messages", msgs);
	server_dirty(s);
	return server_reply_json(o);
}

/* plan: answered when its dry runs end. */
static char *
server_cmd_plan(struct server *s, const char *pair, const cJSON *req,
    struct control_conn *conn)
{
	char	*error = NULL, *reply;

	if (pair == NULL)
		return server_reply_error("plan needs a pair");
	if (s->stopping)
		return server_reply_error("shutting down");
	if (plan_start(s, pair, server_arg(req, "destination"), conn,
	    &error) == 0)
		return NULL;
	reply = server_reply_error("%s", error);
	free(error);
	return reply;
}

static char *
server_control(void *arg, const cJSON *req, struct control_conn *conn)
{
	struct server		*s = arg;
	const struct server_cmd	*c;
	const char		*cmd, *pair;
	size_t			 i;

	cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "cmd"));
	pair = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req,
	    "pair"));
	if (strcmp(cmd, "plan") == 0)
		return server_cmd_plan(s, pair, req, conn);
	for (i = 0; i < sizeof server_cmd_table / sizeof *c; i++) {
		c = &server_cmd_table[i];
		if (strcmp(c->name, cmd) != 0)
			continue;
		if (!c->needs_pair)
			return c->exec(s, req);
		if (pair == NULL)
			return server_reply_error("%s needs a pair", cmd);
		if (s->stopping)
			return server_reply_error("shutting down");
		return server_cmd_routes(s, c, pair, req);
	}
	return server_reply_error("unknown command \"%s\"", cmd);
}

/* ---- reload and signals -------------------------------------------- */

/*
 * Items found by one or two names, built for one pass of a start or a
 * reload (open addressing, FNV-1a): with 10,000 routes a lookup per route
 * in a list was 50 million string compares.
 */
struct server_index_slot {
	const char	*a, *b;
	void		*item;
};

struct server_index {
	struct server_index_slot	*slot;
	size_t				 mask;
};

static uint64_t
server_index_hash(const char *a, const char *b)
{
	uint64_t	 h = 14695981039346656037ULL;

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;	/* not in any name */
	for (; *b != '\0'; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	return h;
}

static void
server_index_init(struct server_index *ix, size_t n)
{
	size_t	 size = 16;

	while (size < 2 * n)
		size *= 2;
	ix->slot = xcalloc(size, sizeof *ix->slot);
	ix->mask = size - 1;
}

static struct server_index_slot *
server_index_at(const struct server_index *ix, const char *a, const char *b)
{
	struct server_index_slot	*sl;
	size_t				 i;

	i = (size_t)server_index_hash(a, b) & ix->mask;
	for (;; i = (i + 1) & ix->mask) {
		sl = &ix->slot[i];
		if (sl->a == NULL ||
		    (strcmp(sl->a, a) == 0 && strcmp(sl->b, b) == 0))
			return sl;
	}
}

/* The first item of a key stays. */
static void
server_index_add(struct server_index *ix, const char *a, const char *b,
    void *item)
{
	struct server_index_slot	*sl = server_index_at(ix, a, b);

	if (sl->a == NULL) {
		sl->a = a;
		sl->b = b;
		sl->item = item;
	}
}

static void *
server_index_find(const struct server_index *ix, const char *a,
    const char *b)
{
	return server_index_at(ix, a, b)->item;
}

static void
server_index_free(struct server_index *ix)
{
	free(ix->slot);
	ix->slot = NULL;
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

/* What a reload cannot change while running, and what it changes only
 * in part. */
static void
server_reload_warn(const struct config *conf, const struct config *old)
{
	size_t	 i;

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
}

/* Routes conf keeps move to its pairs; the others go. Returns how many
 * went. */
static size_t
server_reload_keep(struct server *s, const struct config *conf)
{
	struct server_index	 ix;
	struct route		*r, *next;
	const struct config_pair *p;
	size_t			 i, d, removed = 0;

	/* Each destination of conf, found as its pair. */
	server_index_init(&ix, config_ndests(conf));
	for (i = 0; i < conf->npairs; i++)
		for (d = 0; d < conf->pairs[i].ndests; d++)
			server_index_add(&ix, conf->pairs[i].name,
			    conf->pairs[i].dests[d].full, &conf->pairs[i]);
	for (r = TAILQ_FIRST(&s->routes); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->removed)
			continue;
		p = server_index_find(&ix, r->pair_name, r->dest_full);
		for (d = 0; p != NULL && d < p->ndests; d++)
			if (strcmp(p->dests[d].full, r->dest_full) == 0)
				break;
		if (p != NULL && d < p->ndests) {
			r->pair = p;
			r->dest = d;
			route_move(r);
			continue;
		}
		removed++;
		route_retire(r);
	}
	server_index_free(&ix);
	return removed;
}

/* Starts the routes of conf not running yet: all of them at start-up,
 * where an interrupted promotion resumes; the new ones on a reload. */
static size_t
server_add_routes(struct server *s, const struct config *conf, int reload)
{
	struct server_index	 ix;
	struct route		*r;
	size_t			 i, d, n = 0, added = 0;

	TAILQ_FOREACH(r, &s->routes, entry)
		n++;
	server_index_init(&ix, n + config_ndests(conf));
	/* The analyzer loses track of TAILQ_REMOVE in route_free(). */
	TAILQ_FOREACH(r, &s->routes, entry)
		if (!r->removed) /* NOLINT(clang-analyzer-unix.Malloc) */
			server_index_add(&ix, r->pair_name, r->dest_full, r);
	for (i = 0; i < conf->npairs; i++) {
		for (d = 0; d < conf->pairs[i].ndests; d++) {
			if (server_index_find(&ix, conf->pairs[i].name,
			    conf->pairs[i].dests[d].full) != NULL)
				continue;
			r = route_new(s, &conf->pairs[i], d);
			server_index_add(&ix, r->pair_name, r->dest_full, r);
			added++;
			if (reload)
				log_info("route %s: added", r->id);
			else if (r->pending) {
				log_info("route %s: resuming an interrupted "
				    "promotion", r->id);
				route_start_job(r);
			}
			route_schedule(r, scheduler_first_poll(&s->sched,
			    r->sr, monotime_ms()));
		}
	}
	server_index_free(&ix);
	return added;
}

static void
server_reload(struct server *s)
{
	struct config	*conf, *old = s->cref->conf;
	char		*errors = NULL, *line, *save = NULL;
	size_t		 added, removed;

	notify_send("RELOADING=1");
	log_info("reloading %s", s->path);
	if (config_load(&conf, s->path, 0, &errors) == -1) {
		for (line = strtok_r(errors, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_errx("reload: %s", line);
		log_errx("reload failed: keeping the running configuration");
		free(errors);
		s->stats.reloads[1]++;
		notify_send("READY=1");
		return;
	}
	server_reload_warn(conf, old);
	/* The running state_dir stays: routes read their state there. */
	free(conf->state_dir);
	conf->state_dir = xstrdup(old->state_dir);
	removed = server_reload_keep(s, conf);
	server_confref_drop(s->cref);
	s->cref = server_confref_new(conf);
	added = server_add_routes(s, conf, 1);
	server_apply_logging(conf, s->verbose);
	if (s->notifier != NULL)
		notifier_configure(s->notifier, conf);
	s->stats.reloads[0]++;
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
	atomic_store(&s->cancel, 1);
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
		.status_json = status_text,
		.metrics = stats_metrics,
		.trigger = server_http_trigger,
		.arg = s,
	};
	struct timeval		 beat = { 1, 0 }, wd;
	uint64_t		 usec;
	size_t			 i;

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
	plan_cleanup(conf->state_dir);
	if (poller_new(&s->poller, s->base, cause) == -1 ||
	    pool_new(&s->pool, s->base, conf->workers, cause) == -1 ||
	    notifier_new(&s->notifier, s->base, conf, cause) == -1)
		return -1;
	if (conf->listen != NULL &&
	    httpd_start(&s->httpd, s->base, conf->listen, &h, cause) == -1)
		return -1;
	if (control_start(&s->control, s->base, conf->control_socket,
	    server_control, s, cause) == -1)
		return -1;
	server_add_routes(s, conf, 0);
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
	notifier_free(s->notifier);
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
	stats_clear(&s->stats);
	scheduler_clear(&s->sched);
	free(s->last_promotion);
	server_confref_drop(s->cref);
}

int
server_run(struct config *conf, const char *path, int verbose)
{
	struct server	 s;
	char		*cause = NULL;
	int		 clean;

	memset(&s, 0, sizeof s);
	TAILQ_INIT(&s.routes);
	scheduler_init(&s.sched, (uint64_t)time(NULL) ^
	    ((uint64_t)getpid() << 32));
	stats_init(&s.stats);
	s.path = xstrdup(path);
	s.verbose = verbose;
	s.cref = server_confref_new(conf);
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
	status_write(&s);
	event_base_dispatch(s.base);

	clean = pool_pending(s.pool) == 0;
	s.dirty = 1;
	if (clean)
		status_write(&s);
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
