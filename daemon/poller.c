/* poller.c: many concurrent cheap HTTP polls on one libevent loop (curl
 * multi, hiperfifo): a source repo's ref, or an algorithm's latest version.
 *
 * One multi handle holds every connection, so keep-alive (and h2 over TLS)
 * spans rounds. libevent watches curl's sockets and its one timer; curl is
 * never called from its own callbacks. Finished requests wait on the done
 * queue and are handed to their callbacks from a separate active event, so
 * user code never runs inside curl and may start, cancel or free freely.
 * What an answer says is read in poller_answer.c.
 *
 * At most POLLER_HOST_CONNECTIONS requests per host run at once; the rest
 * wait here, not inside curl, whose timeout would count the wait: a poll
 * queued behind slow answers would time out before it was even sent.
 *
 * A waiting request holds its URL and credentials, not a curl easy handle
 * (a few KiB each, and a 16 KiB buffer once used): 10,000 routes due at
 * once wait in a few hundred bytes each. Handles are taken when a request
 * goes on the wire and given back when it ends; at most
 * POLLER_IDLE_HANDLES are kept, reset, for the next ones.
 */
#include <sys/queue.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "httpc.h"
#include "monotime.h"
#include "poller_int.h"
#include "redact.h"
#include "url.h"
#include "xmalloc.h"

TAILQ_HEAD(poller_jobs, poller_job);

/* A socket curl asked us to watch. */
struct poller_sock {
	LIST_ENTRY(poller_sock)	 entry;
	struct poller		*p;
	struct event		*ev;
};

struct poller {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;		/* curl's timeout */
	struct event		*deliver;	/* hands out the done queue */
	struct poller_jobs	 running;
	struct poller_jobs	 waiting;	/* for a host's connection */
	STAILQ_HEAD(, poller_job) done;
	LIST_HEAD(, poller_sock) socks;
	size_t			 ninflight;
	CURL			*idle[POLLER_IDLE_HANDLES];
	size_t			 nidle;
	size_t			 nhandles;	/* idle and on the wire */
	uint64_t		 next_id;
	uint64_t		 done_seq;
	int			 capath;	/* HTTPC_CAPATH is there */
	int			*gone;		/* set by poller_free while a
						 * callback runs */
};

/* --------------------------------------------------------------------
 * Easy handles: taken for a request on the wire, kept for reuse.
 */

static CURL *
poller_handle_get(struct poller *p)
{
	CURL	*h;

	if (p->nidle > 0)
		return p->idle[--p->nidle];
	if ((h = curl_easy_init()) != NULL)
		p->nhandles++;
	return h;
}

/* Gives back a handle no multi holds: kept (reset: no option, no
 * credential stays) while there is room, else cleaned up. */
static void
poller_handle_put(struct poller *p, CURL *h)
{
	if (h == NULL)
		return;
	if (p->nidle < POLLER_IDLE_HANDLES) {
		curl_easy_reset(h);
		p->idle[p->nidle++] = h;
		return;
	}
	curl_easy_cleanup(h);
	p->nhandles--;
}

/* A job's handle leaves the multi (a no-op for one never added). */
static void
poller_job_release(struct poller_job *job)
{
	if (job->easy == NULL)
		return;
	curl_multi_remove_handle(job->p->multi, job->easy);
	poller_handle_put(job->p, job->easy);
	job->easy = NULL;
}

