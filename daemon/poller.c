/* poller.c: many concurrent cheap HTTP polls on one libevent loop (curl
 * multi, hiperfifo): a source repo's ref, or an algorithm's latest version.
 *
 * One multi handle holds every connection, so keep-alive (and h2 over TLS)
 * spans rounds. libevent watches curl's sockets and its one timer; curl is
 * never called from its own callbacks. Finished requests wait on the done
 * queue and are handed to their callbacks from a separate active event, so
 * user code never runs inside curl and may start, cancel or free freely.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "httpmsg.h"
#include "log.h"
#include "monotime.h"
#include "pktline.h"
#include "poller.h"
#include "redact.h"
#include "xmalloc.h"

#ifndef AP_VERSION
#define AP_VERSION	"unknown"
#endif

#define POLLER_USER_AGENT	"algopromoted/" AP_VERSION
#define POLLER_CAPATH		"/etc/ssl/certs"  /* trusted beside ca_file */
#define POLLER_DETAIL_MAX	120	/* bytes of server text in an error */
#define POLLER_SEMVER_CHARS	"0123456789.-+" \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

struct poller_job {
	TAILQ_ENTRY(poller_job)	 entry;		/* on running */
	STAILQ_ENTRY(poller_job) done_entry;	/* on done */
	struct poller		*p;
	uint64_t		 id;
	uint64_t		 done_seq;	/* order on the done queue */
	poller_cb		 cb;
	void			*arg;

	CURL			*easy;		/* NULL when not running */
	struct curl_slist	*hdrs;
	char			*shown;		/* the URL in messages */
	char			*ref;		/* REFS: the ref looked for */
	uint64_t		 t0;
	char			 errbuf[CURL_ERROR_SIZE];
	char			*body;
	size_t			 len;
	size_t			 size;
	int			 too_large;
	long			 retry_after_ms;

	struct poller_result	 res;
};
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
	STAILQ_HEAD(, poller_job) done;
	LIST_HEAD(, poller_sock) socks;
	size_t			 ninflight;
	uint64_t		 next_id;
	uint64_t		 done_seq;
	int			 capath;	/* POLLER_CAPATH is there */
	int			*gone;		/* set by poller_free while a
						 * callback runs */
};

/* The job fails with a formatted, one-line, redacted message. */
static void __attribute__((format(printf, 3, 4)))
poller_fail(struct poller_job *job, int transient, const char *fmt, ...)
{
	va_list	 ap;
	char	*raw, *line, *red;

	va_start(ap, fmt);
	xvasprintf(&raw, fmt, ap);
	va_end(ap);
	line = httpmsg_oneline(raw, strlen(raw));
	red = redact(line);
	httpmsg_copy(job->res.error, sizeof job->res.error, red);
	job->res.ok = 0;
	job->res.found = 0;
	job->res.transient = transient;
	free(red);
	free(line);
	free(raw);
}

static const char *
poller_reason(long status)
{
	const char	*r = httpmsg_reason(status);

	if (r != NULL)
		return r;
	if (status >= 300 && status < 400)
		return "redirect not followed";
	return "unexpected status";
}

static size_t
poller_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct poller_job	*job = arg;

	httpmsg_header(ptr, size * nmemb, &job->retry_after_ms,
	    POLLER_RETRY_AFTER_MAX_MS);
	return size * nmemb;
}

static size_t
poller_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct poller_job	*job = arg;
	size_t			 n = size * nmemb;

	if (httpmsg_append(&job->body, &job->len, &job->size,
	    POLLER_MAX_RESPONSE, ptr, n) == -1) {
		job->too_large = 1;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return n;
}

/* --------------------------------------------------------------------
 * The answers.
 */

/* What an error body says, briefly: a JSON error message, or the first
 * line of a plain-text body; NULL if nothing useful. */
static char *
poller_detail(struct poller_job *job)
{
	cJSON		*j, *e = NULL, *m = NULL;
	const char	*ctype = NULL, *s = NULL;
	char		*out = NULL, *line;
	size_t		 n;

	if (job->len == 0 || job->body == NULL)
		return NULL;
	if ((j = cJSON_ParseWithLength(job->body, job->len)) != NULL) {
		if (cJSON_IsObject(j))
			e = cJSON_GetObjectItemCaseSensitive(j, "error");
		if (cJSON_IsObject(e))
			m = cJSON_GetObjectItemCaseSensitive(e, "message");
		else if (cJSON_IsObject(j))
			m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (e != NULL && cJSON_IsString(e))
			s = e->valuestring;
		else if (m != NULL && cJSON_IsString(m))
			s = m->valuestring;
		if (s != NULL)
			out = httpmsg_oneline(s, strlen(s));
		cJSON_Delete(j);
	} else {
		curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &ctype);
		if (ctype != NULL && strncasecmp(ctype, "text/plain", 10) == 0)
		{
			n = strcspn(job->body, "\r\n");
			out = httpmsg_oneline(job->body, n);
		}
	}
	if (out == NULL || *out == '\0' ||
	    strlen(out) <= POLLER_DETAIL_MAX) {
		if (out != NULL && *out == '\0') {
			free(out);
			out = NULL;
		}
		return out;
	}
	n = POLLER_DETAIL_MAX;
	while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
		n--;
	xasprintf(&line, "%.*s...", (int)n, out);
	free(out);
	return line;
}

