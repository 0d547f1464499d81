/* notify.c: systemd's notify protocol (sd_notify) without libsystemd.
 * One datagram per message to $NOTIFY_SOCKET; a no-op when it is unset. */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "xmalloc.h"

/*
 * The state belongs to the main thread.  The address is kept rather than
 * connect(2)ed: sendto(2) looks the path up each time, so a systemd that
 * re-executed itself (and re-bound the socket) is still reached.
 */
static int		 notify_fd = -1;
static struct sockaddr_un notify_sun;
static socklen_t	 notify_sunlen;
static int		 notify_wd_read;	/* environment consumed */
static uint64_t		 notify_wd_usec;

/* Decimal digits only, no sign, no blanks, no overflow. */
static int
notify_parse_u64(const char *s, uint64_t *out)
{
	uint64_t	 n = 0, d;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = (uint64_t)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* WATCHDOG_USEC counts only for the process WATCHDOG_PID names (when it
 * names one); both go from the environment so children cannot inherit. */
static void
notify_read_watchdog(void)
{
	const char	*usec, *pid;
	uint64_t	 u, p;

	if (notify_wd_read)
		return;
	notify_wd_read = 1;
	notify_wd_usec = 0;
	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (usec != NULL) {
		if (notify_parse_u64(usec, &u) != 0 || u == 0)
			log_warnx("WATCHDOG_USEC \"%s\": not a positive number "
			    "of microseconds; watchdog off", usec);
		else if (pid != NULL && (notify_parse_u64(pid, &p) != 0 ||
		    p != (uint64_t)getpid()))
			log_debug("WATCHDOG_PID \"%s\" is not this process; "
			    "watchdog off", pid);
		else
			notify_wd_usec = u;
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/*
 * Reads and unsets $NOTIFY_SOCKET (and the watchdog variables).  Unset or
 * empty: 0, and every notify_send() is a no-op.  A bad address or a socket
 * that cannot be made: logged, -1 with errno set, and sends stay no-ops.
 */
int
notify_init(void)
{
	const char	*e;
	struct timeval	 tv;
	size_t		 len, max;
	int		 fd, serrno;

	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
	notify_read_watchdog();
	if ((e = getenv("NOTIFY_SOCKET")) == NULL || *e == '\0') {
		unsetenv("NOTIFY_SOCKET");
		return 0;
	}

	/* "/path" or "@abstract"; the abstract name has no terminator. */
	memset(&notify_sun, 0, sizeof notify_sun);
	notify_sun.sun_family = AF_UNIX;
	len = strlen(e);
	max = sizeof notify_sun.sun_path - (e[0] == '@' ? 0 : 1);
	if ((e[0] != '/' && e[0] != '@') || len < 2 || len > max) {
		serrno = len > max ? ENAMETOOLONG : EINVAL;
		log_warnx("NOTIFY_SOCKET \"%s\": %s", e, len > max ?
		    "too long for a socket address" :
		    "neither an absolute path nor @abstract");
		goto fail;
	}
	memcpy(notify_sun.sun_path, e, len);
	if (e[0] == '@') {
		notify_sun.sun_path[0] = '\0';
		notify_sunlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + len);
	} else
		notify_sunlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + len + 1);

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		serrno = errno;
		log_warnx("NOTIFY_SOCKET: socket: %s", strerror(serrno));
		goto fail;
	}
	/* A full receive queue must not stall the event loop for good. */
	tv.tv_sec = NOTIFY_SEND_TIMEOUT_MS / 1000;
	tv.tv_usec = (NOTIFY_SEND_TIMEOUT_MS % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1) {
		serrno = errno;
		log_warnx("NOTIFY_SOCKET: SO_SNDTIMEO: %s", strerror(serrno));
		close(fd);
		goto fail;
	}
	notify_fd = fd;
	unsetenv("NOTIFY_SOCKET");
	return 0;

fail:
	unsetenv("NOTIFY_SOCKET");
	notify_sunlen = 0;
	errno = serrno;
	return -1;
}

int
notify_enabled(void)
{
	return notify_fd != -1;
}

/* One datagram: "READY=1\nSTATUS=..." is one message, applied at once. */
int
notify_send(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	ssize_t	 n;
	size_t	 len;
	int	 serrno;

	if (notify_fd == -1)
		return 0;
	va_start(ap, fmt);
	len = (size_t)xvasprintf(&msg, fmt, ap);
	va_end(ap);
	do {
		n = sendto(notify_fd, msg, len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&notify_sun, notify_sunlen);
	} while (n == -1 && errno == EINTR);
	serrno = errno;
	free(msg);
	if (n == -1) {
		errno = serrno;
		return -1;
	}
	return 0;
}

/* The microseconds within which systemd wants WATCHDOG=1, 0 for none.
 * The environment is read once; later calls repeat the answer. */
uint64_t
notify_watchdog_usec(void)
{
	notify_read_watchdog();
	return notify_wd_usec;
}

/* Back to the state before notify_init() and notify_watchdog_usec(); the
 * variables they consumed are gone from the environment for good. */
void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
	notify_sunlen = 0;
	notify_wd_read = 0;
	notify_wd_usec = 0;
}
