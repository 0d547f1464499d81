/* config.c: loads the YAML configuration into an immutable struct config.
 * Every problem is reported at once, as FILE:LINE:COL: message. */
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "config.h"
#include "duration.h"
#include "log.h"
#include "redact.h"
#include "template.h"
#include "treeglob.h"
#include "xmalloc.h"

/*
 * Every built-in default, in one place. "defaults:" in the file starts
 * from these; a pair starts from "defaults:".
 */
#define DEF_STATE_DIR		CONFIG_DEFAULT_STATE /* or $STATE_DIRECTORY */
#define DEF_LOG_LEVEL		LOG_LEVEL_INFO
#define DEF_WORKERS		4
#define DEF_POLL_MS		(60 * 1000)
#define DEF_LISTEN		"127.0.0.1:9464"
#define DEF_SOCKET_NAME		"control.sock"	/* in $RUNTIME_DIRECTORY */
#define DEF_SOCKET		"/run/algopromoted/" DEF_SOCKET_NAME
#define DEF_TIMEOUT_MS		(30 * 1000)
#define DEF_MAX_PARALLEL	4
#define DEF_TRACK		CONFIG_TRACK_COMMITS
#define DEF_BRANCH		"master"
#define DEF_VTYPE		CONFIG_VTYPE_MINOR
#define DEF_BUILD_TIMEOUT_MS	(20 * 60 * 1000)
#define DEF_RECONCILE_MS	(60 * 60 * 1000)
#define DEF_APPROVAL		CONFIG_APPROVAL_AUTO
#define DEF_COMMIT_MESSAGE	"Promote {source}@{source_short}"
#define DEF_RELEASE_NOTES	"Promoted from {source} at {source_commit}"
#define DEF_AUTHOR_NAME		"algopromoted"
#define DEF_AUTHOR_EMAIL	"algopromoted@localhost"
#define DEF_FROM_SOURCE		1
#define DEF_JSON		"{}"

/* Limits: what a sane file never reaches, so a broken one cannot hurt. */
#define CF_MAX_FILE		(1024 * 1024)	/* bytes of YAML */
#define CF_MAX_KEY		4096		/* bytes of an API key */
#define CF_MAX_DEPTH		64		/* nesting of the YAML */
#define CF_MAX_NAME		64		/* pair and cluster names */
#define CF_MAX_INT		64		/* workers, max_parallel */
#define CF_JSON_DEPTH		16		/* create.details/settings */
#define CF_JSON_NODES		1000
#define CF_QLEN			256		/* a value quoted in messages */

static const char *const top_keys[] = {
	"state_dir", "log_level", "log_file", "workers", "poll_interval",
	"listen", "control_socket", "clusters", "defaults", "pairs", NULL
};
static const char *const cluster_keys[] = {
	"api", "git", "key_owner", "api_key_file", "api_key_env", "ca_file",
	"timeout", "max_parallel", NULL
};
static const char *const policy_keys[] = {
	"track", "branch", "version_type", "build_timeout", "approval",
	"commit_message", "release_notes", "author", "preserve", "exclude",
	"create", "reconcile_interval", NULL
};
static const char *const create_keys[] = {
	"from_source", "details", "settings", NULL
};
static const char *const pair_keys[] = {
	"name", "source", "destination", "destinations", "poll_interval", NULL
};

static const char *const level_names[] = {	/* by LOG_LEVEL_* */
	"error", "warn", "info", "debug", NULL
};
static const char *const track_names[] = { "commits", "versions", NULL };
static const char *const vtype_names[] = {
	"major", "minor", "revision", NULL
};
static const char *const approval_names[] = { "auto", "manual", NULL };

struct cf_err {
	size_t		 line;		/* 1-based; 0: the file as a whole */
	size_t		 col;
	size_t		 seq;		/* ties keep the order of discovery */
	int		 warning;
	char		*text;
};

/* Where a pair's parts were written, for the checks across pairs. */
struct cf_pos {
	yaml_node_t	 *name;
	yaml_node_t	 *source;
	yaml_node_t	**dests;	/* parallel to config_pair.dests */
};

struct cf {
	const char		*path;
	int			 flags;
	yaml_document_t		 doc;
	struct cf_err		*errs;
	size_t			 nerrs;
	size_t			 errcap;
	size_t			 nfatal;
	char			*dir_abs;	/* the file's directory */
	char			*dir_show;	/* as given; NULL: "." */
	char			*creds;		/* $CREDENTIALS_DIRECTORY */
	int			 toodeep;
	struct config		*c;
	struct config_policy	 defaults;
	struct cf_pos		*pos;		/* one per config_pair */
};

static void	 cf_policy_clear(struct config_policy *);

/* Messages. */

static void
cf_vadd(struct cf *cf, const yaml_mark_t *m, int warning, const char *obj,
    const char *fmt, va_list ap)
{
	struct cf_err	*e;
	char		*msg;

	xvasprintf(&msg, fmt, ap);
	if (cf->nerrs == cf->errcap) {
		cf->errcap = cf->errcap ? cf->errcap * 2 : 16;
		cf->errs = xreallocarray(cf->errs, cf->errcap,
		    sizeof *cf->errs);
	}
	e = &cf->errs[cf->nerrs];
	e->line = m != NULL ? m->line + 1 : 0;
	e->col = m != NULL ? m->column + 1 : 0;
	e->seq = cf->nerrs++;
	e->warning = warning;
	if (obj != NULL) {
		xasprintf(&e->text, "%s: %s", obj, msg);
		free(msg);
	} else
		e->text = msg;
	if (!warning)
		cf->nfatal++;
}

