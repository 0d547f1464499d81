/* check_notifier.c: notifications (notifier.c) on a libevent loop in the
 * test thread: webhooks against testhttp's scripted server, commands,
 * retries, the outbox across a restart, the metrics, the log. */
#include <sys/stat.h>

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "notifier.h"
#include "redact.h"
#include "testhttp.h"
#include "testutil.h"
#include "xmalloc.h"

#define TOKEN		"simHookT0ken+ab/CDefGhIJkl"
#define APIKEY		"simApiKeyInAnError+x/yz012"

static struct event_base	*base;
static struct notifier		*nf;
static struct config		 conf;
static struct config_sink	 sinks[4];
static struct config_pair	 pair;
static char			*tmp, *logpath;
static char			 pair_name[] = "hello";
static char			 a_sh[] = "/bin/sh", a_c[] = "-c";
static char			 a_sleep[] = "/bin/sleep", a_30[] = "30";

static const struct notifier_timing fast = {
	.http_timeout_ms = 5000,
	.cmd_timeout_ms = 5000,
	.retry_min_ms = 100,
	.retry_max_ms = 1000,
};

static void
setup(void)
{
	char	*cause = NULL;

	signal(SIGPIPE, SIG_IGN);	/* as algopromoted.c does */
	tmp = testutil_tmpdir();
	logpath = xprintf("%s/log", tmp);
	log_init(LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_open_file(logpath, &cause), 0);
	ck_assert_ptr_nonnull(base = event_base_new());
	memset(&conf, 0, sizeof conf);
	memset(sinks, 0, sizeof sinks);
	memset(&pair, 0, sizeof pair);
	conf.state_dir = tmp;
	pair.name = pair_name;
}

static void
teardown(void)
{
	size_t	 i;

	notifier_free(nf);
	nf = NULL;
	event_base_free(base);
	base = NULL;
	for (i = 0; i < nitems(sinks); i++) {
		free(sinks[i].url);
		free(sinks[i].token);
	}
	log_close();
	testutil_rmtree(tmp);
	free(tmp);
	free(logpath);
}

/* A top-level webhook sink to path on testhttp's server. */
static struct config_sink *
url_sink(size_t i, const char *path, unsigned int events)
{
	struct config_sink	*s = &sinks[i];

	s->url = testhttp_url(path);
	s->events = events;
	s->format = CONFIG_NOTIFY_JSON;
	return s;
}

static void
start(void)
{
	char	*cause = NULL;

	ck_assert_msg(notifier_new(&nf, base, &conf, &cause) == 0, "%s",
	    cause);
	notifier_set_timing(nf, &fast);
}

static void
restart(void)
{
	notifier_free(nf);
	nf = NULL;
	start();
}

