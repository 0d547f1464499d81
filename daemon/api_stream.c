/* api_stream.c: the API client's requests whose answers are not JSON: HEAD
 * and PATCH, and a data file streamed from one cluster into another. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "api_data.h"
#include "api_int.h"
#include "backoff.h"
#include "httpc.h"
#include "httpmsg.h"
#include "log.h"
#include "monotime.h"
#include "xmalloc.h"

#define STREAM_POLL_MS		100	/* the loop looks at cancel flags */
#define STREAM_CURL_BUF		(128 * 1024)	/* curl's own buffers */
#define STREAM_BUF_KEEP		65536	/* client's body buffer kept */

struct stream_copy;

/* One transfer: its handle and what its answer said so far. */
struct stream_xfer {
	struct api_client	*c;
	const char		*method;
	const char		*path;		/* escaped, for messages */
	CURL			*h;
	struct curl_slist	*hdrs;		/* own list, or NULL */
	struct httpc_resp	*resp;		/* the answer's body, capped */
	struct httpc_resp	 own;		/* resp of a streaming one */
	char			*xerror;	/* X-Error-Message, cleaned */
	long			 status;	/* of the final answer */
	int64_t			 clen;		/* its Content-Length, -1 */
	int			 head_done;	/* its headers are all in */
	int			 started;
	int			 added;		/* on the multi handle */
	int			 paused;
	struct stream_copy	*copy;		/* NULL: not streaming */
};

/* A copy (put.c != NULL) or a hash (put.c == NULL) in progress. */
struct stream_copy {
	struct stream_xfer	 get, put;
	struct api_client	*cl[2];		/* src, and dst or NULL */
	CURLM			*multi;
	struct api_error	*err;
	const char		*what;		/* "PUT /v1/...", for cancel */
	int			 failed;	/* err is set: stop */

	unsigned char		*buf;		/* the ring */
	size_t			 cap, head, len;
	size_t			 get_want;	/* the paused write */

	int64_t			 size, got, sent;
	int			 verified;	/* the last byte may go */
	int			 put_ok;
	const char		*md5_expect;
	EVP_MD_CTX		*md5, *sha;
	struct api_data_copy	*out;

	void			(*progress)(void *, int64_t);
	void			*arg;
	uint64_t		 progress_ms;
};

/* A HEAD or PATCH. */
struct stream_simple {
	struct api_client	*c;
	const char		*method;
	const char		*path;
	const char		*url;
	const char		*body;		/* JSON text, or NULL */
	int64_t			 clen;
};

/* A header list like the client's, its Accept and Content-Type replaced
 * by those given (NULL: none); the key's copy is wiped when freed. */
static struct curl_slist *
stream_headers(const struct curl_slist *from, const char *accept,
    const char *ctype)
{
	struct curl_slist	*l = NULL, *n;
	char			*h;

	for (; from != NULL; from = from->next) {
		if (strncasecmp(from->data, "Accept:", 7) == 0 ||
		    strncasecmp(from->data, "Content-Type:", 13) == 0 ||
		    strncasecmp(from->data, "Expect:", 7) == 0)
			continue;
		if ((n = curl_slist_append(l, from->data)) == NULL)
			goto fail;
		l = n;
	}
	if (accept != NULL) {
		h = xprintf("Accept: %s", accept);
		n = curl_slist_append(l, h);
		free(h);
		if (n == NULL)
			goto fail;
		l = n;
	}
	if (ctype != NULL) {
		h = xprintf("Content-Type: %s", ctype);
		n = curl_slist_append(l, h);
		free(h);
		if (n == NULL)
			goto fail;
		l = n;
	}
	if ((n = curl_slist_append(l, "Expect:")) == NULL)
		goto fail;
	return n;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static void
stream_headers_free(struct curl_slist *l)
{
	struct curl_slist	*i;

	for (i = l; i != NULL; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* A header value: spaces around it and the line end left out. */
static char *
stream_header_value(const char *ptr, size_t n, size_t name)
{
	size_t	 a = name, b = n;

	while (a < b && (ptr[a] == ' ' || ptr[a] == '\t'))
		a++;
	while (b > a && isspace((unsigned char)ptr[b - 1]))
		b--;
	return xstrndup(ptr + a, b - a);
}

static int64_t
stream_content_length(const char *v)
{
	char		*end;
	long long	 l;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	l = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || l < 0)
		return -1;
	return (int64_t)l;
}

static void	 stream_copy_bad(struct stream_copy *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Retry-After, X-Error-Message and Content-Length of the final answer;
 * a copy checks the GET's length when its headers end. */
static size_t
stream_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct stream_xfer	*x = arg;
	struct stream_copy	*k = x->copy;
	size_t			 n = size * nmemb;
	char			*v;
	long			 status = 0;

	httpmsg_header(ptr, n, &x->resp->retry_after_ms,
	    x->resp->retry_after_max_ms);
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		free(x->xerror);
		x->xerror = NULL;
		x->clen = -1;
		x->head_done = 0;
	} else if (n > 16 && strncasecmp(ptr, "X-Error-Message:", 16) == 0) {
		v = stream_header_value(ptr, n, 16);
		free(x->xerror);
		x->xerror = httpmsg_cut(httpmsg_oneline(v, strlen(v)), 200);
		free(v);
	} else if (n > 15 && strncasecmp(ptr, "Content-Length:", 15) == 0) {
		v = stream_header_value(ptr, n, 15);
		x->clen = stream_content_length(v);
		free(v);
	} else if (n <= 2 && (ptr[0] == '\r' || ptr[0] == '\n')) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200)
			return n;	/* 1xx: the real one follows */
		x->status = status;
		x->head_done = 1;
		if (k != NULL && x == &k->get && status >= 200 &&
		    status <= 299 && x->clen != -1 && x->clen != k->size) {
			stream_copy_bad(k, "GET %s: the server sends %" PRId64
			    " bytes, the listing said %" PRId64, x->path,
			    x->clen, k->size);
			return 0;
		}
	}
	return n;
}