static void
poller_http_fail(struct poller_job *job, long status)
{
	char	*detail = NULL, *loc = NULL;

	if (status >= 300 && status < 400) {
		curl_easy_getinfo(job->easy, CURLINFO_REDIRECT_URL, &loc);
		if (loc != NULL)
			detail = xprintf("to %.*s", POLLER_DETAIL_MAX, loc);
	} else
		detail = poller_detail(job);
	if (detail != NULL) {
		poller_fail(job, httpmsg_status_transient(status),
		    "GET %s: %ld %s (%s)", job->shown, status,
		    poller_reason(status), detail);
		free(detail);
	} else
		poller_fail(job, httpmsg_status_transient(status),
		    "GET %s: %ld %s", job->shown, status,
		    poller_reason(status));
}

/* Media types compare case-insensitively; parameters are ignored. */
static int
poller_ctype_is(const char *ctype, const char *want)
{
	size_t	 n;

	if (ctype == NULL)
		return 0;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	n = strcspn(ctype, "; \t");
	return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

static void
poller_refs_answer(struct poller_job *job)
{
	struct pktline_adv	 adv;
	const struct pktline_ref *r;
	const char		*ctype = NULL;
	char			*cause = NULL;

	curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &ctype);
	if (!poller_ctype_is(ctype, POLLER_REFS_TYPE)) {
		poller_fail(job, 0, "GET %s: not a git smart-HTTP answer "
		    "(content type %.80s)", job->shown,
		    ctype != NULL ? ctype : "none");
		return;
	}
	if (pktline_parse_adv(&adv, job->body != NULL ? job->body : "",
	    job->len, "git-upload-pack", &cause) != 0) {
		poller_fail(job, 0, "GET %s: %s", job->shown, cause);
		free(cause);
		return;
	}
	job->res.ok = 1;
	if ((r = pktline_adv_find(&adv, job->ref)) != NULL) {
		job->res.found = 1;
		httpmsg_copy(job->res.head, sizeof job->res.head, r->oid);
	}
	pktline_adv_clear(&adv);
}

/* A git hash as the API gives it: 40 or 64 hex digits. */
static int
poller_hash_ok(const char *s)
{
	size_t	 n = strspn(s, "0123456789abcdefABCDEF");

	return s[n] == '\0' && (n == 40 || n == 64);
}

