/* gitops_msg.c: what a promotion reads and writes about commits as text:
 * a commit's message, its trailers (libgit2's reading), the diffstat. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>

#include "gitops_int.h"
#include "xmalloc.h"

int
gitops_commit_message(git_repository *repo, const git_oid *commit,
    char **message, char **cause)
{
	git_commit	*c = NULL;
	const char	*m;
	char		 hex[GIT_OID_HEXSZ + 1];

	*message = NULL;
	if (git_commit_lookup(&c, repo, commit) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		return -1;
	}
	m = git_commit_message(c);
	*message = xstrdup(m != NULL ? m : "");
	git_commit_free(c);
	return 0;
}

/*
 * Who made commit and what it says: *author "Name <email>" and *subject
 * (the message's first line), both sanitised for one log line (control
 * characters become '?') and cut to GITOPS_MAX_SUBJECT bytes.
 */
int
gitops_commit_author(git_repository *repo, const git_oid *commit,
    char **author, char **subject, char **cause)
{
	git_commit		*c = NULL;
	const git_signature	*sig;
	const char		*m;
	char			 hex[GIT_OID_HEXSZ + 1], *p;

	*author = *subject = NULL;
	if (git_commit_lookup(&c, repo, commit) < 0) {
		gitops_cause(cause, "commit %s: %s",
		    git_oid_tostr(hex, sizeof hex, commit), gitops_git_error());
		return -1;
	}
	sig = git_commit_author(c);
	*author = xprintf("%.*s <%.*s>", GITOPS_MAX_SUBJECT / 2,
	    sig != NULL && sig->name != NULL ? sig->name : "?",
	    GITOPS_MAX_SUBJECT / 2,
	    sig != NULL && sig->email != NULL ? sig->email : "?");
	m = git_commit_message(c);
	*subject = xstrndup(m != NULL ? m : "", GITOPS_MAX_SUBJECT);
	(*subject)[strcspn(*subject, "\n")] = '\0';
	for (p = *author; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	for (p = *subject; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	git_commit_free(c);
	return 0;
}

/*
 * Walks the history of from, newest first, at most max commits, until
 * fn(repo, commit, message, arg) returns non-zero: *found = 1 then.
 * A shallow or partial history ends the walk where it ends. 0, or -1.
 */
int
gitops_history_find(git_repository *repo, const git_oid *from, size_t max,
    int (*fn)(const git_oid *, const char *, void *), void *arg,
    int *found, char **cause)
{
	git_revwalk	*w = NULL;
	git_commit	*c;
	git_oid		 oid;
	size_t		 n = 0;
	int		 r, rv = -1;

	*found = 0;
	if (git_revwalk_new(&w, repo) < 0 || git_revwalk_push(w, from) < 0) {
		gitops_cause(cause, "history: %s", gitops_git_error());
		goto out;
	}
	git_revwalk_sorting(w, GIT_SORT_TIME);
	while (n++ < max && git_revwalk_next(&oid, w) == 0) {
		if (git_commit_lookup(&c, repo, &oid) < 0) {
			gitops_cause(cause, "history: %s", gitops_git_error());
			goto out;
		}
		r = fn(&oid, git_commit_message(c) != NULL ?
		    git_commit_message(c) : "", arg);
		git_commit_free(c);
		if (r != 0) {
			*found = 1;
			break;
		}
	}
	rv = 0;
out:
	git_revwalk_free(w);
	return rv;
}

/*
 * libgit2 continues a trailer's value only on lines that start with a
 * space, git itself on any blank: a copy of message with a line's
 * leading tab turned into a space reads as git reads it.
 */
static char *
gitops_trailer_text(const char *message)
{
	char	*copy, *p;

	copy = xstrdup(message);
	for (p = copy; *p != '\0'; p++)
		if (*p == '\t' && (p == copy || p[-1] == '\n'))
			*p = ' ';
	return copy;
}

/*
 * A value as libgit2 returns it, made one line: each line without its
 * surrounding white space, the non-empty ones joined by a space.  An
 * empty value ("Key:" at the end of its line) comes with the newline and
 * the next line appended, continuation or not: only a continuation is
 * the value's.
 */
static char *
gitops_trailer_value(const char *v)
{
	const char	*line, *end;
	char		*out, *o;
	size_t		 len;

	if (v[0] == '\n' && v[1] != ' ')
		return xstrdup("");
	out = o = xmalloc(strlen(v) + 1);
	for (line = v;; line = end + 1) {
		end = strchr(line, '\n');
		len = end != NULL ? (size_t)(end - line) : strlen(line);
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		while (len > 0 && isspace((unsigned char)*line)) {
			line++;
			len--;
		}
		/* One space between pieces, none before the first. */
		if (len > 0 && o != out)
			*o++ = ' ';
		memcpy(o, line, len);
		o += len;
		if (end == NULL)
			break;
	}
	*o = '\0';
	return out;
}

char *
gitops_trailer(const char *message, const char *key)
{
	git_message_trailer_array	 arr;
	const char			*last = NULL;
	char				*text, *value = NULL;
	size_t				 i;
	int				 error;

	if (message == NULL || key == NULL || *key == '\0')
		return NULL;
	memset(&arr, 0, sizeof arr);
	text = gitops_trailer_text(message);
	error = git_message_trailers(&arr, text);
	free(text);
	if (error < 0)
		return NULL;
	for (i = 0; i < arr.count; i++)
		if (strcasecmp(arr.trailers[i].key, key) == 0)
			last = arr.trailers[i].value;
	if (last != NULL)
		value = gitops_trailer_value(last);
	git_message_trailer_array_free(&arr);
	return value;
}

static char
gitops_status_char(git_delta_t status)
{
	switch (status) {
	case GIT_DELTA_ADDED:
		return 'A';
	case GIT_DELTA_DELETED:
		return 'D';
	case GIT_DELTA_RENAMED:
		return 'R';
	case GIT_DELTA_COPIED:
		return 'C';
	case GIT_DELTA_TYPECHANGE:
		return 'T';
	default:
		return 'M';
	}
}

int
gitops_diffstat(git_repository *repo, const git_oid *old_tree,
    const git_oid *new_tree, char **out, char **cause)
{
	git_diff_options	 dopts;
	git_diff_find_options	 fopts;
	git_tree		*a = NULL, *b = NULL;
	git_diff		*diff = NULL;
	git_patch		*patch = NULL;
	const git_diff_delta	*dd;
	FILE			*f = NULL;
	char			*lines = NULL;
	size_t			 i, n, len, adds, dels;
	size_t			 tadd = 0, tdel = 0, nadd = 0, ndel = 0;
	uint64_t		 before = 0, after = 0, os, ns;
	int			 rc = -1;

	*out = NULL;
	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	if ((old_tree != NULL && git_tree_lookup(&a, repo, old_tree) < 0) ||
	    git_tree_lookup(&b, repo, new_tree) < 0)
		goto fail_git;
	dopts.flags |= GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(&diff, repo, a, b, &dopts) < 0)
		goto fail_git;
	fopts.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_find_similar(diff, &fopts) < 0)
		goto fail_git;
	if ((f = open_memstream(&lines, &len)) == NULL) {
		*cause = xprintf("diffstat: %s", strerror(errno));
		goto out;
	}
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n; i++) {
		if (git_patch_from_diff(&patch, diff, i) < 0 ||
		    git_patch_line_stats(NULL, &adds, &dels, patch) < 0)
			goto fail_git;
		dd = git_patch_get_delta(patch);
		os = dd->status == GIT_DELTA_ADDED ? 0 :
		    (uint64_t)dd->old_file.size;
		ns = dd->status == GIT_DELTA_DELETED ? 0 :
		    (uint64_t)dd->new_file.size;
		before += os;
		after += ns;
		nadd += dd->status == GIT_DELTA_ADDED;
		ndel += dd->status == GIT_DELTA_DELETED;
		fprintf(f, " %c ", gitops_status_char(dd->status));
		if (dd->status == GIT_DELTA_RENAMED ||
		    dd->status == GIT_DELTA_COPIED)
			fprintf(f, "%s -> ", dd->old_file.path);
		fputs(dd->new_file.path, f);
		if (dd->flags & GIT_DIFF_FLAG_BINARY)
			fputs(" (binary", f);
		else if (dd->status == GIT_DELTA_MODIFIED && adds == 0 &&
		    dels == 0 && dd->old_file.mode != dd->new_file.mode)
			fprintf(f, " (mode %06o -> %06o", dd->old_file.mode,
			    dd->new_file.mode);
		else {
			fprintf(f, " (+%zu -%zu", adds, dels);
			tadd += adds;
			tdel += dels;
		}
		if (dd->status == GIT_DELTA_ADDED)
			fprintf(f, ", %" PRIu64 " bytes)\n", ns);
		else if (dd->status == GIT_DELTA_DELETED)
			fprintf(f, ", %" PRIu64 " bytes)\n", os);
		else
			fprintf(f, ", %" PRIu64 " -> %" PRIu64 " bytes)\n", os,
			    ns);
		git_patch_free(patch);
		patch = NULL;
	}
	if (fclose(f) != 0) {
		f = NULL;
		*cause = xprintf("diffstat: %s", strerror(errno));
		goto out;
	}
	f = NULL;
	*out = xprintf("%zu file%s changed, %zu insertion%s(+), %zu "
	    "deletion%s(-)\n%zu added, %zu removed, %zu changed; %" PRIu64
	    " bytes -> %" PRIu64 " bytes\n%s", n, n == 1 ? "" : "s", tadd,
	    tadd == 1 ? "" : "s", tdel, tdel == 1 ? "" : "s", nadd, ndel,
	    n - nadd - ndel, before, after, lines);
	rc = 0;
	goto out;

fail_git:
	gitops_cause(cause, "diffstat: %s", gitops_git_error());
out:
	if (f != NULL)
		fclose(f);
	free(lines);
	git_patch_free(patch);
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}
