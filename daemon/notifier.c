/* notifier.c: notifications of what happened to a route, delivered at
 * least once to webhooks and commands from the persistent outbox.
 *
 * Everything runs on the loop thread and nothing blocks it: webhooks go
 * through a curl multi handle driven by libevent (as poller.c does, with
 * httpc_setup() for every easy handle); commands are spawned with the
 * event on a non-blocking pipe as stdin and reaped when their pidfd says
 * they ended (no SIGCHLD handler; a short timer where pidfds are not).
 *
 * Each sink takes its deliveries one at a time, oldest first, so a
 * receiver sees events in order; a failure backs the sink off (1 s
 * doubling to 5 min, jittered, never before a Retry-After) and the same
 * delivery is tried again. An event's file leaves the outbox only once a
 * receiver answered 2xx (a command exited 0), or was given up: a
 * permanent answer, the cap, or its sink left the configuration.
 */
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "backoff.h"
#include "httpc.h"
#include "httpmsg.h"
#include "log.h"
#include "monotime.h"
#include "notifier.h"
#include "outbox.h"
#include "redact.h"
#include "url.h"
#include "xmalloc.h"

#define NOTIFIER_RESP_MAX	(64 * 1024)	/* of an answer we ignore */
#define NOTIFIER_REAP_MS	50	/* without pidfds: waitpid() this often */
#define NOTIFIER_ID_BYTES	16

extern char **environ;

struct notifier_try;

/* A sink of the configuration, known by the digest of its url or argv
 * (the outbox's sink id), which a reload keeps. */
struct notifier_sink {
	struct notifier		*n;
	char			 id[OUTBOX_SINK_LEN + 1];
	char			*shown;		/* url without userinfo or
						 * query, or argv[0] */
	char			*url;
	char		       **argv;
	char			*token;
	enum config_notify_format format;
	struct notifier_try	*busy;		/* the delivery in flight */
	unsigned int		 fails;		/* of the head, in a row */
	uint64_t		 due_ms;	/* no try before (monotonic) */
	struct event		*timer;
	int			 seen;
};

/* One try of one delivery. A command's try outlives its sink or item
 * (both NULL then) until the process is reaped. */
struct notifier_try {
	TAILQ_ENTRY(notifier_try) entry;
	struct notifier		*n;
	struct notifier_sink	*sink;
	struct outbox_item	*item;
	char			*shown;		/* the sink's, for messages */
	char			*id;		/* the event's */
	uint64_t		 t0;

	CURL			*easy;		/* a webhook */
	struct curl_slist	*hdrs;
	struct httpc_resp	 resp;

	pid_t			 pid;		/* a command; -1: none */
	int			 pidfd;
	int			 in;		/* our end of its stdin */
	char			*input;
	size_t			 inlen, inoff;
	struct event		*ev_exit, *ev_in, *ev_kill;
	int			 timedout;
};

/* Deliveries per sink name, kept across reloads. */
struct notifier_count {
	TAILQ_ENTRY(notifier_count) entry;
	char			*label;
	uint64_t		 sent;
};

/* A route's pending approval, announced once per source commit. */
struct notifier_pending {
	TAILQ_ENTRY(notifier_pending) entry;
	char			*route;		/* "PAIR DESTINATION" */
	char			*commit;
};

/* A top-level sink, as notifier_emit() fans out to it. */
struct notifier_ref {
	char			 id[OUTBOX_SINK_LEN + 1];
	unsigned int		 events;
};

struct notifier_sock {
	LIST_ENTRY(notifier_sock) entry;
	struct notifier		*n;
	struct event		*ev;
};

struct notifier {
	struct event_base	*base;
	struct outbox		*ob;
	CURLM			*multi;
	struct event		*curl_timer;
	LIST_HEAD(, notifier_sock) socks;
	struct notifier_sink	**sinks;	/* one per sink id */
	size_t			 nsinks;
	TAILQ_HEAD(, notifier_try) cmds;	/* commands still running */
	TAILQ_HEAD(, notifier_count) counts;
	TAILQ_HEAD(, notifier_pending) pendings;
	struct notifier_ref	*top;
	size_t			 ntop;
	struct notifier_timing	 timing;
	int			 capath;
	uint64_t		 failed;
	uint64_t		 dropped_permanent;
	uint64_t		 dropped_removed;
	uint64_t		 sent;
};

static void	notifier_schedule(struct notifier_sink *);

/* --------------------------------------------------------------------
 * Sinks.
 */

