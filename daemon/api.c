/* api.c: a blocking client for the Algorithmia management API (/v1).
 * One reused libcurl easy handle per client keeps the connection alive. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api.h"
#include "httpmsg.h"
#include "log.h"
#include "redact.h"
#include "xmalloc.h"

#ifndef AP_VERSION
#define AP_VERSION	"unknown"
#endif

#define API_USER_AGENT	"algopromoted/" AP_VERSION
#define API_CAPATH	"/etc/ssl/certs"  /* trusted beside a ca_file */
#define API_DETAIL_MAX	200	/* bytes of server text kept in a message */
#define API_BUF_KEEP	65536	/* response buffer kept between requests */

struct api_client {
	CURL			*curl;
	char			*base;		/* no trailing "/" nor "/v1" */
	char			*ca_file;
	int			 capath;	/* also trust API_CAPATH */
	long			 timeout_ms;
	size_t			 max_response;
	const volatile int	*cancel;
	void			(*observe)(void *, long);
	void			*observe_arg;
	struct curl_slist	*hdrs;		/* Authorization, Accept */
	struct curl_slist	*hdrs_body;	/* the same + Content-Type */
	char			 errbuf[CURL_ERROR_SIZE];

	/* The response being received. */
	char			*body;
	size_t			 len;
	size_t			 size;
	int			 too_large;
	long			 retry_after_ms;

	/* The server's own words of the last failure, one line, redacted. */
	char			*detail;
};

/* One walk through a paged collection ("results" + "marker"). */
struct api_pager {
	char			*path;		/* escaped; owned */
	const char		*filter;	/* extra query, or NULL */
	int			 first_limit;
	int			 max_pages;
	int			 fail_at_max;	/* max_pages reached: error */
	int			 pages;
	int			 done;
	char			*marker;	/* for the next page */
	char		       **seen;		/* every marker followed */
	size_t			 nseen;
};

static void
api_error_reset(struct api_error *err)
{
	memset(err, 0, sizeof *err);
	err->retry_after_ms = -1;
}

/* Server text made fit for a message: one line, secrets masked, then cut
 * to API_DETAIL_MAX bytes (masking first, so no piece of a secret stays). */
static char *
api_clean(const char *s, size_t len)
{
	char	*line, *red, *out;
	size_t	 n;

	line = httpmsg_oneline(s, len);
	red = redact(line);
	free(line);
	if (strlen(red) <= API_DETAIL_MAX)
		return red;
	n = API_DETAIL_MAX;
	while (n > 0 && ((unsigned char)red[n] & 0xc0) == 0x80)
		n--;
	xasprintf(&out, "%.*s...", (int)n, red);
	free(red);
	return out;
}

/* Fills err->message: formatted, one line, redacted, truncated. */
static void __attribute__((format(printf, 2, 3)))
api_fail(struct api_error *err, const char *fmt, ...)
{
	va_list	 ap;
	char	*raw, *line, *red;

	va_start(ap, fmt);
	xvasprintf(&raw, fmt, ap);
	va_end(ap);
	line = httpmsg_oneline(raw, strlen(raw));
	red = redact(line);
	httpmsg_copy(err->message, sizeof err->message, red);
	free(red);
	free(line);
	free(raw);
}

static const char *
api_reason_or(long status)
{
	const char	*r = httpmsg_reason(status);

	return r != NULL ? r : "empty response";
}

/* An integer error code given as a JSON number or a numeric string. */
static int
api_json_code(const cJSON *obj)
{
	const cJSON	*c;
	char		*end;
	long		 l;

	c = cJSON_GetObjectItemCaseSensitive(obj, "code");
	if (cJSON_IsNumber(c)) {
		if (c->valuedouble >= 1 && c->valuedouble <= INT_MAX)
			return (int)c->valuedouble;
		return 0;
	}
	if (cJSON_IsString(c) && isdigit((unsigned char)c->valuestring[0])) {
		errno = 0;
		l = strtol(c->valuestring, &end, 10);
		if (errno == 0 && *end == '\0' && l > 0 && l <= INT_MAX)
			return (int)l;
	}
	return 0;
}

static char *
api_json_text(const cJSON *j)
{
	char	*s, *out;

	if ((s = cJSON_PrintUnformatted(j)) == NULL)
		return xstrdup("");
	out = xstrdup(s);
	cJSON_free(s);
	return out;
}

