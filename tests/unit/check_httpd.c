/* check_httpd.c: the HTTP endpoint, spoken to in raw HTTP on its own loop.
 * A bufferevent client in the test's event_base; the loop runs until the
 * server has answered and closed, with a deadline that fails the test. */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "httpd.h"
#include "metrics.h"
#include "monotime.h"
#include "testutil.h"
#include "xmalloc.h"

#define EXPO	"# HELP t_up Up.\n# TYPE t_up gauge\nt_up 1\n"

/* Stub handlers: answers chosen by the test, calls counted. */
struct stub {
	int		 healthy;
	const char	*why;		/* NULL: leave *why alone */
	const char	*json;		/* NULL: status_json fails */
	int		 nhealth, nstatus, nmetrics;
	/* trigger: on or off; what it answers; what it was given. */
	int		 trigger_on, trigger_code, ntrigger, nprobe;
	char		*pair, *auth;
	/* metrics in pieces: lines to write, written, pieces, done() */
	int		 lines, line, npieces, ndone;
};

static int
stub_trigger(void *arg, const char *pair, const char *auth, char **text)
{
	struct stub	*st = arg;

	if (pair == NULL) {
		st->nprobe++;
		return st->trigger_on ? 405 : 0;
	}
	if (!st->trigger_on)
		return 0;
	st->ntrigger++;
	free(st->pair);
	free(st->auth);
	st->pair = xstrdup(pair);
	st->auth = auth != NULL ? xstrdup(auth) : NULL;
	*text = xprintf("code %d", st->trigger_code);
	return st->trigger_code;
}

static int
stub_health(void *arg, char **why)
{
	struct stub	*st = arg;

	st->nhealth++;
	if (!st->healthy && st->why != NULL)
		*why = xstrdup(st->why);
	return st->healthy;
}

static char *
stub_status(void *arg)
{
	struct stub	*st = arg;

	st->nstatus++;
	return st->json != NULL ? xstrdup(st->json) : NULL;
}

static void
stub_metrics(void *arg, struct metrics_buf *b)
{
	struct stub	*st = arg;

	st->nmetrics++;
	metrics_family(b, "t_up", "gauge", "Up.");
	metrics_sample(b, "t_up", NULL, 1);
}

/* A deferred writer: "t_n{i=\"K\"} K" lines, about a slice a piece. */
static int
stub_more(void *arg, struct metrics_buf *b)
{
	struct stub	*st = arg;
	size_t		 start = b->len;
	char		 l[32];

	st->npieces++;
	ck_assert_uint_gt(b->slice, 0);
	while (st->line < st->lines && b->len - start < b->slice) {
		snprintf(l, sizeof l, "i=\"%d\"", st->line);
		metrics_sample(b, "t_n", l, st->line);
		st->line++;
	}
	return st->line < st->lines;
}

static void
stub_done(void *arg)
{
	((struct stub *)arg)->ndone++;
}

static void
stub_metrics_deferred(void *arg, struct metrics_buf *b)
{
	struct stub	*st = arg;

	st->nmetrics++;
	st->line = 0;
	metrics_family(b, "t_n", "counter", "Lines.");
	metrics_buf_defer(b, stub_more, stub_done, st);
}

/* The exposition stub_metrics_deferred writes. */
static char *
deferred_text(int lines)
{
	struct metrics_buf	 b = { 0 };
	char			 l[32];
	int			 i;

	metrics_family(&b, "t_n", "counter", "Lines.");
	for (i = 0; i < lines; i++) {
		snprintf(l, sizeof l, "i=\"%d\"", i);
		metrics_sample(&b, "t_n", l, i);
	}
	return b.data;
}

struct fixture {
	struct event_base	*base;
	struct httpd		*httpd;
	struct stub		 st;
};

#define STUB_READ	1	/* health, status, metrics */
#define STUB_TRIGGER	2	/* trigger, on, answering 202 */
#define STUB_DEFERRED	4	/* metrics in pieces */

static void
start(struct fixture *fx, int stubbed)
{
	struct httpd_handlers	 h = { 0 };
	char			*cause = NULL;

	memset(fx, 0, sizeof *fx);
	fx->st.healthy = 1;
	fx->st.json = "{\"ok\":true}";
	if (stubbed & STUB_READ) {
		h.health = stub_health;
		h.status_json = stub_status;
		h.metrics = stub_metrics;
	}
	if (stubbed & STUB_DEFERRED)
		h.metrics = stub_metrics_deferred;
	if (stubbed & STUB_TRIGGER) {
		h.trigger = stub_trigger;
		fx->st.trigger_on = 1;
		fx->st.trigger_code = 202;
	}
	h.arg = &fx->st;
	fx->base = event_base_new();
	ck_assert_ptr_nonnull(fx->base);
	ck_assert_msg(httpd_start(&fx->httpd, fx->base, "127.0.0.1:0", &h,
	    &cause) == 0, "%s", cause);
	ck_assert_int_gt(httpd_port(fx->httpd), 0);
}

