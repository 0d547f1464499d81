/* gitops_stream.c: the plain TCP stream libgit2 uses for every transfer
 * (https:// too, underneath): TCP_NODELAY, timeouts, cancellation. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "gitops_int.h"
#include "monotime.h"
#include "url.h"
#include "xmalloc.h"

#define GITOPS_SLICE_MS		200	/* poll slice: cancel checks */

/*
 * The stream registry is global but a timeout and a cancel flag belong to
 * one operation: each network call puts them here for its own thread, and
 * the streams that libgit2 creates during the call copy them.  The last
 * stream error is kept too, as libgit2 may replace the message with a
 * vaguer one on its way up.  So is the host and port of the operation's
 * URL: libgit2 follows a redirect to another port of the same host, and
 * would take the Authorization header along.
 */
static __thread uint64_t		 gitops_tls_timeout;
static __thread const atomic_int	*gitops_tls_cancel;
static __thread char			 gitops_tls_err[256];
static __thread int			 gitops_tls_errno;
static __thread uint64_t		 gitops_tls_written;
static __thread char			 gitops_tls_host[256];
static __thread char			 gitops_tls_port[16];

struct gitops_stream {
	git_stream		 parent;	/* first, as libgit2 casts */
	char			*host;
	char			*port;
	int			 fd;
	uint64_t		 timeout_ms;
	const atomic_int	*cancel;
};

enum gitops_wait {
	GITOPS_WAIT_READY,
	GITOPS_WAIT_TIMEOUT,
	GITOPS_WAIT_CANCEL,
	GITOPS_WAIT_ERROR
};

/* The stream error of this call: err is its errno (0: none fits), for
 * gitops_op_fail to tell a transient failure from a permanent one. */
static void
gitops_stream_error(int err, const char *fmt, ...)
{
	va_list	 ap;

	gitops_tls_errno = err;
	va_start(ap, fmt);
	vsnprintf(gitops_tls_err, sizeof gitops_tls_err, fmt, ap);
	va_end(ap);
	git_error_set_str(GIT_ERROR_NET, gitops_tls_err);
}

static int
gitops_stream_cancelled(const struct gitops_stream *st)
{
	return st->cancel != NULL && atomic_load(st->cancel) != 0;
}

/* Polls fd for events in short slices until ready, the timeout passes
 * or the operation is cancelled. */
static enum gitops_wait
gitops_stream_wait(struct gitops_stream *st, int fd, short events)
{
	struct pollfd	 pfd;
	uint64_t	 deadline, now, left;
	int		 n;

	deadline = monotime_ms() + st->timeout_ms;
	for (;;) {
		if (gitops_stream_cancelled(st))
			return GITOPS_WAIT_CANCEL;
		if ((now = monotime_ms()) >= deadline)
			return GITOPS_WAIT_TIMEOUT;
		left = deadline - now;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(left < GITOPS_SLICE_MS ? left :
		    GITOPS_SLICE_MS));
		if (n > 0)
			return GITOPS_WAIT_READY;
		if (n < 0 && errno != EINTR)
			return GITOPS_WAIT_ERROR;
	}
}

/* One address: non-blocking connect bounded by the timeout.  Returns the
 * connected socket or -1 with errno (ETIMEDOUT, ECANCELED, ...). */
