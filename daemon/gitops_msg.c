/* gitops_msg.c: what a promotion reads and writes about commits as text:
 * a commit's message, its trailers, the diffstat. */
#include <ctype.h>
#include <errno.h>
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

static int
gitops_blank(const char *line, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)line[i]))
			return 0;
	return 1;
}

char *
gitops_trailer(const char *message, const char *key)
{
	const char	*p, *line, *next, *start = NULL, *colon, *v;
	const char	*para = NULL, *end;
	char		*value = NULL, *more;
	size_t		 len, klen, vlen;
	int		 any_before = 0, in_para = 0, current = 0;

	if (message == NULL || key == NULL || *key == '\0')
		return NULL;

	/* The final paragraph: the last run of non-blank lines. */
	for (p = message; *p != '\0'; p = next) {
		next = strchr(p, '\n');
		len = next != NULL ? (size_t)(next - p) : strlen(p);
		next = next != NULL ? next + 1 : p + len;
		if (gitops_blank(p, len)) {
			in_para = 0;
			continue;
		}
		if (!in_para) {
			if (start != NULL)
				any_before = 1;
			start = p;
			in_para = 1;
		}
		para = next;
	}
	if (start == NULL || !any_before)
		return NULL;	/* no message, or only a subject */
	end = para;

	klen = strlen(key);
	for (line = start; line < end; line = next) {
		next = memchr(line, '\n', (size_t)(end - line));
		len = next != NULL ? (size_t)(next - line) :
		    (size_t)(end - line);
		next = line + len + 1;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (*line == ' ' || *line == '\t') {
			/* A continuation of the trailer above. */
			if (line == start)
				goto not_trailers;
			if (!current)
				continue;
			for (v = line; v < line + len && isspace(
			    (unsigned char)*v); v++)
				;
			more = xprintf("%s %.*s", value, (int)(line + len - v),
			    v);
			free(value);
			value = more;
			continue;
		}
		for (p = line; p < line + len && (isalnum((unsigned char)*p) ||
		    *p == '-'); p++)
			;
		colon = p;
		while (colon < line + len && (*colon == ' ' || *colon == '\t'))
			colon++;
		if (p == line || colon >= line + len || *colon != ':')
			goto not_trailers;
		current = (size_t)(p - line) == klen &&
		    strncasecmp(line, key, klen) == 0;
		if (!current)
			continue;
		for (v = colon + 1; v < line + len &&
		    isspace((unsigned char)*v); v++)
			;
		vlen = (size_t)(line + len - v);
		free(value);
		value = xstrndup(v, vlen);
	}
	return value;

not_trailers:
	free(value);
	return NULL;
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
	size_t			 tadd = 0, tdel = 0;
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
		fprintf(f, " %c ", gitops_status_char(dd->status));
		if (dd->status == GIT_DELTA_RENAMED ||
		    dd->status == GIT_DELTA_COPIED)
			fprintf(f, "%s -> ", dd->old_file.path);
		fputs(dd->new_file.path, f);
		if (dd->flags & GIT_DIFF_FLAG_BINARY)
			fputs(" (binary)", f);
		else if (dd->status == GIT_DELTA_MODIFIED && adds == 0 &&
		    dels == 0 && dd->old_file.mode != dd->new_file.mode)
			fprintf(f, " (mode %06o -> %06o)", dd->old_file.mode,
			    dd->new_file.mode);
		else {
			fprintf(f, " (+%zu -%zu)", adds, dels);
			tadd += adds;
			tdel += dels;
		}
		fputc('\n', f);
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
	    "deletion%s(-)\n%s", n, n == 1 ? "" : "s", tadd,
	    tadd == 1 ? "" : "s", tdel, tdel == 1 ? "" : "s", lines);
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
