/* testutil.h: what every check(3) suite shares: the suite prototypes
 * (generated into suites.h) and scratch-directory helpers. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

char	*testutil_tmpdir(void);
void	 testutil_rmtree(const char *path);
char	*testutil_read(const char *path);
void	 testutil_write(const char *path, const char *text, int mode);
const char *testutil_srcdir(void);

#endif
