/* pktline.c: git's pkt-line framing and the v0/v1 ref advertisement
 * (the body of GET info/refs?service=...), parsed without trusting it. */
#include <stdlib.h>
#include <string.h>

#include "pktline.h"
#include "xmalloc.h"

#define PKTLINE_QUOTE_MAX	200	/* bytes of server text in a cause */
#define PKTLINE_SERVICE		"# service="
#define PKTLINE_CAPS_NAME	"capabilities^{}"
#define PKTLINE_PEEL		"^{}"

static int
pktline_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Server text fit for a cause: control bytes masked, cut short. */
static char *
pktline_quote(const char *s, size_t len)
{
	char	*out;
	size_t	 i;

	if (len > PKTLINE_QUOTE_MAX)
		len = PKTLINE_QUOTE_MAX;
	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
	}
	out[len] = '\0';
	return out;
}

int
pktline_read(struct pktline *pkt, const char *buf, size_t len, size_t *off,
    char **cause)
{
	size_t	 at = *off, n = 0;
	int	 i, v;

	if (at > len || len - at < 4) {
		xasprintf(cause, "truncated pkt-line at byte %zu", at);
		return -1;
	}
	for (i = 0; i < 4; i++) {
		if ((v = pktline_hexval(buf[at + i])) == -1) {
			xasprintf(cause, "bad pkt-line length at byte %zu", at);
			return -1;
		}
		n = n * 16 + (size_t)v;
	}
	memset(pkt, 0, sizeof *pkt);
	pkt->at = at;
	switch (n) {
	case 0:
		pkt->type = PKTLINE_FLUSH;
		break;
	case 1:
		pkt->type = PKTLINE_DELIM;
		break;
	case 2:
		pkt->type = PKTLINE_END;
		break;
	default:
		if (n < 4 || n > PKTLINE_MAX) {
			xasprintf(cause, "bad pkt-line length at byte %zu", at);
			return -1;
		}
		if (n - 4 > len - at - 4) {
			xasprintf(cause, "truncated pkt-line at byte %zu", at);
			return -1;
		}
		pkt->type = PKTLINE_DATA;
		pkt->data = buf + at + 4;
		pkt->len = n - 4;
		*off = at + n;
		return 0;
	}
	*off = at + 4;
	return 0;
}

/* Payload without its optional trailing LF. */
static size_t
pktline_chomp(const struct pktline *pkt)
{
	if (pkt->len > 0 && pkt->data[pkt->len - 1] == '\n')
		return pkt->len - 1;
	return pkt->len;
}

static int
pktline_is(const struct pktline *pkt, size_t len, const char *word)
{
	size_t	 n = strlen(word);

	return len >= n && memcmp(pkt->data, word, n) == 0;
}

/* "ERR <text>" as a cause. */
static void
pktline_err(const struct pktline *pkt, size_t len, char **cause)
{
	char	*text;

	text = pktline_quote(pkt->data + 4, len - 4);
	xasprintf(cause, "ERR %s", text);
	free(text);
}

/* The value of the next capability name ("symref", "object-format") in
 * the capability string at *from, with *from moved past it; NULL if no
 * more. */
static char *
pktline_cap(const char **from, const char *name)
{
	const char	*p = *from, *end;
	size_t		 n = strlen(name);

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, " ");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == '=') {
			*from = end;
			return xstrndup(p + n + 1, (size_t)(end - p) - n - 1);
		}
		p = end;
	}
	*from = p;
	return NULL;
}

/* Reads what the capabilities say about HEAD and the object format. */
static int
pktline_caps(struct pktline_adv *adv, char **cause)
{
	const char	*from;
	char		*v;

	from = adv->caps;
	while (adv->head_target == NULL &&
	    (v = pktline_cap(&from, "symref")) != NULL) {
		if (strncmp(v, "HEAD:", 5) == 0 && v[5] != '\0')
			adv->head_target = xstrdup(v + 5);
		free(v);
	}
	from = adv->caps;
	if ((v = pktline_cap(&from, "object-format")) != NULL) {
		if (strcmp(v, "sha256") == 0)
			adv->sha256 = 1;
		else if (strcmp(v, "sha1") != 0) {
			char *q = pktline_quote(v, strlen(v));
			xasprintf(cause, "unsupported object-format %s", q);
			free(q);
			free(v);
			return -1;
		}
		free(v);
	}
	return 0;
}

