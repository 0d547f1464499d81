/* hold.h: what an operator holds a route with (pause, pin), kept in
 * state_dir/routes/PAIR/DEST/operator.json apart from the job's state. */
#ifndef HOLD_H
#define HOLD_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct state_route;

enum hold_kind {
	HOLD_NONE,
	HOLD_PAUSED,	/* algopromotectl pause: nothing remote changes */
	HOLD_PINNED,	/* algopromotectl promote: that source state stays */
};

/*
 * The file is the operator's: written by the daemon's loop (or by
 * algopromotectl while it holds the state lock) at any time, read by a
 * job when it starts. A promotion job never writes it.
 */
struct hold {
	enum hold_kind	 kind;
	char		*reason;	/* the operator's words, or NULL */
	int64_t		 since;		/* wall-clock seconds */
	/* HOLD_PINNED: the source state to hold, a commit (40 hex, or a
	 * prefix of at least HOLD_MIN_PREFIX) or a published version. */
	char		*source_commit;
	char		*source_version;
};

/* The format operator.json is written in (fileformat.h). */
#define HOLD_FORMAT		1
#define HOLD_MIN_PREFIX		7
#define HOLD_MAX_REASON		512

const char	*hold_kind_name(enum hold_kind);
/*
 * Reads dir/operator.json. A missing file is HOLD_NONE (0). A file that
 * cannot be read or understood fails safe: -1 with *cause, and *h says
 * HOLD_PAUSED with the cause as its reason, so that nothing is promoted
 * against an intent nobody can read.
 */
int		 hold_load(struct hold *, const char *dir, char **cause);
/* Writes *h atomically; HOLD_NONE removes the file. */
int		 hold_save(const struct hold *, const char *dir, char **cause);
void		 hold_clear(struct hold *);
/* A reason: one line of UTF-8 text, no control character, 1 to
 * HOLD_MAX_REASON bytes. 0, or -1 with *cause, the predicate of a
 * sentence ("is empty"): the caller names the subject. */
int		 hold_reason_valid(const char *, char **cause);
/* Checks an operator's pin: a hex commit (prefix) or X.Y.Z. */
int		 hold_pin_valid(const char *commit, const char *version,
		    char **cause);
/* Whether the route's last promotion is the pinned source state. */
int		 hold_pin_done(const struct hold *, const struct state_route *);
/*
 * The "hold" of a route's status: null, or what holds it, the
 * operator's hold first, then a drift the job found:
 * {"kind": "paused"|"pinned"|"drift", "by": "operator"|"algopromoted",
 *  "reason", "since", "source_commit", "source_version" (pinned),
 *  "dest_commit", "author", "subject" (drift)}.
 */
cJSON		*hold_status_json(const struct hold *,
		    const struct state_route *);

#endif
