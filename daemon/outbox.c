/* outbox.c: the notifications waiting for delivery, one file each under
 * state_dir/outbox/, written and fsync'd before any delivery is tried.
 *
 * A file per delivery: adding one is one atomic write, removing it one
 * unlink, and a file a crash or a disk tore is one lost event, moved
 * aside, never the whole queue. The order is the file names'.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomicfile.h"
#include "fileformat.h"
#include "log.h"
#include "outbox.h"
#include "xmalloc.h"

#define OUTBOX_SEQ_DIGITS	16
#define OUTBOX_SUFFIX		".json"

TAILQ_HEAD(outbox_items, outbox_item);

struct outbox {
	char			*dir;
	size_t			 max;
	outbox_drop_cb		 drop_cb;
	void			*drop_arg;
	struct outbox_items	 items;
	size_t			 n;
	uint64_t		 next_seq;
	uint64_t		 dropped;
	uint64_t		 corrupt;
	int			 made;		/* dir exists */
};

static void
outbox_item_free(struct outbox_item *it)
{
	free(it->sink_name);
	free(it->event);
	free(it->id);
	free(it->type);
	free(it);
}

static char *
outbox_path(const struct outbox *ob, uint64_t seq)
{
	return xprintf("%s/%0*llu" OUTBOX_SUFFIX, ob->dir, OUTBOX_SEQ_DIGITS,
	    (unsigned long long)seq);
}

static void
outbox_unlink(const struct outbox *ob, const struct outbox_item *it)
{
	char	*path = outbox_path(ob, it->seq);

	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("notify: cannot remove %s (it will be delivered "
		    "again after a restart)", path);
	free(path);
}

/* "SEQ.json": its SEQ, or 0. */
static uint64_t
outbox_name_seq(const char *name)
{
	uint64_t	 seq = 0;
	size_t		 i;

	for (i = 0; i < OUTBOX_SEQ_DIGITS; i++) {
		if (!isdigit((unsigned char)name[i]))
			return 0;
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	}
	if (strcmp(name + i, OUTBOX_SUFFIX) != 0)
		return 0;
	return seq;
}

