/* promote_record.c: what a promotion writes down: the route's state at
 * each phase, and at the end the version map line and the final state. */
#include <stdlib.h>
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
	if (vmap_find(&m, j->commithex, j->dest_version) == NULL) {
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
	return 0;
}
