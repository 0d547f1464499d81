/* algopromoted.c: the daemon's entry point: options, configuration,
 * then one promotion pass (--once) or the service loop. */
#include <sys/stat.h>

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config.h"
#include "gitops.h"
#include "log.h"
#include "notify.h"
#include "once.h"
#include "promote.h"
#include "server.h"
#include "state.h"
#include "xmalloc.h"

static volatile sig_atomic_t	 stop_flag;
/* Read by the workers of --once: an atomic, lock-free so that the
 * signal handler may store it. */
static atomic_int			 cancel_flag;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");

static void
on_stop_signal(int sig)
{
	stop_flag = sig;
	atomic_store(&cancel_flag, 1);
}

/*
 * One instance per state_dir: state_lock() on state_dir/lock, held until
 * exit. Returns the descriptor, or -1 after printing why.
 */
static int
lock_state_dir(const char *state_dir)
{
	char	*cause = NULL;
	int	 fd;

	switch (state_lock(state_dir, STATE_LOCK_CREATE, &fd, &cause)) {
	case 0:
		return fd;
	case STATE_LOCK_HELD:
		log_errx("another algopromoted is running on %s "
		    "(%s/lock is locked)", state_dir, state_dir);
		break;
	default:
		log_errx("%s", cause);
		free(cause);
		break;
	}
	return -1;
}

/* libevent's own messages join ours: one logger, one format. */
static void
libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/* Every cluster's ca_file, once each, for libgit2's one CA chain. */
static int
trust_ca_files(const struct config *conf)
{
	char	**files, *bundle, *cause = NULL;
	size_t	  i, j, n = 0;
	int	  rv;

	files = xcalloc(conf->nclusters + 1, sizeof *files);
	for (i = 0; i < conf->nclusters; i++) {
		if (conf->clusters[i].ca_file == NULL)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(files[j], conf->clusters[i].ca_file) == 0)
				break;
		if (j == n)
			files[n++] = conf->clusters[i].ca_file;
	}
	bundle = xprintf("%s/ca-bundle.pem", conf->state_dir);
	if ((rv = gitops_trust(files, bundle, &cause)) == -1) {
		log_errx("%s", cause);
		free(cause);
	}
	free(bundle);
	free(files);
	return rv;
}

static int
run_once(const struct config *conf, int dryrun)
{
	struct promote_opts	 opts = {
		.dry_run = dryrun,
		.report = stdout,
		.cancel = &cancel_flag,
	};
	struct once_totals	 t;

	once_run(conf, &opts, &t);
	if (stop_flag != 0)
		log_warnx("stopped by signal %d", (int)stop_flag);
	log_info("%zu routes: %zu promoted, %zu up to date, %zu failed, "
	    "%zu held", t.routes, t.done, t.uptodate, t.failed, t.held);
	return t.failed > 0 || stop_flag != 0 ? 1 : 0;
}

/* The configuration is good: log as it says, take the state_dir lock,
 * start the libraries, then promote once or serve. Frees conf. */
static int
run(struct config *conf, const char *path, int verbose, int once,
    int dryrun)
{
	struct sigaction sa;
	char		*cause = NULL;
	int		 lockfd, rv, level;

	level = conf->log_level + verbose;
	log_set_level(level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	if (conf->log_file != NULL &&
	    log_open_file(conf->log_file, &cause) == -1) {
		log_errx("log_file: %s", cause);
		free(cause);
		config_free(conf);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);
	if (once) {
		/* The loop owns signals otherwise. */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if ((lockfd = lock_state_dir(conf->state_dir)) == -1) {
		config_free(conf);
		return 1;
	}
	if (notify_init() == -1)
		log_warn("NOTIFY_SOCKET");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	if (gitops_init() == -1)
		fatalx("libgit2 initialisation failed");
	if (trust_ca_files(conf) == -1)
		rv = 1;
	else if (once)
		rv = run_once(conf, dryrun);
	else {
		rv = server_run(conf, path, verbose);	/* frees conf */
		conf = NULL;
	}
	config_free(conf);
	gitops_shutdown();
	curl_global_cleanup();
	notify_close();
	close(lockfd);
	log_close();
	return rv;
}

/*
 * A fixed mmap threshold: a large buffer (status.json's text, a /metrics
 * body, a configuration file) is mapped and given back when freed. By
 * default glibc raises the threshold to the largest mapping freed (up to
 * 32 MiB), after which such buffers come from the heap, and the heap keeps
 * what they fragmented: with 10,000 routes, tens of MiB of RSS.
 */
static void
tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: algopromoted [-f FILE] [-n [--skip-keys]] [-v]... [--once] "
	    "[--dry-run] [-V] [-h]\n"
	    "  -f FILE     configuration (default %s)\n"
	    "  -n          check the configuration as the start would, and "
	    "exit\n"
	    "  --skip-keys with -n: do not read keys, tokens or CA files\n"
	    "  -v          more verbose logging (repeatable)\n"
	    "  --once      promote every pair once, then exit\n"
	    "  --dry-run   show what would be promoted; change nothing\n"
	    "  -V          print the version and exit\n"
	    "  -h          this help\n", CONFIG_DEFAULT_PATH);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'O' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "skip-keys", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = CONFIG_DEFAULT_PATH;
	struct config	*conf;
	char		*errors = NULL;
	int		 ch, checkonly = 0, verbose = 0, once = 0, dryrun = 0;
	int		 skipkeys = 0;

	tune_malloc();
	log_init(LOG_LEVEL_INFO);
	while ((ch = getopt_long(argc, argv, "f:nvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'O':
			once = 1;
			break;
		case 'D':
			dryrun = 1;
			break;
		case 'K':
			skipkeys = 1;
			break;
		case 'V':
			printf("algopromoted %s\n", AP_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "algopromoted: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(2);
	}
	if (skipkeys && !checkonly) {
		fprintf(stderr, "algopromoted: --skip-keys is only for -n "
		    "(the service cannot start without its keys)\n");
		usage(2);
	}
	/* -n loads as the start does, so that it fails where the start
	 * would, with the same messages. */
	if (config_load(&conf, path, skipkeys ? CONFIG_LOAD_SKIP_KEYS : 0,
	    &errors) == -1) {
		fputs(errors, stderr);
		free(errors);
		return 2;
	}
	if (checkonly) {
		printf("configuration OK%s: %zu pair%s, %zu destination%s, "
		    "%zu file%s\n", skipkeys ? " (keys not checked)" : "",
		    conf->npairs, conf->npairs == 1 ? "" : "s",
		    config_ndests(conf), config_ndests(conf) == 1 ? "" : "s",
		    conf->nfiles, conf->nfiles == 1 ? "" : "s");
		config_free(conf);
		return 0;
	}
	return run(conf, path, verbose, once || dryrun, dryrun);
}
