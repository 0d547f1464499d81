/* poller_int.h: what the parts of the poller share (poller.c: the loop and
 * the requests; poller_answer.c: reading an answer). */
#ifndef POLLER_INT_H
#define POLLER_INT_H

#include <sys/queue.h>

#include <stdint.h>

#include <curl/curl.h>

#include "httpc.h"
#include "poller.h"

struct poller_job {
	TAILQ_ENTRY(poller_job)	 entry;		/* on running or waiting */
	STAILQ_ENTRY(poller_job) done_entry;	/* on done */
	struct poller		*p;
	uint64_t		 id;
	uint64_t		 done_seq;	/* order on the done queue */
	poller_cb		 cb;
	void			*arg;

	CURL			*easy;		/* NULL when not running */
	struct curl_slist	*hdrs;
	char			*shown;		/* the URL in messages */
	char			*ref;		/* REFS: the ref looked for */
	char			*host;		/* "scheme://host:port" */
	/* What the easy handle is set up with once the job runs: a job
	 * waiting for a connection holds no handle. */
	char			*url;
	char			*user;		/* REFS with a key */
	char			*key;		/* REFS: basic-auth password */
	char			*ca_file;
	uint64_t		 timeout_ms;
	uint64_t		 t0;
	struct httpc_resp	 resp;		/* the answer, capped */

	struct poller_result	 res;
};

/* poller_answer.c */
void	 poller_fail(struct poller_job *, int transient, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 poller_finish(struct poller_job *, CURLcode);

#endif
