/* check_poller.c: the curl-multi poller (poller.c) on a libevent loop in
 * the test thread, against testhttp's scripted server in its own thread. */
#include <sys/socket.h>
#include <netinet/in.h>

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <git2.h>

#include "monotime.h"
#include "poller.h"
#include "redact.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

#ifndef AP_VERSION
#define AP_VERSION	"unknown"
#endif

/* A key shaped like the real ones: 28 characters with '+' and '/'. */
#define USER		"poller"
#define KEY		"simAB+cd/EFghIJklMNopQRstUVw"
/* base64("poller:" KEY), worked out apart, not by the code under test */
#define BASIC64		"cG9sbGVyOnNpbUFCK2NkL0VGZ2hJSmtsTU5vcFFSc3RVVnc="
#define BASIC		"Basic " BASIC64
#define OID_A		"a01486c5d663aa313c4a6e37079130ee0a8dc11e"
#define OID_B		"b6d255302a0fa040588ab253b669c5e4bd070ff6"
#define ADV_TYPE	"application/x-git-upload-pack-advertisement"
#define HDR		"001e# service=git-upload-pack\n0000"
#define REFS_PATH(repo)	"/git/o/" repo ".git/info/refs"
#define MAIN		"refs/heads/main"

static struct event_base	*base;
static struct poller		*poller;

/* An error text as the poller words it for a request to this server. */
static char *
srv_error(const char *path_and_text)
{
	return xprintf("GET http://127.0.0.1:%d%s", testhttp_port(),
	    path_and_text);
}

/* ---------------------------------------------------------------------
 * The client side: the loop, the results.
 */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	/* Only wakes the loop, so that the condition is looked at. */
}

/* Runs the loop until cond(arg) holds or timeout_ms pass. */
static int
run_until(int (*cond)(void *), void *arg, uint64_t timeout_ms)
{
	struct event	*tick;
	struct timeval	 tv = { 0, 5000 };
	uint64_t	 deadline = monotime_ms() + timeout_ms;

	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	while (!cond(arg) && monotime_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return cond(arg);
}

/* Every result a poll handed back. */
struct coll {
	size_t			 n;
	size_t			 want;
	struct poller_result	 r[256];
};

static void
coll_cb(const struct poller_result *r, void *arg)
{
	struct coll	*c = arg;

	ck_assert_uint_lt(c->n, nitems(c->r));
	c->r[c->n++] = *r;
}

static int
coll_done(void *arg)
{
	struct coll	*c = arg;

	return c->n >= c->want;
}

static int
srv_has(void *arg)
{
	return testhttp_nseen() >= *(size_t *)arg;
}

/* The one result of request id. */
static const struct poller_result *
coll_find(const struct coll *c, uint64_t id)
{
	const struct poller_result	*found = NULL;
	size_t				 i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].id == id) {
			ck_assert_msg(found == NULL, "two callbacks for %llu",
			    (unsigned long long)id);
			found = &c->r[i];
		}
	ck_assert_msg(found != NULL, "no callback for %llu",
	    (unsigned long long)id);
	return found;
}

static uint64_t
start_refs(const char *repo, const char *ref, uint64_t timeout_ms,
    struct coll *c)
{
	struct poller_req	 req;
	char			*url;
	uint64_t		 id;

	url = xprintf("http://127.0.0.1:%d/git/o/%s.git", testhttp_port(),
	    repo);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.ref = ref;
	req.user = USER;
	req.key = KEY;
	req.timeout_ms = timeout_ms;
	id = poller_start(poller, POLLER_REFS, &req, coll_cb, c);
	ck_assert_uint_gt(id, 0);
	free(url);
	return id;
}

static uint64_t
start_version(const char *url, const char *owner, const char *algo,
    struct coll *c)
{
	struct poller_req	 req;

	memset(&req, 0, sizeof req);
	req.url = url;
	req.owner = owner;
	req.algo = algo;
	req.key = KEY;
	req.timeout_ms = 5000;
	return poller_start(poller, POLLER_VERSION, &req, coll_cb, c);
}

/* Starts one REFS poll of repo and waits for its result. */
static const struct poller_result *
poll_one(const char *repo, const char *ref, struct coll *c)
{
	uint64_t	 id;

	id = start_refs(repo, ref, 5000, c);
	c->want = c->n + 1;
	ck_assert_msg(run_until(coll_done, c, 10000), "no callback");
	return coll_find(c, id);
}

/* No secret, in any form, in a text. */
static void
assert_clean(const char *s)
{
	ck_assert_msg(strstr(s, KEY) == NULL, "key in \"%s\"", s);
	ck_assert_msg(strstr(s, "simAB") == NULL, "key part in \"%s\"", s);
	ck_assert_msg(strstr(s, BASIC64) == NULL, "basic in \"%s\"", s);
	ck_assert_ptr_null(strchr(s, '\n'));
}

static void
assert_failed(const struct poller_result *r, int transient, long status,
    const char *error)
{
	ck_assert_int_eq(r->ok, 0);
	ck_assert_int_eq(r->found, 0);
	ck_assert_int_eq(r->transient, transient);
	ck_assert_int_eq(r->status, status);
	ck_assert_msg(strcmp(r->error, error) == 0, "error \"%s\", not \"%s\"",
	    r->error, error);
	assert_clean(r->error);
}

static void
setup(void)
{
	char	*cause = NULL;

	/* A server writing to a client that left must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_msg(poller_new(&poller, base, &cause) == 0, "%s", cause);
}

static void
teardown(void)
{
	poller_free(poller);
	poller = NULL;
	event_base_free(base);
	base = NULL;
}

/* ---------------------------------------------------------------------
 * REFS.
 */

START_TEST(test_refs_found_and_absent)
{
	struct testhttp_route	 r[] = {
		{ .path = REFS_PATH("a"), .status = 200, .ctype = ADV_TYPE },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	uint64_t		 id1, id2;
	size_t			 len;
	char			*adv, *url;
	const struct testhttp_seen *s;

	/* What git-http-backend really answers. */
	adv = testutil_data("pktline", "one-branch.adv", &len);
	r[0].body = adv;
	r[0].len = len;
	testhttp_start(r, nitems(r), NULL);
	id1 = start_refs("a", MAIN, 5000, &c);
	id2 = start_refs("a", "refs/heads/master", 5000, &c);
	ck_assert_uint_ne(id1, id2);
	/* Never from inside poller_start. */
	ck_assert_uint_eq(c.n, 0);
	ck_assert_uint_eq(poller_inflight(poller), 2);
	c.want = 2;
	ck_assert(run_until(coll_done, &c, 10000));
	ck_assert_uint_eq(poller_inflight(poller), 0);

	res = coll_find(&c, id1);
	ck_assert_int_eq(res->kind, POLLER_REFS);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->found, 1);
	ck_assert_str_eq(res->head, OID_A);
	ck_assert_int_eq(res->status, 200);
	ck_assert_int_eq(res->retry_after_ms, -1);
	ck_assert_str_eq(res->error, "");
	res = coll_find(&c, id2);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->found, 0);
	ck_assert_str_eq(res->head, "");

	/* One request per poll, each with the credentials up front. */
	ck_assert_uint_eq(testhttp_nseen(), 2);
	s = testhttp_seen(0);
	ck_assert_str_eq(s->uri,
	    "/git/o/a.git/info/refs?service=git-upload-pack");
	ck_assert_str_eq(s->auth, BASIC);
	ck_assert_str_eq(s->agent, "algopromoted/" AP_VERSION);
	ck_assert_str_eq(s->accept, ADV_TYPE);
	s = testhttp_seen(1);
	ck_assert_str_eq(s->auth, BASIC);

	/* The key (and the pair) are now secrets everywhere. */
	url = redact("k=" KEY " b=" BASIC);
	assert_clean(url);
	free(url);
	testhttp_stop();
	free(adv);
}
END_TEST

