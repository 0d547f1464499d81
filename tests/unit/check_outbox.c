/* check_outbox.c: the notifications' persistent outbox (outbox.c): order
 * across reopenings, the cap, files that are not entries. */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"
#include "testutil.h"
#include "xmalloc.h"

#define SINK_A	"0123456789abcdef0123456789abcdef"
#define SINK_B	"fedcba9876543210fedcba9876543210"

static char	*tmp, *dir, *logpath;

static void
setup(void)
{
	char	*cause = NULL;

	tmp = testutil_tmpdir();
	dir = xprintf("%s/state/outbox", tmp);
	logpath = xprintf("%s/log", tmp);
	log_init(LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_open_file(logpath, &cause), 0);
}

static void
teardown(void)
{
	log_close();
	testutil_rmtree(tmp);
	free(tmp);
	free(dir);
	free(logpath);
}

static char *
event(int i)
{
	return xprintf("{\"id\":\"id%d\",\"event\":\"promoted\",\"n\":%d}", i,
	    i);
}

static struct outbox *
open_ok(size_t max)
{
	struct outbox	*ob = NULL;
	char		*cause = NULL;

	ck_assert_msg(outbox_open(&ob, dir, max, NULL, NULL, &cause) == 0,
	    "%s", cause);
	return ob;
}

static void
add_ok(struct outbox *ob, const char *sink, int i)
{
	struct outbox_item	*it = NULL;
	char			*ev = event(i), *cause = NULL;

	ck_assert_msg(outbox_add(ob, sink, "http://hook", ev, &it, &cause) ==
	    0, "%s", cause);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(it->event, ev);
	free(ev);
}

/* The ids in the outbox, in order, as "id1 id2". */
static char *
ids(struct outbox *ob)
{
	struct outbox_item	*it;
	char			*s = xstrdup(""), *t;

	for (it = outbox_first(ob); it != NULL; it = outbox_next(it)) {
		t = xprintf("%s%s%s", s, *s != '\0' ? " " : "", it->id);
		free(s);
		s = t;
	}
	return s;
}

static size_t
files(const char *suffix)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strstr(de->d_name, suffix) != NULL)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_survives_reopen)
{
	struct outbox		*ob = open_ok(OUTBOX_MAX);
	struct outbox_item	*it;
	struct stat		 sb;
	char			*s;

	/* Nothing made until there is something to keep. */
	ck_assert_int_eq(stat(dir, &sb), -1);
	add_ok(ob, SINK_A, 1);
	add_ok(ob, SINK_B, 2);
	add_ok(ob, SINK_A, 3);
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	ck_assert_uint_eq(files(".json"), 3);
	outbox_free(ob);

	ob = open_ok(OUTBOX_MAX);
	ck_assert_uint_eq(outbox_count(ob), 3);
	s = ids(ob);
	ck_assert_str_eq(s, "id1 id2 id3");
	free(s);
	it = outbox_first(ob);
	ck_assert_str_eq(it->sink, SINK_A);
	ck_assert_str_eq(it->sink_name, "http://hook");
	ck_assert_str_eq(it->type, "promoted");
	ck_assert_str_eq(it->event,
	    "{\"id\":\"id1\",\"event\":\"promoted\",\"n\":1}");
	ck_assert_str_eq(outbox_next(it)->sink, SINK_B);

	/* Removed is gone for good; new ones come after the old. */
	outbox_remove(ob, outbox_next(it));
	ck_assert_uint_eq(files(".json"), 2);
	add_ok(ob, SINK_B, 4);
	outbox_free(ob);
	ob = open_ok(OUTBOX_MAX);
	s = ids(ob);
	ck_assert_str_eq(s, "id1 id3 id4");
	free(s);
	add_ok(ob, SINK_B, 5);
	outbox_free(ob);
	ob = open_ok(OUTBOX_MAX);
	s = ids(ob);
	ck_assert_str_eq(s, "id1 id3 id4 id5");
	free(s);
	ck_assert_uint_eq(outbox_dropped(ob), 0);
	ck_assert_uint_eq(outbox_corrupt(ob), 0);
	outbox_free(ob);
	outbox_free(NULL);
}
END_TEST

static char	 dropped_ids[256];

static void
drop_cb(struct outbox_item *it, void *arg)
{
	size_t	 n = strlen(dropped_ids);

	(*(int *)arg)++;
	snprintf(dropped_ids + n, sizeof dropped_ids - n, "%s", it->id);
}

START_TEST(test_cap_drops_oldest)
{
	struct outbox	*ob = NULL;
	char		*cause = NULL, *s, *text;
	int		 calls = 0, i;

	dropped_ids[0] = '\0';
	ck_assert_int_eq(outbox_open(&ob, dir, 3, drop_cb, &calls, &cause),
	    0);
	for (i = 1; i <= 5; i++)
		add_ok(ob, SINK_A, i);
	ck_assert_int_eq(calls, 2);
	ck_assert_str_eq(dropped_ids, "id1id2");
	ck_assert_uint_eq(outbox_dropped(ob), 2);
	ck_assert_uint_eq(outbox_count(ob), 3);
	ck_assert_uint_eq(files(".json"), 3);
	s = ids(ob);
	ck_assert_str_eq(s, "id3 id4 id5");
	free(s);
	outbox_free(ob);

	/* A smaller cap at the open trims what is on disk, oldest first. */
	calls = 0;
	ck_assert_int_eq(outbox_open(&ob, dir, 1, drop_cb, &calls, &cause),
	    0);
	ck_assert_int_eq(calls, 2);
	s = ids(ob);
	ck_assert_str_eq(s, "id5");
	free(s);
	ck_assert_uint_eq(files(".json"), 1);
	outbox_free(ob);
	text = testutil_read(logpath);
	ck_assert_ptr_nonnull(strstr(text, "warn: notify: http://hook: event "
	    "id1 (promoted) dropped: the outbox holds 3 deliveries already"));
	free(text);
}
END_TEST

