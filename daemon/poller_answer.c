/* poller_answer.c: what a finished poll says: a git smart-HTTP refs
 * advertisement (pkt-lines) or the API's version list (JSON), or a failure. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "httpc.h"
#include "httpmsg.h"
#include "log.h"
#include "monotime.h"
#include "pktline.h"
#include "poller_int.h"
#include "redact.h"
#include "xmalloc.h"

#define POLLER_DETAIL_MAX	120	/* bytes of server text in an error */
#define POLLER_SEMVER_CHARS	"0123456789.-+" \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* The job fails with a formatted, one-line, redacted message. */
void
poller_fail(struct poller_job *job, int transient, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	httpmsg_vline(job->res.error, sizeof job->res.error, fmt, ap);
	va_end(ap);
	job->res.ok = 0;
	job->res.found = 0;
	job->res.transient = transient;
}

static const char *
poller_reason(long status)
{
	const char	*r = httpmsg_reason(status);

	if (r != NULL)
		return r;
	if (status >= 300 && status < 400)
		return "redirect not followed";
	return "unexpected status";
}

/* What an error body says, briefly: a JSON error message, or the first
 * line of a plain-text body; NULL if nothing useful. */
static char *
poller_detail(struct poller_job *job)
{
	cJSON		*j, *e = NULL, *m = NULL;
	const char	*ctype = NULL, *s = NULL;
	char		*out = NULL;
	size_t		 n;

	if (job->resp.len == 0 || job->resp.body == NULL)
		return NULL;
	j = cJSON_ParseWithLength(job->resp.body, job->resp.len);
	if (j != NULL) {
		if (cJSON_IsObject(j))
			e = cJSON_GetObjectItemCaseSensitive(j, "error");
		if (cJSON_IsObject(e))
			m = cJSON_GetObjectItemCaseSensitive(e, "message");
		else if (cJSON_IsObject(j))
			m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (e != NULL && cJSON_IsString(e))
			s = e->valuestring;
		else if (m != NULL && cJSON_IsString(m))
			s = m->valuestring;
		if (s != NULL)
			out = httpmsg_oneline(s, strlen(s));
		cJSON_Delete(j);
	} else {
		curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &ctype);
		if (ctype != NULL && strncasecmp(ctype, "text/plain", 10) == 0)
		{
			n = strcspn(job->resp.body, "\r\n");
			out = httpmsg_oneline(job->resp.body, n);
		}
	}
	if (out != NULL && *out == '\0') {
		free(out);
		out = NULL;
	}
	return out != NULL ? httpmsg_cut(out, POLLER_DETAIL_MAX) : NULL;
}

static void
poller_http_fail(struct poller_job *job, long status)
{
	char	*detail = NULL, *loc = NULL;

	if (status >= 300 && status < 400) {
		curl_easy_getinfo(job->easy, CURLINFO_REDIRECT_URL, &loc);
		if (loc != NULL)
			detail = xprintf("to %.*s", POLLER_DETAIL_MAX, loc);
	} else
		detail = poller_detail(job);
	if (detail != NULL) {
		poller_fail(job, httpmsg_status_transient(status),
		    "GET %s: %ld %s (%s)", job->shown, status,
		    poller_reason(status), detail);
		free(detail);
	} else
		poller_fail(job, httpmsg_status_transient(status),
		    "GET %s: %ld %s", job->shown, status,
		    poller_reason(status));
}

/* Media types compare case-insensitively; parameters are ignored. */
static int
poller_ctype_is(const char *ctype, const char *want)
{
	size_t	 n;

	if (ctype == NULL)
		return 0;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	n = strcspn(ctype, "; \t");
	return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

static void
poller_refs_answer(struct poller_job *job)
{
	struct pktline_adv	 adv;
	const struct pktline_ref *r;
	const char		*ctype = NULL;
	char			*cause = NULL;

	curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &ctype);
	if (!poller_ctype_is(ctype, POLLER_REFS_TYPE)) {
		poller_fail(job, 0, "GET %s: not a git smart-HTTP answer "
		    "(content type %.80s)", job->shown,
		    ctype != NULL ? ctype : "none");
		return;
	}
	if (pktline_parse_adv(&adv, job->resp.body != NULL ? job->resp.body : "",
	    job->resp.len, "git-upload-pack", &cause) != 0) {
		poller_fail(job, 0, "GET %s: %s", job->shown, cause);
		free(cause);
		return;
	}
	job->res.ok = 1;
	if ((r = pktline_adv_find(&adv, job->ref)) != NULL) {
		job->res.found = 1;
		httpmsg_copy(job->res.head, sizeof job->res.head, r->oid);
	}
	pktline_adv_clear(&adv);
}