static int
stream_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct api_client	*c = arg;

	return c->cancel != NULL && atomic_load(c->cancel) != 0;
}

/* The failed answer of x (status is no 2xx, or its JSON has "error"). */
static void
stream_http_fail(struct stream_xfer *x, long status, struct api_error *err)
{
	const char	*ctype = NULL;
	char		*loc = NULL, *detail, *raw;

	err->code = 0;
	if (status >= 300 && status < 400) {
		curl_easy_getinfo(x->h, CURLINFO_REDIRECT_URL, &loc);
		raw = xprintf("redirect to %s not followed",
		    loc != NULL ? loc : "(no location)");
		detail = api_body_text(raw, strlen(raw), "text/plain", status,
		    &err->code);
		free(raw);
	} else if (x->resp->len == 0 && x->xerror != NULL)
		detail = api_body_text(x->xerror, strlen(x->xerror),
		    "text/plain", status, &err->code);
	else {
		if (x->resp->len != 0)
			curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ctype);
		detail = api_body_text(x->resp->body, x->resp->len, ctype,
		    status, &err->code);
	}
	err->status = status;
	err->transient = httpmsg_status_transient(status);
	err->retry_after_ms = x->resp->retry_after_ms;
	if (err->code != 0)
		api_fail(err, "%s %s: %ld %s (code %d)", x->method, x->path,
		    status, detail, err->code);
	else
		api_fail(err, "%s %s: %ld %s", x->method, x->path, status,
		    detail);
	free(x->c->detail);
	x->c->detail = detail;
}

static void
stream_transport_fail(struct stream_xfer *x, CURLcode cc,
    struct api_error *err)
{
	err->transient = httpmsg_curl_transient(cc);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		err->cancelled = 1;
		err->transient = 0;
		api_fail(err, "%s %s: cancelled", x->method, x->path);
	} else if (httpc_too_large(x->resp, cc))
		api_fail(err, "%s %s: response too large (more than %zu "
		    "bytes)", x->method, x->path, x->resp->max);
	else
		api_fail(err, "%s %s: %s", x->method, x->path,
		    httpc_strerror(x->resp, cc));
}

/* A 2xx answer whose body is a JSON object with "error" is a failure. */
static int
stream_answer_error(struct stream_xfer *x)
{
	cJSON	*j;
	int	 bad;

	if (x->resp->len == 0 || x->resp->body == NULL)
		return 0;
	if ((j = cJSON_ParseWithLength(x->resp->body, x->resp->len)) == NULL)
		return 0;
	bad = cJSON_IsObject(j) && cJSON_HasObjectItem(j, "error");
	cJSON_Delete(j);
	return bad;
}

