/* check_api.c: the management-API client against a real HTTP server:
 * testhttp's evhttp server in a thread answers from a per-test script. */
#include <sys/socket.h>
#include <netinet/in.h>

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "api_int.h"
#include "backoff.h"
#include "monotime.h"
#include "redact.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

static cJSON	 sentinel;	/* an out-value the client must overwrite */

/* A key shaped like the real ones: 28 characters with '+' and '/'. */
#define KEY		"simAB+cd/EFghIJklMNopQRstUVw"
#define SHA_A		"1111111111111111111111111111111111111111"
#define SHA_B		"2222222222222222222222222222222222222222"
#define SHA_C		"3333333333333333333333333333333333333333"

#define ROUTE(m, u, s, h, b)						\
	{ .method = (m), .uri = (u), .status = (s), .headers = (h),	\
	  .body = (b) }

/* The Content-Type of answers whose route names none. */
#define DEFAULT_TYPE	"application/json"

static struct api_client *
client(uint64_t timeout_ms)
{
	struct api_client	*c = NULL;
	char			*url, *cause = NULL;

	url = testhttp_url("");
	ck_assert_msg(api_client_new(&c, url, KEY, NULL, timeout_ms,
	    &cause) == 0, "%s", cause);
	free(url);
	return c;
}

/* The JSON text a and b are the same document. */
static void
json_eq(const char *a, const char *b)
{
	cJSON	*ja = cJSON_Parse(a), *jb = cJSON_Parse(b);

	ck_assert_msg(ja != NULL && jb != NULL, "not JSON: %s | %s", a, b);
	ck_assert_msg(cJSON_Compare(ja, jb, 1), "%s != %s", a, b);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
}

static void
prefix_eq(const char *s, const char *prefix)
{
	ck_assert_msg(strncmp(s, prefix, strlen(prefix)) == 0,
	    "\"%s\" does not start with \"%s\"", s, prefix);
}

