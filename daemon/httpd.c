/* httpd.c: the HTTP endpoint: /healthz, /metrics and /status, read only,
 * and POST /trigger/PAIR when a trigger handler is given. libevent's
 * evhttp on the main loop, bound to exactly the address given. */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "url.h"
#include "xmalloc.h"

#define HTTPD_TEXT	"text/plain; charset=utf-8"
#define HTTPD_METRICS	"text/plain; version=0.0.4; charset=utf-8"
#define HTTPD_JSON	"application/json"
#define HTTPD_BACKLOG	128

struct httpd {
	struct evhttp		*http;
	struct evconnlistener	*lev;		/* evhttp's */
	struct event		*ev_resume;
	struct httpd_handlers	 h;
	int			 port;
	struct httpd		*next;
};

/* Every live endpoint (main thread only): the listener's error callback
 * is handed evhttp's pointer, and finds its httpd here. */
static struct httpd	*httpd_all;

/*
 * "HOST:PORT" or "[IPv6]:PORT" into *host (malloc'd) and *port, read by
 * url.c as for the configuration; port 0 asks for any free port.  No
 * host means no address: "0.0.0.0" or "[::]" must be asked for.
 */
static int
httpd_parse_listen(const char *s, char **host, int *port, int *v6,
    char **cause)
{
	switch (url_listen(s, host, port, v6)) {
	case URL_LISTEN_OK:
		return 0;
	case URL_LISTEN_V6_BARE:
		xasprintf(cause, "listen \"%s\": an IPv6 address needs "
		    "brackets: [%s]%s", s, *host, s + strlen(*host));
		break;
	case URL_LISTEN_NO_HOST:
		xasprintf(cause, "listen \"%s\": no host (\"0.0.0.0\" "
		    "or \"[::]\" listens on every address)", s);
		break;
	case URL_LISTEN_PORT:
	case URL_LISTEN_RANGE:
		xasprintf(cause, "listen \"%s\": the port must be a number "
		    "from 0 to 65535", s);
		break;
	case URL_LISTEN_SYNTAX:
	default:
		xasprintf(cause, "listen \"%s\": expected HOST:PORT or "
		    "[IPv6]:PORT", s);
		break;
	}
	free(*host);
	*host = NULL;
	return -1;
}

/* "[::1]:9464" or "127.0.0.1:9464", for messages. */
static void
httpd_addr_name(const struct sockaddr *sa, socklen_t len, char *buf,
    size_t size)
{
	char	 host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    host, serv);
}

/*
 * A listening socket on the first address the host resolves to that this
 * machine has (so "localhost" works with or without IPv6).  IPv6 sockets
 * are IPV6_V6ONLY: "[::]" does not take IPv4 as well.
 */
static int
httpd_socket(const char *addr, const char *host, int port, int v6,
    char **cause)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 serv[8], name[NI_MAXHOST + NI_MAXSERV + 4] = "";
	const char	*what = NULL;
	int		 fd = -1, on = 1, rc, serrno = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = v6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV |
	    (v6 ? AI_NUMERICHOST : 0);
	snprintf(serv, sizeof serv, "%d", port);
	if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0) {
		if (v6 && rc == EAI_NONAME)
			xasprintf(cause, "listen \"%s\": not an IPv6 address",
			    addr);
		else
			xasprintf(cause, "listen \"%s\": %s", addr,
			    rc == EAI_SYSTEM ? strerror(errno) :
			    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		httpd_addr_name(ai->ai_addr, ai->ai_addrlen, name,
		    sizeof name);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			what = "socket";
			serrno = errno;
			if (serrno == EAFNOSUPPORT)
				continue;	/* no IPv6 here: try the next */
			break;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof on) == -1 || (ai->ai_family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof on) == -1)) {
			what = "setsockopt";
			serrno = errno;
			break;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			what = "bind";
			serrno = errno;
			close(fd);
			fd = -1;
			if (serrno == EADDRNOTAVAIL)
				continue;	/* not an address of ours */
			break;
		}
		if (listen(fd, HTTPD_BACKLOG) == -1) {
			what = "listen";
			serrno = errno;
			break;
		}
		freeaddrinfo(res);
		return fd;
	}
	if (fd != -1)
		close(fd);
	if (what == NULL)
		xasprintf(cause, "listen \"%s\": no address", addr);
	else
		xasprintf(cause, "listen \"%s\": %s %s: %s", addr, what, name,
		    strerror(serrno));
	freeaddrinfo(res);
	return -1;
}