static void
stop(struct fixture *fx)
{
	free(fx->st.pair);
	free(fx->st.auth);
	httpd_free(fx->httpd);
	event_base_free(fx->base);
}

/* ---- the client ---------------------------------------------------- */

struct resp {
	int	 status;
	char	*head;		/* status line and headers */
	char	*body;
	size_t	 bodylen;
	char	*raw;		/* everything, NUL-terminated */
	size_t	 rawlen;
};

struct fetch {
	struct event_base	*base;
	struct evbuffer		*in;
	int			 done, timedout;
};

static void
fetch_read(struct bufferevent *bev, void *arg)
{
	struct fetch	*f = arg;

	evbuffer_add_buffer(f->in, bufferevent_get_input(bev));
}

static void
fetch_event(struct bufferevent *bev, short what, void *arg)
{
	struct fetch	*f = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		evbuffer_add_buffer(f->in, bufferevent_get_input(bev));
		f->done = 1;
		event_base_loopbreak(f->base);
	}
}

static void
fetch_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fetch	*f = arg;

	f->timedout = 1;
	event_base_loopbreak(f->base);
}

/* Sends req as is and reads until the server closes. */
static struct resp *
fetch(struct fixture *fx, const char *req, size_t reqlen)
{
	struct fetch		 f = { .base = fx->base };
	struct bufferevent	*bev;
	struct event		*deadline;
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 5, 0 };
	struct resp		*r;
	char			*end;

	f.in = evbuffer_new();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(fx->httpd));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bev = bufferevent_socket_new(fx->base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, fetch_read, NULL, fetch_event, &f);
	ck_assert_int_eq(bufferevent_socket_connect(bev,
	    (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(bufferevent_write(bev, req, reqlen), 0);
	bufferevent_enable(bev, EV_READ);
	deadline = evtimer_new(fx->base, fetch_deadline, &f);
	evtimer_add(deadline, &tv);
	while (!f.done && !f.timedout)
		event_base_dispatch(fx->base);
	event_free(deadline);
	bufferevent_free(bev);
	ck_assert_msg(!f.timedout, "no answer to %s", req);

	r = xcalloc(1, sizeof *r);
	r->rawlen = evbuffer_get_length(f.in);
	r->raw = xmalloc(r->rawlen + 1);
	evbuffer_remove(f.in, r->raw, r->rawlen);
	r->raw[r->rawlen] = '\0';
	evbuffer_free(f.in);
	if ((end = strstr(r->raw, "\r\n\r\n")) != NULL) {
		r->head = xstrndup(r->raw, (size_t)(end - r->raw) + 2);
		r->body = end + 4;
		r->bodylen = r->rawlen - (size_t)(r->body - r->raw);
		ck_assert_int_eq(sscanf(r->raw, "HTTP/1.%*d %d ", &r->status),
		    1);
	} else {
		r->head = xstrdup("");
		r->body = r->raw + r->rawlen;
	}
	return r;
}

static struct resp *
get(struct fixture *fx, const char *method, const char *path)
{
	char		*req;
	struct resp	*r;

	xasprintf(&req, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close"
	    "\r\n\r\n", method, path);
	r = fetch(fx, req, strlen(req));
	free(req);
	return r;
}

static void
resp_free(struct resp *r)
{
	free(r->head);
	free(r->raw);
	free(r);
}

/* The value of header name (first of them), or NULL. */
static char *
header(const struct resp *r, const char *name)
{
	const char	*p, *v, *eol;
	size_t		 n = strlen(name);

	for (p = strstr(r->head, "\r\n"); p != NULL;
	    p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			v = p + 3 + n;
			v += strspn(v, " ");
			eol = strstr(v, "\r\n");
			return xstrndup(v, (size_t)(eol - v));
		}
	}
	return NULL;
}

static void
header_is(const struct resp *r, const char *name, const char *want)
{
	char	*v = header(r, name);

	ck_assert_msg(v != NULL, "no %s in:\n%s", name, r->head);
	ck_assert_str_eq(v, want);
	free(v);
}

static void
header_absent(const struct resp *r, const char *name)
{
	char	*v = header(r, name);

	ck_assert_msg(v == NULL, "%s: %s", name, v);
}

/* Status, type, the safety headers, and the body exactly. */
static void
expect(const struct resp *r, int status, const char *type, const char *body)
{
	char	 len[32];

	ck_assert_msg(r->status == status, "status %d, want %d:\n%s",
	    r->status, status, r->raw);
	header_is(r, "Content-Type", type);
	header_is(r, "Cache-Control", "no-store");
	header_is(r, "X-Content-Type-Options", "nosniff");
	snprintf(len, sizeof len, "%zu", strlen(body));
	header_is(r, "Content-Length", len);
	ck_assert_uint_eq(r->bodylen, strlen(body));
	ck_assert_str_eq(r->body, body);
}

#define TEXT	"text/plain; charset=utf-8"
#define PROM	"text/plain; version=0.0.4; charset=utf-8"

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_routes)
{
	struct fixture	 fx;
	struct resp	*r;

	start(&fx, 1);
	r = get(&fx, "GET", "/healthz");
	expect(r, 200, TEXT, "ok\n");
	header_absent(r, "Allow");
	ck_assert_int_eq(fx.st.nhealth, 1);
	resp_free(r);

	r = get(&fx, "GET", "/metrics");
	expect(r, 200, PROM, EXPO);
	ck_assert_int_eq(fx.st.nmetrics, 1);
	resp_free(r);

	r = get(&fx, "GET", "/status");
	expect(r, 200, "application/json", "{\"ok\":true}\n");
	ck_assert_int_eq(fx.st.nstatus, 1);
	resp_free(r);

	/* A JSON text that ends in a newline keeps just the one. */
	fx.st.json = "{}\n";
	r = get(&fx, "GET", "/status");
	expect(r, 200, "application/json", "{}\n");
	resp_free(r);

	/* The query string does not change the resource. */
	r = get(&fx, "GET", "/metrics?name[]=x&debug=1");
	expect(r, 200, PROM, EXPO);
	resp_free(r);
	r = get(&fx, "GET", "/healthz?");
	expect(r, 200, TEXT, "ok\n");
	resp_free(r);
	stop(&fx);
}
END_TEST

