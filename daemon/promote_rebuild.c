/* promote_rebuild.c: the version map made again from the destination:
 * its published versions and the Promoted-from trailers of their commits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicfile.h"
#include "promote_int.h"
#include "vmap.h"
#include "xmalloc.h"

struct promote_rebuild_list {
	struct api_version	*v;	/* newest first, as listed */
	size_t			 n;
};

static int
promote_rebuild_take(const struct api_version *v, void *arg)
{
	struct promote_rebuild_list	*l = arg;
	struct api_version		*c;

	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	c = &l->v[l->n++];
	c->semver = v->semver != NULL ? xstrdup(v->semver) : NULL;
	c->git_hash = v->git_hash != NULL ? xstrdup(v->git_hash) : NULL;
	c->build_id = v->build_id != NULL ? xstrdup(v->build_id) : NULL;
	c->release_notes = NULL;
	return 0;
}

static void
promote_rebuild_list_free(struct promote_rebuild_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		api_version_clear(&l->v[i]);
	free(l->v);
}

/*
 * The map line of one published version, or NULL (with *why) when its
 * commit does not say it was promoted from this pair's source.
 */
static char *
promote_rebuild_line(struct promote_job *j, const struct api_version *v,
    const char **why)
{
	struct vmap_entry	 e = { 0 };
	git_commit		*c = NULL;
	git_oid			 id;
	char			*msg = NULL, *cause = NULL, *from, *line = NULL;
	size_t			 slen = strlen(j->pair->source.full);

	*why = "not promoted from the source";
	if (v->git_hash == NULL || strlen(v->git_hash) != GIT_OID_HEXSZ ||
	    git_oid_fromstr(&id, v->git_hash) != 0) {
		*why = "no usable git_hash";
		return NULL;
	}
	if (gitops_commit_message(j->repo, &id, &msg, &cause) == -1 ||
	    git_commit_lookup(&c, j->repo, &id) != 0) {
		*why = "commit not in the destination's history";
		free(cause);
		free(msg);
		return NULL;
	}
	from = gitops_trailer(msg, "Promoted-from");
	if (from != NULL && strncmp(from, j->pair->source.full, slen) == 0 &&
	    from[slen] == '@' && strlen(from + slen + 1) == GIT_OID_HEXSZ) {
		e.time = (int64_t)git_commit_time(c);
		e.pair = j->pair->name;
		e.source = j->pair->source.full;
		e.source_commit = from + slen + 1;
		e.source_version = gitops_trailer(msg, "Promoted-version");
		e.destination = j->dst->full;
		e.dest_commit = v->git_hash;
		e.dest_version = v->semver;
		e.build_id = v->build_id;
		line = vmap_entry_json(&e);
		free(e.source_version);
	}
	free(from);
	free(msg);
	git_commit_free(c);
	return line;
}

/* Replaces dir's versions.jsonl by text, keeping an old one aside. */
static int
promote_rebuild_write(struct promote_job *j, const char *text, char **kept)
{
	char	*path, *cause = NULL;
	int	 rv = 0;

	path = xprintf("%s/versions.jsonl", j->dir);
	*kept = xprintf("%s.before-rebuild-%lld", path, (long long)time(NULL));
	if (rename(path, *kept) == -1) {
		free(*kept);
		*kept = NULL;
		if (errno != ENOENT) {
			rv = promote_job_fail(j, 0, "keeping %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	if (atomicfile_mkdirs(j->dir, 0700, &cause) == -1 ||
	    atomicfile_write(path, text, strlen(text), 0600, &cause) == -1) {
		rv = promote_job_fail(j, 0, "%s", cause);
		free(cause);
	}
out:
	free(path);
	return rv;
}

static int
promote_rebuild_run(struct promote_job *j, char **report)
{
	struct promote_rebuild_list	 l = { NULL, 0 };
	struct api_error		 e;
	const char			*why;
	char				*text, *line, *more, *kept = NULL;
	size_t				 i, lines = 0;
	int				 rv;

	if (promote_dest_fetch(j) == -1)
		return -1;
	if (api_versions_each(j->dapi, j->dst->owner, j->dst->name, 1,
	    promote_rebuild_take, &l, &e) == -1) {
		promote_rebuild_list_free(&l);
		return promote_job_fail_api(j, "listing destination versions",
		    &e);
	}
	text = xstrdup("");
	for (i = l.n; i-- > 0;) {
		if ((line = promote_rebuild_line(j, &l.v[i], &why)) == NULL) {
			promote_job_log(j, LOG_LEVEL_INFO, "version %s (%s): "
			    "left out: %s", l.v[i].semver ? l.v[i].semver : "?",
			    l.v[i].git_hash ? l.v[i].git_hash : "?", why);
			continue;
		}
		more = xprintf("%s%s\n", text, line);
		free(text);
		free(line);
		text = more;
		lines++;
	}
	rv = promote_rebuild_write(j, text, &kept);
	if (rv == 0)
		*report = xprintf("%s: rebuilt %s/versions.jsonl: %zu line%s "
		    "from %zu published version%s%s%s", j->name, j->dir, lines,
		    lines == 1 ? "" : "s", l.n, l.n == 1 ? "" : "s",
		    kept ? "; the old map kept as " : "", kept ? kept : "");
	free(kept);
	free(text);
	promote_rebuild_list_free(&l);
	return rv;
}

/*
 * Makes the version map of one route again from the destination: each
 * published version whose commit carries "Promoted-from: SOURCE@SHA" of
 * this pair's source becomes a line, oldest first; the others (published
 * by hand) are left out, each logged. The old map, if any, is kept as
 * versions.jsonl.before-rebuild-TIME. The caller holds the state_dir
 * lock. 0 with *report, or -1 with *cause.
 */
int
promote_rebuild(const struct config *conf, const struct config_pair *pair,
    size_t dest, const struct promote_opts *opts, char **report,
    char **cause)
{
	struct promote_job	 j;
	int			 rv;

	*report = NULL;
	rv = promote_job_setup(&j, conf, pair, dest, opts);
	if (rv == 0)
		rv = promote_rebuild_run(&j, report);
	if (rv == -1)
		*cause = xprintf("%s: %s", j.name, j.error != NULL ? j.error :
		    "failed");
	promote_job_free(&j);
	return rv;
}