static const char *
api_json_string(const cJSON *obj, const char *name)
{
	const cJSON	*s;

	s = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (cJSON_IsString(s) && s->valuestring[0] != '\0')
		return s->valuestring;
	return NULL;
}

/* The message in a JSON error body of any of the shapes servers sent:
 * {"error":{"code","message"}}, {"error":"text"}, "text", {"detail":..},
 * {"code","message"}; anything else verbatim. */
static char *
api_json_detail(const cJSON *j, int *code)
{
	const cJSON	*e, *d, *first;
	const char	*m;

	if (cJSON_IsString(j))
		return xstrdup(j->valuestring);
	if (!cJSON_IsObject(j))
		return api_json_text(j);
	if ((e = cJSON_GetObjectItemCaseSensitive(j, "error")) != NULL) {
		if (cJSON_IsString(e))
			return xstrdup(e->valuestring);
		if (cJSON_IsObject(e)) {
			*code = api_json_code(e);
			if ((m = api_json_string(e, "message")) != NULL)
				return xstrdup(m);
		}
		return api_json_text(e);
	}
	*code = api_json_code(j);
	if ((m = api_json_string(j, "message")) != NULL)
		return xstrdup(m);
	d = cJSON_GetObjectItemCaseSensitive(j, "detail");
	if (cJSON_IsString(d))
		return xstrdup(d->valuestring);
	if (cJSON_IsArray(d) && (first = cJSON_GetArrayItem(d, 0)) != NULL &&
	    (m = api_json_string(first, "msg")) != NULL)
		return xstrdup(m);
	if (d != NULL)
		return api_json_text(d);
	return api_json_text(j);
}

/* The readable part of an HTML page: its <title>, else the text between
 * the tags. */
static char *
api_html_text(const char *s)
{
	const char	*t, *end;
	char		*out;
	size_t		 o = 0;
	int		 intag = 0;

	if ((t = strcasestr(s, "<title")) != NULL &&
	    (t = strchr(t, '>')) != NULL &&
	    (end = strcasestr(t, "</title")) != NULL) {
		for (t++; t < end && isspace((unsigned char)*t); t++)
			;
		if (t < end)
			return xstrndup(t, (size_t)(end - t));
	}
	out = xmalloc(strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if (*s == '<')
			intag = 1;
		else if (*s == '>') {
			intag = 0;
			out[o++] = ' ';
		} else if (!intag)
			out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

/* What the current response body says, as a cleaned one-liner. Sets *code
 * when the body is JSON carrying an Algorithmia error code. */
static char *
api_body_detail(struct api_client *c, long status, int *code)
{
	cJSON		*j;
	char		*text, *raw, *out;
	const char	*ctype = NULL;
	size_t		 i;

	*code = 0;
	if (c->len == 0)
		return xstrdup(api_reason_or(status));
	if ((j = cJSON_ParseWithLength(c->body, c->len)) != NULL) {
		raw = api_json_detail(j, code);
		cJSON_Delete(j);
	} else {
		/* Text: NULs would end it early. */
		text = xmalloc(c->len + 1);
		for (i = 0; i < c->len; i++)
			text[i] = c->body[i] == '\0' ? ' ' : c->body[i];
		text[c->len] = '\0';
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ctype);
		for (i = 0; isspace((unsigned char)text[i]); i++)
			;
		if ((ctype != NULL && strcasestr(ctype, "html") != NULL) ||
		    text[i] == '<') {
			raw = api_html_text(text);
			free(text);
		} else
			raw = text;
	}
	out = api_clean(raw, strlen(raw));
	free(raw);
	if (*out == '\0') {
		free(out);
		out = xstrdup(api_reason_or(status));
	}
	return out;
}

static size_t
api_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct api_client	*c = arg;

	httpmsg_header(ptr, size * nmemb, &c->retry_after_ms,
	    API_RETRY_AFTER_MAX_MS);
	return size * nmemb;
}

static size_t
api_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct api_client	*c = arg;
	size_t			 n = size * nmemb;

	if (httpmsg_append(&c->body, &c->len, &c->size, c->max_response, ptr,
	    n) == -1) {
		c->too_large = 1;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return n;
}

static int
api_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct api_client	*c = arg;

	return c->cancel != NULL && *c->cancel != 0;
}

