/* check_datamanifest.c: the hosted-data manifest keeps copies and pinned
 * versions across its journal and saves, and moves damaged files aside. */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "datamanifest.h"
#include "testutil.h"
#include "xmalloc.h"

#define S1	"data://alice/models"
#define D1	"data://acme/models"
#define S2	"data://alice/raw"
#define D2	"data://acme/raw"

#define CA	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CB	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CC	"cccccccccccccccccccccccccccccccccccccccc"
#define CD	"dddddddddddddddddddddddddddddddddddddddd"
#define CE	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

#define F(n)	"acme/models/" n

static char *dir;

static void
setup(void)
{
	dir = testutil_tmpdir();
}

static void
teardown(void)
{
	testutil_rmtree(dir);
	free(dir);
}

static char *
dm_path(const char *d, const char *name)
{
	return xprintf("%s/%s", d, name);
}

/* A NULL-terminated copy of the strings given, NULL last. */
static char **
dm_list(const char *first, ...)
{
	va_list		 ap;
	char		**v;
	const char	*s;
	size_t		 n = 0;

	v = xcalloc(1, sizeof *v);
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		v = xreallocarray(v, n + 2, sizeof *v);
		v[n++] = xstrdup(s);
		v[n] = NULL;
	}
	va_end(ap);
	return v;
}

