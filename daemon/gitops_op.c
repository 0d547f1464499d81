/* gitops_op.c: one network operation of gitops (ls, fetch, push): its
 * credentials, bounded and for its own host only, callbacks and causes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "gitops_int.h"
#include "redact.h"
#include "url.h"
#include "xmalloc.h"

/* Could url carry "user[:pass]@"?  Any '@' after the scheme counts: a raw
 * key may hold '/', which hides where the host really starts. */
static int
gitops_has_userinfo(const char *url)
{
	const char	*p;

	if ((p = strstr(url, "://")) == NULL)
		return 0;
	p += 3;
	return memchr(p, '@', strcspn(p, "?#")) != NULL;
}

int
gitops_op_cancelled(struct gitops_op *op)
{
	if (op->r->cancel != NULL && atomic_load(op->r->cancel) != 0)
		op->cancelled = 1;
	return op->cancelled;
}

static int
gitops_cb_credentials(git_credential **out, const char *url,
    const char *user_from_url, unsigned int allowed, void *payload)
{
	struct gitops_op	*op = payload;
	char			*auth;

	if (gitops_op_cancelled(op)) {
		git_error_set_str(GIT_ERROR_NET, "cancelled");
		return GIT_EUSER;
	}
	if (op->r->user == NULL || op->r->key == NULL ||
	    (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0)
		return GIT_PASSTHROUGH;
	auth = url_authority(url);
	if (auth == NULL || op->authority == NULL ||
	    strcmp(auth, op->authority) != 0) {
		free(op->refused);
		op->refused = auth != NULL ? auth : xstrdup("unknown host");
		git_error_set_str(GIT_ERROR_NET,
		    "refusing to send credentials to another host");
		return GIT_EUSER;
	}
	free(auth);
	if (++op->creds > GITOPS_AUTH_TRIES) {
		op->auth_failed = 1;
		git_error_set_str(GIT_ERROR_NET, "authentication failed");
		return GIT_EUSER;
	}
	return git_credential_userpass_plaintext_new(out, op->r->user,
	    op->r->key);
}

static int
gitops_cb_transfer(const git_indexer_progress *stats, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

static int
gitops_cb_pack(int stage, uint32_t current, uint32_t total, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

static int
gitops_cb_push_transfer(unsigned int current, unsigned int total,
    size_t bytes, void *payload)
{
	return gitops_op_cancelled(payload) ? GIT_EUSER : 0;
}

/* Keeps the tail of what the server says ("remote: ..." lines). */
static int
gitops_cb_sideband(const char *str, int len, void *payload)
{
	struct gitops_op	*op = payload;
	size_t			 n = len > 0 ? (size_t)len : 0, keep;

	if (n >= sizeof op->sideband) {
		str += n - (sizeof op->sideband - 1);
		n = sizeof op->sideband - 1;
	}
	if (op->sblen + n >= sizeof op->sideband) {
		keep = sizeof op->sideband - 1 - n;
		memmove(op->sideband, op->sideband + op->sblen - keep, keep);
		op->sblen = keep;
	}
	memcpy(op->sideband + op->sblen, str, n);
	op->sblen += n;
	op->sideband[op->sblen] = '\0';
	return gitops_op_cancelled(op) ? GIT_EUSER : 0;
}

static int
gitops_cb_push_update(const char *refname, const char *status, void *data)
{
	struct gitops_op	*op = data;

	if (op->push_ref == NULL || strcmp(refname, op->push_ref) != 0)
		return 0;
	op->push_reported = 1;
	free(op->push_status);
	op->push_status = status != NULL ? xstrdup(status) : NULL;
	return 0;
}

char *
gitops_op_remote_text(struct gitops_op *op)
{
	char	*lines[3] = { NULL, NULL, NULL }, *text, *p, *line, *out;
	char	*save = NULL;
	size_t	 i, n = 0;

	text = xstrdup(op->sideband);
	for (p = text; *p != '\0'; p++)
		if (*p != '\n' && *p != '\r' &&
		    ((unsigned char)*p < 0x20 || *p == 0x7f))
			*p = '?';
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0')
			continue;
		if (n == 3) {
			lines[0] = lines[1];
			lines[1] = lines[2];
			n = 2;
		}
		lines[n++] = line;
	}
	out = NULL;
	for (i = 0; i < n; i++) {
		p = out;
		out = xprintf("%s%s%s", p != NULL ? p : "",
		    p != NULL ? " | " : "", lines[i]);
		free(p);
	}
	free(text);
	return out;
}

int
gitops_op_begin(struct gitops_op *op, const struct gitops_remote *r,
    const char *what, char **cause)
{
	struct url	 u;
	char		*pair, *b64, *why = NULL;
	int		 split, toolong;

	memset(op, 0, sizeof *op);
	op->r = r;
	op->what = what;
	/* libgit2's last error is per thread and outlives its operation:
	 * one that fails without a word must not show an older failure's. */
	git_error_clear();
	if (r == NULL || r->url == NULL || *r->url == '\0') {
		*cause = xprintf("%s: no URL", what);
		return -1;
	}
	if (r->user != NULL && r->key != NULL)
		redact_add_basic(r->user, r->key);
	op->url = redact(r->url);
	if (gitops_has_userinfo(r->url)) {
		*cause = xprintf("%s %s: credentials in the URL are not "
		    "accepted", what, op->url);
		free(op->url);
		return -1;
	}
	if (r->cancel != NULL && atomic_load(r->cancel) != 0) {
		*cause = xprintf("%s %s: cancelled", what, op->url);
		free(op->url);
		return -1;
	}
	op->authority = url_authority(r->url);
	if (op->authority != NULL && r->user != NULL && r->key != NULL) {
		pair = xprintf("%s:%s", r->user, r->key);
		b64 = redact_base64(pair, strlen(pair));
		op->header = xprintf("Authorization: Basic %s", b64);
		explicit_bzero(pair, strlen(pair));
		explicit_bzero(b64, strlen(b64));
		free(pair);
		free(b64);
		op->headers[0] = op->header;
		op->custom.strings = op->headers;
		op->custom.count = 1;
	}
	/* Not a URL (a local path, file://): no host to hold streams to. */
	split = url_split(&u, r->url, &why) == 0;
	if (!split)
		free(why);
	toolong = gitops_stream_begin(r->timeout_ms, r->cancel,
	    split ? u.host : NULL, split ? u.port : NULL) != 0;
	url_clear(&u);
	if (toolong) {
		*cause = xprintf("%s %s: host or port too long", what,
		    op->url);
		gitops_op_end(op);
		return -1;
	}
	return 0;
}

void
gitops_op_end(struct gitops_op *op)
{
	if (op->header != NULL) {
		explicit_bzero(op->header, strlen(op->header));
		free(op->header);
	}
	free(op->url);
	free(op->authority);
	free(op->refused);
	free(op->push_status);
	gitops_stream_end();
	memset(op, 0, sizeof *op);
}

static void
gitops_op_callbacks(struct gitops_op *op, git_remote_callbacks *cb)
{
	cb->credentials = gitops_cb_credentials;
	cb->transfer_progress = gitops_cb_transfer;
	cb->sideband_progress = gitops_cb_sideband;
	cb->pack_progress = gitops_cb_pack;
	cb->push_transfer_progress = gitops_cb_push_transfer;
	cb->push_update_reference = gitops_cb_push_update;
	cb->payload = op;
}

void
gitops_op_connect_opts(struct gitops_op *op, git_remote_connect_options *co)
{
	git_remote_connect_options_init(co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
	gitops_op_callbacks(op, &co->callbacks);
	co->proxy_opts.type = GIT_PROXY_AUTO;
	co->follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	co->custom_headers = op->custom;
}

/* The HTTP status in libgit2's message m for an answer it did not
 * expect, from the server or a proxy; 0 when m is about something else. */
static long
gitops_op_http_status(const char *m)
{
	static const char *const lead[] = { "unexpected http status code: ",
	    "proxy returned unexpected status: " };
	const char	*p;
	size_t		 i;

	for (i = 0; i < sizeof lead / sizeof lead[0]; i++)
		if ((p = strstr(m, lead[i])) != NULL)
			return strtol(p + strlen(lead[i]), NULL, 10);
	return 0;
}

/*
 * Is op's failure one that may pass by itself?  The one place that
 * decides.  Yes: a connection refused, reset, unreachable or timed out
 * (the stream's errno; its error, when there is one, is the failure), a
 * name that did not resolve for now, an answer cut short (libgit2 1.5's
 * "unexpected EOF", "early EOF", http_parser's "stream ended at an
 * unexpected time"), an HTTP 5xx, 429 or 408.  No:
 * a cancel, credentials refused or rejected, any other HTTP status (401,
 * 403, 404 ...), a protocol error, anything else.
 */
static int
gitops_op_transient(struct gitops_op *op)
{
	static const char *const cut[] = { "unexpected EOF", "early EOF",
	    "stream ended at an unexpected time" };
	const git_error	*e = git_error_last();
	size_t		 i;
	long		 status;

	if (gitops_op_cancelled(op) || op->refused != NULL ||
	    op->auth_failed || op->creds > 0)
		return 0;
	if (*gitops_stream_error_text() != '\0') {
		switch (gitops_stream_error_errno()) {
		case ECONNREFUSED:
		case ECONNRESET:
		case ECONNABORTED:
		case EPIPE:
		case ETIMEDOUT:
		case EHOSTUNREACH:
		case ENETUNREACH:
		case ENETDOWN:
		case EHOSTDOWN:
		case EAGAIN:
			return 1;
		default:
			return 0;
		}
	}
	if (e == NULL || e->message == NULL)
		return 0;
	for (i = 0; i < sizeof cut / sizeof cut[0]; i++)
		if (strstr(e->message, cut[i]) != NULL)
			return 1;
	status = gitops_op_http_status(e->message);
	return (status >= 500 && status <= 599) || status == 429 ||
	    status == 408;
}

void
gitops_op_fail(struct gitops_op *op, const char *step, char **cause)
{
	const char	*sep = step != NULL ? " " : "";

	op->transient = gitops_op_transient(op);

	if (step == NULL)
		step = "";
	if (gitops_op_cancelled(op))
		gitops_cause(cause, "%s %s: cancelled", op->what, op->url);
	else if (op->refused != NULL)
		gitops_cause(cause, "%s %s: refusing to send credentials to "
		    "%s", op->what, op->url, op->refused);
	else if (op->auth_failed)
		gitops_cause(cause, "authentication failed for %s", op->url);
	else if (op->creds > 0)
		/*
		 * A 401 to the credentials the header already carried: the
		 * key is wrong, whatever went wrong next.  (libgit2 1.5 trips
		 * over a 401 body without a Content-Type when it retries on
		 * the same connection: "http parser error".)
		 */
		gitops_cause(cause, "authentication failed for %s (%s)",
		    op->url, *gitops_stream_error_text() != '\0' ?
		    gitops_stream_error_text() :
		    gitops_git_error());
	else if (*gitops_stream_error_text() != '\0')
		gitops_cause(cause, "%s %s%s%s: %s", op->what, op->url, sep,
		    step, gitops_stream_error_text());
	else
		gitops_cause(cause, "%s %s%s%s: %s", op->what, op->url, sep,
		    step, gitops_git_error());
}
