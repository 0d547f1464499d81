/* gitops.c: every libgit2 operation of a promotion (fetch, tree, commit, push).
 * Network calls run with a timeout, a cancel flag and in-memory credentials. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <dirent.h>
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
#include <git2/sys/commit.h>
#include <git2/sys/stream.h>

#include "atomicfile.h"
#include "gitops.h"
#include "log.h"
#include "monotime.h"
#include "redact.h"
#include "treeglob.h"
#include "xmalloc.h"

#define GITOPS_SLICE_MS		200	/* poll slice: cancel checks */
#define GITOPS_MAX_DEPTH	256	/* nested directories in a tree */
#define GITOPS_CONF		"algorithmia.conf"
#define GITOPS_CONF_MAX		(1024 * 1024)
#define GITOPS_SIDEBAND_MAX	2048	/* server message tail kept */
#define GITOPS_JSON_DEPTH	128

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
static __thread const volatile int	*gitops_tls_cancel;
static __thread char			 gitops_tls_err[256];
static __thread char			 gitops_tls_host[256];
static __thread char			 gitops_tls_port[16];

static int gitops_url_split(const char *, char **, char **, char **);

/* ---------------------------------------------------------------------
 * The plain TCP stream: TCP_NODELAY, timeouts, cancellation.
 */

struct gitops_stream {
	git_stream		 parent;	/* first, as libgit2 casts */
	char			*host;
	char			*port;
	int			 fd;
	uint64_t		 timeout_ms;
	const volatile int	*cancel;
};

enum gitops_wait {
	GITOPS_WAIT_READY,
	GITOPS_WAIT_TIMEOUT,
	GITOPS_WAIT_CANCEL,
	GITOPS_WAIT_ERROR
};

static void
gitops_stream_error(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(gitops_tls_err, sizeof gitops_tls_err, fmt, ap);
	va_end(ap);
	git_error_set_str(GIT_ERROR_NET, gitops_tls_err);
}

static int
gitops_stream_cancelled(const struct gitops_stream *st)
{
	return st->cancel != NULL && *st->cancel != 0;
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
		gitops_stream_error("cannot resolve %s: %s", st->host,
		    gai_strerror(error));
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
			gitops_stream_error("cancelled");
		else if (errno == ETIMEDOUT)
			gitops_stream_error("connect to %s:%s timed out after "
			    "%llu ms", st->host, st->port,
			    (unsigned long long)st->timeout_ms);
		else
			gitops_stream_error("connect to %s:%s: %s", st->host,
			    st->port, strerror(errno));
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
	gitops_stream_error("socket options for %s:%s: %s", st->host,
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
		gitops_stream_error("%s %s:%s timed out after %llu ms", what,
		    st->host, st->port, (unsigned long long)st->timeout_ms);
		return -1;
	case GITOPS_WAIT_CANCEL:
		gitops_stream_error("cancelled");
		return -1;
	case GITOPS_WAIT_ERROR:
		gitops_stream_error("poll: %s", strerror(errno));
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
	gitops_stream_error("read from %s:%s: %s", st->host, st->port,
	    strerror(errno));
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
		if (n >= 0)
			done += (size_t)n;
		else if (errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK) {
			gitops_stream_error("write to %s:%s: %s", st->host,
			    st->port, strerror(errno));
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
	char		*url, *ps, *ph, *pp;
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
		if (gitops_url_split(url, &ps, &ph, &pp) == 0) {
			ok = strlen(ph) == n && strncasecmp(host, ph, n) == 0;
			free(ps);
			free(ph);
			free(pp);
		}
		free(url);
	}
	return ok;
}

static int
gitops_stream_new(git_stream **out, const char *host, const char *port)
{
	struct gitops_stream	*st;

	if (!gitops_stream_allowed(host, port)) {
		gitops_stream_error("refusing to connect to %s:%s, not the "
		    "server's %s:%s", host, port, gitops_tls_host,
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
gitops_init(void)
{
	const git_error	*e;

	if (git_libgit2_init() < 0)
		goto fail;
	if (git_stream_register(GIT_STREAM_STANDARD, &gitops_stream_reg) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_USER_AGENT,
	    "algopromoted/" AP_VERSION) < 0) {
		git_libgit2_shutdown();
		goto fail;
	}
	return 0;

fail:
	e = git_error_last();
	log_warnx("libgit2 initialisation: %s", e != NULL ? e->message :
	    "unknown error");
	return -1;
}

/*
 * libgit2's TLS (mbedTLS) has one CA chain for the whole process. Extra
 * CA files (a cluster's ca_file) join the system's: their PEM text goes
 * into one bundle file, loaded together with GITOPS_CAPATH. Call it at
 * start-up, before any transfer: libgit2 frees the old chain in place.
 */
int
gitops_trust(char *const *ca_files, const char *bundle, char **cause)
{
	const git_error	*e;
	char		*all = NULL, *data, *why = NULL;
	size_t		 len = 0, n, i;
	int		 rv = -1;

	if (ca_files == NULL || ca_files[0] == NULL)
		return 0;
	for (i = 0; ca_files[i] != NULL; i++) {
		if (atomicfile_read(ca_files[i], &data, &n, GITOPS_CA_MAX,
		    &why) == -1) {
			xasprintf(cause, "ca_file: %s", why);
			free(why);
			goto out;
		}
		all = xrealloc(all, len + n + 2);
		memcpy(all + len, data, n);
		len += n;
		all[len++] = '\n';
		free(data);
	}
	if (atomicfile_write(bundle, all, len, 0600, &why) == -1) {
		xasprintf(cause, "CA bundle: %s", why);
		free(why);
		goto out;
	}
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, bundle,
	    access(GITOPS_CAPATH, R_OK) == 0 ? GITOPS_CAPATH : NULL) < 0) {
		e = git_error_last();
		xasprintf(cause, "CA bundle %s: %s", bundle,
		    e != NULL ? e->message : "cannot be loaded");
		goto out;
	}
	rv = 0;
out:
	free(all);
	return rv;
}

void
gitops_shutdown(void)
{
	git_stream_register(GIT_STREAM_STANDARD, NULL);
	git_libgit2_shutdown();
}

/* ---------------------------------------------------------------------
 * Errors.
 */

static const char *
gitops_git_error(void)
{
	const git_error	*e = git_error_last();

	return e != NULL && e->message != NULL ? e->message : "unknown error";
}

/* *cause = the redacted text of fmt. */
static void __attribute__((format(printf, 2, 3)))
gitops_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	*cause = redact(text);
	free(text);
}

/* ---------------------------------------------------------------------
 * URLs and credentials.
 */

/*
 * Splits a "scheme://[userinfo@]host[:port][/path]" URL into its lower-case
 * scheme, host (IPv6 without brackets) and port (the scheme's default
 * when absent); -1 when url is not of that form.
 */