START_TEST(test_refs_empty_repo)
{
	struct testhttp_route	 r[] = {
		{ .path = REFS_PATH("e"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000" },
		/* The spec's other empty form, and chunked. */
		{ .path = REFS_PATH("e2"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "004f" "0000000000000000000000000000000000000000"
		  " capabilities^{}\0ofs-delta agent=x\n" "0000",
		  .len = 34 + 79 + 4,
		  .flags = TESTHTTP_CHUNKED },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;

	testhttp_start(r, nitems(r), NULL);
	res = poll_one("e", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->found, 0);
	res = poll_one("e2", MAIN, &c);
	ck_assert_msg(res->ok == 1, "%s", res->error);
	ck_assert_int_eq(res->found, 0);
	testhttp_stop();
}
END_TEST

START_TEST(test_refs_content_type)
{
	static const char html[] = "<html><title>Sign in</title></html>";
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("html"), .status = 200,
		  .ctype = "text/html; charset=utf-8", .body = html },
		{ .path = REFS_PATH("none"), .status = 200,
		  .body = HDR "0000" },
		{ .path = REFS_PATH("dumb"), .status = 200,
		  .ctype = "text/plain", .body = OID_A "\trefs/heads/main\n" },
		{ .path = REFS_PATH("near"), .status = 200,
		  .ctype = ADV_TYPE "x", .body = HDR "0000" },
		{ .path = REFS_PATH("params"), .status = 200,
		  .ctype = "Application/X-Git-Upload-Pack-Advertisement; x=y",
		  .body = HDR "003d" OID_A " refs/heads/main\n0000" },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*want;

	testhttp_start(r, nitems(r), NULL);
	res = poll_one("html", MAIN, &c);
	want = srv_error(REFS_PATH("html") ": not a git smart-HTTP answer "
	    "(content type text/html; charset=utf-8)");
	assert_failed(res, 0, 200, want);
	free(want);
	res = poll_one("none", MAIN, &c);
	want = srv_error(REFS_PATH("none") ": not a git smart-HTTP answer "
	    "(content type none)");
	assert_failed(res, 0, 200, want);
	free(want);
	res = poll_one("dumb", MAIN, &c);
	ck_assert_int_eq(res->ok, 0);
	ck_assert_ptr_nonnull(strstr(res->error, "(content type text/plain)"));
	res = poll_one("near", MAIN, &c);
	ck_assert_int_eq(res->ok, 0);
	ck_assert_ptr_nonnull(strstr(res->error, "not a git smart-HTTP"));

	/* Media types are case-insensitive; parameters are allowed. */
	res = poll_one("params", MAIN, &c);
	ck_assert_msg(res->ok == 1, "%s", res->error);
	ck_assert_str_eq(res->head, OID_A);
	testhttp_stop();
}
END_TEST

START_TEST(test_refs_permanent_statuses)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("401"), .status = 401,
		  .ctype = "text/plain",
		  .headers = "WWW-Authenticate: Basic realm=\"git\"\n",
		  /* A server quoting the key back. */
		  .body = "bad credentials " USER ":" KEY "\n" },
		{ .path = REFS_PATH("403"), .status = 403 },
		{ .path = REFS_PATH("404"), .status = 404,
		  .ctype = "application/json",
		  .body = "{\"error\":{\"message\":\"No such repository\"}}" },
		{ .path = REFS_PATH("302"), .status = 302,
		  .headers =
		  "Location: http://u:pw@elsewhere.example/login\n" },
		{ .path = REFS_PATH("410"), .status = 410 },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*want;

	testhttp_start(r, nitems(r), NULL);
	res = poll_one("401", MAIN, &c);
	want = srv_error(REFS_PATH("401") ": 401 Unauthorized "
	    "(bad credentials poller:***)");
	assert_failed(res, 0, 401, want);
	ck_assert_int_eq(res->retry_after_ms, -1);
	free(want);
	/* No second request with other credentials. */
	ck_assert_uint_eq(testhttp_nseen(), 1);

	res = poll_one("403", MAIN, &c);
	want = srv_error(REFS_PATH("403") ": 403 Forbidden");
	assert_failed(res, 0, 403, want);
	free(want);
	res = poll_one("404", MAIN, &c);
	ck_assert_int_eq(res->transient, 0);
	ck_assert_int_eq(res->status, 404);
	ck_assert_ptr_nonnull(strstr(res->error,
	    ": 404 Not Found (No such repository)"));
	/* Redirects are not followed: the key stays here. */
	res = poll_one("302", MAIN, &c);
	ck_assert_int_eq(res->ok, 0);
	ck_assert_int_eq(res->transient, 0);
	ck_assert_int_eq(res->status, 302);
	want = srv_error(REFS_PATH("302") ": 302 redirect not followed (to "
	    "http://***@elsewhere.example/login)");
	assert_failed(res, 0, 302, want);
	free(want);
	res = poll_one("410", MAIN, &c);
	ck_assert_int_eq(res->transient, 0);
	ck_assert_uint_eq(testhttp_nseen(), 5);
	testhttp_stop();
}
END_TEST

START_TEST(test_refs_transient_statuses)
{
	char			 date[64];
	time_t			 when = time(NULL) + 120;
	struct tm		 tm;
	char			*hdr;
	struct testhttp_route	 r[] = {
		{ .path = REFS_PATH("500"), .status = 500,
		  .ctype = "text/plain",
		  .body = "boom\nand more" },
		{ .path = REFS_PATH("502"), .status = 502 },
		{ .path = REFS_PATH("429"), .status = 429,
		  .headers = "Retry-After:  7 \n" },
		{ .path = REFS_PATH("503"), .status = 503 },
		{ .path = REFS_PATH("408"), .status = 408 },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*want;

	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT",
	    gmtime_r(&when, &tm));
	hdr = xprintf("Retry-After: %s\n", date);
	r[3].headers = hdr;
	testhttp_start(r, nitems(r), NULL);

	res = poll_one("500", MAIN, &c);
	want = srv_error(REFS_PATH("500") ": 500 Internal Server Error "
	    "(boom)");
	assert_failed(res, 1, 500, want);
	free(want);
	res = poll_one("502", MAIN, &c);
	ck_assert_int_eq(res->transient, 1);
	ck_assert_int_eq(res->retry_after_ms, -1);

	/* 429 with seconds, 503 with an HTTP-date. */
	res = poll_one("429", MAIN, &c);
	ck_assert_int_eq(res->ok, 0);
	ck_assert_int_eq(res->transient, 1);
	ck_assert_int_eq(res->status, 429);
	ck_assert_int_eq(res->retry_after_ms, 7000);
	ck_assert_ptr_nonnull(strstr(res->error, ": 429 Too Many Requests"));
	res = poll_one("503", MAIN, &c);
	ck_assert_int_eq(res->transient, 1);
	ck_assert_msg(res->retry_after_ms >= 110000 &&
	    res->retry_after_ms <= 120000, "%ld", res->retry_after_ms);
	res = poll_one("408", MAIN, &c);
	ck_assert_int_eq(res->transient, 1);
	testhttp_stop();
	free(hdr);
}
END_TEST

START_TEST(test_refs_connect_refused)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;
	struct poller_req	 req;
	struct coll		 c = { .want = 1 };
	char			*url;
	int			 fd;

	/* A port that was just free: nobody listens there. */
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	url = xprintf("http://" USER ":%s@127.0.0.1:%d/git/o/a.git", "pw9Zx",
	    ntohs(sin.sin_port));
	memset(&req, 0, sizeof req);
	req.url = url;
	req.ref = MAIN;
	req.user = USER;
	req.key = KEY;
	req.timeout_ms = 5000;
	poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	ck_assert(run_until(coll_done, &c, 10000));
	ck_assert_int_eq(c.r[0].ok, 0);
	ck_assert_int_eq(c.r[0].transient, 1);
	ck_assert_int_eq(c.r[0].status, 0);
	free(url);
	url = xprintf("GET http://127.0.0.1:%d/git/o/a.git/info/refs: ",
	    ntohs(sin.sin_port));
	ck_assert_msg(strncmp(c.r[0].error, url, strlen(url)) == 0, "%s",
	    c.r[0].error);
	/* The URL's own userinfo is never shown. */
	ck_assert_msg(strstr(c.r[0].error, "pw9Zx") == NULL, "%s",
	    c.r[0].error);
	assert_clean(c.r[0].error);
	free(url);
}
END_TEST

