/* datamanifest.c: what a route copied of hosted data, file by file, kept
 * as routes/PAIR/DEST/data.json plus an append-only journal of copies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomicfile.h"
#include "datamanifest.h"
#include "fileformat.h"
#include "log.h"
#include "xmalloc.h"

#define DATAMANIFEST_MAX	(256 * 1024 * 1024)	/* bytes read */
#define DATAMANIFEST_NAME	"data.json"
#define DATAMANIFEST_JOURNAL	"data.journal"

static void
datamanifest_file_clear(struct datamanifest_file *f)
{
	free(f->name);
	free(f->src_modified);
	memset(f, 0, sizeof *f);
}

static void
datamanifest_start_clear(struct datamanifest_start *s)
{
	free(s->name);
	free(s->src_modified);
	free(s->dst_modified);
	memset(s, 0, sizeof *s);
}

static void
datamanifest_coll_clear(struct datamanifest_coll *c)
{
	size_t	 i;

	for (i = 0; i < c->nfiles; i++)
		datamanifest_file_clear(&c->files[i]);
	free(c->files);
	for (i = 0; i < c->nstarts; i++)
		datamanifest_start_clear(&c->starts[i]);
	free(c->starts);
	free(c->source);
	free(c->destination);
	memset(c, 0, sizeof *c);
}

static void
datamanifest_version_clear(struct datamanifest_version *v)
{
	size_t	 i;

	for (i = 0; i < v->nfiles; i++)
		free(v->files[i]);
	free(v->files);
	free(v->source_commit);
	free(v->version);
	memset(v, 0, sizeof *v);
}

void
datamanifest_clear(struct datamanifest *m)
{
	size_t	 i;

	for (i = 0; i < m->ncolls; i++)
		datamanifest_coll_clear(&m->colls[i]);
	free(m->colls);
	for (i = 0; i < m->nversions; i++)
		datamanifest_version_clear(&m->versions[i]);
	free(m->versions);
	free(m->dir);
	memset(m, 0, sizeof *m);
}

/* Where name is, or would go, in c's sorted files; *found set. */
static size_t
datamanifest_index(const struct datamanifest_coll *c, const char *name,
    int *found)
{
	size_t	 lo = 0, hi = c->nfiles, mid;
	int	 cmp;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(c->files[mid].name, name);
		if (cmp == 0) {
			*found = 1;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct datamanifest_file *
datamanifest_find(const struct datamanifest_coll *c, const char *name)
{
	size_t	 i;
	int	 found;

	i = datamanifest_index(c, name, &found);
	return found ? &c->files[i] : NULL;
}

const struct datamanifest_start *
datamanifest_started(const struct datamanifest_coll *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nstarts; i++)
		if (strcmp(c->starts[i].name, name) == 0)
			return &c->starts[i];
	return NULL;
}

/* The copy of name, if one was begun, is over. */
static void
datamanifest_start_end(struct datamanifest_coll *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nstarts; i++) {
		if (strcmp(c->starts[i].name, name) != 0)
			continue;
		datamanifest_start_clear(&c->starts[i]);
		memmove(&c->starts[i], &c->starts[i + 1],
		    (c->nstarts - i - 1) * sizeof *c->starts);
		c->nstarts--;
		return;
	}
}

static void
datamanifest_start_put(struct datamanifest_coll *c,
    const struct datamanifest_start *s)
{
	struct datamanifest_start	*slot;

	datamanifest_start_end(c, s->name);
	c->starts = xreallocarray(c->starts, c->nstarts + 1,
	    sizeof *c->starts);
	slot = &c->starts[c->nstarts++];
	slot->name = xstrdup(s->name);
	slot->src_modified = xstrdup(s->src_modified);
	slot->src_size = s->src_size;
	slot->dst_size = s->dst_size;
	slot->dst_modified = s->dst_size >= 0 && s->dst_modified != NULL ?
	    xstrdup(s->dst_modified) : NULL;
}

