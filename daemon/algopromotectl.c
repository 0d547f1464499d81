/* algopromotectl.c: the operator's view of algopromoted: route status,
 * version maps, retry and approve, straight from the state files. */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
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
#include "log.h"
#include "promote.h"
#include "state.h"
#include "vmap.h"
#include "xmalloc.h"

static int	 json;

#define CTL_TIMEOUT_MS	10000

/*
 * Asks the running daemon. Returns 1 with *reply (a parsed JSON object
 * whose "ok" is true), 0 when no daemon listens, -1 after printing why.
 */
static int
ask_socket(const char *path, const char *cmd, const char *pair,
    cJSON **reply)
{
	char		*text = NULL, *cause = NULL;
	const cJSON	*ok, *err;
	cJSON		*req;
	int		 rv;

	*reply = NULL;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (pair != NULL)
		cJSON_AddStringToObject(req, "pair", pair);
	rv = control_request(path, req, CTL_TIMEOUT_MS, &text, &cause);
	cJSON_Delete(req);
	if (rv == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			free(cause);
			return 0;
		}
		fprintf(stderr, "algopromotectl: %s\n", cause);
		free(cause);
		return -1;
	}
	*reply = cJSON_Parse(text);
	free(text);
	ok = cJSON_GetObjectItemCaseSensitive(*reply, "ok");
	if (!cJSON_IsTrue(ok)) {
		err = cJSON_GetObjectItemCaseSensitive(*reply, "error");
		fprintf(stderr, "algopromotectl: %s\n", cJSON_IsString(err) ?
		    err->valuestring : "the daemon gave no usable answer");
		cJSON_Delete(*reply);
		*reply = NULL;
		return -1;
	}
	return 1;
}

static int
ask_daemon(const struct config *conf, const char *cmd, const char *pair,
    cJSON **reply)
{
	return ask_socket(conf->control_socket, cmd, pair, reply);
}

static void
print_messages(const cJSON *reply)
{
	const cJSON	*m;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(reply,
	    "messages"))
		if (cJSON_IsString(m))
			printf("%s\n", m->valuestring);
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: algopromotectl [-f FILE] [-s SOCKET] [--json] COMMAND "
	    "[PAIR]\n"
	    "  -f FILE          configuration (default %s)\n"
	    "  -s SOCKET        the daemon's control socket (default: the "
	    "configuration's)\n"
	    "  --json           print data as JSON\n"
	    "commands:\n"
	    "  status           one row per route\n"
	    "  versions PAIR    the version map of PAIR, oldest first\n"
	    "  versions --rebuild PAIR\n"
	    "                   make PAIR's version map again from the "
	    "destinations\n"
	    "                   (the daemon must be stopped; needs the keys)\n"
	    "  trigger PAIR     poll PAIR now (needs the running daemon)\n"
	    "  retry PAIR       clear PAIR's failed state\n"
	    "  approve PAIR     approve PAIR's waiting promotion\n",
	    CONFIG_DEFAULT_PATH);
	exit(status);
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

/* Loads a route's state; a corrupt file is reported, not moved: the
 * control tool only reads. */
static int
load_route(const struct config *conf, const struct config_pair *p,
    const struct config_algo *d, struct state_route *st, char **dir)
{
	char	*cause = NULL;

	*dir = state_route_dir(conf->state_dir, p->name, d->full);
	if (state_route_peek(st, *dir, &cause) == -1) {
		fprintf(stderr, "algopromotectl: %s\n", cause);
		free(cause);
		return -1;
	}
	state_set(&st->pair, p->name);
	state_set(&st->source, p->source.full);
	state_set(&st->destination, d->full);
	return 0;
}

static void
print_status_row(const struct state_route *st, const char *polled,
    const char *poll_error)
{
	char	*sc, *t, *err = NULL;

	sc = short_commit(st->last_source_commit);
	t = when(st->last_time);
	/* Polls failing now is the newest news; the last promotion's error
	 * stays in --json and state.json. */
	if (poll_error != NULL)
		err = xprintf("poll: %s", poll_error);
	printf("%-16s %-28s %-10s %-12s %-8s %-8s %-20s %-20s %s\n", st->pair,
	    st->destination, state_phase_name(st->phase),
	    sc, dash(st->last_source_version), dash(st->last_dest_version), t,
	    dash(polled), err != NULL ? err : dash(st->error));
	free(err);
	free(sc);
	free(t);
}

