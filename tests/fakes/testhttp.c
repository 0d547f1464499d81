/* testhttp.c: a scripted HTTP server for the suites of HTTP clients:
 * evhttp on 127.0.0.1 in its own thread, answers from a table. */
#include <sys/socket.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "monotime.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

/* An answer waiting for its timer. */
struct testhttp_delayed {
	struct event			*ev;
	struct evhttp_request		*req;	/* NULL once answered or gone */
	struct evhttp_connection	*evcon;
	const struct testhttp_route	*route;
};

static struct {
	struct event_base		*base;
	struct evhttp			*http;
	struct testutil_loop		*loop;
	int				 port;
	const struct testhttp_route	*routes;
	size_t				 nroutes;
	int				*used;		/* server thread */
	const char			*ctype;		/* the default */
	pthread_mutex_t			 lock;		/* seen, nseen */
	struct testhttp_seen		**seen;
	size_t				 nseen;
	struct testhttp_delayed		**delayed;	/* server thread */
	size_t				 ndelayed;
	atomic_int			 cancel;
} srv;

/* For the suites whose libcurl clients talk to servers here, as an
 * unchecked fixture: no proxy, a loop in another thread, curl set up. */
void
testhttp_global_setup(void)
{
	testutil_noproxy();
	evthread_use_pthreads();
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
testhttp_global_teardown(void)
{
	curl_global_cleanup();
}

static const char *
testhttp_method(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

static char *
testhttp_header(struct evhttp_request *req, const char *name)
{
	const char	*v;

	v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
	return v != NULL ? xstrdup(v) : NULL;
}

static void
testhttp_reply(struct evhttp_request *req, const struct testhttp_route *r)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	const char		*body = r->body;
	char			*hdrs, *line, *next, *colon, *big = NULL;
	size_t			 len, off, n;
	int			 ctype = r->ctype != NULL;

	if (r->ctype != NULL)
		evhttp_add_header(out, "Content-Type", r->ctype);
	if (r->flags & TESTHTTP_CLOSE)
		evhttp_add_header(out, "Connection", "close");
	if (r->headers != NULL) {
		hdrs = xstrdup(r->headers);
		for (line = hdrs; *line != '\0'; line = next) {
			next = line + strcspn(line, "\n");
			if (*next == '\n')
				*next++ = '\0';
			if ((colon = strchr(line, ':')) == NULL)
				continue;
			*colon++ = '\0';
			while (*colon == ' ')
				colon++;
			evhttp_add_header(out, line, colon);
			if (strcasecmp(line, "Content-Type") == 0)
				ctype = 1;
		}
		free(hdrs);
	}
	if (!ctype && srv.ctype != NULL)
		evhttp_add_header(out, "Content-Type", srv.ctype);
	if (r->big > 0) {
		big = xmalloc(r->big);
		memset(big, 'x', r->big);
		body = big;
		len = r->big;
	} else
		len = body == NULL ? 0 : r->len != 0 ? r->len : strlen(body);
	buf = evbuffer_new();
	if (r->flags & TESTHTTP_CHUNKED) {
		evhttp_send_reply_start(req, r->status, "Scripted");
		/* Small pieces first: lengths split across chunks. */
		for (off = 0, n = 3; off < len; off += n, n *= 4) {
			if (n > len - off)
				n = len - off;
			evbuffer_add(buf, body + off, n);
			evhttp_send_reply_chunk(req, buf);
		}
		evhttp_send_reply_end(req);
	} else {
		evbuffer_add(buf, body, len);
		evhttp_send_reply(req, r->status,
		    r->status == 200 ? "OK" : "Scripted", buf);
	}
	evbuffer_free(buf);
	free(big);
}

static void
testhttp_delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct testhttp_delayed	*d = arg;

	if (d->req == NULL)
		return;
	/* A request whose client left is ours to free. */
	if (evhttp_request_get_connection(d->req) == NULL)
		evhttp_request_free(d->req);
	else
		testhttp_reply(d->req, d->route);
	d->req = NULL;
}

/* The connection goes: requests still on it go with it; one that libevent
 * detached (the client closed first) stays ours. */
static void
testhttp_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct testhttp_delayed	*d;
	size_t			 i;

	for (i = 0; i < srv.ndelayed; i++) {
		d = srv.delayed[i];
		if (d->req != NULL && d->evcon == evcon &&
		    evhttp_request_get_connection(d->req) == evcon)
			d->req = NULL;
	}
}

static int
testhttp_match(const struct testhttp_route *r, const char *method,
    const char *uri)
{
	size_t	 n = strcspn(uri, "?");

	if (r->method != NULL && strcmp(r->method, method) != 0)
		return 0;
	if (r->uri != NULL)
		return strcmp(r->uri, uri) == 0;
	return r->path != NULL && strlen(r->path) == n &&
	    strncmp(r->path, uri, n) == 0;
}

