/* promote_build.c: after the push: wait for the destination's build of
 * the pushed commit (saving its log on failure), then publish it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atomicfile.h"
#include "failpoint.h"
#include "monotime.h"
#include "promote_int.h"
#include "redact.h"
#include "xmalloc.h"

static void
promote_build_save_log(struct promote_job *j, const char *build_id)
{
	struct api_error	 e;
	char			*logs = NULL, *path, *cause = NULL, *clean;
	int			 rv;

	rv = api_build_logs(j->dapi, j->dst->owner, j->dst->name, build_id,
	    &logs, &e);
	if (rv != 1) {
		promote_job_log(j, LOG_LEVEL_WARN, "build %s: no log: %s",
		    build_id, rv == 0 ? "not available" : e.message);
		return;
	}
	path = xprintf("%s/build-%s.log", j->dir, build_id);
	clean = redact(logs);
	if (atomicfile_write(path, clean, strlen(clean), 0600, &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "saving build log: %s",
		    cause);
		free(cause);
	} else
		state_set(&j->st.build_log, path);
	free(clean);
	free(path);
	free(logs);
}

/* One look at the build of j->commit: finds it first, then follows it.
 * Returns what the API call returned (b holds the build unless -1), or
 * -2 when the found build's id could not be saved (j->error says why). */
static int
promote_build_poll(struct promote_job *j, struct api_build *b,
    struct api_error *e)
{
	const char	*owner = j->dst->owner, *algo = j->dst->name;
	int		 rv;

	if (j->build_id != NULL)
		return api_build_get(j->dapi, owner, algo, j->build_id, b, e);
	rv = api_build_find(j->dapi, owner, algo, j->commithex, b, e);
	if (rv == 1) {
		j->build_id = xstrdup(b->id);
		state_set(&j->st.pending_build_id, b->id);
		if (promote_record_save(j, STATE_BUILDING) == -1) {
			api_build_clear(b);
			return -2;
		}
		FAILPOINT(j->name, "during-build");
	}
	return rv;
}

/*
 * Wait for the build of exactly j->commit. Returns 0 succeeded, -1 on
 * error or failure (j->error says which).
 */
int
promote_build_wait(struct promote_job *j)
{
	struct api_build	 b = { 0 };
	struct api_error	 e;
	uint64_t		 start = monotime_ms();
	uint64_t		 delay = PROMOTE_POLL_MIN_MS;
	uint64_t		 deadline = start + j->pol->build_timeout_ms;
	int			 rv;

	if (promote_record_save(j, STATE_BUILDING) == -1)
		return -1;
	for (;;) {
		if (promote_job_cancelled(j))
			return promote_job_fail(j, 0, "cancelled while waiting "
			    "for the build");
		if ((rv = promote_build_poll(j, &b, &e)) == -2)
			return -1;
		/* A failing cluster (halted) ends the wait: the next run
		 * resumes it once the cluster answers. */
		if (rv == -1 && (!e.transient || e.halted))
			return promote_job_fail_api(j, "waiting for the build",
			    &e);
		if (rv == -1)
			promote_job_log(j, LOG_LEVEL_WARN, "waiting for the "
			    "build: %s", e.message);
		if (rv != -1 && b.status != NULL &&
		    strcmp(b.status, "succeeded") == 0) {
			api_build_clear(&b);
			promote_job_step_done(j, "build", start, j->build_id);
			return 0;
		}
		if (rv != -1 && b.status != NULL &&
		    strcmp(b.status, "failed") == 0) {
			api_build_clear(&b);
			promote_build_save_log(j, j->build_id);
			state_set(&j->st.failed_source_commit, j->srchex);
			return promote_job_fail(j, 1, "build %s of %s failed%s%s",
			    j->build_id, j->commithex,
			    j->st.build_log ? "; log saved in " : "",
			    j->st.build_log ? j->st.build_log : "");
		}
		api_build_clear(&b);
		if (monotime_ms() >= deadline)
			return promote_job_fail(j, 0, "build of %s did not "
			    "finish within the build_timeout", j->commithex);
		promote_job_sleep(j, delay);
		delay = delay * 2 > PROMOTE_POLL_MAX_MS ? PROMOTE_POLL_MAX_MS :
		    delay * 2;
	}
}

/*
 * The server refused to publish our commit (a 400: the publish names our
 * git_hash). Look at the destination rather than guess from the message:
 * 1 when its head is no longer our commit (someone pushed after our
 * build: go round again), 0 when it still is (a real refusal, *e stands),
 * -1 when the destination cannot be read.
 */
static int
promote_build_moved(struct promote_job *j, const struct api_error *e)
{
	char	 hex[GIT_OID_HEXSZ + 1] = "nothing";

	if (promote_dest_fetch(j) == -1)
		return -1;
	if (j->have_dhead && git_oid_equal(&j->dhead, &j->commit))
		return 0;
	if (j->have_dhead)
		git_oid_tostr(hex, sizeof hex, &j->dhead);
	promote_job_log(j, LOG_LEVEL_WARN, "publish of %.12s refused (%s); "
	    "the destination head is now %.12s: someone pushed after our "
	    "build; going round again", j->commithex, e->message, hex);
	/* The next round waits for the build of its own commit. */
	free(j->build_id);
	j->build_id = NULL;
	state_set(&j->st.pending_build_id, NULL);
	return 1;
}

/*
 * One publish request, and what it means: 1 published (*v from the
 * answer), 0 it may have happened unheard (a timeout, a reset or a 5xx
 * after the request went out: look before repeating), -1 failed (*e),
 * -2 failed (j->error). An "already published" answer means a run whose
 * answer was lost published it: *v is then that version.
 */
