/* check_config.c: the configuration loader against the fixtures in
 * tests/data/config: exact messages and positions, parsed values. */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "monotime.h"
#include "redact.h"
#include "testutil.h"
#include "xmalloc.h"

#define FIXDIR		"tests/data/config"
#define DEV_KEY		"simEXAMPLEdevKEYnotREAL000000"
#define ENV_KEY		"simEXAMPLEprodKEYfromENV0000"
#define HOOK_TOKEN	"simEXAMPLEhookTOKEN00000000"
#define TRIGGER_TOKEN	"simEXAMPLEtriggerTOKEN00000"

/* Every fixture, by kind; test_fixture_list checks the directory holds
 * no other. */
static const char *const bad_fixtures[] = {
	"bad-algo-format", "bad-algo-names", "bad-api-key",
	"bad-author-branch", "bad-cluster-shape", "bad-create", "bad-data",
	"bad-dest-twice", "bad-destinations", "bad-duplicate-key",
	"bad-duration", "bad-empty", "bad-empty-sections", "bad-enums",
	"bad-env-unset", "bad-globs", "bad-include", "bad-include-none",
	"bad-include-type", "bad-integers", "bad-key-both", "bad-key-content",
	"bad-key-empty", "bad-key-missing", "bad-key-perms", "bad-listen",
	"bad-listen-v6", "bad-loop", "bad-many", "bad-merge-key",
	"bad-missing-sections", "bad-nesting", "bad-not-mapping", "bad-notify",
	"bad-pair-duplicate", "bad-pair-none", "bad-pair-items",
	"bad-pair-names", "bad-pair-shape", "bad-paths-listen",
	"bad-same-source", "bad-syntax", "bad-syntax-flow", "bad-syntax-utf8",
	"bad-templates", "bad-types", "bad-unknown-cluster", "bad-unknown-key",
	"bad-urls",
};
#define NBAD	(int)(sizeof bad_fixtures / sizeof bad_fixtures[0])
static const char *const good_fixtures[] = {
	"good-anchors", "good-full", "good-git-url", "good-include",
	"good-minimal",
};
#define NGOOD	(int)(sizeof good_fixtures / sizeof good_fixtures[0])

/*
 * The environment every fixture is written for, set afresh per test:
 * no systemd directories, the variables the fixtures name, and key file
 * modes git does not keep.
 */
static void
setup(void)
{
	static const char *const keys[] = {
		"dev.key", "prod.key", "empty.key", "spaces.key", "big.key",
		"hook.token", "trigger.token",
	};
	char	*path;
	size_t	 i;

	ck_assert_int_eq(chdir(testutil_srcdir()), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("AP_TEST_UNSET_KEY");
	setenv("AP_TEST_PROD_KEY", ENV_KEY, 1);
	setenv("AP_TEST_EMPTY_KEY", "", 1);
	setenv("AP_TEST_SPACE_KEY", "sim EXAMPLE", 1);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		path = xprintf(FIXDIR "/keys/%s", keys[i]);
		ck_assert_int_eq(chmod(path, 0600), 0);
		free(path);
	}
	ck_assert_int_eq(chmod(FIXDIR "/keys/group.key", 0644), 0);
}

static void
teardown(void)
{
}

static char *
fixture(const char *name, const char *ext)
{
	return xprintf(FIXDIR "/%s.%s", name, ext);
}

/* Loads a fixture that must load; no warnings. */
static struct config *
load_good(const char *name)
{
	struct config	*c = NULL;
	char		*path = fixture(name, "yaml"), *errors = NULL;

	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s:\n%s",
	    path, errors);
	ck_assert_ptr_null(errors);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->path, path);
	free(path);
	return c;
}

static char *
abs_fixture(const char *rel)
{
	char	*cwd = getcwd(NULL, 0), *p;

	ck_assert_ptr_nonnull(cwd);
	p = xprintf("%s/%s", cwd, rel);
	free(cwd);
	return p;
}

/* Is the problem on line (one of errors) about key material: what
 * CONFIG_LOAD_SKIP_KEYS does not look at? */
static int
key_problem(const char *line, size_t len)
{
	static const char *const words[] = {
		": key file \"", ": cannot read key file \"", ": ca_file \"",
		": cannot read ca_file \"", ": token file \"",
		": cannot read token file \"", ": environment variable ",
	};
	char	*l = xstrndup(line, len);
	size_t	 i;
	int	 found = 0;

	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strstr(l, words[i]) != NULL)
			found = 1;
	free(l);
	return found;
}

/* errors without the problems about key material; NULL when none is
 * left. */
static char *
without_key_problems(const char *errors)
{
	const char	*p, *end;
	char		*out = xstrdup(""), *t;

	for (p = errors; *p != '\0'; p = end + 1) {
		end = strchr(p, '\n');
		ck_assert_ptr_nonnull(end);
		if (key_problem(p, (size_t)(end - p)))
			continue;
		t = xprintf("%s%.*s\n", out, (int)(end - p), p);
		free(out);
		out = t;
	}
	if (*out == '\0') {
		free(out);
		return NULL;
	}
	return out;
}

START_TEST(test_bad_fixture)
{
	struct config	*c = (struct config *)&c;
	const char	*name = bad_fixtures[_i];
	char		*path = fixture(name, "yaml"), *exp = fixture(name,
			    "expect"), *want, *errors = NULL, *left;
	size_t		 i;

	want = testutil_read(exp);
	ck_assert_msg(want[0] != '\0', "%s is empty", exp);
	/* As -n and the start load it: the same errors. */
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(errors);
	ck_assert_str_eq(errors, want);
	ck_assert_msg(strstr(errors, "simEXAMPLE") == NULL,
	    "a secret reached a message: %s", errors);
	free(errors);
	errors = NULL;

	/* -n --skip-keys: what is left once key material is not read. */
	left = without_key_problems(want);
	c = (struct config *)&c;
	if (left != NULL) {
		ck_assert_int_eq(config_load(&c, path, CONFIG_LOAD_SKIP_KEYS,
		    &errors), -1);
		ck_assert_ptr_null(c);
		ck_assert_str_eq(errors, left);
	} else {
		ck_assert_msg(config_load(&c, path, CONFIG_LOAD_SKIP_KEYS,
		    &errors) == 0, "%s", errors);
		ck_assert_ptr_null(errors);
		for (i = 0; i < c->nclusters; i++)
			ck_assert_ptr_null(c->clusters[i].api_key);
		config_free(c);
	}
	free(errors);
	free(left);
	free(want);
	free(exp);
	free(path);
}
END_TEST

static int
listed(const char *name, const char *const *list, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

/* Every fixture on disk is one of the lists above, and has its .expect. */
START_TEST(test_fixture_list)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		*base, *exp;
	size_t		 len;
	int		 n = 0;

	ck_assert_ptr_nonnull(d = opendir(FIXDIR));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		base = xstrndup(de->d_name, len - 5);
		ck_assert_msg(listed(base, bad_fixtures, NBAD) ||
		    listed(base, good_fixtures, NGOOD),
		    "%s is not tested", de->d_name);
		exp = fixture(base, "expect");
		ck_assert_msg((stat(exp, &sb) == 0) ==
		    (strncmp(base, "good-", 5) != 0), "%s: .expect", base);
		free(exp);
		free(base);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, NBAD + NGOOD);
	ck_assert_int_ge(n, 30);
	ck_assert_int_ge(NBAD, 22);
}
END_TEST

