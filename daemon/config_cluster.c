/* config_cluster.c: the clusters of the configuration: names, API and
 * git URLs (through url.c), limits; their keys are config_secret.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "url.h"
#include "xmalloc.h"

/* The words for what url_split() found wrong with a cluster's URL. The
 * checks run in the order: user, host, query or fragment, the rest. */
static const char *const config_cluster_url_errors[] = {
	[URL_SYNTAX] = "is not a URL",
	[URL_NO_HOST] = "has no host",
	[URL_HOST] = "has a bad host",
	[URL_PORT] = "has a bad port",
};

/* s without its trailing '/', none of which is in the authority. */
static size_t
config_cluster_trim(const char *s, size_t n, size_t authority)
{
	while (n > authority && s[n - 1] == '/')
		n--;
	return n;
}

/* http(s)://host[:port][/prefix], without user, query or "/v1". */
static char *
config_cluster_url(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key)
{
	struct url	 u;
	const char	*s, *p;
	char		*cause = NULL, *url, q[CF_QLEN];
	size_t		 n, auth;
	int		 bad;

	if (config_yaml_string(cf, v, obj, key, 0, &s) != 1)
		return NULL;
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			config_diag_err(cf, v, obj, "%s must be plain ASCII "
			    "without spaces", key);
			return NULL;
		}
	}
	if (strncasecmp(s, "https://", 8) != 0 &&
	    strncasecmp(s, "http://", 7) != 0) {
		config_diag_err(cf, v, obj, "%s must start with http:// or "
		    "https://", key);
		return NULL;
	}
	bad = url_split(&u, s, &cause) == -1;
	free(cause);
	if (u.has_userinfo)
		config_diag_err(cf, v, obj, "%s must not contain a user or "
		    "password: keys never live in the configuration", key);
	else if (u.has_query && !(bad && u.error == URL_NO_HOST))
		config_diag_err(cf, v, obj,
		    "%s must not have a query or fragment",
		    key);
	else if (bad)
		config_diag_err(cf, v, obj, "%s %s", key,
		    config_cluster_url_errors[u.error]);
	bad |= u.has_userinfo || u.has_query;
	url_clear(&u);
	if (bad)
		return NULL;
	/* Without a user, the authority holds no '/'. */
	auth = (size_t)(strstr(s, "://") + 3 - s);
	n = config_cluster_trim(s, strlen(s), auth);
	if (n >= auth + 3 && strncmp(s + n - 3, "/v1", 3) == 0) {
		url = xstrndup(s, config_cluster_trim(s, n - 3, auth));
		config_diag_err(cf, v, obj,
		    "%s must not end in /v1 (the client "
		    "adds it): write %s", key, config_diag_quote(q, url));
		free(url);
		return NULL;
	}
	return xstrndup(s, n);
}

/* The git URL when none is given: host api.X becomes git.X. */
static char *
config_cluster_git_default(const char *api)
{
	const char	*host = strstr(api, "://") + 3;

	if (strncasecmp(host, "api.", 4) == 0)
		return xprintf("%.*sgit.%s", (int)(host - api), api, host + 4);
	return xstrdup(api);
}

