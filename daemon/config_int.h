/* config_int.h: what the files of the configuration loader share (the
 * state of one config_load()); nothing outside daemon/config*.c uses it. */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "config.h"

/*
 * Limits: what a sane configuration never reaches, so a broken one cannot
 * hurt. 10,000 pairs take 1.3 MB and 90,000 YAML values written plainly
 * (name, source, destination, poll_interval), 6.3 MB and 510,000 values
 * when every pair uses most keys (two destinations, globs, data:,
 * notify:, metadata_override:); loaded, a value costs about 200 bytes.
 */
#define CF_MAX_FILE		(16 * 1024 * 1024)	/* bytes of one file */
#define CF_MAX_TOTAL		(32 * 1024 * 1024)	/* of all the files */
#define CF_MAX_FILES		20000		/* the file and its includes */
#define CF_MAX_INCLUDE_DEPTH	8		/* include: within include: */
#define CF_MAX_NODES		1000000		/* YAML values of all the files,
						 * each alias counting what it
						 * stands for */
#define CF_MAX_ANCHORS		1000		/* &anchors in one file */
#define CF_MAX_ALIASES		100000		/* *aliases in one file */
#define CF_MAX_KEY		4096		/* bytes of an API key */
#define CF_MAX_DEPTH		64		/* nesting of the YAML */
#define CF_SCAN_DEPTH		256		/* nesting read at all */
#define CF_MAX_NAME		64		/* pair and cluster names */
#define CF_MAX_INT		64		/* workers, max_parallel */
#define CF_JSON_DEPTH		16		/* create.details/settings */
#define CF_JSON_NODES		1000
#define CF_QLEN			256		/* a value quoted in messages */

/* One problem found, kept until they are all sorted and printed. */
struct config_diag_entry {
	size_t		 file;		/* index in cf.files */
	size_t		 line;		/* 1-based; 0: the file as a whole */
	size_t		 col;
	size_t		 seq;		/* ties keep the order of discovery */
	char		*text;
};

/* A growing string. */
struct config_diag_buf {
	char	*s;
	size_t	 len, cap;
};

/* Where a pair's parts were written, for the checks across pairs. */
struct cf_pos {
	yaml_node_t	 *name;
	yaml_node_t	 *source;
	yaml_node_t	**dests;	/* parallel to config_pair.dests */
};

/* One file of the configuration: the one given to config_load(), or one
 * an include: names (config_include.c). */
struct cf_file {
	char			*path;		/* for messages */
	char			*dir_abs;	/* its directory */
	char			*dir_show;	/* as shown; NULL: "." */
	yaml_document_t		 doc;
	int			 loaded;	/* doc holds the file */
	dev_t			 dev;		/* which file it is */
	ino_t			 ino;
	size_t			 parent;	/* the file including it, or
						 * SIZE_MAX */
	const yaml_node_t	*at;		/* the include: item (in the
						 * parent) that named it */
	const yaml_node_t	*pairs;		/* its pairs: list, or NULL */
};

/* One config_load() under way. */
struct cf {
	int			 flags;
	struct cf_file		**files;	/* [0] is the file given */
	size_t			 nfiles;
	size_t			 cur;		/* the file being read: */
	yaml_document_t		*doc;		/* its document, */
	const char		*dir_abs;	/* its directories */
	const char		*dir_show;
	size_t			 bytes_left;	/* of CF_MAX_TOTAL */
	size_t			 nodes_left;	/* of CF_MAX_NODES */
	int			 include_failed;	/* an include: went
							 * wrong (reported) */
	struct config_diag_entry	*errs;
	size_t			 nerrs;
	size_t			 errcap;
	size_t			 nfatal;
	char			*creds;		/* $CREDENTIALS_DIRECTORY */
	int			 toodeep;
	struct config		*c;
	struct config_policy	 defaults;
	struct cf_pos		*pos;		/* one per config_pair */
};

/* config.c: the files of one load. */
size_t	 config_file_add(struct cf *, const char *show, const char *abs,
	    size_t parent, const yaml_node_t *at);
void	 config_file_enter(struct cf *, size_t);
int	 config_file_load(struct cf *, int fd);
void	 config_file_scan(struct cf *, yaml_node_t *root);