/*
 * Any reply: the same safety headers on all, and a Content-Length of what
 * GET gets, HTTP/1.0 and HEAD included.  HEAD's body is dropped here, not
 * left to evhttp, which sends it with some status codes.
 */
static int
httpd_reply(struct evhttp_request *req, int code, const char *type,
    const char *body, size_t len)
{
	struct evkeyvalq	*oh = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	char			 clen[24];

	snprintf(clen, sizeof clen, "%zu", len);
	evhttp_add_header(oh, "Content-Type", type);
	evhttp_add_header(oh, "Content-Length", clen);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		len = 0;
	if ((buf = evbuffer_new()) == NULL ||
	    evbuffer_add(buf, body, len) == -1) {
		log_warnx("http: out of memory for a reply");
		if (buf != NULL)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, NULL);
		return 500;
	}
	evhttp_send_reply(req, code, NULL, buf);
	evbuffer_free(buf);
	return code;
}

static int
httpd_text(struct evhttp_request *req, int code, const char *text)
{
	return httpd_reply(req, code, HTTPD_TEXT, text, strlen(text));
}

static int
httpd_healthz(struct httpd *hd, struct evhttp_request *req)
{
	char	*why = NULL, *text, *p;
	int	 code;

	if (hd->h.health == NULL || hd->h.health(hd->h.arg, &why) == 1) {
		free(why);
		return httpd_text(req, 200, "ok\n");
	}
	if (why == NULL || *why == '\0')
		text = xstrdup("unhealthy\n");
	else {
		/* One line, whatever the handler said. */
		for (p = why; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		xasprintf(&text, "unhealthy: %s\n", why);
	}
	code = httpd_text(req, 503, text);
	free(text);
	free(why);
	return code;
}

/*
 * /metrics written as the client takes it: a piece (about HTTPD_SLICE)
 * whenever the connection's output drains below HTTPD_SLICE, so the loop
 * is never held for the whole body and the body is never in memory at
 * once.  While it is written the connection has no read timeout (evhttp
 * keeps reading, to see a close, with the request's timeout, which would
 * end a long answer however well it went) and a write timeout that, as
 * libevent's are, counts from the last progress: a slow reader gets it
 * all, one that stops is dropped after HTTPD_TIMEOUT_SEC.  The connection
 * closes after the answer.
 */
struct httpd_stream {
	struct evhttp_request		*req;
	struct evhttp_connection	*evcon;
	struct metrics_buf		 b;
};

static void
httpd_stream_free(struct httpd_stream *st)
{
	if (st->b.done != NULL)
		st->b.done(st->b.arg);
	metrics_buf_free(&st->b);
	free(st);
}

/* The client went away, or the endpoint is being freed: evhttp frees the
 * request; what is left to write is dropped. */
static void
httpd_stream_closed(struct evhttp_connection *evcon, void *arg)
{
	httpd_stream_free(arg);
}

static void
httpd_stream_timeouts(struct httpd_stream *st, int streaming)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(
				    st->evcon);
	struct timeval		 tv = { HTTPD_TIMEOUT_SEC, 0 };

	bufferevent_set_timeouts(bev, streaming ? NULL : &tv, &tv);
	bufferevent_setwatermark(bev, EV_WRITE, streaming ? HTTPD_SLICE : 0,
	    0);
}

/* The piece written so far as a buffer for evhttp; b is emptied. */
static struct evbuffer *
httpd_stream_piece(struct metrics_buf *b)
{
	struct evbuffer	*buf;

	if ((buf = evbuffer_new()) == NULL || (b->len > 0 &&
	    evbuffer_add(buf, b->data, b->len) == -1))
		fatalx("http: out of memory for /metrics");
	b->len = 0;
	return buf;
}

static void	httpd_stream_more(struct evhttp_connection *, void *);

/* The next piece, or the end. */
static void
httpd_stream_more(struct evhttp_connection *evcon, void *arg)
{
	struct httpd_stream	*st = arg;
	struct evbuffer		*buf;
	int			 more;

	more = st->b.more(st->b.arg, &st->b);
	buf = httpd_stream_piece(&st->b);
	if (evbuffer_get_length(buf) > 0)
		evhttp_send_reply_chunk_with_cb(st->req, buf,
		    more ? httpd_stream_more : NULL, more ? st : NULL);
	evbuffer_free(buf);
	if (more) {
		httpd_stream_timeouts(st, 1);
		if (evbuffer_get_length(bufferevent_get_output(
		    evhttp_connection_get_bufferevent(evcon))) == 0)
			httpd_stream_more(evcon, st);	/* an empty piece */
		return;
	}
	/* The last piece: the end of the chunks drains fully, then evhttp
	 * closes the connection. */
	evhttp_connection_set_closecb(st->evcon, NULL, NULL);
	bufferevent_setwatermark(evhttp_connection_get_bufferevent(evcon),
	    EV_WRITE, 0, 0);
	evhttp_send_reply_end(st->req);
	httpd_stream_free(st);
}