START_TEST(test_good_minimal)
{
	struct config		*c = load_good("good-minimal");
	struct config_cluster	*dev, *prod;
	struct config_pair	*p;
	char			*keypath;

	/* Every built-in default. */
	ck_assert_str_eq(c->state_dir, "/var/lib/algopromoted");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_ptr_null(c->log_file);
	ck_assert_int_eq(c->workers, 4);
	ck_assert_uint_eq(c->poll_ms, 60000);
	ck_assert_uint_eq(c->retry_min_ms, 5000);
	ck_assert_str_eq(c->listen, "127.0.0.1:9464");
	ck_assert_str_eq(c->control_socket, "/run/algopromoted/control.sock");

	ck_assert_uint_eq(c->nclusters, 2);
	dev = config_cluster_find(c, "dev");
	prod = config_cluster_find(c, "prod");
	ck_assert_ptr_eq(dev, &c->clusters[0]);
	ck_assert_ptr_eq(prod, &c->clusters[1]);
	ck_assert_ptr_null(config_cluster_find(c, "stage"));
	ck_assert_str_eq(dev->name, "dev");
	ck_assert_str_eq(dev->api, "https://api.dev.example.com");
	ck_assert_str_eq(dev->git, "https://git.dev.example.com");
	ck_assert_str_eq(dev->key_owner, "alice");
	keypath = abs_fixture(FIXDIR "/keys/dev.key");
	ck_assert_str_eq(dev->api_key_file, keypath);
	free(keypath);
	ck_assert_ptr_null(dev->api_key_env);
	ck_assert_str_eq(dev->api_key, DEV_KEY);
	ck_assert_ptr_null(dev->ca_file);
	ck_assert_uint_eq(dev->timeout_ms, 30000);
	ck_assert_int_eq(dev->max_parallel, 4);
	ck_assert_int_eq(dev->retries, 5);
	ck_assert_uint_eq(dev->retry_budget_ms, 120000);
	ck_assert_int_eq(dev->line, 4);
	ck_assert_str_eq(prod->api, "https://api.prod.example.com");
	ck_assert_str_eq(prod->git, "https://git.prod.example.com");
	ck_assert_ptr_null(prod->api_key_file);
	ck_assert_str_eq(prod->api_key_env, "AP_TEST_PROD_KEY");
	ck_assert_str_eq(prod->api_key, ENV_KEY);

	ck_assert_uint_eq(c->npairs, 1);
	ck_assert_uint_eq(config_ndests(c), 1);
	p = config_pair_find(c, "hello");
	ck_assert_ptr_eq(p, &c->pairs[0]);
	ck_assert_ptr_null(config_pair_find(c, "hell"));
	ck_assert_int_eq(p->line, 14);
	ck_assert_ptr_eq(p->source.cluster, dev);
	ck_assert_str_eq(p->source.owner, "alice");
	ck_assert_str_eq(p->source.name, "Hello");
	ck_assert_str_eq(p->source.full, "dev/alice/Hello");
	ck_assert_uint_eq(p->ndests, 1);
	ck_assert_ptr_eq(p->dests[0].cluster, prod);
	ck_assert_str_eq(p->dests[0].owner, "acme");
	ck_assert_str_eq(p->dests[0].full, "prod/acme/Hello");
	ck_assert_int_eq(p->policy.track, CONFIG_TRACK_COMMITS);
	ck_assert_str_eq(p->policy.branch, "master");
	ck_assert_int_eq(p->policy.version_type, CONFIG_VTYPE_MINOR);
	ck_assert_uint_eq(p->policy.build_timeout_ms, 20 * 60 * 1000);
	ck_assert_uint_eq(p->policy.reconcile_ms, 60 * 60 * 1000);
	ck_assert_int_eq(p->policy.approval, CONFIG_APPROVAL_AUTO);
	ck_assert_int_eq(p->policy.on_drift, CONFIG_DRIFT_HOLD);
	ck_assert_str_eq(p->policy.commit_message,
	    "Promote {source}@{source_short}");
	ck_assert_str_eq(p->policy.release_notes,
	    "Promoted from {source} at {source_commit}");
	ck_assert_str_eq(p->policy.author_name, "algopromoted");
	ck_assert_str_eq(p->policy.author_email, "algopromoted@localhost");
	ck_assert_ptr_null(p->policy.preserve[0]);
	ck_assert_ptr_null(p->policy.exclude[0]);
	ck_assert_int_eq(p->policy.create.from_source, 1);
	ck_assert_str_eq(p->policy.create.details_json, "{}");
	ck_assert_str_eq(p->policy.create.settings_json, "{}");
	ck_assert_uint_eq(p->policy.poll_ms, 60000);
	config_free(c);
}
END_TEST

