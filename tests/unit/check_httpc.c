/* check_httpc.c: the one libcurl setup of the HTTP clients (httpc.c), on
 * its own and through the API client and the poller, against testhttp. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "api.h"
#include "httpc.h"
#include "monotime.h"
#include "poller.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

#define KEY		"simAB+cd/EFghIJklMNopQRstUVw"
#define AUTH		"Simple " KEY
#define OTHER		"other.test"	/* another host, on our server */

/* A handle set up by httpc_setup for path on the test server, with the
 * key in an Authorization header; OTHER:80 leads to the test server. */
static CURL *
easy(const char *path, struct curl_slist **hdrs, struct httpc_resp *resp,
    size_t max)
{
	struct httpc_req	 req;
	struct curl_slist	*to;
	CURL			*h;
	char			*url, *map;

	url = testhttp_url(path);
	*hdrs = curl_slist_append(NULL, "Authorization: " AUTH);
	httpc_resp_init(resp, max, 60000);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.timeout_ms = 5000;
	req.headers = *hdrs;
	ck_assert_ptr_nonnull(h = curl_easy_init());
	ck_assert_int_eq(httpc_setup(h, &req, resp), 0);
	map = xprintf(OTHER ":80:127.0.0.1:%d", testhttp_port());
	to = curl_slist_append(NULL, map);
	ck_assert_int_eq(curl_easy_setopt(h, CURLOPT_CONNECT_TO, to),
	    CURLE_OK);
	/* curl copies the URL but not the lists: they live in the handle's
	 * private data until done() frees them. */
	ck_assert_int_eq(curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)to),
	    CURLE_OK);
	free(map);
	free(url);
	return h;
}

static void
done(CURL *h, struct curl_slist *hdrs, struct httpc_resp *resp)
{
	char	*to = NULL;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, &to);
	curl_easy_cleanup(h);
	curl_slist_free_all((struct curl_slist *)(void *)to);
	curl_slist_free_all(hdrs);
	httpc_resp_drop(resp);
}

static long
status_of(CURL *h)
{
	long	 status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* What the shared setup does on its own: the answer is read into resp,
 * a redirect is an answer, the user agent is ours. */
START_TEST(test_setup_defaults)
{
	static const struct testhttp_route r[] = {
		{ .path = "/ok", .status = 200, .body = "hello",
		  .headers = "Retry-After: 7\n" },
		{ .path = "/moved", .status = 302,
		  .headers = "Location: http://" OTHER "/t\n" },
		{ .path = "/big", .status = 200, .big = 5000 },
	};
	struct httpc_resp	 resp;
	struct curl_slist	*hdrs;
	CURL			*h;

	testhttp_start(r, nitems(r), "text/plain");
	h = easy("/ok", &hdrs, &resp, 1024);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	ck_assert_int_eq(status_of(h), 200);
	ck_assert_str_eq(resp.body, "hello");
	ck_assert_uint_eq(resp.len, 5);
	ck_assert_int_eq(resp.retry_after_ms, 7000);
	ck_assert_str_eq(testhttp_seen(0)->agent, "algopromoted/" AP_VERSION);
	ck_assert_str_eq(testhttp_seen(0)->auth, AUTH);
	done(h, hdrs, &resp);

	h = easy("/moved", &hdrs, &resp, 1024);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	ck_assert_int_eq(status_of(h), 302);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	done(h, hdrs, &resp);

	h = easy("/big", &hdrs, &resp, 1024);
	httpc_resp_start(&resp);
	ck_assert(httpc_too_large(&resp, curl_easy_perform(h)));
	ck_assert_uint_le(resp.len, 1024);
	done(h, hdrs, &resp);
	testhttp_stop();
}
END_TEST

/* Even a caller that turned following on never sends the key to another
 * host; the control shows the test would see it if it were sent. */
START_TEST(test_redirect_other_host_keeps_auth)
{
	static const struct testhttp_route r[] = {
		{ .path = "/moved", .status = 302,
		  .headers = "Location: http://" OTHER "/t\n" },
		{ .path = "/t", .status = 200, .body = "there" },
		{ .path = "/moved", .status = 302,
		  .headers = "Location: http://" OTHER "/t\n" },
		{ .path = "/t", .status = 200, .body = "there" },
	};
	struct httpc_resp	 resp;
	struct curl_slist	*hdrs;
	CURL			*h;

	testhttp_start(r, nitems(r), "text/plain");
	h = easy("/moved", &hdrs, &resp, 1024);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	ck_assert_int_eq(status_of(h), 200);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_str_eq(testhttp_seen(0)->auth, AUTH);
	ck_assert_str_eq(testhttp_seen(1)->uri, "/t");
	ck_assert_ptr_null(testhttp_seen(1)->auth);
	done(h, hdrs, &resp);

	/* The control: with UNRESTRICTED_AUTH the key would travel. */
	h = easy("/moved", &hdrs, &resp, 1024);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 1L);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	ck_assert_str_eq(testhttp_seen(3)->auth, AUTH);
	done(h, hdrs, &resp);
	testhttp_stop();
}
END_TEST

