/* check_api_data.c: the API client's hosted-data calls and the streamed
 * copy against testhttp's evhttp server (and a raw one for PATCH). */
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
#include <openssl/evp.h>

#include "api.h"
#include "api_data.h"
#include "monotime.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

/* A key shaped like the real ones: 28 characters with '+' and '/'. */
#define KEY		"simAB+cd/EFghIJklMNopQRstUVw"
#define DEFAULT_TYPE	"application/json"
#define MIB		(1024 * 1024)
#define MD5_EMPTY	"d41d8cd98f00b204e9800998ecf8427e"

#define ROUTE(m, u, s, h, b)						\
	{ .method = (m), .uri = (u), .status = (s), .headers = (h),	\
	  .body = (b) }

#define LIST(u)		"/v1/connector/data/acme/models?acl=true" u
#define FILE_SRC	"/v1/connector/data/src/c/f.bin"
#define FILE_DST	"/v1/connector/data/dst/c2/g.bin"
#define PUT_OK		"{\"result\":\"data://dst/c2/g.bin\"}"

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

static void
json_eq(const char *a, const char *b)
{
	cJSON	*ja = cJSON_Parse(a), *jb = cJSON_Parse(b);

	ck_assert_msg(ja != NULL && jb != NULL, "not JSON: %s | %s", a, b);
	ck_assert_msg(cJSON_Compare(ja, jb, 1), "%s != %s", a, b);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
}

/* How many requests of method the server saw. */
static size_t
seen_count(const char *method)
{
	size_t	 i, n = 0;

	for (i = 0; i < testhttp_nseen(); i++)
		if (strcmp(testhttp_seen(i)->method, method) == 0)
			n++;
	return n;
}

static const struct testhttp_seen *
seen_first(const char *method)
{
	size_t	 i;

	for (i = 0; i < testhttp_nseen(); i++)
		if (strcmp(testhttp_seen(i)->method, method) == 0)
			return testhttp_seen(i);
	ck_abort_msg("no %s seen", method);
	return NULL;
}

/* The hashes of n bytes: buf, or 'x' repeated when buf is NULL. */
static void
hashes(const char *buf, size_t n, char md5[33], char sha[65])
{
	static const char	 hex[] = "0123456789abcdef";
	EVP_MD_CTX		*m = EVP_MD_CTX_new(), *s = EVP_MD_CTX_new();
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 len, i;
	char			*xs = NULL;
	size_t			 off, k;

	ck_assert_int_eq(EVP_DigestInit_ex(m, EVP_md5(), NULL), 1);
	ck_assert_int_eq(EVP_DigestInit_ex(s, EVP_sha256(), NULL), 1);
	if (buf == NULL) {
		xs = xmalloc(MIB);
		memset(xs, 'x', MIB);
	}
	for (off = 0; off < n; off += k) {
		k = n - off < MIB ? n - off : MIB;
		EVP_DigestUpdate(m, buf != NULL ? buf + off : xs, k);
		EVP_DigestUpdate(s, buf != NULL ? buf + off : xs, k);
	}
	EVP_DigestFinal_ex(m, md, &len);
	for (i = 0; i < len; i++) {
		md5[2 * i] = hex[md[i] >> 4];
		md5[2 * i + 1] = hex[md[i] & 0xf];
	}
	md5[2 * len] = '\0';
	EVP_DigestFinal_ex(s, md, &len);
	for (i = 0; i < len; i++) {
		sha[2 * i] = hex[md[i] >> 4];
		sha[2 * i + 1] = hex[md[i] & 0xf];
	}
	sha[2 * len] = '\0';
	EVP_MD_CTX_free(m);
	EVP_MD_CTX_free(s);
	free(xs);
}

/* What an observer saw. */
struct obs {
	long	 status[16];
	int	 n;
};

static void
observe(void *arg, long status)
{
	struct obs	*o = arg;

	ck_assert_int_lt(o->n, 16);
	o->status[o->n++] = status;
}

/* What a progress callback saw. */
struct prog {
	int	 calls;
	int64_t	 last;
	int	 backwards;
};

static void
progress(void *arg, int64_t bytes)
{
	struct prog	*p = arg;

	if (bytes < p->last)
		p->backwards = 1;
	p->last = bytes;
	p->calls++;
}