START_TEST(test_good_full)
{
	struct config		*c = load_good("good-full");
	struct config_cluster	*dev, *prod;
	struct config_pair	*a, *b;
	char			*keypath;

	ck_assert_str_eq(c->state_dir, "/srv/algopromoted");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(c->log_file, "/var/log/algopromoted.log");
	ck_assert_int_eq(c->workers, 8);
	ck_assert_uint_eq(c->poll_ms, 120000);
	ck_assert_str_eq(c->listen, "[::1]:9999");
	ck_assert_str_eq(c->control_socket, "/run/ap/ctl.sock");

	dev = config_cluster_find(c, "dev");
	prod = config_cluster_find(c, "prod");
	ck_assert_str_eq(dev->git, "https://gitserver.dev.example.com:8443");
	keypath = abs_fixture(FIXDIR "/keys/dev.key");
	ck_assert_str_eq(dev->ca_file, keypath);
	free(keypath);
	ck_assert_uint_eq(dev->timeout_ms, 90000);
	ck_assert_int_eq(dev->max_parallel, 2);
	ck_assert_str_eq(prod->api, "http://127.0.0.1:8080/prefix");
	ck_assert_str_eq(prod->git, "http://127.0.0.1:8080/prefix");
	ck_assert_str_eq(prod->key_owner, "acme_org");
	ck_assert_uint_eq(prod->timeout_ms, 500);
	ck_assert_int_eq(prod->max_parallel, 64);

	ck_assert_uint_eq(c->npairs, 2);
	ck_assert_uint_eq(config_ndests(c), 3);
	a = config_pair_find(c, "hello");
	b = config_pair_find(c, "two.dest-s_1");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);

	/* "defaults:" over the built-in defaults. */
	ck_assert_int_eq(a->policy.track, CONFIG_TRACK_VERSIONS);
	ck_assert_str_eq(a->policy.branch, "release/prod");
	ck_assert_int_eq(a->policy.version_type, CONFIG_VTYPE_MAJOR);
	ck_assert_uint_eq(a->policy.build_timeout_ms, 3600000);
	ck_assert_uint_eq(a->policy.reconcile_ms, 600000);
	ck_assert_int_eq(a->policy.approval, CONFIG_APPROVAL_MANUAL);
	ck_assert_int_eq(a->policy.on_drift, CONFIG_DRIFT_OVERWRITE);
	ck_assert_str_eq(a->policy.commit_message,
	    "Sync {source} ({source_short}) for {pair}");
	ck_assert_str_eq(a->policy.release_notes,
	    "From {source} at {source_commit}\nversion {source_version}\n");
	ck_assert_str_eq(a->policy.author_name, "Release Bot");
	ck_assert_str_eq(a->policy.author_email, "bot@example.com");
	ck_assert_str_eq(a->policy.preserve[0], "README.md");
	ck_assert_str_eq(a->policy.preserve[1], "config/*.json");
	ck_assert_ptr_null(a->policy.preserve[2]);
	ck_assert_str_eq(a->policy.exclude[0], "tests/");
	ck_assert_str_eq(a->policy.exclude[1], "*.pyc");
	ck_assert_ptr_null(a->policy.exclude[2]);
	ck_assert_int_eq(a->policy.create.from_source, 0);
	ck_assert_str_eq(a->policy.create.details_json,
	    "{\"label\":\"Hello (prod)\",\"tagline\":\"42\",\"rank\":7,"
	    "\"ratio\":0.5,\"listed\":true,\"nothing\":null,"
	    "\"tags\":[\"a\",1,true],\"nested\":{\"deep\":\"x\"}}");
	ck_assert_str_eq(a->policy.create.settings_json,
	    "{\"source_visibility\":\"closed\",\"license\":\"apl\"}");
	ck_assert_uint_eq(a->policy.poll_ms, 120000);
	ck_assert_str_eq(a->dests[0].full, "prod/acme_org/Hello");

	/* The pair over "defaults:"; create's keys one by one. */
	ck_assert_uint_eq(b->ndests, 2);
	ck_assert_ptr_eq(b->dests[0].cluster, prod);
	ck_assert_str_eq(b->dests[1].full, "dev/alice/SentimentStage");
	ck_assert_ptr_eq(b->dests[1].cluster, dev);
	ck_assert_str_eq(b->source.name, "Sentiment_2");
	ck_assert_uint_eq(b->policy.poll_ms, 30000);
	ck_assert_int_eq(b->policy.track, CONFIG_TRACK_COMMITS);
	ck_assert_str_eq(b->policy.branch, "main");
	ck_assert_int_eq(b->policy.version_type, CONFIG_VTYPE_REVISION);
	ck_assert_uint_eq(b->policy.build_timeout_ms, 300000);
	ck_assert_uint_eq(b->policy.reconcile_ms, 0);
	ck_assert_int_eq(b->policy.approval, CONFIG_APPROVAL_AUTO);
	ck_assert_int_eq(b->policy.on_drift, CONFIG_DRIFT_HOLD);
	ck_assert_str_eq(b->policy.commit_message,
	    "{algo}: {destination} <- {source}");
	ck_assert_str_eq(b->policy.release_notes, "");
	ck_assert_str_eq(b->policy.author_name, "Jane Q. Doe");
	ck_assert_str_eq(b->policy.author_email, "jane@example.com");
	ck_assert_ptr_null(b->policy.preserve[0]);
	ck_assert_str_eq(b->policy.exclude[0], "docs/**");
	ck_assert_ptr_null(b->policy.exclude[1]);
	ck_assert_int_eq(b->policy.create.from_source, 0);
	ck_assert_str_eq(b->policy.create.details_json,
	    "{\"label\":\"Sentiment\"}");
	ck_assert_str_eq(b->policy.create.settings_json,
	    a->policy.create.settings_json);
	ck_assert_int_eq(a->policy.metadata, CONFIG_METADATA_SYNC);
	ck_assert_int_eq(a->policy.data_retain, 0);
	ck_assert_uint_eq(a->ndata, 0);
	ck_assert_int_eq(b->policy.metadata, CONFIG_METADATA_CREATE_ONLY);
	ck_assert_str_eq(config_metadata_name(b->policy.metadata),
	    "create-only");
	ck_assert_int_eq(b->policy.data_retain, 3);
	ck_assert_uint_eq(b->ndata, 3);
	ck_assert_str_eq(b->data[0].src_owner, "alice");
	ck_assert_str_eq(b->data[0].src_coll, "models");
	ck_assert_str_eq(b->data[0].dst_owner, ".my");
	ck_assert_str_eq(b->data[0].dst_coll, "sentiment_models");
	ck_assert_int_eq(b->data[0].delete_gone, 1);
	ck_assert_ptr_null(b->data[0].acl_json);
	ck_assert_str_eq(config_data_owner(b->data[0].dst_owner,
	    b->dests[0].cluster), "acme_org");
	ck_assert_str_eq(config_data_owner(b->data[0].src_owner,
	    b->dests[0].cluster), "alice");
	ck_assert_str_eq(b->data[1].src_owner, ".my");
	ck_assert_str_eq(b->data[1].dst_coll, "vocab.v2");
	ck_assert_int_eq(b->data[1].delete_gone, 0);
	ck_assert_str_eq(b->data[1].acl_json, "{\"read\":[]}");
	ck_assert_str_eq(b->data[2].acl_json, "{\"read\":[\"user://*\"]}");

	/* notify: at the top (tokens loaded, defaults) and per pair. */
	keypath = abs_fixture(FIXDIR "/keys/trigger.token");
	ck_assert_str_eq(c->trigger_token_file, keypath);
	free(keypath);
	ck_assert_str_eq(c->trigger_token, TRIGGER_TOKEN);
	ck_assert_uint_eq(c->nnotify, 2);
	ck_assert_str_eq(c->notify[0].url,
	    "https://hooks.example.com/algopromoted?channel=releases");
	ck_assert_ptr_null(c->notify[0].command);
	keypath = abs_fixture(FIXDIR "/keys/hook.token");
	ck_assert_str_eq(c->notify[0].token_file, keypath);
	free(keypath);
	ck_assert_str_eq(c->notify[0].token, HOOK_TOKEN);
	ck_assert_int_eq(c->notify[0].format, CONFIG_NOTIFY_JSON);
	ck_assert_uint_eq(c->notify[0].events, CONFIG_NOTIFY_ALL);
	ck_assert_uint_eq(c->notify[0].events, 0xff);
	ck_assert_int_eq(c->notify[1].format, CONFIG_NOTIFY_SLACK);
	ck_assert_ptr_null(c->notify[1].token);
	ck_assert_uint_eq(c->notify[1].events,
	    1u << CONFIG_NOTIFY_FAILED | 1u << CONFIG_NOTIFY_HELD |
	    1u << CONFIG_NOTIFY_PENDING_APPROVAL);
	ck_assert_uint_eq(a->nnotify, 0);
	ck_assert_uint_eq(b->nnotify, 1);
	ck_assert_ptr_null(b->notify[0].url);
	ck_assert_str_eq(b->notify[0].command[0],
	    "/usr/local/bin/page-oncall");
	ck_assert_str_eq(b->notify[0].command[1], "--team");
	ck_assert_str_eq(b->notify[0].command[2], "");
	ck_assert_str_eq(b->notify[0].command[3], "ml");
	ck_assert_ptr_null(b->notify[0].command[4]);
	ck_assert_uint_eq(b->notify[0].events, 1u << CONFIG_NOTIFY_FAILED);
	config_free(c);
}
END_TEST