static void
print_status_header(void)
{
	printf("%-16s %-28s %-10s %-12s %-8s %-8s %-20s %-20s %s\n", "PAIR",
	    "DESTINATION", "PHASE", "SOURCE", "SRC-VER", "DST-VER", "WHEN",
	    "POLLED", "ERROR");
}

/* The daemon's live view: its routes array, as /status serves it. */
static int
status_live(const cJSON *reply)
{
	const cJSON		*routes, *o, *live;
	struct state_route	 st;
	char			*cause = NULL, *text;

	routes = cJSON_GetObjectItemCaseSensitive(reply, "routes");
	if (json) {
		if ((text = cJSON_Print(routes)) == NULL)
			fatalx("out of memory");
		printf("%s\n", text);
		free(text);
		return 0;
	}
	print_status_header();
	cJSON_ArrayForEach(o, routes) {
		if (state_route_from_json(&st, o, &cause) == -1) {
			fprintf(stderr, "algopromotectl: bad route from the "
			    "daemon: %s\n", cause);
			free(cause);
			return 1;
		}
		live = cJSON_GetObjectItemCaseSensitive(o, "live");
		print_status_row(&st, cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(live, "last_poll")),
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(live,
		    "poll_error")));
		state_route_clear(&st);
	}
	return 0;
}

static int
cmd_status(const struct config *conf)
{
	struct state_route	 st;
	cJSON			*arr = NULL, *reply;
	char			*dir;
	size_t			 i, d;
	int			 rv = 0;

	switch (ask_daemon(conf, "status", NULL, &reply)) {
	case 1:
		rv = status_live(reply);
		cJSON_Delete(reply);
		return rv;
	case -1:
		fprintf(stderr, "algopromotectl: showing the state files\n");
		break;
	}
	if (json)
		arr = cJSON_CreateArray();
	else
		print_status_header();
	for (i = 0; i < conf->npairs; i++) {
		const struct config_pair *p = &conf->pairs[i];

		for (d = 0; d < p->ndests; d++) {
			if (load_route(conf, p, &p->dests[d], &st, &dir) ==
			    -1) {
				rv = 1;
				free(dir);
				continue;
			}
			if (json)
				cJSON_AddItemToArray(arr,
				    state_route_to_json(&st));
			else
				print_status_row(&st, NULL, NULL);
			state_route_clear(&st);
			free(dir);
		}
	}
	if (json)
		print_json(arr);
	return rv;
}

static int
cmd_versions(const struct config *conf, const struct config_pair *p)
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
			fprintf(stderr, "algopromotectl: %s\n", cause);
			free(cause);
			rv = 1;
		}
		if (m.skipped > 0)
			fprintf(stderr, "algopromotectl: %s: %zu unreadable "
			    "lines skipped\n", path, m.skipped);
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

/*
 * retry and approve change route state. With no daemon running they
 * edit the files under the state_dir lock; a running daemon holds that
 * lock and owns the state.
 */
static int
lock_state(const struct config *conf, int flags)
{
	struct stat	 sb;
	struct passwd	*pw;
	char		*cause = NULL;
	int		 fd;

	/* The state belongs to the daemon's user: root edits it on that
	 * user's behalf; anyone else is sent to that user. */
	if (stat(conf->state_dir, &sb) == 0 && sb.st_uid != geteuid()) {
		if (geteuid() != 0) {
			pw = getpwuid(sb.st_uid);
			fprintf(stderr, "algopromotectl: %s belongs to %s "
			    "(uid %lu); run this as that user or as root\n",
			    conf->state_dir, pw != NULL ? pw->pw_name : "?",
			    (unsigned long)sb.st_uid);
			return -1;
		}
		atomicfile_owner(sb.st_uid, sb.st_gid);
	}
	switch (state_lock(conf->state_dir, flags, &fd, &cause)) {
	case 0:
		return fd;
	case STATE_LOCK_MISSING:
		return -2;	/* nothing ever ran: no state to change */
	case STATE_LOCK_HELD:
		fprintf(stderr, "algopromotectl: algopromoted holds %s but "
		    "does not answer on %s\n", conf->state_dir,
		    conf->control_socket);
		return -1;
	default:
		fprintf(stderr, "algopromotectl: %s\n", cause);
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
		fputs(errors, stderr);
		free(errors);
		return 2;
	}
	free(errors);
	if ((p = config_pair_find(conf, name)) == NULL) {
		fprintf(stderr, "algopromotectl: no pair \"%s\" in %s\n", name,
		    path);
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
			fprintf(stderr, "algopromotectl: %s\n", cause);
			free(cause);
			cause = NULL;
			rv = 1;
			continue;
		}
		printf("%s\n", report);
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
	cJSON			*reply;
	char			*dir, *cause = NULL, *msg;
	size_t			 d;
	int			 fd, op, rv = 0;

	switch (ask_daemon(conf, approve ? "approve" : "retry", p->name,
	    &reply)) {
	case 1:
		print_messages(reply);
		cJSON_Delete(reply);
		return 0;
	case -1:
		return 1;
	}
	/* No daemon: change the files, under its lock. */
	if ((fd = lock_state(conf, 0)) == -1)
		return 1;
	for (d = 0; fd != -2 && d < p->ndests; d++) {
		if (load_route(conf, p, &p->dests[d], &st, &dir) == -1) {
			free(dir);
			rv = 1;
			continue;
		}
		op = state_route_operate(&st, approve, &msg);
		printf("%s->%s: %s\n", p->name, p->dests[d].full, msg);
		free(msg);
		if (op == 0) {
			state_route_clear(&st);
			free(dir);
			continue;
		}
		if (state_route_save(&st, dir, &cause) == -1) {
			fprintf(stderr, "algopromotectl: %s\n", cause);
			free(cause);
			rv = 1;
		}
		state_route_clear(&st);
		free(dir);
	}
	if (fd >= 0)
		close(fd);
	if (fd == -2)
		printf("%s: nothing to %s\n", p->name,
		    approve ? "approve" : "retry");
	return rv;
}