static void
testhttp_request(struct evhttp_request *req, void *arg)
{
	static const struct testhttp_route none = { .status = 599,
	    .ctype = "application/json",
	    .body = "{\"error\":\"no route in the test script\"}" };
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const char		*method, *uri = evhttp_request_get_uri(req);
	const struct testhttp_route *r = NULL;
	struct testhttp_seen	*s;
	struct testhttp_delayed	*d;
	struct timeval		 tv;
	char			*addr;
	ev_uint16_t		 port = 0;
	size_t			 i, len;

	method = testhttp_method(evhttp_request_get_command(req));
	s = xcalloc(1, sizeof *s);
	s->ms = monotime_ms();
	s->method = xstrdup(method);
	s->uri = xstrdup(uri);
	s->auth = testhttp_header(req, "Authorization");
	s->agent = testhttp_header(req, "User-Agent");
	s->accept = testhttp_header(req, "Accept");
	s->ctype = testhttp_header(req, "Content-Type");
	len = evbuffer_get_length(in);
	s->body = xmalloc(len + 1);
	evbuffer_copyout(in, s->body, len);
	s->body[len] = '\0';
	evhttp_connection_get_peer(evcon, &addr, &port);
	s->port = port;
	pthread_mutex_lock(&srv.lock);
	srv.seen = xreallocarray(srv.seen, srv.nseen + 1, sizeof *srv.seen);
	srv.seen[srv.nseen++] = s;
	pthread_mutex_unlock(&srv.lock);

	for (i = 0; i < srv.nroutes && r == NULL; i++)
		if (testhttp_match(&srv.routes[i], method, uri) &&
		    (srv.routes[i].times == 0 ||
		    srv.used[i] < srv.routes[i].times)) {
			r = &srv.routes[i];
			srv.used[i]++;
		}
	if (r == NULL) {
		testhttp_reply(req, &none);
		return;
	}
	if (r->flags & TESTHTTP_CANCEL)
		atomic_store(&srv.cancel, 1);
	if (r->delay_ms == 0) {
		testhttp_reply(req, r);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->req = req;
	d->evcon = evcon;
	d->route = r;
	d->ev = evtimer_new(srv.base, testhttp_delayed_cb, d);
	srv.delayed = xreallocarray(srv.delayed, srv.ndelayed + 1,
	    sizeof *srv.delayed);
	srv.delayed[srv.ndelayed++] = d;
	evhttp_connection_set_closecb(evcon, testhttp_close_cb, NULL);
	tv.tv_sec = r->delay_ms / 1000;
	tv.tv_usec = (r->delay_ms % 1000) * 1000;
	evtimer_add(d->ev, &tv);
}

/* Serves routes on a free port of 127.0.0.1 until testhttp_stop; answers
 * whose route names no Content-Type get ctype (NULL: none). */
void
testhttp_start(const struct testhttp_route *routes, size_t n,
    const char *ctype)
{
	struct evhttp_bound_socket	*bound;
	struct sockaddr_in		 sin;
	socklen_t			 slen = sizeof sin;

	memset(&srv, 0, sizeof srv);
	pthread_mutex_init(&srv.lock, NULL);
	srv.routes = routes;
	srv.nroutes = n;
	srv.used = xcalloc(n + 1, sizeof *srv.used);
	srv.ctype = ctype;
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	ck_assert_ptr_nonnull(srv.http = evhttp_new(srv.base));
	evhttp_set_default_content_type(srv.http, NULL);
	evhttp_set_gencb(srv.http, testhttp_request, NULL);
	bound = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &slen), 0);
	srv.port = ntohs(sin.sin_port);
	srv.loop = testutil_loop_start(srv.base);
}

void
testhttp_stop(void)
{
	struct testhttp_delayed	*d;
	struct testhttp_seen	*s;
	size_t			 i;

	testutil_loop_stop(srv.loop);
	for (i = 0; i < srv.ndelayed; i++) {
		d = srv.delayed[i];
		if (d->req != NULL &&
		    evhttp_request_get_connection(d->req) == NULL) {
			evhttp_request_free(d->req);
			d->req = NULL;
		}
	}
	evhttp_free(srv.http);	/* frees the requests still on connections */
	for (i = 0; i < srv.ndelayed; i++) {
		event_free(srv.delayed[i]->ev);
		free(srv.delayed[i]);
	}
	free(srv.delayed);
	event_base_free(srv.base);
	for (i = 0; i < srv.nseen; i++) {
		s = srv.seen[i];
		free(s->method);
		free(s->uri);
		free(s->auth);
		free(s->agent);
		free(s->accept);
		free(s->ctype);
		free(s->body);
		free(s);
	}
	free(srv.seen);
	free(srv.used);
	pthread_mutex_destroy(&srv.lock);
}

int
testhttp_port(void)
{
	return srv.port;
}

/* "http://127.0.0.1:port" and path. */
char *
testhttp_url(const char *path)
{
	return xprintf("http://127.0.0.1:%d%s", srv.port, path);
}

size_t
testhttp_nseen(void)
{
	size_t	 n;

	pthread_mutex_lock(&srv.lock);
	n = srv.nseen;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

/* What the server saw of request i; it stays until testhttp_stop. */
const struct testhttp_seen *
testhttp_seen(size_t i)
{
	const struct testhttp_seen	*s;

	pthread_mutex_lock(&srv.lock);
	ck_assert_uint_lt(i, srv.nseen);
	s = srv.seen[i];
	pthread_mutex_unlock(&srv.lock);
	return s;
}

/* The flag a TESTHTTP_CANCEL route sets, for a client to watch. */
const atomic_int *
testhttp_cancelled(void)
{
	return &srv.cancel;
}
