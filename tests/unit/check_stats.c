/* check_stats.c: the service's counters: counts from many threads add up,
 * clusters added while workers count stay put, /metrics is exact, the
 * duration histograms are per cluster (and per route when asked), and a
 * scrape written in slices is the whole one, whatever a reload removes. */
#include <sys/queue.h>

#include <sys/wait.h>

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "monotime.h"
#include "server_int.h"
#include "state.h"
#include "stats.h"
#include "testutil.h"
#include "xmalloc.h"

#define NTHREADS	8
#define NCOUNTS		20000

struct counter {
	struct stats	*st;
	int		 id;
	atomic_int	*stop;	/* NULL: count NCOUNTS times */
	uint64_t	 done;
};

static uint64_t
count_of(struct stats *st, const char *cluster, const char *kind,
    long status)
{
	struct stats_cluster	*c;
	size_t			 i;

	TAILQ_FOREACH(c, &st->clusters, entry)
		if (strcmp(c->name, cluster) == 0)
			for (i = 0; i < c->ncounts; i++)
				if (c->counts[i].status == status &&
				    strcmp(c->counts[i].kind, kind) == 0)
					return c->counts[i].n;
	return 0;
}

static void *
count_run(void *arg)
{
	struct counter	*c = arg;
	char		 name[16];
	uint64_t	 i;

	for (i = 0; c->stop != NULL ? !atomic_load(c->stop) : i < NCOUNTS;
	    i++) {
		stats_count(c->st, i % 2 ? "a" : "b", i % 3 ? "api" : "git",
		    i % 5 == 0 ? 0 : 200);
		/* Clusters the loop adds meanwhile, and one it never does. */
		snprintf(name, sizeof name, "c%d", (int)(i % 64));
		stats_count(c->st, name, "api", 500);
		stats_count(c->st, "nowhere", "api", 200);
		c->done++;
	}
	return NULL;
}

static void
count_start(pthread_t *t, struct counter *c, struct stats *st,
    atomic_int *stop)
{
	int	 i;

	for (i = 0; i < NTHREADS; i++) {
		c[i].st = st;
		c[i].id = i;
		c[i].stop = stop;
		c[i].done = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, count_run, &c[i]),
		    0);
	}
}

static uint64_t
count_join(pthread_t *t, struct counter *c)
{
	uint64_t	 n = 0;
	int		 i;

	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		n += c[i].done;
	}
	return n;
}

/* Every increment from every thread lands once. */
START_TEST(test_count_threads)
{
	struct stats	 st;
	struct counter	 c[NTHREADS];
	pthread_t	 t[NTHREADS];
	uint64_t	 total = 0, i;

	stats_init(&st);
	stats_cluster(&st, "a");
	stats_cluster(&st, "b");
	count_start(t, c, &st, NULL);
	count_join(t, c);
	for (i = 0; i < NCOUNTS; i++)
		total += i % 2 && i % 3 && i % 5 ? 1 : 0;
	ck_assert_uint_eq(count_of(&st, "a", "api", 200), total * NTHREADS);
	total = 0;
	for (i = 0; i < NCOUNTS; i++)
		total += !(i % 2) && !(i % 3) && i % 5 ? 1 : 0;
	ck_assert_uint_eq(count_of(&st, "b", "git", 200), total * NTHREADS);
	total = 0;
	for (i = 0; i < NCOUNTS; i++)
		total += i % 5 == 0;
	ck_assert_uint_eq(count_of(&st, "a", "api", 0) +
	    count_of(&st, "a", "git", 0) + count_of(&st, "b", "api", 0) +
	    count_of(&st, "b", "git", 0), total * NTHREADS);
	ck_assert_uint_eq(count_of(&st, "nowhere", "api", 200), 0);
	stats_clear(&st);
}
END_TEST

/* A reload adds clusters while workers count: the entries the loop holds
 * (job slots) stay where they were, and no count is lost or misplaced. */
