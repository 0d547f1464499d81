/* promote_data.c: hosted data follows the code: before the push, each
 * data: mapping's destination collection is made to hold the source's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api_data.h"
#include "datamanifest.h"
#include "failpoint.h"
#include "modelmanifest.h"
#include "monotime.h"
#include "promote_int.h"
#include "xmalloc.h"

/* One file to copy. */
struct promote_data_copy {
	size_t			 map;		/* index into pair->data */
	const struct api_data_file *src;
	const struct api_data_file *dst;	/* listed there; NULL: none */
	int			 drift;		/* over a changed file */
	int			 landed;	/* copied before a crash? */
};

/* One mapping, listed. */
struct promote_data_map {
	const struct config_data_map *cfg;
	const char		*sowner;	/* ".my" resolved */
	const char		*downer;
	char			*suri;		/* data://OWNER/COLL */
	char			*duri;
	struct api_data_listing	 src;
	struct api_data_listing	 dst;		/* sorted by name */
	int			 dst_missing;
};

/* What one run does. */
struct promote_data_run {
	struct promote_job	*j;
	struct datamanifest	 man;
	struct promote_data_map	*maps;
	size_t			 nmaps;
	struct promote_data_copy *copies;
	size_t			 ncopies;
	int64_t			 files_done;
	int64_t			 bytes_total;
	int64_t			 bytes_done;	/* of whole files */
	int64_t			 bytes_file;	/* of the one under way */
};

static int
promote_data_sort_files(const void *a, const void *b)
{
	const struct api_data_file	*fa = a, *fb = b;

	return strcmp(fa->name, fb->name);
}

static int
promote_data_cmp_name(const void *key, const void *elem)
{
	const struct api_data_file	*f = elem;

	return strcmp(key, f->name);
}

static const struct api_data_file *
promote_data_lookup(const struct api_data_listing *l, const char *name)
{
	if (l->nfiles == 0)
		return NULL;
	return bsearch(name, l->files, l->nfiles, sizeof *l->files,
	    promote_data_cmp_name);
}

static void
promote_data_progress(struct promote_data_run *r)
{
	const struct promote_opts	*o = r->j->opts;

	if (o->data_progress != NULL)
		o->data_progress(o->progress_arg, r->files_done,
		    (int64_t)r->ncopies, r->bytes_done + r->bytes_file,
		    r->bytes_total);
}

static void
promote_data_bytes(void *arg, int64_t bytes)
{
	struct promote_data_run	*r = arg;

	r->bytes_file = bytes;
	promote_data_progress(r);
}

/* The JSON text of an acl: override, or NULL. */
static cJSON *
promote_data_acl(const struct promote_data_map *m)
{
	if (m->cfg->acl_json != NULL)
		return cJSON_Parse(m->cfg->acl_json);
	if (m->src.acl != NULL)
		return cJSON_Duplicate(m->src.acl, 1);
	return NULL;
}

/*
 * Lists a mapping's two collections; creates the destination when it
 * is missing (not in a dry run, which says it would). 0 or -1.
 */
static int
promote_data_list(struct promote_data_run *r, struct promote_data_map *m)
{
	struct promote_job	*j = r->j;
	struct api_error	 e;
	cJSON			*acl;
	uint64_t		 start = monotime_ms();
	int			 rv;

	rv = api_data_list(j->sapi, m->sowner, m->cfg->src_coll, &m->src, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "listing source data", &e);
	if (rv == 0)
		return promote_job_fail(j, 1, "source collection %s does not "
		    "exist", m->suri);
	rv = api_data_list(j->dapi, m->downer, m->cfg->dst_coll, &m->dst, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "listing destination data", &e);
	if (rv == 1) {
		if (m->dst.nfiles > 1)
			qsort(m->dst.files, m->dst.nfiles, sizeof *m->dst.files,
			    promote_data_sort_files);
		return 0;
	}
	m->dst_missing = 1;
	if (j->opts->dry_run) {
		fprintf(j->opts->report, "%s: would create collection %s\n",
		    j->name, m->duri);
		return 0;
	}
	acl = promote_data_acl(m);
	rv = api_data_create(j->dapi, m->downer, m->cfg->dst_coll, acl, &e);
	cJSON_Delete(acl);
	if (rv == -1)
		return promote_job_fail_api(j, "creating destination "
		    "collection", &e);
	promote_job_step_done(j, rv == 1 ? "create collection" :
	    "create collection (it already existed)", start, m->duri);
	return 0;
}