static void
poller_freestr(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* --------------------------------------------------------------------
 * Jobs and the done queue.
 */

static void
poller_job_free(struct poller_job *job)
{
	poller_job_release(job);
	curl_slist_free_all(job->hdrs);
	free(job->shown);
	free(job->ref);
	free(job->host);
	free(job->url);
	free(job->user);
	poller_freestr(job->key);
	free(job->ca_file);
	httpc_resp_drop(&job->resp);
	free(job);
}

static void	poller_admit(struct poller *, const char *host);

/* Moves a job to the done queue; its callback comes from the loop. */
static void
poller_job_done(struct poller *p, struct poller_job *job)
{
	if (job->easy != NULL) {
		poller_job_release(job);
		TAILQ_REMOVE(&p->running, job, entry);
		poller_admit(p, job->host);
	}
	httpc_resp_drop(&job->resp);
	job->done_seq = ++p->done_seq;
	STAILQ_INSERT_TAIL(&p->done, job, done_entry);
	event_active(p->deliver, EV_TIMEOUT, 0);
}

static void
poller_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller		*p = arg;
	struct poller_job	*job;
	struct poller_result	 res;
	poller_cb		 cb;
	void			*cbarg;
	uint64_t		 last = p->done_seq;
	int			 gone = 0;

	/* Only what was done on entry: a callback that keeps starting
	 * requests that fail at once cannot hold the loop. */
	p->gone = &gone;
	while ((job = STAILQ_FIRST(&p->done)) != NULL &&
	    job->done_seq <= last) {
		STAILQ_REMOVE_HEAD(&p->done, done_entry);
		p->ninflight--;
		res = job->res;
		cb = job->cb;
		cbarg = job->arg;
		poller_job_free(job);
		if (cb != NULL)
			cb(&res, cbarg);
		if (gone)
			return;		/* p is freed */
	}
	p->gone = NULL;
	if (!STAILQ_EMPTY(&p->done))
		event_active(p->deliver, EV_TIMEOUT, 0);
}

/* Reads every finished transfer curl has to report. */
static void
poller_check_done(struct poller *p)
{
	struct poller_job	*job;
	CURLMsg			*msg;
	CURLcode		 cc;
	CURL			*easy;
	char			*priv;
	int			 left;

	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		cc = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		if ((job = (struct poller_job *)(void *)priv) == NULL)
			continue;
		poller_finish(job, cc);
		poller_job_done(p, job);
	}
}

/* --------------------------------------------------------------------
 * libcurl and libevent, the hiperfifo way.
 */

static void
poller_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller_sock	*s = arg;
	struct poller		*p = s->p;	/* s may go in socket_action */
	int			 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(p->multi, fd, action, &running);
	poller_check_done(p);
}

static void
poller_timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller	*p = arg;
	int		 running;

	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	poller_check_done(p);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the event; -1 disarms. */