static void
datamanifest_put(struct datamanifest_coll *c,
    const struct datamanifest_file *f, const char *name)
{
	struct datamanifest_file	*slot;
	size_t				 i;
	int				 found;

	datamanifest_start_end(c, name);
	i = datamanifest_index(c, name, &found);
	if (found)
		datamanifest_file_clear(&c->files[i]);
	else {
		if (c->nfiles == c->cap) {
			c->cap = c->cap == 0 ? 16 : c->cap * 2;
			c->files = xreallocarray(c->files, c->cap,
			    sizeof *c->files);
		}
		memmove(&c->files[i + 1], &c->files[i],
		    (c->nfiles - i) * sizeof *c->files);
		c->nfiles++;
	}
	slot = &c->files[i];
	*slot = *f;
	slot->name = xstrdup(name);
	slot->src_modified = xstrdup(f->src_modified != NULL ?
	    f->src_modified : "");
}

static void
datamanifest_drop(struct datamanifest_coll *c, const char *name)
{
	size_t	 i;
	int	 found;

	datamanifest_start_end(c, name);
	i = datamanifest_index(c, name, &found);
	if (!found)
		return;
	datamanifest_file_clear(&c->files[i]);
	memmove(&c->files[i], &c->files[i + 1],
	    (c->nfiles - i - 1) * sizeof *c->files);
	c->nfiles--;
}

struct datamanifest_coll *
datamanifest_coll(struct datamanifest *m, const char *source,
    const char *destination)
{
	struct datamanifest_coll	*c;
	size_t				 i;

	for (i = 0; i < m->ncolls; i++) {
		c = &m->colls[i];
		if (strcmp(c->source, source) == 0 &&
		    strcmp(c->destination, destination) == 0)
			return c;
	}
	m->colls = xreallocarray(m->colls, m->ncolls + 1, sizeof *m->colls);
	c = &m->colls[m->ncolls++];
	memset(c, 0, sizeof *c);
	c->source = xstrdup(source);
	c->destination = xstrdup(destination);
	return c;
}

struct datamanifest_coll *
datamanifest_coll_to(struct datamanifest *m, const char *uri)
{
	size_t	 i;

	for (i = 0; i < m->ncolls; i++)
		if (strcmp(m->colls[i].destination, uri) == 0)
			return &m->colls[i];
	return NULL;
}

static void
datamanifest_version_remove(struct datamanifest *m, size_t i)
{
	datamanifest_version_clear(&m->versions[i]);
	memmove(&m->versions[i], &m->versions[i + 1],
	    (m->nversions - i - 1) * sizeof *m->versions);
	m->nversions--;
}

static void
datamanifest_version_add(struct datamanifest *m, const char *commit,
    const char *version, char *const *files, size_t n)
{
	struct datamanifest_version	*v;
	size_t				 i;

	for (i = 0; i < m->nversions; i++) {
		if (strcmp(m->versions[i].source_commit, commit) == 0 &&
		    m->versions[i].version == NULL) {
			datamanifest_version_remove(m, i);
			break;
		}
	}
	m->versions = xreallocarray(m->versions, m->nversions + 1,
	    sizeof *m->versions);
	v = &m->versions[m->nversions++];
	memset(v, 0, sizeof *v);
	v->source_commit = xstrdup(commit);
	v->version = version != NULL ? xstrdup(version) : NULL;
	v->files = xcalloc(n + 1, sizeof *v->files);
	for (i = 0; i < n; i++)
		v->files[i] = xstrdup(files[i]);
	v->nfiles = n;
}

static void
datamanifest_version_publish(struct datamanifest *m, const char *commit,
    const char *version)
{
	size_t	 i, k;

	for (i = m->nversions; i-- > 0;)
		if (strcmp(m->versions[i].source_commit, commit) == 0 &&
		    m->versions[i].version == NULL)
			break;
	if (i == (size_t)-1)
		return;
	m->versions[i].version = xstrdup(version);
	/* Unpublished tries before it never will be, by this route. */
	for (k = 0; k < i;) {
		if (m->versions[k].version == NULL) {
			datamanifest_version_remove(m, k);
			i--;
		} else
			k++;
	}
}

/* The index of the first published version to keep (the newest keep of
 * them); 0 (keep everything) when keep is 0 or fewer are published. */
