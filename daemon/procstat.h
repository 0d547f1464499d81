/* procstat.h: the process's own resource use (memory, CPU, descriptors,
 * start time) as Prometheus clients export it by default. */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include "metrics.h"

/*
 * One reading. A value that could not be read is negative and its family
 * is left out of /metrics (a scraper tells a missing series from a zero).
 */
struct procstat {
	double	 resident_bytes;
	double	 virtual_bytes;
	double	 cpu_seconds;		/* user + system, all threads */
	double	 open_fds;
	double	 max_fds;		/* the soft RLIMIT_NOFILE */
	double	 start_time;		/* wall-clock seconds since the epoch */
};

/*
 * Reads /proc/self/stat, /proc/self/fd, getrusage() and getrlimit():
 * a few small reads, allowed under ProtectProc=invisible and
 * ProcSubset=pid (/proc/stat and /proc/uptime are not read). What fails
 * is set to -1; 0 when everything was read, -1 and *cause (the first
 * failure) when something was not.
 */
int	 procstat_read(struct procstat *, char **cause);
/* The process_* families of *ps, each with HELP and TYPE. */
void	 procstat_write(struct metrics_buf *, const struct procstat *);
/* /proc/self/stat's text: the start (clock ticks after boot), the
 * virtual size (bytes) and the resident set (pages). 0, or -1. */
int	 procstat_parse_stat(const char *, unsigned long long *start_ticks,
	    unsigned long long *vsize, long long *rss_pages);

#endif
