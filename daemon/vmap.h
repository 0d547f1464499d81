/* vmap.h: the version map, one JSON object per line, append-only:
 * which source commit/version became which destination commit/version. */
#ifndef VMAP_H
#define VMAP_H

#include <stddef.h>
#include <stdint.h>

/* The format each line is written in (fileformat.h). */
#define VMAP_FORMAT	1

struct vmap_entry {
	int64_t	 time;		/* unix seconds, UTC */
	char	*pair;
	char	*source;	/* CLUSTER/OWNER/ALGO */
	char	*source_commit;
	char	*source_version;	/* NULL: the commit was not published */
	char	*destination;
	char	*dest_commit;
	char	*dest_version;
	char	*build_id;	/* NULL when no build was needed */
};

struct vmap {
	struct vmap_entry	*entries;	/* oldest first */
	size_t			 n;
	size_t			 skipped;	/* unreadable lines */
};

char	*vmap_entry_json(const struct vmap_entry *);
int	 vmap_entry_parse(struct vmap_entry *, const char *line,
	    char **cause);
void	 vmap_entry_clear(struct vmap_entry *);
int	 vmap_mend(const char *path, char **warning, char **cause);
int	 vmap_append(const char *path, const struct vmap_entry *,
	    char **cause);
int	 vmap_load(struct vmap *, const char *path, char **cause);
void	 vmap_clear(struct vmap *);
const struct vmap_entry *vmap_find(const struct vmap *,
	    const char *dest_commit, const char *dest_version);

char	*vmap_time_format(int64_t t);
int	 vmap_time_parse(const char *s, int64_t *t);

#endif