START_TEST(test_auth_and_headers)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200, NULL,
		    "{\"name\":\"Hello\",\"resource_type\":\"algorithm\"}"),
		ROUTE("POST", "/v1/algorithms/acme", 200, NULL,
		    "{\"name\":\"x\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo = NULL;
	const struct testhttp_seen *s;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", &algo, &err), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(algo, "name")->valuestring,
	    "Hello");
	ck_assert_int_eq(err.status, 200);
	ck_assert_str_eq(err.message, "");
	s = testhttp_seen(0);
	ck_assert_str_eq(s->method, "GET");
	ck_assert_str_eq(s->auth, "Simple " KEY);
	ck_assert_str_eq(s->agent, "algopromoted/" AP_VERSION);
	ck_assert_str_eq(s->accept, "application/json");
	ck_assert_ptr_null(s->ctype);
	ck_assert_str_eq(s->body, "");

	ck_assert_int_eq(api_algo_create(c, "acme", "x", NULL, NULL, NULL,
	    &err), 1);
	s = testhttp_seen(1);
	ck_assert_str_eq(s->method, "POST");
	ck_assert_str_eq(s->auth, "Simple " KEY);
	ck_assert_str_eq(s->ctype, "application/json");
	json_eq(s->body, "{\"name\":\"x\"}");
	cJSON_Delete(algo);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_url_encoding)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme%20corp/H%C3%A9%2Fllo%3F", 200,
		    NULL, "{}"),
		ROUTE("GET", "/v1/algorithms/a%2Bb/c/builds/id%20%2F1", 200,
		    NULL,
		    "{\"build_id\":\"id /1\",\"status\":\"succeeded\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme corp", "H\xc3\xa9/llo?", NULL,
	    &err), 1);
	ck_assert_int_eq(api_build_get(c, "a+b", "c", "id /1", &b, &err), 0);
	ck_assert_str_eq(b.id, "id /1");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	/* An empty name never reaches the server. */
	ck_assert_int_eq(api_algo_get(c, "", "x", NULL, &err), -1);
	ck_assert_str_eq(err.message, "/v1/algorithms: missing name or id");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	api_build_clear(&b);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_get_not_found_shapes)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/a", 404, NULL,
		    "{\"error\":{\"code\":1000,\"message\":\"not found\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/b", 404, NULL,
		    "{\"error\":\"No such algorithm\"}"),
		ROUTE("GET", "/v1/algorithms/acme/c", 404,
		    "Content-Type: text/plain", "Not Found"),
		ROUTE("GET", "/v1/algorithms/acme/d", 404,
		    "Content-Type: text/html",
		    "<html><body><h1>404</h1></body></html>"),
		ROUTE("GET", "/v1/algorithms/acme/e", 200, NULL,
		    "{\"error\":\"No such algorithm\"}"),
	};
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo;
	size_t			 i;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	for (i = 0; i < nitems(names); i++) {
		algo = &sentinel;	/* must be reset */
		ck_assert_int_eq(api_algo_get(c, "acme", names[i], &algo,
		    &err), 0);
		ck_assert_ptr_null(algo);
		ck_assert_int_eq(err.status, i == 4 ? 200 : 404);
		ck_assert_str_eq(err.message, "");
	}
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_get_forbidden)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/other/echo", 403, NULL,
		    "{\"error\":{\"id\":\"1cfb98c5\",\"code\":2001,\"message\":"
		    "\"Caller is not authorized to perform the operation\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo = NULL;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "other", "echo", &algo, &err), -1);
	ck_assert_ptr_null(algo);
	ck_assert_int_eq(err.status, 403);
	ck_assert_int_eq(err.code, 2001);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_int_eq(err.retry_after_ms, -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/other/echo: 403 "
	    "Caller is not authorized to perform the operation (code 2001)");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_create_created)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme", 200, NULL,
		    "{\"id\":\"2938ca9f\",\"name\":\"Hello\",\"settings\":"
		    "{\"algorithm_callability\":\"private\"},"
		    "\"resource_type\":\"algorithm\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*details, *settings, *algo = NULL;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	details = cJSON_Parse("{\"label\":\"Hello\",\"tagline\":\"hi\"}");
	settings = cJSON_Parse("{\"license\":\"apl\",\"network_access\":"
	    "\"full\",\"pipeline_enabled\":true,\"source_visibility\":"
	    "\"closed\",\"package_set\":\"python38\"}");
	ck_assert_int_eq(api_algo_create(c, "acme", "Hello", details,
	    settings, &algo, &err), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(algo, "id")->valuestring,
	    "2938ca9f");
	json_eq(testhttp_seen(0)->body, "{\"name\":\"Hello\",\"details\":"
	    "{\"label\":\"Hello\",\"tagline\":\"hi\"},\"settings\":"
	    "{\"license\":\"apl\",\"network_access\":\"full\","
	    "\"pipeline_enabled\":true,\"source_visibility\":\"closed\","
	    "\"package_set\":\"python38\"}}");
	cJSON_Delete(algo);
	cJSON_Delete(details);
	cJSON_Delete(settings);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_create_exists)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/a", 400, NULL,
		    "{\"error\":{\"code\":1002,\"message\":\"Algorithm with "
		    "that name is taken\"}}"),
		ROUTE("POST", "/v1/algorithms/b", 409, NULL,
		    "{\"error\":{\"id\":\"x\",\"code\":\"1002\"}}"),
		ROUTE("POST", "/v1/algorithms/c", 409,
		    "Content-Type: text/plain",
		    "algorithm Hello already exists"),
	};
	static const char *const owners[] = { "a", "b", "c" };
	static const long statuses[] = { 400, 409, 409 };
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo;
	size_t			 i;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	for (i = 0; i < nitems(owners); i++) {
		algo = &sentinel;
		ck_assert_int_eq(api_algo_create(c, owners[i], "Hello", NULL,
		    NULL, &algo, &err), 0);
		ck_assert_ptr_null(algo);
		ck_assert_int_eq(err.status, statuses[i]);
		ck_assert_str_eq(err.message, "");
	}
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_create_server_error)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme", 500,
		    "Content-Type: text/plain",
		    "Internal Server Error"),
		ROUTE("POST", "/v1/algorithms/other", 409, NULL,
		    "{\"error\":{\"code\":2001,\"message\":\"Conflict\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo = NULL;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_create(c, "acme", "Hello", NULL, NULL,
	    &algo, &err), -1);
	ck_assert_ptr_null(algo);
	ck_assert_int_eq(err.status, 500);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.message,
	    "POST /v1/algorithms/acme: 500 Internal Server Error");
	/* A 409 that does not say "exists" is no proof that it does. */
	ck_assert_int_eq(api_algo_create(c, "other", "Hello", NULL, NULL,
	    &algo, &err), -1);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_int_eq(err.code, 2001);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_build_find_markers)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds?limit=50", 200,
		    NULL,
		    "{\"marker\":\"m/1+=\",\"next_link\":\"http://elsewhere/x"
		    "?marker=wrong\",\"results\":["
		    "{\"build_id\":\"b1\",\"status\":\"succeeded\","
		    "\"commit_sha\":\"" SHA_A "\"},"
		    "{\"build_id\":\"odd\",\"status\":\"failed\"},"
		    "\"not an object\"]}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds?limit=50&marker="
		    "m%2F1%2B%3D", 200, NULL,
		    "{\"marker\":\"m2\",\"results\":[{\"build_id\":\"b2\","
		    "\"status\":\"succeeded\",\"commit_sha\":\"" SHA_B "\"}]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/Hello/builds?limit=50&marker=m2",
		    200, NULL,
		    "{\"marker\":null,\"next_link\":null,\"results\":["
		    "{\"build_id\":\"b3\",\"status\":\"failed\",\"commit_sha\":"
		    "\"" SHA_C "\",\"version_info\":{\"semantic_version\":"
		    "\"1.2.3\"}}]}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_C, &b, &err),
	    1);
	ck_assert_str_eq(b.id, "b3");
	ck_assert_str_eq(b.status, "failed");
	ck_assert_str_eq(b.commit_sha, SHA_C);
	ck_assert_str_eq(b.version, "1.2.3");
	ck_assert_uint_eq(testhttp_nseen(), 3);

	/* The first page is enough when the commit is on it; the struct
	 * is reused and its old content freed. */
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_A, &b, &err),
	    1);
	ck_assert_str_eq(b.id, "b1");
	ck_assert_ptr_null(b.version);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	api_build_clear(&b);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_build_find_next_link)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds?limit=50", 200,
		    NULL,
		    "{\"results\":[{\"build_id\":\"b1\","
		    "\"status\":\"succeeded\",\"commit_sha\":\"" SHA_A "\"}],"
		    "\"next_link\":"
		    "\"https://api.example.com/v1/algorithms/acme/Hello/builds"
		    "?limit=50&marker=abc%3D%3D#frag\"}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds?limit=50&marker="
		    "abc%3D%3D", 200, NULL,
		    "{\"marker\":\"\",\"results\":[{\"build_id\":\"b2\","
		    "\"status\":\"in-progress\",\"commit_sha\":\"" SHA_B
		    "\"}]}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_B, &b, &err),
	    1);
	ck_assert_str_eq(b.id, "b2");
	ck_assert_str_eq(b.status, "in-progress");
	/* "" as marker ends the walk: not listed (yet). */
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_C, &b, &err),
	    0);
	ck_assert_ptr_null(b.id);
	ck_assert_str_eq(err.message, "");
	ck_assert_uint_eq(testhttp_nseen(), 4);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_build_find_marker_loop)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds?limit=50", 200,
		    NULL,
		    "{\"marker\":\"m1\",\"results\":[]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/Hello/builds?limit=50&marker=m1",
		    200, NULL, "{\"marker\":\"m2\",\"results\":[]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/Hello/builds?limit=50&marker=m2",
		    200, NULL, "{\"marker\":\"m1\",\"results\":[]}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_A, &b, &err),
	    -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello/builds: "
	    "the server repeated a pagination marker");
	ck_assert_int_eq(err.transient, 0);
	ck_assert_uint_eq(testhttp_nseen(), 3);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_build_find_max_pages)
{
	struct testhttp_route	 r[API_BUILD_MAX_PAGES + 5];
	char			*uris[nitems(r)], *bodies[nitems(r)];
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };
	size_t			 i;

	memset(r, 0, sizeof r);
	for (i = 0; i < nitems(r); i++) {
		if (i == 0)
			uris[i] = xstrdup("/v1/algorithms/acme/Hello/builds"
			    "?limit=50");
		else
			uris[i] = xprintf("/v1/algorithms/acme/Hello/builds"
			    "?limit=50&marker=p%zu", i);
		bodies[i] = xprintf("{\"marker\":\"p%zu\",\"results\":[{"
		    "\"build_id\":\"b%zu\",\"status\":\"succeeded\","
		    "\"commit_sha\":\"%040zu\"}]}", i + 1, i, i);
		r[i].method = "GET";
		r[i].uri = uris[i];
		r[i].status = 200;
		r[i].body = bodies[i];
	}
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_find(c, "acme", "Hello", SHA_A, &b, &err),
	    0);
	ck_assert_uint_eq(testhttp_nseen(), API_BUILD_MAX_PAGES);
	/* The last page it reads still counts. */
	ck_assert_int_eq(api_build_find(c, "acme", "Hello",
	    "0000000000000000000000000000000000000019", &b, &err), 1);
	ck_assert_str_eq(b.id, "b19");
	api_build_clear(&b);
	api_client_free(c);
	testhttp_stop();
	for (i = 0; i < nitems(r); i++) {
		free(uris[i]);
		free(bodies[i]);
	}
}
END_TEST

