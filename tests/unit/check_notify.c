/* check_notify.c: the sd_notify protocol against a fake NOTIFY_SOCKET.
 * The test binds the datagram socket systemd would and reads what arrives. */
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monotime.h"
#include "notify.h"
#include "testutil.h"
#include "xmalloc.h"

/* A receiving socket that also learns the sender's pid, as systemd does
 * for NotifyAccess=main. */
static int
receiver(const struct sockaddr_un *sun, socklen_t len)
{
	int	 fd, on = 1;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(bind(fd, (const struct sockaddr *)sun, len), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof on), 0);
	return fd;
}

static int
path_receiver(const char *path)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path));
	return receiver(&sun, sizeof sun);
}

/* The next datagram, waiting at most 5 s for it. */
static char *
recv_msg(int fd, pid_t *pid)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 buf[4096];
	union {
		struct cmsghdr	 hdr;
		char		 space[CMSG_SPACE(sizeof(struct ucred))];
	} cm;
	struct iovec	 iov = { .iov_base = buf, .iov_len = sizeof buf };
	struct msghdr	 msg;
	struct cmsghdr	*c;
	struct ucred	 uc;
	ssize_t		 n;

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.space;
	msg.msg_controllen = sizeof cm.space;
	n = recvmsg(fd, &msg, MSG_DONTWAIT);
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC), 0);
	*pid = -1;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&uc, CMSG_DATA(c), sizeof uc);
			*pid = uc.pid;
		}
	}
	return xstrndup(buf, (size_t)n);
}

static void
expect_msg(int fd, const char *want)
{
	char	*got;
	pid_t	 pid;

	got = recv_msg(fd, &pid);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(pid, getpid());
	free(got);
}

static void
expect_nothing(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
}

/* The descriptor the next open(2) would get. */
static int
next_fd(void)
{
	int	 fd;

	fd = dup(0);
	ck_assert_int_ne(fd, -1);
	close(fd);
	return fd;
}

/* The daemon's conversation, in order, each message one datagram. */
static void
converse(int rfd)
{
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=%s", "started"), 0);
	ck_assert_int_eq(notify_send("STATUS=%d pairs, %s", 3, "idle"), 0);
	ck_assert_int_eq(notify_send("WATCHDOG=1"), 0);
	ck_assert_int_eq(notify_send("RELOADING=1"), 0);
	ck_assert_int_eq(notify_send("STOPPING=1"), 0);
	expect_msg(rfd, "READY=1\nSTATUS=started");
	expect_msg(rfd, "STATUS=3 pairs, idle");
	expect_msg(rfd, "WATCHDOG=1");
	expect_msg(rfd, "RELOADING=1");
	expect_msg(rfd, "STOPPING=1");
	expect_nothing(rfd);
}

START_TEST(test_path_socket)
{
	char	*dir, *path;
	int	 rfd, fd;

	dir = testutil_tmpdir();
	xasprintf(&path, "%s/notify.sock", dir);
	rfd = path_receiver(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);

	fd = next_fd();
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_int_eq(notify_enabled(), 1);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));	/* not inherited */
	/* The socket is the next descriptor, and closed on exec. */
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	converse(rfd);

	notify_close();
	ck_assert_int_eq(notify_enabled(), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);	/* closed */
	ck_assert_int_eq(notify_send("WATCHDOG=1"), 0);
	expect_nothing(rfd);

	close(rfd);
	testutil_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_abstract_socket)
{
	struct sockaddr_un	 sun;
	char			 name[64], env[80];
	socklen_t		 len;
	int			 rfd, n;

	/* The abstract name has a leading NUL and no terminator. */
	n = snprintf(name, sizeof name, "apcheck-notify-%ld-%ld",
	    (long)getpid(), (long)time(NULL));
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, name, (size_t)n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    (size_t)n);
	rfd = receiver(&sun, len);
	snprintf(env, sizeof env, "@%s", name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", env, 1), 0);

	ck_assert_int_eq(notify_init(), 0);
	ck_assert_int_eq(notify_enabled(), 1);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	converse(rfd);
	notify_close();
	close(rfd);
}
END_TEST

START_TEST(test_unset_is_noop)
{
	int	 fd;

	unsetenv("NOTIFY_SOCKET");
	fd = next_fd();
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_int_eq(notify_enabled(), 0);
	ck_assert_int_eq(next_fd(), fd);	/* no socket was opened */
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(notify_send("STATUS=%s", "x"), 0);
	notify_close();

	/* Empty counts as unset. */
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_int_eq(notify_enabled(), 0);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(notify_send("READY=1"), 0);
	notify_close();
}
END_TEST

START_TEST(test_bad_address)
{
	char	 longpath[200];

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "run/notify", 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_init(), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(notify_enabled(), 0);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(notify_send("READY=1"), 0);	/* still a no-op */

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "@", 1), 0);
	ck_assert_int_eq(notify_init(), -1);
	ck_assert_int_eq(errno, EINVAL);

	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	ck_assert_int_eq(notify_init(), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_int_eq(notify_enabled(), 0);
	notify_close();
}
END_TEST