static int
cmd_trigger(const struct config *conf, const struct config_pair *p)
{
	cJSON	*reply;

	switch (ask_daemon(conf, "trigger", p->name, &reply)) {
	case 1:
		print_messages(reply);
		cJSON_Delete(reply);
		return 0;
	case 0:
		fprintf(stderr, "algopromotectl: algopromoted is not running "
		    "(nothing listens on %s)\n", conf->control_socket);
		return 1;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rebuild", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*path = CONFIG_DEFAULT_PATH, *cmd, *sock = NULL;
	cJSON			*reply;
	struct config		*conf;
	struct config_pair	*pair;
	char			*errors = NULL;
	int			 ch, rv, needpair, rebuild = 0;

	log_init(LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "f:s:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'r':
			rebuild = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind >= argc)
		usage(2);
	cmd = argv[optind++];
	if (strcmp(cmd, "status") == 0)
		needpair = 0;
	else if (strcmp(cmd, "versions") == 0 || strcmp(cmd, "trigger") == 0 ||
	    strcmp(cmd, "retry") == 0 || strcmp(cmd, "approve") == 0)
		needpair = 1;
	else {
		fprintf(stderr, "algopromotectl: unknown command \"%s\"\n",
		    cmd);
		usage(2);
	}
	if (argc - optind != needpair) {
		fprintf(stderr, "algopromotectl: %s %s\n", cmd, needpair ?
		    "needs one PAIR" : "takes no arguments");
		usage(2);
	}
	if (rebuild && strcmp(cmd, "versions") != 0) {
		fprintf(stderr, "algopromotectl: --rebuild goes with versions "
		    "only\n");
		usage(2);
	}
	if (rebuild)
		return cmd_rebuild(path, argv[optind]);
	/* With -s the daemon answers without the configuration, which may
	 * be broken on disk while the daemon runs the last good one. */
	if (sock != NULL && strcmp(cmd, "versions") != 0) {
		switch (ask_socket(sock, cmd, needpair ? argv[optind] : NULL,
		    &reply)) {
		case 1:
			if (needpair)
				print_messages(reply);
			else
				rv = status_live(reply);
			cJSON_Delete(reply);
			return needpair ? 0 : rv;
		case -1:
			return 1;
		}
	}
	/* The control tool needs the layout, not the keys. */
	if (config_load(&conf, path, CONFIG_LOAD_CHECK, &errors) == -1) {
		fputs(errors, stderr);
		free(errors);
		return 2;
	}
	free(errors);
	if (!needpair)
		rv = cmd_status(conf);
	else if ((pair = config_pair_find(conf, argv[optind])) == NULL) {
		fprintf(stderr, "algopromotectl: no pair \"%s\" in %s\n",
		    argv[optind], path);
		rv = 2;
	} else if (strcmp(cmd, "versions") == 0)
		rv = cmd_versions(conf, pair);
	else if (strcmp(cmd, "retry") == 0)
		rv = cmd_change(conf, pair, 0);
	else if (strcmp(cmd, "approve") == 0)
		rv = cmd_change(conf, pair, 1);
	else
		rv = cmd_trigger(conf, pair);
	config_free(conf);
	return rv;
}
