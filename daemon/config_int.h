/* config_int.h: what the files of the configuration loader share (the
 * state of one config_load()); nothing outside daemon/config*.c uses it. */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "config.h"

/* Limits: what a sane file never reaches, so a broken one cannot hurt. */
#define CF_MAX_FILE		(1024 * 1024)	/* bytes of YAML */
#define CF_MAX_KEY		4096		/* bytes of an API key */
#define CF_MAX_DEPTH		64		/* nesting of the YAML */
#define CF_MAX_NAME		64		/* pair and cluster names */
#define CF_MAX_INT		64		/* workers, max_parallel */
#define CF_JSON_DEPTH		16		/* create.details/settings */
#define CF_JSON_NODES		1000
#define CF_QLEN			256		/* a value quoted in messages */

/* One problem found, kept until they are all sorted and printed. */
struct cfdiag_entry {
	size_t		 line;		/* 1-based; 0: the file as a whole */
	size_t		 col;
	size_t		 seq;		/* ties keep the order of discovery */
	int		 warning;
	char		*text;
};

/* A growing string. */
struct cfdiag_buf {
	char	*s;
	size_t	 len, cap;
};

/* Where a pair's parts were written, for the checks across pairs. */
struct cf_pos {
	yaml_node_t	 *name;
	yaml_node_t	 *source;
	yaml_node_t	**dests;	/* parallel to config_pair.dests */
};

/* One config_load() under way. */
struct cf {
	const char		*path;
	int			 flags;
	yaml_document_t		 doc;
	struct cfdiag_entry	*errs;
	size_t			 nerrs;
	size_t			 errcap;
	size_t			 nfatal;
	char			*dir_abs;	/* the file's directory */
	char			*dir_show;	/* as given; NULL: "." */
	char			*creds;		/* $CREDENTIALS_DIRECTORY */
	int			 toodeep;
	struct config		*c;
	struct config_policy	 defaults;
	struct cf_pos		*pos;		/* one per config_pair */
};

/* config_diag.c: problems as FILE:LINE:COL, quoting, suggestions. */
void	 cfdiag_err(struct cf *, const yaml_node_t *at, const char *obj,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 cfdiag_mark(struct cf *, const yaml_mark_t *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 cfdiag_absent(struct cf *, const yaml_node_t *at, const char *obj,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *cfdiag_quote(char *buf, const char *s);
char	*cfdiag_format(struct cf *);
void	 cfdiag_clear(struct cf *);
void	 cfdiag_put(struct cfdiag_buf *, const char *s, size_t n);
const char *cfdiag_suggest(const char *word, const char *const *a,
	    const char *const *b);
char	*cfdiag_join(const char *const *words);

/* config_yaml.c: YAML nodes and typed values. The typed readers return
 * 1 set, 0 left unset (null where allowed), -1 reported. */
#define CF_OPTIONAL	0x1	/* null leaves the default */
#define CF_EMPTY	0x2	/* "" (and null) is a value */
#define CF_TEXT		0x4	/* newlines and tabs allowed */

yaml_node_t *cfyaml_node(struct cf *, int id);
const char *cfyaml_text(const yaml_node_t *);
int	 cfyaml_null(const yaml_node_t *);
size_t	 cfyaml_size(const yaml_node_t *);
yaml_node_t *cfyaml_get(struct cf *, const yaml_node_t *m, const char *key,
	    yaml_node_t **keynode);
int	 cfyaml_either(struct cf *, const yaml_node_t *m, const char *obj,
	    const char *a, const char *b, yaml_node_t **va,
	    yaml_node_t **vb);
void	 cfyaml_scan(struct cf *, yaml_node_t *, unsigned char *seen,
	    int depth);
int	 cfyaml_string(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int flags, const char **out);
int	 cfyaml_int(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int lo, int hi, int *out);
int	 cfyaml_bool(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int *out);
int	 cfyaml_duration(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, uint64_t min_ms, uint64_t *out);
int	 cfyaml_enum(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, const char *const *names, int *out);
int	 cfyaml_abspath(struct cf *, const yaml_node_t *, const char *key,
	    int flags, char **slot);
int	 cfyaml_template(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, int flags, char **slot);
void	 cfyaml_globs(struct cf *, const yaml_node_t *, const char *obj,
	    const char *key, char ***slot);
cJSON	*cfyaml_json(struct cf *, const yaml_node_t *, int depth,
	    size_t *budget, int *why);
void	 cfyaml_set(char **slot, const char *s);
char	*cfyaml_path_join(const char *dir, const char *name);
char   **cfyaml_strv_dup(char *const *);
void	 cfyaml_strv_free(char **);

/* config_schema.c: the keys, every default, the policies, the top. */
extern const char *const cfschema_level_names[];
extern const char *const cfschema_track_names[];
extern const char *const cfschema_vtype_names[];
extern const char *const cfschema_approval_names[];
extern const char *const cfschema_cluster_keys[];
extern const char *const cfschema_pair_keys[];
extern const char *const cfschema_policy_keys[];

int	 cfschema_algo_name_ok(const char *);
int	 cfschema_name_ok(const char *, const char *extra);
int	 cfschema_env_name_ok(const char *);
int	 cfschema_is_apikey(const char *);
void	 cfschema_keys(struct cf *, const yaml_node_t *m, const char *obj,
	    const char *prefix, const char *const *k1,
	    const char *const *k2);
void	 cfschema_builtin(struct config *, struct config_policy *);
void	 cfschema_cluster_builtin(struct config_cluster *);
void	 cfschema_policy_copy(struct config_policy *dst,
	    const struct config_policy *src);
void	 cfschema_policy_clear(struct config_policy *);
void	 cfschema_policy(struct cf *, const yaml_node_t *m, const char *obj,
	    struct config_policy *);
void	 cfschema_top(struct cf *, const yaml_node_t *root);
void	 cfschema_defaults(struct cf *, const yaml_node_t *root);

/* config_cluster.c: the clusters and their URLs. */
void	 cfcluster_all(struct cf *, const yaml_node_t *root);

/* config_secret.c: API keys (files, environment) and CA files. */
void	 cfsecret_key_file(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);
void	 cfsecret_key_env(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);
void	 cfsecret_ca_file(struct cf *, struct config_cluster *,
	    const yaml_node_t *, const char *obj);

/* config_pair.c: algorithms (CLUSTER/OWNER/ALGO) and the pairs. */
size_t	 cfpair_algo_parse(const struct config *, const char *spec,
	    const char *what, struct config_algo *out, char **causes);
void	 cfpair_all(struct cf *, const yaml_node_t *root);

/* config_check.c: the checks across pairs. */
void	 cfcheck_cross(struct cf *);

#endif