START_TEST(test_http10_and_absolute_form)
{
	struct fixture	 fx;
	struct resp	*r;
	static const char req10[] = "GET /healthz HTTP/1.0\r\n\r\n";
	static const char abs[] = "GET http://elsewhere.example/status "
	    "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	start(&fx, 1);
	r = fetch(&fx, req10, sizeof req10 - 1);
	ck_assert(strncmp(r->raw, "HTTP/1.0 200 ", 13) == 0);
	expect(r, 200, TEXT, "ok\n");
	resp_free(r);
	r = fetch(&fx, abs, sizeof abs - 1);
	expect(r, 200, "application/json", "{\"ok\":true}\n");
	resp_free(r);
	stop(&fx);
}
END_TEST

/* HEAD: the headers GET would send, Content-Length included, no body. */
START_TEST(test_head)
{
	struct fixture	 fx;
	struct resp	*r;
	char		 len[32];

	start(&fx, 1);
	r = get(&fx, "HEAD", "/healthz");
	ck_assert_int_eq(r->status, 200);
	header_is(r, "Content-Type", TEXT);
	header_is(r, "Content-Length", "3");
	header_is(r, "Cache-Control", "no-store");
	header_is(r, "X-Content-Type-Options", "nosniff");
	ck_assert_uint_eq(r->bodylen, 0);
	resp_free(r);

	r = get(&fx, "HEAD", "/metrics");
	ck_assert_int_eq(r->status, 200);
	header_is(r, "Content-Type", PROM);
	snprintf(len, sizeof len, "%zu", strlen(EXPO));
	header_is(r, "Content-Length", len);
	ck_assert_uint_eq(r->bodylen, 0);
	resp_free(r);

	r = get(&fx, "HEAD", "/status");
	ck_assert_int_eq(r->status, 200);
	header_is(r, "Content-Type", "application/json");
	ck_assert_uint_eq(r->bodylen, 0);
	resp_free(r);

	r = get(&fx, "HEAD", "/nothing");
	ck_assert_int_eq(r->status, 404);
	ck_assert_uint_eq(r->bodylen, 0);
	resp_free(r);
	stop(&fx);
}
END_TEST