static char	*write_conf(const char *, const char *, const char *);

/* Tokens are secrets like keys: a missing token file is an error for -n
 * as for the start, not looked at with CONFIG_LOAD_SKIP_KEYS; event
 * names both ways. */
START_TEST(test_notify_tokens)
{
	struct config	*c = load_good("good-full"), *c2 = NULL;
	char		*out, *dir, *path, *errors = NULL, *want;

	out = redact("hook " HOOK_TOKEN " trigger " TRIGGER_TOKEN);
	ck_assert_str_eq(out, "hook " REDACT_MASK " trigger " REDACT_MASK);
	free(out);
	config_free(c);

	dir = testutil_tmpdir();
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "notify:\n  - url: http://127.0.0.1:1/\n"
	    "    token_file: nope.token\n");
	want = xprintf("%s:3:17: notify #1: cannot read token file "
	    "\"%s/nope.token\": No such file or directory\n", path, dir);
	ck_assert_int_eq(config_load(&c2, path, 0, &errors), -1);
	ck_assert_str_eq(errors, want);
	free(errors);
	ck_assert_int_eq(config_load(&c2, path, CONFIG_LOAD_SKIP_KEYS,
	    &errors), 0);
	ck_assert_ptr_null(errors);
	ck_assert_ptr_null(c2->notify[0].token);
	free(want);
	want = xprintf("%s/nope.token", dir);
	ck_assert_str_eq(c2->notify[0].token_file, want);
	config_free(c2);
	free(want);
	free(path);
	testutil_rmtree(dir);
	free(dir);

	ck_assert_str_eq(config_notify_event_name(CONFIG_NOTIFY_PENDING_APPROVAL),
	    "pending-approval");
	ck_assert_int_eq(config_notify_event_parse("resumed"),
	    CONFIG_NOTIFY_RESUMED);
	ck_assert_int_eq(config_notify_event_parse("resume"), -1);
}
END_TEST

START_TEST(test_good_git_url)
{
	static const struct {
		const char	*cluster, *api, *git;
	} want[] = {
		{ "plain", "https://api.dev.example.com",
		    "https://git.dev.example.com" },
		{ "upper", "HTTPS://API.Stage.Example.com:8443/base",
		    "HTTPS://git.Stage.Example.com:8443/base" },
		{ "apiary", "https://apiary.example.com",
		    "https://apiary.example.com" },
		{ "local", "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "given", "https://api.prod.example.com",
		    "https://code.prod.example.com/git-root" },
		{ "nullgit", "https://api.null.example.com",
		    "https://git.null.example.com" },
	};
	struct config		*c = load_good("good-git-url");
	struct config_cluster	*cl;
	size_t			 i;

	ck_assert_uint_eq(c->nclusters, sizeof want / sizeof want[0]);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		cl = config_cluster_find(c, want[i].cluster);
		ck_assert_ptr_nonnull(cl);
		ck_assert_str_eq(cl->api, want[i].api);
		ck_assert_str_eq(cl->git, want[i].git);
	}
	ck_assert_uint_eq(config_ndests(c), 5);
	config_free(c);
}
END_TEST

START_TEST(test_good_anchors)
{
	struct config		*c = load_good("good-anchors");
	struct config_cluster	*dev2;

	dev2 = config_cluster_find(c, "dev2");
	ck_assert_ptr_nonnull(dev2);
	ck_assert_str_eq(dev2->api, "https://api.dev.example.com");
	ck_assert_str_eq(dev2->api_key, DEV_KEY);
	ck_assert_str_eq(config_cluster_find(c, "prod")->key_owner, "acme");
	ck_assert_uint_eq(c->npairs, 3);
	ck_assert_str_eq(c->pairs[0].policy.create.settings_json,
	    "{\"source_visibility\":\"closed\",\"quoted_number\":\"12\","
	    "\"plain_number\":12,\"quoted_bool\":\"true\",\"negative\":-3}");
	ck_assert_str_eq(c->pairs[1].policy.create.settings_json,
	    c->pairs[0].policy.create.settings_json);
	ck_assert_ptr_eq(c->pairs[1].source.cluster, dev2);
	ck_assert_str_eq(c->pairs[2].name, "three");
	ck_assert_str_eq(c->pairs[2].source.full, "prod/acme/Two");
	config_free(c);
}
END_TEST

/* A small valid file around one cluster body, in a scratch directory. */
static char *
write_conf(const char *dir, const char *cluster, const char *extra)
{
	char	*path, *text;

	path = xprintf("%s/c.yaml", dir);
	text = xprintf("%s\nclusters:\n  dev:\n"
	    "    api: https://api.dev.example.com\n"
	    "    key_owner: alice\n%s"
	    "pairs:\n  - name: p\n    source: dev/alice/A\n"
	    "    destination: dev/alice/B\n", extra, cluster);
	testutil_write(path, text, 0644);
	free(text);
	return path;
}

/* Loads a small file with the cluster body and top-level extra: NULL
 * when it loads (then *git is the cluster's git URL), else the first
 * problem without its "FILE:LINE:COL: ". */
static char *
load_small(const char *cluster, const char *extra, char **git)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *body, *errors = NULL;
	char		*out = NULL, *p;

	body = xprintf("    api_key_env: AP_TEST_PROD_KEY\n%s", cluster);
	path = write_conf(dir, body, extra);
	if (config_load(&c, path, 0, &errors) == 0) {
		if (git != NULL)
			*git = xstrdup(c->clusters[0].git);
		config_free(c);
	} else {
		ck_assert_ptr_nonnull(errors);
		p = strstr(errors + strlen(path), ": ");	/* ":L:C: " */
		ck_assert_ptr_nonnull(p);
		out = xstrndup(p + 2, strcspn(p + 2, "\n"));
	}
	free(errors);
	free(body);
	free(path);
	testutil_rmtree(dir);
	free(dir);
	return out;
}

static void
url_case(const char *url, const char *want)
{
	char	*line, *got, *git = NULL;

	line = xprintf("    git: \"%s\"\n", url);
	got = load_small(line, "", &git);
	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s: %s", url, got);
		ck_assert_ptr_nonnull(git);
	} else {
		ck_assert_msg(got != NULL, "%s loads", url);
		ck_assert_str_eq(got, want);
	}
	free(git);
	free(got);
	free(line);
}

/* retries and retry_budget per cluster, retry_min at the top level. */
START_TEST(test_retry_keys)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL, *got;

	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n"
	    "    retries: 1\n    retry_budget: 90s\n", "retry_min: 2s\n");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_int_eq(c->clusters[0].retries, 1);
	ck_assert_uint_eq(c->clusters[0].retry_budget_ms, 90000);
	ck_assert_uint_eq(c->retry_min_ms, 2000);
	config_free(c);
	free(path);
	testutil_rmtree(dir);
	free(dir);

	got = load_small("    retries: 0\n", "", NULL);
	ck_assert_str_eq(got, "cluster \"dev\": retries must be an integer "
	    "between 1 and 100");
	free(got);
	got = load_small("    retries: 101\n", "", NULL);
	ck_assert_str_eq(got, "cluster \"dev\": retries must be an integer "
	    "between 1 and 100");
	free(got);
	got = load_small("    retry_budget: 500ms\n", "", NULL);
	ck_assert_str_eq(got, "cluster \"dev\": retry_budget must be at "
	    "least 1s");
	free(got);
	got = load_small("", "retry_min: 0s\n", NULL);
	ck_assert_str_eq(got, "retry_min must be at least 1s");
	free(got);
}
END_TEST