static int
gitops_stream_connect_one(struct gitops_stream *st, const struct addrinfo *ai)
{
	socklen_t	 len;
	int		 fd, soerr, saved;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	switch (gitops_stream_wait(st, fd, POLLOUT)) {
	case GITOPS_WAIT_READY:
		break;
	case GITOPS_WAIT_TIMEOUT:
		errno = ETIMEDOUT;
		goto fail;
	case GITOPS_WAIT_CANCEL:
		errno = ECANCELED;
		goto fail;
	case GITOPS_WAIT_ERROR:
		goto fail;
	}
	len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int
gitops_stream_connect(git_stream *stream)
{
	struct gitops_stream	*st = (struct gitops_stream *)stream;
	struct addrinfo		 hints, *res = NULL, *ai;
	struct timeval		 tv;
	int			 fd = -1, error, one = 1, flags;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(st->host, st->port, &hints, &res)) != 0) {
		gitops_stream_error(error == EAI_AGAIN ? EAGAIN : 0,
		    "cannot resolve %s: %s", st->host, gai_strerror(error));
		return -1;
	}
	errno = ECONNREFUSED;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = gitops_stream_connect_one(st, ai)) != -1)
			break;
		if (errno == ECANCELED)
			break;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		if (errno == ECANCELED)
			gitops_stream_error(ECANCELED, "cancelled");
		else if (errno == ETIMEDOUT)
			gitops_stream_error(ETIMEDOUT, "connect to %s:%s timed "
			    "out after %llu ms", st->host, st->port,
			    (unsigned long long)st->timeout_ms);
		else
			gitops_stream_error(errno, "connect to %s:%s: %s",
			    st->host, st->port, strerror(errno));
		return -1;
	}

	/*
	 * Back to blocking, with the kernel's own timeouts as a backstop:
	 * every read and write below first polls in slices, which is what
	 * enforces the timeout and notices cancellation.  TCP_NODELAY
	 * because libgit2 writes a request in several small pieces and
	 * would otherwise wait for the peer's delayed ACK on each.
	 */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		goto fail;
	tv.tv_sec = (time_t)(st->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(st->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == -1)
		goto fail;
	st->fd = fd;
	return 0;

fail:
	gitops_stream_error(0, "socket options for %s:%s: %s", st->host,
	    st->port, strerror(errno));
	close(fd);
	return -1;
}

/* Waits until the socket is ready for events; -1 with the stream error
 * set on a timeout ("read from HOST:PORT timed out ..."), a cancel or a
 * poll failure. */
static int
gitops_stream_ready(struct gitops_stream *st, short events, const char *what)
{
	switch (gitops_stream_wait(st, st->fd, events)) {
	case GITOPS_WAIT_READY:
		return 0;
	case GITOPS_WAIT_TIMEOUT:
		gitops_stream_error(ETIMEDOUT, "%s %s:%s timed out after "
		    "%llu ms", what, st->host, st->port,
		    (unsigned long long)st->timeout_ms);
		return -1;
	case GITOPS_WAIT_CANCEL:
		gitops_stream_error(ECANCELED, "cancelled");
		return -1;
	case GITOPS_WAIT_ERROR:
		gitops_stream_error(errno, "poll: %s", strerror(errno));
		return -1;
	}
	return -1;
}

static ssize_t
gitops_stream_read(git_stream *stream, void *data, size_t len)
{
	struct gitops_stream	*st = (struct gitops_stream *)stream;
	ssize_t			 n;

	for (;;) {
		if (gitops_stream_ready(st, POLLIN, "read from") == -1)
			return -1;
		n = recv(st->fd, data, len, 0);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
	}
	gitops_stream_error(errno, "read from %s:%s: %s", st->host,
	    st->port, strerror(errno));
	return -1;
}

static ssize_t
gitops_stream_write(git_stream *stream, const char *data, size_t len,
    int flags)
{
	struct gitops_stream	*st = (struct gitops_stream *)stream;
	size_t			 done = 0;
	ssize_t			 n;

	while (done < len) {
		if (gitops_stream_ready(st, POLLOUT, "write to") == -1)
			return -1;
		n = send(st->fd, data + done, len - done,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			done += (size_t)n;
			gitops_tls_written += (uint64_t)n;
		} else if (errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK) {
			gitops_stream_error(errno, "write to %s:%s: %s",
			    st->host, st->port, strerror(errno));
			return -1;
		}
	}
	return (ssize_t)len;
}

static int
gitops_stream_close(git_stream *stream)
{
	struct gitops_stream	*st = (struct gitops_stream *)stream;

	if (st->fd != -1)
		close(st->fd);
	st->fd = -1;
	return 0;
}

static void
gitops_stream_free(git_stream *stream)
{
	struct gitops_stream	*st = (struct gitops_stream *)stream;

	gitops_stream_close(stream);
	free(st->host);
	free(st->port);
	free(st);
}

