/* hold.c: an operator's hold on a route (pause, pin) in operator.json,
 * and the one view of what holds a route that status shows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fileformat.h"
#include "hold.h"
#include "httpmsg.h"
#include "state.h"
#include "vmap.h"
#include "xmalloc.h"

#define HOLD_MAX_SIZE	(64 * 1024)

static const char *const hold_kinds[] = { "none", "paused", "pinned" };

const char *
hold_kind_name(enum hold_kind k)
{
	if ((size_t)k >= sizeof hold_kinds / sizeof hold_kinds[0])
		return "unknown";
	return hold_kinds[k];
}

void
hold_clear(struct hold *h)
{
	free(h->reason);
	free(h->source_commit);
	free(h->source_version);
	memset(h, 0, sizeof *h);
}

static int
hold_is_hex(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789abcdef") == strlen(s);
}

/* X.Y.Z, each a number without a leading zero. */
static int
hold_is_semver(const char *s)
{
	int	 part;
	size_t	 n;

	for (part = 0; part < 3; part++) {
		if ((n = strspn(s, "0123456789")) == 0 || (n > 1 && *s == '0') ||
		    n > 9)
			return 0;
		s += n;
		if (part < 2 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

int
hold_reason_valid(const char *s, char **cause)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 len = strlen(s), i, n;

	if (len == 0) {
		*cause = xstrdup("is empty");
		return -1;
	}
	if (len > HOLD_MAX_REASON) {
		xasprintf(cause, "is %zu bytes long, more than %d",
		    len, HOLD_MAX_REASON);
		return -1;
	}
	for (i = 0; i < len; i += n) {
		if (u[i] == '\n' || u[i] == '\r') {
			xasprintf(cause, "is more than one line (a "
			    "line break at byte %zu)", i + 1);
			return -1;
		}
		if (u[i] < 0x20 || u[i] == 0x7f) {
			xasprintf(cause, "holds a control character "
			    "(0x%02x at byte %zu)", u[i], i + 1);
			return -1;
		}
		if (u[i] < 0x80)
			n = 1;
		else if ((n = httpmsg_utf8_len(u + i, len - i)) == 0) {
			xasprintf(cause, "is not valid UTF-8 (byte "
			    "%zu is 0x%02x)", i + 1, u[i]);
			return -1;
		}
	}
	return 0;
}

int
hold_pin_valid(const char *commit, const char *version, char **cause)
{
	if ((commit == NULL) == (version == NULL)) {
		*cause = xstrdup("give one of a source commit or a source "
		    "version");
		return -1;
	}
	if (commit != NULL && (!hold_is_hex(commit) ||
	    strlen(commit) < HOLD_MIN_PREFIX || strlen(commit) > 40)) {
		xasprintf(cause, "source commit \"%.64s\" is not %d to 40 "
		    "lowercase hex digits", commit, HOLD_MIN_PREFIX);
		return -1;
	}
	if (version != NULL && !hold_is_semver(version)) {
		xasprintf(cause, "source version \"%.64s\" is not X.Y.Z",
		    version);
		return -1;
	}
	return 0;
}

int
hold_pin_done(const struct hold *h, const struct state_route *st)
{
	if (h->kind != HOLD_PINNED || st->last_source_commit == NULL)
		return 0;
	if (h->source_commit != NULL)
		return strncmp(st->last_source_commit, h->source_commit,
		    strlen(h->source_commit)) == 0;
	return st->last_source_version != NULL && h->source_version != NULL &&
	    strcmp(st->last_source_version, h->source_version) == 0;
}

static const char *
hold_str(const cJSON *o, const char *name, int *bad)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v)) {
		*bad = 1;
		return NULL;
	}
	return v->valuestring;
}

static int
hold_parse(struct hold *h, const cJSON *o, char **why)
{
	const char	*kind, *since;
	int		 bad = 0;

	if (!cJSON_IsObject(o)) {
		*why = xstrdup("not a JSON object");
		return -1;
	}
	kind = hold_str(o, "hold", &bad);
	if (kind != NULL && strcmp(kind, "paused") == 0)
		h->kind = HOLD_PAUSED;
	else if (kind != NULL && strcmp(kind, "pinned") == 0)
		h->kind = HOLD_PINNED;
	else {
		*why = xstrdup("\"hold\" is not \"paused\" or \"pinned\"");
		return -1;
	}
	if (hold_str(o, "reason", &bad) != NULL)
		h->reason = xstrdup(hold_str(o, "reason", &bad));
	if (hold_str(o, "source_commit", &bad) != NULL)
		h->source_commit = xstrdup(hold_str(o, "source_commit", &bad));
	if (hold_str(o, "source_version", &bad) != NULL)
		h->source_version = xstrdup(hold_str(o, "source_version",
		    &bad));
	since = hold_str(o, "since", &bad);
	if (bad || (since != NULL && vmap_time_parse(since, &h->since) == -1)) {
		*why = xstrdup("a member has the wrong type");
		return -1;
	}
	if (h->kind == HOLD_PINNED && hold_pin_valid(h->source_commit,
	    h->source_version, why) == -1)
		return -1;
	return 0;
}