/* The hex id at the start of a ref line: its length (40 or 64), followed
 * by a space, or 0. */
static size_t
pktline_oid_len(const char *s, size_t len)
{
	size_t	 n = 0;

	while (n < len && n <= PKTLINE_OID_MAX && pktline_hexval(s[n]) != -1)
		n++;
	if ((n != 40 && n != 64) || n >= len || s[n] != ' ')
		return 0;
	return n;
}

static void
pktline_oid_copy(char *dst, const char *src, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'F') ?
		    (char)(src[i] - 'A' + 'a') : src[i];
	dst[n] = '\0';
}

static int
pktline_name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

/* One ref line ("<oid> <name>[\0<caps>]", LF already cut). *oidlen is the
 * id length seen so far (0: none yet). */
static int
pktline_ref_line(struct pktline_adv *adv, const struct pktline *pkt,
    size_t len, int first, size_t *oidlen, size_t *alloc, char **cause)
{
	const char		*name, *nul;
	struct pktline_ref	*r;
	size_t			 n, nlen;
	char			 oid[PKTLINE_OID_MAX + 1];

	if ((n = pktline_oid_len(pkt->data, len)) == 0 ||
	    (*oidlen != 0 && n != *oidlen)) {
		xasprintf(cause, "bad object id at byte %zu", pkt->at);
		return -1;
	}
	*oidlen = n;
	pktline_oid_copy(oid, pkt->data, n);
	name = pkt->data + n + 1;
	nlen = len - n - 1;
	if ((nul = memchr(name, '\0', nlen)) != NULL) {
		/* Only the first line's capabilities count; git ignores
		 * what follows a NUL on later lines. */
		if (first)
			adv->caps = xstrndup(nul + 1,
			    (size_t)(name + nlen - nul - 1));
		nlen = (size_t)(nul - name);
	}
	if (!pktline_name_ok(name, nlen)) {
		xasprintf(cause, "bad ref name at byte %zu", pkt->at);
		return -1;
	}

	/* The empty list: "<zero-id> capabilities^{}\0<caps>". */
	if (nlen == strlen(PKTLINE_CAPS_NAME) &&
	    memcmp(name, PKTLINE_CAPS_NAME, nlen) == 0) {
		if (!first || strspn(oid, "0") != n) {
			xasprintf(cause, "unexpected capabilities^{} at byte "
			    "%zu", pkt->at);
			return -1;
		}
		return 0;
	}

	/* "<object> <tag>^{}" peels the tag on the line before. */
	n = strlen(PKTLINE_PEEL);
	if (nlen > n && memcmp(name + nlen - n, PKTLINE_PEEL, n) == 0) {
		if (adv->nrefs > 0) {
			r = &adv->refs[adv->nrefs - 1];
			if (strlen(r->name) == nlen - n &&
			    memcmp(r->name, name, nlen - n) == 0)
				memcpy(r->peeled, oid, sizeof r->peeled);
		}
		return 0;
	}

	if (adv->nrefs == *alloc) {
		*alloc = *alloc == 0 ? 16 : *alloc * 2;
		adv->refs = xreallocarray(adv->refs, *alloc,
		    sizeof *adv->refs);
	}
	r = &adv->refs[adv->nrefs++];
	memset(r, 0, sizeof *r);
	r->name = xstrndup(name, nlen);
	memcpy(r->oid, oid, sizeof r->oid);
	return 0;
}