static size_t
datamanifest_keep_from(const struct datamanifest *m, int keep)
{
	size_t	 i;
	int	 seen = 0;

	if (keep <= 0)
		return 0;
	for (i = m->nversions; i-- > 0;) {
		if (m->versions[i].version == NULL)
			continue;
		if (++seen == keep)
			return i;
	}
	return 0;
}

static int
datamanifest_strv_has(const char *const *v, size_t n, const char *s)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL && strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

const char **
datamanifest_unreferenced(const struct datamanifest *m, int keep,
    char *const *except, size_t nexcept)
{
	const struct datamanifest_version	*v;
	const char				**out = NULL;
	size_t					 from, i, k, n = 0;

	if (keep <= 0 || (from = datamanifest_keep_from(m, keep)) == 0)
		return NULL;
	for (i = 0; i < from; i++) {
		v = &m->versions[i];
		if (v->version == NULL)
			continue;
		for (k = 0; k < v->nfiles; k++) {
			const char	*f = v->files[k];
			size_t		 o;
			int		 used = 0;

			for (o = from; o < m->nversions && !used; o++)
				used = datamanifest_strv_has((const char *const *)
				    m->versions[o].files, m->versions[o].nfiles,
				    f);
			for (o = 0; o < from && !used; o++)
				used = m->versions[o].version == NULL &&
				    datamanifest_strv_has((const char *const *)
				    m->versions[o].files,
				    m->versions[o].nfiles, f);
			if (used || datamanifest_strv_has(
			    (const char *const *)except, nexcept, f) ||
			    (out != NULL && datamanifest_strv_has(out, n, f)))
				continue;
			out = xreallocarray(out, n + 2, sizeof *out);
			out[n++] = f;
			out[n] = NULL;
		}
	}
	return out;
}

void
datamanifest_drop_old(struct datamanifest *m, int keep)
{
	size_t	 from, i;

	from = datamanifest_keep_from(m, keep);
	for (i = 0; i < from;) {
		if (m->versions[i].version != NULL) {
			datamanifest_version_remove(m, i);
			from--;
		} else
			i++;
	}
}

/* JSON <-> records. */

static int
datamanifest_hex(const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL || strlen(s) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static cJSON *
datamanifest_file_json(const struct datamanifest_file *f)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", f->name);
	cJSON_AddStringToObject(o, "source_last_modified",
	    f->src_modified != NULL ? f->src_modified : "");
	cJSON_AddNumberToObject(o, "source_size", (double)f->src_size);
	cJSON_AddNumberToObject(o, "size", (double)f->size);
	cJSON_AddStringToObject(o, "sha256", f->sha256);
	cJSON_AddStringToObject(o, "md5", f->md5);
	return o;
}

static cJSON *
datamanifest_start_json(const struct datamanifest_start *st)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", st->name);
	cJSON_AddStringToObject(o, "source_last_modified", st->src_modified);
	cJSON_AddNumberToObject(o, "source_size", (double)st->src_size);
	if (st->dst_size >= 0) {
		cJSON_AddNumberToObject(o, "destination_size",
		    (double)st->dst_size);
		cJSON_AddStringToObject(o, "destination_last_modified",
		    st->dst_modified != NULL ? st->dst_modified : "");
	} else {
		cJSON_AddNullToObject(o, "destination_size");
		cJSON_AddNullToObject(o, "destination_last_modified");
	}
	return o;
}

static int
datamanifest_size(const cJSON *o, const char *name, int64_t *out)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* st from o; its strings point into o (copied by datamanifest_start_put). */
static int
datamanifest_start_parse(const cJSON *o, struct datamanifest_start *st)
{
	const cJSON	*n, *mod, *dmod, *dsize;

	memset(st, 0, sizeof *st);
	n = cJSON_GetObjectItemCaseSensitive(o, "name");
	mod = cJSON_GetObjectItemCaseSensitive(o, "source_last_modified");
	dsize = cJSON_GetObjectItemCaseSensitive(o, "destination_size");
	dmod = cJSON_GetObjectItemCaseSensitive(o,
	    "destination_last_modified");
	if (!cJSON_IsString(n) || *n->valuestring == '\0' ||
	    !cJSON_IsString(mod) ||
	    datamanifest_size(o, "source_size", &st->src_size) == -1)
		return -1;
	if (cJSON_IsNull(dsize) && cJSON_IsNull(dmod))
		st->dst_size = -1;
	else if (!cJSON_IsString(dmod) ||
	    datamanifest_size(o, "destination_size", &st->dst_size) == -1)
		return -1;
	else
		st->dst_modified = dmod->valuestring;
	st->name = n->valuestring;
	st->src_modified = mod->valuestring;
	return 0;
}