/* The sink id: SHA-256 of its kind and url or argv, 32 hex digits. */
static void
notifier_sink_id(const struct config_sink *cs, char out[OUTBOX_SINK_LEN + 1])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	EVP_MD_CTX	*ctx;
	size_t		 k;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatalx("notify: SHA-256 is not available");
	if (cs->url != NULL) {
		EVP_DigestUpdate(ctx, "url", 4);
		EVP_DigestUpdate(ctx, cs->url, strlen(cs->url) + 1);
	} else {
		EVP_DigestUpdate(ctx, "command", 8);
		for (k = 0; cs->command != NULL && cs->command[k] != NULL; k++)
			EVP_DigestUpdate(ctx, cs->command[k],
			    strlen(cs->command[k]) + 1);
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 ||
	    mdlen * 2 < OUTBOX_SINK_LEN)
		fatalx("notify: SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < OUTBOX_SINK_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A URL without userinfo, query or fragment, for messages and labels. */
static char *
notifier_url_shown(const char *url)
{
	struct url	 u;
	char		*cause = NULL, *auth, *out;

	if (url_split(&u, url, &cause) != 0 ||
	    (auth = url_authority(url)) == NULL) {
		free(cause);
		url_clear(&u);
		return xstrdup("(a bad url)");
	}
	out = xprintf("%s%s", auth, strcmp(u.path, "/") == 0 ? "" : u.path);
	free(auth);
	url_clear(&u);
	return out;
}

static char **
notifier_strv_dup(char *const *v)
{
	char	**out;
	size_t	  n, i;

	for (n = 0; v[n] != NULL; n++)
		;
	out = xcalloc(n + 1, sizeof *out);
	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void
notifier_strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static struct notifier_sink *
notifier_sink_find(struct notifier *n, const char *id)
{
	size_t	 i;

	for (i = 0; i < n->nsinks; i++)
		if (strcmp(n->sinks[i]->id, id) == 0)
			return n->sinks[i];
	return NULL;
}

static void
notifier_timer_cb(evutil_socket_t fd, short what, void *arg);

/* The sink of cs, made when new; its token and format are cs's now. */
static struct notifier_sink *
notifier_sink_get(struct notifier *n, const struct config_sink *cs)
{
	struct notifier_sink	*s;
	char			 id[OUTBOX_SINK_LEN + 1];

	notifier_sink_id(cs, id);
	if ((s = notifier_sink_find(n, id)) == NULL) {
		s = xcalloc(1, sizeof *s);
		s->n = n;
		memcpy(s->id, id, sizeof s->id);
		if (cs->url != NULL) {
			s->url = xstrdup(cs->url);
			s->shown = notifier_url_shown(cs->url);
		} else {
			s->argv = notifier_strv_dup(cs->command);
			s->shown = xstrdup(cs->command[0]);
		}
		if ((s->timer = evtimer_new(n->base, notifier_timer_cb,
		    s)) == NULL)
			fatalx("notify: cannot create a timer");
		n->sinks = xreallocarray(n->sinks, n->nsinks + 1,
		    sizeof(struct notifier_sink *));
		n->sinks[n->nsinks++] = s;
	}
	if (s->token != NULL) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
		s->token = NULL;
	}
	if (cs->token != NULL) {
		s->token = xstrdup(cs->token);
		redact_add(s->token);
	}
	s->format = cs->format;
	s->seen = 1;
	return s;
}

static void	notifier_try_detach(struct notifier_try *);

static void
notifier_sink_free(struct notifier_sink *s)
{
	if (s->busy != NULL)
		notifier_try_detach(s->busy);
	event_free(s->timer);
	free(s->shown);
	free(s->url);
	notifier_strv_free(s->argv);
	if (s->token != NULL) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

/* The oldest delivery waiting for s. */
static struct outbox_item *
notifier_sink_head(struct notifier_sink *s)
{
	struct outbox_item	*it;

	for (it = outbox_first(s->n->ob); it != NULL; it = outbox_next(it))
		if (strcmp(it->sink, s->id) == 0)
			return it;
	return NULL;
}

static struct notifier_count *
notifier_count(struct notifier *n, const char *label)
{
	struct notifier_count	*c;

	TAILQ_FOREACH(c, &n->counts, entry)
		if (strcmp(c->label, label) == 0)
			return c;
	c = xcalloc(1, sizeof *c);
	c->label = xstrdup(label);
	TAILQ_INSERT_TAIL(&n->counts, c, entry);
	return c;
}

/* --------------------------------------------------------------------
 * The end of a try.
 */

enum notifier_result {
	NOTIFIER_DELIVERED,
	NOTIFIER_RETRY,
	NOTIFIER_PERMANENT,
};

static void
notifier_try_free(struct notifier_try *t)
{
	if (t->easy != NULL) {
		curl_multi_remove_handle(t->n->multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->hdrs);
	httpc_resp_drop(&t->resp);
	if (t->ev_exit != NULL)
		event_free(t->ev_exit);
	if (t->ev_in != NULL)
		event_free(t->ev_in);
	if (t->ev_kill != NULL)
		event_free(t->ev_kill);
	if (t->pidfd != -1)
		close(t->pidfd);
	if (t->in != -1)
		close(t->in);
	free(t->input);
	free(t->shown);
	free(t->id);
	free(t);
}

/* The try's delivery is over for its sink: delivered, to be tried again
 * after a wait (retry_after_ms: the receiver's, or -1) or given up. */
static void
notifier_try_end(struct notifier_try *t, enum notifier_result res,
    long retry_after_ms, const char *error)
{
	struct notifier		*n = t->n;
	struct notifier_sink	*s = t->sink;
	struct outbox_item	*it = t->item;
	uint64_t		 delay, took = monotime_ms() - t->t0;
	char			*err, buf[32];

	if (s != NULL)
		s->busy = NULL;
	if (it != NULL)
		it->busy = NULL;
	err = redact(error != NULL ? error : "");
	if (s == NULL || it == NULL) {
		log_debug("notify: %s: event %s: a try no longer wanted "
		    "ended", t->shown, t->id);
	} else if (res == NOTIFIER_DELIVERED) {
		log_info("notify: %s: event %s (%s) delivered in %llu ms",
		    s->shown, it->id, it->type, (unsigned long long)took);
		n->sent++;
		notifier_count(n, s->shown)->sent++;
		outbox_remove(n->ob, it);
		s->fails = 0;
		s->due_ms = 0;
	} else if (res == NOTIFIER_PERMANENT) {
		log_warnx("notify: %s: event %s (%s) dropped: %s (not "
		    "retried)", s->shown, it->id, it->type, err);
		n->failed++;
		n->dropped_permanent++;
		outbox_remove(n->ob, it);
		s->fails = 0;
		s->due_ms = 0;
	} else {
		n->failed++;
		if (retry_after_ms > (long)n->timing.retry_max_ms)
			retry_after_ms = (long)n->timing.retry_max_ms;
		delay = backoff_delay(n->timing.retry_min_ms, s->fails,
		    n->timing.retry_max_ms, retry_after_ms, backoff_random());
		s->fails++;
		s->due_ms = monotime_ms() + delay;
		snprintf(buf, sizeof buf, "%llu.%03llu s",
		    (unsigned long long)(delay / 1000),
		    (unsigned long long)(delay % 1000));
		log_warnx("notify: %s: event %s (%s): try %u failed: %s; "
		    "next in %s%s", s->shown, it->id, it->type, s->fails, err,
		    buf, retry_after_ms > 0 ? " (Retry-After)" : "");
	}
	free(err);
	if (t->pid != -1)
		TAILQ_REMOVE(&n->cmds, t, entry);
	notifier_try_free(t);
	if (s != NULL)
		notifier_schedule(s);
}

/* --------------------------------------------------------------------
 * Webhooks: curl multi on libevent, the hiperfifo way (see poller.c).
 */

static void
notifier_http_done(struct notifier_try *t, CURLcode cc)
{
	long	 status = 0;
	char	*line = NULL, *msg;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK && !(httpc_too_large(&t->resp, cc) &&
	    status != 0)) {
		msg = xprintf("POST: %s", httpc_strerror(&t->resp, cc));
		notifier_try_end(t, NOTIFIER_RETRY, -1, msg);
		free(msg);
		return;
	}
	if (status >= 200 && status < 300) {
		notifier_try_end(t, NOTIFIER_DELIVERED, -1, NULL);
		return;
	}
	if (t->resp.body != NULL && t->resp.len > 0)
		line = httpmsg_cut(httpmsg_oneline(t->resp.body, t->resp.len),
		    200);
	msg = xprintf("HTTP %ld %s%s%s", status, httpmsg_reason(status),
	    line != NULL ? ": " : "", line != NULL ? line : "");
	free(line);
	if (httpmsg_status_transient(status))
		notifier_try_end(t, NOTIFIER_RETRY, t->resp.retry_after_ms,
		    msg);
	else
		notifier_try_end(t, NOTIFIER_PERMANENT, -1, msg);
	free(msg);
}

static void
notifier_check_done(struct notifier *n)
{
	struct notifier_try	*t;
	CURLMsg			*msg;
	char			*priv;
	int			 left;

	while ((msg = curl_multi_info_read(n->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((t = (struct notifier_try *)(void *)priv) != NULL)
			notifier_http_done(t, msg->data.result);
	}
}

static void
notifier_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier_sock	*s = arg;
	struct notifier		*n = s->n;	/* s may go in socket_action */
	int			 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(n->multi, fd, action, &running);
	notifier_check_done(n);
}

static void
notifier_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier	*n = arg;
	int		 running;

	curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	notifier_check_done(n);
}

static int
notifier_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct notifier	*n = arg;
	struct timeval	 tv;

	if (timeout_ms < 0)
		return evtimer_del(n->curl_timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(n->curl_timer, &tv);
}

static int
notifier_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct notifier		*n = arg;
	struct notifier_sock	*s = sockp;
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
		s->n = n;
		if ((s->ev = event_new(n->base, fd, kind, notifier_sock_cb,
		    s)) == NULL) {
			free(s);
			return -1;
		}
		LIST_INSERT_HEAD(&n->socks, s, entry);
		curl_multi_assign(n->multi, fd, s);
	} else {
		event_del(s->ev);
		if (event_assign(s->ev, n->base, fd, kind, notifier_sock_cb,
		    s) != 0)
			return -1;
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* A member of the event for the one readable line, or NULL. */
static const char *
notifier_member(const cJSON *ev, const char *name)
{
	const cJSON	*j = cJSON_GetObjectItemCaseSensitive(ev, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* {"text": "one readable line"} for a Slack-style webhook. */
static char *
notifier_slack(const char *event)
{
	cJSON		*ev, *out;
	const char	*v;
	char		*text, *body, sc[12];
	size_t		 len;

	if ((ev = cJSON_Parse(event)) == NULL ||
	    (out = cJSON_CreateObject()) == NULL)
		fatalx("notify: cannot read an event back");
	v = notifier_member(ev, "source_commit");
	snprintf(sc, sizeof sc, "%.7s", v != NULL ? v : "");
	text = xprintf("algopromoted: %s: %s%s%s -> %s (pair %s)",
	    notifier_member(ev, "event"), notifier_member(ev, "source"),
	    *sc != '\0' ? "@" : "", sc, notifier_member(ev, "destination"),
	    notifier_member(ev, "pair"));
	if ((v = notifier_member(ev, "dest_version")) != NULL ||
	    (v = notifier_member(ev, "source_version")) != NULL) {
		body = text;
		text = xprintf("%s, version %s", body, v);
		free(body);
	}
	if ((v = notifier_member(ev, "reason")) != NULL) {
		body = text;
		text = xprintf("%s: %s", body, v);
		free(body);
	}
	if ((v = notifier_member(ev, "error")) != NULL) {
		body = text;
		text = xprintf("%s: %s", body, v);
		free(body);
	}
	/* One line: whatever the error held. */
	for (len = 0; text[len] != '\0'; len++)
		if (text[len] == '\n' || text[len] == '\r')
			text[len] = ' ';
	if (cJSON_AddStringToObject(out, "text", text) == NULL ||
	    (body = cJSON_PrintUnformatted(out)) == NULL)
		fatalx("cJSON: out of memory");
	free(text);
	cJSON_Delete(ev);
	cJSON_Delete(out);
	text = xstrdup(body);
	cJSON_free(body);
	return text;
}

static int
notifier_http_start(struct notifier_try *t)
{
	struct notifier_sink	*s = t->sink;
	struct httpc_req	 hr;
	struct curl_slist	*h;
	char			*body, *auth;
	int			 bad = 0;

	body = s->format == CONFIG_NOTIFY_SLACK ? notifier_slack(
	    t->item->event) : xstrdup(t->item->event);
	httpc_resp_init(&t->resp, NOTIFIER_RESP_MAX,
	    (long)t->n->timing.retry_max_ms);
	/* curl_slist_append() gives the list back, or NULL: t->hdrs
	 * holds what was made so far either way. */
	h = t->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (h != NULL)
		h = curl_slist_append(t->hdrs, "Expect:");
	if (h != NULL && s->token != NULL) {
		auth = xprintf("Authorization: Bearer %s", s->token);
		h = curl_slist_append(t->hdrs, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (h == NULL || (t->easy = curl_easy_init()) == NULL) {
		free(body);
		return -1;
	}
	memset(&hr, 0, sizeof hr);
	hr.url = s->url;
	hr.timeout_ms = (long)t->n->timing.http_timeout_ms;
	hr.capath = t->n->capath;
	hr.headers = t->hdrs;
	bad |= httpc_setup(t->easy, &hr, &t->resp) != 0;
	bad |= curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE,
	    (long)strlen(body)) != CURLE_OK;
	bad |= curl_easy_setopt(t->easy, CURLOPT_COPYPOSTFIELDS, body) !=
	    CURLE_OK;
	free(body);
	if (bad || curl_multi_add_handle(t->n->multi, t->easy) != CURLM_OK)
		return -1;
	return 0;
}

/* --------------------------------------------------------------------
 * Commands: spawned, fed, timed and reaped on the loop.
 */

/* The command ended (or a waitpid() poll says nothing yet). */
static void
notifier_cmd_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier_try	*t = arg;
	char			*msg;
	pid_t			 r;
	int			 st;

	while ((r = waitpid(t->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == 0)
		return;		/* the polling timer: not yet */
	if (r == -1) {
		msg = xprintf("cannot wait for the command: %s",
		    strerror(errno));
		notifier_try_end(t, NOTIFIER_RETRY, -1, msg);
		free(msg);
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !t->timedout) {
		notifier_try_end(t, NOTIFIER_DELIVERED, -1, NULL);
		return;
	}
	if (t->timedout)
		msg = xprintf("the command did not end within %llu ms: killed",
		    (unsigned long long)t->n->timing.cmd_timeout_ms);
	else if (WIFEXITED(st))
		msg = xprintf("the command exited with status %d",
		    WEXITSTATUS(st));
	else
		msg = xprintf("the command was killed by signal %d",
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	notifier_try_end(t, NOTIFIER_RETRY, -1, msg);
	free(msg);
}

static void
notifier_cmd_close_in(struct notifier_try *t)
{
	if (t->ev_in != NULL) {
		event_free(t->ev_in);
		t->ev_in = NULL;
	}
	if (t->in != -1) {
		close(t->in);
		t->in = -1;
	}
}

/* Feeds the event to the command's stdin as it takes it. */
static void
notifier_cmd_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier_try	*t = arg;
	ssize_t			 w;

	while (t->inoff < t->inlen) {
		w = write(t->in, t->input + t->inoff, t->inlen - t->inoff);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w == -1) {
			/* EPIPE: it did not read; its exit status says. */
			break;
		}
		t->inoff += (size_t)w;
	}
	notifier_cmd_close_in(t);
}

/* Its process group (a shell script's children too), then itself. */
static void
notifier_cmd_kill(struct notifier_try *t)
{
	if (t->pid <= 0)
		return;
	(void)kill(-t->pid, SIGKILL);
	(void)kill(t->pid, SIGKILL);
}

static void
notifier_cmd_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier_try	*t = arg;

	t->timedout = 1;
	notifier_cmd_kill(t);
	notifier_cmd_close_in(t);
}

static int
notifier_cmd_spawn(struct notifier_try *t, char **argv, int rfd, char **cause)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none, def;
	int				 e;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGUSR1);
	sigaddset(&def, SIGCHLD);
	if (posix_spawn_file_actions_init(&fa) != 0)
		fatalx("posix_spawn_file_actions_init: out of memory");
	if (posix_spawnattr_init(&at) != 0)
		fatalx("posix_spawnattr_init: out of memory");
	e = posix_spawn_file_actions_adddup2(&fa, rfd, STDIN_FILENO);
	if (e == 0)
		e = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
		    "/dev/null", O_WRONLY, 0);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO,
		    STDERR_FILENO);
	if (e == 0)
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (e == 0)
		e = posix_spawnattr_setpgroup(&at, 0);
	if (e == 0)
		e = posix_spawnattr_setsigmask(&at, &none);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(&at, &def);
	if (e == 0)
		e = posix_spawn(&t->pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0) {
		t->pid = -1;
		xasprintf(cause, "cannot run %s: %s", argv[0], strerror(e));
		return -1;
	}
	return 0;
}

