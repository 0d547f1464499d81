/* gitops_mirror.c: the bare mirror of a pair on local disk: opened or
 * created, checked, discarded when damaged, and repacked into one pack
 * when objects pile up. */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "gitops_int.h"
#include "log.h"
#include "xmalloc.h"

static int
gitops_dir_empty(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 empty = 1;

	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/*
 * Mirror upkeep. libgit2 has no gc: every fetch leaves a pack and every
 * promotion a few loose objects, and object lookups slow down as they
 * pile up over months. Past a bound, everything reachable from the
 * mirror's refs goes into one new pack, then the old packs and loose
 * objects are removed. Unreachable objects (a commit whose push never
 * landed) go with them. The new pack is complete before anything is
 * removed, so a crash at any point loses nothing needed.
 */
static int
gitops_is_hex(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[n] == '\0';
}

/* Counts (when del is NULL) or removes (all but the pack named keep)
 * the packs and loose objects under objdir. */
static void
gitops_objects(const char *objdir, const char *keep, size_t *packs,
    size_t *loose, int del)
{
	DIR		*d, *sub;
	struct dirent	*de, *se;
	char		*path, *file;
	size_t		 n;

	*packs = *loose = 0;
	path = xprintf("%s/pack", objdir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			n = strlen(de->d_name);
			if (strncmp(de->d_name, "pack-", 5) != 0 || n < 10 ||
			    (strcmp(de->d_name + n - 5, ".pack") != 0 &&
			    strcmp(de->d_name + n - 4, ".idx") != 0 &&
			    strcmp(de->d_name + n - 4, ".rev") != 0))
				continue;
			if (strcmp(de->d_name + n - 5, ".pack") == 0)
				(*packs)++;
			if (!del || (keep != NULL &&
			    strncmp(de->d_name + 5, keep, strlen(keep)) == 0))
				continue;
			file = xprintf("%s/%s", path, de->d_name);
			if (unlink(file) == -1)
				log_warnx("mirror upkeep: %s: %s", file,
				    strerror(errno));
			free(file);
		}
		closedir(d);
	}
	free(path);
	if ((d = opendir(objdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!gitops_is_hex(de->d_name, 2))
			continue;
		path = xprintf("%s/%s", objdir, de->d_name);
		if ((sub = opendir(path)) != NULL) {
			while ((se = readdir(sub)) != NULL) {
				if (se->d_name[0] == '.')
					continue;
				(*loose)++;
				if (!del)
					continue;
				file = xprintf("%s/%s", path, se->d_name);
				if (unlink(file) == -1)
					log_warnx("mirror upkeep: %s: %s", file,
					    strerror(errno));
				free(file);
			}
			closedir(sub);
			if (del)
				rmdir(path);
		}
		free(path);
	}
	closedir(d);
}

int
gitops_maintain(git_repository *repo, int force, int *repacked,
    char **cause)
{
	git_packbuilder	*pb = NULL;
	git_revwalk	*walk = NULL;
	char		*objdir, *keep = NULL;
	size_t		 packs, loose;
	int		 rv = -1;

	*repacked = 0;
	objdir = xprintf("%sobjects", git_repository_path(repo));
	gitops_objects(objdir, NULL, &packs, &loose, 0);
	if (!force && packs <= GITOPS_MAX_PACKS && loose <= GITOPS_MAX_LOOSE) {
		free(objdir);
		return 0;
	}
	if (git_packbuilder_new(&pb, repo) < 0 ||
	    git_revwalk_new(&walk, repo) < 0) {
		gitops_cause(cause, "mirror upkeep: %s", gitops_git_error());
		goto out;
	}
	if (git_revwalk_push_glob(walk, "*") < 0 ||
	    git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
		gitops_cause(cause, "mirror upkeep: repack: %s",
		    gitops_git_error());
		goto out;
	}
	if (git_packbuilder_object_count(pb) == 0) {
		rv = 0;	/* no refs: nothing is reachable, remove nothing */
		goto out;
	}
	keep = xstrdup(git_packbuilder_name(pb));
	gitops_objects(objdir, keep, &packs, &loose, 1);
	log_debug("mirror upkeep: %s: %zu objects in one pack",
	    git_repository_path(repo), git_packbuilder_object_count(pb));
	*repacked = 1;
	rv = 0;
out:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	free(keep);
	free(objdir);
	return rv;
}

/*
 * How libgit2 builds the packs of a push (and of the upkeep repack) from
 * the mirror.  Its packbuilder reads only pack.deltaCacheSize,
 * pack.deltaCacheLimit and pack.windowMemory (1.5.1, and still so
 * upstream), and takes pack.deltaCacheSize as the big-file threshold
 * too: no delta search for a blob larger than that, and at most that
 * much of deltas kept between the search and the write (a delta past it
 * is made again while writing).  pack.window, pack.depth,
 * pack.bigFileThreshold and a compression level are not read.
 *
 * The delta search costs most where it finds nothing: 10 random 5 MB
 * blobs, each tried against the 10 before it, made 14.0 s of CPU of a
 * 50 MB pack; with these settings 2.6 s (perf: it was in
 * git_delta_create_from_index; what is left is zlib re-compressing).
 * 100 random 500 KB blobs: 12.7 s, now 4.2 s.  It gains little here:
 * a push is one promotion commit and libgit2 makes no thin packs, so a
 * blob can only become a delta of another new blob of the same tree,
 * never of one the destination holds.  The trade-off: similar files
 * above 1 MiB in one promotion are sent whole (5 near-identical 2 MB
 * text files: a pack of 1.3 MB instead of 260 KB), and files between
 * about 50 KB and 1 MiB are tried against fewer others (windowMemory
 * evicts the oldest of the window past 1 MiB, down to one).  Small files
 * keep the full window: 2,000 files of 25 KB pack as before.
 */
#define GITOPS_PACK_BIG_FILE	(1024 * 1024)	/* pack.deltaCacheSize */
#define GITOPS_PACK_WINDOW_MEM	(1024 * 1024)	/* pack.windowMemory */

static const struct {
	const char	*name;
	int64_t		 value;
} gitops_pack_config[] = {
	{ "pack.deltaCacheSize", GITOPS_PACK_BIG_FILE },
	{ "pack.windowMemory", GITOPS_PACK_WINDOW_MEM },
};

/* Writes gitops_pack_config into the mirror's own config where it holds
 * another value.  A failure costs speed only: logged, not returned. */
static void
gitops_mirror_tune(git_repository *repo)
{
	git_config	*cfg = NULL, *local = NULL;
	int64_t		 v;
	size_t		 i;

	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0) {
		log_warnx("mirror %s: config: %s", git_repository_path(repo),
		    gitops_git_error());
		goto out;
	}
	for (i = 0; i < sizeof gitops_pack_config /
	    sizeof gitops_pack_config[0]; i++) {
		if (git_config_get_int64(&v, local,
		    gitops_pack_config[i].name) == 0 &&
		    v == gitops_pack_config[i].value)
			continue;
		if (git_config_set_int64(local, gitops_pack_config[i].name,
		    gitops_pack_config[i].value) < 0)
			log_warnx("mirror %s: set %s: %s",
			    git_repository_path(repo),
			    gitops_pack_config[i].name, gitops_git_error());
	}
out:
	git_config_free(local);
	git_config_free(cfg);
}

