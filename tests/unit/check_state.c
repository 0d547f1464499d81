/* check_state.c: route state and version map survive the round trip,
 * and damaged files are reported, moved aside or skipped, never fatal. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact.h"
#include "state.h"
#include "testutil.h"
#include "vmap.h"
#include "xmalloc.h"

#define C1	"1111111111111111111111111111111111111111"
#define C2	"2222222222222222222222222222222222222222"

static char *dir;

static void
setup(void)
{
	dir = testutil_tmpdir();
}

static void
teardown(void)
{
	testutil_rmtree(dir);
	free(dir);
}

START_TEST(test_route_dir)
{
	char	*d = state_route_dir("/var/lib/ap", "hello", "prod/acme/Hello");

	ck_assert_str_eq(d, "/var/lib/ap/routes/hello/prod.acme.Hello");
	free(d);
}
END_TEST

START_TEST(test_route_roundtrip)
{
	struct state_route	 s = { 0 }, r;
	char			*cause = NULL, *warning = NULL, *rdir;

	rdir = state_route_dir(dir, "hello", "prod/acme/Hello");
	state_set(&s.pair, "hello");
	state_set(&s.source, "dev/alice/Hello");
	state_set(&s.destination, "prod/acme/Hello");
	s.phase = STATE_BUILDING;
	state_set(&s.last_source_commit, C1);
	state_set(&s.last_dest_version, "0.1.0");
	s.last_time = 1764000000;
	state_set(&s.pending_source_commit, C2);
	state_set(&s.pending_build_id, "b-1");
	ck_assert_msg(state_route_save(&s, rdir, &cause) == 0, "%s", cause);
	ck_assert_int_eq(state_route_load(&r, rdir, &cause, &warning), 0);
	ck_assert_ptr_null(warning);
	ck_assert_str_eq(r.pair, "hello");
	ck_assert_int_eq(r.phase, STATE_BUILDING);
	ck_assert_str_eq(r.last_source_commit, C1);
	ck_assert_ptr_null(r.last_source_version);
	ck_assert_str_eq(r.last_dest_version, "0.1.0");
	ck_assert_int_eq(r.last_time, 1764000000);
	ck_assert_str_eq(r.pending_source_commit, C2);
	ck_assert_str_eq(r.pending_build_id, "b-1");
	ck_assert_int_eq(r.updated, s.updated);
	state_route_clear(&s);
	state_route_clear(&r);
	free(rdir);
}
END_TEST

START_TEST(test_route_missing_is_empty)
{
	struct state_route	 r;
	char			*cause = NULL, *warning = NULL;

	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), 0);
	ck_assert_ptr_null(warning);
	ck_assert_ptr_null(r.last_source_commit);
	ck_assert_int_eq(r.phase, STATE_IDLE);
}
END_TEST

START_TEST(test_route_corrupt_moved_aside)
{
	struct state_route	 r;
	char			*cause = NULL, *warning = NULL, *path;
	DIR			*d;
	struct dirent		*de;
	int			 aside = 0;

	path = xprintf("%s/state.json", dir);
	testutil_write(path, "{\"phase\": \"idle\", \"last\": ", 0600);
	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), 0);
	ck_assert_ptr_nonnull(warning);
	ck_assert_ptr_nonnull(strstr(warning, "is corrupt (not valid JSON)"));
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "state.json.corrupt-", 19) == 0)
			aside++;
	closedir(d);
	ck_assert_int_eq(aside, 1);
	free(warning);
	/* A bad phase is corruption too. */
	testutil_write(path, "{\"phase\": \"dancing\"}", 0600);
	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), 0);
	ck_assert_ptr_nonnull(strstr(warning, "(bad \"phase\")"));
	free(warning);
	free(path);
}
END_TEST

/* A state.json of a newer release's format is left as it is: the load
 * fails naming it; nothing is moved aside. An older one (no format)
 * loads. */
START_TEST(test_route_newer_format)
{
	struct state_route	 r;
	char			*cause = NULL, *warning = NULL, *path;

	path = xprintf("%s/state.json", dir);
	testutil_write(path, "{\"format\": 2, \"phase\": \"idle\"}", 0600);
	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), -1);
	ck_assert_ptr_null(warning);
	ck_assert_ptr_nonnull(strstr(cause, "is of format 2, newer than"));
	free(cause);
	ck_assert_int_eq(access(path, F_OK), 0);
	testutil_write(path, "{\"format\": \"x\", \"phase\": \"idle\"}",
	    0600);
	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), 0);
	ck_assert_ptr_nonnull(strstr(warning, "a bad \"format\""));
	free(warning);
	testutil_write(path, "{\"phase\": \"idle\"}", 0600);
	ck_assert_int_eq(state_route_load(&r, dir, &cause, &warning), 0);
	ck_assert_ptr_null(warning);
	state_route_clear(&r);
	free(path);
}
END_TEST