START_TEST(test_list_pages)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", LIST(""), 200, NULL,
		    "{\"files\":[{\"filename\":\"a.bin\",\"last_modified\":"
		    "\"2024-01-01T00:00:00.000Z\",\"size\":3000000000}],"
		    "\"marker\":\"m1\",\"acl\":{\"read\":[\"user://*\"]}}"),
		ROUTE("GET", LIST("&marker=m1"), 200, NULL,
		    "{\"files\":[{\"filename\":\"b.txt\",\"last_modified\":"
		    "\"2024-01-02T00:00:00.000Z\",\"size\":0}],\"folders\":"
		    "[{\"name\":\"x\"}],\"marker\":\"m 2/+\","
		    "\"acl\":{\"read\":[]}}"),
		ROUTE("GET", LIST("&marker=m%202%2F%2B"), 200, NULL,
		    "{\"files\":[{\"filename\":\"c d\",\"last_modified\":"
		    "\"\",\"size\":12}],\"marker\":null}"),
		ROUTE("GET", "/v1/connector/data/.my/empty?acl=true", 200, NULL,
		    "{}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_listing	 l = { 0 };
	const cJSON		*read;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_list(c, "acme", "models", &l, &err), 1);
	ck_assert_str_eq(err.message, "");
	ck_assert_uint_eq(testhttp_nseen(), 3);
	ck_assert_uint_eq(l.nfiles, 3);
	ck_assert_str_eq(l.files[0].name, "a.bin");
	ck_assert(l.files[0].size == INT64_C(3000000000));
	ck_assert_str_eq(l.files[0].last_modified, "2024-01-01T00:00:00.000Z");
	ck_assert_str_eq(l.files[1].name, "b.txt");
	ck_assert(l.files[1].size == 0);
	ck_assert_str_eq(l.files[2].name, "c d");
	ck_assert(l.files[2].size == 12);
	ck_assert_str_eq(l.files[2].last_modified, "");
	/* The first page's ACL. */
	ck_assert_ptr_nonnull(l.acl);
	read = cJSON_GetObjectItem(l.acl, "read");
	ck_assert_int_eq(cJSON_GetArraySize(read), 1);
	ck_assert_str_eq(cJSON_GetArrayItem(read, 0)->valuestring,
	    "user://*");
	ck_assert_str_eq(testhttp_seen(0)->auth, "Simple " KEY);

	/* ".my" as is; no files, no ACL; the old listing is cleared. */
	ck_assert_int_eq(api_data_list(c, ".my", "empty", &l, &err), 1);
	ck_assert_uint_eq(l.nfiles, 0);
	ck_assert_ptr_null(l.files);
	ck_assert_ptr_null(l.acl);
	api_data_listing_clear(&l);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_list_marker_repeated)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", LIST(""), 200, NULL,
		    "{\"files\":[{\"filename\":\"a\",\"last_modified\":\"t\","
		    "\"size\":1}],\"marker\":\"m1\"}"),
		ROUTE("GET", LIST("&marker=m1"), 200, NULL,
		    "{\"files\":[{\"filename\":\"b\",\"last_modified\":\"t\","
		    "\"size\":1}],\"marker\":\"m1\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_listing	 l = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_list(c, "acme", "models", &l, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/connector/data/acme/models: "
	    "the server repeated a pagination marker");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_uint_eq(l.nfiles, 0);
	ck_assert_ptr_null(l.files);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_list_page_limit)
{
	struct testhttp_route	 r[API_DATA_MAX_PAGES + 1];
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_listing	 l = { 0 };
	char			*uris[API_DATA_MAX_PAGES + 1];
	char			*bodies[API_DATA_MAX_PAGES + 1];
	int			 i;

	/* Page i answers with marker i+1, one page more than followed. */
	memset(r, 0, sizeof r);
	for (i = 0; i <= API_DATA_MAX_PAGES; i++) {
		uris[i] = i == 0 ? xstrdup(LIST("")) :
		    xprintf(LIST("&marker=p%d"), i);
		bodies[i] = xprintf("{\"marker\":\"p%d\"}", i + 1);
		r[i].method = "GET";
		r[i].uri = uris[i];
		r[i].status = 200;
		r[i].body = bodies[i];
	}
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_list(c, "acme", "models", &l, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/connector/data/acme/models: "
	    "gave up after 100 pages");
	ck_assert_uint_eq(testhttp_nseen(), API_DATA_MAX_PAGES);
	api_client_free(c);
	testhttp_stop();
	for (i = 0; i <= API_DATA_MAX_PAGES; i++) {
		free(uris[i]);
		free(bodies[i]);
	}
}
END_TEST

