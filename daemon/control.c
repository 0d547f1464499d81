/* control.c: the control socket: one JSON request line in, one JSON reply
 * line out. A unix socket, mode 0600, in a 0700 directory: whoever can
 * connect is the daemon's own user. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "atomicfile.h"
#include "control.h"
#include "log.h"
#include "monotime.h"
#include "xmalloc.h"

#define CONTROL_TIMEOUT_S	5

struct control {
	struct evconnlistener	*listener;
	char			*path;
	control_fn		 fn;
	void			*arg;
};

static char *
control_error(const char *msg)
{
	cJSON	*o = cJSON_CreateObject();
	char	*s;

	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		fatalx("out of memory");
	return s;
}

/* One client. A deferred request outlives its client: the answer then
 * goes nowhere, and frees it. */
struct control_conn {
	struct control		*c;
	struct bufferevent	*bev;	/* NULL once the client is gone */
	int			 deferred;	/* answer awaited */
};

static void
control_close(struct control_conn *cc)
{
	if (cc->bev != NULL)
		bufferevent_free(cc->bev);
	cc->bev = NULL;
	if (!cc->deferred)
		free(cc);
}

static void
control_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_close(arg);
}

static void
control_reply(struct control_conn *cc, char *reply)
{
	struct timeval	 tv = { CONTROL_TIMEOUT_S, 0 };

	bufferevent_disable(cc->bev, EV_READ);
	bufferevent_set_timeouts(cc->bev, &tv, &tv);
	bufferevent_setcb(cc->bev, NULL, control_written, NULL, cc);
	bufferevent_write(cc->bev, reply, strlen(reply));
	bufferevent_write(cc->bev, "\n", 1);
	free(reply);
}

void
control_answer(struct control_conn *cc, char *reply)
{
	cc->deferred = 0;
	if (cc->bev == NULL) {
		free(reply);
		free(cc);
		return;
	}
	control_reply(cc, reply);
}

/* A request is an object with a string "cmd" and only string (or null)
 * members: the commands' arguments. */
static int
control_valid(const cJSON *req)
{
	const cJSON	*m;

	if (!cJSON_IsObject(req) || !cJSON_IsString(
	    cJSON_GetObjectItemCaseSensitive(req, "cmd")))
		return 0;
	cJSON_ArrayForEach(m, req)
		if (!cJSON_IsString(m) && !cJSON_IsNull(m))
			return 0;
	return 1;
}

/* While an answer is awaited: whatever else the client sends is
 * dropped; its end is still seen. */
static void
control_drain(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void	control_event(struct bufferevent *, short, void *);

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct control_conn	*cc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	cJSON			*req;
	char			*line, *reply;
	size_t			 len;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_MAX_REQUEST)
			control_reply(cc, control_error("request too long"));
		return;
	}
	req = cJSON_ParseWithLength(line, len);
	free(line);
	if (!control_valid(req))
		control_reply(cc, control_error("bad request: want "
		    "{\"cmd\": \"...\", \"pair\": \"...\", ...} with string "
		    "members"));
	else if ((reply = cc->c->fn(cc->c->arg, req, cc)) != NULL)
		control_reply(cc, reply);
	else {
		/* Answered later, however long it takes. */
		cc->deferred = 1;
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setcb(bev, control_drain, NULL, control_event,
		    cc);
	}
	cJSON_Delete(req);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	control_close(arg);
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control_conn	*cc;
	struct bufferevent	*bev;
	struct timeval		 tv = { CONTROL_TIMEOUT_S, 0 };

	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	cc = xcalloc(1, sizeof *cc);
	cc->c = arg;
	cc->bev = bev;
	bufferevent_setcb(bev, control_read, NULL, control_event, cc);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_MAX_REQUEST + 1);
	bufferevent_enable(bev, EV_READ);
}

static int
control_addr(struct sockaddr_un *sun, const char *path, char **cause)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		xasprintf(cause, "control socket path \"%s\" is too long",
		    path);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * The caller holds the state_dir lock, so a socket left at path is a
 * dead instance's: it is replaced.
 */
int
control_start(struct control **out, struct event_base *base,
    const char *path, control_fn fn, void *arg, char **cause)
{
	struct control		*c;
	struct sockaddr_un	 sun;
	char			*dir, *slash;
	mode_t			 old;
	int			 fd;

	*out = NULL;
	if (control_addr(&sun, path, cause) == -1)
		return -1;
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (atomicfile_mkdirs(dir, 0700, cause) == -1) {
			free(dir);
			return -1;
		}
	}
	free(dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "unlink %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		xasprintf(cause, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0600) == -1) {
		xasprintf(cause, "chmod %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->fn = fn;
	c->arg = arg;
	c->listener = evconnlistener_new(base, control_accept, c,
	    LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (c->listener == NULL) {
		xasprintf(cause, "listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(c->path);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
control_free(struct control *c)
{
	if (c == NULL)
		return;
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c->path);
	free(c);
}

int
control_request(const char *path, const cJSON *req, uint64_t timeout_ms,
    char **reply, char **cause)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	uint64_t		 deadline;
	char			*text, *buf = NULL, *nl;
	size_t			 len = 0, cap = 0;
	ssize_t			 n;
	int			 fd, saved, rc;
	int64_t			 left;

	*reply = NULL;
	if (control_addr(&sun, path, cause) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		saved = errno;
		xasprintf(cause, "connect %s: %s", path, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	if ((text = cJSON_PrintUnformatted(req)) == NULL)
		fatalx("out of memory");
	nl = xprintf("%s\n", text);
	free(text);
	n = write(fd, nl, strlen(nl));
	free(nl);
	if (n == -1) {
		xasprintf(cause, "write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	deadline = monotime_ms() + timeout_ms;
	for (;;) {
		if ((left = (int64_t)(deadline - monotime_ms())) <= 0) {
			xasprintf(cause, "%s: no answer within %llu ms", path,
			    (unsigned long long)timeout_ms);
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if ((rc = poll(&pfd, 1, (int)left)) == -1 && errno != EINTR) {
			xasprintf(cause, "poll: %s", strerror(errno));
			goto fail;
		}
		if (rc <= 0)
			continue;	/* the deadline decides: never block */
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		if ((n = read(fd, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			xasprintf(cause, "read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL || len == 0) {
		free(buf);
		xasprintf(cause, "%s: empty answer", path);
		return -1;
	}
	buf[len] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	*reply = buf;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}