static int
poller_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct poller	*p = arg;
	struct timeval	 tv;

	if (timeout_ms < 0)
		return evtimer_del(p->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(p->timer, &tv);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd as curl says, or stop watching. */
static int
poller_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct poller		*p = arg;
	struct poller_sock	*s = sockp;
	short			 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			LIST_REMOVE(s, entry);
			event_free(s->ev);
			free(s);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->p = p;
		if ((s->ev = event_new(p->base, fd, kind, poller_event_cb,
		    s)) == NULL) {
			free(s);
			return -1;
		}
		LIST_INSERT_HEAD(&p->socks, s, entry);
		curl_multi_assign(p->multi, fd, s);
	} else {
		event_del(s->ev);
		if (event_assign(s->ev, p->base, fd, kind, poller_event_cb,
		    s) != 0)
			return -1;
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

int
poller_new(struct poller **out, struct event_base *base, char **cause)
{
	struct poller	*p;
	int		 bad = 0;

	*out = NULL;
	p = xcalloc(1, sizeof *p);
	p->base = base;
	p->next_id = 1;
	p->capath = httpc_capath();
	TAILQ_INIT(&p->running);
	TAILQ_INIT(&p->waiting);
	STAILQ_INIT(&p->done);
	LIST_INIT(&p->socks);
	if ((p->multi = curl_multi_init()) == NULL) {
		xasprintf(cause, "cannot create a curl multi handle");
		free(p);
		return -1;
	}
	p->timer = evtimer_new(base, poller_timer_event_cb, p);
	p->deliver = event_new(base, -1, 0, poller_deliver_cb, p);
	bad |= curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION,
	    poller_socket_cb) != CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p) !=
	    CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION,
	    poller_timer_cb) != CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p) != CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX) != CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)POLLER_HOST_CONNECTIONS) != CURLM_OK;
	bad |= curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS,
	    (long)POLLER_MAX_CONNECTIONS) != CURLM_OK;
	if (bad || p->timer == NULL || p->deliver == NULL) {
		xasprintf(cause, "cannot set up the curl multi handle");
		poller_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void
poller_free(struct poller *p)
{
	struct poller_job	*job;
	struct poller_sock	*s;

	if (p == NULL)
		return;
	if (p->gone != NULL)
		*p->gone = 1;
	while ((job = TAILQ_FIRST(&p->running)) != NULL) {
		TAILQ_REMOVE(&p->running, job, entry);
		poller_job_free(job);
	}
	while ((job = TAILQ_FIRST(&p->waiting)) != NULL) {
		TAILQ_REMOVE(&p->waiting, job, entry);
		poller_job_free(job);
	}
	while ((job = STAILQ_FIRST(&p->done)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->done, done_entry);
		poller_job_free(job);
	}
	while (p->nidle > 0)
		curl_easy_cleanup(p->idle[--p->nidle]);
	/* Closing the cached connections may still call poller_socket_cb
	 * and poller_timer_cb: p stays whole until then. */
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	while ((s = LIST_FIRST(&p->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->deliver != NULL)
		event_free(p->deliver);
	free(p);
}

/* The URL in messages: base without its userinfo (redact() would mask it
 * anyway; this keeps the text plain). */
static char *
poller_shown(const char *base)
{
	struct url	 u;
	char		*cause = NULL, *auth, *out;

	if (url_split(&u, base, &cause) != 0) {
		free(cause);
		return xstrdup(base);
	}
	if (!u.has_userinfo || (auth = url_authority(base)) == NULL)
		out = xstrdup(base);
	else {
		out = xprintf("%s%s", auth, strcmp(u.path, "/") == 0 ? "" :
		    u.path);
		free(auth);
	}
	url_clear(&u);
	return out;
}

/* REFS: job->shown and the URL of {url}/info/refs; NULL, job failed, on a
 * bad request. */
static char *
poller_refs_url(struct poller_job *job, const struct poller_req *req,
    const char *base, const char *plain)
{
	job->shown = xprintf("%s/info/refs", plain);
	if (req->ref == NULL || *req->ref == '\0') {
		poller_fail(job, 0, "GET %s: no ref to look for", job->shown);
		return NULL;
	}
	if (req->key != NULL && (req->user == NULL || *req->user == '\0')) {
		poller_fail(job, 0, "GET %s: a key but no user", job->shown);
		return NULL;
	}
	job->ref = xstrdup(req->ref);
	job->hdrs = curl_slist_append(NULL, "Accept: " POLLER_REFS_TYPE);
	return xprintf("%s/info/refs?service=git-upload-pack", base);
}

/* VERSION: job->shown, the headers and the URL of the newest published
 * version; NULL, job failed, on a bad request. */
static char *
poller_version_url(struct poller_job *job, const struct poller_req *req,
    const char *base, const char *plain)
{
	struct curl_slist	*more;
	char			*owner = NULL, *algo = NULL, *url = NULL, *hdr;

	if (req->owner == NULL || *req->owner == '\0' ||
	    req->algo == NULL || *req->algo == '\0') {
		job->shown = xprintf("%s/v1/algorithms", plain);
		poller_fail(job, 0, "GET %s: no owner or algorithm",
		    job->shown);
		return NULL;
	}
	owner = curl_easy_escape(NULL, req->owner, 0);
	algo = curl_easy_escape(NULL, req->algo, 0);
	if (owner == NULL || algo == NULL) {
		job->shown = xprintf("%s/v1/algorithms", plain);
		poller_fail(job, 0, "GET %s: cannot encode a name",
		    job->shown);
		goto out;
	}
	job->shown = xprintf("%s/v1/algorithms/%s/%s/versions", plain,
	    owner, algo);
	url = xprintf("%s/v1/algorithms/%s/%s/versions?limit=1&"
	    "published=true", base, owner, algo);
	job->hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (req->key != NULL && job->hdrs != NULL) {
		hdr = xprintf("Authorization: Simple %s", req->key);
		if ((more = curl_slist_append(job->hdrs, hdr)) == NULL) {
			curl_slist_free_all(job->hdrs);
			job->hdrs = NULL;	/* cannot set up */
		} else
			job->hdrs = more;
		free(hdr);
	}
out:
	curl_free(owner);
	curl_free(algo);
	return url;
}

/* Sets up job->easy, a handle from the pool, as the job says: the shared
 * setup, then the poller's own. */
static int
poller_easy(struct poller *p, struct poller_job *job)
{
	struct httpc_req	 hr;
	CURL			*h;
	int			 bad = 0;

	if ((job->easy = h = poller_handle_get(p)) == NULL) {
		poller_fail(job, 1, "GET %s: cannot set up the request",
		    job->shown);
		return -1;
	}
	memset(&hr, 0, sizeof hr);
	hr.url = job->url;
	hr.timeout_ms = (long)job->timeout_ms;
	hr.ca_file = job->ca_file;
	hr.capath = p->capath;
	hr.headers = job->hdrs;
	bad |= httpc_setup(h, &hr, &job->resp) != 0;
	bad |= curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)job) != CURLE_OK;
	/* h2 only through TLS (ALPN): Debian 12's curl 7.88.1 breaks
	 * reused h2c prior-knowledge connections (curl#10634). */
	bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	if (job->res.kind == POLLER_REFS && job->key != NULL) {
		/* Basic up front: one request per poll, no 401 first. */
		bad |= curl_easy_setopt(h, CURLOPT_HTTPAUTH,
		    (long)CURLAUTH_BASIC) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_USERNAME, job->user) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_PASSWORD, job->key) !=
		    CURLE_OK;
	}
	if (bad) {
		poller_fail(job, 0, "GET %s: cannot set up the request",
		    job->shown);
		poller_handle_put(p, job->easy);
		job->easy = NULL;
		return -1;
	}
	return 0;
}

