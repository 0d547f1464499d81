/* state.c: per-route state on disk, read back after any crash.
 * A corrupt file is moved aside and reported, never silently reset. */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fileformat.h"
#include "redact.h"
#include "state.h"
#include "vmap.h"
#include "xmalloc.h"

#define STATE_MAX_SIZE	(1024 * 1024)

static const char *const state_phases[] = {
	"idle", "fetching", "pushing", "building", "publishing", "failed",
	"approval", "held", "data",
};

const char *
state_phase_name(enum state_phase p)
{
	if ((size_t)p >= sizeof state_phases / sizeof state_phases[0])
		return "unknown";
	return state_phases[p];
}

int
state_phase_parse(const char *s, enum state_phase *p)
{
	size_t	 i;

	for (i = 0; i < sizeof state_phases / sizeof state_phases[0]; i++) {
		if (strcmp(s, state_phases[i]) == 0) {
			*p = (enum state_phase)i;
			return 0;
		}
	}
	return -1;
}

/* "prod/acme/Hello" becomes "prod.acme.Hello": cluster names hold no
 * '.', owners and algorithms neither, so the mapping is one to one. */
char *
state_route_dir(const char *state_dir, const char *pair,
    const char *destination)
{
	char	*d, *p;

	d = xstrdup(destination);
	for (p = d; *p != '\0'; p++)
		if (*p == '/')
			*p = '.';
	p = xprintf("%s/routes/%s/%s", state_dir, pair, d);
	free(d);
	return p;
}

void
state_set(char **field, const char *value)
{
	char	*old = *field;

	*field = value != NULL ? xstrdup(value) : NULL;
	free(old);
}

void
state_set_error(struct state_route *s, const char *error, int permanent)
{
	free(s->error);
	s->error = error != NULL ? redact(error) : NULL;
	s->error_permanent = error != NULL && permanent;
	s->error_time = error != NULL ? (int64_t)time(NULL) : 0;
}

/*
 * The operator's two edits, shared by algopromotectl and the daemon.
 * approve: a route waiting in STATE_APPROVAL may promote the source
 * commit it waits with. retry: a failed route may try the same source
 * commit again. Returns 1 when s changed, else 0; *msg says what
 * happened either way (caller frees).
 */
int
state_route_operate(struct state_route *s, int approve, char **msg)
{
	if (approve && s->phase == STATE_APPROVAL &&
	    s->pending_source_commit != NULL) {
		state_set(&s->approved_source_commit, s->pending_source_commit);
		s->phase = STATE_IDLE;
		xasprintf(msg, "approved %s", s->pending_source_commit);
		return 1;
	}
	if (!approve && (s->failed_source_commit != NULL || s->error != NULL)) {
		state_set(&s->failed_source_commit, NULL);
		state_set_error(s, NULL, 0);
		if (s->phase == STATE_FAILED)
			s->phase = STATE_IDLE;
		*msg = xstrdup("failed state cleared");
		return 1;
	}
	xasprintf(msg, "nothing to %s", approve ? "approve" : "retry");
	return 0;
}

/*
 * resume of a route held by drift: promotions go on on top of the
 * foreign head (its tree replaced, its history kept). Returns 1 when s
 * changed, else 0; *msg says what happened (caller frees).
 */
int
state_route_accept_drift(struct state_route *s, char **msg)
{
	if (s->phase != STATE_HELD || s->drift_dest_commit == NULL) {
		*msg = xstrdup("no drift held");
		return 0;
	}
	state_set(&s->accepted_dest_commit, s->drift_dest_commit);
	xasprintf(msg, "promoting on top of %.12s, which changed the "
	    "destination outside algopromoted", s->drift_dest_commit);
	state_set(&s->drift_dest_commit, NULL);
	state_set(&s->drift_author, NULL);
	state_set(&s->drift_subject, NULL);
	s->drift_time = 0;
	s->phase = STATE_IDLE;
	return 1;
}