/* Exact paths only: nothing near them, nothing decoded, nothing walked. */
START_TEST(test_not_found)
{
	static const char *const paths[] = {
		"/", "/healthz/", "/HEALTHZ", "//healthz", "/healthz.json",
		"/metrics/../healthz", "/./healthz", "/%68ealthz",
		"/healthz%00", "/healthz;x", "/../../../etc/passwd",
		"/status/", "/metricsx", "/favicon.ico",
	};
	struct fixture	 fx;
	struct resp	*r;
	size_t		 i;

	start(&fx, 1);
	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		r = get(&fx, "GET", paths[i]);
		expect(r, 404, TEXT, "not found\n");
		resp_free(r);
	}
	ck_assert_int_eq(fx.st.nhealth + fx.st.nstatus + fx.st.nmetrics, 0);
	stop(&fx);
}
END_TEST

START_TEST(test_methods)
{
	static const char *const methods[] = {
		"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
	};
	static const char body[] = "POST /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\nContent-Length: 5\r\n\r\nhello";
	static const char brew[] = "BREW /healthz HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n";
	struct fixture	 fx;
	struct resp	*r;
	size_t		 i;

	start(&fx, 1);
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		r = get(&fx, methods[i], "/healthz");
		expect(r, 405, TEXT, "method not allowed\n");
		header_is(r, "Allow", "GET, HEAD");
		resp_free(r);
	}
	r = get(&fx, "DELETE", "/nothing");	/* the method goes first */
	expect(r, 405, TEXT, "method not allowed\n");
	resp_free(r);
	r = fetch(&fx, body, sizeof body - 1);
	expect(r, 405, TEXT, "method not allowed\n");
	header_is(r, "Allow", "GET, HEAD");
	resp_free(r);
	/* A method evhttp does not know never reaches a handler: libevent
	 * 2.1 answers 501 itself. */
	r = fetch(&fx, brew, sizeof brew - 1);
	ck_assert_msg(r->status == 501 || r->status == 405, "%s", r->raw);
	resp_free(r);
	ck_assert_int_eq(fx.st.nhealth + fx.st.nstatus + fx.st.nmetrics, 0);
	stop(&fx);
}
END_TEST

static struct resp *
post(struct fixture *fx, const char *path, const char *auth)
{
	char		*req;
	struct resp	*r;

	xasprintf(&req, "POST %s HTTP/1.1\r\nHost: test\r\nConnection: "
	    "close\r\n%s%s%sContent-Length: 0\r\n\r\n", path,
	    auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
	    auth != NULL ? "\r\n" : "");
	r = fetch(fx, req, strlen(req));
	free(req);
	return r;
}

/* POST /trigger/PAIR: the handler's answer; only POST; the rest of the
 * path as sent; off, the listener is read-only as before. */
START_TEST(test_trigger)
{
	struct fixture		 fx;
	struct resp		*r;

	start(&fx, STUB_TRIGGER);

	r = post(&fx, "/trigger/hello", "Bearer s3cret+/x");
	expect(r, 202, TEXT, "code 202\n");
	ck_assert_str_eq(fx.st.pair, "hello");
	ck_assert_str_eq(fx.st.auth, "Bearer s3cret+/x");
	resp_free(r);

	/* Undecoded, so that only a pair's exact name ever matches. */
	r = post(&fx, "/trigger/%2e%2e/x?y=1", NULL);
	expect(r, 202, TEXT, "code 202\n");
	ck_assert_str_eq(fx.st.pair, "%2e%2e/x");
	ck_assert_ptr_null(fx.st.auth);
	resp_free(r);

	fx.st.trigger_code = 401;
	r = post(&fx, "/trigger/hello", "Bearer wrong");
	expect(r, 401, TEXT, "code 401\n");
	header_is(r, "WWW-Authenticate", "Bearer realm=\"algopromoted\"");
	resp_free(r);

	fx.st.trigger_code = 404;
	r = post(&fx, "/trigger/nope", "Bearer s3cret+/x");
	expect(r, 404, TEXT, "code 404\n");
	header_absent(r, "WWW-Authenticate");
	resp_free(r);
	ck_assert_int_eq(fx.st.ntrigger, 4);

	/* Only POST; and nothing else takes POST. */
	r = get(&fx, "GET", "/trigger/hello");
	expect(r, 405, TEXT, "method not allowed\n");
	header_is(r, "Allow", "POST");
	resp_free(r);
	r = post(&fx, "/trigger", "Bearer s3cret+/x");
	expect(r, 405, TEXT, "method not allowed\n");
	header_is(r, "Allow", "GET, HEAD");
	resp_free(r);
	r = post(&fx, "/status", "Bearer s3cret+/x");
	expect(r, 405, TEXT, "method not allowed\n");
	resp_free(r);
	ck_assert_int_eq(fx.st.ntrigger, 4);

	/* Off (no trigger_token_file now): as a read-only listener. */
	fx.st.trigger_on = 0;
	r = post(&fx, "/trigger/hello", "Bearer s3cret+/x");
	expect(r, 405, TEXT, "method not allowed\n");
	header_is(r, "Allow", "GET, HEAD");
	header_absent(r, "WWW-Authenticate");
	resp_free(r);
	r = get(&fx, "GET", "/trigger/hello");
	expect(r, 404, TEXT, "not found\n");
	resp_free(r);
	r = get(&fx, "PUT", "/trigger/hello");
	expect(r, 405, TEXT, "method not allowed\n");
	header_is(r, "Allow", "GET, HEAD");
	resp_free(r);
	ck_assert_int_eq(fx.st.ntrigger, 4);
	ck_assert_int_eq(fx.st.nprobe, 3);
	stop(&fx);
}
END_TEST