/* Failed before any byte of the request left? */
static int
stream_unsent(CURL *h, CURLcode cc)
{
	long	 sent = 0;

	if (cc == CURLE_COULDNT_RESOLVE_PROXY ||
	    cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT)
		return 1;
	return curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) ==
	    CURLE_OK && sent == 0;
}

/* One try of a HEAD or PATCH on the client's handle, set up as api.c
 * sets up its own (httpc_setup), its connection kept alive. */
static int
stream_simple_once(void *arg, struct api_error *err, int *again)
{
	struct stream_simple	*s = arg;
	struct api_client	*c = s->c;
	struct stream_xfer	 x;
	struct httpc_req	 req;
	CURLcode		 cc;
	int			 bad = 0, rv = -1, sent = 1;

	api_error_reset(err);
	memset(&x, 0, sizeof x);
	x.c = c;
	x.method = s->method;
	x.path = s->path;
	x.h = c->curl;
	x.resp = &c->resp;
	x.clen = -1;
	free(c->detail);
	c->detail = NULL;
	if (c->cancel != NULL && atomic_load(c->cancel) != 0) {
		err->cancelled = 1;
		api_fail(err, "%s %s: cancelled", s->method, s->path);
		return -1;
	}
	curl_easy_reset(c->curl);
	memset(&req, 0, sizeof req);
	req.url = s->url;
	req.timeout_ms = c->timeout_ms;
	req.ca_file = c->ca_file;
	req.capath = c->capath;
	req.headers = s->body != NULL ? c->hdrs_body : c->hdrs;
	bad |= httpc_setup(c->curl, &req, &c->resp) != 0;
	bad |= curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION,
	    stream_header_cb) != CURLE_OK;
	bad |= curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x) != CURLE_OK;
	bad |= curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION,
	    stream_progress_cb) != CURLE_OK;
	bad |= curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	if (strcmp(s->method, "HEAD") == 0) {
		/* No body comes: the length announced is the file's. */
		bad |= curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)0) != CURLE_OK;
	} else {
		bad |= curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
		    s->method) != CURLE_OK;
		/* No blind repeat of a change by curl itself (api.c). */
		bad |= curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L) !=
		    CURLE_OK;
	}
	if (s->body != NULL) {
		bad |= curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(s->body)) != CURLE_OK;
		bad |= curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    s->body) != CURLE_OK;
	}
	if (bad) {
		api_fail(err, "%s %s: cannot set up the request", s->method,
		    s->path);
		return -1;
	}
	httpc_resp_start(&c->resp);
	cc = curl_easy_perform(c->curl);
	if (cc != CURLE_OK || curl_easy_getinfo(c->curl,
	    CURLINFO_RESPONSE_CODE, &x.status) != CURLE_OK)
		x.status = 0;
	if (c->observe != NULL)
		c->observe(c->observe_arg, cc == CURLE_OK ? x.status : 0);
	if (cc != CURLE_OK) {
		log_debug("api: %s %s: curl error %d", s->method, s->path,
		    (int)cc);
		stream_transport_fail(&x, cc, err);
		sent = !stream_unsent(c->curl, cc);
		goto out;
	}
	log_debug("api: %s %s: %ld", s->method, s->path, x.status);
	err->status = x.status;
	err->retry_after_ms = c->resp.retry_after_ms;
	if (x.status < 200 || x.status > 299 || stream_answer_error(&x)) {
		stream_http_fail(&x, x.status, err);
		goto out;
	}
	s->clen = x.clen;
	rv = 0;
out:
	*again = api_retry_may(s->method, err, sent);
	free(x.xerror);
	if (c->resp.size > STREAM_BUF_KEEP)
		httpc_resp_drop(&c->resp);
	c->resp.len = 0;
	return rv;
}

int
api_stream_request(struct api_client *c, const char *method,
    const char *path, const cJSON *body, int64_t *clen,
    struct api_error *err)
{
	struct stream_simple	 s;
	char			*text = NULL, *url, *what;
	int			 rv;

