/* algoconf.c: the in-place rewrite of algorithmia.conf: a strict JSON scan
 * locates the top-level members, and only two values are replaced. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algoconf.h"
#include "xmalloc.h"

static const char *const algoconf_names[] = { "username", "algoname" };
#define ALGOCONF_NNAMES	(sizeof algoconf_names / sizeof algoconf_names[0])

/* One top-level member: offsets into the text. */
struct algoconf_member {
	size_t	 key, keyend;		/* "key", quotes included */
	size_t	 value, valueend;
};

/* The scan: on a failure pos is where the text went wrong. */
struct algoconf_scan {
	const char		*s;
	size_t			 len;
	size_t			 pos;
	int			 deep;	/* failed on ALGOCONF_DEPTH */
	size_t			 start;	/* the top-level '{' */
	struct algoconf_member	*m;
	size_t			 nm;
};

static int	algoconf_value(struct algoconf_scan *, int);

/* The character at pos, or NUL at the end. */
static char
algoconf_peek(const struct algoconf_scan *j)
{
	return j->pos < j->len ? j->s[j->pos] : '\0';
}

static void
algoconf_ws(struct algoconf_scan *j)
{
	while (j->pos < j->len && j->s[j->pos] != '\0' &&
	    strchr(" \t\r\n", j->s[j->pos]) != NULL)
		j->pos++;
}

/* Steps over c, which must be next. */
static int
algoconf_expect(struct algoconf_scan *j, char c)
{
	if (j->pos >= j->len || j->s[j->pos] != c)
		return -1;
	j->pos++;
	return 0;
}

static int
algoconf_string(struct algoconf_scan *j)
{
	unsigned char	 c;
	int		 i;

	if (algoconf_expect(j, '"') != 0)
		return -1;
	for (; j->pos < j->len; j->pos++) {
		c = (unsigned char)j->s[j->pos];
		if (c == '"') {
			j->pos++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (++j->pos >= j->len)
			return -1;
		c = (unsigned char)j->s[j->pos];
		if (c == 'u') {
			for (i = 0; i < 4; i++)
				if (++j->pos >= j->len ||
				    !isxdigit((unsigned char)j->s[j->pos]))
					return -1;
		} else if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL)
			return -1;
	}
	return -1;
}

static int
algoconf_digits(struct algoconf_scan *j)
{
	size_t	 start = j->pos;

	while (j->pos < j->len && isdigit((unsigned char)j->s[j->pos]))
		j->pos++;
	return j->pos > start ? 0 : -1;
}

static int
algoconf_number(struct algoconf_scan *j)
{
	if (algoconf_peek(j) == '-')
		j->pos++;
	if (algoconf_peek(j) == '0')
		j->pos++;
	else if (algoconf_digits(j) != 0)
		return -1;
	if (algoconf_peek(j) == '.') {
		j->pos++;
		if (algoconf_digits(j) != 0)
			return -1;
	}
	if (algoconf_peek(j) == 'e' || algoconf_peek(j) == 'E') {
		j->pos++;
		if (algoconf_peek(j) == '+' || algoconf_peek(j) == '-')
			j->pos++;
		if (algoconf_digits(j) != 0)
			return -1;
	}
	return 0;
}

/* An object or an array; at depth 0 (the conf itself) the members are
 * recorded. */
static int
algoconf_container(struct algoconf_scan *j, int depth)
{
	struct algoconf_member	 mem;
	char			 close;
	int			 obj;

	obj = j->s[j->pos++] == '{';
	close = obj ? '}' : ']';
	algoconf_ws(j);
	if (algoconf_expect(j, close) == 0)
		return 0;
	for (;;) {
		if (obj) {
			mem.key = j->pos;
			if (algoconf_string(j) != 0)
				return -1;
			mem.keyend = j->pos;
			algoconf_ws(j);
			if (algoconf_expect(j, ':') != 0)
				return -1;
			algoconf_ws(j);
		}
		mem.value = j->pos;
		if (algoconf_value(j, depth + 1) != 0)
			return -1;
		mem.valueend = j->pos;
		if (obj && depth == 0) {
			j->m = xreallocarray(j->m, j->nm + 1, sizeof *j->m);
			j->m[j->nm++] = mem;
		}
		algoconf_ws(j);
		if (algoconf_expect(j, close) == 0)
			return 0;
		if (algoconf_expect(j, ',') != 0)
			return -1;
		algoconf_ws(j);
	}
}

static int
algoconf_value(struct algoconf_scan *j, int depth)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t		 i, n;

	if (depth > ALGOCONF_DEPTH) {
		j->deep = 1;
		return -1;
	}
	switch (algoconf_peek(j)) {
	case '"':
		return algoconf_string(j);
	case '{':
	case '[':
		return algoconf_container(j, depth);
	default:
		for (i = 0; i < sizeof lits / sizeof lits[0]; i++) {
			n = strlen(lits[i]);
			if (j->len - j->pos >= n &&
			    memcmp(j->s + j->pos, lits[i], n) == 0) {
				j->pos += n;
				return 0;
			}
		}
		return algoconf_number(j);
	}
}

