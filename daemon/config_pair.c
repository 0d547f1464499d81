/* config_pair.c: the pairs of the configuration and the algorithms they
 * name (CLUSTER/OWNER/ALGO). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "xmalloc.h"

/* Algorithms: CLUSTER/OWNER/ALGO. */

/* Fills causes[] (up to 3) and returns how many; 0: *out is filled. */
size_t
config_pair_algo_parse(const struct config *c, const char *spec,
    const char *what,
    struct config_algo *out, char **causes)
{
	struct config_cluster	*cl;
	const char		*p1, *p2;
	char			*cluster, *owner, *name, *all, q[CF_QLEN];
	char			 q2[CF_QLEN];
	size_t			 n = 0, i;
	const char		**names;

	memset(out, 0, sizeof *out);
	p1 = strchr(spec, '/');
	p2 = p1 != NULL ? strchr(p1 + 1, '/') : NULL;
	if (p2 == NULL || strchr(p2 + 1, '/') != NULL || p1 == spec ||
	    p2 == p1 + 1 || p2[1] == '\0') {
		causes[0] = xprintf("%s %s must be CLUSTER/OWNER/ALGO", what,
		    config_diag_quote(q, spec));
		return 1;
	}
	cluster = xstrndup(spec, (size_t)(p1 - spec));
	owner = xstrndup(p1 + 1, (size_t)(p2 - p1 - 1));
	name = xstrdup(p2 + 1);
	config_diag_quote(q2, spec);
	if ((cl = config_cluster_find(c, cluster)) == NULL) {
		names = xcalloc(c->nclusters + 1, sizeof *names);
		for (i = 0; i < c->nclusters; i++)
			names[i] = c->clusters[i].name;
		all = config_diag_join(names);
		causes[n++] = xprintf("unknown cluster %s (clusters: %s)",
		    config_diag_quote(q, cluster), all);
		free(all);
		free(names);
	}
	if (!config_schema_algo_name_ok(owner))
		causes[n++] = xprintf("owner name %s in %s: use letters, "
		    "digits and underscores, starting with a letter",
		    config_diag_quote(q, owner), q2);
	if (!config_schema_algo_name_ok(name))
		causes[n++] = xprintf("algorithm name %s in %s: use letters, "
		    "digits and underscores, starting with a letter",
		    config_diag_quote(q, name), q2);
	free(cluster);
	if (n != 0) {
		free(owner);
		free(name);
		return n;
	}
	out->cluster = cl;
	out->owner = owner;
	out->name = name;
	out->full = xstrdup(spec);
	return 0;
}