/* Sets up the handle afresh for one request (the connection cache
 * survives curl_easy_reset). */
static int
api_setup(struct api_client *c, const char *method, const char *url,
    const char *body)
{
	CURL	*h = c->curl;
	int	 bad = 0;

	curl_easy_reset(h);
	bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
#else
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
	/* A redirect is answered as an error, never followed: the key must
	 * not travel to wherever a Location header points. */
	bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, API_USER_AGENT) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER,
	    body != NULL ? c->hdrs_body : c->hdrs) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, api_write_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, api_header_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, api_progress_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)c->max_response) != CURLE_OK;
	if (c->ca_file != NULL) {
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) !=
		    CURLE_OK;
		if (c->capath)
			bad |= curl_easy_setopt(h, CURLOPT_CAPATH,
			    API_CAPATH) != CURLE_OK;
	}
	if (strcmp(method, "GET") == 0)
		bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	else if (strcmp(method, "POST") != 0)
		bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) !=
		    CURLE_OK;
	if (body != NULL) {
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(body)) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) !=
		    CURLE_OK;
	}
	return bad ? -1 : 0;
}

static void
api_transport_fail(struct api_client *c, CURLcode cc, const char *method,
    const char *path, struct api_error *err)
{
	err->transient = httpmsg_curl_transient(cc);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		err->cancelled = 1;
		api_fail(err, "%s %s: cancelled", method, path);
	} else if (cc == CURLE_FILESIZE_EXCEEDED ||
	    (cc == CURLE_WRITE_ERROR && c->too_large))
		api_fail(err, "%s %s: response too large (more than %zu bytes)",
		    method, path, c->max_response);
	else
		api_fail(err, "%s %s: %s", method, path, c->errbuf[0] != '\0' ?
		    c->errbuf : curl_easy_strerror(cc));
}

static void
api_http_fail(struct api_client *c, const char *method, const char *path,
    long status, struct api_error *err)
{
	char	*loc = NULL, *detail;

	if (status >= 300 && status < 400) {
		curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &loc);
		xasprintf(&detail, "redirect to %s not followed",
		    loc != NULL ? loc : "(no location)");
		c->detail = api_clean(detail, strlen(detail));
		free(detail);
	} else
		c->detail = api_body_detail(c, status, &err->code);
	err->transient = httpmsg_status_transient(status);
	if (err->code != 0)
		api_fail(err, "%s %s: %ld %s (code %d)", method, path, status,
		    c->detail, err->code);
	else
		api_fail(err, "%s %s: %ld %s", method, path, status, c->detail);
}

/*
 * One request. path starts with "/v1/", already escaped; query (or NULL)
 * too. Returns 0 with *out the JSON of a 2xx answer (caller deletes), or
 * -1 with err filled: no answer, a non-2xx status, a 2xx answer that is
 * no JSON or a JSON object with an "error" member.
 */
static int
api_call(struct api_client *c, const char *method, const char *path,
    const char *query, const cJSON *body, cJSON **out, struct api_error *err)
{
	char		*url, *text = NULL, *snippet;
	CURLcode	 cc;
	long		 status = 0;
	cJSON		*j;
	int		 rv = -1;

	*out = NULL;
	api_error_reset(err);
	free(c->detail);
	c->detail = NULL;
	if (c->cancel != NULL && *c->cancel != 0) {
		err->cancelled = 1;
		api_fail(err, "%s %s: cancelled", method, path);
		return -1;
	}
	xasprintf(&url, "%s%s%s%s", c->base, path, query != NULL ? "?" : "",
	    query != NULL ? query : "");
	if (body != NULL && (text = cJSON_PrintUnformatted(body)) == NULL) {
		api_fail(err, "%s %s: cannot encode the request", method, path);
		goto out;
	}
	if (api_setup(c, method, url, text) != 0) {
		api_fail(err, "%s %s: cannot set up the request", method, path);
		goto out;
	}
	c->len = 0;
	c->too_large = 0;
	c->retry_after_ms = -1;
	c->errbuf[0] = '\0';
	cc = curl_easy_perform(c->curl);
	if (c->observe != NULL) {
		if (cc != CURLE_OK ||
		    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &status) != CURLE_OK)
			status = 0;
		c->observe(c->observe_arg, status);
		status = 0;
	}
	if (cc != CURLE_OK) {
		log_debug("api: %s %s: curl error %d", method, path, (int)cc);
		api_transport_fail(c, cc, method, path, err);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	log_debug("api: %s %s: %ld, %zu bytes", method, path, status, c->len);
	err->status = status;
	err->retry_after_ms = c->retry_after_ms;
	if (status < 200 || status > 299) {
		api_http_fail(c, method, path, status, err);
		goto out;
	}
	if ((j = cJSON_ParseWithLength(c->body != NULL ? c->body : "",
	    c->len)) == NULL) {
		snippet = c->len > 0 ? api_clean(c->body, c->len) :
		    xstrdup("(empty body)");
		api_fail(err, "invalid JSON in response to %s %s: %ld %s",
		    method, path, status, snippet);
		free(snippet);
		goto out;
	}
	if (cJSON_IsObject(j) && cJSON_HasObjectItem(j, "error")) {
		cJSON_Delete(j);
		api_http_fail(c, method, path, status, err);
		goto out;
	}
	*out = j;
	rv = 0;
out:
	if (c->size > API_BUF_KEEP) {
		free(c->body);
		c->body = NULL;
		c->size = 0;
	}
	c->len = 0;
	cJSON_free(text);
	free(url);
	return rv;
}

