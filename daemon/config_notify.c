/* config_notify.c: the notification sinks of the configuration (notify:,
 * at the top level and per pair): webhooks and commands, their events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "url.h"
#include "xmalloc.h"

static const char *const config_notify_url_errors[] = {
	[URL_OK] = "is not a URL",
	[URL_SYNTAX] = "is not a URL",
	[URL_NO_HOST] = "has no host",
	[URL_HOST] = "has a bad host",
	[URL_PORT] = "has a bad port",
};

/* url: http(s)://host..., plain ASCII, no user or password. */
static void
config_notify_url(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_sink *sk)
{
	struct url	 u;
	const char	*s, *p;
	char		*cause = NULL;
	int		 bad;

	if (config_yaml_string(cf, v, obj, "url", 0, &s) != 1)
		return;
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			config_diag_err(cf, v, obj, "url must be plain ASCII "
			    "without spaces");
			return;
		}
	}
	if (strncasecmp(s, "https://", 8) != 0 &&
	    strncasecmp(s, "http://", 7) != 0) {
		config_diag_err(cf, v, obj, "url must start with http:// or "
		    "https://");
		return;
	}
	bad = url_split(&u, s, &cause) == -1;
	if (u.has_userinfo)
		config_diag_err(cf, v, obj, "url must not contain a user or "
		    "password: use token_file");
	else if (bad)
		config_diag_err(cf, v, obj, "url %s",
		    config_notify_url_errors[u.error]);
	else
		sk->url = xstrdup(s);
	free(cause);
	url_clear(&u);
}

/* command: a non-empty list of strings, the first an absolute path. */
static void
config_notify_command(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_sink *sk)
{
	yaml_node_item_t	*it;
	yaml_node_t		*a;
	const char		*s;
	char			**argv;
	size_t			 n = 0, i = 0;
	int			 bad = 0;

	if (v->type != YAML_SEQUENCE_NODE || config_yaml_size(v) == 0) {
		config_diag_err(cf, v, obj, "command must be a non-empty list "
		    "of strings (the program, then its arguments)");
		return;
	}
	argv = xcalloc(config_yaml_size(v) + 1, sizeof *argv);
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		if ((a = config_yaml_node(cf, *it)) == NULL)
			continue;
		if (config_yaml_string(cf, a, obj, "command",
		    i++ == 0 ? 0 : CF_EMPTY, &s) != 1)
			bad = 1;
		else if (i == 1 && s[0] != '/') {
			config_diag_err(cf, a, obj, "command must start with "
			    "an absolute path (no shell runs it)");
			bad = 1;
		} else
			argv[n++] = xstrdup(s);
	}
	if (bad || n == 0) {
		config_yaml_strv_free(argv);
		return;
	}
	sk->command = argv;
}

/* events: a list of names; null is every event. */
static void
config_notify_events(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_sink *sk)
{
	yaml_node_item_t	*it;
	yaml_node_t		*e;
	unsigned int		 mask = 0;
	int			 i, bad = 0;

	if (config_yaml_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE || config_yaml_size(v) == 0) {
		config_diag_err(cf, v, obj, "events must be a non-empty list "
		    "of event names");
		return;
	}
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		if ((e = config_yaml_node(cf, *it)) == NULL)
			continue;
		if (config_yaml_enum(cf, e, obj, "events",
		    config_schema_notify_event_names, &i) == 1)
			mask |= 1u << i;
		else
			bad = 1;
	}
	if (!bad)
		sk->events = mask;
}

static void
config_notify_sink(struct cf *cf, const yaml_node_t *m, const char *obj,
    struct config_sink *sk)
{
	yaml_node_t	*v, *u, *c;
	int		 i;

	sk->line = (int)m->start_mark.line + 1;
	sk->events = CONFIG_NOTIFY_ALL;
	sk->format = CONFIG_NOTIFY_JSON;
	config_schema_keys(cf, m, obj, "", config_schema_sink_keys, NULL);
	if (config_yaml_either(cf, m, obj, "url", "command", &u, &c) == -1)
		return;
	if (u == NULL && c == NULL)
		config_diag_err(cf, m, obj, "set exactly one of url and "
		    "command");
	else if (u != NULL)
		config_notify_url(cf, u, obj, sk);
	else
		config_notify_command(cf, c, obj, sk);
	if ((v = config_yaml_get(cf, m, "format", NULL)) != NULL) {
		if (c != NULL)
			config_diag_err(cf, v, obj, "format is for url sinks "
			    "(a command gets the event as JSON)");
		else if (config_yaml_enum(cf, v, obj, "format",
		    config_schema_notify_format_names, &i) == 1)
			sk->format = (enum config_notify_format)i;
	}
	if ((v = config_yaml_get(cf, m, "events", NULL)) != NULL)
		config_notify_events(cf, v, obj, sk);
	if ((v = config_yaml_get(cf, m, "token_file", NULL)) != NULL) {
		if (c != NULL)
			config_diag_err(cf, v, obj, "token_file is for url "
			    "sinks");
		else
			config_secret_file(cf, v, obj, "token_file", "token",
			    &sk->token_file, &sk->token);
	}
}

/* notify: v (a list of sinks, or null) into *out; obj is where it is
 * ("pair \"x\"", or NULL at the top). */
void
config_notify_list(struct cf *cf, const yaml_node_t *v, const char *obj,
    struct config_sink **out, size_t *n)
{
	yaml_node_item_t	*it;
	yaml_node_t		*m;
	char			 where[CF_QLEN + 32];
	size_t			 i = 0;

	if (config_yaml_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE) {
		config_diag_err(cf, v, obj, "notify must be a list of sinks "
		    "(each a url or a command)");
		return;
	}
	*out = xcalloc(config_yaml_size(v) + 1, sizeof **out);
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		if ((m = config_yaml_node(cf, *it)) == NULL)
			continue;
		i++;
		snprintf(where, sizeof where, "%s%snotify #%zu",
		    obj != NULL ? obj : "", obj != NULL ? ": " : "", i);
		if (m->type != YAML_MAPPING_NODE) {
			config_diag_err(cf, m, NULL, "%s must be a mapping",
			    where);
			continue;
		}
		config_notify_sink(cf, m, where, &(*out)[(*n)++]);
	}
}

void
config_notify_clear(struct config_sink *sinks, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(sinks[i].url);
		config_yaml_strv_free(sinks[i].command);
		free(sinks[i].token_file);
		if (sinks[i].token != NULL) {
			explicit_bzero(sinks[i].token,
			    strlen(sinks[i].token));
			free(sinks[i].token);
		}
	}
	free(sinks);
}