/* metrics: a mapping of known keys; per_route_histograms off unless
 * asked for; a problem reported at its FILE:LINE:COL. */
START_TEST(test_metrics_key)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL, *got;
	char		*want;

	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n", "");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_int_eq(c->metrics_per_route_histograms, 0);
	config_free(c);
	free(path);
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "metrics: {per_route_histograms: true}\n");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_int_eq(c->metrics_per_route_histograms, 1);
	config_free(c);
	free(path);
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "metrics:\n  per_route_histograms: false\n");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_int_eq(c->metrics_per_route_histograms, 0);
	config_free(c);
	free(path);
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "metrics: {}\n");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	config_free(c);

	/* An unknown key, where it is. */
	free(path);
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "metrics:\n  per_route_histogram: true\n");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:2:3: unknown key \"metrics.per_route_histogram\" "
	    "(did you mean \"metrics.per_route_histograms\"?)\n", path);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	testutil_rmtree(dir);
	free(dir);

	got = load_small("", "metrics: true\n", NULL);
	ck_assert_str_eq(got, "metrics must be a mapping");
	free(got);
	got = load_small("", "metrics: {per_route_histograms: 1}\n", NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(strstr(got, "metrics.per_route_histograms"));
	free(got);
	got = load_small("", "metrics: {poll: true}\n", NULL);
	ck_assert_str_eq(got, "unknown key \"metrics.poll\"");
	free(got);
}
END_TEST

/* The URL checks take URLs apart through url.c. */
START_TEST(test_urls)
{
	char	*git = NULL, *got;

	url_case("https://git.x.example.com", NULL);
	url_case("http://[::1]:8080/prefix", NULL);
	url_case("HTTPS://Git.X.Example.com:443/", NULL);
	url_case("https://h:65535", NULL);
	url_case("https://h:0", "cluster \"dev\": git has a bad port");
	url_case("https://h:", "cluster \"dev\": git has a bad port");
	url_case("https://h:65536/", "cluster \"dev\": git has a bad port");
	url_case("https://h:8o/", "cluster \"dev\": git has a bad port");
	url_case("https://", "cluster \"dev\": git has no host");
	url_case("https://:443/x", "cluster \"dev\": git has no host");
	url_case("https://ho<st/", "cluster \"dev\": git has a bad host");
	url_case("https://[1.2.3.4]/", "cluster \"dev\": git has a bad host");
	url_case("https://u@h", "cluster \"dev\": git must not contain a "
	    "user or password: keys never live in the configuration");
	url_case("https://:pw@h", "cluster \"dev\": git must not contain a "
	    "user or password: keys never live in the configuration");
	/* A raw key may hold '/': it still is a password. */
	url_case("https://u:k/e+y@h/p", "cluster \"dev\": git must not "
	    "contain a user or password: keys never live in the "
	    "configuration");
	url_case("https://h/p?", "cluster \"dev\": git must not have a "
	    "query or fragment");
	url_case("https://h/p#", "cluster \"dev\": git must not have a "
	    "query or fragment");
	url_case("https://h//v1//", "cluster \"dev\": git must not end in "
	    "/v1 (the client adds it): write \"https://h\"");
	url_case("https://h/a/v1", "cluster \"dev\": git must not end in "
	    "/v1 (the client adds it): write \"https://h/a\"");
	/* "v1" as the host is no "/v1" path. */
	url_case("https://v1", NULL);

	/* Trailing slashes go; the URL is kept as written. */
	got = load_small("    git: https://Git.X.com:8443/pre///\n", "", &git);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(git, "https://Git.X.com:8443/pre");
	free(git);
}
END_TEST

/* listen through url.c, with the configuration's two messages. */
START_TEST(test_listen_forms)
{
	static const char *const ok[] = {
		"127.0.0.1:0", "localhost:65535", "[::1]:9464", "[::]:0",
		"h:00080",
	};
	static const char *const syntax[] = {
		"9464", "localhost", ":9464", "::1:9464", "h:", "h:abc",
		"h:-1", "h:123456", "[::1]9464", "[]:80", "[::g]:80",
		"ho_st:80", "x:y:80", "[::1]:",
	};
	char	*line, *got;
	size_t	 i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		line = xprintf("listen: \"%s\"\n", ok[i]);
		got = load_small("", line, NULL);
		ck_assert_msg(got == NULL, "%s: %s", ok[i], got);
		free(line);
	}
	for (i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
		line = xprintf("listen: \"%s\"\n", syntax[i]);
		got = load_small("", line, NULL);
		ck_assert_msg(got != NULL, "%s loads", syntax[i]);
		ck_assert_str_eq(got, "listen must be HOST:PORT (such as "
		    "127.0.0.1:9464) or off");
		free(got);
		free(line);
	}
	got = load_small("", "listen: \"[::1]:99999\"\n", NULL);
	ck_assert_str_eq(got, "listen port must be between 0 and 65535");
	free(got);
}
END_TEST

START_TEST(test_env_directories)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL;

	setenv("STATE_DIRECTORY", "/st/one:/st/two", 1);
	setenv("RUNTIME_DIRECTORY", "/rt/ap", 1);
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n", "");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), 0);
	ck_assert_str_eq(c->state_dir, "/st/one");
	ck_assert_str_eq(c->control_socket, "/rt/ap/control.sock");
	config_free(c);
	free(path);

	/* The file wins over the environment. */
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "state_dir: /x/state\ncontrol_socket: /x/ctl.sock\nlisten: off\n"
	    "log_level: error\n");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), 0);
	ck_assert_str_eq(c->state_dir, "/x/state");
	ck_assert_str_eq(c->control_socket, "/x/ctl.sock");
	ck_assert_ptr_null(c->listen);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_ERROR);
	config_free(c);
	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* Relative key files come from $CREDENTIALS_DIRECTORY, where systemd's
 * modes are trusted; outside it a readable key is refused. */
