/* fuzz_state.c: a route's state.json as the daemon and algopromotectl
 * read it back (state_route_peek): a state, or "corrupt (why)"; what was
 * read is written and read again unchanged; approve and retry on it. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "state.h"

static int
fuzz_state_streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Two states hold the same. */
static int
fuzz_state_same(const struct state_route *a, const struct state_route *b)
{
	return fuzz_state_streq(a->pair, b->pair) &&
	    fuzz_state_streq(a->source, b->source) &&
	    fuzz_state_streq(a->destination, b->destination) &&
	    a->phase == b->phase &&
	    fuzz_state_streq(a->last_source_commit, b->last_source_commit) &&
	    fuzz_state_streq(a->last_source_version,
	    b->last_source_version) &&
	    fuzz_state_streq(a->last_dest_commit, b->last_dest_commit) &&
	    fuzz_state_streq(a->last_dest_version, b->last_dest_version) &&
	    a->last_time == b->last_time &&
	    fuzz_state_streq(a->pending_source_commit,
	    b->pending_source_commit) &&
	    fuzz_state_streq(a->pending_source_version,
	    b->pending_source_version) &&
	    fuzz_state_streq(a->pending_dest_commit,
	    b->pending_dest_commit) &&
	    fuzz_state_streq(a->pending_build_id, b->pending_build_id) &&
	    fuzz_state_streq(a->failed_source_commit,
	    b->failed_source_commit) &&
	    fuzz_state_streq(a->approved_source_commit,
	    b->approved_source_commit) &&
	    fuzz_state_streq(a->error, b->error) &&
	    a->error_permanent == b->error_permanent &&
	    a->error_time == b->error_time &&
	    fuzz_state_streq(a->build_log, b->build_log) &&
	    a->updated == b->updated;
}

static void
fuzz_state_roundtrip(const struct state_route *s)
{
	struct state_route	 back;
	cJSON			*o, *p;
	char			*text, *cause = NULL;

	o = state_route_to_json(s);
	FUZZ_ASSERT(o != NULL, "no JSON");
	text = cJSON_Print(o);
	FUZZ_ASSERT(text != NULL, "cannot print");
	p = cJSON_Parse(text);
	FUZZ_ASSERT(state_route_from_json(&back, p, &cause) == 0,
	    "what we write we cannot read: %s\n%s", cause, text);
	FUZZ_ASSERT(fuzz_state_same(s, &back), "read back differently:\n%s",
	    text);
	state_route_clear(&back);
	cJSON_Delete(p);
	cJSON_free(text);
	cJSON_Delete(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		*dir, *path;
	struct state_route	 s;
	char			*cause = NULL, *msg = NULL;
	int			 approve;

	if (dir == NULL) {
		dir = fuzz_path("route");
		if (mkdir(dir, 0700) == -1)
			abort();
		path = fuzz_path("route/state.json");
	}
	fuzz_write(path, data, size, 0600);
	if (state_route_peek(&s, dir, &cause) != 0) {
		FUZZ_ASSERT(cause != NULL && strchr(cause, '\n') == NULL,
		    "bad cause");
		free(cause);
		return 0;
	}
	fuzz_state_roundtrip(&s);
	for (approve = 1; approve >= 0; approve--) {
		(void)state_route_operate(&s, approve, &msg);
		FUZZ_ASSERT(msg != NULL, "no message");
		free(msg);
		fuzz_state_roundtrip(&s);
	}
	state_route_clear(&s);
	return 0;
}
