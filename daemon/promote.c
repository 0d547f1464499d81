/* promote.c: one promotion cycle for one route (pair -> destination).
 * Safe to re-run after a crash at any instant: it reconciles with what
 * the destination really holds before it changes anything. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "api.h"
#include "atomicfile.h"
#include "gitops.h"
#include "log.h"
#include "monotime.h"
#include "promote.h"
#include "redact.h"
#include "state.h"
#include "template.h"
#include "vmap.h"
#include "xmalloc.h"

#define PROMOTE_PUSH_TRIES	3	/* rebuilds after a concurrent push */
#define PROMOTE_POLL_MIN_MS	200	/* build polling backoff */
#define PROMOTE_POLL_MAX_MS	5000
#define PROMOTE_SRC_REF		"refs/algopromoted/source"
#define PROMOTE_SRCV_REF	"refs/algopromoted/source-version"
#define PROMOTE_DST_REF		"refs/algopromoted/destination"

/* Settings a create call takes; the rest of an algorithm object is the
 * server's to fill in. */
static const char *const promote_details_keys[] = {
	"label", "summary", "tagline", NULL
};
static const char *const promote_settings_keys[] = {
	"language", "environment", "algorithm_environment", "package_set",
	"license", "network_access", "pipeline_enabled", "source_visibility",
	"royalty_microcredits", "insights_enabled", NULL
};

struct job;
struct job_observer {
	struct job			*job;
	const struct config_cluster	*cluster;
};

struct job {
	const struct config		*conf;
	const struct config_pair	*pair;
	const struct config_algo	*dst;
	const struct config_policy	*pol;
	const struct promote_opts	*opts;
	char				*name;	/* "pair->CLUSTER/OWNER/ALGO" */
	char				*dir;
	struct state_route		 st;
	git_repository			*repo;
	struct api_client		*sapi;
	struct api_client		*dapi;
	char				*surl;
	char				*durl;
	struct gitops_remote		 sremote;
	struct gitops_remote		 dremote;
	git_oid				 src;	/* the source commit to promote */
	char				 srchex[GIT_OID_HEXSZ + 1];
	char				*src_version;
	git_oid				 dhead;	/* destination head */
	int				 have_dhead;
	git_oid				 commit;	/* what the destination
							 * should hold */
	char				 commithex[GIT_OID_HEXSZ + 1];
	char				*build_id;
	char				*dest_version;
	char				*error;	/* why this run failed */
	int				 permanent;
	struct job_observer		 sobs;
	struct job_observer		 dobs;
};