START_TEST(test_list_bad_entries)
{
	static const struct {
		const char	*body;
		const char	*message;
	} t[] = {
		{ "{\"files\":[{\"last_modified\":\"t\",\"size\":1}]}",
		  "files[0] has no filename" },
		{ "{\"files\":[{\"filename\":\"\",\"last_modified\":\"t\","
		  "\"size\":1}]}", "files[0] has no filename" },
		{ "{\"files\":[{\"filename\":\"ok\",\"last_modified\":\"t\","
		  "\"size\":1},{\"filename\":\"a/b\",\"last_modified\":\"t\","
		  "\"size\":1}]}", "files[1] \"a/b\": not a file name" },
		{ "{\"files\":[{\"filename\":\"..\",\"last_modified\":\"t\","
		  "\"size\":1}]}", "files[0] \"..\": not a file name" },
		{ "{\"files\":[{\"filename\":\"n\",\"last_modified\":\"t\","
		  "\"size\":-1}]}", "files[0] \"n\": size is another number, "
		  "not a non-negative integer" },
		{ "{\"files\":[{\"filename\":\"n\",\"last_modified\":\"t\","
		  "\"size\":1.5}]}", "files[0] \"n\": size is another number, "
		  "not a non-negative integer" },
		{ "{\"files\":[{\"filename\":\"n\",\"last_modified\":\"t\","
		  "\"size\":\"10\"}]}", "files[0] \"n\": size is a string, "
		  "not a non-negative integer" },
		{ "{\"files\":[{\"filename\":\"n\",\"size\":1}]}",
		  "files[0] \"n\": last_modified is null, not a string" },
		{ "{\"files\":[{\"filename\":\"n\",\"last_modified\":5,"
		  "\"size\":1}]}",
		  "files[0] \"n\": last_modified is a number, not a string" },
		{ "{\"files\":[\"n\"]}",
		  "files[0] is a string, not an object" },
		{ "{\"files\":{}}", "files is an object, not a list" },
		{ "[]", "the answer is a list, not an object" },
	};
	struct testhttp_route	 r[nitems(t)];
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_listing	 l = { 0 };
	char			*uris[nitems(t)], *coll, *want;
	size_t			 i;

	memset(r, 0, sizeof r);
	for (i = 0; i < nitems(t); i++) {
		uris[i] = xprintf("/v1/connector/data/acme/c%zu?acl=true", i);
		r[i].method = "GET";
		r[i].uri = uris[i];
		r[i].status = 200;
		r[i].body = t[i].body;
	}
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	for (i = 0; i < nitems(t); i++) {
		coll = xprintf("c%zu", i);
		want = xprintf("GET /v1/connector/data/acme/%s: %s", coll,
		    t[i].message);
		ck_assert_int_eq(api_data_list(c, "acme", coll, &l, &err), -1);
		ck_assert_str_eq(err.message, want);
		ck_assert_uint_eq(l.nfiles, 0);
		free(want);
		free(coll);
	}
	api_client_free(c);
	testhttp_stop();
	for (i = 0; i < nitems(t); i++)
		free(uris[i]);
}
END_TEST