static void __attribute__((format(printf, 4, 5)))
cf_err(struct cf *cf, const yaml_node_t *at, const char *obj,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	cf_vadd(cf, at != NULL ? &at->start_mark : NULL, 0, obj, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
cf_vadd_mark(struct cf *cf, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	cf_vadd(cf, m, 0, NULL, fmt, ap);
	va_end(ap);
}

/* Key material that is not there: a warning when only checking. */
static void __attribute__((format(printf, 4, 5)))
cf_absent(struct cf *cf, const yaml_node_t *at, const char *obj,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	cf_vadd(cf, &at->start_mark, (cf->flags & CONFIG_LOAD_CHECK) != 0,
	    obj, fmt, ap);
	va_end(ap);
}

/* s as "s" for a message: escaped, and cut short when long. */
static const char *
cf_quote(char *buf, const char *s)
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
cf_errcmp(const void *a, const void *b)
{
	const struct cf_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct cf_buf {
	char	*s;
	size_t	 len, cap;
};

static void
cf_put(struct cf_buf *b, const char *s, size_t n)
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
static char *
cf_format(struct cf *cf)
{
	struct cf_buf	 b = { NULL, 0, 0 };
	struct cf_err	*e;
	const char	*p;
	char		 tmp[64];
	size_t		 i;
	int		 n;

	if (cf->nerrs == 0)
		return NULL;
	qsort(cf->errs, cf->nerrs, sizeof *cf->errs, cf_errcmp);
	for (i = 0; i < cf->nerrs; i++) {
		e = &cf->errs[i];
		cf_put(&b, cf->path, strlen(cf->path));
		if (e->line != 0) {
			n = snprintf(tmp, sizeof tmp, ":%zu:%zu", e->line,
			    e->col);
			cf_put(&b, tmp, (size_t)n);
		}
		cf_put(&b, ": ", 2);
		if (e->warning)
			cf_put(&b, "warning: ", 9);
		/* One line per problem, whatever text a value brought. */
		for (p = e->text; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				n = snprintf(tmp, sizeof tmp, *p == '\n' ?
				    "\\n" : "\\x%02x", (unsigned char)*p);
				cf_put(&b, tmp, (size_t)n);
			} else
				cf_put(&b, p, 1);
		}
		cf_put(&b, "\n", 1);
	}
	return b.s;
}

/* Names and words. */

static int
cf_isalpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
cf_isalnum(int ch)
{
	return cf_isalpha(ch) || (ch >= '0' && ch <= '9');
}

/* Algorithmia's rule for user, organization and algorithm names. */
static int
cf_algo_name_ok(const char *s)
{
	if (!cf_isalpha((unsigned char)*s))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!cf_isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Letters, digits and the characters in extra; 1..CF_MAX_NAME long. */
static int
cf_name_ok(const char *s, const char *extra)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!cf_isalnum((unsigned char)s[n]) &&
		    strchr(extra, s[n]) == NULL)
			return 0;
	return n > 0 && n <= CF_MAX_NAME;
}

static int
cf_env_name_ok(const char *s)
{
	if (!cf_isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (s++; *s != '\0'; s++)
		if (!cf_isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* "api_key", "apiKey", "API-KEY": a key written into the file. */
static int
cf_is_apikey(const char *s)
{
	const char	*want = "apikey";

	for (; *s != '\0'; s++) {
		if (*s == '_' || *s == '-')
			continue;
		if (*want == '\0' || (*s | 0x20) != *want)
			return 0;
		want++;
	}
	return *want == '\0';
}

/* Edit distance, ignoring case; SIZE_MAX for long words. */
static size_t
cf_distance(const char *a, const char *b)
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
cf_prefix(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	if (la < 3 || lb < 3)
		return 0;
	return strncasecmp(a, b, la < lb ? la : lb) == 0;
}

/* The closest word of two NULL-terminated lists, if close enough. */
static const char *
cf_suggest(const char *word, const char *const *a, const char *const *b)
{
	const char *const *lists[2] = { a, b };
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX, len = strlen(word), limit;

	limit = len / 3 > 2 ? len / 3 : 2;
	for (i = 0; i < 2; i++) {
		for (; lists[i] != NULL && *lists[i] != NULL; lists[i]++) {
			d = cf_distance(word, *lists[i]);
			if (d > 1 && cf_prefix(word, *lists[i]))
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
static char *
cf_join_words(const char *const *w)
{
	struct cf_buf	 b = { NULL, 0, 0 };

	cf_put(&b, "", 0);
	for (; *w != NULL; w++) {
		if (b.len != 0)
			cf_put(&b, ", ", 2);
		cf_put(&b, *w, strlen(*w));
	}
	return b.s;
}

static char *
cf_path_join(const char *dir, const char *name)
{
	size_t	 n = strlen(dir);

	if (n > 0 && dir[n - 1] == '/')
		return xprintf("%s%s", dir, name);
	return xprintf("%s/%s", dir, name);
}

/* YAML nodes. */

static yaml_node_t *
cf_node(struct cf *cf, int id)
{
	return yaml_document_get_node(&cf->doc, id);
}

static const char *
cf_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Plain "", "~" and "null": YAML's null, "not set". */
static int
cf_null(const yaml_node_t *n)
{
	const char	*s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = cf_text(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static size_t
cf_size(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top -
		    n->data.mapping.pairs.start);
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top -
		    n->data.sequence.items.start);
	return 0;
}

/* The value of key in mapping m (its first occurrence), or NULL. */
static yaml_node_t *
cf_get(struct cf *cf, const yaml_node_t *m, const char *key,
    yaml_node_t **keynode)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		k = cf_node(cf, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp(cf_text(k), key) == 0) {
			if (keynode != NULL)
				*keynode = k;
			return cf_node(cf, p->value);
		}
	}
	return NULL;
}

static int
cf_in(const char *s, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* Reports every key of m that is not in k1 or k2. */
static void
cf_keys(struct cf *cf, const yaml_node_t *m, const char *obj,
    const char *prefix, const char *const *k1, const char *const *k2)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;
	const char		*name, *sug;
	char			 q[CF_QLEN], *full;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		k = cf_node(cf, p->key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by cf_scan() */
		name = cf_text(k);
		if (cf_in(name, k1) || cf_in(name, k2) || cf_is_apikey(name))
			continue;
		if (strcmp(name, "<<") == 0) {
			cf_err(cf, k, obj, "merge keys (\"<<\") are not "
			    "supported: settings shared by pairs belong in "
			    "defaults");
			continue;
		}
		if (k1 == policy_keys && k2 == NULL &&
		    strcmp(name, "poll_interval") == 0) {
			cf_err(cf, k, obj, "poll_interval is set at the top "
			    "level, not in defaults");
			continue;
		}
		full = xprintf("%s%s", prefix, name);
		if ((sug = cf_suggest(name, k1, k2)) != NULL)
			cf_err(cf, k, obj, "unknown key %s (did you mean "
			    "\"%s%s\"?)", cf_quote(q, full), prefix, sug);
		else
			cf_err(cf, k, obj, "unknown key %s", cf_quote(q, full));
		free(full);
	}
}

/* Typed values: 1 set, 0 left unset (null where allowed), -1 reported. */

#define CF_OPTIONAL	0x1	/* null leaves the default */
#define CF_EMPTY	0x2	/* "" (and null) is a value */
#define CF_TEXT		0x4	/* newlines and tabs allowed */

static int
cf_string(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int flags, const char **out)
{
	const char	*s;
	size_t		 i, len;

	if (v->type != YAML_SCALAR_NODE) {
		cf_err(cf, v, obj, "%s must be a string", key);
		return -1;
	}
	if (cf_null(v)) {
		if (flags & CF_EMPTY) {
			*out = "";
			return 1;
		}
		if (flags & CF_OPTIONAL)
			return 0;
		cf_err(cf, v, obj, "%s must not be empty", key);
		return -1;
	}
	s = cf_text(v);
	len = v->data.scalar.length;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((flags & CF_TEXT) && (ch == '\n' || ch == '\t'))
			continue;
		if (ch < 0x20 || ch == 0x7f) {
			cf_err(cf, v, obj, "%s must not contain control "
			    "characters", key);
			return -1;
		}
	}
	if (len == 0 && !(flags & CF_EMPTY)) {
		cf_err(cf, v, obj, "%s must not be empty", key);
		return -1;
	}
	*out = s;
	return 1;
}

static int
cf_int(struct cf *cf, const yaml_node_t *v, const char *obj, const char *key,
    int lo, int hi, int *out)
{
	const char	*s;
	int		 n = 0;

	if (v->type != YAML_SCALAR_NODE ||
	    v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		goto bad;
	s = cf_text(v);
	if (*s == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 6)
		goto bad;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		n = n * 10 + (*s - '0');
	}
	if (n < lo || n > hi)
		goto bad;
	*out = n;
	return 1;
bad:
	cf_err(cf, v, obj, "%s must be an integer between %d and %d", key, lo,
	    hi);
	return -1;
}

static int
cf_bool(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int *out)
{
	const char	*s;

	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		s = cf_text(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
			*out = 1;
			return 1;
		}
		if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
			*out = 0;
			return 1;
		}
	}
	cf_err(cf, v, obj, "%s must be true or false", key);
	return -1;
}

/* A duration of at least min_ms, or more than 0 when min_ms is 0. */
static int
cf_duration(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, uint64_t min_ms, uint64_t *out)
{
	uint64_t	 ms;
	char		*cause = NULL, buf[32];

	if (v->type != YAML_SCALAR_NODE || cf_null(v)) {
		cf_err(cf, v, obj, "%s must be a duration such as 30s", key);
		return -1;
	}
	if (duration_parse(cf_text(v), &ms, &cause) == -1) {
		cf_err(cf, v, obj, "%s: %s", key, cause);
		free(cause);
		return -1;
	}
	if (min_ms == 0 && ms == 0) {
		cf_err(cf, v, obj, "%s must be longer than 0s", key);
		return -1;
	}
	if (ms < min_ms) {
		duration_format(min_ms, buf, sizeof buf);
		cf_err(cf, v, obj, "%s must be at least %s", key, buf);
		return -1;
	}
	*out = ms;
	return 1;
}

static int
cf_enum(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, const char *const *names, int *out)
{
	const char	*sug = NULL;
	char		*all;
	int		 i;

	if (v->type == YAML_SCALAR_NODE) {
		for (i = 0; names[i] != NULL; i++) {
			if (strcmp(cf_text(v), names[i]) == 0) {
				*out = i;
				return 1;
			}
		}
		sug = cf_suggest(cf_text(v), names, NULL);
	}
	all = cf_join_words(names);
	if (sug != NULL)
		cf_err(cf, v, obj, "%s must be one of: %s (did you mean "
		    "\"%s\"?)", key, all, sug);
	else
		cf_err(cf, v, obj, "%s must be one of: %s", key, all);
	free(all);
	return -1;
}

/* Replaces *slot with a copy of s. */
static void
cf_set(char **slot, const char *s)
{
	free(*slot);
	*slot = s != NULL ? xstrdup(s) : NULL;
}

/* An absolute path with no trailing '/' (other than "/" itself). */
static int
cf_abspath(struct cf *cf, const yaml_node_t *v, const char *key, int flags,
    char **slot)
{
	const char	*s;
	size_t		 n;
	int		 rv;

	if ((rv = cf_string(cf, v, NULL, key, flags, &s)) != 1)
		return rv;
	if (s[0] != '/') {
		cf_err(cf, v, NULL, "%s must be an absolute path", key);
		return -1;
	}
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		n--;
	free(*slot);
	*slot = xstrndup(s, n);
	return 1;
}

/* The pre-pass: keys that are not strings, duplicate keys, API keys. */

struct cf_key {
	const char	*s;
	size_t		 len;
	size_t		 i;
	yaml_node_t	*n;
};

static int
cf_keycmp(const void *a, const void *b)
{
	const struct cf_key *x = a, *y = b;
	int		 r;

	r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (r == 0 && x->len != y->len)
		r = x->len < y->len ? -1 : 1;
	if (r == 0 && x->i != y->i)
		r = x->i < y->i ? -1 : 1;
	return r;
}

static void
cf_scan_keys(struct cf *cf, const yaml_node_t *m)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;
	struct cf_key		*keys;
	size_t			 n = 0, i, first = 0;
	char			 q[CF_QLEN];

	keys = xreallocarray(NULL, cf_size(m) + 1, sizeof *keys);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		if ((k = cf_node(cf, p->key)) == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			cf_err(cf, k, NULL, "keys must be strings");
			continue;
		}
		if (cf_is_apikey(cf_text(k)))
			cf_err(cf, k, NULL, "api keys never live in the "
			    "configuration: use api_key_file or api_key_env");
		keys[n].s = cf_text(k);
		keys[n].len = k->data.scalar.length;
		keys[n].i = n;
		keys[n].n = k;
		n++;
	}
	qsort(keys, n, sizeof *keys, cf_keycmp);
	for (i = 1; i < n; i++) {
		if (keys[i].len == keys[first].len &&
		    memcmp(keys[i].s, keys[first].s, keys[i].len) == 0)
			cf_err(cf, keys[i].n, NULL, "duplicate key %s (first "
			    "at line %zu)", cf_quote(q, keys[i].s),
			    keys[first].n->start_mark.line + 1);
		else
			first = i;
	}
	free(keys);
}