START_TEST(test_build_get)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b1", 200, NULL,
		    "{\"build_id\":\"b1\",\"status\":\"in-progress\","
		    "\"commit_sha\":\"" SHA_A "\",\"finished_at\":null}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b2", 200, NULL,
		    "{\"status\":\"queued-for-later\"}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b3", 200, NULL,
		    "{\"build_id\":\"b3\",\"status\":42}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_get(c, "acme", "Hello", "b1", &b, &err), 0);
	ck_assert_str_eq(b.id, "b1");
	ck_assert_str_eq(b.status, "in-progress");
	ck_assert_str_eq(b.commit_sha, SHA_A);
	ck_assert_ptr_null(b.version);
	ck_assert_int_eq(api_build_get(c, "acme", "Hello", "b2", &b, &err), 0);
	ck_assert_str_eq(b.id, "b2");
	ck_assert_str_eq(b.status, "queued-for-later");
	ck_assert_ptr_null(b.commit_sha);
	ck_assert_int_eq(api_build_get(c, "acme", "Hello", "b3", &b, &err),
	    -1);
	ck_assert_ptr_null(b.id);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello/builds/"
	    "b3: status is a number, not a string");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_build_logs)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b1/logs", 404,
		    NULL,
		    "{\"error\":{\"message\":\"build in progress\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b2/logs", 200,
		    NULL,
		    "{\"logs\":\"step 1\\nstep 2\\n\"}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b3/logs", 401,
		    NULL,
		    "{\"error\":{\"code\":2002,\"message\":"
		    "\"Unknown or invalid API key\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	char			*logs;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_logs(c, "acme", "Hello", "b1", &logs,
	    &err), 0);
	ck_assert_ptr_null(logs);
	ck_assert_int_eq(err.status, 404);
	ck_assert_int_eq(api_build_logs(c, "acme", "Hello", "b2", &logs,
	    &err), 1);
	ck_assert_str_eq(logs, "step 1\nstep 2\n");
	free(logs);
	ck_assert_int_eq(api_build_logs(c, "acme", "Hello", "b3", &logs,
	    &err), -1);
	ck_assert_ptr_null(logs);
	ck_assert_int_eq(err.code, 2002);
	ck_assert_int_eq(err.transient, 0);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_publish_ok)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme/Hello/versions", 200, NULL,
		    "{\"name\":\"Hello\",\"version_info\":"
		    "{\"semantic_version\":\"0.1.0\","
		    "\"git_hash\":\"" SHA_A "\","
		    "\"release_notes\":"
		    "\"notes\",\"version_uuid\":\"u\"},\"build\":{\"build_id\":"
		    "\"b1\",\"status\":\"succeeded\"},\"compilation\":"
		    "{\"successful\":true},\"resource_type\":\"algorithm\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_publish(c, "acme", "Hello", "minor", "notes",
	    SHA_A, &v, &err), 0);
	ck_assert_str_eq(v.semver, "0.1.0");
	ck_assert_str_eq(v.git_hash, SHA_A);
	ck_assert_str_eq(v.build_id, "b1");
	ck_assert_str_eq(v.release_notes, "notes");
	json_eq(testhttp_seen(0)->body, "{\"details\":{},\"settings\":{},"
	    "\"version_info\":{\"version_type\":\"minor\",\"release_notes\":"
	    "\"notes\",\"git_hash\":\"" SHA_A "\"}}");
	ck_assert_str_eq(testhttp_seen(0)->ctype, "application/json");
	api_version_clear(&v);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_publish_already)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme/Hello/versions", 400, NULL,
		    "{\"error\":{\"code\":1007,\"message\":\"Version already "
		    "published. Please compile your algorithm.\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_publish(c, "acme", "Hello", "revision", NULL,
	    NULL, &v, &err), -1);
	ck_assert_int_eq(err.code, API_CODE_PUBLISHED);
	ck_assert_int_eq(err.status, 400);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_ptr_null(v.semver);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	json_eq(testhttp_seen(0)->body, "{\"details\":{},\"settings\":{},"
	    "\"version_info\":{\"version_type\":\"revision\"}}");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_publish_singular)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme/a/versions", 404, NULL,
		    "{\"detail\":\"Not Found\"}"),
		ROUTE("POST", "/v1/algorithms/acme/a/version", 200, NULL,
		    "{\"version_info\":{\"semantic_version\":\"1.0.0\","
		    "\"git_hash\":\"" SHA_B "\"}}"),
		ROUTE("POST", "/v1/algorithms/acme/b/versions", 405, NULL,
		    "{\"detail\":\"Method Not Allowed\"}"),
		ROUTE("POST", "/v1/algorithms/acme/b/version", 404, NULL,
		    "{\"error\":{\"code\":1000,\"message\":\"no such "
		    "algorithm\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_publish(c, "acme", "a", "major", "n", NULL, &v, &err),
	    0);
	ck_assert_str_eq(v.semver, "1.0.0");
	ck_assert_str_eq(v.git_hash, SHA_B);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_str_eq(testhttp_seen(1)->uri,
	    "/v1/algorithms/acme/a/version");
	json_eq(testhttp_seen(1)->body, testhttp_seen(0)->body);

	/* Tried once, not again: the second answer is the one reported. */
	ck_assert_int_eq(api_publish(c, "acme", "b", "major", "n", NULL, &v, &err),
	    -1);
	ck_assert_ptr_null(v.semver);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	ck_assert_str_eq(err.message, "POST /v1/algorithms/acme/b/version: "
	    "404 no such algorithm (code 1000)");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_version_latest_filter_ignored)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET",
		    "/v1/algorithms/acme/a/versions?limit=1&published=true",
		    200, NULL,
		    "{\"marker\":\"p2\",\"next_link\":null,\"results\":[{"
		    "\"version_info\":{\"git_hash\":\"" SHA_C "\"}}]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/a/versions?limit=50&published="
		    "true&marker=p2", 200, NULL,
		    "{\"marker\":null,\"results\":["
		    "{\"version_info\":{\"git_hash\":\"" SHA_C "\","
		    "\"semantic_version\":\"\"}},"
		    "{\"version_info\":{\"semantic_version\":\"0.2.0\","
		    "\"git_hash\":\"" SHA_B "\"},"
		    "\"build\":{\"build_id\":\"b2\"}},"
		    "{\"version_info\":{\"semantic_version\":\"0.1.0\","
		    "\"git_hash\":\"" SHA_A "\"}}]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/none/versions?limit=1&published="
		    "true", 200, NULL,
		    "{\"marker\":null,\"next_link\":null,\"results\":[{"
		    "\"version_info\":{\"git_hash\":\"" SHA_C "\"}}]}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_version_latest(c, "acme", "a", &v, &err), 1);
	ck_assert_str_eq(v.semver, "0.2.0");
	ck_assert_str_eq(v.git_hash, SHA_B);
	ck_assert_str_eq(v.build_id, "b2");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_int_eq(api_version_latest(c, "acme", "none", &v, &err), 0);
	ck_assert_ptr_null(v.semver);
	ck_assert_str_eq(err.message, "");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_version_find)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET",
		    "/v1/algorithms/acme/a/versions?limit=50&published="
		    "true", 200, NULL,
		    "{\"marker\":\"v2\",\"results\":["
		    "{\"version_info\":{\"semantic_version\":\"0.3.0\","
		    "\"git_hash\":\"" SHA_C "\"}}]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/a/versions?limit=50&published="
		    "true&marker=v2", 200, NULL,
		    "{\"marker\":null,\"results\":["
		    "{\"version_info\":{\"git_hash\":\"" SHA_B "\"}},"
		    "{\"version_info\":{\"semantic_version\":\"0.1.0\","
		    "\"release_notes\":\"first\"},\"build\":{\"commit_sha\":"
		    "\"" SHA_A "\",\"build_id\":\"b1\"}}]}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_version_find(c, "acme", "a", SHA_A, &v, &err), 1);
	ck_assert_str_eq(v.semver, "0.1.0");
	ck_assert_str_eq(v.git_hash, SHA_A);
	ck_assert_str_eq(v.release_notes, "first");
	/* Unpublished versions with the hash do not count. */
	ck_assert_int_eq(api_version_find(c, "acme", "a", SHA_B, &v, &err), 0);
	ck_assert_ptr_null(v.semver);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