/* "/v1/SEG/SEG...", each segment %-encoded; -1 if one is missing. */
static char *
api_path(struct api_client *c, struct api_error *err, const char *const *segs,
    size_t n)
{
	char	*path, *esc, *next;
	size_t	 i;

	path = xstrdup("/v1");
	for (i = 0; i < n; i++) {
		if (segs[i] == NULL || *segs[i] == '\0') {
			api_fail(err, "%s: missing name or id", path);
			free(path);
			return NULL;
		}
		if ((esc = curl_easy_escape(c->curl, segs[i], 0)) == NULL) {
			api_fail(err, "%s: cannot encode a name", path);
			free(path);
			return NULL;
		}
		xasprintf(&next, "%s/%s", path, esc);
		curl_free(esc);
		free(path);
		path = next;
	}
	return path;
}

#define API_PATH(c, err, ...)						\
	api_path((c), (err), (const char *const []){ __VA_ARGS__ },	\
	    sizeof((const char *const []){ __VA_ARGS__ }) / sizeof(char *))

static char *
api_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
api_build_clear(struct api_build *b)
{
	if (b == NULL)
		return;
	free(b->id);
	free(b->status);
	free(b->commit_sha);
	free(b->version);
	memset(b, 0, sizeof *b);
}

void
api_version_clear(struct api_version *v)
{
	if (v == NULL)
		return;
	free(v->semver);
	free(v->git_hash);
	free(v->build_id);
	free(v->release_notes);
	memset(v, 0, sizeof *v);
}

static void
api_build_parse(const cJSON *j, struct api_build *b)
{
	const cJSON	*vi;
	const char	*id;

	memset(b, 0, sizeof *b);
	if ((id = api_json_string(j, "build_id")) == NULL)
		id = api_json_string(j, "id");
	b->id = api_dup(id);
	b->status = api_dup(api_json_string(j, "status"));
	b->commit_sha = api_dup(api_json_string(j, "commit_sha"));
	vi = cJSON_GetObjectItemCaseSensitive(j, "version_info");
	b->version = api_dup(api_json_string(vi, "semantic_version"));
}

static void
api_version_parse(const cJSON *j, struct api_version *v)
{
	const cJSON	*vi, *build;
	const char	*hash;

	memset(v, 0, sizeof *v);
	vi = cJSON_GetObjectItemCaseSensitive(j, "version_info");
	build = cJSON_GetObjectItemCaseSensitive(j, "build");
	v->semver = api_dup(api_json_string(vi, "semantic_version"));
	if ((hash = api_json_string(vi, "git_hash")) == NULL)
		hash = api_json_string(build, "commit_sha");
	v->git_hash = api_dup(hash);
	v->build_id = api_dup(api_json_string(build, "build_id"));
	v->release_notes = api_dup(api_json_string(vi, "release_notes"));
}

static void
api_version_copy(struct api_version *dst, const struct api_version *src)
{
	dst->semver = api_dup(src->semver);
	dst->git_hash = api_dup(src->git_hash);
	dst->build_id = api_dup(src->build_id);
	dst->release_notes = api_dup(src->release_notes);
}

