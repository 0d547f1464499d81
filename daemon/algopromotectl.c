/* algopromotectl.c: the operator's view of algopromoted: route status and
 * version maps; trigger, retry, approve, pause, resume and promote. */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "atomicfile.h"
#include "config.h"
#include "control.h"
#include "gitops.h"
#include "hold.h"
#include "log.h"
#include "promote.h"
#include "state.h"
#include "vmap.h"
#include "xmalloc.h"

#define CTL_TIMEOUT_MS	10000
#define CTL_PLAN_TIMEOUT_MS	(15 * 60 * 1000)	/* fetches both sides */

/* The options a command may take, by bit. */
#define OPT_REBUILD	0x01
#define OPT_CHECK	0x02
#define OPT_REASON	0x04
#define OPT_DEST	0x08
#define OPT_COMMIT	0x10
#define OPT_VERSION	0x20

static const char *const opt_names[] = {
	"--rebuild", "--check", "--reason", "--destination", "--source-commit",
	"--source-version",
};

struct ctl_args {
	const char	*path;		/* the configuration */
	const char	*sock;		/* -s, or NULL */
	const char	*cmd;
	const char	*pair;
	const char	*reason;
	const char	*dest;
	const char	*commit;
	const char	*version;
	unsigned int	 opts;		/* OPT_* given */
	int		 unreachable;	/* status: the daemon gave no usable
					 * answer */
};

/*
 * --json: everything a command says becomes one JSON document on
 * stdout; what is said before the end is kept here.
 */
static int	 json;
static int	 json_printed;	/* the command printed its own document */
static cJSON	*said;		/* messages, one per route */
static char	*first_error;	/* the first error, one line */

static void __attribute__((format(printf, 1, 2)))
ctl_error(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "algopromotectl: %s\n", msg);
	if (first_error == NULL)
		first_error = msg;
	else
		free(msg);
}

/* A configuration's errors: as they are on stderr, one line for --json. */
static void
ctl_errors(const char *text)
{
	const char	*line, *end;
	char		*tmp;

	fputs(text, stderr);
	if (first_error != NULL)
		return;
	for (line = text; *line != '\0'; line = *end != '\0' ? end + 1 : end) {
		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		if (end == line)
			continue;
		tmp = first_error;
		first_error = xprintf("%s%s%.*s", tmp != NULL ? tmp : "",
		    tmp != NULL ? "; " : "", (int)(end - line), line);
		free(tmp);
	}
	if (first_error == NULL)
		first_error = xstrdup("invalid configuration");
}

static void __attribute__((format(printf, 1, 2)))
ctl_warn(const char *fmt, ...)
{
	va_list	 ap;

	fputs("algopromotectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* One line of a command's result: printed, or kept for --json. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (json) {
		if (said == NULL)
			said = cJSON_CreateArray();
		cJSON_AddItemToArray(said, cJSON_CreateString(msg));
	} else
		printf("%s\n", msg);
	free(msg);
}

/* Prints o, then frees it. */
static void
print_json(cJSON *o)
{
	char	*text = cJSON_Print(o);

	if (text == NULL)
		fatalx("out of memory");
	printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
	json_printed = 1;
}

/* The end of every command: with --json and no document of its own,
 * {"ok": true, "messages": [...]} or {"ok": false, "error": ...}. */
static int
finish(int rv)
{
	cJSON	*o;

	if (json && !json_printed) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", rv == 0);
		if (rv != 0)
			cJSON_AddStringToObject(o, "error", first_error !=
			    NULL ? first_error : "failed");
		if (said == NULL && rv == 0)
			said = cJSON_CreateArray();
		if (said != NULL)
			cJSON_AddItemToObject(o, "messages", said);
		said = NULL;
		print_json(o);
	}
	cJSON_Delete(said);
	said = NULL;
	free(first_error);
	first_error = NULL;
	return rv;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: algopromotectl [-f FILE] [-s SOCKET] [--json] COMMAND "
	    "[ARGS]\n"
	    "       algopromotectl -V | -h\n"
	    "  -f FILE          configuration (default %s)\n"
	    "  -s SOCKET        the daemon's control socket (default: the "
	    "configuration's)\n"
	    "  --json           print one JSON document: status its envelope,\n"
	    "                   versions an array, the others "
	    "{\"ok\", \"messages\"} or\n"
	    "                   {\"ok\": false, \"error\"}\n"
	    "  -V, --version    print the version and exit\n"
	    "  -h, --help       print this and exit\n"
	    "commands:\n"
	    "  status [--check] one row per route; --check: one line per "
	    "failed, held\n"
	    "                   or poll-failing route, exit 1 if any\n"
	    "  versions PAIR    the version map of PAIR, oldest first\n"
	    "  versions --rebuild PAIR\n"
	    "                   make PAIR's version map again from the "
	    "destinations\n"
	    "                   (the daemon must be stopped; needs the keys)\n"
	    "  trigger PAIR     poll PAIR now (needs the running daemon)\n"
	    "  retry PAIR       clear PAIR's failed state\n"
	    "  approve PAIR     approve PAIR's waiting promotion\n"
	    "  pause PAIR [--reason TEXT] [--destination DEST]\n"
	    "                   promote nothing to PAIR's routes until "
	    "resume\n"
	    "  resume PAIR [--destination DEST]\n"
	    "                   end a pause, a pin, or a hold on a changed "
	    "destination\n"
	    "  promote PAIR --source-commit SHA | --source-version X.Y.Z\n"
	    "          [--destination DEST]\n"
	    "                   promote that source state and hold it until "
	    "resume\n"
	    "                   (needs the running daemon)\n"
	    "  plan PAIR [--destination DEST]\n"
	    "                   what a promotion would do now: the source "
	    "state, the\n"
	    "                   changes (files, bytes) and what holds it; "
	    "changes\n"
	    "                   nothing (needs the running daemon; else "
	    "algopromoted\n"
	    "                   --dry-run)\n"
	    "exit status: 0 done, 1 failed (status --check: a route needs "
	    "attention),\n"
	    "             2 usage, configuration or unknown pair\n",
	    CONFIG_DEFAULT_PATH);
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

