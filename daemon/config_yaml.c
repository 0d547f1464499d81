/* config_yaml.c: YAML node access and the typed values read from it
 * (strings, integers, booleans, durations, enums, paths, globs, JSON). */
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "duration.h"
#include "log.h"
#include "template.h"
#include "treeglob.h"
#include "xmalloc.h"

char *
config_yaml_path_join(const char *dir, const char *name)
{
	size_t	 n = strlen(dir);

	if (n > 0 && dir[n - 1] == '/')
		return xprintf("%s%s", dir, name);
	return xprintf("%s/%s", dir, name);
}

/* YAML nodes. */

yaml_node_t *
config_yaml_node(struct cf *cf, int id)
{
	return yaml_document_get_node(cf->doc, id);
}

const char *
config_yaml_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Plain "", "~" and "null": YAML's null, "not set". */
int
config_yaml_null(const yaml_node_t *n)
{
	const char	*s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = config_yaml_text(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

size_t
config_yaml_size(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top -
		    n->data.mapping.pairs.start);
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top -
		    n->data.sequence.items.start);
	return 0;
}

/* The values of keys a and b of m, at most one of them set: both is
 * reported (at the later key) and gives -1. */
int
config_yaml_either(struct cf *cf, const yaml_node_t *m, const char *obj,
    const char *a, const char *b, yaml_node_t **va, yaml_node_t **vb)
{
	yaml_node_t	*ka = NULL, *kb = NULL;

	*va = config_yaml_get(cf, m, a, &ka);
	*vb = config_yaml_get(cf, m, b, &kb);
	if (*va == NULL || *vb == NULL)
		return 0;
	config_diag_err(cf,
	    ka->start_mark.index > kb->start_mark.index ? ka : kb,
	    obj, "set exactly one of %s and %s", a, b);
	return -1;
}

/* The value of key in mapping m (its first occurrence), or NULL. */
yaml_node_t *
config_yaml_get(struct cf *cf, const yaml_node_t *m, const char *key,
    yaml_node_t **keynode)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		k = config_yaml_node(cf, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp(config_yaml_text(k), key) == 0) {
			if (keynode != NULL)
				*keynode = k;
			return config_yaml_node(cf, p->value);
		}
	}
	return NULL;
}

int
config_yaml_string(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int flags, const char **out)
{
	const char	*s;
	size_t		 i, len;

	if (v->type != YAML_SCALAR_NODE) {
		config_diag_err(cf, v, obj, "%s must be a string", key);
		return -1;
	}
	if (config_yaml_null(v)) {
		if (flags & CF_EMPTY) {
			*out = "";
			return 1;
		}
		if (flags & CF_OPTIONAL)
			return 0;
		config_diag_err(cf, v, obj, "%s must not be empty", key);
		return -1;
	}
	s = config_yaml_text(v);
	len = v->data.scalar.length;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((flags & CF_TEXT) && (ch == '\n' || ch == '\t'))
			continue;
		if (ch < 0x20 || ch == 0x7f) {
			config_diag_err(cf, v, obj,
			    "%s must not contain control "
			    "characters", key);
			return -1;
		}
	}
	if (len == 0 && !(flags & CF_EMPTY)) {
		config_diag_err(cf, v, obj, "%s must not be empty", key);
		return -1;
	}
	*out = s;
	return 1;
}

int
config_yaml_int(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int lo, int hi, int *out)
{
	const char	*s;
	int		 n = 0;

	if (v->type != YAML_SCALAR_NODE ||
	    v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		goto bad;
	s = config_yaml_text(v);
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
	config_diag_err(cf, v, obj, "%s must be an integer between %d and %d",
	    key, lo, hi);
	return -1;
}

int
config_yaml_bool(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int *out)
{
	const char	*s;

	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		s = config_yaml_text(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
			*out = 1;
			return 1;
		}
		if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
			*out = 0;
			return 1;
		}
	}
	config_diag_err(cf, v, obj, "%s must be true or false", key);
	return -1;
}

/* A duration of at least min_ms, or more than 0 when min_ms is 0. */
int
config_yaml_duration(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, uint64_t min_ms, uint64_t *out)
{
	uint64_t	 ms;
	char		*cause = NULL, buf[32];

	if (v->type != YAML_SCALAR_NODE || config_yaml_null(v)) {
		config_diag_err(cf, v, obj, "%s must be a duration such as 30s",
		    key);
		return -1;
	}
	if (duration_parse(config_yaml_text(v), &ms, &cause) == -1) {
		config_diag_err(cf, v, obj, "%s: %s", key, cause);
		free(cause);
		return -1;
	}
	if (min_ms == 0 && ms == 0) {
		config_diag_err(cf, v, obj, "%s must be longer than 0s", key);
		return -1;
	}
	if (ms < min_ms) {
		duration_format(min_ms, buf, sizeof buf);
		config_diag_err(cf, v, obj, "%s must be at least %s", key, buf);
		return -1;
	}
	*out = ms;
	return 1;
}

