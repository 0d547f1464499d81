/* pool.h: the worker threads that run blocking promotion jobs, and the
 * completion queue that hands finished jobs back to the event loop. */
#ifndef POOL_H
#define POOL_H

#include <sys/queue.h>

#include <stddef.h>

struct event_base;
struct pool;

struct pool_job {
	void			(*run)(struct pool_job *);	/* worker */
	void			(*done)(struct pool_job *);	/* loop */
	TAILQ_ENTRY(pool_job)	 entry;
};

int	 pool_new(struct pool **out, struct event_base *base, int nthreads,
	    char **cause);
void	 pool_submit(struct pool *, struct pool_job *);
size_t	 pool_pending(struct pool *);	/* queued + running */
void	 pool_free(struct pool *);

#endif