static char *
short_commit(const char *c)
{
	return c != NULL ? xstrndup(c, 12) : xstrdup("-");
}

static char *
when(int64_t t)
{
	return t != 0 ? vmap_time_format(t) : xstrdup("-");
}

/* The string member name of o, or NULL. */
static const char *
jstr(const cJSON *o, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o,
	    name));
}

/* ---- arguments ------------------------------------------------------ */

/* Whether route d of p is one the command acts on. */
static int
dest_selected(const struct config_pair *p, size_t d,
    const struct ctl_args *a)
{
	return a->dest == NULL || strcmp(p->dests[d].full, a->dest) == 0;
}

/* --destination names one of the pair's destinations. */
static int
dest_valid(const struct config_pair *p, const char *dest)
{
	char	*list = NULL, *tmp;
	size_t	 d;

	if (dest == NULL)
		return 0;
	for (d = 0; d < p->ndests; d++)
		if (strcmp(p->dests[d].full, dest) == 0)
			return 0;
	for (d = 0; d < p->ndests; d++) {
		tmp = list;
		list = xprintf("%s%s%s", tmp != NULL ? tmp : "",
		    tmp != NULL ? ", " : "", p->dests[d].full);
		free(tmp);
	}
	ctl_error("pair \"%s\" has no destination \"%s\" (its destinations: "
	    "%s)", p->name, dest, list != NULL ? list : "none");
	free(list);
	return -1;
}

/* ---- the daemon ----------------------------------------------------- */

/* The request for a command: its arguments as string members. */
static cJSON *
ctl_request(const struct ctl_args *a)
{
	cJSON	*req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "cmd", a->cmd);
	if (a->pair != NULL)
		cJSON_AddStringToObject(req, "pair", a->pair);
	if (a->reason != NULL)
		cJSON_AddStringToObject(req, "reason", a->reason);
	if (a->dest != NULL)
		cJSON_AddStringToObject(req, "destination", a->dest);
	if (a->commit != NULL)
		cJSON_AddStringToObject(req, "source_commit", a->commit);
	if (a->version != NULL)
		cJSON_AddStringToObject(req, "source_version", a->version);
	return req;
}

/*
 * Asks the daemon listening on path. Returns 1 with *reply (a parsed
 * JSON object whose "ok" is true), 0 when no daemon listens, -1 after
 * saying why.
 */
static int
ask_daemon(const char *path, const struct ctl_args *a, cJSON **reply)
{
	char		*text = NULL, *cause = NULL;
	const char	*err;
	cJSON		*req;
	int		 rv;

	*reply = NULL;
	req = ctl_request(a);
	rv = control_request(path, req, strcmp(a->cmd, "plan") == 0 ?
	    CTL_PLAN_TIMEOUT_MS : CTL_TIMEOUT_MS, &text, &cause);
	cJSON_Delete(req);
	if (rv == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			free(cause);
			return 0;
		}
		ctl_error("%s", cause);
		free(cause);
		return -1;
	}
	*reply = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(*reply) ||
	    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*reply, "ok"))) {
		err = jstr(*reply, "error");
		ctl_error("%s", err != NULL ? err :
		    "the daemon gave no usable answer");
		cJSON_Delete(*reply);
		*reply = NULL;
		return -1;
	}
	return 1;
}

/* A command's reply: its messages, one per line, or with --json the
 * reply itself. */
static int
print_reply(const struct ctl_args *a, cJSON *reply)
{
	const cJSON	*m;

	if (json) {
		print_json(cJSON_Duplicate(reply, 1));
		return 0;
	}
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(reply,
	    "messages"))
		if (cJSON_IsString(m))
			printf("%s\n", m->valuestring);
	return 0;
}

/* plan: each destination's report as the dry run wrote it; 1 when one
 * could not be made. */