struct collect {
	char	 list[256];
	int	 stop_after;
	int	 n;
};

static int
collect_cb(const struct api_version *v, void *arg)
{
	struct collect	*k = arg;
	size_t		 len = strlen(k->list);

	snprintf(k->list + len, sizeof k->list - len, "%s%s",
	    len > 0 ? "," : "", v->semver != NULL ? v->semver : "-");
	return ++k->n == k->stop_after;
}

START_TEST(test_versions_each)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/a/versions?limit=50", 200,
		    NULL,
		    "{\"marker\":\"x\",\"results\":[{\"version_info\":"
		    "{\"git_hash\":\"" SHA_C "\"}},{\"version_info\":"
		    "{\"semantic_version\":\"0.2.0\"}}]}"),
		ROUTE("GET", "/v1/algorithms/acme/a/versions?limit=50&marker=x",
		    200, NULL, "{\"results\":[{\"version_info\":"
		    "{\"semantic_version\":\"0.1.0\"}}]}"),
		ROUTE("GET",
		    "/v1/algorithms/acme/a/versions?limit=50&published="
		    "false", 200, NULL,
		    "[{\"version_info\":{\"git_hash\":\"" SHA_C "\"}},"
		    "{\"version_info\":{\"semantic_version\":\"0.2.0\"}}]"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct collect		 k;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	memset(&k, 0, sizeof k);
	ck_assert_int_eq(api_versions_each(c, "acme", "a", -1, collect_cb, &k,
	    &err), 0);
	ck_assert_str_eq(k.list, "-,0.2.0,0.1.0");
	memset(&k, 0, sizeof k);
	k.stop_after = 2;
	ck_assert_int_eq(api_versions_each(c, "acme", "a", -1, collect_cb, &k,
	    &err), 1);
	ck_assert_str_eq(k.list, "-,0.2.0");
	ck_assert_uint_eq(testhttp_nseen(), 3);	/* stopped on page one */
	/* A bare array is one page; the filter holds even if ignored. */
	memset(&k, 0, sizeof k);
	ck_assert_int_eq(api_versions_each(c, "acme", "a", 0, collect_cb, &k,
	    &err), 0);
	ck_assert_str_eq(k.list, "-");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_invalid_json)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200,
		    "Content-Type: text/html", "<html>maintenance</html>"),
		ROUTE("GET", "/v1/algorithms/acme/Empty", 200, NULL, NULL),
		ROUTE("GET", "/v1/algorithms/acme/Array", 200, NULL, "[1,2]"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo = NULL;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", &algo, &err), -1);
	ck_assert_ptr_null(algo);
	ck_assert_str_eq(err.message, "invalid JSON in response to GET "
	    "/v1/algorithms/acme/Hello: 200 maintenance");
	ck_assert_int_eq(err.status, 200);
	ck_assert_int_eq(api_algo_get(c, "acme", "Empty", &algo, &err), -1);
	ck_assert_str_eq(err.message, "invalid JSON in response to GET "
	    "/v1/algorithms/acme/Empty: 200 (empty body)");
	ck_assert_int_eq(api_algo_get(c, "acme", "Array", &algo, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Array: "
	    "the answer is not an object");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_ok_with_error_key)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b1", 200, NULL,
		    "{\"status\":\"succeeded\",\"error\":{\"message\":"
		    "\"authorization required\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_get(c, "acme", "Hello", "b1", &b, &err),
	    -1);
	ck_assert_ptr_null(b.status);
	ck_assert_int_eq(err.status, 200);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello/builds/"
	    "b1: 200 authorization required");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* Members of the wrong type in answers the client reads: an error
 * naming the member, never an item passed over as if it said nothing
 * (a version that looks unpublished is published again) nor a build
 * without an id (it was followed by xstrdup(NULL): a crash). */
