/* gitops.h: every libgit2 operation of a promotion (fetch, tree, commit, push).
 * Network calls run with a timeout, a cancel flag and in-memory credentials. */
#ifndef GITOPS_H
#define GITOPS_H

/*
 * Set-up and errors in gitops.c; the TCP stream in gitops_stream.c; one
 * network operation, its credentials and which failures are transient
 * in gitops_op.c; the tries of a step in gitops_retry.c; ls, fetch and
 * push in gitops_remote.c; the mirror in gitops_mirror.c; trees and
 * commits in gitops_tree.c (the algorithmia.conf rewrite: algoconf.c);
 * messages and the diffstat in gitops_msg.c.  gitops_int.h holds what
 * they share.
 */

#include <stdatomic.h>
#include <stdint.h>

#include <git2.h>

#define GITOPS_TIMEOUT_DEFAULT	30000	/* ms: timeout_ms 0 */
#define GITOPS_AUTH_TRIES	2	/* credential callback calls per op */
#define GITOPS_PENDING_REF	"refs/promote/pending"

/*
 * Where and how to reach one repository.  The key goes out only in an
 * "Authorization: Basic" header (sent up front, so no 401 round trip)
 * and through the credential callback (at most GITOPS_AUTH_TRIES calls
 * per operation), and only to the host and port of url: redirects
 * elsewhere are not followed, and connections anywhere else are refused
 * except to a proxy named by https_proxy/http_proxy (GIT_PROXY_AUTO;
 * a proxy from git config is refused).  The key is never written to a
 * URL, a config, a ref or a file, and every cause returned has it
 * masked (redact.h; gitops registers user and key there itself).  A url
 * with '@' after the scheme ("https://u:p@host/") is refused.  Local
 * paths and file:// URLs work too (tests); user and key are unused.
 *
 * ls, fetch and push try again after a transient failure (a connect
 * refused, reset or timed out; a read or write reset or timed out; an
 * answer cut short; HTTP 5xx or 429), up to retries tries, waiting 1 s,
 * 2 s, 4 s ... (backoff.c's jitter) in between, each wait logged
 * at info.  With retry_budget_ms, no wait ends past the budget, counted
 * from the first try, and each try's timeout_ms is cut to what is left
 * of it.  A cancel ends a wait within BACKOFF_SLICE_MS.  Anything
 * else (401, 403, 404, a failed authentication, a protocol error, a
 * refused redirect or push) fails at once.  A push is tried again only
 * when nothing of its upload was sent: a failure after that may have
 * updated the ref, so it is returned at once (GITOPS_PUSH_UNKNOWN) and
 * the next look at the destination tells.  libgit2 does not show
 * response headers, so a Retry-After on a git request is not seen.
 */
struct gitops_remote {
	const char	*url;	/* https://git.host/git/OWNER/ALGO.git */
	const char	*user;	/* key owner: basic-auth user */
	const char	*key;	/* API key: basic-auth password */
	uint64_t	 timeout_ms; /* connect and per read/write */
	const atomic_int *cancel; /* non-zero: abort soon; or NULL */
	int		 retries; /* tries per step; 0 or 1: one */
	uint64_t	 retry_budget_ms; /* of a step; 0: tries only */
	const char	*who;	/* the route a retry line is about; or NULL */
	/* Called with each failed try that would be tried again: non-zero
	 * stops the tries, the cause then ending "(not tried again: WHY)";
	 * or NULL. */
	int		(*halt)(void *arg, char *why, size_t len);
	void		*halt_arg;
};

/*
 * Start-up and shutdown, once each, in the main thread, before and after
 * any other gitops call: libgit2's global state and a replacement plain
 * TCP stream (TCP_NODELAY, connect and I/O timeouts, cancellation) that
 * https:// uses underneath too.
 */
int	 gitops_init(void);
void	 gitops_shutdown(void);

#define GITOPS_CAPATH	"/etc/ssl/certs"	/* the system's CAs */
#define GITOPS_CA_MAX	(4 * 1024 * 1024)	/* bytes of one ca_file */

/* Trust the PEM CA files (NULL-terminated; NULL or empty: nothing to
 * do) besides the system's for every git transfer, through one bundle
 * file written at bundle. At start-up only, before any transfer. */
int	 gitops_trust(char *const *ca_files, const char *bundle,
	    char **cause);

/*
 * Every function below runs in one thread at a time per repository (one
 * job per mirror); different threads may work on different mirrors.
 * The timeout and cancel flag of a network call live in thread-local
 * storage for the duration of the call.  Functions that can fail return
 * 0 on success and -1 with *cause set (caller frees) otherwise.
 */

