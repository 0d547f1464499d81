/* gitops_tree.c: the destination tree of a promotion (excluded paths out,
 * preserved ones kept, algorithmia.conf rewritten) and its commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>
#include <git2/sys/commit.h>

#include "algoconf.h"
#include "gitops_int.h"
#include "log.h"
#include "treeglob.h"
#include "xmalloc.h"

#define GITOPS_MAX_DEPTH	256	/* nested directories in a tree */

/* The id of the conf blob with owner and algo written in; *id unchanged
 * (and a warning) when the blob is no JSON object. */
static int
gitops_conf_blob(git_repository *repo, const char *owner, const char *algo,
    git_oid *id, char **cause)
{
	git_blob	*blob = NULL;
	char		*text, *why = NULL;
	git_object_size_t size;
	int		 rc = -1;

	if (git_blob_lookup(&blob, repo, id) < 0) {
		gitops_cause(cause, "%s: %s", ALGOCONF_NAME, gitops_git_error());
		return -1;
	}
	size = git_blob_rawsize(blob);
	if (algoconf_rewrite(&text, git_blob_rawcontent(blob),
	    (size_t)(size > ALGOCONF_MAX ? ALGOCONF_MAX + 1 : size), owner,
	    algo, &why) != 0) {
		free(why);
		log_warnx("%s/%s: %s is not a JSON object: left as it is",
		    owner, algo, ALGOCONF_NAME);
		rc = 0;
	} else if (git_blob_create_from_buffer(id, repo, text,
	    strlen(text)) < 0)
		gitops_cause(cause, "%s: write: %s", ALGOCONF_NAME,
		    gitops_git_error());
	else
		rc = 0;
	free(text);
	git_blob_free(blob);
	return rc;
}