int
config_yaml_enum(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, const char *const *names, int *out)
{
	const char	*sug = NULL;
	char		*all;
	int		 i;

	if (v->type == YAML_SCALAR_NODE) {
		for (i = 0; names[i] != NULL; i++) {
			if (strcmp(config_yaml_text(v), names[i]) == 0) {
				*out = i;
				return 1;
			}
		}
		sug = config_diag_suggest(config_yaml_text(v), names, NULL);
	}
	all = config_diag_join(names);
	if (sug != NULL)
		config_diag_err(cf, v, obj,
		    "%s must be one of: %s (did you mean "
		    "\"%s\"?)", key, all, sug);
	else
		config_diag_err(cf, v, obj, "%s must be one of: %s", key, all);
	free(all);
	return -1;
}

/* Replaces *slot with a copy of s. */
void
config_yaml_set(char **slot, const char *s)
{
	free(*slot);
	*slot = s != NULL ? xstrdup(s) : NULL;
}

/* An absolute path with no trailing '/' (other than "/" itself). */
int
config_yaml_abspath(struct cf *cf, const yaml_node_t *v, const char *key,
    int flags,
    char **slot)
{
	const char	*s;
	size_t		 n;
	int		 rv;

	if ((rv = config_yaml_string(cf, v, NULL, key, flags, &s)) != 1)
		return rv;
	if (s[0] != '/') {
		config_diag_err(cf, v, NULL, "%s must be an absolute path",
		    key);
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

struct config_yaml_key {
	const char	*s;
	size_t		 len;
	size_t		 i;
	yaml_node_t	*n;
};

static int
config_yaml_keycmp(const void *a, const void *b)
{
	const struct config_yaml_key *x = a, *y = b;
	int		 r;

	r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (r == 0 && x->len != y->len)
		r = x->len < y->len ? -1 : 1;
	if (r == 0 && x->i != y->i)
		r = x->i < y->i ? -1 : 1;
	return r;
}

static void
config_yaml_scan_keys(struct cf *cf, const yaml_node_t *m)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;
	struct config_yaml_key	*keys;
	size_t			 n = 0, i, first = 0;
	char			 q[CF_QLEN];

	keys = xreallocarray(NULL, config_yaml_size(m) + 1, sizeof *keys);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		if ((k = config_yaml_node(cf, p->key)) == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			config_diag_err(cf, k, NULL, "keys must be strings");
			continue;
		}
		if (config_schema_is_apikey(config_yaml_text(k)))
			config_diag_err(cf, k, NULL,
			    "api keys never live in the "
			    "configuration: use api_key_file or api_key_env");
		keys[n].s = config_yaml_text(k);
		keys[n].len = k->data.scalar.length;
		keys[n].i = n;
		keys[n].n = k;
		n++;
	}
	qsort(keys, n, sizeof *keys, config_yaml_keycmp);
	for (i = 1; i < n; i++) {
		if (keys[i].len == keys[first].len &&
		    memcmp(keys[i].s, keys[first].s, keys[i].len) == 0)
			config_diag_err(cf, keys[i].n, NULL, "duplicate key %s "
			    "(first at line %zu)", config_diag_quote(q,
			    keys[i].s),
			    keys[first].n->start_mark.line + 1);
		else
			first = i;
	}
	free(keys);
}

void
config_yaml_scan(struct cf *cf, yaml_node_t *n, unsigned char *seen, int depth)
{
	yaml_node_item_t	*it;
	yaml_node_pair_t	*p;
	yaml_node_t		*child;
	size_t			 idx = (size_t)(n - cf->doc->nodes.start);

	if (seen[idx])
		return;		/* an alias: already looked at */
	seen[idx] = 1;
	if (depth > CF_MAX_DEPTH) {
		if (!cf->toodeep)
			config_diag_err(cf, n, NULL,
			    "nested more than %d levels "
			    "deep", CF_MAX_DEPTH);
		cf->toodeep = 1;
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++)
			if ((child = config_yaml_node(cf, *it)) != NULL)
				config_yaml_scan(cf, child, seen, depth + 1);
	} else if (n->type == YAML_MAPPING_NODE) {
		config_yaml_scan_keys(cf, n);
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++)
			if ((child = config_yaml_node(cf, p->value)) != NULL)
				config_yaml_scan(cf, child, seen, depth + 1);
	}
}