/* Opens the bare mirror at path, creating it (and missing parents, or
 * filling an empty directory) when absent.  It holds no remotes and no
 * config with URLs; its config holds the pack settings of our pushes
 * (no delta search above 1 MiB; gitops_mirror.c says why), written
 * again when changed. */
int	 gitops_mirror_open(git_repository **out, const char *path,
	    char **cause);
/* Every ref's commit and trees readable and its blobs present: 0, or -1
 * with *cause naming the first damaged ref and what libgit2 said. */
int	 gitops_mirror_verify(git_repository *repo, char **cause);
/* Removes the *.lock files a killed process left in the mirror at path
 * (one not in use); returns how many. */
int	 gitops_mirror_unlock(const char *path);
/* Moves the mirror at path to *aside (path.corrupt, an older one there
 * removed) for a fresh one to be made: 0, or -1 with *cause. */
int	 gitops_mirror_discard(const char *path, char **aside, char **cause);
/* Removes the directory path and all it holds; a missing one is fine. */
int	 gitops_mirror_remove(const char *path, char **cause);

/* Fetches remote_ref ("refs/heads/master") into local_ref of repo, over
 * one connection: ls, then download only when *head is not already
 * present.  *found = 0 and no error when the remote has no such ref
 * (empty repository); local_ref is then left alone. */
int	 gitops_fetch(git_repository *repo, const struct gitops_remote *r,
	    const char *remote_ref, const char *local_ref, git_oid *head,
	    int *found, char **cause);

/* The head of remote_ref without fetching: connect and list refs. */
int	 gitops_ls(const struct gitops_remote *r, const char *remote_ref,
	    git_oid *head, int *found, char **cause);

struct gitops_treespec {
	char *const	*exclude;	/* NULL-terminated; may be NULL */
	char *const	*preserve;	/* NULL-terminated; may be NULL */
	const char	*owner;		/* for algorithmia.conf */
	const char	*algo;
	/* A root file of the source whose content is replaced by the blob
	 * replace_id (a re-locked model manifest); NULL: none. */
	const char	*replace_name;
	const git_oid	*replace_id;
};

/*
 * The destination tree, in repo (both commits must be there):
 *   - every path of src_commit's tree that no exclude and no preserve
 *     glob matches (treeglob.h), entry mode and id unchanged: 100644,
 *     100755, 120000 (symlink) and 160000 (submodule) alike;
 *   - every path of dst_commit's tree that a preserve glob matches
 *     (dst_commit NULL: none), so a preserved path absent at the
 *     destination is absent in the result, and one that exists only
 *     there is kept; a preserved directory at the destination wins
 *     over a source file of the same name;
 *   - a root algorithmia.conf from the source that is a JSON object
 *     gets "username" = owner and "algoname" = algo: the values are
 *     replaced in place (added after the last member when missing), so
 *     other keys, their order and the formatting stay as they were
 *     (algoconf.h).  Anything else there is kept as is with a log_warnx;
 *   - a root file named replace_name (a blob in the source) is the blob
 *     replace_id instead, its mode kept.
 * Unchanged subtrees keep their ids, so an unchanged result has the tree
 * id of the last promotion.  Fails on a bad glob and when a source file
 * and preserved destination paths under a directory of the same name
 * collide.
 */
int	 gitops_make_tree(git_repository *repo, const git_oid *src_commit,
	    const git_oid *dst_commit, const struct gitops_treespec *spec,
	    git_oid *tree, char **cause);

/* Mirror upkeep: past GITOPS_MAX_PACKS packs or GITOPS_MAX_LOOSE loose
 * objects (or always, with force), everything reachable from the refs is
 * repacked into one pack and the rest removed; *repacked says whether. */
#define GITOPS_MAX_PACKS	32
#define GITOPS_MAX_LOOSE	1024
int	 gitops_maintain(git_repository *repo, int force, int *repacked,
	    char **cause);

/* The blob name at the root of commit's tree: 1 with *text (NUL added;
 * caller frees) and *len, 0 when there is no such blob, -1 (*cause,
 * also when it is larger than max bytes). */
int	 gitops_root_blob(git_repository *repo, const git_oid *commit,
	    const char *name, size_t max, char **text, size_t *len,
	    char **cause);
/* Writes len bytes of data as a blob; its id in *id. */
int	 gitops_blob_write(git_repository *repo, const void *data, size_t len,
	    git_oid *id, char **cause);