static int
httpd_metrics(struct httpd *hd, struct evhttp_request *req)
{
	struct metrics_buf	 b = { 0 };
	struct evkeyvalq	*oh = evhttp_request_get_output_headers(req);
	struct httpd_stream	*st;
	struct evbuffer		*buf;
	int			 code;

	b.slice = HTTPD_SLICE;
	if (hd->h.metrics != NULL)
		hd->h.metrics(hd->h.arg, &b);
	if (b.more == NULL || evhttp_request_get_command(req) ==
	    EVHTTP_REQ_HEAD) {
		metrics_buf_finish(&b);
		code = httpd_reply(req, 200, HTTPD_METRICS, b.data != NULL ?
		    b.data : "", b.len);
		metrics_buf_free(&b);
		return code;
	}
	st = xcalloc(1, sizeof *st);
	st->req = req;
	st->evcon = evhttp_request_get_connection(req);
	st->b = b;
	evhttp_add_header(oh, "Content-Type", HTTPD_METRICS);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(oh, "Connection", "close");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(st->evcon, httpd_stream_closed, st);
	buf = httpd_stream_piece(&st->b);
	evhttp_send_reply_chunk_with_cb(req, buf, httpd_stream_more, st);
	evbuffer_free(buf);
	httpd_stream_timeouts(st, 1);
	return 200;
}

static int
httpd_status(struct httpd *hd, struct evhttp_request *req)
{
	char	*json, *text;
	size_t	 len;
	int	 code;

	if (hd->h.status_json == NULL ||
	    (json = hd->h.status_json(hd->h.arg)) == NULL)
		return httpd_text(req, 500, "no status\n");
	len = strlen(json);
	if (len == 0 || json[len - 1] != '\n') {
		xasprintf(&text, "%s\n", json);
		free(json);
		json = text;
		len++;
	}
	code = httpd_reply(req, 200, HTTPD_JSON, json, len);
	free(json);
	return code;
}

#define HTTPD_TRIGGER	"/trigger/"

/* 405, naming the methods the path takes. */
static int
httpd_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	return httpd_text(req, 405, "method not allowed\n");
}

/*
 * POST /trigger/PAIR.  The handler checks the token before it looks at
 * the pair, so that an unauthorized client learns no pair names.
 */
static int
httpd_trigger(struct httpd *hd, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq	*ih = evhttp_request_get_input_headers(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	char			*text = NULL, *line;
	int			 code;

	if (cmd != EVHTTP_REQ_POST) {
		if (hd->h.trigger(hd->h.arg, NULL, NULL, &text) != 0) {
			free(text);
			return httpd_not_allowed(req, "POST");
		}
		/* Off: a path like any other unknown one. */
		if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
			return httpd_text(req, 404, "not found\n");
		return httpd_not_allowed(req, "GET, HEAD");
	}
	code = hd->h.trigger(hd->h.arg, path + strlen(HTTPD_TRIGGER),
	    evhttp_find_header(ih, "Authorization"), &text);
	if (code == 0) {
		/* Off: POST is refused everywhere, as on a read-only
		 * listener. */
		free(text);
		return httpd_not_allowed(req, "GET, HEAD");
	}
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"algopromoted\"");
	xasprintf(&line, "%s\n", text != NULL ? text : "");
	code = httpd_text(req, code, line);
	free(line);
	free(text);
	return code;
}

/*
 * Exact paths only: no trailing '/', no decoding, so nothing can walk
 * anywhere; /trigger/ is the one prefix, and its rest is only ever
 * compared with pair names.  The query string is ignored.  Every method
 * evhttp knows is let through to here so that the answer is a 405 with
 * Allow.  The log names the route, never the client's path.
 */