START_TEST(test_refs_timeout)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("slow"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000", .delay_ms = 5000 },
	};
	struct coll		 c = { .want = 1 };
	uint64_t		 t0;
	size_t			 one = 1;

	testhttp_start(r, nitems(r), NULL);
	t0 = monotime_ms();
	start_refs("slow", MAIN, 300, &c);
	ck_assert(run_until(coll_done, &c, 3000));
	ck_assert_msg(monotime_ms() - t0 < 2000, "%llu ms",
	    (unsigned long long)(monotime_ms() - t0));
	ck_assert_int_eq(c.r[0].ok, 0);
	ck_assert_int_eq(c.r[0].transient, 1);
	ck_assert_msg(strstr(c.r[0].error, "timed out") != NULL, "%s",
	    c.r[0].error);
	ck_assert_msg(c.r[0].elapsed_ms >= 290 && c.r[0].elapsed_ms < 2000,
	    "%llu", (unsigned long long)c.r[0].elapsed_ms);
	ck_assert(srv_has(&one));
	testhttp_stop();
}
END_TEST

/* A valid advertisement of exactly size bytes, with refs/heads/b000000
 * first. */
static char *
big_adv(size_t size)
{
	char	*p, *line;
	size_t	 n = 0, i = 0, rest, name;

	p = xmalloc(size + 1);
	memcpy(p, HDR, 34);
	n = 34;
	while (size - n - 4 > 200) {
		line = xprintf("%04x%s refs/heads/b%06zu\n", 4 + 41 + 18 + 1,
		    OID_A, i++);
		memcpy(p + n, line, strlen(line));
		n += strlen(line);
		free(line);
	}
	rest = size - n - 4;		/* the last pkt, length included */
	name = rest - 4 - 41 - 1;
	n += (size_t)snprintf(p + n, 46, "%04zx%s ", rest, OID_A);
	memset(p + n, 'z', name);
	memcpy(p + n, "refs/heads/", 11);
	n += name;
	p[n++] = '\n';
	memcpy(p + n, "0000", 4);
	n += 4;
	ck_assert_uint_eq(n, size);
	return p;
}