static const struct notifier_event promoted = {
	.type = "promoted", .pair = "hello", .source = "dev/alice/Hello",
	.destination = "prod/acme/Hello",
	.source_commit = "a01486c5d663aa313c4a6e37079130ee0a8dc11e",
	.source_version = "1.2.0",
	.dest_commit = "b6d255302a0fa040588ab253b669c5e4bd070ff6",
	.dest_version = "0.3.0",
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until cond(arg) holds or timeout_ms pass. */
static int
run_until(int (*cond)(void *), void *arg, uint64_t timeout_ms)
{
	struct event	*tick;
	struct timeval	 tv = { 0, 5000 };
	uint64_t	 deadline = monotime_ms() + timeout_ms;

	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	while (!cond(arg) && monotime_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return cond(arg);
}

static int
nothing_pending(void *arg)
{
	return notifier_pending(nf) == 0;
}

static int
seen_at_least(void *arg)
{
	return testhttp_nseen() >= *(size_t *)arg;
}

/* Runs the loop for ms, whatever happens. */
static int
never(void *arg)
{
	return 0;
}

static char *
metrics(void)
{
	struct metrics_buf	 b = { 0 };

	notifier_metrics(nf, &b);
	return b.data;
}

static void
assert_metric(const char *text, const char *line)
{
	char	*want = xprintf("\n%s\n", line);

	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\" in:\n%s", line,
	    text);
	free(want);
}

static char *
log_text(void)
{
	return testutil_read(logpath);
}

static const char *
member(const cJSON *o, const char *name)
{
	const cJSON	*j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

START_TEST(test_delivers_once)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/hook", .status = 204 },
	};
	const struct testhttp_seen *s;
	struct config_sink	*sk;
	cJSON			*ev;
	const char		*id, *when;
	char			*text, *url, *line;

	testhttp_start(r, nitems(r), NULL);
	sk = url_sink(0, "/hook", CONFIG_NOTIFY_ALL);
	sk->token = xstrdup(TOKEN);
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	notifier_emit(nf, &pair, &promoted);
	/* Queued on disk before the emit returns; sent from the loop. */
	ck_assert_uint_eq(notifier_pending(nf), 1);
	ck_assert_uint_eq(testhttp_nseen(), 0);
	ck_assert(run_until(nothing_pending, NULL, 5000));
	ck_assert_uint_eq(testhttp_nseen(), 1);
	s = testhttp_seen(0);
	ck_assert_str_eq(s->method, "POST");
	ck_assert_str_eq(s->uri, "/hook");
	ck_assert_str_eq(s->ctype, "application/json");
	ck_assert_str_eq(s->auth, "Bearer " TOKEN);
	ck_assert_ptr_nonnull(ev = cJSON_Parse(s->body));
	id = member(ev, "id");
	ck_assert_ptr_nonnull(id);
	ck_assert_uint_eq(strlen(id), 32);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
	ck_assert_str_eq(member(ev, "event"), "promoted");
	ck_assert_ptr_nonnull(when = member(ev, "time"));
	ck_assert_uint_eq(strlen(when), 24);
	ck_assert_int_eq(when[23], 'Z');
	ck_assert_str_eq(member(ev, "pair"), "hello");
	ck_assert_str_eq(member(ev, "source"), "dev/alice/Hello");
	ck_assert_str_eq(member(ev, "destination"), "prod/acme/Hello");
	ck_assert_str_eq(member(ev, "source_commit"), promoted.source_commit);
	ck_assert_str_eq(member(ev, "source_version"), "1.2.0");
	ck_assert_str_eq(member(ev, "dest_commit"), promoted.dest_commit);
	ck_assert_str_eq(member(ev, "dest_version"), "0.3.0");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ev, "error")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ev, "reason")));
	ck_assert_int_eq(cJSON_GetArraySize(ev), 12);

	/* Nothing more comes; the outbox is empty on disk too. */
	run_until(never, NULL, 300);
	ck_assert_uint_eq(testhttp_nseen(), 1);
	text = metrics();
	url = testhttp_url("/hook");
	line = xprintf("algopromoted_notify_sent_total{sink=\"%s\"} 1", url);
	assert_metric(text, line);
	assert_metric(text, "algopromoted_notify_failed_total 0");
	assert_metric(text, "algopromoted_notify_pending 0");
	assert_metric(text, "algopromoted_notify_dropped_total{reason=\"cap\"} "
	    "0");
	free(line);
	free(text);
	restart();
	ck_assert_uint_eq(notifier_pending(nf), 0);

	/* The log names the sink and the event, never the token. */
	text = log_text();
	line = xprintf("info: notify: %s: event %s (promoted) delivered", url,
	    id);
	ck_assert_msg(strstr(text, line) != NULL, "%s", text);
	free(line);
	ck_assert_ptr_null(strstr(text, TOKEN));
	ck_assert_ptr_null(strstr(text, "simHook"));
	free(text);
	/* The notifier made the token a secret. */
	text = redact("x " TOKEN);
	ck_assert_str_eq(text, "x " REDACT_MASK);
	free(text);
	free(url);
	cJSON_Delete(ev);
	testhttp_stop();
}
END_TEST

