/* vmap.c: the version map, one JSON object per line, append-only.
 * Each record is one fsync'd write; a torn or foreign line is skipped
 * and counted, never fatal, so one bad line cannot hide the rest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomicfile.h"
#include "fileformat.h"
#include "vmap.h"
#include "xmalloc.h"

#define VMAP_MAX_SIZE	(256 * 1024 * 1024)

char *
vmap_time_format(int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

int
vmap_time_parse(const char *s, int64_t *t)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*t = (int64_t)timegm(&tm);
	return 0;
}

static void
vmap_add_str(cJSON *o, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

char *
vmap_entry_json(const struct vmap_entry *e)
{
	cJSON	*o;
	char	*t, *out;

	o = cJSON_CreateObject();
	fileformat_add(o, VMAP_FORMAT);
	t = vmap_time_format(e->time);
	cJSON_AddStringToObject(o, "time", t);
	free(t);
	vmap_add_str(o, "pair", e->pair);
	vmap_add_str(o, "source", e->source);
	vmap_add_str(o, "source_commit", e->source_commit);
	vmap_add_str(o, "source_version", e->source_version);
	vmap_add_str(o, "destination", e->destination);
	vmap_add_str(o, "dest_commit", e->dest_commit);
	vmap_add_str(o, "dest_version", e->dest_version);
	vmap_add_str(o, "build_id", e->build_id);
	if ((out = cJSON_PrintUnformatted(o)) == NULL)
		abort();
	cJSON_Delete(o);
	return out;
}

/* A string member, or NULL when absent or null; -1 on a wrong type. */
static int
vmap_get_str(const cJSON *o, const char *name, char **out, int required,
    char **cause)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		xasprintf(cause, "missing \"%s\"", name);
		return -1;
	}
	if (!cJSON_IsString(v)) {
		xasprintf(cause, "\"%s\" is not a string", name);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

int
vmap_entry_parse(struct vmap_entry *e, const char *line, char **cause)
{
	cJSON	*o;
	char	*t = NULL;
	int	 rv = -1;

	memset(e, 0, sizeof *e);
	if ((o = cJSON_Parse(line)) == NULL || !cJSON_IsObject(o)) {
		xasprintf(cause, "not a JSON object");
		goto out;
	}
	/* A newer release's line is skipped like a foreign one (and kept
	 * in the file for that release). */
	if (fileformat_check(o, VMAP_FORMAT, "the line", cause) != 0)
		goto out;
	if (vmap_get_str(o, "time", &t, 1, cause) == -1)
		goto out;
	if (vmap_time_parse(t, &e->time) == -1) {
		xasprintf(cause, "bad time \"%s\"", t);
		goto out;
	}
	if (vmap_get_str(o, "pair", &e->pair, 1, cause) == -1 ||
	    vmap_get_str(o, "source", &e->source, 1, cause) == -1 ||
	    vmap_get_str(o, "source_commit", &e->source_commit, 1,
	    cause) == -1 ||
	    vmap_get_str(o, "source_version", &e->source_version, 0,
	    cause) == -1 ||
	    vmap_get_str(o, "destination", &e->destination, 1, cause) == -1 ||
	    vmap_get_str(o, "dest_commit", &e->dest_commit, 1, cause) == -1 ||
	    vmap_get_str(o, "dest_version", &e->dest_version, 0,
	    cause) == -1 ||
	    vmap_get_str(o, "build_id", &e->build_id, 0, cause) == -1)
		goto out;
	rv = 0;
out:
	if (rv == -1)
		vmap_entry_clear(e);
	free(t);
	cJSON_Delete(o);
	return rv;
}

void
vmap_entry_clear(struct vmap_entry *e)
{
	free(e->pair);
	free(e->source);
	free(e->source_commit);
	free(e->source_version);
	free(e->destination);
	free(e->dest_commit);
	free(e->dest_version);
	free(e->build_id);
	memset(e, 0, sizeof *e);
}

/*
 * A last line without its newline is what a crash in the middle of an
 * append leaves; the next line appended would be glued to it and lost
 * with it. A whole record there (a hand edit without the final newline)
 * gets its newline; a fragment is moved to PATH.torn and cut off. Call
 * before appending. 0 (*warning says what was mended, if anything), or
 * -1 with *cause.
 */
int
vmap_mend(const char *path, char **warning, char **cause)
{
	struct vmap_entry	 e;
	char			*data = NULL, *frag, *torn, *why = NULL;
	size_t			 len, flen;
	int			 fd, rv = -1;

	*warning = NULL;
	if (atomicfile_read(path, &data, &len, VMAP_MAX_SIZE, cause) == -1) {
		if (errno != ENOENT)
			return -1;
		free(*cause);
		*cause = NULL;
		return 0;
	}
	if (len == 0 || data[len - 1] == '\n') {
		free(data);
		return 0;
	}
	frag = memrchr(data, '\n', len);
	frag = frag != NULL ? frag + 1 : data;
	flen = len - (size_t)(frag - data);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1) {
		xasprintf(cause, "open %s: %s", path, strerror(errno));
		free(data);
		return -1;
	}
	if (vmap_entry_parse(&e, frag, &why) == 0) {
		vmap_entry_clear(&e);
		if (write(fd, "\n", 1) != 1 || fsync(fd) == -1)
			xasprintf(cause, "append to %s: %s", path,
			    strerror(errno));
		else {
			xasprintf(warning, "%s: its last line had no newline; "
			    "added", path);
			rv = 0;
		}
		goto out;
	}
	free(why);
	torn = xprintf("%s.torn", path);
	frag[flen] = '\n';	/* over the terminating NUL */
	if (atomicfile_append(torn, frag, flen + 1, cause) == 0) {
		if (ftruncate(fd, (off_t)(len - flen)) == -1 ||
		    fsync(fd) == -1)
			xasprintf(cause, "cut the torn last line of %s: %s",
			    path, strerror(errno));
		else {
			xasprintf(warning, "%s: a torn last line (%zu bytes, "
			    "left by an interrupted write) was moved to %s",
			    path, flen, torn);
			rv = 0;
		}
	}
	free(torn);
out:
	close(fd);
	free(data);
	return rv;
}