static int
config_pair_algo(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *what, struct config_algo *out)
{
	const char	*s;
	char		*causes[3];
	size_t		 n, i;

	if (config_yaml_string(cf, v, obj, what, 0, &s) != 1)
		return -1;
	if (cf->c->nclusters == 0)
		return -1;	/* the clusters are reported broken */
	if ((n = config_pair_algo_parse(cf->c, s, what, out, causes)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		config_diag_err(cf, v, obj, "%s", causes[i]);
		free(causes[i]);
	}
	return -1;
}

/* Pairs. */

/* "destination: ALGO" or "destinations: [ALGO, ...]". */
static void
config_pair_dests(struct cf *cf, struct config_pair *pr, struct cf_pos *pos,
    const yaml_node_t *m, const char *obj)
{
	yaml_node_item_t	*it;
	yaml_node_t		*d1, *d2, *item;

	if (config_yaml_either(cf, m, obj, "destination", "destinations", &d1,
	    &d2) == -1)
		return;
	if (d1 == NULL && d2 == NULL)
		config_diag_err(cf, m, obj,
		    "missing required key \"destination\" "
		    "(or \"destinations\")");
	else if (d1 != NULL) {
		pr->dests = xcalloc(1, sizeof *pr->dests);
		pos->dests = xcalloc(1, sizeof(yaml_node_t *));
		if (config_pair_algo(cf, d1, obj, "destination",
		    &pr->dests[0]) == 0)
			pos->dests[pr->ndests++] = d1;
	} else if (!config_yaml_null(d2) && d2->type != YAML_SEQUENCE_NODE)
		config_diag_err(cf, d2, obj, "destinations must be a list");
	else if (config_yaml_size(d2) == 0)
		config_diag_err(cf, d2, obj,
		    "destinations must list at least one "
		    "algorithm");
	else {
		pr->dests = xcalloc(config_yaml_size(d2), sizeof *pr->dests);
		pos->dests = xcalloc(config_yaml_size(d2), sizeof(
		    yaml_node_t *));
		for (it = d2->data.sequence.items.start;
		    it < d2->data.sequence.items.top; it++) {
			if ((item = config_yaml_node(cf, *it)) != NULL &&
			    config_pair_algo(cf, item, obj, "destination",
			    &pr->dests[pr->ndests]) == 0)
				pos->dests[pr->ndests++] = item;
		}
	}
}

static void
config_pair_parse(struct cf *cf, struct config_pair *pr, struct cf_pos *pos,
    const yaml_node_t *m, size_t idx)
{
	yaml_node_t	*v;
	const char	*s;
	char		 obj[CF_QLEN + 16], q[CF_QLEN];

	pr->line = (int)m->start_mark.line + 1;
	config_schema_policy_copy(&pr->policy, &cf->defaults);
	snprintf(obj, sizeof obj, "pair #%zu", idx);
	if ((v = config_yaml_get(cf, m, "name", NULL)) == NULL)
		config_diag_err(cf, m, obj, "missing required key \"name\"");
	else if (config_yaml_string(cf, v, obj, "name", 0, &s) == 1) {
		snprintf(obj, sizeof obj, "pair %s", config_diag_quote(q, s));
		if (strlen(s) > CF_MAX_NAME)
			config_diag_err(cf, v, obj, "name is longer than %d "
			    "characters", CF_MAX_NAME);
		else if (!config_schema_name_ok(s, "._-"))
			config_diag_err(cf, v, obj,
			    "name must use letters, digits, "
			    "'.', '-' and '_'");
		else {
			pr->name = xstrdup(s);
			pos->name = v;
		}
	}
	config_schema_keys(cf, m, obj, "", config_schema_pair_keys,
	    config_schema_policy_keys);

	if ((v = config_yaml_get(cf, m, "source", NULL)) == NULL)
		config_diag_err(cf, m, obj, "missing required key \"source\"");
	else if (config_pair_algo(cf, v, obj, "source", &pr->source) == 0)
		pos->source = v;

	config_pair_dests(cf, pr, pos, m, obj);
	config_schema_policy(cf, m, obj, &pr->policy);
	if ((v = config_yaml_get(cf, m, "poll_interval", NULL)) != NULL)
		config_yaml_duration(cf, v, obj, "poll_interval",
		    CONFIG_MIN_POLL_MS,
		    &pr->policy.poll_ms);
	if ((v = config_yaml_get(cf, m, "notify", NULL)) != NULL)
		config_notify_list(cf, v, obj, &pr->notify, &pr->nnotify);
	if ((v = config_yaml_get(cf, m, "data", NULL)) != NULL)
		config_data_list(cf, v, obj, pr);
}

/* The pairs of file i's list, from c->pairs[c->npairs] on. */
static void
config_pair_file(struct cf *cf, size_t i)
{
	struct config		*c = cf->c;
	const yaml_node_t	*v = cf->files[i]->pairs;
	yaml_node_item_t	*it;
	yaml_node_t		*m;
	size_t			 n;

	config_file_enter(cf, i);
	for (n = 1, it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++, n++) {
		if ((m = config_yaml_node(cf, *it)) == NULL)
			continue;
		if (m->type != YAML_MAPPING_NODE) {
			config_diag_err(cf, m, NULL,
			    "pair #%zu must be a mapping", n);
			continue;
		}
		config_pair_parse(cf, &c->pairs[c->npairs],
		    &cf->pos[c->npairs], m, n);
		c->npairs++;
	}
}

/*
 * The pairs of the file, then those of the files it includes, in the
 * order they were read (config_include.c set each file's list). Without
 * include:, pairs: must list one; with it, all the files together must.
 */
void
config_pair_all(struct cf *cf, const yaml_node_t *root)
{
	struct config		*c = cf->c;
	yaml_node_t		*v, *inc;
	size_t			 i, total = 0;

	v = config_yaml_get(cf, root, "pairs", NULL);
	inc = config_yaml_get(cf, root, "include", NULL);
	if (v == NULL && inc == NULL) {
		config_diag_err(cf, root, NULL,
		    "missing required key \"pairs\"");
		return;
	}
	if (v != NULL && !config_yaml_null(v) &&
	    v->type != YAML_SEQUENCE_NODE) {
		config_diag_err(cf, v, NULL, "pairs must be a list");
		return;
	}
	if (v != NULL && config_yaml_size(v) == 0 && inc == NULL) {
		config_diag_err(cf, v, NULL,
		    "pairs must list at least one pair");
		return;
	}
	if (v != NULL && config_yaml_size(v) != 0)
		cf->files[0]->pairs = v;
	for (i = 0; i < cf->nfiles; i++)
		if (cf->files[i]->pairs != NULL)
			total += config_yaml_size(cf->files[i]->pairs);
	if (total == 0) {
		if (!cf->include_failed)
			config_diag_err(cf, inc, NULL, "no pairs: neither "
			    "pairs nor the files included list one");
		return;
	}
	c->pairs = xcalloc(total, sizeof *c->pairs);
	cf->pos = xcalloc(total, sizeof *cf->pos);
	for (i = 0; i < cf->nfiles; i++)
		if (cf->files[i]->pairs != NULL)
			config_pair_file(cf, i);
	config_file_enter(cf, 0);
	if (c->npairs != 0)
		config_check_cross(cf);
}