/* f from o, its name in *name; the strings point into o (copied by
 * datamanifest_put). */
static int
datamanifest_file_parse(const cJSON *o, struct datamanifest_file *f,
    const char **name)
{
	const cJSON	*n, *mod, *sha, *md5;

	memset(f, 0, sizeof *f);
	n = cJSON_GetObjectItemCaseSensitive(o, "name");
	mod = cJSON_GetObjectItemCaseSensitive(o, "source_last_modified");
	sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
	md5 = cJSON_GetObjectItemCaseSensitive(o, "md5");
	if (!cJSON_IsString(n) || *n->valuestring == '\0' ||
	    !cJSON_IsString(mod) || !cJSON_IsString(sha) ||
	    !cJSON_IsString(md5) || !datamanifest_hex(sha->valuestring, 64) ||
	    !datamanifest_hex(md5->valuestring, 32) ||
	    datamanifest_size(o, "source_size", &f->src_size) == -1 ||
	    datamanifest_size(o, "size", &f->size) == -1)
		return -1;
	*name = n->valuestring;
	memcpy(f->sha256, sha->valuestring, 65);
	memcpy(f->md5, md5->valuestring, 33);
	f->src_modified = mod->valuestring;
	return 0;
}

/* files: a list of strings into a new vector (NULL: not such a list). */
static char **
datamanifest_strv(const cJSON *files, size_t *n)
{
	const cJSON	*f;
	char		**v;

	*n = 0;
	if (!cJSON_IsArray(files))
		return NULL;
	v = xcalloc((size_t)cJSON_GetArraySize(files) + 1, sizeof *v);
	cJSON_ArrayForEach(f, files) {
		if (!cJSON_IsString(f)) {
			while (*n > 0)
				free(v[--*n]);
			free(v);
			return NULL;
		}
		v[(*n)++] = xstrdup(f->valuestring);
	}
	return v;
}

static void
datamanifest_strv_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
datamanifest_versions_parse(struct datamanifest *m, const cJSON *vs,
    const char **why)
{
	const cJSON	*v, *sc, *ver;
	char		**files;
	size_t		 n;

	if (vs == NULL || cJSON_IsNull(vs))
		return 0;
	if (!cJSON_IsArray(vs)) {
		*why = "\"versions\" is not a list";
		return -1;
	}
	cJSON_ArrayForEach(v, vs) {
		sc = cJSON_GetObjectItemCaseSensitive(v, "source_commit");
		ver = cJSON_GetObjectItemCaseSensitive(v, "version");
		files = datamanifest_strv(cJSON_GetObjectItemCaseSensitive(v,
		    "files"), &n);
		if (!cJSON_IsString(sc) || files == NULL ||
		    (!cJSON_IsString(ver) && !cJSON_IsNull(ver))) {
			if (files != NULL)
				datamanifest_strv_free(files, n);
			*why = "a bad version entry";
			return -1;
		}
		datamanifest_version_add(m, sc->valuestring,
		    cJSON_IsString(ver) ? ver->valuestring : NULL, files, n);
		datamanifest_strv_free(files, n);
	}
	return 0;
}

