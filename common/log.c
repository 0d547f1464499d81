/* log.c: the daemon's logging, one write(2) per line.
 * Every line is redacted before it is written; nothing else writes logs.
 *
 * Threads: any thread logs; the loop thread (start-up, SIGHUP, SIGUSR1)
 * changes the level and the file.
 * - log_level is a C11 atomic: a writer sees the old or the new level.
 * - log_fd is guarded by log_lock, which every writer holds across its
 *   one write(2). A new file is swapped in under the lock and the old
 *   descriptor closed after it (log_swap_fd), so no writer can ever
 *   write to a closed or reused descriptor. Holding the lock across
 *   write(2) keeps lines whole and in order; O_APPEND writes to one file
 *   are serialised by the kernel anyway.
 * - log_path is the loop thread's: only log_open_file, log_reopen and
 *   log_close (all on the loop thread) read or write it.
 * - log_to_journal and log_has_file say which format lines take; the
 *   first is set by log_init before any thread starts, the second only
 *   changes under log_lock.
 * Nothing allocates under log_lock and nothing under it logs: fatal()
 * takes it, and out-of-memory ends in fatal(). Lock order: redact_lock
 * is taken and released (in redact_buf) before log_lock, never inside.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"

#define LOG_LINE_MAX	8192

static atomic_int	 log_level = LOG_LEVEL_INFO;
static int		 log_to_journal;	/* set by log_init only */
static pthread_mutex_t	 log_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 log_fd = STDERR_FILENO;	/* log_lock */
static int		 log_has_file;			/* log_lock */
static char		*log_path;			/* loop thread */

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static const int log_prio[] = { 3, 4, 6, 7 };	/* syslog(3) priorities */

/* $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; it only
 * counts while stderr still is that stream. */
static int
log_stderr_is_journal(void)
{
	const char		*js;
	struct stat		 sb;
	unsigned long long	 dev, ino;

	if ((js = getenv("JOURNAL_STREAM")) == NULL)
		return 0;
	if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_init(int level)
{
	atomic_store(&log_level, level);
	log_to_journal = log_stderr_is_journal();
}

/* Under log_lock. */
static int
log_journal_locked(void)
{
	return log_to_journal && !log_has_file;
}

int
log_journal(void)
{
	int	 j;

	pthread_mutex_lock(&log_lock);
	j = log_journal_locked();
	pthread_mutex_unlock(&log_lock);
	return j;
}

void
log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int
log_get_level(void)
{
	return atomic_load(&log_level);
}

int
log_level_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || level > LOG_LEVEL_DEBUG)
		return "?";
	return log_names[level];
}

static int
log_open_fd(const char *path, char **cause)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1 && cause != NULL) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
	}
	return fd;
}

/* Makes fd (or stderr, for -1) the log's descriptor. Writers read
 * log_fd only under log_lock and hold it across their write(2), so once
 * the swap is done no writer can still use the old descriptor: it is
 * closed after the unlock. */
static void
log_swap_fd(int fd)
{
	int	 old;

	pthread_mutex_lock(&log_lock);
	old = log_fd;
	log_fd = fd == -1 ? STDERR_FILENO : fd;
	log_has_file = fd != -1;
	pthread_mutex_unlock(&log_lock);
	if (old != STDERR_FILENO)
		close(old);
}

int
log_open_file(const char *path, char **cause)
{
	char	*copy;
	int	 fd;

	if ((fd = log_open_fd(path, cause)) == -1)
		return -1;
	if ((copy = strdup(path)) == NULL) {
		if (cause != NULL &&
		    asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		close(fd);
		return -1;
	}
	free(log_path);
	log_path = copy;
	log_swap_fd(fd);
	return 0;
}

/* SIGUSR1: after logrotate moved the file, open it anew. */
int
log_reopen(char **cause)
{
	int	 fd;

	if (log_path == NULL)
		return 0;
	if ((fd = log_open_fd(log_path, cause)) == -1)
		return -1;
	log_swap_fd(fd);
	return 0;
}

void
log_close(void)
{
	log_swap_fd(-1);
	free(log_path);
	log_path = NULL;
}

static size_t
log_stamp(char *buf, size_t len)
{
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, len - n, ".%03ldZ ",
	    ts.tv_nsec / 1000000);
	return n;
}

static void log_msg(int, const char *, ...)
    __attribute__((format(printf, 2, 3)));

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX], clean[LOG_LINE_MAX + 64];
	char	 line[LOG_LINE_MAX + 128], *p;
	size_t	 n;
	int	 saved = errno;

	if (level > atomic_load(&log_level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One record, one line: control characters would let a remote
	 * server forge log lines. */
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			*p = ' ';
	redact_buf(msg, clean, sizeof clean);
	pthread_mutex_lock(&log_lock);
	if (log_journal_locked())
		n = (size_t)snprintf(line, sizeof line, "<%d>%s",
		    log_prio[level], clean);
	else {
		n = log_stamp(line, sizeof line);
		n += (size_t)snprintf(line + n, sizeof line - n, "%s: %s",
		    log_names[level], clean);
	}
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}

static void
log_msg(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	va_start(ap, fmt);					\
	log_vmsg(level, fmt, ap);				\
	va_end(ap);						\
}
LOG_FN(log_errx, LOG_LEVEL_ERROR)
LOG_FN(log_warnx, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
#undef LOG_FN

/* The errno variants append ": strerror(errno)" as OpenBSD's do. */
static void
log_verrno(int level, const char *fmt, va_list ap)
{
	char	 buf[LOG_LINE_MAX];
	int	 saved = errno;

	vsnprintf(buf, sizeof buf, fmt, ap);
	log_msg(level, "%s: %s", buf, strerror(saved));
	errno = saved;
}

#define LOG_ERRNO_FN(name, level)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	va_start(ap, fmt);					\
	log_verrno(level, fmt, ap);				\
	va_end(ap);						\
}
LOG_ERRNO_FN(log_err, LOG_LEVEL_ERROR)
LOG_ERRNO_FN(log_warn, LOG_LEVEL_WARN)
#undef LOG_ERRNO_FN

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_verrno(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