/* The tree id of commit. */
int	 gitops_commit_tree(git_repository *repo, const git_oid *commit,
	    git_oid *tree, char **cause);

/* Writes a commit of tree with parent (NULL: a root commit); author and
 * committer are author_name <author_email> now.  No ref is updated. */
int	 gitops_commit(git_repository *repo, const git_oid *tree,
	    const git_oid *parent, const char *author_name,
	    const char *author_email, const char *message, git_oid *out,
	    char **cause);

enum gitops_push {
	GITOPS_PUSH_OK,		/* *remote_head = commit */
	GITOPS_PUSH_MOVED,	/* remote head is not expect; nothing done */
	GITOPS_PUSH_REJECTED,	/* the server refused; reason in *cause */
	GITOPS_PUSH_UNKNOWN,	/* failed after the upload began: it may
				 * have landed; *cause set */
	GITOPS_PUSH_ERROR	/* anything else; *cause set */
};

/*
 * Pushes commit to remote_ref over one connection.  expect is the remote
 * head the commit was built on (NULL: remote_ref must not exist).  The
 * refs are listed first: when remote_ref's head is not expect, nothing is
 * pushed and the result is GITOPS_PUSH_MOVED with *remote_head set to the
 * head seen (all zeros when the ref is absent; equal to commit when an
 * earlier push of this commit did land).  Otherwise commit goes to the
 * scratch ref GITOPS_PENDING_REF of repo (removed again before return)
 * and is uploaded.  A GIT_ENONFASTFORWARD from libgit2 is
 * GITOPS_PUSH_MOVED too.  A ref the server refuses is
 * GITOPS_PUSH_REJECTED, *cause = "push URL REF: rejected: REASON" plus
 * "; remote: " and the server's last (up to 3) message lines, " | "
 * between them, when it sent any (a hook's stderr); but when the ref
 * turns out to have moved meanwhile (a lost race: a new ls), it is
 * GITOPS_PUSH_MOVED.  A failure once the upload has begun (a reset, a
 * timeout, a 5xx, no status report) is GITOPS_PUSH_UNKNOWN: the ref may
 * or may not have moved, and only a look at the remote tells; it is not
 * tried again here.  *cause is set for REJECTED, UNKNOWN and ERROR.
 */
enum gitops_push gitops_push(git_repository *repo,
	    const struct gitops_remote *r, const git_oid *commit,
	    const git_oid *expect, const char *remote_ref,
	    git_oid *remote_head, char **cause);

/*
 * The value of the last trailer named key (compared case-insensitively,
 * as git does) in the final paragraph of a commit message, or NULL; the
 * caller frees it.  The trailers are libgit2's reading
 * (git_message_trailers, git's rules): that paragraph holds trailers
 * when it is not the subject paragraph and each of its lines is
 * "Key: value" (or, with a "Signed-off-by: " among them, at least a
 * quarter are); lines that start with a blank continue the value above,
 * joined by a space; '#' comment lines and a patch after a "---" line
 * are not part of the message.  (libgit2 1.5: a trailer with an empty
 * value swallows the line after it, so a trailer there is not found.)
 */
char	*gitops_trailer(const char *message, const char *key);

#define GITOPS_MAX_SUBJECT	200

int	 gitops_commit_author(git_repository *repo, const git_oid *commit,
	    char **author, char **subject, char **cause);
int	 gitops_history_find(git_repository *repo, const git_oid *from,
	    size_t max, int (*fn)(const git_oid *, const char *, void *),
	    void *arg, int *found, char **cause);

/* A copy of commit's message in *message (caller frees). */
int	 gitops_commit_message(git_repository *repo, const git_oid *commit,
	    char **message, char **cause);

/*
 * For --dry-run: "N files changed, X insertions(+), Y deletions(-)\n",
 * then one line per path: " A path (+X -Y)\n" with A, M, D, T (type
 * change) or R (rename, "old -> new"); "(binary)" instead of line counts
 * for binary files, and "mode OLD -> NEW" when only the mode changed.
 * old_tree NULL: the empty tree.  *out: caller frees.
 */
int	 gitops_diffstat(git_repository *repo, const git_oid *old_tree,
	    const git_oid *new_tree, char **out, char **cause);

/* *yes = 1 when ancestor is descendant or one of its ancestors. */
int	 gitops_is_ancestor(git_repository *repo, const git_oid *ancestor,
	    const git_oid *descendant, int *yes, char **cause);

#endif
