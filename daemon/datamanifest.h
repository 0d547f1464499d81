/* datamanifest.h: what a route copied of hosted data, file by file, kept
 * as routes/PAIR/DEST/data.json plus an append-only journal of copies. */
#ifndef DATAMANIFEST_H
#define DATAMANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define DATAMANIFEST_FORMAT	1

/* One file the route uploaded, and what it was copied from. */
struct datamanifest_file {
	char	*name;
	char	*src_modified;	/* the source's last_modified, verbatim */
	int64_t	 src_size;
	int64_t	 size;		/* of what was uploaded */
	char	 sha256[65];	/* of what was uploaded, lowercase hex */
	char	 md5[33];
};

/* A copy begun and not yet recorded: what the source held and what the
 * destination held (dst_size -1: nothing) when it began. A crash in the
 * copy leaves it; the file it names is recorded or forgotten after. */
struct datamanifest_start {
	char	*name;
	char	*src_modified;
	int64_t	 src_size;
	char	*dst_modified;	/* NULL when dst_size is -1 */
	int64_t	 dst_size;
};

/* One mapping's collection pair: files sorted by name. */
struct datamanifest_coll {
	char			*source;	/* "data://OWNER/COLL" */
	char			*destination;
	struct datamanifest_file *files;
	size_t			 nfiles;
	size_t			 cap;
	struct datamanifest_start *starts;	/* few: unsorted */
	size_t			 nstarts;
};

/* The pinned files one promotion's model manifest names, by the source
 * commit promoted, in promotion order. */
struct datamanifest_version {
	char			*source_commit;
	char			*version;	/* published as; NULL: not yet */
	char		       **files;		/* "OWNER/COLL/NAME" */
	size_t			 nfiles;
};

struct datamanifest {
	struct datamanifest_coll *colls;
	size_t			 ncolls;
	struct datamanifest_version *versions;
	size_t			 nversions;
	char			*dir;		/* the route's directory */
	size_t			 journaled;	/* lines in data.journal */
	int64_t			 generation;	/* saves of data.json */
};

/*
 * Reads dir/data.json and replays dir/data.journal over it. A missing
 * manifest is an empty one. A torn last journal line (a crash in the
 * middle of an append) is dropped, and the manifest is then saved whole
 * (journal emptied, journaled 0) so that no later append follows the torn
 * bytes; any other damage moves the files
 * aside (*warning says so; the next copy starts over from the
 * destination's listing). The journal's first line names the generation
 * of data.json it follows: one a save already holds (a crash between
 * writing data.json and removing the journal) is not replayed again.
 * 0, or -1 with *cause when the files cannot be read or moved (the
 * manifest is then empty; datamanifest_clear() it either way).
 */
int	 datamanifest_load(struct datamanifest *, const char *dir,
	    char **warning, char **cause);
/* Writes the whole manifest (atomically) and empties the journal. */
int	 datamanifest_save(struct datamanifest *, char **cause);
/* Records one uploaded file: in memory, and as a journal line (fsync'd)
 * before it returns, so a crash right after loses nothing. */
int	 datamanifest_record(struct datamanifest *, struct datamanifest_coll *,
	    const struct datamanifest_file *, char **cause);
/* A copy of s->name begins; journaled likewise (replacing an earlier
 * start of the same name). Recording or forgetting the name ends it. */
int	 datamanifest_start(struct datamanifest *, struct datamanifest_coll *,
	    const struct datamanifest_start *, char **cause);
/* The copy of name begun and not recorded, or NULL. */
const struct datamanifest_start *datamanifest_started(
	    const struct datamanifest_coll *, const char *name);
/* Forgets a file (deleted at the destination); journaled likewise. */
int	 datamanifest_forget(struct datamanifest *, struct datamanifest_coll *,
	    const char *name, char **cause);
/* A promotion of source_commit pins files (replacing what an earlier try
 * of the same commit pinned); journaled. */
int	 datamanifest_pin(struct datamanifest *, const char *source_commit,
	    char *const *files, size_t n, char **cause);
/* source_commit was published as version: unpublished tries before it
 * are forgotten (their commits were never published by the route);
 * journaled. 0 also when source_commit pinned nothing. */
int	 datamanifest_published(struct datamanifest *,
	    const char *source_commit, const char *version, char **cause);
/* The pinned files that only published versions older than the newest
 * keep reference: none that a newer version, an unpublished try, or
 * except (may be NULL) names. NULL-terminated, caller frees the array
 * (not the strings, the manifest's), or NULL when none. */
const char **datamanifest_unreferenced(const struct datamanifest *, int keep,
	    char *const *except, size_t nexcept);
/* Forgets the published versions older than the newest keep. */
void	 datamanifest_drop_old(struct datamanifest *, int keep);
/* The collection pair whose destination is uri ("data://OWNER/COLL"), or
 * NULL. */
struct datamanifest_coll *datamanifest_coll_to(struct datamanifest *,
	    const char *uri);

/* The collection pair's record, made empty when missing. Adding one may
 * move the others: pointers to them are good until the next call. */
struct datamanifest_coll *datamanifest_coll(struct datamanifest *,
	    const char *source, const char *destination);
const struct datamanifest_file *datamanifest_find(
	    const struct datamanifest_coll *, const char *name);
void	 datamanifest_clear(struct datamanifest *);

#endif