static int
notifier_cmd_start(struct notifier_try *t, char **cause)
{
	struct notifier	*n = t->n;
	struct timeval	 tv;
	int		 p[2];
	uint64_t	 ms;

	if (pipe2(p, O_CLOEXEC) == -1) {
		xasprintf(cause, "cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) == -1 ||
	    notifier_cmd_spawn(t, t->sink->argv, p[0], cause) == -1) {
		if (*cause == NULL)
			xasprintf(cause, "cannot set up a pipe: %s",
			    strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[0]);
	t->in = p[1];
	TAILQ_INSERT_TAIL(&n->cmds, t, entry);
	t->input = xprintf("%s\n", t->item->event);
	t->inlen = strlen(t->input);
	if ((t->pidfd = pidfd_open(t->pid, 0)) != -1) {
		t->ev_exit = event_new(n->base, t->pidfd, EV_READ | EV_PERSIST,
		    notifier_cmd_exit_cb, t);
		if (t->ev_exit != NULL && event_add(t->ev_exit, NULL) != 0)
			fatalx("notify: cannot watch a command");
	} else {
		t->ev_exit = event_new(n->base, -1, EV_PERSIST,
		    notifier_cmd_exit_cb, t);
		tv.tv_sec = 0;
		tv.tv_usec = NOTIFIER_REAP_MS * 1000;
		if (t->ev_exit != NULL && event_add(t->ev_exit, &tv) != 0)
			fatalx("notify: cannot watch a command");
	}
	t->ev_in = event_new(n->base, t->in, EV_WRITE | EV_PERSIST,
	    notifier_cmd_in_cb, t);
	t->ev_kill = evtimer_new(n->base, notifier_cmd_kill_cb, t);
	if (t->ev_exit == NULL || t->ev_in == NULL || t->ev_kill == NULL)
		fatalx("notify: cannot watch a command");
	ms = n->timing.cmd_timeout_ms;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (event_add(t->ev_in, NULL) != 0 || evtimer_add(t->ev_kill,
	    &tv) != 0)
		fatalx("notify: cannot watch a command");
	return 0;
}

/* --------------------------------------------------------------------
 * Tries: started from a sink's timer, never inside curl or an emit.
 */

static void
notifier_try_start(struct notifier_sink *s, struct outbox_item *it)
{
	struct notifier_try	*t;
	char			*cause = NULL;
	int			 rv;

	t = xcalloc(1, sizeof *t);
	t->n = s->n;
	t->sink = s;
	t->item = it;
	t->shown = xstrdup(s->shown);
	t->id = xstrdup(it->id);
	t->pid = -1;
	t->pidfd = -1;
	t->in = -1;
	t->t0 = monotime_ms();
	s->busy = t;
	it->busy = t;
	log_debug("notify: %s: event %s (%s): try %u", s->shown, it->id,
	    it->type, s->fails + 1);
	if (s->url != NULL) {
		if ((rv = notifier_http_start(t)) == -1)
			cause = xstrdup("cannot set up the request");
	} else
		rv = notifier_cmd_start(t, &cause);
	if (rv == -1) {
		notifier_try_end(t, NOTIFIER_RETRY, -1, cause);
		free(cause);
	}
}

/* Its sink or item went: a request is abandoned, a command killed and
 * reaped later (the try lives on until then). */
static void
notifier_try_detach(struct notifier_try *t)
{
	if (t->sink != NULL)
		t->sink->busy = NULL;
	if (t->item != NULL)
		t->item->busy = NULL;
	t->sink = NULL;
	t->item = NULL;
	if (t->pid == -1) {
		notifier_try_free(t);
		return;
	}
	if (t->ev_kill != NULL)
		evtimer_del(t->ev_kill);
	notifier_cmd_kill(t);
	notifier_cmd_close_in(t);
}

static void
notifier_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier_sink	*s = arg;
	struct outbox_item	*it;

	if (s->busy != NULL || (it = notifier_sink_head(s)) == NULL)
		return;
	if (monotime_ms() < s->due_ms) {
		notifier_schedule(s);
		return;
	}
	notifier_try_start(s, it);
}

/* The sink's next try, when it is due: from the loop, never from here. */
static void
notifier_schedule(struct notifier_sink *s)
{
	struct timeval	 tv;
	uint64_t	 now = monotime_ms(), wait = 0;

	if (s->busy != NULL)
		return;
	if (s->due_ms > now)
		wait = s->due_ms - now;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* The cap pushes out an item: its try, if any, is abandoned. */
static void
notifier_drop_cb(struct outbox_item *it, void *arg)
{
	if (it->busy != NULL)
		notifier_try_detach(it->busy);
}

/* --------------------------------------------------------------------
 * The configuration.
 */

void
notifier_configure(struct notifier *n, const struct config *conf)
{
	struct notifier_sink	*s;
	struct outbox_item	*it, *inext;
	const struct config_pair *pr;
	size_t			 i, j, gone = 0;
	char			*first = NULL;

	for (i = 0; i < n->nsinks; i++)
		n->sinks[i]->seen = 0;
	free(n->top);
	n->ntop = conf->nnotify;
	n->top = xcalloc(n->ntop + 1, sizeof *n->top);
	for (i = 0; i < conf->nnotify; i++) {
		s = notifier_sink_get(n, &conf->notify[i]);
		memcpy(n->top[i].id, s->id, sizeof s->id);
		n->top[i].events = conf->notify[i].events;
	}
	for (i = 0; i < conf->npairs; i++) {
		pr = &conf->pairs[i];
		for (j = 0; j < pr->nnotify; j++)
			(void)notifier_sink_get(n, &pr->notify[j]);
	}
	for (i = j = 0; i < n->nsinks; i++) {
		if (n->sinks[i]->seen)
			n->sinks[j++] = n->sinks[i];
		else
			notifier_sink_free(n->sinks[i]);
	}
	n->nsinks = j;
	for (it = outbox_first(n->ob); it != NULL; it = inext) {
		inext = outbox_next(it);
		if (notifier_sink_find(n, it->sink) != NULL)
			continue;
		if (it->busy != NULL)
			notifier_try_detach(it->busy);
		if (first == NULL)
			first = xstrdup(it->sink_name);
		gone++;
		outbox_remove(n->ob, it);
	}
	if (gone != 0) {
		log_warnx("notify: %zu pending deliveries dropped: their sinks "
		    "(%s%s) are no longer configured", gone, first,
		    gone > 1 ? " and maybe others" : "");
		n->dropped_removed += gone;
	}
	free(first);
	for (i = 0; i < n->nsinks; i++)
		if (notifier_sink_head(n->sinks[i]) != NULL)
			notifier_schedule(n->sinks[i]);
}

void
notifier_set_timing(struct notifier *n, const struct notifier_timing *tm)
{
	n->timing = *tm;
}

int
notifier_new(struct notifier **out, struct event_base *base,
    const struct config *conf, char **cause)
{
	struct notifier	*n;
	char		*dir;
	int		 bad = 0;

	*out = NULL;
	n = xcalloc(1, sizeof *n);
	n->base = base;
	n->capath = httpc_capath();
	n->timing.http_timeout_ms = NOTIFIER_HTTP_TIMEOUT_MS;
	n->timing.cmd_timeout_ms = NOTIFIER_CMD_TIMEOUT_MS;
	n->timing.retry_min_ms = NOTIFIER_RETRY_MIN_MS;
	n->timing.retry_max_ms = NOTIFIER_RETRY_MAX_MS;
	LIST_INIT(&n->socks);
	TAILQ_INIT(&n->cmds);
	TAILQ_INIT(&n->counts);
	TAILQ_INIT(&n->pendings);
	dir = xprintf("%s/outbox", conf->state_dir);
	if (outbox_open(&n->ob, dir, OUTBOX_MAX, notifier_drop_cb, n,
	    cause) == -1) {
		free(dir);
		notifier_free(n);
		return -1;
	}
	free(dir);
	if ((n->multi = curl_multi_init()) == NULL) {
		xasprintf(cause, "notify: cannot create a curl multi handle");
		notifier_free(n);
		return -1;
	}
	n->curl_timer = evtimer_new(base, notifier_curl_timer_cb, n);
	bad |= curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION,
	    notifier_curl_socket) != CURLM_OK;
	bad |= curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n) != CURLM_OK;
	bad |= curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION,
	    notifier_curl_timer) != CURLM_OK;
	bad |= curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n) != CURLM_OK;
	if (bad || n->curl_timer == NULL) {
		xasprintf(cause, "notify: cannot set up the curl multi handle");
		notifier_free(n);
		return -1;
	}
	if (outbox_count(n->ob) != 0)
		log_info("notify: %zu deliveries pending from before",
		    outbox_count(n->ob));
	notifier_configure(n, conf);
	*out = n;
	return 0;
}