/* Nor does it follow a redirect to another scheme: curl's own default
 * would try ftp (and fail to connect); ours refuses it outright. */
START_TEST(test_redirect_scheme_refused)
{
	static const struct testhttp_route r[] = {
		{ .path = "/ftp", .status = 302,
		  .headers = "Location: ftp://127.0.0.1:1/x\n" },
		{ .path = "/file", .status = 301,
		  .headers = "Location: file:///etc/passwd\n" },
	};
	struct httpc_resp	 resp;
	struct curl_slist	*hdrs;
	CURL			*h;

	testhttp_start(r, nitems(r), "text/plain");
	h = easy("/ftp", &hdrs, &resp, 1024);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_UNSUPPORTED_PROTOCOL);
	done(h, hdrs, &resp);
	h = easy("/file", &hdrs, &resp, 1024);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_UNSUPPORTED_PROTOCOL);
	ck_assert_ptr_null(resp.body);
	done(h, hdrs, &resp);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	testhttp_stop();
}
END_TEST

/* A request itself goes nowhere but http(s). */
START_TEST(test_protocols)
{
	struct httpc_resp	 resp;
	struct httpc_req	 req;
	CURL			*h;
	CURLcode		 cc;

	httpc_resp_init(&resp, 1024, 60000);
	memset(&req, 0, sizeof req);
	req.url = "file:///etc/passwd";
	req.timeout_ms = 1000;
	ck_assert_ptr_nonnull(h = curl_easy_init());
	ck_assert_int_eq(httpc_setup(h, &req, &resp), 0);
	cc = curl_easy_perform(h);
	ck_assert_int_eq(cc, CURLE_UNSUPPORTED_PROTOCOL);
	ck_assert_ptr_null(resp.body);
	ck_assert_str_ne(httpc_strerror(&resp, cc), "");
	ck_assert(!httpc_too_large(&resp, cc));
	curl_easy_cleanup(h);
	httpc_resp_drop(&resp);
}
END_TEST

START_TEST(test_base)
{
	static const struct {
		const char	*in;
		int		 api;
		const char	*out;
	} t[] = {
		{ "http://h:1", 1, "http://h:1" },
		{ "http://h:1//", 1, "http://h:1" },
		{ "http://h:1/v1", 1, "http://h:1" },
		{ "http://h:1/p/v1/", 1, "http://h:1/p" },
		{ "http://h:1/v1/v1", 1, "http://h:1/v1" },
		{ "http://h:1/git/a.git/", 0, "http://h:1/git/a.git" },
		{ "http://h:1/v1", 0, "http://h:1/v1" },
		{ "", 1, "" },
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(t); i++) {
		s = httpc_base(t[i].in, t[i].api);
		ck_assert_msg(strcmp(s, t[i].out) == 0, "%s: %s, not %s",
		    t[i].in, s, t[i].out);
		free(s);
	}
}
END_TEST

/* The API client, through the shared setup: no redirect is followed, to
 * another host or to another scheme; the server sees one request each. */