static void
poller_version_answer(struct poller_job *job)
{
	cJSON		*j, *list, *item, *vi, *sv, *gh;
	char		*detail;
	size_t		 i;

	j = cJSON_ParseWithLength(job->body != NULL ? job->body : "",
	    job->len);
	if (!cJSON_IsObject(j)) {
		poller_fail(job, 0, "GET %s: answer is no JSON object",
		    job->shown);
		goto out;
	}
	if (cJSON_HasObjectItem(j, "error")) {
		/* The API's clients treat this as a failure too. */
		detail = poller_detail(job);
		poller_fail(job, 0, "GET %s: error in the answer (%s)",
		    job->shown, detail != NULL ? detail : "no message");
		free(detail);
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(j, "results");
	if (!cJSON_IsArray(list)) {
		poller_fail(job, 0, "GET %s: answer has no results list",
		    job->shown);
		goto out;
	}
	/* The first published one: a server may ignore published=true. */
	cJSON_ArrayForEach(item, list) {
		vi = cJSON_GetObjectItemCaseSensitive(item, "version_info");
		sv = cJSON_GetObjectItemCaseSensitive(vi, "semantic_version");
		if (!cJSON_IsString(sv) || sv->valuestring[0] == '\0')
			continue;
		gh = cJSON_GetObjectItemCaseSensitive(vi, "git_hash");
		if (!cJSON_IsString(gh) || !poller_hash_ok(gh->valuestring)) {
			poller_fail(job, 0, "GET %s: version %.64s has no "
			    "valid git_hash", job->shown, sv->valuestring);
			goto out;
		}
		if (strlen(sv->valuestring) >= sizeof job->res.version ||
		    strspn(sv->valuestring, POLLER_SEMVER_CHARS) !=
		    strlen(sv->valuestring)) {
			poller_fail(job, 0, "GET %s: bad semantic_version "
			    "%.64s", job->shown, sv->valuestring);
			goto out;
		}
		for (i = 0; gh->valuestring[i] != '\0'; i++)
			job->res.head[i] = (char)tolower(
			    (unsigned char)gh->valuestring[i]);
		job->res.head[i] = '\0';
		httpmsg_copy(job->res.version, sizeof job->res.version,
		    sv->valuestring);
		job->res.found = 1;
		break;
	}
	job->res.ok = 1;
out:
	cJSON_Delete(j);
}

/* Fills job->res from a finished transfer. */
static void
poller_finish(struct poller_job *job, CURLcode cc)
{
	struct poller_result	*r = &job->res;
	long			 status = 0, nconn = 0;

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &nconn);
	r->status = status;
	r->new_connection = nconn > 0;
	r->retry_after_ms = job->retry_after_ms;
	r->elapsed_ms = monotime_ms() - job->t0;
	if (cc != CURLE_OK) {
		if (job->too_large || cc == CURLE_FILESIZE_EXCEEDED)
			poller_fail(job, 0, "GET %s: response too large "
			    "(more than %d bytes)", job->shown,
			    POLLER_MAX_RESPONSE);
		else
			poller_fail(job, httpmsg_curl_transient(cc),
			    "GET %s: %s", job->shown, job->errbuf[0] != '\0' ?
			    job->errbuf : curl_easy_strerror(cc));
	} else if (status != 200)
		poller_http_fail(job, status);
	else if (r->kind == POLLER_REFS)
		poller_refs_answer(job);
	else
		poller_version_answer(job);
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		char *shown = redact(job->shown);
		log_debug("poller: GET %s: %ld, %zu bytes, %llu ms%s", shown,
		    status, job->len, (unsigned long long)r->elapsed_ms,
		    r->new_connection ? ", new connection" : "");
		free(shown);
	}
}

/* --------------------------------------------------------------------
 * Jobs and the done queue.
 */

static void
poller_job_free(struct poller_job *job)
{
	if (job->easy != NULL) {
		curl_multi_remove_handle(job->p->multi, job->easy);
		curl_easy_cleanup(job->easy);
	}
	curl_slist_free_all(job->hdrs);
	free(job->shown);
	free(job->ref);
	free(job->body);
	free(job);
}

/* Moves a job to the done queue; its callback comes from the loop. */
static void
poller_job_done(struct poller *p, struct poller_job *job)
{
	if (job->easy != NULL) {
		curl_multi_remove_handle(p->multi, job->easy);
		curl_easy_cleanup(job->easy);
		job->easy = NULL;
		TAILQ_REMOVE(&p->running, job, entry);
	}
	free(job->body);
	job->body = NULL;
	job->len = job->size = 0;
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
	p->capath = access(POLLER_CAPATH, R_OK | X_OK) == 0;
	TAILQ_INIT(&p->running);
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
	while ((job = STAILQ_FIRST(&p->done)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->done, done_entry);
		poller_job_free(job);
	}
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

/* The URL without its userinfo, for messages (redact() would mask it
 * anyway; this keeps the text plain). */
static char *
poller_strip_userinfo(const char *url)
{
	const char	*host, *end, *at;

	if ((host = strstr(url, "://")) == NULL)
		return xstrdup(url);
	host += 3;
	end = host + strcspn(host, "/?#");
	if ((at = memrchr(host, '@', (size_t)(end - host))) == NULL)
		return xstrdup(url);
	return xprintf("%.*s%s", (int)(host - url), url, at + 1);
}

/* Without trailing slashes, and for VERSION without "/v1". */
static char *
poller_base(const char *url, int api)
{
	size_t	 n = strlen(url);

	for (;;) {
		while (n > 0 && url[n - 1] == '/')
			n--;
		if (!api || n < 3 || strncmp(url + n - 3, "/v1", 3) != 0)
			break;
		n -= 3;
		api = 0;
	}
	return xstrndup(url, n);
}

/* Sets up job->easy for req; -1 with job failed on a bad request. */
static int
poller_setup(struct poller *p, struct poller_job *job,
    const struct poller_req *req)
{
	struct curl_slist	*more;
	CURL			*h;
	char			*base, *plain, *url = NULL, *hdr;
	char			*owner = NULL, *algo = NULL;
	int			 bad = 0;

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
	base = poller_base(req->url, job->res.kind == POLLER_VERSION);
	plain = poller_strip_userinfo(base);
	if (job->res.kind == POLLER_REFS) {
		job->shown = xprintf("%s/info/refs", plain);
		url = xprintf("%s/info/refs?service=git-upload-pack", base);
		if (req->ref == NULL || *req->ref == '\0') {
			poller_fail(job, 0, "GET %s: no ref to look for",
			    job->shown);
			goto fail;
		}
		if (req->key != NULL && (req->user == NULL ||
		    *req->user == '\0')) {
			poller_fail(job, 0, "GET %s: a key but no user",
			    job->shown);
			goto fail;
		}
		job->ref = xstrdup(req->ref);
		job->hdrs = curl_slist_append(NULL, "Accept: "
		    POLLER_REFS_TYPE);
	} else {
		if (req->owner == NULL || *req->owner == '\0' ||
		    req->algo == NULL || *req->algo == '\0') {
			job->shown = xprintf("%s/v1/algorithms", plain);
			poller_fail(job, 0, "GET %s: no owner or algorithm",
			    job->shown);
			goto fail;
		}
		owner = curl_easy_escape(NULL, req->owner, 0);
		algo = curl_easy_escape(NULL, req->algo, 0);
		if (owner == NULL || algo == NULL) {
			job->shown = xprintf("%s/v1/algorithms", plain);
			poller_fail(job, 0, "GET %s: cannot encode a name",
			    job->shown);
			goto fail;
		}
		job->shown = xprintf("%s/v1/algorithms/%s/%s/versions", plain,
		    owner, algo);
		url = xprintf("%s/v1/algorithms/%s/%s/versions?limit=1&"
		    "published=true", base, owner, algo);
		job->hdrs = curl_slist_append(NULL, "Accept: application/json");
		if (req->key != NULL && job->hdrs != NULL) {
			hdr = xprintf("Authorization: Simple %s", req->key);
			if ((more = curl_slist_append(job->hdrs, hdr)) == NULL)
				bad = 1;
			else
				job->hdrs = more;
			free(hdr);
		}
	}
	if (bad || job->hdrs == NULL ||
	    (job->easy = h = curl_easy_init()) == NULL) {
		poller_fail(job, 1, "GET %s: cannot set up the request",
		    job->shown);
		goto fail;
	}

	bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)job) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
