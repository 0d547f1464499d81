/* httpc.c: the one setup of a libcurl easy handle for the HTTP clients
 * (api, poller): protocols, redirects, auth, timeouts, trust, the body. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "httpc.h"
#include "httpmsg.h"
#include "xmalloc.h"

int
httpc_capath(void)
{
	return access(HTTPC_CAPATH, R_OK | X_OK) == 0;
}

static size_t
httpc_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct httpc_resp	*r = arg;

	httpmsg_header(ptr, size * nmemb, &r->retry_after_ms,
	    r->retry_after_max_ms);
	return size * nmemb;
}

static size_t
httpc_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct httpc_resp	*r = arg;
	size_t			 n = size * nmemb;

	if (httpmsg_append(&r->body, &r->len, &r->size, r->max, ptr,
	    n) == -1) {
		r->too_large = 1;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return n;
}

/* Where a request may go: http(s) only, redirects included (never
 * followed here, but a caller that turns following on stays safe). */
static int
httpc_protocols(CURL *h)
{
	int	 bad = 0;

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
	return bad;
}

int
httpc_setup(CURL *h, const struct httpc_req *req, struct httpc_resp *resp)
{
	int	 bad = 0;

	bad |= curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= httpc_protocols(h);
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    req->timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, HTTPC_USER_AGENT) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->headers) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->errbuf) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_write_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, resp) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, httpc_header_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, resp) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)resp->max) != CURLE_OK;
	if (req->ca_file != NULL) {
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file) !=
		    CURLE_OK;
		if (req->capath)
			bad |= curl_easy_setopt(h, CURLOPT_CAPATH,
			    HTTPC_CAPATH) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

void
httpc_resp_init(struct httpc_resp *r, size_t max, long retry_after_max_ms)
{
	memset(r, 0, sizeof *r);
	r->max = max;
	r->retry_after_ms = -1;
	r->retry_after_max_ms = retry_after_max_ms;
}

void
httpc_resp_start(struct httpc_resp *r)
{
	r->len = 0;
	if (r->body != NULL)
		r->body[0] = '\0';
	r->too_large = 0;
	r->retry_after_ms = -1;
	r->errbuf[0] = '\0';
}

void
httpc_resp_drop(struct httpc_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = r->size = 0;
}

const char *
httpc_strerror(const struct httpc_resp *r, CURLcode cc)
{
	return r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(cc);
}

int
httpc_too_large(const struct httpc_resp *r, CURLcode cc)
{
	return cc == CURLE_FILESIZE_EXCEEDED ||
	    (cc == CURLE_WRITE_ERROR && r->too_large);
}

char *
httpc_base(const char *url, int api)
{
	size_t	 n = strlen(url);

	for (;;) {
		while (n > 0 && url[n - 1] == '/')
			n--;
		if (!api || n < 3 || strncmp(url + n - 3, "/v1", 3) != 0)
			break;
		n -= 3;
		api = 0;
	}
	return xstrndup(url, n);
}
