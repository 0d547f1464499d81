/* promote_pin.c: the hosted files a promoted tree's ADK model manifest
 * names are copied under content-addressed names, the manifest re-locked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelmanifest.h"
#include "promote_int.h"
#include "treeglob.h"
#include "xmalloc.h"

static const char *const promote_pin_names[] = {
	MODELMANIFEST_FROZEN, MODELMANIFEST_UNFROZEN, NULL
};

/*
 * The model manifest at the root of the source commit that the
 * destination tree carries: the frozen one if there is one. 1 with
 * *name and *text, 0 none, -1 (j->error).
 */
static int
promote_pin_read(struct promote_job *j, const char **name, char **text,
    size_t *len)
{
	const char *const	*n;
	char			*cause = NULL;
	int			 rv;

	for (n = promote_pin_names; *n != NULL; n++) {
		if (treeglob_any(j->pol->exclude, *n) ||
		    treeglob_any(j->pol->preserve, *n))
			continue;
		rv = gitops_root_blob(j->repo, &j->src, *n, MODELMANIFEST_MAX,
		    text, len, &cause);
		if (rv == -1)
			return promote_job_fail_git(j, "reading the model "
			    "manifest", cause);
		if (rv == 1) {
			*name = *n;
			return 1;
		}
	}
	return 0;
}

static const struct promote_pin_target *
promote_pin_target(struct promote_job *j, const struct promote_pin_target *t,
    size_t n, const struct modelmanifest_file *f)
{
	const char	*owner;
	size_t		 i;

	owner = config_data_owner(f->owner, j->pair->source.cluster);
	for (i = 0; i < n; i++)
		if (strcmp(t[i].sowner, owner) == 0 &&
		    strcmp(t[i].scoll, f->coll) == 0)
			return &t[i];
	return NULL;
}

static const struct api_data_file *
promote_pin_listed(const struct api_data_listing *l, const char *name)
{
	size_t	 i;

	for (i = 0; i < l->nfiles; i++)
		if (strcmp(l->files[i].name, name) == 0)
			return &l->files[i];
	return NULL;
}

static int
promote_pin_done(struct promote_job *j, const char *path)
{
	size_t	 i;

	for (i = 0; i < j->npin_files; i++)
		if (strcmp(j->pin_files[i], path) == 0)
			return 1;
	return 0;
}

/*
 * One file of the manifest, in a mapped collection: copied to its pinned
 * name unless that is there already (a name never changes meaning), its
 * MD5 checked against the manifest's on the way; the manifest then names
 * the copy. 0 or -1.
 */