START_TEST(test_add_while_counting)
{
	struct stats		 st;
	struct stats_cluster	*a, *b, *added[64];
	struct counter		 c[NTHREADS];
	pthread_t		 t[NTHREADS];
	atomic_int		 stop = 0;
	uint64_t		 n, sum = 0;
	char			 name[16];
	int			 i;

	stats_init(&st);
	a = stats_cluster(&st, "a");
	b = stats_cluster(&st, "b");
	a->poll_failures = 1;
	count_start(t, c, &st, &stop);
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "c%d", i);
		added[i] = stats_cluster(&st, name);
		ck_assert_ptr_eq(stats_cluster(&st, "a"), a);
	}
	atomic_store(&stop, 1);
	n = count_join(t, c);
	ck_assert_ptr_eq(stats_cluster(&st, "a"), a);
	ck_assert_ptr_eq(stats_cluster(&st, "b"), b);
	ck_assert_int_eq(a->poll_failures, 1);
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "c%d", i);
		ck_assert_ptr_eq(stats_cluster(&st, name), added[i]);
		sum += count_of(&st, name, "api", 500);
	}
	ck_assert_uint_le(sum, n);	/* counts before the add are dropped */
	ck_assert_uint_eq(count_of(&st, "a", "api", 200) +
	    count_of(&st, "a", "git", 200) + count_of(&st, "a", "api", 0) +
	    count_of(&st, "a", "git", 0) + count_of(&st, "b", "api", 200) +
	    count_of(&st, "b", "git", 200) + count_of(&st, "b", "api", 0) +
	    count_of(&st, "b", "git", 0), n);
	stats_clear(&st);
}
END_TEST

START_TEST(test_healthy)
{
	struct stats		 st;
	struct stats_cluster	*c;
	char			*why = NULL;

	stats_init(&st);
	stats_cluster(&st, "dev");
	c = stats_cluster(&st, "lab");
	ck_assert_int_eq(stats_healthy(&st, &why), 1);
	c->poll_failures = STATS_UNREACHABLE;
	c->poll_error = xstrdup("HTTP 503");
	ck_assert_int_eq(stats_healthy(&st, &why), 0);
	ck_assert_str_eq(why, "cluster lab unreachable: 3 polls failed in a "
	    "row: HTTP 503");
	free(why);
	stats_clear(&st);
}
END_TEST

static struct route *
route_add(struct server *s, const char *pair, const char *dest)
{
	struct route	*r = xcalloc(1, sizeof *r);

	r->srv = s;
	r->pair_name = xstrdup(pair);
	r->dest_full = xstrdup(dest);
	TAILQ_INSERT_TAIL(&s->routes, r, entry);
	return r;
}

/* The empty histogram families of the clusters named. */
static void
histos_empty(struct metrics_buf *b, const char *const *clusters)
{
	static const char *const fam[][2] = {
		{ "algopromoted_cluster_poll_duration_seconds",
		    "Time one poll of a source took." },
		{ "algopromoted_cluster_promotion_duration_seconds",
		    "Time one promotion job took." },
		{ "algopromoted_cluster_build_wait_seconds",
		    "Time spent waiting for a destination build." },
	};
	struct metrics_histo	 h = { 0 };
	size_t			 i, k;
	char			*l;

	for (i = 0; i < 3; i++) {
		metrics_family(b, fam[i][0], "histogram", fam[i][1]);
		for (k = 0; clusters[k] != NULL; k++) {
			l = metrics_labels("cluster", clusters[k], NULL);
			metrics_histo_write(b, fam[i][0], l, &h);
			free(l);
		}
	}
}

