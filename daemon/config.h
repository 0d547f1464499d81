/* config.h: the configuration, loaded from YAML into an immutable tree.
 * Every default lives in config.c; nothing else invents one. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH	"/etc/algopromoted/algopromoted.yaml"
#define CONFIG_DEFAULT_STATE	"/var/lib/algopromoted"
#define CONFIG_MIN_POLL_MS	5000
#define CONFIG_MIN_RETRY_MS	1000	/* retry_min, retry_budget */
#define CONFIG_MAX_RETRIES	100

/* config_load() flags. Without them the file is loaded as the service
 * starts with it: -n uses no flag, so that it fails where the start
 * would, with the same messages. */
#define CONFIG_LOAD_SKIP_KEYS	0x1	/* --skip-keys: API keys, token files
					 * and CA files are named, not read */
#define CONFIG_LOAD_CHECK	CONFIG_LOAD_SKIP_KEYS	/* its older name */
#define CONFIG_LOAD_INCLUDE_BESIDE 0x2	/* include: follows only names
					 * without '/' (the fuzzer's: an input
					 * reads no file of the machine) */

enum config_track {
	CONFIG_TRACK_COMMITS,
	CONFIG_TRACK_VERSIONS,
};

enum config_vtype {
	CONFIG_VTYPE_MAJOR,
	CONFIG_VTYPE_MINOR,
	CONFIG_VTYPE_REVISION,
};

enum config_approval {
	CONFIG_APPROVAL_AUTO,
	CONFIG_APPROVAL_MANUAL,
};

/* A destination head algopromoted did not push for the route. */
enum config_drift {
	CONFIG_DRIFT_HOLD,		/* stop promoting until `resume` */
	CONFIG_DRIFT_OVERWRITE,		/* promote over it, with a warning */
};

/* How a destination's details and settings follow the source's. */
enum config_metadata {
	CONFIG_METADATA_SYNC,		/* before every promotion, and when
					 * only they changed */
	CONFIG_METADATA_CREATE_ONLY,	/* copied when algopromoted creates
					 * the destination */
	CONFIG_METADATA_OFF,		/* never read from the source */
};

/* What a notification sink may be told (notify: events:), by bit. */
enum config_notify_event {
	CONFIG_NOTIFY_PROMOTED,
	CONFIG_NOTIFY_FAILED,
	CONFIG_NOTIFY_RECOVERED,
	CONFIG_NOTIFY_PENDING_APPROVAL,
	CONFIG_NOTIFY_HELD,
	CONFIG_NOTIFY_PAUSED,
	CONFIG_NOTIFY_RESUMED,
	CONFIG_NOTIFY_DRIFT,		/* promoted over (on_drift: overwrite) */
	CONFIG_NOTIFY_NEVENTS
};
#define CONFIG_NOTIFY_ALL	((1u << CONFIG_NOTIFY_NEVENTS) - 1)

enum config_notify_format {
	CONFIG_NOTIFY_JSON,		/* the event itself */
	CONFIG_NOTIFY_SLACK,		/* {"text": "one readable line"} */
};

/* One notification sink: a webhook (url) or a command (argv), never
 * both. */
struct config_sink {
	char			*url;		/* http(s), no userinfo; or NULL */
	char		       **command;	/* NULL-terminated argv, argv[0]
						 * absolute; or NULL */
	char			*token_file;	/* resolved absolute path, or
						 * NULL (url only) */
	char			*token;		/* loaded secret, sent as
						 * Bearer; never logged; NULL
						 * when unset (or under
						 * CONFIG_LOAD_SKIP_KEYS) */
	enum config_notify_format format;	/* url only */
	unsigned int		 events;	/* 1 << CONFIG_NOTIFY_* */
	int			 line;
};

struct config_cluster {
	char		*name;
	char		*api;		/* base URL without /v1, no trailing / */
	char		*git;		/* base URL of git; /git/OWNER/ALGO.git */
	char		*key_owner;
	char		*api_key_file;	/* resolved absolute path, or NULL */
	char		*api_key_env;	/* or NULL */
	char		*api_key;	/* loaded secret; never logged; NULL
					 * only after a CONFIG_LOAD_SKIP_KEYS
					 * load */
	char		*ca_file;	/* absolute path, or NULL */
	uint64_t	 timeout_ms;
	int		 max_parallel;
	int		 retries;	/* tries of one request in a job */
	uint64_t	 retry_budget_ms;	/* and their time, per step */
	int		 line;		/* where it was defined, for messages */
};

/* metadata_override: (alias create:) kept as JSON text: what a
 * destination holds whatever the source says. */
struct config_create {
	int		 from_source;
	char		*details_json;	/* a JSON object, "{}" by default */
	char		*settings_json;
};