#else
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
	/* A redirect is an error: the key goes nowhere a Location says. */
	bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)req->timeout_ms) != CURLE_OK;
	/* h2 only through TLS (ALPN): Debian 12's curl 7.88.1 breaks
	 * reused h2c prior-knowledge connections (curl#10634). */
	bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, POLLER_USER_AGENT) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, job->hdrs) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, job->errbuf) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, poller_write_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, job) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, poller_header_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, job) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)POLLER_MAX_RESPONSE) != CURLE_OK;
	if (req->ca_file != NULL) {
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file) !=
		    CURLE_OK;
		if (p->capath)
			bad |= curl_easy_setopt(h, CURLOPT_CAPATH,
			    POLLER_CAPATH) != CURLE_OK;
	}
	if (job->res.kind == POLLER_REFS && req->key != NULL) {
		/* Basic up front: one request per poll, no 401 first. */
		bad |= curl_easy_setopt(h, CURLOPT_HTTPAUTH,
		    (long)CURLAUTH_BASIC) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_USERNAME, req->user) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_PASSWORD, req->key) !=
		    CURLE_OK;
	}
	if (bad) {
		poller_fail(job, 0, "GET %s: cannot set up the request",
		    job->shown);
		goto fail;
	}
	curl_free(owner);
	curl_free(algo);
	free(url);
	free(plain);
	free(base);
	return 0;
fail:
	if (job->easy != NULL) {
		curl_easy_cleanup(job->easy);
		job->easy = NULL;
	}
	curl_free(owner);
	curl_free(algo);
	free(url);
	free(plain);
	free(base);
	return -1;
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
	job->retry_after_ms = -1;
	job->res.kind = kind;
	job->res.id = job->id;
	job->res.retry_after_ms = -1;
	job->t0 = monotime_ms();
	p->ninflight++;

	if (poller_setup(p, job, &r) != 0) {
		poller_job_done(p, job);
		return job->id;
	}
	TAILQ_INSERT_TAIL(&p->running, job, entry);
	if (curl_multi_add_handle(p->multi, job->easy) != CURLM_OK) {
		poller_fail(job, 1, "GET %s: cannot start the request",
		    job->shown);
		poller_job_done(p, job);
	}
	return job->id;
}

void
poller_cancel(struct poller *p, uint64_t id)
{
	struct poller_job	*job;

	TAILQ_FOREACH(job, &p->running, entry) {
		if (job->id == id) {
			TAILQ_REMOVE(&p->running, job, entry);
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