void
state_route_clear(struct state_route *s)
{
	free(s->pair);
	free(s->source);
	free(s->destination);
	free(s->last_source_commit);
	free(s->last_source_version);
	free(s->last_dest_commit);
	free(s->last_dest_version);
	free(s->pending_source_commit);
	free(s->pending_source_version);
	free(s->pending_dest_commit);
	free(s->pending_build_id);
	free(s->failed_source_commit);
	free(s->approved_source_commit);
	free(s->error);
	free(s->build_log);
	free(s->drift_dest_commit);
	free(s->drift_author);
	free(s->drift_subject);
	free(s->accepted_dest_commit);
	free(s->last_metadata);
	memset(s, 0, sizeof *s);
}

/* A string member, null when v is NULL. */
void
state_add_str(cJSON *o, const char *name, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

/* A time member (ISO-8601), null when t is 0. */
void
state_add_time(cJSON *o, const char *name, int64_t t)
{
	char	*s;

	if (t == 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	s = vmap_time_format(t);
	cJSON_AddStringToObject(o, name, s);
	free(s);
}

cJSON *
state_route_to_json(const struct state_route *s)
{
	cJSON	*o, *sub;

	o = cJSON_CreateObject();
	fileformat_add(o, STATE_FORMAT);
	state_add_str(o, "pair", s->pair);
	state_add_str(o, "source", s->source);
	state_add_str(o, "destination", s->destination);
	cJSON_AddStringToObject(o, "phase", state_phase_name(s->phase));
	sub = cJSON_AddObjectToObject(o, "last");
	state_add_str(sub, "source_commit", s->last_source_commit);
	state_add_str(sub, "source_version", s->last_source_version);
	state_add_str(sub, "dest_commit", s->last_dest_commit);
	state_add_str(sub, "dest_version", s->last_dest_version);
	state_add_time(sub, "time", s->last_time);
	sub = cJSON_AddObjectToObject(o, "pending");
	state_add_str(sub, "source_commit", s->pending_source_commit);
	state_add_str(sub, "source_version", s->pending_source_version);
	state_add_str(sub, "dest_commit", s->pending_dest_commit);
	state_add_str(sub, "build_id", s->pending_build_id);
	state_add_str(o, "failed_source_commit", s->failed_source_commit);
	state_add_str(o, "approved_source_commit", s->approved_source_commit);
	state_add_str(o, "error", s->error);
	cJSON_AddBoolToObject(o, "error_permanent", s->error_permanent);
	state_add_time(o, "error_time", s->error_time);
	state_add_str(o, "build_log", s->build_log);
	if (s->drift_dest_commit != NULL) {
		sub = cJSON_AddObjectToObject(o, "drift");
		state_add_str(sub, "dest_commit", s->drift_dest_commit);
		state_add_str(sub, "author", s->drift_author);
		state_add_str(sub, "subject", s->drift_subject);
		state_add_time(sub, "time", s->drift_time);
	} else
		cJSON_AddNullToObject(o, "drift");
	state_add_str(o, "accepted_dest_commit", s->accepted_dest_commit);
	if (s->last_metadata != NULL) {
		sub = cJSON_AddObjectToObject(o, "metadata");
		state_add_str(sub, "fields", s->last_metadata);
		state_add_time(sub, "time", s->last_metadata_time);
	} else
		cJSON_AddNullToObject(o, "metadata");
	state_add_time(o, "updated", s->updated);
	return o;
}

static int
state_get_str(const cJSON *o, const char *name, char **out, char **cause)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		xasprintf(cause, "\"%s\" is not a string", name);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

static int
state_get_time(const cJSON *o, const char *name, int64_t *out, char **cause)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || vmap_time_parse(v->valuestring, out) == -1) {
		xasprintf(cause, "\"%s\" is not a time", name);
		return -1;
	}
	return 0;
}