	if (clen != NULL)
		*clen = -1;
	api_error_reset(err);
	if (body != NULL && (text = cJSON_PrintUnformatted(body)) == NULL) {
		api_fail(err, "%s %s: cannot encode the request", method, path);
		return -1;
	}
	url = xprintf("%s%s", c->base, path);
	what = xprintf("%s %s", method, path);
	s = (struct stream_simple){ .c = c, .method = method, .path = path,
	    .url = url, .body = text, .clen = -1 };
	rv = api_retry_run(&(struct api_retry_req){ .cl = { c }, .what = what,
	    .once = stream_simple_once, .arg = &s }, err);
	if (rv == 0 && clen != NULL)
		*clen = s.clen;
	cJSON_free(text);
	free(what);
	free(url);
	return rv;
}

/* The copy fails with a message of its own: not worth another try. */
static void
stream_copy_bad(struct stream_copy *k, const char *fmt, ...)
{
	va_list	 ap;
	long	 status;

	if (k->failed)
		return;
	status = k->err->status;
	api_error_reset(k->err);
	k->err->status = status;
	va_start(ap, fmt);
	httpmsg_vline(k->err->message, sizeof k->err->message, fmt, ap);
	va_end(ap);
	k->failed = 1;
}

/* Bytes the PUT may take now: all but the last until it is verified. */
static size_t
stream_allowed(const struct stream_copy *k)
{
	int64_t	 left = k->size - k->sent;

	if (!k->verified)
		left--;
	if (left <= 0)
		return 0;
	return (uint64_t)left < k->len ? (size_t)left : k->len;
}

/* The GET's bytes: an error's body is kept (its start), a 2xx one's
 * hashed and, for a copy, put in the ring, the transfer paused while
 * they do not fit. */
static size_t
stream_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct stream_xfer	*x = arg;
	struct stream_copy	*k = x->copy;
	struct httpc_resp	*r = x->resp;
	size_t			 n = size * nmemb, tail, first;

	if (x->status < 200 || x->status > 299) {
		(void)httpmsg_append(&r->body, &r->len, &r->size, r->max, ptr,
		    n);
		return n;
	}
	if ((uint64_t)n > (uint64_t)(k->size - k->got)) {
		stream_copy_bad(k, "GET %s: more than the %" PRId64 " bytes "
		    "the listing said", x->path, k->size);
		return 0;
	}
	if (k->put.c != NULL) {
		if (n > k->cap - k->len) {
			if (n > k->cap) {
				stream_copy_bad(k, "GET %s: a piece of %zu "
				    "bytes does not fit the buffer", x->path,
				    n);
				return 0;
			}
			k->get_want = n;
			x->paused = 1;
			return CURL_WRITEFUNC_PAUSE;
		}
		tail = (k->head + k->len) % k->cap;
		first = k->cap - tail < n ? k->cap - tail : n;
		memcpy(k->buf + tail, ptr, first);
		memcpy(k->buf, ptr + first, n - first);
		k->len += n;
	}
	EVP_DigestUpdate(k->md5, ptr, n);
	EVP_DigestUpdate(k->sha, ptr, n);
	k->got += (int64_t)n;
	return n;
}

/* The PUT's bytes from the ring; paused while none may go. */
static size_t
stream_read_cb(char *ptr, size_t size, size_t nitems, void *arg)
{
	struct stream_xfer	*x = arg;
	struct stream_copy	*k = x->copy;
	size_t			 n = size * nitems, first;

	if (k->sent == k->size)
		return 0;
	if (n > stream_allowed(k))
		n = stream_allowed(k);
	if (n == 0) {
		x->paused = 1;
		return CURL_READFUNC_PAUSE;
	}
	first = k->cap - k->head < n ? k->cap - k->head : n;
	memcpy(ptr, k->buf + k->head, first);
	memcpy(ptr + first, k->buf, n - first);
	k->head = (k->head + n) % k->cap;
	k->len -= n;
	k->sent += (int64_t)n;
	return n;
}

/* A streaming transfer's own handle: the client's setup (httpc_setup),
 * then no total timeout but a low-speed limit, no content decoding and
 * no size cap on the bytes. */