static void
cf_scan(struct cf *cf, yaml_node_t *n, unsigned char *seen, int depth)
{
	yaml_node_item_t	*it;
	yaml_node_pair_t	*p;
	yaml_node_t		*child;
	size_t			 idx = (size_t)(n - cf->doc.nodes.start);

	if (seen[idx])
		return;		/* an alias: already looked at */
	seen[idx] = 1;
	if (depth > CF_MAX_DEPTH) {
		if (!cf->toodeep)
			cf_err(cf, n, NULL, "nested more than %d levels deep",
			    CF_MAX_DEPTH);
		cf->toodeep = 1;
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++)
			if ((child = cf_node(cf, *it)) != NULL)
				cf_scan(cf, child, seen, depth + 1);
	} else if (n->type == YAML_MAPPING_NODE) {
		cf_scan_keys(cf, n);
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++)
			if ((child = cf_node(cf, p->value)) != NULL)
				cf_scan(cf, child, seen, depth + 1);
	}
}

/* Policies: the built-in one, copies, and "defaults:"/pair overrides. */

static char **
cf_strv_dup(char *const *v)
{
	char	**out;
	size_t	  n, i;

	for (n = 0; v != NULL && v[n] != NULL; n++)
		;
	out = xcalloc(n + 1, sizeof *out);
	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void
cf_strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* The built-in defaults of everything but clusters (see DEF_*). */
static void
cf_builtin(struct config *c, struct config_policy *p)
{
	const char	*env;

	if ((env = getenv("STATE_DIRECTORY")) != NULL && *env == '/')
		c->state_dir = xstrndup(env, strcspn(env, ":"));
	else
		c->state_dir = xstrdup(DEF_STATE_DIR);
	if ((env = getenv("RUNTIME_DIRECTORY")) != NULL && *env == '/') {
		char *dir = xstrndup(env, strcspn(env, ":"));

		c->control_socket = cf_path_join(dir, DEF_SOCKET_NAME);
		free(dir);
	} else
		c->control_socket = xstrdup(DEF_SOCKET);
	c->log_level = DEF_LOG_LEVEL;
	c->log_file = NULL;
	c->workers = DEF_WORKERS;
	c->poll_ms = DEF_POLL_MS;
	c->listen = xstrdup(DEF_LISTEN);

	p->track = DEF_TRACK;
	p->branch = xstrdup(DEF_BRANCH);
	p->version_type = DEF_VTYPE;
	p->build_timeout_ms = DEF_BUILD_TIMEOUT_MS;
	p->reconcile_ms = DEF_RECONCILE_MS;
	p->approval = DEF_APPROVAL;
	p->commit_message = xstrdup(DEF_COMMIT_MESSAGE);
	p->release_notes = xstrdup(DEF_RELEASE_NOTES);
	p->author_name = xstrdup(DEF_AUTHOR_NAME);
	p->author_email = xstrdup(DEF_AUTHOR_EMAIL);
	p->preserve = cf_strv_dup(NULL);
	p->exclude = cf_strv_dup(NULL);
	p->create.from_source = DEF_FROM_SOURCE;
	p->create.details_json = xstrdup(DEF_JSON);
	p->create.settings_json = xstrdup(DEF_JSON);
	p->poll_ms = DEF_POLL_MS;
}

static void
cf_policy_copy(struct config_policy *dst, const struct config_policy *src)
{
	*dst = *src;
	dst->branch = xstrdup(src->branch);
	dst->commit_message = xstrdup(src->commit_message);
	dst->release_notes = xstrdup(src->release_notes);
	dst->author_name = xstrdup(src->author_name);
	dst->author_email = xstrdup(src->author_email);
	dst->preserve = cf_strv_dup(src->preserve);
	dst->exclude = cf_strv_dup(src->exclude);
	dst->create.details_json = xstrdup(src->create.details_json);
	dst->create.settings_json = xstrdup(src->create.settings_json);
}

static void
cf_policy_clear(struct config_policy *p)
{
	free(p->branch);
	free(p->commit_message);
	free(p->release_notes);
	free(p->author_name);
	free(p->author_email);
	cf_strv_free(p->preserve);
	cf_strv_free(p->exclude);
	free(p->create.details_json);
	free(p->create.settings_json);
	memset(p, 0, sizeof *p);
}

/* git check-ref-format's rules for a branch name. */
static int
cf_branch_ok(const char *b)
{
	size_t	 n = strlen(b);

	if (n == 0 || n > 255 || b[0] == '-' || b[0] == '/' || b[0] == '.' ||
	    b[n - 1] == '/' || b[n - 1] == '.' || strcmp(b, "@") == 0)
		return 0;
	if (strstr(b, "..") != NULL || strstr(b, "//") != NULL ||
	    strstr(b, "/.") != NULL || strstr(b, "@{") != NULL ||
	    strstr(b, ".lock/") != NULL ||
	    (n >= 5 && strcmp(b + n - 5, ".lock") == 0))
		return 0;
	for (; *b != '\0'; b++)
		if ((unsigned char)*b <= 0x20 || *b == 0x7f ||
		    strchr("~^:?*[\\", *b) != NULL)
			return 0;
	return 1;
}

/* "Name <email>" into its two parts. */
static int
cf_author(const char *s, char **name, char **email)
{
	const char	*lt, *gt, *end;

	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		end--;
	if ((lt = strchr(s, '<')) == NULL || (gt = strchr(lt, '>')) == NULL ||
	    gt + 1 != end || gt == lt + 1)
		return -1;
	if (memchr(s, '>', (size_t)(lt - s)) != NULL ||
	    memchr(lt + 1, '<', (size_t)(gt - lt - 1)) != NULL ||
	    memchr(lt + 1, ' ', (size_t)(gt - lt - 1)) != NULL)
		return -1;
	while (lt > s && lt[-1] == ' ')
		lt--;
	if (lt == s)
		return -1;
	*name = xstrndup(s, (size_t)(lt - s));
	gt = strchr(lt, '<');
	*email = xstrndup(gt + 1, (size_t)(strchr(gt, '>') - gt - 1));
	return 0;
}

static int
cf_template(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int flags, char **slot)
{
	const char	*s;
	char		*cause = NULL;

	if (cf_string(cf, v, obj, key, CF_TEXT | flags, &s) != 1)
		return -1;
	if (template_check(s, &cause) == -1) {
		cf_err(cf, v, obj, "%s: %s", key, cause);
		free(cause);
		return -1;
	}
	cf_set(slot, s);
	return 1;
}

/* A list of globs (see treeglob.h); null is the empty list. */
static void
cf_globs(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, char ***slot)
{
	yaml_node_item_t	*it;
	yaml_node_t		*g;
	const char		*s;
	char			**out, *cause = NULL;
	size_t			 n = 0;
	int			 bad = 0;

	if (!cf_null(v) && v->type != YAML_SEQUENCE_NODE) {
		cf_err(cf, v, obj, "%s must be a list of globs", key);
		return;
	}
	out = xcalloc(cf_size(v) + 1, sizeof *out);
	if (v->type == YAML_SEQUENCE_NODE) {
		for (it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			if ((g = cf_node(cf, *it)) == NULL)
				continue;
			if (g->type != YAML_SCALAR_NODE) {
				cf_err(cf, g, obj, "%s must be a list of "
				    "globs", key);
				bad = 1;
			} else if (cf_string(cf, g, obj, key, CF_EMPTY, &s) !=
			    1)
				bad = 1;
			else if (treeglob_valid(s, &cause) == -1) {
				cf_err(cf, g, obj, "%s: %s", key, cause);
				free(cause);
				cause = NULL;
				bad = 1;
			} else
				out[n++] = xstrdup(s);
		}
	}
	if (bad) {
		cf_strv_free(out);
		return;
	}
	cf_strv_free(*slot);
	*slot = out;
}

static cJSON *
cf_cj(cJSON *j)
{
	if (j == NULL)
		fatalx("cJSON: out of memory");
	return j;
}

static cJSON *
cf_json_scalar(const yaml_node_t *n)
{
	const char	*s = cf_text(n), *p;
	size_t		 digits = 0;
	int		 dot = 0;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cf_cj(cJSON_CreateString(s));
	if (cf_null(n))
		return cf_cj(cJSON_CreateNull());
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
		return cf_cj(cJSON_CreateTrue());
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
		return cf_cj(cJSON_CreateFalse());
	/* -?D+ or -?D+.D+, exact in a double (15 digits). */
	for (p = *s == '-' ? s + 1 : s; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && !dot && digits > 0 && p[1] != '\0')
			dot = 1;
		else
			break;
	}
	if (*p == '\0' && digits > 0 && digits <= 15)
		return cf_cj(cJSON_CreateNumber(strtod(s, NULL)));
	return cf_cj(cJSON_CreateString(s));
}