static void job_log(struct job *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int job_fail(struct job *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

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

static void
job_log(struct job *j, int level, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	switch (level) {
	case LOG_LEVEL_ERROR:
		log_errx("route %s: %s", j->name, msg);
		break;
	case LOG_LEVEL_WARN:
		log_warnx("route %s: %s", j->name, msg);
		break;
	case LOG_LEVEL_INFO:
		log_info("route %s: %s", j->name, msg);
		break;
	default:
		log_debug("route %s: %s", j->name, msg);
		break;
	}
	free(msg);
}

/* Records why this run failed; the first failure wins. Returns -1. */
static int
job_fail(struct job *j, int permanent, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (j->error == NULL) {
		j->error = redact(msg);
		j->permanent = permanent;
	}
	free(msg);
	return -1;
}

static int
job_fail_api(struct job *j, const char *what, const struct api_error *e)
{
	return job_fail(j, !e->transient && !e->cancelled, "%s: %s", what,
	    e->message);
}

static int
job_fail_git(struct job *j, const char *what, char *cause)
{
	job_fail(j, 0, "%s: %s", what, cause != NULL ? cause : "failed");
	free(cause);
	return -1;
}

static void
job_observe_api(void *arg, long status)
{
	struct job_observer	*o = arg;
	const struct promote_opts *opts = o->job->opts;

	opts->observe(opts->observe_arg, o->cluster, "api", status);
}

static void
job_observe_git(struct job *j, const struct config_cluster *c, int ok)
{
	if (j->opts->observe != NULL)
		j->opts->observe(j->opts->observe_arg, c, "git", ok ? 200 : 0);
}

static int
job_cancelled(struct job *j)
{
	return j->opts->cancel != NULL && *j->opts->cancel;
}

/* Persists the route state; a failure to do so is an error of the run,
 * since exactly-once rests on it. */
static int
job_save(struct job *j, enum state_phase phase)
{
	char	*cause = NULL;

	if (j->opts->dry_run)
		return 0;
	j->st.phase = phase;
	if (state_route_save(&j->st, j->dir, &cause) == -1) {
		job_fail(j, 0, "saving state: %s", cause);
		free(cause);
		return -1;
	}
	if (j->opts->progress != NULL)
		j->opts->progress(j->opts->progress_arg, (int)phase);
	return 0;
}

static void
job_step_done(struct job *j, const char *step, uint64_t start,
    const char *detail)
{
	job_log(j, LOG_LEVEL_INFO, "%s: %llu ms%s%s%s", step,
	    (unsigned long long)(monotime_ms() - start),
	    detail != NULL ? " (" : "", detail != NULL ? detail : "",
	    detail != NULL ? ")" : "");
}

static char *
git_url(const struct config_algo *a, const char *suffix)
{
	return xprintf("%s/git/%s/%s%s.git", a->cluster->git, a->owner,
	    a->name, suffix);
}

static int
job_setup(struct job *j)
{
	const struct config_algo	*src = &j->pair->source;
	char				*cause = NULL, *warning = NULL;
	char				*mirror;

	j->name = promote_route_name(j->pair, j->dst);
	j->dir = state_route_dir(j->conf->state_dir, j->pair->name,
	    j->dst->full);
	if (state_route_load(&j->st, j->dir, &cause, &warning) == -1) {
		job_fail(j, 0, "reading state: %s", cause);
		free(cause);
		return -1;
	}
	if (warning != NULL) {
		job_log(j, LOG_LEVEL_WARN, "%s", warning);
		free(warning);
	}
	state_set(&j->st.pair, j->pair->name);
	state_set(&j->st.source, src->full);
	state_set(&j->st.destination, j->dst->full);

	if (api_client_new(&j->sapi, src->cluster->api, src->cluster->api_key,
	    src->cluster->ca_file, src->cluster->timeout_ms, &cause) == -1 ||
	    api_client_new(&j->dapi, j->dst->cluster->api,
	    j->dst->cluster->api_key, j->dst->cluster->ca_file,
	    j->dst->cluster->timeout_ms, &cause) == -1) {
		job_fail(j, 1, "API client: %s", cause);
		free(cause);
		return -1;
	}
	api_client_set_cancel(j->sapi, j->opts->cancel);
	api_client_set_cancel(j->dapi, j->opts->cancel);
	if (j->opts->observe != NULL) {
		j->sobs.job = j->dobs.job = j;
		j->sobs.cluster = src->cluster;
		j->dobs.cluster = j->dst->cluster;
		api_client_set_observer(j->sapi, job_observe_api, &j->sobs);
		api_client_set_observer(j->dapi, job_observe_api, &j->dobs);
	}

	j->surl = git_url(src, "");
	j->durl = git_url(j->dst, "");
	j->sremote.url = j->surl;
	j->sremote.user = src->cluster->key_owner;
	j->sremote.key = src->cluster->api_key;
	j->sremote.timeout_ms = src->cluster->timeout_ms;
	j->sremote.cancel = j->opts->cancel;
	j->dremote.url = j->durl;
	j->dremote.user = j->dst->cluster->key_owner;
	j->dremote.key = j->dst->cluster->api_key;
	j->dremote.timeout_ms = j->dst->cluster->timeout_ms;
	j->dremote.cancel = j->opts->cancel;

	mirror = xprintf("%s/mirror.git", j->dir);
	if (gitops_mirror_open(&j->repo, mirror, &cause) == -1) {
		free(mirror);
		return job_fail_git(j, "opening mirror", cause);
	}
	free(mirror);
	return 0;
}

static void
job_free(struct job *j)
{
	git_repository_free(j->repo);
	api_client_free(j->sapi);
	api_client_free(j->dapi);
	state_route_clear(&j->st);
	free(j->name);
	free(j->dir);
	free(j->surl);
	free(j->durl);
	free(j->src_version);
	free(j->build_id);
	free(j->dest_version);
	free(j->error);
}

/*
 * Detect: which source commit should the destination hold? In commits
 * mode the head of the branch; in versions mode the commit of the newest
 * published version. Returns 1 when there is one, 0 when there is none
 * yet, -1 on error.
 */
static int
job_detect(struct job *j)
{
	const struct config_algo	*src = &j->pair->source;
	struct api_version		 v = { 0 };
	struct api_error		 e;
	char				*cause = NULL, *ref, *vurl;
	uint64_t			 start = monotime_ms();
	int				 found = 0, rv;
	git_commit			*c = NULL;

	if (j->pol->track == CONFIG_TRACK_COMMITS) {
		ref = xprintf("refs/heads/%s", j->pol->branch);
		rv = gitops_fetch(j->repo, &j->sremote, ref, PROMOTE_SRC_REF,
		    &j->src, &found, &cause);
		job_observe_git(j, src->cluster, rv == 0);
		free(ref);
		if (rv == -1)
			return job_fail_git(j, "fetching source", cause);
		if (!found) {
			job_log(j, LOG_LEVEL_INFO, "source branch %s is empty",
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
			job_log(j, LOG_LEVEL_WARN, "source version of %.12s "
			    "unknown: %s", j->srchex, e.message);
		api_version_clear(&v);
		job_step_done(j, "fetch source", start, j->srchex);
		return 1;
	}

	rv = api_version_latest(j->sapi, src->owner, src->name, &v, &e);
	if (rv == -1)
		return job_fail_api(j, "listing source versions", &e);
	if (rv == 0 || v.git_hash == NULL ||
	    git_oid_fromstrn(&j->src, v.git_hash, strlen(v.git_hash)) != 0 ||
	    strlen(v.git_hash) != GIT_OID_HEXSZ) {
		if (rv == 1)
			job_log(j, LOG_LEVEL_WARN, "source version %s has no "
			    "usable git_hash", v.semver);
		else
			job_log(j, LOG_LEVEL_INFO, "source has no published "
			    "version yet");
		api_version_clear(&v);
		return 0;
	}
	git_oid_tostr(j->srchex, sizeof j->srchex, &j->src);
	j->src_version = xstrdup(v.semver);
	/* Fetch the branch; a version cut from elsewhere comes from the
	 * version's own read-only repository. */
	ref = xprintf("refs/heads/%s", j->pol->branch);
	if (git_commit_lookup(&c, j->repo, &j->src) != 0) {
		git_oid head;

		if (gitops_fetch(j->repo, &j->sremote, ref, PROMOTE_SRC_REF,
		    &head, &found, &cause) == -1) {
			free(ref);
			api_version_clear(&v);
			return job_fail_git(j, "fetching source", cause);
		}
	}
	if (c == NULL && git_commit_lookup(&c, j->repo, &j->src) != 0) {
		git_oid head;
		char *suffix = xprintf("/%s", v.semver);

		vurl = git_url(src, suffix);
		free(suffix);
		struct gitops_remote vr = j->sremote;
		vr.url = vurl;
		rv = gitops_fetch(j->repo, &vr, "refs/heads/master",
		    PROMOTE_SRCV_REF, &head, &found, &cause);
		free(vurl);
		if (rv == -1) {
			free(ref);
			api_version_clear(&v);
			return job_fail_git(j, "fetching source version",
			    cause);
		}
		if (git_commit_lookup(&c, j->repo, &j->src) != 0) {
			free(ref);
			api_version_clear(&v);
			return job_fail(j, 0, "source version %s: commit %s "
			    "not found in the source repository", j->src_version,
			    j->srchex);
		}
	}
	git_commit_free(c);
	free(ref);
	api_version_clear(&v);
	job_step_done(j, "fetch source", start, j->src_version);
	return 1;
}

/* Copies the create-time keys of a source object's member into dst. */
static void
merge_keys(cJSON *dst, const cJSON *src, const char *const *keys)
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

static void
merge_all(cJSON *dst, const cJSON *src)
{
	const cJSON	*v;

	cJSON_ArrayForEach(v, src) {
		cJSON_DeleteItemFromObjectCaseSensitive(dst, v->string);
		cJSON_AddItemToObject(dst, v->string, cJSON_Duplicate(v, 1));
	}
}

/* Ensure: the destination algorithm exists, created when missing.
 * Returns 0, or 1 when a dry run found it missing, -1 on error. */
static int
job_ensure(struct job *j)
{
	const struct config_algo	*src = &j->pair->source;
	const struct config_create	*cr = &j->pol->create;
	struct api_error		 e;
	cJSON				*salgo = NULL, *details, *settings;
	cJSON				*over;
	uint64_t			 start = monotime_ms();
	int				 rv;

	rv = api_algo_get(j->dapi, j->dst->owner, j->dst->name, NULL, &e);
	if (rv == -1)
		return job_fail_api(j, "looking up destination", &e);
	if (rv == 1)
		return 0;
	if (j->opts->dry_run) {
		fprintf(j->opts->report, "%s: would create %s\n", j->name,
		    j->dst->full);
		return 1;
	}
	details = cJSON_CreateObject();
	settings = cJSON_CreateObject();
	if (cr->from_source) {
		rv = api_algo_get(j->sapi, src->owner, src->name, &salgo, &e);
		if (rv != 1) {
			cJSON_Delete(details);
			cJSON_Delete(settings);
			if (rv == 0)
				return job_fail(j, 1, "source algorithm %s "
				    "not found", src->full);
			return job_fail_api(j, "looking up source", &e);
		}
		merge_keys(details, cJSON_GetObjectItemCaseSensitive(salgo,
		    "details"), promote_details_keys);
		merge_keys(settings, cJSON_GetObjectItemCaseSensitive(salgo,
		    "settings"), promote_settings_keys);
		cJSON_Delete(salgo);
	}
	if ((over = cJSON_Parse(cr->details_json)) != NULL)
		merge_all(details, over);
	cJSON_Delete(over);
	if ((over = cJSON_Parse(cr->settings_json)) != NULL)
		merge_all(settings, over);
	cJSON_Delete(over);
	if (cJSON_GetObjectItemCaseSensitive(details, "label") == NULL)
		cJSON_AddStringToObject(details, "label", j->dst->name);

	rv = api_algo_create(j->dapi, j->dst->owner, j->dst->name, details,
	    settings, NULL, &e);
	cJSON_Delete(details);
	cJSON_Delete(settings);
	if (rv == -1)
		return job_fail_api(j, "creating destination", &e);
	job_step_done(j, rv == 1 ? "create destination" :
	    "create destination (it already existed)", start, NULL);
	return 0;
}

static int
job_fetch_dest(struct job *j)
{
	char		*cause = NULL;
	uint64_t	 start = monotime_ms();
	char		 hex[GIT_OID_HEXSZ + 1] = "empty";
	int		 rv;

	rv = gitops_fetch(j->repo, &j->dremote, "refs/heads/master",
	    PROMOTE_DST_REF, &j->dhead, &j->have_dhead, &cause);
	job_observe_git(j, j->dst->cluster, rv == 0);
	if (rv == -1)
		return job_fail_git(j, "fetching destination", cause);
	if (j->have_dhead)
		git_oid_tostr(hex, sizeof hex, &j->dhead);
	job_step_done(j, "fetch destination", start, hex);
	return 0;
}

/* Does the destination head already say it came from this source
 * commit? Then a crashed run pushed it, and it must not be pushed twice. */
static int
job_head_is_ours(struct job *j)
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

static struct template_vars
job_vars(const struct job *j)
{
	struct template_vars	 v = {
		.source = j->pair->source.full,
		.destination = j->dst->full,
		.source_commit = j->srchex,
		.source_version = j->src_version,
		.pair = j->pair->name,
		.algo = j->dst->name,
	};

	return v;
}

static char *
job_message(struct job *j)
{
	struct template_vars	 v = job_vars(j);
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

/*
 * Test-only crash points: with ALGOPROMOTED_FAILPOINT=NAME in the
 * environment the process dies at NAME as abruptly as a power cut, so
 * tests can prove that the next run finishes the promotion exactly once.
 */
static void
failpoint(struct job *j, const char *name)
{
	const char	*fp = getenv("ALGOPROMOTED_FAILPOINT");

	if (fp != NULL && strcmp(fp, name) == 0) {
		job_log(j, LOG_LEVEL_WARN, "failpoint %s: exiting", name);
		_exit(99);
	}
}

static char *
job_release_notes(struct job *j)
{
	struct template_vars	 v = job_vars(j);

	return template_expand(j->pol->release_notes, &v);
}

/*
 * Build the destination tree and, unless the destination already holds
 * it, commit and push. Returns 1 pushed (j->commit set), 0 nothing to
 * push (the destination head already has the tree), -1 error.
 */
static int
job_commit_push(struct job *j)
{
	struct gitops_treespec	 spec = {
		.exclude = j->pol->exclude,
		.preserve = j->pol->preserve,
		.owner = j->dst->owner,
		.algo = j->dst->name,
	};
	git_oid			 tree, dtree, remote;
	char			*cause = NULL, *msg, *diff = NULL;
	uint64_t		 start;
	enum gitops_push	 pr;
	int			 try;

	for (try = 0; try < PROMOTE_PUSH_TRIES; try++) {
		start = monotime_ms();
		if (gitops_make_tree(j->repo, &j->src, j->have_dhead ?
		    &j->dhead : NULL, &spec, &tree, &cause) == -1)
			return job_fail_git(j, "building tree", cause);
		if (j->have_dhead) {
			if (gitops_commit_tree(j->repo, &j->dhead, &dtree,
			    &cause) == -1)
				return job_fail_git(j, "reading destination",
				    cause);
			if (git_oid_equal(&tree, &dtree)) {
				j->commit = j->dhead;
				git_oid_tostr(j->commithex,
				    sizeof j->commithex, &j->commit);
				job_log(j, LOG_LEVEL_INFO, "destination "
				    "already holds the tree of %.12s",
				    j->srchex);
				return 0;
			}
		}
		if (j->opts->dry_run) {
			if (gitops_diffstat(j->repo, j->have_dhead ? &dtree :
			    NULL, &tree, &diff, &cause) == -1)
				return job_fail_git(j, "diffstat", cause);
			fprintf(j->opts->report, "%s: would promote %s@%s%s%s"
			    "\n%s", j->name, j->pair->source.full, j->srchex,
			    j->src_version ? " version " : "",
			    j->src_version ? j->src_version : "", diff);
			free(diff);
			return 0;
		}
		msg = job_message(j);
		if (gitops_commit(j->repo, &tree, j->have_dhead ? &j->dhead :
		    NULL, j->pol->author_name, j->pol->author_email, msg,
		    &j->commit, &cause) == -1) {
			free(msg);
			return job_fail_git(j, "committing", cause);
		}
		free(msg);
		git_oid_tostr(j->commithex, sizeof j->commithex, &j->commit);
		job_step_done(j, "commit", start, j->commithex);

		/* Written before the push: whatever happens next, the next
		 * run knows what was meant. */
		state_set(&j->st.pending_source_commit, j->srchex);
		state_set(&j->st.pending_source_version, j->src_version);
		state_set(&j->st.pending_dest_commit, j->commithex);
		state_set(&j->st.pending_build_id, NULL);
		if (job_save(j, STATE_PUSHING) == -1)
			return -1;
		failpoint(j, "before-push");

		start = monotime_ms();
		pr = gitops_push(j->repo, &j->dremote, &j->commit,
		    j->have_dhead ? &j->dhead : NULL, "refs/heads/master",
		    &remote, &cause);
		job_observe_git(j, j->dst->cluster, pr != GITOPS_PUSH_ERROR);
		switch (pr) {
		case GITOPS_PUSH_OK:
			job_step_done(j, "push", start, j->commithex);
			failpoint(j, "after-push");
			return 1;
		case GITOPS_PUSH_MOVED:
			free(cause);
			cause = NULL;
			job_log(j, LOG_LEVEL_WARN, "destination moved during "
			    "the promotion; rebuilding on top of it");
			if (job_fetch_dest(j) == -1)
				return -1;
			if (job_head_is_ours(j)) {
				j->commit = j->dhead;
				git_oid_tostr(j->commithex,
				    sizeof j->commithex, &j->commit);
				return 1;
			}
			continue;
		case GITOPS_PUSH_REJECTED:
			return job_fail_git(j, "push rejected", cause);
		case GITOPS_PUSH_ERROR:
			return job_fail_git(j, "pushing", cause);
		}
	}
	return job_fail(j, 0, "destination kept moving; gave up after %d "
	    "tries", PROMOTE_PUSH_TRIES);
}

static void
job_sleep(struct job *j, uint64_t ms)
{
	struct timespec	 ts;

	/* Sliced so that a cancel is seen within 100 ms. */
	while (ms > 0 && !job_cancelled(j)) {
		uint64_t slice = ms < 100 ? ms : 100;

		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

static void
job_save_log(struct job *j, const char *build_id)
{
	struct api_error	 e;
	char			*logs = NULL, *path, *cause = NULL, *clean;
	int			 rv;

	rv = api_build_logs(j->dapi, j->dst->owner, j->dst->name, build_id,
	    &logs, &e);
	if (rv != 1) {
		job_log(j, LOG_LEVEL_WARN, "build %s: no log: %s", build_id,
		    rv == 0 ? "not available" : e.message);
		return;
	}
	path = xprintf("%s/build-%s.log", j->dir, build_id);
	clean = redact(logs);
	if (atomicfile_write(path, clean, strlen(clean), 0600, &cause) == -1) {
		job_log(j, LOG_LEVEL_WARN, "saving build log: %s", cause);
		free(cause);
	} else
		state_set(&j->st.build_log, path);
	free(clean);
	free(path);
	free(logs);
}

/*
 * Wait for the build of exactly j->commit. Returns 0 succeeded, -1 on
 * error or failure (j->error says which).
 */
static int
job_wait_build(struct job *j)
{
	const char		*owner = j->dst->owner, *algo = j->dst->name;
	struct api_build	 b = { 0 };
	struct api_error	 e;
	uint64_t		 start = monotime_ms();
	uint64_t		 delay = PROMOTE_POLL_MIN_MS;
	uint64_t		 deadline = start + j->pol->build_timeout_ms;
	int			 rv;

	if (job_save(j, STATE_BUILDING) == -1)
		return -1;
	for (;;) {
		if (job_cancelled(j))
			return job_fail(j, 0, "cancelled while waiting for "
			    "the build");
		if (j->build_id == NULL) {
			rv = api_build_find(j->dapi, owner, algo, j->commithex,
			    &b, &e);
			if (rv == 1) {
				j->build_id = xstrdup(b.id);
				state_set(&j->st.pending_build_id, b.id);
				if (job_save(j, STATE_BUILDING) == -1) {
					api_build_clear(&b);
					return -1;
				}
			}
		} else
			rv = api_build_get(j->dapi, owner, algo, j->build_id,
			    &b, &e);
		if (rv == -1 && !e.transient)
			return job_fail_api(j, "waiting for the build", &e);
		if (rv == -1)
			job_log(j, LOG_LEVEL_WARN, "waiting for the build: %s",
			    e.message);
		if (rv != -1 && b.status != NULL &&
		    strcmp(b.status, "succeeded") == 0) {
			api_build_clear(&b);
			job_step_done(j, "build", start, j->build_id);
			return 0;
		}
		if (rv != -1 && b.status != NULL &&
		    strcmp(b.status, "failed") == 0) {
			api_build_clear(&b);
			job_save_log(j, j->build_id);
			state_set(&j->st.failed_source_commit, j->srchex);
			return job_fail(j, 1, "build %s of %s failed%s%s",
			    j->build_id, j->commithex,
			    j->st.build_log ? "; log saved in " : "",
			    j->st.build_log ? j->st.build_log : "");
		}
		api_build_clear(&b);
		if (monotime_ms() >= deadline)
			return job_fail(j, 0, "build of %s did not finish "
			    "within the build_timeout", j->commithex);
		job_sleep(j, delay);
		delay = delay * 2 > PROMOTE_POLL_MAX_MS ? PROMOTE_POLL_MAX_MS :
		    delay * 2;
	}
}

static int
job_publish(struct job *j)
{
	const char		*owner = j->dst->owner, *algo = j->dst->name;
	struct api_version	 v = { 0 };
	struct api_error	 e;
	char			*notes;
	uint64_t		 start = monotime_ms();
	int			 rv;

	if (job_save(j, STATE_PUBLISHING) == -1)
		return -1;
	notes = job_release_notes(j);
	rv = api_publish(j->dapi, owner, algo,
	    config_vtype_name(j->pol->version_type), notes, &v, &e);
	free(notes);
	if (rv == -1 && e.code == API_CODE_PUBLISHED) {
		/* Published by a run whose answer was lost. */
		rv = api_version_find(j->dapi, owner, algo, j->commithex, &v,
		    &e);
		if (rv == 0)
			return job_fail(j, 0, "publish says already "
			    "published, but no version holds %s",
			    j->commithex);
	}
	if (rv == -1)
		return job_fail_api(j, "publishing", &e);
	if (v.git_hash != NULL && strcasecmp(v.git_hash, j->commithex) != 0)
		job_log(j, LOG_LEVEL_WARN, "published %s holds %s, not %s: "
		    "someone pushed meanwhile", v.semver ? v.semver : "?",
		    v.git_hash, j->commithex);
	if (v.semver == NULL) {
		api_version_clear(&v);
		if (api_version_find(j->dapi, owner, algo, j->commithex, &v,
		    &e) != 1) {
			api_version_clear(&v);
			return job_fail(j, 0, "published, but the version of "
			    "%s cannot be found", j->commithex);
		}
	}
	j->dest_version = xstrdup(v.semver);
	api_version_clear(&v);
	job_step_done(j, "publish", start, j->dest_version);
	return 0;
}

/* Appends to the version map unless this destination commit is there. */
static int
job_record(struct job *j)
{
	struct vmap		 m;
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
	char			*path, *cause = NULL;
	int			 rv = 0;

	path = xprintf("%s/versions.jsonl", j->dir);
	if (vmap_load(&m, path, &cause) == -1) {
		job_fail(j, 0, "reading version map: %s", cause);
		free(cause);
		free(path);
		return -1;
	}
	if (vmap_find(&m, j->commithex, j->dest_version) == NULL) {
		if (vmap_append(path, &e, &cause) == -1) {
			rv = job_fail(j, 0, "writing version map: %s", cause);
			free(cause);
		}
	}
	vmap_clear(&m);
	free(path);
	if (rv == -1)
		return -1;
	failpoint(j, "after-record");
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
	if (job_save(j, STATE_IDLE) == -1)
		return -1;
	job_log(j, LOG_LEVEL_INFO, "promoted %s@%.12s%s%s as %s %s",
	    j->pair->source.full, j->srchex, j->src_version ? " " : "",
	    j->src_version ? j->src_version : "", j->dst->full,
	    j->dest_version ? j->dest_version : "(unpublished)");
	return 0;
}

/* The destination commit already exists remotely: is it published? */
static int
job_find_published(struct job *j, int *found)
{
	struct api_version	 v = { 0 };
	struct api_error	 e;
	int			 rv;

	rv = api_version_find(j->dapi, j->dst->owner, j->dst->name,
	    j->commithex, &v, &e);
	if (rv == -1)
		return job_fail_api(j, "looking up destination versions", &e);
	*found = rv == 1;
	if (rv == 1)
		j->dest_version = xstrdup(v.semver);
	api_version_clear(&v);
	return 0;
}

static int
job_run(struct job *j, enum promote_result *result)
{
	int	 rv, published = 0;

	if ((rv = job_detect(j)) <= 0)
		return rv;
	/* A failed build is not retried for the same source commit. */
	if (j->st.failed_source_commit != NULL &&
	    strcmp(j->st.failed_source_commit, j->srchex) == 0) {
		job_log(j, LOG_LEVEL_INFO, "%.12s failed before; waiting for "
		    "a new source commit or `algopromotectl retry %s`",
		    j->srchex, j->pair->name);
		*result = PROMOTE_FAILED;
		return 0;
	}
	/* The fast path: promoted, and the destination still holds it. */
	if (j->st.last_source_commit != NULL &&
	    strcmp(j->st.last_source_commit, j->srchex) == 0 &&
	    j->st.pending_source_commit == NULL && !j->opts->dry_run) {
		if (job_fetch_dest(j) == -1)
			return -1;
		char hex[GIT_OID_HEXSZ + 1] = "";
		if (j->have_dhead)
			git_oid_tostr(hex, sizeof hex, &j->dhead);
		if (j->st.last_dest_commit != NULL &&
		    strcmp(hex, j->st.last_dest_commit) == 0) {
			*result = PROMOTE_UPTODATE;
			return 0;
		}
		job_log(j, LOG_LEVEL_WARN, "destination head %s is not the "
		    "promoted %s: it changed outside algopromoted",
		    *hex ? hex : "(empty)", j->st.last_dest_commit);
	}
	if (j->pol->approval == CONFIG_APPROVAL_MANUAL &&
	    !j->opts->dry_run && (j->st.approved_source_commit == NULL ||
	    strcmp(j->st.approved_source_commit, j->srchex) != 0)) {
		state_set(&j->st.pending_source_commit, j->srchex);
		state_set(&j->st.pending_source_version, j->src_version);
		if (j->st.phase != STATE_APPROVAL) {
			job_log(j, LOG_LEVEL_INFO, "%.12s waits for "
			    "`algopromotectl approve %s`", j->srchex,
			    j->pair->name);
		}
		if (job_save(j, STATE_APPROVAL) == -1)
			return -1;
		*result = PROMOTE_HELD;
		return 0;
	}
	if (job_save(j, STATE_FETCHING) == -1)
		return -1;
	if ((rv = job_ensure(j)) == -1)
		return -1;
	if (rv == 0 && job_fetch_dest(j) == -1)
		return -1;
	if (job_head_is_ours(j)) {
		/* Pushed by an earlier run that stopped before recording. */
		j->commit = j->dhead;
		git_oid_tostr(j->commithex, sizeof j->commithex, &j->commit);
		job_log(j, LOG_LEVEL_INFO, "destination head %.12s already "
		    "carries %.12s; resuming", j->commithex, j->srchex);
		if (j->opts->dry_run) {
			*result = PROMOTE_DRYRUN;
			return 0;
		}
		rv = 1;
	} else if ((rv = job_commit_push(j)) == -1)
		return -1;
	if (j->opts->dry_run) {
		if (rv == 0 && git_oid_equal(&j->commit, &j->dhead) &&
		    j->have_dhead)
			fprintf(j->opts->report, "%s: up to date\n", j->name);
		*result = PROMOTE_DRYRUN;
		return 0;
	}
	if (job_find_published(j, &published) == -1)
		return -1;
	if (rv == 0 && !published) {
		/* Same tree, nothing to publish: record the head as the
		 * destination state of this source commit. */
		*result = PROMOTE_DONE;
		return job_record(j);
	}
	if (!published) {
		if (job_wait_build(j) == -1)
			return -1;
		failpoint(j, "after-build");
		if (job_publish(j) == -1)
			return -1;
		failpoint(j, "after-publish");
	}
	*result = PROMOTE_DONE;
	return job_record(j);
}

/* Keeps the mirror's object store small; a failure costs nothing but a
 * warning, the next job tries again. */
static void
job_upkeep(struct job *j)
{
	char		*cause = NULL;
	uint64_t	 start = monotime_ms();
	int		 repacked;

	if (gitops_maintain(j->repo, 0, &repacked, &cause) == -1) {
		job_log(j, LOG_LEVEL_WARN, "%s", cause);
		free(cause);
	} else if (repacked)
		job_step_done(j, "mirror upkeep", start, NULL);
}

int
promote_route(const struct config *conf, const struct config_pair *pair,
    size_t dest, const struct promote_opts *opts,
    enum promote_result *result)
{
	struct job	 j;
	uint64_t	 start = monotime_ms();
	int		 rv;

	memset(&j, 0, sizeof j);
	j.conf = conf;
	j.pair = pair;
	j.dst = &pair->dests[dest];
	j.pol = &pair->policy;
	j.opts = opts;
	*result = PROMOTE_UPTODATE;

	rv = job_setup(&j);
	if (rv == 0)
		rv = job_run(&j, result);
	if (rv == 0 && !opts->dry_run)
		job_upkeep(&j);
	if (rv == -1 && job_cancelled(&j)) {
		/* Stopped at a safe point by shutdown: not the route's fault,
		 * and what is pending stays pending for the next start. */
		*result = PROMOTE_FAILED;
		job_log(&j, LOG_LEVEL_INFO, "interrupted by shutdown%s%s",
		    j.error != NULL ? ": " : "", j.error != NULL ? j.error : "");
	} else if (rv == -1) {
		*result = PROMOTE_FAILED;
		job_log(&j, LOG_LEVEL_ERROR, "%s", j.error != NULL ? j.error :
		    "failed");
		if (j.dir != NULL && !opts->dry_run) {
			state_set_error(&j.st, j.error, j.permanent);
			job_save(&j, j.st.failed_source_commit != NULL &&
			    j.srchex[0] != '\0' && strcmp(
			    j.st.failed_source_commit, j.srchex) == 0 ?
			    STATE_FAILED : STATE_IDLE);
		}
	} else if (*result == PROMOTE_UPTODATE)
		job_log(&j, LOG_LEVEL_DEBUG, "up to date");
	job_log(&j, LOG_LEVEL_DEBUG, "cycle: %llu ms, %s",
	    (unsigned long long)(monotime_ms() - start),
	    promote_result_name(*result));
	job_free(&j);
	return rv;
}