int
vmap_append(const char *path, const struct vmap_entry *e, char **cause)
{
	char	*json, *line;
	int	 rv;

	json = vmap_entry_json(e);
	xasprintf(&line, "%s\n", json);
	rv = atomicfile_append(path, line, strlen(line), cause);
	free(line);
	free(json);
	return rv;
}

int
vmap_load(struct vmap *m, const char *path, char **cause)
{
	char			*data = NULL, *line, *next, *why = NULL;
	struct vmap_entry	 e;
	size_t			 len;

	memset(m, 0, sizeof *m);
	if (atomicfile_read(path, &data, &len, VMAP_MAX_SIZE, cause) == -1) {
		if (errno != ENOENT)
			return -1;
		free(*cause);
		*cause = NULL;
		return 0;	/* no promotion yet */
	}
	for (line = data; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0')
			continue;
		if (vmap_entry_parse(&e, line, &why) == -1) {
			free(why);
			why = NULL;
			m->skipped++;
			continue;
		}
		m->entries = xreallocarray(m->entries, m->n + 1,
		    sizeof *m->entries);
		m->entries[m->n++] = e;
	}
	free(data);
	return 0;
}

void
vmap_clear(struct vmap *m)
{
	size_t	 i;

	for (i = 0; i < m->n; i++)
		vmap_entry_clear(&m->entries[i]);
	free(m->entries);
	memset(m, 0, sizeof *m);
}

/* The newest entry recording dest_commit as dest_version (NULL: as no
 * version): a destination recreated by hand may publish the same commit
 * again under another number, which is a new fact worth a line. */
const struct vmap_entry *
vmap_find(const struct vmap *m, const char *dest_commit,
    const char *dest_version)
{
	const struct vmap_entry	*e;
	size_t			 i;

	for (i = m->n; i-- > 0;) {
		e = &m->entries[i];
		if (strcmp(e->dest_commit, dest_commit) != 0)
			continue;
		if (dest_version == NULL ? e->dest_version == NULL :
		    e->dest_version != NULL &&
		    strcmp(e->dest_version, dest_version) == 0)
			return e;
	}
	return NULL;
}