START_TEST(test_credentials_directory)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *creds, *key, *path;
	char		*errors = NULL, *want, *outside, *body, *sub;

	creds = xprintf("%s/creds", dir);
	ck_assert_int_eq(mkdir(creds, 0700), 0);
	key = xprintf("%s/dev.key", creds);
	testutil_write(key, DEV_KEY "\n", 0644);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	path = write_conf(dir, "    api_key_file: dev.key\n", "");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_str_eq(c->clusters[0].api_key_file, key);
	ck_assert_str_eq(c->clusters[0].api_key, DEV_KEY);
	config_free(c);
	free(path);

	/* A path below a directory loaded whole (LoadCredential=keys:DIR)
	 * is the credential named with '_' for '/'. */
	sub = xprintf("%s/keys_sub_dev.key", creds);
	testutil_write(sub, DEV_KEY "\n", 0600);
	path = write_conf(dir, "    api_key_file: keys/sub/dev.key\n", "");
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_str_eq(c->clusters[0].api_key_file, sub);
	ck_assert_str_eq(c->clusters[0].api_key, DEV_KEY);
	config_free(c);
	free(path);
	free(sub);

	/* Named absolutely, inside: still trusted. Beside it: not. */
	outside = xprintf("%s/dev.key", dir);
	testutil_write(outside, DEV_KEY "\n", 0640);
	body = xprintf("    api_key_file: %s\n", key);
	path = write_conf(dir, body, "");
	free(body);
	ck_assert_int_eq(config_load(&c, path, 0, &errors), 0);
	ck_assert_str_eq(c->clusters[0].api_key_file, key);
	config_free(c);
	free(path);

	unsetenv("CREDENTIALS_DIRECTORY");
	path = write_conf(dir, "    api_key_file: dev.key\n", "");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:6:19: cluster \"dev\": key file \"%s\" is readable "
	    "by group or others (chmod 600)\n", path, outside);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	errors = NULL;

	/* Mode 0600 beside the file: fine. */
	ck_assert_int_eq(chmod(outside, 0600), 0);
	ck_assert_int_eq(config_load(&c, path, 0, &errors), 0);
	ck_assert_str_eq(c->clusters[0].api_key_file, outside);
	config_free(c);
	free(path);
	free(outside);
	free(key);
	free(creds);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* Loaded keys are secrets from then on, raw and inside Basic auth. */
START_TEST(test_keys_redacted)
{
	struct config	*c = load_good("good-minimal");
	char		*out, *basic, *b64, *line;

	out = redact("key=" DEV_KEY " env=" ENV_KEY);
	ck_assert_str_eq(out, "key=" REDACT_MASK " env=" REDACT_MASK);
	free(out);
	basic = xprintf("alice:%s", DEV_KEY);
	b64 = redact_base64(basic, strlen(basic));
	line = xprintf("Authorization: Basic %s", b64);
	out = redact(line);
	ck_assert_str_eq(out, "Authorization: Basic " REDACT_MASK);
	free(out);
	free(line);
	free(b64);
	free(basic);
	config_free(c);
}
END_TEST

/* A presented token against the configured one. */
START_TEST(test_secret_equal)
{
	ck_assert_int_eq(config_secret_equal("t0ken+/a", "t0ken+/a"), 1);
	ck_assert_int_eq(config_secret_equal("t0ken+/a", "t0ken+/b"), 0);
	ck_assert_int_eq(config_secret_equal("t0ken+/a", "t0ken+/"), 0);
	ck_assert_int_eq(config_secret_equal("t0ken+/a", "t0ken+/aa"), 0);
	ck_assert_int_eq(config_secret_equal("t0ken+/a", ""), 0);
	ck_assert_int_eq(config_secret_equal("t0ken+/a", NULL), 0);
	ck_assert_int_eq(config_secret_equal(NULL, NULL), 0);
	ck_assert_int_eq(config_secret_equal(NULL, ""), 0);
}
END_TEST

START_TEST(test_unreadable_files)
{
	struct config	*c = (struct config *)&c;
	char		*errors = NULL, *dir, *path, *want;
	FILE		*f;
	uint64_t	 t0;
	size_t		 i;

	ck_assert_int_eq(config_load(&c, FIXDIR "/nope.yaml", 0, &errors),
	    -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(errors, FIXDIR "/nope.yaml: cannot open: No such "
	    "file or directory\n");
	free(errors);
	ck_assert_int_eq(config_load(&c, FIXDIR, 0, &errors), -1);
	ck_assert_str_eq(errors, FIXDIR ": cannot read: Is a directory\n");
	free(errors);

	/* Past 16 MiB the file is not even read: a sparse gigabyte is
	 * refused at once, from its size. */
	dir = testutil_tmpdir();
	path = xprintf("%s/big.yaml", dir);
	for (i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(f = fopen(path, "w"));
		ck_assert_int_eq(ftruncate(fileno(f), i == 0 ?
		    16 * 1024 * 1024 + 1 : (off_t)1 << 30), 0);
		fclose(f);
		t0 = monotime_ms();
		ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
		ck_assert_uint_lt(monotime_ms() - t0, 1000);
		want = xprintf("%s: larger than 16777216 bytes\n", path);
		ck_assert_str_eq(errors, want);
		free(want);
		free(errors);
	}
	/* What is not a regular file is read up to the cap, no further. */
	ck_assert_int_eq(config_load(&c, "/dev/zero", 0, &errors), -1);
	ck_assert_str_eq(errors, "/dev/zero: larger than 16777216 bytes\n");
	free(errors);
	free(path);
	testutil_rmtree(dir);
	free(dir);
	config_free(NULL);
}
END_TEST

/* Aliases make YAML a graph: a cycle and an exponential fan-out. */
START_TEST(test_alias_bombs)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL, *want;
	char		*extra;
	uint64_t	 t0;
	FILE		*f;
	int		 i;

	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "defaults:\n  create:\n    details: &d {self: *d}\n");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:3:14: defaults: create.details is nested more "
	    "than 16 levels deep\n", path);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);

	/* Nine levels of ten aliases: a billion values, refused before
	 * the loader, at the alias that passes the cap. */
	extra = xstrdup("defaults:\n  create:\n    settings:\n"
	    "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 9; i++) {
		char *t = xprintf("%s      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, "
		    "*l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", extra, i, i,
		    i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
		    i - 1, i - 1);
		free(extra);
		extra = t;
	}
	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n", extra);
	t0 = monotime_ms();
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	ck_assert_uint_lt(monotime_ms() - t0, 1000);
	want = xprintf("%s:9:51: aliases expand the configuration past "
	    "1000000 values\n", path);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(extra);
	free(path);

	/* Two levels are enough where the loader walks a list once per
	 * pair: 2,000 pairs that are one pair with 1,000 globs. */
	path = xprintf("%s/fan.yaml", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("clusters:\n  dev:\n    api: https://api.dev.example.com\n"
	    "    key_owner: alice\n    api_key_env: AP_TEST_PROD_KEY\n"
	    "x-globs: &g [g", f);
	for (i = 1; i < 1000; i++)
		fprintf(f, ", g%d", i);
	fputs("]\nx-pair: &p {name: p, source: dev/alice/A, destination: "
	    "dev/alice/B, preserve: *g}\npairs: [*p", f);
	for (i = 1; i < 2000; i++)
		fputs(", *p", f);
	fputs("]\n", f);
	fclose(f);
	t0 = monotime_ms();
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	ck_assert_uint_lt(monotime_ms() - t0, 1000);
	/* At the 990th alias of the pair. */
	want = xprintf("%s:8:%d: aliases expand the configuration past "
	    "1000000 values\n", path, 9 + 989 * 4);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);

	/* libyaml looks an alias up among every anchor: both are capped. */
	path = xprintf("%s/anchors.yaml", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("x: [", f);
	for (i = 0; i <= 1000; i++)
		fprintf(f, "&a%04d 1, ", i);
	fputs("]\n", f);
	fclose(f);
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:1:%d: more than 1000 anchors\n", path,
	    4 + 1000 * 10 + 1);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("a: &a 1\nx: [", f);
	for (i = 0; i <= 100000; i++)
		fputs("*a,", f);
	fputs("]\n", f);
	fclose(f);
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:2:%d: more than 100000 aliases\n", path,
	    4 + 100000 * 3 + 1);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* A node reached through many aliases has its problem said once. */