/* May this operation open a connection to host:port?  Its own server, or
 * a proxy named in the environment (GIT_PROXY_AUTO). */
static int
gitops_stream_allowed(const char *host, const char *port)
{
	static const char *const envs[] = { "https_proxy", "HTTPS_PROXY",
	    "http_proxy", "HTTP_PROXY" };
	const char	*v;
	struct url	 u;
	char		*url, *why = NULL;
	size_t		 i, n;
	int		 ok = 0;

	if (gitops_tls_host[0] == '\0')
		return 1;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (strlen(gitops_tls_host) == n &&
	    strncasecmp(host, gitops_tls_host, n) == 0 &&
	    strcmp(port, gitops_tls_port) == 0)
		return 1;
	for (i = 0; i < sizeof envs / sizeof envs[0] && !ok; i++) {
		if ((v = getenv(envs[i])) == NULL || *v == '\0')
			continue;
		url = strstr(v, "://") != NULL ? xstrdup(v) :
		    xprintf("http://%s", v);
		if (url_split(&u, url, &why) == 0)
			ok = strlen(u.host) == n &&
			    strncasecmp(host, u.host, n) == 0;
		else
			free(why);
		url_clear(&u);
		free(url);
	}
	return ok;
}

static int
gitops_stream_new(git_stream **out, const char *host, const char *port)
{
	struct gitops_stream	*st;

	if (!gitops_stream_allowed(host, port)) {
		gitops_stream_error(EPERM, "refusing to connect to %s:%s, not "
		    "the server's %s:%s", host, port, gitops_tls_host,
		    gitops_tls_port);
		return -1;
	}
	st = xcalloc(1, sizeof *st);
	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = gitops_stream_connect;
	st->parent.read = gitops_stream_read;
	st->parent.write = gitops_stream_write;
	st->parent.close = gitops_stream_close;
	st->parent.free = gitops_stream_free;
	st->host = xstrdup(host);
	st->port = xstrdup(port);
	st->fd = -1;
	st->timeout_ms = gitops_tls_timeout != 0 ? gitops_tls_timeout :
	    GITOPS_TIMEOUT_DEFAULT;
	st->cancel = gitops_tls_cancel;
	*out = &st->parent;
	return 0;
}

static git_stream_registration gitops_stream_reg = {
	GIT_STREAM_VERSION, gitops_stream_new, NULL
};


int
gitops_stream_register(void)
{
	return git_stream_register(GIT_STREAM_STANDARD, &gitops_stream_reg);
}

void
gitops_stream_unregister(void)
{
	git_stream_register(GIT_STREAM_STANDARD, NULL);
}

int
gitops_stream_begin(uint64_t timeout_ms, const atomic_int *cancel,
    const char *host, const char *port)
{
	gitops_tls_timeout = timeout_ms != 0 ? timeout_ms :
	    GITOPS_TIMEOUT_DEFAULT;
	gitops_tls_cancel = cancel;
	gitops_tls_err[0] = '\0';
	gitops_tls_errno = 0;
	gitops_tls_written = 0;
	gitops_tls_host[0] = gitops_tls_port[0] = '\0';
	if (host == NULL)
		return 0;
	if (strlen(host) >= sizeof gitops_tls_host ||
	    strlen(port) >= sizeof gitops_tls_port)
		return -1;
	memcpy(gitops_tls_host, host, strlen(host) + 1);
	memcpy(gitops_tls_port, port, strlen(port) + 1);
	return 0;
}

void
gitops_stream_end(void)
{
	gitops_tls_timeout = 0;
	gitops_tls_cancel = NULL;
	gitops_tls_host[0] = gitops_tls_port[0] = '\0';
}

const char *
gitops_stream_error_text(void)
{
	return gitops_tls_err;
}

int
gitops_stream_error_errno(void)
{
	return gitops_tls_errno;
}

uint64_t
gitops_stream_written(void)
{
	return gitops_tls_written;
}
