/* failpoint.h: test-only crash points in the promotion cycle and in the
 * middle of file writes. They exist only in the test variant
 * (-DAP_TESTHOOKS); the release build has none. */
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
static inline int
failpoint_on(const char *name)
{
	const char	*fp = getenv("ALGOPROMOTED_FAILPOINT");

	return fp != NULL && strcmp(fp, name) == 0;
}

static inline void
failpoint_route(const char *route, const char *name)
{
	if (failpoint_on(name)) {
		log_warnx("route %s: failpoint %s: exiting", route, name);
		_exit(99);
	}
}

/* Dies halfway through writing data to fd, a file whose name ends in
 * file: what a crash in the middle of a write leaves behind. */
static inline void
failpoint_torn(const char *name, const char *path, const char *file,
    int fd, const void *data, size_t len)
{
	size_t	 plen = strlen(path), flen = strlen(file);

	if (!failpoint_on(name) || plen < flen ||
	    strcmp(path + plen - flen, file) != 0)
		return;
	if (write(fd, data, len / 2) < 0 || fsync(fd) < 0)
		log_warnx("failpoint %s: %s: write failed", name, path);
	log_warnx("failpoint %s: %s: exiting", name, path);
	_exit(99);
}

#define FAILPOINT(route, name)	failpoint_route((route), (name))
#define FAILPOINT_TORN(name, path, file, fd, data, len) \
	failpoint_torn((name), (path), (file), (fd), (data), (len))
#else
#define FAILPOINT(route, name)	do { } while (0)
#define FAILPOINT_TORN(name, path, file, fd, data, len) do { } while (0)
#endif

#endif
