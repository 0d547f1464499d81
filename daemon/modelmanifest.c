/* modelmanifest.c: an ADK model manifest read with every value's kind and
 * text kept, its data URIs replaced, and its lock_checksum re-made. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "httpmsg.h"
#include "modelmanifest.h"
#include "xmalloc.h"

#define MODELMANIFEST_LOCK	"lock_checksum"
#define MODELMANIFEST_DATA	"data://"

enum modelmanifest_kind {
	MODELMANIFEST_NULL,
	MODELMANIFEST_FALSE,
	MODELMANIFEST_TRUE,
	MODELMANIFEST_INT,
	MODELMANIFEST_FLOAT,	/* NaN, Infinity, -Infinity included */
	MODELMANIFEST_STRING,
	MODELMANIFEST_ARRAY,
	MODELMANIFEST_OBJECT
};

struct modelmanifest_value;

struct modelmanifest_member {
	char				*key;	/* as s below */
	size_t				 keylen;
	struct modelmanifest_value	*value;
};

/*
 * One JSON value. A string holds its code points in UTF-8, a surrogate
 * that a lone \u escape made included (3 bytes, as if it were a
 * character); a number holds its JSON text.
 */
struct modelmanifest_value {
	enum modelmanifest_kind		 kind;
	size_t				 start, end;	/* in the text */
	char				*s;	/* NUL-terminated */
	size_t				 slen;
	int				 dirty;	/* s replaced: rendered anew */
	struct modelmanifest_value	**items;
	size_t				 nitems;
	struct modelmanifest_member	*members;
	size_t				 nmembers;
};

struct modelmanifest {
	char				*what;
	char				*text;
	size_t				 len;
	struct modelmanifest_value	*root;
	struct modelmanifest_file	*files;
	struct modelmanifest_value	**uris;	/* of each file */
	size_t				 nfiles;
	struct modelmanifest_value	*lock;	/* NULL: none */
};

/* A growing byte buffer, always NUL-terminated once written to. */
struct modelmanifest_buf {
	char	*p;
	size_t	 n, size;
};

/* A place in the document, for messages. */
struct modelmanifest_step {
	const char	*key;		/* NULL: an index */
	size_t		 keylen;
	size_t		 index;
};

/* Whether Python's repr() prints a code point as it is (P), escapes it
 * (N), or does one or the other by its Unicode version (U). */
struct modelmanifest_urun {
	uint32_t	 from;
	char		 cls;
};

struct modelmanifest_scan {
	const char	*s;
	size_t		 len, pos;
	char		*error;		/* the first failure */
};

static void	modelmanifest_value_free(struct modelmanifest_value *);
static int	modelmanifest_scan_value(struct modelmanifest_scan *,
		    int, struct modelmanifest_value **);

/* ---------------------------------------------------------------------
 * Bytes and characters.
 */

