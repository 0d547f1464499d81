/* testhttp.h: a scripted HTTP server for the suites of HTTP clients:
 * evhttp on 127.0.0.1 in a thread, answers from a table, requests kept. */
#ifndef TESTHTTP_H
#define TESTHTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TESTHTTP_CHUNKED	0x1	/* no Content-Length; growing pieces */
#define TESTHTTP_CLOSE		0x2	/* Connection: close */
#define TESTHTTP_CANCEL		0x4	/* sets testhttp_cancelled() */

/* One scripted answer, for the first request it matches. */
struct testhttp_route {
	const char	*method;	/* NULL: any */
	const char	*uri;		/* the exact request-target, or */
	const char	*path;		/* the path alone, query left out */
	int		 status;
	const char	*ctype;		/* NULL: from headers, or the default */
	const char	*headers;	/* "Name: value\n" lines, or NULL */
	const char	*body;		/* NULL: empty, unless big */
	size_t		 len;		/* of body; 0: strlen(body) */
	size_t		 big;		/* a body of this many 'x' instead */
	int		 delay_ms;	/* answer this much later */
	int		 flags;		/* TESTHTTP_* */
	int		 times;		/* answers the first this many
					 * matches only; 0: every one */
};

/* One request as the server saw it. */
struct testhttp_seen {
	char		*method;
	char		*uri;
	char		*auth;		/* the headers' values, or NULL */
	char		*agent;
	char		*accept;
	char		*ctype;
	char		*body;		/* "" when none */
	int		 port;		/* the client's: one per connection */
	uint64_t	 ms;		/* monotime_ms() when it came */
};

void	 testhttp_global_setup(void);
void	 testhttp_global_teardown(void);
void	 testhttp_start(const struct testhttp_route *routes, size_t n,
	    const char *ctype);
void	 testhttp_stop(void);
int	 testhttp_port(void);
char	*testhttp_url(const char *path);
size_t	 testhttp_nseen(void);
const struct testhttp_seen *testhttp_seen(size_t i);
const atomic_int *testhttp_cancelled(void);

#endif
