/* promote.c: one promotion cycle for one route (pair -> destination): which
 * steps run, in what order, and what the run's outcome is.
 * Safe to re-run after a crash at any instant: it reconciles with what
 * the destination really holds before it changes anything. The steps live
 * in promote_{source,dest,build,record}.c, their job in promote_job.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"
#include "monotime.h"
#include "promote_int.h"
#include "xmalloc.h"

const char *
promote_result_name(enum promote_result r)
{
	switch (r) {
	case PROMOTE_UPTODATE:
		return "up to date";
	case PROMOTE_DONE:
		return "promoted";
	case PROMOTE_FAILED:
		return "failed";
	case PROMOTE_HELD:
		return "held";
	case PROMOTE_DRYRUN:
		return "dry run";
	}
	return "?";
}

char *
promote_route_name(const struct config_pair *pair,
    const struct config_algo *dest)
{
	return xprintf("%s->%s", pair->name, dest->full);
}

static int	promote_follow(struct promote_job *);

/*
 * Whether the detected source commit needs no work now: it failed
 * before, it is promoted and still there, or it waits for approval.
 * Returns 1 with *result set when so, 0 to go on, -1 on error.
 */
static int
promote_hold(struct promote_job *j, enum promote_result *result)
{
	char	 hex[GIT_OID_HEXSZ + 1] = "";
	int	 rv;

	/* A failed build is not retried for the same source commit. */
	if (j->st.failed_source_commit != NULL &&
	    strcmp(j->st.failed_source_commit, j->srchex) == 0) {
		promote_job_log(j, LOG_LEVEL_INFO, "%.12s failed before; "
		    "waiting for a new source commit or `algopromotectl retry "
		    "%s`", j->srchex, j->pair->name);
		if (j->opts->dry_run) {
			fprintf(j->opts->report, "%s: held: %s failed before "
			    "(%s); `algopromotectl retry %s` tries it again\n",
			    j->name, j->srchex, j->st.error != NULL ?
			    j->st.error : "no error recorded", j->pair->name);
			*result = PROMOTE_DRYRUN;
			return 1;
		}
		*result = PROMOTE_FAILED;
		return 1;
	}
	/* The fast path: promoted, and the destination still holds it. */
	if (j->st.last_source_commit != NULL &&
	    strcmp(j->st.last_source_commit, j->srchex) == 0 &&
	    j->st.pending_source_commit == NULL && !j->opts->dry_run) {
		if (promote_dest_fetch(j) == -1)
			return -1;
		if (j->have_dhead)
			git_oid_tostr(hex, sizeof hex, &j->dhead);
		if (j->st.last_dest_commit != NULL &&
		    strcmp(hex, j->st.last_dest_commit) == 0) {
			/* The code is there; what goes with it may have
			 * changed alone, and follows without a version. */
			if ((rv = promote_follow(j)) != 0) {
				*result = PROMOTE_HELD;
				return rv;
			}
			if (j->meta_updated &&
			    promote_record_save(j, j->st.phase) == -1)
				return -1;
			*result = PROMOTE_UPTODATE;
			return 1;
		}
		if ((rv = promote_drift_check(j)) != 0) {
			*result = PROMOTE_HELD;
			return rv;
		}
		promote_job_log(j, LOG_LEVEL_WARN, "destination head %s is not "
		    "the promoted %s: it changed outside algopromoted",
		    *hex ? hex : "(empty)", j->st.last_dest_commit);
	}
	/* An operator's pin is that operator's approval. */
	if (j->pol->approval != CONFIG_APPROVAL_MANUAL ||
	    j->hold.kind == HOLD_PINNED || (j->st.approved_source_commit !=
	    NULL && strcmp(j->st.approved_source_commit, j->srchex) == 0))
		return 0;
	if (j->opts->dry_run) {
		/* A plan shows what an approval would let through. */
		fprintf(j->opts->report, "%s: held: %s waits for approval "
		    "(approval: manual); `algopromotectl approve %s`\n",
		    j->name, j->srchex, j->pair->name);
		return 0;
	}
	state_set(&j->st.pending_source_commit, j->srchex);
	state_set(&j->st.pending_source_version, j->src_version);
	if (j->st.phase != STATE_APPROVAL)
		promote_job_log(j, LOG_LEVEL_INFO, "%.12s waits for "
		    "`algopromotectl approve %s`", j->srchex, j->pair->name);
	if (promote_record_save(j, STATE_APPROVAL) == -1)
		return -1;
	*result = PROMOTE_HELD;
	return 1;
}