static int
datamanifest_from_json(struct datamanifest *m, const cJSON *root,
    const char **why)
{
	const cJSON			*colls, *c, *src, *dst, *files, *fo;
	const cJSON			*starts;
	struct datamanifest_coll	*coll;
	struct datamanifest_file	 f;
	struct datamanifest_start	 st;
	const char			*name;
	const cJSON			*fmt, *gen;

	gen = cJSON_GetObjectItemCaseSensitive(root, "generation");
	if (gen != NULL && (!cJSON_IsNumber(gen) || gen->valuedouble < 0)) {
		*why = "a bad \"generation\"";
		return -1;
	}
	m->generation = gen != NULL ? (int64_t)gen->valuedouble : 0;
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsNumber(fmt) || fmt->valueint != DATAMANIFEST_FORMAT) {
		*why = "not format 1";
		return -1;
	}
	colls = cJSON_GetObjectItemCaseSensitive(root, "collections");
	if (!cJSON_IsArray(colls)) {
		*why = "no \"collections\" list";
		return -1;
	}
	if (datamanifest_versions_parse(m, cJSON_GetObjectItemCaseSensitive(root,
	    "versions"), why) == -1)
		return -1;
	cJSON_ArrayForEach(c, colls) {
		src = cJSON_GetObjectItemCaseSensitive(c, "source");
		dst = cJSON_GetObjectItemCaseSensitive(c, "destination");
		files = cJSON_GetObjectItemCaseSensitive(c, "files");
		if (!cJSON_IsString(src) || !cJSON_IsString(dst) ||
		    !cJSON_IsArray(files)) {
			*why = "a collection without source, destination "
			    "and files";
			return -1;
		}
		coll = datamanifest_coll(m, src->valuestring,
		    dst->valuestring);
		cJSON_ArrayForEach(fo, files) {
			if (datamanifest_file_parse(fo, &f, &name) == -1) {
				*why = "a bad file entry";
				return -1;
			}
			datamanifest_put(coll, &f, name);
		}
		starts = cJSON_GetObjectItemCaseSensitive(c, "started");
		if (starts != NULL && !cJSON_IsArray(starts)) {
			*why = "\"started\" is not a list";
			return -1;
		}
		cJSON_ArrayForEach(fo, starts) {
			if (datamanifest_start_parse(fo, &st) == -1) {
				*why = "a bad started entry";
				return -1;
			}
			datamanifest_start_put(coll, &st);
		}
	}
	return 0;
}

static int
datamanifest_replay_version(struct datamanifest *m, const cJSON *o)
{
	const cJSON	*op, *sc, *ver;
	char		**files;
	size_t		 n;

	op = cJSON_GetObjectItemCaseSensitive(o, "op");
	sc = cJSON_GetObjectItemCaseSensitive(o, "source_commit");
	if (!cJSON_IsString(sc))
		return -1;
	if (strcmp(op->valuestring, "published") == 0) {
		ver = cJSON_GetObjectItemCaseSensitive(o, "version");
		if (!cJSON_IsString(ver))
			return -1;
		datamanifest_version_publish(m, sc->valuestring,
		    ver->valuestring);
		return 0;
	}
	if ((files = datamanifest_strv(cJSON_GetObjectItemCaseSensitive(o,
	    "files"), &n)) == NULL)
		return -1;
	datamanifest_version_add(m, sc->valuestring, NULL, files, n);
	datamanifest_strv_free(files, n);
	return 0;
}

/* One journal line: {"op": "put"|"start"|"forget", "source",
 * "destination", "file": {...}} or "name" for forget; or a version's
 * "pin"|"published". */
static int
datamanifest_replay(struct datamanifest *m, const cJSON *o)
{
	const cJSON			*op, *src, *dst, *fo, *n;
	struct datamanifest_coll	*coll;
	struct datamanifest_file	 f;
	struct datamanifest_start	 st;
	const char			*name;

	op = cJSON_GetObjectItemCaseSensitive(o, "op");
	if (cJSON_IsString(op) && (strcmp(op->valuestring, "pin") == 0 ||
	    strcmp(op->valuestring, "published") == 0))
		return datamanifest_replay_version(m, o);
	src = cJSON_GetObjectItemCaseSensitive(o, "source");
	dst = cJSON_GetObjectItemCaseSensitive(o, "destination");
	if (!cJSON_IsString(op) || !cJSON_IsString(src) ||
	    !cJSON_IsString(dst))
		return -1;
	if (strcmp(op->valuestring, "put") == 0) {
		fo = cJSON_GetObjectItemCaseSensitive(o, "file");
		if (datamanifest_file_parse(fo, &f, &name) == -1)
			return -1;
		coll = datamanifest_coll(m, src->valuestring,
		    dst->valuestring);
		datamanifest_put(coll, &f, name);
		return 0;
	}
	if (strcmp(op->valuestring, "start") == 0) {
		if (datamanifest_start_parse(cJSON_GetObjectItemCaseSensitive(o,
		    "file"), &st) == -1)
			return -1;
		coll = datamanifest_coll(m, src->valuestring,
		    dst->valuestring);
		datamanifest_start_put(coll, &st);
		return 0;
	}
	if (strcmp(op->valuestring, "forget") == 0) {
		n = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (!cJSON_IsString(n))
			return -1;
		coll = datamanifest_coll(m, src->valuestring,
		    dst->valuestring);
		datamanifest_drop(coll, n->valuestring);
		return 0;
	}
	return -1;
}