static void
api_pager_free(struct api_pager *p)
{
	size_t	 i;

	for (i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	free(p->seen);
	free(p->marker);
	free(p->path);
}

/* The "marker" query parameter of a next_link URL, or NULL. */
static char *
api_link_marker(struct api_client *c, const char *link)
{
	const char	*q, *v;
	char		*raw, *dec, *out = NULL;
	size_t		 n;
	int		 declen;

	if ((q = strchr(link, '?')) == NULL)
		return NULL;
	for (q++; *q != '\0' && *q != '#'; q += n + (q[n] == '&')) {
		n = strcspn(q, "&#");
		if (n <= 7 || strncmp(q, "marker=", 7) != 0)
			continue;
		v = q + 7;
		raw = xstrndup(v, n - 7);
		dec = curl_easy_unescape(c->curl, raw, 0, &declen);
		if (dec != NULL && declen > 0 &&
		    memchr(dec, '\0', (size_t)declen) == NULL)
			out = xstrdup(dec);
		curl_free(dec);
		free(raw);
		break;
	}
	return out;
}

/*
 * Fetches the next page into *page (caller deletes) with *results its
 * array. 1 got a page, 0 at the end, -1 error.
 */
static int
api_pager_next(struct api_client *c, struct api_pager *p, cJSON **page,
    const cJSON **results, struct api_error *err)
{
	char		*query, *esc = NULL, *next = NULL;
	const char	*link;
	const cJSON	*m;
	size_t		 i;

	*page = NULL;
	*results = NULL;
	if (p->done)
		return 0;
	if (p->pages >= p->max_pages) {
		p->done = 1;
		if (!p->fail_at_max)
			return 0;
		api_error_reset(err);
		api_fail(err, "GET %s: gave up after %d pages", p->path,
		    p->pages);
		return -1;
	}
	if (p->marker != NULL &&
	    (esc = curl_easy_escape(c->curl, p->marker, 0)) == NULL) {
		api_error_reset(err);
		api_fail(err, "GET %s: cannot encode a marker", p->path);
		return -1;
	}
	xasprintf(&query, "limit=%d%s%s%s%s",
	    p->pages == 0 ? p->first_limit : API_PAGE_LIMIT,
	    p->filter != NULL ? "&" : "", p->filter != NULL ? p->filter : "",
	    esc != NULL ? "&marker=" : "", esc != NULL ? esc : "");
	curl_free(esc);
	if (api_call(c, "GET", p->path, query, NULL, page, err) != 0) {
		free(query);
		return -1;
	}
	free(query);
	p->pages++;

	/* A bare array is a server that does not page. */
	if (cJSON_IsArray(*page)) {
		*results = *page;
		p->done = 1;
		return 1;
	}
	*results = cJSON_GetObjectItemCaseSensitive(*page, "results");
	if (!cJSON_IsArray(*results)) {
		api_fail(err, "GET %s: no results in the response", p->path);
		goto bad;
	}
	m = cJSON_GetObjectItemCaseSensitive(*page, "marker");
	if (cJSON_IsString(m) && m->valuestring[0] != '\0')
		next = xstrdup(m->valuestring);
	else if ((link = api_json_string(*page, "next_link")) != NULL &&
	    (next = api_link_marker(c, link)) == NULL) {
		api_fail(err, "GET %s: next_link has no marker", p->path);
		goto bad;
	}
	free(p->marker);
	p->marker = NULL;
	if (next == NULL) {
		p->done = 1;
		return 1;
	}
	for (i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i], next) == 0) {
			free(next);
			api_fail(err, "GET %s: the server repeated a "
			    "pagination marker", p->path);
			goto bad;
		}
	}
	p->seen = xreallocarray(p->seen, p->nseen + 1, sizeof *p->seen);
	p->seen[p->nseen++] = xstrdup(next);
	p->marker = next;
	return 1;

bad:
	p->done = 1;
	cJSON_Delete(*page);
	*page = NULL;
	*results = NULL;
	return -1;
}