/* What goes with the code, before it: hosted data, then details and
 * settings. 0, 1 held (data changed outside algopromoted), or -1. */
static int
promote_follow(struct promote_job *j)
{
	int	 rv;

	if ((rv = promote_data_sync(j)) != 0)
		return rv;
	return promote_meta_sync(j);
}

static int	promote_rounds(struct promote_job *, enum promote_result *);
static int	promote_round(struct promote_job *, enum promote_result *,
		    int *);

/*
 * detect, ensure, commit and push (or resume), then build, publish and
 * record. When the destination moves under us and the source has moved
 * on too (another instance promoting something newer), the run starts
 * over with the newest source commit rather than push an older one on
 * top; at most PROMOTE_PASSES times. Returns 0 with *result set, or -1
 * (j->error says why).
 */
static int
promote_run(struct promote_job *j, enum promote_result *result)
{
	int	 rv, pass;

	if (j->st.phase == STATE_HELD) {
		if (!j->opts->dry_run) {
			*result = PROMOTE_HELD;
			return 0;
		}
		/* A plan goes on to show what resume would promote. */
		fprintf(j->opts->report, "%s: held: destination head %s "
		    "changed outside algopromoted; `algopromotectl resume %s` "
		    "promotes on top of it\n", j->name,
		    j->st.drift_dest_commit, j->pair->name);
	}
	if (j->hold.kind == HOLD_PAUSED) {
		if (!j->opts->dry_run) {
			promote_job_log(j, LOG_LEVEL_DEBUG, "paused: nothing "
			    "changes");
			*result = PROMOTE_HELD;
			return 0;
		}
		fprintf(j->opts->report, "%s: held: paused by operator%s%s\n",
		    j->name, j->hold.reason != NULL ? ": " : "",
		    j->hold.reason != NULL ? j->hold.reason : "");
	}
	if (j->hold.kind == HOLD_PINNED && j->opts->dry_run)
		fprintf(j->opts->report, "%s: held: %s; nothing newer is "
		    "promoted until `algopromotectl resume %s`\n", j->name,
		    j->hold.reason != NULL ? j->hold.reason : "pinned",
		    j->pair->name);
	for (pass = 1;; pass++) {
		if ((rv = promote_source_detect(j)) <= 0)
			return rv;
		if (!j->opts->dry_run && promote_record_settle(j) == -1)
			return -1;
		if ((rv = promote_hold(j, result)) != 0)
			return rv == 1 ? 0 : -1;
		if (promote_record_save(j, STATE_FETCHING) == -1)
			return -1;
		if ((rv = promote_dest_ensure(j)) == -1)
			return -1;
		if (rv == 0 && promote_dest_fetch(j) == -1)
			return -1;
		if ((rv = promote_follow(j)) != 0) {
			*result = j->opts->dry_run ? PROMOTE_DRYRUN :
			    PROMOTE_HELD;
			return rv == 1 ? 0 : -1;
		}
		if ((rv = promote_rounds(j, result)) != 2)
			return rv;
		if (pass == PROMOTE_PASSES)
			return promote_job_fail(j, 0, "the source kept moving "
			    "during %d passes; trying later", pass);
		promote_job_restart(j);
	}
}

/*
 * From the fetched destination head to a published version. A publish
 * the server refuses because someone pushed after our build sends us
 * round again: commit on top of their head, push, build, publish ours;
 * at most PROMOTE_PUBLISH_ROUNDS times; unless the source has moved on
 * meanwhile (2: start over).
 */
static int
promote_rounds(struct promote_job *j, enum promote_result *result)
{
	int	 rv, round, published = 0;

	for (round = 1;; round++) {
		if ((rv = promote_round(j, result, &published)) != 1)
			return rv;
		if (published)
			break;
		if (promote_build_wait(j) == -1)
			return -1;
		FAILPOINT(j->name, "after-build");
		if ((rv = promote_build_publish(j)) == -1)
			return -1;
		if (rv == 0) {
			FAILPOINT(j->name, "after-publish");
			break;
		}
		if ((rv = promote_source_moved_on(j)) != 0)
			return rv == 1 ? 2 : -1;
		if (round == PROMOTE_PUBLISH_ROUNDS)
			return promote_job_fail(j, 0, "the destination moved "
			    "before each of %d publishes; trying later", round);
	}
	*result = PROMOTE_DONE;
	return promote_record_done(j);
}

