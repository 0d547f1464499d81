/* api.c: a blocking client for the Algorithmia management API (/v1): the
 * client, one request, and what its failures say. One reused libcurl easy
 * handle per client keeps the connection alive. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api_int.h"
#include "backoff.h"
#include "httpc.h"
#include "httpmsg.h"
#include "log.h"
#include "monotime.h"
#include "redact.h"
#include "url.h"
#include "xmalloc.h"

#define API_DETAIL_MAX	200	/* bytes of server text kept in a message */
#define API_BUF_KEEP	65536	/* response buffer kept between requests */

void
api_error_reset(struct api_error *err)
{
	memset(err, 0, sizeof *err);
	err->retry_after_ms = -1;
}

/* A failure that the caller turns into a 0 return: keep only the status. */
void
api_error_soft(struct api_error *err)
{
	long	 status = err->status;

	api_error_reset(err);
	err->status = status;
}

/* Server text made fit for a message: one line, secrets masked, then cut
 * to API_DETAIL_MAX bytes (masking first, so no piece of a secret stays). */
static char *
api_clean(const char *s, size_t len)
{
	char	*line, *red;

	line = httpmsg_oneline(s, len);
	red = redact(line);
	free(line);
	return httpmsg_cut(red, API_DETAIL_MAX);
}

/* Fills err->message: formatted, one line, redacted, truncated. */
void
api_fail(struct api_error *err, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	httpmsg_vline(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
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

const char *
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

/*
 * What an answer's body (len bytes, any content; ctype its Content-Type
 * or NULL) says, as a cleaned one-liner; the reason of status when it
 * says nothing. Sets *code when the body is JSON carrying an Algorithmia
 * error code. Needs no client: the fuzz tests call it on a buffer.
 */
char *
api_body_text(const char *body, size_t len, const char *ctype, long status,
    int *code)
{
	cJSON		*j;
	char		*text, *raw, *out;
	size_t		 i;

	*code = 0;
	if (len == 0 || body == NULL)
		return xstrdup(api_reason_or(status));
	if ((j = cJSON_ParseWithLength(body, len)) != NULL) {
		raw = api_json_detail(j, code);
		cJSON_Delete(j);
	} else {
		/* Text: NULs would end it early. */
		text = xmalloc(len + 1);
		for (i = 0; i < len; i++)
			text[i] = body[i] == '\0' ? ' ' : body[i];
		text[len] = '\0';
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

/* What the current response body says (api_body_text). */
static char *
api_body_detail(struct api_client *c, long status, int *code)
{
	const char	*ctype = NULL;

	if (c->resp.len != 0 && c->resp.body != NULL)
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ctype);
	return api_body_text(c->resp.body, c->resp.len, ctype, status, code);
}

static int
api_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct api_client	*c = arg;

	return c->cancel != NULL && atomic_load(c->cancel) != 0;
}


/* Sets up the handle afresh for one request (the connection cache
 * survives curl_easy_reset). */
static int
api_setup(struct api_client *c, const char *method, const char *url,
    const char *body)
{
	struct httpc_req	 req;
	CURL			*h = c->curl;
	int			 bad = 0;

	curl_easy_reset(h);
	memset(&req, 0, sizeof req);
	req.url = url;
	req.timeout_ms = c->timeout_ms;
	req.ca_file = c->ca_file;
	req.capath = c->capath;
	req.headers = body != NULL ? c->hdrs_body : c->hdrs;
	bad |= httpc_setup(h, &req, &c->resp) != 0;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, api_progress_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	if (strcmp(method, "GET") == 0)
		bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	else if (strcmp(method, "POST") != 0)
		bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) !=
		    CURLE_OK;
	/* libcurl sends a request again by itself when a reused connection
	 * closes before any answer: harmless for a GET, a blind repeat of a
	 * change otherwise. A new connection is never retried that way. */
	if (strcmp(method, "GET") != 0)
		bad |= curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L) !=
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
	} else if (httpc_too_large(&c->resp, cc))
		api_fail(err, "%s %s: response too large (more than %zu bytes)",
		    method, path, c->resp.max);
	else
		api_fail(err, "%s %s: %s", method, path,
		    httpc_strerror(&c->resp, cc));
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

/* Did the failed transfer leave nothing the server could act on? Refused
 * or unresolved connections never sent it; neither did one that ended
 * before curl wrote a byte of the request. */
static int
api_unsent(struct api_client *c, CURLcode cc)
{
	long	 sent = 0;

	if (cc == CURLE_COULDNT_RESOLVE_PROXY ||
	    cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT)
		return 1;
	return curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &sent) ==
	    CURLE_OK && sent == 0;
}

/* One try of api_call with the encoded body text (or NULL); *sent is 0
 * when a failed try cannot have reached the server. */