static int
plan_reply(const struct ctl_args *a, cJSON *reply)
{
	const cJSON	*p;
	const char	*report, *error;
	int		 rv = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(reply, "plans"))
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ok")))
			rv = 1;
	if (json) {
		print_json(cJSON_Duplicate(reply, 1));
		return rv;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(reply,
	    "plans")) {
		report = jstr(p, "report");
		error = jstr(p, "error");
		if (report != NULL)
			fputs(report, stdout);
		if (error != NULL)
			ctl_error("%s->%s: no plan: %s", a->pair,
			    dash(jstr(p, "destination")), error);
	}
	return rv;
}

/* ---- status --------------------------------------------------------- */

/* Loads a route's state; a corrupt file is reported, not moved: the
 * control tool only reads. */
static int
load_route(const struct config *conf, const struct config_pair *p,
    const struct config_algo *d, struct state_route *st, char **dir)
{
	char	*cause = NULL;

	*dir = state_route_dir(conf->state_dir, p->name, d->full);
	if (state_route_peek(st, *dir, &cause) == -1) {
		ctl_error("%s", cause);
		free(cause);
		return -1;
	}
	state_set(&st->pair, p->name);
	state_set(&st->source, p->source.full);
	state_set(&st->destination, d->full);
	return 0;
}

/* What holds a route, in words; hold is its status "hold", or, from a
 * daemon that shows none, the state's "drift". */
