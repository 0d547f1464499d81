/* config_data.c: a pair's data: mappings, each a hosted-data collection
 * (data://OWNER/COLLECTION) copied to one on every destination's cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config_int.h"
#include "log.h"
#include "xmalloc.h"

#define CF_MAX_DATA		64	/* mappings per pair */
#define CF_MAX_COLL		128	/* bytes of a collection name */
#define CF_MAX_ACL		32	/* entries of acl: */

static const char *const config_data_keys[] = {
	"from", "to", "delete", "acl", NULL
};

/* A collection's name: letters, digits, '_', '-' and '.', not "." or
 * "..", 1..CF_MAX_COLL bytes. */
static int
config_data_coll_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > CF_MAX_COLL || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("_-.", *s) != NULL))
			return 0;
	return 1;
}

/* "data://OWNER/COLLECTION" (".my" for the key's account) into its two
 * parts; -1 after reporting what is wrong. */
static int
config_data_uri(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, char **owner, char **coll)
{
	const char	*s, *o, *slash;
	char		*own, *col, q[CF_QLEN];

	if (config_yaml_string(cf, v, obj, key, 0, &s) != 1)
		return -1;
	if (strncmp(s, "data://", 7) != 0) {
		config_diag_err(cf, v, obj, "%s %s must be data://OWNER/"
		    "COLLECTION", key, config_diag_quote(q, s));
		return -1;
	}
	o = s + 7;
	if ((slash = strchr(o, '/')) == NULL || slash == o) {
		config_diag_err(cf, v, obj, "%s %s must be data://OWNER/"
		    "COLLECTION", key, config_diag_quote(q, s));
		return -1;
	}
	own = xstrndup(o, (size_t)(slash - o));
	col = xstrdup(slash + 1);
	if (strcmp(own, ".my") != 0 && (strlen(own) > CF_MAX_NAME ||
	    !config_schema_name_ok(own, "_-"))) {
		config_diag_err(cf, v, obj, "%s: owner %s is not an account "
		    "name (or .my)", key, config_diag_quote(q, own));
		goto fail;
	}
	if (strchr(col, '/') != NULL) {
		config_diag_err(cf, v, obj, "%s %s names a file or a folder: "
		    "a mapping copies a whole collection, data://OWNER/"
		    "COLLECTION", key, config_diag_quote(q, s));
		goto fail;
	}
	if (!config_data_coll_ok(col)) {
		config_diag_err(cf, v, obj, "%s: collection %s must be 1 to %d "
		    "letters, digits, '_', '-' or '.'", key,
		    config_diag_quote(q, col), CF_MAX_COLL);
		goto fail;
	}
	*owner = own;
	*coll = col;
	return 0;
fail:
	free(own);
	free(col);
	return -1;
}

/* acl: a list of strings (such as "user://" "*" for public), kept as
 * {"read": [...]}. */
static void
config_data_acl(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_data_map *dm)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*s;
	cJSON			*acl, *read;
	char			*text;
	int			 bad = 0;

	if (!config_yaml_null(v) && v->type != YAML_SEQUENCE_NODE) {
		config_diag_err(cf, v, obj, "data: acl must be a list of "
		    "strings such as \"algo://.my/*\" (or [] for private)");
		return;
	}
	if (config_yaml_size(v) > CF_MAX_ACL) {
		config_diag_err(cf, v, obj, "data: acl lists more than %d "
		    "entries", CF_MAX_ACL);
		return;
	}
	acl = cJSON_CreateObject();
	read = cJSON_AddArrayToObject(acl, "read");
	if (v->type == YAML_SEQUENCE_NODE) {
		for (it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			if ((item = config_yaml_node(cf, *it)) == NULL ||
			    config_yaml_string(cf, item, obj, "data: acl", 0,
			    &s) != 1) {
				bad = 1;
				continue;
			}
			cJSON_AddItemToArray(read, cJSON_CreateString(s));
		}
	}
	if (!bad) {
		if ((text = cJSON_PrintUnformatted(acl)) == NULL)
			fatalx("cJSON: out of memory");
		dm->acl_json = xstrdup(text);
		cJSON_free(text);
	}
	cJSON_Delete(acl);
}

static int
config_data_one(struct cf *cf, const yaml_node_t *m, const char *obj,
    struct config_data_map *dm)
{
	yaml_node_t	*v;
	int		 b, bad = 0;

	dm->line = (int)m->start_mark.line + 1;
	if (m->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, m, obj, "each data: entry must be a "
		    "mapping with from: and to:");
		return -1;
	}
	config_schema_keys(cf, m, obj, "data: ", config_data_keys, NULL);
	if ((v = config_yaml_get(cf, m, "from", NULL)) == NULL) {
		config_diag_err(cf, m, obj, "data: entry misses \"from\"");
		bad = 1;
	} else if (config_data_uri(cf, v, obj, "data: from", &dm->src_owner,
	    &dm->src_coll) == -1)
		bad = 1;
	if ((v = config_yaml_get(cf, m, "to", NULL)) == NULL) {
		config_diag_err(cf, m, obj, "data: entry misses \"to\"");
		bad = 1;
	} else if (config_data_uri(cf, v, obj, "data: to", &dm->dst_owner,
	    &dm->dst_coll) == -1)
		bad = 1;
	if ((v = config_yaml_get(cf, m, "delete", NULL)) != NULL &&
	    config_yaml_bool(cf, v, obj, "data: delete", &b) == 1)
		dm->delete_gone = b;
	if ((v = config_yaml_get(cf, m, "acl", NULL)) != NULL)
		config_data_acl(cf, v, obj, dm);
	return bad ? -1 : 0;
}

void
config_data_map_clear(struct config_data_map *dm)
{
	free(dm->src_owner);
	free(dm->src_coll);
	free(dm->dst_owner);
	free(dm->dst_coll);
	free(dm->acl_json);
	memset(dm, 0, sizeof *dm);
}

void
config_data_list(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_pair *pr)
{
	yaml_node_item_t	*it;
	yaml_node_t		*m;
	struct config_data_map	*dm;
	size_t			 i;

	if (config_yaml_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE) {
		config_diag_err(cf, v, obj, "data must be a list of {from: "
		    "data://OWNER/COLLECTION, to: data://OWNER/COLLECTION}");
		return;
	}
	if (config_yaml_size(v) > CF_MAX_DATA) {
		config_diag_err(cf, v, obj, "data lists more than %d "
		    "collections", CF_MAX_DATA);
		return;
	}
	pr->data = xcalloc(config_yaml_size(v) + 1, sizeof *pr->data);
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		if ((m = config_yaml_node(cf, *it)) == NULL)
			continue;
		dm = &pr->data[pr->ndata];
		if (config_data_one(cf, m, obj, dm) == -1) {
			config_data_map_clear(dm);
			continue;
		}
		/* Two mappings to one collection would fight over it. */
		for (i = 0; i < pr->ndata; i++) {
			if (strcmp(pr->data[i].dst_owner, dm->dst_owner) == 0 &&
			    strcmp(pr->data[i].dst_coll, dm->dst_coll) == 0) {
				config_diag_err(cf, m, obj, "data: two mappings "
				    "copy into data://%s/%s (the other at "
				    "line %d)", dm->dst_owner, dm->dst_coll,
				    pr->data[i].line);
				break;
			}
		}
		if (i < pr->ndata) {
			config_data_map_clear(dm);
			continue;
		}
		pr->ndata++;
	}
}