void
notifier_free(struct notifier *n)
{
	struct notifier_try	*t;
	struct notifier_count	*c;
	struct notifier_pending	*p;
	struct notifier_sock	*k;
	size_t			 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nsinks; i++)
		notifier_sink_free(n->sinks[i]);
	free(n->sinks);
	/* Killed above; reaped here, which a SIGKILL makes short. */
	while ((t = TAILQ_FIRST(&n->cmds)) != NULL) {
		TAILQ_REMOVE(&n->cmds, t, entry);
		notifier_cmd_kill(t);
		while (waitpid(t->pid, NULL, 0) == -1 && errno == EINTR)
			;
		notifier_try_free(t);
	}
	if (n->multi != NULL)
		curl_multi_cleanup(n->multi);
	while ((k = LIST_FIRST(&n->socks)) != NULL) {
		LIST_REMOVE(k, entry);
		event_free(k->ev);
		free(k);
	}
	if (n->curl_timer != NULL)
		event_free(n->curl_timer);
	while ((c = TAILQ_FIRST(&n->counts)) != NULL) {
		TAILQ_REMOVE(&n->counts, c, entry);
		free(c->label);
		free(c);
	}
	while ((p = TAILQ_FIRST(&n->pendings)) != NULL) {
		TAILQ_REMOVE(&n->pendings, p, entry);
		free(p->route);
		free(p->commit);
		free(p);
	}
	outbox_free(n->ob);
	free(n->top);
	free(n);
}

