/* promote_job.c: the life of one promotion job: setup and teardown, its
 * log lines, how it fails, what it reports to observers, cancellation. */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicfile.h"
#include "monotime.h"
#include "promote_int.h"
#include "redact.h"
#include "xmalloc.h"

void
promote_job_log(struct promote_job *j, int level, const char *fmt, ...)
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
int
promote_job_fail(struct promote_job *j, int permanent, const char *fmt, ...)
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

int
promote_job_fail_api(struct promote_job *j, const char *what,
    const struct api_error *e)
{
	return promote_job_fail(j, !e->transient && !e->cancelled, "%s: %s",
	    what, e->message);
}

/* Takes cause (may be NULL) and frees it. Returns -1. */
int
promote_job_fail_git(struct promote_job *j, const char *what, char *cause)
{
	promote_job_fail(j, 0, "%s: %s", what, cause != NULL ? cause :
	    "failed");
	free(cause);
	return -1;
}

static void
promote_job_observe_api(void *arg, long status)
{
	struct promote_job_observer	*o = arg;
	const struct promote_opts	*opts = o->job->opts;

	opts->observe(opts->observe_arg, o->cluster, "api", status);
}

static int
promote_job_halt_api(void *arg, char *why, size_t len)
{
	struct promote_job_observer	*o = arg;
	const struct promote_opts	*opts = o->job->opts;

	return opts->halt(opts->halt_arg, o->cluster, 0, why, len);
}

static int
promote_job_halt_git(void *arg, char *why, size_t len)
{
	struct promote_job_observer	*o = arg;
	const struct promote_opts	*opts = o->job->opts;

	return opts->halt(opts->halt_arg, o->cluster, 1, why, len);
}

void
promote_job_observe_git(struct promote_job *j, const struct config_cluster *c,
    int ok)
{
	if (j->opts->observe != NULL)
		j->opts->observe(j->opts->observe_arg, c, "git", ok ? 200 : 0);
}

int
promote_job_cancelled(struct promote_job *j)
{
	return j->opts->cancel != NULL && atomic_load(j->opts->cancel) != 0;
}

