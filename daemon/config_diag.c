/* config_diag.c: the configuration's problems, collected as FILE:LINE:COL
 * and printed all at once in file and document order; quoting, words. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "xmalloc.h"

/* The file node n is in: the one being read, or another of the load
 * (a check across pairs). */
static size_t
config_diag_file(const struct cf *cf, const yaml_node_t *n)
{
	const yaml_document_t	*d;
	uintptr_t		 p = (uintptr_t)n;
	size_t			 i;

	if (n == NULL)
		return cf->cur;
	for (i = 0; i < cf->nfiles; i++) {
		d = &cf->files[i]->doc;
		if (cf->files[i]->loaded && p >= (uintptr_t)d->nodes.start &&
		    p < (uintptr_t)d->nodes.top)
			return i;
	}
	return cf->cur;
}

static void
config_diag_vadd(struct cf *cf, size_t file, const yaml_mark_t *m,
    const char *obj, const char *fmt, va_list ap)
{
	struct config_diag_entry	*e;
	char			*msg;

	xvasprintf(&msg, fmt, ap);
	if (cf->nerrs == cf->errcap) {
		cf->errcap = cf->errcap ? cf->errcap * 2 : 16;
		cf->errs = xreallocarray(cf->errs, cf->errcap,
		    sizeof *cf->errs);
	}
	e = &cf->errs[cf->nerrs];
	e->file = file;
	e->line = m != NULL ? m->line + 1 : 0;
	e->col = m != NULL ? m->column + 1 : 0;
	e->seq = cf->nerrs++;
	if (obj != NULL) {
		xasprintf(&e->text, "%s: %s", obj, msg);
		free(msg);
	} else
		e->text = msg;
	cf->nfatal++;
}

void
config_diag_err(struct cf *cf, const yaml_node_t *at, const char *obj,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	config_diag_vadd(cf, config_diag_file(cf, at), at != NULL ?
	    &at->start_mark : NULL, obj, fmt, ap);
	va_end(ap);
}

void
config_diag_mark(struct cf *cf, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	config_diag_vadd(cf, cf->cur, m, NULL, fmt, ap);
	va_end(ap);
}

char *
config_diag_where(struct cf *cf, const yaml_node_t *here,
    const yaml_node_t *there)
{
	size_t	 f = config_diag_file(cf, there);

	if (f == config_diag_file(cf, here))
		return xprintf("line %zu", there->start_mark.line + 1);
	return xprintf("%s:%zu", cf->files[f]->path,
	    there->start_mark.line + 1);
}

/* s as "s" for a message: escaped, and cut short when long. */
const char *
config_diag_quote(char *buf, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		 o = 0;

	buf[o++] = '"';
	for (; *p != '\0'; p++) {
		if (o + 4 > CF_QLEN - 6) {
			while (o > 1 && (buf[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 1 && (buf[o - 1] & 0xc0) == 0xc0)
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (*p == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, CF_QLEN - o, "\\x%02x",
			    *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static int
config_diag_cmp(const void *a, const void *b)
{
	const struct config_diag_entry *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Was the sorted entry i said already, at the same place? A node that
 * aliases reach many times is read many times: its problem once. */
static int
config_diag_said(const struct cf *cf, size_t i)
{
	const struct config_diag_entry *e = &cf->errs[i], *p;

	while (i-- > 0) {
		p = &cf->errs[i];
		if (p->file != e->file || p->line != e->line ||
		    p->col != e->col)
			return 0;
		if (strcmp(p->text, e->text) == 0)
			return 1;
	}
	return 0;
}

void
config_diag_put(struct config_diag_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Every problem, one line each, in document order. */
char *
config_diag_format(struct cf *cf)
{
	struct config_diag_buf	 b = { NULL, 0, 0 };
	struct config_diag_entry	*e;
	const char		*p, *path;
	char			 tmp[64];
	size_t			 i;
	int			 n;

	if (cf->nerrs == 0)
		return NULL;
	qsort(cf->errs, cf->nerrs, sizeof *cf->errs, config_diag_cmp);
	for (i = 0; i < cf->nerrs; i++) {
		e = &cf->errs[i];
		if (config_diag_said(cf, i))
			continue;
		path = cf->files[e->file]->path;
		config_diag_put(&b, path, strlen(path));
		if (e->line != 0) {
			n = snprintf(tmp, sizeof tmp, ":%zu:%zu", e->line,
			    e->col);
			config_diag_put(&b, tmp, (size_t)n);
		}
		config_diag_put(&b, ": ", 2);
		/* One line per problem, whatever text a value brought. */
		for (p = e->text; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				n = snprintf(tmp, sizeof tmp, *p == '\n' ?
				    "\\n" : "\\x%02x", (unsigned char)*p);
				config_diag_put(&b, tmp, (size_t)n);
			} else
				config_diag_put(&b, p, 1);
		}
		config_diag_put(&b, "\n", 1);
	}
	return b.s;
}

void
config_diag_clear(struct cf *cf)
{
	size_t	 i;

	for (i = 0; i < cf->nerrs; i++)
		free(cf->errs[i].text);
	free(cf->errs);
	cf->errs = NULL;
	cf->nerrs = cf->errcap = 0;
}

/* Edit distance, ignoring case; SIZE_MAX for long words. */
static size_t
config_diag_distance(const char *a, const char *b)
{
	size_t	 row[CF_MAX_NAME + 1], la, lb, i, j, prev, keep, best;

	la = strlen(a);
	lb = strlen(b);
	if (la > CF_MAX_NAME || lb > CF_MAX_NAME)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			keep = row[j];
			best = prev + ((a[i - 1] | 0x20) != (b[j - 1] | 0x20));
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = keep;
		}
	}
	return row[lb];
}

/* One word begins the other ("warn", "warning"), ignoring case. */
static int
config_diag_prefix(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	if (la < 3 || lb < 3)
		return 0;
	return strncasecmp(a, b, la < lb ? la : lb) == 0;
}

/* The closest word of two NULL-terminated lists, if close enough. */
const char *
config_diag_suggest(const char *word, const char *const *a,
    const char *const *b)
{
	const char *const *lists[2] = { a, b };
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX, len = strlen(word), limit;

	limit = len / 3 > 2 ? len / 3 : 2;
	for (i = 0; i < 2; i++) {
		for (; lists[i] != NULL && *lists[i] != NULL; lists[i]++) {
			d = config_diag_distance(word, *lists[i]);
			if (d > 1 && config_diag_prefix(word, *lists[i]))
				d = 1;
			if (d < bestd) {
				bestd = d;
				best = *lists[i];
			}
		}
	}
	if (best == NULL || bestd > limit || bestd >= len)
		return NULL;
	return best;
}

/* "a, b, c" from a NULL-terminated list. */
char *
config_diag_join(const char *const *w)
{
	struct config_diag_buf	 b = { NULL, 0, 0 };

	config_diag_put(&b, "", 0);
	for (; *w != NULL; w++) {
		if (b.len != 0)
			config_diag_put(&b, ", ", 2);
		config_diag_put(&b, *w, strlen(*w));
	}
	return b.s;
}