static void
config_cluster_parse(struct cf *cf, struct config_cluster *cl,
    const yaml_node_t *m)
{
	yaml_node_t	*v, *f, *e;
	const char	*s;
	char		 obj[CF_QLEN + 16], q[CF_QLEN];

	snprintf(obj, sizeof obj, "cluster %s", config_diag_quote(q, cl->name));
	if (m->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, m, NULL, "%s must be a mapping", obj);
		return;
	}
	config_schema_keys(cf, m, obj, "", config_schema_cluster_keys, NULL);
	if ((v = config_yaml_get(cf, m, "api", NULL)) == NULL)
		config_diag_err(cf, m, obj, "missing required key \"api\"");
	else
		cl->api = config_cluster_url(cf, v, obj, "api");
	if ((v = config_yaml_get(cf, m, "git", NULL)) != NULL &&
	    !config_yaml_null(v))
		cl->git = config_cluster_url(cf, v, obj, "git");
	else if (cl->api != NULL)
		cl->git = config_cluster_git_default(cl->api);
	if ((v = config_yaml_get(cf, m, "key_owner", NULL)) == NULL)
		config_diag_err(cf, m, obj,
		    "missing required key \"key_owner\"");
	else if (config_yaml_string(cf, v, obj, "key_owner", 0, &s) == 1) {
		if (!config_schema_algo_name_ok(s))
			config_diag_err(cf, v, obj,
			    "key_owner %s: use letters, "
			    "digits and underscores, starting with a letter",
			    config_diag_quote(q, s));
		else
			cl->key_owner = xstrdup(s);
	}
	if ((v = config_yaml_get(cf, m, "ca_file", NULL)) != NULL)
		config_secret_ca_file(cf, cl, v, obj);
	if ((v = config_yaml_get(cf, m, "timeout", NULL)) != NULL)
		config_yaml_duration(cf, v, obj, "timeout", 0, &cl->timeout_ms);
	if ((v = config_yaml_get(cf, m, "max_parallel", NULL)) != NULL)
		config_yaml_int(cf, v, obj, "max_parallel", 1, CF_MAX_INT,
		    &cl->max_parallel);
	if ((v = config_yaml_get(cf, m, "retries", NULL)) != NULL)
		config_yaml_int(cf, v, obj, "retries", 1, CONFIG_MAX_RETRIES,
		    &cl->retries);
	if ((v = config_yaml_get(cf, m, "retry_budget", NULL)) != NULL)
		config_yaml_duration(cf, v, obj, "retry_budget",
		    CONFIG_MIN_RETRY_MS, &cl->retry_budget_ms);

	if (config_yaml_either(cf, m, obj, "api_key_file", "api_key_env", &f,
	    &e) == -1)
		return;
	if (f == NULL && e == NULL)
		config_diag_err(cf, m, obj,
		    "set exactly one of api_key_file and "
		    "api_key_env");
	else if (f != NULL)
		config_secret_key_file(cf, cl, f, obj);
	else
		config_secret_key_env(cf, cl, e, obj);
}

void
config_cluster_all(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	struct config_cluster	*cl;
	yaml_node_pair_t	*p;
	yaml_node_t		*v, *k, *m;
	const char		*name;
	char			 q[CF_QLEN];

	if ((v = config_yaml_get(cf, root, "clusters", NULL)) == NULL) {
		config_diag_err(cf, root, NULL,
		    "missing required key \"clusters\"");
		return;
	}
	if (!config_yaml_null(v) && v->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, v, NULL, "clusters must be a mapping");
		return;
	}
	if (config_yaml_size(v) == 0) {
		config_diag_err(cf, v, NULL, "clusters must name at least one "
		    "cluster");
		return;
	}
	c->clusters = xcalloc(config_yaml_size(v), sizeof *c->clusters);
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	    p++) {
		k = config_yaml_node(cf, p->key);
		m = config_yaml_node(cf, p->value);
		if (k == NULL || m == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by config_yaml_scan() */
		name = config_yaml_text(k);
		if (config_schema_is_apikey(name) ||
		    config_cluster_find(c, name) != NULL)
			continue;	/* reported by config_yaml_scan() */
		if (!config_schema_name_ok(name, "-_"))
			config_diag_err(cf, k, NULL,
			    "cluster name %s: use letters, "
			    "digits, '-' and '_' (at most %d)",
			    config_diag_quote(q, name), CF_MAX_NAME);
		cl = &c->clusters[c->nclusters++];
		cl->name = xstrdup(name);
		cl->line = (int)k->start_mark.line + 1;
		config_schema_cluster_builtin(cl);
		config_cluster_parse(cf, cl, m);
	}
}