static const char want_head[] =
"# HELP algopromoted_routes Routes (pair and destination) configured.\n"
"# TYPE algopromoted_routes gauge\n"
"algopromoted_routes 1\n"
"# HELP algopromoted_route_polls_total Polls of the route's source.\n"
"# TYPE algopromoted_route_polls_total counter\n"
"algopromoted_route_polls_total{pair=\"hello\",destination=\"prod/acme/Hello\"} 7\n"
"# HELP algopromoted_route_poll_errors_total Failed polls, by kind.\n"
"# TYPE algopromoted_route_poll_errors_total counter\n"
"algopromoted_route_poll_errors_total{pair=\"hello\",destination=\"prod/acme/Hello\",kind=\"transient\"} 2\n"
"algopromoted_route_poll_errors_total{pair=\"hello\",destination=\"prod/acme/Hello\",kind=\"permanent\"} 1\n"
"# HELP algopromoted_route_promotions_total Promotion jobs, by result.\n"
"# TYPE algopromoted_route_promotions_total counter\n"
"algopromoted_route_promotions_total{pair=\"hello\",destination=\"prod/acme/Hello\",result=\"promoted\"} 3\n"
"algopromoted_route_promotions_total{pair=\"hello\",destination=\"prod/acme/Hello\",result=\"held\"} 4\n"
"# HELP algopromoted_route_last_success_timestamp_seconds When the route last completed a promotion (absent: never).\n"
"# TYPE algopromoted_route_last_success_timestamp_seconds gauge\n"
"algopromoted_route_last_success_timestamp_seconds{pair=\"hello\",destination=\"prod/acme/Hello\"} 1700000000\n"
"# HELP algopromoted_route_phase 1 for the phase the route is in (the others are absent).\n"
"# TYPE algopromoted_route_phase gauge\n"
"algopromoted_route_phase{pair=\"hello\",destination=\"prod/acme/Hello\",phase=\"building\"} 1\n"
"# HELP algopromoted_route_hold_since_timestamp_seconds When the route was paused or pinned by an operator, or held on drift (absent: not held so).\n"
"# TYPE algopromoted_route_hold_since_timestamp_seconds gauge\n"
"algopromoted_route_hold_since_timestamp_seconds{pair=\"hello\",destination=\"prod/acme/Hello\",kind=\"paused\"} 1700000100\n"
"# HELP algopromoted_route_build_waiting_seconds How long the running job has waited for its destination build so far (absent: not waiting).\n"
"# TYPE algopromoted_route_build_waiting_seconds gauge\n"
"# HELP algopromoted_route_build_timeout_seconds The route's build_timeout, while it waits for a build: a build wait fails past it.\n"
"# TYPE algopromoted_route_build_timeout_seconds gauge\n";

static const char want_tail[] =
"# HELP algopromoted_cluster_requests_total Requests to a cluster, by kind (api, git) and HTTP status (0: no answer).\n"
"# TYPE algopromoted_cluster_requests_total counter\n"
"algopromoted_cluster_requests_total{cluster=\"dev\",kind=\"git\",status=\"200\"} 2\n"
"algopromoted_cluster_requests_total{cluster=\"dev\",kind=\"api\",status=\"0\"} 1\n"
"algopromoted_cluster_requests_total{cluster=\"prod\",kind=\"api\",status=\"404\"} 1\n"
"# HELP algopromoted_cluster_up 0 while the cluster's polls fail in a row.\n"
"# TYPE algopromoted_cluster_up gauge\n"
"algopromoted_cluster_up{cluster=\"dev\"} 1\n"
"algopromoted_cluster_up{cluster=\"prod\"} 0\n"
"# HELP algopromoted_cluster_failing 1 while the cluster fails every route: no job starts on it and none retries against it.\n"
"# TYPE algopromoted_cluster_failing gauge\n"
"algopromoted_cluster_failing{cluster=\"dev\"} 1\n"
"algopromoted_cluster_failing{cluster=\"prod\"} 0\n"
"# HELP algopromoted_cluster_failing_total Times the cluster was found failing every route.\n"
"# TYPE algopromoted_cluster_failing_total counter\n"
"algopromoted_cluster_failing_total{cluster=\"dev\"} 1\n"
"algopromoted_cluster_failing_total{cluster=\"prod\"} 0\n"
"# HELP algopromoted_reloads_total Configuration reloads, by result.\n"
"# TYPE algopromoted_reloads_total counter\n"
"algopromoted_reloads_total{result=\"ok\"} 2\n"
"algopromoted_reloads_total{result=\"failed\"} 1\n"
"# HELP algopromoted_data_copied_bytes_total Bytes of hosted data copied to destinations, as they stream.\n"
"# TYPE algopromoted_data_copied_bytes_total counter\n"
"algopromoted_data_copied_bytes_total 123456789012\n"
"# HELP algopromoted_data_copied_files_total Hosted data files copied to destinations.\n"
"# TYPE algopromoted_data_copied_files_total counter\n"
"algopromoted_data_copied_files_total 12\n"
"# HELP algopromoted_build_info Always 1, labelled with the version of algopromoted running.\n"
"# TYPE algopromoted_build_info gauge\n"
"algopromoted_build_info{version=\"" AP_VERSION "\"} 1\n";