size_t
notifier_pending(const struct notifier *n)
{
	return outbox_count(n->ob);
}

/* --------------------------------------------------------------------
 * Events.
 */

/* 1 when ev repeats the announcement of a route's pending approval. */
static int
notifier_repeat(struct notifier *n, const struct notifier_event *ev)
{
	struct notifier_pending	*p;
	const char		*commit = ev->source_commit != NULL ?
				    ev->source_commit : "";
	char			*route;
	int			 approval;

	approval = strcmp(ev->type, "pending-approval") == 0;
	route = xprintf("%s %s", ev->pair != NULL ? ev->pair : "",
	    ev->destination != NULL ? ev->destination : "");
	TAILQ_FOREACH(p, &n->pendings, entry)
		if (strcmp(p->route, route) == 0)
			break;
	if (approval && p != NULL && strcmp(p->commit, commit) == 0) {
		free(route);
		return 1;
	}
	if (p != NULL) {
		TAILQ_REMOVE(&n->pendings, p, entry);
		free(p->route);
		free(p->commit);
		free(p);
	}
	if (approval) {
		p = xcalloc(1, sizeof *p);
		p->route = route;
		p->commit = xstrdup(commit);
		TAILQ_INSERT_TAIL(&n->pendings, p, entry);
	} else
		free(route);
	return 0;
}