START_TEST(test_corrupt_moved_aside)
{
	struct outbox	*ob = open_ok(OUTBOX_MAX);
	char		*path, *s, *text, *want;

	add_ok(ob, SINK_A, 1);
	add_ok(ob, SINK_A, 2);
	add_ok(ob, SINK_A, 3);
	add_ok(ob, SINK_A, 4);
	outbox_free(ob);
	/* Torn, not an entry, an unknown sink id, and a temp file. */
	path = xprintf("%s/0000000000000002.json", dir);
	testutil_write(path, "{\"sink\":\"" SINK_A "\",\"sink_na", 0600);
	free(path);
	path = xprintf("%s/0000000000000003.json", dir);
	testutil_write(path, "{\"sink\":\"" SINK_A "\",\"sink_name\":\"x\","
	    "\"event\":{\"event\":\"failed\"}}", 0600);
	free(path);
	path = xprintf("%s/0000000000000004.json", dir);
	testutil_write(path, "{\"sink\":\"NOTHEX\",\"sink_name\":\"x\","
	    "\"event\":{\"id\":\"a\",\"event\":\"failed\"}}", 0600);
	free(path);
	path = xprintf("%s/0000000000000009.json.Ab12Cd", dir);
	testutil_write(path, "half", 0600);
	free(path);
	path = xprintf("%s/README", dir);
	testutil_write(path, "not ours", 0600);
	free(path);

	ob = open_ok(OUTBOX_MAX);
	s = ids(ob);
	ck_assert_str_eq(s, "id1");
	free(s);
	ck_assert_uint_eq(outbox_corrupt(ob), 3);
	ck_assert_uint_eq(files(".corrupt-"), 3);
	ck_assert_uint_eq(files(".Ab12Cd"), 0);
	ck_assert_uint_eq(files("README"), 1);
	/* The numbering goes on past every file seen. */
	add_ok(ob, SINK_B, 5);
	ck_assert_uint_eq(outbox_first(ob)->seq, 1);
	ck_assert_uint_eq(outbox_next(outbox_first(ob))->seq, 5);
	outbox_free(ob);

	text = testutil_read(logpath);
	want = xprintf("warn: notify: outbox file %s/0000000000000002.json "
	    "is unusable (not a JSON object); moved aside to %s/"
	    "0000000000000002.json.corrupt-", dir, dir);
	ck_assert_msg(strstr(text, want) != NULL, "%s", text);
	free(want);
	ck_assert_ptr_nonnull(strstr(text, "0000000000000003.json is unusable "
	    "(the event has no id or no type)"));
	ck_assert_ptr_nonnull(strstr(text, "0000000000000004.json is unusable "
	    "(no sink id)"));
	free(text);

	/* Moved aside means seen once: the next open is quiet. */
	ob = open_ok(OUTBOX_MAX);
	ck_assert_uint_eq(outbox_corrupt(ob), 0);
	ck_assert_uint_eq(outbox_count(ob), 2);
	outbox_free(ob);
}
END_TEST

START_TEST(test_unwritable)
{
	struct outbox	*ob = NULL;
	char		*cause = NULL, *ev = event(1), *file;

	/* An event that is no event is refused, nothing written. */
	ob = open_ok(OUTBOX_MAX);
	ck_assert_int_eq(outbox_add(ob, SINK_A, "http://hook",
	    "{\"event\":\"x\"}", NULL, &cause), -1);
	ck_assert_str_eq(cause, "cannot queue an event for http://hook: the "
	    "event has no id or no type");
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(outbox_count(ob), 0);
	outbox_free(ob);

	/* The state_dir became a file: the add fails, says where. */
	ob = open_ok(OUTBOX_MAX);
	file = xprintf("%s/state", tmp);
	testutil_write(file, "x", 0600);
	ck_assert_int_eq(outbox_add(ob, SINK_A, "http://hook", ev, NULL,
	    &cause), -1);
	ck_assert_msg(strstr(cause, dir) != NULL, "%s", cause);
	free(cause);
	ck_assert_uint_eq(outbox_count(ob), 0);
	outbox_free(ob);

	/* A directory that cannot be listed. */
	free(dir);
	dir = xprintf("%s/outbox", file);
	cause = NULL;
	ck_assert_int_eq(outbox_open(&ob, dir, 1, NULL, NULL, &cause), -1);
	ck_assert_ptr_null(ob);
	ck_assert_ptr_nonnull(strstr(cause, "cannot open the outbox"));
	free(cause);
	free(file);
	free(ev);
}
END_TEST

Suite *
outbox_suite(void)
{
	Suite	*s = suite_create("outbox");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_survives_reopen);
	tcase_add_test(tc, test_cap_drops_oldest);
	tcase_add_test(tc, test_corrupt_moved_aside);
	tcase_add_test(tc, test_unwritable);
	suite_add_tcase(s, tc);
	return s;
}