int
state_route_from_json(struct state_route *s, const cJSON *o, char **cause)
{
	const cJSON	*last, *pending, *drift, *meta, *v;

	memset(s, 0, sizeof *s);
	if (!cJSON_IsObject(o)) {
		xasprintf(cause, "not a JSON object");
		return -1;
	}
	last = cJSON_GetObjectItemCaseSensitive(o, "last");
	pending = cJSON_GetObjectItemCaseSensitive(o, "pending");
	v = cJSON_GetObjectItemCaseSensitive(o, "phase");
	if (!cJSON_IsString(v) ||
	    state_phase_parse(v->valuestring, &s->phase) == -1) {
		xasprintf(cause, "bad \"phase\"");
		goto fail;
	}
	drift = cJSON_GetObjectItemCaseSensitive(o, "drift");
	if (cJSON_IsNull(drift))
		drift = NULL;
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (cJSON_IsNull(meta))
		meta = NULL;
	if ((last != NULL && !cJSON_IsObject(last)) ||
	    (pending != NULL && !cJSON_IsObject(pending)) ||
	    (drift != NULL && !cJSON_IsObject(drift)) ||
	    (meta != NULL && !cJSON_IsObject(meta))) {
		xasprintf(cause, "\"last\", \"pending\", \"drift\" and "
		    "\"metadata\" must be objects");
		goto fail;
	}
	if (state_get_str(o, "pair", &s->pair, cause) == -1 ||
	    state_get_str(o, "source", &s->source, cause) == -1 ||
	    state_get_str(o, "destination", &s->destination, cause) == -1 ||
	    state_get_str(last, "source_commit", &s->last_source_commit,
	    cause) == -1 ||
	    state_get_str(last, "source_version", &s->last_source_version,
	    cause) == -1 ||
	    state_get_str(last, "dest_commit", &s->last_dest_commit,
	    cause) == -1 ||
	    state_get_str(last, "dest_version", &s->last_dest_version,
	    cause) == -1 ||
	    state_get_time(last, "time", &s->last_time, cause) == -1 ||
	    state_get_str(pending, "source_commit", &s->pending_source_commit,
	    cause) == -1 ||
	    state_get_str(pending, "source_version",
	    &s->pending_source_version, cause) == -1 ||
	    state_get_str(pending, "dest_commit", &s->pending_dest_commit,
	    cause) == -1 ||
	    state_get_str(pending, "build_id", &s->pending_build_id,
	    cause) == -1 ||
	    state_get_str(o, "failed_source_commit", &s->failed_source_commit,
	    cause) == -1 ||
	    state_get_str(o, "approved_source_commit",
	    &s->approved_source_commit, cause) == -1 ||
	    state_get_str(o, "error", &s->error, cause) == -1 ||
	    state_get_time(o, "error_time", &s->error_time, cause) == -1 ||
	    state_get_str(o, "build_log", &s->build_log, cause) == -1 ||
	    state_get_str(drift, "dest_commit", &s->drift_dest_commit,
	    cause) == -1 ||
	    state_get_str(drift, "author", &s->drift_author, cause) == -1 ||
	    state_get_str(drift, "subject", &s->drift_subject, cause) == -1 ||
	    state_get_time(drift, "time", &s->drift_time, cause) == -1 ||
	    state_get_str(o, "accepted_dest_commit", &s->accepted_dest_commit,
	    cause) == -1 ||
	    state_get_str(meta, "fields", &s->last_metadata, cause) == -1 ||
	    state_get_time(meta, "time", &s->last_metadata_time,
	    cause) == -1 ||
	    state_get_time(o, "updated", &s->updated, cause) == -1)
		goto fail;
	s->error_permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o,
	    "error_permanent"));
	if (s->phase == STATE_HELD && s->drift_dest_commit == NULL) {
		xasprintf(cause, "phase \"held\" without a \"drift\"");
		goto fail;
	}
	return 0;
fail:
	state_route_clear(s);
	return -1;
}

/*
 * Reads path into s. A missing file is an empty state (0). -1 is an
 * unreadable file or one of a newer format (*cause), or, with *why set,
 * a corrupt one.
 */
static int
state_route_read(struct state_route *s, const char *path, char **cause,
    char **why)
{
	char	*data = NULL, *fc = NULL;
	cJSON	*o;
	int	 rv = 0, fmt;

	memset(s, 0, sizeof *s);
	*why = NULL;
	if (atomicfile_read(path, &data, NULL, STATE_MAX_SIZE, cause) == -1) {
		if (errno != ENOENT)
			return -1;
		free(*cause);
		*cause = NULL;
		return 0;
	}
	if ((o = cJSON_Parse(data)) == NULL) {
		*why = xstrdup("not valid JSON");
		rv = -1;
	} else if ((fmt = fileformat_check(o, STATE_FORMAT, path,
	    &fc)) != 0) {
		/* Newer: left alone (*cause); damaged: *why. */
		if (fmt == 1)
			*cause = fc;
		else
			*why = fc;
		rv = -1;
	} else if (state_route_from_json(s, o, why) == -1)
		rv = -1;
	cJSON_Delete(o);
	free(data);
	return rv;
}