START_TEST(test_list_not_found)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", "/v1/connector/data/acme/gone?acl=true", 404, NULL,
		    "{\"error\":{\"message\":\"No such collection\"}}"),
		ROUTE("GET", "/v1/connector/data/acme/secret?acl=true", 403,
		    NULL, "{\"error\":{\"message\":\"forbidden\"}}"),
		ROUTE("GET", LIST(""), 200, NULL, "{\"marker\":\"m1\"}"),
		ROUTE("GET", LIST("&marker=m1"), 404, NULL,
		    "{\"error\":{\"message\":\"bad marker\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_listing	 l = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_list(c, "acme", "gone", &l, &err), 0);
	ck_assert_int_eq(err.status, 404);
	ck_assert_str_eq(err.message, "");
	ck_assert_int_eq(api_data_list(c, "acme", "secret", &l, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/connector/data/acme/secret: "
	    "403 forbidden");
	/* Only the first page's 404 means "no such collection". */
	ck_assert_int_eq(api_data_list(c, "acme", "models", &l, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/connector/data/acme/models: "
	    "404 bad marker");
	/* Names that curl would move within the path never leave. */
	ck_assert_int_eq(api_data_list(c, "acme", "..", &l, &err), -1);
	ck_assert_str_eq(err.message, "/v1/connector/data: \"..\" is not a "
	    "name");
	ck_assert_uint_eq(testhttp_nseen(), 4);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_create)
{
	static const struct testhttp_route r[] = {
		ROUTE("POST", "/v1/connector/data/acme", 200, NULL,
		    "{\"result\":\"data://acme/models\"}"),
		ROUTE("POST", "/v1/connector/data/taken", 400, NULL,
		    "{\"error\":{\"message\":\"collection already exists\"}}"),
		ROUTE("POST", "/v1/connector/data/coded", 409, NULL,
		    "{\"error\":{\"code\":1002,\"message\":\"conflict\"}}"),
		ROUTE("POST", "/v1/connector/data/nope", 403, NULL,
		    "{\"error\":{\"message\":\"not yours\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct obs		 o = { 0 };
	cJSON			*acl;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	api_client_set_observer(c, observe, &o);
	acl = cJSON_Parse("{\"read\":[\"algo://.my/*\"]}");
	ck_assert_int_eq(api_data_create(c, "acme", "models", acl, &err), 1);
	json_eq(testhttp_seen(0)->body,
	    "{\"name\":\"models\",\"acl\":{\"read\":[\"algo://.my/*\"]}}");
	ck_assert_str_eq(testhttp_seen(0)->ctype, "application/json");
	ck_assert_int_eq(api_data_create(c, "taken", "models", NULL, &err), 0);
	json_eq(testhttp_seen(1)->body, "{\"name\":\"models\"}");
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.message, "");
	ck_assert_int_eq(api_data_create(c, "coded", "models", NULL, &err), 0);
	ck_assert_int_eq(api_data_create(c, "nope", "models", NULL, &err), -1);
	ck_assert_str_eq(err.message, "POST /v1/connector/data/nope: 403 "
	    "not yours");
	ck_assert_int_eq(api_data_create(c, "acme", "a/b", NULL, &err), -1);
	ck_assert_str_eq(err.message, "POST /v1/connector/data/acme: \"a/b\" "
	    "is not a collection name");
	ck_assert_uint_eq(testhttp_nseen(), 4);
	ck_assert_int_eq(o.n, 4);
	ck_assert_int_eq(o.status[0], 200);
	ck_assert_int_eq(o.status[3], 403);
	cJSON_Delete(acl);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_create_ambiguous)
{
	static const struct testhttp_route r[] = {
		/* A 500 to the POST, but it was made. */
		{ .method = "POST", .uri = "/v1/connector/data/made",
		    .status = 500, .body = "{\"error\":\"oops\"}", .times = 1 },
		ROUTE("GET", "/v1/connector/data/made/models", 200, NULL, "{}"),
		/* A 500, not made: made by the second POST. */
		{ .method = "POST", .uri = "/v1/connector/data/lost",
		    .status = 500, .body = "{\"error\":\"oops\"}", .times = 1 },
		{ .method = "GET", .uri = "/v1/connector/data/lost/models",
		    .status = 404, .body = "{\"error\":\"none\"}", .times = 1 },
		ROUTE("POST", "/v1/connector/data/lost", 200, NULL,
		    "{\"result\":\"data://lost/models\"}"),
		/* Always 500, never made. */
		ROUTE("POST", "/v1/connector/data/down", 500, NULL,
		    "{\"error\":\"oops\"}"),
		ROUTE("GET", "/v1/connector/data/down/models", 404, NULL,
		    "{\"error\":\"none\"}"),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	api_client_set_retry(c, 2, 60000);
	ck_assert_int_eq(api_data_create(c, "made", "models", NULL, &err), 0);
	ck_assert_str_eq(err.message, "");
	ck_assert_uint_eq(seen_count("POST"), 1);
	ck_assert_int_eq(api_data_create(c, "lost", "models", NULL, &err), 1);
	ck_assert_uint_eq(seen_count("POST"), 3);
	ck_assert_int_eq(api_data_create(c, "down", "models", NULL, &err), -1);
	ck_assert_int_eq(err.status, 500);
	ck_assert_int_eq(err.transient, 1);
	ck_assert_str_eq(err.message, "POST /v1/connector/data/down: 500 "
	    "oops");
	/* Two rounds (the client's tries), each looked at. */
	ck_assert_uint_eq(seen_count("POST"), 5);
	ck_assert_uint_eq(seen_count("GET"), 4);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_delete)
{
	static const struct testhttp_route r[] = {
		ROUTE("DELETE", "/v1/connector/data/acme/models/a.bin", 200,
		    NULL, "{\"result\":{\"deleted\":1}}"),
		ROUTE("DELETE", "/v1/connector/data/acme/models/b%20c", 404,
		    NULL, "{\"error\":{\"message\":\"not found\"}}"),
		ROUTE("DELETE", "/v1/connector/data/acme/models/c", 403,
		    NULL, "{\"error\":{\"message\":\"read only\"}}"),
		/* An answer lost: the file is gone when looked at. */
		{ .method = "DELETE", .uri = "/v1/connector/data/acme/models/d",
		    .status = 502, .body = "{\"error\":\"proxy\"}" },
		ROUTE("HEAD", "/v1/connector/data/acme/models/d", 404,
		    NULL, NULL),
	};
	struct api_client	*c;
	struct api_error	 err;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_delete(c, "acme", "models", "a.bin", &err),
	    1);
	ck_assert_int_eq(err.status, 200);
	ck_assert_int_eq(api_data_delete(c, "acme", "models", "b c", &err), 0);
	ck_assert_int_eq(err.status, 404);
	ck_assert_str_eq(err.message, "");
	ck_assert_int_eq(api_data_delete(c, "acme", "models", "c", &err), -1);
	ck_assert_str_eq(err.message, "DELETE /v1/connector/data/acme/models/"
	    "c: 403 read only");
	ck_assert_int_eq(api_data_delete(c, "acme", "models", "d", &err), 1);
	ck_assert_str_eq(err.message, "");
	ck_assert_uint_eq(seen_count("DELETE"), 4);
	ck_assert_uint_eq(seen_count("HEAD"), 1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_stat)
{
	static const struct testhttp_route r[] = {
		ROUTE("HEAD", "/v1/connector/data/acme/models/a.bin", 200,
		    "Content-Length: 5000000000\nX-Data-Type: file", NULL),
		ROUTE("HEAD", "/v1/connector/data/acme/models/none", 404,
		    "X-Error-Message: not there", NULL),
		ROUTE("HEAD", "/v1/connector/data/acme/models/secret", 403,
		    "X-Error-Message: no read access for " KEY, NULL),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct obs		 o = { 0 };
	int64_t			 size = 7;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	api_client_set_observer(c, observe, &o);
	ck_assert_msg(api_data_stat(c, "acme", "models", "a.bin", &size,
	    &err) == 1, "%s", err.message);
	ck_assert(size == INT64_C(5000000000));
	ck_assert_int_eq(api_data_stat(c, "acme", "models", "none", &size,
	    &err), 0);
	ck_assert(size == -1);
	ck_assert_str_eq(err.message, "");
	ck_assert_int_eq(api_data_stat(c, "acme", "models", "secret", &size,
	    &err), -1);
	ck_assert_str_eq(err.message, "HEAD /v1/connector/data/acme/models/"
	    "secret: 403 no read access for ***");
	ck_assert_int_eq(o.n, 3);
	ck_assert_int_eq(o.status[0], 200);
	ck_assert_int_eq(o.status[1], 404);
	ck_assert_int_eq(o.status[2], 403);
	ck_assert_str_eq(seen_first("HEAD")->auth, "Simple " KEY);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/*
 * evhttp refuses PATCH, so a raw server answers it: one connection at a
 * time, each request read whole (headers and Content-Length bytes), one
 * canned answer each, then the connection closed.
 */
struct raw {
	int		 fd;
	int		 port;
	pthread_t	 t;
	const char	*answers[4];
	const char	*tails[4];	/* sent after hold(), or NULL */
	int		(*hold)(void);	/* non-zero: send the tail now */
	int		 hold_ms;	/* ... or after this long anyway */
	size_t		 n;
	char		*requests[4];
};

/* Waits for s->hold() to say so, at most s->hold_ms. */
static void
raw_hold(struct raw *s)
{
	struct timespec	 ts = { 0, 10 * 1000000L };
	uint64_t	 end = monotime_ms() + (uint64_t)s->hold_ms;

	while (!s->hold() && monotime_ms() < end)
		nanosleep(&ts, NULL);
}

static void *
raw_run(void *arg)
{
	struct raw	*s = arg;
	char		 buf[8192], *end, *cl;
	size_t		 i, len, want;
	ssize_t		 r, w;
	int		 fd;

	for (i = 0; i < s->n; i++) {
		if ((fd = accept(s->fd, NULL, NULL)) == -1)
			return NULL;
		len = 0;
		want = SIZE_MAX;
		while (len < want && len < sizeof buf - 1 &&
		    (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
			len += (size_t)r;
			buf[len] = '\0';
			if (want == SIZE_MAX &&
			    (end = strstr(buf, "\r\n\r\n")) != NULL) {
				cl = strcasestr(buf, "\r\nContent-Length:");
				want = (size_t)(end + 4 - buf) + (cl != NULL ?
				    strtoul(cl + 17, NULL, 10) : 0);
			}
		}
		s->requests[i] = xstrndup(buf, len);
		w = write(fd, s->answers[i], strlen(s->answers[i]));
		if (s->tails[i] != NULL) {
			raw_hold(s);
			w = write(fd, s->tails[i], strlen(s->tails[i]));
		}
		(void)w;
		close(fd);
	}
	return NULL;
}

static void
raw_start(struct raw *s)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;

	ck_assert_int_ne(s->fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(s->fd, 4), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&sin, &slen),
	    0);
	s->port = ntohs(sin.sin_port);
	ck_assert_int_eq(pthread_create(&s->t, NULL, raw_run, s), 0);
}

/* Waits for the answers, then keeps the requests until raw_free. */
static void
raw_stop(struct raw *s)
{
	pthread_join(s->t, NULL);
	close(s->fd);
}

static void
raw_free(struct raw *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		free(s->requests[i]);
}

#define PATCH_LINE	"PATCH /v1/connector/data/.my/models HTTP/1.1\r\n"

START_TEST(test_set_acl)
{
	struct raw		 s = { .n = 2, .answers = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 28\r\nConnection: close\r\n\r\n"
	    "{\"error\":{\"message\":\"nope\"}}" } };
	struct api_client	*c = NULL;
	struct api_error	 err;
	cJSON			*acl;
	char			*url, *cause = NULL, *body;

	raw_start(&s);
	url = xprintf("http://127.0.0.1:%d", s.port);
	ck_assert_msg(api_client_new(&c, url, KEY, NULL, 5000, &cause) == 0,
	    "%s", cause);
	acl = cJSON_Parse("{\"read\":[]}");
	ck_assert_msg(api_data_set_acl(c, ".my", "models", acl, &err) == 0,
	    "%s", err.message);
	ck_assert_int_eq(err.status, 200);
	ck_assert_int_eq(api_data_set_acl(c, ".my", "models", acl, &err), -1);
	ck_assert_str_eq(err.message, "PATCH /v1/connector/data/.my/models: "
	    "200 nope");
	raw_stop(&s);
	ck_assert_msg(strncmp(s.requests[0], PATCH_LINE, strlen(PATCH_LINE)) ==
	    0, "%s", s.requests[0]);
	ck_assert_ptr_nonnull(strstr(s.requests[0],
	    "\r\nAuthorization: Simple " KEY "\r\n"));
	ck_assert_ptr_nonnull(strstr(s.requests[0],
	    "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(body = strstr(s.requests[0], "\r\n\r\n"));
	json_eq(body + 4, "{\"acl\":{\"read\":[]}}");
	ck_assert_ptr_nonnull(strstr(s.requests[1], PATCH_LINE));
	raw_free(&s);
	cJSON_Delete(acl);
	api_client_free(c);
	free(url);
}
END_TEST

START_TEST(test_copy_small)
{
	static const char	 text[] = "hello, world\n";
	static const struct testhttp_route r[] = {
		ROUTE("GET", FILE_SRC, 200,
		    "Content-Type: application/octet-stream", text),
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 os = { 0 }, od = { 0 };
	struct prog		 p = { 0 };
	const struct testhttp_seen *s;
	char			 md5[33], sha[65];

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(5000);
	dst = client(5000);
	api_client_set_observer(src, observe, &os);
	api_client_set_observer(dst, observe, &od);
	hashes(text, strlen(text), md5, sha);
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", (int64_t)strlen(text), md5, progress, &p, &out,
	    &err), 0);
	ck_assert_str_eq(err.message, "");
	ck_assert_int_eq(err.status, 200);
	ck_assert(out.bytes == (int64_t)strlen(text));
	ck_assert_str_eq(out.md5, md5);
	ck_assert_str_eq(out.sha256, sha);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	s = seen_first("GET");
	ck_assert_str_eq(s->auth, "Simple " KEY);
	s = seen_first("PUT");
	ck_assert_str_eq(s->uri, FILE_DST);
	ck_assert_str_eq(s->auth, "Simple " KEY);
	ck_assert_str_eq(s->ctype, "application/octet-stream");
	ck_assert_str_eq(s->body, text);
	ck_assert_int_eq(os.n, 1);
	ck_assert_int_eq(os.status[0], 200);
	ck_assert_int_eq(od.n, 1);
	ck_assert_int_eq(od.status[0], 200);
	ck_assert_int_ge(p.calls, 1);
	ck_assert(p.last == (int64_t)strlen(text));
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_empty)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", FILE_SRC, 200, NULL, NULL),
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_copy	 out;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	ck_assert_int_eq(api_data_copy(c, "src", "c", "f.bin", c, "dst", "c2",
	    "g.bin", 0, MD5_EMPTY, NULL, NULL, &out, &err), 0);
	ck_assert_str_eq(out.md5, MD5_EMPTY);
	ck_assert_str_eq(seen_first("PUT")->body, "");
	api_client_free(c);
	testhttp_stop();
}
END_TEST

/* 64 MiB: testhttp keeps the body it sends and the one it receives
 * whole in memory (a few copies each); that is what it handles well. */
#define BIG	((size_t)64 * MIB)

START_TEST(test_copy_big)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200, .big = BIG },
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct prog		 p = { 0 };
	const struct testhttp_seen *s;
	char			 md5[33], sha[65];
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(5000);
	dst = client(5000);
	hashes(NULL, BIG, md5, sha);
	start = monotime_ms();
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", (int64_t)BIG, NULL, progress, &p, &out, &err), 0);
	took = monotime_ms() - start;
	ck_assert_str_eq(err.message, "");
	ck_assert(out.bytes == (int64_t)BIG);
	ck_assert_str_eq(out.md5, md5);
	ck_assert_str_eq(out.sha256, sha);
	s = seen_first("PUT");
	ck_assert_uint_eq(strlen(s->body), BIG);
	ck_assert_uint_eq(strspn(s->body, "x"), BIG);
	/* At most 4 a second, and once at the end. */
	ck_assert_int_le(p.calls, (int)(took / API_DATA_PROGRESS_MS) + 2);
	ck_assert_int_eq(p.backwards, 0);
	ck_assert(p.last == (int64_t)BIG);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_hash)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .big = 8 * MIB, .flags = TESTHTTP_CHUNKED },
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_copy	 out;
	char			 md5[33], sha[65];

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	hashes(NULL, 8 * MIB, md5, sha);
	ck_assert_int_eq(api_data_hash(c, "src", "c", "f.bin", 8 * MIB, &out,
	    &err), 0);
	ck_assert(out.bytes == 8 * MIB);
	ck_assert_str_eq(out.md5, md5);
	ck_assert_str_eq(out.sha256, sha);
	/* Chunked, so the length is only known at the end. */
	ck_assert_int_eq(api_data_hash(c, "src", "c", "f.bin", 8 * MIB - 1,
	    &out, &err), -1);
	ck_assert_str_eq(err.message, "GET " FILE_SRC ": more than the "
	    "8388607 bytes the listing said");
	ck_assert_str_eq(out.md5, "");
	ck_assert_uint_eq(testhttp_nseen(), 2);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_md5_mismatch)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .big = 4 * MIB },
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 od = { 0 };
	char			 md5[33], sha[65], *want;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(5000);
	dst = client(5000);
	api_client_set_retry(src, 3, 60000);
	api_client_set_retry(dst, 3, 60000);
	api_client_set_observer(dst, observe, &od);
	hashes(NULL, 4 * MIB, md5, sha);
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 4 * MIB, "0123456789ABCDEF0123456789abcdef",
	    NULL, NULL, &out, &err), -1);
	want = xprintf("GET " FILE_SRC ": has MD5 %s, expected "
	    "0123456789ABCDEF0123456789abcdef; the PUT was aborted", md5);
	ck_assert_str_eq(err.message, want);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(out.md5, "");
	/* The PUT started, and ended with no answer: short of its last
	 * byte, the server never took it; nothing was tried again. */
	ck_assert_int_eq(od.n, 1);
	ck_assert_int_eq(od.status[0], 0);
	ck_assert_uint_eq(seen_count("PUT"), 0);
	ck_assert_uint_eq(seen_count("GET"), 1);
	free(want);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

