/* gitops_remote.c: what gitops asks of a remote repository: the head of a
 * ref (ls), a fetch of it into the mirror, and a compare-and-set push. */
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "gitops_int.h"
#include "log.h"
#include "xmalloc.h"

static int
gitops_ref_valid(const char *name, int allow_head)
{
	int	 valid = 0;

	if (name == NULL)
		return 0;
	if (strcmp(name, "HEAD") == 0)
		return allow_head;
	if (strncmp(name, "refs/", 5) != 0)
		return 0;
	if (git_reference_name_is_valid(&valid, name) < 0)
		return 0;
	return valid;
}

/* The head of ref among the connected remote's advertised refs. */
static int
gitops_ls_find(git_remote *remote, const char *ref, git_oid *head,
    int *found)
{
	const git_remote_head	**heads;
	size_t			  n, i;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (git_remote_ls(&heads, &n, remote) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, ref) == 0) {
			git_oid_cpy(head, &heads[i]->oid);
			*found = 1;
			break;
		}
	}
	return 0;
}

static int
gitops_remote_new(git_remote **out, git_repository *repo, const char *url)
{
	git_remote_create_options	 o;

	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(out, url, &o);
}


/* One connection of an operation: the op, its options and the remote. */
struct gitops_conn {
	struct gitops_op		 op;
	git_remote_connect_options	 co;
	git_remote			*remote;
	int				 open;	/* op begun: close it */
};

/* Begins op what on r, connects in direction dir (repo NULL: no objects
 * to send or receive) and finds ref's head among the advertised refs.
 * -1 with *cause set; gitops_conn_close() is due either way. */
static int
gitops_conn_open(struct gitops_conn *c, git_repository *repo,
    const struct gitops_remote *r, const char *what, git_direction dir,
    const char *ref, git_oid *head, int *found, char **cause)
{
	memset(c, 0, sizeof *c);
	if (gitops_op_begin(&c->op, r, what, cause) != 0)
		return -1;
	c->open = 1;
	gitops_op_connect_opts(&c->op, &c->co);
	if (gitops_remote_new(&c->remote, repo, r->url) < 0 ||
	    git_remote_connect_ext(c->remote, dir, &c->co) < 0 ||
	    gitops_ls_find(c->remote, ref, head, found) < 0) {
		gitops_op_fail(&c->op, NULL, cause);
		return -1;
	}
	return 0;
}

static void
gitops_conn_close(struct gitops_conn *c)
{
	if (!c->open)
		return;
	if (c->remote != NULL)
		git_remote_disconnect(c->remote);
	git_remote_free(c->remote);
	gitops_op_end(&c->op);
	c->open = 0;
}

int
gitops_ls(const struct gitops_remote *r, const char *remote_ref,
    git_oid *head, int *found, char **cause)
{
	struct gitops_conn	 c;
	struct gitops_retry	 t;
	int			 rc, transient;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (!gitops_ref_valid(remote_ref, 1)) {
		gitops_cause(cause, "ls: bad ref name \"%s\"",
		    remote_ref != NULL ? remote_ref : "");
		return -1;
	}
	gitops_retry_begin(&t, r);
	do {
		rc = gitops_conn_open(&c, NULL, &t.now, "ls",
		    GIT_DIRECTION_FETCH, remote_ref, head, found, cause);
		transient = c.op.transient;
		gitops_conn_close(&c);
	} while (rc != 0 && gitops_retry_again(&t, transient, "ls", cause));
	return rc;
}

static int
gitops_have(git_repository *repo, const git_oid *id)
{
	git_odb	*odb = NULL;
	int	 have;

	if (git_repository_odb(&odb, repo) < 0)
		return 0;
	have = git_odb_exists(odb, id);
	git_odb_free(odb);
	return have;
}

/*
 * Downloads head on c's connection.  git_remote_fetch rather than
 * git_remote_download: in 1.5 the latter leaks its copy of the custom
 * headers (the Authorization header) on every call.
 */