START_TEST(test_fails_three_times)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/hook", .status = 500,
		    .times = 1 },
		{ .method = "POST", .path = "/hook", .status = 502,
		    .times = 1 },
		{ .method = "POST", .path = "/hook", .status = 429,
		    .times = 1 },
		{ .method = "POST", .path = "/hook", .status = 200 },
	};
	uint64_t		 gap, want[] = { 100, 200, 400 };
	char			*text;
	size_t			 i;

	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/hook", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	notifier_emit(nf, &pair, &promoted);
	ck_assert(run_until(nothing_pending, NULL, 10000));
	run_until(never, NULL, 300);
	ck_assert_uint_eq(testhttp_nseen(), 4);
	/* The same event each time; the waits double (jitter: -10%). */
	for (i = 1; i < 4; i++) {
		ck_assert_str_eq(testhttp_seen(i)->body,
		    testhttp_seen(0)->body);
		gap = testhttp_seen(i)->ms - testhttp_seen(i - 1)->ms;
		ck_assert_msg(gap >= want[i - 1] * 9 / 10 &&
		    gap < want[i - 1] * 2, "wait %zu: %llu ms, not about %llu",
		    i, (unsigned long long)gap,
		    (unsigned long long)want[i - 1]);
	}
	text = metrics();
	assert_metric(text, "algopromoted_notify_failed_total 3");
	assert_metric(text, "algopromoted_notify_pending 0");
	free(text);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "(promoted): try 1 failed: HTTP "
	    "500 Internal Server Error; next in 0."));
	ck_assert_ptr_nonnull(strstr(text, "try 3 failed: HTTP 429"));
	free(text);
	testhttp_stop();
}
END_TEST

START_TEST(test_retry_after)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/a", .status = 503,
		    .headers = "Retry-After: 1\n", .times = 1 },
		{ .method = "POST", .path = "/a", .status = 200 },
		/* Past retry_max_ms: capped. */
		{ .method = "POST", .path = "/b", .status = 429,
		    .headers = "Retry-After: 3600\n", .times = 1 },
		{ .method = "POST", .path = "/b", .status = 200 },
	};
	const struct testhttp_seen *s, *a[2] = { NULL }, *b[2] = { NULL };
	uint64_t		 gap;
	size_t			 i, na = 0, nb = 0;

	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/a", CONFIG_NOTIFY_ALL);
	url_sink(1, "/b", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 2;
	start();
	notifier_emit(nf, &pair, &promoted);
	ck_assert(run_until(nothing_pending, NULL, 10000));
	ck_assert_uint_eq(testhttp_nseen(), 4);
	for (i = 0; i < 4; i++) {
		s = testhttp_seen(i);
		if (strcmp(s->uri, "/a") == 0)
			a[na++] = s;
		else
			b[nb++] = s;
	}
	ck_assert_uint_eq(na, 2);
	gap = a[1]->ms - a[0]->ms;
	ck_assert_msg(gap >= 950 && gap < 1500, "Retry-After 1: %llu ms",
	    (unsigned long long)gap);
	gap = b[1]->ms - b[0]->ms;
	ck_assert_msg(gap >= 950 && gap < 1500, "capped at 1 s: %llu ms",
	    (unsigned long long)gap);
	testhttp_stop();
}
END_TEST

START_TEST(test_permanent_dropped)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/gone", .status = 404,
		    .ctype = "text/plain", .body = "no such hook" },
		{ .method = "POST", .path = "/ok", .status = 200 },
	};
	char			*text;

	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/gone", CONFIG_NOTIFY_ALL);
	url_sink(1, "/ok", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 2;
	start();
	notifier_emit(nf, &pair, &promoted);
	ck_assert(run_until(nothing_pending, NULL, 5000));
	run_until(never, NULL, 300);
	ck_assert_uint_eq(testhttp_nseen(), 2);
	text = metrics();
	assert_metric(text, "algopromoted_notify_dropped_total"
	    "{reason=\"permanent\"} 1");
	assert_metric(text, "algopromoted_notify_failed_total 1");
	free(text);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "/gone: event "));
	ck_assert_ptr_nonnull(strstr(text, "(promoted) dropped: HTTP 404 Not "
	    "Found: no such hook (not retried)"));
	free(text);
	testhttp_stop();
}
END_TEST