/* Has testhttp seen a PUT? */
static int
put_seen(void)
{
	return seen_count("PUT") > 0;
}

/*
 * The last byte waits for the GET's end: a chunked GET whose 1000 bytes
 * are all in but whose last chunk comes 700 ms later (or once a PUT was
 * taken whole: then the byte was not held back) never lets the PUT end
 * before the MD5 is known.
 */
START_TEST(test_copy_last_byte_held)
{
	static const struct testhttp_route r[] = {
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct raw		 s = { .n = 2, .hold = put_seen,
				     .hold_ms = 700 };
	struct api_client	*src = NULL, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 od = { 0 };
	char			 data[1001], md5[33], sha[65], *head, *url;
	char			*cause = NULL, *want;

	memset(data, 'y', 1000);
	data[1000] = '\0';
	hashes(data, 1000, md5, sha);
	head = xprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close\r\n\r\n3e8\r\n%s\r\n", data);
	s.answers[0] = s.answers[1] = head;
	s.tails[0] = s.tails[1] = "0\r\n\r\n";
	raw_start(&s);
	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	url = xprintf("http://127.0.0.1:%d", s.port);
	ck_assert_msg(api_client_new(&src, url, KEY, NULL, 5000, &cause) == 0,
	    "%s", cause);
	dst = client(5000);
	api_client_set_observer(dst, observe, &od);
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 1000, MD5_EMPTY, NULL, NULL, &out, &err), -1);
	want = xprintf("GET " FILE_SRC ": has MD5 %s, expected " MD5_EMPTY
	    "; the PUT was aborted", md5);
	ck_assert_str_eq(err.message, want);
	ck_assert_uint_eq(seen_count("PUT"), 0);
	ck_assert_int_eq(od.n, 1);
	ck_assert_int_eq(od.status[0], 0);
	/* The right MD5: the held byte goes once the GET has ended. */
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 1000, md5, NULL, NULL, &out, &err), 0);
	ck_assert_str_eq(seen_first("PUT")->body, data);
	raw_stop(&s);
	raw_free(&s);
	free(want);
	free(head);
	free(url);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_wrong_length)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", FILE_SRC, 200, NULL, "short"),
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 o = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	api_client_set_retry(c, 3, 60000);
	api_client_set_observer(c, observe, &o);
	ck_assert_int_eq(api_data_copy(c, "src", "c", "f.bin", c, "dst", "c2",
	    "g.bin", 10, NULL, NULL, NULL, &out, &err), -1);
	ck_assert_str_eq(err.message, "GET " FILE_SRC ": the server sends 5 "
	    "bytes, the listing said 10");
	ck_assert_int_eq(err.transient, 0);
	/* The PUT never started: one observed request, the GET's. */
	ck_assert_int_eq(o.n, 1);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_truncated)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .headers = "Content-Length: 4194304", .big = 2 * MIB,
		    .flags = TESTHTTP_CLOSE },
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 os = { 0 }, od = { 0 };

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(5000);
	dst = client(5000);
	api_client_set_observer(src, observe, &os);
	api_client_set_observer(dst, observe, &od);
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 4 * MIB, NULL, NULL, NULL, &out, &err), -1);
	ck_assert_msg(strncmp(err.message, "GET " FILE_SRC ": ",
	    strlen("GET " FILE_SRC ": ")) == 0, "%s", err.message);
	ck_assert_int_eq(err.transient, 1);	/* a broken connection */
	ck_assert_int_eq(os.n, 1);
	ck_assert_int_eq(os.status[0], 0);
	/* The PUT had started and was aborted short. */
	ck_assert_int_eq(od.n, 1);
	ck_assert_int_eq(od.status[0], 0);
	ck_assert_uint_eq(seen_count("PUT"), 0);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_retry)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 503,
		    .body = "{\"error\":\"busy\"}", .times = 1 },
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .big = 3 * MIB },
		{ .method = "PUT", .uri = FILE_DST, .status = 503,
		    .body = "{\"error\":\"busy\"}", .times = 1 },
		ROUTE("PUT", FILE_DST, 200, NULL, PUT_OK),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	struct obs		 os = { 0 }, od = { 0 };
	char			 md5[33], sha[65];

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(5000);
	dst = client(5000);
	api_client_set_retry(src, 3, 60000);
	api_client_set_retry(dst, 5, 60000);
	api_client_set_observer(src, observe, &os);
	api_client_set_observer(dst, observe, &od);
	hashes(NULL, 3 * MIB, md5, sha);
	/* A 503 of the GET, then one of the PUT: three tries, each from the
	 * first byte. */
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 3 * MIB, md5, NULL, NULL, &out, &err), 0);
	ck_assert_str_eq(out.sha256, sha);
	ck_assert_int_eq(os.n, 3);
	ck_assert_int_eq(os.status[0], 503);
	ck_assert_int_eq(os.status[1], 200);
	ck_assert_int_eq(os.status[2], 200);
	ck_assert_int_eq(od.n, 2);
	ck_assert_int_eq(od.status[0], 503);
	ck_assert_int_eq(od.status[1], 200);
	ck_assert_uint_eq(seen_count("PUT"), 2);
	ck_assert_uint_eq(strlen(testhttp_seen(testhttp_nseen() - 1)->body),
	    3 * MIB);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_permanent)
{
	static const struct testhttp_route r[] = {
		ROUTE("GET", FILE_SRC, 200, NULL, "0123456789"),
		ROUTE("PUT", FILE_DST, 403, NULL,
		    "{\"error\":{\"message\":\"key " KEY " may not write\"}}"),
		ROUTE("GET", "/v1/connector/data/src/c/none", 404, NULL,
		    "{\"error\":{\"message\":\"no such file\"}}"),
	};
	struct api_client	*c;
	struct api_error	 err;
	struct api_data_copy	 out;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	c = client(5000);
	api_client_set_retry(c, 3, 60000);
	ck_assert_int_eq(api_data_copy(c, "src", "c", "f.bin", c, "dst", "c2",
	    "g.bin", 10, NULL, NULL, NULL, &out, &err), -1);
	ck_assert_str_eq(err.message, "PUT " FILE_DST ": 403 key *** may not "
	    "write");
	ck_assert_int_eq(err.status, 403);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	ck_assert_int_eq(api_data_copy(c, "src", "c", "none", c, "dst", "c2",
	    "g.bin", 10, NULL, NULL, NULL, &out, &err), -1);
	ck_assert_str_eq(err.message, "GET /v1/connector/data/src/c/none: "
	    "404 no such file");
	ck_assert_int_eq(err.status, 404);
	ck_assert_uint_eq(testhttp_nseen(), 3);
	ck_assert_int_eq(api_data_copy(c, "src", "c", "f.bin", c, "dst", "c2",
	    "g.bin", 10, "abc", NULL, NULL, &out, &err), -1);
	ck_assert_str_eq(err.message, "PUT " FILE_DST ": the expected MD5 is "
	    "not 32 hex digits");
	ck_assert_uint_eq(testhttp_nseen(), 3);
	api_client_free(c);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_cancel)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .body = "0123456789", .delay_ms = 30000,
		    .flags = TESTHTTP_CANCEL },
		ROUTE("GET", "/v1/connector/data/src/c/ok", 200, NULL,
		    "0123456789"),
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(20000);
	dst = client(20000);
	api_client_set_retry(src, 3, 60000);
	/* The destination's flag stops it too. */
	api_client_set_cancel(dst, testhttp_cancelled());
	start = monotime_ms();
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 10, NULL, NULL, NULL, &out, &err), -1);
	took = monotime_ms() - start;
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_int_eq(err.transient, 0);
	ck_assert_str_eq(err.message, "PUT " FILE_DST ": cancelled");
	ck_assert_uint_lt(took, 1000);
	/* Still set: nothing leaves. */
	ck_assert_int_eq(api_data_copy(src, "src", "c", "ok", dst, "dst", "c2",
	    "g.bin", 10, NULL, NULL, NULL, &out, &err), -1);
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

