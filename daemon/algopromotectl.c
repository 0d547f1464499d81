/* algopromotectl.c: the operator's view of a running (or stopped)
 * algopromoted: status, version maps, trigger, retry, approve. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: algopromotectl [-f FILE] [--json] COMMAND [PAIR]\n"
	    "commands:\n"
	    "  status           one row per route\n"
	    "  versions PAIR    the version map of PAIR, oldest first\n"
	    "  trigger PAIR     poll PAIR now\n"
	    "  retry PAIR       clear PAIR's failed state\n"
	    "  approve PAIR     approve PAIR's pending promotion\n");
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = CONFIG_DEFAULT_PATH, *cmd;
	int		 ch, json = 0;

	while ((ch = getopt_long(argc, argv, "f:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind >= argc)
		usage(2);
	cmd = argv[optind];
	(void)path;
	(void)json;
	fprintf(stderr, "algopromotectl: %s: not available yet\n", cmd);
	return 1;
}