static int
gitops_url_split(const char *url, char **scheme, char **host, char **port)
{
	const char	*p, *h, *end, *at, *colon = NULL, *q;
	size_t		 hlen;
	char		*c;

	*scheme = *host = *port = NULL;
	if (url == NULL || (p = strstr(url, "://")) == NULL || p == url)
		return -1;
	h = p + 3;
	end = h + strcspn(h, "/?#");
	for (at = end; at > h && at[-1] != '@'; at--)
		;
	if (at > h)
		h = at;
	if (*h == '[') {
		if ((q = memchr(h, ']', (size_t)(end - h))) == NULL)
			return -1;
		h++;
		hlen = (size_t)(q - h);
		if (q + 1 < end && q[1] == ':')
			colon = q + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hlen = colon != NULL ? (size_t)(colon - h) : (size_t)(end - h);
	}
	if (hlen == 0)
		return -1;
	*scheme = xstrndup(url, (size_t)(p - url));
	*host = xstrndup(h, hlen);
	for (c = *scheme; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	for (c = *host; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	if (colon != NULL && colon + 1 < end)
		*port = xstrndup(colon + 1, (size_t)(end - colon - 1));
	else
		*port = xstrdup(strcmp(*scheme, "https") == 0 ? "443" :
		    strcmp(*scheme, "http") == 0 ? "80" :
		    strcmp(*scheme, "git") == 0 ? "9418" : "");
	return 0;
}

/* "scheme://host:port" of url, or NULL when it is no such URL. */
static char *
gitops_authority(const char *url)
{
	char	*scheme, *host, *port, *out;

	if (gitops_url_split(url, &scheme, &host, &port) != 0)
		return NULL;
	out = xprintf("%s://%s:%s", scheme, host, port);
	free(scheme);
	free(host);
	free(port);
	return out;
}

/* Could url carry "user[:pass]@"?  Any '@' after the scheme counts: a raw
 * key may hold '/', which hides where the host really starts. */
static int
gitops_has_userinfo(const char *url)
{
	const char	*p;

	if ((p = strstr(url, "://")) == NULL)
		return 0;
	p += 3;
	return memchr(p, '@', strcspn(p, "?#")) != NULL;
}

/* One network operation: what its callbacks share. */
struct gitops_op {
	const struct gitops_remote *r;
	const char	*what;		/* "fetch", "ls", "push" */
	char		*url;		/* r->url for messages */
	char		*authority;	/* of r->url; NULL: local path */
	char		*header;	/* "Authorization: Basic ..." */
	char		*headers[1];
	git_strarray	 custom;
	int		 creds;		/* credential callbacks */
	int		 auth_failed;
	char		*refused;	/* where we would not send */
	int		 cancelled;

	const char	*push_ref;	/* remote ref of a push */
	int		 push_reported;
	char		*push_status;	/* server's reason, NULL: ok */
	char		 sideband[GITOPS_SIDEBAND_MAX];
	size_t		 sblen;
};

static int
gitops_op_cancelled(struct gitops_op *op)
{
	if (op->r->cancel != NULL && *op->r->cancel != 0)
		op->cancelled = 1;
	return op->cancelled;
}

static int
gitops_cb_credentials(git_credential **out, const char *url,
    const char *user_from_url, unsigned int allowed, void *payload)
{
	struct gitops_op	*op = payload;
	char			*auth;

	if (gitops_op_cancelled(op)) {
		git_error_set_str(GIT_ERROR_NET, "cancelled");
		return GIT_EUSER;
	}
	if (op->r->user == NULL || op->r->key == NULL ||
	    (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0)
		return GIT_PASSTHROUGH;
	auth = gitops_authority(url);
	if (auth == NULL || op->authority == NULL ||
	    strcmp(auth, op->authority) != 0) {
		free(op->refused);
		op->refused = auth != NULL ? auth : xstrdup("unknown host");
		git_error_set_str(GIT_ERROR_NET,
		    "refusing to send credentials to another host");
		return GIT_EUSER;
	}
	free(auth);
	if (++op->creds > GITOPS_AUTH_TRIES) {
		op->auth_failed = 1;
		git_error_set_str(GIT_ERROR_NET, "authentication failed");
		return GIT_EUSER;
	}
	return git_credential_userpass_plaintext_new(out, op->r->user,
	    op->r->key);
}

static int
gitops_cb_transfer(const git_indexer_progress *stats, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

static int
gitops_cb_pack(int stage, uint32_t current, uint32_t total, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

static int
gitops_cb_push_transfer(unsigned int current, unsigned int total,
    size_t bytes, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

/* Keeps the tail of what the server says ("remote: ..." lines). */
static int
gitops_cb_sideband(const char *str, int len, void *payload)
{
	struct gitops_op	*op = payload;
	size_t			 n = len > 0 ? (size_t)len : 0, keep;

	if (n >= sizeof op->sideband) {
		str += n - (sizeof op->sideband - 1);
		n = sizeof op->sideband - 1;
	}
	if (op->sblen + n >= sizeof op->sideband) {
		keep = sizeof op->sideband - 1 - n;
		memmove(op->sideband, op->sideband + op->sblen - keep, keep);
		op->sblen = keep;
	}
	memcpy(op->sideband + op->sblen, str, n);
	op->sblen += n;
	op->sideband[op->sblen] = '\0';
	return gitops_op_cancelled(op) ? GIT_EUSER : 0;
}

static int
gitops_cb_push_update(const char *refname, const char *status, void *data)
{
	struct gitops_op	*op = data;

	if (op->push_ref == NULL || strcmp(refname, op->push_ref) != 0)
		return 0;
	op->push_reported = 1;
	free(op->push_status);
	op->push_status = status != NULL ? xstrdup(status) : NULL;
	return 0;
}

/* The last few non-empty lines the server sent, printable only. */
static char *
gitops_op_remote_text(struct gitops_op *op)
{
	char	*lines[3] = { NULL, NULL, NULL }, *text, *p, *line, *out;
	char	*save = NULL;
	size_t	 i, n = 0;

	text = xstrdup(op->sideband);
	for (p = text; *p != '\0'; p++)
		if (*p != '\n' && *p != '\r' &&
		    ((unsigned char)*p < 0x20 || *p == 0x7f))
			*p = '?';
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0')
			continue;
		if (n == 3) {
			lines[0] = lines[1];
			lines[1] = lines[2];
			n = 2;
		}
		lines[n++] = line;
	}
	out = NULL;
	for (i = 0; i < n; i++) {
		p = out;
		out = xprintf("%s%s%s", p != NULL ? p : "",
		    p != NULL ? " | " : "", lines[i]);
		free(p);
	}
	free(text);
	return out;
}

static void	gitops_op_end(struct gitops_op *);

static int
gitops_op_begin(struct gitops_op *op, const struct gitops_remote *r,
    const char *what, char **cause)
{
	char	*pair, *b64, *scheme, *host, *port;
	int	 toolong;

	memset(op, 0, sizeof *op);
	op->r = r;
	op->what = what;
	if (r == NULL || r->url == NULL || *r->url == '\0') {
		*cause = xprintf("%s: no URL", what);
		return -1;
	}
	if (r->user != NULL && r->key != NULL)
		redact_add_basic(r->user, r->key);
	op->url = redact(r->url);
	if (gitops_has_userinfo(r->url)) {
		*cause = xprintf("%s %s: credentials in the URL are not "
		    "accepted", what, op->url);
		free(op->url);
		return -1;
	}
	if (r->cancel != NULL && *r->cancel != 0) {
		*cause = xprintf("%s %s: cancelled", what, op->url);
		free(op->url);
		return -1;
	}
	op->authority = gitops_authority(r->url);
	if (op->authority != NULL && r->user != NULL && r->key != NULL) {
		pair = xprintf("%s:%s", r->user, r->key);
		b64 = redact_base64(pair, strlen(pair));
		op->header = xprintf("Authorization: Basic %s", b64);
		explicit_bzero(pair, strlen(pair));
		explicit_bzero(b64, strlen(b64));
		free(pair);
		free(b64);
		op->headers[0] = op->header;
		op->custom.strings = op->headers;
		op->custom.count = 1;
	}
	gitops_tls_timeout = r->timeout_ms != 0 ? r->timeout_ms :
	    GITOPS_TIMEOUT_DEFAULT;
	gitops_tls_cancel = r->cancel;
	gitops_tls_err[0] = '\0';
	gitops_tls_host[0] = gitops_tls_port[0] = '\0';
	if (gitops_url_split(r->url, &scheme, &host, &port) == 0) {
		toolong = strlen(host) >= sizeof gitops_tls_host ||
		    strlen(port) >= sizeof gitops_tls_port;
		if (!toolong) {
			memcpy(gitops_tls_host, host, strlen(host) + 1);
			memcpy(gitops_tls_port, port, strlen(port) + 1);
		}
		free(scheme);
		free(host);
		free(port);
		if (toolong) {
			*cause = xprintf("%s %s: host or port too long", what,
			    op->url);
			gitops_op_end(op);
			return -1;
		}
	}
	return 0;
}

static void
gitops_op_end(struct gitops_op *op)
{
	if (op->header != NULL) {
		explicit_bzero(op->header, strlen(op->header));
		free(op->header);
	}
	free(op->url);
	free(op->authority);
	free(op->refused);
	free(op->push_status);
	gitops_tls_timeout = 0;
	gitops_tls_cancel = NULL;
	gitops_tls_host[0] = gitops_tls_port[0] = '\0';
	memset(op, 0, sizeof *op);
}

static void
gitops_op_callbacks(struct gitops_op *op, git_remote_callbacks *cb)
{
	cb->credentials = gitops_cb_credentials;
	cb->transfer_progress = gitops_cb_transfer;
	cb->sideband_progress = gitops_cb_sideband;
	cb->pack_progress = gitops_cb_pack;
	cb->push_transfer_progress = gitops_cb_push_transfer;
	cb->push_update_reference = gitops_cb_push_update;
	cb->payload = op;
}

static void
gitops_op_connect_opts(struct gitops_op *op, git_remote_connect_options *co)
{
	git_remote_connect_options_init(co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
	gitops_op_callbacks(op, &co->callbacks);
	co->proxy_opts.type = GIT_PROXY_AUTO;
	co->follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	co->custom_headers = op->custom;
}

/* *cause for a failed libgit2 call of op, most telling reason first. */
static void
gitops_op_fail(struct gitops_op *op, const char *step, char **cause)
{
	const char	*sep = step != NULL ? " " : "";

	if (step == NULL)
		step = "";
	if (gitops_op_cancelled(op))
		gitops_cause(cause, "%s %s: cancelled", op->what, op->url);
	else if (op->refused != NULL)
		gitops_cause(cause, "%s %s: refusing to send credentials to "
		    "%s", op->what, op->url, op->refused);
	else if (op->auth_failed)
		gitops_cause(cause, "authentication failed for %s", op->url);
	else if (op->creds > 0)
		/*
		 * A 401 to the credentials the header already carried: the
		 * key is wrong, whatever went wrong next.  (libgit2 1.5 trips
		 * over a 401 body without a Content-Type when it retries on
		 * the same connection: "http parser error".)
		 */
		gitops_cause(cause, "authentication failed for %s (%s)",
		    op->url, gitops_tls_err[0] != '\0' ? gitops_tls_err :
		    gitops_git_error());
	else if (gitops_tls_err[0] != '\0')
		gitops_cause(cause, "%s %s%s%s: %s", op->what, op->url, sep,
		    step, gitops_tls_err);
	else
		gitops_cause(cause, "%s %s%s%s: %s", op->what, op->url, sep,
		    step, gitops_git_error());
}

static int
gitops_ref_valid(const char *name, int allow_head)
{
	int	 valid = 0;

	if (name == NULL)
		return 0;
	if (strcmp(name, "HEAD") == 0)
		return allow_head;
	if (strncmp(name, "refs/", 5) != 0)
		return 0;
	if (git_reference_name_is_valid(&valid, name) < 0)
		return 0;
	return valid;
}

/* The head of ref among the connected remote's advertised refs. */
static int
gitops_ls_find(git_remote *remote, const char *ref, git_oid *head,
    int *found)
{
	const git_remote_head	**heads;
	size_t			  n, i;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (git_remote_ls(&heads, &n, remote) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, ref) == 0) {
			git_oid_cpy(head, &heads[i]->oid);
			*found = 1;
			break;
		}
	}
	return 0;
}

static int
gitops_remote_new(git_remote **out, git_repository *repo, const char *url)
{
	git_remote_create_options	 o;

	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(out, url, &o);
}

/* ---------------------------------------------------------------------
 * Mirror, ls, fetch.
 */

static int
gitops_dir_empty(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 empty = 1;

	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/*
 * Mirror upkeep. libgit2 has no gc: every fetch leaves a pack and every
 * promotion a few loose objects, and object lookups slow down as they
 * pile up over months. Past a bound, everything reachable from the
 * mirror's refs goes into one new pack, then the old packs and loose
 * objects are removed. Unreachable objects (a commit whose push never
 * landed) go with them. The new pack is complete before anything is
 * removed, so a crash at any point loses nothing needed.
 */
static int
gitops_is_hex(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[n] == '\0';
}

/* Counts (when del is NULL) or removes (all but the pack named keep)
 * the packs and loose objects under objdir. */
static void
gitops_objects(const char *objdir, const char *keep, size_t *packs,
    size_t *loose, int del)
{
	DIR		*d, *sub;
	struct dirent	*de, *se;
	char		*path, *file;
	size_t		 n;

	*packs = *loose = 0;
	path = xprintf("%s/pack", objdir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			n = strlen(de->d_name);
			if (strncmp(de->d_name, "pack-", 5) != 0 || n < 10 ||
			    (strcmp(de->d_name + n - 5, ".pack") != 0 &&
			    strcmp(de->d_name + n - 4, ".idx") != 0 &&
			    strcmp(de->d_name + n - 4, ".rev") != 0))
				continue;
			if (strcmp(de->d_name + n - 5, ".pack") == 0)
				(*packs)++;
			if (!del || (keep != NULL &&
			    strncmp(de->d_name + 5, keep, strlen(keep)) == 0))
				continue;
			file = xprintf("%s/%s", path, de->d_name);
			if (unlink(file) == -1)
				log_warnx("mirror upkeep: %s: %s", file,
				    strerror(errno));
			free(file);
		}
		closedir(d);
	}
	free(path);
	if ((d = opendir(objdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!gitops_is_hex(de->d_name, 2))
			continue;
		path = xprintf("%s/%s", objdir, de->d_name);
		if ((sub = opendir(path)) != NULL) {
			while ((se = readdir(sub)) != NULL) {
				if (se->d_name[0] == '.')
					continue;
				(*loose)++;
				if (!del)
					continue;
				file = xprintf("%s/%s", path, se->d_name);
				if (unlink(file) == -1)
					log_warnx("mirror upkeep: %s: %s", file,
					    strerror(errno));
				free(file);
			}
			closedir(sub);
			if (del)
				rmdir(path);
		}
		free(path);
	}
	closedir(d);
}

int
gitops_maintain(git_repository *repo, int force, int *repacked,
    char **cause)
{
	git_packbuilder	*pb = NULL;
	git_revwalk	*walk = NULL;
	char		*objdir, *keep = NULL;
	size_t		 packs, loose;
	int		 rv = -1;

	*repacked = 0;
	objdir = xprintf("%sobjects", git_repository_path(repo));
	gitops_objects(objdir, NULL, &packs, &loose, 0);
	if (!force && packs <= GITOPS_MAX_PACKS && loose <= GITOPS_MAX_LOOSE) {
		free(objdir);
		return 0;
	}
	if (git_packbuilder_new(&pb, repo) < 0 ||
	    git_revwalk_new(&walk, repo) < 0) {
		gitops_cause(cause, "mirror upkeep: %s", gitops_git_error());
		goto out;
	}
	if (git_revwalk_push_glob(walk, "*") < 0 ||
	    git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
		gitops_cause(cause, "mirror upkeep: repack: %s",
		    gitops_git_error());
		goto out;
	}
	if (git_packbuilder_object_count(pb) == 0) {
		rv = 0;	/* no refs: nothing is reachable, remove nothing */
		goto out;
	}
	keep = xstrdup(git_packbuilder_name(pb));
	gitops_objects(objdir, keep, &packs, &loose, 1);
	log_debug("mirror upkeep: %s: %zu objects in one pack",
	    git_repository_path(repo), git_packbuilder_object_count(pb));
	*repacked = 1;
	rv = 0;
out:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	free(keep);
	free(objdir);
	return rv;
}

int
gitops_mirror_open(git_repository **out, const char *path, char **cause)
{
	git_repository_init_options	 io;
	git_repository			*repo = NULL;
	struct stat			 sb;
	int				 missing = 0;

	*out = NULL;
	if (path == NULL || *path == '\0') {
		*cause = xstrdup("mirror: no path");
		return -1;
	}
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			*cause = xprintf("mirror %s: %s", path,
			    strerror(errno));
			return -1;
		}
		missing = 1;
	}
	if (missing || (S_ISDIR(sb.st_mode) && gitops_dir_empty(path))) {
		git_repository_init_options_init(&io,
		    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_BARE |
		    GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_MKDIR |
		    GIT_REPOSITORY_INIT_NO_REINIT;
		io.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
		if (git_repository_init_ext(&repo, path, &io) < 0) {
			gitops_cause(cause, "mirror %s: create: %s", path,
			    gitops_git_error());
			return -1;
		}
		log_debug("mirror %s: created", path);
	} else if (git_repository_open_bare(&repo, path) < 0) {
		gitops_cause(cause, "mirror %s: %s", path, gitops_git_error());
		return -1;
	}
	if (!git_repository_is_bare(repo)) {
		git_repository_free(repo);
		*cause = xprintf("mirror %s: not a bare repository", path);
		return -1;
	}
	*out = repo;
	return 0;
}

int
gitops_ls(const struct gitops_remote *r, const char *remote_ref,
    git_oid *head, int *found, char **cause)
{
	git_remote_connect_options	 co;
	struct gitops_op		 op;
	git_remote			*remote = NULL;
	int				 rc = -1;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (!gitops_ref_valid(remote_ref, 1)) {
		gitops_cause(cause, "ls: bad ref name \"%s\"",
		    remote_ref != NULL ? remote_ref : "");
		return -1;
	}
	if (gitops_op_begin(&op, r, "ls", cause) != 0)
		return -1;
	gitops_op_connect_opts(&op, &co);
	if (gitops_remote_new(&remote, NULL, r->url) < 0 ||
	    git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co) < 0 ||
	    gitops_ls_find(remote, remote_ref, head, found) < 0) {
		gitops_op_fail(&op, NULL, cause);
		goto out;
	}
	rc = 0;
out:
	if (remote != NULL)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	gitops_op_end(&op);
	return rc;
}

static int
gitops_have(git_repository *repo, const git_oid *id)
{
	git_odb	*odb = NULL;
	int	 have;

	if (git_repository_odb(&odb, repo) < 0)
		return 0;
	have = git_odb_exists(odb, id);
	git_odb_free(odb);
	return have;
}

int
gitops_fetch(git_repository *repo, const struct gitops_remote *r,
    const char *remote_ref, const char *local_ref, git_oid *head,
    int *found, char **cause)
{
	git_remote_connect_options	 co;
	git_fetch_options		 fo;
	struct gitops_op		 op;
	git_remote			*remote = NULL;
	git_reference			*ref = NULL;
	git_strarray			 specs;
	char				*spec = NULL;
	int				 rc = -1;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (!gitops_ref_valid(remote_ref, 1) || !gitops_ref_valid(local_ref,
	    0)) {
		gitops_cause(cause, "fetch: bad ref name \"%s\" or \"%s\"",
		    remote_ref != NULL ? remote_ref : "",
		    local_ref != NULL ? local_ref : "");
		return -1;
	}
	if (gitops_op_begin(&op, r, "fetch", cause) != 0)
		return -1;
	gitops_op_connect_opts(&op, &co);
	if (gitops_remote_new(&remote, repo, r->url) < 0 ||
	    git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co) < 0 ||
	    gitops_ls_find(remote, remote_ref, head, found) < 0) {
		gitops_op_fail(&op, NULL, cause);
		goto out;
	}
	if (!*found) {
		rc = 0;
		goto out;
	}

	/*
	 * Download on the same connection unless the objects are here.
	 * git_remote_fetch rather than git_remote_download: in 1.5 the
	 * latter leaks its copy of the custom headers (the Authorization
	 * header) on every call.
	 */
	if (!gitops_have(repo, head)) {
		spec = xprintf("+%s:%s", remote_ref, local_ref);
		specs.strings = &spec;
		specs.count = 1;
		git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
		fo.callbacks = co.callbacks;
		fo.proxy_opts = co.proxy_opts;
		fo.follow_redirects = co.follow_redirects;
		fo.custom_headers = co.custom_headers;
		fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		fo.update_fetchhead = 0;
		fo.prune = GIT_FETCH_NO_PRUNE;
		if (git_remote_fetch(remote, &specs, &fo,
		    "promote: fetch") < 0) {
			gitops_op_fail(&op, "download", cause);
			goto out;
		}
		if (!gitops_have(repo, head)) {
			gitops_cause(cause, "fetch %s: %s was advertised but "
			    "not sent", op.url, remote_ref);
			goto out;
		}
	}
	if (git_reference_create(&ref, repo, local_ref, head, 1,
	    "promote: fetch") < 0) {
		gitops_cause(cause, "fetch %s: update %s: %s", op.url,
		    local_ref, gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		*found = 0;
	free(spec);
	git_reference_free(ref);
	if (remote != NULL)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	gitops_op_end(&op);
	return rc;
}

/* ---------------------------------------------------------------------
 * Push.
 */

enum gitops_push
gitops_push(git_repository *repo, const struct gitops_remote *r,
    const git_oid *commit, const git_oid *expect, const char *remote_ref,
    git_oid *remote_head, char **cause)
{
	git_remote_connect_options	 co;
	git_push_options		 po;
	struct gitops_op		 op;
	git_remote			*remote = NULL;
	git_reference			*ref = NULL;
	git_strarray			 specs;
	git_oid				 cur, now;
	char				*spec = NULL, *said = NULL;
	enum gitops_push		 result = GITOPS_PUSH_ERROR;
	int				 found, found_now, error;
	int				 pending = 0;

	memset(remote_head, 0, sizeof *remote_head);
	if (!gitops_ref_valid(remote_ref, 0)) {
		gitops_cause(cause, "push: bad ref name \"%s\"",
		    remote_ref != NULL ? remote_ref : "");
		return GITOPS_PUSH_ERROR;
	}
	if (gitops_op_begin(&op, r, "push", cause) != 0)
		return GITOPS_PUSH_ERROR;
	op.push_ref = remote_ref;
	gitops_op_connect_opts(&op, &co);
	if (gitops_remote_new(&remote, repo, r->url) < 0 ||
	    git_remote_connect_ext(remote, GIT_DIRECTION_PUSH, &co) < 0 ||
	    gitops_ls_find(remote, remote_ref, &cur, &found) < 0) {
		gitops_op_fail(&op, NULL, cause);
		goto out;
	}
	if (found ? expect == NULL || !git_oid_equal(&cur, expect) :
	    expect != NULL) {
		git_oid_cpy(remote_head, &cur);
		result = GITOPS_PUSH_MOVED;
		goto out;
	}

	/* libgit2 pushes refs, not ids: a scratch ref carries the commit. */
	if (git_reference_create(&ref, repo, GITOPS_PENDING_REF, commit, 1,
	    "promote: pending") < 0) {
		gitops_cause(cause, "push %s: %s: %s", op.url,
		    GITOPS_PENDING_REF, gitops_git_error());
		goto out;
	}
	pending = 1;
	spec = xprintf("%s:%s", GITOPS_PENDING_REF, remote_ref);
	specs.strings = &spec;
	specs.count = 1;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = co.callbacks;
	po.proxy_opts = co.proxy_opts;
	po.follow_redirects = co.follow_redirects;
	po.custom_headers = co.custom_headers;
	po.pb_parallelism = 0;
	error = git_remote_upload(remote, &specs, &po);
	if (error == GIT_ENONFASTFORWARD && !gitops_op_cancelled(&op)) {
		git_oid_cpy(remote_head, &cur);
		result = GITOPS_PUSH_MOVED;
		goto out;
	}
	if (error < 0) {
		gitops_op_fail(&op, NULL, cause);
		goto out;
	}
	if (!op.push_reported) {
		gitops_cause(cause, "push %s %s: the server reported no status",
		    op.url, remote_ref);
		goto out;
	}
	if (op.push_status == NULL) {
		git_oid_cpy(remote_head, commit);
		result = GITOPS_PUSH_OK;
		goto out;
	}

	/*
	 * Refused.  Lost a race with another pusher ("failed to update
	 * ref", "fetch first")?  Then the ref has moved: ask once more.
	 */
	git_remote_disconnect(remote);
	if (git_remote_connect_ext(remote, GIT_DIRECTION_PUSH, &co) == 0 &&
	    gitops_ls_find(remote, remote_ref, &now, &found_now) == 0 &&
	    (found_now != found || (found && !git_oid_equal(&now, &cur)))) {
		git_oid_cpy(remote_head, &now);
		result = GITOPS_PUSH_MOVED;
		goto out;
	}
	said = gitops_op_remote_text(&op);
	gitops_cause(cause, "push %s %s: rejected: %s%s%s", op.url, remote_ref,
	    op.push_status, said != NULL ? "; remote: " : "",
	    said != NULL ? said : "");
	result = GITOPS_PUSH_REJECTED;
out:
	if (pending && git_reference_remove(repo, GITOPS_PENDING_REF) < 0)
		log_warnx("push %s: remove %s: %s", op.url, GITOPS_PENDING_REF,
		    gitops_git_error());
	free(said);
	free(spec);
	git_reference_free(ref);
	if (remote != NULL)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	gitops_op_end(&op);
	return result;
}

/* ---------------------------------------------------------------------
 * algorithmia.conf: username and algoname set in place.
 */

struct gitops_json {
	const char	*s;
	size_t		 len;
	size_t		 pos;
};

static void
gitops_json_ws(struct gitops_json *j)
{
	while (j->pos < j->len && strchr(" \t\r\n", j->s[j->pos]) != NULL &&
	    j->s[j->pos] != '\0')
		j->pos++;
}

static int
gitops_json_string(struct gitops_json *j)
{
	unsigned char	 c;
	int		 i;

	if (j->pos >= j->len || j->s[j->pos] != '"')
		return -1;
	for (j->pos++; j->pos < j->len; j->pos++) {
		c = (unsigned char)j->s[j->pos];
		if (c == '"') {
			j->pos++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (++j->pos >= j->len)
			return -1;
		c = (unsigned char)j->s[j->pos];
		if (c == 'u') {
			for (i = 0; i < 4; i++)
				if (++j->pos >= j->len ||
				    !isxdigit((unsigned char)j->s[j->pos]))
					return -1;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
			return -1;
	}
	return -1;
}

static int
gitops_json_digits(struct gitops_json *j)
{
	size_t	 start = j->pos;

	while (j->pos < j->len && isdigit((unsigned char)j->s[j->pos]))
		j->pos++;
	return j->pos > start ? 0 : -1;
}

static int
gitops_json_number(struct gitops_json *j)
{
	if (j->pos < j->len && j->s[j->pos] == '-')
		j->pos++;
	if (j->pos < j->len && j->s[j->pos] == '0')
		j->pos++;
	else if (gitops_json_digits(j) != 0)
		return -1;
	if (j->pos < j->len && j->s[j->pos] == '.') {
		j->pos++;
		if (gitops_json_digits(j) != 0)
			return -1;
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->len && (j->s[j->pos] == '+' ||
		    j->s[j->pos] == '-'))
			j->pos++;
		if (gitops_json_digits(j) != 0)
			return -1;
	}
	return 0;
}

static int
gitops_json_value(struct gitops_json *j, int depth)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t		 i, n;
	char		 open, close;

	if (depth > GITOPS_JSON_DEPTH || j->pos >= j->len)
		return -1;
	switch (j->s[j->pos]) {
	case '"':
		return gitops_json_string(j);
	case '{':
	case '[':
		open = j->s[j->pos++];
		close = open == '{' ? '}' : ']';
		gitops_json_ws(j);
		if (j->pos < j->len && j->s[j->pos] == close) {
			j->pos++;
			return 0;
		}
		for (;;) {
			if (open == '{') {
				if (gitops_json_string(j) != 0)
					return -1;
				gitops_json_ws(j);
				if (j->pos >= j->len || j->s[j->pos] != ':')
					return -1;
				j->pos++;
				gitops_json_ws(j);
			}
			if (gitops_json_value(j, depth + 1) != 0)
				return -1;
			gitops_json_ws(j);
			if (j->pos >= j->len)
				return -1;
			if (j->s[j->pos] == close) {
				j->pos++;
				return 0;
			}
			if (j->s[j->pos++] != ',')
				return -1;
			gitops_json_ws(j);
		}
	default:
		for (i = 0; i < sizeof lits / sizeof lits[0]; i++) {
			n = strlen(lits[i]);
			if (j->len - j->pos >= n &&
			    memcmp(j->s + j->pos, lits[i], n) == 0) {
				j->pos += n;
				return 0;
			}
		}
		return gitops_json_number(j);
	}
}

/* A JSON string literal of s. */
static char *
gitops_json_quote(const char *s)
{
	char	*out, *p;

	out = p = xmalloc(strlen(s) * 6 + 3);
	*p++ = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			snprintf(p, 7, "\\u%04x", c);
			p += 6;
		} else
			*p++ = (char)c;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

struct gitops_member {
	size_t	 key, keyend;		/* "key", quotes included */
	size_t	 value, valueend;
};

/*
 * The conf text with username and algoname set, or NULL when it is not
 * one JSON object.  Top-level members are located by a strict scan and
 * only their values are replaced, so nothing else changes.
 */
static char *
gitops_conf_rewrite(const char *text, size_t len, const char *owner,
    const char *algo)
{
	static const char *const names[] = { "username", "algoname" };
	struct gitops_json	 j = { text, len, 0 };
	struct gitops_member	*m = NULL;
	char			*out = NULL, *qv[2] = { NULL, NULL }, *sep;
	char			*kv;
	size_t			 nm = 0, i, k, at, start, n;
	int			 seen[2] = { 0, 0 };
	FILE			*f = NULL;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		j.pos = 3;
	gitops_json_ws(&j);
	if (j.pos >= len || text[j.pos] != '{')
		return NULL;
	start = j.pos++;
	gitops_json_ws(&j);
	if (j.pos < len && text[j.pos] == '}')
		j.pos++;
	else {
		for (;;) {
			m = xreallocarray(m, nm + 1, sizeof *m);
			m[nm].key = j.pos;
			if (gitops_json_string(&j) != 0)
				goto out;
			m[nm].keyend = j.pos;
			gitops_json_ws(&j);
			if (j.pos >= len || text[j.pos] != ':')
				goto out;
			j.pos++;
			gitops_json_ws(&j);
			m[nm].value = j.pos;
			if (gitops_json_value(&j, 1) != 0)
				goto out;
			m[nm++].valueend = j.pos;
			gitops_json_ws(&j);
			if (j.pos >= len)
				goto out;
			if (text[j.pos] == '}') {
				j.pos++;
				break;
			}
			if (text[j.pos++] != ',')
				goto out;
			gitops_json_ws(&j);
		}
	}
	gitops_json_ws(&j);
	if (j.pos != len)
		goto out;

	qv[0] = gitops_json_quote(owner);
	qv[1] = gitops_json_quote(algo);
	if ((f = open_memstream(&out, &n)) == NULL)
		goto out;
	at = 0;
	for (i = 0; i < nm; i++) {
		for (k = 0; k < 2; k++) {
			if (m[i].keyend - m[i].key != strlen(names[k]) + 2 ||
			    memcmp(text + m[i].key + 1, names[k],
			    strlen(names[k])) != 0)
				continue;
			fwrite(text + at, 1, m[i].value - at, f);
			fputs(qv[k], f);
			at = m[i].valueend;
			seen[k] = 1;
		}
	}
	/* Missing members go after the last one, laid out like the first;
	 * in an empty object, right after the '{'. */
	if (nm == 0) {
		fwrite(text + at, 1, start + 1 - at, f);
		at = start + 1;
		fprintf(f, "\"%s\": %s, \"%s\": %s", names[0], qv[0],
		    names[1], qv[1]);
	} else if (!seen[0] || !seen[1]) {
		fwrite(text + at, 1, m[nm - 1].valueend - at, f);
		at = m[nm - 1].valueend;
		sep = xstrndup(text + start + 1, m[0].key - start - 1);
		kv = xstrndup(text + m[0].keyend, m[0].value - m[0].keyend);
		for (k = 0; k < 2; k++)
			if (!seen[k])
				fprintf(f, ",%s\"%s\"%s%s", *sep != '\0' ?
				    sep : " ", names[k], kv, qv[k]);
		free(kv);
		free(sep);
	}
	fwrite(text + at, 1, len - at, f);
	if (fclose(f) != 0) {
		f = NULL;
		free(out);
		out = NULL;
		goto out;
	}
	f = NULL;
out:
	if (f != NULL) {
		fclose(f);
		free(out);
		out = NULL;
	}
	free(qv[0]);
	free(qv[1]);
	free(m);
	return out;
}

/* The id of the conf blob with owner and algo written in; *id unchanged
 * (and a warning) when the blob is no JSON object. */
static int
gitops_conf_blob(git_repository *repo, const char *owner, const char *algo,
    git_oid *id, char **cause)
{
	git_blob	*blob = NULL;
	char		*text;
	git_object_size_t size;
	int		 rc = -1;

	if (git_blob_lookup(&blob, repo, id) < 0) {
		gitops_cause(cause, "%s: %s", GITOPS_CONF, gitops_git_error());
		return -1;
	}
	size = git_blob_rawsize(blob);
	if (size > GITOPS_CONF_MAX)
		text = NULL;
	else
		text = gitops_conf_rewrite(git_blob_rawcontent(blob),
		    (size_t)size, owner, algo);
	if (text == NULL) {
		log_warnx("%s/%s: %s is not a JSON object: left as it is",
		    owner, algo, GITOPS_CONF);
		rc = 0;
	} else if (git_blob_create_from_buffer(id, repo, text,
	    strlen(text)) < 0)
		gitops_cause(cause, "%s: write: %s", GITOPS_CONF,
		    gitops_git_error());
	else
		rc = 0;
	free(text);
	git_blob_free(blob);
	return rc;
}

/* ---------------------------------------------------------------------
 * The destination tree.
 */

static int
gitops_globs(char *const *globs, const char *path)
{
	if (globs == NULL)
		return 0;
	for (; *globs != NULL; globs++)
		if (treeglob_match(*globs, path))
			return 1;
	return 0;
}

static int
gitops_globs_valid(char *const *globs, const char *what, char **cause)
{
	char	*why = NULL;

	if (globs == NULL)
		return 0;
	for (; *globs != NULL; globs++) {
		if (treeglob_valid(*globs, &why) != 0) {
			*cause = xprintf("%s: %s", what, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

/* A tree entry's path as globs see it: directories and submodules end
 * in '/'. */
static char *
gitops_entry_path(const char *prefix, const git_tree_entry *e)
{
	git_object_t	 type = git_tree_entry_type(e);
	int		 dir;

	dir = type == GIT_OBJECT_TREE || type == GIT_OBJECT_COMMIT;

	return xprintf("%s%s%s", prefix, git_tree_entry_name(e), dir ? "/" :
	    "");
}

static int
gitops_subtree(git_repository *repo, const git_tree_entry *e, git_tree **out)
{
	*out = NULL;
	if (e == NULL || git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	return git_tree_lookup(out, repo, git_tree_entry_id(e));
}

struct gitops_build {
	git_repository			*repo;
	const struct gitops_treespec	*spec;
};

static int gitops_build_tree(struct gitops_build *, git_tree *, git_tree *,
    const char *, int, git_oid *, int *, char **);

/* Builds the result for one name of a directory into tb. */
static int
gitops_build_entry(struct gitops_build *b, git_treebuilder *tb,
    const git_tree_entry *s, const git_tree_entry *d, const char *prefix,
    int depth, char **cause)
{
	const struct gitops_treespec *spec = b->spec;
	git_tree	*ssub = NULL, *dsub = NULL;
	char		*spath = NULL, *dpath = NULL, *sub = NULL;
	const char	*name;
	git_oid		 id;
	int		 rc = -1, empty;

	name = git_tree_entry_name(s != NULL ? s : d);
	if (s != NULL)
		spath = gitops_entry_path(prefix, s);
	if (d != NULL)
		dpath = gitops_entry_path(prefix, d);
	sub = xprintf("%s%s/", prefix, name);

	/* A preserved destination entry is taken whole. */
	if (d != NULL && gitops_globs(spec->preserve, dpath)) {
		if (git_treebuilder_insert(NULL, tb, name,
		    git_tree_entry_id(d), git_tree_entry_filemode(d)) < 0)
			goto git_fail;
		rc = 0;
		goto out;
	}

	if (s != NULL && !gitops_globs(spec->exclude, spath) &&
	    !gitops_globs(spec->preserve, spath)) {
		if (gitops_subtree(b->repo, d, &dsub) < 0)
			goto git_fail;
		if (git_tree_entry_type(s) == GIT_OBJECT_TREE) {
			if (gitops_subtree(b->repo, s, &ssub) < 0)
				goto git_fail;
			if (gitops_build_tree(b, ssub, dsub, sub, depth + 1,
			    &id, &empty, cause) != 0)
				goto out;
			if (!empty && git_treebuilder_insert(NULL, tb, name,
			    &id, GIT_FILEMODE_TREE) < 0)
				goto git_fail;
			rc = 0;
			goto out;
		}
		/* A source file: nothing preserved may hide below it. */
		if (dsub != NULL && spec->preserve != NULL) {
			if (gitops_build_tree(b, NULL, dsub, sub, depth + 1,
			    &id, &empty, cause) != 0)
				goto out;
			if (!empty) {
				gitops_cause(cause, "%s%s: the source has a "
				    "file where the destination has preserved "
				    "paths", prefix, name);
				goto out;
			}
		}
		git_oid_cpy(&id, git_tree_entry_id(s));
		if (*prefix == '\0' && strcmp(name, GITOPS_CONF) == 0 &&
		    spec->owner != NULL && spec->algo != NULL &&
		    (git_tree_entry_filemode(s) == GIT_FILEMODE_BLOB ||
		    git_tree_entry_filemode(s) ==
		    GIT_FILEMODE_BLOB_EXECUTABLE) &&
		    gitops_conf_blob(b->repo, spec->owner, spec->algo, &id,
		    cause) != 0)
			goto out;
		if (git_treebuilder_insert(NULL, tb, name, &id,
		    git_tree_entry_filemode(s)) < 0)
			goto git_fail;
		rc = 0;
		goto out;
	}

	/* Nothing from the source: preserved paths below the destination's
	 * directory of this name may still be kept. */
	if (d != NULL && spec->preserve != NULL &&
	    git_tree_entry_type(d) == GIT_OBJECT_TREE) {
		if (gitops_subtree(b->repo, d, &dsub) < 0)
			goto git_fail;
		if (gitops_build_tree(b, NULL, dsub, sub, depth + 1, &id,
		    &empty, cause) != 0)
			goto out;
		if (!empty && git_treebuilder_insert(NULL, tb, name, &id,
		    GIT_FILEMODE_TREE) < 0)
			goto git_fail;
	}
	rc = 0;
	goto out;

git_fail:
	gitops_cause(cause, "tree %s%s: %s", prefix, name, gitops_git_error());
out:
	git_tree_free(ssub);
	git_tree_free(dsub);
	free(spath);
	free(dpath);
	free(sub);
	return rc;
}

/* Writes the result for the directory prefix (src and dst: its trees,
 * either may be NULL) and says whether it is empty. */
static int
gitops_build_tree(struct gitops_build *b, git_tree *src, git_tree *dst,
    const char *prefix, int depth, git_oid *out, int *empty, char **cause)
{
	git_treebuilder		*tb = NULL;
	const git_tree_entry	*s, *d;
	size_t			 i, n;
	int			 rc = -1;

	*empty = 1;
	if (depth > GITOPS_MAX_DEPTH) {
		gitops_cause(cause, "tree %s: more than %d levels deep",
		    prefix, GITOPS_MAX_DEPTH);
		return -1;
	}
	if (git_treebuilder_new(&tb, b->repo, NULL) < 0) {
		gitops_cause(cause, "tree %s: %s", prefix, gitops_git_error());
		return -1;
	}
	n = src != NULL ? git_tree_entrycount(src) : 0;
	for (i = 0; i < n; i++) {
		s = git_tree_entry_byindex(src, i);
		d = dst != NULL ? git_tree_entry_byname(dst,
		    git_tree_entry_name(s)) : NULL;
		if (gitops_build_entry(b, tb, s, d, prefix, depth, cause) != 0)
			goto out;
	}
	n = dst != NULL ? git_tree_entrycount(dst) : 0;
	for (i = 0; i < n; i++) {
		d = git_tree_entry_byindex(dst, i);
		if (src != NULL && git_tree_entry_byname(src,
		    git_tree_entry_name(d)) != NULL)
			continue;
		if (gitops_build_entry(b, tb, NULL, d, prefix, depth,
		    cause) != 0)
			goto out;
	}
	*empty = git_treebuilder_entrycount(tb) == 0;
	if (git_treebuilder_write(out, tb) < 0) {
		gitops_cause(cause, "tree %s: write: %s", prefix,
		    gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	git_treebuilder_free(tb);
	return rc;
}

static int
gitops_lookup_tree(git_repository *repo, const git_oid *commit,
    git_tree **out, char **cause)
{
	git_commit	*c = NULL;
	char		 hex[GIT_OID_HEXSZ + 1];

	*out = NULL;
	if (git_commit_lookup(&c, repo, commit) < 0 ||
	    git_commit_tree(out, c) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		git_commit_free(c);
		return -1;
	}
	git_commit_free(c);
	return 0;
}

int
gitops_make_tree(git_repository *repo, const git_oid *src_commit,
    const git_oid *dst_commit, const struct gitops_treespec *spec,
    git_oid *tree, char **cause)
{
	struct gitops_build	 b;
	git_tree		*src = NULL, *dst = NULL;
	int			 rc = -1, empty;

	if (gitops_globs_valid(spec->exclude, "exclude", cause) != 0 ||
	    gitops_globs_valid(spec->preserve, "preserve", cause) != 0)
		return -1;
	if (gitops_lookup_tree(repo, src_commit, &src, cause) != 0)
		goto out;
	if (dst_commit != NULL &&
	    gitops_lookup_tree(repo, dst_commit, &dst, cause) != 0)
		goto out;
	b.repo = repo;
	b.spec = spec;
	rc = gitops_build_tree(&b, src, dst, "", 0, tree, &empty, cause);
out:
	git_tree_free(src);
	git_tree_free(dst);
	return rc;
}

/* ---------------------------------------------------------------------
 * Commits.
 */

int
gitops_commit_tree(git_repository *repo, const git_oid *commit,
    git_oid *tree, char **cause)
{
	git_commit	*c = NULL;
	char		 hex[GIT_OID_HEXSZ + 1];

	if (git_commit_lookup(&c, repo, commit) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		return -1;
	}
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int
gitops_commit(git_repository *repo, const git_oid *tree,
    const git_oid *parent, const char *author_name, const char *author_email,
    const char *message, git_oid *out, char **cause)
{
	git_signature	*sig = NULL;
	const git_oid	*parents[1];
	int		 rc = -1;

	if (message == NULL || *message == '\0') {
		*cause = xstrdup("commit: empty message");
		return -1;
	}
	if (git_signature_now(&sig, author_name != NULL ? author_name : "",
	    author_email != NULL ? author_email : "") < 0) {
		gitops_cause(cause, "commit: author: %s", gitops_git_error());
		return -1;
	}
	parents[0] = parent;
	if (git_commit_create_from_ids(out, repo, NULL, sig, sig, NULL,
	    message, tree, parent != NULL ? 1 : 0, parents) < 0) {
		gitops_cause(cause, "commit: %s", gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	git_signature_free(sig);
	return rc;
}

int
gitops_commit_message(git_repository *repo, const git_oid *commit,
    char **message, char **cause)
{
	git_commit	*c = NULL;
	const char	*m;
	char		 hex[GIT_OID_HEXSZ + 1];

	*message = NULL;
	if (git_commit_lookup(&c, repo, commit) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		return -1;
	}
	m = git_commit_message(c);
	*message = xstrdup(m != NULL ? m : "");
	git_commit_free(c);
	return 0;
}

static int
gitops_blank(const char *line, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)line[i]))
			return 0;
	return 1;
}

char *
gitops_trailer(const char *message, const char *key)
{
	const char	*p, *line, *next, *start = NULL, *colon, *v;
	const char	*para = NULL, *end;
	char		*value = NULL, *more;
	size_t		 len, klen, vlen;
	int		 any_before = 0, in_para = 0, current = 0;

	if (message == NULL || key == NULL || *key == '\0')
		return NULL;

	/* The final paragraph: the last run of non-blank lines. */
	for (p = message; *p != '\0'; p = next) {
		next = strchr(p, '\n');
		len = next != NULL ? (size_t)(next - p) : strlen(p);
		next = next != NULL ? next + 1 : p + len;
		if (gitops_blank(p, len)) {
			in_para = 0;
			continue;
		}
		if (!in_para) {
			if (start != NULL)
				any_before = 1;
			start = p;
			in_para = 1;
		}
		para = next;
	}
	if (start == NULL || !any_before)
		return NULL;	/* no message, or only a subject */
	end = para;

	klen = strlen(key);
	for (line = start; line < end; line = next) {
		next = memchr(line, '\n', (size_t)(end - line));
		len = next != NULL ? (size_t)(next - line) :
		    (size_t)(end - line);
		next = line + len + 1;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (*line == ' ' || *line == '\t') {
			/* A continuation of the trailer above. */
			if (line == start)
				goto not_trailers;
			if (!current)
				continue;
			for (v = line; v < line + len && isspace(
			    (unsigned char)*v); v++)
				;
			more = xprintf("%s %.*s", value, (int)(line + len - v),
			    v);
			free(value);
			value = more;
			continue;
		}
		for (p = line; p < line + len && (isalnum((unsigned char)*p) ||
		    *p == '-'); p++)
			;
		colon = p;
		while (colon < line + len && (*colon == ' ' || *colon == '\t'))
			colon++;
		if (p == line || colon >= line + len || *colon != ':')
			goto not_trailers;
		current = (size_t)(p - line) == klen &&
		    strncasecmp(line, key, klen) == 0;
		if (!current)
			continue;
		for (v = colon + 1; v < line + len &&
		    isspace((unsigned char)*v); v++)
			;
		vlen = (size_t)(line + len - v);
		free(value);
		value = xstrndup(v, vlen);
	}
	return value;

not_trailers:
	free(value);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Diffstat and ancestry.
 */

static char
gitops_status_char(git_delta_t status)
{
	switch (status) {
	case GIT_DELTA_ADDED:
		return 'A';
	case GIT_DELTA_DELETED:
		return 'D';
	case GIT_DELTA_RENAMED:
		return 'R';
	case GIT_DELTA_COPIED:
		return 'C';
	case GIT_DELTA_TYPECHANGE:
		return 'T';
	default:
		return 'M';
	}
}

int
gitops_diffstat(git_repository *repo, const git_oid *old_tree,
    const git_oid *new_tree, char **out, char **cause)
{
	git_diff_options	 dopts;
	git_diff_find_options	 fopts;
	git_tree		*a = NULL, *b = NULL;
	git_diff		*diff = NULL;
	git_patch		*patch = NULL;
	const git_diff_delta	*dd;
	FILE			*f = NULL;
	char			*lines = NULL;
	size_t			 i, n, len, adds, dels;
	size_t			 tadd = 0, tdel = 0;
	int			 rc = -1;

	*out = NULL;
	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	if ((old_tree != NULL && git_tree_lookup(&a, repo, old_tree) < 0) ||
	    git_tree_lookup(&b, repo, new_tree) < 0)
		goto git_fail;
	dopts.flags |= GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(&diff, repo, a, b, &dopts) < 0)
		goto git_fail;
	fopts.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_find_similar(diff, &fopts) < 0)
		goto git_fail;
	if ((f = open_memstream(&lines, &len)) == NULL) {
		*cause = xprintf("diffstat: %s", strerror(errno));
		goto out;
	}
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n; i++) {
		if (git_patch_from_diff(&patch, diff, i) < 0 ||
		    git_patch_line_stats(NULL, &adds, &dels, patch) < 0)
			goto git_fail;
		dd = git_patch_get_delta(patch);
		fprintf(f, " %c ", gitops_status_char(dd->status));
		if (dd->status == GIT_DELTA_RENAMED ||
		    dd->status == GIT_DELTA_COPIED)
			fprintf(f, "%s -> ", dd->old_file.path);
		fputs(dd->new_file.path, f);
		if (dd->flags & GIT_DIFF_FLAG_BINARY)
			fputs(" (binary)", f);
		else if (dd->status == GIT_DELTA_MODIFIED && adds == 0 &&
		    dels == 0 && dd->old_file.mode != dd->new_file.mode)
			fprintf(f, " (mode %06o -> %06o)", dd->old_file.mode,
			    dd->new_file.mode);
		else {
			fprintf(f, " (+%zu -%zu)", adds, dels);
			tadd += adds;
			tdel += dels;
		}
		fputc('\n', f);
		git_patch_free(patch);
		patch = NULL;
	}
	if (fclose(f) != 0) {
		f = NULL;
		*cause = xprintf("diffstat: %s", strerror(errno));
		goto out;
	}
	f = NULL;
	*out = xprintf("%zu file%s changed, %zu insertion%s(+), %zu "
	    "deletion%s(-)\n%s", n, n == 1 ? "" : "s", tadd,
	    tadd == 1 ? "" : "s", tdel, tdel == 1 ? "" : "s", lines);
	rc = 0;
	goto out;

git_fail:
	gitops_cause(cause, "diffstat: %s", gitops_git_error());
out:
	if (f != NULL)
		fclose(f);
	free(lines);
	git_patch_free(patch);
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}

int
gitops_is_ancestor(git_repository *repo, const git_oid *ancestor,
    const git_oid *descendant, int *yes, char **cause)
{
	int	 r;

	*yes = 0;
	if (git_oid_equal(ancestor, descendant)) {
		*yes = 1;
		return 0;
	}
	if ((r = git_graph_descendant_of(repo, descendant, ancestor)) < 0) {
		gitops_cause(cause, "ancestry: %s", gitops_git_error());
		return -1;
	}
	*yes = r;
	return 0;
}
