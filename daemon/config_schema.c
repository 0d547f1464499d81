/* config_schema.c: the configuration's schema: its keys, every built-in
 * default, names, the policies ("defaults:" and pairs) and the top level. */
#include <sys/un.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "log.h"
#include "url.h"
#include "xmalloc.h"

/*
 * Every built-in default, in one place. "defaults:" in the file starts
 * from these; a pair starts from "defaults:".
 */
#define DEF_STATE_DIR		CONFIG_DEFAULT_STATE /* or $STATE_DIRECTORY */
#define DEF_LOG_LEVEL		LOG_LEVEL_INFO
#define DEF_WORKERS		4
#define DEF_POLL_MS		(60 * 1000)
#define DEF_LISTEN		"127.0.0.1:9464"
#define DEF_SOCKET_NAME		"control.sock"	/* in $RUNTIME_DIRECTORY */
#define DEF_SOCKET		"/run/algopromoted/" DEF_SOCKET_NAME
#define DEF_TIMEOUT_MS		(30 * 1000)
#define DEF_MAX_PARALLEL	4
#define DEF_RETRIES		5
#define DEF_RETRY_BUDGET_MS	(2 * 60 * 1000)
#define DEF_RETRY_MIN_MS	(5 * 1000)
#define DEF_TRACK		CONFIG_TRACK_COMMITS
#define DEF_BRANCH		"master"
#define DEF_VTYPE		CONFIG_VTYPE_MINOR
#define DEF_BUILD_TIMEOUT_MS	(20 * 60 * 1000)
#define DEF_RECONCILE_MS	(60 * 60 * 1000)
#define DEF_APPROVAL		CONFIG_APPROVAL_AUTO
#define DEF_ON_DRIFT		CONFIG_DRIFT_HOLD
#define DEF_COMMIT_MESSAGE	"Promote {source}@{source_short}"
#define DEF_RELEASE_NOTES	"Promoted from {source} at {source_commit}"
#define DEF_AUTHOR_NAME		"algopromoted"
#define DEF_AUTHOR_EMAIL	"algopromoted@localhost"
#define DEF_FROM_SOURCE		1
#define DEF_JSON		"{}"
#define DEF_METADATA		CONFIG_METADATA_SYNC
#define DEF_DATA_RETAIN		0	/* keep every pinned file */
#define MAX_DATA_RETAIN		10000

static const char *const config_schema_top_keys[] = {
	"state_dir", "log_level", "log_file", "workers", "poll_interval",
	"retry_min", "listen", "control_socket", "clusters", "defaults",
	"pairs", "notify", "trigger_token_file", "include", "metrics", NULL
};
static const char *const config_schema_metrics_keys[] = {
	"per_route_histograms", NULL
};
const char *const config_schema_cluster_keys[] = {
	"api", "git", "key_owner", "api_key_file", "api_key_env", "ca_file",
	"timeout", "max_parallel", "retries", "retry_budget", NULL
};
const char *const config_schema_policy_keys[] = {
	"track", "branch", "version_type", "build_timeout", "approval",
	"commit_message", "release_notes", "author", "preserve", "exclude",
	"create", "metadata_override", "metadata", "data_retain",
	"reconcile_interval", "on_drift", NULL
};
static const char *const config_schema_create_keys[] = {
	"from_source", "details", "settings", NULL
};
const char *const config_schema_pair_keys[] = {
	"name", "source", "destination", "destinations", "poll_interval",
	"notify", "data", NULL
};
const char *const config_schema_sink_keys[] = {
	"url", "command", "token_file", "format", "events", NULL
};

const char *const config_schema_level_names[] = {	/* by LOG_LEVEL_* */
	"error", "warn", "info", "debug", NULL
};
const char *const config_schema_track_names[] = { "commits", "versions", NULL };
const char *const config_schema_vtype_names[] = {
	"major", "minor", "revision", NULL
};
const char *const config_schema_approval_names[] = { "auto", "manual", NULL };
const char *const config_schema_drift_names[] = { "hold", "overwrite", NULL };
const char *const config_schema_metadata_names[] = {	/* by
							 * CONFIG_METADATA_* */
	"sync", "create-only", "off", NULL
};
const char *const config_schema_notify_event_names[] = {	/* by
								 * CONFIG_NOTIFY_* */
	"promoted", "failed", "recovered", "pending-approval", "held",
	"paused", "resumed", "drift", NULL
};
const char *const config_schema_notify_format_names[] = {
	"json", "slack", NULL
};