/* "SEQ.json.XXXXXX": what a crash inside atomicfile_write() left. */
static int
outbox_name_temp(const char *name)
{
	size_t	 n = OUTBOX_SEQ_DIGITS + sizeof OUTBOX_SUFFIX - 1, i;

	if (strlen(name) != n + 7 || name[n] != '.')
		return 0;
	for (i = 0; i < OUTBOX_SEQ_DIGITS; i++)
		if (!isdigit((unsigned char)name[i]))
			return 0;
	if (strncmp(name + OUTBOX_SEQ_DIGITS, OUTBOX_SUFFIX,
	    sizeof OUTBOX_SUFFIX - 1) != 0)
		return 0;
	for (i = n + 1; i < n + 7; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

static int
outbox_hex_ok(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return 0;
	return s[len] == '\0';
}

/* A string member of o, or NULL. */
static const char *
outbox_str(const cJSON *o, const char *name)
{
	const cJSON	*j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) && j->valuestring[0] != '\0' ?
	    j->valuestring : NULL;
}

/* The item in text, or NULL and *why; *newer when it is of a newer
 * release's format (left alone, not damage). */
static struct outbox_item *
outbox_parse(const char *text, const char **why, int *newer)
{
	struct outbox_item	*it = NULL;
	cJSON			*top, *ev;
	const char		*sink, *name, *id, *type;
	char			*evtext, *fc = NULL;
	int			 fmt;

	*newer = 0;
	if ((top = cJSON_Parse(text)) == NULL || !cJSON_IsObject(top)) {
		*why = "not a JSON object";
		goto out;
	}
	fmt = fileformat_check(top, OUTBOX_FORMAT, "", &fc);
	free(fc);
	if (fmt != 0) {
		*newer = fmt == 1;
		*why = fmt == 1 ? "of a newer release's format" :
		    "a bad \"format\"";
		goto out;
	}
	sink = outbox_str(top, "sink");
	name = outbox_str(top, "sink_name");
	ev = cJSON_GetObjectItemCaseSensitive(top, "event");
	if (sink == NULL || !outbox_hex_ok(sink, OUTBOX_SINK_LEN)) {
		*why = "no sink id";
		goto out;
	}
	if (name == NULL || !cJSON_IsObject(ev)) {
		*why = "no sink name or no event";
		goto out;
	}
	if ((id = outbox_str(ev, "id")) == NULL ||
	    (type = outbox_str(ev, "event")) == NULL) {
		*why = "the event has no id or no type";
		goto out;
	}
	if ((evtext = cJSON_PrintUnformatted(ev)) == NULL)
		fatalx("cJSON: out of memory");
	it = xcalloc(1, sizeof *it);
	memcpy(it->sink, sink, OUTBOX_SINK_LEN + 1);
	it->sink_name = xstrdup(name);
	it->event = xstrdup(evtext);
	cJSON_free(evtext);
	it->id = xstrdup(id);
	it->type = xstrdup(type);
out:
	cJSON_Delete(top);
	return it;
}

/* A file that is no entry goes aside, said in one line. */
static void
outbox_aside(struct outbox *ob, const char *path, const char *why)
{
	char	*aside;

	ob->corrupt++;
	aside = xprintf("%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside) == -1)
		log_warnx("notify: outbox file %s is unusable (%s) and cannot "
		    "be moved aside: %s; left out", path, why,
		    strerror(errno));
	else
		log_warnx("notify: outbox file %s is unusable (%s); moved "
		    "aside to %s", path, why, aside);
	free(aside);
}

static int
outbox_seqcmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Past the cap, the oldest goes. */
static void
outbox_trim(struct outbox *ob)
{
	struct outbox_item	*it;

	while (ob->n > ob->max && (it = TAILQ_FIRST(&ob->items)) != NULL) {
		TAILQ_REMOVE(&ob->items, it, entry);
		ob->n--;
		ob->dropped++;
		log_warnx("notify: %s: event %s (%s) dropped: the outbox "
		    "holds %zu deliveries already", it->sink_name, it->id,
		    it->type, ob->max);
		if (ob->drop_cb != NULL)
			ob->drop_cb(it, ob->drop_arg);
		outbox_unlink(ob, it);
		outbox_item_free(it);
	}
}

static void
outbox_load(struct outbox *ob, DIR *d)
{
	struct dirent		*de;
	struct outbox_item	*it;
	uint64_t		*seqs = NULL, seq;
	size_t			 n = 0, cap = 0, i;
	const char		*why;
	char			*path, *text, *cause;
	int			 newer;

	while ((de = readdir(d)) != NULL) {
		if (outbox_name_temp(de->d_name)) {
			(void)unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if ((seq = outbox_name_seq(de->d_name)) == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			seqs = xreallocarray(seqs, cap, sizeof *seqs);
		}
		seqs[n++] = seq;
	}
	if (n > 0)
		qsort(seqs, n, sizeof *seqs, outbox_seqcmp);
	for (i = 0; i < n; i++) {
		path = outbox_path(ob, seqs[i]);
		cause = NULL;
		text = NULL;
		if (atomicfile_read(path, &text, NULL, OUTBOX_MAX_FILE,
		    &cause) == -1) {
			outbox_aside(ob, path, cause);
			free(cause);
		} else if ((it = outbox_parse(text, &why, &newer)) == NULL) {
			if (newer)
				log_warnx("notify: outbox file %s is %s; left "
				    "for that release", path, why);
			else
				outbox_aside(ob, path, why);
		}
		else {
			it->seq = seqs[i];
			TAILQ_INSERT_TAIL(&ob->items, it, entry);
			ob->n++;
		}
		free(text);
		free(path);
		if (seqs[i] >= ob->next_seq)
			ob->next_seq = seqs[i] + 1;
	}
	free(seqs);
	outbox_trim(ob);
}

int
outbox_open(struct outbox **out, const char *dir, size_t max,
    outbox_drop_cb drop_cb, void *arg, char **cause)
{
	struct outbox	*ob;
	DIR		*d;

	*out = NULL;
	ob = xcalloc(1, sizeof *ob);
	ob->dir = xstrdup(dir);
	ob->max = max > 0 ? max : 1;
	ob->drop_cb = drop_cb;
	ob->drop_arg = arg;
	ob->next_seq = 1;
	TAILQ_INIT(&ob->items);
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT) {
			xasprintf(cause, "cannot open the outbox %s: %s", dir,
			    strerror(errno));
			outbox_free(ob);
			return -1;
		}
	} else {
		ob->made = 1;
		outbox_load(ob, d);
		closedir(d);
	}
	*out = ob;
	return 0;
}

void
outbox_free(struct outbox *ob)
{
	struct outbox_item	*it;

	if (ob == NULL)
		return;
	while ((it = TAILQ_FIRST(&ob->items)) != NULL) {
		TAILQ_REMOVE(&ob->items, it, entry);
		outbox_item_free(it);
	}
	free(ob->dir);
	free(ob);
}

int
outbox_add(struct outbox *ob, const char *sink, const char *sink_name,
    const char *event, struct outbox_item **out, char **cause)
{
	struct outbox_item	*it;
	const char		*why = NULL;
	cJSON			*name;
	char			*qname, *text, *path;
	int			 rv, newer;

	if (out != NULL)
		*out = NULL;
	if ((name = cJSON_CreateString(sink_name)) == NULL ||
	    (qname = cJSON_PrintUnformatted(name)) == NULL)
		fatalx("cJSON: out of memory");
	cJSON_Delete(name);
	text = xprintf("{\"format\":%d,\"sink\":\"%s\",\"sink_name\":%s,"
	    "\"event\":%s}\n", OUTBOX_FORMAT, sink, qname, event);
	cJSON_free(qname);
	/* What is written is what a restart reads back. */
	if ((it = outbox_parse(text, &why, &newer)) == NULL) {
		xasprintf(cause, "cannot queue an event for %s: %s", sink_name,
		    why);
		free(text);
		return -1;
	}
	if (strlen(text) > OUTBOX_MAX_FILE) {
		xasprintf(cause, "cannot queue event %s for %s: larger than "
		    "%d bytes", it->id, sink_name, OUTBOX_MAX_FILE);
		outbox_item_free(it);
		free(text);
		return -1;
	}
	if (!ob->made) {
		if (atomicfile_mkdirs(ob->dir, 0700, cause) == -1) {
			outbox_item_free(it);
			free(text);
			return -1;
		}
		ob->made = 1;
	}
	it->seq = ob->next_seq++;
	path = outbox_path(ob, it->seq);
	rv = atomicfile_write(path, text, strlen(text), 0600, cause);
	free(path);
	free(text);
	if (rv == -1) {
		outbox_item_free(it);
		return -1;
	}
	TAILQ_INSERT_TAIL(&ob->items, it, entry);
	ob->n++;
	outbox_trim(ob);	/* max >= 1: it stays */
	if (out != NULL)
		*out = it;
	return 0;
}

void
outbox_remove(struct outbox *ob, struct outbox_item *it)
{
	TAILQ_REMOVE(&ob->items, it, entry);
	ob->n--;
	outbox_unlink(ob, it);
	outbox_item_free(it);
}

struct outbox_item *
outbox_first(struct outbox *ob)
{
	return TAILQ_FIRST(&ob->items);
}

struct outbox_item *
outbox_next(struct outbox_item *it)
{
	return TAILQ_NEXT(it, entry);
}

size_t
outbox_count(const struct outbox *ob)
{
	return ob->n;
}

uint64_t
outbox_dropped(const struct outbox *ob)
{
	return ob->dropped;
}

uint64_t
outbox_corrupt(const struct outbox *ob)
{
	return ob->corrupt;
}
