/* control.h: the control socket: one JSON request line in, one JSON reply
 * line out, for algopromotectl (status, trigger, retry, approve, pause...). */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct event_base;
struct control;

#define CONTROL_MAX_REQUEST	4096

struct control_conn;

/*
 * Called on the loop thread with the request: a JSON object whose "cmd"
 * is a string and whose other members are strings (or null, as absent).
 * Returns the reply (a JSON object, malloc'd); or NULL, and then answers
 * later with control_answer(conn, reply), exactly once, on the loop,
 * even when the client has gone meanwhile (the answer then frees conn).
 * The client waits as long as it chooses.
 */
typedef char *(*control_fn)(void *arg, const cJSON *req,
    struct control_conn *conn);

void	 control_answer(struct control_conn *, char *reply);

int	 control_start(struct control **out, struct event_base *,
	    const char *path, control_fn, void *arg, char **cause);
void	 control_free(struct control *);

/* Client side. -1 with *cause; errno ENOENT or ECONNREFUSED means no
 * daemon listens there. */
int	 control_request(const char *path, const cJSON *req,
	    uint64_t timeout_ms, char **reply, char **cause);

#endif
