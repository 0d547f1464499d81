/* promote_dest.c: the destination side of a promotion: ensure the
 * algorithm exists, fetch its head, build the tree, commit and push. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "failpoint.h"
#include "monotime.h"
#include "promote_int.h"
#include "xmalloc.h"

/* A create also takes the environment's id from the source (it names
 * the source's environment; metadata_override can name another). */
static const char *const promote_dest_create_keys[] = {
	"algorithm_environment", NULL
};

/* Creates the destination; after an answer that never came, looks
 * before sending it again. 1 created, 0 it exists, -1 error (*e). */
static int
promote_dest_create(struct promote_job *j, const cJSON *details,
    const cJSON *settings, struct api_error *e)
{
	int	 try, rv;

	for (try = 1;; try++) {
		rv = api_algo_create(j->dapi, j->dst->owner, j->dst->name,
		    details, settings, NULL, e);
		if (rv != -1 || !e->transient || e->cancelled || e->halted ||
		    try == PROMOTE_LOOKS)
			return rv;
		promote_job_log(j, LOG_LEVEL_WARN, "creating %s: %s; looking "
		    "before trying again", j->dst->full, e->message);
		if ((rv = api_algo_get(j->dapi, j->dst->owner, j->dst->name,
		    NULL, e)) != 0)
			return rv == 1 ? 0 : -1;
	}
}

/* Ensure: the destination algorithm exists, created when missing.
 * Returns 0, or 1 when a dry run found it missing, -1 on error. */
int
promote_dest_ensure(struct promote_job *j)
{
	const struct config_algo	*src = &j->pair->source;
	const struct config_create	*cr = &j->pol->create;
	struct api_error		 e;
	cJSON				*salgo = NULL, *details, *settings;
	uint64_t			 start = monotime_ms();
	int				 rv;

	/* The answer is kept for the metadata step, which compares it with
	 * the source's: one request fewer per promotion. */
	cJSON_Delete(j->dalgo);
	j->dalgo = NULL;
	rv = api_algo_get(j->dapi, j->dst->owner, j->dst->name,
	    j->pol->metadata == CONFIG_METADATA_SYNC ? &j->dalgo : NULL, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "looking up destination", &e);
	if (rv == 1)
		return 0;
	if (j->opts->dry_run) {
		fprintf(j->opts->report, "%s: would create %s\n", j->name,
		    j->dst->full);
		return 1;
	}
	details = cJSON_CreateObject();
	settings = cJSON_CreateObject();
	if (cr->from_source && j->pol->metadata != CONFIG_METADATA_OFF) {
		rv = api_algo_get(j->sapi, src->owner, src->name, &salgo, &e);
		if (rv != 1) {
			cJSON_Delete(details);
			cJSON_Delete(settings);
			if (rv == 0)
				return promote_job_fail(j, 1, "source algorithm "
				    "%s not found", src->full);
			return promote_job_fail_api(j, "looking up source", &e);
		}
		promote_meta_merge(details,
		    cJSON_GetObjectItemCaseSensitive(salgo, "details"),
		    promote_meta_details_keys);
		promote_meta_merge(settings,
		    cJSON_GetObjectItemCaseSensitive(salgo, "settings"),
		    promote_meta_settings_keys);
		promote_meta_merge(settings,
		    cJSON_GetObjectItemCaseSensitive(salgo, "settings"),
		    promote_dest_create_keys);
		cJSON_Delete(salgo);
	}
	promote_meta_override(details, cr->details_json);
	promote_meta_override(settings, cr->settings_json);
	if (cJSON_GetObjectItemCaseSensitive(details, "label") == NULL)
		cJSON_AddStringToObject(details, "label", j->dst->name);

	rv = promote_dest_create(j, details, settings, &e);
	cJSON_Delete(details);
	cJSON_Delete(settings);
	if (rv == -1)
		return promote_job_fail_api(j, "creating destination", &e);
	j->created = 1;
	FAILPOINT(j->name, "after-create");
	promote_job_step_done(j, rv == 1 ? "create destination" :
	    "create destination (it already existed)", start, NULL);
	return 0;
}

int
promote_dest_fetch(struct promote_job *j)
{
	char		*cause = NULL;
	uint64_t	 start = monotime_ms();
	char		 hex[GIT_OID_HEXSZ + 1] = "empty";
	int		 rv;

	rv = gitops_fetch(j->repo, &j->dremote, "refs/heads/master",
	    PROMOTE_DST_REF, &j->dhead, &j->have_dhead, &cause);
	promote_job_observe_git(j, j->dst->cluster, rv == 0);
	if (rv == -1)
		return promote_job_fail_git(j, "fetching destination", cause);
	if (j->have_dhead)
		git_oid_tostr(hex, sizeof hex, &j->dhead);
	promote_job_step_done(j, "fetch destination", start, hex);
	FAILPOINT(j->name, "after-fetch");
	return 0;
}