/*
 * A file the route copied whose destination copy is gone or has another
 * size than the one uploaded: someone else changed it. on_drift:
 * overwrite (or an operator's resume of this very file) copies over it;
 * hold records the drift (STATE_HELD) and stops the run. 0 copy it,
 * 1 held, -1 error.
 */
static int
promote_data_drift(struct promote_data_run *r, struct promote_data_map *m,
    const struct datamanifest_file *e, const struct api_data_file *d)
{
	struct promote_job	*j = r->j;
	char			*uri, *what;
	int			 rv = 0;

	uri = xprintf("%s/%s", m->duri, e->name);
	if (d == NULL)
		what = xprintf("%s was deleted outside algopromoted", uri);
	else
		what = xprintf("%s changed outside algopromoted: %lld bytes "
		    "there, %lld uploaded", uri, (long long)d->size,
		    (long long)e->size);
	if (j->pol->on_drift == CONFIG_DRIFT_OVERWRITE ||
	    (j->st.accepted_dest_commit != NULL &&
	    strcmp(j->st.accepted_dest_commit, uri) == 0)) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s; copying the source's "
		    "over it%s", what, j->pol->on_drift ==
		    CONFIG_DRIFT_OVERWRITE ? " (on_drift: overwrite)" : "");
		if (j->opts->drifted != NULL && !j->opts->dry_run)
			*j->opts->drifted = 1;
	} else if (j->opts->dry_run) {
		fprintf(j->opts->report, "%s: held: %s (on_drift: hold)\n",
		    j->name, what);
		rv = 1;
	} else {
		promote_job_log(j, LOG_LEVEL_WARN, "%s: the route is held "
		    "until `algopromotectl resume %s` (on_drift: hold)", what,
		    j->pair->name);
		state_set(&j->st.drift_dest_commit, uri);
		state_set(&j->st.drift_author, "hosted data");
		state_set(&j->st.drift_subject, what);
		j->st.drift_time = (int64_t)time(NULL);
		rv = promote_record_save(j, STATE_HELD) == -1 ? -1 : 1;
	}
	free(what);
	free(uri);
	return rv;
}

/*
 * Whether a copy of f begun before (st) may have finished without being
 * recorded (a crash between the PUT's answer and the journal): the
 * source is still what it copied, and the destination now holds a file
 * of the source's size that differs, by size or last_modified, from what
 * it held when the copy began. Only then is the file hashed in place
 * rather than copied again; the hash is what gets recorded.
 */
static int
promote_data_landed(const struct datamanifest_start *st,
    const struct api_data_file *f, const struct api_data_file *d)
{
	if (st == NULL || d == NULL || d->size != f->size ||
	    st->src_size != f->size ||
	    strcmp(st->src_modified, f->last_modified) != 0)
		return 0;
	return st->dst_size < 0 || st->dst_size != d->size ||
	    st->dst_modified == NULL ||
	    strcmp(st->dst_modified, d->last_modified) != 0;
}