/*
 * Reads dir/state.json into s. A missing file gives an empty state. A
 * corrupt file is renamed to state.json.corrupt-TIME, *warning says so,
 * and the state starts empty: the destination itself (trailers, version
 * list) still tells what was promoted, so nothing is lost.
 */
int
state_route_load(struct state_route *s, const char *dir, char **cause,
    char **warning)
{
	char	*path, *why, *aside;
	int	 rv = 0;

	*warning = NULL;
	path = xprintf("%s/state.json", dir);
	if (state_route_read(s, path, cause, &why) == -1) {
		if (why == NULL)
			rv = -1;
		else {
			aside = xprintf("%s.corrupt-%lld", path,
			    (long long)time(NULL));
			if (rename(path, aside) == -1) {
				xasprintf(cause, "%s is corrupt (%s) and "
				    "cannot be moved aside: %s", path, why,
				    strerror(errno));
				rv = -1;
			} else
				xasprintf(warning, "%s is corrupt (%s); moved "
				    "aside to %s", path, why, aside);
			free(aside);
			free(why);
		}
	}
	free(path);
	return rv;
}

/* Reads dir/state.json for display: nothing is moved or changed. A
 * missing file is an empty state; a corrupt one is -1 with *cause. */
int
state_route_peek(struct state_route *s, const char *dir, char **cause)
{
	char	*path, *why;
	int	 rv;

	path = xprintf("%s/state.json", dir);
	if ((rv = state_route_read(s, path, cause, &why)) == -1 &&
	    why != NULL) {
		xasprintf(cause, "%s: corrupt (%s)", path, why);
		free(why);
	}
	free(path);
	return rv;
}

int
state_route_save(struct state_route *s, const char *dir, char **cause)
{
	char	*path, *json, *text;
	cJSON	*o;
	int	 rv;

	if (atomicfile_mkdirs(dir, 0700, cause) == -1)
		return -1;
	s->updated = (int64_t)time(NULL);
	o = state_route_to_json(s);
	json = cJSON_Print(o);
	cJSON_Delete(o);
	if (json == NULL)
		abort();
	text = xprintf("%s\n", json);
	free(json);
	path = xprintf("%s/state.json", dir);
	rv = atomicfile_write(path, text, strlen(text), 0600, cause);
	free(path);
	free(text);
	return rv;
}

/*
 * One owner per state_dir: an flock(2) on state_dir/lock, held while the
 * descriptor stays open (the daemon for its whole life, algopromotectl
 * while it edits route files). With STATE_LOCK_CREATE the directory and
 * the lock file are made; without, a missing file is STATE_LOCK_MISSING
 * (nothing ever ran there). STATE_LOCK_HELD: another process has it.
 * -1 with *cause on any other failure.
 */
int
state_lock(const char *state_dir, int flags, int *fd, char **cause)
{
	char	*path, *why = NULL;
	int	 rv = -1;

	*fd = -1;
	if ((flags & STATE_LOCK_CREATE) &&
	    atomicfile_mkdirs(state_dir, 0700, &why) == -1) {
		xasprintf(cause, "state_dir: %s", why);
		free(why);
		return -1;
	}
	path = xprintf("%s/lock", state_dir);
	*fd = open(path, O_RDWR | O_CLOEXEC |
	    ((flags & STATE_LOCK_CREATE) ? O_CREAT : 0), 0600);
	if (*fd == -1) {
		if (errno == ENOENT && !(flags & STATE_LOCK_CREATE))
			rv = STATE_LOCK_MISSING;
		else
			xasprintf(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			rv = STATE_LOCK_HELD;
		else
			xasprintf(cause, "lock %s: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
		goto out;
	}
	rv = 0;
out:
	free(path);
	return rv;
}