/* The process families after the tail, each with its HELP and TYPE. */
static const char *const want_process[] = {
	"process_cpu_seconds_total counter",
	"process_open_fds gauge",
	"process_max_fds gauge",
	"process_virtual_memory_bytes gauge",
	"process_resident_memory_bytes gauge",
	"process_start_time_seconds gauge",
};

/* The families, their help, label order and sample order, as /metrics
 * has always written them; a removed route is left out. */
START_TEST(test_metrics_exact)
{
	struct server		 s;
	struct route		*r, *gone;
	struct route_job	 job;
	struct config_pair	 pair;
	struct metrics_buf	 b = { 0 }, want = { 0 };
	const char		*rest, *p;
	char			 line[128];
	size_t			 k;

	memset(&s, 0, sizeof s);
	memset(&job, 0, sizeof job);
	memset(&pair, 0, sizeof pair);
	TAILQ_INIT(&s.routes);
	stats_init(&s.stats);
	r = route_add(&s, "hello", "prod/acme/Hello");
	gone = route_add(&s, "old", "prod/acme/Old");
	gone->removed = 1;
	r->stats.polls[0] = 7;
	r->stats.poll_errors[0] = 2;
	r->stats.poll_errors[1] = 1;
	r->stats.promotions[PROMOTE_DONE] = 3;
	r->stats.promotions[PROMOTE_HELD] = 4;
	r->stats.promotions[PROMOTE_DRYRUN] = 9;	/* never emitted */
	r->stats.last_success[0] = 1700000000;
	r->failed_commit = xstrdup("abc");	/* the job's phase wins */
	atomic_store(&job.phase, STATE_BUILDING);
	/* A build waited for and done: not waiting any more. */
	atomic_store(&job.build_start_ms, 1000);
	atomic_store(&job.build_ms, 2000);
	r->job = &job;
	pair.policy.build_timeout_ms = 30 * 60 * 1000;
	r->pair = &pair;
	r->hold.kind = HOLD_PAUSED;
	r->hold.since = 1700000100;
	stats_cluster(&s.stats, "dev");
	stats_cluster(&s.stats, "prod")->poll_failures = STATS_UNREACHABLE;
	stats_count(&s.stats, "dev", "git", 200);
	stats_count(&s.stats, "dev", "api", 0);
	stats_count(&s.stats, "prod", "api", 404);
	stats_count(&s.stats, "dev", "git", 200);
	s.stats.reloads[0] = 2;
	s.stats.reloads[1] = 1;
	atomic_store(&s.stats.data_bytes, 123456789012ULL);
	atomic_store(&s.stats.data_files, 12);
	scheduler_init(&s.sched, 1);
	scheduler_cluster(&s.sched, "dev", 4);
	scheduler_cluster(&s.sched, "prod", 4);
	for (int i = 0; i < BREAKER_TRIP; i++)
		breaker_report(s.sched.clusters[0].breaker, BREAKER_JOB, 0,
		    (uintptr_t)(i % 2), monotime_ms());

	stats_metrics(&s, &b);
	want.data = xstrdup(want_head);	/* a buffer that holds want_head */
	want.len = strlen(want_head);
	want.cap = want.len + 1;
	histos_empty(&want, STATS_VALUES("dev", "prod"));
	ck_assert_ptr_nonnull(b.data);
	ck_assert_uint_gt(b.len, want.len);
	ck_assert_msg(strncmp(b.data, want.data, want.len) == 0, "got:\n%s",
	    b.data);
	rest = b.data + want.len;
	ck_assert_msg(strncmp(rest, want_tail, strlen(want_tail)) == 0,
	    "tail:\n%s", rest);
	rest += strlen(want_tail);
	/* Then the process families, in order, and nothing else. */
	for (k = 0; k < sizeof want_process / sizeof want_process[0]; k++) {
		snprintf(line, sizeof line, "# TYPE %s\n", want_process[k]);
		ck_assert_msg((p = strstr(rest, line)) != NULL, "no %s", line);
		ck_assert_msg(strncmp(rest, "# HELP ", 7) == 0, "%s", rest);
		rest = strchr(p + strlen(line), '\n');
		ck_assert_ptr_nonnull(rest);
		rest++;
	}
	ck_assert_str_eq(rest, "");

	metrics_buf_free(&b);
	metrics_buf_free(&want);
	while ((r = TAILQ_FIRST(&s.routes)) != NULL) {
		TAILQ_REMOVE(&s.routes, r, entry);
		free(r->pair_name);
		free(r->dest_full);
		free(r->failed_commit);
		free(r);
	}
	stats_clear(&s.stats);
	scheduler_clear(&s.sched);
}
END_TEST