/* Names and words. */

static int
config_schema_isalpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
config_schema_isalnum(int ch)
{
	return config_schema_isalpha(ch) || (ch >= '0' && ch <= '9');
}

/* A letter (or '_' when lead is set), then letters, digits and '_'. */
static int
config_schema_word_ok(const char *s, int lead)
{
	if (!config_schema_isalpha((unsigned char)*s) && !(lead && *s == '_'))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!config_schema_isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Algorithmia's rule for user, organization and algorithm names. */
int
config_schema_algo_name_ok(const char *s)
{
	return config_schema_word_ok(s, 0);
}

/* Letters, digits and the characters in extra; 1..CF_MAX_NAME long. */
int
config_schema_name_ok(const char *s, const char *extra)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!config_schema_isalnum((unsigned char)s[n]) &&
		    strchr(extra, s[n]) == NULL)
			return 0;
	return n > 0 && n <= CF_MAX_NAME;
}

int
config_schema_env_name_ok(const char *s)
{
	return config_schema_word_ok(s, 1);
}

/* "api_key", "apiKey", "API-KEY": a key written into the file. */
int
config_schema_is_apikey(const char *s)
{
	const char	*want = "apikey";

	for (; *s != '\0'; s++) {
		if (*s == '_' || *s == '-')
			continue;
		if (*want == '\0' || (*s | 0x20) != *want)
			return 0;
		want++;
	}
	return *want == '\0';
}

static int
config_schema_in(const char *s, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* Reports every key of m that is not in k1 or k2. */
void
config_schema_keys(struct cf *cf, const yaml_node_t *m, const char *obj,
    const char *prefix, const char *const *k1, const char *const *k2)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*k;
	const char		*name, *sug;
	char			 q[CF_QLEN], *full;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	    p++) {
		k = config_yaml_node(cf, p->key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by config_yaml_scan() */
		name = config_yaml_text(k);
		if (config_schema_in(name, k1) || config_schema_in(name, k2) ||
		    config_schema_is_apikey(name))
			continue;
		if (strcmp(name, "<<") == 0) {
			config_diag_err(cf, k, obj,
			    "merge keys (\"<<\") are not "
			    "supported: settings shared by pairs belong in "
			    "defaults");
			continue;
		}
		if (k1 == config_schema_policy_keys && k2 == NULL &&
		    (strcmp(name, "poll_interval") == 0 ||
		    strcmp(name, "notify") == 0)) {
			config_diag_err(cf, k, obj,
			    "%s is set at the "
			    "top level, not in defaults", name);
			continue;
		}
		full = xprintf("%s%s", prefix, name);
		if ((sug = config_diag_suggest(name, k1, k2)) != NULL)
			config_diag_err(cf, k, obj,
			    "unknown key %s (did you mean "
			    "\"%s%s\"?)", config_diag_quote(q, full), prefix,
			    sug);
		else
			config_diag_err(cf, k, obj, "unknown key %s",
			    config_diag_quote(q, full));
		free(full);
	}
}

/* A cluster's built-in defaults. */
void
config_schema_cluster_builtin(struct config_cluster *cl)
{
	cl->timeout_ms = DEF_TIMEOUT_MS;
	cl->max_parallel = DEF_MAX_PARALLEL;
	cl->retries = DEF_RETRIES;
	cl->retry_budget_ms = DEF_RETRY_BUDGET_MS;
}