static int
stream_xfer_start(struct stream_copy *k, struct stream_xfer *x)
{
	struct api_client	*c = x->c;
	struct httpc_req	 req;
	char			*url;
	long			 secs;
	int			 bad = 0, put = x == &k->put;

	x->copy = k;
	x->clen = -1;
	x->status = 0;
	x->head_done = x->paused = 0;
	httpc_resp_init(&x->own, c->resp.max, API_RETRY_AFTER_MAX_MS);
	x->resp = &x->own;
	if ((x->h = curl_easy_init()) == NULL)
		return -1;
	x->hdrs = put ? stream_headers(c->hdrs, "application/json",
	    "application/octet-stream") : stream_headers(c->hdrs, "*/*", NULL);
	if (x->hdrs == NULL)
		return -1;
	url = xprintf("%s%s", c->base, x->path);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.timeout_ms = c->timeout_ms;
	req.ca_file = c->ca_file;
	req.capath = c->capath;
	req.headers = x->hdrs;
	bad |= httpc_setup(x->h, &req, x->resp) != 0;
	free(url);
	secs = c->timeout_ms / 1000 < 1 ? 1 : c->timeout_ms / 1000;
	bad |= curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, secs) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_ACCEPT_ENCODING, NULL) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION,
	    stream_header_cb) != CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(x->h, CURLOPT_BUFFERSIZE,
	    (long)STREAM_CURL_BUF) != CURLE_OK;
	if (put) {
		bad |= curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)k->size) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_READFUNCTION,
		    stream_read_cb) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_READDATA, x) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_UPLOAD_BUFFERSIZE,
		    (long)STREAM_CURL_BUF) != CURLE_OK;
	} else {
		bad |= curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)0) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION,
		    stream_write_cb) != CURLE_OK;
		bad |= curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x) != CURLE_OK;
	}
	if (bad || curl_multi_add_handle(k->multi, x->h) != CURLM_OK)
		return -1;
	x->started = x->added = 1;
	return 0;
}

/* Takes x off the multi handle (aborting it if it runs) and tells its
 * client's observer: the status when it ended with an answer, else 0. */
static void
stream_xfer_end(struct stream_copy *k, struct stream_xfer *x, int answered)
{
	if (x->h == NULL || x->c == NULL)
		return;
	if (x->added)
		curl_multi_remove_handle(k->multi, x->h);
	x->added = 0;
	if (x->started && x->c->observe != NULL)
		x->c->observe(x->c->observe_arg, answered ? x->status : 0);
	x->started = 0;
}

static void
stream_xfer_free(struct stream_xfer *x)
{
	if (x->h != NULL)
		curl_easy_cleanup(x->h);
	x->h = NULL;
	stream_headers_free(x->hdrs);
	x->hdrs = NULL;
	httpc_resp_drop(&x->own);
	free(x->xerror);
	x->xerror = NULL;
}