/* The gauge a metric line gives, or -1 without that line. */
static double
sample_of(const char *text, const char *series)
{
	const char	*p = text;
	size_t		 n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

#define HELLO	"{pair=\"hello\",destination=\"prod/acme/Hello\""

/* A job waiting for its build: the wait so far, against the timeout. */
START_TEST(test_build_waiting)
{
	struct server		 s;
	struct route		*r;
	struct route_job	 job;
	struct config_pair	 pair;
	struct metrics_buf	 b = { 0 };
	uint64_t		 before;
	double			 v;

	memset(&s, 0, sizeof s);
	memset(&job, 0, sizeof job);
	memset(&pair, 0, sizeof pair);
	TAILQ_INIT(&s.routes);
	stats_init(&s.stats);
	scheduler_init(&s.sched, 1);
	r = route_add(&s, "hello", "prod/acme/Hello");
	pair.policy.build_timeout_ms = 90 * 1000;
	r->pair = &pair;
	atomic_store(&job.phase, STATE_BUILDING);
	before = monotime_ms();
	atomic_store(&job.build_start_ms, before - 2500);
	r->job = &job;
	stats_metrics(&s, &b);
	v = sample_of(b.data, "algopromoted_route_build_waiting_seconds"
	    HELLO "}");
	ck_assert_msg(v >= 2.5 && v <= 2.5 + (double)(monotime_ms() - before)
	    / 1000.0, "waiting %f", v);
	ck_assert(sample_of(b.data, "algopromoted_route_build_timeout_seconds"
	    HELLO "}") == 90);
	metrics_buf_free(&b);

	/* The build is over: the job goes on, the wait (and the timeout
	 * beside it) does not. */
	atomic_store(&job.build_ms, 2600);
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_build_waiting_seconds"
	    HELLO "}") == -1);
	ck_assert(sample_of(b.data, "algopromoted_route_build_timeout_seconds"
	    HELLO "}") == -1);
	metrics_buf_free(&b);

	/* No job: nothing waits. */
	r->job = NULL;
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_build_waiting_seconds"
	    HELLO "}") == -1);
	metrics_buf_free(&b);

	TAILQ_REMOVE(&s.routes, r, entry);
	free(r->pair_name);
	free(r->dest_full);
	free(r);
	stats_clear(&s.stats);
	scheduler_clear(&s.sched);
}
END_TEST

/* Held on drift: since when, from the route's state file. */
START_TEST(test_hold_drift)
{
	struct server		 s;
	struct confref		 cref;
	struct config		 conf;
	struct route		*r;
	struct state_route	 st;
	struct metrics_buf	 b = { 0 };
	char			*tmp, *dir, *cause = NULL;

	memset(&s, 0, sizeof s);
	memset(&conf, 0, sizeof conf);
	memset(&st, 0, sizeof st);
	tmp = testutil_tmpdir();
	conf.state_dir = tmp;
	cref.conf = &conf;
	cref.refs = 1;
	s.cref = &cref;
	TAILQ_INIT(&s.routes);
	stats_init(&s.stats);
	scheduler_init(&s.sched, 1);
	r = route_add(&s, "hello", "prod/acme/Hello");

	/* Drift-held, but the state file is missing: unknown, absent. */
	r->drift_held = 1;
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_hold_since_timestamp"
	    "_seconds" HELLO ",kind=\"drift\"}") == -1);
	metrics_buf_free(&b);

	dir = state_route_dir(tmp, "hello", "prod/acme/Hello");
	st.phase = STATE_HELD;
	st.drift_time = 1700000200;
	state_set(&st.drift_dest_commit, "0123456789abcdef0123456789abcdef"
	    "01234567");
	ck_assert_msg(state_route_save(&st, dir, &cause) == 0, "%s", cause);
	state_route_clear(&st);
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_hold_since_timestamp"
	    "_seconds" HELLO ",kind=\"drift\"}") == 1700000200);
	ck_assert(sample_of(b.data, "algopromoted_route_hold_since_timestamp"
	    "_seconds" HELLO ",kind=\"paused\"}") == -1);
	ck_assert(sample_of(b.data, "algopromoted_route_phase" HELLO
	    ",phase=\"held\"}") == 1);
	metrics_buf_free(&b);

	/* Resumed: the route is not held, whatever the file says. */
	r->drift_held = 0;
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_hold_since_timestamp"
	    "_seconds" HELLO ",kind=\"drift\"}") == -1);
	metrics_buf_free(&b);

	TAILQ_REMOVE(&s.routes, r, entry);
	free(r->pair_name);
	free(r->dest_full);
	free(r);
	stats_clear(&s.stats);
	scheduler_clear(&s.sched);
	testutil_rmtree(tmp);
	free(dir);
	free(tmp);
}
END_TEST