START_TEST(test_wrong_member_types)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/A/builds?limit=50", 200, NULL,
		    "{\"marker\":null,\"results\":[\"skipped\",{\"build_id\":"
		    "\"b1\",\"status\":{\"state\":\"succeeded\"},"
		    "\"commit_sha\":\"" SHA_A "\"}]}"),
		ROUTE("GET", "/v1/algorithms/acme/B/builds?limit=50", 200, NULL,
		    "{\"marker\":null,\"results\":[{\"build_id\":7,"
		    "\"status\":\"succeeded\",\"commit_sha\":\"" SHA_A "\"}]}"),
		ROUTE("GET", "/v1/algorithms/acme/C/builds?limit=50", 200, NULL,
		    "{\"marker\":null,\"results\":[{\"status\":\"succeeded\","
		    "\"commit_sha\":\"" SHA_A "\"}]}"),
		ROUTE("GET", "/v1/algorithms/acme/A/versions?limit=50&published="
		    "true", 200, NULL,
		    "{\"marker\":null,\"results\":[{\"version_info\":"
		    "{\"semantic_version\":\"0.2.0\",\"git_hash\":\"" SHA_B "\"}},"
		    "{\"version_info\":{\"semantic_version\":\"0.1.0\","
		    "\"git_hash\":1234}}]}"),
		ROUTE("GET", "/v1/algorithms/acme/B/versions?limit=1&published="
		    "true", 200, NULL,
		    "{\"marker\":null,\"results\":[{\"version_info\":[1]}]}"),
		ROUTE("POST", "/v1/algorithms/acme/A/versions", 200, NULL,
		    "{\"version_info\":{\"semantic_version\":\"9.9.9\","
		    "\"git_hash\":5}}"),
		ROUTE("GET", "/v1/algorithms/acme/A/builds/b1", 200, NULL,
		    "[\"succeeded\"]"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_build	 b = { 0 };
	struct api_version	 v = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_build_find(c, "acme", "A", SHA_A, &b, &err), -1);
	ck_assert_ptr_null(b.id);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/A/builds: "
	    "results[1]: status is an object, not a string");
	ck_assert_int_eq(err.transient, 0);
	ck_assert_int_eq(api_build_find(c, "acme", "B", SHA_A, &b, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/B/builds: "
	    "results[0]: build_id is a number, not a string");
	ck_assert_int_eq(api_build_find(c, "acme", "C", SHA_A, &b, &err), -1);
	ck_assert_ptr_null(b.id);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/C/builds: "
	    "the build of " SHA_A " has no build_id");
	ck_assert_int_eq(api_build_get(c, "acme", "A", "b1", &b, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/A/builds/b1: "
	    "the answer is a list, not an object");

	ck_assert_int_eq(api_version_find(c, "acme", "A", SHA_A, &v, &err),
	    -1);
	ck_assert_ptr_null(v.semver);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/A/versions: "
	    "results[1]: version_info.git_hash is a number, not a string");
	/* Found before the bad item: the walk stops there. */
	ck_assert_int_eq(api_version_find(c, "acme", "A", SHA_B, &v, &err), 1);
	ck_assert_str_eq(v.semver, "0.2.0");
	ck_assert_int_eq(api_version_latest(c, "acme", "B", &v, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/B/versions: "
	    "results[0]: version_info is a list, not an object");

	/* A publish answer naming its commit by a number is not taken
	 * as ours (it was recorded as version 9.9.9). */
	ck_assert_int_eq(api_publish(c, "acme", "A", "minor", NULL, SHA_A, &v,
	    &err), -1);
	ck_assert_ptr_null(v.semver);
	ck_assert_int_eq(err.status, 200);
	ck_assert_str_eq(err.message, "POST /v1/algorithms/acme/A/versions: "
	    "version_info.git_hash is a number, not a string");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* A 200 that is an HTML page (a proxy's sign-in page): its title, not
 * markup that may fill the message before the title comes. */
START_TEST(test_html_instead_of_json)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200,
		    "Content-Type: text/html; charset=utf-8",
		    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset="
		    "\"utf-8\"><meta name=\"viewport\" content=\"width=device-"
		    "width, initial-scale=1\"><style>body{font-family:sans-"
		    "serif;margin:0;padding:0;background:#fafafa}h1{font-size:"
		    "2em;color:#333}</style><title>\n  Sign in - Corporate "
		    "Proxy\n</title></head><body><h1>Sign in</h1></body>"
		    "</html>\n"),
	};
	struct api_client	*c;
	struct api_error	 err;
	cJSON			*algo = NULL;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", &algo, &err), -1);
	ck_assert_str_eq(err.message, "invalid JSON in response to GET "
	    "/v1/algorithms/acme/Hello: 200 Sign in - Corporate Proxy");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_error_body_shapes)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/a", 400, NULL,
		    "\"This is an expected failure mode, try again\""),
		ROUTE("GET", "/v1/algorithms/acme/b", 422, NULL,
		    "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field "
		    "required\"}]}"),
		ROUTE("GET", "/v1/algorithms/acme/c", 502, NULL, NULL),
		ROUTE("GET", "/v1/algorithms/acme/d", 400,
		    "Content-Type: text/plain",
		    "line one\r\n\tline\x01two\x7f"),
		ROUTE("GET", "/v1/algorithms/acme/e", 401, NULL,
		    "{\"code\":2002,\"message\":"
		    "\"Unknown or invalid API key\"}"),
		ROUTE("GET", "/v1/algorithms/acme/f", 400, NULL,
		    "{\"error\":{\"deleted\":3}}"),
	};
	static const char *const want[] = {
		"GET /v1/algorithms/acme/a: 400 This is an expected failure "
		"mode, try again",
		"GET /v1/algorithms/acme/b: 422 field required",
		"GET /v1/algorithms/acme/c: 502 Bad Gateway",
		"GET /v1/algorithms/acme/d: 400 line one line two",
		"GET /v1/algorithms/acme/e: 401 Unknown or invalid API key "
		"(code 2002)",
		"GET /v1/algorithms/acme/f: 400 {\"deleted\":3}",
	};
	static const char *const names[] = { "a", "b", "c", "d", "e", "f" };
	struct api_client	*c;
	struct api_error	 err;
	size_t			 i;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	for (i = 0; i < nitems(names); i++) {
		ck_assert_int_eq(api_algo_get(c, "acme", names[i], NULL, &err),
		    -1);
		ck_assert_str_eq(err.message, want[i]);
		ck_assert_int_eq(err.transient, i == 2);
	}
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_long_error_truncated)
{
	struct testhttp_route	 r[1];
	struct api_client	*c;
	struct api_error	 err;
	char			*body, *detail;

	body = xmalloc(5001);
	memset(body, 'y', 5000);
	body[5000] = '\0';
	memset(r, 0, sizeof r);
	r[0].method = "GET";
	r[0].uri = "/v1/algorithms/acme/Hello";
	r[0].status = 400;
	r[0].headers = "Content-Type: text/plain";
	r[0].body = body;
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	detail = strstr(err.message, ": 400 ");
	ck_assert_ptr_nonnull(detail);
	detail += strlen(": 400 ");
	ck_assert_uint_eq(strlen(detail), 203);
	ck_assert_str_eq(detail + 200, "...");
	ck_assert_ptr_null(strchr(err.message, '\n'));
	api_client_free(c);
	testhttp_stop();
	free(body);
}
END_TEST

START_TEST(test_rate_limited)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 429, "Retry-After: 7",
		    "{\"error\":{\"message\":\"Too Many Requests\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	ck_assert_int_eq(err.status, 429);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.retry_after_ms, 7000);
	ck_assert_str_eq(err.message,
	    "GET /v1/algorithms/acme/Hello: 429 Too Many Requests");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_unavailable)
{
	struct testhttp_route	 r[3];
	struct api_client	*c;
	struct api_error	 err;
	char			 date[64], hdr[96];
	struct tm		 tm;
	time_t			 when = time(NULL) + 120;

	gmtime_r(&when, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof hdr, "Retry-After: %s", date);
	memset(r, 0, sizeof r);
	r[0].method = r[1].method = r[2].method = "GET";
	r[0].uri = "/v1/algorithms/acme/a";
	r[0].status = 503;
	r[0].headers = "Content-Type: text/html";
	r[0].body = "<html><head><title>503 Service Temporarily Unavailable"
	    "</title></head><body><h1>503</h1><hr>nginx</body></html>";
	r[1].uri = "/v1/algorithms/acme/b";
	r[1].status = 503;
	r[1].headers = hdr;
	r[2].uri = "/v1/algorithms/acme/c";
	r[2].status = 408;
	r[2].headers = "Retry-After: soon";
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "a", NULL, &err), -1);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.retry_after_ms, -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/a: 503 "
	    "503 Service Temporarily Unavailable");
	ck_assert_int_eq(api_algo_get(c, "acme", "b", NULL, &err), -1);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_ge(err.retry_after_ms, 110000);
	ck_assert_int_le(err.retry_after_ms, 120000);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/b: 503 "
	    "Service Unavailable");
	ck_assert_int_eq(api_algo_get(c, "acme", "c", NULL, &err), -1);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.retry_after_ms, -1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_timeout)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = "/v1/algorithms/acme/Hello",
		    .status = 200, .body = "{}", .delay_ms = 20000 },
	};
	struct api_client	*c;
	struct api_error	 err;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(300);
	start = monotime_ms();
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	took = monotime_ms() - start;
	ck_assert_uint_ge(took, 250);
	ck_assert_uint_lt(took, 1500);
	ck_assert_int_eq(err.status, 0);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.cancelled, 0);
	prefix_eq(err.message,
	    "GET /v1/algorithms/acme/Hello: Operation timed out");
	ck_assert_uint_eq(testhttp_nseen(), 1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* The URL of a port that was free a moment ago and has no listener: *fd
 * holds it bound (the caller closes it). */
static char *
dead_url(int *fd)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sin, &slen), 0);
	return xprintf("http://127.0.0.1:%d", ntohs(sin.sin_port));
}