START_TEST(test_unhealthy)
{
	struct fixture	 fx;
	struct resp	*r;

	start(&fx, 1);
	fx.st.healthy = 0;
	fx.st.why = "3 routes failing";
	r = get(&fx, "GET", "/healthz");
	expect(r, 503, TEXT, "unhealthy: 3 routes failing\n");
	resp_free(r);

	/* One line, whatever the handler said. */
	fx.st.why = "disk\nfull\r\x1b[31m";
	r = get(&fx, "GET", "/healthz");
	expect(r, 503, TEXT, "unhealthy: disk full  [31m\n");
	resp_free(r);

	fx.st.why = NULL;
	r = get(&fx, "GET", "/healthz");
	expect(r, 503, TEXT, "unhealthy\n");
	resp_free(r);

	r = get(&fx, "HEAD", "/healthz");
	ck_assert_int_eq(r->status, 503);
	ck_assert_uint_eq(r->bodylen, 0);
	resp_free(r);
	ck_assert_int_eq(fx.st.nhealth, 4);

	/* Healthy again. */
	fx.st.healthy = 1;
	r = get(&fx, "GET", "/healthz");
	expect(r, 200, TEXT, "ok\n");
	resp_free(r);
	stop(&fx);
}
END_TEST

START_TEST(test_missing_handlers)
{
	struct fixture	 fx;
	struct resp	*r;

	start(&fx, 1);
	fx.st.json = NULL;			/* status_json fails */
	r = get(&fx, "GET", "/status");
	expect(r, 500, TEXT, "no status\n");
	resp_free(r);
	stop(&fx);

	start(&fx, 0);				/* no handlers at all */
	r = get(&fx, "GET", "/healthz");
	expect(r, 200, TEXT, "ok\n");
	resp_free(r);
	r = get(&fx, "GET", "/metrics");
	expect(r, 200, PROM, "");
	resp_free(r);
	r = get(&fx, "GET", "/status");
	expect(r, 500, TEXT, "no status\n");
	resp_free(r);
	stop(&fx);
}
END_TEST

/* Headers past 8 KiB and bodies past 1 KiB are refused unread. */
START_TEST(test_limits)
{
	struct fixture	 fx;
	struct resp	*r;
	char		*req, *big;

	start(&fx, 1);
	big = xmalloc(HTTPD_MAX_HEADERS + 1);
	memset(big, 'a', HTTPD_MAX_HEADERS);
	big[HTTPD_MAX_HEADERS] = '\0';
	xasprintf(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n"
	    "Connection: close\r\n\r\n", big);
	r = fetch(&fx, req, strlen(req));
	ck_assert_msg(r->status >= 400 && r->status < 500, "%s", r->raw);
	resp_free(r);
	free(req);

	xasprintf(&req, "GET /healthz?%s HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", big);
	r = fetch(&fx, req, strlen(req));
	ck_assert_msg(r->status >= 400 && r->status < 500, "%s", r->raw);
	resp_free(r);
	free(req);

	big[HTTPD_MAX_BODY + 1] = '\0';
	xasprintf(&req, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: "
	    "close\r\nContent-Length: %zu\r\n\r\n%s", strlen(big), big);
	r = fetch(&fx, req, strlen(req));
	ck_assert_int_eq(r->status, 413);
	resp_free(r);
	free(req);
	ck_assert_int_eq(fx.st.nhealth + fx.st.nmetrics, 0);

	/* Just under the limits is fine. */
	memset(big, 'a', HTTPD_MAX_HEADERS);
	big[HTTPD_MAX_HEADERS - 200] = '\0';
	xasprintf(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n"
	    "Connection: close\r\n\r\n", big);
	r = fetch(&fx, req, strlen(req));
	expect(r, 200, TEXT, "ok\n");
	resp_free(r);
	free(req);
	free(big);
	stop(&fx);
}
END_TEST

