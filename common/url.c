/* url.c: the one reader of URLs (on libcurl's CURLU) and of listen
 * addresses ("HOST:PORT", "[IPv6]:PORT"). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "url.h"
#include "xmalloc.h"

#define URL_HEX		"0123456789abcdefABCDEF"
#define URL_DIGITS	"0123456789"
#define URL_HOSTCH	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			URL_DIGITS ".-"

/* The port a scheme implies when the URL names none. */
static const struct {
	const char	*scheme;
	const char	*port;
} url_ports[] = {
	{ "https",	"443" },
	{ "http",	"80" },
	{ "git",	"9418" },
};

static const char *const url_causes[] = {
	[URL_OK] = "",
	[URL_SYNTAX] = "not an absolute URL (scheme://host)",
	[URL_NO_HOST] = "no host",
	[URL_HOST] = "bad host name",
	[URL_PORT] = "the port must be a number from 1 to 65535",
};

static void
url_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * Length of a raw "user:key@" at a (just after "://") whose key holds a
 * '/', which would end the authority early; 0 when there is none. As for
 * redact(): a ':' before that '/' followed by something other than a
 * port number marks a password.
 */
static size_t
url_raw_userinfo(const char *a)
{
	size_t	 auth, colon, at;

	auth = strcspn(a, "/?#");
	if (a[auth] != '/' || memchr(a, '@', auth) != NULL)
		return 0;
	at = strcspn(a, "@?#");
	colon = strcspn(a, ":");
	if (a[at] != '@' || colon >= auth ||
	    strspn(a + colon + 1, URL_DIGITS) == auth - colon - 1)
		return 0;
	return at;
}

/* s with the '/' of its raw userinfo (n bytes at a) percent-encoded. */
static char *
url_encode_userinfo(const char *s, const char *a, size_t n)
{
	char	*out, *o;
	size_t	 i;

	out = o = xmalloc(strlen(s) + 2 * n + 1);
	memcpy(o, s, (size_t)(a - s));
	o += a - s;
	for (i = 0; i < n; i++) {
		if (a[i] == '/') {
			*o++ = '%';
			*o++ = '2';
			*o++ = 'F';
		} else
			*o++ = a[i];
	}
	memcpy(o, a + n, strlen(a + n) + 1);
	return out;
}

/*
 * What CURLU does not check itself: a host at all ("https:///v1" is host
 * "v1" to curl) and a port after a ':' ("https://h:" is no port to curl).
 * raw is the length of a raw userinfo at a, 0 when none. Notes in out
 * whether the text has a userinfo and a query, for a caller to tell even
 * when the URL turns out bad.
 */
static enum url_error
url_precheck(struct url *out, const char *a, size_t raw)
{
	const char	*h;
	size_t		 n;

	if (raw > 0)
		h = a + raw + 1;
	else {
		n = strcspn(a, "/?#");
		for (h = a + n; h > a && h[-1] != '@'; h--)
			;
	}
	out->has_userinfo = h != a;
	/* CURLU drops an empty "?" or "#"; it still is no plain URL. */
	out->has_query = strpbrk(a, "?#") != NULL;
	n = strcspn(h, "/?#");
	if (n == 0)
		return URL_NO_HOST;
	if (h[n - 1] == ':')
		return URL_PORT;
	return URL_OK;
}

static enum url_error
url_curl_error(CURLUcode rc)
{
	switch (rc) {
	case CURLUE_BAD_PORT_NUMBER:
		return URL_PORT;
	case CURLUE_NO_HOST:
		return URL_NO_HOST;
	case CURLUE_BAD_HOSTNAME:
	case CURLUE_BAD_IPV6:
		return URL_HOST;
	default:
		return URL_SYNTAX;
	}
}

/* One part of u, malloc'd; NULL when u has none. */
static char *
url_part(CURLU *u, CURLUPart what, unsigned int flags)
{
	char	*v = NULL, *out;

	if (curl_url_get(u, what, &v, flags) != CURLUE_OK || v == NULL) {
		curl_free(v);
		return NULL;
	}
	out = xstrdup(v);
	curl_free(v);
	return out;
}

/* Fills out from a URL CURLU accepted; the error when a part is bad. */
static enum url_error
url_fill(struct url *out, CURLU *u)
{
	char	*pw, *q, *f;
	size_t	 i, n;

	if ((out->scheme = url_part(u, CURLUPART_SCHEME, 0)) == NULL ||
	    (out->host = url_part(u, CURLUPART_HOST, 0)) == NULL)
		return URL_NO_HOST;
	url_lower(out->scheme);
	url_lower(out->host);
	n = strlen(out->host);
	if (n >= 2 && out->host[0] == '[' && out->host[n - 1] == ']') {
		memmove(out->host, out->host + 1, n - 2);
		out->host[n - 2] = '\0';
	}
	if ((out->port = url_part(u, CURLUPART_PORT, 0)) != NULL) {
		if (strcmp(out->port, "0") == 0)
			return URL_PORT;
	} else {
		for (i = 0; i < sizeof url_ports / sizeof url_ports[0]; i++)
			if (strcmp(out->scheme, url_ports[i].scheme) == 0)
				break;
		out->port = xstrdup(i < sizeof url_ports / sizeof url_ports[0] ?
		    url_ports[i].port : "");
	}
	pw = url_part(u, CURLUPART_PASSWORD, 0);
	out->user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
	out->has_userinfo |= out->user != NULL || pw != NULL;
	free(pw);
	if (out->user == NULL)
		out->user = xstrdup("");
	if ((out->path = url_part(u, CURLUPART_PATH, 0)) == NULL)
		out->path = xstrdup("/");
	q = url_part(u, CURLUPART_QUERY, 0);
	f = url_part(u, CURLUPART_FRAGMENT, 0);
	out->has_query |= q != NULL || f != NULL;
	free(q);
	free(f);
	return URL_OK;
}