/* Which files of a listed mapping need copying. 0, 1 held, -1. */
static int
promote_data_compare(struct promote_data_run *r, size_t mi)
{
	struct promote_data_map		*m = &r->maps[mi];
	struct datamanifest_coll	*coll;
	const struct api_data_file	*f, *d;
	const struct datamanifest_file	*e;
	size_t				 i;
	int				 drift, rv;

	coll = datamanifest_coll(&r->man, m->suri, m->duri);
	for (i = 0; i < m->src.nfiles; i++) {
		f = &m->src.files[i];
		d = promote_data_lookup(&m->dst, f->name);
		e = datamanifest_find(coll, f->name);
		drift = 0;
		if (e != NULL && e->src_size == f->size &&
		    strcmp(e->src_modified, f->last_modified) == 0) {
			/* The source has not changed since it was copied. */
			if (d != NULL && d->size == e->size)
				continue;
			if ((rv = promote_data_drift(r, m, e, d)) != 0)
				return rv;
			drift = 1;
		}
		r->copies = xreallocarray(r->copies, r->ncopies + 1,
		    sizeof *r->copies);
		r->copies[r->ncopies++] = (struct promote_data_copy){
			.map = mi, .src = f, .dst = d, .drift = drift,
			.landed = !drift && promote_data_landed(
			    datamanifest_started(coll, f->name), f, d),
		};
		r->bytes_total += f->size;
	}
	return 0;
}

static int
promote_data_copy_one(struct promote_data_run *r,
    const struct promote_data_copy *c)
{
	struct promote_job		*j = r->j;
	struct promote_data_map		*m = &r->maps[c->map];
	struct datamanifest_coll	*coll;
	struct api_data_copy		 out;
	struct datamanifest_file	 rec;
	struct datamanifest_start	 st;
	struct api_error		 e;
	char				*cause = NULL;

	r->bytes_file = 0;
	if (c->landed && api_data_hash(j->dapi, m->downer, m->cfg->dst_coll,
	    c->src->name, c->src->size, &out, &e) == 0)
		promote_job_log(j, LOG_LEVEL_INFO, "data: %s/%s was in place "
		    "already (copied before an interruption): hashed, not "
		    "copied again", m->duri, c->src->name);
	else {
		/* The destination as it is now: after a crash in the copy
		 * a change of it tells the copy landed. */
		memset(&st, 0, sizeof st);
		st.name = c->src->name;
		st.src_modified = c->src->last_modified;
		st.src_size = c->src->size;
		st.dst_size = c->dst != NULL ? c->dst->size : -1;
		st.dst_modified = c->dst != NULL ? c->dst->last_modified : NULL;
		coll = datamanifest_coll(&r->man, m->suri, m->duri);
		if (datamanifest_start(&r->man, coll, &st, &cause) == -1) {
			promote_job_fail(j, 0, "recording a data copy: %s",
			    cause);
			free(cause);
			return -1;
		}
		if (api_data_copy(j->sapi, m->sowner, m->cfg->src_coll,
		    c->src->name, j->dapi, m->downer, m->cfg->dst_coll,
		    c->src->name, c->src->size, NULL, promote_data_bytes, r,
		    &out, &e) == -1) {
			promote_job_fail(j, 0, "copying %s/%s: %s", m->suri,
			    c->src->name, e.message);
			return -1;
		}
		FAILPOINT(j->name, "after-data-copy");
	}
	memset(&rec, 0, sizeof rec);
	rec.name = c->src->name;
	rec.src_modified = c->src->last_modified;
	rec.src_size = c->src->size;
	rec.size = out.bytes;
	memcpy(rec.sha256, out.sha256, sizeof rec.sha256);
	memcpy(rec.md5, out.md5, sizeof rec.md5);
	/* Looked up now: adding a collection pair may move the others. */
	coll = datamanifest_coll(&r->man, m->suri, m->duri);
	if (datamanifest_record(&r->man, coll, &rec, &cause) == -1) {
		promote_job_fail(j, 0, "recording a data copy: %s", cause);
		free(cause);
		return -1;
	}
	r->files_done++;
	r->bytes_done += c->src->size;
	r->bytes_file = 0;
	promote_data_progress(r);
	promote_job_log(j, LOG_LEVEL_DEBUG, "data: copied %s/%s to %s (%lld "
	    "bytes)", m->suri, c->src->name, m->duri, (long long)out.bytes);
	return 0;
}