START_TEST(test_refs_too_large)
{
	struct testhttp_route	 r[] = {
		{ .path = REFS_PATH("fit"), .status = 200, .ctype = ADV_TYPE },
		{ .path = REFS_PATH("big"), .status = 200, .ctype = ADV_TYPE },
		{ .path = REFS_PATH("bigc"), .status = 200, .ctype = ADV_TYPE,
		  .flags = TESTHTTP_CHUNKED },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*fit, *big, *want;

	fit = big_adv(POLLER_MAX_RESPONSE);
	big = big_adv(POLLER_MAX_RESPONSE + 1);
	r[0].body = fit;
	r[0].len = POLLER_MAX_RESPONSE;
	r[1].body = r[2].body = big;
	r[1].len = r[2].len = POLLER_MAX_RESPONSE + 1;
	testhttp_start(r, nitems(r), NULL);

	/* Exactly the cap is fine. */
	res = poll_one("fit", "refs/heads/b000000", &c);
	ck_assert_msg(res->ok == 1, "%s", res->error);
	ck_assert_int_eq(res->found, 1);

	/* One byte more is not: with a Content-Length, and without. */
	res = poll_one("big", MAIN, &c);
	want = srv_error(REFS_PATH("big") ": response too large (more "
	    "than 1048576 bytes)");
	assert_failed(res, 0, 200, want);
	free(want);
	res = poll_one("bigc", MAIN, &c);
	want = srv_error(REFS_PATH("bigc") ": response too large (more "
	    "than 1048576 bytes)");
	assert_failed(res, 0, 200, want);
	free(want);
	testhttp_stop();
	free(fit);
	free(big);
}
END_TEST

START_TEST(test_refs_bad_answers)
{
	struct testhttp_route	 r[] = {
		{ .path = REFS_PATH("err"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "001dERR repository not found\n0000" },
		{ .path = REFS_PATH("trunc"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "003d" OID_A " refs/heads/main\n" },
		{ .path = REFS_PATH("noflush"), .status = 200,
		  .ctype = ADV_TYPE, .body = "001e# service=git-upload-pack\n"
		  "003d" OID_A " refs/heads/main\n0000" },
		{ .path = REFS_PATH("sha256"), .status = 200,
		  .ctype = ADV_TYPE },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*want, *adv;
	size_t			 len;

	adv = testutil_data("pktline", "sha256.adv", &len);
	r[3].body = adv;
	r[3].len = len;
	testhttp_start(r, nitems(r), NULL);
	res = poll_one("err", MAIN, &c);
	want = srv_error(REFS_PATH("err") ": ERR repository not found");
	assert_failed(res, 0, 200, want);
	free(want);
	res = poll_one("trunc", MAIN, &c);
	ck_assert_int_eq(res->transient, 0);
	ck_assert_ptr_nonnull(strstr(res->error, ": truncated"));
	res = poll_one("noflush", MAIN, &c);
	ck_assert_int_eq(res->ok, 0);
	ck_assert_ptr_nonnull(strstr(res->error, "missing flush"));

	/* SHA-256 ids come through whole. */
	res = poll_one("sha256", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_str_eq(res->head, "906db938cc9dec0c246040f7f059b9878d5327db"
	    "a1d12510a6de88f6091f01ca");
	testhttp_stop();
	free(adv);
}
END_TEST

START_TEST(test_keepalive)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("k"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "003d" OID_A " refs/heads/main\n0000" },
		{ .path = REFS_PATH("k2"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "003d" OID_B " refs/heads/main\n0000" },
		{ .path = REFS_PATH("bye"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000", .flags = TESTHTTP_CLOSE },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;

	testhttp_start(r, nitems(r), NULL);
	res = poll_one("k", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->new_connection, 1);

	/* Later rounds, other repos on the same host: the same connection,
	 * though every round has a new request (and easy handle). */
	res = poll_one("k2", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_str_eq(res->head, OID_B);
	ck_assert_int_eq(res->new_connection, 0);
	res = poll_one("k", MAIN, &c);
	ck_assert_int_eq(res->new_connection, 0);
	ck_assert_uint_eq(testhttp_nseen(), 3);
	ck_assert_int_eq(testhttp_seen(1)->port, testhttp_seen(0)->port);
	ck_assert_int_eq(testhttp_seen(2)->port, testhttp_seen(0)->port);

	/* The server closes: the next poll connects again, and works. */
	res = poll_one("bye", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->new_connection, 0);
	res = poll_one("k", MAIN, &c);
	ck_assert_int_eq(res->ok, 1);
	ck_assert_int_eq(res->new_connection, 1);
	ck_assert_int_ne(testhttp_seen(4)->port, testhttp_seen(0)->port);
	testhttp_stop();
}
END_TEST

START_TEST(test_concurrent_100)
{
	static const char *const heads[] = { OID_A, OID_B };
	struct testhttp_route	 r[10];
	char			*paths[10], *bodies[10];
	struct coll		*c;
	uint64_t		 ids[100];
	const struct poller_result *res;
	int			 ports[100], nports = 0, j;
	size_t			 i, k;
	char			 repo[16];

	memset(r, 0, sizeof r);
	for (i = 0; i < 10; i++) {
		paths[i] = xprintf("/git/o/r%zu.git/info/refs", i);
		bodies[i] = xprintf(HDR "003d%s refs/heads/main\n0000",
		    heads[i % 2]);
		r[i].path = paths[i];
		r[i].status = 200;
		r[i].ctype = ADV_TYPE;
		r[i].body = bodies[i];
	}
	testhttp_start(r, nitems(r), NULL);
	c = xcalloc(1, sizeof *c);
	for (i = 0; i < 100; i++) {
		snprintf(repo, sizeof repo, "r%zu", i % 10);
		ids[i] = start_refs(repo, MAIN, 20000, c);
	}
	ck_assert_uint_eq(poller_inflight(poller), 100);
	ck_assert_uint_eq(c->n, 0);
	c->want = 100;
	ck_assert_msg(run_until(coll_done, c, 30000), "%zu of 100", c->n);
	ck_assert_uint_eq(c->n, 100);
	ck_assert_uint_eq(poller_inflight(poller), 0);
	for (i = 0; i < 100; i++) {
		res = coll_find(c, ids[i]);
		ck_assert_msg(res->ok == 1, "%zu: %s", i, res->error);
		ck_assert_str_eq(res->head, heads[(i % 10) % 2]);
	}

	/* One request each, over at most 4 connections. */
	ck_assert_uint_eq(testhttp_nseen(), 100);
	for (i = 0; i < 100; i++) {
		j = testhttp_seen(i)->port;
		for (k = 0; k < (size_t)nports && ports[k] != j; k++)
			;
		if (k == (size_t)nports)
			ports[nports++] = j;
	}
	ck_assert_msg(nports >= 1 && nports <= POLLER_HOST_CONNECTIONS,
	    "%d connections", nports);
	testhttp_stop();
	for (i = 0; i < 10; i++) {
		free(paths[i]);
		free(bodies[i]);
	}
	free(c);
}
END_TEST

/* While many polls of one host wait, only those on the wire hold a curl
 * easy handle: never more than the host's connections, and the handles
 * are reused, not made anew, as polls follow one another. */
struct handles_seen {
	struct coll	*c;
	size_t		 max;
};

static int
handles_done(void *arg)
{
	struct handles_seen	*h = arg;

	if (poller_handles(poller) > h->max)
		h->max = poller_handles(poller);
	return coll_done(h->c);
}

START_TEST(test_handles_bounded)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("many"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "003d" OID_A " refs/heads/main\n0000",
		  .delay_ms = 20 },
	};
	struct handles_seen	 h = { 0 };
	size_t			 i;

	testhttp_start(r, nitems(r), NULL);
	h.c = xcalloc(1, sizeof *h.c);
	for (i = 0; i < 200; i++)
		start_refs("many", MAIN, 20000, h.c);
	ck_assert_uint_eq(poller_inflight(poller), 200);
	ck_assert_uint_eq(poller_handles(poller), POLLER_HOST_CONNECTIONS);
	h.c->want = 200;
	ck_assert_msg(run_until(handles_done, &h, 30000), "%zu of 200",
	    h.c->n);
	for (i = 0; i < 200; i++)
		ck_assert_msg(h.c->r[i].ok == 1 && h.c->r[i].found == 1,
		    "%zu: %s", i, h.c->r[i].error);
	ck_assert_uint_eq(h.max, POLLER_HOST_CONNECTIONS);
	/* Kept for the next round, within the bound. */
	ck_assert_uint_le(poller_handles(poller), POLLER_IDLE_HANDLES);
	ck_assert_uint_eq(poller_inflight(poller), 0);
	ck_assert_uint_eq(testhttp_nseen(), 200);
	testhttp_stop();
	free(h.c);
}
END_TEST

/*
 * More polls of one host than it gets connections: the rest wait in the
 * poller, not in curl, so each has its whole timeout once sent. Twelve
 * answers 600 ms late with a 1500 ms timeout: had curl queued them, the
 * last four would have waited 1200 ms before being sent and timed out.
 */
START_TEST(test_waits_for_a_connection)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("slow"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000", .delay_ms = 600 },
	};
	struct coll		*c, cancelled = { 0 };
	uint64_t		 gone;
	size_t			 i;

	testhttp_start(r, nitems(r), NULL);
	c = xcalloc(1, sizeof *c);
	for (i = 0; i < 12; i++)
		start_refs("slow", MAIN, 1500, c);
	/* One that waits is cancelled: it is never sent. */
	gone = start_refs("slow", MAIN, 1500, &cancelled);
	poller_cancel(poller, gone);
	ck_assert_uint_eq(poller_inflight(poller), 12);
	c->want = 12;
	ck_assert_msg(run_until(coll_done, c, 10000), "%zu of 12", c->n);
	for (i = 0; i < 12; i++) {
		ck_assert_msg(c->r[i].ok == 1, "%zu: %s", i, c->r[i].error);
		/* Timed from its sending: about the server's 600 ms. */
		ck_assert_uint_lt(c->r[i].elapsed_ms, 1500);
	}
	ck_assert_uint_eq(testhttp_nseen(), 12);
	ck_assert_uint_eq(cancelled.n, 0);
	ck_assert_uint_eq(poller_inflight(poller), 0);
	testhttp_stop();
	free(c);
}
END_TEST

START_TEST(test_cancel)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("slow"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000", .delay_ms = 300 },
	};
	struct coll		 cancelled = { 0 }, sentinel = { .want = 1 };
	uint64_t		 a, b;
	size_t			 one = 1;

	testhttp_start(r, nitems(r), NULL);
	/* Cancelled while the server holds it. */
	a = start_refs("slow", MAIN, 5000, &cancelled);
	ck_assert(run_until(srv_has, &one, 5000));
	ck_assert_uint_eq(poller_inflight(poller), 1);
	poller_cancel(poller, a);
	ck_assert_uint_eq(poller_inflight(poller), 0);
	poller_cancel(poller, a);		/* twice: ignored */
	poller_cancel(poller, 999999);		/* unknown: ignored */
	/* Cancelled before the loop even ran. */
	b = start_refs("slow", MAIN, 5000, &cancelled);
	poller_cancel(poller, b);
	ck_assert_uint_eq(poller_inflight(poller), 0);

	/* A later poll of the same slow answer completes after the
	 * cancelled one would have. */
	start_refs("slow", MAIN, 5000, &sentinel);
	ck_assert(run_until(coll_done, &sentinel, 5000));
	ck_assert_int_eq(sentinel.r[0].ok, 1);
	ck_assert_uint_eq(cancelled.n, 0);
	testhttp_stop();
}
END_TEST

START_TEST(test_free_in_flight)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("slow"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "0000", .delay_ms = 200 },
	};
	struct coll		 c = { 0 };
	int			 idle;
	size_t			 i, one = 1;

	testhttp_start(r, nitems(r), NULL);
	idle = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED |
	    EVENT_BASE_COUNT_ACTIVE);
	for (i = 0; i < 5; i++)
		start_refs("slow", MAIN, 5000, &c);
	ck_assert(run_until(srv_has, &one, 5000));
	ck_assert_uint_eq(c.n, 0);
	/* And one that failed at once, waiting in the done queue. */
	{
		struct poller_req req = { .ref = MAIN };

		poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	}
	ck_assert_uint_eq(poller_inflight(poller), 6);
	poller_free(poller);
	poller = NULL;
	/* Nothing of it is left on the loop: no callback can come. */
	ck_assert_int_eq(event_base_get_num_events(base,
	    EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), idle);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(c.n, 0);
	testhttp_stop();
}
END_TEST

/* Callbacks that act on the poller: start, cancel, free. */
struct reenter {
	int		 mode;
	int		 calls;
	int		 want;		/* calls run_until waits for */
	uint64_t	 ids[2];	/* REENTER_CANCEL: the pair */
	const struct poller_req *req;
};

#define REENTER_START	1	/* start the next poll, three times */
#define REENTER_CANCEL	2	/* cancel the other of the pair */
#define REENTER_FREE	3	/* free the poller */

static void
reenter_cb(const struct poller_result *r, void *arg)
{
	struct reenter	*re = arg;

	re->calls++;
	ck_assert_msg(r->ok == 1, "%s", r->error);
	switch (re->mode) {
	case REENTER_START:
		if (re->calls < 4)
			ck_assert_uint_gt(poller_start(poller, POLLER_REFS,
			    re->req, reenter_cb, re), 0);
		break;
	case REENTER_CANCEL:
		poller_cancel(poller, r->id == re->ids[0] ? re->ids[1] :
		    re->ids[0]);
		break;
	case REENTER_FREE:
		poller_free(poller);
		poller = NULL;
		break;
	}
}

static int
reenter_done(void *arg)
{
	struct reenter	*re = arg;

	return re->calls >= re->want;
}

START_TEST(test_callbacks_reenter)
{
	const struct testhttp_route r[] = {
		{ .path = REFS_PATH("a"), .status = 200, .ctype = ADV_TYPE,
		  .body = HDR "003d" OID_A " refs/heads/main\n0000" },
	};
	struct reenter		 re;
	struct poller_req	 req;
	struct coll		 c = { .want = 1 };
	char			*url;
	size_t			 i;

	testhttp_start(r, nitems(r), NULL);
	url = testhttp_url("/git/o/a.git");
	memset(&req, 0, sizeof req);
	req.url = url;
	req.ref = MAIN;
	req.user = USER;
	req.key = KEY;
	req.timeout_ms = 5000;

	/* Each callback starts the next poll: four in a row. */
	memset(&re, 0, sizeof re);
	re.mode = REENTER_START;
	re.want = 4;
	re.req = &req;
	poller_start(poller, POLLER_REFS, &req, reenter_cb, &re);
	ck_assert(run_until(reenter_done, &re, 10000));
	ck_assert_int_eq(re.calls, 4);
	ck_assert_uint_eq(poller_inflight(poller), 0);
	ck_assert_uint_eq(testhttp_nseen(), 4);

	/* Two polls whose callbacks cancel each other: whichever comes
	 * first is the only one. A poll started afterwards finishes after
	 * the cancelled one would have. */
	memset(&re, 0, sizeof re);
	re.mode = REENTER_CANCEL;
	re.want = 1;
	re.ids[0] = poller_start(poller, POLLER_REFS, &req, reenter_cb, &re);
	re.ids[1] = poller_start(poller, POLLER_REFS, &req, reenter_cb, &re);
	ck_assert(run_until(reenter_done, &re, 5000));
	poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	ck_assert(run_until(coll_done, &c, 5000));
	ck_assert_int_eq(re.calls, 1);
	ck_assert_uint_eq(poller_inflight(poller), 0);

	/* The first callback frees the poller: the others never come. */
	memset(&re, 0, sizeof re);
	re.mode = REENTER_FREE;
	re.want = 1;
	for (i = 0; i < 3; i++)
		poller_start(poller, POLLER_REFS, &req, reenter_cb, &re);
	ck_assert(run_until(reenter_done, &re, 5000));
	ck_assert_ptr_null(poller);
	for (i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(re.calls, 1);
	free(url);
	testhttp_stop();
}
END_TEST

START_TEST(test_start_failures)
{
	struct coll		 c = { 0 };
	struct poller_req	 req;
	uint64_t		 ids[6];
	int			 i;

	memset(&req, 0, sizeof req);
	req.ref = MAIN;
	ids[0] = poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	req.url = "http://127.0.0.1:1/git/o/a.git";
	req.ref = NULL;
	ids[1] = poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	req.ref = MAIN;
	req.key = KEY;
	ids[2] = poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	req.user = USER;
	req.url = "file:///etc/passwd";
	ids[3] = poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	req.url = "http://127.0.0.1:1/";
	req.owner = "o";
	ids[4] = poller_start(poller, POLLER_VERSION, &req, coll_cb, &c);
	for (i = 0; i < 5; i++)
		ck_assert_uint_gt(ids[i], 0);
	ids[5] = poller_start(poller, (enum poller_kind)7, &req, coll_cb, &c);
	/* Not even these call back from inside poller_start. */
	ck_assert_uint_eq(c.n, 0);
	ck_assert_uint_eq(poller_inflight(poller), 6);
	c.want = 6;
	ck_assert(run_until(coll_done, &c, 5000));
	ck_assert_uint_eq(poller_inflight(poller), 0);
	assert_failed(coll_find(&c, ids[0]), 0, 0, "poll: no URL");
	assert_failed(coll_find(&c, ids[1]), 0, 0,
	    "GET http://127.0.0.1:1/git/o/a.git/info/refs: no ref to look for");
	assert_failed(coll_find(&c, ids[2]), 0, 0,
	    "GET http://127.0.0.1:1/git/o/a.git/info/refs: a key but no user");
	ck_assert_int_eq(coll_find(&c, ids[3])->transient, 0);
	ck_assert_int_eq(coll_find(&c, ids[3])->ok, 0);
	assert_failed(coll_find(&c, ids[4]), 0, 0,
	    "GET http://127.0.0.1:1/v1/algorithms: no owner or algorithm");
	assert_failed(coll_find(&c, ids[5]), 0, 0, "poll: unknown kind 7");
}
END_TEST

/* ---------------------------------------------------------------------
 * VERSION.
 */

#define VERSIONS_PATH	"/v1/algorithms/o/a/versions"

START_TEST(test_version_found)
{
	const struct testhttp_route r[] = {
		{ .path = VERSIONS_PATH, .status = 200,
		  .ctype = "application/json", .body =
		  "{\"marker\":null,\"results\":[{\"version_info\":{"
		  "\"semantic_version\":\"1.2.3\",\"git_hash\":\""
		  "A01486C5D663AA313C4A6E37079130EE0A8DC11E\"}}]}" },
		/* A server that ignores published=true. */
		{ .path = "/v1/algorithms/my%20org/a%2Fb/versions",
		  .status = 200, .body = "{\"results\":[{\"version_info\":{"
		  "\"git_hash\":\"" OID_B "\"}},{\"version_info\":{"
		  "\"semantic_version\":\"0.1.0\",\"git_hash\":\"" OID_A
		  "\"}}]}" },
	};
	struct coll		 c = { 0 };
	const struct poller_result *res;
	const struct testhttp_seen *s;
	char			*url;
	uint64_t		 id;

	testhttp_start(r, nitems(r), NULL);
	url = testhttp_url("");
	id = start_version(url, "o", "a", &c);
	c.want = 1;
	ck_assert(run_until(coll_done, &c, 5000));
	res = coll_find(&c, id);
	ck_assert_int_eq(res->kind, POLLER_VERSION);
	ck_assert_msg(res->ok == 1, "%s", res->error);
	ck_assert_int_eq(res->found, 1);
	ck_assert_str_eq(res->version, "1.2.3");
	ck_assert_str_eq(res->head, OID_A);
	s = testhttp_seen(0);
	ck_assert_str_eq(s->uri, VERSIONS_PATH "?limit=1&published=true");
	ck_assert_str_eq(s->auth, "Simple " KEY);
	ck_assert_str_eq(s->accept, "application/json");
	ck_assert_str_eq(s->agent, "algopromoted/" AP_VERSION);
	free(url);

	/* Names are %-encoded; a base ending in "/v1/" is the same. */
	url = testhttp_url("/v1/");
	id = start_version(url, "my org", "a/b", &c);
	c.want = 2;
	ck_assert(run_until(coll_done, &c, 5000));
	res = coll_find(&c, id);
	ck_assert_msg(res->ok == 1, "%s", res->error);
	ck_assert_str_eq(res->version, "0.1.0");
	ck_assert_str_eq(res->head, OID_A);
	free(url);
	testhttp_stop();
}
END_TEST

START_TEST(test_version_none_and_bad)
{
	const struct testhttp_route r[] = {
		{ .path = "/v1/algorithms/o/none/versions", .status = 200,
		  .body = "{\"marker\":null,\"next_link\":null,"
		  "\"results\":[]}" },
		{ .path = "/v1/algorithms/o/unpub/versions", .status = 200,
		  .body = "{\"results\":[{\"version_info\":{\"git_hash\":\""
		  OID_A "\"}}]}" },
		{ .path = "/v1/algorithms/o/bad/versions", .status = 200,
		  .ctype = "text/html", .body = "<html>oops</html>" },
		{ .path = "/v1/algorithms/o/nolist/versions", .status = 200,
		  .body = "{\"results\":{}}" },
		{ .path = "/v1/algorithms/o/err/versions", .status = 200,
		  .body = "{\"error\":{\"message\":\"not today\"}}" },
		{ .path = "/v1/algorithms/o/nohash/versions", .status = 200,
		  .body = "{\"results\":[{\"version_info\":{"
		  "\"semantic_version\":\"0.1.0\",\"git_hash\":\"xyz\"}}]}" },
		{ .path = "/v1/algorithms/o/key/versions", .status = 401,
		  .ctype = "application/json", .body = "{\"error\":{\"code\":"
		  "2002,\"message\":\"Unknown or invalid API key\"}}" },
		{ .path = "/v1/algorithms/o/gone/versions", .status = 404,
		  .body = "{\"error\":\"No such algorithm\"}" },
		{ .path = "/v1/algorithms/o/busy/versions", .status = 503,
		  .headers = "Retry-After: 2\n" },
		{ .path = "/v1/algorithms/o/semver/versions", .status = 200,
		  .body = "{\"results\":[{\"version_info\":{"
		  "\"semantic_version\":\"1.0\\n$(x)\",\"git_hash\":\""
		  OID_A "\"}}]}" },
	};
	static const char *const algos[] = { "none", "unpub", "bad", "nolist",
	    "err", "nohash", "key", "gone", "busy", "semver" };
	struct coll		 c = { 0 };
	const struct poller_result *res[nitems(algos)];
	uint64_t		 ids[nitems(algos)];
	char			*url, *want;
	size_t			 i;

	testhttp_start(r, nitems(r), NULL);
	url = testhttp_url("");
	for (i = 0; i < nitems(algos); i++)
		ids[i] = start_version(url, "o", algos[i], &c);
	c.want = nitems(algos);
	ck_assert(run_until(coll_done, &c, 10000));
	for (i = 0; i < nitems(algos); i++)
		res[i] = coll_find(&c, ids[i]);

	/* Nothing published: understood, nothing found. */
	ck_assert_int_eq(res[0]->ok, 1);
	ck_assert_int_eq(res[0]->found, 0);
	ck_assert_str_eq(res[0]->version, "");
	ck_assert_int_eq(res[1]->ok, 1);
	ck_assert_int_eq(res[1]->found, 0);

	want = xprintf("GET %s/v1/algorithms/o/bad/versions: answer is no "
	    "JSON object", url);
	assert_failed(res[2], 0, 200, want);
	free(want);
	want = xprintf("GET %s/v1/algorithms/o/nolist/versions: answer has "
	    "no results list", url);
	assert_failed(res[3], 0, 200, want);
	free(want);
	want = xprintf("GET %s/v1/algorithms/o/err/versions: error in the "
	    "answer (not today)", url);
	assert_failed(res[4], 0, 200, want);
	free(want);
	want = xprintf("GET %s/v1/algorithms/o/nohash/versions: version "
	    "0.1.0 has no valid git_hash", url);
	assert_failed(res[5], 0, 200, want);
	free(want);
	want = xprintf("GET %s/v1/algorithms/o/key/versions: 401 "
	    "Unauthorized (Unknown or invalid API key)", url);
	assert_failed(res[6], 0, 401, want);
	free(want);
	want = xprintf("GET %s/v1/algorithms/o/gone/versions: 404 Not Found "
	    "(No such algorithm)", url);
	assert_failed(res[7], 0, 404, want);
	free(want);
	ck_assert_int_eq(res[8]->transient, 1);
	ck_assert_int_eq(res[8]->retry_after_ms, 2000);
	want = xprintf("GET %s/v1/algorithms/o/semver/versions: bad "
	    "semantic_version 1.0 $(x)", url);
	assert_failed(res[9], 0, 200, want);
	free(want);
	free(url);
	testhttp_stop();
}
END_TEST

/* ---------------------------------------------------------------------
 * The emulated Algorithmia cluster (tests/fakecluster).
 */

static struct testutil_server	 fc_srv;

static void
fc_start(void)
{
	testutil_fc_start(&fc_srv, "0");
}

static void
fc_stop(void)
{
	testutil_server_stop(&fc_srv);
}

/* master of the cluster's bare repository, read from disk. */
static void
fc_master(const char *algo, char *hex)
{
	git_repository	*repo = NULL;
	git_oid		 oid;
	char		*path;

	path = xprintf("%s/repos/alice/%s.git", fc_srv.dir, algo);
	git_libgit2_init();
	ck_assert_int_eq(git_repository_open_bare(&repo, path), 0);
	ck_assert_int_eq(git_reference_name_to_id(&oid, repo,
	    "refs/heads/master"), 0);
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &oid);
	git_repository_free(repo);
	git_libgit2_shutdown();
	free(path);
}

START_TEST(test_fakecluster)
{
	struct poller_req	 req;
	struct coll		 c = { 0 };
	const struct poller_result *res;
	char			*url, *api, *log;
	char			 master[GIT_OID_HEXSZ + 1];
	cJSON			*j, *e;
	size_t			 i;

	ck_assert_msg(fc_srv.port > 0, "fakecluster did not start (see %s)",
	    fc_srv.dir);
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "POST",
	    "/v1/algorithms/alice",
	    "{\"name\":\"Poll\",\"details\":{\"label\":\"Poll\"},"
	    "\"settings\":{\"language\":\"python3-1\",\"environment\":\"cpu\","
	    "\"license\":\"apl\",\"network_access\":\"full\","
	    "\"pipeline_enabled\":true,\"source_visibility\":\"closed\"}}",
	    NULL), 200);
	fc_master("Poll", master);
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "POST", "/_reset", "{}",
	    NULL), 204);

	/* Two rounds of the template's master. */
	url = xprintf("http://127.0.0.1:%d/git/alice/Poll.git", fc_srv.port);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.ref = "refs/heads/master";
	req.user = "alice";
	req.key = TESTUTIL_FC_KEY;
	req.timeout_ms = 10000;
	for (i = 0; i < 2; i++) {
		poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
		c.want = i + 1;
		ck_assert(run_until(coll_done, &c, 15000));
		res = &c.r[i];
		ck_assert_msg(res->ok == 1, "%s", res->error);
		ck_assert_int_eq(res->found, 1);
		ck_assert_str_eq(res->head, master);
		ck_assert_int_eq(res->new_connection, i == 0);
	}

	/* Exactly one request per poll, each with its credentials. */
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "GET", "/_requests", NULL,
	    &log), 200);
	ck_assert_ptr_nonnull(j = cJSON_Parse(log));
	ck_assert_msg(cJSON_GetArraySize(j) == 2, "%s", log);
	cJSON_ArrayForEach(e, j) {
		ck_assert_str_eq(cJSON_GetObjectItem(e, "method")->valuestring,
		    "GET");
		ck_assert_str_eq(cJSON_GetObjectItem(e, "path")->valuestring,
		    "/git/alice/Poll.git/info/refs?service=git-upload-pack");
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(e, "auth")));
		ck_assert_int_eq(cJSON_GetObjectItem(e, "status")->valueint,
		    200);
	}
	cJSON_Delete(j);
	free(log);

	/* A wrong key: permanent, and not in the message. */
	req.key = "simWrongKeyXXXX+x9/Qw3Lz7Rb2";
	poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	c.want = 3;
	ck_assert(run_until(coll_done, &c, 15000));
	ck_assert_int_eq(c.r[2].ok, 0);
	ck_assert_int_eq(c.r[2].status, 401);
	ck_assert_int_eq(c.r[2].transient, 0);
	ck_assert_ptr_null(strstr(c.r[2].error, "simWrongKey"));

	/* The versions list: nothing, then the published template. */
	api = xprintf("http://127.0.0.1:%d", fc_srv.port);
	memset(&req, 0, sizeof req);
	req.url = api;
	req.owner = "alice";
	req.algo = "Poll";
	req.key = TESTUTIL_FC_KEY;
	req.timeout_ms = 10000;
	poller_start(poller, POLLER_VERSION, &req, coll_cb, &c);
	c.want = 4;
	ck_assert(run_until(coll_done, &c, 15000));
	ck_assert_msg(c.r[3].ok == 1, "%s", c.r[3].error);
	ck_assert_int_eq(c.r[3].found, 0);
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "POST",
	    "/v1/algorithms/alice/Poll/compile", "{}", NULL), 200);
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "POST",
	    "/v1/algorithms/alice/Poll/versions",
	    "{\"version_info\":{\"version_type\":\"minor\"}}", &log), 200);
	free(log);
	poller_start(poller, POLLER_VERSION, &req, coll_cb, &c);
	c.want = 5;
	ck_assert(run_until(coll_done, &c, 15000));
	ck_assert_msg(c.r[4].ok == 1, "%s", c.r[4].error);
	ck_assert_int_eq(c.r[4].found, 1);
	ck_assert_str_eq(c.r[4].version, "0.1.0");
	ck_assert_str_eq(c.r[4].head, master);
	free(api);
	free(url);
}
END_TEST