/* Keeps what job->easy will be set up with when the job runs; -1 with
 * job failed on a bad request. */
static int
poller_setup(struct poller *p, struct poller_job *job,
    const struct poller_req *req)
{
	char	*base, *plain, *url;
	int	 rv = -1;

	if (job->res.kind != POLLER_REFS &&
	    job->res.kind != POLLER_VERSION) {
		poller_fail(job, 0, "poll: unknown kind %d",
		    (int)job->res.kind);
		return -1;
	}
	if (req->url == NULL || *req->url == '\0') {
		poller_fail(job, 0, "poll: no URL");
		return -1;
	}
	base = httpc_base(req->url, job->res.kind == POLLER_VERSION);
	plain = poller_shown(base);
	if (job->res.kind == POLLER_REFS)
		url = poller_refs_url(job, req, base, plain);
	else
		url = poller_version_url(job, req, base, plain);
	if (url != NULL && job->hdrs == NULL)
		poller_fail(job, 1, "GET %s: cannot set up the request",
		    job->shown);
	else if (url != NULL) {
		rv = 0;
		job->url = url;
		url = NULL;
		if ((job->host = url_authority(job->url)) == NULL)
			job->host = xstrdup("");
		job->timeout_ms = req->timeout_ms;
		if (req->ca_file != NULL)
			job->ca_file = xstrdup(req->ca_file);
		if (job->res.kind == POLLER_REFS && req->key != NULL) {
			job->user = xstrdup(req->user);
			job->key = xstrdup(req->key);
		}
	}
	free(url);
	free(plain);
	free(base);
	return rv;
}