/* Keep-alive: two requests down one connection, two answers back. */
START_TEST(test_pipelined)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct fixture	 fx;
	struct resp	*r;
	char		*second;

	start(&fx, 1);
	r = fetch(&fx, req, sizeof req - 1);
	ck_assert_int_eq(r->status, 200);
	header_is(r, "Content-Length", "3");
	ck_assert(strncmp(r->body, "ok\nHTTP/1.1 200 ", 16) == 0);
	second = strstr(r->body, "\r\n\r\n");
	ck_assert_ptr_nonnull(second);
	ck_assert_str_eq(second + 4, "{\"ok\":true}\n");
	ck_assert_int_eq(fx.st.nhealth, 1);
	ck_assert_int_eq(fx.st.nstatus, 1);
	resp_free(r);
	stop(&fx);
}
END_TEST

static void
start_bad(const char *listen, const char *want)
{
	struct event_base	*base = event_base_new();
	struct httpd_handlers	 h = { 0 };
	static char		 dummy;
	struct httpd		*hd = (struct httpd *)(void *)&dummy;
	char			*cause = NULL;

	ck_assert_int_eq(httpd_start(&hd, base, listen, &h, &cause), -1);
	ck_assert_ptr_null(hd);
	ck_assert_str_eq(cause, want);
	free(cause);
	event_base_free(base);
}

START_TEST(test_bad_listen)
{
	start_bad("x", "listen \"x\": expected HOST:PORT or [IPv6]:PORT");
	start_bad("", "listen \"\": expected HOST:PORT or [IPv6]:PORT");
	start_bad("127.0.0.1", "listen \"127.0.0.1\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	start_bad(":9464", "listen \":9464\": no host (\"0.0.0.0\" or "
	    "\"[::]\" listens on every address)");
	start_bad("127.0.0.1:", "listen \"127.0.0.1:\": the port must be a "
	    "number from 0 to 65535");
	start_bad("127.0.0.1:65536", "listen \"127.0.0.1:65536\": the port "
	    "must be a number from 0 to 65535");
	start_bad("127.0.0.1:-1", "listen \"127.0.0.1:-1\": the port must be "
	    "a number from 0 to 65535");
	start_bad("127.0.0.1:94x", "listen \"127.0.0.1:94x\": the port must "
	    "be a number from 0 to 65535");
	start_bad("127.0.0.1:000009464", "listen \"127.0.0.1:000009464\": "
	    "the port must be a number from 0 to 65535");
	start_bad("::1:9464", "listen \"::1:9464\": an IPv6 address needs "
	    "brackets: [::1]:9464");
	start_bad("x:y:80", "listen \"x:y:80\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	start_bad("[::1]9464", "listen \"[::1]9464\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	start_bad("[::1", "listen \"[::1\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	start_bad("[]:80", "listen \"[]:80\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	start_bad("[localhost]:80", "listen \"[localhost]:80\": expected "
	    "HOST:PORT or [IPv6]:PORT");
	start_bad("[1::2::3]:80", "listen \"[1::2::3]:80\": not an IPv6 "
	    "address");
	start_bad("host name:80", "listen \"host name:80\": expected "
	    "HOST:PORT or [IPv6]:PORT");
	start_bad("a/b:80", "listen \"a/b:80\": expected HOST:PORT or "
	    "[IPv6]:PORT");
	/* An address this machine does not have. */
	start_bad("192.0.2.1:9464", "listen \"192.0.2.1:9464\": bind "
	    "192.0.2.1:9464: Cannot assign requested address");
}
END_TEST

START_TEST(test_port_in_use)
{
	struct fixture	 fx;
	char		 addr[64], want[256];

	start(&fx, 1);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", httpd_port(fx.httpd));
	snprintf(want, sizeof want, "listen \"%s\": bind %s: Address already "
	    "in use", addr, addr);
	start_bad(addr, want);
	stop(&fx);
}
END_TEST

/* 127.0.0.1 only: the same port on another loopback address is closed. */
START_TEST(test_binds_only_the_address)
{
	struct fixture		 fx;
	struct sockaddr_in	 sin;
	int			 fd;

	start(&fx, 1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(fx.httpd));
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr), 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	close(fd);
	stop(&fx);
}
END_TEST

