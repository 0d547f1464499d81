/* pool.c: the worker threads that run blocking promotion jobs, and the
 * completion queue that hands finished jobs back to the event loop.
 *
 * Lock order: there is one lock, pool->lock. Workers take jobs from the
 * run queue and put them on the done queue under it; a pipe wakes the
 * loop, which moves the whole done queue out under the lock and calls
 * each done() unlocked (memcached's pattern). Jobs never touch loop
 * state; done() runs on the loop thread and may submit new jobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "pool.h"
#include "xmalloc.h"

TAILQ_HEAD(pool_queue, pool_job);

struct pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;
	struct pool_queue	 runq;
	struct pool_queue	 doneq;
	size_t			 pending;
	int			 stopping;
	pthread_t		*threads;
	int			 nthreads;
	int			 wake[2];	/* workers write, loop reads */
	struct event		*ev;
};

static void *
pool_worker(void *arg)
{
	struct pool	*p = arg;
	struct pool_job	*j;
	char		 c = 1;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stopping && TAILQ_EMPTY(&p->runq))
			pthread_cond_wait(&p->work, &p->lock);
		if ((j = TAILQ_FIRST(&p->runq)) == NULL)
			break;	/* stopping and nothing left */
		TAILQ_REMOVE(&p->runq, j, entry);
		pthread_mutex_unlock(&p->lock);
		j->run(j);
		pthread_mutex_lock(&p->lock);
		TAILQ_INSERT_TAIL(&p->doneq, j, entry);
		/* A full pipe already holds a wake-up: EAGAIN is fine. */
		(void)!write(p->wake[1], &c, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
pool_drain(struct pool *p)
{
	struct pool_queue	 q;
	struct pool_job		*j;
	char			 buf[64];

	while (read(p->wake[0], buf, sizeof buf) > 0)
		;
	TAILQ_INIT(&q);
	pthread_mutex_lock(&p->lock);
	TAILQ_CONCAT(&q, &p->doneq, entry);
	pthread_mutex_unlock(&p->lock);
	while ((j = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, j, entry);
		pthread_mutex_lock(&p->lock);
		p->pending--;
		pthread_mutex_unlock(&p->lock);
		j->done(j);
	}
}

static void
pool_wakeup(evutil_socket_t fd, short what, void *arg)
{
	pool_drain(arg);
}

int
pool_new(struct pool **out, struct event_base *base, int nthreads,
    char **cause)
{
	struct pool	*p;
	int		 i;

	*out = NULL;
	p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	TAILQ_INIT(&p->runq);
	TAILQ_INIT(&p->doneq);
	p->wake[0] = p->wake[1] = -1;
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		goto fail;
	}
	p->ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, pool_wakeup,
	    p);
	if (p->ev == NULL || event_add(p->ev, NULL) == -1) {
		xasprintf(cause, "cannot watch the completion pipe");
		goto fail;
	}
	p->threads = xcalloc((size_t)nthreads, sizeof *p->threads);
	for (i = 0; i < nthreads; i++) {
		if ((errno = pthread_create(&p->threads[i], NULL, pool_worker,
		    p)) != 0) {
			xasprintf(cause, "starting worker %d: %s", i,
			    strerror(errno));
			p->nthreads = i;
			pool_free(p);
			return -1;
		}
	}
	p->nthreads = nthreads;
	*out = p;
	return 0;
fail:
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->wake[0] != -1) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return -1;
}

void
pool_submit(struct pool *p, struct pool_job *j)
{
	pthread_mutex_lock(&p->lock);
	TAILQ_INSERT_TAIL(&p->runq, j, entry);
	p->pending++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

size_t
pool_pending(struct pool *p)
{
	size_t	 n;

	pthread_mutex_lock(&p->lock);
	n = p->pending;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Lets queued and running jobs finish, calls their done() here, and
 * frees everything. The caller bounds the wait by cancelling its jobs. */
void
pool_free(struct pool *p)
{
	int	 i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pool_drain(p);
	event_free(p->ev);
	close(p->wake[0]);
	close(p->wake[1]);
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