/* One round up to the build: 1 go on (*published: nothing left but to
 * record), 0 done (*result set), 2 start over, -1 failed. */
static int
promote_round(struct promote_job *j, enum promote_result *result,
    int *published)
{
	int	 rv;

	j->pushed_new = 0;
	if (promote_dest_head_is_ours(j)) {
		/* Pushed by an earlier run that stopped before recording. */
		promote_dest_take_head(j);
		promote_job_log(j, LOG_LEVEL_INFO, "destination head %.12s "
		    "already carries %.12s; resuming", j->commithex, j->srchex);
		if (j->opts->dry_run) {
			*result = PROMOTE_DRYRUN;
			return 0;
		}
		rv = 1;
	} else {
		if ((rv = promote_drift_check(j)) != 0) {
			*result = j->opts->dry_run ? PROMOTE_DRYRUN :
			    PROMOTE_HELD;
			return rv == 1 ? 0 : -1;
		}
		if ((rv = promote_dest_commit_push(j)) == -1 || rv == 2)
			return rv;
		if (rv == 3) {
			*result = PROMOTE_HELD;
			return 0;
		}
	}
	if (j->opts->dry_run) {
		if (rv == 0 && git_oid_equal(&j->commit, &j->dhead) &&
		    j->have_dhead)
			fprintf(j->opts->report, "%s: up to date\n", j->name);
		*result = PROMOTE_DRYRUN;
		return 0;
	}
	/* A commit this round made and pushed, moving the head from its
	 * parent, was never on the destination: no version can hold it, and
	 * a server whose list is long need not be paged through. */
	if (!j->pushed_new && promote_build_find_published(j, published) == -1)
		return -1;
	if (rv == 0 && !*published) {
		/* Same tree, nothing to publish: record the head as the
		 * destination state of this source commit. */
		*result = PROMOTE_DONE;
		return promote_record_done(j) == -1 ? -1 : 0;
	}
	return 1;
}

/* Keeps the mirror's object store small; a failure costs nothing but a
 * warning, the next job tries again. */
static void
promote_upkeep(struct promote_job *j)
{
	char		*cause = NULL;
	uint64_t	 start = monotime_ms();
	int		 repacked;

	if (gitops_maintain(j->repo, 0, &repacked, &cause) == -1) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s", cause);
		free(cause);
	} else if (repacked)
		promote_job_step_done(j, "mirror upkeep", start, NULL);
}

int
promote_route(const struct config *conf, const struct config_pair *pair,
    size_t dest, const struct promote_opts *opts,
    enum promote_result *result)
{
	struct promote_job	 j;
	uint64_t		 start = monotime_ms();
	int			 rv;

	*result = PROMOTE_UPTODATE;
	rv = promote_job_setup(&j, conf, pair, dest, opts);
	if (rv == 0)
		rv = promote_run(&j, result);
	if (rv == 0 && !opts->dry_run)
		promote_upkeep(&j);
	if (rv == -1 && promote_job_cancelled(&j)) {
		/* Stopped at a safe point by shutdown: not the route's fault,
		 * and what is pending stays pending for the next start. */
		*result = PROMOTE_FAILED;
		promote_job_log(&j, LOG_LEVEL_INFO, "interrupted by shutdown%s%s",
		    j.error != NULL ? ": " : "", j.error != NULL ? j.error : "");
	} else if (rv == -1) {
		*result = PROMOTE_FAILED;
		promote_job_log(&j, LOG_LEVEL_ERROR, "%s", j.error != NULL ?
		    j.error : "failed");
		if (j.dir != NULL && !opts->dry_run) {
			state_set_error(&j.st, j.error, j.permanent);
			promote_record_save(&j, j.st.failed_source_commit !=
			    NULL && j.srchex[0] != '\0' && strcmp(
			    j.st.failed_source_commit, j.srchex) == 0 ?
			    STATE_FAILED : STATE_IDLE);
		}
	} else if (*result == PROMOTE_UPTODATE)
		promote_job_log(&j, LOG_LEVEL_DEBUG, "up to date");
	if (rv == -1 && opts->error != NULL)
		*opts->error = xstrdup(j.error != NULL ? j.error : "failed");
	promote_job_log(&j, LOG_LEVEL_DEBUG, "cycle: %llu ms, %s",
	    (unsigned long long)(monotime_ms() - start),
	    promote_result_name(*result));
	promote_job_free(&j);
	return rv;
}
