/* promote_source.c: detect, the first step of a promotion: which source
 * commit the destination should hold, fetched into the route's mirror. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monotime.h"
#include "promote_int.h"
#include "xmalloc.h"

/* Commits mode: the head of the branch. */
static int
promote_source_branch(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	char				*cause = NULL, *ref;
	uint64_t			 start = monotime_ms();
	int				 found = 0, rv;

	ref = xprintf("refs/heads/%s", j->pol->branch);
	rv = gitops_fetch(j->repo, &j->sremote, ref, PROMOTE_SRC_REF,
	    &j->src, &found, &cause);
	promote_job_observe_git(j, src->cluster, rv == 0);
	free(ref);
	if (rv == -1)
		return promote_job_fail_git(j, "fetching source", cause);
	if (!found) {
		promote_job_log(j, LOG_LEVEL_INFO, "source branch %s is empty",
		    j->pol->branch);
		return 0;
	}
	git_oid_tostr(j->srchex, sizeof j->srchex, &j->src);
	/* The source's own published version of it, if any: for the
	 * map only, so a failure here costs nothing but that. */
	rv = api_version_find(j->sapi, src->owner, src->name,
	    j->srchex, &v, &e);
	if (rv == 1)
		j->src_version = xstrdup(v.semver);
	else if (rv == -1)
		promote_job_log(j, LOG_LEVEL_WARN, "source version of %.12s "
		    "unknown: %s", j->srchex, e.message);
	api_version_clear(&v);
	promote_job_step_done(j, "fetch source", start, j->srchex);
	return 1;
}

/*
 * Versions mode: brings j->src into the mirror. Fetch the branch; a
 * version cut from elsewhere comes from the version's own read-only
 * repository. Returns 0 or -1.
 */
static int
promote_source_fetch_version(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct gitops_remote		 vr = j->sremote;
	git_commit			*c = NULL;
	git_oid				 head;
	char				*cause = NULL, *ref, *suffix, *vurl;
	int				 found = 0, rv;

	ref = xprintf("refs/heads/%s", j->pol->branch);
	if (git_commit_lookup(&c, j->repo, &j->src) != 0) {
		rv = gitops_fetch(j->repo, &j->sremote, ref, PROMOTE_SRC_REF,
		    &head, &found, &cause);
		if (rv == -1) {
			free(ref);
			return promote_job_fail_git(j, "fetching source",
			    cause);
		}
	}
	free(ref);
	if (c == NULL && git_commit_lookup(&c, j->repo, &j->src) != 0) {
		suffix = xprintf("/%s", j->src_version);
		vurl = promote_job_repo_url(src, suffix);
		free(suffix);
		vr.url = vurl;
		rv = gitops_fetch(j->repo, &vr, "refs/heads/master",
		    PROMOTE_SRCV_REF, &head, &found, &cause);
		free(vurl);
		if (rv == -1)
			return promote_job_fail_git(j, "fetching source version",
			    cause);
		if (git_commit_lookup(&c, j->repo, &j->src) != 0)
			return promote_job_fail(j, 0, "source version %s: "
			    "commit %s not found in the source repository",
			    j->src_version, j->srchex);
	}
	git_commit_free(c);
	return 0;
}

/* Versions mode: the commit of the newest published version. */
static int
promote_source_version(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	uint64_t			 start = monotime_ms();
	int				 rv;

	rv = api_version_latest(j->sapi, src->owner, src->name, &v, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "listing source versions", &e);
	if (rv == 0 || v.git_hash == NULL ||
	    git_oid_fromstrn(&j->src, v.git_hash, strlen(v.git_hash)) != 0 ||
	    strlen(v.git_hash) != GIT_OID_HEXSZ) {
		if (rv == 1)
			promote_job_log(j, LOG_LEVEL_WARN, "source version %s "
			    "has no usable git_hash", v.semver);
		else
			promote_job_log(j, LOG_LEVEL_INFO, "source has no "
			    "published version yet");
		api_version_clear(&v);
		return 0;
	}
	git_oid_tostr(j->srchex, sizeof j->srchex, &j->src);
	j->src_version = xstrdup(v.semver);
	api_version_clear(&v);
	if (promote_source_fetch_version(j) == -1)
		return -1;
	promote_job_step_done(j, "fetch source", start, j->src_version);
	return 1;
}

static int
promote_source_pin_version_cb(const struct api_version *v, void *arg)
{
	struct api_version	*want = arg;

	if (v->semver == NULL || strcmp(v->semver, want->semver) != 0)
		return 0;
	free(want->git_hash);
	want->git_hash = v->git_hash != NULL ? xstrdup(v->git_hash) : NULL;
	return 1;
}

/* The published source version an operator pinned: its commit. */
static int
promote_source_pin_version(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct api_version		 want = { 0 };
	struct api_error		 e;
	int				 rv;

	want.semver = xstrdup(j->hold.source_version);
	rv = api_versions_each(j->sapi, src->owner, src->name, 1,
	    promote_source_pin_version_cb, &want, &e);
	if (rv == -1) {
		api_version_clear(&want);
		return promote_job_fail_api(j, "listing source versions", &e);
	}
	if (rv == 0 || want.git_hash == NULL || strlen(want.git_hash) !=
	    GIT_OID_HEXSZ || git_oid_fromstr(&j->src, want.git_hash) != 0) {
		api_version_clear(&want);
		return promote_job_fail(j, 1, "pinned source version %s: no "
		    "such published version of %s with a commit",
		    j->hold.source_version, src->full);
	}
	api_version_clear(&want);
	git_oid_tostr(j->srchex, sizeof j->srchex, &j->src);
	j->src_version = xstrdup(j->hold.source_version);
	return promote_source_fetch_version(j);
}

