/* status.h: what the service says about its routes: the route JSON of
 * `status` and /status.json, state_dir/status.json, and sd_notify STATUS=. */
#ifndef STATUS_H
#define STATUS_H

#include <cjson/cJSON.h>

struct server;

/* Loop only. */
cJSON	*status_routes(struct server *);
char	*status_text(void *server);
void	 status_write(struct server *);

#endif
