/* status.c: what the service says about its routes: the route JSON of
 * `status` and /status.json, state_dir/status.json, and sd_notify STATUS=.
 *
 * Threads: loop only; a running job's phase is an atomic its worker
 * stores.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "atomicfile.h"
#include "log.h"
#include "monotime.h"
#include "notify.h"
#include "server_int.h"
#include "state.h"
#include "status.h"
#include "vmap.h"
#include "xmalloc.h"

/* What the route says, not what a file says: set unless already so. */
static void
status_set(char **field, const char *value)
{
	if (*field == NULL || strcmp(*field, value) != 0)
		state_set(field, value);
}

static cJSON *
status_route_json(struct route *r)
{
	struct state_route	 st, *fresh;
	char			 why[160];
	char			*dir, *cause = NULL, *t;
	cJSON			*o, *live, *data;
	uint64_t		 now = monotime_ms();

	/* A job writes the file as it goes: read it then; else what the
	 * loop read last (route.c reads it after every change). */
	if (r->job != NULL || !r->st_cached) {
		dir = state_route_dir(r->srv->cref->conf->state_dir,
		    r->pair_name, r->dest_full);
		/* Read only: a corrupt file is reported by the next job. */
		if (state_route_peek(&st, dir, &cause) == -1)
			free(cause);
		free(dir);
		fresh = &st;
	} else
		fresh = &r->st;
	status_set(&fresh->pair, r->pair_name);
	status_set(&fresh->source, r->pair->source.full);
	status_set(&fresh->destination, r->dest_full);
	if (r->job != NULL)	/* fresh is st */
		fresh->phase = (enum state_phase)atomic_load(&r->job->phase);
	o = state_route_to_json(fresh);
	cJSON_AddItemToObject(o, "hold", hold_status_json(&r->hold, fresh));
	if (fresh == &st)
		state_route_clear(&st);
	live = cJSON_AddObjectToObject(o, "live");
	cJSON_AddBoolToObject(live, "job", r->job != NULL);
	if (r->job != NULL && atomic_load(&r->job->phase) == STATE_DATA) {
		data = cJSON_AddObjectToObject(live, "data");
		cJSON_AddNumberToObject(data, "files_done",
		    (double)atomic_load(&r->job->data_files_done));
		cJSON_AddNumberToObject(data, "files_total",
		    (double)atomic_load(&r->job->data_files_total));
		cJSON_AddNumberToObject(data, "bytes_done",
		    (double)atomic_load(&r->job->data_bytes_done));
		cJSON_AddNumberToObject(data, "bytes_total",
		    (double)atomic_load(&r->job->data_bytes_total));
	}
	cJSON_AddBoolToObject(live, "waiting_for_slot", r->sr->queued);
	if (scheduler_failing(&r->srv->sched, r->sr, now, why, sizeof why))
		cJSON_AddStringToObject(live, "cluster_failing", why);
	else
		cJSON_AddNullToObject(live, "cluster_failing");
	if (r->have_head)
		cJSON_AddStringToObject(live, "source_head", r->head);
	else
		cJSON_AddNullToObject(live, "source_head");
	if (r->version[0] != '\0')
		cJSON_AddStringToObject(live, "source_version", r->version);
	if (r->last_poll != 0) {
		t = vmap_time_format(r->last_poll);
		cJSON_AddStringToObject(live, "last_poll", t);
		free(t);
	} else
		cJSON_AddNullToObject(live, "last_poll");
	cJSON_AddNumberToObject(live, "next_poll_in_ms",
	    r->sr->next_poll_ms > now && evtimer_pending(r->timer, NULL) ?
	    (double)(r->sr->next_poll_ms - now) : 0);
	cJSON_AddNumberToObject(live, "poll_failures",
	    (double)r->sr->poll_failures);
	if (r->poll_error != NULL) {
		cJSON_AddStringToObject(live, "poll_error", r->poll_error);
		cJSON_AddBoolToObject(live, "poll_error_permanent",
		    r->poll_error_permanent);
	} else
		cJSON_AddNullToObject(live, "poll_error");
	return o;
}

cJSON *
status_routes(struct server *s)
{
	struct route	*r;
	cJSON		*arr = cJSON_CreateArray();

	TAILQ_FOREACH(r, &s->routes, entry)
		if (!r->removed)
			cJSON_AddItemToArray(arr, status_route_json(r));
	return arr;
}

/* Appends n bytes of s to *buf (*len used of *cap), growing it. */
static void
status_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	while (*len + n + 1 > *cap) {
		*cap *= 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/*
 * The routes array as text, one route's JSON tree at a time: with 10,000
 * routes the whole tree was 14 MB more, beside a 17 MB text printed from
 * it and copied once more.
 */
char *
status_text(void *arg)
{
	struct server	*s = arg;
	struct route	*r;
	cJSON		*o;
	char		*buf, *one;
	size_t		 len = 0, cap = 4096;
	int		 first = 1;

	buf = xmalloc(cap);
	status_append(&buf, &len, &cap, "[", 1);
	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		o = status_route_json(r);
		one = cJSON_Print(o);
		cJSON_Delete(o);
		if (one == NULL)
			fatalx("out of memory");
		status_append(&buf, &len, &cap, first ? "\n" : ",\n",
		    first ? 1 : 2);
		status_append(&buf, &len, &cap, one, strlen(one));
		free(one);
		first = 0;
	}
	status_append(&buf, &len, &cap, first ? "]\n" : "\n]\n",
	    first ? 2 : 3);
	return buf;
}

static void
status_notify(struct server *s)
{
	struct route	*r;
	size_t		 n = 0, failing = 0, busy = 0, held = 0;

	TAILQ_FOREACH(r, &s->routes, entry) {
		if (r->removed)
			continue;
		n++;
		if (r->failed_commit != NULL || r->sr->poll_failures > 0)
			failing++;
		if (r->job != NULL)
			busy++;
		if (r->hold.kind != HOLD_NONE || r->drift_held)
			held++;
	}
	notify_send("STATUS=%zu routes, %zu failing, %zu held, %zu promoting"
	    "%s%s", n, failing, held, busy, s->last_promotion ?
	    "; last promotion: " : "",
	    s->last_promotion ? s->last_promotion : "");
}

/* Rewrites state_dir/status.json (at most once a second: the beat). */
void
status_write(struct server *s)
{
	char	*text, *path, *cause = NULL;

	if (!s->dirty)
		return;
	s->dirty = 0;
	text = status_text(s);
	path = xprintf("%s/status.json", s->cref->conf->state_dir);
	if (atomicfile_write(path, text, strlen(text), 0600, &cause) == -1) {
		log_warnx("%s", cause);
		free(cause);
	}
	free(path);
	free(text);
	status_notify(s);
}
