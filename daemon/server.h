/* server.h: the service loop: one libevent loop owning every route, its
 * poll timer, its jobs on the worker pool, reloads, signals and endpoints. */
#ifndef SERVER_H
#define SERVER_H

struct config;

/* Runs until SIGTERM/SIGINT; takes ownership of conf. Returns the exit
 * status. path is the configuration file, read again on SIGHUP. */
int	 server_run(struct config *conf, const char *path, int verbose);

#endif