int
api_client_new(struct api_client **out, const char *base_url,
    const char *key, const char *ca_file, uint64_t timeout_ms, char **cause)
{
	struct api_client	*c;
	CURLU			*u = NULL;
	char			*scheme = NULL, *user = NULL, *hdr;
	const char		*p;
	size_t			 n;

	*out = NULL;
	if (base_url == NULL || *base_url == '\0') {
		*cause = xstrdup("no API URL");
		return -1;
	}
	if (key == NULL || *key == '\0') {
		*cause = xstrdup("no API key");
		return -1;
	}
	for (p = key; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*cause = xstrdup("the API key contains spaces or "
			    "control characters");
			return -1;
		}
	}
	if (timeout_ms == 0) {
		*cause = xstrdup("the API timeout must not be zero");
		return -1;
	}
	if (ca_file != NULL && access(ca_file, R_OK) != 0) {
		*cause = xprintf("ca_file %s: %s", ca_file, strerror(errno));
		return -1;
	}
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    strpbrk(base_url, "?# \t\r\n") != NULL) {
		*cause = redact(base_url);
		hdr = xprintf("bad API URL \"%s\": want http(s)://host[:port]",
		    *cause);
		free(*cause);
		*cause = hdr;
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		*cause = xstrdup("the API URL must not contain user "
		    "information");
		goto fail;
	}
	curl_free(scheme);
	curl_url_cleanup(u);

	c = xcalloc(1, sizeof *c);
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		*cause = xstrdup("curl_easy_init failed");
		return -1;
	}
	c->base = xstrdup(base_url);
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (n >= 3 && strcmp(c->base + n - 3, "/v1") == 0) {
		n -= 3;
		c->base[n] = '\0';
		while (n > 0 && c->base[n - 1] == '/')
			c->base[--n] = '\0';
	}
	if (ca_file != NULL) {
		c->ca_file = xstrdup(ca_file);
		c->capath = access(API_CAPATH, R_OK | X_OK) == 0;
	}
	c->timeout_ms = timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms;
	c->max_response = API_MAX_RESPONSE;
	c->retry_after_ms = -1;

	redact_add(key);
	xasprintf(&hdr, "Authorization: Simple %s", key);
	c->hdrs = curl_slist_append(c->hdrs, hdr);
	c->hdrs_body = curl_slist_append(c->hdrs_body, hdr);
	explicit_bzero(hdr, strlen(hdr));
	free(hdr);
	c->hdrs = curl_slist_append(c->hdrs, "Accept: application/json");
	c->hdrs_body = curl_slist_append(c->hdrs_body,
	    "Accept: application/json");
	c->hdrs_body = curl_slist_append(c->hdrs_body,
	    "Content-Type: application/json");
	c->hdrs_body = curl_slist_append(c->hdrs_body, "Expect:");
	if (c->hdrs == NULL || c->hdrs_body == NULL) {
		api_client_free(c);
		*cause = xstrdup("curl_slist_append failed");
		return -1;
	}
	*out = c;
	return 0;

fail:
	curl_free(user);
	curl_free(scheme);
	curl_url_cleanup(u);
	return -1;
}

/* The header lists hold the key: wipe it before giving the memory back. */
static void
api_slist_wipe(struct curl_slist *l)
{
	for (; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
}

void
api_client_free(struct api_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	api_slist_wipe(c->hdrs);
	api_slist_wipe(c->hdrs_body);
	curl_slist_free_all(c->hdrs);
	curl_slist_free_all(c->hdrs_body);
	free(c->base);
	free(c->ca_file);
	free(c->body);
	free(c->detail);
	free(c);
}

void
api_client_set_observer(struct api_client *c, void (*fn)(void *, long),
    void *arg)
{
	c->observe = fn;
	c->observe_arg = arg;
}

void
api_client_set_cancel(struct api_client *c, const volatile int *cancel)
{
	c->cancel = cancel;
}

void
api_client_set_max_response(struct api_client *c, size_t max)
{
	if (max == 0)
		max = API_MAX_RESPONSE;
	c->max_response = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max;
}

static int
api_not_found(struct api_error *err, const char *detail)
{
	return err->status == 404 || err->code == API_CODE_NO_ALGORITHM ||
	    err->code == API_CODE_NO_SUCH_NAME ||
	    (detail != NULL && strcasestr(detail, "no such algorithm") != NULL);
}

/* A failure that the caller turns into a 0 return: keep only the status. */
static void
api_error_soft(struct api_error *err)
{
	long	 status = err->status;

	api_error_reset(err);
	err->status = status;
}

int
api_algo_get(struct api_client *c, const char *owner, const char *algo,
    cJSON **out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*j;

	if (err == NULL)
		err = &scratch;
	if (out != NULL)
		*out = NULL;
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo)) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		if (err->status == 0 || !api_not_found(err, c->detail))
			return -1;
		api_error_soft(err);
		return 0;
	}
	if (!cJSON_IsObject(j)) {
		api_fail(err, "GET %s: the answer is not an object", path);
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	free(path);
	if (out != NULL)
		*out = j;
	else
		cJSON_Delete(j);
	return 1;
}