static void
httpd_request(struct evhttp_request *req, void *arg)
{
	struct httpd		*hd = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path, *route = "other";
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	int			 code;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL)
		path = "";
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
	    strcmp(path, "/status") == 0)
		route = path;
	else if (hd->h.trigger != NULL &&
	    strncmp(path, HTTPD_TRIGGER, strlen(HTTPD_TRIGGER)) == 0)
		route = "/trigger";
	if (strcmp(route, "/trigger") == 0)
		code = httpd_trigger(hd, req, path);
	else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
		code = httpd_not_allowed(req, "GET, HEAD");
	else if (strcmp(route, "/healthz") == 0)
		code = httpd_healthz(hd, req);
	else if (strcmp(route, "/metrics") == 0)
		code = httpd_metrics(hd, req);
	else if (strcmp(route, "/status") == 0)
		code = httpd_status(hd, req);
	else
		code = httpd_text(req, 404, "not found\n");
	log_debug("http: %s %s: %d", cmd == EVHTTP_REQ_GET ? "GET" :
	    cmd == EVHTTP_REQ_HEAD ? "HEAD" : cmd == EVHTTP_REQ_POST ? "POST" :
	    "other method", route, code);
}

/*
 * accept(2) failed, most likely for want of descriptors (EMFILE, ENFILE,
 * ENOBUFS).  The listening socket stays readable, so rather than spin the
 * loop on it, stop accepting for a while, as memcached does.
 */
static void
httpd_accept_error(struct evconnlistener *lev, void *arg)
{
	struct httpd	*hd;
	struct timeval	 tv = { HTTPD_ACCEPT_PAUSE_SEC, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	for (hd = httpd_all; hd != NULL; hd = hd->next)
		if (hd->lev == lev)
			break;
	if (hd == NULL)
		return;
	log_warnx("http: accept: %s; not accepting for %ds", strerror(err),
	    HTTPD_ACCEPT_PAUSE_SEC);
	evconnlistener_disable(lev);
	evtimer_add(hd->ev_resume, &tv);
}

static void
httpd_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httpd	*hd = arg;

	evconnlistener_enable(hd->lev);
}

int
httpd_start(struct httpd **out, struct event_base *base, const char *addr,
    const struct httpd_handlers *h, char **cause)
{
	struct httpd		*hd;
	struct evconnlistener	*lev;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;
	struct timeval		 tv = { HTTPD_TIMEOUT_SEC, 0 };
	char			*host = NULL;
	int			 fd, port, v6;

	*out = NULL;
	if (httpd_parse_listen(addr, &host, &port, &v6, cause) == -1)
		return -1;
	fd = httpd_socket(addr, host, port, v6, cause);
	free(host);
	if (fd == -1)
		return -1;
	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		xasprintf(cause, "listen \"%s\": getsockname: %s", addr,
		    strerror(errno));
		close(fd);
		return -1;
	}

	hd = xcalloc(1, sizeof *hd);
	hd->h = *h;
	hd->port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	if ((hd->http = evhttp_new(base)) == NULL ||
	    (hd->ev_resume = evtimer_new(base, httpd_resume, hd)) == NULL) {
		xasprintf(cause, "listen \"%s\": out of memory", addr);
		close(fd);
		httpd_free(hd);
		return -1;
	}
	evhttp_set_max_headers_size(hd->http, HTTPD_MAX_HEADERS);
	evhttp_set_max_body_size(hd->http, HTTPD_MAX_BODY);
	evhttp_set_timeout_tv(hd->http, &tv);
	evhttp_set_allowed_methods(hd->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(hd->http, httpd_request, hd);

	/* The listener owns fd from here, evhttp the listener. */
	lev = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (lev == NULL)
		close(fd);
	else if (evhttp_bind_listener(hd->http, lev) == NULL) {
		evconnlistener_free(lev);
		lev = NULL;
	}
	if (lev == NULL) {
		xasprintf(cause, "listen \"%s\": cannot add the listener",
		    addr);
		httpd_free(hd);
		return -1;
	}
	hd->lev = lev;
	evconnlistener_set_error_cb(lev, httpd_accept_error);
	hd->next = httpd_all;
	httpd_all = hd;
	*out = hd;
	return 0;
}

int
httpd_port(const struct httpd *hd)
{
	return hd->port;
}

/* Closes the listener and every connection, answered or not. */
void
httpd_free(struct httpd *hd)
{
	struct httpd	**p;

	if (hd == NULL)
		return;
	for (p = &httpd_all; *p != NULL; p = &(*p)->next) {
		if (*p == hd) {
			*p = hd->next;
			break;
		}
	}
	if (hd->ev_resume != NULL)
		event_free(hd->ev_resume);
	if (hd->http != NULL)
		evhttp_free(hd->http);
	free(hd);
}