START_TEST(test_error_is_redacted)
{
	struct state_route	 s = { 0 };

	redact_clear();
	redact_add("simKEY+with/slash000");
	state_set_error(&s, "push to https://a:simKEY+with/slash000@h/x "
	    "failed", 1);
	ck_assert_str_eq(s.error, "push to https://***@h/x failed");
	ck_assert_int_eq(s.error_permanent, 1);
	ck_assert_int_gt(s.error_time, 0);
	state_set_error(&s, NULL, 0);
	ck_assert_ptr_null(s.error);
	state_route_clear(&s);
}
END_TEST

static struct vmap_entry
entry(const char *sc, const char *dc, const char *dv)
{
	struct vmap_entry e = {
		.time = 1764000000, .pair = xstrdup("hello"),
		.source = xstrdup("dev/alice/Hello"),
		.source_commit = xstrdup(sc),
		.destination = xstrdup("prod/acme/Hello"),
		.dest_commit = xstrdup(dc), .dest_version = xstrdup(dv),
		.build_id = xstrdup("b"),
	};
	return e;
}

START_TEST(test_vmap_codec)
{
	struct vmap_entry	 e = entry(C1, C2, "0.1.0"), back;
	char			*json, *cause = NULL;

	json = vmap_entry_json(&e);
	ck_assert_str_eq(json, "{\"format\":1,\"time\":\"2025-11-24T16:00:00Z\","
	    "\"pair\":\"hello\",\"source\":\"dev/alice/Hello\","
	    "\"source_commit\":\"" C1 "\",\"source_version\":null,"
	    "\"destination\":\"prod/acme/Hello\",\"dest_commit\":\"" C2 "\","
	    "\"dest_version\":\"0.1.0\",\"build_id\":\"b\"}");
	ck_assert_int_eq(vmap_entry_parse(&back, json, &cause), 0);
	ck_assert_int_eq(back.time, e.time);
	ck_assert_str_eq(back.dest_commit, C2);
	ck_assert_ptr_null(back.source_version);
	vmap_entry_clear(&back);
	ck_assert_int_eq(vmap_entry_parse(&back, "{\"time\":\"x\"}", &cause),
	    -1);
	ck_assert_str_eq(cause, "bad time \"x\"");
	free(cause);
	ck_assert_int_eq(vmap_entry_parse(&back, "[1]", &cause), -1);
	ck_assert_str_eq(cause, "not a JSON object");
	free(cause);
	vmap_entry_clear(&e);
	free(json);
}
END_TEST

START_TEST(test_vmap_append_load)
{
	struct vmap_entry	 a = entry(C1, C2, "0.1.0");
	struct vmap_entry	 b = entry(C2, C1, "0.2.0");
	struct vmap		 m;
	char			*path, *cause = NULL;
	FILE			*f;

	path = xprintf("%s/versions.jsonl", dir);
	ck_assert_int_eq(vmap_load(&m, path, &cause), 0);	/* missing */
	ck_assert_uint_eq(m.n, 0);
	ck_assert_int_eq(vmap_append(path, &a, &cause), 0);
	/* A torn line (crash mid-write on a lying disk) is skipped. */
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs("{\"time\":\"2025-11-2\n", f);
	fclose(f);
	ck_assert_int_eq(vmap_append(path, &b, &cause), 0);
	ck_assert_int_eq(vmap_load(&m, path, &cause), 0);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.skipped, 1);
	ck_assert_str_eq(m.entries[0].dest_version, "0.1.0");
	ck_assert_str_eq(m.entries[1].dest_version, "0.2.0");
	ck_assert_ptr_eq(vmap_find(&m, C1, "0.2.0"), &m.entries[1]);
	ck_assert_ptr_null(vmap_find(&m, C1, "0.3.0"));
	ck_assert_ptr_null(vmap_find(&m, C1, NULL));
	ck_assert_ptr_null(vmap_find(&m, "ffff", "0.2.0"));
	vmap_clear(&m);
	vmap_entry_clear(&a);
	vmap_entry_clear(&b);
	free(path);
}
END_TEST

/* What a crash in the middle of an append leaves, mended before the
 * next append: a fragment moves to .torn, a whole record gets its
 * newline; a clean file is left alone. */