static int
gitops_download(struct gitops_conn *c, git_repository *repo,
    const char *remote_ref, const char *local_ref, const git_oid *head,
    char **cause)
{
	git_fetch_options	 fo;
	git_strarray		 specs;
	char			*spec;
	int			 error;

	spec = xprintf("+%s:%s", remote_ref, local_ref);
	specs.strings = &spec;
	specs.count = 1;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks = c->co.callbacks;
	fo.proxy_opts = c->co.proxy_opts;
	fo.follow_redirects = c->co.follow_redirects;
	fo.custom_headers = c->co.custom_headers;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	fo.prune = GIT_FETCH_NO_PRUNE;
	error = git_remote_fetch(c->remote, &specs, &fo, "promote: fetch");
	free(spec);
	if (error < 0) {
		gitops_op_fail(&c->op, "download", cause);
		return -1;
	}
	if (!gitops_have(repo, head)) {
		gitops_cause(cause, "fetch %s: %s was advertised but not sent",
		    c->op.url, remote_ref);
		return -1;
	}
	return 0;
}

/* One try of gitops_fetch; *transient: worth another. */
static int
gitops_fetch_once(git_repository *repo, const struct gitops_remote *r,
    const char *remote_ref, const char *local_ref, git_oid *head,
    int *found, int *transient, char **cause)
{
	struct gitops_conn	 c;
	git_reference		*ref = NULL;
	int			 rc = -1;

	if (gitops_conn_open(&c, repo, r, "fetch", GIT_DIRECTION_FETCH,
	    remote_ref, head, found, cause) != 0)
		goto out;
	if (!*found) {
		rc = 0;
		goto out;
	}
	/* Download on the same connection unless the objects are here. */
	if (!gitops_have(repo, head) && gitops_download(&c, repo, remote_ref,
	    local_ref, head, cause) != 0)
		goto out;
	if (git_reference_create(&ref, repo, local_ref, head, 1,
	    "promote: fetch") < 0) {
		gitops_cause(cause, "fetch %s: update %s: %s", c.op.url,
		    local_ref, gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		*found = 0;
	*transient = rc != 0 && c.op.transient;
	git_reference_free(ref);
	gitops_conn_close(&c);
	return rc;
}

int
gitops_fetch(git_repository *repo, const struct gitops_remote *r,
    const char *remote_ref, const char *local_ref, git_oid *head,
    int *found, char **cause)
{
	struct gitops_retry	 t;
	int			 rc, transient;

	*found = 0;
	memset(head, 0, sizeof *head);
	if (!gitops_ref_valid(remote_ref, 1) || !gitops_ref_valid(local_ref,
	    0)) {
		gitops_cause(cause, "fetch: bad ref name \"%s\" or \"%s\"",
		    remote_ref != NULL ? remote_ref : "",
		    local_ref != NULL ? local_ref : "");
		return -1;
	}
	gitops_retry_begin(&t, r);
	do
		rc = gitops_fetch_once(repo, &t.now, remote_ref, local_ref,
		    head, found, &transient, cause);
	while (rc != 0 && gitops_retry_again(&t, transient, "fetch", cause));
	return rc;
}

/*
 * The server refused the push.  Lost a race with another pusher ("failed
 * to update ref", "fetch first")?  Then the ref has moved: ask once more.
 * Otherwise rejected, with what the server said.
 */
static enum gitops_push
gitops_push_refused(struct gitops_conn *c, const char *remote_ref,
    const git_oid *cur, int found, git_oid *remote_head, char **cause)
{
	git_oid		 now;
	char		*said;
	int		 found_now;

	git_remote_disconnect(c->remote);
	if (git_remote_connect_ext(c->remote, GIT_DIRECTION_PUSH,
	    &c->co) == 0 &&
	    gitops_ls_find(c->remote, remote_ref, &now, &found_now) == 0 &&
	    (found_now != found || (found && !git_oid_equal(&now, cur)))) {
		git_oid_cpy(remote_head, &now);
		return GITOPS_PUSH_MOVED;
	}
	said = gitops_op_remote_text(&c->op);
	gitops_cause(cause, "push %s %s: rejected: %s%s%s", c->op.url,
	    remote_ref, c->op.push_status, said != NULL ? "; remote: " : "",
	    said != NULL ? said : "");
	free(said);
	return GITOPS_PUSH_REJECTED;
}

/* Uploads commit to remote_ref on c's connection (cur and found: the
 * head seen there).  libgit2 pushes refs, not ids: a scratch ref carries
 * the commit, and goes again afterwards. */
static enum gitops_push
gitops_push_upload(struct gitops_conn *c, git_repository *repo,
    const git_oid *commit, const char *remote_ref, const git_oid *cur,
    int found, git_oid *remote_head, char **cause)
{
	git_push_options	 po;
	git_reference		*ref = NULL;
	git_strarray		 specs;
	char			*spec;
	enum gitops_push	 result = GITOPS_PUSH_ERROR;
	uint64_t		 sent;
	int			 error;

	if (git_reference_create(&ref, repo, GITOPS_PENDING_REF, commit, 1,
	    "promote: pending") < 0) {
		gitops_cause(cause, "push %s: %s: %s", c->op.url,
		    GITOPS_PENDING_REF, gitops_git_error());
		return GITOPS_PUSH_ERROR;
	}
	git_reference_free(ref);
	spec = xprintf("%s:%s", GITOPS_PENDING_REF, remote_ref);
	specs.strings = &spec;
	specs.count = 1;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = c->co.callbacks;
	po.proxy_opts = c->co.proxy_opts;
	po.follow_redirects = c->co.follow_redirects;
	po.custom_headers = c->co.custom_headers;
	po.pb_parallelism = 0;
	sent = gitops_stream_written();
	error = git_remote_upload(c->remote, &specs, &po);
	free(spec);
	if (error == GIT_ENONFASTFORWARD && !gitops_op_cancelled(&c->op)) {
		git_oid_cpy(remote_head, cur);
		result = GITOPS_PUSH_MOVED;
	} else if (error < 0) {
		gitops_op_fail(&c->op, NULL, cause);
		/* Sent anything?  Then it may have landed: no second try,
		 * and only a look at the remote tells. */
		if (gitops_stream_written() != sent) {
			c->op.transient = 0;
			result = GITOPS_PUSH_UNKNOWN;
		}
	} else if (!c->op.push_reported) {
		gitops_cause(cause, "push %s %s: the server reported no status",
		    c->op.url, remote_ref);
		result = GITOPS_PUSH_UNKNOWN;
	} else if (c->op.push_status == NULL) {
		git_oid_cpy(remote_head, commit);
		result = GITOPS_PUSH_OK;
	} else
		result = gitops_push_refused(c, remote_ref, cur, found,
		    remote_head, cause);
	if (git_reference_remove(repo, GITOPS_PENDING_REF) < 0)
		log_warnx("push %s: remove %s: %s", c->op.url,
		    GITOPS_PENDING_REF, gitops_git_error());
	return result;
}

/* One try of gitops_push; *again: failed before anything was sent, for
 * a reason that may pass. */
static enum gitops_push
gitops_push_once(git_repository *repo, const struct gitops_remote *r,
    const git_oid *commit, const git_oid *expect, const char *remote_ref,
    git_oid *remote_head, int *again, char **cause)
{
	struct gitops_conn	 c;
	git_oid			 cur;
	enum gitops_push	 result = GITOPS_PUSH_ERROR;
	int			 found;

	if (gitops_conn_open(&c, repo, r, "push", GIT_DIRECTION_PUSH,
	    remote_ref, &cur, &found, cause) != 0)
		goto out;
	c.op.push_ref = remote_ref;
	if (found ? expect == NULL || !git_oid_equal(&cur, expect) :
	    expect != NULL) {
		git_oid_cpy(remote_head, &cur);
		result = GITOPS_PUSH_MOVED;
		goto out;
	}
	result = gitops_push_upload(&c, repo, commit, remote_ref, &cur, found,
	    remote_head, cause);
out:
	*again = result == GITOPS_PUSH_ERROR && c.op.transient;
	gitops_conn_close(&c);
	return result;
}

enum gitops_push
gitops_push(git_repository *repo, const struct gitops_remote *r,
    const git_oid *commit, const git_oid *expect, const char *remote_ref,
    git_oid *remote_head, char **cause)
{
	struct gitops_retry	 t;
	enum gitops_push	 result;
	int			 again;

	memset(remote_head, 0, sizeof *remote_head);
	if (!gitops_ref_valid(remote_ref, 0)) {
		gitops_cause(cause, "push: bad ref name \"%s\"",
		    remote_ref != NULL ? remote_ref : "");
		return GITOPS_PUSH_ERROR;
	}
	gitops_retry_begin(&t, r);
	do
		result = gitops_push_once(repo, &t.now, commit, expect,
		    remote_ref, remote_head, &again, cause);
	while (result == GITOPS_PUSH_ERROR &&
	    gitops_retry_again(&t, again, "push", cause));
	return result;
}