/* delete: true: files at the destination the source no longer has. */
static int
promote_data_delete_gone(struct promote_data_run *r, size_t mi, int *n)
{
	struct promote_job		*j = r->j;
	struct promote_data_map		*m = &r->maps[mi];
	struct datamanifest_coll	*coll;
	struct api_error		 e;
	const char			*name;
	char				*cause = NULL, md5[33];
	size_t				 i;

	if (!m->cfg->delete_gone)
		return 0;
	coll = datamanifest_coll(&r->man, m->suri, m->duri);
	for (i = 0; i < m->dst.nfiles; i++) {
		name = m->dst.files[i].name;
		if (promote_data_lookup(&m->src, name) != NULL)
			continue;
		/* A pinned copy is a version's, not the collection's. */
		if (modelmanifest_pinned_parse(name, md5) &&
		    datamanifest_find(coll, name) != NULL)
			continue;
		if (j->opts->dry_run) {
			fprintf(j->opts->report, "%s: would delete %s/%s "
			    "(gone at the source)\n", j->name, m->duri, name);
			continue;
		}
		if (api_data_delete(j->dapi, m->downer, m->cfg->dst_coll, name,
		    &e) == -1)
			return promote_job_fail_api(j, "deleting destination "
			    "data", &e);
		if (datamanifest_find(coll, name) != NULL &&
		    datamanifest_forget(&r->man, coll, name, &cause) == -1) {
			promote_job_fail(j, 0, "recording a data deletion: %s",
			    cause);
			free(cause);
			return -1;
		}
		promote_job_log(j, LOG_LEVEL_INFO, "data: deleted %s/%s (gone "
		    "at the source)", m->duri, name);
		(*n)++;
	}
	return 0;
}

/* The mapped collections, for the model manifest's files. */
static int
promote_data_pin(struct promote_data_run *r)
{
	struct promote_pin_target	*t;
	size_t				 i;
	int				 rv;

	/* Every pair first: adding one may move the others. */
	for (i = 0; i < r->nmaps; i++)
		datamanifest_coll(&r->man, r->maps[i].suri, r->maps[i].duri);
	t = xcalloc(r->nmaps, sizeof *t);
	for (i = 0; i < r->nmaps; i++) {
		t[i].sowner = r->maps[i].sowner;
		t[i].scoll = r->maps[i].cfg->src_coll;
		t[i].downer = r->maps[i].downer;
		t[i].dcoll = r->maps[i].cfg->dst_coll;
		t[i].src = &r->maps[i].src;
		t[i].dst = &r->maps[i].dst;
		t[i].coll = datamanifest_coll(&r->man, r->maps[i].suri,
		    r->maps[i].duri);
	}
	rv = promote_pin(r->j, &r->man, t, r->nmaps);
	free(t);
	return rv;
}

static void
promote_data_run_clear(struct promote_data_run *r)
{
	size_t	 i;

	for (i = 0; i < r->nmaps; i++) {
		free(r->maps[i].suri);
		free(r->maps[i].duri);
		api_data_listing_clear(&r->maps[i].src);
		api_data_listing_clear(&r->maps[i].dst);
	}
	free(r->maps);
	free(r->copies);
	datamanifest_clear(&r->man);
}

static void
promote_data_report(struct promote_data_run *r)
{
	struct promote_job	*j = r->j;
	size_t			 i;

	for (i = 0; i < r->ncopies; i++)
		fprintf(j->opts->report, "%s: would %s %s/%s (%lld bytes)%s\n",
		    j->name, r->copies[i].landed ? "hash in place" : "copy",
		    r->maps[r->copies[i].map].suri,
		    r->copies[i].src->name, (long long)r->copies[i].src->size,
		    r->copies[i].drift ? " over a file changed outside "
		    "algopromoted" : r->copies[i].landed ? ", copied before "
		    "an interruption" : "");
}