int
url_split(struct url *out, const char *s, char **cause)
{
	CURLU		*u = NULL;
	CURLUcode	 rc = CURLUE_OK;
	const char	*a;
	char		*fixed = NULL;
	size_t		 raw = 0;
	int		 userinfo, query;
	enum url_error	 e = URL_SYNTAX;

	memset(out, 0, sizeof *out);
	if (s == NULL || (a = strstr(s, "://")) == NULL || a == s)
		goto fail;
	a += 3;
	if ((raw = url_raw_userinfo(a)) > 0)
		fixed = url_encode_userinfo(s, a, raw);
	if ((e = url_precheck(out, a, raw)) != URL_OK)
		goto fail;
	if ((u = curl_url()) == NULL)
		fatalx("curl_url: out of memory");
	rc = curl_url_set(u, CURLUPART_URL, fixed != NULL ? fixed : s,
	    CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK) {
		e = url_curl_error(rc);
		goto fail;
	}
	if ((e = url_fill(out, u)) != URL_OK)
		goto fail;
	curl_url_cleanup(u);
	free(fixed);
	return 0;

fail:
	userinfo = out->has_userinfo;
	query = out->has_query;
	url_clear(out);
	out->has_userinfo = userinfo;
	out->has_query = query;
	out->error = e;
	/* curl's own words never quote the URL. */
	*cause = xstrdup(e == URL_SYNTAX && rc != CURLUE_OK ?
	    curl_url_strerror(rc) : url_causes[e]);
	curl_url_cleanup(u);
	free(fixed);
	return -1;
}

void
url_clear(struct url *u)
{
	if (u == NULL)
		return;
	free(u->scheme);
	free(u->user);
	free(u->host);
	free(u->port);
	free(u->path);
	memset(u, 0, sizeof *u);
}

char *
url_authority(const char *s)
{
	struct url	 u;
	char		*cause = NULL, *out;

	if (url_split(&u, s, &cause) == -1) {
		free(cause);
		return NULL;
	}
	out = xprintf(strchr(u.host, ':') != NULL ? "%s://[%s]:%s" :
	    "%s://%s:%s", u.scheme, u.host, u.port);
	url_clear(&u);
	return out;
}

char *
url_query_param(const char *s, const char *name)
{
	const char	*q;
	char		*raw, *dec, *out = NULL;
	size_t		 n, len = strlen(name);
	int		 declen;

	q = s + strcspn(s, "?#");	/* a '?' in the fragment is not one */
	if (*q != '?')
		return NULL;
	for (q++; *q != '\0' && *q != '#'; q += n + (q[n] == '&')) {
		n = strcspn(q, "&#");
		if (n <= len || strncmp(q, name, len) != 0 || q[len] != '=')
			continue;
		raw = xstrndup(q + len + 1, n - len - 1);
		dec = curl_easy_unescape(NULL, raw, 0, &declen);
		if (dec != NULL && declen > 0 &&
		    memchr(dec, '\0', (size_t)declen) == NULL)
			out = xstrdup(dec);
		curl_free(dec);
		free(raw);
		break;
	}
	return out;
}

/* The port of a listen address: digits only, at most 5 of them. */
static enum url_listen_error
url_listen_port(const char *p, int *port)
{
	size_t	 len = strlen(p), i;
	long	 n = 0;

	if (len == 0 || len > 5 || strspn(p, URL_DIGITS) != len)
		return URL_LISTEN_PORT;
	for (i = 0; i < len; i++)
		n = n * 10 + (p[i] - '0');
	if (n > 65535)
		return URL_LISTEN_RANGE;
	*port = (int)n;
	return URL_LISTEN_OK;
}

/*
 * On URL_LISTEN_V6_BARE *host is the address without its ":PORT", so a
 * caller may suggest the bracketed form; on any other error it is NULL.
 */
enum url_listen_error
url_listen(const char *s, char **host, int *port, int *v6)
{
	const char		*h, *end;
	enum url_listen_error	 e;

	*host = NULL;
	*port = 0;
	*v6 = s[0] == '[';
	if (*v6) {
		h = s + 1;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':' ||
		    end == h || strspn(h, URL_HEX ":.") != (size_t)(end - h))
			return URL_LISTEN_SYNTAX;
		e = url_listen_port(end + 2, port);
	} else {
		h = s;
		if ((end = strrchr(s, ':')) == NULL)
			return URL_LISTEN_SYNTAX;
		if (memchr(s, ':', (size_t)(end - s)) != NULL) {
			if (strspn(s, URL_HEX ":.") < (size_t)(end - s))
				return URL_LISTEN_SYNTAX;
			*host = xstrndup(s, (size_t)(end - s));
			return URL_LISTEN_V6_BARE;
		}
		if (end == h)
			return URL_LISTEN_NO_HOST;
		if (strspn(h, URL_HOSTCH) != (size_t)(end - h))
			return URL_LISTEN_SYNTAX;
		e = url_listen_port(end + 1, port);
	}
	if (e == URL_LISTEN_OK)
		*host = xstrndup(h, (size_t)(end - h));
	return e;
}