/* The built-in defaults of everything but clusters (see DEF_*). */
void
config_schema_builtin(struct config *c, struct config_policy *p)
{
	const char	*env;

	if ((env = getenv("STATE_DIRECTORY")) != NULL && *env == '/')
		c->state_dir = xstrndup(env, strcspn(env, ":"));
	else
		c->state_dir = xstrdup(DEF_STATE_DIR);
	if ((env = getenv("RUNTIME_DIRECTORY")) != NULL && *env == '/') {
		char *dir = xstrndup(env, strcspn(env, ":"));

		c->control_socket = config_yaml_path_join(dir, DEF_SOCKET_NAME);
		free(dir);
	} else
		c->control_socket = xstrdup(DEF_SOCKET);
	c->log_level = DEF_LOG_LEVEL;
	c->log_file = NULL;
	c->workers = DEF_WORKERS;
	c->poll_ms = DEF_POLL_MS;
	c->retry_min_ms = DEF_RETRY_MIN_MS;
	c->listen = xstrdup(DEF_LISTEN);

	p->track = DEF_TRACK;
	p->branch = xstrdup(DEF_BRANCH);
	p->version_type = DEF_VTYPE;
	p->build_timeout_ms = DEF_BUILD_TIMEOUT_MS;
	p->reconcile_ms = DEF_RECONCILE_MS;
	p->approval = DEF_APPROVAL;
	p->on_drift = DEF_ON_DRIFT;
	p->commit_message = xstrdup(DEF_COMMIT_MESSAGE);
	p->release_notes = xstrdup(DEF_RELEASE_NOTES);
	p->author_name = xstrdup(DEF_AUTHOR_NAME);
	p->author_email = xstrdup(DEF_AUTHOR_EMAIL);
	p->preserve = config_yaml_strv_dup(NULL);
	p->exclude = config_yaml_strv_dup(NULL);
	p->create.from_source = DEF_FROM_SOURCE;
	p->create.details_json = xstrdup(DEF_JSON);
	p->create.settings_json = xstrdup(DEF_JSON);
	p->metadata = DEF_METADATA;
	p->data_retain = DEF_DATA_RETAIN;
	p->poll_ms = DEF_POLL_MS;
}

void
config_schema_policy_copy(struct config_policy *dst,
    const struct config_policy *src)
{
	*dst = *src;
	dst->branch = xstrdup(src->branch);
	dst->commit_message = xstrdup(src->commit_message);
	dst->release_notes = xstrdup(src->release_notes);
	dst->author_name = xstrdup(src->author_name);
	dst->author_email = xstrdup(src->author_email);
	dst->preserve = config_yaml_strv_dup(src->preserve);
	dst->exclude = config_yaml_strv_dup(src->exclude);
	dst->create.details_json = xstrdup(src->create.details_json);
	dst->create.settings_json = xstrdup(src->create.settings_json);
}

void
config_schema_policy_clear(struct config_policy *p)
{
	free(p->branch);
	free(p->commit_message);
	free(p->release_notes);
	free(p->author_name);
	free(p->author_email);
	config_yaml_strv_free(p->preserve);
	config_yaml_strv_free(p->exclude);
	free(p->create.details_json);
	free(p->create.settings_json);
	memset(p, 0, sizeof *p);
}

/* git check-ref-format's rules for a branch name. */
static int
config_schema_branch_ok(const char *b)
{
	size_t	 n = strlen(b);

	if (n == 0 || n > 255 || b[0] == '-' || b[0] == '/' || b[0] == '.' ||
	    b[n - 1] == '/' || b[n - 1] == '.' || strcmp(b, "@") == 0)
		return 0;
	if (strstr(b, "..") != NULL || strstr(b, "//") != NULL ||
	    strstr(b, "/.") != NULL || strstr(b, "@{") != NULL ||
	    strstr(b, ".lock/") != NULL ||
	    (n >= 5 && strcmp(b + n - 5, ".lock") == 0))
		return 0;
	for (; *b != '\0'; b++)
		if ((unsigned char)*b <= 0x20 || *b == 0x7f ||
		    strchr("~^:?*[\\", *b) != NULL)
			return 0;
	return 1;
}

