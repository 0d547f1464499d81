/* atomicfile.c: whole-file writes that survive a crash at any instant.
 * temp file in the same directory, fsync, rename, fsync the directory. */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "failpoint.h"
#include "xmalloc.h"

/* Who new files and directories belong to; -1: whoever makes them. */
static uid_t	atomicfile_uid = (uid_t)-1;
static gid_t	atomicfile_gid = (gid_t)-1;

/*
 * From now on, every file and directory this module creates is given to
 * uid:gid: how root edits a directory that belongs to a service user
 * without taking it away from it. Single-threaded callers only.
 */
void
atomicfile_owner(uid_t uid, gid_t gid)
{
	atomicfile_uid = uid;
	atomicfile_gid = gid;
}

static int
atomicfile_chown(int fd, const char *path)
{
	if (atomicfile_uid == (uid_t)-1)
		return 0;
	return fd != -1 ? fchown(fd, atomicfile_uid, atomicfile_gid) :
	    chown(path, atomicfile_uid, atomicfile_gid);
}

static int
atomicfile_fail(char **cause, const char *what, const char *path)
{
	int	 saved = errno;

	if (cause != NULL)
		xasprintf(cause, "%s %s: %s", what, path, strerror(saved));
	errno = saved;
	return -1;
}

static int
atomicfile_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
atomicfile_fsync_dir(const char *path, char **cause)
{
	char	*copy, *dir;
	int	 fd, rv = 0;

	copy = xstrdup(path);
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		rv = atomicfile_fail(cause, "open directory", dir);
	else {
		if (fsync(fd) == -1)
			rv = atomicfile_fail(cause, "fsync directory", dir);
		close(fd);
	}
	free(copy);
	return rv;
}

/*
 * A new file "path.XXXXXX" (six letters or digits, as mkstemp(3) names
 * it), mode 0600, or -1; *tmp its name (the last tried, for a message
 * on failure; the caller frees it). Not mkostemp(3): glibc
 * opens the file below the open() that ThreadSanitizer intercepts, so in
 * `make tsan` a descriptor number a worker reused looked like a race with
 * the loop's last use of it.
 */
static int
atomicfile_create(const char *path, char **tmp)
{
	static const char	 set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789";
	char			*p;
	int			 fd, i, tries;

	xasprintf(tmp, "%s.XXXXXX", path);
	p = *tmp + strlen(*tmp) - 6;
	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < 6; i++)
			p[i] = set[arc4random_uniform(sizeof set - 1)];
		fd = open(*tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
atomicfile_write(const char *path, const void *data, size_t len,
    mode_t mode, char **cause)
{
	char	*tmp;
	int	 fd;

	if ((fd = atomicfile_create(path, &tmp)) == -1) {
		atomicfile_fail(cause, "create", tmp);
		free(tmp);
		return -1;
	}
	if (fchmod(fd, mode) == -1) {
		atomicfile_fail(cause, "chmod", tmp);
		goto fail;
	}
	if (atomicfile_chown(fd, tmp) == -1) {
		atomicfile_fail(cause, "chown", tmp);
		goto fail;
	}
	FAILPOINT_TORN("mid-state-write", path, "/state.json", fd, data, len);
	if (atomicfile_write_all(fd, data, len) == -1) {
		atomicfile_fail(cause, "write", tmp);
		goto fail;
	}
	if (fsync(fd) == -1) {
		atomicfile_fail(cause, "fsync", tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		atomicfile_fail(cause, "close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		atomicfile_fail(cause, "rename to", path);
		goto fail;
	}
	free(tmp);
	return atomicfile_fsync_dir(path, cause);

fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/*
 * Appends one record and fsyncs it: the way an append-only log (the
 * version map) stays whole across crashes. A write that fails part way
 * (ENOSPC, EDQUOT, EIO) is cut back off, so the file ends where it
 * ended before; only a crash in the middle of the write (or a lying
 * disk) can leave a torn last line, which the log's reader must mend.
 */
int
atomicfile_append(const char *path, const void *data, size_t len,
    char **cause)
{
	struct stat	 sb;
	int		 fd, created, saved;

	created = stat(path, &sb) == -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return atomicfile_fail(cause, "open", path);
	if (fstat(fd, &sb) == -1 || (created && atomicfile_chown(fd, path) ==
	    -1)) {
		atomicfile_fail(cause, created ? "chown" : "stat", path);
		close(fd);
		return -1;
	}
	FAILPOINT_TORN("mid-map-append", path, "/versions.jsonl", fd, data,
	    len);
	if (atomicfile_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		if (ftruncate(fd, sb.st_size) == 0)
			(void)fsync(fd);
		errno = saved;
		atomicfile_fail(cause, "append to", path);
		close(fd);
		return -1;
	}
	if (close(fd) == -1)
		return atomicfile_fail(cause, "close", path);
	return created ? atomicfile_fsync_dir(path, cause) : 0;
}

/*
 * Removes what a crash in the middle of atomicfile_write(path) left: its
 * temporary files, path.XXXXXX. Only for a path no other process writes
 * (the caller holds the directory's lock). Returns how many went.
 */
int
atomicfile_clean(const char *path)
{
	char		*copy, *base;
	const char	*dir;
	DIR		*d;
	struct dirent	*de;
	size_t		 blen, i;
	int		 n = 0;

	copy = xstrdup(path);
	base = strrchr(copy, '/');
	if (base == NULL) {
		dir = ".";
		base = copy;
	} else {
		*base++ = '\0';
		dir = *copy != '\0' ? copy : "/";
	}
	blen = strlen(base);
	if ((d = opendir(dir)) == NULL) {
		free(copy);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, blen) != 0 ||
		    de->d_name[blen] != '.' || strlen(de->d_name) != blen + 7)
			continue;
		for (i = blen + 1; i < blen + 7; i++)
			if (!isalnum((unsigned char)de->d_name[i]))
				break;
		if (i == blen + 7 && unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	free(copy);
	return n;
}

int
atomicfile_read(const char *path, char **data, size_t *len, size_t max,
    char **cause)
{
	char	*buf = NULL;
	size_t	 size = 0, cap = 0;
	ssize_t	 n;
	int	 fd;

	*data = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return atomicfile_fail(cause, "open", path);
	for (;;) {
		if (size + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + size, cap - size - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			atomicfile_fail(cause, "read", path);
			goto fail;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (max != 0 && size > max) {
			if (cause != NULL)
				xasprintf(cause, "%s: larger than %zu bytes",
				    path, max);
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[size] = '\0';
	*data = buf;
	if (len != NULL)
		*len = size;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int
atomicfile_mkdirs(const char *path, mode_t mode, char **cause)
{
	char	*copy, *p;
	int	 rv = 0;

	copy = xstrdup(path);
	for (p = copy + 1; rv == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) == 0) {
			if (atomicfile_chown(-1, copy) == -1)
				rv = atomicfile_fail(cause, "chown", copy);
		} else if (errno != EEXIST)
			rv = atomicfile_fail(cause, "mkdir", copy);
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rv;
}