int
gitops_mirror_open(git_repository **out, const char *path, char **cause)
{
	git_repository_init_options	 io;
	git_repository			*repo = NULL;
	struct stat			 sb;
	int				 missing = 0;

	*out = NULL;
	if (path == NULL || *path == '\0') {
		*cause = xstrdup("mirror: no path");
		return -1;
	}
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			*cause = xprintf("mirror %s: %s", path,
			    strerror(errno));
			return -1;
		}
		missing = 1;
	}
	if (missing || (S_ISDIR(sb.st_mode) && gitops_dir_empty(path))) {
		git_repository_init_options_init(&io,
		    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_BARE |
		    GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_MKDIR |
		    GIT_REPOSITORY_INIT_NO_REINIT;
		io.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
		if (git_repository_init_ext(&repo, path, &io) < 0) {
			gitops_cause(cause, "mirror %s: create: %s", path,
			    gitops_git_error());
			return -1;
		}
		log_debug("mirror %s: created", path);
	} else if (git_repository_open_bare(&repo, path) < 0) {
		gitops_cause(cause, "mirror %s: %s", path, gitops_git_error());
		return -1;
	}
	if (!git_repository_is_bare(repo)) {
		git_repository_free(repo);
		*cause = xprintf("mirror %s: not a bare repository", path);
		return -1;
	}
	gitops_mirror_tune(repo);
	*out = repo;
	return 0;
}