/* Replays the journal's text. Its first line names the generation of
 * data.json it follows; a journal of another generation is stale (*stale)
 * and not replayed. A last line without its newline is a torn append
 * (*torn) and is dropped. */
static int
datamanifest_generation_line(const cJSON *o, int64_t *g)
{
	const cJSON	*op = cJSON_GetObjectItemCaseSensitive(o, "op");
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, "generation");

	if (!cJSON_IsString(op) || strcmp(op->valuestring, "generation") != 0 ||
	    !cJSON_IsNumber(v))
		return 0;
	*g = (int64_t)v->valuedouble;
	return 1;
}

static int
datamanifest_replay_all(struct datamanifest *m, char *text, size_t len,
    const char **why, int *torn, int *stale, const char *path, char **newer)
{
	char	*line = text, *nl, *end = text + len;
	cJSON	*o;
	int64_t	 g;
	int	 rv, first = 1;

	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL) {
			/* An append cut short, parsable or not: dropped, and
			 * the caller rewrites the files so that the next
			 * append starts a line of its own. */
			*torn = 1;
			return 0;
		}
		*nl = '\0';
		o = cJSON_ParseWithOpts(line, NULL, 1);
		if (first && o != NULL && datamanifest_generation_line(o, &g)) {
			if (fileformat_check(o, DATAMANIFEST_FORMAT, path,
			    newer) == 1) {
				cJSON_Delete(o);
				return -1;	/* left for that release */
			}
			free(*newer);
			*newer = NULL;
			cJSON_Delete(o);
			if (g != m->generation) {
				/* Written before the manifest that holds it:
				 * a crash between a save and its unlink. */
				*stale = 1;
				return 0;
			}
			m->journaled++;
			first = 0;
			line = nl + 1;
			continue;
		}
		first = 0;
		rv = o != NULL ? datamanifest_replay(m, o) : -1;
		cJSON_Delete(o);
		if (rv == -1) {
			*why = "a bad journal line";
			return -1;
		}
		m->journaled++;
		line = nl + 1;
	}
	return 0;
}

static int
datamanifest_aside(const char *path, const char *why, char **warning,
    char **cause)
{
	char	*aside, *prev;

	aside = xprintf("%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside) == -1 && errno != ENOENT) {
		xasprintf(cause, "%s is corrupt (%s) and cannot be moved "
		    "aside: %s", path, why, strerror(errno));
		free(aside);
		return -1;
	}
	prev = *warning;
	xasprintf(warning, "%s%s%s is corrupt (%s); moved aside to %s: files "
	    "are compared with the destination anew", prev != NULL ? prev : "",
	    prev != NULL ? "; " : "", path, why, aside);
	free(prev);
	free(aside);
	return 0;
}

/* A file's content; none (NULL) when it does not exist. */
static int
datamanifest_read(const char *path, char **text, size_t *len, char **cause)
{
	char	*why = NULL;

	if (atomicfile_read(path, text, len, DATAMANIFEST_MAX, &why) == 0)
		return 0;
	if (errno == ENOENT) {
		free(why);
		*text = NULL;
		return 0;
	}
	*cause = why;
	return -1;
}