static void
notifier_add(cJSON *o, const char *name, const char *value, int secret)
{
	char	*clean;
	cJSON	*j;

	if (value == NULL)
		j = cJSON_AddNullToObject(o, name);
	else if (secret) {
		clean = httpmsg_cut(redact(value), NOTIFIER_ERROR_MAX);
		j = cJSON_AddStringToObject(o, name, clean);
		free(clean);
	} else
		j = cJSON_AddStringToObject(o, name, value);
	if (j == NULL)
		fatalx("cJSON: out of memory");
}

/* The event as JSON text: a fresh id (into id), the time, ev's fields. */
static char *
notifier_event_json(const struct notifier_event *ev,
    char id[2 * NOTIFIER_ID_BYTES + 1])
{
	unsigned char	 rnd[NOTIFIER_ID_BYTES];
	char		 when[64], *text, *out;
	struct timespec	 ts;
	struct tm	 tm;
	cJSON		*o;
	size_t		 i;

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		fatal("notify: getrandom");
	for (i = 0; i < sizeof rnd; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if ((o = cJSON_CreateObject()) == NULL)
		fatalx("cJSON: out of memory");
	notifier_add(o, "id", id, 0);
	notifier_add(o, "event", ev->type, 0);
	notifier_add(o, "time", when, 0);
	notifier_add(o, "pair", ev->pair, 0);
	notifier_add(o, "source", ev->source, 0);
	notifier_add(o, "destination", ev->destination, 0);
	notifier_add(o, "source_commit", ev->source_commit, 0);
	notifier_add(o, "source_version", ev->source_version, 0);
	notifier_add(o, "dest_commit", ev->dest_commit, 0);
	notifier_add(o, "dest_version", ev->dest_version, 0);
	notifier_add(o, "error", ev->error, 1);
	notifier_add(o, "reason", ev->reason, 1);
	if ((text = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("cJSON: out of memory");
	cJSON_Delete(o);
	out = xstrdup(text);
	cJSON_free(text);
	return out;
}

/* One delivery of event to s, unless queued for s already. */
static void
notifier_queue(struct notifier *n, struct notifier_sink *s,
    const char *event, const char *id, const char *type, char **queued,
    size_t *nqueued)
{
	struct outbox_item	*it;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < *nqueued; i++)
		if (queued[i] == s->id)
			return;
	queued[(*nqueued)++] = s->id;
	if (outbox_add(n->ob, s->id, s->shown, event, &it, &cause) == -1) {
		log_warnx("notify: %s: event %s (%s) lost: %s", s->shown, id,
		    type, cause);
		free(cause);
		return;
	}
	log_debug("notify: %s: event %s (%s) queued", s->shown, id, type);
	notifier_schedule(s);
}

void
notifier_emit(struct notifier *n, const struct config_pair *pr,
    const struct notifier_event *ev)
{
	struct notifier_sink	*s;
	char			**queued, *event, id[2 * NOTIFIER_ID_BYTES + 1];
	size_t			 i, nq = 0;
	int			 type;

	if (ev->type == NULL || (type = config_notify_event_parse(
	    ev->type)) == -1) {
		log_warnx("notify: pair %s: no such event as \"%s\"",
		    ev->pair != NULL ? ev->pair : "?",
		    ev->type != NULL ? ev->type : "");
		return;
	}
	if (notifier_repeat(n, ev))
		return;
	queued = xcalloc(n->ntop + (pr != NULL ? pr->nnotify : 0) + 1,
	    sizeof *queued);
	event = notifier_event_json(ev, id);
	for (i = 0; i < n->ntop; i++) {
		if ((n->top[i].events & (1u << type)) == 0 ||
		    (s = notifier_sink_find(n, n->top[i].id)) == NULL)
			continue;
		notifier_queue(n, s, event, id, ev->type, queued, &nq);
	}
	for (i = 0; pr != NULL && i < pr->nnotify; i++) {
		if ((pr->notify[i].events & (1u << type)) == 0)
			continue;
		s = notifier_sink_get(n, &pr->notify[i]);
		notifier_queue(n, s, event, id, ev->type, queued, &nq);
	}
	if (nq > 0)
		log_info("notify: pair %s: event %s (%s) for %zu sink%s",
		    ev->pair != NULL ? ev->pair : "?", id, ev->type, nq,
		    nq == 1 ? "" : "s");
	free(event);
	free(queued);
}

/* --------------------------------------------------------------------
 * /metrics.
 */

void
notifier_metrics(struct notifier *n, struct metrics_buf *b)
{
	static const char *const reasons[] = {
		"cap", "permanent", "removed", "corrupt",
	};
	struct notifier_count	*c;
	uint64_t		 dropped[4];
	char			*l;
	size_t			 i;

	metrics_family(b, "algopromoted_notify_sent_total", "counter",
	    "Notifications delivered (a 2xx answer, a command that exited "
	    "0), by sink.");
	TAILQ_FOREACH(c, &n->counts, entry) {
		l = metrics_labels("sink", c->label, NULL);
		metrics_sample(b, "algopromoted_notify_sent_total", l,
		    (double)c->sent);
		free(l);
	}
	metrics_family(b, "algopromoted_notify_failed_total", "counter",
	    "Delivery tries that failed (most are tried again).");
	metrics_sample(b, "algopromoted_notify_failed_total", NULL,
	    (double)n->failed);
	metrics_family(b, "algopromoted_notify_dropped_total", "counter",
	    "Notifications given up, by reason: cap (the outbox was full), "
	    "permanent (a 4xx answer), removed (the sink left the "
	    "configuration), corrupt (an unreadable outbox file).");
	dropped[0] = outbox_dropped(n->ob);
	dropped[1] = n->dropped_permanent;
	dropped[2] = n->dropped_removed;
	dropped[3] = outbox_corrupt(n->ob);
	for (i = 0; i < 4; i++) {
		l = metrics_labels("reason", reasons[i], NULL);
		metrics_sample(b, "algopromoted_notify_dropped_total", l,
		    (double)dropped[i]);
		free(l);
	}
	metrics_family(b, "algopromoted_notify_pending", "gauge",
	    "Notifications waiting for delivery.");
	metrics_sample(b, "algopromoted_notify_pending", NULL,
	    (double)outbox_count(n->ob));
}