/* Every object of a tree present: the trees read, the blobs found. */
static int
gitops_verify_entry(const char *root, const git_tree_entry *e, void *arg)
{
	git_odb	*odb = arg;

	(void)root;
	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
	    !git_odb_exists(odb, git_tree_entry_id(e)))
		return -1;
	return 0;
}

struct gitops_verify {
	git_repository	*repo;
	git_odb		*odb;
	char		*bad;	/* the first ref found damaged */
};

static int
gitops_verify_ref(const char *name, void *arg)
{
	struct gitops_verify	*v = arg;
	git_oid			 id;
	git_commit		*c = NULL;
	git_tree		*t = NULL;
	int			 rv = -1;

	if (git_reference_name_to_id(&id, v->repo, name) == 0 &&
	    git_commit_lookup(&c, v->repo, &id) == 0 &&
	    git_commit_tree(&t, c) == 0 &&
	    git_tree_walk(t, GIT_TREEWALK_PRE, gitops_verify_entry,
	    v->odb) == 0)
		rv = 0;
	else
		v->bad = xprintf("%s: %s", name, git_error_last() != NULL &&
		    git_error_last()->message != NULL ?
		    git_error_last()->message : "an object is missing");
	git_tree_free(t);
	git_commit_free(c);
	return rv;
}

/*
 * Whether what the mirror's refs point at can be read: each commit, its
 * trees, and the presence of its blobs. A lost pack or a damaged object
 * shows here, before a fetch negotiates from it or a push packs from it.
 */
int
gitops_mirror_verify(git_repository *repo, char **cause)
{
	struct gitops_verify	 v = { repo, NULL, NULL };
	const char		*path = git_repository_path(repo);

	if (git_repository_odb(&v.odb, repo) < 0) {
		gitops_cause(cause, "mirror %s: %s", path, gitops_git_error());
		return -1;
	}
	if (git_reference_foreach_glob(repo, "refs/*", gitops_verify_ref,
	    &v) != 0) {
		gitops_cause(cause, "mirror %s is damaged: %s", path,
		    v.bad != NULL ? v.bad : gitops_git_error());
		free(v.bad);
		git_odb_free(v.odb);
		return -1;
	}
	git_odb_free(v.odb);
	return 0;
}

static int
gitops_rm_entry(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == -1 ? -1 : 0;
}

int
gitops_mirror_remove(const char *path, char **cause)
{
	if (nftw(path, gitops_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == -1 &&
	    errno != ENOENT) {
		*cause = xprintf("remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Moves a damaged mirror to path.corrupt (replacing an older one there),
 * so the next open starts an empty one that fetches afresh: a mirror is
 * a cache of the two remotes, nothing in it is lost. *aside: where.
 */
int
gitops_mirror_discard(const char *path, char **aside, char **cause)
{
	*aside = xprintf("%s.corrupt", path);
	if (gitops_mirror_remove(*aside, cause) == -1)
		return -1;
	if (rename(path, *aside) == -1) {
		*cause = xprintf("move %s to %s: %s", path, *aside,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static __thread int gitops_unlocked;	/* nftw(3) passes no argument */

static int
gitops_unlock_entry(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	size_t	 len = strlen(path);

	(void)sb;
	(void)ftw;
	if (flag == FTW_F && len > 5 && strcmp(path + len - 5, ".lock") == 0 &&
	    unlink(path) == 0)
		gitops_unlocked++;
	return 0;
}

/*
 * Removes the *.lock files a process killed in the middle of a ref or
 * config update left in the mirror at path; libgit2 refuses that ref
 * until they go. Only for a mirror no other process uses (the caller
 * runs the route's one job). Returns how many went.
 */
int
gitops_mirror_unlock(const char *path)
{
	gitops_unlocked = 0;
	(void)nftw(path, gitops_unlock_entry, 16, FTW_PHYS);
	return gitops_unlocked;
}
