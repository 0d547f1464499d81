/* config.h: the configuration, loaded from YAML into an immutable tree.
 * Every default lives in config.c; nothing else invents one. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH	"/etc/algopromoted/algopromoted.yaml"
#define CONFIG_DEFAULT_STATE	"/var/lib/algopromoted"
#define CONFIG_MIN_POLL_MS	5000

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

struct config_cluster {
	char		*name;
	char		*api;		/* base URL without /v1, no trailing / */
	char		*git;		/* base URL of git; /git/OWNER/ALGO.git */
	char		*key_owner;
	char		*api_key_file;	/* resolved absolute path, or NULL */
	char		*api_key_env;	/* or NULL */
	char		*api_key;	/* loaded secret; never logged */
	char		*ca_file;	/* or NULL */
	uint64_t	 timeout_ms;
	int		 max_parallel;
	int		 line;		/* where it was defined, for messages */
};

/* A string-to-JSON map kept as JSON text: details/settings overrides. */
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
	enum config_approval	 approval;
	char			*commit_message;
	char			*release_notes;
	char			*author_name;
	char			*author_email;
	char		       **preserve;	/* NULL-terminated globs */
	char		       **exclude;
	struct config_create	 create;
	uint64_t		 poll_ms;
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
	int			 line;
};

struct config {
	char			*path;
	char			*state_dir;
	int			 log_level;	/* LOG_LEVEL_* */
	char			*log_file;	/* or NULL: stderr */
	int			 workers;
	uint64_t		 poll_ms;
	char			*listen;	/* "host:port" or NULL when off */
	char			*control_socket;
	struct config_cluster	*clusters;
	size_t			 nclusters;
	struct config_pair	*pairs;
	size_t			 npairs;
};

/*
 * Loads and validates path. On failure returns -1 and sets *errors to
 * every problem found, one "FILE:LINE:COL: message" per line (the caller
 * frees it). Key files are read here; environment from getenv().
 */
int	 config_load(struct config **out, const char *path, char **errors);
void	 config_free(struct config *);
size_t	 config_ndests(const struct config *);
struct config_cluster *config_cluster_find(const struct config *,
	    const char *name);
struct config_pair *config_pair_find(const struct config *,
	    const char *name);
const char *config_vtype_name(enum config_vtype);
const char *config_track_name(enum config_track);

#endif