/* A git hash as the API gives it: 40 or 64 hex digits. */
static int
poller_hash_ok(const char *s)
{
	size_t	 n = strspn(s, "0123456789abcdefABCDEF");

	return s[n] == '\0' && (n == 40 || n == 64);
}

static void
poller_version_answer(struct poller_job *job)
{
	cJSON		*j, *list, *item, *vi, *sv, *gh;
	char		*detail;
	size_t		 i;

	j = cJSON_ParseWithLength(job->resp.body != NULL ? job->resp.body : "",
	    job->resp.len);
	if (!cJSON_IsObject(j)) {
		poller_fail(job, 0, "GET %s: answer is no JSON object",
		    job->shown);
		goto out;
	}
	if (cJSON_HasObjectItem(j, "error")) {
		/* The API's clients treat this as a failure too. */
		detail = poller_detail(job);
		poller_fail(job, 0, "GET %s: error in the answer (%s)",
		    job->shown, detail != NULL ? detail : "no message");
		free(detail);
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(j, "results");
	if (!cJSON_IsArray(list)) {
		poller_fail(job, 0, "GET %s: answer has no results list",
		    job->shown);
		goto out;
	}
	/* The first published one: a server may ignore published=true. */
	cJSON_ArrayForEach(item, list) {
		vi = cJSON_GetObjectItemCaseSensitive(item, "version_info");
		sv = cJSON_GetObjectItemCaseSensitive(vi, "semantic_version");
		if (!cJSON_IsString(sv) || sv->valuestring[0] == '\0')
			continue;
		gh = cJSON_GetObjectItemCaseSensitive(vi, "git_hash");
		if (!cJSON_IsString(gh) || !poller_hash_ok(gh->valuestring)) {
			poller_fail(job, 0, "GET %s: version %.64s has no "
			    "valid git_hash", job->shown, sv->valuestring);
			goto out;
		}
		if (strlen(sv->valuestring) >= sizeof job->res.version ||
		    strspn(sv->valuestring, POLLER_SEMVER_CHARS) !=
		    strlen(sv->valuestring)) {
			poller_fail(job, 0, "GET %s: bad semantic_version "
			    "%.64s", job->shown, sv->valuestring);
			goto out;
		}
		for (i = 0; gh->valuestring[i] != '\0'; i++)
			job->res.head[i] = (char)tolower(
			    (unsigned char)gh->valuestring[i]);
		job->res.head[i] = '\0';
		httpmsg_copy(job->res.version, sizeof job->res.version,
		    sv->valuestring);
		job->res.found = 1;
		break;
	}
	job->res.ok = 1;
out:
	cJSON_Delete(j);
}

/* Fills job->res from a finished transfer. */
void
poller_finish(struct poller_job *job, CURLcode cc)
{
	struct poller_result	*r = &job->res;
	long			 status = 0, nconn = 0;

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &nconn);
	r->status = status;
	r->new_connection = nconn > 0;
	r->retry_after_ms = job->resp.retry_after_ms;
	r->elapsed_ms = monotime_ms() - job->t0;
	if (cc != CURLE_OK) {
		if (httpc_too_large(&job->resp, cc))
			poller_fail(job, 0, "GET %s: response too large "
			    "(more than %d bytes)", job->shown,
			    POLLER_MAX_RESPONSE);
		else
			poller_fail(job, httpmsg_curl_transient(cc),
			    "GET %s: %s", job->shown,
			    httpc_strerror(&job->resp, cc));
	} else if (status != 200)
		poller_http_fail(job, status);
	else if (r->kind == POLLER_REFS)
		poller_refs_answer(job);
	else
		poller_version_answer(job);
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		char *shown = redact(job->shown);
		log_debug("poller: GET %s: %ld, %zu bytes, %llu ms%s", shown,
		    status, job->resp.len, (unsigned long long)r->elapsed_ms,
		    r->new_connection ? ", new connection" : "");
		free(shown);
	}
}