START_TEST(test_connect_refused)
{
	struct api_client	*c = NULL;
	struct api_error	 err;
	char			*url, *cause = NULL;
	int			 fd;

	url = dead_url(&fd);
	ck_assert_int_eq(api_client_new(&c, url, KEY, NULL, 2000, &cause), 0);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	ck_assert_int_eq(err.status, 0);
	ck_assert_int_eq(err.transient, 1);
	prefix_eq(err.message, "GET /v1/algorithms/acme/Hello: ");
	close(fd);
	free(url);
	api_client_free(c);
}
END_TEST

START_TEST(test_too_large)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = "/v1/algorithms/acme/a/builds/b/logs",
		    .status = 200, .big = 2048 },
		{ .method = "GET", .uri = "/v1/algorithms/acme/c/builds/b/logs",
		    .status = 200, .big = 2048, .flags = TESTHTTP_CHUNKED },
		{ .method = "GET", .uri = "/v1/algorithms/acme/d/builds/b/logs",
		    .status = 200, .big = API_MAX_RESPONSE + 1,
		    .flags = TESTHTTP_CHUNKED },
		ROUTE("GET", "/v1/algorithms/acme/e/builds/b/logs", 200, NULL,
		    NULL),	/* body set below: exactly 1024 bytes */
	};
	struct testhttp_route	 rr[nitems(r)];
	struct api_client	*c, *big;
	struct api_error	 err;
	char			*logs, exact[1025];

	memcpy(rr, r, sizeof r);
	memset(exact, 'z', 1024);
	exact[1024] = '\0';
	memcpy(exact, "{\"logs\":\"", 9);
	memcpy(exact + 1022, "\"}", 2);
	rr[3].body = exact;
	testhttp_start(rr, nitems(rr), DEFAULT_TYPE);
	c = client(10000);
	api_client_set_max_response(c, 1024);
	ck_assert_int_eq(api_build_logs(c, "acme", "a", "b", &logs, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/a/builds/b/"
	    "logs: response too large (more than 1024 bytes)");
	ck_assert_int_eq(err.transient, 0);
	ck_assert_int_eq(api_build_logs(c, "acme", "c", "b", &logs, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/c/builds/b/"
	    "logs: response too large (more than 1024 bytes)");
	ck_assert_int_eq(api_build_logs(c, "acme", "e", "b", &logs, &err), 1);
	ck_assert_uint_eq(strlen(logs), 1024 - 11);
	free(logs);

	big = client(10000);
	ck_assert_int_eq(api_build_logs(big, "acme", "d", "b", &logs, &err),
	    -1);
	ck_assert_msg(strstr(err.message, "response too large (more than "
	    "16777216 bytes)") != NULL, "%s", err.message);
	api_client_free(big);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_key_redacted)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/a", 401, NULL,
		    "{\"error\":{\"code\":2002,\"message\":\"invalid key "
		    KEY "\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/b", 403,
		    "Content-Type: text/plain",
		    "key=simAB%2Bcd%2FEFghIJklMNopQRstUVw denied"),
		ROUTE("GET", "/v1/algorithms/acme/c", 200, NULL,
		    "{\"error\":\"Authorization: Simple " KEY "\"}"),
		ROUTE("GET", "/v1/algorithms/acme/d", 200,
		    "Content-Type: text/plain",
		    "not json; your key is " KEY),
	};
	struct testhttp_route	 rr[nitems(r) + 1];
	struct api_client	*c;
	struct api_error	 err;
	char			 pad[256];
	size_t			 i;

	/* The key straddles the 200-byte cut of the server's text. */
	memset(pad, 'p', 190);
	snprintf(pad + 190, sizeof pad - 190, "%s", KEY);
	memcpy(rr, r, sizeof r);
	memset(&rr[nitems(r)], 0, sizeof rr[0]);
	rr[nitems(r)].method = "GET";
	rr[nitems(r)].uri = "/v1/algorithms/acme/e";
	rr[nitems(r)].status = 400;
	rr[nitems(r)].headers = "Content-Type: text/plain";
	rr[nitems(r)].body = pad;
	redact_add(KEY);
	testhttp_start(rr, nitems(rr), DEFAULT_TYPE);
	c = client(5000);
	for (i = 0; i < nitems(rr); i++) {
		char name[2] = { (char)('a' + i), '\0' };

		ck_assert_int_eq(api_algo_get(c, "acme", name, NULL, &err), -1);
		ck_assert_msg(strstr(err.message, "simAB") == NULL, "%s",
		    err.message);
		ck_assert_msg(strstr(err.message, "cd/EF") == NULL &&
		    strstr(err.message, "cd%2FEF") == NULL, "%s",
		    err.message);
		ck_assert_msg(strstr(err.message, REDACT_MASK) != NULL, "%s",
		    err.message);
	}
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* Nothing registered by the caller: the client registers its own key. */
START_TEST(test_key_redacted_by_client)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/a", 401, NULL,
		    "{\"error\":{\"message\":\"bad key " KEY "\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;

	redact_clear();
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "a", NULL, &err), -1);
	ck_assert_str_eq(err.message,
	    "GET /v1/algorithms/acme/a: 401 bad key " REDACT_MASK);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_cancel)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = "/v1/algorithms/acme/slow",
		    .status = 200, .body = "{}", .delay_ms = 30000,
		    .flags = TESTHTTP_CANCEL },
	};
	struct api_client	*c;
	struct api_error	 err;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(20000);
	api_client_set_cancel(c, testhttp_cancelled());
	start = monotime_ms();
	ck_assert_int_eq(api_algo_get(c, "acme", "slow", NULL, &err), -1);
	took = monotime_ms() - start;
	ck_assert_int_eq(*testhttp_cancelled(), 1);
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/slow: "
	    "cancelled");
	ck_assert_uint_lt(took, 3000);	/* curl looks about once a second */

	/* Still set: the next request never leaves. */
	ck_assert_int_eq(api_algo_get(c, "acme", "slow", NULL, &err), -1);
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_keepalive)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200, NULL, "{}"),
		ROUTE("GET", "/v1/algorithms/acme/Hello/builds/b1/logs", 404,
		    NULL,
		    "{\"error\":\"not yet\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	char			*logs;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), 1);
	ck_assert_int_eq(api_build_logs(c, "acme", "Hello", "b1", &logs,
	    &err), 0);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), 1);
	ck_assert_uint_eq(testhttp_nseen(), 3);
	ck_assert_int_eq(testhttp_seen(1)->port, testhttp_seen(0)->port);
	ck_assert_int_eq(testhttp_seen(2)->port, testhttp_seen(0)->port);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_redirect_not_followed)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 302,
		    "Location: http://elsewhere.invalid/steal", NULL),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	ck_assert_int_eq(err.status, 302);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello: 302 "
	    "redirect to http://elsewhere.invalid/steal not followed");
	ck_assert_uint_eq(testhttp_nseen(), 1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_client_new)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/prefix/v1/algorithms/acme/Hello", 200, NULL,
		    "{}"),
	};
	struct api_client	*c = NULL;
	struct api_error	 err;
	char			*cause = NULL, *url;

	ck_assert_int_eq(api_client_new(&c, "ftp://h", KEY, NULL, 1000,
	    &cause), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(cause,
	    "bad API URL \"ftp://h\": want http(s)://host[:port]");
	free(cause);
	ck_assert_int_eq(api_client_new(&c, "https://u:hunter22@h", KEY, NULL,
	    1000, &cause), -1);
	ck_assert_ptr_null(strstr(cause, "hunter22"));
	free(cause);
	ck_assert_int_eq(api_client_new(&c, "https://h", "sim\r\nX: y", NULL,
	    1000, &cause), -1);
	ck_assert_str_eq(cause,
	    "the API key contains spaces or control characters");
	free(cause);
	ck_assert_int_eq(api_client_new(&c, "https://h", KEY, NULL, 0,
	    &cause), -1);
	free(cause);
	ck_assert_int_eq(api_client_new(&c, "https://h", KEY,
	    "/nonexistent/ca.pem", 1000, &cause), -1);
	ck_assert_str_eq(cause,
	    "ca_file /nonexistent/ca.pem: No such file or directory");
	free(cause);
	api_client_free(NULL);

	/* A trailing "/v1/" is the caller's slip, not a path prefix. */
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	url = testhttp_url("/prefix/v1/");
	ck_assert_int_eq(api_client_new(&c, url, KEY, NULL, 5000, &cause), 0);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), 1);
	free(url);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* ---- retries ------------------------------------------------------- */

