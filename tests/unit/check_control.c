/* check_control.c: the control socket answers one JSON line per request,
 * is private to its user, and a client without a daemon fails clearly. */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "control.h"
#include "testutil.h"
#include "xmalloc.h"

static char *dir, *sock;
static struct event_base *base;
static struct control *ctl;
static struct testutil_loop *loop;

/* "later" is answered by the next "release" (loop thread only). */
static struct control_conn *_Atomic waiting;

static char *
handler(void *arg, const cJSON *req, struct control_conn *conn)
{
	const char	*pair = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(req, "pair"));
	const char	*cmd = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(req, "cmd"));

	if (strcmp(cmd, "later") == 0) {
		atomic_store(&waiting, conn);
		return NULL;
	}
	if (strcmp(cmd, "release") == 0 && atomic_load(&waiting) != NULL) {
		control_answer(atomic_exchange(&waiting, NULL),
		    xprintf("{\"ok\":true,\"answer\":\"%s\"}",
		    pair != NULL ? pair : "-"));
		return xstrdup("{\"ok\":true,\"released\":true}");
	}
	return xprintf("{\"ok\":true,\"cmd\":\"%s\",\"pair\":\"%s\"}",
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "cmd")),
	    pair != NULL ? pair : "-");
}

/* Sends {"cmd": cmd, "pair": pair}, pair left out when NULL. */
static int
ask(const char *path, const char *cmd, const char *pair, uint64_t ms,
    char **reply, char **cause)
{
	cJSON	*req = cJSON_CreateObject();
	int	 rv;

	cJSON_AddStringToObject(req, "cmd", cmd);
	if (pair != NULL)
		cJSON_AddStringToObject(req, "pair", pair);
	rv = control_request(path, req, ms, reply, cause);
	cJSON_Delete(req);
	return rv;
}

static void
setup(void)
{
	char	*cause = NULL;

	evthread_use_pthreads();
	dir = testutil_tmpdir();
	sock = xprintf("%s/run/control.sock", dir);
	base = event_base_new();
	ck_assert_msg(control_start(&ctl, base, sock, handler, NULL,
	    &cause) == 0, "%s", cause);
	loop = testutil_loop_start(base);
}

static void
teardown(void)
{
	testutil_loop_stop(loop);
	control_free(ctl);
	event_base_free(base);
	testutil_rmtree(dir);
	free(sock);
	free(dir);
}

START_TEST(test_request_reply)
{
	char		*reply = NULL, *cause = NULL;
	cJSON		*o;
	struct stat	 sb;

	ck_assert_msg(ask(sock, "trigger", "hello", 5000, &reply,
	    &cause) == 0, "%s", cause);
	ck_assert_ptr_nonnull(o = cJSON_Parse(reply));
	ck_assert_str_eq(cJSON_GetObjectItem(o, "cmd")->valuestring,
	    "trigger");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "pair")->valuestring, "hello");
	cJSON_Delete(o);
	free(reply);
	ck_assert_int_eq(stat(sock, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(ask(sock, "status", NULL, 5000, &reply,
	    &cause), 0);
	ck_assert_ptr_nonnull(strstr(reply, "\"pair\":\"-\""));
	free(reply);
}
END_TEST

/* Arguments are strings: anything else is refused before the handler. */
START_TEST(test_bad_request)
{
	char	*reply = NULL, *cause = NULL;
	cJSON	*req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "cmd", "pause");
	cJSON_AddNumberToObject(req, "reason", 7);
	ck_assert_msg(control_request(sock, req, 5000, &reply, &cause) == 0,
	    "%s", cause);
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"bad request: want "
	    "{\\\"cmd\\\": \\\"...\\\", \\\"pair\\\": \\\"...\\\", ...} with "
	    "string members\"}");
	free(reply);
	cJSON_DeleteItemFromObject(req, "cmd");
	cJSON_AddStringToObject(req, "reason", "no cmd");
	ck_assert_int_eq(control_request(sock, req, 5000, &reply, &cause), 0);
	ck_assert_ptr_nonnull(strstr(reply, "bad request"));
	free(reply);
	cJSON_Delete(req);
}
END_TEST

struct later {
	char	*reply, *cause;
	int	 rv;
	uint64_t ms;
};

static void *
later_client(void *arg)
{
	struct later	*l = arg;

	l->rv = ask(sock, "later", NULL, l->ms, &l->reply, &l->cause);
	return NULL;
}

/* A deferred answer reaches its client; one whose client has gone is
 * dropped, and frees what it held (ASan's leak check). */
START_TEST(test_deferred)
{
	struct later	 l = { .ms = 30000 };
	pthread_t	 t;
	char		*reply = NULL, *cause = NULL;

	ck_assert_int_eq(pthread_create(&t, NULL, later_client, &l), 0);
	while (atomic_load(&waiting) == NULL)
		sched_yield();
	ck_assert_int_eq(ask(sock, "release", "now", 5000, &reply, &cause), 0);
	ck_assert_str_eq(reply, "{\"ok\":true,\"released\":true}");
	free(reply);
	pthread_join(t, NULL);
	ck_assert_msg(l.rv == 0, "%s", l.cause);
	ck_assert_str_eq(l.reply, "{\"ok\":true,\"answer\":\"now\"}");
	free(l.reply);

	/* The client gives up first. */
	l.ms = 100;
	l.reply = NULL;
	later_client(&l);
	ck_assert_int_eq(l.rv, -1);
	free(l.cause);
	ck_assert_ptr_nonnull(atomic_load(&waiting));
	ck_assert_int_eq(ask(sock, "release", "late", 5000, &reply, &cause), 0);
	free(reply);
	ck_assert_ptr_null(atomic_load(&waiting));
	/* And the socket still serves. */
	ck_assert_int_eq(ask(sock, "status", NULL, 5000, &reply, &cause), 0);
	free(reply);
}
END_TEST

START_TEST(test_no_daemon)
{
	char	*reply = NULL, *cause = NULL, *other;

	other = xprintf("%s/none.sock", dir);
	ck_assert_int_eq(ask(other, "status", NULL, 1000, &reply,
	    &cause), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(cause, "No such file"));
	free(cause);
	free(other);
}
END_TEST

Suite *
control_suite(void)
{
	Suite	*s = suite_create("control");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_reply);
	tcase_add_test(tc, test_bad_request);
	tcase_add_test(tc, test_deferred);
	tcase_add_test(tc, test_no_daemon);
	suite_add_tcase(s, tc);
	return s;
}
