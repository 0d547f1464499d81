/* control.h: the control socket: one JSON request line in, one JSON reply
 * line out, for algopromotectl (trigger, retry, approve, status). */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdint.h>

struct event_base;
struct control;

#define CONTROL_MAX_REQUEST	4096

/* Called on the loop thread; returns the reply (a JSON object, malloc'd). */
typedef char *(*control_fn)(void *arg, const char *cmd, const char *pair);

int	 control_start(struct control **out, struct event_base *,
	    const char *path, control_fn, void *arg, char **cause);
void	 control_free(struct control *);

/* Client side. -1 with *cause; errno ENOENT or ECONNREFUSED means no
 * daemon listens there. */
int	 control_request(const char *path, const char *cmd, const char *pair,
	    uint64_t timeout_ms, char **reply, char **cause);

#endif