/* YAML to JSON; NULL with *why set: 1 too deep, 2 too large. */
static cJSON *
cf_json(struct cf *cf, const yaml_node_t *n, int depth, size_t *budget,
    int *why)
{
	yaml_node_item_t	*it;
	yaml_node_pair_t	*p;
	yaml_node_t		*k, *child;
	cJSON			*j, *sub;

	if (depth > CF_JSON_DEPTH) {
		*why = 1;
		return NULL;
	}
	if (*budget == 0) {
		*why = 2;
		return NULL;
	}
	(*budget)--;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return cf_json_scalar(n);
	case YAML_SEQUENCE_NODE:
		j = cf_cj(cJSON_CreateArray());
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++) {
			if ((child = cf_node(cf, *it)) == NULL)
				continue;
			if ((sub = cf_json(cf, child, depth + 1, budget,
			    why)) == NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToArray(j, sub);
		}
		return j;
	case YAML_MAPPING_NODE:
		j = cf_cj(cJSON_CreateObject());
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++) {
			k = cf_node(cf, p->key);
			child = cf_node(cf, p->value);
			if (k == NULL || k->type != YAML_SCALAR_NODE ||
			    child == NULL)
				continue;	/* reported by cf_scan() */
			if ((sub = cf_json(cf, child, depth + 1, budget,
			    why)) == NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToObject(j, cf_text(k), sub);
		}
		return j;
	default:
		return cf_cj(cJSON_CreateNull());
	}
}

static void
cf_json_object(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, char **slot)
{
	size_t	 budget = CF_JSON_NODES;
	cJSON	*j;
	char	*text;
	int	 why = 0;

	if (cf_null(v)) {
		cf_set(slot, DEF_JSON);
		return;
	}
	if (v->type != YAML_MAPPING_NODE) {
		cf_err(cf, v, obj, "%s must be a mapping", key);
		return;
	}
	if ((j = cf_json(cf, v, 0, &budget, &why)) == NULL) {
		if (why == 1)
			cf_err(cf, v, obj, "%s is nested more than %d levels "
			    "deep", key, CF_JSON_DEPTH);
		else
			cf_err(cf, v, obj, "%s holds more than %d values",
			    key, CF_JSON_NODES);
		return;
	}
	if ((text = cJSON_PrintUnformatted(j)) == NULL)
		fatalx("cJSON: out of memory");
	cf_set(slot, text);
	cJSON_free(text);
	cJSON_Delete(j);
}

static void
cf_create(struct cf *cf, const yaml_node_t *m, const char *obj,
    struct config_create *cr)
{
	yaml_node_t	*v;
	int		 b;

	if (cf_null(m))
		return;
	if (m->type != YAML_MAPPING_NODE) {
		cf_err(cf, m, obj, "create must be a mapping");
		return;
	}
	cf_keys(cf, m, obj, "create.", create_keys, NULL);
	if ((v = cf_get(cf, m, "from_source", NULL)) != NULL &&
	    cf_bool(cf, v, obj, "create.from_source", &b) == 1)
		cr->from_source = b;
	if ((v = cf_get(cf, m, "details", NULL)) != NULL)
		cf_json_object(cf, v, obj, "create.details", &cr->details_json);
	if ((v = cf_get(cf, m, "settings", NULL)) != NULL)
		cf_json_object(cf, v, obj, "create.settings",
		    &cr->settings_json);
}

/* The policy keys of m over pol (already a copy of its parent). */
static void
cf_policy(struct cf *cf, const yaml_node_t *m, const char *obj,
    struct config_policy *pol)
{
	yaml_node_t	*v;
	const char	*s;
	char		*name, *email, q[CF_QLEN];
	int		 i;

	if ((v = cf_get(cf, m, "track", NULL)) != NULL &&
	    cf_enum(cf, v, obj, "track", track_names, &i) == 1)
		pol->track = (enum config_track)i;
	if ((v = cf_get(cf, m, "branch", NULL)) != NULL &&
	    cf_string(cf, v, obj, "branch", 0, &s) == 1) {
		if (!cf_branch_ok(s))
			cf_err(cf, v, obj, "branch %s is not a valid git "
			    "branch name", cf_quote(q, s));
		else
			cf_set(&pol->branch, s);
	}
	if ((v = cf_get(cf, m, "version_type", NULL)) != NULL &&
	    cf_enum(cf, v, obj, "version_type", vtype_names, &i) == 1)
		pol->version_type = (enum config_vtype)i;
	if ((v = cf_get(cf, m, "build_timeout", NULL)) != NULL)
		cf_duration(cf, v, obj, "build_timeout", 0,
		    &pol->build_timeout_ms);
	if ((v = cf_get(cf, m, "reconcile_interval", NULL)) != NULL) {
		if (v->type == YAML_SCALAR_NODE && !cf_null(v) &&
		    strcmp(cf_text(v), "off") == 0)
			pol->reconcile_ms = 0;
		else
			cf_duration(cf, v, obj, "reconcile_interval",
			    CONFIG_MIN_POLL_MS, &pol->reconcile_ms);
	}
	if ((v = cf_get(cf, m, "approval", NULL)) != NULL &&
	    cf_enum(cf, v, obj, "approval", approval_names, &i) == 1)
		pol->approval = (enum config_approval)i;
	if ((v = cf_get(cf, m, "commit_message", NULL)) != NULL)
		cf_template(cf, v, obj, "commit_message", 0,
		    &pol->commit_message);
	if ((v = cf_get(cf, m, "release_notes", NULL)) != NULL)
		cf_template(cf, v, obj, "release_notes", CF_EMPTY,
		    &pol->release_notes);
	if ((v = cf_get(cf, m, "author", NULL)) != NULL &&
	    cf_string(cf, v, obj, "author", 0, &s) == 1) {
		if (cf_author(s, &name, &email) == -1)
			cf_err(cf, v, obj, "author must look like "
			    "\"Name <email>\"");
		else {
			free(pol->author_name);
			free(pol->author_email);
			pol->author_name = name;
			pol->author_email = email;
		}
	}
	if ((v = cf_get(cf, m, "preserve", NULL)) != NULL)
		cf_globs(cf, v, obj, "preserve", &pol->preserve);
	if ((v = cf_get(cf, m, "exclude", NULL)) != NULL)
		cf_globs(cf, v, obj, "exclude", &pol->exclude);
	if ((v = cf_get(cf, m, "create", NULL)) != NULL)
		cf_create(cf, v, obj, &pol->create);
}

/* The top level. */