/* The source commit an operator pinned (or a prefix of it), on the
 * branch: fetched, resolved, and its version looked up for the map. */
static int
promote_source_pin_commit(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	const char			*want = j->hold.source_commit;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	git_commit			*c = NULL;
	git_oid				 head, prefix;
	char				*cause = NULL, *ref;
	int				 found = 0, rv, yes = 0;

	ref = xprintf("refs/heads/%s", j->pol->branch);
	rv = gitops_fetch(j->repo, &j->sremote, ref, PROMOTE_SRC_REF,
	    &head, &found, &cause);
	promote_job_observe_git(j, src->cluster, rv == 0);
	free(ref);
	if (rv == -1)
		return promote_job_fail_git(j, "fetching source", cause);
	if (!found || git_oid_fromstrn(&prefix, want, strlen(want)) != 0 ||
	    git_commit_lookup_prefix(&c, j->repo, &prefix, strlen(want)) != 0)
		return promote_job_fail(j, 1, "pinned source commit %s is not "
		    "in %s", want, src->full);
	j->src = *git_commit_id(c);
	git_commit_free(c);
	if (gitops_is_ancestor(j->repo, &j->src, &head, &yes, &cause) == -1)
		return promote_job_fail_git(j, "pinned source commit", cause);
	git_oid_tostr(j->srchex, sizeof j->srchex, &j->src);
	if (!yes)
		return promote_job_fail(j, 1, "pinned source commit %s is not "
		    "on branch %s of %s", j->srchex, j->pol->branch,
		    src->full);
	rv = api_version_find(j->sapi, src->owner, src->name, j->srchex, &v,
	    &e);
	if (rv == 1)
		j->src_version = xstrdup(v.semver);
	else if (rv == -1)
		promote_job_log(j, LOG_LEVEL_WARN, "source version of %.12s "
		    "unknown: %s", j->srchex, e.message);
	api_version_clear(&v);
	return 0;
}

/* An operator's pin (algopromotectl promote): that source state. */
static int
promote_source_pin(struct promote_job *j)
{
	uint64_t	 start = monotime_ms();
	int		 rv;

	if (j->hold.source_version != NULL)
		rv = promote_source_pin_version(j);
	else
		rv = promote_source_pin_commit(j);
	if (rv == -1)
		return -1;
	promote_job_step_done(j, "fetch source (pinned by operator)", start,
	    j->srchex);
	return 1;
}

/*
 * Detect: which source commit should the destination hold? The one an
 * operator pinned; else in commits mode the head of the branch, in
 * versions mode the commit of the newest published version. Returns 1
 * when there is one, 0 when there is none yet, -1 on error.
 */
int
promote_source_detect(struct promote_job *j)
{
	if (j->hold.kind == HOLD_PINNED)
		return promote_source_pin(j);
	if (j->pol->track == CONFIG_TRACK_COMMITS)
		return promote_source_branch(j);
	return promote_source_version(j);
}

/*
 * Has the source moved on from j->src? Asked before building on top of a
 * destination that moved under us: then another instance (or a person)
 * may be promoting something newer, and pushing our older commit on top
 * would take the destination back. 1 moved on (logged), 0 not, -1.
 */
int
promote_source_moved_on(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	git_oid				 now;
	char				*cause = NULL, *ref, hex[GIT_OID_HEXSZ + 1];
	int				 found = 0, rv;

	if (j->hold.kind == HOLD_PINNED)
		return 0;	/* the operator's choice does not move */
	if (j->pol->track == CONFIG_TRACK_COMMITS) {
		ref = xprintf("refs/heads/%s", j->pol->branch);
		rv = gitops_ls(&j->sremote, ref, &now, &found, &cause);
		free(ref);
		promote_job_observe_git(j, src->cluster, rv == 0);
		if (rv == -1)
			return promote_job_fail_git(j, "reading source", cause);
	} else {
		rv = api_version_latest(j->sapi, src->owner, src->name, &v, &e);
		if (rv == -1)
			return promote_job_fail_api(j, "listing source versions",
			    &e);
		found = rv == 1 && v.git_hash != NULL &&
		    git_oid_fromstrn(&now, v.git_hash, strlen(v.git_hash)) ==
		    0 && strlen(v.git_hash) == GIT_OID_HEXSZ;
		api_version_clear(&v);
	}
	if (found && git_oid_equal(&now, &j->src))
		return 0;
	if (found)
		git_oid_tostr(hex, sizeof hex, &now);
	else
		snprintf(hex, sizeof hex, "nothing");
	promote_job_log(j, LOG_LEVEL_INFO, "the source moved on from %.12s "
	    "to %.12s meanwhile: starting over with it", j->srchex, hex);
	return 1;
}
