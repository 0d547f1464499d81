/* failpoint.h: test-only crash points in the promotion cycle. They exist
 * only in the test variant (-DAP_TESTHOOKS); the release build has none. */
#ifndef FAILPOINT_H
#define FAILPOINT_H

#ifdef AP_TESTHOOKS
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/*
 * With ALGOPROMOTED_FAILPOINT=NAME in the environment the process dies at
 * NAME as abruptly as a power cut, so tests can prove that the next run
 * finishes the promotion exactly once.
 */
static inline void
failpoint_route(const char *route, const char *name)
{
	const char	*fp = getenv("ALGOPROMOTED_FAILPOINT");

	if (fp != NULL && strcmp(fp, name) == 0) {
		log_warnx("route %s: failpoint %s: exiting", route, name);
		_exit(99);
	}
}

#define FAILPOINT(route, name)	failpoint_route((route), (name))
#else
#define FAILPOINT(route, name)	do { } while (0)
#endif

#endif
