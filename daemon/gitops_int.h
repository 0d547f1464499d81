/* gitops_int.h: what the gitops*.c files share and nothing else may use:
 * error helpers, the thread's stream context and one network operation. */
#ifndef GITOPS_INT_H
#define GITOPS_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <git2.h>

#include "gitops.h"

/* ---------------------------------------------------------------------
 * gitops.c: errors.
 */

/* libgit2's last error message of this thread, never NULL. */
const char	*gitops_git_error(void);

/* *cause = the redacted text of fmt. */
void		 gitops_cause(char **cause, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------
 * gitops_stream.c: the plain TCP stream under every git transfer.
 */

int		 gitops_stream_register(void);
void		 gitops_stream_unregister(void);

/*
 * The context of this thread's network call, from begin to end: streams
 * libgit2 opens meanwhile take its timeout (0: GITOPS_TIMEOUT_DEFAULT)
 * and cancel flag, and connect only to host:port or to a proxy named by
 * https_proxy/http_proxy (host NULL: anywhere, as for a local path).
 * -1 when host or port is too long to hold; the context is then set
 * without a host and gitops_stream_end() must still be called.
 */
int		 gitops_stream_begin(uint64_t timeout_ms,
		    const atomic_int *cancel, const char *host,
		    const char *port);
void		 gitops_stream_end(void);

/* The last stream error of this thread's call ("" when none): libgit2
 * may replace it with a vaguer message on its way up. */
const char	*gitops_stream_error_text(void);

/* The errno of that error (ECONNREFUSED, ETIMEDOUT, ...; EAGAIN for a
 * name that may resolve later; 0 when none or none fits). */
int		 gitops_stream_error_errno(void);

/* Bytes this thread's call has handed to the kernel so far. */
uint64_t	 gitops_stream_written(void);

/* ---------------------------------------------------------------------
 * gitops_op.c: one network operation (ls, fetch, push) and its
 * credentials.
 */

#define GITOPS_SIDEBAND_MAX	2048	/* server message tail kept */

struct gitops_op {
	const struct gitops_remote *r;
	const char	*what;		/* "fetch", "ls", "push" */
	char		*url;		/* r->url for messages */
	char		*authority;	/* of r->url; NULL: local path */
	char		*header;	/* "Authorization: Basic ..." */
	char		*headers[1];
	git_strarray	 custom;
	int		 creds;		/* credential callbacks */
	int		 auth_failed;
	char		*refused;	/* where we would not send */
	int		 cancelled;
	int		 transient;	/* the failure may pass: try again */

	const char	*push_ref;	/* remote ref of a push */
	int		 push_reported;
	char		*push_status;	/* server's reason, NULL: ok */
	char		 sideband[GITOPS_SIDEBAND_MAX];
	size_t		 sblen;
};

/* Checks r and sets up op and the thread's stream context; -1 with
 * *cause (nothing to end) when r cannot be used. */
int		 gitops_op_begin(struct gitops_op *op,
		    const struct gitops_remote *r, const char *what,
		    char **cause);
void		 gitops_op_end(struct gitops_op *op);

/* Connect options carrying op's callbacks, header and proxy policy. */
void		 gitops_op_connect_opts(struct gitops_op *op,
		    git_remote_connect_options *co);
int		 gitops_op_cancelled(struct gitops_op *op);

/* *cause for a failed libgit2 call of op, most telling reason first;
 * step (or NULL) names the part of op that failed.  Sets op->transient
 * (gitops_op_transient): call it right after the failure, while
 * libgit2's error is still the failure's. */
void		 gitops_op_fail(struct gitops_op *op, const char *step,
		    char **cause);

/* The last few non-empty lines the server sent, printable only, " | "
 * between them; NULL when none. */
char		*gitops_op_remote_text(struct gitops_op *op);

/* ---------------------------------------------------------------------
 * gitops_retry.c: the tries of one network step within r's retries and
 * retry_budget_ms.
 */

#define GITOPS_RETRY_BASE_MS	1000	/* the first wait */
#define GITOPS_RETRY_MAX_MS	(30 * 60 * 1000)	/* the budget ends it first */

struct gitops_retry {
	const struct gitops_remote *r;
	struct gitops_remote	 now;	/* r for this try: its timeout */
	uint64_t		 start;	/* monotime_ms() of the first */
	int			 tries;	/* allowed, >= 1 */
	int			 done;	/* tries made */
};

/* Starts a step on r (NULL: one try); t->now is the first try's r. */
void		 gitops_retry_begin(struct gitops_retry *t,
		    const struct gitops_remote *r);

/*
 * After a failed try with *cause set: 1 when another try is due, after
 * the backoff wait (logged), with *cause freed and t->now ready; 0 when
 * not (permanent, no tries or budget left, or cancelled meanwhile), with
 * *cause kept, " (after N tries)" added when there were several, or
 * replaced by "WHAT URL: cancelled".
 */
int		 gitops_retry_again(struct gitops_retry *t, int transient,
		    const char *what, char **cause);

#endif
