/* httpmsg.c: what the HTTP clients (api, poller) say about an answer:
 * one-line texts, status reasons, transient or permanent, Retry-After. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpmsg.h"
#include "redact.h"
#include "xmalloc.h"

/* Copies s into buf, cut on a UTF-8 character boundary if too long. */
void
httpmsg_copy(char *buf, size_t size, const char *s)
{
	size_t	 n = strlen(s);

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
}

size_t
httpmsg_utf8_len(const unsigned char *s, size_t len)
{
	size_t	 n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* len bytes of s as one line: control characters (NUL included) and
 * white-space runs become one space; no leading or trailing space; bytes
 * that are not UTF-8 become '?'. A server cannot forge a log line through
 * it, nor make the log or the state files invalid UTF-8. */
char *
httpmsg_oneline(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char		*out;
	size_t		 i, o = 0, n;
	int		 space = 0;
	unsigned char	 ch;

	out = xmalloc(len + 1);
	for (i = 0; i < len; i += n) {
		ch = u[i];
		n = 1;
		if (ch <= ' ' || ch == 0x7f) {
			space = 1;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = 0;
		if (ch < 0x80)
			out[o++] = (char)ch;
		else if ((n = httpmsg_utf8_len(u + i, len - i)) != 0) {
			memcpy(out + o, u + i, n);
			o += n;
		} else {
			out[o++] = '?';
			n = 1;
		}
	}
	out[o] = '\0';
	return out;
}

/* s (taken) cut to max bytes on a UTF-8 character boundary, "..." added
 * when it was cut. */
char *
httpmsg_cut(char *s, size_t max)
{
	char	*out;
	size_t	 n;

	if (strlen(s) <= max)
		return s;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	xasprintf(&out, "%.*s...", (int)n, s);
	free(s);
	return out;
}

/* What a client says about a failed request: fmt's text as one line,
 * redacted, then copied into buf (cut to fit). */
void
httpmsg_vline(char *buf, size_t size, const char *fmt, va_list ap)
{
	char	*raw, *line, *red;

	xvasprintf(&raw, fmt, ap);
	line = httpmsg_oneline(raw, strlen(raw));
	red = redact(line);
	httpmsg_copy(buf, size, red);
	free(red);
	free(line);
	free(raw);
}

/* The reason phrase of the statuses worth naming; NULL for others. */
const char *
httpmsg_reason(long status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return NULL;
	}
}

/* Worth retrying later: the server is busy or broken, not the request. */
int
httpmsg_status_transient(long status)
{
	return status >= 500 || status == 429 || status == 408;
}

/* Transport errors a retry cannot fix: the setup, the peer's identity or
 * our own decision (a write callback that refused more) is the cause. */
int
httpmsg_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return 0;
	default:
		return 1;
	}
}

/* Retry-After: delay-seconds or an HTTP-date, in ms capped at max_ms;
 * -1 if it is neither. */
long
httpmsg_retry_after(const char *v, long max_ms)
{
	const char		*p;
	unsigned long long	 secs;
	time_t			 when, now;

	for (p = v; isdigit((unsigned char)*p); p++)
		;
	if (p != v && *p == '\0') {
		errno = 0;
		secs = strtoull(v, NULL, 10);
		if (errno != 0 || secs > (unsigned long long)max_ms / 1000)
			return max_ms;
		return (long)secs * 1000;
	}
	if ((when = curl_getdate(v, NULL)) == -1)
		return -1;
	now = time(NULL);
	if (when <= now)
		return 0;
	if (when - now > max_ms / 1000)
		return max_ms;
	return (long)(when - now) * 1000;
}

/* For a libcurl header callback: a status line starts a new response
 * (after a redirect or 100-continue) and forgets *retry_after_ms; a
 * Retry-After header sets it. Header lines are not NUL-terminated. */
void
httpmsg_header(const char *ptr, size_t n, long *retry_after_ms, long max_ms)
{
	size_t	 name = strlen("Retry-After:"), l;
	char	*line, *v;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		*retry_after_ms = -1;
	else if (n > name && strncasecmp(ptr, "Retry-After:", name) == 0) {
		line = xstrndup(ptr + name, n - name);
		for (v = line; *v == ' ' || *v == '\t'; v++)
			;
		l = strcspn(v, "\r\n");
		while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
			l--;
		v[l] = '\0';
		*retry_after_ms = httpmsg_retry_after(v, max_ms);
		free(line);
	}
}

/* For a libcurl write callback: appends n bytes to the NUL-terminated
 * body *buf (*len bytes in *size allocated), growing it by doubling but
 * never past max + 1. -1, with nothing appended, when it would hold more
 * than max bytes: the caller answers 0 and curl stops. */
int
httpmsg_append(char **buf, size_t *len, size_t *size, size_t max,
    const char *ptr, size_t n)
{
	size_t	 want;

	if (n > max - *len)
		return -1;
	if (*len + n + 1 > *size) {
		want = *size < HTTPMSG_BODY_START ? HTTPMSG_BODY_START : *size;
		while (want < *len + n + 1)
			want *= 2;
		if (want > max + 1)
			want = max + 1;
		*buf = xrealloc(*buf, want);
		*size = want;
	}
	memcpy(*buf + *len, ptr, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}