static void
stream_hex(const unsigned char *md, unsigned int n, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned int		 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* The GET ended (cc): its answer, its length and its MD5 decide. */
static void
stream_get_done(struct stream_copy *k, CURLcode cc)
{
	struct stream_xfer	*x = &k->get;
	struct api_error	*err = k->err;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n;

	stream_xfer_end(k, x, cc == CURLE_OK);
	if (k->failed)
		return;
	if (cc != CURLE_OK) {
		api_error_reset(err);
		stream_transport_fail(x, cc, err);
		k->failed = 1;
		return;
	}
	err->status = x->status;
	if (x->status < 200 || x->status > 299) {
		stream_http_fail(x, x->status, err);
		k->failed = 1;
		return;
	}
	if (k->got != k->size) {
		stream_copy_bad(k, "GET %s: %" PRId64 " bytes came, the "
		    "listing said %" PRId64 "%s", x->path, k->got, k->size,
		    k->put.c != NULL ? "; the PUT was aborted" : "");
		return;
	}
	EVP_DigestFinal_ex(k->md5, md, &n);
	stream_hex(md, n, k->out->md5);
	EVP_DigestFinal_ex(k->sha, md, &n);
	stream_hex(md, n, k->out->sha256);
	if (k->md5_expect != NULL &&
	    strcasecmp(k->out->md5, k->md5_expect) != 0) {
		stream_copy_bad(k, "GET %s: has MD5 %s, expected %s%s",
		    x->path, k->out->md5, k->md5_expect,
		    k->put.c != NULL ? "; the PUT was aborted" : "");
		return;
	}
	k->verified = 1;
}

static void
stream_put_done(struct stream_copy *k, CURLcode cc)
{
	struct stream_xfer	*x = &k->put;
	struct api_error	*err = k->err;

	stream_xfer_end(k, x, cc == CURLE_OK);
	if (k->failed)
		return;
	if (cc != CURLE_OK) {
		api_error_reset(err);
		stream_transport_fail(x, cc, err);
		k->failed = 1;
		return;
	}
	err->status = x->status;
	err->retry_after_ms = x->resp->retry_after_ms;
	if (x->status < 200 || x->status > 299 || stream_answer_error(x)) {
		stream_http_fail(x, x->status, err);
		k->failed = 1;
	} else if (k->sent != k->size)
		stream_copy_bad(k, "PUT %s: answered %ld after %" PRId64 " of "
		    "%" PRId64 " bytes", x->path, x->status, k->sent, k->size);
	else
		k->put_ok = 1;
}

static void
stream_progress(struct stream_copy *k, int last)
{
	uint64_t	 now;

	if (k->progress == NULL)
		return;
	now = monotime_ms();
	if (!last && now - k->progress_ms < API_DATA_PROGRESS_MS)
		return;
	k->progress_ms = now;
	k->progress(k->arg, k->put.c != NULL ? k->sent : k->got);
}

/* What the transfers need now: the PUT started, either unpaused. */
static int
stream_copy_steer(struct stream_copy *k)
{
	struct stream_xfer	*g = &k->get, *p = &k->put;

	if (p->c != NULL && p->h == NULL && g->head_done &&
	    g->status >= 200 && g->status <= 299 &&
	    (k->size > 0 || k->verified)) {
		if (stream_xfer_start(k, p) != 0) {
			stream_copy_bad(k, "PUT %s: cannot set up the request",
			    p->path);
			return -1;
		}
	}
	if (g->paused && k->cap - k->len >= k->get_want) {
		g->paused = 0;
		curl_easy_pause(g->h, CURLPAUSE_CONT);
	}
	if (p->paused && stream_allowed(k) > 0) {
		p->paused = 0;
		curl_easy_pause(p->h, CURLPAUSE_CONT);
	}
	return 0;
}

/* One try of a copy (or hash): both transfers to their end. */
static int
stream_copy_once(void *arg, struct api_error *err, int *again)
{
	struct stream_copy	*k = arg;
	struct CURLMsg		*msg;
	CURLMcode		 mc;
	CURLcode		 cc;
	int			 running, left;

	api_error_reset(err);
	k->err = err;
	k->failed = k->verified = k->put_ok = 0;
	k->got = k->sent = 0;
	k->head = k->len = k->get_want = 0;
	memset(k->out, 0, sizeof *k->out);
	if (EVP_DigestInit_ex(k->md5, EVP_md5(), NULL) != 1 ||
	    EVP_DigestInit_ex(k->sha, EVP_sha256(), NULL) != 1) {
		api_fail(err, "GET %s: cannot start a hash", k->get.path);
		return -1;
	}
	if (api_retry_cancelled(k->cl)) {
		api_retry_cancel_fail(err, k->what);
		goto out;
	}
	if ((k->multi = curl_multi_init()) == NULL ||
	    stream_xfer_start(k, &k->get) != 0) {
		api_fail(err, "GET %s: cannot set up the request", k->get.path);
		goto out;
	}
	for (;;) {
		if ((mc = curl_multi_perform(k->multi, &running)) !=
		    CURLM_OK) {
			stream_copy_bad(k, "GET %s: %s", k->get.path,
			    curl_multi_strerror(mc));
			break;
		}
		while ((msg = curl_multi_info_read(k->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			cc = msg->data.result;
			if (msg->easy_handle == k->get.h)
				stream_get_done(k, cc);
			else
				stream_put_done(k, cc);
		}
		if (k->failed)
			break;
		if (k->verified && (k->put.c == NULL || k->put_ok))
			break;
		if (api_retry_cancelled(k->cl)) {
			api_retry_cancel_fail(err, k->what);
			k->failed = 1;
			break;
		}
		if (stream_copy_steer(k) != 0)
			break;
		stream_progress(k, 0);
		if ((mc = curl_multi_poll(k->multi, NULL, 0, STREAM_POLL_MS,
		    NULL)) != CURLM_OK) {
			stream_copy_bad(k, "GET %s: %s", k->get.path,
			    curl_multi_strerror(mc));
			break;
		}
	}
out:
	/* Whatever still runs is aborted: a PUT short of its last byte. */
	stream_xfer_end(k, &k->put, 0);
	stream_xfer_end(k, &k->get, 0);
	stream_xfer_free(&k->put);
	stream_xfer_free(&k->get);
	if (k->multi != NULL)
		curl_multi_cleanup(k->multi);
	k->multi = NULL;
	if (k->failed || !k->verified || (k->put.c != NULL && !k->put_ok)) {
		*again = err->transient && !err->cancelled;
		return -1;
	}
	if (k->put.c != NULL)
		log_debug("api: PUT %s: %ld, %" PRId64 " bytes", k->put.path,
		    err->status, k->sent);
	k->out->bytes = k->size;
	return 0;
}

static int
stream_copy_run(struct stream_copy *k, struct api_data_copy *out,
    struct api_error *err)
{
	char			*what;
	int			 rv;

	memset(out, 0, sizeof *out);
	k->out = out;
	k->cap = API_DATA_COPY_BUF;
	if (k->put.c != NULL)
		k->buf = xmalloc(k->cap);
	k->md5 = EVP_MD_CTX_new();
	k->sha = EVP_MD_CTX_new();
	if (k->md5 == NULL || k->sha == NULL) {
		api_fail(err, "GET %s: cannot start a hash", k->get.path);
		rv = -1;
		goto out;
	}
	if (k->put.c != NULL)
		what = xprintf("PUT %s", k->put.path);
	else
		what = xprintf("GET %s", k->get.path);
	k->what = what;
	rv = api_retry_run(&(struct api_retry_req){
	    .cl = { k->cl[0], k->cl[1] }, .what = what,
	    .once = stream_copy_once, .arg = k }, err);
	free(what);
	stream_progress(k, 1);
	if (rv != 0)
		memset(out, 0, sizeof *out);
out:
	EVP_MD_CTX_free(k->md5);
	EVP_MD_CTX_free(k->sha);
	free(k->buf);
	return rv;
}

static int
stream_md5_valid(const char *s)
{
	size_t	 i;

	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[32] == '\0';
}

int
api_data_copy(struct api_client *src, const char *sowner, const char *scoll,
    const char *sfile, struct api_client *dst, const char *downer,
    const char *dcoll, const char *dfile, int64_t size,
    const char *md5_expect, void (*progress)(void *, int64_t), void *arg,
    struct api_data_copy *out, struct api_error *err)
{
	struct api_error	 scratch;
	struct stream_copy	 k;
	char			*spath = NULL, *dpath = NULL;
	int			 rv = -1;

	if (err == NULL)
		err = &scratch;
	api_error_reset(err);
	memset(out, 0, sizeof *out);
	memset(&k, 0, sizeof k);
	if ((spath = API_PATH(src, err, "connector", "data", sowner, scoll,
	    sfile)) == NULL ||
	    (dpath = API_PATH(dst, err, "connector", "data", downer, dcoll,
	    dfile)) == NULL)
		goto out;
	if (size < 0) {
		api_fail(err, "PUT %s: size %" PRId64 " is negative", dpath,
		    size);
		goto out;
	}
	if (md5_expect != NULL && !stream_md5_valid(md5_expect)) {
		api_fail(err, "PUT %s: the expected MD5 is not 32 hex digits",
		    dpath);
		goto out;
	}
	k.cl[0] = k.get.c = src;
	k.cl[1] = k.put.c = dst;
	k.get.method = "GET";
	k.get.path = spath;
	k.put.method = "PUT";
	k.put.path = dpath;
	k.size = size;
	k.md5_expect = md5_expect;
	k.progress = progress;
	k.arg = arg;
	rv = stream_copy_run(&k, out, err);
out:
	free(spath);
	free(dpath);
	return rv;
}

int
api_data_hash(struct api_client *c, const char *owner, const char *coll,
    const char *file, int64_t size, struct api_data_copy *out,
    struct api_error *err)
{
	struct api_error	 scratch;
	struct stream_copy	 k;
	char			*path;
	int			 rv = -1;

	if (err == NULL)
		err = &scratch;
	api_error_reset(err);
	memset(out, 0, sizeof *out);
	memset(&k, 0, sizeof k);
	if ((path = API_PATH(c, err, "connector", "data", owner, coll,
	    file)) == NULL)
		return -1;
	if (size < 0)
		api_fail(err, "GET %s: size %" PRId64 " is negative", path,
		    size);
	else {
		k.cl[0] = k.get.c = c;
		k.get.method = "GET";
		k.get.path = path;
		k.size = size;
		rv = stream_copy_run(&k, out, err);
	}
	free(path);
	return rv;
}
