/* promote_drift.c: drift, a destination head algopromoted did not push
 * for the route: held for an operator (on_drift: hold) or overwritten. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promote_int.h"
#include "xmalloc.h"

#define PROMOTE_DRIFT_WALK	10000	/* commits looked at for ours */

/* Did this route's promotions (any instance's) make the commit? */
static int
promote_drift_ours_msg(struct promote_job *j, const char *msg)
{
	char	*from, *want;
	int	 yes;

	if ((from = gitops_trailer(msg, "Promoted-from")) == NULL)
		return 0;
	want = xprintf("%s@", j->pair->source.full);
	yes = strncmp(from, want, strlen(want)) == 0;
	free(want);
	free(from);
	return yes;
}

static int
promote_drift_ours_cb(const git_oid *oid, const char *msg, void *arg)
{
	struct promote_job	*j = arg;
	char			 hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof hex, oid);
	return promote_drift_ours_msg(j, msg) ||
	    (j->st.last_dest_commit != NULL &&
	    strcmp(hex, j->st.last_dest_commit) == 0);
}

/*
 * Does the head hold what the route would make of source commit hex on
 * top of it? Then whatever changed was only what the route leaves to
 * the destination (preserve), or nothing: no drift. 0 when unknown.
 */
static int
promote_drift_managed_same(struct promote_job *j, const char *hex)
{
	struct gitops_treespec	 spec;
	git_oid			 src, tree, dtree;
	char			*cause = NULL;

	if (hex == NULL || *hex == '\0' || git_oid_fromstr(&src, hex) != 0)
		return 0;
	/* The re-locked model manifest is made of this run's source. */
	promote_job_treespec(j, &spec, git_oid_equal(&src, &j->src));
	if (gitops_make_tree(j->repo, &src, &j->dhead, &spec, &tree,
	    &cause) == -1 || gitops_commit_tree(j->repo, &j->dhead, &dtree,
	    &cause) == -1) {
		free(cause);
		return 0;
	}
	return git_oid_equal(&tree, &dtree);
}

static int
promote_drift_is(const char *field, const char *hex)
{
	return field != NULL && strcmp(field, hex) == 0;
}

/*
 * Is the fetched destination head drift? Not when the route has never
 * pushed there (a new destination's template commit, older content), nor
 * when the head is what it recorded, meant or accepted, nor when it
 * holds what the route would make of its source (a person changed only
 * preserved files), nor a newer promotion of the route (another
 * instance's). A commit of the route's
 * own that is older than the last one recorded is: someone rolled the
 * destination back by hand. 1 drift, 0 not, -1 (j->error).
 */
static int
promote_drift_found(struct promote_job *j)
{
	char	 hex[GIT_OID_HEXSZ + 1];
	char	*msg = NULL, *cause = NULL;
	git_oid	 last;
	int	 ours, yes = 0, found = 0;

	if (!j->have_dhead || j->created)
		return 0;
	git_oid_tostr(hex, sizeof hex, &j->dhead);
	if (promote_drift_is(j->st.last_dest_commit, hex) ||
	    promote_drift_is(j->st.pending_dest_commit, hex) ||
	    promote_drift_is(j->st.accepted_dest_commit, hex))
		return 0;
	if (promote_drift_managed_same(j, j->st.last_source_commit) ||
	    promote_drift_managed_same(j, j->srchex))
		return 0;
	if (gitops_commit_message(j->repo, &j->dhead, &msg, &cause) == -1)
		return promote_job_fail_git(j, "reading destination head",
		    cause);
	ours = promote_drift_ours_msg(j, msg);
	free(msg);
	if (ours) {
		/* Not drift when it descends from the last one recorded;
		 * older (rolled back by hand), on another line, or with
		 * that one gone from its history, it is. */
		if (j->st.last_dest_commit == NULL || git_oid_fromstr(&last,
		    j->st.last_dest_commit) != 0)
			return 0;
		if (gitops_is_ancestor(j->repo, &last, &j->dhead, &yes,
		    &cause) == -1) {
			free(cause);
			return 1;
		}
		return !yes;
	}
	if (gitops_history_find(j->repo, &j->dhead, PROMOTE_DRIFT_WALK,
	    promote_drift_ours_cb, j, &found, &cause) == -1)
		return promote_job_fail_git(j, "reading destination history",
		    cause);
	return found;
}

/*
 * Asked of every destination head a promotion is about to build on.
 * Returns 0 to go on (no drift; or on_drift: overwrite, said, and
 * reported through opts->drifted), 1 held (a dry run says so; a real run
 * records the drift, STATE_HELD, and pushes nothing), -1 (j->error).
 */
int
promote_drift_check(struct promote_job *j)
{
	char	 hex[GIT_OID_HEXSZ + 1];
	char	*author = NULL, *subject = NULL, *cause = NULL;
	int	 rv;

	if ((rv = promote_drift_found(j)) <= 0)
		return rv;
	git_oid_tostr(hex, sizeof hex, &j->dhead);
	/* A plan of a route held on this drift: said already; it shows
	 * what resume would do, on top of it. */
	if (j->opts->dry_run && j->st.phase == STATE_HELD &&
	    j->st.drift_dest_commit != NULL &&
	    strcmp(hex, j->st.drift_dest_commit) == 0)
		return 0;
	if (gitops_commit_author(j->repo, &j->dhead, &author, &subject,
	    &cause) == -1) {
		free(cause);
		author = xstrdup("?");
		subject = xstrdup("?");
	}
	if (j->pol->on_drift == CONFIG_DRIFT_OVERWRITE) {
		promote_job_log(j, LOG_LEVEL_WARN, "destination head %.12s "
		    "(%s: \"%s\") was not pushed by algopromoted; promoting "
		    "over it (on_drift: overwrite)", hex, author, subject);
		state_set(&j->st.accepted_dest_commit, hex);
		if (j->opts->drifted != NULL)
			*j->opts->drifted = 1;
		rv = 0;
	} else if (j->opts->dry_run) {
		fprintf(j->opts->report, "%s: held: destination head %s "
		    "(%s: \"%s\") changed outside algopromoted (on_drift: "
		    "hold)\n", j->name, hex, author, subject);
		rv = 1;
	} else {
		promote_job_log(j, LOG_LEVEL_WARN, "destination head %.12s "
		    "(%s: \"%s\") was not pushed by algopromoted: the route "
		    "is held until `algopromotectl resume %s` (on_drift: "
		    "hold)", hex, author, subject, j->pair->name);
		state_set(&j->st.drift_dest_commit, hex);
		state_set(&j->st.drift_author, author);
		state_set(&j->st.drift_subject, subject);
		j->st.drift_time = (int64_t)time(NULL);
		/* Nothing of ours is on the way: what was meant is void. */
		state_set(&j->st.pending_source_commit, NULL);
		state_set(&j->st.pending_source_version, NULL);
		state_set(&j->st.pending_dest_commit, NULL);
		state_set(&j->st.pending_build_id, NULL);
		rv = promote_record_save(j, STATE_HELD) == -1 ? -1 : 1;
	}
	free(author);
	free(subject);
	return rv;
}