/* An anchor seen by the pre-pass, and how many values it stands for. */
struct config_yaml_anchor {
	char	*name;
	size_t	 size;
};

/* The values an alias of name stands for; 0 for an unknown anchor (the
 * loader reports it). Few anchors (CF_MAX_ANCHORS): a list will do. */
static size_t
config_yaml_anchor_size(const struct config_yaml_anchor *a, size_t n,
    const char *name)
{
	while (n-- > 0)
		if (strcmp(a[n].name, name) == 0)
			return a[n].size;
	return 0;
}

/*
 * One pass over the events before the loader, which would otherwise be
 * given what it takes minutes or gigabytes to load:
 *
 * - libyaml's scanner looks at every open flow collection for each token
 *   it reads, so its time grows with the square of the nesting: a
 *   megabyte of '[' took minutes. The pass stops at CF_SCAN_DEPTH
 *   levels, reporting where CF_MAX_DEPTH was passed; files less deep go
 *   on to the loader and config_yaml_scan(), so that all their problems
 *   are reported.
 * - Aliases make a document a graph, and whoever walks it as a tree
 *   (nine levels of ten aliases: a billion values) reads it
 *   exponentially often. The pass counts the values of the file as
 *   they would be with every alias replaced by what it stands for, and
 *   refuses the file past what is left of CF_MAX_NODES for the whole
 *   configuration; that also caps the loader's memory.
 * - libyaml's loader looks each alias up in a list of the anchors: the
 *   pass caps both (CF_MAX_ANCHORS, CF_MAX_ALIASES).
 *
 * 0 go on (a syntax error is the loader's to report), -1 reported.
 */
int
config_yaml_prescan(struct cf *cf, const char *buf, size_t len)
{
	struct config_yaml_anchor	*anchors;
	struct {
		size_t		 start;		/* values before it */
		char		*anchor;
	}			 stack[CF_SCAN_DEPTH + 1];
	yaml_parser_t		 parser;
	yaml_event_t		 ev;
	yaml_mark_t		 deep;
	const char		*anchor;
	char			*closed;
	size_t			 nodes = 0, nanchors = 0, naliases = 0, i;
	size_t			 size;
	int			 depth = 0, rv = 0, done = 0;

	memset(&deep, 0, sizeof deep);
	anchors = xcalloc(CF_MAX_ANCHORS, sizeof *anchors);
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && yaml_parser_parse(&parser, &ev)) {
		anchor = closed = NULL;
		size = 0;
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == CF_MAX_DEPTH + 1)
				deep = ev.start_mark;
			if (depth == CF_SCAN_DEPTH) {
				config_diag_mark(cf, &deep, "nested more than "
				    "%d levels deep", CF_MAX_DEPTH);
				rv = -1;
				done = 1;
				break;
			}
			stack[depth].start = nodes;
			anchor = (const char *)(ev.type ==
			    YAML_SEQUENCE_START_EVENT ?
			    ev.data.sequence_start.anchor :
			    ev.data.mapping_start.anchor);
			stack[depth].anchor = anchor != NULL ?
			    xstrdup(anchor) : NULL;
			anchor = NULL;	/* named when it ends */
			depth++;
			size = 1;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth == 0)
				break;
			depth--;
			anchor = closed = stack[depth].anchor;
			break;
		case YAML_SCALAR_EVENT:
			anchor = (const char *)ev.data.scalar.anchor;
			size = 1;
			break;
		case YAML_ALIAS_EVENT:
			if (++naliases > CF_MAX_ALIASES) {
				config_diag_mark(cf, &ev.start_mark, "more "
				    "than %d aliases", CF_MAX_ALIASES);
				rv = -1;
				done = 1;
				break;
			}
			size = config_yaml_anchor_size(anchors, nanchors,
			    (const char *)ev.data.alias.anchor);
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		if (!done && size > cf->nodes_left - nodes) {
			if (ev.type == YAML_ALIAS_EVENT)
				config_diag_mark(cf, &ev.start_mark, "aliases "
				    "expand the configuration past %d values",
				    CF_MAX_NODES);
			else
				config_diag_mark(cf, &ev.start_mark, "the "
				    "configuration holds more than %d values",
				    CF_MAX_NODES);
			rv = -1;
			done = 1;
		}
		nodes += size;
		if (!done && anchor != NULL) {
			size = ev.type == YAML_SCALAR_EVENT ? 1 :
			    nodes - stack[depth].start;
			if (nanchors == CF_MAX_ANCHORS) {
				config_diag_mark(cf, &ev.start_mark, "more "
				    "than %d anchors", CF_MAX_ANCHORS);
				rv = -1;
				done = 1;
			} else {
				anchors[nanchors].name = xstrdup(anchor);
				anchors[nanchors++].size = size;
			}
		}
		free(closed);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (depth-- > 0)
		free(stack[depth].anchor);
	for (i = 0; i < nanchors; i++)
		free(anchors[i].name);
	free(anchors);
	if (rv == 0)
		cf->nodes_left -= nodes;
	return rv;
}