extern char **environ;

static char	name_dev[] = "dev", name_lab[] = "lab", name_prod[] = "prod";

/* What tests/tools/promcheck.py says of text: "" when it is valid (a
 * static buffer, good until the next call). */
static const char *
promcheck_ok(const char *text)
{
	static char			 out[4096];
	posix_spawn_file_actions_t	 fa;
	char				*dir = testutil_tmpdir(), *file, *errpath;
	char				*err, *argv[4];
	pid_t				 pid;
	int				 status;

	file = xprintf("%s/metrics.txt", dir);
	errpath = xprintf("%s/promcheck.err", dir);
	testutil_write(file, text, 0600);
	argv[0] = xstrdup("python3");
	argv[1] = xprintf("%s/tests/tools/promcheck.py", testutil_srcdir());
	argv[2] = file;
	argv[3] = NULL;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1,
	    "/dev/null", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, errpath,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(posix_spawnp(&pid, "python3", &fa, NULL, argv,
	    environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	posix_spawn_file_actions_destroy(&fa);
	err = testutil_read(errpath);
	snprintf(out, sizeof out, "%s%s", err, WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 ? "" : "(promcheck failed)");
	free(err);
	free(argv[0]);
	free(argv[1]);
	free(file);
	free(errpath);
	testutil_rmtree(dir);
	free(dir);
	return out;
}

/* A route between two clusters, bound as route_move() binds it. */
static struct route *
route_between(struct server *s, const char *pair, struct config_pair *p,
    struct config_cluster *from, struct config_cluster *to,
    struct config_algo *dest, int bind)
{
	struct route	*r;

	memset(p, 0, sizeof *p);
	memset(dest, 0, sizeof *dest);
	p->source.cluster = from;
	dest->cluster = to;
	p->dests = dest;
	p->ndests = 1;
	p->policy.build_timeout_ms = 60000;
	r = route_add(s, pair, to->name);
	r->pair = p;
	r->dest = 0;
	if (bind)
		stats_route_bind(r);
	return r;
}

static void
routes_free(struct server *s)
{
	struct route	*r;

	while ((r = TAILQ_FIRST(&s->routes)) != NULL) {
		TAILQ_REMOVE(&s->routes, r, entry);
		stats_route_clear(&s->stats, &r->stats);
		free(r->pair_name);
		free(r->dest_full);
		free(r);
	}
}

static size_t
owns(const struct stats *st)
{
	const struct stats_own	*o;
	size_t			 n = 0;

	LIST_FOREACH(o, &st->owns, entry)
		n++;
	return n;
}

#define CLUSTER_COUNT(fam, c)	\
	"algopromoted_cluster_" fam "_count{cluster=\"" c "\"}"

/* A poll counts in the source's cluster, a promotion and a build wait in
 * the destination's; a reload that moves the route moves where it counts;
 * per route only when the configuration says so. */
START_TEST(test_histos_per_cluster)
{
	struct server		 s;
	struct confref		 cref;
	struct config		 conf;
	struct config_cluster	 dev, lab, prod;
	struct config_pair	 p1, p2;
	struct config_algo	 d1, d2;
	struct route		*r1, *r2;
	struct metrics_buf	 b = { 0 };

	memset(&s, 0, sizeof s);
	memset(&conf, 0, sizeof conf);
	memset(&dev, 0, sizeof dev);
	memset(&lab, 0, sizeof lab);
	memset(&prod, 0, sizeof prod);
	dev.name = name_dev;
	lab.name = name_lab;
	prod.name = name_prod;
	cref.conf = &conf;
	cref.refs = 1;
	s.cref = &cref;
	TAILQ_INIT(&s.routes);
	stats_init(&s.stats);
	scheduler_init(&s.sched, 1);
	/* Route one bound as made, route two by its first observation. */
	r1 = route_between(&s, "one", &p1, &dev, &prod, &d1, 1);
	r2 = route_between(&s, "two", &p2, &lab, &prod, &d2, 0);
	ck_assert_ptr_null(r1->stats.own);
	ck_assert_ptr_null(r2->stats.poll_seconds.to[0]);

	metrics_histo_observe(&r1->stats.poll_seconds, 0.2);
	metrics_histo_observe(&r2->stats.poll_seconds, 0.3);
	metrics_histo_observe(&r2->stats.poll_seconds, 0.3);
	metrics_histo_observe(&r1->stats.promotion_seconds, 2);
	metrics_histo_observe(&r2->stats.build_wait_seconds, 10);
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "dev")) == 1);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "lab")) == 2);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "prod")) == 0);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("promotion_duration_seconds",
	    "prod")) == 1);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("promotion_duration_seconds",
	    "dev")) == 0);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("build_wait_seconds",
	    "prod")) == 1);
	ck_assert(sample_of(b.data, "algopromoted_cluster_poll_duration_seconds"
	    "_sum{cluster=\"lab\"}") == 0.6);
	ck_assert(sample_of(b.data, "algopromoted_cluster_poll_duration_seconds"
	    "_bucket{cluster=\"dev\",le=\"0.1\"}") == 0);
	ck_assert(sample_of(b.data, "algopromoted_cluster_poll_duration_seconds"
	    "_bucket{cluster=\"dev\",le=\"0.25\"}") == 1);
	ck_assert_ptr_null(strstr(b.data, "algopromoted_route_poll_duration"));
	metrics_buf_free(&b);

	/* A reload moves route one's source to lab: its next observation
	 * counts there. */
	p1.source.cluster = &lab;
	metrics_histo_observe(&r1->stats.poll_seconds, 0.2);
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "dev")) == 1);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "lab")) == 3);
	metrics_buf_free(&b);

	/* Per route as well: from the scrape that finds it asked for (the
	 * route sets start empty), or a bind. */
	conf.metrics_per_route_histograms = 1;
	stats_metrics(&s, &b);
	ck_assert_ptr_nonnull(r1->stats.own);
	ck_assert(sample_of(b.data, "algopromoted_route_poll_duration_seconds"
	    "_count{pair=\"one\",destination=\"prod\"}") == 0);
	metrics_buf_free(&b);
	metrics_histo_observe(&r1->stats.poll_seconds, 0.2);
	metrics_histo_observe(&r2->stats.build_wait_seconds, 5);
	stats_metrics(&s, &b);
	ck_assert(sample_of(b.data, "algopromoted_route_poll_duration_seconds"
	    "_count{pair=\"one\",destination=\"prod\"}") == 1);
	ck_assert(sample_of(b.data, "algopromoted_route_poll_duration_seconds"
	    "_count{pair=\"two\",destination=\"prod\"}") == 0);
	ck_assert(sample_of(b.data, "algopromoted_route_build_wait_seconds"
	    "_count{pair=\"two\",destination=\"prod\"}") == 1);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("poll_duration_seconds",
	    "lab")) == 4);
	ck_assert(sample_of(b.data, CLUSTER_COUNT("build_wait_seconds",
	    "prod")) == 2);
	ck_assert_str_eq(promcheck_ok(b.data), "");
	metrics_buf_free(&b);

	/* And off again: the route's own sets go. */
	conf.metrics_per_route_histograms = 0;
	stats_metrics(&s, &b);
	ck_assert_ptr_null(r1->stats.own);
	ck_assert_ptr_null(r1->stats.poll_seconds.to[1]);
	ck_assert_ptr_null(strstr(b.data, "algopromoted_route_poll_duration"));
	metrics_buf_free(&b);

	routes_free(&s);
	stats_clear(&s.stats);
	scheduler_clear(&s.sched);
}
END_TEST

