/* testutil.c: scratch directories and small file helpers for suites. */
#include <sys/stat.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "testutil.h"
#include "xmalloc.h"

char *
testutil_tmpdir(void)
{
	char	*dir;
	const char *base = getenv("TMPDIR");

	xasprintf(&dir, "%s/apcheck.XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static int
testutil_rm(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

void
testutil_rmtree(const char *path)
{
	nftw(path, testutil_rm, 16, FTW_DEPTH | FTW_PHYS);
}

char *
testutil_read(const char *path)
{
	char	*data = NULL, *cause = NULL;

	ck_assert_msg(atomicfile_read(path, &data, NULL, 0, &cause) == 0,
	    "%s", cause);
	return data;
}

void
testutil_write(const char *path, const char *text, int mode)
{
	char	*cause = NULL;

	ck_assert_msg(atomicfile_write(path, text, strlen(text),
	    (mode_t)mode, &cause) == 0, "%s", cause);
}

/* The source tree's top, for fixtures: tests run from there. */
const char *
testutil_srcdir(void)
{
	const char *top = getenv("AP_SRCDIR");

	return top != NULL ? top : ".";
}