static int
promote_pin_file(struct promote_job *j, struct datamanifest *man,
    const struct promote_pin_target *t, struct modelmanifest *mm, size_t i)
{
	const struct modelmanifest_file	*f = modelmanifest_file(mm, i);
	const struct api_data_file	*sf, *df;
	struct datamanifest_file	 rec;
	struct api_data_copy		 out;
	struct api_error		 e;
	char				*pinned = NULL, *path = NULL, *uri = NULL;
	char				*cause = NULL, md5[33];
	int				 rv = -1;

	if ((sf = promote_pin_listed(t->src, f->file)) == NULL)
		return promote_job_fail(j, 1, "the model manifest names "
		    "%s, which data://%s/%s does not hold", f->uri, t->sowner,
		    t->scoll);
	if (f->md5 != NULL)
		memcpy(md5, f->md5, sizeof md5);
	else {
		/* An entry without its MD5 (optional files): what the
		 * source holds now is what gets pinned. */
		if (api_data_hash(j->sapi, t->sowner, t->scoll, f->file,
		    sf->size, &out, &e) == -1)
			return promote_job_fail_api(j, "hashing a model file",
			    &e);
		memcpy(md5, out.md5, sizeof md5);
	}
	if ((pinned = modelmanifest_pinned_name(f->file, md5)) == NULL)
		return promote_job_fail(j, 1, "%s: cannot name its pinned "
		    "copy", f->uri);
	path = xprintf("%s/%s/%s", t->downer, t->dcoll, pinned);
	uri = xprintf("data://%s", path);
	df = promote_pin_listed(t->dst, pinned);
	if ((df != NULL && df->size == sf->size) ||
	    promote_pin_done(j, path))
		;	/* in place: same name, same bytes */
	else if (j->opts->dry_run)
		fprintf(j->opts->report, "%s: would pin %s as %s (%lld "
		    "bytes)\n", j->name, f->uri, uri, (long long)sf->size);
	else {
		if (api_data_copy(j->sapi, t->sowner, t->scoll, f->file,
		    j->dapi, t->downer, t->dcoll, pinned, sf->size, md5,
		    NULL, NULL, &out, &e) == -1) {
			if (strstr(e.message, "has MD5") != NULL)
				promote_job_fail(j, 1, "the model manifest and "
				    "the source's data disagree: %s",
				    e.message);
			else
				promote_job_fail(j, 0, "pinning %s: %s",
				    f->uri, e.message);
			goto out;
		}
		memset(&rec, 0, sizeof rec);
		rec.name = pinned;
		rec.src_modified = sf->last_modified;
		rec.src_size = sf->size;
		rec.size = out.bytes;
		memcpy(rec.sha256, out.sha256, sizeof rec.sha256);
		memcpy(rec.md5, out.md5, sizeof rec.md5);
		if (datamanifest_record(man, t->coll, &rec, &cause) == -1) {
			promote_job_fail(j, 0, "recording a pinned copy: %s",
			    cause);
			free(cause);
			goto out;
		}
		promote_job_log(j, LOG_LEVEL_INFO, "data: pinned %s as %s",
		    f->uri, uri);
	}
	if (modelmanifest_set_uri(mm, i, uri, &cause) == -1) {
		promote_job_fail(j, 1, "model manifest: %s", cause);
		free(cause);
		goto out;
	}
	if (!promote_pin_done(j, path)) {
		j->pin_files = xreallocarray(j->pin_files, j->npin_files + 1,
		    sizeof *j->pin_files);
		j->pin_files[j->npin_files++] = path;
		path = NULL;
	}
	rv = 0;
out:
	free(pinned);
	free(path);
	free(uri);
	return rv;
}

/*
 * When the promoted tree holds a model manifest whose data:// URIs fall
 * in mapped source collections: each such file is pinned (copied to the
 * destination collection as NAME.MD5.EXT, its MD5 checked against the
 * manifest before anything is pushed) and the destination tree gets the
 * manifest naming the copies, its lock_checksum made again by the ADK's
 * rule (j->pin_name, j->pin_blob). So a published version loads exactly
 * the bytes it was promoted with, whatever later promotions copy.
 * 0 (done, or nothing to pin), -1 failed.
 */
int
promote_pin(struct promote_job *j, struct datamanifest *man,
    const struct promote_pin_target *t, size_t nt)
{
	struct modelmanifest		*mm = NULL;
	const struct promote_pin_target	*tt;
	const char			*name = NULL;
	char				*text = NULL, *out = NULL, *cause = NULL;
	size_t				 len, olen, i, pinned = 0;
	int				 rv;

	if ((rv = promote_pin_read(j, &name, &text, &len)) <= 0)
		return rv;
	rv = -1;
	if (modelmanifest_parse(&mm, text, len, name, &cause) == -1) {
		promote_job_fail(j, 1, "source commit %.12s: %s", j->srchex,
		    cause);
		goto out;
	}
	if (modelmanifest_frozen(mm) &&
	    (rv = modelmanifest_lock_ok(mm, &cause)) != 1) {
		if (rv == 0)
			promote_job_fail(j, 1, "source commit %.12s: %s: its "
			    "lock_checksum does not match its content (the "
			    "ADK would refuse to load it)", j->srchex, name);
		else
			promote_job_fail(j, 1, "source commit %.12s: %s",
			    j->srchex, cause);
		rv = -1;
		goto out;
	}
	rv = -1;
	for (i = 0; i < modelmanifest_nfiles(mm); i++) {
		tt = promote_pin_target(j, t, nt, modelmanifest_file(mm, i));
		if (tt == NULL)
			continue;
		if (promote_pin_file(j, man, tt, mm, i) == -1)
			goto out;
		pinned++;
	}
	if (pinned == 0) {
		rv = 0;
		goto out;
	}
	if (modelmanifest_render(mm, &out, &olen, &cause) == -1) {
		promote_job_fail(j, 1, "%s: %s", name, cause);
		goto out;
	}
	if (gitops_blob_write(j->repo, out, olen, &j->pin_blob,
	    &cause) == -1) {
		promote_job_fail(j, 0, "%s: %s", name, cause);
		goto out;
	}
	if (!j->opts->dry_run && datamanifest_pin(man, j->srchex, j->pin_files,
	    j->npin_files, &cause) == -1) {
		promote_job_fail(j, 0, "recording pinned files: %s", cause);
		goto out;
	}
	j->pin_name = name;
	promote_job_log(j, LOG_LEVEL_DEBUG, "%s names %zu pinned files; "
	    "re-locked", name, pinned);
	rv = 0;
out:
	free(cause);
	free(text);
	free(out);
	modelmanifest_free(mm);
	return rv;
}