int
api_algo_create(struct api_client *c, const char *owner, const char *name,
    const cJSON *details, const cJSON *settings, cJSON **out,
    struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*body, *j;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	if (out != NULL)
		*out = NULL;
	api_error_reset(err);
	if (name == NULL || *name == '\0') {
		api_fail(err, "create algorithm: no name");
		return -1;
	}
	if ((path = API_PATH(c, err, "algorithms", owner)) == NULL)
		return -1;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "name", cJSON_CreateString(name));
	if (details != NULL)
		cJSON_AddItemToObject(body, "details",
		    cJSON_Duplicate(details, 1));
	if (settings != NULL)
		cJSON_AddItemToObject(body, "settings",
		    cJSON_Duplicate(settings, 1));
	rv = api_call(c, "POST", path, NULL, body, &j, err);
	cJSON_Delete(body);
	if (rv != 0) {
		free(path);
		if (err->status != 0 && (err->code == API_CODE_EXISTS ||
		    (c->detail != NULL &&
		    strcasestr(c->detail, "already exist") != NULL))) {
			api_error_soft(err);
			return 0;
		}
		return -1;
	}
	free(path);
	if (out != NULL)
		*out = j;
	else
		cJSON_Delete(j);
	return 1;
}

int
api_build_find(struct api_client *c, const char *owner, const char *algo,
    const char *sha, struct api_build *out, struct api_error *err)
{
	struct api_error	 scratch;
	struct api_pager	 p;
	struct api_build	 b;
	cJSON			*page;
	const cJSON		*results, *item;
	int			 rv = 0, found = 0;

	if (err == NULL)
		err = &scratch;
	api_build_clear(out);
	api_error_reset(err);
	if (sha == NULL || *sha == '\0') {
		api_fail(err, "find build: no commit");
		return -1;
	}
	memset(&p, 0, sizeof p);
	p.first_limit = API_PAGE_LIMIT;
	p.max_pages = API_BUILD_MAX_PAGES;
	if ((p.path = API_PATH(c, err, "algorithms", owner, algo,
	    "builds")) == NULL)
		return -1;
	while (!found &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		cJSON_ArrayForEach(item, results) {
			if (!cJSON_IsObject(item))
				continue;
			api_build_parse(item, &b);
			if (b.commit_sha != NULL &&
			    strcasecmp(b.commit_sha, sha) == 0) {
				*out = b;
				found = 1;
				break;
			}
			api_build_clear(&b);
		}
		cJSON_Delete(page);
	}
	if (found)
		rv = 1;
	if (rv != -1)
		api_error_soft(err);
	api_pager_free(&p);
	return rv;
}

int
api_build_get(struct api_client *c, const char *owner, const char *algo,
    const char *build_id, struct api_build *out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*j;

	if (err == NULL)
		err = &scratch;
	api_build_clear(out);
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo, "builds",
	    build_id)) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		return -1;
	}
	if (cJSON_IsObject(j))
		api_build_parse(j, out);
	if (out->status == NULL) {
		api_fail(err, "GET %s: no build status in the answer", path);
		api_build_clear(out);
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	if (out->id == NULL)
		out->id = xstrdup(build_id);
	cJSON_Delete(j);
	free(path);
	return 0;
}

int
api_build_logs(struct api_client *c, const char *owner, const char *algo,
    const char *build_id, char **logs, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	const cJSON		*l;
	cJSON			*j;
	int			 rv = 0;

	if (err == NULL)
		err = &scratch;
	*logs = NULL;
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo, "builds",
	    build_id, "logs")) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		if (err->status != 404)
			return -1;
		api_error_soft(err);
		return 0;
	}
	free(path);
	l = cJSON_GetObjectItemCaseSensitive(j, "logs");
	if (cJSON_IsString(l)) {
		*logs = xstrdup(l->valuestring);
		rv = 1;
	}
	cJSON_Delete(j);
	return rv;
}