/* Does this machine have ::1? */
static int
have_ipv6_loopback(void)
{
	struct sockaddr_in6	 sin6;
	int			 fd, ok;

	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
	close(fd);
	return ok;
}

START_TEST(test_other_listen_forms)
{
	struct event_base	*base = event_base_new();
	struct httpd_handlers	 h = { 0 };
	struct httpd		*hd = NULL;
	char			*cause = NULL;

	/* "localhost" resolves to whichever loopback this machine has. */
	ck_assert_msg(httpd_start(&hd, base, "localhost:0", &h, &cause) == 0,
	    "%s", cause);
	ck_assert_int_gt(httpd_port(hd), 0);
	httpd_free(hd);

	if (have_ipv6_loopback()) {
		ck_assert_msg(httpd_start(&hd, base, "[::1]:0", &h,
		    &cause) == 0, "%s", cause);
		ck_assert_int_gt(httpd_port(hd), 0);
		httpd_free(hd);
	} else {
		ck_assert_int_eq(httpd_start(&hd, base, "[::1]:0", &h,
		    &cause), -1);
		ck_assert_ptr_nonnull(strstr(cause, "listen \"[::1]:0\": "));
		free(cause);
	}
	httpd_free(NULL);
	event_base_free(base);
}
END_TEST

/* A chunked body into *out (malloc'd); 0 when it ends with its last
 * chunk, -1 when it is cut or malformed. */
static int
dechunk(const char *p, size_t len, char **out)
{
	struct metrics_buf	 b = { 0 };
	const char		*end = p + len;
	char			*e;
	unsigned long		 n;

	*out = NULL;
	for (;;) {
		n = strtoul(p, &e, 16);
		if (e == p || end - e < 2 || strncmp(e, "\r\n", 2) != 0)
			break;
		p = e + 2;
		if (n == 0) {
			*out = b.data != NULL ? b.data : xstrdup("");
			return 0;
		}
		if ((size_t)(end - p) < n + 2 || strncmp(p + n, "\r\n", 2) != 0)
			break;
		metrics_buf_append(&b, p, n);
		p += n + 2;
	}
	metrics_buf_free(&b);
	return -1;
}

/* A deferred writer's body: sent chunked as it is written, a slice at a
 * time, the same as written at once; HEAD gets its length; done() once. */
START_TEST(test_metrics_in_pieces)
{
	struct fixture	 fx;
	struct resp	*r;
	char		*want, *body, len[32];

	start(&fx, STUB_DEFERRED);
	fx.st.lines = 40000;
	want = deferred_text(fx.st.lines);
	ck_assert_uint_gt(strlen(want), 10 * HTTPD_SLICE);
	r = get(&fx, "GET", "/metrics");
	ck_assert_msg(r->status == 200, "%s", r->raw);
	header_is(r, "Content-Type", PROM);
	header_is(r, "Cache-Control", "no-store");
	header_is(r, "X-Content-Type-Options", "nosniff");
	header_is(r, "Transfer-Encoding", "chunked");
	header_is(r, "Connection", "close");
	header_absent(r, "Content-Length");
	ck_assert_int_eq(dechunk(r->body, r->bodylen, &body), 0);
	ck_assert_str_eq(body, want);
	ck_assert_int_ge(fx.st.npieces, 10);
	ck_assert_int_eq(fx.st.ndone, 1);
	free(body);
	resp_free(r);

	/* HTTP/1.0: no chunks; the body up to the close. */
	r = fetch(&fx, "GET /metrics HTTP/1.0\r\n\r\n",
	    strlen("GET /metrics HTTP/1.0\r\n\r\n"));
	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(r->body, want);
	ck_assert_int_eq(fx.st.ndone, 2);
	resp_free(r);

	r = get(&fx, "HEAD", "/metrics");
	ck_assert_int_eq(r->status, 200);
	snprintf(len, sizeof len, "%zu", strlen(want));
	header_is(r, "Content-Length", len);
	ck_assert_uint_eq(r->bodylen, 0);
	ck_assert_int_eq(fx.st.ndone, 3);
	resp_free(r);
	free(want);
	stop(&fx);
}
END_TEST

static void
loop_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* A client that leaves in the middle: what is left is dropped, done()
 * is called, the endpoint goes on answering. */
