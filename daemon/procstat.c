/* procstat.c: the process's own resource use (memory, CPU, descriptors,
 * start time) as Prometheus clients export it by default. */
#include <sys/resource.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "xmalloc.h"

/* The families, in the order client libraries write them. */
static const struct procstat_family {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 offset;
} procstat_families[] = {
	{ "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.",
	    offsetof(struct procstat, cpu_seconds) },
	{ "process_open_fds", "gauge", "Number of open file descriptors.",
	    offsetof(struct procstat, open_fds) },
	{ "process_max_fds", "gauge",
	    "Maximum number of open file descriptors.",
	    offsetof(struct procstat, max_fds) },
	{ "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.",
	    offsetof(struct procstat, virtual_bytes) },
	{ "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.",
	    offsetof(struct procstat, resident_bytes) },
	{ "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.",
	    offsetof(struct procstat, start_time) },
};

#define PROCSTAT_NFAMILIES \
	(sizeof procstat_families / sizeof procstat_families[0])

/* Fields after the command's ')': the state is field 3 of proc(5), the
 * start time 22, the virtual size 23, the resident set 24. */
#define PROCSTAT_FIELD(n)	((n) - 3)

int
procstat_parse_stat(const char *text, unsigned long long *start_ticks,
    unsigned long long *vsize, long long *rss_pages)
{
	const char	*p;
	char		*end;
	int		 field;

	/* The command may hold anything, ')' and blanks too: it ends at
	 * the last ')'. */
	if ((p = strrchr(text, ')')) == NULL)
		return -1;
	p++;
	for (field = 0; field < PROCSTAT_FIELD(22); field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return -1;
		while (*p != ' ' && *p != '\0' && *p != '\n')
			p++;
	}
	errno = 0;
	*start_ticks = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return -1;
	p = end;
	*vsize = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return -1;
	p = end;
	*rss_pages = strtoll(p, &end, 10);
	if (end == p || (*end != ' ' && *end != '\n' && *end != '\0') ||
	    errno != 0)
		return -1;
	return 0;
}

/* The whole of a small file (< size bytes) as a string. */
static int
procstat_slurp(const char *path, char *buf, size_t size, char **cause)
{
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (len < size - 1) {
		if ((n = read(fd, buf + len, size - 1 - len)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return 0;
}

/*
 * Boot time as /proc/stat's btime gives it (whole seconds: the kernel's
 * own rounding), from the clocks, since ProcSubset=pid hides /proc/stat.
 */
static double
procstat_boot_time(void)
{
	struct timespec	 real, boot;
	double		 d;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	d = (double)(real.tv_sec - boot.tv_sec) +
	    (double)(real.tv_nsec - boot.tv_nsec) / 1e9;
	return floor(d);
}

static int
procstat_read_stat(struct procstat *ps, char **cause)
{
	char			 buf[1024];
	unsigned long long	 start, vsize;
	long long		 rss;
	long			 hz, page;

	if (procstat_slurp("/proc/self/stat", buf, sizeof buf, cause) == -1)
		return -1;
	if (procstat_parse_stat(buf, &start, &vsize, &rss) == -1) {
		xasprintf(cause, "/proc/self/stat: not understood");
		return -1;
	}
	if ((hz = sysconf(_SC_CLK_TCK)) <= 0 ||
	    (page = sysconf(_SC_PAGESIZE)) <= 0) {
		xasprintf(cause, "sysconf: %s", strerror(errno));
		return -1;
	}
	ps->virtual_bytes = (double)vsize;
	ps->resident_bytes = (double)rss * (double)page;
	ps->start_time = procstat_boot_time() + (double)start / (double)hz;
	return 0;
}

/* The entries of /proc/self/fd but the one reading it. */
static int
procstat_read_fds(struct procstat *ps, char **cause)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;
	int		 self;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		xasprintf(cause, "/proc/self/fd: %s", strerror(errno));
		return -1;
	}
	self = dirfd(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strtol(de->d_name, NULL, 10) != self)
			n++;
	}
	if (errno != 0) {
		xasprintf(cause, "/proc/self/fd: %s", strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	ps->open_fds = (double)n;
	return 0;
}

/* Keeps the first failure's reason in *why, frees the others. */
static void
procstat_keep(char **why, char *cause)
{
	if (*why == NULL)
		*why = cause;
	else
		free(cause);
}

int
procstat_read(struct procstat *ps, char **cause)
{
	struct rusage	 ru;
	struct rlimit	 rl;
	char		*why = NULL, *c = NULL;

	ps->resident_bytes = ps->virtual_bytes = ps->start_time = -1;
	ps->cpu_seconds = ps->open_fds = ps->max_fds = -1;
	if (procstat_read_stat(ps, &c) == -1)
		procstat_keep(&why, c);
	c = NULL;
	if (procstat_read_fds(ps, &c) == -1)
		procstat_keep(&why, c);
	c = NULL;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		ps->cpu_seconds = (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_stime.tv_sec +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	else {
		xasprintf(&c, "getrusage: %s", strerror(errno));
		procstat_keep(&why, c);
	}
	c = NULL;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ps->max_fds = (double)rl.rlim_cur;
	else {
		xasprintf(&c, "getrlimit: %s", strerror(errno));
		procstat_keep(&why, c);
	}
	if (why == NULL)
		return 0;
	*cause = why;
	return -1;
}

void
procstat_write(struct metrics_buf *b, const struct procstat *ps)
{
	const struct procstat_family	*f;
	double				 v;
	size_t				 i;

	for (i = 0; i < PROCSTAT_NFAMILIES; i++) {
		f = &procstat_families[i];
		v = *(const double *)(const void *)
		    ((const char *)ps + f->offset);
		if (v < 0)
			continue;
		metrics_family(b, f->name, f->type, f->help);
		metrics_sample(b, f->name, NULL, v);
	}
}