/* ---------------------------------------------------------------------
 * https: a real git-http-backend behind TLS (tests/gitops_http_server.py)
 * with a certificate of our own.
 */

static struct testutil_server	 tls_srv;
static char			 tls_head[GIT_OID_HEXSZ + 1];

/* A bare repository at path with one commit on master; its id in hex. */
static void
make_repo(const char *path, char *hex)
{
	git_repository	*repo = NULL;
	git_treebuilder	*tb = NULL;
	git_signature	*sig = NULL;
	git_tree	*tree = NULL;
	git_oid		 blob, tid, cid;
	static const char text[] = "polled over https\n";

	ck_assert_int_eq(git_repository_init(&repo, path, 1), 0);
	ck_assert_int_eq(git_blob_create_from_buffer(&blob, repo, text,
	    sizeof text - 1), 0);
	ck_assert_int_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	ck_assert_int_eq(git_treebuilder_insert(NULL, tb, "README", &blob,
	    GIT_FILEMODE_BLOB), 0);
	ck_assert_int_eq(git_treebuilder_write(&tid, tb), 0);
	ck_assert_int_eq(git_tree_lookup(&tree, repo, &tid), 0);
	ck_assert_int_eq(git_signature_now(&sig, "T", "t@example.com"), 0);
	ck_assert_int_eq(git_commit_create_v(&cid, repo, "refs/heads/master",
	    sig, sig, NULL, "first\n", tree, 0), 0);
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &cid);
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	git_repository_free(repo);
}

