/* httpd.h: the HTTP endpoint: /healthz, /metrics and /status, read only,
 * and POST /trigger/PAIR when a trigger handler is given. libevent's
 * evhttp on the main loop, bound to exactly the address given. */
#ifndef HTTPD_H
#define HTTPD_H

struct event_base;
struct httpd;
struct metrics_buf;

#define HTTPD_MAX_HEADERS	(8 * 1024)	/* request line and headers */
#define HTTPD_MAX_BODY		1024
#define HTTPD_TIMEOUT_SEC	10		/* reading a request; writing:
						 * without progress */
#define HTTPD_SLICE		(64 * 1024)	/* /metrics written at once */
#define HTTPD_ACCEPT_PAUSE_SEC	1		/* after accept(2) failed */

/*
 * Everything here runs on the loop's thread; so do the handlers, one
 * request at a time, and they must not block.  A NULL health
 * counts as healthy; a NULL metrics writes an empty exposition; a NULL
 * status_json, or one that returns NULL, answers 500.  metrics is handed
 * a buffer with slice set (metrics.h): it may write a first piece and
 * defer the rest, which is then asked for as the client takes what was
 * sent (the output drained below HTTPD_SLICE), and sent chunked.
 */
struct httpd_handlers {
	int	 (*health)(void *arg, char **why);	/* 1 healthy, 0 not:
							 * *why malloc'd */
	char	*(*status_json)(void *arg);		/* malloc'd JSON */
	void	 (*metrics)(void *arg, struct metrics_buf *);
	/* POST /trigger/PAIR: pair is the rest of the path, undecoded;
	 * authorization the header's value or NULL. Returns the status
	 * and *text, one line (malloc'd); or 0: the endpoint is off now,
	 * answered as any unknown path. Called with a NULL pair for
	 * another method, to learn whether it is on (0 or not). NULL:
	 * the endpoint does not exist. */
	int	 (*trigger)(void *arg, const char *pair,
		    const char *authorization, char **text);
	void	*arg;
};

int	 httpd_start(struct httpd **, struct event_base *, const char *listen,
	    const struct httpd_handlers *, char **cause);
int	 httpd_port(const struct httpd *);
void	 httpd_free(struct httpd *);

#endif
