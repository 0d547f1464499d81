/* promote.h: one promotion cycle for one route (pair -> destination):
 * detect, fetch, ensure, build tree, commit, push, wait, publish, record. */
#ifndef PROMOTE_H
#define PROMOTE_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum promote_result {
	PROMOTE_UPTODATE,	/* nothing new at the source */
	PROMOTE_DONE,		/* promoted (or recorded) a new source state */
	PROMOTE_FAILED,		/* this run failed; state says why */
	PROMOTE_HELD,		/* failed earlier for this commit, or waits
				 * for approval: nothing done */
	PROMOTE_DRYRUN,		/* --dry-run reported what it would do */
};

struct promote_opts {
	int			 dry_run;
	FILE			*report;	/* --dry-run output */
	const atomic_int	*cancel;	/* may be NULL */
	/* Called on the worker thread after each state change is on disk;
	 * may be NULL. */
	void			(*progress)(void *arg, int phase);
	void			*progress_arg;
	/* Called on the worker while hosted data is copied (phase data):
	 * files and bytes done of those to copy; may be NULL. Takes
	 * progress_arg. */
	void			(*data_progress)(void *arg, int64_t files_done,
				    int64_t files_total, int64_t bytes_done,
				    int64_t bytes_total);
	/* Called on the worker thread after every API request ("api",
	 * the HTTP status, 0 for none) and git operation ("git", 200 done,
	 * 0 failed) against cluster; may be NULL. */
	void			(*observe)(void *arg,
				    const struct config_cluster *cluster,
				    const char *kind, long status);
	void			*observe_arg;
	/* Called on the worker before a failed request to cluster is tried
	 * again (git: the try failed and was not observed, for a git
	 * operation is observed once, at its end): non-zero stops the
	 * tries, why saying so. May be NULL. */
	int			(*halt)(void *arg,
				    const struct config_cluster *cluster,
				    int git, char *why, size_t len);
	void			*halt_arg;
	/* Set to 1 by the worker when the run promoted over a drift
	 * (on_drift: overwrite); may be NULL. */
	int			*drifted;
	/* A dry run's own mirror, made fresh (a plan asked of the running
	 * service: the route's mirror is its job's alone); NULL: the
	 * route's. */
	const char		*mirror;
	/* Set to the failure's text (malloc'd) when the run fails; may be
	 * NULL. */
	char			**error;
};

const char *promote_result_name(enum promote_result);
char	*promote_route_name(const struct config_pair *,
	    const struct config_algo *dest);
int	 promote_route(const struct config *, const struct config_pair *,
	    size_t dest, const struct promote_opts *,
	    enum promote_result *result);
int	 promote_rebuild(const struct config *, const struct config_pair *,
	    size_t dest, const struct promote_opts *, char **report,
	    char **cause);

#endif