/* Does the destination head already say it came from this source
 * commit? Then a crashed run pushed it, and it must not be pushed twice. */
int
promote_dest_head_is_ours(struct promote_job *j)
{
	char	*msg = NULL, *cause = NULL, *from, *want;
	int	 yes;

	if (!j->have_dhead)
		return 0;
	if (gitops_commit_message(j->repo, &j->dhead, &msg, &cause) == -1) {
		free(cause);
		return 0;
	}
	from = gitops_trailer(msg, "Promoted-from");
	want = xprintf("%s@%s", j->pair->source.full, j->srchex);
	yes = from != NULL && strcmp(from, want) == 0;
	free(want);
	free(from);
	free(msg);
	return yes;
}

static char *
promote_dest_message(struct promote_job *j)
{
	struct template_vars	 v = promote_job_vars(j);
	char			*head, *msg;

	head = template_expand(j->pol->commit_message, &v);
	if (j->src_version != NULL)
		msg = xprintf("%s\n\nPromoted-from: %s@%s\n"
		    "Promoted-version: %s\n", head, j->pair->source.full,
		    j->srchex, j->src_version);
	else
		msg = xprintf("%s\n\nPromoted-from: %s@%s\n", head,
		    j->pair->source.full, j->srchex);
	free(head);
	return msg;
}

/* The destination holds what it should: j->commit is its head. */
void
promote_dest_take_head(struct promote_job *j)
{
	j->commit = j->dhead;
	git_oid_tostr(j->commithex, sizeof j->commithex, &j->commit);
}

/* Builds the destination tree into *tree (and the head's into *dtree).
 * Returns 1 when the destination head already has it, 0 when not, -1. */
static int
promote_dest_tree(struct promote_job *j, git_oid *tree, git_oid *dtree)
{
	struct gitops_treespec	 spec;
	char			*cause = NULL;

	promote_job_treespec(j, &spec, 1);
	if (gitops_make_tree(j->repo, &j->src, j->have_dhead ? &j->dhead :
	    NULL, &spec, tree, &cause) == -1)
		return promote_job_fail_git(j, "building tree", cause);
	if (!j->have_dhead)
		return 0;
	if (gitops_commit_tree(j->repo, &j->dhead, dtree, &cause) == -1)
		return promote_job_fail_git(j, "reading destination", cause);
	if (!git_oid_equal(tree, dtree))
		return 0;
	promote_dest_take_head(j);
	promote_job_log(j, LOG_LEVEL_INFO, "destination already holds the "
	    "tree of %.12s", j->srchex);
	return 1;
}

/* --dry-run: says what would be promoted, with its diffstat. */
static int
promote_dest_report(struct promote_job *j, const git_oid *tree,
    const git_oid *dtree)
{
	char	*cause = NULL, *diff = NULL;

	if (gitops_diffstat(j->repo, j->have_dhead ? dtree : NULL, tree, &diff,
	    &cause) == -1)
		return promote_job_fail_git(j, "diffstat", cause);
	fprintf(j->opts->report, "%s: would promote %s@%s%s%s\n%s", j->name,
	    j->pair->source.full, j->srchex,
	    j->src_version ? " version " : "",
	    j->src_version ? j->src_version : "", diff);
	free(diff);
	return 0;
}

/* Commits tree on top of the destination head and writes down, before
 * any push, what is meant to be pushed. start: when this try began. */
static int
promote_dest_commit(struct promote_job *j, const git_oid *tree,
    uint64_t start)
{
	char	*cause = NULL, *msg;

	msg = promote_dest_message(j);
	if (gitops_commit(j->repo, tree, j->have_dhead ? &j->dhead : NULL,
	    j->pol->author_name, j->pol->author_email, msg, &j->commit,
	    &cause) == -1) {
		free(msg);
		return promote_job_fail_git(j, "committing", cause);
	}
	free(msg);
	git_oid_tostr(j->commithex, sizeof j->commithex, &j->commit);
	promote_job_step_done(j, "commit", start, j->commithex);
	FAILPOINT(j->name, "after-commit");

	/* Written before the push: whatever happens next, the next run
	 * knows what was meant. */
	state_set(&j->st.pending_source_commit, j->srchex);
	state_set(&j->st.pending_source_version, j->src_version);
	state_set(&j->st.pending_dest_commit, j->commithex);
	state_set(&j->st.pending_build_id, NULL);
	return promote_record_save(j, STATE_PUSHING);
}