/* "host:port" or "[v6]:port". */
static int
cf_listen(struct cf *cf, const yaml_node_t *v, const char *s)
{
	const char	*host, *end, *port, *p;
	long		 n = 0;

	if (s[0] == '[') {
		host = s + 1;
		if ((end = strchr(host, ']')) == NULL || end[1] != ':')
			goto bad;
		port = end + 2;
		for (p = host; p < end; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				goto bad;
	} else {
		host = s;
		if ((end = strchr(s, ':')) == NULL || strchr(end + 1, ':'))
			goto bad;
		port = end + 1;
		for (p = host; p < end; p++)
			if (!cf_isalnum((unsigned char)*p) &&
			    *p != '.' && *p != '-')
				goto bad;
	}
	if (end == host || *port == '\0' || strlen(port) > 5)
		goto bad;
	for (p = port; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		n = n * 10 + (*p - '0');
	}
	/* Port 0: any free port, logged at start (tests use it). */
	if (n > 65535) {
		cf_err(cf, v, NULL, "listen port must be between 0 and 65535");
		return -1;
	}
	return 0;
bad:
	cf_err(cf, v, NULL, "listen must be HOST:PORT (such as "
	    DEF_LISTEN ") or off");
	return -1;
}

static void
cf_top(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	struct sockaddr_un	 sun;
	yaml_node_t		*v;
	const char		*s;
	char			*sock = NULL;
	int			 i;

	cf_keys(cf, root, NULL, "", top_keys, NULL);
	if ((v = cf_get(cf, root, "state_dir", NULL)) != NULL)
		cf_abspath(cf, v, "state_dir", 0, &c->state_dir);
	if ((v = cf_get(cf, root, "log_level", NULL)) != NULL &&
	    cf_enum(cf, v, NULL, "log_level", level_names, &i) == 1)
		c->log_level = log_level_parse(level_names[i]);
	if ((v = cf_get(cf, root, "log_file", NULL)) != NULL)
		cf_abspath(cf, v, "log_file", CF_OPTIONAL, &c->log_file);
	if ((v = cf_get(cf, root, "workers", NULL)) != NULL)
		cf_int(cf, v, NULL, "workers", 1, CF_MAX_INT, &c->workers);
	if ((v = cf_get(cf, root, "poll_interval", NULL)) != NULL)
		cf_duration(cf, v, NULL, "poll_interval", CONFIG_MIN_POLL_MS,
		    &c->poll_ms);
	if ((v = cf_get(cf, root, "listen", NULL)) != NULL &&
	    cf_string(cf, v, NULL, "listen", 0, &s) == 1) {
		if (strcmp(s, "off") == 0)
			cf_set(&c->listen, NULL);
		else if (cf_listen(cf, v, s) == 0)
			cf_set(&c->listen, s);
	}
	if ((v = cf_get(cf, root, "control_socket", NULL)) != NULL &&
	    cf_abspath(cf, v, "control_socket", 0, &sock) == 1) {
		if (strlen(sock) >= sizeof sun.sun_path) {
			cf_err(cf, v, NULL, "control_socket is longer than "
			    "%zu bytes", sizeof sun.sun_path - 1);
			free(sock);
		} else {
			free(c->control_socket);
			c->control_socket = sock;
		}
	}
}

/* Clusters. */

/* http(s)://host[:port][/prefix], without user, query or "/v1". */
static char *
cf_url(struct cf *cf, const yaml_node_t *v, const char *obj, const char *key)
{
	const char	*s, *rest, *p, *colon;
	char		*url, q[CF_QLEN];
	size_t		 alen, n;
	long		 port;

	if (cf_string(cf, v, obj, key, 0, &s) != 1)
		return NULL;
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			cf_err(cf, v, obj, "%s must be plain ASCII without "
			    "spaces", key);
			return NULL;
		}
	}
	if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else {
		cf_err(cf, v, obj, "%s must start with http:// or https://",
		    key);
		return NULL;
	}
	alen = strcspn(rest, "/?#");
	if (memchr(rest, '@', alen) != NULL) {
		cf_err(cf, v, obj, "%s must not contain a user or password: "
		    "keys never live in the configuration", key);
		return NULL;
	}
	if (alen == 0) {
		cf_err(cf, v, obj, "%s has no host", key);
		return NULL;
	}
	if (strpbrk(rest, "?#") != NULL) {
		cf_err(cf, v, obj, "%s must not have a query or fragment", key);
		return NULL;
	}
	/* A port is what follows the last ':' that is outside [v6]. */
	colon = NULL;
	for (p = rest; p < rest + alen; p++) {
		if (*p == ':')
			colon = p;
		else if (*p == ']')
			colon = NULL;
	}
	if (colon != NULL) {
		port = 0;
		for (p = colon + 1; p < rest + alen && port <= 65535; p++) {
			if (*p < '0' || *p > '9')
				break;
			port = port * 10 + (*p - '0');
		}
		if (p != rest + alen || port < 1 || port > 65535) {
			cf_err(cf, v, obj, "%s has a bad port", key);
			return NULL;
		}
	}
	n = strlen(s);
	while (n > (size_t)(rest - s) + alen && s[n - 1] == '/')
		n--;
	if (n >= (size_t)(rest - s) + alen + 3 &&
	    strncmp(s + n - 3, "/v1", 3) == 0) {
		n -= 3;
		while (n > (size_t)(rest - s) + alen && s[n - 1] == '/')
			n--;
		url = xstrndup(s, n);
		cf_err(cf, v, obj, "%s must not end in /v1 (the client adds "
		    "it): write %s", key, cf_quote(q, url));
		free(url);
		return NULL;
	}
	return xstrndup(s, n);
}

/* The git URL when none is given: host api.X becomes git.X. */
static char *
cf_git_default(const char *api)
{
	const char	*host = strstr(api, "://") + 3;

	if (strncasecmp(host, "api.", 4) == 0)
		return xprintf("%.*sgit.%s", (int)(host - api), api, host + 4);
	return xstrdup(api);
}

/*
 * A file named in the configuration: absolute as written, else in
 * $CREDENTIALS_DIRECTORY (for key files, when set), else beside the
 * configuration. *show is the name for messages, relative when the
 * configuration's path was.
 */
static void
cf_resolve(struct cf *cf, const char *name, int creds, char **abs,
    char **show)
{
	if (name[0] == '/') {
		*abs = xstrdup(name);
		*show = xstrdup(name);
	} else if (creds && cf->creds != NULL) {
		*abs = cf_path_join(cf->creds, name);
		*show = xstrdup(*abs);
	} else {
		*abs = cf_path_join(cf->dir_abs, name);
		*show = cf->dir_show != NULL ?
		    cf_path_join(cf->dir_show, name) : xstrdup(name);
	}
}

/* The key's length without trailing whitespace; 0 when it has none,
 * SIZE_MAX when what is left is not one printable ASCII word. */
static size_t
cf_key_len(const char *buf, size_t len)
{
	size_t	 i;

	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		len--;
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			return SIZE_MAX;
	return len;
}

static void
cf_key_set(struct config_cluster *cl, const char *key, size_t len)
{
	cl->api_key = xstrndup(key, len);
	redact_add(cl->api_key);
	if (cl->key_owner != NULL)
		redact_add_basic(cl->key_owner, cl->api_key);
}