static size_t
dm_len(char *const *v)
{
	size_t	 n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

static void
dm_list_free(char **v)
{
	size_t	 i;

	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int
dm_exists(const char *d, const char *name)
{
	char	*p = dm_path(d, name);
	int	 rv = access(p, F_OK) == 0;

	free(p);
	return rv;
}

/* The complete lines of d/name (0 when missing); the file must end with
 * a newline, an append is whole lines. */
static size_t
dm_lines(const char *d, const char *name)
{
	char	*p, *text, *s;
	size_t	 n = 0;

	if (!dm_exists(d, name))
		return 0;
	p = dm_path(d, name);
	text = testutil_read(p);
	for (s = text; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	ck_assert(text[0] == '\0' || text[strlen(text) - 1] == '\n');
	free(text);
	free(p);
	return n;
}

/* The last line of d/data.journal, parsed. */
static cJSON *
dm_last_line(const char *d)
{
	char	*p, *text, *last, *nl;
	cJSON	*o;

	p = dm_path(d, "data.journal");
	text = testutil_read(p);
	ck_assert_uint_gt(strlen(text), 0);
	text[strlen(text) - 1] = '\0';
	last = (nl = strrchr(text, '\n')) != NULL ? nl + 1 : text;
	ck_assert_ptr_nonnull(o = cJSON_Parse(last));
	free(text);
	free(p);
	return o;
}

static void
dm_check_last_put(const char *d, const char *name)
{
	cJSON		*o = dm_last_line(d);
	const cJSON	*op, *f, *n;

	op = cJSON_GetObjectItemCaseSensitive(o, "op");
	ck_assert(cJSON_IsString(op));
	ck_assert_str_eq(op->valuestring, "put");
	f = cJSON_GetObjectItemCaseSensitive(o, "file");
	n = cJSON_GetObjectItemCaseSensitive(f, "name");
	ck_assert(cJSON_IsString(n));
	ck_assert_str_eq(n->valuestring, name);
	cJSON_Delete(o);
}

static void
dm_check_last_forget(const char *d, const char *name)
{
	cJSON		*o = dm_last_line(d);
	const cJSON	*op, *n;

	op = cJSON_GetObjectItemCaseSensitive(o, "op");
	ck_assert(cJSON_IsString(op));
	ck_assert_str_eq(op->valuestring, "forget");
	n = cJSON_GetObjectItemCaseSensitive(o, "name");
	ck_assert(cJSON_IsString(n));
	ck_assert_str_eq(n->valuestring, name);
	cJSON_Delete(o);
}

/* Entries of d whose names start with prefix. */
static int
dm_count(const char *d, const char *prefix)
{
	DIR		*dp;
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(dp = opendir(d));
	while ((de = readdir(dp)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dp);
	return n;
}

/* A file record whose every field depends on seed. */
static void
dm_file(struct datamanifest_file *f, const char *name, int seed)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	memset(f, 0, sizeof *f);
	f->name = xstrdup(name);
	f->src_modified = xprintf("2025-11-%02dT10:%02d:00.000Z",
	    1 + seed % 28, seed % 60);
	f->src_size = 1000 + seed;
	f->size = 5000000000LL + seed * 7;
	for (i = 0; i < 64; i++)
		f->sha256[i] = hex[(size_t)(seed + (int)i) % 16];
	for (i = 0; i < 32; i++)
		f->md5[i] = hex[(size_t)(seed * 3 + (int)i * 5) % 16];
}

static void
dm_file_free(struct datamanifest_file *f)
{
	free(f->name);
	free(f->src_modified);
}

static void
dm_file_eq(const struct datamanifest_file *a,
    const struct datamanifest_file *b)
{
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->src_modified, b->src_modified);
	ck_assert_int_eq(a->src_size, b->src_size);
	ck_assert_int_eq(a->size, b->size);
	ck_assert_str_eq(a->sha256, b->sha256);
	ck_assert_str_eq(a->md5, b->md5);
}

/* Records name (seeded) into the pair; the record and journal checked. */
static void
dm_record(struct datamanifest *m, const char *src, const char *dst,
    const char *name, int seed)
{
	struct datamanifest_file	 f;
	struct datamanifest_coll	*c;
	char				*cause = NULL;
	size_t				 before;

	before = dm_lines(m->dir, "data.journal");
	dm_file(&f, name, seed);
	c = datamanifest_coll(m, src, dst);
	ck_assert_msg(datamanifest_record(m, c, &f, &cause) == 0, "%s",
	    cause);
	dm_file_eq(datamanifest_find(c, name), &f);
	/* A new journal starts with its generation line. */
	ck_assert_uint_eq(dm_lines(m->dir, "data.journal"),
	    before + (before == 0 ? 2 : 1));
	dm_check_last_put(m->dir, name);
	dm_file_free(&f);
}

static void
dm_forget(struct datamanifest *m, const char *src, const char *dst,
    const char *name)
{
	struct datamanifest_coll	*c;
	char				*cause = NULL;
	size_t				 before;

	before = dm_lines(m->dir, "data.journal");
	c = datamanifest_coll(m, src, dst);
	ck_assert_msg(datamanifest_forget(m, c, name, &cause) == 0, "%s",
	    cause);
	ck_assert_ptr_null(datamanifest_find(c, name));
	/* A new journal starts with its generation line. */
	ck_assert_uint_eq(dm_lines(m->dir, "data.journal"),
	    before + (before == 0 ? 2 : 1));
	dm_check_last_forget(m->dir, name);
}

static void
dm_load(struct datamanifest *m, const char *d)
{
	char	*cause = NULL, *warning = NULL;

	ck_assert_msg(datamanifest_load(m, d, &warning, &cause) == 0, "%s",
	    cause);
	ck_assert_msg(warning == NULL, "%s", warning);
	ck_assert_str_eq(m->dir, d);
}

static const struct datamanifest_coll *
dm_coll_of(const struct datamanifest *m, const char *src, const char *dst)
{
	size_t	 i;

	for (i = 0; i < m->ncolls; i++)
		if (strcmp(m->colls[i].source, src) == 0 &&
		    strcmp(m->colls[i].destination, dst) == 0)
			return &m->colls[i];
	return NULL;
}

static void
dm_sorted(const struct datamanifest_coll *c)
{
	size_t	 i;

	for (i = 1; i < c->nfiles; i++)
		ck_assert_msg(strcmp(c->files[i - 1].name,
		    c->files[i].name) < 0, "%s before %s",
		    c->files[i - 1].name, c->files[i].name);
}

/* The same collection pairs with the same files, the same versions in
 * the same order. */
static void
dm_eq(const struct datamanifest *a, const struct datamanifest *b)
{
	const struct datamanifest_coll		*ca, *cb;
	const struct datamanifest_version	*va, *vb;
	size_t					 i, k;

	ck_assert_uint_eq(a->ncolls, b->ncolls);
	for (i = 0; i < a->ncolls; i++) {
		ca = &a->colls[i];
		cb = dm_coll_of(b, ca->source, ca->destination);
		ck_assert_msg(cb != NULL, "no %s -> %s", ca->source,
		    ca->destination);
		ck_assert_uint_eq(ca->nfiles, cb->nfiles);
		dm_sorted(cb);
		for (k = 0; k < ca->nfiles; k++)
			dm_file_eq(&ca->files[k], &cb->files[k]);
	}
	ck_assert_uint_eq(a->nversions, b->nversions);
	for (i = 0; i < a->nversions; i++) {
		va = &a->versions[i];
		vb = &b->versions[i];
		ck_assert_str_eq(va->source_commit, vb->source_commit);
		if (va->version == NULL)
			ck_assert_ptr_null(vb->version);
		else {
			ck_assert_ptr_nonnull(vb->version);
			ck_assert_str_eq(va->version, vb->version);
		}
		ck_assert_uint_eq(va->nfiles, vb->nfiles);
		for (k = 0; k < va->nfiles; k++)
			ck_assert_str_eq(va->files[k], vb->files[k]);
	}
}

/* The version of commit, or NULL. */
static const struct datamanifest_version *
dm_version(const struct datamanifest *m, const char *commit)
{
	size_t	 i;

	for (i = 0; i < m->nversions; i++)
		if (strcmp(m->versions[i].source_commit, commit) == 0)
			return &m->versions[i];
	return NULL;
}

/* datamanifest_unreferenced(m, keep, except) is exactly the n names
 * that follow, each once, each the manifest's own string. */
static void
dm_unref(const struct datamanifest *m, int keep, char *const *except,
    size_t nexcept, size_t n, ...)
{
	const char	**out, *want[16];
	va_list		 ap;
	size_t		 i, k, v;
	int		 owned;

	ck_assert_uint_le(n, nitems(want));
	va_start(ap, n);
	for (i = 0; i < n; i++)
		want[i] = va_arg(ap, const char *);
	va_end(ap);
	out = datamanifest_unreferenced(m, keep, except, nexcept);
	if (n == 0) {
		ck_assert_msg(out == NULL, "keep %d: %s is unreferenced",
		    keep, out != NULL ? out[0] : "");
		return;
	}
	ck_assert_msg(out != NULL, "keep %d: none unreferenced", keep);
	for (i = 0; out[i] != NULL; i++) {
		for (k = 0; k < n && strcmp(out[i], want[k]) != 0; k++)
			;
		ck_assert_msg(k < n, "keep %d: %s is unreferenced", keep,
		    out[i]);
		for (k = 0; k < i; k++)
			ck_assert_str_ne(out[k], out[i]);
		owned = 0;
		for (v = 0; v < m->nversions && !owned; v++)
			for (k = 0; k < m->versions[v].nfiles; k++)
				if (out[i] == m->versions[v].files[k])
					owned = 1;
		ck_assert_msg(owned, "%s is not the manifest's string",
		    out[i]);
	}
	ck_assert_uint_eq(i, n);
	free(out);
}

static void
dm_pin(struct datamanifest *m, const char *commit, char *const *files,
    size_t n)
{
	const struct datamanifest_version	*v;
	char					*cause = NULL;
	size_t					 before, i;

	before = dm_lines(m->dir, "data.journal");
	ck_assert_msg(datamanifest_pin(m, commit, files, n, &cause) == 0,
	    "%s", cause);
	/* A new journal starts with its generation line. */
	ck_assert_uint_eq(dm_lines(m->dir, "data.journal"),
	    before + (before == 0 ? 2 : 1));
	/* The newest try is the last version. */
	v = &m->versions[m->nversions - 1];
	ck_assert_str_eq(v->source_commit, commit);
	ck_assert_ptr_null(v->version);
	ck_assert_uint_eq(v->nfiles, n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(v->files[i], files[i]);
}

static void
dm_published(struct datamanifest *m, const char *commit,
    const char *version)
{
	const struct datamanifest_version	*v;
	char					*cause = NULL;
	size_t					 before;

	before = dm_lines(m->dir, "data.journal");
	ck_assert_msg(datamanifest_published(m, commit, version, &cause) ==
	    0, "%s", cause);
	/* A new journal starts with its generation line. */
	ck_assert_uint_eq(dm_lines(m->dir, "data.journal"),
	    before + (before == 0 ? 2 : 1));
	ck_assert_ptr_nonnull(v = dm_version(m, commit));
	ck_assert_ptr_nonnull(v->version);
	ck_assert_str_eq(v->version, version);
}

/* Two collection pairs: models (4 files) and raw (2 files), recorded out
 * of order, one replaced, one forgotten: 8 journal lines. */
static void
dm_fill(struct datamanifest *m)
{
	dm_record(m, S1, D1, "m.bin", 1);
	dm_record(m, S2, D2, "z.csv", 2);
	dm_record(m, S1, D1, "c.bin", 3);
	dm_record(m, S1, D1, "x.bin", 4);
	dm_record(m, S2, D2, "a.csv", 5);
	dm_record(m, S1, D1, "a.bin", 6);
	dm_record(m, S1, D1, "c.bin", 9);	/* replaces seed 3 */
	dm_forget(m, S1, D1, "x.bin");
}

START_TEST(test_load_empty)
{
	struct datamanifest	 m;
	char			 unset[] = "unset";
	char			*cause = NULL, *warning = unset;

	ck_assert_int_eq(datamanifest_load(&m, dir, &warning, &cause), 0);
	ck_assert_ptr_null(warning);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(m.ncolls, 0);
	ck_assert_uint_eq(m.nversions, 0);
	ck_assert_uint_eq(m.journaled, 0);
	ck_assert_str_eq(m.dir, dir);
	ck_assert_ptr_null(datamanifest_coll_to(&m, D1));
	dm_unref(&m, 1, NULL, 0, 0);
	/* Loading writes nothing. */
	ck_assert(!dm_exists(dir, "data.json"));
	ck_assert(!dm_exists(dir, "data.journal"));
	datamanifest_clear(&m);
	datamanifest_clear(&m);		/* cleared twice is harmless */
}
END_TEST

START_TEST(test_record_find_forget)
{
	struct datamanifest		 m;
	struct datamanifest_coll	*c1, *c2;
	struct datamanifest_file	 f;
	const struct datamanifest_file	*e;
	static const char *const	 names[] = { "a.bin", "c.bin",
					    "m.bin" };
	size_t				 i;

	dm_load(&m, dir);
	(void)datamanifest_coll(&m, S1, D1);
	c2 = datamanifest_coll(&m, S2, D2);
	/* Pointers into the manifest may move when a pair is added:
	 * fetched again. */
	c1 = datamanifest_coll(&m, S1, D1);
	ck_assert_ptr_eq(datamanifest_coll(&m, S1, D1), c1);
	ck_assert_ptr_eq(datamanifest_coll(&m, S2, D2), c2);
	ck_assert_uint_eq(m.ncolls, 2);
	ck_assert_str_eq(c1->source, S1);
	ck_assert_str_eq(c1->destination, D1);
	ck_assert_uint_eq(c1->nfiles, 0);

	dm_fill(&m);
	ck_assert_uint_eq(m.ncolls, 2);
	c1 = datamanifest_coll(&m, S1, D1);
	c2 = datamanifest_coll(&m, S2, D2);
	ck_assert_uint_eq(c1->nfiles, 3);
	ck_assert_uint_eq(c2->nfiles, 2);
	dm_sorted(c1);
	dm_sorted(c2);
	for (i = 0; i < nitems(names); i++)
		ck_assert_str_eq(c1->files[i].name, names[i]);
	/* Each found, in its own pair only. */
	dm_file(&f, "a.bin", 6);
	dm_file_eq(datamanifest_find(c1, "a.bin"), &f);
	dm_file_free(&f);
	dm_file(&f, "m.bin", 1);
	dm_file_eq(datamanifest_find(c1, "m.bin"), &f);
	dm_file_free(&f);
	dm_file(&f, "a.csv", 5);
	dm_file_eq(datamanifest_find(c2, "a.csv"), &f);
	dm_file_free(&f);
	dm_file(&f, "z.csv", 2);
	dm_file_eq(datamanifest_find(c2, "z.csv"), &f);
	dm_file_free(&f);
	ck_assert_ptr_null(datamanifest_find(c2, "a.bin"));
	ck_assert_ptr_null(datamanifest_find(c1, "a.csv"));
	ck_assert_ptr_null(datamanifest_find(c1, "b.bin"));
	ck_assert_ptr_null(datamanifest_find(c1, ""));
	ck_assert_ptr_null(datamanifest_find(c1, "zzz"));
	/* The second record replaced the first. */
	dm_file(&f, "c.bin", 9);
	ck_assert_ptr_nonnull(e = datamanifest_find(c1, "c.bin"));
	dm_file_eq(e, &f);
	dm_file_free(&f);
	ck_assert_ptr_null(datamanifest_find(c1, "x.bin"));
	/* One journal line each, and no manifest until a save. */
	ck_assert_uint_eq(dm_lines(dir, "data.journal"), 9);
	ck_assert_uint_eq(m.journaled, 9);
	ck_assert(!dm_exists(dir, "data.json"));
	datamanifest_clear(&m);
}
END_TEST

START_TEST(test_journal_replay)
{
	struct datamanifest	 m, r;

	dm_load(&m, dir);
	dm_fill(&m);
	dm_load(&r, dir);
	ck_assert_uint_eq(r.journaled, 9);
	dm_eq(&m, &r);
	ck_assert_uint_eq(datamanifest_coll(&r, S1, D1)->nfiles, 3);
	ck_assert_ptr_null(datamanifest_find(datamanifest_coll(&r, S1, D1),
	    "x.bin"));
	/* Replay wrote nothing. */
	ck_assert(!dm_exists(dir, "data.json"));
	ck_assert_uint_eq(dm_lines(dir, "data.journal"), 9);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
}
END_TEST

START_TEST(test_save_load)
{
	struct datamanifest	 m, r;
	char			*cause = NULL, *path, *text;
	cJSON			*root;
	const cJSON		*fmt, *colls, *vs;

	dm_load(&m, dir);
	dm_fill(&m);
	ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(m.journaled, 0);
	ck_assert(!dm_exists(dir, "data.journal"));
	ck_assert(dm_exists(dir, "data.json"));
	path = dm_path(dir, "data.json");
	text = testutil_read(path);
	ck_assert_ptr_nonnull(root = cJSON_Parse(text));
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	ck_assert(cJSON_IsNumber(fmt));
	ck_assert_int_eq(fmt->valueint, DATAMANIFEST_FORMAT);
	ck_assert_int_eq(DATAMANIFEST_FORMAT, 1);
	colls = cJSON_GetObjectItemCaseSensitive(root, "collections");
	ck_assert(cJSON_IsArray(colls));
	ck_assert_int_eq(cJSON_GetArraySize(colls), 2);
	vs = cJSON_GetObjectItemCaseSensitive(root, "versions");
	ck_assert(cJSON_IsArray(vs));
	ck_assert_int_eq(cJSON_GetArraySize(vs), 0);
	cJSON_Delete(root);
	free(text);

	dm_load(&r, dir);
	ck_assert_uint_eq(r.journaled, 0);
	dm_eq(&m, &r);
	datamanifest_clear(&r);

	/* What is recorded after a save is journaled over it. */
	dm_record(&m, S2, D2, "b.csv", 11);
	dm_forget(&m, S1, D1, "m.bin");
	ck_assert_uint_eq(dm_lines(dir, "data.journal"), 3);
	dm_load(&r, dir);
	ck_assert_uint_eq(r.journaled, 3);
	dm_eq(&m, &r);
	/* And a save of the replayed manifest holds it all. */
	ck_assert_msg(datamanifest_save(&r, &cause) == 0, "%s", cause);
	datamanifest_clear(&r);
	ck_assert(!dm_exists(dir, "data.journal"));
	dm_load(&r, dir);
	dm_eq(&m, &r);
	datamanifest_clear(&r);
	ck_assert_int_eq(dm_count(dir, "data.json.corrupt-"), 0);
	free(path);
	datamanifest_clear(&m);
}
END_TEST

/* Appends text to d/name as it is, no newline added. */
static void
dm_append_raw(const char *d, const char *name, const char *text)
{
	char	*p = dm_path(d, name);
	int	 fd;

	ck_assert_int_ne(fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0600),
	    -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(p);
}

/* Half of a put line, as a crash in the middle of an append leaves. */
static char *
dm_torn_line(void)
{
	char	*line;

	line = xstrdup("{\"op\":\"put\",\"source\":\"" S1 "\",\"destination\":"
	    "\"" D1 "\",\"file\":{\"name\":\"torn.bin\",\"source_last_modif");
	return line;
}

START_TEST(test_torn_last_line)
{
	struct datamanifest	 m, r;
	char			*torn;

	dm_load(&m, dir);
	dm_record(&m, S1, D1, "a.bin", 1);
	dm_record(&m, S2, D2, "b.csv", 2);
	torn = dm_torn_line();
	dm_append_raw(dir, "data.journal", torn);
	free(torn);
	dm_load(&r, dir);		/* no warning */
	dm_eq(&m, &r);
	ck_assert_ptr_null(datamanifest_find(datamanifest_coll(&r, S1, D1),
	    "torn.bin"));
	ck_assert_int_eq(dm_count(dir, "data.journal.corrupt-"), 0);
	ck_assert_int_eq(dm_count(dir, "data.json.corrupt-"), 0);
	/* The torn half is gone from the files too: saved whole, the
	 * journal emptied. */
	ck_assert_uint_eq(r.journaled, 0);
	ck_assert(!dm_exists(dir, "data.journal"));
	ck_assert(dm_exists(dir, "data.json"));
	datamanifest_clear(&r);
	dm_load(&r, dir);
	dm_eq(&m, &r);
	datamanifest_clear(&r);
	/* A torn line that is the journal's only line likewise. */
	datamanifest_clear(&m);
	testutil_rmtree(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	dm_append_raw(dir, "data.journal", "{\"op\":\"pi");
	dm_load(&r, dir);
	ck_assert_uint_eq(r.nversions, 0);
	ck_assert_uint_eq(r.ncolls, 0);
	datamanifest_clear(&r);
}
END_TEST

/* After a torn last line has been dropped, the next record must not be
 * glued onto the torn half. */
START_TEST(test_torn_then_record)
{
	struct datamanifest	 m, r;
	char			*torn;

	dm_load(&m, dir);
	dm_record(&m, S1, D1, "a.bin", 1);
	torn = dm_torn_line();
	dm_append_raw(dir, "data.journal", torn);
	free(torn);
	datamanifest_clear(&m);
	dm_load(&m, dir);
	dm_record(&m, S1, D1, "b.bin", 2);
	dm_load(&r, dir);		/* no warning */
	dm_eq(&m, &r);
	ck_assert_uint_eq(datamanifest_coll(&r, S1, D1)->nfiles, 2);
	ck_assert_int_eq(dm_count(dir, "data.journal.corrupt-"), 0);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
}
END_TEST

/*
 * A whole last line whose newline did not reach the disk (one write,
 * cut short by a crash just before its last byte): the line counts,
 * and the next record must still be a line of its own.
 */
START_TEST(test_unterminated_then_record)
{
	struct datamanifest	 m, r;
	struct datamanifest_file f;
	char			*path, *text, *cause = NULL, *warning = NULL;

	dm_load(&m, dir);
	dm_record(&m, S1, D1, "a.bin", 1);
	dm_record(&m, S2, D2, "b.csv", 2);
	path = dm_path(dir, "data.journal");
	text = testutil_read(path);
	text[strlen(text) - 1] = '\0';
	testutil_write(path, text, 0600);
	free(text);
	free(path);
	/* A line without its newline is an append cut short, even when
	 * it parses: dropped (its copy is made again), and the files
	 * rewritten so that the next append starts a line of its own. */
	dm_load(&r, dir);		/* no warning */
	ck_assert_ptr_nonnull(datamanifest_find(datamanifest_coll(&r, S1, D1),
	    "a.bin"));
	ck_assert_ptr_null(datamanifest_find(datamanifest_coll(&r, S2, D2),
	    "b.csv"));
	ck_assert_uint_eq(r.journaled, 0);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
	dm_load(&m, dir);
	dm_file(&f, "c.bin", 3);
	ck_assert_msg(datamanifest_record(&m, datamanifest_coll(&m, S1, D1),
	    &f, &cause) == 0, "%s", cause);
	dm_file_free(&f);
	ck_assert_uint_eq(datamanifest_coll(&m, S1, D1)->nfiles, 2);
	ck_assert_int_eq(datamanifest_load(&r, dir, &warning, &cause), 0);
	ck_assert_msg(warning == NULL, "%s", warning);
	dm_eq(&m, &r);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
}
END_TEST

/* A fresh subdirectory of dir. */
static char *
dm_subdir(size_t i)
{
	char	*d = xprintf("%s/case%zu", dir, i);

	ck_assert_int_eq(mkdir(d, 0700), 0);
	return d;
}

/* Loading d gives a warning naming d/what (NULL: naming d); an empty
 * manifest that still knows its directory; the files moved aside. */
static void
dm_load_corrupt(const char *d, const char *what, const char *why)
{
	struct datamanifest	 m;
	char			*cause = NULL, *warning = NULL, *path;

	ck_assert_msg(datamanifest_load(&m, d, &warning, &cause) == 0, "%s",
	    cause);
	ck_assert_msg(warning != NULL, "%s: no warning", why);
	path = what != NULL ? dm_path(d, what) : xstrdup(d);
	ck_assert_msg(strstr(warning, path) != NULL, "%s: %s", why, warning);
	ck_assert_msg(strstr(warning, "corrupt") != NULL, "%s", warning);
	free(path);
	free(warning);
	ck_assert_uint_eq(m.ncolls, 0);
	ck_assert_uint_eq(m.nversions, 0);
	ck_assert_uint_eq(m.journaled, 0);
	ck_assert_str_eq(m.dir, d);
	ck_assert(!dm_exists(d, "data.json"));
	ck_assert(!dm_exists(d, "data.journal"));
	/* What comes next starts over, in the same place. */
	dm_record(&m, S1, D1, "after.bin", 40);
	datamanifest_clear(&m);
	dm_load(&m, d);
	ck_assert_uint_eq(m.ncolls, 1);
	ck_assert_uint_eq(m.colls[0].nfiles, 1);
	ck_assert_str_eq(m.colls[0].files[0].name, "after.bin");
	datamanifest_clear(&m);
}

START_TEST(test_bad_journal_line)
{
	static const char *const bad[] = {
		"garbage",
		"",
		"[1, 2]",
		"{\"source\": \"" S1 "\", \"destination\": \"" D1 "\"}",
		"{\"op\": \"dance\", \"source\": \"" S1 "\", "
		    "\"destination\": \"" D1 "\"}",
		"{\"op\": \"put\", \"source\": \"" S1 "\"}",
		"{\"op\": \"forget\", \"source\": \"" S1 "\", "
		    "\"destination\": \"" D1 "\"}",
		"{\"op\": \"put\", \"source\": \"" S1 "\", "
		    "\"destination\": \"" D1 "\", \"file\": {\"name\": \"a\", "
		    "\"source_last_modified\": \"x\", \"source_size\": 1, "
		    "\"size\": 1, \"sha256\": "
		    "\"0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcde\", \"md5\": "
		    "\"0123456789abcdef0123456789abcdef\"}}",
		"{\"op\": \"pin\", \"source_commit\": \"" CA "\"}",
		"{\"op\": \"pin\", \"source_commit\": \"" CA "\", "
		    "\"files\": [1]}",
		"{\"op\": \"published\", \"source_commit\": \"" CA "\"}",
	};
	struct datamanifest	 m;
	char			*d, *cause = NULL, *path, *text, *nl, *mixed;
	char			**w = dm_list(F("w"), NULL);
	size_t			 i;

	for (i = 0; i < nitems(bad); i++) {
		d = dm_subdir(i);
		dm_load(&m, d);
		dm_record(&m, S1, D1, "a.bin", 1);
		dm_pin(&m, CA, w, 1);
		/* A manifest too: it goes aside with the journal. */
		ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);
		dm_record(&m, S1, D1, "b.bin", 2);
		dm_record(&m, S1, D1, "c.bin", 3);
		datamanifest_clear(&m);
		/* The bad line between the two good ones. */
		path = dm_path(d, "data.journal");
		text = testutil_read(path);
		ck_assert_ptr_nonnull(nl = strchr(text, '\n'));
		*nl = '\0';
		mixed = xprintf("%s\n%s\n%s", text, bad[i], nl + 1);
		testutil_write(path, mixed, 0600);
		free(mixed);
		free(text);
		free(path);
		dm_load_corrupt(d, "data.journal", bad[i]);
		ck_assert_int_eq(dm_count(d, "data.journal.corrupt-"), 1);
		ck_assert_int_eq(dm_count(d, "data.json.corrupt-"), 1);
		testutil_rmtree(d);
		free(d);
	}
	dm_list_free(w);
}
END_TEST

/* A data.json with one file entry; sha256 and size as given. */
static char *
dm_json(int format, const char *sha256, const char *size)
{
	return xprintf("{\"format\": %d, \"collections\": [{\"source\": \""
	    S1 "\", \"destination\": \"" D1 "\", \"files\": [{\"name\": "
	    "\"a.bin\", \"source_last_modified\": \"2025-11-01T00:00:00Z\", "
	    "\"source_size\": 10, \"size\": %s, \"sha256\": \"%s\", "
	    "\"md5\": \"0123456789abcdef0123456789abcdef\"}]}], "
	    "\"versions\": [{\"source_commit\": \"" CA "\", \"version\": "
	    "\"0.1.0\", \"files\": [\"" F("w") "\"]}]}", format, size, sha256);
}

#define SHA64	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"

START_TEST(test_bad_manifest)
{
	struct {
		const char	*why;
		char		*text;
	} bad[] = {
		{ "not JSON", xstrdup("{\"format\": 1, \"collections\": [") },
		{ "format 0", dm_json(0, SHA64, "10") },
		{ "63-char sha256", dm_json(1, SHA64 + 1, "10") },
		{ "65-char sha256", dm_json(1, SHA64 "0", "10") },
		{ "uppercase sha256", dm_json(1, "0123456789ABCDEF0123456789"
		    "abcdef0123456789abcdef0123456789abcdef", "10") },
		{ "negative size", dm_json(1, SHA64, "-1") },
		{ "fractional size", dm_json(1, SHA64, "1.5") },
		{ "size as a string", dm_json(1, SHA64, "\"10\"") },
		{ "no collections", xstrdup("{\"format\": 1}") },
		{ "versions not a list", xstrdup("{\"format\": 1, "
		    "\"collections\": [], \"versions\": {}}") },
		{ "a version without files", xstrdup("{\"format\": 1, "
		    "\"collections\": [], \"versions\": [{\"source_commit\": "
		    "\"" CA "\", \"version\": null}]}") },
	};
	struct datamanifest	 m;
	char			*d, *path, *good;
	size_t			 i;

	/* The same manifest, well formed, loads. */
	d = dm_subdir(100);
	path = dm_path(d, "data.json");
	good = dm_json(1, SHA64, "10");
	testutil_write(path, good, 0600);
	free(good);
	free(path);
	dm_load(&m, d);
	ck_assert_uint_eq(m.ncolls, 1);
	ck_assert_uint_eq(m.colls[0].nfiles, 1);
	ck_assert_str_eq(m.colls[0].files[0].sha256, SHA64);
	ck_assert_int_eq(m.colls[0].files[0].size, 10);
	ck_assert_uint_eq(m.nversions, 1);
	ck_assert_str_eq(m.versions[0].version, "0.1.0");
	datamanifest_clear(&m);
	free(d);

	for (i = 0; i < nitems(bad); i++) {
		d = dm_subdir(i);
		path = dm_path(d, "data.json");
		testutil_write(path, bad[i].text, 0600);
		free(path);
		free(bad[i].text);
		dm_load_corrupt(d, "data.json", bad[i].why);
		ck_assert_int_eq(dm_count(d, "data.json.corrupt-"), 1);
		ck_assert_int_eq(dm_count(d, "data.journal.corrupt-"), 0);
		testutil_rmtree(d);
		free(d);
	}
}
END_TEST

/* A data.json or journal of a newer release's format is left as it is:
 * the load fails with the reason, nothing is moved aside. */
START_TEST(test_newer_format)
{
	struct datamanifest	 m;
	char			*d, *path, *text, *cause = NULL, *warning = NULL;

	d = dm_subdir(300);
	path = dm_path(d, "data.json");
	text = dm_json(2, SHA64, "10");
	testutil_write(path, text, 0600);
	free(text);
	ck_assert_int_eq(datamanifest_load(&m, d, &warning, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "is of format 2, newer than"));
	ck_assert_ptr_null(warning);
	free(cause);
	cause = NULL;
	datamanifest_clear(&m);
	ck_assert(dm_exists(d, "data.json"));
	ck_assert_int_eq(dm_count(d, "data.json.corrupt-"), 0);
	unlink(path);
	free(path);
	path = dm_path(d, "data.journal");
	testutil_write(path, "{\"op\":\"generation\",\"format\":3,"
	    "\"generation\":0}\n", 0600);
	ck_assert_int_eq(datamanifest_load(&m, d, &warning, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "is of format 3, newer than"));
	free(cause);
	datamanifest_clear(&m);
	ck_assert(dm_exists(d, "data.journal"));
	ck_assert_int_eq(dm_count(d, "data.journal.corrupt-"), 0);
	free(path);
	free(d);
}
END_TEST

START_TEST(test_unreadable)
{
	struct datamanifest	 m;
	char			*cause = NULL, *warning = NULL, *p;
	char			**w = dm_list(F("w"), NULL);

	/* A data.json that cannot be read is an error, not corruption. */
	p = dm_path(dir, "data.json");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(datamanifest_load(&m, dir, &warning, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_null(warning);
	ck_assert(dm_exists(dir, "data.json"));
	ck_assert_int_eq(dm_count(dir, "data.json.corrupt-"), 0);
	free(cause);
	cause = NULL;
	datamanifest_clear(&m);
	free(p);
	/* A directory that is not there: empty; what needs writing fails,
	 * and what failed to reach the journal is not in memory. */
	p = dm_path(dir, "gone");
	dm_load(&m, p);
	{
		struct datamanifest_file	 f;
		struct datamanifest_coll	*c;

		dm_file(&f, "a.bin", 1);
		c = datamanifest_coll(&m, S1, D1);
		ck_assert_int_eq(datamanifest_record(&m, c, &f, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		cause = NULL;
		ck_assert_ptr_null(datamanifest_find(c, "a.bin"));
		dm_file_free(&f);
	}
	ck_assert_int_eq(datamanifest_pin(&m, CA, w, 1, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(m.nversions, 0);
	ck_assert_int_eq(datamanifest_save(&m, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_uint_eq(m.journaled, 0);
	datamanifest_clear(&m);
	dm_list_free(w);
	free(p);
}
END_TEST

/* Reloads from the journal, then from a save, and compares each time;
 * m is replaced by the last load. */
static void
dm_roundtrip(struct datamanifest *m)
{
	struct datamanifest	 r;
	char			*cause = NULL;

	dm_load(&r, m->dir);
	dm_eq(m, &r);
	ck_assert_msg(datamanifest_save(&r, &cause) == 0, "%s", cause);
	datamanifest_clear(&r);
	dm_load(&r, m->dir);
	ck_assert_uint_eq(r.journaled, 0);
	dm_eq(m, &r);
	datamanifest_clear(m);
	*m = r;
}

START_TEST(test_versions)
{
	char			**fa = dm_list(F("a-only"), F("ab"), F("abc"),
	    F("except"), F("ac"), NULL);
	char			**fb = dm_list(F("ab"), F("b-only"), F("bc"),
	    F("abc"), NULL);
	char			**fc = dm_list(F("bc"), F("c-only"), F("abc"),
	    F("ac"), NULL);
	char			**except = dm_list(F("except"), F("unknown"),
	    NULL);
	struct datamanifest	 m;
	char			*cause = NULL;

	dm_load(&m, dir);
	dm_pin(&m, CA, fa, dm_len(fa));
	dm_pin(&m, CB, fb, dm_len(fb));
	dm_pin(&m, CC, fc, dm_len(fc));
	ck_assert_uint_eq(m.nversions, 3);
	/* Nothing published: nothing to expire. */
	dm_unref(&m, 1, NULL, 0, 0);
	dm_published(&m, CA, "0.1.0");
	/* One published version is the newest: none older. */
	dm_unref(&m, 1, NULL, 0, 0);
	dm_published(&m, CB, "0.2.0");
	ck_assert_uint_eq(m.nversions, 3);
	ck_assert_str_eq(m.versions[0].source_commit, CA);
	ck_assert_str_eq(m.versions[1].source_commit, CB);
	ck_assert_str_eq(m.versions[2].source_commit, CC);
	ck_assert_ptr_null(m.versions[2].version);
	ck_assert_uint_eq(dm_lines(dir, "data.journal"), 6);
	/* A commit never pinned, or already published: 0, nothing
	 * journaled, nothing changed. */
	ck_assert_int_eq(datamanifest_published(&m, CE, "9.9.9", &cause), 0);
	ck_assert_int_eq(datamanifest_published(&m, CA, "0.1.1", &cause), 0);
	ck_assert_uint_eq(dm_lines(dir, "data.journal"), 6);
	ck_assert_ptr_null(dm_version(&m, CE));
	ck_assert_str_eq(dm_version(&m, CA)->version, "0.1.0");

	/* Only what A alone names; not B's, not the unpublished C's, not
	 * the exception's. */
	dm_unref(&m, 1, except, dm_len(except), 1, F("a-only"));
	dm_unref(&m, 1, NULL, 0, 2, F("a-only"), F("except"));
	dm_unref(&m, 2, except, dm_len(except), 0);
	dm_unref(&m, 3, except, dm_len(except), 0);
	dm_unref(&m, 0, except, dm_len(except), 0);
	dm_unref(&m, 0, NULL, 0, 0);
	dm_unref(&m, -1, NULL, 0, 0);

	/* The same after replay and after save/load. */
	dm_roundtrip(&m);
	dm_unref(&m, 1, except, dm_len(except), 1, F("a-only"));
	dm_unref(&m, 2, except, dm_len(except), 0);

	/* C published: A's and B's files C does not name, each once. */
	dm_published(&m, CC, "0.3.0");
	ck_assert_uint_eq(m.nversions, 3);
	dm_unref(&m, 1, except, dm_len(except), 3, F("a-only"), F("ab"),
	    F("b-only"));
	dm_unref(&m, 2, except, dm_len(except), 1, F("a-only"));
	dm_unref(&m, 2, NULL, 0, 2, F("a-only"), F("except"));
	dm_unref(&m, 3, except, dm_len(except), 0);
	dm_unref(&m, 0, except, dm_len(except), 0);
	dm_roundtrip(&m);
	dm_unref(&m, 1, except, dm_len(except), 3, F("a-only"), F("ab"),
	    F("b-only"));
	datamanifest_clear(&m);
	dm_list_free(fa);
	dm_list_free(fb);
	dm_list_free(fc);
	dm_list_free(except);
}
END_TEST

START_TEST(test_drop_old)
{
	char			**fa = dm_list(F("a"), NULL);
	char			**fb = dm_list(F("b"), NULL);
	char			**fc = dm_list(F("c"), NULL);
	char			**fd = dm_list(F("d"), NULL);
	struct datamanifest	 m, r;
	char			*cause = NULL;

	dm_load(&m, dir);
	dm_pin(&m, CA, fa, 1);
	dm_published(&m, CA, "0.1.0");
	dm_pin(&m, CB, fb, 1);
	dm_published(&m, CB, "0.2.0");
	dm_pin(&m, CC, fc, 1);
	dm_published(&m, CC, "0.3.0");
	dm_pin(&m, CD, fd, 1);		/* a try, unpublished */
	ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);

	/* 0 keeps all; so does more than there are. */
	datamanifest_drop_old(&m, 0);
	ck_assert_uint_eq(m.nversions, 4);
	datamanifest_drop_old(&m, 3);
	ck_assert_uint_eq(m.nversions, 4);
	datamanifest_drop_old(&m, 10);
	ck_assert_uint_eq(m.nversions, 4);

	/* keep 2: A goes; B, C and the try D stay. */
	dm_load(&r, dir);
	datamanifest_drop_old(&r, 2);
	ck_assert_uint_eq(r.nversions, 3);
	ck_assert_str_eq(r.versions[0].source_commit, CB);
	ck_assert_str_eq(r.versions[1].source_commit, CC);
	ck_assert_str_eq(r.versions[2].source_commit, CD);
	ck_assert_ptr_null(r.versions[2].version);
	datamanifest_clear(&r);

	/* keep 1: only C and the try; kept by a save. */
	datamanifest_drop_old(&m, 1);
	ck_assert_uint_eq(m.nversions, 2);
	ck_assert_str_eq(m.versions[0].source_commit, CC);
	ck_assert_str_eq(m.versions[0].version, "0.3.0");
	ck_assert_str_eq(m.versions[1].source_commit, CD);
	ck_assert_ptr_null(dm_version(&m, CA));
	ck_assert_ptr_null(dm_version(&m, CB));
	dm_unref(&m, 1, NULL, 0, 0);
	ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);
	dm_load(&r, dir);
	dm_eq(&m, &r);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
	dm_list_free(fa);
	dm_list_free(fb);
	dm_list_free(fc);
	dm_list_free(fd);
}
END_TEST

START_TEST(test_try_forgotten)
{
	char			**fa = dm_list(F("a1"), F("ad"), NULL);
	char			**fd = dm_list(F("ad"), F("d1"), NULL);
	char			**fe = dm_list(F("e1"), NULL);
	struct datamanifest	 m;

	dm_load(&m, dir);
	dm_pin(&m, CA, fa, dm_len(fa));
	dm_published(&m, CA, "0.1.0");
	dm_pin(&m, CD, fd, dm_len(fd));	/* tried, never published */
	dm_pin(&m, CE, fe, dm_len(fe));
	ck_assert_uint_eq(m.nversions, 3);
	dm_published(&m, CE, "0.2.0");
	/* D's try is forgotten: it protects ad no more, and d1 was never
	 * a published version's. */
	ck_assert_uint_eq(m.nversions, 2);
	ck_assert_ptr_null(dm_version(&m, CD));
	ck_assert_str_eq(m.versions[0].source_commit, CA);
	ck_assert_str_eq(m.versions[1].source_commit, CE);
	dm_unref(&m, 1, NULL, 0, 2, F("a1"), F("ad"));
	dm_roundtrip(&m);
	ck_assert_ptr_null(dm_version(&m, CD));
	dm_unref(&m, 1, NULL, 0, 2, F("a1"), F("ad"));
	datamanifest_clear(&m);
	dm_list_free(fa);
	dm_list_free(fd);
	dm_list_free(fe);
}
END_TEST

START_TEST(test_try_protects)
{
	char			**fa = dm_list(F("a1"), F("ad"), NULL);
	char			**fb = dm_list(F("b1"), NULL);
	char			**fd = dm_list(F("ad"), F("d1"), NULL);
	struct datamanifest	 m;

	/* A try between two published versions, not yet published over:
	 * its files are kept. */
	dm_load(&m, dir);
	dm_pin(&m, CA, fa, dm_len(fa));
	dm_published(&m, CA, "0.1.0");
	dm_pin(&m, CD, fd, dm_len(fd));
	dm_pin(&m, CB, fb, dm_len(fb));
	dm_published(&m, CB, "0.2.0");
	/* Published B forgets D: tries before a publication go. */
	ck_assert_ptr_null(dm_version(&m, CD));
	dm_unref(&m, 1, NULL, 0, 2, F("a1"), F("ad"));
	/* A try after the newest publication protects. */
	dm_pin(&m, CD, fd, dm_len(fd));
	dm_unref(&m, 1, NULL, 0, 1, F("a1"));
	dm_roundtrip(&m);
	dm_unref(&m, 1, NULL, 0, 1, F("a1"));
	datamanifest_clear(&m);
	dm_list_free(fa);
	dm_list_free(fb);
	dm_list_free(fd);
}
END_TEST

START_TEST(test_pin_replaces_try)
{
	char			**f1 = dm_list(F("one"), F("shared"), NULL);
	char			**f2 = dm_list(F("two"), NULL);
	char			**f3 = dm_list(F("three"), F("shared"), NULL);
	char			**fa = dm_list(F("a"), F("one"), NULL);
	struct datamanifest	 m;

	dm_load(&m, dir);
	dm_pin(&m, CA, fa, dm_len(fa));
	dm_published(&m, CA, "0.1.0");
	dm_pin(&m, CC, f1, dm_len(f1));
	dm_pin(&m, CD, f2, dm_len(f2));
	dm_pin(&m, CC, f3, dm_len(f3));	/* C again: replaces its try */
	ck_assert_uint_eq(m.nversions, 3);
	ck_assert_str_eq(m.versions[0].source_commit, CA);
	ck_assert_str_eq(m.versions[1].source_commit, CD);
	ck_assert_str_eq(m.versions[2].source_commit, CC);
	ck_assert_uint_eq(m.versions[2].nfiles, 2);
	ck_assert_str_eq(m.versions[2].files[0], F("three"));
	dm_roundtrip(&m);
	ck_assert_uint_eq(m.nversions, 3);
	ck_assert_str_eq(m.versions[2].files[0], F("three"));
	/* Published, C's first try's "one" no longer protects A's. */
	dm_published(&m, CC, "0.2.0");
	ck_assert_uint_eq(m.nversions, 2);
	ck_assert_ptr_null(dm_version(&m, CD));
	dm_unref(&m, 1, NULL, 0, 2, F("a"), F("one"));
	dm_roundtrip(&m);
	dm_unref(&m, 1, NULL, 0, 2, F("a"), F("one"));
	datamanifest_clear(&m);
	dm_list_free(f1);
	dm_list_free(f2);
	dm_list_free(f3);
	dm_list_free(fa);
}
END_TEST

/*
 * A crash after save renamed data.json into place but before it
 * unlinked data.journal: the next load replays the journal over a
 * manifest that already holds it. Files replay to the same; versions
 * should too.
 */
START_TEST(test_save_crash_replay)
{
	char			**fx = dm_list(F("x"), NULL);
	char			**fa = dm_list(F("a"), NULL);
	struct datamanifest	 m, r;
	char			*cause = NULL, *path, *journal;

	dm_load(&m, dir);
	dm_pin(&m, CB, fx, 1);
	dm_published(&m, CB, "0.0.1");
	ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);
	dm_record(&m, S1, D1, "a.bin", 1);
	dm_forget(&m, S1, D1, "a.bin");
	dm_record(&m, S1, D1, "b.bin", 2);
	dm_pin(&m, CA, fa, 1);
	dm_published(&m, CA, "0.1.0");
	path = dm_path(dir, "data.journal");
	journal = testutil_read(path);
	ck_assert_msg(datamanifest_save(&m, &cause) == 0, "%s", cause);
	testutil_write(path, journal, 0600);
	free(journal);
	free(path);
	dm_load(&r, dir);
	ck_assert_uint_eq(r.ncolls, m.ncolls);
	ck_assert_uint_eq(r.colls[0].nfiles, 1);
	dm_file_eq(&r.colls[0].files[0], &m.colls[0].files[0]);
	/* The journal names the generation it follows: the one the
	 * second save holds already is not replayed again. */
	dm_eq(&m, &r);
	dm_unref(&r, 2, NULL, 0, 0);
	dm_unref(&m, 2, NULL, 0, 0);
	datamanifest_clear(&r);
	datamanifest_clear(&m);
	dm_list_free(fx);
	dm_list_free(fa);
}
END_TEST

/* A copy begun is journaled with what both sides held; recording or
 * forgetting its file ends it; a save keeps the ones still open. */
START_TEST(test_starts)
{
	struct datamanifest		 m, r;
	struct datamanifest_coll	*c;
	char				 an[] = "a.bin", bn[] = "b.bin";
	char				 am[] = "2026-01-02T03:04:05Z";
	char				 bm[] = "2026-01-02T03:04:06Z";
	char				 bd[] = "2025-12-31T00:00:00Z";
	struct datamanifest_start	 a = {
		.name = an, .src_modified = am, .src_size = 10, .dst_size = -1,
	}, b = {
		.name = bn, .src_modified = bm, .src_size = 20, .dst_size = 5,
		.dst_modified = bd,
	};
	const struct datamanifest_start	*st;
	const cJSON			*starts;
	cJSON				*root;
	char				*cause = NULL, *path, *text;

	dm_load(&m, dir);
	c = datamanifest_coll(&m, S1, D1);
	ck_assert_msg(datamanifest_start(&m, c, &a, &cause) == 0, "%s", cause);
	ck_assert_msg(datamanifest_start(&m, c, &b, &cause) == 0, "%s", cause);
	/* A second start of a name replaces the first. */
	b.src_size = 21;
	ck_assert_msg(datamanifest_start(&m, c, &b, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(c->nstarts, 2);
	dm_load(&r, dir);
	c = datamanifest_coll(&r, S1, D1);
	ck_assert_ptr_nonnull(st = datamanifest_started(c, "a.bin"));
	ck_assert_int_eq(st->dst_size, -1);
	ck_assert_ptr_null(st->dst_modified);
	ck_assert_str_eq(st->src_modified, "2026-01-02T03:04:05Z");
	ck_assert_ptr_nonnull(st = datamanifest_started(c, "b.bin"));
	ck_assert_int_eq(st->src_size, 21);
	ck_assert_int_eq(st->dst_size, 5);
	ck_assert_str_eq(st->dst_modified, "2025-12-31T00:00:00Z");
	ck_assert_ptr_null(datamanifest_started(c, "c.bin"));
	datamanifest_clear(&r);

	/* The copy of a.bin is recorded: its start is over. */
	dm_record(&m, S1, D1, "a.bin", 10);
	c = datamanifest_coll(&m, S1, D1);
	ck_assert_ptr_null(datamanifest_started(c, "a.bin"));
	dm_load(&r, dir);
	ck_assert_ptr_null(datamanifest_started(datamanifest_coll(&r, S1, D1),
	    "a.bin"));
	ck_assert_ptr_nonnull(datamanifest_started(datamanifest_coll(&r, S1,
	    D1), "b.bin"));
	/* A save holds the start still open, and only it. */
	ck_assert_msg(datamanifest_save(&r, &cause) == 0, "%s", cause);
	datamanifest_clear(&r);
	path = dm_path(dir, "data.json");
	text = testutil_read(path);
	ck_assert_ptr_nonnull(root = cJSON_Parse(text));
	starts = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(root, "collections"), 0),
	    "started");
	ck_assert_int_eq(cJSON_GetArraySize(starts), 1);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
	    starts, 0), "name")->valuestring, "b.bin");
	cJSON_Delete(root);
	free(text);
	dm_load(&r, dir);
	c = datamanifest_coll(&r, S1, D1);
	ck_assert_uint_eq(c->nstarts, 1);
	ck_assert_ptr_nonnull(st = datamanifest_started(c, "b.bin"));
	ck_assert_str_eq(st->dst_modified, "2025-12-31T00:00:00Z");
	/* Forgetting b.bin ends its start too; the next save has none. */
	ck_assert_msg(datamanifest_forget(&r, c, "b.bin", &cause) == 0, "%s",
	    cause);
	ck_assert_uint_eq(c->nstarts, 0);
	ck_assert_msg(datamanifest_save(&r, &cause) == 0, "%s", cause);
	datamanifest_clear(&r);
	text = testutil_read(path);
	ck_assert_ptr_null(strstr(text, "\"started\""));
	free(text);
	free(path);
	datamanifest_clear(&m);
}
END_TEST

/* A bad "started" list or entry in data.json is damage, moved aside. */
START_TEST(test_bad_starts)
{
	static const char *const bad[] = {
		"\"started\": {}",
		"\"started\": [{\"name\": \"a\", \"source_last_modified\": "
		    "\"t\"}]",
		"\"started\": [{\"name\": \"a\", \"source_last_modified\": "
		    "\"t\", \"source_size\": 1, \"destination_size\": 2, "
		    "\"destination_last_modified\": null}]",
		"\"started\": [{\"name\": \"\", \"source_last_modified\": "
		    "\"t\", \"source_size\": 1, \"destination_size\": null, "
		    "\"destination_last_modified\": null}]",
	};
	struct datamanifest	 m;
	char			*d, *path, *text;
	size_t			 i;

	for (i = 0; i < nitems(bad); i++) {
		d = dm_subdir(200 + (int)i);
		path = dm_path(d, "data.json");
		text = xprintf("{\"format\": 1, \"collections\": [{\"source\": "
		    "\"" S1 "\", \"destination\": \"" D1 "\", \"files\": [], "
		    "%s}]}", bad[i]);
		testutil_write(path, text, 0600);
		free(text);
		free(path);
		dm_load_corrupt(d, "data.json", bad[i]);
		testutil_rmtree(d);
		free(d);
	}
	/* The well-formed one loads. */
	d = dm_subdir(299);
	path = dm_path(d, "data.json");
	testutil_write(path, "{\"format\": 1, \"collections\": [{\"source\": "
	    "\"" S1 "\", \"destination\": \"" D1 "\", \"files\": [], "
	    "\"started\": [{\"name\": \"a\", \"source_last_modified\": \"t\", "
	    "\"source_size\": 1, \"destination_size\": null, "
	    "\"destination_last_modified\": null}]}]}", 0600);
	free(path);
	dm_load(&m, d);
	ck_assert_uint_eq(m.colls[0].nstarts, 1);
	ck_assert_int_eq(m.colls[0].starts[0].dst_size, -1);
	datamanifest_clear(&m);
	free(d);
}
END_TEST

START_TEST(test_coll_to)
{
	struct datamanifest		 m, r;
	struct datamanifest_coll	*c;

	dm_load(&m, dir);
	ck_assert_ptr_null(datamanifest_coll_to(&m, D1));
	datamanifest_coll(&m, S1, D1);
	datamanifest_coll(&m, S2, D2);
	ck_assert_ptr_nonnull(c = datamanifest_coll_to(&m, D2));
	ck_assert_ptr_eq(c, datamanifest_coll(&m, S2, D2));
	ck_assert_str_eq(c->source, S2);
	ck_assert_ptr_nonnull(c = datamanifest_coll_to(&m, D1));
	ck_assert_ptr_eq(c, datamanifest_coll(&m, S1, D1));
	ck_assert_str_eq(c->source, S1);
	/* A source is not a destination; the match is exact. */
	ck_assert_ptr_null(datamanifest_coll_to(&m, S1));
	ck_assert_ptr_null(datamanifest_coll_to(&m, "data://acme/mode"));
	ck_assert_ptr_null(datamanifest_coll_to(&m, "data://acme/models/"));
	ck_assert_ptr_null(datamanifest_coll_to(&m, ""));
	/* Found again after a replay of what was recorded in them. */
	dm_record(&m, S1, D1, "a.bin", 1);
	dm_record(&m, S2, D2, "b.csv", 2);
	dm_load(&r, dir);
	ck_assert_ptr_nonnull(c = datamanifest_coll_to(&r, D1));
	ck_assert_str_eq(c->source, S1);
	ck_assert_ptr_nonnull(datamanifest_find(c, "a.bin"));
	ck_assert_ptr_nonnull(c = datamanifest_coll_to(&r, D2));
	ck_assert_ptr_nonnull(datamanifest_find(c, "b.csv"));
	datamanifest_clear(&r);
	datamanifest_clear(&m);
}
END_TEST

Suite *
datamanifest_suite(void)
{
	Suite	*s = suite_create("datamanifest");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_empty);
	tcase_add_test(tc, test_record_find_forget);
	tcase_add_test(tc, test_journal_replay);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_torn_last_line);
	tcase_add_test(tc, test_torn_then_record);
	tcase_add_test(tc, test_unterminated_then_record);
	tcase_add_test(tc, test_bad_journal_line);
	tcase_add_test(tc, test_bad_manifest);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_drop_old);
	tcase_add_test(tc, test_try_forgotten);
	tcase_add_test(tc, test_try_protects);
	tcase_add_test(tc, test_pin_replaces_try);
	tcase_add_test(tc, test_save_crash_replay);
	tcase_add_test(tc, test_coll_to);
	tcase_add_test(tc, test_starts);
	tcase_add_test(tc, test_newer_format);
	tcase_add_test(tc, test_bad_starts);
	suite_add_tcase(s, tc);
	return s;
}
