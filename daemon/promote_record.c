/* promote_record.c: what a promotion writes down: the route's state at
 * each phase, and at the end the version map line and the final state. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "failpoint.h"
#include "promote_int.h"
#include "vmap.h"
#include "xmalloc.h"

/* Persists the route state; a failure to do so is an error of the run,
 * since exactly-once rests on it. */
int
promote_record_save(struct promote_job *j, enum state_phase phase)
{
	char	*cause = NULL;

	if (j->opts->dry_run)
		return 0;
	j->st.phase = phase;
	if (state_route_save(&j->st, j->dir, &cause) == -1) {
		promote_job_fail(j, 0, "saving state: %s", cause);
		free(cause);
		return -1;
	}
	if (j->opts->progress != NULL)
		j->opts->progress(j->opts->progress_arg, (int)phase);
	return 0;
}

/* Appends e to the version map unless this destination commit is there. */
static int
promote_record_vmap(struct promote_job *j, const struct vmap_entry *e)
{
	struct vmap	 m;
	char		*path, *cause = NULL, *warning = NULL;
	int		 rv = 0;

	path = xprintf("%s/versions.jsonl", j->dir);
	if (vmap_mend(path, &warning, &cause) == -1) {
		promote_job_fail(j, 0, "mending version map: %s", cause);
		free(cause);
		free(path);
		return -1;
	}
	if (warning != NULL) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s", warning);
		free(warning);
	}
	if (vmap_load(&m, path, &cause) == -1) {
		promote_job_fail(j, 0, "reading version map: %s", cause);
		free(cause);
		free(path);
		return -1;
	}
	if (vmap_find(&m, e->dest_commit, e->dest_version) == NULL) {
		if (vmap_append(path, e, &cause) == -1) {
			rv = promote_job_fail(j, 0, "writing version map: %s",
			    cause);
			free(cause);
		}
	}
	vmap_clear(&m);
	free(path);
	return rv;
}

/*
 * A run that died after its publish but before its map line leaves its
 * commit pending. When the source has moved on by the next run, that run
 * promotes the new commit and would write the pending one over: look
 * first, and if the pending destination commit is published, write its
 * line now. 0, or -1 (the destination cannot be read: nothing is
 * overwritten before it can).
 */
int
promote_record_settle(struct promote_job *j)
{
	const struct state_route	*st = &j->st;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	int				 rv;

	if (st->pending_dest_commit == NULL ||
	    st->pending_source_commit == NULL ||
	    strcmp(st->pending_source_commit, j->srchex) == 0)
		return 0;
	rv = api_version_find(j->dapi, j->dst->owner, j->dst->name,
	    st->pending_dest_commit, &v, &e);
	if (rv == -1)
		return promote_job_fail_api(j, "looking up the interrupted "
		    "promotion's version", &e);
	if (rv == 1) {
		struct vmap_entry	 m = {
			.time = (int64_t)time(NULL),
			.pair = j->pair->name,
			.source = j->pair->source.full,
			.source_commit = st->pending_source_commit,
			.source_version = st->pending_source_version,
			.destination = j->dst->full,
			.dest_commit = st->pending_dest_commit,
			.dest_version = v.semver,
			.build_id = st->pending_build_id,
		};

		promote_job_log(j, LOG_LEVEL_INFO, "the interrupted promotion "
		    "of %.12s was published as %s; recording it",
		    st->pending_source_commit, v.semver);
		rv = promote_record_vmap(j, &m);
	}
	api_version_clear(&v);
	return rv == -1 ? -1 : 0;
}

/* The promotion is done: map it, then make it the route's last one. */
int
promote_record_done(struct promote_job *j)
{
	struct vmap_entry	 e = {
		.time = (int64_t)time(NULL),
		.pair = j->pair->name,
		.source = j->pair->source.full,
		.source_commit = j->srchex,
		.source_version = j->src_version,
		.destination = j->dst->full,
		.dest_commit = j->commithex,
		.dest_version = j->dest_version,
		.build_id = j->build_id,
	};

	if (promote_record_vmap(j, &e) == -1)
		return -1;
	FAILPOINT(j->name, "after-record");
	state_set(&j->st.last_source_commit, j->srchex);
	state_set(&j->st.last_source_version, j->src_version);
	state_set(&j->st.last_dest_commit, j->commithex);
	state_set(&j->st.last_dest_version, j->dest_version);
	j->st.last_time = e.time;
	state_set(&j->st.pending_source_commit, NULL);
	state_set(&j->st.pending_source_version, NULL);
	state_set(&j->st.pending_dest_commit, NULL);
	state_set(&j->st.pending_build_id, NULL);
	state_set(&j->st.failed_source_commit, NULL);
	state_set(&j->st.build_log, NULL);
	state_set_error(&j->st, NULL, 0);
	if (promote_record_save(j, STATE_IDLE) == -1)
		return -1;
	promote_job_log(j, LOG_LEVEL_INFO, "promoted %s@%.12s%s%s as %s %s",
	    j->pair->source.full, j->srchex, j->src_version ? " " : "",
	    j->src_version ? j->src_version : "", j->dst->full,
	    j->dest_version ? j->dest_version : "(unpublished)");
	/* Pinned model files: which version holds them, and those no
	 * version kept needs any more. Never fails the promotion. */
	if (j->dest_version != NULL)
		promote_pin_published(j);
	return 0;
}