static int
promote_build_publish_once(struct promote_job *j, struct api_version *v,
    struct api_error *e)
{
	const char		*owner = j->dst->owner, *algo = j->dst->name;
	struct template_vars	 tv = promote_job_vars(j);
	char			*notes;
	int			 rv;

	notes = template_expand(j->pol->release_notes, &tv);
	rv = api_publish(j->dapi, owner, algo,
	    config_vtype_name(j->pol->version_type), notes, j->commithex, v,
	    e);
	free(notes);
	if (rv == 0)
		return 1;
	if (e->code == API_CODE_PUBLISHED) {
		rv = api_version_find(j->dapi, owner, algo, j->commithex, v, e);
		if (rv == 0) {
			promote_job_fail(j, 0, "publish says already "
			    "published, but no version holds %s",
			    j->commithex);
			return -2;
		}
		return rv;
	}
	return e->transient && !e->cancelled && !e->halted ? 0 : -1;
}

/*
 * Publishes j->commit, looking at the destination's versions after an
 * answer that never came rather than publishing blind a second time:
 * 1 published (*v), -1 refused or failed (*e), -2 failed (j->error).
 */
static int
promote_build_publish_look(struct promote_job *j, struct api_version *v,
    struct api_error *e)
{
	int	 try, rv;

	for (try = 1;; try++) {
		if ((rv = promote_build_publish_once(j, v, e)) != 0)
			return rv;
		if (try == PROMOTE_LOOKS || promote_job_cancelled(j))
			return -1;
		promote_job_log(j, LOG_LEVEL_WARN, "publish of %.12s: %s; "
		    "looking at the destination's versions before trying "
		    "again", j->commithex, e->message);
		rv = api_version_find(j->dapi, j->dst->owner, j->dst->name,
		    j->commithex, v, e);
		if (rv != 0) {
			if (rv == 1)
				promote_job_log(j, LOG_LEVEL_INFO, "the publish "
				    "of %.12s landed as %s", j->commithex,
				    v->semver);
			return rv;
		}
		promote_job_log(j, LOG_LEVEL_INFO, "%.12s is not published; "
		    "publishing again", j->commithex);
	}
}

/* The server refused to publish our commit (*e): is it published
 * already (another instance got there first)? 1 yes (*v), 0 not or
 * unknown (*e kept). */
static int
promote_build_published(struct promote_job *j, struct api_version *v,
    struct api_error *e)
{
	struct api_error	 e2;

	if (api_version_find(j->dapi, j->dst->owner, j->dst->name,
	    j->commithex, v, &e2) != 1)
		return 0;
	promote_job_log(j, LOG_LEVEL_INFO, "publish of %.12s refused (%s), "
	    "but it is published already, as %s", j->commithex, e->message,
	    v->semver);
	return 1;
}

/* 0 published, 1 refused because the destination moved (go round
 * again), -1 failed. */
int
promote_build_publish(struct promote_job *j)
{
	const char		*owner = j->dst->owner, *algo = j->dst->name;
	struct api_version	 v = { 0 };
	struct api_error	 e;
	uint64_t		 start = monotime_ms();
	int			 rv, moved;

	if (promote_record_save(j, STATE_PUBLISHING) == -1)
		return -1;
	if ((rv = promote_build_publish_look(j, &v, &e)) == -2)
		return -1;
	if (rv == -1 && e.status == 400 && !e.cancelled &&
	    promote_build_published(j, &v, &e) == 1)
		rv = 0;
	else if (rv == -1 && e.status == 400 && !e.cancelled &&
	    (moved = promote_build_moved(j, &e)) != 0)
		return moved;
	if (rv == -1)
		return promote_job_fail_api(j, "publishing", &e);
	if (v.git_hash != NULL && strcasecmp(v.git_hash, j->commithex) != 0) {
		/* A server that ignored our git_hash published its newest
		 * build, someone else's: never recorded under our mapping. */
		promote_job_log(j, LOG_LEVEL_WARN, "the server published %s "
		    "holding %.12s, not our %.12s (it ignored the commit we "
		    "named); not recorded as ours", v.semver ? v.semver : "?",
		    v.git_hash, j->commithex);
		snprintf(e.message, sizeof e.message, "published another "
		    "commit");
		api_version_clear(&v);
		if ((moved = promote_build_moved(j, &e)) != 0)
			return moved;
		return promote_job_fail(j, 0, "the server published another "
		    "commit than %s, which is still the destination head",
		    j->commithex);
	}
	/* An answer that does not say which commit it published is
	 * confirmed by looking the version of ours up. */
	if (v.semver == NULL || v.git_hash == NULL) {
		api_version_clear(&v);
		if (api_version_find(j->dapi, owner, algo, j->commithex, &v,
		    &e) != 1) {
			api_version_clear(&v);
			return promote_job_fail(j, 0, "published, but the "
			    "version of %s cannot be found", j->commithex);
		}
	}
	j->dest_version = xstrdup(v.semver);
	api_version_clear(&v);
	promote_job_step_done(j, "publish", start, j->dest_version);
	return 0;
}

/* The destination commit already exists remotely: is it published? */
int
promote_build_find_published(struct promote_job *j, int *found)
{
	struct api_version	 v = { 0 };
	struct api_error	 e;
	int			 rv;

	rv = api_version_find(j->dapi, j->dst->owner, j->dst->name,
	    j->commithex, &v, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "looking up destination "
		    "versions", &e);
	*found = rv == 1;
	if (rv == 1)
		j->dest_version = xstrdup(v.semver);
	api_version_clear(&v);
	return 0;
}