START_TEST(test_alias_problem_once)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL, *want;

	path = write_conf(dir, "    api_key_env: AP_TEST_PROD_KEY\n",
	    "x-list: &l [&i [1], *i, *i, *i]\n"
	    "defaults:\n  exclude: *l\n  preserve: *l\n");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s:1:1: unknown key \"x-list\"\n"
	    "%s:1:13: defaults: preserve must be a list of globs\n"
	    "%s:1:13: defaults: exclude must be a list of globs\n",
	    path, path, path);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* Flow nesting a megabyte deep: libyaml's scanner takes time in the
 * square of the depth (minutes for this file); the check before the
 * loader stops it at once, with the position where 64 levels passed. */
START_TEST(test_deep_flow_nesting)
{
	static const char *const open[] = { "[", "{a: " };
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *errors = NULL, *want;
	char		*text;
	size_t		 i, n, k, at;
	uint64_t	 t0;

	path = xprintf("%s/deep.yaml", dir);
	for (k = 0; k < 2; k++) {
		n = k == 0 ? 400000 : 150000;
		text = xmalloc(n * 5 + 16);
		memcpy(text, "x: ", at = 3);
		for (i = 0; i < n; i++) {
			memcpy(text + at, open[k], strlen(open[k]));
			at += strlen(open[k]);
		}
		if (k == 1)
			text[at++] = '1';
		for (i = 0; i < n; i++)
			text[at++] = k == 0 ? ']' : '}';
		text[at++] = '\n';
		text[at] = '\0';
		testutil_write(path, text, 0644);
		t0 = monotime_ms();
		ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
		ck_assert_msg(monotime_ms() - t0 < 5000, "took %llu ms",
		    (unsigned long long)(monotime_ms() - t0));
		/* Column of the 66th opening: the first node past 64. */
		want = xprintf("%s:1:%zu: nested more than 64 levels deep\n",
		    path, 3 + 64 * strlen(open[k]) + 1);
		ck_assert_str_eq(errors, want);
		free(want);
		free(errors);
		free(text);
	}
	/* Less deep than the check's limit: every problem is reported,
	 * as before. */
	text = xmalloc(3 + 400 + 2);
	memcpy(text, "x: ", 3);
	memset(text + 3, '[', 200);
	memset(text + 203, ']', 200);
	memcpy(text + 403, "\n", 2);
	testutil_write(path, text, 0644);
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	ck_assert_ptr_nonnull(strstr(errors, ": unknown key \"x\"\n"));
	want = xprintf("%s:1:68: nested more than 64 levels deep\n", path);
	ck_assert_ptr_nonnull(strstr(errors, want));
	free(want);
	free(errors);
	free(text);
	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_algo_parse)
{
	struct config		*c = load_good("good-minimal");
	struct config_algo	 a;
	char			*cause = NULL;

	ck_assert_int_eq(config_algo_parse(c, "prod/acme/Other_1", &a,
	    &cause), 0);
	ck_assert_ptr_eq(a.cluster, config_cluster_find(c, "prod"));
	ck_assert_str_eq(a.owner, "acme");
	ck_assert_str_eq(a.name, "Other_1");
	ck_assert_str_eq(a.full, "prod/acme/Other_1");
	config_algo_clear(&a);
	ck_assert_ptr_null(a.full);

	ck_assert_int_eq(config_algo_parse(c, "prod/acme", &a, &cause), -1);
	ck_assert_str_eq(cause, "algorithm \"prod/acme\" must be "
	    "CLUSTER/OWNER/ALGO");
	free(cause);
	ck_assert_int_eq(config_algo_parse(c, "qa/acme/X", &a, &cause), -1);
	ck_assert_str_eq(cause, "unknown cluster \"qa\" (clusters: dev, "
	    "prod)");
	free(cause);
	ck_assert_int_eq(config_algo_parse(c, "dev/acme/9x", &a, &cause), -1);
	ck_assert_str_eq(cause, "algorithm name \"9x\" in \"dev/acme/9x\": "
	    "use letters, digits and underscores, starting with a letter");
	free(cause);
	config_free(c);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(config_track_name(CONFIG_TRACK_COMMITS), "commits");
	ck_assert_str_eq(config_track_name(CONFIG_TRACK_VERSIONS),
	    "versions");
	ck_assert_str_eq(config_vtype_name(CONFIG_VTYPE_MAJOR), "major");
	ck_assert_str_eq(config_vtype_name(CONFIG_VTYPE_MINOR), "minor");
	ck_assert_str_eq(config_vtype_name(CONFIG_VTYPE_REVISION),
	    "revision");
	ck_assert_str_eq(config_vtype_name((enum config_vtype)7), "unknown");
	ck_assert_str_eq(config_approval_name(CONFIG_APPROVAL_AUTO), "auto");
	ck_assert_str_eq(config_drift_name(CONFIG_DRIFT_HOLD), "hold");
	ck_assert_str_eq(config_drift_name(CONFIG_DRIFT_OVERWRITE),
	    "overwrite");
	ck_assert_str_eq(config_approval_name(CONFIG_APPROVAL_MANUAL),
	    "manual");
}
END_TEST

/* The shipped example is valid; only its key material is absent:
 * -n --skip-keys passes, -n alone does not. */
START_TEST(test_example)
{
	struct config	*c = NULL;
	char		*errors = NULL;

	unsetenv("PROD_API_KEY");
	ck_assert_int_eq(config_load(&c, "config/example.yaml",
	    CONFIG_LOAD_SKIP_KEYS, &errors), 0);
	ck_assert_ptr_null(errors);
	ck_assert_uint_eq(c->npairs, 2);
	ck_assert_uint_eq(config_ndests(c), 3);
	ck_assert_uint_eq(c->nfiles, 1);
	config_free(c);
	ck_assert_int_eq(config_load(&c, "config/example.yaml", 0, &errors),
	    -1);
	ck_assert_ptr_nonnull(strstr(errors, "environment variable "
	    "PROD_API_KEY is not set"));
	free(errors);
}
END_TEST

/* Pairs from several files, in the order read; a relative name in an
 * included file is beside it; defaults reach every file's pairs. */
START_TEST(test_good_include)
{
	static const char *const names[] = {
		"main", "a1", "a2", "a3", "b1", "last",
	};
	struct config	*c = load_good("good-include");
	char		*tok;
	size_t		 i;

	ck_assert_uint_eq(c->nfiles, 6);
	ck_assert_uint_eq(c->npairs, 6);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(c->pairs[i].name, names[i]);
	ck_assert_uint_eq(config_ndests(c), 7);
	ck_assert_int_eq(c->pairs[0].line, 21);
	ck_assert_int_eq(c->pairs[1].line, 3);
	ck_assert_int_eq(c->pairs[3].line, 2);
	ck_assert_int_eq(c->pairs[0].policy.approval, CONFIG_APPROVAL_MANUAL);
	ck_assert_int_eq(c->pairs[3].policy.approval, CONFIG_APPROVAL_MANUAL);
	ck_assert_int_eq(c->pairs[4].policy.approval, CONFIG_APPROVAL_AUTO);
	ck_assert_uint_eq(c->pairs[2].nnotify, 1);
	tok = abs_fixture(FIXDIR "/include/pairs.d/../../keys/hook.token");
	ck_assert_str_eq(c->pairs[2].notify[0].token_file, tok);
	ck_assert_str_eq(c->pairs[2].notify[0].token, HOOK_TOKEN);
	free(tok);
	ck_assert_ptr_eq(config_pair_find(c, "a3"), &c->pairs[3]);
	config_free(c);
}
END_TEST