int
api_publish(struct api_client *c, const char *owner, const char *algo,
    const char *version_type, const char *release_notes,
    struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*body, *vi, *j;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo,
	    "versions")) == NULL)
		return -1;
	body = cJSON_CreateObject();
	vi = cJSON_AddObjectToObject(body, "version_info");
	if (version_type != NULL)
		cJSON_AddStringToObject(vi, "version_type", version_type);
	if (release_notes != NULL)
		cJSON_AddStringToObject(vi, "release_notes", release_notes);
	rv = api_call(c, "POST", path, NULL, body, &j, err);
	if (rv != 0 && (err->status == 404 || err->status == 405)) {
		/* Some servers spell it singular (the Java client does). */
		free(path);
		if ((path = API_PATH(c, err, "algorithms", owner, algo,
		    "version")) == NULL) {
			cJSON_Delete(body);
			return -1;
		}
		rv = api_call(c, "POST", path, NULL, body, &j, err);
	}
	cJSON_Delete(body);
	free(path);
	if (rv != 0)
		return -1;
	if (cJSON_IsObject(j))
		api_version_parse(j, out);
	cJSON_Delete(j);
	return 0;
}

/* Walks versions; fn sees each one passing the published filter. */
static int
api_versions_walk(struct api_client *c, const char *owner, const char *algo,
    int published, int first_limit,
    int (*fn)(const struct api_version *, void *), void *arg,
    struct api_error *err)
{
	struct api_pager	 p;
	struct api_version	 v;
	cJSON			*page;
	const cJSON		*results, *item;
	int			 rv = 0, stop = 0;

	api_error_reset(err);
	memset(&p, 0, sizeof p);
	p.first_limit = first_limit;
	p.max_pages = API_VERSION_MAX_PAGES;
	p.fail_at_max = 1;
	if (published == 1)
		p.filter = "published=true";
	else if (published == 0)
		p.filter = "published=false";
	if ((p.path = API_PATH(c, err, "algorithms", owner, algo,
	    "versions")) == NULL)
		return -1;
	while (!stop &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		cJSON_ArrayForEach(item, results) {
			if (!cJSON_IsObject(item))
				continue;
			api_version_parse(item, &v);
			if ((published == 1 && v.semver == NULL) ||
			    (published == 0 && v.semver != NULL)) {
				api_version_clear(&v);
				continue;
			}
			stop = fn(&v, arg) != 0;
			api_version_clear(&v);
			if (stop)
				break;
		}
		cJSON_Delete(page);
	}
	api_pager_free(&p);
	if (stop) {
		api_error_soft(err);
		return 1;
	}
	if (rv == -1)
		return -1;
	api_error_soft(err);
	return 0;
}

int
api_versions_each(struct api_client *c, const char *owner, const char *algo,
    int published, int (*fn)(const struct api_version *, void *), void *arg,
    struct api_error *err)
{
	struct api_error	 scratch;

	if (err == NULL)
		err = &scratch;
	return api_versions_walk(c, owner, algo, published, API_PAGE_LIMIT,
	    fn, arg, err);
}

static int
api_take_first(const struct api_version *v, void *arg)
{
	api_version_copy(arg, v);
	return 1;
}

int
api_version_latest(struct api_client *c, const char *owner, const char *algo,
    struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	/* limit=1 for the common case; later pages ask for full pages. */
	return api_versions_walk(c, owner, algo, 1, 1, api_take_first, out,
	    err);
}

struct api_find {
	const char		*sha;
	struct api_version	*out;
};

static int
api_take_hash(const struct api_version *v, void *arg)
{
	struct api_find	*f = arg;

	if (v->git_hash == NULL || strcasecmp(v->git_hash, f->sha) != 0)
		return 0;
	api_version_copy(f->out, v);
	return 1;
}

int
api_version_find(struct api_client *c, const char *owner, const char *algo,
    const char *sha, struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;
	struct api_find		 f;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	if (sha == NULL || *sha == '\0') {
		api_error_reset(err);
		api_fail(err, "find version: no commit");
		return -1;
	}
	f.sha = sha;
	f.out = out;
	return api_versions_walk(c, owner, algo, 1, API_PAGE_LIMIT,
	    api_take_hash, &f, err);
}