/* The per-pair settings; "defaults:" fills them, a pair overrides. */
struct config_policy {
	enum config_track	 track;
	char			*branch;
	enum config_vtype	 version_type;
	uint64_t		 build_timeout_ms;
	uint64_t		 reconcile_ms;	/* 0: off */
	enum config_approval	 approval;
	enum config_drift	 on_drift;
	char			*commit_message;	/* checked by
							 * template_check() */
	char			*release_notes;
	char			*author_name;
	char			*author_email;
	char		       **preserve;	/* NULL-terminated globs */
	char		       **exclude;
	struct config_create	 create;
	enum config_metadata	 metadata;
	int			 data_retain;	/* published versions whose
						 * pinned files are kept; 0:
						 * all */
	uint64_t		 poll_ms;
};

/* One data: mapping, a hosted-data collection copied to another. An
 * owner of ".my" is the cluster's key_owner (config_data_owner()). */
struct config_data_map {
	char			*src_owner;
	char			*src_coll;
	char			*dst_owner;
	char			*dst_coll;
	int			 delete_gone;	/* delete: true */
	char			*acl_json;	/* {"read": [...]}, or NULL:
						 * the source's */
	int			 line;
};

struct config_algo {
	struct config_cluster	*cluster;	/* points into config */
	char			*owner;
	char			*name;
	char			*full;		/* "CLUSTER/OWNER/ALGO" */
};

struct config_pair {
	char			*name;
	struct config_algo	 source;
	struct config_algo	*dests;
	size_t			 ndests;
	struct config_policy	 policy;
	struct config_sink	*notify;	/* added to the top level's */
	size_t			 nnotify;
	struct config_data_map	*data;
	size_t			 ndata;
	int			 line;
};

struct config {
	char			*path;		/* as given to config_load() */
	size_t			 nfiles;	/* read: path and its includes */
	char			*state_dir;
	int			 log_level;	/* LOG_LEVEL_* */
	char			*log_file;	/* or NULL: stderr */
	int			 workers;
	uint64_t		 poll_ms;
	uint64_t		 retry_min_ms;	/* a failed job's first backoff */
	char			*listen;	/* "host:port" or NULL when off */
	char			*control_socket;
	struct config_cluster	*clusters;
	size_t			 nclusters;
	struct config_pair	*pairs;
	size_t			 npairs;
	struct config_sink	*notify;	/* for every pair */
	size_t			 nnotify;
	char			*trigger_token_file;	/* absolute, or NULL */
	char			*trigger_token;	/* loaded secret, or NULL */
	/* metrics: per_route_histograms: the duration histograms per
	 * route as well as per cluster (default 0: per cluster only). */
	int			 metrics_per_route_histograms;
};

/*
 * Loads and validates path. On failure returns -1 and sets *errors to
 * every problem found, one "FILE:LINE:COL: message" per line in document
 * order (the caller frees it). Key and token files are read here;
 * environment from getenv(). Every key and token loaded is registered
 * with redact_add().
 *
 * FILE is the file the problem is in: path, or a file its include:
 * names. *errors is NULL on success.
 *
 * With CONFIG_LOAD_SKIP_KEYS no key, token or CA file is opened and no
 * key variable read (a check where the credentials are not installed):
 * their names are checked, api_key and the tokens stay NULL.
 */
int	 config_load(struct config **out, const char *path, int flags,
	    char **errors);
void	 config_free(struct config *);
size_t	 config_ndests(const struct config *);
struct config_cluster *config_cluster_find(const struct config *,
	    const char *name);
struct config_pair *config_pair_find(const struct config *,
	    const char *name);
const char *config_vtype_name(enum config_vtype);
const char *config_track_name(enum config_track);
const char *config_approval_name(enum config_approval);
const char *config_drift_name(enum config_drift);
const char *config_metadata_name(enum config_metadata);
/* owner, or the cluster's key_owner for ".my". */
const char *config_data_owner(const char *owner,
	    const struct config_cluster *);
/* "promoted", "pending-approval", ...; -1 for a name that is none. */
const char *config_notify_event_name(enum config_notify_event);
int	 config_notify_event_parse(const char *);

/*
 * Parses "CLUSTER/OWNER/ALGO" against the clusters of c (as for a pair's
 * source). Returns 0 and fills *out (free with config_algo_clear()), or
 * -1 with *cause.
 */
int	 config_algo_parse(const struct config *c, const char *spec,
	    struct config_algo *out, char **cause);
void	 config_algo_clear(struct config_algo *);

/* 1 when a presented secret equals the configured one, 0 when not (or
 * either is NULL); in a time that depends on neither's bytes nor length:
 * their SHA-256 digests are compared with CRYPTO_memcmp(). */
int	 config_secret_equal(const char *configured, const char *presented);

#endif