static void
modelmanifest_put(struct modelmanifest_buf *b, const void *s, size_t n)
{
	size_t	 size;

	if (b->p == NULL || b->size - b->n < n + 1) {
		size = b->size != 0 ? b->size : 256;
		while (size - b->n < n + 1)
			size *= 2;
		b->p = xrealloc(b->p, size);
		b->size = size;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
modelmanifest_puts(struct modelmanifest_buf *b, const char *s)
{
	modelmanifest_put(b, s, strlen(s));
}

static void
modelmanifest_putc(struct modelmanifest_buf *b, char c)
{
	modelmanifest_put(b, &c, 1);
}

static void __attribute__((format(printf, 2, 3)))
modelmanifest_putf(struct modelmanifest_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	modelmanifest_puts(b, s);
	free(s);
}

/* cp in UTF-8 (a surrogate as three bytes too). */
static void
modelmanifest_put_cp(struct modelmanifest_buf *b, uint32_t cp)
{
	unsigned char	 u[4];
	size_t		 n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	modelmanifest_put(b, u, n);
}

/* The code point at s[*i] of a string this file made (so well formed
 * but for surrogates), *i moved past it. */
static uint32_t
modelmanifest_next_cp(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s + *i;
	size_t		 n, k;
	uint32_t	 cp;

	if (u[0] < 0x80) {
		(*i)++;
		return u[0];
	}
	if (u[0] >= 0xf0) {
		n = 4;
		cp = u[0] & 0x07;
	} else if (u[0] >= 0xe0) {
		n = 3;
		cp = u[0] & 0x0f;
	} else {
		n = 2;
		cp = u[0] & 0x1f;
	}
	for (k = 1; k < n && *i + k < len; k++)
		cp = cp << 6 | (u[k] & 0x3f);
	*i += k;
	return cp;
}

/* Whether s[0..len) is NUL-free UTF-8 without surrogates. */
static int
modelmanifest_text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t		 i, n;

	for (i = 0; i < len; i += n) {
		if (u[i] == 0)
			return 0;
		if (u[i] < 0x80)
			n = 1;
		else if ((n = httpmsg_utf8_len(u + i, len - i)) == 0)
			return 0;
	}
	return 1;
}

static int
modelmanifest_hex32(const char *s, int upper_ok)
{
	size_t	 i;

	for (i = 0; i < 32; i++) {
		if ((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (upper_ok && s[i] >= 'A' && s[i] <= 'F'))
			continue;
		return 0;
	}
	return 1;
}

/* s[0..len) as a JSON string, quotes included: what must be escaped
 * escaped, non-ASCII as \u escapes (as Python's json.dumps writes). */
static void
modelmanifest_put_json(struct modelmanifest_buf *b, const char *s,
    size_t len)
{
	size_t		 i = 0;
	uint32_t	 cp;

	modelmanifest_putc(b, '"');
	while (i < len) {
		cp = modelmanifest_next_cp(s, len, &i);
		switch (cp) {
		case '"':
			modelmanifest_puts(b, "\\\"");
			break;
		case '\\':
			modelmanifest_puts(b, "\\\\");
			break;
		case '\n':
			modelmanifest_puts(b, "\\n");
			break;
		case '\r':
			modelmanifest_puts(b, "\\r");
			break;
		case '\t':
			modelmanifest_puts(b, "\\t");
			break;
		case '\b':
			modelmanifest_puts(b, "\\b");
			break;
		case '\f':
			modelmanifest_puts(b, "\\f");
			break;
		default:
			if (cp >= 0x20 && cp < 0x80)
				modelmanifest_putc(b, (char)cp);
			else if (cp < 0x10000)
				modelmanifest_putf(b, "\\u%04x", (unsigned)cp);
			else {
				cp -= 0x10000;
				modelmanifest_putf(b, "\\u%04x\\u%04x",
				    (unsigned)(0xd800 | cp >> 10),
				    (unsigned)(0xdc00 | (cp & 0x3ff)));
			}
		}
	}
	modelmanifest_putc(b, '"');
}

/* A place as "required_files[1].source_uri": plain keys after dots,
 * others as ["..."]. */
static void
modelmanifest_put_path(struct modelmanifest_buf *b,
    const struct modelmanifest_step *steps, size_t n)
{
	size_t	 i, k;
	int	 plain;
	char	 c;

	for (i = 0; i < n; i++) {
		if (steps[i].key == NULL) {
			modelmanifest_putf(b, "[%zu]", steps[i].index);
			continue;
		}
		plain = steps[i].keylen > 0;
		for (k = 0; k < steps[i].keylen && plain; k++) {
			c = steps[i].key[k];
			plain = (c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '-';
		}
		if (plain) {
			if (b->n > 0)
				modelmanifest_putc(b, '.');
			modelmanifest_put(b, steps[i].key, steps[i].keylen);
		} else {
			modelmanifest_putc(b, '[');
			modelmanifest_put_json(b, steps[i].key,
			    steps[i].keylen);
			modelmanifest_putc(b, ']');
		}
	}
	if (b->p == NULL)
		modelmanifest_puts(b, "");
}

/* ---------------------------------------------------------------------
 * JSON as Python's json module reads it.
 */

static int __attribute__((format(printf, 2, 3)))
modelmanifest_scan_fail(struct modelmanifest_scan *j, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	size_t	 i, line = 1, column = 1;

	if (j->error != NULL)
		return -1;
	for (i = 0; i < j->pos && i < j->len; i++) {
		if (j->s[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)j->s[i] & 0xc0) != 0x80)
			column++;
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&j->error, "line %zu, column %zu: %s", line, column, msg);
	free(msg);
	return -1;
}

static void
modelmanifest_scan_ws(struct modelmanifest_scan *j)
{
	while (j->pos < j->len && (j->s[j->pos] == ' ' ||
	    j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
	    j->s[j->pos] == '\r'))
		j->pos++;
}

static int
modelmanifest_scan_hex4(const struct modelmanifest_scan *j, size_t at,
    uint32_t *cp)
{
	size_t	 i;
	char	 c;

	if (at > j->len || j->len - at < 4)
		return -1;
	*cp = 0;
	for (i = 0; i < 4; i++) {
		c = j->s[at + i];
		*cp <<= 4;
		if (c >= '0' && c <= '9')
			*cp |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*cp |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*cp |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* The string at pos (its opening quote) into *out and *outlen. A \u
 * escape of a high surrogate joins a low one's right after it, as
 * Python's scanner does; any other surrogate stays alone. */
static int
modelmanifest_scan_string(struct modelmanifest_scan *j, char **out,
    size_t *outlen)
{
	struct modelmanifest_buf b = { NULL, 0, 0 };
	unsigned char	 c;
	uint32_t	 cp, lo;
	char		 e;

	modelmanifest_puts(&b, "");
	j->pos++;
	for (;;) {
		if (j->pos >= j->len) {
			modelmanifest_scan_fail(j, "unterminated string");
			goto fail;
		}
		c = (unsigned char)j->s[j->pos];
		if (c == '"')
			break;
		if (c < 0x20) {
			modelmanifest_scan_fail(j,
			    "control character 0x%02x in a string", c);
			goto fail;
		}
		if (c != '\\') {
			modelmanifest_put(&b, &j->s[j->pos++], 1);
			continue;
		}
		e = j->pos + 1 < j->len ? j->s[j->pos + 1] : '\0';
		switch (e) {
		case '"':
		case '\\':
		case '/':
			modelmanifest_putc(&b, e);
			break;
		case 'b':
			modelmanifest_putc(&b, '\b');
			break;
		case 'f':
			modelmanifest_putc(&b, '\f');
			break;
		case 'n':
			modelmanifest_putc(&b, '\n');
			break;
		case 'r':
			modelmanifest_putc(&b, '\r');
			break;
		case 't':
			modelmanifest_putc(&b, '\t');
			break;
		case 'u':
			if (modelmanifest_scan_hex4(j, j->pos + 2, &cp) != 0) {
				modelmanifest_scan_fail(j,
				    "invalid \\uXXXX escape");
				goto fail;
			}
			j->pos += 6;
			if (cp >= 0xd800 && cp <= 0xdbff &&
			    j->len - j->pos >= 6 && j->s[j->pos] == '\\' &&
			    j->s[j->pos + 1] == 'u' &&
			    modelmanifest_scan_hex4(j, j->pos + 2, &lo) == 0 &&
			    lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				j->pos += 6;
			}
			modelmanifest_put_cp(&b, cp);
			continue;
		default:
			modelmanifest_scan_fail(j, "invalid escape");
			goto fail;
		}
		j->pos += 2;
	}
	j->pos++;
	*out = b.p;
	*outlen = b.n;
	return 0;
fail:
	free(b.p);
	return -1;
}

static int
modelmanifest_scan_digits(struct modelmanifest_scan *j)
{
	size_t	 start = j->pos;

	while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
		j->pos++;
	return j->pos > start ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?: an int without a
 * fraction or an exponent, a float with either, as for Python. */
static int
modelmanifest_scan_number(struct modelmanifest_scan *j,
    struct modelmanifest_value *v)
{
	v->kind = MODELMANIFEST_INT;
	if (j->s[j->pos] == '-')
		j->pos++;
	if (j->pos < j->len && j->s[j->pos] == '0')
		j->pos++;
	else if (modelmanifest_scan_digits(j) != 0)
		return modelmanifest_scan_fail(j, "invalid number");
	if (j->pos < j->len && j->s[j->pos] == '.') {
		j->pos++;
		v->kind = MODELMANIFEST_FLOAT;
		if (modelmanifest_scan_digits(j) != 0)
			return modelmanifest_scan_fail(j,
			    "no digits after a decimal point");
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		v->kind = MODELMANIFEST_FLOAT;
		if (j->pos < j->len &&
		    (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (modelmanifest_scan_digits(j) != 0)
			return modelmanifest_scan_fail(j,
			    "no digits in an exponent");
	}
	v->slen = j->pos - v->start;
	v->s = xstrndup(j->s + v->start, v->slen);
	return 0;
}

/* Keys written twice, as Python's dict(pairs) keeps them: the last
 * value, at the first key's place. */
static int
modelmanifest_key_cmp(const void *a, const void *b, void *arg)
{
	const struct modelmanifest_member *m = arg;
	size_t		 i = *(const size_t *)a, k = *(const size_t *)b;
	size_t		 n;
	int		 c;

	n = m[i].keylen < m[k].keylen ? m[i].keylen : m[k].keylen;
	if ((c = memcmp(m[i].key, m[k].key, n)) != 0)
		return c;
	if (m[i].keylen != m[k].keylen)
		return m[i].keylen < m[k].keylen ? -1 : 1;
	return i < k ? -1 : (i > k);
}

static void
modelmanifest_dedup(struct modelmanifest_value *o)
{
	struct modelmanifest_member *m = o->members;
	size_t		*idx, i, k, first, n = o->nmembers, kept;
	int		 any = 0;

	if (n < 2)
		return;
	idx = xreallocarray(NULL, n, sizeof *idx);
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof *idx, modelmanifest_key_cmp, m);
	for (i = 0; i < n; i = k) {
		first = idx[i];
		for (k = i + 1; k < n && m[idx[k]].keylen == m[first].keylen &&
		    memcmp(m[idx[k]].key, m[first].key, m[first].keylen) == 0;
		    k++) {
			any = 1;
			modelmanifest_value_free(m[first].value);
			m[first].value = m[idx[k]].value;
			m[idx[k]].value = NULL;
		}
	}
	free(idx);
	if (!any)
		return;
	for (i = kept = 0; i < n; i++) {
		if (m[i].value == NULL) {
			free(m[i].key);
			continue;
		}
		m[kept++] = m[i];
	}
	o->nmembers = kept;
}

static int
modelmanifest_scan_object(struct modelmanifest_scan *j, int depth,
    struct modelmanifest_value *v)
{
	struct modelmanifest_member *m;
	char		*key;
	size_t		 keylen;

	v->kind = MODELMANIFEST_OBJECT;
	j->pos++;
	modelmanifest_scan_ws(j);
	if (j->pos < j->len && j->s[j->pos] == '}') {
		j->pos++;
		return 0;
	}
	for (;;) {
		modelmanifest_scan_ws(j);
		if (j->pos >= j->len || j->s[j->pos] != '"')
			return modelmanifest_scan_fail(j,
			    "expected a key in double quotes");
		if (modelmanifest_scan_string(j, &key, &keylen) != 0)
			return -1;
		v->members = xreallocarray(v->members, v->nmembers + 1,
		    sizeof *v->members);
		m = &v->members[v->nmembers++];
		m->key = key;
		m->keylen = keylen;
		m->value = NULL;
		modelmanifest_scan_ws(j);
		if (j->pos >= j->len || j->s[j->pos] != ':')
			return modelmanifest_scan_fail(j,
			    "expected ':' after a key");
		j->pos++;
		if (modelmanifest_scan_value(j, depth, &m->value) != 0)
			return -1;
		modelmanifest_scan_ws(j);
		if (j->pos < j->len && j->s[j->pos] == ',') {
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == '}') {
			j->pos++;
			break;
		}
		return modelmanifest_scan_fail(j, "expected ',' or '}'");
	}
	modelmanifest_dedup(v);
	return 0;
}

static int
modelmanifest_scan_array(struct modelmanifest_scan *j, int depth,
    struct modelmanifest_value *v)
{
	struct modelmanifest_value *item;

	v->kind = MODELMANIFEST_ARRAY;
	j->pos++;
	modelmanifest_scan_ws(j);
	if (j->pos < j->len && j->s[j->pos] == ']') {
		j->pos++;
		return 0;
	}
	for (;;) {
		if (modelmanifest_scan_value(j, depth, &item) != 0)
			return -1;
		v->items = xreallocarray(v->items, v->nitems + 1,
		    sizeof (struct modelmanifest_value *));
		v->items[v->nitems++] = item;
		modelmanifest_scan_ws(j);
		if (j->pos < j->len && j->s[j->pos] == ',') {
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == ']') {
			j->pos++;
			return 0;
		}
		return modelmanifest_scan_fail(j, "expected ',' or ']'");
	}
}

/* Whether the text at pos starts with word; then steps over it. */
static int
modelmanifest_scan_word(struct modelmanifest_scan *j, const char *word)
{
	size_t	 n = strlen(word);

	if (j->len - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
		return 0;
	j->pos += n;
	return 1;
}

static int
modelmanifest_scan_value(struct modelmanifest_scan *j, int depth,
    struct modelmanifest_value **out)
{
	static const struct {
		const char		*word;
		enum modelmanifest_kind	 kind;
	} words[] = {
		{ "null", MODELMANIFEST_NULL },
		{ "true", MODELMANIFEST_TRUE },
		{ "false", MODELMANIFEST_FALSE },
		{ "NaN", MODELMANIFEST_FLOAT },
		{ "Infinity", MODELMANIFEST_FLOAT },
		{ "-Infinity", MODELMANIFEST_FLOAT },
	};
	struct modelmanifest_value *v;
	size_t		 i;
	int		 rv = -1;
	char		 c;

	modelmanifest_scan_ws(j);
	*out = v = xcalloc(1, sizeof *v);
	v->start = j->pos;
	if (j->pos >= j->len) {
		modelmanifest_scan_fail(j, "expected a value, not the end");
		goto done;
	}
	c = j->s[j->pos];
	if (c == '{' || c == '[') {
		if (depth >= MODELMANIFEST_DEPTH) {
			modelmanifest_scan_fail(j, "nested deeper than %d",
			    MODELMANIFEST_DEPTH);
			goto done;
		}
		if (c == '{')
			rv = modelmanifest_scan_object(j, depth + 1, v);
		else
			rv = modelmanifest_scan_array(j, depth + 1, v);
		goto done;
	}
	if (c == '"') {
		v->kind = MODELMANIFEST_STRING;
		rv = modelmanifest_scan_string(j, &v->s, &v->slen);
		goto done;
	}
	for (i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (modelmanifest_scan_word(j, words[i].word)) {
			v->kind = words[i].kind;
			v->slen = strlen(words[i].word);
			v->s = xstrdup(words[i].word);
			rv = 0;
			goto done;
		}
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		rv = modelmanifest_scan_number(j, v);
	else
		modelmanifest_scan_fail(j, "expected a value");
done:
	v->end = j->pos;
	if (rv != 0) {
		modelmanifest_value_free(v);
		*out = NULL;
	}
	return rv;
}

static void
modelmanifest_value_free(struct modelmanifest_value *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nitems; i++)
		modelmanifest_value_free(v->items[i]);
	free(v->items);
	for (i = 0; i < v->nmembers; i++) {
		free(v->members[i].key);
		modelmanifest_value_free(v->members[i].value);
	}
	free(v->members);
	free(v->s);
	free(v);
}

/* ---------------------------------------------------------------------
 * The manifest's files.
 */

static struct modelmanifest_value *
modelmanifest_get(const struct modelmanifest_value *o, const char *key)
{
	size_t	 i, n = strlen(key);

	if (o == NULL || o->kind != MODELMANIFEST_OBJECT)
		return NULL;
	for (i = 0; i < o->nmembers; i++)
		if (o->members[i].keylen == n &&
		    memcmp(o->members[i].key, key, n) == 0)
			return o->members[i].value;
	return NULL;
}

/* Whether s is a name of a data:// path: not empty, not "." or "..". */
static int
modelmanifest_uri_name(const char *s, size_t n)
{
	return n > 0 && !(n == 1 && s[0] == '.') &&
	    !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* uri parsed into the file f (its old parts freed), or NULL and why. */
static const char *
modelmanifest_uri_parse(struct modelmanifest_file *f, const char *uri,
    size_t len)
{
	const char	*owner, *coll, *file, *end = uri + len;

	if (!modelmanifest_text_ok(uri, len))
		return "not UTF-8 text without NULs";
	if (len < strlen(MODELMANIFEST_DATA) ||
	    memcmp(uri, MODELMANIFEST_DATA, strlen(MODELMANIFEST_DATA)) != 0)
		return "not a data:// URI";
	owner = uri + strlen(MODELMANIFEST_DATA);
	if ((coll = memchr(owner, '/', (size_t)(end - owner))) == NULL ||
	    !modelmanifest_uri_name(owner, (size_t)(coll - owner)))
		return "no owner and collection "
		    "(data://OWNER/COLLECTION/FILE)";
	coll++;
	if ((file = memchr(coll, '/', (size_t)(end - coll))) == NULL ||
	    !modelmanifest_uri_name(coll, (size_t)(file - coll)))
		return "no collection and file part "
		    "(data://OWNER/COLLECTION/FILE)";
	file++;
	if (memchr(file, '/', (size_t)(end - file)) != NULL)
		return "a collection has no sub-folders "
		    "(data://OWNER/COLLECTION/FILE)";
	if (!modelmanifest_uri_name(file, (size_t)(end - file)))
		return "no file part (data://OWNER/COLLECTION/FILE)";
	free(f->uri);
	free(f->owner);
	free(f->coll);
	free(f->file);
	f->uri = xstrndup(uri, len);
	f->owner = xstrndup(owner, (size_t)(coll - 1 - owner));
	f->coll = xstrndup(coll, (size_t)(file - 1 - coll));
	f->file = xstrndup(file, (size_t)(end - file));
	return NULL;
}

static void
modelmanifest_file_clear(struct modelmanifest_file *f)
{
	free(f->name);
	free(f->uri);
	free(f->owner);
	free(f->coll);
	free(f->file);
	free(f->md5);
	memset(f, 0, sizeof *f);
}

static int __attribute__((format(printf, 5, 6)))
modelmanifest_entry_fail(const struct modelmanifest *mm,
    struct modelmanifest_step *at, size_t n, char **cause,
    const char *fmt, ...)
{
	struct modelmanifest_buf b = { NULL, 0, 0 };
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	modelmanifest_put_path(&b, at, n);
	xasprintf(cause, "%s: %s: %s", mm->what, b.p, msg);
	free(b.p);
	free(msg);
	return -1;
}

/*
 * The entry e at at[0..n) (at has room for one more step) as a file.
 * name is the named form's member, or NULL for the lists' entries, which
 * have a "name" and a "fail_on_tamper". The URI is under urikey, the MD5
 * under md5key.
 */
static int
modelmanifest_entry(struct modelmanifest *mm, struct modelmanifest_step *at,
    size_t n, const struct modelmanifest_value *e,
    const struct modelmanifest_member *name, const char *urikey,
    const char *md5key, int required, char **cause)
{
	struct modelmanifest_file f;
	struct modelmanifest_value *v, *uri;
	const char	*why;
	size_t		 i;

	memset(&f, 0, sizeof f);
	f.required = required;
	if (name != NULL) {
		if (!modelmanifest_text_ok(name->key, name->keylen))
			return modelmanifest_entry_fail(mm, at, n, cause,
			    "a name with a NUL or a lone surrogate");
		f.name = xstrndup(name->key, name->keylen);
	} else {
		at[n].key = "name";
		at[n].keylen = strlen("name");
		if ((v = modelmanifest_get(e, "name")) == NULL)
			why = "missing";
		else if (v->kind != MODELMANIFEST_STRING)
			why = "not a string";
		else if (!modelmanifest_text_ok(v->s, v->slen))
			why = "has a NUL or a lone surrogate";
		else
			why = NULL;
		if (why != NULL)
			return modelmanifest_entry_fail(mm, at, n + 1, cause,
			    "%s", why);
		f.name = xstrndup(v->s, v->slen);
	}

	at[n].key = urikey;
	at[n].keylen = strlen(urikey);
	if ((uri = modelmanifest_get(e, urikey)) == NULL)
		why = "missing";
	else if (uri->kind != MODELMANIFEST_STRING)
		why = "not a string";
	else
		why = modelmanifest_uri_parse(&f, uri->s, uri->slen);
	if (why != NULL)
		goto fail;

	at[n].key = md5key;
	at[n].keylen = strlen(md5key);
	if ((v = modelmanifest_get(e, md5key)) != NULL &&
	    v->kind != MODELMANIFEST_NULL) {
		if (v->kind != MODELMANIFEST_STRING) {
			why = "not a string";
			goto fail;
		}
		if (v->slen != 32 || !modelmanifest_hex32(v->s, 1)) {
			why = "not an MD5 (32 hexadecimal digits)";
			goto fail;
		}
		f.md5 = xstrndup(v->s, 32);
		for (i = 0; i < 32; i++)
			if (f.md5[i] >= 'A' && f.md5[i] <= 'F')
				f.md5[i] = (char)(f.md5[i] - 'A' + 'a');
	}

	if (name == NULL) {
		at[n].key = "fail_on_tamper";
		at[n].keylen = strlen("fail_on_tamper");
		if ((v = modelmanifest_get(e, "fail_on_tamper")) != NULL) {
			if (v->kind == MODELMANIFEST_TRUE)
				f.fail_on_tamper = 1;
			else if (v->kind != MODELMANIFEST_FALSE) {
				why = "not true or false";
				goto fail;
			}
		}
	}

	mm->files = xreallocarray(mm->files, mm->nfiles + 1,
	    sizeof *mm->files);
	mm->uris = xreallocarray(mm->uris, mm->nfiles + 1,
	    sizeof (struct modelmanifest_value *));
	mm->files[mm->nfiles] = f;
	mm->uris[mm->nfiles++] = uri;
	return 0;
fail:
	modelmanifest_file_clear(&f);
	return modelmanifest_entry_fail(mm, at, n + 1, cause, "%s", why);
}

static int
modelmanifest_find_files(struct modelmanifest *mm, char **cause)
{
	static const char *const lists[] = { "required_files",
	    "optional_files" };
	struct modelmanifest_step at[3];
	const struct modelmanifest_value *root = mm->root, *l, *e;
	const struct modelmanifest_member *m;
	size_t		 i, k;

	memset(at, 0, sizeof at);
	if (modelmanifest_get(root, lists[0]) != NULL ||
	    modelmanifest_get(root, lists[1]) != NULL) {
		for (i = 0; i < 2; i++) {
			if ((l = modelmanifest_get(root, lists[i])) == NULL)
				continue;
			at[0].key = lists[i];
			at[0].keylen = strlen(lists[i]);
			if (l->kind != MODELMANIFEST_ARRAY)
				return modelmanifest_entry_fail(mm, at, 1,
				    cause, "not a list");
			for (k = 0; k < l->nitems; k++) {
				e = l->items[k];
				at[1].key = NULL;
				at[1].index = k;
				if (e->kind != MODELMANIFEST_OBJECT)
					return modelmanifest_entry_fail(mm,
					    at, 2, cause, "not an object");
				if (modelmanifest_entry(mm, at, 2, e, NULL,
				    "source_uri", "md5_checksum", i == 0,
				    cause) != 0)
					return -1;
			}
		}
		return 0;
	}
	for (i = 0; i < root->nmembers; i++) {
		m = &root->members[i];
		if (m->value == mm->lock ||
		    modelmanifest_get(m->value, "filepath") == NULL)
			continue;
		at[0].key = m->key;
		at[0].keylen = m->keylen;
		if (modelmanifest_entry(mm, at, 1, m->value, m, "filepath",
		    "md5_hash", 1, cause) != 0)
			return -1;
	}
	return 0;
}

int
modelmanifest_parse(struct modelmanifest **out, const char *text,
    size_t len, const char *what, char **cause)
{
	struct modelmanifest_scan j;
	struct modelmanifest *mm;
	const unsigned char *u = (const unsigned char *)text;
	size_t		 n;

	*out = NULL;
	memset(&j, 0, sizeof j);
	j.s = text;
	j.len = len;
	if (len > MODELMANIFEST_MAX) {
		xasprintf(cause, "%s: larger than %d bytes", what,
		    MODELMANIFEST_MAX);
		return -1;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		xasprintf(cause, "%s: starts with a byte order mark, which "
		    "Python's json refuses", what);
		return -1;
	}
	for (j.pos = 0; j.pos < len; j.pos += n) {
		n = 1;
		if (u[j.pos] >= 0x80 &&
		    (n = httpmsg_utf8_len(u + j.pos, len - j.pos)) == 0) {
			modelmanifest_scan_fail(&j, "not UTF-8");
			goto fail;
		}
		if (u[j.pos] == 0) {
			modelmanifest_scan_fail(&j, "a NUL byte");
			goto fail;
		}
	}

	mm = xcalloc(1, sizeof *mm);
	mm->what = xstrdup(what);
	j.pos = 0;
	if (modelmanifest_scan_value(&j, 0, &mm->root) != 0) {
		modelmanifest_free(mm);
		goto fail;
	}
	modelmanifest_scan_ws(&j);
	if (j.pos < len) {
		modelmanifest_scan_fail(&j, "more after the document");
		modelmanifest_free(mm);
		goto fail;
	}
	if (mm->root->kind != MODELMANIFEST_OBJECT) {
		xasprintf(cause, "%s: not a JSON object", what);
		modelmanifest_free(mm);
		return -1;
	}
	mm->text = xmalloc(len + 1);
	memcpy(mm->text, text, len);
	mm->text[len] = '\0';
	mm->len = len;
	mm->lock = modelmanifest_get(mm->root, MODELMANIFEST_LOCK);
	if (modelmanifest_find_files(mm, cause) != 0) {
		modelmanifest_free(mm);
		return -1;
	}
	*out = mm;
	return 0;
fail:
	xasprintf(cause, "%s: %s", what, j.error);
	free(j.error);
	return -1;
}

void
modelmanifest_free(struct modelmanifest *mm)
{
	size_t	 i;

	if (mm == NULL)
		return;
	for (i = 0; i < mm->nfiles; i++)
		modelmanifest_file_clear(&mm->files[i]);
	free(mm->files);
	free(mm->uris);
	modelmanifest_value_free(mm->root);
	free(mm->text);
	free(mm->what);
	free(mm);
}

size_t
modelmanifest_nfiles(const struct modelmanifest *mm)
{
	return mm->nfiles;
}

const struct modelmanifest_file *
modelmanifest_file(const struct modelmanifest *mm, size_t i)
{
	return i < mm->nfiles ? &mm->files[i] : NULL;
}

int
modelmanifest_frozen(const struct modelmanifest *mm)
{
	return mm->lock != NULL;
}

int
modelmanifest_set_uri(struct modelmanifest *mm, size_t i, const char *uri,
    char **cause)
{
	struct modelmanifest_file f;
	struct modelmanifest_buf b = { NULL, 0, 0 };
	struct modelmanifest_value *v;
	const char	*why;

	if (i >= mm->nfiles) {
		xasprintf(cause, "%s: no file %zu", mm->what, i);
		return -1;
	}
	memset(&f, 0, sizeof f);
	if ((why = modelmanifest_uri_parse(&f, uri, strlen(uri))) != NULL) {
		modelmanifest_put_json(&b, uri, strlen(uri));
		xasprintf(cause, "%s: %s: %s", mm->what, b.p, why);
		free(b.p);
		return -1;
	}
	free(mm->files[i].uri);
	free(mm->files[i].owner);
	free(mm->files[i].coll);
	free(mm->files[i].file);
	mm->files[i].uri = f.uri;
	mm->files[i].owner = f.owner;
	mm->files[i].coll = f.coll;
	mm->files[i].file = f.file;
	v = mm->uris[i];
	free(v->s);
	v->s = xstrdup(uri);
	v->slen = strlen(uri);
	v->dirty = 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * Python's str() of what json.load gives.
 */

struct modelmanifest_repr {
	const struct modelmanifest	*mm;
	struct modelmanifest_buf	 out;
	struct modelmanifest_step	 at[MODELMANIFEST_DEPTH + 1];
	size_t				 depth;
	char				*error;
};

static int __attribute__((format(printf, 2, 3)))
modelmanifest_repr_fail(struct modelmanifest_repr *r, const char *fmt, ...)
{
	struct modelmanifest_buf b = { NULL, 0, 0 };
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	modelmanifest_put_path(&b, r->at, r->depth);
	xasprintf(&r->error, "%s: cannot re-lock: %s", r->mm->what, msg);
	free(msg);
	msg = r->error;
	xasprintf(&r->error, "%s at %s", msg, b.p);
	free(msg);
	free(b.p);
	return -1;
}

/* Which code points from U+0080 on Python's repr() prints as they are.
 * Runs from each code point to the next run's: P where both
 * unicodedata.ucd_3_2_0 (Unicode 3.2) and Python 3.11's unicodedata
 * (Unicode 14.0) say printable (str.isprintable: a category other than
 * Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs); N where both say not printable and
 * neither leaves the code point unassigned (Cn), and for noncharacters;
 * U (unknown, so refused) otherwise: mostly what Unicode assigned after
 * 3.2, as Pythons before or after 3.11 may differ there. Made by a loop
 * over every code point in python3; U+00AD is set apart in
 * modelmanifest_uclass().
 */
static const struct modelmanifest_urun modelmanifest_urun[] = {
	{ 0x0080, 'N' }, { 0x00a1, 'P' }, { 0x00ad, 'U' }, { 0x00ae, 'P' },
	{ 0x0221, 'U' }, { 0x0222, 'P' }, { 0x0234, 'U' }, { 0x0250, 'P' },
	{ 0x02ae, 'U' }, { 0x02b0, 'P' }, { 0x02ef, 'U' }, { 0x0300, 'P' },
	{ 0x0350, 'U' }, { 0x0360, 'P' }, { 0x0370, 'U' }, { 0x0374, 'P' },
	{ 0x0376, 'U' }, { 0x037a, 'P' }, { 0x037b, 'U' }, { 0x037e, 'P' },
	{ 0x037f, 'U' }, { 0x0384, 'P' }, { 0x038b, 'U' }, { 0x038c, 'P' },
	{ 0x038d, 'U' }, { 0x038e, 'P' }, { 0x03a2, 'U' }, { 0x03a3, 'P' },
	{ 0x03cf, 'U' }, { 0x03d0, 'P' }, { 0x03f7, 'U' }, { 0x0400, 'P' },
	{ 0x0487, 'U' }, { 0x0488, 'P' }, { 0x04cf, 'U' }, { 0x04d0, 'P' },
	{ 0x04f6, 'U' }, { 0x04f8, 'P' }, { 0x04fa, 'U' }, { 0x0500, 'P' },
	{ 0x0510, 'U' }, { 0x0531, 'P' }, { 0x0557, 'U' }, { 0x0559, 'P' },
	{ 0x0560, 'U' }, { 0x0561, 'P' }, { 0x0588, 'U' }, { 0x0589, 'P' },
	{ 0x058b, 'U' }, { 0x0591, 'P' }, { 0x05a2, 'U' }, { 0x05a3, 'P' },
	{ 0x05ba, 'U' }, { 0x05bb, 'P' }, { 0x05c5, 'U' }, { 0x05d0, 'P' },
	{ 0x05eb, 'U' }, { 0x05f0, 'P' }, { 0x05f5, 'U' }, { 0x060c, 'P' },
	{ 0x060d, 'U' }, { 0x061b, 'P' }, { 0x061c, 'U' }, { 0x061f, 'P' },
	{ 0x0620, 'U' }, { 0x0621, 'P' }, { 0x063b, 'U' }, { 0x0640, 'P' },
	{ 0x0656, 'U' }, { 0x0660, 'P' }, { 0x06dd, 'N' }, { 0x06de, 'P' },
	{ 0x06ee, 'U' }, { 0x06f0, 'P' }, { 0x06ff, 'U' }, { 0x0700, 'P' },
	{ 0x070e, 'U' }, { 0x070f, 'N' }, { 0x0710, 'P' }, { 0x072d, 'U' },
	{ 0x0730, 'P' }, { 0x074b, 'U' }, { 0x0780, 'P' }, { 0x07b2, 'U' },
	{ 0x0901, 'P' }, { 0x0904, 'U' }, { 0x0905, 'P' }, { 0x093a, 'U' },
	{ 0x093c, 'P' }, { 0x094e, 'U' }, { 0x0950, 'P' }, { 0x0955, 'U' },
	{ 0x0958, 'P' }, { 0x0971, 'U' }, { 0x0981, 'P' }, { 0x0984, 'U' },
	{ 0x0985, 'P' }, { 0x098d, 'U' }, { 0x098f, 'P' }, { 0x0991, 'U' },
	{ 0x0993, 'P' }, { 0x09a9, 'U' }, { 0x09aa, 'P' }, { 0x09b1, 'U' },
	{ 0x09b2, 'P' }, { 0x09b3, 'U' }, { 0x09b6, 'P' }, { 0x09ba, 'U' },
	{ 0x09bc, 'P' }, { 0x09bd, 'U' }, { 0x09be, 'P' }, { 0x09c5, 'U' },
	{ 0x09c7, 'P' }, { 0x09c9, 'U' }, { 0x09cb, 'P' }, { 0x09ce, 'U' },
	{ 0x09d7, 'P' }, { 0x09d8, 'U' }, { 0x09dc, 'P' }, { 0x09de, 'U' },
	{ 0x09df, 'P' }, { 0x09e4, 'U' }, { 0x09e6, 'P' }, { 0x09fb, 'U' },
	{ 0x0a02, 'P' }, { 0x0a03, 'U' }, { 0x0a05, 'P' }, { 0x0a0b, 'U' },
	{ 0x0a0f, 'P' }, { 0x0a11, 'U' }, { 0x0a13, 'P' }, { 0x0a29, 'U' },
	{ 0x0a2a, 'P' }, { 0x0a31, 'U' }, { 0x0a32, 'P' }, { 0x0a34, 'U' },
	{ 0x0a35, 'P' }, { 0x0a37, 'U' }, { 0x0a38, 'P' }, { 0x0a3a, 'U' },
	{ 0x0a3c, 'P' }, { 0x0a3d, 'U' }, { 0x0a3e, 'P' }, { 0x0a43, 'U' },
	{ 0x0a47, 'P' }, { 0x0a49, 'U' }, { 0x0a4b, 'P' }, { 0x0a4e, 'U' },
	{ 0x0a59, 'P' }, { 0x0a5d, 'U' }, { 0x0a5e, 'P' }, { 0x0a5f, 'U' },
	{ 0x0a66, 'P' }, { 0x0a75, 'U' }, { 0x0a81, 'P' }, { 0x0a84, 'U' },
	{ 0x0a85, 'P' }, { 0x0a8c, 'U' }, { 0x0a8d, 'P' }, { 0x0a8e, 'U' },
	{ 0x0a8f, 'P' }, { 0x0a92, 'U' }, { 0x0a93, 'P' }, { 0x0aa9, 'U' },
	{ 0x0aaa, 'P' }, { 0x0ab1, 'U' }, { 0x0ab2, 'P' }, { 0x0ab4, 'U' },
	{ 0x0ab5, 'P' }, { 0x0aba, 'U' }, { 0x0abc, 'P' }, { 0x0ac6, 'U' },
	{ 0x0ac7, 'P' }, { 0x0aca, 'U' }, { 0x0acb, 'P' }, { 0x0ace, 'U' },
	{ 0x0ad0, 'P' }, { 0x0ad1, 'U' }, { 0x0ae0, 'P' }, { 0x0ae1, 'U' },
	{ 0x0ae6, 'P' }, { 0x0af0, 'U' }, { 0x0b01, 'P' }, { 0x0b04, 'U' },
	{ 0x0b05, 'P' }, { 0x0b0d, 'U' }, { 0x0b0f, 'P' }, { 0x0b11, 'U' },
	{ 0x0b13, 'P' }, { 0x0b29, 'U' }, { 0x0b2a, 'P' }, { 0x0b31, 'U' },
	{ 0x0b32, 'P' }, { 0x0b34, 'U' }, { 0x0b36, 'P' }, { 0x0b3a, 'U' },
	{ 0x0b3c, 'P' }, { 0x0b44, 'U' }, { 0x0b47, 'P' }, { 0x0b49, 'U' },
	{ 0x0b4b, 'P' }, { 0x0b4e, 'U' }, { 0x0b56, 'P' }, { 0x0b58, 'U' },
	{ 0x0b5c, 'P' }, { 0x0b5e, 'U' }, { 0x0b5f, 'P' }, { 0x0b62, 'U' },
	{ 0x0b66, 'P' }, { 0x0b71, 'U' }, { 0x0b82, 'P' }, { 0x0b84, 'U' },
	{ 0x0b85, 'P' }, { 0x0b8b, 'U' }, { 0x0b8e, 'P' }, { 0x0b91, 'U' },
	{ 0x0b92, 'P' }, { 0x0b96, 'U' }, { 0x0b99, 'P' }, { 0x0b9b, 'U' },
	{ 0x0b9c, 'P' }, { 0x0b9d, 'U' }, { 0x0b9e, 'P' }, { 0x0ba0, 'U' },
	{ 0x0ba3, 'P' }, { 0x0ba5, 'U' }, { 0x0ba8, 'P' }, { 0x0bab, 'U' },
	{ 0x0bae, 'P' }, { 0x0bb6, 'U' }, { 0x0bb7, 'P' }, { 0x0bba, 'U' },
	{ 0x0bbe, 'P' }, { 0x0bc3, 'U' }, { 0x0bc6, 'P' }, { 0x0bc9, 'U' },
	{ 0x0bca, 'P' }, { 0x0bce, 'U' }, { 0x0bd7, 'P' }, { 0x0bd8, 'U' },
	{ 0x0be7, 'P' }, { 0x0bf3, 'U' }, { 0x0c01, 'P' }, { 0x0c04, 'U' },
	{ 0x0c05, 'P' }, { 0x0c0d, 'U' }, { 0x0c0e, 'P' }, { 0x0c11, 'U' },
	{ 0x0c12, 'P' }, { 0x0c29, 'U' }, { 0x0c2a, 'P' }, { 0x0c34, 'U' },
	{ 0x0c35, 'P' }, { 0x0c3a, 'U' }, { 0x0c3e, 'P' }, { 0x0c45, 'U' },
	{ 0x0c46, 'P' }, { 0x0c49, 'U' }, { 0x0c4a, 'P' }, { 0x0c4e, 'U' },
	{ 0x0c55, 'P' }, { 0x0c57, 'U' }, { 0x0c60, 'P' }, { 0x0c62, 'U' },
	{ 0x0c66, 'P' }, { 0x0c70, 'U' }, { 0x0c82, 'P' }, { 0x0c84, 'U' },
	{ 0x0c85, 'P' }, { 0x0c8d, 'U' }, { 0x0c8e, 'P' }, { 0x0c91, 'U' },
	{ 0x0c92, 'P' }, { 0x0ca9, 'U' }, { 0x0caa, 'P' }, { 0x0cb4, 'U' },
	{ 0x0cb5, 'P' }, { 0x0cba, 'U' }, { 0x0cbe, 'P' }, { 0x0cc5, 'U' },
	{ 0x0cc6, 'P' }, { 0x0cc9, 'U' }, { 0x0cca, 'P' }, { 0x0cce, 'U' },
	{ 0x0cd5, 'P' }, { 0x0cd7, 'U' }, { 0x0cde, 'P' }, { 0x0cdf, 'U' },
	{ 0x0ce0, 'P' }, { 0x0ce2, 'U' }, { 0x0ce6, 'P' }, { 0x0cf0, 'U' },
	{ 0x0d02, 'P' }, { 0x0d04, 'U' }, { 0x0d05, 'P' }, { 0x0d0d, 'U' },
	{ 0x0d0e, 'P' }, { 0x0d11, 'U' }, { 0x0d12, 'P' }, { 0x0d29, 'U' },
	{ 0x0d2a, 'P' }, { 0x0d3a, 'U' }, { 0x0d3e, 'P' }, { 0x0d44, 'U' },
	{ 0x0d46, 'P' }, { 0x0d49, 'U' }, { 0x0d4a, 'P' }, { 0x0d4e, 'U' },
	{ 0x0d57, 'P' }, { 0x0d58, 'U' }, { 0x0d60, 'P' }, { 0x0d62, 'U' },
	{ 0x0d66, 'P' }, { 0x0d70, 'U' }, { 0x0d82, 'P' }, { 0x0d84, 'U' },
	{ 0x0d85, 'P' }, { 0x0d97, 'U' }, { 0x0d9a, 'P' }, { 0x0db2, 'U' },
	{ 0x0db3, 'P' }, { 0x0dbc, 'U' }, { 0x0dbd, 'P' }, { 0x0dbe, 'U' },
	{ 0x0dc0, 'P' }, { 0x0dc7, 'U' }, { 0x0dca, 'P' }, { 0x0dcb, 'U' },
	{ 0x0dcf, 'P' }, { 0x0dd5, 'U' }, { 0x0dd6, 'P' }, { 0x0dd7, 'U' },
	{ 0x0dd8, 'P' }, { 0x0de0, 'U' }, { 0x0df2, 'P' }, { 0x0df5, 'U' },
	{ 0x0e01, 'P' }, { 0x0e3b, 'U' }, { 0x0e3f, 'P' }, { 0x0e5c, 'U' },
	{ 0x0e81, 'P' }, { 0x0e83, 'U' }, { 0x0e84, 'P' }, { 0x0e85, 'U' },
	{ 0x0e87, 'P' }, { 0x0e89, 'U' }, { 0x0e8a, 'P' }, { 0x0e8b, 'U' },
	{ 0x0e8d, 'P' }, { 0x0e8e, 'U' }, { 0x0e94, 'P' }, { 0x0e98, 'U' },
	{ 0x0e99, 'P' }, { 0x0ea0, 'U' }, { 0x0ea1, 'P' }, { 0x0ea4, 'U' },
	{ 0x0ea5, 'P' }, { 0x0ea6, 'U' }, { 0x0ea7, 'P' }, { 0x0ea8, 'U' },
	{ 0x0eaa, 'P' }, { 0x0eac, 'U' }, { 0x0ead, 'P' }, { 0x0eba, 'U' },
	{ 0x0ebb, 'P' }, { 0x0ebe, 'U' }, { 0x0ec0, 'P' }, { 0x0ec5, 'U' },
	{ 0x0ec6, 'P' }, { 0x0ec7, 'U' }, { 0x0ec8, 'P' }, { 0x0ece, 'U' },
	{ 0x0ed0, 'P' }, { 0x0eda, 'U' }, { 0x0edc, 'P' }, { 0x0ede, 'U' },
	{ 0x0f00, 'P' }, { 0x0f48, 'U' }, { 0x0f49, 'P' }, { 0x0f6b, 'U' },
	{ 0x0f71, 'P' }, { 0x0f8c, 'U' }, { 0x0f90, 'P' }, { 0x0f98, 'U' },
	{ 0x0f99, 'P' }, { 0x0fbd, 'U' }, { 0x0fbe, 'P' }, { 0x0fcd, 'U' },
	{ 0x0fcf, 'P' }, { 0x0fd0, 'U' }, { 0x1000, 'P' }, { 0x1022, 'U' },
	{ 0x1023, 'P' }, { 0x1028, 'U' }, { 0x1029, 'P' }, { 0x102b, 'U' },
	{ 0x102c, 'P' }, { 0x1033, 'U' }, { 0x1036, 'P' }, { 0x103a, 'U' },
	{ 0x1040, 'P' }, { 0x105a, 'U' }, { 0x10a0, 'P' }, { 0x10c6, 'U' },
	{ 0x10d0, 'P' }, { 0x10f9, 'U' }, { 0x10fb, 'P' }, { 0x10fc, 'U' },
	{ 0x1100, 'P' }, { 0x115a, 'U' }, { 0x115f, 'P' }, { 0x11a3, 'U' },
	{ 0x11a8, 'P' }, { 0x11fa, 'U' }, { 0x1200, 'P' }, { 0x1207, 'U' },
	{ 0x1208, 'P' }, { 0x1247, 'U' }, { 0x1248, 'P' }, { 0x1249, 'U' },
	{ 0x124a, 'P' }, { 0x124e, 'U' }, { 0x1250, 'P' }, { 0x1257, 'U' },
	{ 0x1258, 'P' }, { 0x1259, 'U' }, { 0x125a, 'P' }, { 0x125e, 'U' },
	{ 0x1260, 'P' }, { 0x1287, 'U' }, { 0x1288, 'P' }, { 0x1289, 'U' },
	{ 0x128a, 'P' }, { 0x128e, 'U' }, { 0x1290, 'P' }, { 0x12af, 'U' },
	{ 0x12b0, 'P' }, { 0x12b1, 'U' }, { 0x12b2, 'P' }, { 0x12b6, 'U' },
	{ 0x12b8, 'P' }, { 0x12bf, 'U' }, { 0x12c0, 'P' }, { 0x12c1, 'U' },
	{ 0x12c2, 'P' }, { 0x12c6, 'U' }, { 0x12c8, 'P' }, { 0x12cf, 'U' },
	{ 0x12d0, 'P' }, { 0x12d7, 'U' }, { 0x12d8, 'P' }, { 0x12ef, 'U' },
	{ 0x12f0, 'P' }, { 0x130f, 'U' }, { 0x1310, 'P' }, { 0x1311, 'U' },
	{ 0x1312, 'P' }, { 0x1316, 'U' }, { 0x1318, 'P' }, { 0x131f, 'U' },
	{ 0x1320, 'P' }, { 0x1347, 'U' }, { 0x1348, 'P' }, { 0x135b, 'U' },
	{ 0x1361, 'P' }, { 0x137d, 'U' }, { 0x13a0, 'P' }, { 0x13f5, 'U' },
	{ 0x1401, 'P' }, { 0x1677, 'U' }, { 0x1680, 'N' }, { 0x1681, 'P' },
	{ 0x169d, 'U' }, { 0x16a0, 'P' }, { 0x16f1, 'U' }, { 0x1700, 'P' },
	{ 0x170d, 'U' }, { 0x170e, 'P' }, { 0x1715, 'U' }, { 0x1720, 'P' },
	{ 0x1737, 'U' }, { 0x1740, 'P' }, { 0x1754, 'U' }, { 0x1760, 'P' },
	{ 0x176d, 'U' }, { 0x176e, 'P' }, { 0x1771, 'U' }, { 0x1772, 'P' },
	{ 0x1774, 'U' }, { 0x1780, 'P' }, { 0x17dd, 'U' }, { 0x17e0, 'P' },
	{ 0x17ea, 'U' }, { 0x1800, 'P' }, { 0x180e, 'N' }, { 0x180f, 'U' },
	{ 0x1810, 'P' }, { 0x181a, 'U' }, { 0x1820, 'P' }, { 0x1878, 'U' },
	{ 0x1880, 'P' }, { 0x18aa, 'U' }, { 0x1e00, 'P' }, { 0x1e9c, 'U' },
	{ 0x1ea0, 'P' }, { 0x1efa, 'U' }, { 0x1f00, 'P' }, { 0x1f16, 'U' },
	{ 0x1f18, 'P' }, { 0x1f1e, 'U' }, { 0x1f20, 'P' }, { 0x1f46, 'U' },
	{ 0x1f48, 'P' }, { 0x1f4e, 'U' }, { 0x1f50, 'P' }, { 0x1f58, 'U' },
	{ 0x1f59, 'P' }, { 0x1f5a, 'U' }, { 0x1f5b, 'P' }, { 0x1f5c, 'U' },
	{ 0x1f5d, 'P' }, { 0x1f5e, 'U' }, { 0x1f5f, 'P' }, { 0x1f7e, 'U' },
	{ 0x1f80, 'P' }, { 0x1fb5, 'U' }, { 0x1fb6, 'P' }, { 0x1fc5, 'U' },
	{ 0x1fc6, 'P' }, { 0x1fd4, 'U' }, { 0x1fd6, 'P' }, { 0x1fdc, 'U' },
	{ 0x1fdd, 'P' }, { 0x1ff0, 'U' }, { 0x1ff2, 'P' }, { 0x1ff5, 'U' },
	{ 0x1ff6, 'P' }, { 0x1fff, 'U' }, { 0x2000, 'N' }, { 0x2010, 'P' },
	{ 0x2028, 'N' }, { 0x2030, 'P' }, { 0x2053, 'U' }, { 0x2057, 'P' },
	{ 0x2058, 'U' }, { 0x205f, 'N' }, { 0x2064, 'U' }, { 0x206a, 'N' },
	{ 0x2070, 'P' }, { 0x2072, 'U' }, { 0x2074, 'P' }, { 0x208f, 'U' },
	{ 0x20a0, 'P' }, { 0x20b2, 'U' }, { 0x20d0, 'P' }, { 0x20eb, 'U' },
	{ 0x2100, 'P' }, { 0x213b, 'U' }, { 0x213d, 'P' }, { 0x214c, 'U' },
	{ 0x2153, 'P' }, { 0x2184, 'U' }, { 0x2190, 'P' }, { 0x23cf, 'U' },
	{ 0x2400, 'P' }, { 0x2427, 'U' }, { 0x2440, 'P' }, { 0x244b, 'U' },
	{ 0x2460, 'P' }, { 0x24ff, 'U' }, { 0x2500, 'P' }, { 0x2614, 'U' },
	{ 0x2616, 'P' }, { 0x2618, 'U' }, { 0x2619, 'P' }, { 0x267e, 'U' },
	{ 0x2680, 'P' }, { 0x268a, 'U' }, { 0x2701, 'P' }, { 0x2705, 'U' },
	{ 0x2706, 'P' }, { 0x270a, 'U' }, { 0x270c, 'P' }, { 0x2728, 'U' },
	{ 0x2729, 'P' }, { 0x274c, 'U' }, { 0x274d, 'P' }, { 0x274e, 'U' },
	{ 0x274f, 'P' }, { 0x2753, 'U' }, { 0x2756, 'P' }, { 0x2757, 'U' },
	{ 0x2758, 'P' }, { 0x275f, 'U' }, { 0x2761, 'P' }, { 0x2795, 'U' },
	{ 0x2798, 'P' }, { 0x27b0, 'U' }, { 0x27b1, 'P' }, { 0x27bf, 'U' },
	{ 0x27d0, 'P' }, { 0x27ec, 'U' }, { 0x27f0, 'P' }, { 0x2b00, 'U' },
	{ 0x2e80, 'P' }, { 0x2e9a, 'U' }, { 0x2e9b, 'P' }, { 0x2ef4, 'U' },
	{ 0x2f00, 'P' }, { 0x2fd6, 'U' }, { 0x2ff0, 'P' }, { 0x2ffc, 'U' },
	{ 0x3000, 'N' }, { 0x3001, 'P' }, { 0x3040, 'U' }, { 0x3041, 'P' },
	{ 0x3097, 'U' }, { 0x3099, 'P' }, { 0x3100, 'U' }, { 0x3105, 'P' },
	{ 0x312d, 'U' }, { 0x3131, 'P' }, { 0x318f, 'U' }, { 0x3190, 'P' },
	{ 0x31b8, 'U' }, { 0x31f0, 'P' }, { 0x321d, 'U' }, { 0x3220, 'P' },
	{ 0x3244, 'U' }, { 0x3251, 'P' }, { 0x327c, 'U' }, { 0x327f, 'P' },
	{ 0x32cc, 'U' }, { 0x32d0, 'P' }, { 0x32ff, 'U' }, { 0x3300, 'P' },
	{ 0x3377, 'U' }, { 0x337b, 'P' }, { 0x33de, 'U' }, { 0x33e0, 'P' },
	{ 0x33ff, 'U' }, { 0x3400, 'P' }, { 0x4db6, 'U' }, { 0x4e00, 'P' },
	{ 0x9fa6, 'U' }, { 0xa000, 'P' }, { 0xa48d, 'U' }, { 0xa490, 'P' },
	{ 0xa4c7, 'U' }, { 0xac00, 'P' }, { 0xd7a4, 'U' }, { 0xd800, 'N' },
	{ 0xf900, 'P' }, { 0xfa2e, 'U' }, { 0xfa30, 'P' }, { 0xfa6b, 'U' },
	{ 0xfb00, 'P' }, { 0xfb07, 'U' }, { 0xfb13, 'P' }, { 0xfb18, 'U' },
	{ 0xfb1d, 'P' }, { 0xfb37, 'U' }, { 0xfb38, 'P' }, { 0xfb3d, 'U' },
	{ 0xfb3e, 'P' }, { 0xfb3f, 'U' }, { 0xfb40, 'P' }, { 0xfb42, 'U' },
	{ 0xfb43, 'P' }, { 0xfb45, 'U' }, { 0xfb46, 'P' }, { 0xfbb2, 'U' },
	{ 0xfbd3, 'P' }, { 0xfd40, 'U' }, { 0xfd50, 'P' }, { 0xfd90, 'U' },
	{ 0xfd92, 'P' }, { 0xfdc8, 'U' }, { 0xfdd0, 'N' }, { 0xfdf0, 'P' },
	{ 0xfdfd, 'U' }, { 0xfe00, 'P' }, { 0xfe10, 'U' }, { 0xfe20, 'P' },
	{ 0xfe24, 'U' }, { 0xfe30, 'P' }, { 0xfe47, 'U' }, { 0xfe49, 'P' },
	{ 0xfe53, 'U' }, { 0xfe54, 'P' }, { 0xfe67, 'U' }, { 0xfe68, 'P' },
	{ 0xfe6c, 'U' }, { 0xfe70, 'P' }, { 0xfe75, 'U' }, { 0xfe76, 'P' },
	{ 0xfefd, 'U' }, { 0xfeff, 'N' }, { 0xff00, 'U' }, { 0xff01, 'P' },
	{ 0xffbf, 'U' }, { 0xffc2, 'P' }, { 0xffc8, 'U' }, { 0xffca, 'P' },
	{ 0xffd0, 'U' }, { 0xffd2, 'P' }, { 0xffd8, 'U' }, { 0xffda, 'P' },
	{ 0xffdd, 'U' }, { 0xffe0, 'P' }, { 0xffe7, 'U' }, { 0xffe8, 'P' },
	{ 0xffef, 'U' }, { 0xfff9, 'N' }, { 0xfffc, 'P' }, { 0xfffe, 'N' },
	{ 0x10000, 'U' }, { 0x10300, 'P' }, { 0x1031f, 'U' },
	{ 0x10320, 'P' }, { 0x10324, 'U' }, { 0x10330, 'P' },
	{ 0x1034b, 'U' }, { 0x10400, 'P' }, { 0x10426, 'U' },
	{ 0x10428, 'P' }, { 0x1044e, 'U' }, { 0x1d000, 'P' },
	{ 0x1d0f6, 'U' }, { 0x1d100, 'P' }, { 0x1d127, 'U' },
	{ 0x1d12a, 'P' }, { 0x1d173, 'N' }, { 0x1d17b, 'P' },
	{ 0x1d1de, 'U' }, { 0x1d400, 'P' }, { 0x1d455, 'U' },
	{ 0x1d456, 'P' }, { 0x1d49d, 'U' }, { 0x1d49e, 'P' },
	{ 0x1d4a0, 'U' }, { 0x1d4a2, 'P' }, { 0x1d4a3, 'U' },
	{ 0x1d4a5, 'P' }, { 0x1d4a7, 'U' }, { 0x1d4a9, 'P' },
	{ 0x1d4ad, 'U' }, { 0x1d4ae, 'P' }, { 0x1d4ba, 'U' },
	{ 0x1d4bb, 'P' }, { 0x1d4bc, 'U' }, { 0x1d4bd, 'P' },
	{ 0x1d4c1, 'U' }, { 0x1d4c2, 'P' }, { 0x1d4c4, 'U' },
	{ 0x1d4c5, 'P' }, { 0x1d506, 'U' }, { 0x1d507, 'P' },
	{ 0x1d50b, 'U' }, { 0x1d50d, 'P' }, { 0x1d515, 'U' },
	{ 0x1d516, 'P' }, { 0x1d51d, 'U' }, { 0x1d51e, 'P' },
	{ 0x1d53a, 'U' }, { 0x1d53b, 'P' }, { 0x1d53f, 'U' },
	{ 0x1d540, 'P' }, { 0x1d545, 'U' }, { 0x1d546, 'P' },
	{ 0x1d547, 'U' }, { 0x1d54a, 'P' }, { 0x1d551, 'U' },
	{ 0x1d552, 'P' }, { 0x1d6a4, 'U' }, { 0x1d6a8, 'P' },
	{ 0x1d7ca, 'U' }, { 0x1d7ce, 'P' }, { 0x1d800, 'U' },
	{ 0x1fffe, 'N' }, { 0x20000, 'P' }, { 0x2a6d7, 'U' },
	{ 0x2f800, 'P' }, { 0x2fa1e, 'U' }, { 0x2fffe, 'N' },
	{ 0x30000, 'U' }, { 0x3fffe, 'N' }, { 0x40000, 'U' },
	{ 0x4fffe, 'N' }, { 0x50000, 'U' }, { 0x5fffe, 'N' },
	{ 0x60000, 'U' }, { 0x6fffe, 'N' }, { 0x70000, 'U' },
	{ 0x7fffe, 'N' }, { 0x80000, 'U' }, { 0x8fffe, 'N' },
	{ 0x90000, 'U' }, { 0x9fffe, 'N' }, { 0xa0000, 'U' },
	{ 0xafffe, 'N' }, { 0xb0000, 'U' }, { 0xbfffe, 'N' },
	{ 0xc0000, 'U' }, { 0xcfffe, 'N' }, { 0xd0000, 'U' },
	{ 0xdfffe, 'N' }, { 0xe0000, 'U' }, { 0xe0001, 'N' },
	{ 0xe0002, 'U' }, { 0xe0020, 'N' }, { 0xe0080, 'U' },
	{ 0xefffe, 'N' },
};
static const size_t modelmanifest_nurun =
    sizeof modelmanifest_urun / sizeof modelmanifest_urun[0];

/* P, N or U (see modelmanifest_urun) for cp >= 0x80. */
static char
modelmanifest_uclass(uint32_t cp)
{
	size_t	 lo = 0, hi = modelmanifest_nurun, mid;

	/* SOFT HYPHEN: Pd in Unicode 3.2, Cf (not printable) from Unicode
	 * 4.0 on; every Python 3 has Unicode 5.1 or later. */
	if (cp == 0xad)
		return 'N';
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (modelmanifest_urun[mid].from <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return modelmanifest_urun[lo].cls;
}

/* Python's repr() of a str (unicode_repr in Objects/unicodeobject.c). */
static int
modelmanifest_repr_string(struct modelmanifest_repr *r, const char *s,
    size_t len)
{
	struct modelmanifest_buf *b = &r->out;
	size_t		 i, start;
	uint32_t	 cp;
	char		 quote = '\'';

	if (memchr(s, '\'', len) != NULL && memchr(s, '"', len) == NULL)
		quote = '"';
	modelmanifest_putc(b, quote);
	for (i = 0; i < len;) {
		start = i;
		cp = modelmanifest_next_cp(s, len, &i);
		if (cp == (uint32_t)quote || cp == '\\') {
			modelmanifest_putc(b, '\\');
			modelmanifest_putc(b, (char)cp);
		} else if (cp == '\t')
			modelmanifest_puts(b, "\\t");
		else if (cp == '\n')
			modelmanifest_puts(b, "\\n");
		else if (cp == '\r')
			modelmanifest_puts(b, "\\r");
		else if (cp < 0x20 || cp == 0x7f)
			modelmanifest_putf(b, "\\x%02x", (unsigned)cp);
		else if (cp < 0x7f)
			modelmanifest_putc(b, (char)cp);
		else {
			switch (modelmanifest_uclass(cp)) {
			case 'P':
				modelmanifest_put(b, s + start, i - start);
				break;
			case 'N':
				if (cp <= 0xff)
					modelmanifest_putf(b, "\\x%02x",
					    (unsigned)cp);
				else if (cp <= 0xffff)
					modelmanifest_putf(b, "\\u%04x",
					    (unsigned)cp);
				else
					modelmanifest_putf(b, "\\U%08x",
					    (unsigned)cp);
				break;
			default:
				return modelmanifest_repr_fail(r, "U+%04X, "
				    "whose escaping by Python's repr() "
				    "depends on its Unicode version",
				    (unsigned)cp);
			}
		}
	}
	modelmanifest_putc(b, quote);
	return 0;
}

/* An int of JSON text: its digits, without the sign of "-0". */
static int
modelmanifest_repr_int(struct modelmanifest_repr *r, const char *s,
    size_t len)
{
	size_t	 digits = len - (s[0] == '-');

	if (digits > MODELMANIFEST_INT_DIGITS)
		return modelmanifest_repr_fail(r, "an integer of %zu digits "
		    "(Python 3.11 and later refuse more than %d)", digits,
		    MODELMANIFEST_INT_DIGITS);
	if (strcmp(s, "-0") == 0)
		s = "0";
	modelmanifest_puts(&r->out, s);
	return 0;
}

/* s as a double in the C locale, whatever the process's locale is. */
static double
modelmanifest_strtod(const char *s)
{
	locale_t	 c;
	double		 d;

	if ((c = newlocale(LC_ALL_MASK, "C", (locale_t)0)) == (locale_t)0)
		return strtod(s, NULL);
	d = strtod_l(s, NULL, c);
	freelocale(c);
	return d;
}

/*
 * The shortest digits (dig, n of them) and the exponent of the first
 * that read back as d > 0, the nearest to d of those: what Python's
 * repr() prints (David Gay's dtoa, mode 0). For each length the nearest
 * decimal of that length is tried, then its neighbour on d's other side
 * (which can be the only one of that length reading back when d is a
 * power of two, whose lower neighbour is nearer than its upper one).
 */
static void
modelmanifest_float_digits(double d, char dig[20], size_t *n, int *exp10)
{
	locale_t	 c, old = (locale_t)0;
	char		 buf[64], *e;
	size_t		 p, k, len;
	int		 x, up;
	double		 back;

	if ((c = newlocale(LC_ALL_MASK, "C", (locale_t)0)) != (locale_t)0)
		old = uselocale(c);
	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*e", (int)p - 1, d);
		back = strtod(buf, NULL);
		e = strchr(buf, 'e');
		x = (int)strtol(e + 1, NULL, 10);
		dig[0] = buf[0];
		memcpy(dig + 1, buf + 2, p - 1);
		len = p;
		if (back == d)
			goto found;
		/* Its neighbour of the same length on d's other side. */
		up = back < d;
		for (k = len; k-- > 0;) {
			if (up && dig[k] == '9')
				dig[k] = '0';
			else if (!up && dig[k] == '0')
				dig[k] = '9';
			else {
				dig[k] = (char)(dig[k] + (up ? 1 : -1));
				break;
			}
		}
		if (up && k == (size_t)-1) {
			memmove(dig + 1, dig, len);
			dig[0] = '1';
			len++;
			x++;
		} else if (!up && dig[0] == '0') {
			memmove(dig, dig + 1, --len);
			x--;
		}
		if (len == 0)
			continue;
		snprintf(buf, sizeof buf, "%.*se%d", (int)len, dig,
		    x - (int)len + 1);
		if (strtod(buf, NULL) == d)
			goto found;
	}
	/* 17 digits always read back; not reached. */
	snprintf(buf, sizeof buf, "%.16e", d);
	dig[0] = buf[0];
	memcpy(dig + 1, buf + 2, 16);
	len = 17;
	x = (int)strtol(strchr(buf, 'e') + 1, NULL, 10);
found:
	while (len > 1 && dig[len - 1] == '0')
		len--;
	*n = len;
	*exp10 = x;
	if (c != (locale_t)0) {
		uselocale(old);
		freelocale(c);
	}
}

/* A float of JSON text as Python's repr() prints float(text). */
static void
modelmanifest_repr_float(struct modelmanifest_repr *r, const char *s)
{
	struct modelmanifest_buf *b = &r->out;
	char		 dig[20];
	size_t		 n, i;
	int		 x, decpt;
	double		 d;

	if (strcmp(s, "NaN") == 0) {
		modelmanifest_puts(b, "nan");
		return;
	}
	d = strcmp(s, "Infinity") == 0 ? HUGE_VAL :
	    strcmp(s, "-Infinity") == 0 ? -HUGE_VAL : modelmanifest_strtod(s);
	if (signbit(d)) {
		modelmanifest_putc(b, '-');
		d = -d;
	}
	if (isinf(d)) {
		modelmanifest_puts(b, "inf");
		return;
	}
	if (d == 0) {
		modelmanifest_puts(b, "0.0");
		return;
	}
	modelmanifest_float_digits(d, dig, &n, &x);
	decpt = x + 1;
	if (decpt <= -4 || decpt > 16) {
		modelmanifest_putc(b, dig[0]);
		if (n > 1) {
			modelmanifest_putc(b, '.');
			modelmanifest_put(b, dig + 1, n - 1);
		}
		modelmanifest_putf(b, "e%+03d", x);
	} else if (decpt <= 0) {
		modelmanifest_puts(b, "0.");
		for (i = 0; i < (size_t)-decpt; i++)
			modelmanifest_putc(b, '0');
		modelmanifest_put(b, dig, n);
	} else if ((size_t)decpt >= n) {
		modelmanifest_put(b, dig, n);
		for (i = n; i < (size_t)decpt; i++)
			modelmanifest_putc(b, '0');
		modelmanifest_puts(b, ".0");
	} else {
		modelmanifest_put(b, dig, (size_t)decpt);
		modelmanifest_putc(b, '.');
		modelmanifest_put(b, dig + decpt, n - (size_t)decpt);
	}
}

static int
modelmanifest_repr_value(struct modelmanifest_repr *r,
    const struct modelmanifest_value *v, int top)
{
	struct modelmanifest_buf *b = &r->out;
	const struct modelmanifest_member *m;
	size_t		 i;
	int		 first = 1;

	switch (v->kind) {
	case MODELMANIFEST_NULL:
		modelmanifest_puts(b, "None");
		return 0;
	case MODELMANIFEST_TRUE:
		modelmanifest_puts(b, "True");
		return 0;
	case MODELMANIFEST_FALSE:
		modelmanifest_puts(b, "False");
		return 0;
	case MODELMANIFEST_INT:
		return modelmanifest_repr_int(r, v->s, v->slen);
	case MODELMANIFEST_FLOAT:
		modelmanifest_repr_float(r, v->s);
		return 0;
	case MODELMANIFEST_STRING:
		return modelmanifest_repr_string(r, v->s, v->slen);
	case MODELMANIFEST_ARRAY:
		modelmanifest_putc(b, '[');
		for (i = 0; i < v->nitems; i++) {
			if (i > 0)
				modelmanifest_puts(b, ", ");
			r->at[r->depth].key = NULL;
			r->at[r->depth++].index = i;
			if (modelmanifest_repr_value(r, v->items[i], 0) != 0)
				return -1;
			r->depth--;
		}
		modelmanifest_putc(b, ']');
		return 0;
	case MODELMANIFEST_OBJECT:
		modelmanifest_putc(b, '{');
		for (i = 0; i < v->nmembers; i++) {
			m = &v->members[i];
			if (top && m->keylen == strlen(MODELMANIFEST_LOCK) &&
			    memcmp(m->key, MODELMANIFEST_LOCK,
			    m->keylen) == 0)
				continue;
			if (!first)
				modelmanifest_puts(b, ", ");
			first = 0;
			r->at[r->depth].key = m->key;
			r->at[r->depth++].keylen = m->keylen;
			if (modelmanifest_repr_string(r, m->key,
			    m->keylen) != 0)
				return -1;
			modelmanifest_puts(b, ": ");
			if (modelmanifest_repr_value(r, m->value, 0) != 0)
				return -1;
			r->depth--;
		}
		modelmanifest_putc(b, '}');
		return 0;
	}
	return 0;
}

int
modelmanifest_lock_text(const struct modelmanifest *mm, char **text,
    size_t *len, char **cause)
{
	struct modelmanifest_repr *r;

	*text = NULL;
	*len = 0;
	r = xcalloc(1, sizeof *r);
	r->mm = mm;
	modelmanifest_puts(&r->out, "");
	if (modelmanifest_repr_value(r, mm->root, 1) != 0) {
		*cause = r->error;
		free(r->out.p);
		free(r);
		return -1;
	}
	*text = r->out.p;
	*len = r->out.n;
	free(r);
	return 0;
}

int
modelmanifest_lock_checksum(const struct modelmanifest *mm, char out[33],
    char **cause)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	char		*text;
	size_t		 len;
	int		 ok;

	out[0] = '\0';
	if (modelmanifest_lock_text(mm, &text, &len, cause) != 0)
		return -1;
	ok = EVP_Digest(text, len, md, &mdlen, EVP_md5(), NULL) == 1 &&
	    mdlen == 16;
	free(text);
	if (!ok) {
		xasprintf(cause, "%s: cannot re-lock: no MD5 in this "
		    "OpenSSL", mm->what);
		return -1;
	}
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
modelmanifest_lock_ok(const struct modelmanifest *mm, char **cause)
{
	char	 sum[33];

	if (mm->lock == NULL)
		return 0;
	if (modelmanifest_lock_checksum(mm, sum, cause) != 0)
		return -1;
	return mm->lock->kind == MODELMANIFEST_STRING &&
	    mm->lock->slen == 32 && memcmp(mm->lock->s, sum, 32) == 0;
}

/* ---------------------------------------------------------------------
 * The text back, and the names of copied files.
 */

struct modelmanifest_edit {
	size_t	 start, end;
	char	*text;
};

static int
modelmanifest_edit_cmp(const void *a, const void *b)
{
	const struct modelmanifest_edit *x = a, *y = b;

	return x->start < y->start ? -1 : (x->start > y->start);
}

int
modelmanifest_render(const struct modelmanifest *mm, char **text,
    size_t *len, char **cause)
{
	struct modelmanifest_buf b = { NULL, 0, 0 }, s;
	struct modelmanifest_edit *ed;
	const struct modelmanifest_value *v;
	size_t		 n = 0, i, at = 0;
	char		 sum[33];

	*text = NULL;
	*len = 0;
	if (mm->lock != NULL &&
	    modelmanifest_lock_checksum(mm, sum, cause) != 0)
		return -1;
	ed = xreallocarray(NULL, mm->nfiles + 1, sizeof *ed);
	for (i = 0; i < mm->nfiles; i++) {
		v = mm->uris[i];
		if (!v->dirty)
			continue;
		memset(&s, 0, sizeof s);
		modelmanifest_put_json(&s, v->s, v->slen);
		ed[n].start = v->start;
		ed[n].end = v->end;
		ed[n++].text = s.p;
	}
	if (mm->lock != NULL) {
		ed[n].start = mm->lock->start;
		ed[n].end = mm->lock->end;
		ed[n++].text = xprintf("\"%s\"", sum);
	}
	qsort(ed, n, sizeof *ed, modelmanifest_edit_cmp);
	modelmanifest_puts(&b, "");
	for (i = 0; i < n; i++) {
		modelmanifest_put(&b, mm->text + at, ed[i].start - at);
		modelmanifest_puts(&b, ed[i].text);
		at = ed[i].end;
		free(ed[i].text);
	}
	modelmanifest_put(&b, mm->text + at, mm->len - at);
	free(ed);
	*text = b.p;
	*len = b.n;
	return 0;
}

char *
modelmanifest_pinned_name(const char *file, const char *md5)
{
	const char	*dot;
	char		*stem, *name;

	if (file == NULL || *file == '\0' || md5 == NULL ||
	    strlen(md5) != 32 || !modelmanifest_hex32(md5, 0))
		return NULL;
	dot = strrchr(file, '.');
	if (dot == NULL || dot == file || dot[1] == '\0')
		return xprintf("%s.%s", file, md5);
	stem = xstrndup(file, (size_t)(dot - file));
	name = xprintf("%s.%s%s", stem, md5, dot);
	free(stem);
	return name;
}

/* Whether name is the pinned name of file (the first n bytes of a, then
 * b) with md5. */
static int
modelmanifest_pinned_is(const char *name, const char *a, size_t n,
    const char *b, const char *md5)
{
	char	*file, *pinned;
	int	 same;

	file = xstrndup(a, n);
	pinned = xprintf("%s%s", file, b);
	free(file);
	file = pinned;
	pinned = modelmanifest_pinned_name(file, md5);
	same = pinned != NULL && strcmp(pinned, name) == 0;
	free(pinned);
	free(file);
	return same;
}

int
modelmanifest_pinned_parse(const char *name, char md5[33])
{
	const char	*dot;
	size_t		 n = strlen(name);

	md5[0] = '\0';
	/* STEM.MD5.EXT */
	dot = strrchr(name, '.');
	if (dot != NULL && dot - name > 33 && dot[-33] == '.' &&
	    modelmanifest_hex32(dot - 32, 0)) {
		memcpy(md5, dot - 32, 32);
		md5[32] = '\0';
		if (modelmanifest_pinned_is(name, name,
		    (size_t)(dot - 33 - name), dot, md5))
			return 1;
	}
	/* NAME.MD5 */
	if (n > 33 && name[n - 33] == '.' &&
	    modelmanifest_hex32(name + n - 32, 0)) {
		memcpy(md5, name + n - 32, 32);
		md5[32] = '\0';
		if (modelmanifest_pinned_is(name, name, n - 33, "", md5))
			return 1;
	}
	md5[0] = '\0';
	return 0;
}