/* Why the scan stopped where it did. */
static void
algoconf_error(const struct algoconf_scan *j, char **cause)
{
	size_t		 i, line = 1, col = 1;
	unsigned char	 c;
	char		 what[32];

	for (i = 0; i < j->pos && i < j->len; i++) {
		if (j->s[i] == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	if (j->deep) {
		xasprintf(cause, "not a JSON object: line %zu, column %zu: "
		    "nested more than %d levels", line, col, ALGOCONF_DEPTH);
		return;
	}
	if (j->pos >= j->len)
		snprintf(what, sizeof what, "end of text");
	else if ((c = (unsigned char)j->s[j->pos]) > 0x20 && c < 0x7f)
		snprintf(what, sizeof what, "'%c'", c);
	else
		snprintf(what, sizeof what, "byte 0x%02x", c);
	xasprintf(cause, "not a JSON object: line %zu, column %zu: "
	    "unexpected %s", line, col, what);
}

/* A JSON string literal of s. */
static char *
algoconf_quote(const char *s)
{
	char		*out, *p;
	unsigned char	 c;

	out = p = xmalloc(strlen(s) * 6 + 3);
	*p++ = '"';
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			snprintf(p, 7, "\\u%04x", c);
			p += 6;
		} else
			*p++ = (char)c;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

/* Is member m's key name? */
static int
algoconf_is(const struct algoconf_scan *j, const struct algoconf_member *m,
    const char *name)
{
	size_t	 n = strlen(name);

	return m->keyend - m->key == n + 2 &&
	    memcmp(j->s + m->key + 1, name, n) == 0;
}

/* Writes the scanned text to f with the values qv in place. */
static void
algoconf_emit(const struct algoconf_scan *j, FILE *f, char *const *qv)
{
	const struct algoconf_member *m = j->m;
	char		*sep, *kv;
	size_t		 i, k, at = 0;
	int		 seen[ALGOCONF_NNAMES] = { 0 };

	for (i = 0; i < j->nm; i++) {
		for (k = 0; k < ALGOCONF_NNAMES; k++) {
			if (!algoconf_is(j, &m[i], algoconf_names[k]))
				continue;
			fwrite(j->s + at, 1, m[i].value - at, f);
			fputs(qv[k], f);
			at = m[i].valueend;
			seen[k] = 1;
		}
	}
	/* Missing members go after the last one, laid out like the first;
	 * in an empty object, right after the '{'. */
	if (j->nm == 0) {
		fwrite(j->s + at, 1, j->start + 1 - at, f);
		at = j->start + 1;
		fprintf(f, "\"%s\": %s, \"%s\": %s", algoconf_names[0], qv[0],
		    algoconf_names[1], qv[1]);
	} else if (!seen[0] || !seen[1]) {
		fwrite(j->s + at, 1, m[j->nm - 1].valueend - at, f);
		at = m[j->nm - 1].valueend;
		sep = xstrndup(j->s + j->start + 1, m[0].key - j->start - 1);
		kv = xstrndup(j->s + m[0].keyend, m[0].value - m[0].keyend);
		for (k = 0; k < ALGOCONF_NNAMES; k++)
			if (!seen[k])
				fprintf(f, ",%s\"%s\"%s%s", *sep != '\0' ?
				    sep : " ", algoconf_names[k], kv, qv[k]);
		free(kv);
		free(sep);
	}
	fwrite(j->s + at, 1, j->len - at, f);
}

int
algoconf_rewrite(char **out, const char *text, size_t len,
    const char *owner, const char *algo, char **cause)
{
	struct algoconf_scan	 j = { text, len, 0, 0, 0, NULL, 0 };
	char			*qv[ALGOCONF_NNAMES];
	size_t			 n;
	FILE			*f;
	int			 rc = -1;

	*out = NULL;
	if (len > ALGOCONF_MAX) {
		xasprintf(cause, "larger than %d bytes", ALGOCONF_MAX);
		return -1;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		j.pos = 3;
	algoconf_ws(&j);
	j.start = j.pos;
	if (algoconf_peek(&j) != '{' || algoconf_container(&j, 0) != 0)
		goto bad;
	algoconf_ws(&j);
	if (j.pos != len)
		goto bad;

	qv[0] = algoconf_quote(owner);
	qv[1] = algoconf_quote(algo);
	if ((f = open_memstream(out, &n)) == NULL)
		xasprintf(cause, "rewrite: %s", strerror(errno));
	else {
		algoconf_emit(&j, f, qv);
		if (fclose(f) != 0) {
			xasprintf(cause, "rewrite: %s", strerror(errno));
			free(*out);
			*out = NULL;
		} else
			rc = 0;
	}
	free(qv[0]);
	free(qv[1]);
	free(j.m);
	return rc;

bad:
	algoconf_error(&j, cause);
	free(j.m);
	return -1;
}