void
promote_job_sleep(struct promote_job *j, uint64_t ms)
{
	struct timespec	 ts;

	/* Sliced so that a cancel is seen within 100 ms. */
	while (ms > 0 && !promote_job_cancelled(j)) {
		uint64_t slice = ms < 100 ? ms : 100;

		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

void
promote_job_step_done(struct promote_job *j, const char *step, uint64_t start,
    const char *detail)
{
	promote_job_log(j, LOG_LEVEL_INFO, "%s: %llu ms%s%s%s", step,
	    (unsigned long long)(monotime_ms() - start),
	    detail != NULL ? " (" : "", detail != NULL ? detail : "",
	    detail != NULL ? ")" : "");
}

/* The git URL of algorithm a; suffix "/1.2.0" names a version's own
 * read-only repository. */
char *
promote_job_repo_url(const struct config_algo *a, const char *suffix)
{
	return xprintf("%s/git/%s/%s%s.git", a->cluster->git, a->owner,
	    a->name, suffix);
}

/* What commit messages and release notes may refer to. */
struct template_vars
promote_job_vars(const struct promote_job *j)
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

static void
promote_job_remote(struct promote_job *j, struct gitops_remote *r,
    const char *url, struct promote_job_observer *obs)
{
	const struct config_cluster	*c = obs->cluster;

	r->url = url;
	r->user = c->key_owner;
	r->key = c->api_key;
	r->timeout_ms = c->timeout_ms;
	r->cancel = j->opts->cancel;
	r->retries = c->retries;
	r->retry_budget_ms = c->retry_budget_ms;
	r->who = j->name;
	if (j->opts->halt != NULL) {
		r->halt = promote_job_halt_git;
		r->halt_arg = obs;
	}
}

static int
promote_job_api(struct promote_job *j, struct api_client **out,
    struct promote_job_observer *obs, const struct config_cluster *c)
{
	char	*cause = NULL;

	if (api_client_new(out, c->api, c->api_key, c->ca_file,
	    c->timeout_ms, &cause) == -1) {
		promote_job_fail(j, 1, "API client: %s", cause);
		free(cause);
		return -1;
	}
	api_client_set_cancel(*out, j->opts->cancel);
	api_client_set_retry(*out, c->retries, c->retry_budget_ms);
	api_client_set_name(*out, j->name);
	obs->job = j;
	obs->cluster = c;
	if (j->opts->observe != NULL)
		api_client_set_observer(*out, promote_job_observe_api, obs);
	if (j->opts->halt != NULL)
		api_client_set_halt(*out, promote_job_halt_api, obs);
	return 0;
}

/* Loads the route's state and opens its API clients and mirror. */
/*
 * Opens the route's mirror. One that cannot be opened or read (a lost
 * pack, a damaged object, a half-made directory) is moved aside and
 * made afresh: it is a cache, the next fetches fill it again.
 */
static int
promote_job_mirror(struct promote_job *j, const char *mirror)
{
	struct stat	 sb;
	char		*cause = NULL, *why = NULL, *aside = NULL;
	int		 n;

	/* The job is the mirror's only user while it runs. */
	if ((n = gitops_mirror_unlock(mirror)) > 0)
		promote_job_log(j, LOG_LEVEL_INFO, "removed %d lock file%s "
		    "left in %s by an interrupted run", n, n == 1 ? "" : "s",
		    mirror);
	if (gitops_mirror_open(&j->repo, mirror, &cause) == 0 &&
	    gitops_mirror_verify(j->repo, &cause) == 0)
		return 0;
	git_repository_free(j->repo);
	j->repo = NULL;
	if (stat(mirror, &sb) == -1)
		return promote_job_fail_git(j, "opening mirror", cause);
	if (gitops_mirror_discard(mirror, &aside, &why) == -1) {
		promote_job_fail(j, 0, "%s; %s", cause, why);
		free(cause);
		free(why);
		free(aside);
		return -1;
	}
	promote_job_log(j, LOG_LEVEL_WARN, "%s; moved aside to %s, fetching "
	    "afresh", cause, aside);
	free(cause);
	free(aside);
	cause = NULL;
	if (gitops_mirror_open(&j->repo, mirror, &cause) == -1)
		return promote_job_fail_git(j, "opening mirror", cause);
	return 0;
}

/* Fills *j for one run of the route (pair, dest): its state, API
 * clients, remotes and mirror. *j is always fit for promote_job_free(). */
int
promote_job_setup(struct promote_job *j, const struct config *conf,
    const struct config_pair *pair, size_t dest,
    const struct promote_opts *opts)
{
	const struct config_algo	*src = &pair->source;
	char				*cause = NULL, *warning = NULL;
	char				*mirror, *path;
	int				 n, rv;

	memset(j, 0, sizeof *j);
	j->conf = conf;
	j->pair = pair;
	j->dst = &pair->dests[dest];
	j->pol = &pair->policy;
	j->opts = opts;
	j->name = promote_route_name(j->pair, j->dst);
	j->dir = state_route_dir(j->conf->state_dir, j->pair->name,
	    j->dst->full);
	/* A dry run moves nothing aside: it may run beside the service. */
	if ((opts->dry_run ? state_route_peek(&j->st, j->dir, &cause) :
	    state_route_load(&j->st, j->dir, &cause, &warning)) == -1) {
		promote_job_fail(j, 0, "reading state: %s", cause);
		free(cause);
		/* No save over a file that could not be read (one of a
		 * newer release's format, one unreadable). */
		free(j->dir);
		j->dir = NULL;
		return -1;
	}
	if (warning != NULL) {
		promote_job_log(j, LOG_LEVEL_WARN, "%s", warning);
		free(warning);
	}
	if (hold_load(&j->hold, j->dir, &cause) == -1) {
		/* Unreadable: held as paused, which hold_load says. */
		promote_job_log(j, LOG_LEVEL_WARN, "%s", j->hold.reason);
		free(cause);
		cause = NULL;
	}
	/* The job is the route's only writer while it runs. */
	path = xprintf("%s/state.json", j->dir);
	if (!opts->dry_run && (n = atomicfile_clean(path)) > 0)
		promote_job_log(j, LOG_LEVEL_INFO, "removed %d temporary "
		    "file%s of %s left by an interrupted write", n,
		    n == 1 ? "" : "s", path);
	free(path);
	state_set(&j->st.pair, j->pair->name);
	state_set(&j->st.source, src->full);
	state_set(&j->st.destination, j->dst->full);

	if (promote_job_api(j, &j->sapi, &j->sobs, src->cluster) == -1 ||
	    promote_job_api(j, &j->dapi, &j->dobs, j->dst->cluster) == -1)
		return -1;

	j->surl = promote_job_repo_url(src, "");
	j->durl = promote_job_repo_url(j->dst, "");
	promote_job_remote(j, &j->sremote, j->surl, &j->sobs);
	promote_job_remote(j, &j->dremote, j->durl, &j->dobs);

	mirror = opts->mirror != NULL ? xstrdup(opts->mirror) :
	    xprintf("%s/mirror.git", j->dir);
	rv = promote_job_mirror(j, mirror);
	free(mirror);
	return rv;
}

/* Forgets what a pass learnt about one source commit, for a pass that
 * starts over with a newer one. */
/* The pinned files of a run, for another source commit. */
static void
promote_job_unpin(struct promote_job *j)
{
	size_t	 i;

	for (i = 0; i < j->npin_files; i++)
		free(j->pin_files[i]);
	free(j->pin_files);
	j->pin_files = NULL;
	j->npin_files = 0;
	j->pin_name = NULL;
}

void
promote_job_restart(struct promote_job *j)
{
	promote_job_unpin(j);
	free(j->src_version);
	free(j->build_id);
	free(j->dest_version);
	j->src_version = j->build_id = j->dest_version = NULL;
	state_set(&j->st.pending_build_id, NULL);
	cJSON_Delete(j->dalgo);
	j->dalgo = NULL;
}

void
promote_job_free(struct promote_job *j)
{
	git_repository_free(j->repo);
	api_client_free(j->sapi);
	api_client_free(j->dapi);
	state_route_clear(&j->st);
	hold_clear(&j->hold);
	free(j->name);
	free(j->dir);
	free(j->surl);
	free(j->durl);
	free(j->src_version);
	free(j->build_id);
	free(j->dest_version);
	free(j->error);
	cJSON_Delete(j->dalgo);
	promote_job_unpin(j);
}

/* What the destination tree is made with; with_pin: the model manifest
 * re-locked for this run's source commit, if it has one. */
void
promote_job_treespec(const struct promote_job *j,
    struct gitops_treespec *spec, int with_pin)
{
	memset(spec, 0, sizeof *spec);
	spec->exclude = j->pol->exclude;
	spec->preserve = j->pol->preserve;
	spec->owner = j->dst->owner;
	spec->algo = j->dst->name;
	if (with_pin && j->pin_name != NULL) {
		spec->replace_name = j->pin_name;
		spec->replace_id = &j->pin_blob;
	}
}