static int
gitops_globs_valid(char *const *globs, const char *what, char **cause)
{
	char	*why = NULL;

	if (globs == NULL)
		return 0;
	for (; *globs != NULL; globs++) {
		if (treeglob_valid(*globs, &why) != 0) {
			*cause = xprintf("%s: %s", what, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

/* A tree entry's path as globs see it: directories and submodules end
 * in '/'. */
static char *
gitops_entry_path(const char *prefix, const git_tree_entry *e)
{
	git_object_t	 type = git_tree_entry_type(e);
	int		 dir;

	dir = type == GIT_OBJECT_TREE || type == GIT_OBJECT_COMMIT;

	return xprintf("%s%s%s", prefix, git_tree_entry_name(e), dir ? "/" :
	    "");
}

static int
gitops_subtree(git_repository *repo, const git_tree_entry *e, git_tree **out)
{
	*out = NULL;
	if (e == NULL || git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	return git_tree_lookup(out, repo, git_tree_entry_id(e));
}

struct gitops_build {
	git_repository			*repo;
	const struct gitops_treespec	*spec;
	char				 srchex[GIT_OID_HEXSZ + 1];
};

/* A name git allows in a tree: not empty, ".", ".." nor ".git" (in any
 * case), and no '/'. libgit2's tree builder refuses the others too, but
 * with a message about itself. */
static int
gitops_name_ok(const char *name)
{
	return *name != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strcasecmp(name, ".git") != 0 &&
	    strchr(name, '/') == NULL;
}

/* prefix and name for a message: quotes, backslashes, control and
 * non-ASCII bytes as \xNN, so that the text is one line of ASCII. */
static char *
gitops_quote_path(const char *prefix, const char *name)
{
	const char	*parts[2] = { prefix, name }, *p;
	char		*out;
	size_t		 o = 0, i;

	out = xmalloc(4 * (strlen(prefix) + strlen(name)) + 1);
	for (i = 0; i < 2; i++) {
		for (p = parts[i]; *p != '\0'; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch < 0x20 || ch >= 0x7f || ch == '"' ||
			    ch == '\\') {
				snprintf(out + o, 5, "\\x%02x", ch);
				o += 4;
			} else
				out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

/* The id a source file gets at the destination: its own, but for a root
 * algorithmia.conf, owner and algo are written in. */
static int
gitops_source_id(struct gitops_build *b, const char *prefix,
    const git_tree_entry *s, git_oid *id, char **cause)
{
	const struct gitops_treespec *spec = b->spec;
	git_filemode_t	 mode = git_tree_entry_filemode(s);

	git_oid_cpy(id, git_tree_entry_id(s));
	if (*prefix == '\0' && spec->replace_name != NULL &&
	    spec->replace_id != NULL &&
	    strcmp(git_tree_entry_name(s), spec->replace_name) == 0 &&
	    (mode == GIT_FILEMODE_BLOB ||
	    mode == GIT_FILEMODE_BLOB_EXECUTABLE)) {
		git_oid_cpy(id, spec->replace_id);
		return 0;
	}
	if (*prefix != '\0' ||
	    strcmp(git_tree_entry_name(s), ALGOCONF_NAME) != 0 ||
	    spec->owner == NULL || spec->algo == NULL ||
	    (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE))
		return 0;
	return gitops_conf_blob(b->repo, spec->owner, spec->algo, id, cause);
}

static int gitops_build_tree(struct gitops_build *, git_tree *, git_tree *,
    const char *, int, git_oid *, int *, char **);

/* Builds the result for one name of a directory into tb. */
static int
gitops_build_entry(struct gitops_build *b, git_treebuilder *tb,
    const git_tree_entry *s, const git_tree_entry *d, const char *prefix,
    int depth, char **cause)
{
	const struct gitops_treespec *spec = b->spec;
	git_tree	*ssub = NULL, *dsub = NULL;
	char		*spath = NULL, *dpath = NULL, *sub = NULL;
	const char	*name;
	git_oid		 id;
	int		 rc = -1, empty;

	name = git_tree_entry_name(s != NULL ? s : d);
	if (s != NULL && !gitops_name_ok(name)) {
		spath = gitops_quote_path(prefix, name);
		gitops_cause(cause, "source commit %.12s has an entry \"%s\": "
		    "a name git does not allow in a tree", b->srchex, spath);
		goto out;
	}
	if (s != NULL)
		spath = gitops_entry_path(prefix, s);
	if (d != NULL)
		dpath = gitops_entry_path(prefix, d);
	sub = xprintf("%s%s/", prefix, name);

	/* A preserved destination entry is taken whole. */
	if (d != NULL && treeglob_any(spec->preserve, dpath)) {
		if (git_treebuilder_insert(NULL, tb, name,
		    git_tree_entry_id(d), git_tree_entry_filemode(d)) < 0)
			goto fail_git;
		rc = 0;
		goto out;
	}

	if (s != NULL && !treeglob_any(spec->exclude, spath) &&
	    !treeglob_any(spec->preserve, spath)) {
		if (gitops_subtree(b->repo, d, &dsub) < 0)
			goto fail_git;
		if (git_tree_entry_type(s) == GIT_OBJECT_TREE) {
			if (gitops_subtree(b->repo, s, &ssub) < 0)
				goto fail_git;
			if (gitops_build_tree(b, ssub, dsub, sub, depth + 1,
			    &id, &empty, cause) != 0)
				goto out;
			if (!empty && git_treebuilder_insert(NULL, tb, name,
			    &id, GIT_FILEMODE_TREE) < 0)
				goto fail_git;
			rc = 0;
			goto out;
		}
		/* A source file: nothing preserved may hide below it. */
		if (dsub != NULL && spec->preserve != NULL) {
			if (gitops_build_tree(b, NULL, dsub, sub, depth + 1,
			    &id, &empty, cause) != 0)
				goto out;
			if (!empty) {
				gitops_cause(cause, "%s%s: the source has a "
				    "file where the destination has preserved "
				    "paths", prefix, name);
				goto out;
			}
		}
		if (gitops_source_id(b, prefix, s, &id, cause) != 0)
			goto out;
		if (git_treebuilder_insert(NULL, tb, name, &id,
		    git_tree_entry_filemode(s)) < 0)
			goto fail_git;
		rc = 0;
		goto out;
	}

	/* Nothing from the source: preserved paths below the destination's
	 * directory of this name may still be kept. */
	if (d != NULL && spec->preserve != NULL &&
	    git_tree_entry_type(d) == GIT_OBJECT_TREE) {
		if (gitops_subtree(b->repo, d, &dsub) < 0)
			goto fail_git;
		if (gitops_build_tree(b, NULL, dsub, sub, depth + 1, &id,
		    &empty, cause) != 0)
			goto out;
		if (!empty && git_treebuilder_insert(NULL, tb, name, &id,
		    GIT_FILEMODE_TREE) < 0)
			goto fail_git;
	}
	rc = 0;
	goto out;

fail_git:
	gitops_cause(cause, "tree %s%s: %s", prefix, name, gitops_git_error());
out:
	git_tree_free(ssub);
	git_tree_free(dsub);
	free(spath);
	free(dpath);
	free(sub);
	return rc;
}

/* Writes the result for the directory prefix (src and dst: its trees,
 * either may be NULL) and says whether it is empty. */
static int
gitops_build_tree(struct gitops_build *b, git_tree *src, git_tree *dst,
    const char *prefix, int depth, git_oid *out, int *empty, char **cause)
{
	git_treebuilder		*tb = NULL;
	const git_tree_entry	*s, *d;
	size_t			 i, n;
	int			 rc = -1;

	*empty = 1;
	if (depth > GITOPS_MAX_DEPTH) {
		gitops_cause(cause, "tree %s: more than %d levels deep",
		    prefix, GITOPS_MAX_DEPTH);
		return -1;
	}
	if (git_treebuilder_new(&tb, b->repo, NULL) < 0) {
		gitops_cause(cause, "tree %s: %s", prefix, gitops_git_error());
		return -1;
	}
	n = src != NULL ? git_tree_entrycount(src) : 0;
	for (i = 0; i < n; i++) {
		s = git_tree_entry_byindex(src, i);
		d = dst != NULL ? git_tree_entry_byname(dst,
		    git_tree_entry_name(s)) : NULL;
		if (gitops_build_entry(b, tb, s, d, prefix, depth, cause) != 0)
			goto out;
	}
	n = dst != NULL ? git_tree_entrycount(dst) : 0;
	for (i = 0; i < n; i++) {
		d = git_tree_entry_byindex(dst, i);
		if (src != NULL && git_tree_entry_byname(src,
		    git_tree_entry_name(d)) != NULL)
			continue;
		if (gitops_build_entry(b, tb, NULL, d, prefix, depth,
		    cause) != 0)
			goto out;
	}
	*empty = git_treebuilder_entrycount(tb) == 0;
	if (git_treebuilder_write(out, tb) < 0) {
		gitops_cause(cause, "tree %s: write: %s", prefix,
		    gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	git_treebuilder_free(tb);
	return rc;
}

static int
gitops_lookup_tree(git_repository *repo, const char *what,
    const git_oid *commit, git_tree **out, char **cause)
{
	git_commit	*c = NULL;
	char		 hex[GIT_OID_HEXSZ + 1];

	*out = NULL;
	if (git_commit_lookup(&c, repo, commit) < 0 ||
	    git_commit_tree(out, c) < 0) {
		gitops_cause(cause, "%s commit %s: %s", what,
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		git_commit_free(c);
		return -1;
	}
	git_commit_free(c);
	return 0;
}

int
gitops_make_tree(git_repository *repo, const git_oid *src_commit,
    const git_oid *dst_commit, const struct gitops_treespec *spec,
    git_oid *tree, char **cause)
{
	struct gitops_build	 b;
	git_tree		*src = NULL, *dst = NULL;
	int			 rc = -1, empty;

	if (gitops_globs_valid(spec->exclude, "exclude", cause) != 0 ||
	    gitops_globs_valid(spec->preserve, "preserve", cause) != 0)
		return -1;
	if (gitops_lookup_tree(repo, "source", src_commit, &src, cause) != 0)
		goto out;
	if (dst_commit != NULL && gitops_lookup_tree(repo, "destination",
	    dst_commit, &dst, cause) != 0)
		goto out;
	b.repo = repo;
	b.spec = spec;
	git_oid_tostr(b.srchex, sizeof b.srchex, src_commit);
	rc = gitops_build_tree(&b, src, dst, "", 0, tree, &empty, cause);
out:
	git_tree_free(src);
	git_tree_free(dst);
	return rc;
}

int
gitops_commit_tree(git_repository *repo, const git_oid *commit,
    git_oid *tree, char **cause)
{
	git_commit	*c = NULL;
	char		 hex[GIT_OID_HEXSZ + 1];

	if (git_commit_lookup(&c, repo, commit) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		return -1;
	}
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int
gitops_commit(git_repository *repo, const git_oid *tree,
    const git_oid *parent, const char *author_name, const char *author_email,
    const char *message, git_oid *out, char **cause)
{
	git_signature	*sig = NULL;
	const git_oid	*parents[1];
	int		 rc = -1;

	if (message == NULL || *message == '\0') {
		*cause = xstrdup("commit: empty message");
		return -1;
	}
	if (git_signature_now(&sig, author_name != NULL ? author_name : "",
	    author_email != NULL ? author_email : "") < 0) {
		gitops_cause(cause, "commit: author: %s", gitops_git_error());
		return -1;
	}
	parents[0] = parent;
	if (git_commit_create_from_ids(out, repo, NULL, sig, sig, NULL,
	    message, tree, parent != NULL ? 1 : 0, parents) < 0) {
		gitops_cause(cause, "commit: %s", gitops_git_error());
		goto out;
	}
	rc = 0;
out:
	git_signature_free(sig);
	return rc;
}

int
gitops_is_ancestor(git_repository *repo, const git_oid *ancestor,
    const git_oid *descendant, int *yes, char **cause)
{
	int	 r;

	*yes = 0;
	if (git_oid_equal(ancestor, descendant)) {
		*yes = 1;
		return 0;
	}
	if ((r = git_graph_descendant_of(repo, descendant, ancestor)) < 0) {
		gitops_cause(cause, "ancestry: %s", gitops_git_error());
		return -1;
	}
	*yes = r;
	return 0;
}

int
gitops_root_blob(git_repository *repo, const git_oid *commit,
    const char *name, size_t max, char **text, size_t *len, char **cause)
{
	git_tree		*t = NULL;
	git_blob		*b = NULL;
	const git_tree_entry	*e;
	git_object_size_t	 size;
	int			 rc = -1;

	*text = NULL;
	*len = 0;
	if (gitops_lookup_tree(repo, "source", commit, &t, cause) != 0)
		return -1;
	e = git_tree_entry_byname(t, name);
	if (e == NULL || git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		rc = 0;
		goto out;
	}
	if (git_blob_lookup(&b, repo, git_tree_entry_id(e)) < 0) {
		gitops_cause(cause, "%s: %s", name, gitops_git_error());
		goto out;
	}
	size = git_blob_rawsize(b);
	if (size > max) {
		gitops_cause(cause, "%s is larger than %zu bytes", name, max);
		goto out;
	}
	*text = xmalloc((size_t)size + 1);
	memcpy(*text, git_blob_rawcontent(b), (size_t)size);
	(*text)[size] = '\0';
	*len = (size_t)size;
	rc = 1;
out:
	git_blob_free(b);
	git_tree_free(t);
	return rc;
}

int
gitops_blob_write(git_repository *repo, const void *data, size_t len,
    git_oid *id, char **cause)
{
	if (git_blob_create_from_buffer(id, repo, data, len) < 0) {
		gitops_cause(cause, "writing a blob: %s", gitops_git_error());
		return -1;
	}
	return 0;
}