/* "Name <email>" into its two parts. */
static int
config_schema_author(const char *s, char **name, char **email)
{
	const char	*lt, *gt, *end;

	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		end--;
	if ((lt = strchr(s, '<')) == NULL || (gt = strchr(lt, '>')) == NULL ||
	    gt + 1 != end || gt == lt + 1)
		return -1;
	if (memchr(s, '>', (size_t)(lt - s)) != NULL ||
	    memchr(lt + 1, '<', (size_t)(gt - lt - 1)) != NULL ||
	    memchr(lt + 1, ' ', (size_t)(gt - lt - 1)) != NULL)
		return -1;
	while (lt > s && lt[-1] == ' ')
		lt--;
	if (lt == s)
		return -1;
	*name = xstrndup(s, (size_t)(lt - s));
	gt = strchr(lt, '<');
	*email = xstrndup(gt + 1, (size_t)(strchr(gt, '>') - gt - 1));
	return 0;
}

static void
config_schema_json_object(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, char **slot)
{
	size_t	 budget = CF_JSON_NODES;
	cJSON	*j;
	char	*text;
	int	 why = 0;

	if (config_yaml_null(v)) {
		config_yaml_set(slot, DEF_JSON);
		return;
	}
	if (v->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, v, obj, "%s must be a mapping", key);
		return;
	}
	if ((j = config_yaml_json(cf, v, 0, &budget, &why)) == NULL) {
		if (why == 1)
			config_diag_err(cf, v, obj, "%s is nested more than %d "
			    "levels deep", key, CF_JSON_DEPTH);
		else
			config_diag_err(cf, v, obj,
			    "%s holds more than %d values",
			    key, CF_JSON_NODES);
		return;
	}
	if ((text = cJSON_PrintUnformatted(j)) == NULL)
		fatalx("cJSON: out of memory");
	config_yaml_set(slot, text);
	cJSON_free(text);
	cJSON_Delete(j);
}

/* metadata_override: (or its older name, create:). */
static void
config_schema_create(struct cf *cf, const yaml_node_t *m, const char *obj,
    const char *name, struct config_create *cr)
{
	yaml_node_t	*v;
	char		 key[64];
	int		 b;

	if (config_yaml_null(m))
		return;
	if (m->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, m, obj, "%s must be a mapping", name);
		return;
	}
	snprintf(key, sizeof key, "%s.", name);
	config_schema_keys(cf, m, obj, key, config_schema_create_keys, NULL);
	snprintf(key, sizeof key, "%s.from_source", name);
	if ((v = config_yaml_get(cf, m, "from_source", NULL)) != NULL &&
	    config_yaml_bool(cf, v, obj, key, &b) == 1)
		cr->from_source = b;
	snprintf(key, sizeof key, "%s.details", name);
	if ((v = config_yaml_get(cf, m, "details", NULL)) != NULL)
		config_schema_json_object(cf, v, obj, key, &cr->details_json);
	snprintf(key, sizeof key, "%s.settings", name);
	if ((v = config_yaml_get(cf, m, "settings", NULL)) != NULL)
		config_schema_json_object(cf, v, obj, key,
		    &cr->settings_json);
}

/* The policy keys of m over pol (already a copy of its parent). */
void
config_schema_policy(struct cf *cf, const yaml_node_t *m, const char *obj,
    struct config_policy *pol)
{
	yaml_node_t	*v, *v2;
	const char	*s;
	char		*name, *email, q[CF_QLEN];
	int		 i;

