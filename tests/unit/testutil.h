/* testutil.h: what every check(3) suite shares: the suite prototypes
 * (generated into suites.h), scratch files, child servers, loop threads. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <sys/types.h>

#include <check.h>
#include <stddef.h>

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* The key of alice, the built-in user of tests/fakes/fakecluster. */
#define TESTUTIL_FC_KEY	"simA1iceTestKey+x9/Qw3Lz7Rb2"

/* A server in a child process that prints its port as its first line. */
struct testutil_server {
	pid_t	 pid;		/* -1: none */
	int	 port;		/* 0: it did not start */
	char	*dir;		/* its scratch directory, logs included */
	char	*cert;		/* over TLS: its certificate, in dir */
};

struct event_base;
struct testutil_loop;

char	*testutil_tmpdir(void);
void	 testutil_rmtree(const char *path);
char	*testutil_read(const char *path);
void	 testutil_write(const char *path, const char *text, int mode);
const char *testutil_srcdir(void);
char	*testutil_data(const char *dir, const char *name, size_t *len);
void	 testutil_noproxy(void);

int	 testutil_spawn(char *const argv[], const char *errlog, pid_t *pid);
void	 testutil_kill(pid_t *pid);
void	 testutil_fc_start(struct testutil_server *,
	    const char *build_seconds);
long	 testutil_fc_call(const struct testutil_server *,
	    const char *method, const char *path, const char *body,
	    char **out);
void	 testutil_tlsgit_start(struct testutil_server *, const char *san,
	    const char *user);
void	 testutil_server_stop(struct testutil_server *);

struct testutil_loop *testutil_loop_start(struct event_base *);
void	 testutil_loop_stop(struct testutil_loop *);

#endif