/* config_diag.c: problems as FILE:LINE:COL, quoting, suggestions. */
void	 config_diag_err(struct cf *, const yaml_node_t *at, const char *obj,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 config_diag_mark(struct cf *, const yaml_mark_t *, const char *fmt,
    ...)
	    __attribute__((format(printf, 3, 4)));
/* "line N" when here and there are in one file, else "FILE:N". */
char	*config_diag_where(struct cf *, const yaml_node_t *here,
	    const yaml_node_t *there);
const char *config_diag_quote(char *buf, const char *s);
char	*config_diag_format(struct cf *);
void	 config_diag_clear(struct cf *);
void	 config_diag_put(struct config_diag_buf *, const char *s, size_t n);
const char *config_diag_suggest(const char *word, const char *const *a,
	    const char *const *b);
char	*config_diag_join(const char *const *words);

/* config_yaml.c: YAML nodes and typed values. The typed readers return
 * 1 set, 0 left unset (null where allowed), -1 reported. */
#define CF_OPTIONAL	0x1	/* null leaves the default */
#define CF_EMPTY	0x2	/* "" (and null) is a value */
#define CF_TEXT		0x4	/* newlines and tabs allowed */

yaml_node_t *config_yaml_node(struct cf *, int id);
const char *config_yaml_text(const yaml_node_t *);
int	 config_yaml_null(const yaml_node_t *);
size_t	 config_yaml_size(const yaml_node_t *);
yaml_node_t *config_yaml_get(struct cf *, const yaml_node_t *m, const char *key,
	    yaml_node_t **keynode);
int	 config_yaml_either(struct cf *, const yaml_node_t *m, const char *obj,
	    const char *a, const char *b, yaml_node_t **va,
	    yaml_node_t **vb);
int	 config_yaml_prescan(struct cf *, const char *buf, size_t len);
void	 config_yaml_scan(struct cf *, yaml_node_t *, unsigned char *seen,
	    int depth);
int	 config_yaml_string(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int flags, const char **out);
int	 config_yaml_int(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int lo, int hi, int *out);
int	 config_yaml_bool(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int *out);
int	 config_yaml_duration(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, uint64_t min_ms, uint64_t *out);
int	 config_yaml_enum(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, const char *const *names, int *out);
int	 config_yaml_abspath(struct cf *, const yaml_node_t *, const char *key,
	    int flags, char **slot);
int	 config_yaml_template(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int flags, char **slot);
void	 config_yaml_globs(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, char ***slot);
cJSON	*config_yaml_json(struct cf *, const yaml_node_t *, int depth,
	    size_t *budget, int *why);
void	 config_yaml_set(char **slot, const char *s);
char	*config_yaml_path_join(const char *dir, const char *name);
char   **config_yaml_strv_dup(char *const *);
void	 config_yaml_strv_free(char **);

/* config_schema.c: the keys, every default, the policies, the top. */
extern const char *const config_schema_level_names[];
extern const char *const config_schema_track_names[];
extern const char *const config_schema_metadata_names[];
extern const char *const config_schema_vtype_names[];
extern const char *const config_schema_approval_names[];
extern const char *const config_schema_drift_names[];
extern const char *const config_schema_notify_event_names[];
extern const char *const config_schema_notify_format_names[];
extern const char *const config_schema_sink_keys[];
extern const char *const config_schema_cluster_keys[];
extern const char *const config_schema_pair_keys[];
extern const char *const config_schema_policy_keys[];

int	 config_schema_algo_name_ok(const char *);
int	 config_schema_name_ok(const char *, const char *extra);
int	 config_schema_env_name_ok(const char *);
int	 config_schema_is_apikey(const char *);
void	 config_schema_keys(struct cf *, const yaml_node_t *m, const char *obj,
	    const char *prefix, const char *const *k1,
	    const char *const *k2);
void	 config_schema_builtin(struct config *, struct config_policy *);
void	 config_schema_cluster_builtin(struct config_cluster *);
void	 config_schema_policy_copy(struct config_policy *dst,
	    const struct config_policy *src);
void	 config_schema_policy_clear(struct config_policy *);
void	 config_schema_policy(struct cf *, const yaml_node_t *m,
    const char *obj,
	    struct config_policy *);
void	 config_schema_top(struct cf *, const yaml_node_t *root);
void	 config_schema_defaults(struct cf *, const yaml_node_t *root);

/* config_cluster.c: the clusters and their URLs. */
void	 config_cluster_all(struct cf *, const yaml_node_t *root);

/* config_secret.c: API keys (files, environment) and CA files. */
void	 config_secret_key_file(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);
void	 config_secret_key_env(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);
void	 config_secret_ca_file(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);
/* A secret in a file (key, the token of a sink or of triggers): path
 * resolved into *path, the secret into *secret (redact_add()ed). noun
 * names it in messages ("token"). */
void	 config_secret_file(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, const char *noun, char **path, char **secret);

/* config_notify.c: notification sinks (notify:) and their secrets. */
void	 config_notify_list(struct cf *, const yaml_node_t *v,
	    const char *obj, struct config_sink **out, size_t *n);
void	 config_notify_clear(struct config_sink *, size_t);

/* config_data.c: a pair's data: mappings. */
void	 config_data_list(struct cf *, const yaml_node_t *v, const char *obj,
	    struct config_pair *);
void	 config_data_map_clear(struct config_data_map *);

/* config_pair.c: algorithms (CLUSTER/OWNER/ALGO) and the pairs. */
size_t	 config_pair_algo_parse(const struct config *, const char *spec,
	    const char *what, struct config_algo *out, char **causes);
void	 config_pair_all(struct cf *, const yaml_node_t *root);

/* config_include.c: the files include: names, read into cf->files. */
void	 config_include_all(struct cf *, const yaml_node_t *root);

/* config_check.c: the checks across pairs. */
void	 config_check_cross(struct cf *);

#endif
