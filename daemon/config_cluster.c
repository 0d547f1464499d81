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
static const char *const cfcluster_url_errors[] = {
	[URL_SYNTAX] = "is not a URL",
	[URL_NO_HOST] = "has no host",
	[URL_HOST] = "has a bad host",
	[URL_PORT] = "has a bad port",
};

/* s without its trailing '/', none of which is in the authority. */
static size_t
cfcluster_trim(const char *s, size_t n, size_t authority)
{
	while (n > authority && s[n - 1] == '/')
		n--;
	return n;
}

/* http(s)://host[:port][/prefix], without user, query or "/v1". */
static char *
cfcluster_url(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key)
{
	struct url	 u;
	const char	*s, *p;
	char		*cause = NULL, *url, q[CF_QLEN];
	size_t		 n, auth;
	int		 bad;

	if (cfyaml_string(cf, v, obj, key, 0, &s) != 1)
		return NULL;
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			cfdiag_err(cf, v, obj, "%s must be plain ASCII "
			    "without spaces", key);
			return NULL;
		}
	}
	if (strncasecmp(s, "https://", 8) != 0 &&
	    strncasecmp(s, "http://", 7) != 0) {
		cfdiag_err(cf, v, obj, "%s must start with http:// or "
		    "https://", key);
		return NULL;
	}
	bad = url_split(&u, s, &cause) == -1;
	free(cause);
	if (u.has_userinfo)
		cfdiag_err(cf, v, obj, "%s must not contain a user or "
		    "password: keys never live in the configuration", key);
	else if (u.has_query && !(bad && u.error == URL_NO_HOST))
		cfdiag_err(cf, v, obj, "%s must not have a query or fragment",
		    key);
	else if (bad)
		cfdiag_err(cf, v, obj, "%s %s", key,
		    cfcluster_url_errors[u.error]);
	bad |= u.has_userinfo || u.has_query;
	url_clear(&u);
	if (bad)
		return NULL;
	/* Without a user, the authority holds no '/'. */
	auth = (size_t)(strstr(s, "://") + 3 - s);
	n = cfcluster_trim(s, strlen(s), auth);
	if (n >= auth + 3 && strncmp(s + n - 3, "/v1", 3) == 0) {
		url = xstrndup(s, cfcluster_trim(s, n - 3, auth));
		cfdiag_err(cf, v, obj, "%s must not end in /v1 (the client "
		    "adds it): write %s", key, cfdiag_quote(q, url));
		free(url);
		return NULL;
	}
	return xstrndup(s, n);
}

/* The git URL when none is given: host api.X becomes git.X. */
static char *
cfcluster_git_default(const char *api)
{
	const char	*host = strstr(api, "://") + 3;

	if (strncasecmp(host, "api.", 4) == 0)
		return xprintf("%.*sgit.%s", (int)(host - api), api, host + 4);
	return xstrdup(api);
}

static void
cfcluster_parse(struct cf *cf, struct config_cluster *cl,
    const yaml_node_t *m)
{
	yaml_node_t	*v, *f, *e;
	const char	*s;
	char		 obj[CF_QLEN + 16], q[CF_QLEN];

	snprintf(obj, sizeof obj, "cluster %s", cfdiag_quote(q, cl->name));
	if (m->type != YAML_MAPPING_NODE) {
		cfdiag_err(cf, m, NULL, "%s must be a mapping", obj);
		return;
	}
	cfschema_keys(cf, m, obj, "", cfschema_cluster_keys, NULL);
	if ((v = cfyaml_get(cf, m, "api", NULL)) == NULL)
		cfdiag_err(cf, m, obj, "missing required key \"api\"");
	else
		cl->api = cfcluster_url(cf, v, obj, "api");
	if ((v = cfyaml_get(cf, m, "git", NULL)) != NULL && !cfyaml_null(v))
		cl->git = cfcluster_url(cf, v, obj, "git");
	else if (cl->api != NULL)
		cl->git = cfcluster_git_default(cl->api);
	if ((v = cfyaml_get(cf, m, "key_owner", NULL)) == NULL)
		cfdiag_err(cf, m, obj, "missing required key \"key_owner\"");
	else if (cfyaml_string(cf, v, obj, "key_owner", 0, &s) == 1) {
		if (!cfschema_algo_name_ok(s))
			cfdiag_err(cf, v, obj, "key_owner %s: use letters, "
			    "digits and underscores, starting with a letter",
			    cfdiag_quote(q, s));
		else
			cl->key_owner = xstrdup(s);
	}
	if ((v = cfyaml_get(cf, m, "ca_file", NULL)) != NULL)
		cfsecret_ca_file(cf, cl, v, obj);
	if ((v = cfyaml_get(cf, m, "timeout", NULL)) != NULL)
		cfyaml_duration(cf, v, obj, "timeout", 0, &cl->timeout_ms);
	if ((v = cfyaml_get(cf, m, "max_parallel", NULL)) != NULL)
		cfyaml_int(cf, v, obj, "max_parallel", 1, CF_MAX_INT,
		    &cl->max_parallel);

	if (cfyaml_either(cf, m, obj, "api_key_file", "api_key_env", &f,
	    &e) == -1)
		return;
	if (f == NULL && e == NULL)
		cfdiag_err(cf, m, obj, "set exactly one of api_key_file and "
		    "api_key_env");
	else if (f != NULL)
		cfsecret_key_file(cf, cl, f, obj);
	else
		cfsecret_key_env(cf, cl, e, obj);
}

void
cfcluster_all(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	struct config_cluster	*cl;
	yaml_node_pair_t	*p;
	yaml_node_t		*v, *k, *m;
	const char		*name;
	char			 q[CF_QLEN];

	if ((v = cfyaml_get(cf, root, "clusters", NULL)) == NULL) {
		cfdiag_err(cf, root, NULL, "missing required key \"clusters\"");
		return;
	}
	if (!cfyaml_null(v) && v->type != YAML_MAPPING_NODE) {
		cfdiag_err(cf, v, NULL, "clusters must be a mapping");
		return;
	}
	if (cfyaml_size(v) == 0) {
		cfdiag_err(cf, v, NULL, "clusters must name at least one "
		    "cluster");
		return;
	}
	c->clusters = xcalloc(cfyaml_size(v), sizeof *c->clusters);
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	    p++) {
		k = cfyaml_node(cf, p->key);
		m = cfyaml_node(cf, p->value);
		if (k == NULL || m == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by cfyaml_scan() */
		name = cfyaml_text(k);
		if (cfschema_is_apikey(name) ||
		    config_cluster_find(c, name) != NULL)
			continue;	/* reported by cfyaml_scan() */
		if (!cfschema_name_ok(name, "-_"))
			cfdiag_err(cf, k, NULL, "cluster name %s: use letters, "
			    "digits, '-' and '_' (at most %d)",
			    cfdiag_quote(q, name), CF_MAX_NAME);
		cl = &c->clusters[c->nclusters++];
		cl->name = xstrdup(name);
		cl->line = (int)k->start_mark.line + 1;
		cfschema_cluster_builtin(cl);
		cfcluster_parse(cf, cl, m);
	}
}