	if ((v = config_yaml_get(cf, m, "track", NULL)) != NULL &&
	    config_yaml_enum(cf, v, obj, "track", config_schema_track_names,
	    &i) == 1)
		pol->track = (enum config_track)i;
	if ((v = config_yaml_get(cf, m, "branch", NULL)) != NULL &&
	    config_yaml_string(cf, v, obj, "branch", 0, &s) == 1) {
		if (!config_schema_branch_ok(s))
			config_diag_err(cf, v, obj,
			    "branch %s is not a valid git "
			    "branch name", config_diag_quote(q, s));
		else
			config_yaml_set(&pol->branch, s);
	}
	if ((v = config_yaml_get(cf, m, "version_type", NULL)) != NULL &&
	    config_yaml_enum(cf, v, obj, "version_type",
	    config_schema_vtype_names, &i) == 1)
		pol->version_type = (enum config_vtype)i;
	if ((v = config_yaml_get(cf, m, "build_timeout", NULL)) != NULL)
		config_yaml_duration(cf, v, obj, "build_timeout", 0,
		    &pol->build_timeout_ms);
	if ((v = config_yaml_get(cf, m, "reconcile_interval", NULL)) != NULL) {
		if (v->type == YAML_SCALAR_NODE && !config_yaml_null(v) &&
		    strcmp(config_yaml_text(v), "off") == 0)
			pol->reconcile_ms = 0;
		else
			config_yaml_duration(cf, v, obj, "reconcile_interval",
			    CONFIG_MIN_POLL_MS, &pol->reconcile_ms);
	}
	if ((v = config_yaml_get(cf, m, "approval", NULL)) != NULL &&
	    config_yaml_enum(cf, v, obj, "approval",
	    config_schema_approval_names, &i) == 1)
		pol->approval = (enum config_approval)i;
	if ((v = config_yaml_get(cf, m, "on_drift", NULL)) != NULL &&
	    config_yaml_enum(cf, v, obj, "on_drift",
	    config_schema_drift_names, &i) == 1)
		pol->on_drift = (enum config_drift)i;
	if ((v = config_yaml_get(cf, m, "commit_message", NULL)) != NULL)
		config_yaml_template(cf, v, obj, "commit_message", 0,
		    &pol->commit_message);
	if ((v = config_yaml_get(cf, m, "release_notes", NULL)) != NULL)
		config_yaml_template(cf, v, obj, "release_notes", CF_EMPTY,
		    &pol->release_notes);
	if ((v = config_yaml_get(cf, m, "author", NULL)) != NULL &&
	    config_yaml_string(cf, v, obj, "author", 0, &s) == 1) {
		if (config_schema_author(s, &name, &email) == -1)
			config_diag_err(cf, v, obj, "author must look like "
			    "\"Name <email>\"");
		else {
			free(pol->author_name);
			free(pol->author_email);
			pol->author_name = name;
			pol->author_email = email;
		}
	}
	if ((v = config_yaml_get(cf, m, "preserve", NULL)) != NULL)
		config_yaml_globs(cf, v, obj, "preserve", &pol->preserve);
	if ((v = config_yaml_get(cf, m, "exclude", NULL)) != NULL)
		config_yaml_globs(cf, v, obj, "exclude", &pol->exclude);
	if (config_yaml_either(cf, m, obj, "metadata_override", "create", &v,
	    &v2) == 0 && (v != NULL || v2 != NULL))
		config_schema_create(cf, v != NULL ? v : v2, obj, v != NULL ?
		    "metadata_override" : "create", &pol->create);
	if ((v = config_yaml_get(cf, m, "metadata", NULL)) != NULL &&
	    config_yaml_enum(cf, v, obj, "metadata",
	    config_schema_metadata_names, &i) == 1)
		pol->metadata = (enum config_metadata)i;
	if ((v = config_yaml_get(cf, m, "data_retain", NULL)) != NULL)
		config_yaml_int(cf, v, obj, "data_retain", 0, MAX_DATA_RETAIN,
		    &pol->data_retain);
}

/* The top level. */

/* "host:port" or "[v6]:port" (url.c reads it), port 0 for any free port
 * (logged at start; tests use it). */
static int
config_schema_listen(struct cf *cf, const yaml_node_t *v, const char *s)
{
	char			*host;
	int			 port, v6;
	enum url_listen_error	 e;

	e = url_listen(s, &host, &port, &v6);
	free(host);
	if (e == URL_LISTEN_OK)
		return 0;
	if (e == URL_LISTEN_RANGE)
		config_diag_err(cf, v, NULL,
		    "listen port must be between 0 and "
		    "65535");
	else
		config_diag_err(cf, v, NULL,
		    "listen must be HOST:PORT (such as "
		    DEF_LISTEN ") or off");
	return -1;
}

