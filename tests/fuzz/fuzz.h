/* fuzz.h: the entry point every fuzz target defines (libFuzzer's) and the
 * small helpers they share; replay.c runs the same targets over files. */
#ifndef FUZZ_H
#define FUZZ_H

#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run (a finding) with a message: libFuzzer and the replay
 * driver both report an abort with the input that caused it. */
#define FUZZ_ASSERT(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, \
		    #cond);						\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* data as a NUL-terminated string (cut at its first NUL, if any). */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char	*s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Splits a copy of data at each sep into at most max NUL-terminated
 * parts (the last part keeps any further sep). Returns the number of
 * parts, >= 1; *buf is the copy to free.
 */
static inline size_t
fuzz_split(const uint8_t *data, size_t size, char sep, char **parts,
    size_t max, char **buf)
{
	char	*s, *end, *p;
	size_t	 n = 0;

	s = *buf = fuzz_str(data, size);
	end = s + size;
	parts[n++] = s;
	while (n < max && (p = memchr(s, sep, (size_t)(end - s))) != NULL) {
		*p = '\0';
		s = p + 1;
		parts[n++] = s;
	}
	return n;
}

static char	*fuzz_dir;

static inline int
fuzz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
fuzz_tmpdir_remove(void)
{
	if (fuzz_dir != NULL)
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(fuzz_dir);
	fuzz_dir = NULL;
}

/* A directory of this process's own under $TMPDIR (or /tmp), removed at
 * exit: the only place a target writes. */
static inline const char *
fuzz_tmpdir(void)
{
	const char	*t;
	char		*tmpl;
	size_t		 n;

	if (fuzz_dir != NULL)
		return fuzz_dir;
	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	n = strlen(t) + sizeof "/apfuzz.XXXXXX";
	if ((tmpl = malloc(n)) == NULL)
		abort();
	snprintf(tmpl, n, "%s/apfuzz.XXXXXX", t);
	if (mkdtemp(tmpl) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	fuzz_dir = tmpl;
	atexit(fuzz_tmpdir_remove);
	return fuzz_dir;
}

/* fuzz_tmpdir()/name, malloc'd. */
static inline char *
fuzz_path(const char *name)
{
	const char	*d = fuzz_tmpdir();
	size_t		 n = strlen(d) + strlen(name) + 2;
	char		*p = malloc(n);

	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", d, name);
	return p;
}

/* Writes size bytes of data to path (replacing it) with mode. */
static inline void
fuzz_write(const char *path, const void *data, size_t size, mode_t mode)
{
	const char	*p = data;
	ssize_t		 r;
	int		 fd;

	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1) {
		perror(path);
		abort();
	}
	while (size > 0) {
		if ((r = write(fd, p, size)) <= 0) {
			perror(path);
			abort();
		}
		p += r;
		size -= (size_t)r;
	}
	close(fd);
}

#endif
