/* state.h: per-route state on disk, state_dir/routes/PAIR/DEST/state.json,
 * written atomically so `cat` and `jq` always see a whole picture. */
#ifndef STATE_H
#define STATE_H

#include <stdint.h>

#include <cjson/cJSON.h>

enum state_phase {
	STATE_IDLE,		/* up to date, waiting for a change */
	STATE_FETCHING,
	STATE_PUSHING,
	STATE_BUILDING,
	STATE_PUBLISHING,
	STATE_FAILED,		/* stays until a new source commit or retry */
	STATE_APPROVAL,		/* waiting for `algopromotectl approve` */
	STATE_HELD,		/* drift: the destination changed outside
				 * algopromoted; waits for `resume` */
	STATE_DATA,		/* copying hosted data before the push */
};

struct state_route {
	char		*pair;
	char		*source;
	char		*destination;
	enum state_phase phase;
	/* The last completed promotion. */
	char		*last_source_commit;
	char		*last_source_version;
	char		*last_dest_commit;
	char		*last_dest_version;
	int64_t		 last_time;
	/* The promotion under way: set before anything remote changes. */
	char		*pending_source_commit;
	char		*pending_source_version;
	char		*pending_dest_commit;
	char		*pending_build_id;
	/* Failure: the source commit that failed and why. */
	char		*failed_source_commit;
	char		*approved_source_commit;	/* approval: manual */
	char		*error;		/* redacted, one line */
	int		 error_permanent;
	int64_t		 error_time;
	char		*build_log;	/* saved log of a failed build */
	/* Drift: a destination head algopromoted did not push (STATE_HELD),
	 * and the one an operator let promotions go on top of. */
	char		*drift_dest_commit;
	char		*drift_author;	/* "Name <email>" */
	char		*drift_subject;
	int64_t		 drift_time;
	char		*accepted_dest_commit;
	/* The last change of the destination's metadata (metadata: sync):
	 * the fields, "details.summary, settings.license". */
	char		*last_metadata;
	int64_t		 last_metadata_time;
	int64_t		 updated;
};

const char *state_phase_name(enum state_phase);
int	 state_phase_parse(const char *, enum state_phase *);
char	*state_route_dir(const char *state_dir, const char *pair,
	    const char *destination);
int	 state_route_load(struct state_route *, const char *dir,
	    char **cause, char **warning);
int	 state_route_peek(struct state_route *, const char *dir,
	    char **cause);
int	 state_route_save(struct state_route *, const char *dir,
	    char **cause);
cJSON	*state_route_to_json(const struct state_route *);
int	 state_route_from_json(struct state_route *, const cJSON *,
	    char **cause);
int	 state_route_operate(struct state_route *, int approve, char **msg);
int	 state_route_accept_drift(struct state_route *, char **msg);
void	 state_route_clear(struct state_route *);
void	 state_set(char **field, const char *value);
void	 state_add_str(cJSON *, const char *name, const char *value);
void	 state_add_time(cJSON *, const char *name, int64_t t);
void	 state_set_error(struct state_route *, const char *error,
	    int permanent);

/* The format state.json is written in (fileformat.h). */
#define STATE_FORMAT		1

#define STATE_LOCK_CREATE	0x1	/* make state_dir and its lock file */
#define STATE_LOCK_HELD		1	/* another process holds the lock */
#define STATE_LOCK_MISSING	2	/* no lock file: nothing ever ran */
int	 state_lock(const char *state_dir, int flags, int *fd, char **cause);

#endif