/* Nobody listening: the error comes back with errno intact. */
START_TEST(test_send_error)
{
	char	*dir, *path;

	dir = testutil_tmpdir();
	xasprintf(&path, "%s/gone.sock", dir);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify_init(), 0);
	errno = 0;
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* A socket file with no one bound to it any more. */
	close(path_receiver(path));
	errno = 0;
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	notify_close();
	testutil_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/* A receiver that never reads: the sender gives up after the send
 * timeout instead of blocking the daemon's loop for good. */
START_TEST(test_send_timeout)
{
	char		*dir, *path;
	uint64_t	 t0 = 0;
	double		 took;
	int		 rfd, i, rc = 0;

	dir = testutil_tmpdir();
	xasprintf(&path, "%s/full.sock", dir);
	rfd = path_receiver(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify_init(), 0);
	for (i = 0; i < 100000 && rc == 0; i++) {
		t0 = monotime_ms();
		rc = notify_send("WATCHDOG=1");
	}
	took = (double)(monotime_ms() - t0) / 1000;
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "errno %d",
	    errno);
	ck_assert_int_gt(i, 1);
	ck_assert_msg(took >= NOTIFY_SEND_TIMEOUT_MS / 1000.0 * 0.9 &&
	    took < NOTIFY_SEND_TIMEOUT_MS / 1000.0 * 5, "took %.3fs", took);
	/* What was queued is intact and in order. */
	expect_msg(rfd, "WATCHDOG=1");
	notify_close();
	close(rfd);
	testutil_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

static uint64_t
watchdog_with(const char *usec, const char *pid)
{
	uint64_t	 u;

	notify_close();		/* forget the previous answer */
	if (usec != NULL)
		ck_assert_int_eq(setenv("WATCHDOG_USEC", usec, 1), 0);
	else
		unsetenv("WATCHDOG_USEC");
	if (pid != NULL)
		ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	else
		unsetenv("WATCHDOG_PID");
	u = notify_watchdog_usec();
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	ck_assert_ptr_null(getenv("WATCHDOG_PID"));
	return u;
}

START_TEST(test_watchdog)
{
	char	 mine[32], other[32];

	snprintf(mine, sizeof mine, "%ld", (long)getpid());
	snprintf(other, sizeof other, "%ld", (long)getpid() + 1);

	ck_assert_uint_eq(watchdog_with("400000", NULL), 400000);
	/* Asked again, the same answer though the environment is gone. */
	ck_assert_uint_eq(notify_watchdog_usec(), 400000);
	ck_assert_uint_eq(watchdog_with("30000000", mine), 30000000);
	ck_assert_uint_eq(watchdog_with("30000000", other), 0);
	ck_assert_uint_eq(watchdog_with("30000000", "1x"), 0);
	ck_assert_uint_eq(watchdog_with(NULL, NULL), 0);
	ck_assert_uint_eq(watchdog_with(NULL, mine), 0);
	ck_assert_uint_eq(watchdog_with("0", NULL), 0);
	ck_assert_uint_eq(watchdog_with("-5", NULL), 0);
	ck_assert_uint_eq(watchdog_with(" 5", NULL), 0);
	ck_assert_uint_eq(watchdog_with("5s", NULL), 0);
	ck_assert_uint_eq(watchdog_with("", NULL), 0);
	ck_assert_uint_eq(watchdog_with("18446744073709551616", NULL), 0);
	ck_assert_uint_eq(watchdog_with("18446744073709551615", NULL),
	    UINT64_MAX);
	notify_close();
}
END_TEST

/* notify_init() consumes the watchdog variables too, whichever of the
 * two the daemon calls first. */
START_TEST(test_watchdog_with_init)
{
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "400000", 1), 0);
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	ck_assert_uint_eq(notify_watchdog_usec(), 400000);
	ck_assert_int_eq(notify_init(), 0);	/* again: same answer */
	ck_assert_uint_eq(notify_watchdog_usec(), 400000);
	notify_close();
	ck_assert_uint_eq(notify_watchdog_usec(), 0);	/* consumed */
	notify_close();

	ck_assert_int_eq(setenv("WATCHDOG_USEC", "250000", 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 250000);
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 250000);
	notify_close();
}
END_TEST

Suite *
notify_suite(void)
{
	Suite	*s = suite_create("notify");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_path_socket);
	tcase_add_test(tc, test_abstract_socket);
	tcase_add_test(tc, test_unset_is_noop);
	tcase_add_test(tc, test_bad_address);
	tcase_add_test(tc, test_send_error);
	tcase_add_test(tc, test_send_timeout);
	tcase_add_test(tc, test_watchdog);
	tcase_add_test(tc, test_watchdog_with_init);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
