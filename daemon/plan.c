/* plan.c: `algopromotectl plan PAIR`, asked of the running service: per
 * destination, what a promotion would do now and what holds it. Each
 * route's dry run goes on the worker pool with a mirror of its own under
 * state_dir/plans/ (the route's mirror is its jobs' alone), reads the
 * state without changing it, and changes nothing remote; the control
 * client is answered when the last one ends.
 *
 * Threads: plan_start() and the done callback on the loop; the dry runs
 * on workers, each with its own copies (see doc/threads.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "atomicfile.h"
#include "control.h"
#include "gitops.h"
#include "log.h"
#include "plan.h"
#include "pool.h"
#include "promote.h"
#include "server_int.h"
#include "xmalloc.h"

/* One plan request: its routes' results in order, then the answer. */
struct plan {
	struct server		*srv;
	struct control_conn	*conn;
	cJSON			*plans;		/* array, by route order */
	size_t			 left;
};

struct plan_job {
	struct pool_job		 pj;	/* first: the pool hands it back */
	struct plan		*plan;
	cJSON			*slot;	/* its entry in plan->plans */
	struct confref		*cref;
	const struct config_pair *pair;
	size_t			 dest;
	char			*dir;	/* state_dir/plans/XXXXXX */
	const atomic_int	*cancel;
	/* Written by the worker, read by the loop after the hand-over. */
	char			*report, *error;
	enum promote_result	 result;	/* not shown: the report says */
};

static void
plan_job_run(struct pool_job *pj)
{
	struct plan_job		*pl = (struct plan_job *)pj;
	struct promote_opts	 opts = { 0 };
	FILE			*report;
	size_t			 len = 0;
	char			*mirror, *cause = NULL;

	if ((report = open_memstream(&pl->report, &len)) == NULL)
		fatal("open_memstream");
	mirror = xprintf("%s/mirror.git", pl->dir);
	opts.dry_run = 1;
	opts.report = report;
	opts.cancel = pl->cancel;
	opts.mirror = mirror;
	opts.error = &pl->error;
	(void)promote_route(pl->cref->conf, pl->pair, pl->dest, &opts,
	    &pl->result);
	if (fclose(report) != 0)
		fatal("fclose");
	free(mirror);
	if (gitops_mirror_remove(pl->dir, &cause) == -1) {
		log_warnx("plan: %s", cause);
		free(cause);
	}
}

static void
plan_answer(struct plan *p)
{
	struct server	*s = p->srv;
	cJSON		*o = cJSON_CreateObject();
	char		*text;

	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "plans", p->plans);
	if ((text = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("out of memory");
	cJSON_Delete(o);
	control_answer(p->conn, text);
	s->planning = 0;
	free(p);
}

static void
plan_job_done(struct pool_job *pj)
{
	struct plan_job	*pl = (struct plan_job *)pj;
	struct plan	*p = pl->plan;
	struct server	*s = p->srv;

	cJSON_AddBoolToObject(pl->slot, "ok", pl->error == NULL);
	cJSON_AddStringToObject(pl->slot, "report", pl->report != NULL ?
	    pl->report : "");
	if (pl->error != NULL)
		cJSON_AddStringToObject(pl->slot, "error", pl->error);
	free(pl->report);
	free(pl->error);
	free(pl->dir);
	server_confref_drop(pl->cref);
	free(pl);
	if (--p->left == 0)
		plan_answer(p);
	server_job_ended(s);
}

/* Clears what plans a crash left behind. Loop, at start-up. */
void
plan_cleanup(const char *state_dir)
{
	char	*dir = xprintf("%s/plans", state_dir), *cause = NULL;

	if (gitops_mirror_remove(dir, &cause) == -1) {
		log_warnx("%s", cause);
		free(cause);
	}
	free(dir);
}

int
plan_start(struct server *s, const char *pair, const char *dest,
    struct control_conn *conn, char **error)
{
	const struct config	*conf = s->cref->conf;
	const struct config_pair *p = config_pair_find(conf, pair);
	struct plan		*plan;
	struct plan_job		*pl;
	char			*base, *cause = NULL;
	size_t			 d, n = 0;

	*error = NULL;
	if (p == NULL) {
		xasprintf(error, "no pair \"%s\"", pair);
		return -1;
	}
	for (d = 0; d < p->ndests; d++)
		if (dest == NULL || strcmp(p->dests[d].full, dest) == 0)
			n++;
	if (n == 0) {
		xasprintf(error, "pair \"%s\" has no destination \"%s\"", pair,
		    dest);
		return -1;
	}
	if (s->planning) {
		*error = xstrdup("a plan is under way; ask again when it ends");
		return -1;
	}
	base = xprintf("%s/plans", conf->state_dir);
	if (atomicfile_mkdirs(base, 0700, &cause) == -1) {
		*error = cause;
		free(base);
		return -1;
	}
	plan = xcalloc(1, sizeof *plan);
	plan->srv = s;
	plan->conn = conn;
	plan->plans = cJSON_CreateArray();
	for (d = 0; d < p->ndests; d++) {
		if (dest != NULL && strcmp(p->dests[d].full, dest) != 0)
			continue;
		pl = xcalloc(1, sizeof *pl);
		pl->dir = xprintf("%s/XXXXXX", base);
		if (mkdtemp(pl->dir) == NULL) {
			log_warn("plan: mkdtemp %s", pl->dir);
			free(pl->dir);
			free(pl);
			continue;
		}
		pl->pj.run = plan_job_run;
		pl->pj.done = plan_job_done;
		pl->plan = plan;
		pl->slot = cJSON_CreateObject();
		cJSON_AddStringToObject(pl->slot, "destination",
		    p->dests[d].full);
		cJSON_AddItemToArray(plan->plans, pl->slot);
		pl->cref = s->cref;
		pl->cref->refs++;
		pl->pair = p;
		pl->dest = d;
		pl->cancel = &s->cancel;
		plan->left++;
		pool_submit(s->pool, &pl->pj);
	}
	free(base);
	if (plan->left == 0) {
		cJSON_Delete(plan->plans);
		free(plan);
		*error = xstrdup("cannot make a directory for the plan");
		return -1;
	}
	s->planning = 1;
	log_info("pair %s: plan asked", pair);
	return 0;
}