/* The ref list, from after the header's flush to its own flush. */
static int
pktline_refs(struct pktline_adv *adv, const char *buf, size_t len,
    size_t *off, char **cause)
{
	struct pktline	 pkt;
	size_t		 l, oidlen = 0, alloc = 0;
	int		 first = 1;

	for (;;) {
		if (*off == len) {
			xasprintf(cause, "truncated: no flush after the ref "
			    "list");
			return -1;
		}
		if (pktline_read(&pkt, buf, len, off, cause) != 0)
			return -1;
		if (pkt.type == PKTLINE_FLUSH)
			break;
		if (pkt.type != PKTLINE_DATA) {
			xasprintf(cause, "unexpected %s-pkt at byte %zu",
			    pkt.type == PKTLINE_DELIM ? "delim" :
			    "response-end", pkt.at);
			return -1;
		}
		if ((l = pktline_chomp(&pkt)) == 0)
			continue;	/* "0004": legal, meaningless */
		if (pktline_is(&pkt, l, "ERR ")) {
			pktline_err(&pkt, l, cause);
			return -1;
		}
		if (first && l == 9 && pktline_is(&pkt, l, "version 1")) {
			adv->version = 1;
			continue;
		}
		if (first && pktline_is(&pkt, l, "version ")) {
			xasprintf(cause, "unexpected protocol version at byte "
			    "%zu", pkt.at);
			return -1;
		}
		if (pktline_ref_line(adv, &pkt, l, first, &oidlen, &alloc,
		    cause) != 0)
			return -1;
		first = 0;
	}
	if (adv->caps != NULL && pktline_caps(adv, cause) != 0)
		return -1;
	if (oidlen != 0 && oidlen != (adv->sha256 ? 64U : 40U)) {
		xasprintf(cause, "object ids of %zu digits in a %s "
		    "repository", oidlen, adv->sha256 ? "sha256" : "sha1");
		return -1;
	}
	return 0;
}

/* "# service=NAME" and the flush after it. */
static int
pktline_header(const char *buf, size_t len, size_t *off,
    const char *service, char **cause)
{
	struct pktline	 pkt;
	size_t		 l, n = strlen(PKTLINE_SERVICE);
	char		*got;

	if (len == 0) {
		xasprintf(cause, "empty answer");
		return -1;
	}
	if (pktline_read(&pkt, buf, len, off, cause) != 0) {
		/* A dumb server's ref list or an HTML page. */
		if (len < 5 || buf[4] != '#') {
			free(*cause);
			xasprintf(cause, "missing # service= header");
		}
		return -1;
	}
	l = pkt.type == PKTLINE_DATA ? pktline_chomp(&pkt) : 0;
	if (pktline_is(&pkt, l, "ERR ")) {
		pktline_err(&pkt, l, cause);
		return -1;
	}
	if (!pktline_is(&pkt, l, PKTLINE_SERVICE)) {
		xasprintf(cause, "missing # service= header");
		return -1;
	}
	if (service != NULL && (l - n != strlen(service) ||
	    memcmp(pkt.data + n, service, l - n) != 0)) {
		got = pktline_quote(pkt.data + n, l - n);
		xasprintf(cause, "answer for service %s, not %s", got,
		    service);
		free(got);
		return -1;
	}
	/* Git's own client would skip more header lines up to the flush;
	 * that hides a server that forgot the flush: its ref lines would be
	 * skipped as header and the repository would look empty. */
	if (*off == len) {
		xasprintf(cause, "truncated: no flush after # service= "
		    "header");
		return -1;
	}
	if (pktline_read(&pkt, buf, len, off, cause) != 0)
		return -1;
	if (pkt.type != PKTLINE_FLUSH) {
		l = pkt.type == PKTLINE_DATA ? pktline_chomp(&pkt) : 0;
		if (pktline_is(&pkt, l, "ERR "))
			pktline_err(&pkt, l, cause);
		else
			xasprintf(cause, "missing flush after # service= "
			    "header at byte %zu", pkt.at);
		return -1;
	}
	return 0;
}

int
pktline_parse_adv(struct pktline_adv *out, const char *buf, size_t len,
    const char *service, char **cause)
{
	size_t	 off = 0;

	memset(out, 0, sizeof *out);
	if (pktline_header(buf, len, &off, service, cause) != 0 ||
	    pktline_refs(out, buf, len, &off, cause) != 0) {
		pktline_adv_clear(out);
		return -1;
	}
	return 0;
}

void
pktline_adv_clear(struct pktline_adv *adv)
{
	size_t	 i;

	if (adv == NULL)
		return;
	for (i = 0; i < adv->nrefs; i++)
		free(adv->refs[i].name);
	free(adv->refs);
	free(adv->caps);
	free(adv->head_target);
	memset(adv, 0, sizeof *adv);
}

const struct pktline_ref *
pktline_adv_find(const struct pktline_adv *adv, const char *refname)
{
	size_t	 i;

	for (i = 0; i < adv->nrefs; i++)
		if (strcmp(adv->refs[i].name, refname) == 0)
			return &adv->refs[i];
	return NULL;
}