int
datamanifest_load(struct datamanifest *m, const char *dir, char **warning,
    char **cause)
{
	char		*path, *jpath, *text = NULL, *jtext = NULL, *fc = NULL;
	const char	*why = NULL;
	size_t		 len = 0, jlen = 0;
	cJSON		*root = NULL;
	int		 rv = -1, torn = 0, stale = 0;

	memset(m, 0, sizeof *m);
	m->dir = xstrdup(dir);
	*warning = NULL;
	path = xprintf("%s/" DATAMANIFEST_NAME, dir);
	jpath = xprintf("%s/" DATAMANIFEST_JOURNAL, dir);
	if (datamanifest_read(path, &text, &len, cause) == -1 ||
	    datamanifest_read(jpath, &jtext, &jlen, cause) == -1)
		goto out;
	if (text != NULL) {
		if ((root = cJSON_ParseWithLength(text, len)) == NULL)
			why = "not JSON";
		else if (fileformat_check(root, DATAMANIFEST_FORMAT, path,
		    &fc) == 1) {
			*cause = fc;	/* a newer release's: left as it is */
			goto out;
		} else {
			free(fc);
			fc = NULL;
			datamanifest_from_json(m, root, &why);
		}
	}
	if (why == NULL && jtext != NULL &&
	    datamanifest_replay_all(m, jtext, jlen, &why, &torn, &stale, jpath,
	    &fc) == -1 && why == NULL) {
		*cause = fc;
		goto out;
	}
	free(fc);
	if (why != NULL) {
		datamanifest_clear(m);
		m->dir = xstrdup(dir);
		if ((text != NULL && datamanifest_aside(path, why, warning,
		    cause) == -1) || (jtext != NULL && datamanifest_aside(jpath,
		    why, warning, cause) == -1))
			goto out;
	} else if ((torn || stale) && datamanifest_save(m, cause) == -1)
		goto out;	/* no append may follow what was dropped */
	rv = 0;
out:
	if (rv == -1)
		datamanifest_clear(m);
	cJSON_Delete(root);
	free(text);
	free(jtext);
	free(path);
	free(jpath);
	return rv;
}

int
datamanifest_save(struct datamanifest *m, char **cause)
{
	const struct datamanifest_coll	*c;
	const struct datamanifest_version *v;
	cJSON				*root, *colls, *co, *files, *vs;
	char				*text, *path, *jpath;
	size_t				 i, k;
	int				 rv;

	root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "format", DATAMANIFEST_FORMAT);
	/* A journal of an older generation (a crash before its unlink
	 * below) is known for what it is: already in here. */
	cJSON_AddNumberToObject(root, "generation", (double)(m->generation + 1));
	colls = cJSON_AddArrayToObject(root, "collections");
	for (i = 0; i < m->ncolls; i++) {
		c = &m->colls[i];
		co = cJSON_CreateObject();
		cJSON_AddStringToObject(co, "source", c->source);
		cJSON_AddStringToObject(co, "destination", c->destination);
		files = cJSON_AddArrayToObject(co, "files");
		for (k = 0; k < c->nfiles; k++)
			cJSON_AddItemToArray(files,
			    datamanifest_file_json(&c->files[k]));
		if (c->nstarts > 0) {
			files = cJSON_AddArrayToObject(co, "started");
			for (k = 0; k < c->nstarts; k++)
				cJSON_AddItemToArray(files,
				    datamanifest_start_json(&c->starts[k]));
		}
		cJSON_AddItemToArray(colls, co);
	}
	vs = cJSON_AddArrayToObject(root, "versions");
	for (i = 0; i < m->nversions; i++) {
		v = &m->versions[i];
		co = cJSON_CreateObject();
		cJSON_AddStringToObject(co, "source_commit", v->source_commit);
		if (v->version != NULL)
			cJSON_AddStringToObject(co, "version", v->version);
		else
			cJSON_AddNullToObject(co, "version");
		files = cJSON_AddArrayToObject(co, "files");
		for (k = 0; k < v->nfiles; k++)
			cJSON_AddItemToArray(files,
			    cJSON_CreateString(v->files[k]));
		cJSON_AddItemToArray(vs, co);
	}
	if ((text = cJSON_Print(root)) == NULL)
		fatalx("cJSON: out of memory");
	cJSON_Delete(root);
	path = xprintf("%s/" DATAMANIFEST_NAME, m->dir);
	rv = atomicfile_write(path, text, strlen(text), 0600, cause);
	cJSON_free(text);
	free(path);
	if (rv == -1)
		return -1;
	m->generation++;
	/* The manifest holds every journaled line now. */
	jpath = xprintf("%s/" DATAMANIFEST_JOURNAL, m->dir);
	if (unlink(jpath) == -1 && errno != ENOENT) {
		xasprintf(cause, "unlink %s: %s", jpath, strerror(errno));
		free(jpath);
		return -1;
	}
	free(jpath);
	m->journaled = 0;
	return 0;
}