static void
tls_start(void)
{
	char	*repo;

	testutil_tlsgit_start(&tls_srv, "IP:127.0.0.1", "alice:" KEY);
	repo = xprintf("%s/git/alice/T.git", tls_srv.dir);
	git_libgit2_init();
	make_repo(repo, tls_head);
	git_libgit2_shutdown();
	free(repo);
}

static void
tls_stop(void)
{
	testutil_server_stop(&tls_srv);
}

START_TEST(test_https)
{
	struct poller_req	 req;
	struct coll		 c = { 0 };
	char			*url;
	size_t			 i;

	ck_assert_msg(tls_srv.port > 0, "no https server (see %s)",
	    tls_srv.dir);
	url = xprintf("https://127.0.0.1:%d/git/alice/T.git", tls_srv.port);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.ref = "refs/heads/master";
	req.user = "alice";
	req.key = KEY;
	req.ca_file = tls_srv.cert;
	req.timeout_ms = 10000;

	/* Trusted through ca_file; the TLS connection is kept. */
	for (i = 0; i < 2; i++) {
		poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
		c.want = i + 1;
		ck_assert(run_until(coll_done, &c, 15000));
		ck_assert_msg(c.r[i].ok == 1, "%s", c.r[i].error);
		ck_assert_int_eq(c.r[i].found, 1);
		ck_assert_str_eq(c.r[i].head, tls_head);
		ck_assert_int_eq(c.r[i].new_connection, i == 0);
	}

	/* Without it the certificate is refused, and that is no passing
	 * trouble. */
	req.ca_file = NULL;
	poller_start(poller, POLLER_REFS, &req, coll_cb, &c);
	c.want = 3;
	ck_assert(run_until(coll_done, &c, 15000));
	ck_assert_int_eq(c.r[2].ok, 0);
	ck_assert_int_eq(c.r[2].transient, 0);
	ck_assert_int_eq(c.r[2].status, 0);
	ck_assert_msg(strstr(c.r[2].error, "certificate") != NULL, "%s",
	    c.r[2].error);
	assert_clean(c.r[2].error);
	free(url);
}
END_TEST