static int
api_once(struct api_client *c, const char *method, const char *path,
    const char *url, const char *text, cJSON **out, struct api_error *err,
    int *sent)
{
	char		*snippet;
	CURLcode	 cc;
	long		 status = 0;
	cJSON		*j;
	int		 rv = -1, code;

	*sent = 1;
	api_error_reset(err);
	free(c->detail);
	c->detail = NULL;
	if (c->cancel != NULL && atomic_load(c->cancel) != 0) {
		err->cancelled = 1;
		api_fail(err, "%s %s: cancelled", method, path);
		return -1;
	}
	if (api_setup(c, method, url, text) != 0) {
		api_fail(err, "%s %s: cannot set up the request", method, path);
		return -1;
	}
	httpc_resp_start(&c->resp);
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
		*sent = !api_unsent(c, cc);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	log_debug("api: %s %s: %ld, %zu bytes", method, path, status, c->resp.len);
	err->status = status;
	err->retry_after_ms = c->resp.retry_after_ms;
	if (status < 200 || status > 299) {
		api_http_fail(c, method, path, status, err);
		goto out;
	}
	if ((j = cJSON_ParseWithLength(c->resp.body != NULL ? c->resp.body :
	    "", c->resp.len)) == NULL) {
		/* What it says (an HTML page: its title, not its markup). */
		snippet = c->resp.len > 0 ? api_body_detail(c, status, &code) :
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
	if (c->resp.size > API_BUF_KEEP)
		httpc_resp_drop(&c->resp);
	c->resp.len = 0;
	return rv;
}

/*
 * One request, tried again as api_client_set_retry() allows. path starts
 * with "/v1/", already escaped; query (or NULL) too. Returns 0 with *out
 * the JSON of a 2xx answer (caller deletes), or -1 with err filled from
 * the last try: no answer, a non-2xx status, a 2xx answer that is no JSON
 * or a JSON object with an "error" member.
 */
/* One try of api_call, for api_retry_run(). */
struct api_try {
	struct api_client	*c;
	const char		*method, *path, *url, *text;
	cJSON			**out;
};

static int
api_try_once(void *arg, struct api_error *err, int *again)
{
	struct api_try	*t = arg;
	int		 rv, sent;

	rv = api_once(t->c, t->method, t->path, t->url, t->text, t->out, err,
	    &sent);
	*again = rv != 0 && api_retry_may(t->method, err, sent);
	return rv;
}

int
api_call(struct api_client *c, const char *method, const char *path,
    const char *query, const cJSON *body, cJSON **out, struct api_error *err)
{
	struct api_try		 t;
	char			*url, *text = NULL, *what;
	int			 rv = -1;

	*out = NULL;
	xasprintf(&url, "%s%s%s%s", c->base, path, query != NULL ? "?" : "",
	    query != NULL ? query : "");
	xasprintf(&what, "%s %s", method, path);
	if (body != NULL && (text = cJSON_PrintUnformatted(body)) == NULL) {
		api_error_reset(err);
		api_fail(err, "%s: cannot encode the request", what);
		goto out;
	}
	t = (struct api_try){ .c = c, .method = method, .path = path,
	    .url = url, .text = text, .out = out };
	rv = api_retry_run(&(struct api_retry_req){ .cl = { c }, .what = what,
	    .once = api_try_once, .arg = &t }, err);
out:
	cJSON_free(text);
	free(what);
	free(url);
	return rv;
}

/* "/v1/SEG/SEG...", each segment %-encoded; -1 if one is missing. */
char *
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

/* base_url is http(s)://host[:port][/prefix], with no user information,
 * query nor fragment. */
static int
api_check_url(const char *base_url, char **cause)
{
	struct url	 u;
	char		*why = NULL, *shown;
	int		 rv = -1;

	if (url_split(&u, base_url, &why) != 0 ||
	    (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) ||
	    u.has_query || strpbrk(base_url, " \t\r\n") != NULL) {
		shown = redact(base_url);
		*cause = xprintf("bad API URL \"%s\": want "
		    "http(s)://host[:port]", shown);
		free(shown);
	} else if (u.has_userinfo)
		*cause = xstrdup("the API URL must not contain user "
		    "information");
	else
		rv = 0;
	free(why);
	url_clear(&u);
	return rv;
}

static int
api_check_args(const char *base_url, const char *key, const char *ca_file,
    uint64_t timeout_ms, char **cause)
{
	const char	*p;

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
	return api_check_url(base_url, cause);
}

int
api_client_new(struct api_client **out, const char *base_url,
    const char *key, const char *ca_file, uint64_t timeout_ms, char **cause)
{
	struct api_client	*c;
	char			*hdr;

	*out = NULL;
	if (api_check_args(base_url, key, ca_file, timeout_ms, cause) != 0)
		return -1;
	c = xcalloc(1, sizeof *c);
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		*cause = xstrdup("curl_easy_init failed");
		return -1;
	}
	c->base = httpc_base(base_url, 1);
	if (ca_file != NULL) {
		c->ca_file = xstrdup(ca_file);
		c->capath = httpc_capath();
	}
	c->timeout_ms = timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms;
	api_client_set_retry(c, 1, 0);
	httpc_resp_init(&c->resp, API_MAX_RESPONSE, API_RETRY_AFTER_MAX_MS);

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
	free(c->who);
	httpc_resp_drop(&c->resp);
	free(c->detail);
	free(c);
}

void
api_client_set_name(struct api_client *c, const char *who)
{
	free(c->who);
	c->who = who != NULL ? xprintf("%s: ", who) : NULL;
}

void
api_client_set_halt(struct api_client *c, int (*fn)(void *, char *, size_t),
    void *arg)
{
	c->halt = fn;
	c->halt_arg = arg;
}

void
api_client_set_observer(struct api_client *c, void (*fn)(void *, long),
    void *arg)
{
	c->observe = fn;
	c->observe_arg = arg;
}

void
api_client_set_retry(struct api_client *c, int tries, uint64_t budget_ms)
{
	c->tries = tries < 1 ? 1 : tries;
	c->retry_budget_ms = budget_ms == 0 ? API_RETRY_BUDGET_MS : budget_ms;
}

void
api_client_set_cancel(struct api_client *c, const atomic_int *cancel)
{
	c->cancel = cancel;
}

void
api_client_set_max_response(struct api_client *c, size_t max)
{
	if (max == 0)
		max = API_MAX_RESPONSE;
	c->resp.max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max;
}