/* NULL-terminated lists of strings. */

char **
config_yaml_strv_dup(char *const *v)
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

void
config_yaml_strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int
config_yaml_template(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, int flags, char **slot)
{
	const char	*s;
	char		*cause = NULL;

	if (config_yaml_string(cf, v, obj, key, CF_TEXT | flags, &s) != 1)
		return -1;
	if (template_check(s, &cause) == -1) {
		config_diag_err(cf, v, obj, "%s: %s", key, cause);
		free(cause);
		return -1;
	}
	config_yaml_set(slot, s);
	return 1;
}

/* A list of globs (see treeglob.h); null is the empty list. */
void
config_yaml_globs(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, char ***slot)
{
	yaml_node_item_t	*it;
	yaml_node_t		*g;
	const char		*s;
	char			**out, *cause = NULL;
	size_t			 n = 0;
	int			 bad = 0;

	if (!config_yaml_null(v) && v->type != YAML_SEQUENCE_NODE) {
		config_diag_err(cf, v, obj, "%s must be a list of globs", key);
		return;
	}
	out = xcalloc(config_yaml_size(v) + 1, sizeof *out);
	if (v->type == YAML_SEQUENCE_NODE) {
		for (it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			if ((g = config_yaml_node(cf, *it)) == NULL)
				continue;
			if (g->type != YAML_SCALAR_NODE) {
				config_diag_err(cf, g, obj,
				    "%s must be a list of "
				    "globs", key);
				bad = 1;
			} else if (config_yaml_string(cf, g, obj, key, CF_EMPTY,
			    &s) != 1)
				bad = 1;
			else if (treeglob_valid(s, &cause) == -1) {
				config_diag_err(cf, g, obj, "%s: %s", key,
				    cause);
				free(cause);
				cause = NULL;
				bad = 1;
			} else
				out[n++] = xstrdup(s);
		}
	}
	if (bad) {
		config_yaml_strv_free(out);
		return;
	}
	config_yaml_strv_free(*slot);
	*slot = out;
}

static cJSON *
config_yaml_cj(cJSON *j)
{
	if (j == NULL)
		fatalx("cJSON: out of memory");
	return j;
}

static cJSON *
config_yaml_json_scalar(const yaml_node_t *n)
{
	const char	*s = config_yaml_text(n), *p;
	size_t		 digits = 0;
	int		 dot = 0;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return config_yaml_cj(cJSON_CreateString(s));
	if (config_yaml_null(n))
		return config_yaml_cj(cJSON_CreateNull());
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
		return config_yaml_cj(cJSON_CreateTrue());
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
		return config_yaml_cj(cJSON_CreateFalse());
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
		return config_yaml_cj(cJSON_CreateNumber(strtod(s, NULL)));
	return config_yaml_cj(cJSON_CreateString(s));
}

/* YAML to JSON; NULL with *why set: 1 too deep, 2 too large. */
cJSON *
config_yaml_json(struct cf *cf, const yaml_node_t *n, int depth, size_t *budget,
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
		return config_yaml_json_scalar(n);
	case YAML_SEQUENCE_NODE:
		j = config_yaml_cj(cJSON_CreateArray());
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++) {
			if ((child = config_yaml_node(cf, *it)) == NULL)
				continue;
			if ((sub = config_yaml_json(cf, child, depth + 1,
			    budget,
			    why)) == NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToArray(j, sub);
		}
		return j;
	case YAML_MAPPING_NODE:
		j = config_yaml_cj(cJSON_CreateObject());
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++) {
			k = config_yaml_node(cf, p->key);
			child = config_yaml_node(cf, p->value);
			if (k == NULL || k->type != YAML_SCALAR_NODE ||
			    child == NULL)
				continue;	/* reported by config_yaml_scan() */
			if ((sub = config_yaml_json(cf, child, depth + 1,
			    budget,
			    why)) == NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			cJSON_AddItemToObject(j, config_yaml_text(k), sub);
		}
		return j;
	default:
		return config_yaml_cj(cJSON_CreateNull());
	}
}