static void
cf_key_file(struct cf *cf, struct config_cluster *cl, const yaml_node_t *v,
    const char *obj)
{
	struct stat	 sb;
	const char	*s;
	char		*show = NULL, q[CF_QLEN], buf[CF_MAX_KEY + 2];
	size_t		 n = 0, len;
	ssize_t		 r;
	int		 fd, increds = 0;

	if (cf_string(cf, v, obj, "api_key_file", 0, &s) != 1)
		return;
	cf_resolve(cf, s, 1, &cl->api_key_file, &show);
	cf_quote(q, show);
	if (cf->creds != NULL) {
		len = strlen(cf->creds);
		increds = strncmp(cl->api_key_file, cf->creds, len) == 0 &&
		    cl->api_key_file[len] == '/';
	}
	fd = open(cl->api_key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
			cf_absent(cf, v, obj, "cannot read key file %s: %s", q,
			    strerror(errno));
		else
			cf_err(cf, v, obj, "cannot read key file %s: %s", q,
			    strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1) {
		cf_err(cf, v, obj, "cannot read key file %s: %s", q,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		cf_err(cf, v, obj, "key file %s is not a regular file", q);
		goto out;
	}
	if (!increds && (sb.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		cf_err(cf, v, obj, "key file %s is readable by group or "
		    "others (chmod 600)", q);
		goto out;
	}
	while (n < sizeof buf - 1) {
		if ((r = read(fd, buf + n, sizeof buf - 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			cf_err(cf, v, obj, "cannot read key file %s: %s", q,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CF_MAX_KEY)
		cf_err(cf, v, obj, "key file %s is larger than %d bytes", q,
		    CF_MAX_KEY);
	else if ((len = cf_key_len(buf, n)) == 0)
		cf_err(cf, v, obj, "key file %s is empty", q);
	else if (len == SIZE_MAX)
		cf_err(cf, v, obj, "key file %s: the key contains whitespace, "
		    "control or non-ASCII characters", q);
	else
		cf_key_set(cl, buf, len);
out:
	explicit_bzero(buf, sizeof buf);
	if (fd != -1)
		close(fd);
	free(show);
}

static void
cf_key_env(struct cf *cf, struct config_cluster *cl, const yaml_node_t *v,
    const char *obj)
{
	const char	*s, *val;
	char		 q[CF_QLEN];
	size_t		 len;

	if (cf_string(cf, v, obj, "api_key_env", 0, &s) != 1)
		return;
	if (!cf_env_name_ok(s)) {
		cf_err(cf, v, obj, "api_key_env %s is not a valid environment "
		    "variable name", cf_quote(q, s));
		return;
	}
	cl->api_key_env = xstrdup(s);
	if ((val = getenv(s)) == NULL)
		cf_absent(cf, v, obj, "environment variable %s is not set", s);
	else if (strlen(val) > CF_MAX_KEY)
		cf_err(cf, v, obj, "environment variable %s is longer than %d "
		    "bytes", s, CF_MAX_KEY);
	else if ((len = cf_key_len(val, strlen(val))) == 0)
		cf_err(cf, v, obj, "environment variable %s is empty", s);
	else if (len == SIZE_MAX)
		cf_err(cf, v, obj, "environment variable %s: the key contains "
		    "whitespace, control or non-ASCII characters", s);
	else
		cf_key_set(cl, val, len);
}

static void
cf_ca_file(struct cf *cf, struct config_cluster *cl, const yaml_node_t *v,
    const char *obj)
{
	struct stat	 sb;
	const char	*s;
	char		*show = NULL, q[CF_QLEN];
	int		 fd;

	if (cf_string(cf, v, obj, "ca_file", CF_OPTIONAL, &s) != 1)
		return;
	cf_resolve(cf, s, 0, &cl->ca_file, &show);
	cf_quote(q, show);
	fd = open(cl->ca_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
			cf_absent(cf, v, obj, "cannot read ca_file %s: %s", q,
			    strerror(errno));
		else
			cf_err(cf, v, obj, "cannot read ca_file %s: %s", q,
			    strerror(errno));
	} else {
		if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode))
			cf_err(cf, v, obj, "ca_file %s is not a regular file",
			    q);
		close(fd);
	}
	free(show);
}

static void
cf_cluster(struct cf *cf, struct config_cluster *cl, const yaml_node_t *m)
{
	yaml_node_t	*v, *f, *e, *fk = NULL, *ek = NULL;
	const char	*s;
	char		 obj[CF_QLEN + 16], q[CF_QLEN];

	snprintf(obj, sizeof obj, "cluster %s", cf_quote(q, cl->name));
	if (m->type != YAML_MAPPING_NODE) {
		cf_err(cf, m, NULL, "%s must be a mapping", obj);
		return;
	}
	cf_keys(cf, m, obj, "", cluster_keys, NULL);
	if ((v = cf_get(cf, m, "api", NULL)) == NULL)
		cf_err(cf, m, obj, "missing required key \"api\"");
	else
		cl->api = cf_url(cf, v, obj, "api");
	if ((v = cf_get(cf, m, "git", NULL)) != NULL && !cf_null(v))
		cl->git = cf_url(cf, v, obj, "git");
	else if (cl->api != NULL)
		cl->git = cf_git_default(cl->api);
	if ((v = cf_get(cf, m, "key_owner", NULL)) == NULL)
		cf_err(cf, m, obj, "missing required key \"key_owner\"");
	else if (cf_string(cf, v, obj, "key_owner", 0, &s) == 1) {
		if (!cf_algo_name_ok(s))
			cf_err(cf, v, obj, "key_owner %s: use letters, digits "
			    "and underscores, starting with a letter",
			    cf_quote(q, s));
		else
			cl->key_owner = xstrdup(s);
	}
	if ((v = cf_get(cf, m, "ca_file", NULL)) != NULL)
		cf_ca_file(cf, cl, v, obj);
	if ((v = cf_get(cf, m, "timeout", NULL)) != NULL)
		cf_duration(cf, v, obj, "timeout", 0, &cl->timeout_ms);
	if ((v = cf_get(cf, m, "max_parallel", NULL)) != NULL)
		cf_int(cf, v, obj, "max_parallel", 1, CF_MAX_INT,
		    &cl->max_parallel);

	f = cf_get(cf, m, "api_key_file", &fk);
	e = cf_get(cf, m, "api_key_env", &ek);
	if (f != NULL && e != NULL)
		cf_err(cf, fk->start_mark.index > ek->start_mark.index ?
		    fk : ek, obj, "set exactly one of api_key_file and "
		    "api_key_env");
	else if (f == NULL && e == NULL)
		cf_err(cf, m, obj, "set exactly one of api_key_file and "
		    "api_key_env");
	else if (f != NULL)
		cf_key_file(cf, cl, f, obj);
	else
		cf_key_env(cf, cl, e, obj);
}

static void
cf_clusters(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	struct config_cluster	*cl;
	yaml_node_pair_t	*p;
	yaml_node_t		*v, *k, *m;
	const char		*name;
	char			 q[CF_QLEN];

	if ((v = cf_get(cf, root, "clusters", NULL)) == NULL) {
		cf_err(cf, root, NULL, "missing required key \"clusters\"");
		return;
	}
	if (!cf_null(v) && v->type != YAML_MAPPING_NODE) {
		cf_err(cf, v, NULL, "clusters must be a mapping");
		return;
	}
	if (cf_size(v) == 0) {
		cf_err(cf, v, NULL, "clusters must name at least one cluster");
		return;
	}
	c->clusters = xcalloc(cf_size(v), sizeof *c->clusters);
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	    p++) {
		k = cf_node(cf, p->key);
		m = cf_node(cf, p->value);
		if (k == NULL || m == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by cf_scan() */
		name = cf_text(k);
		if (cf_is_apikey(name) || config_cluster_find(c, name) != NULL)
			continue;	/* reported by cf_scan() */
		if (!cf_name_ok(name, "-_"))
			cf_err(cf, k, NULL, "cluster name %s: use letters, "
			    "digits, '-' and '_' (at most %d)",
			    cf_quote(q, name), CF_MAX_NAME);
		cl = &c->clusters[c->nclusters++];
		cl->name = xstrdup(name);
		cl->line = (int)k->start_mark.line + 1;
		cl->timeout_ms = DEF_TIMEOUT_MS;
		cl->max_parallel = DEF_MAX_PARALLEL;
		cf_cluster(cf, cl, m);
	}
}

/* Algorithms: CLUSTER/OWNER/ALGO. */

/* Fills causes[] (up to 3) and returns how many; 0: *out is filled. */
static size_t
cf_algo_parse(const struct config *c, const char *spec, const char *what,
    struct config_algo *out, char **causes)
{
	struct config_cluster	*cl;
	const char		*p1, *p2;
	char			*cluster, *owner, *name, *all, q[CF_QLEN];
	char			 q2[CF_QLEN];
	size_t			 n = 0, i;
	const char		**names;

	memset(out, 0, sizeof *out);
	p1 = strchr(spec, '/');
	p2 = p1 != NULL ? strchr(p1 + 1, '/') : NULL;
	if (p2 == NULL || strchr(p2 + 1, '/') != NULL || p1 == spec ||
	    p2 == p1 + 1 || p2[1] == '\0') {
		causes[0] = xprintf("%s %s must be CLUSTER/OWNER/ALGO", what,
		    cf_quote(q, spec));
		return 1;
	}
	cluster = xstrndup(spec, (size_t)(p1 - spec));
	owner = xstrndup(p1 + 1, (size_t)(p2 - p1 - 1));
	name = xstrdup(p2 + 1);
	cf_quote(q2, spec);
	if ((cl = config_cluster_find(c, cluster)) == NULL) {
		names = xcalloc(c->nclusters + 1, sizeof *names);
		for (i = 0; i < c->nclusters; i++)
			names[i] = c->clusters[i].name;
		all = cf_join_words(names);
		causes[n++] = xprintf("unknown cluster %s (clusters: %s)",
		    cf_quote(q, cluster), all);
		free(all);
		free(names);
	}
	if (!cf_algo_name_ok(owner))
		causes[n++] = xprintf("owner name %s in %s: use letters, "
		    "digits and underscores, starting with a letter",
		    cf_quote(q, owner), q2);
	if (!cf_algo_name_ok(name))
		causes[n++] = xprintf("algorithm name %s in %s: use letters, "
		    "digits and underscores, starting with a letter",
		    cf_quote(q, name), q2);
	free(cluster);
	if (n != 0) {
		free(owner);
		free(name);
		return n;
	}
	out->cluster = cl;
	out->owner = owner;
	out->name = name;
	out->full = xstrdup(spec);
	return 0;
}

static int
cf_algo(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *what, struct config_algo *out)
{
	const char	*s;
	char		*causes[3];
	size_t		 n, i;

	if (cf_string(cf, v, obj, what, 0, &s) != 1)
		return -1;
	if (cf->c->nclusters == 0)
		return -1;	/* the clusters are reported broken */
	if ((n = cf_algo_parse(cf->c, s, what, out, causes)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		cf_err(cf, v, obj, "%s", causes[i]);
		free(causes[i]);
	}
	return -1;
}

/* Pairs. */

static void
cf_pair(struct cf *cf, struct config_pair *pr, struct cf_pos *pos,
    const yaml_node_t *m, size_t idx)
{
	yaml_node_item_t	*it;
	yaml_node_t		*v, *d1, *d2, *k1 = NULL, *k2 = NULL, *item;
	const char		*s;
	char			 obj[CF_QLEN + 16], q[CF_QLEN];

	pr->line = (int)m->start_mark.line + 1;
	cf_policy_copy(&pr->policy, &cf->defaults);
	snprintf(obj, sizeof obj, "pair #%zu", idx);
	if ((v = cf_get(cf, m, "name", NULL)) == NULL)
		cf_err(cf, m, obj, "missing required key \"name\"");
	else if (cf_string(cf, v, obj, "name", 0, &s) == 1) {
		snprintf(obj, sizeof obj, "pair %s", cf_quote(q, s));
		if (strlen(s) > CF_MAX_NAME)
			cf_err(cf, v, obj, "name is longer than %d characters",
			    CF_MAX_NAME);
		else if (!cf_name_ok(s, "._-"))
			cf_err(cf, v, obj, "name must use letters, digits, "
			    "'.', '-' and '_'");
		else {
			pr->name = xstrdup(s);
			pos->name = v;
		}
	}
	cf_keys(cf, m, obj, "", pair_keys, policy_keys);

	if ((v = cf_get(cf, m, "source", NULL)) == NULL)
		cf_err(cf, m, obj, "missing required key \"source\"");
	else if (cf_algo(cf, v, obj, "source", &pr->source) == 0)
		pos->source = v;

	d1 = cf_get(cf, m, "destination", &k1);
	d2 = cf_get(cf, m, "destinations", &k2);
	if (d1 != NULL && d2 != NULL)
		cf_err(cf, k1->start_mark.index > k2->start_mark.index ?
		    k1 : k2, obj, "set exactly one of destination and "
		    "destinations");
	else if (d1 == NULL && d2 == NULL)
		cf_err(cf, m, obj, "missing required key \"destination\" "
		    "(or \"destinations\")");
	else if (d1 != NULL) {
		pr->dests = xcalloc(1, sizeof *pr->dests);
		pos->dests = xcalloc(1, sizeof(yaml_node_t *));
		if (cf_algo(cf, d1, obj, "destination", &pr->dests[0]) == 0)
			pos->dests[pr->ndests++] = d1;
	} else if (!cf_null(d2) && d2->type != YAML_SEQUENCE_NODE)
		cf_err(cf, d2, obj, "destinations must be a list");
	else if (cf_size(d2) == 0)
		cf_err(cf, d2, obj, "destinations must list at least one "
		    "algorithm");
	else {
		pr->dests = xcalloc(cf_size(d2), sizeof *pr->dests);
		pos->dests = xcalloc(cf_size(d2), sizeof(yaml_node_t *));
		for (it = d2->data.sequence.items.start;
		    it < d2->data.sequence.items.top; it++) {
			if ((item = cf_node(cf, *it)) != NULL &&
			    cf_algo(cf, item, obj, "destination",
			    &pr->dests[pr->ndests]) == 0)
				pos->dests[pr->ndests++] = item;
		}
	}

	cf_policy(cf, m, obj, &pr->policy);
	if ((v = cf_get(cf, m, "poll_interval", NULL)) != NULL)
		cf_duration(cf, v, obj, "poll_interval", CONFIG_MIN_POLL_MS,
		    &pr->policy.poll_ms);
}

/* One destination, for the checks across pairs. */
struct cf_dest {
	const struct config_algo *a;
	size_t			  pair;
	size_t			  dest;
};

/* Algorithmia's names do not tell case apart. */
static int
cf_algocmp(const struct config_algo *x, const struct config_algo *y)
{
	int	 r;

	if ((r = strcmp(x->cluster->name, y->cluster->name)) != 0)
		return r;
	if ((r = strcasecmp(x->owner, y->owner)) != 0)
		return r;
	return strcasecmp(x->name, y->name);
}

static int
cf_destcmp(const void *a, const void *b)
{
	const struct cf_dest *x = a, *y = b;
	int		 r;

	if ((r = cf_algocmp(x->a, y->a)) != 0)
		return r;
	if (x->pair != y->pair)
		return x->pair < y->pair ? -1 : 1;
	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

struct cf_name {
	const char	*name;
	size_t		 pair;
};

static int
cf_namecmp(const void *a, const void *b)
{
	const struct cf_name *x = a, *y = b;
	int		 r;

	if ((r = strcmp(x->name, y->name)) != 0)
		return r;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

static size_t
cf_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static const char *
cf_pair_label(struct cf *cf, size_t i, char *buf, size_t len)
{
	if (cf->c->pairs[i].name != NULL)
		return cf->c->pairs[i].name;
	snprintf(buf, len, "#%zu", i + 1);
	return buf;
}

/* The pair that feeds algorithm a, or SIZE_MAX. */
static size_t
cf_feeder(const struct cf_dest *d, size_t nd, const struct config_algo *a)
{
	size_t	 lo = 0, hi = nd, mid;

	while (lo < hi) {	/* the first entry not below a */
		mid = lo + (hi - lo) / 2;
		if (cf_algocmp(d[mid].a, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < nd && cf_algocmp(d[lo].a, a) == 0)
		return d[lo].pair;
	return SIZE_MAX;
}

/*
 * A pair's source fed by a pair fed by ... the first pair: each
 * promotion would start the next forever. Every source has at most one
 * feeder, so next[] is a function and its cycles are the loops.
 */
static void
cf_loops(struct cf *cf, const struct cf_dest *d, size_t nd)
{
	struct config	*c = cf->c;
	struct cf_buf	 b = { NULL, 0, 0 };
	size_t		*next, *ring, i, j, k, top, n, len;
	unsigned char	*state;
	const char	*l;
	char		 tmp[32], q[CF_QLEN];

	next = xcalloc(c->npairs, sizeof *next);
	state = xcalloc(c->npairs, 1);
	for (i = 0; i < c->npairs; i++)
		next[i] = cf->pos[i].source != NULL ?
		    cf_feeder(d, nd, &c->pairs[i].source) : SIZE_MAX;
	for (i = 0; i < c->npairs; i++) {
		for (j = i; j != SIZE_MAX && state[j] == 0; j = next[j])
			state[j] = 1;	/* on this walk */
		if (j != SIZE_MAX && state[j] == 1) {
			/* j is on a new loop: report it at its last pair. */
			top = j;
			for (n = next[j]; n != j; n = next[n])
				if (n > top)
					top = n;
			/* next[] runs against the promotions: collect the
			 * loop, then print it in reverse. */
			ring = xcalloc(c->npairs + 1, sizeof *ring);
			len = 0;
			n = top;
			do {
				ring[len++] = n;
				n = next[n];
			} while (n != top);
			b.len = 0;
			cf_put(&b, "", 0);
			for (k = len + 1; k-- > 0;) {
				l = cf_pair_label(cf, ring[k % len], tmp,
				    sizeof tmp);
				cf_put(&b, l, strlen(l));
				if (k != 0)
					cf_put(&b, " -> ", 4);
			}
			cf_err(cf, cf->pos[top].source, NULL, "pair %s: "
			    "promotions form a loop: %s", cf_quote(q,
			    cf_pair_label(cf, top, tmp, sizeof tmp)), b.s);
			free(ring);
		}
		for (j = i; j != SIZE_MAX && state[j] == 1; j = next[j])
			state[j] = 2;
	}
	free(b.s);
	free(state);
	free(next);
}

static void
cf_cross(struct cf *cf)
{
	struct config		*c = cf->c;
	struct config_pair	*pr;
	struct cf_name		*names;
	struct cf_dest		*d;
	yaml_node_t		*at, *was;
	size_t			 i, j, nn = 0, nd = 0, first;
	char			 q[CF_QLEN], o[CF_QLEN], f[CF_QLEN], l[32];

	names = xcalloc(c->npairs + 1, sizeof *names);
	for (i = 0; i < c->npairs; i++) {
		if (c->pairs[i].name != NULL) {
			names[nn].name = c->pairs[i].name;
			names[nn++].pair = i;
		}
		nd += c->pairs[i].ndests;
	}
	qsort(names, nn, sizeof *names, cf_namecmp);
	for (i = 1, first = 0; i < nn; i++) {
		if (strcmp(names[i].name, names[first].name) != 0) {
			first = i;
			continue;
		}
		cf_err(cf, cf->pos[names[i].pair].name, NULL, "duplicate pair "
		    "name %s (first at line %zu)", cf_quote(q, names[i].name),
		    cf_line(cf->pos[names[first].pair].name));
	}
	free(names);

	d = xcalloc(nd + 1, sizeof *d);
	nd = 0;
	for (i = 0; i < c->npairs; i++) {
		pr = &c->pairs[i];
		cf_quote(o, cf_pair_label(cf, i, l, sizeof l));
		for (j = 0; j < pr->ndests; j++) {
			if (cf->pos[i].source != NULL &&
			    cf_algocmp(&pr->dests[j], &pr->source) == 0) {
				cf_err(cf, cf->pos[i].dests[j], NULL, "pair "
				    "%s: destination %s is the pair's own "
				    "source", o, cf_quote(q,
				    pr->dests[j].full));
				continue;
			}
			d[nd].a = &pr->dests[j];
			d[nd].pair = i;
			d[nd++].dest = j;
		}
	}
	qsort(d, nd, sizeof *d, cf_destcmp);
	for (i = 1, first = 0; i < nd; i++) {
		if (cf_algocmp(d[i].a, d[first].a) != 0) {
			first = i;
			continue;
		}
		at = cf->pos[d[i].pair].dests[d[i].dest];
		was = cf->pos[d[first].pair].dests[d[first].dest];
		cf_quote(o, cf_pair_label(cf, d[i].pair, l, sizeof l));
		cf_quote(q, d[i].a->full);
		if (d[i].pair == d[first].pair) {
			cf_err(cf, at, NULL, "pair %s: destination %s is "
			    "listed twice (first at line %zu)", o, q,
			    cf_line(was));
			continue;
		}
		cf_quote(f, cf_pair_label(cf, d[first].pair, l, sizeof l));
		cf_err(cf, at, NULL, "pair %s: destination %s is already fed "
		    "by pair %s (line %zu)", o, q, f, cf_line(was));
	}
	cf_loops(cf, d, nd);
	free(d);
}

static void
cf_pairs(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	yaml_node_item_t	*it;
	yaml_node_t		*v, *m;
	size_t			 i;

	if ((v = cf_get(cf, root, "pairs", NULL)) == NULL) {
		cf_err(cf, root, NULL, "missing required key \"pairs\"");
		return;
	}
	if (!cf_null(v) && v->type != YAML_SEQUENCE_NODE) {
		cf_err(cf, v, NULL, "pairs must be a list");
		return;
	}
	if (cf_size(v) == 0) {
		cf_err(cf, v, NULL, "pairs must list at least one pair");
		return;
	}
	c->pairs = xcalloc(cf_size(v), sizeof *c->pairs);
	cf->pos = xcalloc(cf_size(v), sizeof *cf->pos);
	for (i = 0, it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++, i++) {
		if ((m = cf_node(cf, *it)) == NULL)
			continue;
		if (m->type != YAML_MAPPING_NODE) {
			cf_err(cf, m, NULL, "pair #%zu must be a mapping",
			    i + 1);
			continue;
		}
		cf_pair(cf, &c->pairs[c->npairs], &cf->pos[c->npairs], m,
		    i + 1);
		c->npairs++;
	}
	if (c->npairs != 0)
		cf_cross(cf);
}

static void
cf_defaults(struct cf *cf, const yaml_node_t *root)
{
	yaml_node_t	*v;

	cf->defaults.poll_ms = cf->c->poll_ms;
	if ((v = cf_get(cf, root, "defaults", NULL)) == NULL || cf_null(v))
		return;
	if (v->type != YAML_MAPPING_NODE) {
		cf_err(cf, v, NULL, "defaults must be a mapping");
		return;
	}
	cf_keys(cf, v, "defaults", "", policy_keys, NULL);
	cf_policy(cf, v, "defaults", &cf->defaults);
}

/* Loading. */

/* The directory relative names in the file are resolved against. */
static void
cf_dirs(struct cf *cf)
{
	const char	*slash = strrchr(cf->path, '/'), *creds;
	char		*cwd;
	size_t		 n;

	if (slash != NULL)
		cf->dir_show = xstrndup(cf->path, slash == cf->path ? 1 :
		    (size_t)(slash - cf->path));
	if (cf->path[0] == '/')
		cf->dir_abs = xstrdup(cf->dir_show);
	else if ((cwd = getcwd(NULL, 0)) == NULL)
		cf->dir_abs = xstrdup(cf->dir_show != NULL ? cf->dir_show :
		    ".");
	else {
		cf->dir_abs = cf->dir_show != NULL ?
		    cf_path_join(cwd, cf->dir_show) : xstrdup(cwd);
		free(cwd);
	}
	if ((creds = getenv("CREDENTIALS_DIRECTORY")) != NULL &&
	    *creds != '\0') {
		n = strlen(creds);
		while (n > 1 && creds[n - 1] == '/')
			n--;
		cf->creds = xstrndup(creds, n);
	}
}

/* The whole file, at most max bytes; -1 with *what ("open", "read"). */
static int
cf_read(const char *path, size_t max, char **out, size_t *outlen,
    const char **what)
{
	char	*buf;
	size_t	 n = 0;
	ssize_t	 r;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		*what = "cannot open";
		return -1;
	}
	buf = xmalloc(max + 2);
	while (n <= max) {
		if ((r = read(fd, buf + n, max + 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			*what = "cannot read";
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		errno = EFBIG;
		*what = NULL;
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static void
cf_syntax(struct cf *cf, yaml_parser_t *parser, const char *buf, size_t len)
{
	yaml_mark_t	 m = parser->problem_mark;
	size_t		 i;

	if (parser->error == YAML_READER_ERROR) {
		/* The reader counts bytes only: find line and column. */
		memset(&m, 0, sizeof m);
		for (i = 0; i < parser->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				m.line++;
				m.column = 0;
			} else
				m.column++;
		}
	}
	cf_vadd_mark(cf, &m, "syntax error: %s", parser->problem != NULL ?
	    parser->problem : "unknown problem");
}

int
config_load(struct config **out, const char *path, int flags, char **errors)
{
	static const yaml_mark_t top = { 0, 0, 0 };
	struct cf	 cf;
	yaml_parser_t	 parser;
	yaml_node_t	*root;
	unsigned char	*seen;
	const char	*what;
	char		*buf = NULL;
	size_t		 len = 0, i;
	int		 loaded = 0;

	*out = NULL;
	*errors = NULL;
	memset(&cf, 0, sizeof cf);
	cf.path = path;
	cf.flags = flags;
	cf.c = xcalloc(1, sizeof *cf.c);
	cf.c->path = xstrdup(path);
	cf_builtin(cf.c, &cf.defaults);
	cf_dirs(&cf);

	if (cf_read(path, CF_MAX_FILE, &buf, &len, &what) == -1) {
		if (what != NULL)
			cf_err(&cf, NULL, NULL, "%s: %s", what,
			    strerror(errno));
		else
			cf_err(&cf, NULL, NULL, "larger than %d bytes",
			    CF_MAX_FILE);
		goto done;
	}
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
	    len);
	if (!yaml_parser_load(&parser, &cf.doc)) {
		cf_syntax(&cf, &parser, buf, len);
		yaml_parser_delete(&parser);
		goto done;
	}
	yaml_parser_delete(&parser);
	loaded = 1;
	if ((root = yaml_document_get_root_node(&cf.doc)) == NULL ||
	    cf_null(root)) {
		cf_vadd_mark(&cf, &top, "empty configuration");
		goto done;
	}
	if (root->type != YAML_MAPPING_NODE) {
		cf_err(&cf, root, NULL, "the configuration must be a mapping");
		goto done;
	}
	seen = xcalloc((size_t)(cf.doc.nodes.top - cf.doc.nodes.start), 1);
	cf_scan(&cf, root, seen, 0);
	free(seen);
	cf_top(&cf, root);
	cf_clusters(&cf, root);
	cf_defaults(&cf, root);
	cf_pairs(&cf, root);
done:
	if (loaded)
		yaml_document_delete(&cf.doc);
	free(buf);
	*errors = cf_format(&cf);
	for (i = 0; i < cf.nerrs; i++)
		free(cf.errs[i].text);
	free(cf.errs);
	if (cf.pos != NULL) {
		for (i = 0; i < cf.c->npairs; i++)
			free(cf.pos[i].dests);
		free(cf.pos);
	}
	cf_policy_clear(&cf.defaults);
	free(cf.dir_abs);
	free(cf.dir_show);
	free(cf.creds);
	if (cf.nfatal != 0) {
		config_free(cf.c);
		return -1;
	}
	*out = cf.c;
	return 0;
}

/* The tree. */

void
config_algo_clear(struct config_algo *a)
{
	free(a->owner);
	free(a->name);
	free(a->full);
	memset(a, 0, sizeof *a);
}

int
config_algo_parse(const struct config *c, const char *spec,
    struct config_algo *out, char **cause)
{
	char	*causes[3];
	size_t	 n, i;

	if ((n = cf_algo_parse(c, spec, "algorithm", out, causes)) == 0)
		return 0;
	*cause = causes[0];
	for (i = 1; i < n; i++)
		free(causes[i]);
	return -1;
}

void
config_free(struct config *c)
{
	struct config_cluster	*cl;
	struct config_pair	*pr;
	size_t			 i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nclusters; i++) {
		cl = &c->clusters[i];
		free(cl->name);
		free(cl->api);
		free(cl->git);
		free(cl->key_owner);
		free(cl->api_key_file);
		free(cl->api_key_env);
		if (cl->api_key != NULL) {
			explicit_bzero(cl->api_key, strlen(cl->api_key));
			free(cl->api_key);
		}
		free(cl->ca_file);
	}
	free(c->clusters);
	for (i = 0; i < c->npairs; i++) {
		pr = &c->pairs[i];
		free(pr->name);
		config_algo_clear(&pr->source);
		for (j = 0; j < pr->ndests; j++)
			config_algo_clear(&pr->dests[j]);
		free(pr->dests);
		cf_policy_clear(&pr->policy);
	}
	free(c->pairs);
	free(c->path);
	free(c->state_dir);
	free(c->log_file);
	free(c->listen);
	free(c->control_socket);
	free(c);
}

size_t
config_ndests(const struct config *c)
{
	size_t	 i, n = 0;

	for (i = 0; i < c->npairs; i++)
		n += c->pairs[i].ndests;
	return n;
}

struct config_cluster *
config_cluster_find(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nclusters; i++)
		if (strcmp(c->clusters[i].name, name) == 0)
			return &c->clusters[i];
	return NULL;
}

struct config_pair *
config_pair_find(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->npairs; i++)
		if (c->pairs[i].name != NULL &&
		    strcmp(c->pairs[i].name, name) == 0)
			return &c->pairs[i];
	return NULL;
}

const char *
config_vtype_name(enum config_vtype v)
{
	if ((unsigned)v >= sizeof vtype_names / sizeof vtype_names[0] - 1)
		return "unknown";
	return vtype_names[v];
}

const char *
config_track_name(enum config_track t)
{
	if ((unsigned)t >= sizeof track_names / sizeof track_names[0] - 1)
		return "unknown";
	return track_names[t];
}

const char *
config_approval_name(enum config_approval a)
{
	if ((unsigned)a >= sizeof approval_names / sizeof approval_names[0] - 1)
		return "unknown";
	return approval_names[a];
}
