/* promote_int.h: what the files of the promotion cycle share: the job
 * (one run of one route) and each step's entry point. Not for other modules. */
#ifndef PROMOTE_INT_H
#define PROMOTE_INT_H

#include <stdint.h>

#include <git2.h>

#include "api.h"
#include "api_data.h"
#include "config.h"
#include "datamanifest.h"
#include "gitops.h"
#include "hold.h"
#include "log.h"
#include "promote.h"
#include "state.h"
#include "template.h"

#define PROMOTE_PUSH_TRIES	3	/* rebuilds after a concurrent push */
#define PROMOTE_PUBLISH_ROUNDS	3	/* and after a push before our publish */
#define PROMOTE_PASSES		3	/* starts over when the source moved on */
#define PROMOTE_LOOKS		3	/* changes sent with no answer, each
					 * looked for before the next */
#define PROMOTE_POLL_MIN_MS	200	/* build polling backoff */
#define PROMOTE_POLL_MAX_MS	5000
#define PROMOTE_SRC_REF		"refs/algopromoted/source"
#define PROMOTE_SRCV_REF	"refs/algopromoted/source-version"
#define PROMOTE_DST_REF		"refs/algopromoted/destination"

struct promote_job;
struct promote_job_observer {
	struct promote_job		*job;
	const struct config_cluster	*cluster;
};

/* One run of one route; lives on the worker's stack for one cycle. */
struct promote_job {
	const struct config		*conf;
	const struct config_pair	*pair;
	const struct config_algo	*dst;
	const struct config_policy	*pol;
	const struct promote_opts	*opts;
	char				*name;	/* "pair->CLUSTER/OWNER/ALGO" */
	char				*dir;
	struct state_route		 st;
	struct hold			 hold;	/* the operator's */
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
	int				 created;	/* the destination,
							 * by this run */
	git_oid				 commit;	/* what the destination
							 * should hold */
	char				 commithex[GIT_OID_HEXSZ + 1];
	char				*build_id;
	char				*dest_version;
	char				*error;	/* why this run failed */
	int				 permanent;
	int				 meta_updated;	/* by this run */
	cJSON				*dalgo;	/* the destination as
							 * ensure read it, for
							 * the metadata step
							 * right after, or
							 * NULL */
	int				 pushed_new;	/* j->commit, made and
							 * pushed by this round:
							 * no version holds it */
	/* The promoted tree's model manifest, re-locked to the pinned
	 * destination files (promote_pin.c): its root name and blob, or
	 * NULL; and the pinned files ("OWNER/COLL/NAME") it names. */
	const char			*pin_name;
	git_oid				 pin_blob;
	char			       **pin_files;
	size_t				 npin_files;
	struct promote_job_observer	 sobs;
	struct promote_job_observer	 dobs;
};

/* promote_job.c: the job's life, logging, failures and observers. */
int	 promote_job_setup(struct promote_job *, const struct config *,
	    const struct config_pair *, size_t dest,
	    const struct promote_opts *);
void	 promote_job_restart(struct promote_job *);
void	 promote_job_free(struct promote_job *);
void	 promote_job_log(struct promote_job *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 promote_job_fail(struct promote_job *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 promote_job_fail_api(struct promote_job *, const char *,
	    const struct api_error *);
int	 promote_job_fail_git(struct promote_job *, const char *, char *);
void	 promote_job_observe_git(struct promote_job *,
	    const struct config_cluster *, int);
int	 promote_job_cancelled(struct promote_job *);
void	 promote_job_sleep(struct promote_job *, uint64_t);
void	 promote_job_step_done(struct promote_job *, const char *, uint64_t,
	    const char *);
char	*promote_job_repo_url(const struct config_algo *, const char *);
void	 promote_job_treespec(const struct promote_job *,
	    struct gitops_treespec *, int with_pin);
struct template_vars promote_job_vars(const struct promote_job *);

/* promote_source.c: which source commit the destination should hold. */
int	 promote_source_detect(struct promote_job *);
int	 promote_source_moved_on(struct promote_job *);

/* promote_dest.c: the destination algorithm and its git repository. */
int	 promote_dest_ensure(struct promote_job *);
int	 promote_dest_fetch(struct promote_job *);
int	 promote_dest_head_is_ours(struct promote_job *);
void	 promote_dest_take_head(struct promote_job *);
int	 promote_dest_commit_push(struct promote_job *);

/* promote_data.c: hosted data follows the code. */
int	 promote_data_sync(struct promote_job *);

/* promote_pin.c: model files pinned by content, the manifest re-locked.
 * One mapped collection pair, as promote_data.c listed it. */
struct promote_pin_target {
	const char			*sowner;	/* ".my" resolved */
	const char			*scoll;
	const char			*downer;
	const char			*dcoll;
	const struct api_data_listing	*src;
	const struct api_data_listing	*dst;
	struct datamanifest_coll	*coll;
};
int	 promote_pin(struct promote_job *, struct datamanifest *,
	    const struct promote_pin_target *, size_t);
void	 promote_pin_published(struct promote_job *);

/* promote_meta.c: details and settings follow the source's. */
extern const char *const promote_meta_details_keys[];
extern const char *const promote_meta_settings_keys[];
void	 promote_meta_merge(cJSON *dst, const cJSON *src,
	    const char *const *keys);
void	 promote_meta_override(cJSON *dst, const char *json_object);
int	 promote_meta_sync(struct promote_job *);

/* promote_drift.c: a destination changed outside algopromoted. */
int	 promote_drift_check(struct promote_job *);

/* promote_build.c: the destination's build and its published version. */
int	 promote_build_wait(struct promote_job *);
int	 promote_build_publish(struct promote_job *);
int	 promote_build_find_published(struct promote_job *, int *);

/* promote_record.c: what a run writes down: route state, version map. */
int	 promote_record_save(struct promote_job *, enum state_phase);
int	 promote_record_done(struct promote_job *);
int	 promote_record_settle(struct promote_job *);

#endif