/* A client that tries tries times within budget_ms. */
static struct api_client *
retrying(int tries, uint64_t budget_ms)
{
	struct api_client	*c = client(5000);

	api_client_set_retry(c, tries, budget_ms);
	return c;
}

/* Milliseconds between the server's requests i and i + 1. */
static uint64_t
gap_ms(size_t i)
{
	return testhttp_seen(i + 1)->ms - testhttp_seen(i)->ms;
}

START_TEST(test_retry_wait)
{
	uint64_t	 ms;
	int		 i;

	/* 1 s, 2 s, 4 s, +-10% (backoff.c's jitter). */
	ck_assert_uint_eq(api_retry_wait(1, -1, 0), 900);
	ck_assert_uint_eq(api_retry_wait(1, -1, 200), 1100);
	ck_assert_uint_eq(api_retry_wait(2, -1, 0), 1800);
	ck_assert_uint_eq(api_retry_wait(3, -1, 400), 4000);
	for (i = 0; i < 1000; i++) {
		ms = api_retry_wait(1, -1, backoff_random());
		ck_assert_uint_ge(ms, 900);
		ck_assert_uint_le(ms, 1100);
	}
	/* Retry-After wins when it is longer, never when shorter. */
	ck_assert_uint_eq(api_retry_wait(1, 5000, 0), 5000);
	ck_assert_uint_eq(api_retry_wait(1, 100, 0), 900);
	ck_assert_uint_eq(api_retry_wait(1, 0, 0), 900);
	/* No overflow however many tries. */
	ck_assert_uint_le(api_retry_wait(1000, -1, 0), API_RETRY_AFTER_MAX_MS);
}
END_TEST

START_TEST(test_retry_may)
{
	struct api_error	 e;

	api_error_reset(&e);
	e.transient = 1;
	/* No answer: a GET always, a POST only when it was not sent. */
	ck_assert_int_eq(api_retry_may("GET", &e, 1), 1);
	ck_assert_int_eq(api_retry_may("POST", &e, 1), 0);
	ck_assert_int_eq(api_retry_may("POST", &e, 0), 1);
	ck_assert_int_eq(api_retry_may("DELETE", &e, 1), 0);
	e.status = 500;
	ck_assert_int_eq(api_retry_may("GET", &e, 1), 1);
	ck_assert_int_eq(api_retry_may("POST", &e, 1), 0);
	ck_assert_int_eq(api_retry_may("PUT", &e, 1), 0);
	e.status = 502;
	ck_assert_int_eq(api_retry_may("PATCH", &e, 1), 0);
	e.status = 503;
	ck_assert_int_eq(api_retry_may("POST", &e, 1), 1);
	e.status = 429;
	ck_assert_int_eq(api_retry_may("POST", &e, 1), 1);
	e.cancelled = 1;
	ck_assert_int_eq(api_retry_may("GET", &e, 1), 0);
	e.cancelled = 0;
	e.transient = 0;
	e.status = 404;
	ck_assert_int_eq(api_retry_may("GET", &e, 1), 0);
}
END_TEST