START_TEST(test_api_redirects)
{
	static const struct testhttp_route r[] = {
		{ .path = "/v1/algorithms/acme/A", .status = 307,
		  .headers = "Location: http://" OTHER "/v1/steal\n" },
		{ .path = "/v1/algorithms/acme/B", .status = 302,
		  .headers = "Location: file:///etc/passwd\n" },
	};
	struct api_client	*c = NULL;
	struct api_error	 err;
	char			*url, *cause = NULL;

	testhttp_start(r, nitems(r), "application/json");
	url = testhttp_url("");
	ck_assert_msg(api_client_new(&c, url, KEY, NULL, 5000, &cause) == 0,
	    "%s", cause);
	ck_assert_int_eq(api_algo_get(c, "acme", "A", NULL, &err), -1);
	ck_assert_int_eq(err.status, 307);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/A: 307 "
	    "redirect to http://" OTHER "/v1/steal not followed");
	ck_assert_int_eq(api_algo_get(c, "acme", "B", NULL, &err), -1);
	ck_assert_int_eq(err.status, 302);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/B: 302 "
	    "redirect to file:///etc/passwd not followed");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_str_eq(testhttp_seen(0)->auth, AUTH);
	api_client_free(c);
	free(url);
	testhttp_stop();
}
END_TEST

static void
poll_cb(const struct poller_result *r, void *arg)
{
	*(struct poller_result *)arg = *r;
}

/* One poll of kind for url, run to its end on a loop of its own. */
static void
poll_once(enum poller_kind kind, const char *url, struct poller_result *out)
{
	struct event_base	*base;
	struct poller		*p = NULL;
	struct poller_req	 req;
	uint64_t		 deadline = monotime_ms() + 5000;
	char			*cause = NULL;

	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_msg(poller_new(&p, base, &cause) == 0, "%s", cause);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.owner = "acme";
	req.algo = "A";
	req.ref = "refs/heads/main";
	req.user = "poller";
	req.key = KEY;
	req.timeout_ms = 5000;
	memset(out, 0, sizeof *out);
	poller_start(p, kind, &req, poll_cb, out);
	while (poller_inflight(p) > 0 && monotime_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_uint_eq(poller_inflight(p), 0);
	poller_free(p);
	event_base_free(base);
}

/* The poller, through the same setup: neither kind follows a redirect,
 * to another host or to another scheme, nor sends its key there. */
START_TEST(test_poller_redirects)
{
	static const struct testhttp_route r[] = {
		{ .path = "/v1/algorithms/acme/A/versions", .status = 302,
		  .headers = "Location: http://" OTHER "/steal\n" },
		{ .path = "/git/o/a.git/info/refs", .status = 301,
		  .headers = "Location: ftp://" OTHER "/a.git\n" },
	};
	struct poller_result	 res;
	char			*url, *want;

	signal(SIGPIPE, SIG_IGN);
	testhttp_start(r, nitems(r), NULL);
	url = testhttp_url("");
	poll_once(POLLER_VERSION, url, &res);
	free(url);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.transient, 0);
	ck_assert_int_eq(res.status, 302);
	want = xprintf("GET http://127.0.0.1:%d/v1/algorithms/acme/A/versions:"
	    " 302 redirect not followed (to http://" OTHER "/steal)",
	    testhttp_port());
	ck_assert_str_eq(res.error, want);
	free(want);

	url = testhttp_url("/git/o/a.git");
	poll_once(POLLER_REFS, url, &res);
	free(url);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.status, 301);
	want = xprintf("GET http://127.0.0.1:%d/git/o/a.git/info/refs: 301 "
	    "redirect not followed (to ftp://" OTHER "/a.git)",
	    testhttp_port());
	ck_assert_str_eq(res.error, want);
	free(want);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_str_eq(testhttp_seen(0)->auth, AUTH);
	testhttp_stop();
}
END_TEST

Suite *
httpc_suite(void)
{
	Suite	*s = suite_create("httpc");
	TCase	*tc = tcase_create("httpc");

	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_setup_defaults);
	tcase_add_test(tc, test_redirect_other_host_keeps_auth);
	tcase_add_test(tc, test_redirect_scheme_refused);
	tcase_add_test(tc, test_protocols);
	tcase_add_test(tc, test_base);
	tcase_add_test(tc, test_api_redirects);
	tcase_add_test(tc, test_poller_redirects);
	suite_add_tcase(s, tc);
	return s;
}