START_TEST(test_vmap_mend)
{
	struct vmap_entry	 a = entry(C1, C2, "0.1.0");
	struct vmap_entry	 b = entry(C2, C1, "0.2.0");
	struct vmap		 m;
	char			*path, *torn, *data, *json, *cause = NULL;
	char			*warning = NULL;
	FILE			*f;

	path = xprintf("%s/versions.jsonl", dir);
	torn = xprintf("%s.torn", path);
	ck_assert_int_eq(vmap_mend(path, &warning, &cause), 0);	/* missing */
	ck_assert_ptr_null(warning);
	ck_assert_int_eq(vmap_append(path, &a, &cause), 0);
	ck_assert_int_eq(vmap_mend(path, &warning, &cause), 0);
	ck_assert_ptr_null(warning);
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs("{\"time\":\"2025-11-2", f);
	fclose(f);
	ck_assert_int_eq(vmap_mend(path, &warning, &cause), 0);
	ck_assert_ptr_nonnull(strstr(warning, "a torn last line (18 bytes"));
	ck_assert_ptr_nonnull(strstr(warning, torn));
	free(warning);
	data = testutil_read(torn);
	ck_assert_str_eq(data, "{\"time\":\"2025-11-2\n");
	free(data);
	ck_assert_int_eq(vmap_append(path, &b, &cause), 0);
	ck_assert_int_eq(vmap_load(&m, path, &cause), 0);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.skipped, 0);
	vmap_clear(&m);

	/* A whole record without its newline keeps its place. */
	json = vmap_entry_json(&a);
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs(json, f);
	fclose(f);
	free(json);
	ck_assert_int_eq(vmap_mend(path, &warning, &cause), 0);
	ck_assert_ptr_nonnull(strstr(warning, "had no newline; added"));
	free(warning);
	ck_assert_int_eq(vmap_load(&m, path, &cause), 0);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_uint_eq(m.skipped, 0);
	vmap_clear(&m);
	vmap_entry_clear(&a);
	vmap_entry_clear(&b);
	free(torn);
	free(path);
}
END_TEST

/* One owner per state_dir: a second lock is refused while the first
 * descriptor is open, and granted once it is closed. */
START_TEST(test_lock)
{
	char	*sd, *cause = NULL;
	int	 fd1, fd2;

	sd = xprintf("%s/state", dir);
	ck_assert_int_eq(state_lock(sd, 0, &fd1, &cause),
	    STATE_LOCK_MISSING);
	ck_assert_int_eq(fd1, -1);
	ck_assert_int_eq(state_lock(sd, STATE_LOCK_CREATE, &fd1, &cause), 0);
	ck_assert_int_ge(fd1, 0);
	ck_assert_int_eq(state_lock(sd, STATE_LOCK_CREATE, &fd2, &cause),
	    STATE_LOCK_HELD);
	ck_assert_int_eq(fd2, -1);
	ck_assert_int_eq(state_lock(sd, 0, &fd2, &cause), STATE_LOCK_HELD);
	close(fd1);
	ck_assert_int_eq(state_lock(sd, 0, &fd2, &cause), 0);
	ck_assert_int_ge(fd2, 0);
	close(fd2);
	ck_assert_ptr_null(cause);
	free(sd);
}
END_TEST

START_TEST(test_lock_errors)
{
	char	*sd, *cause = NULL;
	int	 fd;

	/* A state_dir under a regular file cannot be made. */
	sd = xprintf("%s/file", dir);
	testutil_write(sd, "x", 0600);
	free(sd);
	sd = xprintf("%s/file/state", dir);
	ck_assert_int_eq(state_lock(sd, STATE_LOCK_CREATE, &fd, &cause), -1);
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strncmp(cause, "state_dir: ", 11) == 0, "%s", cause);
	free(cause);
	cause = NULL;
	/* A lock file that cannot be opened names its path. */
	ck_assert_int_eq(state_lock(sd, 0, &fd, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "/file/state/lock: ") != NULL, "%s",
	    cause);
	free(cause);
	free(sd);
}
END_TEST

Suite *
state_suite(void)
{
	Suite	*s = suite_create("state");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_route_dir);
	tcase_add_test(tc, test_route_roundtrip);
	tcase_add_test(tc, test_route_missing_is_empty);
	tcase_add_test(tc, test_route_newer_format);
	tcase_add_test(tc, test_route_corrupt_moved_aside);
	tcase_add_test(tc, test_error_is_redacted);
	tcase_add_test(tc, test_vmap_codec);
	tcase_add_test(tc, test_vmap_append_load);
	tcase_add_test(tc, test_vmap_mend);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_lock_errors);
	suite_add_tcase(s, tc);
	return s;
}