/* metrics: a mapping of what /metrics writes. */
static void
config_schema_metrics(struct cf *cf, const yaml_node_t *m)
{
	yaml_node_t	*v;
	int		 b;

	if (config_yaml_null(m))
		return;
	if (m->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, m, NULL, "metrics must be a mapping");
		return;
	}
	config_schema_keys(cf, m, NULL, "metrics.", config_schema_metrics_keys,
	    NULL);
	if ((v = config_yaml_get(cf, m, "per_route_histograms", NULL)) !=
	    NULL && config_yaml_bool(cf, v, NULL,
	    "metrics.per_route_histograms", &b) == 1)
		cf->c->metrics_per_route_histograms = b;
}

void
config_schema_top(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	struct sockaddr_un	 sun;
	yaml_node_t		*v;
	const char		*s;
	char			*sock = NULL;
	int			 i;

	config_schema_keys(cf, root, NULL, "", config_schema_top_keys, NULL);
	if ((v = config_yaml_get(cf, root, "state_dir", NULL)) != NULL)
		config_yaml_abspath(cf, v, "state_dir", 0, &c->state_dir);
	if ((v = config_yaml_get(cf, root, "log_level", NULL)) != NULL &&
	    config_yaml_enum(cf, v, NULL, "log_level",
	    config_schema_level_names, &i) == 1)
		c->log_level = log_level_parse(config_schema_level_names[i]);
	if ((v = config_yaml_get(cf, root, "log_file", NULL)) != NULL)
		config_yaml_abspath(cf, v, "log_file", CF_OPTIONAL,
		    &c->log_file);
	if ((v = config_yaml_get(cf, root, "workers", NULL)) != NULL)
		config_yaml_int(cf, v, NULL, "workers", 1, CF_MAX_INT,
		    &c->workers);
	if ((v = config_yaml_get(cf, root, "poll_interval", NULL)) != NULL)
		config_yaml_duration(cf, v, NULL, "poll_interval",
		    CONFIG_MIN_POLL_MS, &c->poll_ms);
	if ((v = config_yaml_get(cf, root, "retry_min", NULL)) != NULL)
		config_yaml_duration(cf, v, NULL, "retry_min",
		    CONFIG_MIN_RETRY_MS, &c->retry_min_ms);
	if ((v = config_yaml_get(cf, root, "listen", NULL)) != NULL &&
	    config_yaml_string(cf, v, NULL, "listen", 0, &s) == 1) {
		if (strcmp(s, "off") == 0)
			config_yaml_set(&c->listen, NULL);
		else if (config_schema_listen(cf, v, s) == 0)
			config_yaml_set(&c->listen, s);
	}
	if ((v = config_yaml_get(cf, root, "control_socket", NULL)) != NULL &&
	    config_yaml_abspath(cf, v, "control_socket", 0, &sock) == 1) {
		if (strlen(sock) >= sizeof sun.sun_path) {
			config_diag_err(cf, v, NULL, "control_socket is longer "
			    "than %zu bytes", sizeof sun.sun_path - 1);
			free(sock);
		} else {
			free(c->control_socket);
			c->control_socket = sock;
		}
	}
	if ((v = config_yaml_get(cf, root, "notify", NULL)) != NULL)
		config_notify_list(cf, v, NULL, &c->notify, &c->nnotify);
	if ((v = config_yaml_get(cf, root, "trigger_token_file", NULL)) !=
	    NULL)
		config_secret_file(cf, v, NULL, "trigger_token_file", "token",
		    &c->trigger_token_file, &c->trigger_token);
	if ((v = config_yaml_get(cf, root, "metrics", NULL)) != NULL)
		config_schema_metrics(cf, v);
}

void
config_schema_defaults(struct cf *cf, const yaml_node_t *root)
{
	yaml_node_t	*v;

	cf->defaults.poll_ms = cf->c->poll_ms;
	if ((v = config_yaml_get(cf, root, "defaults", NULL)) == NULL ||
	    config_yaml_null(v))
		return;
	if (v->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, v, NULL, "defaults must be a mapping");
		return;
	}
	config_schema_keys(cf, v, "defaults", "", config_schema_policy_keys,
	    NULL);
	config_schema_policy(cf, v, "defaults", &cf->defaults);
}