/*
 * A push failed once its upload had begun (cause: why): it may have
 * landed. Look instead of guessing: 1 it did (the destination head is
 * our commit, or carries our source commit), 0 it did not (j->dhead is
 * what the destination holds now, to build on), -1 the destination
 * cannot be read (what is pending stays pending for the next run).
 */
static int
promote_dest_landed(struct promote_job *j, char *cause)
{
	promote_job_log(j, LOG_LEVEL_WARN, "push of %.12s: %s; looking at the "
	    "destination to see whether it landed", j->commithex, cause);
	free(cause);
	if (promote_job_cancelled(j))
		return promote_job_fail(j, 0, "cancelled after a push with no "
		    "answer");
	if (promote_dest_fetch(j) == -1)
		return -1;
	if (j->have_dhead && git_oid_equal(&j->dhead, &j->commit)) {
		promote_job_log(j, LOG_LEVEL_INFO, "the push of %.12s landed",
		    j->commithex);
		return 1;
	}
	if (promote_dest_head_is_ours(j)) {
		promote_dest_take_head(j);
		promote_job_log(j, LOG_LEVEL_INFO, "destination head %.12s "
		    "carries %.12s; resuming", j->commithex, j->srchex);
		return 1;
	}
	promote_job_log(j, LOG_LEVEL_INFO, "the push of %.12s did not land; "
	    "trying again", j->commithex);
	return 0;
}

/* The destination moved under us, to a head not ours: go on only while
 * it is no drift to hold and the source has not moved on too. 0 rebuild
 * on top, 2 start over, 3 held (drift), -1 error. */
static int
promote_dest_moved(struct promote_job *j)
{
	int	 rv;

	if ((rv = promote_drift_check(j)) != 0)
		return rv == 1 ? 3 : -1;
	if ((rv = promote_source_moved_on(j)) != 0)
		return rv == 1 ? 2 : -1;
	return 0;
}

/*
 * Build the destination tree and, unless the destination already holds
 * it, commit and push. Returns 1 pushed (j->commit set), 0 nothing to
 * push (the destination head already has the tree), 2 the destination
 * moved and so did the source (start over with the newest), 3 it moved
 * to a drift that holds the route, -1 error.
 */
int
promote_dest_commit_push(struct promote_job *j)
{
	git_oid			 tree, dtree, remote;
	char			*cause = NULL, *last = NULL;
	uint64_t		 start;
	enum gitops_push	 pr;
	int			 try, rv;

	for (try = 0; try < PROMOTE_PUSH_TRIES; try++) {
		start = monotime_ms();
		if ((rv = promote_dest_tree(j, &tree, &dtree)) != 0)
			return rv == 1 ? 0 : -1;
		if (j->opts->dry_run)
			return promote_dest_report(j, &tree, &dtree);
		if (promote_dest_commit(j, &tree, start) == -1)
			return -1;
		FAILPOINT(j->name, "before-push");

		start = monotime_ms();
		pr = gitops_push(j->repo, &j->dremote, &j->commit,
		    j->have_dhead ? &j->dhead : NULL, "refs/heads/master",
		    &remote, &cause);
		promote_job_observe_git(j, j->dst->cluster,
		    pr != GITOPS_PUSH_ERROR && pr != GITOPS_PUSH_UNKNOWN);
		switch (pr) {
		case GITOPS_PUSH_OK:
			j->pushed_new = 1;
			promote_job_step_done(j, "push", start, j->commithex);
			FAILPOINT(j->name, "after-push");
			return 1;
		case GITOPS_PUSH_MOVED:
			free(cause);
			cause = NULL;
			promote_job_log(j, LOG_LEVEL_WARN, "destination moved "
			    "during the promotion; rebuilding on top of it");
			if (promote_dest_fetch(j) == -1)
				return -1;
			if (promote_dest_head_is_ours(j)) {
				promote_dest_take_head(j);
				return 1;
			}
			if ((rv = promote_dest_moved(j)) != 0)
				return rv;
			continue;
		case GITOPS_PUSH_UNKNOWN:
			free(last);
			last = xstrdup(cause);
			if ((rv = promote_dest_landed(j, cause)) != 0 ||
			    (rv = promote_dest_moved(j)) != 0) {
				free(last);
				return rv;
			}
			cause = NULL;
			continue;
		case GITOPS_PUSH_REJECTED:
			return promote_job_fail_git(j, "push rejected", cause);
		case GITOPS_PUSH_ERROR:
			return promote_job_fail_git(j, "pushing", cause);
		}
	}
	rv = promote_job_fail(j, 0, "no push landed in %d tries: %s",
	    PROMOTE_PUSH_TRIES, last != NULL ? last : "the destination kept "
	    "moving");
	free(last);
	return rv;
}