/*
 * Every mapping: list both sides, decide, then copy what changed and
 * (delete: true) delete what went, each copy recorded in the route's
 * data manifest as it lands, so that a run after a crash copies only
 * what is still missing. Returns 0 (done or nothing to do), 1 held on
 * a file changed outside algopromoted, -1 failed.
 */
int
promote_data_sync(struct promote_job *j)
{
	struct promote_data_run	 r;
	struct promote_data_map	*m;
	char			*cause = NULL, *warning = NULL;
	uint64_t		 start = monotime_ms();
	size_t			 i;
	int			 rv = -1, deleted = 0;

	if (j->pair->ndata == 0)
		return 0;
	/* Copies may take minutes: the metadata step reads the destination
	 * again rather than write back an old copy of it. */
	cJSON_Delete(j->dalgo);
	j->dalgo = NULL;
	memset(&r, 0, sizeof r);
	r.j = j;
	if (datamanifest_load(&r.man, j->dir, &warning, &cause) == -1) {
		promote_job_fail(j, 0, "reading the data manifest: %s", cause);
		free(cause);
		return -1;
	}
	if (warning != NULL) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s", warning);
		free(warning);
	}
	r.maps = xcalloc(j->pair->ndata, sizeof *r.maps);
	for (i = 0; i < j->pair->ndata; i++) {
		m = &r.maps[r.nmaps++];
		m->cfg = &j->pair->data[i];
		m->sowner = config_data_owner(m->cfg->src_owner,
		    j->pair->source.cluster);
		m->downer = config_data_owner(m->cfg->dst_owner,
		    j->dst->cluster);
		m->suri = xprintf("data://%s/%s", m->sowner, m->cfg->src_coll);
		m->duri = xprintf("data://%s/%s", m->downer, m->cfg->dst_coll);
		if (promote_data_list(&r, m) == -1)
			goto out;
		if ((rv = promote_data_compare(&r, i)) != 0)
			goto out;
		rv = -1;
	}
	if (j->opts->dry_run) {
		promote_data_report(&r);
		if (promote_data_pin(&r) == -1)
			goto out;
		for (i = 0; i < r.nmaps; i++)
			promote_data_delete_gone(&r, i, &deleted);
		rv = 0;
		goto out;
	}
	if (r.ncopies != 0) {
		if (promote_record_save(j, STATE_DATA) == -1)
			goto out;
		promote_data_progress(&r);
	}
	/* Pinned files first: a model manifest its data disagrees with
	 * stops the run before anything is written. */
	if (promote_data_pin(&r) == -1)
		goto out;
	for (i = 0; i < r.ncopies; i++) {
		if (promote_job_cancelled(j)) {
			promote_job_fail(j, 0, "data copy stopped after %lld of "
			    "%zu files", (long long)r.files_done, r.ncopies);
			goto out;
		}
		if (promote_data_copy_one(&r, &r.copies[i]) == -1)
			goto out;
	}
	for (i = 0; i < r.nmaps; i++)
		if (promote_data_delete_gone(&r, i, &deleted) == -1)
			goto out;
	if (r.man.journaled != 0 && datamanifest_save(&r.man, &cause) == -1) {
		promote_job_fail(j, 0, "saving the data manifest: %s", cause);
		free(cause);
		goto out;
	}
	if (r.ncopies != 0 || deleted != 0) {
		promote_job_log(j, LOG_LEVEL_INFO, "data: copied %zu files "
		    "(%lld bytes), deleted %d", r.ncopies,
		    (long long)r.bytes_total, deleted);
		promote_job_step_done(j, "data", start, NULL);
	}
	rv = 0;
out:
	promote_data_run_clear(&r);
	return rv;
}