Suite *
poller_suite(void)
{
	Suite	*s = suite_create("poller");
	TCase	*tc = tcase_create("local");
	TCase	*fc = tcase_create("fakecluster");
	TCase	*tls = tcase_create("https");

	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_refs_found_and_absent);
	tcase_add_test(tc, test_refs_empty_repo);
	tcase_add_test(tc, test_refs_content_type);
	tcase_add_test(tc, test_refs_permanent_statuses);
	tcase_add_test(tc, test_refs_transient_statuses);
	tcase_add_test(tc, test_refs_connect_refused);
	tcase_add_test(tc, test_refs_timeout);
	tcase_add_test(tc, test_refs_too_large);
	tcase_add_test(tc, test_refs_bad_answers);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_concurrent_100);
	tcase_add_test(tc, test_handles_bounded);
	tcase_add_test(tc, test_waits_for_a_connection);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_free_in_flight);
	tcase_add_test(tc, test_callbacks_reenter);
	tcase_add_test(tc, test_start_failures);
	tcase_add_test(tc, test_version_found);
	tcase_add_test(tc, test_version_none_and_bad);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(fc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_add_unchecked_fixture(fc, fc_start, fc_stop);
	tcase_add_checked_fixture(fc, setup, teardown);
	tcase_set_timeout(fc, 60);
	tcase_add_test(fc, test_fakecluster);
	suite_add_tcase(s, fc);

	tcase_add_unchecked_fixture(tls, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_add_unchecked_fixture(tls, tls_start, tls_stop);
	tcase_add_checked_fixture(tls, setup, teardown);
	tcase_set_timeout(tls, 60);
	tcase_add_test(tls, test_https);
	suite_add_tcase(s, tls);
	return s;
}