START_TEST(test_metrics_client_leaves)
{
	struct fixture		 fx;
	struct sockaddr_in	 sin;
	struct event		*deadline;
	struct timeval		 tv = { 10, 0 };
	struct resp		*r;
	char			 buf[4096];
	const char		*req = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	int			 fd, small = 4096, late = 0;

	start(&fx, STUB_DEFERRED);
	fx.st.lines = 400000;	/* ~8 MB: more than socket buffers hold */
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(fx.httpd));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof small), 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	deadline = evtimer_new(fx.base, loop_deadline, &late);
	evtimer_add(deadline, &tv);
	while (fx.st.npieces < 2 && !late)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_gt(read(fd, buf, sizeof buf), 0);
	ck_assert_int_eq(fx.st.ndone, 0);
	close(fd);
	while (fx.st.ndone == 0 && !late)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_msg(!late, "the stream was not dropped");
	ck_assert_int_eq(fx.st.ndone, 1);
	ck_assert_int_lt(fx.st.line, fx.st.lines);
	event_free(deadline);

	/* And the next client gets a whole answer. */
	fx.st.lines = 10;
	r = get(&fx, "GET", "/metrics");
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(fx.st.ndone, 2);
	resp_free(r);
	stop(&fx);
}
END_TEST

/* Freed with a request half sent: the connection goes too (ASan and
 * LeakSanitizer have the last word). */
START_TEST(test_free_with_open_connection)
{
	struct fixture		 fx;
	struct sockaddr_in	 sin;
	char			 c;
	int			 fd;

	start(&fx, 1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(fx.httpd));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(write(fd, "GET /heal", 9), 9);
	/* Let the server accept (a second event: the connection's), then
	 * read what there is. */
	while (event_base_get_num_events(fx.base, EVENT_BASE_COUNT_ADDED) < 2)
		ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_ONCE), 0);
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	stop(&fx);
	ck_assert_int_eq(read(fd, &c, 1), 0);	/* the server closed it */
	close(fd);
}
END_TEST

static void
readable(evutil_socket_t fd, short what, void *arg)
{
	*(short *)arg = what;
}

/*
 * Out of descriptors, accept(2) fails while the listening socket stays
 * readable: the endpoint stops accepting for a while instead of spinning,
 * then takes the waiting connection once descriptors are back.
 */
START_TEST(test_out_of_descriptors)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n";
	struct fixture		 fx;
	struct sockaddr_in	 sin;
	struct rlimit		 rl, low;
	struct event		*ev;
	struct timeval		 tv = { 5, 0 };
	char			 buf[512];
	uint64_t		 t0;
	double			 took;
	short			 what = 0;
	int			 fd, spare[64], nspare = 0, i;
	ssize_t			 n;

	start(&fx, 1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(fx.httpd));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(write(fd, req, sizeof req - 1), sizeof req - 1);
	ev = event_new(fx.base, fd, EV_READ | EV_TIMEOUT, readable, &what);
	ck_assert_ptr_nonnull(ev);

	/* Use up every descriptor under a lowered limit. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)fd + 32;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nspare < 64 && (spare[nspare] = dup(0)) != -1)
		nspare++;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_lt(nspare, 64);

	/* The listener wakes up, accept(2) fails, accepting pauses. */
	ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_ONCE), 0);
	t0 = monotime_ms();
	for (i = 0; i < nspare; i++)
		close(spare[i]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	/* Served once the pause is over, not before. */
	event_add(ev, &tv);
	while (what == 0)
		ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_ONCE), 0);
	took = (double)(monotime_ms() - t0) / 1000;
	ck_assert_int_eq(what, EV_READ);
	ck_assert_msg(took > HTTPD_ACCEPT_PAUSE_SEC * 0.8 &&
	    took < HTTPD_ACCEPT_PAUSE_SEC + 3, "took %.3fs", took);
	n = read(fd, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	event_free(ev);
	close(fd);
	stop(&fx);
}
END_TEST

Suite *
httpd_suite(void)
{
	Suite	*s = suite_create("httpd");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_http10_and_absolute_form);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_unhealthy);
	tcase_add_test(tc, test_trigger);
	tcase_add_test(tc, test_missing_handlers);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_bad_listen);
	tcase_add_test(tc, test_port_in_use);
	tcase_add_test(tc, test_binds_only_the_address);
	tcase_add_test(tc, test_other_listen_forms);
	tcase_add_test(tc, test_free_with_open_connection);
	tcase_add_test(tc, test_metrics_in_pieces);
	tcase_add_test(tc, test_metrics_client_leaves);
	tcase_add_test(tc, test_out_of_descriptors);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
