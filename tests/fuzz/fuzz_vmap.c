/* fuzz_vmap.c: the version map (versions.jsonl) as read back: readable
 * lines kept, others counted, never fatal; each record read is written
 * and read again unchanged; mending a torn last line loses no record. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmap.h"

static int
fuzz_vmap_streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void
fuzz_vmap_roundtrip(const struct vmap_entry *e)
{
	struct vmap_entry	 back;
	char			*line, *cause = NULL;

	line = vmap_entry_json(e);
	FUZZ_ASSERT(strchr(line, '\n') == NULL, "not one line: %s", line);
	FUZZ_ASSERT(vmap_entry_parse(&back, line, &cause) == 0,
	    "what we write we cannot read: %s: %s", cause, line);
	FUZZ_ASSERT(back.time == e->time &&
	    fuzz_vmap_streq(back.pair, e->pair) &&
	    fuzz_vmap_streq(back.source, e->source) &&
	    fuzz_vmap_streq(back.source_commit, e->source_commit) &&
	    fuzz_vmap_streq(back.source_version, e->source_version) &&
	    fuzz_vmap_streq(back.destination, e->destination) &&
	    fuzz_vmap_streq(back.dest_commit, e->dest_commit) &&
	    fuzz_vmap_streq(back.dest_version, e->dest_version) &&
	    fuzz_vmap_streq(back.build_id, e->build_id),
	    "read back differently: %s", line);
	vmap_entry_clear(&back);
	free(line);
}

/* What vmap_mend() leaves: a file that is empty or ends in a newline,
 * holding every record it held; untouched when it was whole. */
static void
fuzz_vmap_mend(const char *path, const char *torn, const uint8_t *data,
    size_t size, size_t n)
{
	struct vmap	 m;
	struct stat	 sb;
	char		*warning = NULL, *cause = NULL, last;
	int		 fd;

	FUZZ_ASSERT(vmap_mend(path, &warning, &cause) == 0, "mend: %s",
	    cause);
	FUZZ_ASSERT(stat(path, &sb) == 0, "map gone");
	if (size == 0 || data[size - 1] == '\n')
		FUZZ_ASSERT(warning == NULL && (size_t)sb.st_size == size,
		    "a whole map was changed");
	else {
		FUZZ_ASSERT(warning != NULL && strchr(warning, '\n') == NULL,
		    "mended without a one-line warning");
		if (sb.st_size > 0) {
			FUZZ_ASSERT((fd = open(path, O_RDONLY)) != -1 &&
			    pread(fd, &last, 1, sb.st_size - 1) == 1,
			    "cannot read the map");
			close(fd);
			FUZZ_ASSERT(last == '\n', "still no final newline");
		}
	}
	free(warning);
	FUZZ_ASSERT(vmap_load(&m, path, &cause) == 0, "load: %s", cause);
	FUZZ_ASSERT(m.n == n, "%zu records before mending, %zu after", n,
	    m.n);
	vmap_clear(&m);
	unlink(torn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	*path, *torn;
	struct vmap	 m;
	char		*cause = NULL;
	size_t		 i, n;

	if (path == NULL) {
		path = fuzz_path("versions.jsonl");
		torn = fuzz_path("versions.jsonl.torn");
	}
	fuzz_write(path, data, size, 0600);
	FUZZ_ASSERT(vmap_load(&m, path, &cause) == 0, "load: %s", cause);
	for (i = 0; i < m.n; i++) {
		fuzz_vmap_roundtrip(&m.entries[i]);
		FUZZ_ASSERT(vmap_find(&m, m.entries[i].dest_commit,
		    m.entries[i].dest_version) != NULL, "entry %zu not found",
		    i);
	}
	n = m.n;
	vmap_clear(&m);
	fuzz_vmap_mend(path, torn, data, size, n);
	return 0;
}
