/* gitops.c: libgit2's set-up for the daemon (start-up, trusted CAs,
 * shutdown) and the error helpers every gitops*.c file shares. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "atomicfile.h"
#include "gitops_int.h"
#include "log.h"
#include "redact.h"
#include "xmalloc.h"

int
gitops_init(void)
{
	const git_error	*e;

	if (git_libgit2_init() < 0)
		goto fail;
	if (gitops_stream_register() < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_USER_AGENT,
	    "algopromoted/" AP_VERSION) < 0) {
		git_libgit2_shutdown();
		goto fail;
	}
	return 0;

fail:
	e = git_error_last();
	log_warnx("libgit2 initialisation: %s", e != NULL ? e->message :
	    "unknown error");
	return -1;
}

/*
 * libgit2's TLS (mbedTLS) has one CA chain for the whole process. Extra
 * CA files (a cluster's ca_file) join the system's: their PEM text goes
 * into one bundle file, loaded together with GITOPS_CAPATH. Call it at
 * start-up, before any transfer: libgit2 frees the old chain in place.
 */
int
gitops_trust(char *const *ca_files, const char *bundle, char **cause)
{
	const git_error	*e;
	char		*all = NULL, *data, *why = NULL;
	size_t		 len = 0, n, i;
	int		 rv = -1;

	if (ca_files == NULL || ca_files[0] == NULL)
		return 0;
	for (i = 0; ca_files[i] != NULL; i++) {
		if (atomicfile_read(ca_files[i], &data, &n, GITOPS_CA_MAX,
		    &why) == -1) {
			xasprintf(cause, "ca_file: %s", why);
			free(why);
			goto out;
		}
		all = xrealloc(all, len + n + 2);
		memcpy(all + len, data, n);
		len += n;
		all[len++] = '\n';
		free(data);
	}
	if (atomicfile_write(bundle, all, len, 0600, &why) == -1) {
		xasprintf(cause, "CA bundle: %s", why);
		free(why);
		goto out;
	}
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, bundle,
	    access(GITOPS_CAPATH, R_OK) == 0 ? GITOPS_CAPATH : NULL) < 0) {
		e = git_error_last();
		xasprintf(cause, "CA bundle %s: %s", bundle,
		    e != NULL ? e->message : "cannot be loaded");
		goto out;
	}
	rv = 0;
out:
	free(all);
	return rv;
}

void
gitops_shutdown(void)
{
	gitops_stream_unregister();
	git_libgit2_shutdown();
}

/* ---------------------------------------------------------------------
 * Errors.
 */

const char *
gitops_git_error(void)
{
	const git_error	*e = git_error_last();

	return e != NULL && e->message != NULL && *e->message != '\0' ?
	    e->message : "libgit2 gave no reason";
}

void
gitops_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	*cause = redact(text);
	free(text);
}

