/* atomicfile.h: whole-file writes that survive a crash at any instant.
 * Readers see the old content or the new one, never a mix. */
#ifndef ATOMICFILE_H
#define ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

int	 atomicfile_write(const char *path, const void *data, size_t len,
	    mode_t mode, char **cause);
int	 atomicfile_append(const char *path, const void *data, size_t len,
	    char **cause);
int	 atomicfile_read(const char *path, char **data, size_t *len,
	    size_t max, char **cause);
int	 atomicfile_fsync_dir(const char *path, char **cause);
int	 atomicfile_clean(const char *path);
void	 atomicfile_owner(uid_t uid, gid_t gid);
int	 atomicfile_mkdirs(const char *path, mode_t mode, char **cause);

#endif
