/* promote_meta.c: the destination's details and settings follow the
 * source's (metadata: sync), before the code they describe is pushed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "monotime.h"
#include "promote_int.h"
#include "xmalloc.h"

#define PROMOTE_META_SHOW	60	/* bytes of a value in a message */

/*
 * What follows the source. Per cluster, never copied by a sync:
 * settings.algorithm_environment (an environment's id exists on one
 * cluster only; the language, environment and package_set that name it
 * do follow) and settings.algorithm_callability (who may call a version
 * is decided where it is published). Both may be set by
 * metadata_override.
 */
const char *const promote_meta_details_keys[] = {
	"label", "summary", "tagline", NULL
};
const char *const promote_meta_settings_keys[] = {
	"language", "environment", "package_set", "license", "network_access",
	"pipeline_enabled", "source_visibility", "royalty_microcredits",
	"insights_enabled", NULL
};

/* Replaces keys of dst by those src has (not null). */
void
promote_meta_merge(cJSON *dst, const cJSON *src, const char *const *keys)
{
	const cJSON	*v;

	for (; *keys != NULL; keys++) {
		v = cJSON_GetObjectItemCaseSensitive(src, *keys);
		if (v == NULL || cJSON_IsNull(v))
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(dst, *keys);
		cJSON_AddItemToObject(dst, *keys, cJSON_Duplicate(v, 1));
	}
}

/* Replaces keys of dst by every member of the JSON object text over. */
void
promote_meta_override(cJSON *dst, const char *over)
{
	const cJSON	*v;
	cJSON		*o;

	if ((o = cJSON_Parse(over)) == NULL)
		return;
	cJSON_ArrayForEach(v, o) {
		cJSON_DeleteItemFromObjectCaseSensitive(dst, v->string);
		cJSON_AddItemToObject(dst, v->string, cJSON_Duplicate(v, 1));
	}
	cJSON_Delete(o);
}

/* A member of an algorithm object that must be an object: a copy of it,
 * {} when absent or null; NULL when it is something else. */
static cJSON *
promote_meta_member(const cJSON *algo, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(algo, name);

	if (v == NULL || cJSON_IsNull(v))
		return cJSON_CreateObject();
	if (!cJSON_IsObject(v))
		return NULL;
	return cJSON_Duplicate(v, 1);
}

/* A value as JSON, cut to PROMOTE_META_SHOW bytes; "(none)" for none. */
static char *
promote_meta_show(const cJSON *v)
{
	char	*s, *out;

	if (v == NULL)
		return xstrdup("(none)");
	if ((s = cJSON_PrintUnformatted(v)) == NULL)
		return xstrdup("?");
	if (strlen(s) > PROMOTE_META_SHOW)
		out = xprintf("%.*s...", PROMOTE_META_SHOW, s);
	else
		out = xstrdup(s);
	cJSON_free(s);
	return out;
}

/* Appends "what.key" of each member of want that old lacks or holds
 * differently to *names (", "-separated), and to a dry run's report as
 * "what.key OLD -> NEW" lines. */
static void
promote_meta_diff(struct promote_job *j, const char *what, const cJSON *old,
    const cJSON *want, char **names)
{
	const cJSON	*v, *o;
	char		*a, *b, *n;

	cJSON_ArrayForEach(v, want) {
		o = cJSON_GetObjectItemCaseSensitive(old, v->string);
		if (o != NULL && cJSON_Compare(o, v, 1))
			continue;
		n = xprintf("%s%s%s.%s", *names != NULL ? *names : "",
		    *names != NULL ? ", " : "", what, v->string);
		free(*names);
		*names = n;
		if (j->opts->dry_run) {
			a = promote_meta_show(o);
			b = promote_meta_show(v);
			fprintf(j->opts->report, "%s: would update metadata: "
			    "%s.%s %s -> %s\n", j->name, what, v->string, a, b);
			free(a);
			free(b);
		}
	}
}

