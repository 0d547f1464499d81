/* testutil.c: what suites share: scratch directories, files and fixtures,
 * servers in child processes, and event loops run in threads of their own. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "atomicfile.h"
#include "testutil.h"
#include "xmalloc.h"

/* argv wants char *. */
#define ARG(s)		((char *)(uintptr_t)(s))

struct testutil_loop {
	struct event_base	*base;
	pthread_t		 thread;
	pthread_mutex_t		 lock;		/* started */
	pthread_cond_t		 cond;
	int			 started;
};

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

/* The fixture tests/data/dir/name, whole and NUL-terminated; its length
 * (NULs inside included) in *len. */
char *
testutil_data(const char *dir, const char *name, size_t *len)
{
	char	*path, *data = NULL, *cause = NULL;

	path = xprintf("%s/tests/data/%s/%s", testutil_srcdir(), dir, name);
	ck_assert_msg(atomicfile_read(path, &data, len, 0, &cause) == 0,
	    "%s", cause);
	free(path);
	return data;
}

/* The servers of the suites are local: no proxy may stand between. */
void
testutil_noproxy(void)
{
	static const char *const proxies[] = { "http_proxy", "HTTP_PROXY",
	    "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
	size_t	 i;

	for (i = 0; i < nitems(proxies); i++)
		unsetenv(proxies[i]);
}

/* ---------------------------------------------------------------------
 * Servers in child processes.
 */

/* Runs argv with stdout on a pipe (stderr appended to errlog) and returns
 * the port it prints as its first line, 0 when none came. */
int
testutil_spawn(char *const argv[], const char *errlog, pid_t *pid)
{
	char	 buf[64];
	FILE	*f;
	int	 pfd[2], fd, port = 0;

	ck_assert_int_eq(pipe(pfd), 0);
	if ((*pid = fork()) == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		if ((fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) != -1)
			dup2(fd, STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	ck_assert_ptr_nonnull(f = fdopen(pfd[0], "r"));
	if (fgets(buf, sizeof buf, f) != NULL)
		port = (int)strtol(buf, NULL, 10);
	fclose(f);
	return port;
}

/* Ends a child of testutil_spawn and waits for it; *pid becomes -1. */
void
testutil_kill(pid_t *pid)
{
	int	 status;

	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, &status, 0);
	}
	*pid = -1;
}

/* Runs argv to completion, its output thrown away; its exit status, or
 * -1. */
static int
testutil_run_quietly(char *const argv[])
{
	pid_t	 pid;
	int	 status, fd;

	if ((pid = fork()) == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1 ||
	    !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* tests/fakes/fakecluster/fakecluster.py on a free port, its state and its log
 * in a new scratch directory; builds take build_seconds. */
void
testutil_fc_start(struct testutil_server *s,
    const char *build_seconds)
{
	char	*script, *errlog;

	memset(s, 0, sizeof *s);
	s->pid = -1;
	s->dir = testutil_tmpdir();
	script = xprintf("%s/tests/fakes/fakecluster/fakecluster.py",
	    testutil_srcdir());
	errlog = xprintf("%s/fakecluster.log", s->dir);
	{
		char *const argv[] = { ARG("python3"), script, ARG("--port"),
		    ARG("0"), ARG("--state"), s->dir, ARG("--build-seconds"),
		    ARG(build_seconds), NULL };

		s->port = testutil_spawn(argv, errlog, &s->pid);
	}
	free(errlog);
	free(script);
}

struct testutil_body {
	char	*p;
	size_t	 n;
};

static size_t
testutil_body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct testutil_body	*b = arg;
	size_t			 n = size * nmemb;

	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* One blocking call of the fake cluster's API as alice; the status, and
 * the body in *out (out may be NULL). */
long
testutil_fc_call(const struct testutil_server *s,
    const char *method, const char *path, const char *body, char **out)
{
	struct curl_slist	*hdrs = NULL;
	struct testutil_body	 b = { xstrdup(""), 0 };
	CURL			*h;
	char			*url;
	long			 status = 0;

	url = xprintf("http://127.0.0.1:%d%s", s->port, path);
	ck_assert_ptr_nonnull(h = curl_easy_init());
	hdrs = curl_slist_append(hdrs,
	    "Authorization: Simple " TESTUTIL_FC_KEY);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, testutil_body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
	if (out != NULL)
		*out = b.p;
	else
		free(b.p);
	return status;
}

/* tests/fakes/gitops_http_server.py over https, serving a new scratch directory
 * to user ("name:key"), with a certificate of its own for san (an
 * openssl subjectAltName: "DNS:localhost", "IP:127.0.0.1"). */
void
testutil_tlsgit_start(struct testutil_server *s, const char *san,
    const char *user)
{
	char	*script, *key, *errlog, *ext;

	memset(s, 0, sizeof *s);
	s->pid = -1;
	s->dir = testutil_tmpdir();
	s->cert = xprintf("%s/cert.pem", s->dir);
	key = xprintf("%s/key.pem", s->dir);
	errlog = xprintf("%s/stderr.log", s->dir);
	ext = xprintf("subjectAltName=%s", san);
	script = xprintf("%s/tests/fakes/gitops_http_server.py", testutil_srcdir());
	{
		char *const openssl[] = { ARG("openssl"), ARG("req"),
		    ARG("-x509"), ARG("-newkey"), ARG("rsa:2048"),
		    ARG("-nodes"), ARG("-keyout"), key, ARG("-out"), s->cert,
		    ARG("-days"), ARG("2"), ARG("-subj"), ARG("/CN=localhost"),
		    ARG("-addext"), ext, NULL };
		char *const argv[] = { ARG("python3"), script, ARG("--root"),
		    s->dir, ARG("--user"), ARG(user), ARG("--tls"), s->cert,
		    key, NULL };

		if (testutil_run_quietly(openssl) == 0)
			s->port = testutil_spawn(argv, errlog, &s->pid);
	}
	free(script);
	free(ext);
	free(errlog);
	free(key);
}

/* Ends the server and removes its directory. */
void
testutil_server_stop(struct testutil_server *s)
{
	testutil_kill(&s->pid);
	if (s->dir != NULL)
		testutil_rmtree(s->dir);
	free(s->dir);
	free(s->cert);
	s->dir = s->cert = NULL;
	s->port = 0;
}

/* ---------------------------------------------------------------------
 * An event loop in a thread of its own.
 */

static void
testutil_loop_started(evutil_socket_t fd, short what, void *arg)
{
	struct testutil_loop	*loop = arg;

	pthread_mutex_lock(&loop->lock);
	loop->started = 1;
	pthread_cond_signal(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
}

static void *
testutil_loop_run(void *arg)
{
	struct testutil_loop	*loop = arg;

	event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Runs base (made after evthread_use_pthreads()) in a new thread until
 * testutil_loop_stop; returns once it runs, as a loopbreak before that
 * would be forgotten. */
struct testutil_loop *
testutil_loop_start(struct event_base *base)
{
	struct testutil_loop	*loop;

	loop = xcalloc(1, sizeof *loop);
	loop->base = base;
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->cond, NULL);
	ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT,
	    testutil_loop_started, loop, NULL), 0);
	ck_assert_int_eq(pthread_create(&loop->thread, NULL,
	    testutil_loop_run, loop), 0);
	pthread_mutex_lock(&loop->lock);
	while (!loop->started)
		pthread_cond_wait(&loop->cond, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	return loop;
}

/* Breaks the loop and joins its thread; the base is the caller's. */
void
testutil_loop_stop(struct testutil_loop *loop)
{
	event_base_loopbreak(loop->base);
	pthread_join(loop->thread, NULL);
	pthread_cond_destroy(&loop->cond);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}