/* The receiver fails until after a restart: the outbox carries it. */
START_TEST(test_survives_restart)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/hook", .status = 503,
		    .times = 2 },
		{ .method = "POST", .path = "/hook", .status = 200 },
	};
	struct notifier_timing	 slow = fast;
	size_t			 two = 2;
	char			*text;

	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/hook", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	slow.retry_min_ms = 60000;
	notifier_set_timing(nf, &slow);
	notifier_emit(nf, &pair, &promoted);
	notifier_emit(nf, &pair, &promoted);
	ck_assert(run_until(seen_at_least, &(size_t){ 1 }, 5000));
	run_until(never, NULL, 200);
	ck_assert_uint_eq(testhttp_nseen(), 1);	/* backed off a minute */
	restart();
	ck_assert_uint_eq(notifier_pending(nf), 2);
	ck_assert(run_until(nothing_pending, NULL, 5000));
	ck_assert(run_until(seen_at_least, &two, 10));
	ck_assert_uint_eq(testhttp_nseen(), 4);
	/* In order, the first one first, by the same id. */
	ck_assert_str_eq(testhttp_seen(1)->body, testhttp_seen(0)->body);
	ck_assert_str_eq(testhttp_seen(2)->body, testhttp_seen(0)->body);
	ck_assert_str_ne(testhttp_seen(3)->body, testhttp_seen(0)->body);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "notify: 2 deliveries pending "
	    "from before"));
	free(text);
	testhttp_stop();
}
END_TEST

START_TEST(test_cap)
{
	struct notifier_timing	 slow = fast;
	char			*text;
	int			 i;

	/* Nobody listens there: every try fails, and waits a minute. */
	sinks[0].url = xstrdup("http://127.0.0.1:1/hook");
	sinks[0].events = CONFIG_NOTIFY_ALL;
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	slow.retry_min_ms = 60000;
	notifier_set_timing(nf, &slow);
	for (i = 0; i < 1003; i++)
		notifier_emit(nf, &pair, &promoted);
	ck_assert_uint_eq(notifier_pending(nf), 1000);
	text = metrics();
	assert_metric(text, "algopromoted_notify_dropped_total{reason=\"cap\"} "
	    "3");
	assert_metric(text, "algopromoted_notify_pending 1000");
	free(text);
	run_until(never, NULL, 100);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "dropped: the outbox holds 1000 "
	    "deliveries already"));
	ck_assert_ptr_nonnull(strstr(text, "try 1 failed: POST: "));
	free(text);

	/* The sink leaves the configuration: what waited for it goes. */
	conf.nnotify = 0;
	notifier_configure(nf, &conf);
	ck_assert_uint_eq(notifier_pending(nf), 0);
	text = metrics();
	assert_metric(text, "algopromoted_notify_dropped_total"
	    "{reason=\"removed\"} 1000");
	free(text);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "notify: 1000 pending deliveries "
	    "dropped: their sinks (http://127.0.0.1:1/hook and maybe others) "
	    "are no longer configured"));
	free(text);
}
END_TEST

START_TEST(test_corrupt_file)
{
	char	*dir, *path, *text;

	dir = xprintf("%s/outbox", tmp);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	path = xprintf("%s/0000000000000001.json", dir);
	testutil_write(path, "\x01garbage", 0600);
	start();
	ck_assert_uint_eq(notifier_pending(nf), 0);
	text = metrics();
	assert_metric(text, "algopromoted_notify_dropped_total"
	    "{reason=\"corrupt\"} 1");
	free(text);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, path));
	free(text);
	free(path);
	free(dir);
}
END_TEST

static int
file_has(void *arg)
{
	struct stat	 sb;

	return stat(arg, &sb) == 0 && sb.st_size > 0;
}