START_TEST(test_copy_cancel_put)
{
	static const struct testhttp_route r[] = {
		{ .method = "GET", .uri = FILE_SRC, .status = 200,
		    .big = 2 * MIB },
		{ .method = "PUT", .uri = FILE_DST, .status = 200,
		    .body = PUT_OK, .delay_ms = 30000,
		    .flags = TESTHTTP_CANCEL },
	};
	struct api_client	*src, *dst;
	struct api_error	 err;
	struct api_data_copy	 out;
	uint64_t		 start, took;

	testhttp_start(r, nitems(r), DEFAULT_TYPE);
	src = client(20000);
	dst = client(20000);
	api_client_set_cancel(src, testhttp_cancelled());
	start = monotime_ms();
	ck_assert_int_eq(api_data_copy(src, "src", "c", "f.bin", dst, "dst",
	    "c2", "g.bin", 2 * MIB, NULL, NULL, NULL, &out, &err), -1);
	took = monotime_ms() - start;
	ck_assert_int_eq(err.cancelled, 1);
	ck_assert_str_eq(err.message, "PUT " FILE_DST ": cancelled");
	ck_assert_uint_lt(took, 3000);
	api_client_free(src);
	api_client_free(dst);
	testhttp_stop();
}
END_TEST

Suite *
api_data_suite(void)
{
	Suite	*s = suite_create("api_data");
	TCase	*tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_list_marker_repeated);
	tcase_add_test(tc, test_list_page_limit);
	tcase_add_test(tc, test_list_bad_entries);
	tcase_add_test(tc, test_list_not_found);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_create_ambiguous);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_stat);
	tcase_add_test(tc, test_set_acl);
	tcase_add_test(tc, test_copy_small);
	tcase_add_test(tc, test_copy_empty);
	tcase_add_test(tc, test_copy_big);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_copy_md5_mismatch);
	tcase_add_test(tc, test_copy_last_byte_held);
	tcase_add_test(tc, test_copy_wrong_length);
	tcase_add_test(tc, test_copy_truncated);
	tcase_add_test(tc, test_copy_retry);
	tcase_add_test(tc, test_copy_permanent);
	tcase_add_test(tc, test_copy_cancel);
	tcase_add_test(tc, test_copy_cancel_put);
	suite_add_tcase(s, tc);
	return s;
}