/*
 * metadata: sync: the destination's details and settings become the
 * source's (the keys above), metadata_override over them. The whole
 * objects are sent back with those keys replaced, so a server that
 * replaces rather than merges loses nothing, and the same PUT twice
 * changes nothing: after a crash the next run simply compares again.
 * Returns 0 (done, or nothing to change), -1 failed.
 */
int
promote_meta_sync(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	const struct config_create	*cr = &j->pol->create;
	struct api_error		 e;
	cJSON				*salgo = NULL, *dalgo = NULL;
	cJSON				*sdet = NULL, *sset = NULL;
	cJSON				*ddet = NULL, *dset = NULL;
	cJSON				*wdet = NULL, *wset = NULL;
	char				*names = NULL;
	uint64_t			 start = monotime_ms();
	int				 rv, ret = -1;

	if (j->pol->metadata != CONFIG_METADATA_SYNC)
		return 0;
	rv = api_algo_get(j->sapi, src->owner, src->name, &salgo, &e);
	if (rv == 0)
		return promote_job_fail(j, 1, "source algorithm %s not found",
		    src->full);
	if (rv == -1)
		return promote_job_fail_api(j, "reading the source's metadata",
		    &e);
	if (j->dalgo != NULL) {
		/* Read by ensure a moment ago (no data was copied since). */
		dalgo = j->dalgo;
		j->dalgo = NULL;
		rv = 1;
	} else
		rv = api_algo_get(j->dapi, j->dst->owner, j->dst->name,
		    &dalgo, &e);
	if (rv == -1) {
		promote_job_fail_api(j, "reading the destination's metadata",
		    &e);
		goto out;
	}
	if (rv == 0) {
		/* A dry run of a destination that does not exist yet: its
		 * create takes the source's metadata. */
		if (j->opts->dry_run) {
			ret = 0;
			goto out;
		}
		promote_job_fail(j, 0, "destination %s vanished", j->dst->full);
		goto out;
	}
	if ((sdet = promote_meta_member(salgo, "details")) == NULL ||
	    (sset = promote_meta_member(salgo, "settings")) == NULL) {
		promote_job_fail(j, 0, "source algorithm %s: details and "
		    "settings must be objects", src->full);
		goto out;
	}
	if ((ddet = promote_meta_member(dalgo, "details")) == NULL ||
	    (dset = promote_meta_member(dalgo, "settings")) == NULL) {
		promote_job_fail(j, 0, "destination %s: details and settings "
		    "must be objects", j->dst->full);
		goto out;
	}
	wdet = cJSON_Duplicate(ddet, 1);
	wset = cJSON_Duplicate(dset, 1);
	promote_meta_merge(wdet, sdet, promote_meta_details_keys);
	promote_meta_merge(wset, sset, promote_meta_settings_keys);
	promote_meta_override(wdet, cr->details_json);
	promote_meta_override(wset, cr->settings_json);
	promote_meta_diff(j, "details", ddet, wdet, &names);
	promote_meta_diff(j, "settings", dset, wset, &names);
	if (names == NULL || j->opts->dry_run) {
		ret = 0;
		goto out;
	}
	if (api_algo_update(j->dapi, j->dst->owner, j->dst->name, wdet, wset,
	    NULL, &e) == -1) {
		promote_job_fail_api(j, "updating the destination's metadata",
		    &e);
		goto out;
	}
	promote_job_log(j, LOG_LEVEL_INFO, "metadata: updated %s", names);
	state_set(&j->st.last_metadata, names);
	j->st.last_metadata_time = (int64_t)time(NULL);
	j->meta_updated = 1;
	promote_job_step_done(j, "metadata", start, NULL);
	ret = 0;
out:
	free(names);
	cJSON_Delete(salgo);
	cJSON_Delete(dalgo);
	cJSON_Delete(sdet);
	cJSON_Delete(sset);
	cJSON_Delete(ddet);
	cJSON_Delete(dset);
	cJSON_Delete(wdet);
	cJSON_Delete(wset);
	return ret;
}