START_TEST(test_command_stdin)
{
	char	*out, *mark, *script, *argv[4], *text;
	cJSON	*ev;

	out = xprintf("%s/out.json", tmp);
	mark = xprintf("%s/failed-once", tmp);
	/* Fails the first time, then keeps its stdin. */
	script = xprintf("test -e %s || { touch %s; exit 3; }; cat > %s",
	    mark, mark, out);
	argv[0] = a_sh;
	argv[1] = a_c;
	argv[2] = script;
	argv[3] = NULL;
	sinks[0].command = argv;
	sinks[0].events = 1u << CONFIG_NOTIFY_FAILED;
	pair.notify = sinks;
	pair.nnotify = 1;
	start();
	notifier_emit(nf, &pair, &promoted);	/* not wanted */
	ck_assert_uint_eq(notifier_pending(nf), 0);
	notifier_emit(nf, &pair, &(struct notifier_event){ .type = "failed",
	    .pair = "hello", .error = "push: HTTP 403" });
	ck_assert(run_until(nothing_pending, NULL, 5000));
	ck_assert(file_has(out));
	text = testutil_read(out);
	ck_assert_ptr_nonnull(ev = cJSON_Parse(text));
	ck_assert_str_eq(member(ev, "event"), "failed");
	ck_assert_ptr_null(member(ev, "source"));
	free(text);
	cJSON_Delete(ev);
	text = log_text();
	ck_assert_ptr_nonnull(strstr(text, "notify: /bin/sh: event "));
	ck_assert_ptr_nonnull(strstr(text, "(failed): try 1 failed: the "
	    "command exited with status 3; next in 0."));
	ck_assert_ptr_nonnull(strstr(text, "(failed) delivered"));
	free(text);
	free(script);
	free(mark);
	free(out);
}
END_TEST

START_TEST(test_error_redacted)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/hook", .status = 200 },
	};
	cJSON			*ev;

	redact_add(APIKEY);
	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/hook", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	notifier_emit(nf, &pair, &(struct notifier_event){ .type = "failed",
	    .pair = "hello", .error = "push: HTTP 403 for key " APIKEY,
	    .reason = "held by " APIKEY });
	ck_assert(run_until(nothing_pending, NULL, 5000));
	ck_assert_ptr_null(strstr(testhttp_seen(0)->body, APIKEY));
	ck_assert_ptr_nonnull(ev = cJSON_Parse(testhttp_seen(0)->body));
	ck_assert_str_eq(member(ev, "error"), "push: HTTP 403 for key "
	    REDACT_MASK);
	ck_assert_str_eq(member(ev, "reason"), "held by " REDACT_MASK);
	cJSON_Delete(ev);
	testhttp_stop();
}
END_TEST

START_TEST(test_command_timeout)
{
	struct notifier_timing	 t = fast;
	char			*argv[] = { a_sleep, a_30, NULL }, *text;
	uint64_t		 t0;

	sinks[0].command = argv;
	sinks[0].events = CONFIG_NOTIFY_ALL;
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	t.cmd_timeout_ms = 200;
	t.retry_min_ms = 60000;
	notifier_set_timing(nf, &t);
	t0 = monotime_ms();
	notifier_emit(nf, &pair, &promoted);
	run_until(never, NULL, 1000);
	text = log_text();
	ck_assert_msg(strstr(text, "notify: /bin/sleep: event ") != NULL &&
	    strstr(text, "try 1 failed: the command did not end within "
	    "200 ms: killed") != NULL, "%s", text);
	free(text);
	ck_assert_uint_lt(monotime_ms() - t0, 3000);
	ck_assert_uint_eq(notifier_pending(nf), 1);
	/* A second one runs at free: killed and reaped there. */
	t.retry_min_ms = 1;
	t.cmd_timeout_ms = 60000;
	notifier_set_timing(nf, &t);
	notifier_configure(nf, &conf);
	run_until(never, NULL, 300);
	t0 = monotime_ms();
	notifier_free(nf);
	nf = NULL;
	ck_assert_uint_lt(monotime_ms() - t0, 2000);
}
END_TEST

/* A slow receiver: the loop goes on (a timer fires) meanwhile. */
struct slow {
	uint64_t	 fired;
};

static void
slow_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	((struct slow *)arg)->fired = monotime_ms();
}

static int
fired(void *arg)
{
	return ((struct slow *)arg)->fired != 0;
}

START_TEST(test_slow_receiver)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/slow", .status = 200,
		    .delay_ms = 1500 },
	};
	struct slow		 sl = { 0 };
	struct event		*tm;
	struct timeval		 tv = { 0, 100 * 1000 };
	uint64_t		 t0;

	testhttp_start(r, nitems(r), NULL);
	url_sink(0, "/slow", CONFIG_NOTIFY_ALL);
	conf.notify = sinks;
	conf.nnotify = 1;
	start();
	t0 = monotime_ms();
	notifier_emit(nf, &pair, &promoted);
	ck_assert_uint_lt(monotime_ms() - t0, 500);
	tm = evtimer_new(base, slow_timer_cb, &sl);
	evtimer_add(tm, &tv);
	ck_assert(run_until(fired, &sl, 5000));
	ck_assert_uint_lt(sl.fired - t0, 600);
	ck_assert_uint_eq(notifier_pending(nf), 1);	/* still on the wire */
	ck_assert(run_until(nothing_pending, NULL, 5000));
	ck_assert_uint_ge(monotime_ms() - t0, 1400);
	event_free(tm);
	testhttp_stop();
}
END_TEST

