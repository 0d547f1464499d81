/* algopromoted.c: the daemon's entry point: options, configuration,
 * then one promotion pass (--once) or the service loop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: algopromoted [-f FILE] [-n] [-v]... [--once] [--dry-run] "
	    "[-V] [-h]\n"
	    "  -f FILE     configuration (default %s)\n"
	    "  -n          check the configuration and exit\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = CONFIG_DEFAULT_PATH;
	struct config	*conf;
	char		*errors = NULL;
	int		 ch, checkonly = 0, verbose = 0, once = 0, dryrun = 0;

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
	if (config_load(&conf, path, &errors) == -1) {
		fputs(errors, stderr);
		free(errors);
		return 2;
	}
	if (checkonly) {
		printf("configuration OK: %zu pairs, %zu destinations\n",
		    conf->npairs, config_ndests(conf));
		config_free(conf);
		return 0;
	}
	(void)verbose;
	(void)once;
	(void)dryrun;
	fprintf(stderr, "algopromoted: promotion is not available yet\n");
	config_free(conf);
	return 1;
}
