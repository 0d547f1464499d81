/* plan.h: what a promotion of a pair would do now, asked of the running
 * service over the control socket. */
#ifndef PLAN_H
#define PLAN_H

struct control_conn;
struct server;

/*
 * Starts a dry run of each destination of pair (or just dest) on the
 * pool; conn is answered when they end. 0 started, or -1 with *error
 * (malloc'd). Loop only; one plan at a time.
 */
int	 plan_start(struct server *, const char *pair, const char *dest,
	    struct control_conn *conn, char **error);
/* Removes what plans a crash left in state_dir. */
void	 plan_cleanup(const char *state_dir);

#endif