/* Requests to host on the wire now. */
static size_t
poller_host_running(const struct poller *p, const char *host)
{
	const struct poller_job	*job;
	size_t			 n = 0;

	TAILQ_FOREACH(job, &p->running, entry)
		n += strcmp(job->host, host) == 0;
	return n;
}

/* Hands a job to curl on a handle of the pool; its time and curl's
 * timeout start now. */
static void
poller_run(struct poller *p, struct poller_job *job)
{
	job->t0 = monotime_ms();
	if (poller_easy(p, job) != 0) {
		poller_job_done(p, job);
		return;
	}
	TAILQ_INSERT_TAIL(&p->running, job, entry);
	if (curl_multi_add_handle(p->multi, job->easy) != CURLM_OK) {
		poller_fail(job, 1, "GET %s: cannot start the request",
		    job->shown);
		poller_job_done(p, job);
	}
}

/* A request to host ended: the first ones waiting for it go, as many as
 * it has connections free (one that cannot start frees its place). */
static void
poller_admit(struct poller *p, const char *host)
{
	struct poller_job	*job;

again:
	if (poller_host_running(p, host) >= POLLER_HOST_CONNECTIONS)
		return;
	TAILQ_FOREACH(job, &p->waiting, entry) {
		if (strcmp(job->host, host) == 0) {
			TAILQ_REMOVE(&p->waiting, job, entry);
			poller_run(p, job);
			goto again;
		}
	}
}

uint64_t
poller_start(struct poller *p, enum poller_kind kind,
    const struct poller_req *req, poller_cb cb, void *arg)
{
	struct poller_job	*job;
	struct poller_req	 r = *req;

	if (r.timeout_ms == 0)
		r.timeout_ms = POLLER_TIMEOUT_DEFAULT;
	if (r.timeout_ms > LONG_MAX)
		r.timeout_ms = LONG_MAX;
	if (r.key != NULL) {
		if (kind == POLLER_REFS && r.user != NULL)
			redact_add_basic(r.user, r.key);
		redact_add(r.key);
	}

	job = xcalloc(1, sizeof *job);
	job->p = p;
	job->id = p->next_id++;
	job->cb = cb;
	job->arg = arg;
	httpc_resp_init(&job->resp, POLLER_MAX_RESPONSE,
	    POLLER_RETRY_AFTER_MAX_MS);
	job->res.kind = kind;
	job->res.id = job->id;
	job->res.retry_after_ms = -1;
	job->t0 = monotime_ms();
	p->ninflight++;

	if (poller_setup(p, job, &r) != 0) {
		poller_job_done(p, job);
		return job->id;
	}
	if (poller_host_running(p, job->host) >= POLLER_HOST_CONNECTIONS)
		TAILQ_INSERT_TAIL(&p->waiting, job, entry);
	else
		poller_run(p, job);
	return job->id;
}

void
poller_cancel(struct poller *p, uint64_t id)
{
	struct poller_job	*job;

	TAILQ_FOREACH(job, &p->running, entry) {
		if (job->id == id) {
			/* Its handle back to the pool, then the next waiting
			 * for its host, then the job itself. */
			TAILQ_REMOVE(&p->running, job, entry);
			poller_job_release(job);
			p->ninflight--;
			poller_admit(p, job->host);
			poller_job_free(job);
			return;
		}
	}
	TAILQ_FOREACH(job, &p->waiting, entry) {
		if (job->id == id) {
			TAILQ_REMOVE(&p->waiting, job, entry);
			poller_job_free(job);
			p->ninflight--;
			return;
		}
	}
	STAILQ_FOREACH(job, &p->done, done_entry) {
		if (job->id == id) {
			STAILQ_REMOVE(&p->done, job, poller_job, done_entry);
			poller_job_free(job);
			p->ninflight--;
			return;
		}
	}
}

size_t
poller_inflight(const struct poller *p)
{
	return p->ninflight;
}

size_t
poller_handles(const struct poller *p)
{
	return p->nhandles;
}