START_TEST(test_slack_and_fanout)
{
	struct testhttp_route	 r[] = {
		{ .method = "POST", .path = "/slack", .status = 200 },
		{ .method = "POST", .path = "/json", .status = 200 },
	};
	struct config_sink	*sk;
	cJSON			*ev;
	size_t			 i, nslack = 0, njson = 0;
	const struct testhttp_seen *s;

	testhttp_start(r, nitems(r), NULL);
	sk = url_sink(0, "/slack", 1u << CONFIG_NOTIFY_FAILED |
	    1u << CONFIG_NOTIFY_PENDING_APPROVAL);
	sk->format = CONFIG_NOTIFY_SLACK;
	url_sink(1, "/json", CONFIG_NOTIFY_ALL);
	url_sink(2, "/json", CONFIG_NOTIFY_ALL);	/* the same, again */
	conf.notify = sinks;
	conf.nnotify = 1;
	pair.notify = &sinks[1];
	pair.nnotify = 2;
	start();
	notifier_emit(nf, &pair, &promoted);
	notifier_emit(nf, &pair, &(struct notifier_event){ .type = "failed",
	    .pair = "hello", .source = "dev/alice/Hello",
	    .destination = "prod/acme/Hello",
	    .source_commit = promoted.source_commit,
	    .error = "build failed:\nsyntax error" });
	/* A pending approval is said once per source commit. */
	for (i = 0; i < 3; i++)
		notifier_emit(nf, &pair, &(struct notifier_event){
		    .type = "pending-approval", .pair = "hello",
		    .source = "dev/alice/Hello",
		    .destination = "prod/acme/Hello",
		    .source_commit = promoted.source_commit });
	notifier_emit(nf, &pair, &(struct notifier_event){
	    .type = "pending-approval", .pair = "hello",
	    .source = "dev/alice/Hello", .destination = "prod/acme/Hello",
	    .source_commit = promoted.dest_commit });
	ck_assert(run_until(nothing_pending, NULL, 5000));
	run_until(never, NULL, 200);
	for (i = 0; i < testhttp_nseen(); i++) {
		s = testhttp_seen(i);
		ck_assert_ptr_nonnull(ev = cJSON_Parse(s->body));
		if (strcmp(s->uri, "/slack") == 0) {
			ck_assert_int_eq(cJSON_GetArraySize(ev), 1);
			if (nslack++ == 0)
				ck_assert_str_eq(member(ev, "text"),
				    "algopromoted: failed: dev/alice/Hello@"
				    "a01486c -> prod/acme/Hello (pair hello): "
				    "build failed: syntax error");
		} else {
			ck_assert_ptr_nonnull(member(ev, "id"));
			njson++;
		}
		cJSON_Delete(ev);
	}
	ck_assert_uint_eq(nslack, 3);	/* failed, 2 approvals */
	ck_assert_uint_eq(njson, 4);	/* and promoted, once each */
	testhttp_stop();
}
END_TEST

Suite *
notifier_suite(void)
{
	Suite	*s = suite_create("notifier");
	TCase	*tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, testhttp_global_setup,
	    testhttp_global_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_delivers_once);
	tcase_add_test(tc, test_fails_three_times);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_permanent_dropped);
	tcase_add_test(tc, test_survives_restart);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_corrupt_file);
	tcase_add_test(tc, test_command_stdin);
	tcase_add_test(tc, test_error_redacted);
	tcase_add_test(tc, test_command_timeout);
	tcase_add_test(tc, test_slow_receiver);
	tcase_add_test(tc, test_slack_and_fanout);
	suite_add_tcase(s, tc);
	return s;
}
