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
 * step (or NULL) names the part of op that failed. */
void		 gitops_op_fail(struct gitops_op *op, const char *step,
		    char **cause);

/* The last few non-empty lines the server sent, printable only, " | "
 * between them; NULL when none. */
char		*gitops_op_remote_text(struct gitops_op *op);

#endif