START_TEST(test_retry_get_500)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = "/v1/algorithms/acme/Hello",
		    .status = 500, .body = "{\"error\":\"oops\"}", .times = 1 },
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200, NULL,
		    "{\"name\":\"Hello\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), 1);
	ck_assert_int_eq(err.status, 200);
	ck_assert_str_eq(err.message, "");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_ge(gap_ms(0), 750);
	ck_assert_uint_lt(gap_ms(0), 2000);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_after_seconds)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = "/v1/algorithms/acme/Hello",
		    .status = 429, .headers = "Retry-After: 1", .times = 1 },
		ROUTE("GET", "/v1/algorithms/acme/Hello", 200, NULL, "{}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	uint64_t		 start;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	start = monotime_ms();
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), 1);
	ck_assert_uint_ge(monotime_ms() - start, 1000);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_ge(gap_ms(0), 1000);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_after_date)
{
	struct testhttp_route	 r[2];
	struct api_client	*c;
	struct api_error	 err;
	char			 date[64], hdr[96];
	struct tm		 tm;
	time_t			 when = time(NULL) + 2;

	gmtime_r(&when, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof hdr, "Retry-After: %s", date);
	memset(r, 0, sizeof r);
	r[0].method = r[1].method = "POST";
	r[0].uri = r[1].uri = "/v1/algorithms/acme";
	r[0].status = 503;
	r[0].headers = hdr;
	r[0].times = 1;
	r[1].status = 200;
	r[1].body = "{\"name\":\"x\"}";
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	/* A refused POST is repeated, and not before the date. */
	ck_assert_int_eq(api_algo_create(c, "acme", "x", NULL, NULL, NULL,
	    &err), 1);
	ck_assert_int_ge(time(NULL), when);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_ge(gap_ms(0), 1000);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_permanent)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/gone", 404, NULL,
		    "{\"error\":{\"code\":1000,\"message\":\"not found\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/who", 401, NULL,
		    "{\"error\":{\"code\":2002,\"message\":\"bad key\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/no", 403, NULL,
		    "{\"error\":{\"code\":2001,\"message\":\"not yours\"}}"),
		ROUTE("GET", "/v1/algorithms/acme/bad", 400, NULL,
		    "{\"error\":{\"message\":\"bad request\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	uint64_t		 start = monotime_ms();

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	ck_assert_int_eq(api_algo_get(c, "acme", "gone", NULL, &err), 0);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	ck_assert_int_eq(api_algo_get(c, "acme", "who", NULL, &err), -1);
	ck_assert_str_eq(err.message,
	    "GET /v1/algorithms/acme/who: 401 bad key (code 2002)");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_int_eq(api_algo_get(c, "acme", "no", NULL, &err), -1);
	ck_assert_str_eq(err.message,
	    "GET /v1/algorithms/acme/no: 403 not yours (code 2001)");
	ck_assert_uint_eq(testhttp_nseen(), 3);
	ck_assert_int_eq(api_algo_get(c, "acme", "bad", NULL, &err), -1);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	ck_assert_uint_lt(monotime_ms() - start, 700);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_post_ambiguous)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/algorithms/acme", 500, NULL,
		    "{\"error\":\"oops\"}"),
		{ .method = "POST", .uri = "/v1/algorithms/acme/x/versions",
		    .status = 200, .body = "{}", .delay_ms = 3000 },
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_version	 v = { 0 };
	uint64_t		 start = monotime_ms();

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(300);
	api_client_set_retry(c, 5, 120000);
	/* A 500 to a create may have created it: returned at once. */
	ck_assert_int_eq(api_algo_create(c, "acme", "x", NULL, NULL, NULL,
	    &err), -1);
	ck_assert_int_eq(err.status, 500);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_str_eq(err.message, "POST /v1/algorithms/acme: 500 oops");
	ck_assert_uint_eq(testhttp_nseen(), 1);
	/* So may a publish whose answer timed out. */
	ck_assert_int_eq(api_publish(c, "acme", "x", "minor", NULL, NULL, &v, &err),
	    -1);
	ck_assert_int_eq(err.status, 0);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_lt(monotime_ms() - start, 1500);
	api_version_clear(&v);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_budget)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 503, NULL,
		    "{\"error\":\"busy\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(10, 1500);
	start = monotime_ms();
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	took = monotime_ms() - start;
	/* About 1 s, then the next wait (about 2 s) would pass 1.5 s. */
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_lt(took, 1500);
	ck_assert_int_eq(err.status, 503);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello: 503 "
	    "busy (2 tries; the next would pass the 1.5 s retry budget)");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_tries)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 502, NULL,
		    "{\"error\":\"bad gateway\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(2, 120000);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello: 502 "
	    "bad gateway (2 tries)");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* Stops the tries from the third on, as an open breaker does. */
static int
halt_after_two(void *arg, char *why, size_t len)
{
	int	*asked = arg;

	snprintf(why, len, "cluster dev is failing");
	return ++*asked >= 2;
}

START_TEST(test_retry_halted)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 503, NULL,
		    "{\"error\":\"busy\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	int			 asked = 0;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	api_client_set_halt(c, halt_after_two, &asked);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	/* Asked before each retry: the second answer stops them. */
	ck_assert_int_eq(asked, 2);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_int_eq(err.halted, 1);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello: 503 "
	    "busy (not tried again: cluster dev is failing)");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_connect_refused)
{
	struct api_client	*c = NULL;
	struct api_error	 err;
	char			*url, *cause = NULL;
	int			 fd;

	url = dead_url(&fd);
	ck_assert_int_eq(api_client_new(&c, url, KEY, NULL, 2000, &cause), 0);
	api_client_set_retry(c, 2, 120000);
	/* Nothing was sent: even a POST is tried again. */
	ck_assert_int_eq(api_algo_create(c, "acme", "x", NULL, NULL, NULL,
	    &err), -1);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_ptr_nonnull(strstr(err.message, "(2 tries)"));
	api_client_free(c);
	free(url);
	close(fd);
}
END_TEST

static void *
cancel_later(void *arg)
{
	struct timespec	 ts = { 0, 300 * 1000000L };

	nanosleep(&ts, NULL);
	atomic_store((atomic_int *)arg, 1);
	return NULL;
}

START_TEST(test_retry_cancel)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/algorithms/acme/Hello", 503,
		    "Retry-After: 30", "{\"error\":\"busy\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	atomic_int		 cancel = 0;
	pthread_t		 t;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = retrying(5, 120000);
	api_client_set_cancel(c, &cancel);
	start = monotime_ms();
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, &cancel), 0);
	ck_assert_int_eq(api_algo_get(c, "acme", "Hello", NULL, &err), -1);
	took = monotime_ms() - start;
	pthread_join(t, NULL);
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(err.message, "GET /v1/algorithms/acme/Hello: "
	    "cancelled");
	ck_assert_uint_eq(testhttp_nseen(), 1);
	ck_assert_uint_lt(took, 1000);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

Suite *
api_suite(void)
{
	Suite	*s = suite_create("api");
	TCase	*tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_auth_and_headers);
	tcase_add_test(tc, test_url_encoding);
	tcase_add_test(tc, test_get_not_found_shapes);
	tcase_add_test(tc, test_get_forbidden);
	tcase_add_test(tc, test_create_created);
	tcase_add_test(tc, test_create_exists);
	tcase_add_test(tc, test_create_server_error);
	tcase_add_test(tc, test_build_find_markers);
	tcase_add_test(tc, test_build_find_next_link);
	tcase_add_test(tc, test_build_find_marker_loop);
	tcase_add_test(tc, test_build_find_max_pages);
	tcase_add_test(tc, test_build_get);
	tcase_add_test(tc, test_build_logs);
	tcase_add_test(tc, test_publish_ok);
	tcase_add_test(tc, test_publish_already);
	tcase_add_test(tc, test_publish_singular);
	tcase_add_test(tc, test_version_latest_filter_ignored);
	tcase_add_test(tc, test_version_find);
	tcase_add_test(tc, test_versions_each);
	tcase_add_test(tc, test_invalid_json);
	tcase_add_test(tc, test_ok_with_error_key);
	tcase_add_test(tc, test_wrong_member_types);
	tcase_add_test(tc, test_html_instead_of_json);
	tcase_add_test(tc, test_error_body_shapes);
	tcase_add_test(tc, test_long_error_truncated);
	tcase_add_test(tc, test_rate_limited);
	tcase_add_test(tc, test_unavailable);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_key_redacted);
	tcase_add_test(tc, test_key_redacted_by_client);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_redirect_not_followed);
	tcase_add_test(tc, test_client_new);
	suite_add_tcase(s, tc);

	tc = tcase_create("retry");
	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_retry_wait);
	tcase_add_test(tc, test_retry_may);
	tcase_add_test(tc, test_retry_get_500);
	tcase_add_test(tc, test_retry_after_seconds);
	tcase_add_test(tc, test_retry_after_date);
	tcase_add_test(tc, test_retry_permanent);
	tcase_add_test(tc, test_retry_post_ambiguous);
	tcase_add_test(tc, test_retry_budget);
	tcase_add_test(tc, test_retry_tries);
	tcase_add_test(tc, test_retry_halted);
	tcase_add_test(tc, test_retry_connect_refused);
	tcase_add_test(tc, test_retry_cancel);
	suite_add_tcase(s, tc);
	return s;
}