/* CONFIG_LOAD_SKIP_KEYS names key material without reading it. */
START_TEST(test_skip_keys)
{
	struct config	*c = NULL;
	char		*errors = NULL, *keypath;
	size_t		 i;

	ck_assert_int_eq(config_load(&c, FIXDIR "/good-full.yaml",
	    CONFIG_LOAD_SKIP_KEYS, &errors), 0);
	ck_assert_ptr_null(errors);
	for (i = 0; i < c->nclusters; i++)
		ck_assert_ptr_null(c->clusters[i].api_key);
	keypath = abs_fixture(FIXDIR "/keys/dev.key");
	ck_assert_str_eq(config_cluster_find(c, "dev")->api_key_file,
	    keypath);
	free(keypath);
	ck_assert_ptr_null(c->trigger_token);
	ck_assert_ptr_nonnull(c->trigger_token_file);
	config_free(c);
}
END_TEST

/* A file of n pairs named PREFIX-i, each with one destination. */
static void
write_pairs(const char *path, const char *prefix, int n, const char *more)
{
	FILE	*f;
	int	 i;

	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("pairs:\n", f);
	for (i = 0; i < n; i++)
		fprintf(f, "  - name: %s-%d\n    source: dev/alice/%s%d\n"
		    "    destination: prod/acme/%s%d\n", prefix, i, prefix, i,
		    prefix, i);
	if (more != NULL)
		fputs(more, f);
	fclose(f);
}

/* The main file of a scratch directory, with include: inc. */
static char *
write_main(const char *dir, const char *inc)
{
	char	*path, *text;

	path = xprintf("%s/main.yaml", dir);
	text = xprintf("clusters:\n  dev:\n"
	    "    api: https://api.dev.example.com\n    key_owner: alice\n"
	    "    api_key_env: AP_TEST_PROD_KEY\n  prod:\n"
	    "    api: https://api.prod.example.com\n    key_owner: acme\n"
	    "    api_key_env: AP_TEST_PROD_KEY\ninclude: %s\n", inc);
	testutil_write(path, text, 0644);
	free(text);
	return path;
}

/* 10,000 pairs in 100 files, and the caps of include:. */
START_TEST(test_include_limits)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *sub, *p, *want;
	char		*errors = NULL, name[32];
	FILE		*f;
	uint64_t	 t0;
	int		 i;

	sub = xprintf("%s/pairs.d", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "t%03d", i);
		p = xprintf("%s/%s.yaml", sub, name);
		write_pairs(p, name, 100, NULL);
		free(p);
	}
	path = write_main(dir, "pairs.d/*.yaml");
	t0 = monotime_ms();
	ck_assert_msg(config_load(&c, path, 0, &errors) == 0, "%s", errors);
	ck_assert_uint_lt(monotime_ms() - t0, 5000);
	ck_assert_uint_eq(c->npairs, 10000);
	ck_assert_uint_eq(c->nfiles, 101);
	ck_assert_str_eq(c->pairs[0].name, "t000-0");
	ck_assert_str_eq(c->pairs[9999].name, "t099-99");
	config_free(c);
	free(path);

	/* Includes nested 9 deep: one too many. */
	for (i = 0; i < 10; i++) {
		p = xprintf("%s/n%d.yaml", dir, i);
		snprintf(name, sizeof name, "n%d", i);
		want = xprintf("include: n%d.yaml\n", i + 1);
		write_pairs(p, name, 1, i < 9 ? want : NULL);
		free(want);
		free(p);
	}
	path = write_main(dir, "n0.yaml");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s/n7.yaml:5:10: include \"%s/n8.yaml\": includes "
	    "nested more than 8 deep\n", dir, dir);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);

	/* Together past 32 MiB: the file that passes is not read. Each
	 * of the first two is just under 16 MiB. */
	for (i = 1; i <= 3; i++) {
		p = xprintf("%s/big%d.yaml", dir, i);
		snprintf(name, sizeof name, "big%d", i);
		write_pairs(p, name, 1, NULL);
		if (i < 3) {
			ck_assert_ptr_nonnull(f = fopen(p, "a"));
			for (int j = 0; j < 16 * 1024 - 1; j++)
				fprintf(f, "#%01022d\n", 0);
			fclose(f);
		} else
			ck_assert_int_eq(truncate(p, 8192), 0);
		free(p);
	}
	path = write_main(dir, "big*.yaml");
	ck_assert_int_eq(config_load(&c, path, 0, &errors), -1);
	want = xprintf("%s/big3.yaml: the configuration's files are larger "
	    "than 33554432 bytes together\n", dir);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	free(sub);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* The fuzzer's flag: only names without '/' are followed. */
START_TEST(test_include_beside)
{
	struct config	*c = NULL;
	char		*dir = testutil_tmpdir(), *path, *p, *want;
	char		*errors = NULL;

	p = xprintf("%s/inc.yaml", dir);
	write_pairs(p, "inc", 2, NULL);
	free(p);
	path = write_main(dir, "[inc.yaml, /etc/passwd]");
	ck_assert_int_eq(config_load(&c, path, CONFIG_LOAD_INCLUDE_BESIDE,
	    &errors), -1);
	want = xprintf("%s:10:21: include \"/etc/passwd\": only names "
	    "without '/' are followed here\n", path);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	path = write_main(dir, "\"*.yaml\"");
	ck_assert_int_eq(config_load(&c, path, CONFIG_LOAD_INCLUDE_BESIDE,
	    &errors), -1);
	want = xprintf("%s:10:10: include \"%s/main.yaml\": the file "
	    "includes itself\n", path, dir);
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_fixture, 0, NBAD);
	tcase_add_test(tc, test_fixture_list);
	tcase_add_test(tc, test_good_minimal);
	tcase_add_test(tc, test_good_full);
	tcase_add_test(tc, test_good_git_url);
	tcase_add_test(tc, test_good_anchors);
	tcase_add_test(tc, test_urls);
	tcase_add_test(tc, test_listen_forms);
	tcase_add_test(tc, test_retry_keys);
	tcase_add_test(tc, test_env_directories);
	tcase_add_test(tc, test_credentials_directory);
	tcase_add_test(tc, test_keys_redacted);
	tcase_add_test(tc, test_secret_equal);
	tcase_add_test(tc, test_notify_tokens);
	tcase_add_test(tc, test_unreadable_files);
	tcase_add_test(tc, test_alias_bombs);
	tcase_add_test(tc, test_deep_flow_nesting);
	tcase_add_test(tc, test_alias_problem_once);
	tcase_add_test(tc, test_algo_parse);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_good_include);
	tcase_add_test(tc, test_skip_keys);
	tcase_add_test(tc, test_include_limits);
	tcase_add_test(tc, test_include_beside);
	tcase_add_test(tc, test_metrics_key);
	suite_add_tcase(s, tc);
	return s;
}