static char *
hold_why(const cJSON *hold, const char *kind)
{
	const char	*reason = jstr(hold, "reason"), *author, *subject;
	const char	*commit;

	if (strcmp(kind, "paused") == 0)
		return xprintf("paused by operator%s%s",
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	if (strcmp(kind, "pinned") == 0) {
		commit = jstr(hold, "source_commit");
		return xprintf("pinned to %s by operator", commit != NULL ?
		    commit : dash(jstr(hold, "source_version")));
	}
	if (strcmp(kind, "drift") == 0) {
		author = jstr(hold, "author");
		subject = jstr(hold, "subject");
		commit = jstr(hold, "dest_commit");
		return xprintf("held: destination changed outside algopromoted "
		    "by %s: %s (%.12s)", author != NULL ? author :
		    "an unknown author", subject != NULL ? subject : "",
		    commit != NULL ? commit : "?");
	}
	return xprintf("held (%s)%s%s", kind, reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
}

/* The hold of a route's status object, or NULL; *kind its kind. */
static const cJSON *
route_hold(const cJSON *o, const char **kind)
{
	const cJSON	*hold = cJSON_GetObjectItemCaseSensitive(o, "hold");
	const char	*phase = jstr(o, "phase");

	*kind = NULL;
	if (cJSON_IsObject(hold)) {
		*kind = jstr(hold, "kind");
		if (*kind == NULL)
			*kind = "unknown";
		return hold;
	}
	if (phase != NULL && strcmp(phase, "held") == 0) {
		*kind = "drift";
		return cJSON_GetObjectItemCaseSensitive(o, "drift");
	}
	return NULL;
}

/* Why a route needs an operator, "; "-separated, or NULL when it does
 * not: failed, held, or its polls failing. */
static char *
route_why(const cJSON *o)
{
	const cJSON	*hold;
	const char	*phase = jstr(o, "phase"), *kind, *poll;
	char		*why = NULL, *part, *tmp;
	int		 i;

	poll = jstr(cJSON_GetObjectItemCaseSensitive(o, "live"),
	    "poll_error");
	hold = route_hold(o, &kind);
	for (i = 0; i < 3; i++) {
		part = NULL;
		if (i == 0 && phase != NULL && strcmp(phase, "failed") == 0)
			part = xprintf("failed: %s", jstr(o, "error") != NULL ?
			    jstr(o, "error") : "no error recorded");
		else if (i == 1 && kind != NULL)
			part = hold_why(hold, kind);
		else if (i == 2 && poll != NULL)
			part = xprintf("poll failing: %s", poll);
		if (part == NULL)
			continue;
		tmp = why;
		why = xprintf("%s%s%s", tmp != NULL ? tmp : "",
		    tmp != NULL ? "; " : "", part);
		free(tmp);
		free(part);
	}
	return why;
}

static void
print_status_header(void)
{
	printf("%-16s %-28s %-10s %-12s %-8s %-8s %-20s %-20s %s\n", "PAIR",
	    "DESTINATION", "PHASE", "SOURCE", "SRC-VER", "DST-VER", "WHEN",
	    "POLLED", "NOTE");
}

/* "17 B", "12.0 KiB", "1.2 GiB". */
static char *
human_bytes(double n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	size_t			 u = 0;

	if (n < 1024)
		return xprintf("%.0f B", n);
	for (n /= 1024; n >= 1024 && u + 1 < 4; u++)
		n /= 1024;
	return xprintf("%.1f %s", n, units[u]);
}

/* A job copying hosted data: "data 3/12 files, 1.2 GiB of 2.0 GiB". */
static char *
data_progress(const cJSON *live)
{
	const cJSON	*d = cJSON_GetObjectItemCaseSensitive(live, "data");
	const cJSON	*fd, *ft, *bd, *bt;
	char		*a, *b, *s;

	fd = cJSON_GetObjectItemCaseSensitive(d, "files_done");
	ft = cJSON_GetObjectItemCaseSensitive(d, "files_total");
	bd = cJSON_GetObjectItemCaseSensitive(d, "bytes_done");
	bt = cJSON_GetObjectItemCaseSensitive(d, "bytes_total");
	if (!cJSON_IsNumber(fd) || !cJSON_IsNumber(ft) ||
	    !cJSON_IsNumber(bd) || !cJSON_IsNumber(bt))
		return NULL;
	a = human_bytes(bd->valuedouble);
	b = human_bytes(bt->valuedouble);
	s = xprintf("data %.0f/%.0f files, %s of %s", fd->valuedouble,
	    ft->valuedouble, a, b);
	free(a);
	free(b);
	return s;
}

/* One row of the table, from a route's status object. */
static int
print_status_row(const cJSON *o)
{
	struct state_route	 st;
	const cJSON		*live, *hold;
	const char		*phase, *kind, *poll;
	char			*sc, *t, *note = NULL, *cause = NULL;

	if (state_route_from_json(&st, o, &cause) == -1) {
		ctl_error("a route the daemon shows is not understood: %s",
		    cause);
		free(cause);
		return -1;
	}
	live = cJSON_GetObjectItemCaseSensitive(o, "live");
	poll = jstr(live, "poll_error");
	hold = route_hold(o, &kind);
	phase = state_phase_name(st.phase);
	/* A hold shows instead of a phase at rest; a job's progress and a
	 * failure are news of their own. */
	if (kind != NULL && (st.phase == STATE_IDLE ||
	    st.phase == STATE_APPROVAL || st.phase == STATE_HELD)) {
		phase = strcmp(kind, "drift") == 0 ? "held" : kind;
		note = hold_why(hold, kind);
	} else if (st.phase == STATE_DATA &&
	    (note = data_progress(live)) != NULL)
		;
	else if (poll != NULL)
		/* Polls failing now is the newest news; the last
		 * promotion's error stays in --json and state.json. */
		note = xprintf("poll: %s", poll);
	sc = short_commit(st.last_source_commit);
	t = when(st.last_time);
	printf("%-16s %-28s %-10s %-12s %-8s %-8s %-20s %-20s %s\n", st.pair,
	    st.destination, phase, sc, dash(st.last_source_version),
	    dash(st.last_dest_version), t, dash(jstr(live, "last_poll")),
	    note != NULL ? note : dash(st.error));
	free(note);
	free(sc);
	free(t);
	state_route_clear(&st);
	return 0;
}

/*
 * Shows routes (taken): the envelope with --json, else the table, or
 * with --check the routes that need an operator. Returns the exit
 * status.
 */
static int
status_show(const struct ctl_args *a, cJSON *routes, const char *daemon)
{
	const cJSON	*o;
	cJSON		*env;
	char		*why;
	int		 n = 0, bad = 0, rv = 0;

	cJSON_ArrayForEach(o, routes) {
		n++;
		if ((a->opts & OPT_CHECK) && (why = route_why(o)) != NULL) {
			bad++;
			if (!json)
				printf("%s %s: %s\n", dash(jstr(o, "pair")),
				    dash(jstr(o, "destination")), why);
			free(why);
		}
	}
	if (json) {
		env = cJSON_CreateObject();
		cJSON_AddStringToObject(env, "daemon", daemon);
		cJSON_AddItemToObject(env, "routes", routes);
		print_json(env);
	} else if (!(a->opts & OPT_CHECK)) {
		print_status_header();
		cJSON_ArrayForEach(o, routes)
			if (print_status_row(o) == -1)
				rv = 1;
		cJSON_Delete(routes);
	} else {
		if (bad == 0)
			printf("%d route%s OK\n", n, n == 1 ? "" : "s");
		cJSON_Delete(routes);
	}
	return bad > 0 ? 1 : rv;
}

/* status from the daemon: its routes as /status serves them. */
static int
status_reply(const struct ctl_args *a, cJSON *reply)
{
	cJSON	*routes;

	routes = cJSON_DetachItemFromObjectCaseSensitive(reply, "routes");
	if (!cJSON_IsArray(routes)) {
		cJSON_Delete(routes);
		ctl_error("the daemon's status answer has no routes");
		return -1;
	}
	return status_show(a, routes, "running");
}

/* A route's status from its files: what the daemon would show, with
 * "live" null. */
static cJSON *
status_route_files(const struct config *conf, const struct config_pair *p,
    const struct config_algo *d)
{
	struct state_route	 st;
	struct hold		 h;
	cJSON			*o;
	char			*dir, *cause = NULL;

	if (load_route(conf, p, d, &st, &dir) == -1) {
		free(dir);
		return NULL;
	}
	/* An unreadable operator.json shows as the pause it means. */
	if (hold_load(&h, dir, &cause) == -1)
		free(cause);
	o = state_route_to_json(&st);
	cJSON_AddItemToObject(o, "hold", hold_status_json(&h, &st));
	cJSON_AddNullToObject(o, "live");
	hold_clear(&h);
	state_route_clear(&st);
	free(dir);
	return o;
}

static int
cmd_status(const struct config *conf, const struct config_pair *unused,
    const struct ctl_args *a)
{
	cJSON	*routes, *o;
	size_t	 i, d;
	int	 rv = 0, shown;

	if (a->unreachable)
		ctl_warn("showing the state files");
	routes = cJSON_CreateArray();
	for (i = 0; i < conf->npairs; i++) {
		const struct config_pair *p = &conf->pairs[i];

		for (d = 0; d < p->ndests; d++) {
			if ((o = status_route_files(conf, p, &p->dests[d])) ==
			    NULL)
				rv = 1;
			else
				cJSON_AddItemToArray(routes, o);
		}
	}
	shown = status_show(a, routes, a->unreachable ? "unreachable" :
	    "stopped");
	/* A daemon that holds its socket without answering needs an
	 * operator too. */
	if ((a->opts & OPT_CHECK) && a->unreachable)
		rv = 1;
	return rv != 0 ? rv : shown;
}

/* ---- versions ------------------------------------------------------- */

static int
cmd_versions(const struct config *conf, const struct config_pair *p,
    const struct ctl_args *a)
{
	struct vmap	 m;
	cJSON		*arr = NULL, *o;
	char		*dir, *path, *cause = NULL, *sc, *dc, *t, *line;
	size_t		 d, i;
	int		 rv = 0;

	if (json)
		arr = cJSON_CreateArray();
	else
		printf("%-20s %-12s %-8s %-28s %-8s %-12s\n", "WHEN", "SOURCE",
		    "SRC-VER", "DESTINATION", "DST-VER", "DST-COMMIT");
	for (d = 0; d < p->ndests; d++) {
		dir = state_route_dir(conf->state_dir, p->name,
		    p->dests[d].full);
		path = xprintf("%s/versions.jsonl", dir);
		if (vmap_load(&m, path, &cause) == -1) {
			ctl_error("%s", cause);
			free(cause);
			cause = NULL;
			rv = 1;
		}
		if (m.skipped > 0)
			ctl_warn("%s: %zu unreadable lines skipped", path,
			    m.skipped);
		for (i = 0; i < m.n; i++) {
			const struct vmap_entry *e = &m.entries[i];

			if (json) {
				line = vmap_entry_json(e);
				o = cJSON_Parse(line);
				free(line);
				cJSON_AddItemToArray(arr, o);
				continue;
			}
			sc = short_commit(e->source_commit);
			dc = short_commit(e->dest_commit);
			t = when(e->time);
			printf("%-20s %-12s %-8s %-28s %-8s %-12s\n", t, sc,
			    dash(e->source_version), e->destination,
			    dash(e->dest_version), dc);
			free(sc);
			free(dc);
			free(t);
		}
		vmap_clear(&m);
		free(path);
		free(dir);
	}
	if (json)
		print_json(arr);
	return rv;
}

/* ---- changes without the daemon ------------------------------------- */

/*
 * retry, approve, pause and resume change route state. With no daemon
 * running they edit the files under the state_dir lock; a running
 * daemon holds that lock and owns the state. Returns the lock's
 * descriptor, -2 when nothing ever ran (no lock file and no create), or
 * -1 after saying why.
 */
static int
lock_state(const struct config *conf, int flags)
{
	struct stat	 sb;
	struct passwd	*pw;
	char		*cause = NULL;
	int		 fd, have;

	/* The state belongs to the daemon's user: root edits it on that
	 * user's behalf; anyone else is sent to that user. */
	have = stat(conf->state_dir, &sb) == 0;
	if (have && sb.st_uid != geteuid()) {
		if (geteuid() != 0) {
			pw = getpwuid(sb.st_uid);
			ctl_error("%s belongs to %s (uid %lu); run this as "
			    "that user or as root", conf->state_dir,
			    pw != NULL ? pw->pw_name : "?",
			    (unsigned long)sb.st_uid);
			return -1;
		}
		atomicfile_owner(sb.st_uid, sb.st_gid);
	}
	/* Root would make a state_dir the daemon's user cannot use. */
	if (!have && (flags & STATE_LOCK_CREATE) && geteuid() == 0) {
		ctl_error("%s does not exist: algopromoted never ran; create it "
		    "for the user algopromoted runs as, or run this as that "
		    "user", conf->state_dir);
		return -1;
	}
	switch (state_lock(conf->state_dir, flags, &fd, &cause)) {
	case 0:
		if (have && sb.st_uid != geteuid() &&
		    fchown(fd, sb.st_uid, sb.st_gid) == -1) {
			ctl_error("chown %s/lock: %s", conf->state_dir,
			    strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	case STATE_LOCK_MISSING:
		return -2;	/* nothing ever ran: no state to change */
	case STATE_LOCK_HELD:
		ctl_error("algopromoted holds %s but does not answer on %s",
		    conf->state_dir, conf->control_socket);
		return -1;
	default:
		ctl_error("%s", cause);
		free(cause);
		return -1;
	}
}

/*
 * versions --rebuild: the daemon stopped (its lock free), each route's
 * map is made again from its destination, with the keys of a full load
 * of the configuration.
 */
static int
cmd_rebuild(const char *path, const char *name)
{
	struct promote_opts	 opts = { 0 };
	struct config		*conf;
	struct config_pair	*p;
	char			*errors = NULL, *report, *cause = NULL;
	size_t			 d;
	int			 fd, rv = 0;

	if (config_load(&conf, path, 0, &errors) == -1) {
		ctl_errors(errors);
		free(errors);
		return 2;
	}
	free(errors);
	if ((p = config_pair_find(conf, name)) == NULL) {
		ctl_error("no pair \"%s\" in %s", name, path);
		config_free(conf);
		return 2;
	}
	if ((fd = lock_state(conf, STATE_LOCK_CREATE)) < 0) {
		config_free(conf);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    gitops_init() == -1)
		fatalx("cannot initialise libcurl or libgit2");
	opts.report = stdout;
	for (d = 0; d < p->ndests; d++) {
		if (promote_rebuild(conf, p, d, &opts, &report, &cause) == -1) {
			ctl_error("%s", cause);
			free(cause);
			cause = NULL;
			rv = 1;
			continue;
		}
		say("%s", report);
		free(report);
	}
	gitops_shutdown();
	curl_global_cleanup();
	close(fd);
	config_free(conf);
	return rv;
}

static int
cmd_change(const struct config *conf, const struct config_pair *p,
    int approve)
{
	struct state_route	 st;
	char			*dir, *cause = NULL, *msg;
	size_t			 d;
	int			 fd, op, rv = 0;

	if ((fd = lock_state(conf, 0)) == -1)
		return 1;
	for (d = 0; fd != -2 && d < p->ndests; d++) {
		if (load_route(conf, p, &p->dests[d], &st, &dir) == -1) {
			free(dir);
			rv = 1;
			continue;
		}
		op = state_route_operate(&st, approve, &msg);
		say("%s->%s: %s", p->name, p->dests[d].full, msg);
		free(msg);
		if (op != 0 && state_route_save(&st, dir, &cause) == -1) {
			ctl_error("%s", cause);
			free(cause);
			cause = NULL;
			rv = 1;
		}
		state_route_clear(&st);
		free(dir);
	}
	if (fd >= 0)
		close(fd);
	if (fd == -2)
		say("%s: nothing to %s", p->name, approve ? "approve" :
		    "retry");
	return rv;
}

static int
cmd_retry(const struct config *conf, const struct config_pair *p,
    const struct ctl_args *a)
{
	return cmd_change(conf, p, 0);
}

static int
cmd_approve(const struct config *conf, const struct config_pair *p,
    const struct ctl_args *a)
{
	return cmd_change(conf, p, 1);
}

/* pause: operator.json says paused, with the reason, in each route. */
static int
cmd_pause(const struct config *conf, const struct config_pair *p,
    const struct ctl_args *a)
{
	struct hold	 h, old;
	char		*dir, *cause = NULL, *was;
	size_t		 d;
	int		 fd, rv = 0;

	if ((fd = lock_state(conf, STATE_LOCK_CREATE)) < 0)
		return 1;
	for (d = 0; d < p->ndests; d++) {
		if (!dest_selected(p, d, a))
			continue;
		dir = state_route_dir(conf->state_dir, p->name,
		    p->dests[d].full);
		/* A pin it replaces is said; an unreadable file is what
		 * pause is for. */
		if (hold_load(&old, dir, &cause) == -1) {
			free(cause);
			cause = NULL;
		}
		was = NULL;
		if (old.kind == HOLD_PINNED)
			was = xprintf(" (instead of the pin to %s)",
			    old.source_commit != NULL ? old.source_commit :
			    old.source_version);
		hold_clear(&old);
		memset(&h, 0, sizeof h);
		h.kind = HOLD_PAUSED;
		h.reason = a->reason != NULL ? xstrdup(a->reason) : NULL;
		h.since = (int64_t)time(NULL);
		if (hold_save(&h, dir, &cause) == -1) {
			ctl_error("%s->%s: %s", p->name, p->dests[d].full,
			    cause);
			free(cause);
			cause = NULL;
			rv = 1;
		} else
			say("%s->%s: paused%s%s%s", p->name, p->dests[d].full,
			    a->reason != NULL ? ": " : "", a->reason != NULL ?
			    a->reason : "", was != NULL ? was : "");
		free(was);
		hold_clear(&h);
		free(dir);
	}
	close(fd);
	return rv;
}

/* resume one route: the operator's hold removed, and a drift the job
 * held on accepted. Returns 0, or -1 after saying why. */
static int
resume_route(const struct config *conf, const struct config_pair *p,
    size_t d)
{
	struct state_route	 st;
	struct hold		 h, none = { 0 };
	char			*dir = NULL, *cause = NULL, *msg, *note = NULL;
	char			*tmp;
	int			 rv = 0;

	dir = state_route_dir(conf->state_dir, p->name, p->dests[d].full);
	/* An unreadable file holds the route too: removing it resumes. */
	if (hold_load(&h, dir, &cause) == -1) {
		free(cause);
		cause = NULL;
	}
	if (h.kind != HOLD_NONE) {
		if (hold_save(&none, dir, &cause) == -1) {
			ctl_error("%s->%s: %s", p->name, p->dests[d].full,
			    cause);
			free(cause);
			hold_clear(&h);
			free(dir);
			return -1;
		}
		note = xprintf("resumed%s", h.kind == HOLD_PINNED ?
		    " (the pin is dropped)" : "");
	}
	hold_clear(&h);
	free(dir);
	if (load_route(conf, p, &p->dests[d], &st, &dir) == -1)
		rv = -1;
	else if (st.phase == STATE_HELD) {
		state_route_accept_drift(&st, &msg);
		if (state_route_save(&st, dir, &cause) == -1) {
			ctl_error("%s", cause);
			free(cause);
			rv = -1;
		} else {
			tmp = note;
			note = xprintf("%s%s%s", tmp != NULL ? tmp : "",
			    tmp != NULL ? "; " : "", msg);
			free(tmp);
		}
		free(msg);
	}
	if (rv == 0 || note != NULL)
		say("%s->%s: %s", p->name, p->dests[d].full, note != NULL ?
		    note : "not held");
	if (rv == 0)
		state_route_clear(&st);
	free(note);
	free(dir);
	return rv;
}

static int
cmd_resume(const struct config *conf, const struct config_pair *p,
    const struct ctl_args *a)
{
	size_t	 d;
	int	 fd, rv = 0;

	if ((fd = lock_state(conf, 0)) == -1)
		return 1;
	if (fd == -2) {
		say("%s: nothing to resume", p->name);
		return 0;
	}
	for (d = 0; d < p->ndests; d++)
		if (dest_selected(p, d, a) && resume_route(conf, p, d) == -1)
			rv = 1;
	close(fd);
	return rv;
}

/* ---- dispatch ------------------------------------------------------- */

#define CMD_PAIR	0x1	/* takes one PAIR */
#define CMD_ASK		0x2	/* asks the daemon first */
#define CMD_FALLBACK	0x4	/* the files when the daemon gives no
				 * usable answer */

static const struct ctl_cmd {
	const char	*name;
	int		 flags;
	unsigned int	 opts;		/* OPT_* it takes */
	/* The daemon's answer; -1: none usable. */
	int		(*reply)(const struct ctl_args *, cJSON *);
	/* Without the daemon; NULL: it needs the daemon. */
	int		(*offline)(const struct config *,
			    const struct config_pair *,
			    const struct ctl_args *);
} ctl_cmds[] = {
	{ "status", CMD_ASK | CMD_FALLBACK, OPT_CHECK, status_reply,
	    cmd_status },
	{ "versions", CMD_PAIR, OPT_REBUILD, NULL, cmd_versions },
	{ "trigger", CMD_PAIR | CMD_ASK, 0, print_reply, NULL },
	{ "retry", CMD_PAIR | CMD_ASK, 0, print_reply, cmd_retry },
	{ "approve", CMD_PAIR | CMD_ASK, 0, print_reply, cmd_approve },
	{ "pause", CMD_PAIR | CMD_ASK, OPT_REASON | OPT_DEST, print_reply,
	    cmd_pause },
	{ "resume", CMD_PAIR | CMD_ASK, OPT_DEST, print_reply, cmd_resume },
	{ "promote", CMD_PAIR | CMD_ASK, OPT_DEST | OPT_COMMIT | OPT_VERSION,
	    print_reply, NULL },
	{ "plan", CMD_PAIR | CMD_ASK, OPT_DEST, plan_reply, NULL },
};

/*
 * Asks the daemon on path for c. Returns 1 with *rv set when it
 * answered (or failed and c has no fallback), 0 when no daemon listens
 * or c falls back to the files.
 */
static int
run_daemon(const struct ctl_cmd *c, struct ctl_args *a, const char *path,
    int *rv)
{
	cJSON	*reply;

	switch (ask_daemon(path, a, &reply)) {
	case 0:
		return 0;
	case 1:
		*rv = c->reply(a, reply);
		cJSON_Delete(reply);
		if (*rv != -1)
			return 1;
		break;
	}
	if (!(c->flags & CMD_FALLBACK)) {
		*rv = 1;
		return 1;
	}
	a->unreachable = 1;
	return 0;
}

/* Checks what the command line gave c; 0, or -1 after saying why. */
static int
args_valid(const struct ctl_cmd *c, const struct ctl_args *a, int nargs)
{
	char	*cause = NULL;
	size_t	 i;

	if (nargs != ((c->flags & CMD_PAIR) ? 1 : 0)) {
		ctl_error("%s %s", c->name, (c->flags & CMD_PAIR) ?
		    "needs one PAIR" : "takes no arguments");
		return -1;
	}
	for (i = 0; i < sizeof opt_names / sizeof opt_names[0]; i++)
		if ((a->opts & (1u << i)) && !(c->opts & (1u << i))) {
			ctl_error("%s does not go with %s", opt_names[i],
			    c->name);
			return -1;
		}
	if (a->reason != NULL && hold_reason_valid(a->reason, &cause) == -1) {
		ctl_error("--reason %s", cause);
		free(cause);
		return -1;
	}
	if (a->dest != NULL && *a->dest == '\0') {
		ctl_error("--destination is empty");
		return -1;
	}
	if (strcmp(c->name, "promote") == 0 &&
	    hold_pin_valid(a->commit, a->version, &cause) == -1) {
		ctl_error("promote: %s (--source-commit SHA or "
		    "--source-version X.Y.Z)", cause);
		free(cause);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rebuild", no_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'R' },
		{ "destination", required_argument, NULL, 'D' },
		{ "source-commit", required_argument, NULL, 'C' },
		{ "source-version", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_args		 a = { .path = CONFIG_DEFAULT_PATH };
	const struct ctl_cmd	*c = NULL;
	struct config		*conf;
	struct config_pair	*pair = NULL;
	const char		*sock;
	char			*errors = NULL, *bad = NULL;
	size_t			 i;
	int			 ch, rv = 0;

	log_init(LOG_LEVEL_WARN);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:s:jhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			a.path = optarg;
			break;
		case 's':
			a.sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'r':
			a.opts |= OPT_REBUILD;
			break;
		case 'c':
			a.opts |= OPT_CHECK;
			break;
		case 'R':
			a.opts |= OPT_REASON;
			a.reason = optarg;
			break;
		case 'D':
			a.opts |= OPT_DEST;
			a.dest = optarg;
			break;
		case 'C':
			a.opts |= OPT_COMMIT;
			a.commit = optarg;
			break;
		case 'S':
			a.opts |= OPT_VERSION;
			a.version = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("algopromotectl %s\n", AP_VERSION);
			return 0;
		case ':':
			if (bad == NULL)
				bad = xprintf("%s needs an argument",
				    argv[optind - 1]);
			break;
		default:
			if (bad == NULL)
				bad = optopt != 0 ? xprintf("unknown option "
				    "-%c", optopt) : xprintf("unknown option "
				    "%s", argv[optind - 1]);
			break;
		}
	}
	if (bad != NULL) {
		ctl_error("%s (see algopromotectl -h)", bad);
		free(bad);
		return finish(2);
	}
	if (optind >= argc) {
		if (json)
			ctl_error("no command (see algopromotectl -h)");
		else
			usage(stderr);
		return finish(2);
	}
	a.cmd = argv[optind++];
	for (i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++)
		if (strcmp(ctl_cmds[i].name, a.cmd) == 0)
			c = &ctl_cmds[i];
	if (c == NULL) {
		ctl_error("unknown command \"%s\" (see algopromotectl -h)",
		    a.cmd);
		return finish(2);
	}
	if (args_valid(c, &a, argc - optind) == -1)
		return finish(2);
	if (c->flags & CMD_PAIR)
		a.pair = argv[optind];
	if (a.opts & OPT_REBUILD)
		return finish(cmd_rebuild(a.path, a.pair));
	/* With -s the daemon answers without the configuration, which may
	 * be broken on disk while the daemon runs the last good one. */
	if (a.sock != NULL && (c->flags & CMD_ASK) &&
	    run_daemon(c, &a, a.sock, &rv))
		return finish(rv);
	/* The control tool needs the layout, not the keys. */
	if (config_load(&conf, a.path, CONFIG_LOAD_SKIP_KEYS, &errors) == -1) {
		ctl_errors(errors);
		free(errors);
		return finish(2);
	}
	free(errors);
	rv = 0;
	if ((c->flags & CMD_PAIR) &&
	    (pair = config_pair_find(conf, a.pair)) == NULL) {
		ctl_error("no pair \"%s\" in %s", a.pair, a.path);
		rv = 2;
	} else if (pair != NULL && dest_valid(pair, a.dest) == -1)
		rv = 2;
	if (rv != 0) {
		config_free(conf);
		return finish(rv);
	}
	sock = a.sock != NULL ? a.sock : conf->control_socket;
	if (a.sock == NULL && (c->flags & CMD_ASK) &&
	    run_daemon(c, &a, sock, &rv)) {
		config_free(conf);
		return finish(rv);
	}
	if (c->offline != NULL)
		rv = c->offline(conf, pair, &a);
	else {
		ctl_error("algopromoted is not running (nothing listens on "
		    "%s); %s needs it%s", sock, c->name, strcmp(c->name,
		    "plan") == 0 ? " (algopromoted --dry-run plans without "
		    "it)" : "");
		rv = 1;
	}
	config_free(conf);
	return finish(rv);
}