/* Deletes one pinned file ("OWNER/COLL/NAME") no kept version names, if
 * the route wrote it. 0, or -1 (logged). */
static int
promote_pin_expire(struct promote_job *j, struct datamanifest *man,
    const char *path)
{
	struct datamanifest_coll	*coll;
	struct api_error		 e;
	char				*owner, *coll_name, *name, *uri, *cause;
	char				 md5[33];
	int				 rv = 0;

	owner = xstrdup(path);
	if ((coll_name = strchr(owner, '/')) == NULL ||
	    (name = strchr(coll_name + 1, '/')) == NULL) {
		free(owner);
		return 0;
	}
	*coll_name++ = '\0';
	*name++ = '\0';
	uri = xprintf("data://%s/%s", owner, coll_name);
	coll = datamanifest_coll_to(man, uri);
	/* Never a file algopromoted did not write. */
	if (coll == NULL || datamanifest_find(coll, name) == NULL ||
	    !modelmanifest_pinned_parse(name, md5))
		goto out;
	if (api_data_delete(j->dapi, owner, coll_name, name, &e) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "data_retain: deleting "
		    "%s/%s: %s; trying after the next promotion", uri, name,
		    e.message);
		rv = -1;
		goto out;
	}
	cause = NULL;
	if (datamanifest_forget(man, coll, name, &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "data_retain: %s", cause);
		free(cause);
		rv = -1;
		goto out;
	}
	promote_job_log(j, LOG_LEVEL_INFO, "data_retain: deleted %s/%s, "
	    "which no kept version names", uri, name);
out:
	free(uri);
	free(owner);
	return rv;
}

/*
 * After a publish: the version that holds this run's pinned files is
 * written down, and with data_retain: K the pinned files that only
 * versions older than the newest K name are deleted (ones the route
 * wrote, and no newer version, unpublished try or this run names).
 * Failures are warnings: the next promotion tries again.
 */
void
promote_pin_published(struct promote_job *j)
{
	struct datamanifest	 man;
	const char		**old;
	char			*cause = NULL, *warning = NULL;
	size_t			 i;
	int			 failed = 0;

	if (j->pair->ndata == 0)
		return;
	if (datamanifest_load(&man, j->dir, &warning, &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "data manifest: %s", cause);
		free(cause);
		return;
	}
	if (warning != NULL) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s", warning);
		free(warning);
	}
	if (datamanifest_published(&man, j->srchex, j->dest_version,
	    &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "data manifest: %s", cause);
		free(cause);
		datamanifest_clear(&man);
		return;
	}
	old = datamanifest_unreferenced(&man, j->pol->data_retain,
	    j->pin_files, j->npin_files);
	for (i = 0; old != NULL && old[i] != NULL; i++)
		if (promote_pin_expire(j, &man, old[i]) == -1)
			failed = 1;
	free(old);
	if (!failed)
		datamanifest_drop_old(&man, j->pol->data_retain);
	if (datamanifest_save(&man, &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "data manifest: %s", cause);
		free(cause);
	}
	datamanifest_clear(&man);
}