/* The body without the process_* families (they change from one reading
 * to the next). */
static char *
without_process(const char *text)
{
	const char	*p = strstr(text, "# HELP process_");

	ck_assert_ptr_nonnull(p);
	return xstrndup(text, (size_t)(p - text));
}

/* Written a slice at a time, a scrape is the whole one; the routes a
 * reload removes (and frees) half-way are written as they were. */
START_TEST(test_sliced_scrape)
{
	struct server		 s;
	struct confref		 cref;
	struct config		 conf;
	struct config_cluster	 dev, prod;
	struct config_pair	 p[300];
	struct config_algo	 d[300];
	struct route		*r, *next;
	struct metrics_buf	 whole = { 0 }, b = { 0 }, got = { 0 };
	char			 name[16], *w, *g;
	size_t			 i, pieces = 0;

	memset(&s, 0, sizeof s);
	memset(&conf, 0, sizeof conf);
	memset(&dev, 0, sizeof dev);
	memset(&prod, 0, sizeof prod);
	dev.name = name_dev;
	prod.name = name_prod;
	conf.metrics_per_route_histograms = 1;
	cref.conf = &conf;
	cref.refs = 1;
	s.cref = &cref;
	TAILQ_INIT(&s.routes);
	stats_init(&s.stats);
	scheduler_init(&s.sched, 1);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "p%03zu", i);
		r = route_between(&s, name, &p[i], &dev, &prod, &d[i], 1);
		r->stats.polls[0] = i;
		r->stats.promotions[PROMOTE_FAILED] = i % 3;
		metrics_histo_observe(&r->stats.poll_seconds,
		    (double)i / 100);
	}
	stats_metrics(&s, &whole);
	ck_assert_ptr_null(whole.more);
	ck_assert_str_eq(promcheck_ok(whole.data), "");

	b.slice = 4096;
	stats_metrics(&s, &b);
	ck_assert_ptr_nonnull(b.more);
	ck_assert_uint_ge(b.len, 4096);
	ck_assert_uint_eq(owns(&s.stats), 300);
	/* A reload removes every other route; they are freed at once, half
	 * of them without a word to stats. */
	for (r = TAILQ_FIRST(&s.routes), i = 0; r != NULL; r = next, i++) {
		next = TAILQ_NEXT(r, entry);
		if (i % 2 == 0)
			continue;
		TAILQ_REMOVE(&s.routes, r, entry);
		if (i % 4 == 1)
			stats_route_clear(&s.stats, &r->stats);
		free(r->pair_name);
		free(r->dest_full);
		memset(r, 0xa5, sizeof *r);
		free(r);
	}
	for (;;) {
		metrics_buf_append(&got, b.data, b.len);
		pieces++;
		b.len = 0;
		if (b.more(b.arg, &b) == 0)
			break;
		/* About a slice each: never short, over by one item. */
		ck_assert_uint_ge(b.len, 4096);
		ck_assert_uint_lt(b.len, 4096 + 8192);
	}
	metrics_buf_append(&got, b.data, b.len);
	b.done(b.arg);
	ck_assert_uint_gt(pieces, 100);
	w = without_process(whole.data);
	g = without_process(got.data);
	ck_assert_str_eq(g, w);
	ck_assert_str_eq(promcheck_ok(got.data), "");
	free(w);
	free(g);

	ck_assert_uint_eq(owns(&s.stats), 150 + 75);

	/* A reader that leaves half-way frees what is left; the sets of the
	 * routes freed without a word went when the scrape began. */
	metrics_buf_free(&b);
	b.slice = 4096;
	stats_metrics(&s, &b);
	ck_assert_uint_eq(owns(&s.stats), 150);
	ck_assert_ptr_nonnull(b.more);
	b.done(b.arg);

	metrics_buf_free(&b);
	metrics_buf_free(&got);
	metrics_buf_free(&whole);
	routes_free(&s);
	stats_clear(&s.stats);
	scheduler_clear(&s.sched);
}
END_TEST

Suite *
stats_suite(void)
{
	Suite	*s = suite_create("stats");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_count_threads);
	tcase_add_test(tc, test_add_while_counting);
	tcase_add_test(tc, test_healthy);
	tcase_add_test(tc, test_metrics_exact);
	tcase_add_test(tc, test_build_waiting);
	tcase_add_test(tc, test_hold_drift);
	tcase_add_test(tc, test_histos_per_cluster);
	tcase_add_test(tc, test_sliced_scrape);
	suite_add_tcase(s, tc);
	return s;
}