int
hold_load(struct hold *h, const char *dir, char **cause)
{
	char	*path, *data = NULL, *why = NULL;
	cJSON	*o;
	int	 rv = 0, fmt = 0;

	memset(h, 0, sizeof *h);
	path = xprintf("%s/operator.json", dir);
	if (atomicfile_read(path, &data, NULL, HOLD_MAX_SIZE, cause) == -1) {
		if (errno == ENOENT) {
			free(*cause);
			*cause = NULL;
			free(path);
			return 0;
		}
		rv = -1;
	} else {
		if ((o = cJSON_Parse(data)) == NULL)
			why = xstrdup("not valid JSON");
		else if ((fmt = fileformat_check(o, HOLD_FORMAT, path,
		    &why)) == 1) {
			*cause = why;	/* newer: says the path itself */
			why = NULL;
			rv = -1;
		} else if (fmt == 0 && hold_parse(h, o, &why) == -1)
			hold_clear(h);
		cJSON_Delete(o);
		free(data);
		if (why != NULL) {
			xasprintf(cause, "%s: %s", path, why);
			free(why);
			rv = -1;
		}
	}
	if (rv == -1) {
		/* Fails safe: held until an operator says otherwise. */
		h->kind = HOLD_PAUSED;
		xasprintf(&h->reason, "%s; paused until `algopromotectl "
		    "resume` (or `pause`) writes it again", *cause);
	}
	free(path);
	return rv;
}

int
hold_save(const struct hold *h, const char *dir, char **cause)
{
	char	*path, *json, *text;
	cJSON	*o;
	int	 rv;

	path = xprintf("%s/operator.json", dir);
	if (h->kind == HOLD_NONE) {
		rv = 0;
		if (unlink(path) == -1 && errno != ENOENT) {
			xasprintf(cause, "unlink %s: %s", path,
			    strerror(errno));
			rv = -1;
		}
		free(path);
		return rv;
	}
	if (atomicfile_mkdirs(dir, 0700, cause) == -1) {
		free(path);
		return -1;
	}
	o = cJSON_CreateObject();
	fileformat_add(o, HOLD_FORMAT);
	cJSON_AddStringToObject(o, "hold", hold_kind_name(h->kind));
	state_add_str(o, "reason", h->reason);
	state_add_time(o, "since", h->since);
	state_add_str(o, "source_commit", h->source_commit);
	state_add_str(o, "source_version", h->source_version);
	json = cJSON_Print(o);
	cJSON_Delete(o);
	if (json == NULL)
		abort();
	text = xprintf("%s\n", json);
	free(json);
	rv = atomicfile_write(path, text, strlen(text), 0600, cause);
	free(path);
	free(text);
	return rv;
}

cJSON *
hold_status_json(const struct hold *h, const struct state_route *st)
{
	cJSON	*o;

	if (h->kind == HOLD_NONE && st->phase != STATE_HELD)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (h->kind != HOLD_NONE) {
		cJSON_AddStringToObject(o, "kind", hold_kind_name(h->kind));
		cJSON_AddStringToObject(o, "by", "operator");
		state_add_str(o, "reason", h->reason);
		state_add_time(o, "since", h->since);
		if (h->kind == HOLD_PINNED) {
			state_add_str(o, "source_commit", h->source_commit);
			state_add_str(o, "source_version", h->source_version);
		}
		return o;
	}
	cJSON_AddStringToObject(o, "kind", "drift");
	cJSON_AddStringToObject(o, "by", "algopromoted");
	cJSON_AddStringToObject(o, "reason", "the destination changed "
	    "outside algopromoted (on_drift: hold)");
	state_add_time(o, "since", st->drift_time);
	state_add_str(o, "dest_commit", st->drift_dest_commit);
	state_add_str(o, "author", st->drift_author);
	state_add_str(o, "subject", st->drift_subject);
	return o;
}