static int
datamanifest_journal(struct datamanifest *m, cJSON *line, char **cause)
{
	char	*text, *rec, *path;
	int	 rv;

	if ((text = cJSON_PrintUnformatted(line)) == NULL)
		fatalx("cJSON: out of memory");
	cJSON_Delete(line);
	if (m->journaled == 0)
		rec = xprintf("{\"op\":\"generation\",\"format\":%d,"
		    "\"generation\":%lld}\n%s\n", DATAMANIFEST_FORMAT,
		    (long long)m->generation, text);
	else
		rec = xprintf("%s\n", text);
	cJSON_free(text);
	path = xprintf("%s/" DATAMANIFEST_JOURNAL, m->dir);
	rv = atomicfile_append(path, rec, strlen(rec), cause);
	free(rec);
	free(path);
	if (rv == 0)
		m->journaled += m->journaled == 0 ? 2 : 1;
	return rv;
}

int
datamanifest_record(struct datamanifest *m, struct datamanifest_coll *c,
    const struct datamanifest_file *f, char **cause)
{
	cJSON	*line = cJSON_CreateObject();

	cJSON_AddStringToObject(line, "op", "put");
	cJSON_AddStringToObject(line, "source", c->source);
	cJSON_AddStringToObject(line, "destination", c->destination);
	cJSON_AddItemToObject(line, "file", datamanifest_file_json(f));
	if (datamanifest_journal(m, line, cause) == -1)
		return -1;
	datamanifest_put(c, f, f->name);
	return 0;
}

int
datamanifest_start(struct datamanifest *m, struct datamanifest_coll *c,
    const struct datamanifest_start *st, char **cause)
{
	cJSON	*line = cJSON_CreateObject();

	cJSON_AddStringToObject(line, "op", "start");
	cJSON_AddStringToObject(line, "source", c->source);
	cJSON_AddStringToObject(line, "destination", c->destination);
	cJSON_AddItemToObject(line, "file", datamanifest_start_json(st));
	if (datamanifest_journal(m, line, cause) == -1)
		return -1;
	datamanifest_start_put(c, st);
	return 0;
}

int
datamanifest_forget(struct datamanifest *m, struct datamanifest_coll *c,
    const char *name, char **cause)
{
	cJSON	*line = cJSON_CreateObject();

	cJSON_AddStringToObject(line, "op", "forget");
	cJSON_AddStringToObject(line, "source", c->source);
	cJSON_AddStringToObject(line, "destination", c->destination);
	cJSON_AddStringToObject(line, "name", name);
	if (datamanifest_journal(m, line, cause) == -1)
		return -1;
	datamanifest_drop(c, name);
	return 0;
}

int
datamanifest_pin(struct datamanifest *m, const char *source_commit,
    char *const *files, size_t n, char **cause)
{
	cJSON	*line = cJSON_CreateObject(), *a;
	size_t	 i;

	cJSON_AddStringToObject(line, "op", "pin");
	cJSON_AddStringToObject(line, "source_commit", source_commit);
	a = cJSON_AddArrayToObject(line, "files");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(files[i]));
	if (datamanifest_journal(m, line, cause) == -1)
		return -1;
	datamanifest_version_add(m, source_commit, NULL, files, n);
	return 0;
}

int
datamanifest_published(struct datamanifest *m, const char *source_commit,
    const char *version, char **cause)
{
	cJSON	*line;
	size_t	 i;

	for (i = 0; i < m->nversions; i++)
		if (strcmp(m->versions[i].source_commit, source_commit) == 0 &&
		    m->versions[i].version == NULL)
			break;
	if (i == m->nversions)
		return 0;
	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "op", "published");
	cJSON_AddStringToObject(line, "source_commit", source_commit);
	cJSON_AddStringToObject(line, "version", version);
	if (datamanifest_journal(m, line, cause) == -1)
		return -1;
	datamanifest_version_publish(m, source_commit, version);
	return 0;
}
