/* outbox.h: the notifications waiting for delivery, one file each under
 * state_dir/outbox/, written and fsync'd before any delivery is tried. */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#define OUTBOX_FORMAT		1		/* of each file (fileformat.h) */
#define OUTBOX_MAX		1000		/* pending deliveries kept */
#define OUTBOX_MAX_FILE		(256 * 1024)	/* bytes of one file */
#define OUTBOX_SINK_LEN		32		/* hex digits of a sink id */

/*
 * One pending delivery: an event for one sink. The file is
 * "SEQ.json" (SEQ: 16 digits, the order of emission, kept across
 * restarts) holding {"sink": ID, "sink_name": NAME, "event": EVENT}.
 */
struct outbox_item {
	TAILQ_ENTRY(outbox_item) entry;
	uint64_t		 seq;
	char			 sink[OUTBOX_SINK_LEN + 1];
	char			*sink_name;	/* for messages */
	char			*event;		/* the event's JSON text */
	char			*id;		/* the event's id */
	char			*type;		/* and its "event" */
	void			*busy;		/* the caller's try in flight,
						 * or NULL */
};

struct outbox;

/* Called for an item the cap pushes out, just before it is removed. */
typedef void	(*outbox_drop_cb)(struct outbox_item *, void *arg);

/*
 * Opens the outbox in dir (created at the first add when absent) and
 * loads what it holds, oldest first. A file that cannot be read or is
 * not an outbox entry is renamed NAME.corrupt-TIME and logged in one
 * line; the others load. At most max items are kept: past it the
 * oldest is dropped (drop_cb, a log line, counted). -1 and *cause only
 * when dir exists but cannot be listed.
 */
int	 outbox_open(struct outbox **, const char *dir, size_t max,
	    outbox_drop_cb, void *arg, char **cause);
/* Frees the outbox in memory; the files stay for the next open. */
void	 outbox_free(struct outbox *);

/*
 * Queues event (JSON text holding "id" and "event") for sink, the file
 * written, fsync'd and renamed into place before it returns. *out (may
 * be NULL) is the new item. -1 and *cause when it cannot be written:
 * nothing is queued then.
 */
int	 outbox_add(struct outbox *, const char *sink, const char *sink_name,
	    const char *event, struct outbox_item **out, char **cause);
/* Delivered, dropped or abandoned: the file goes, the item is freed. */
void	 outbox_remove(struct outbox *, struct outbox_item *);

struct outbox_item *outbox_first(struct outbox *);
struct outbox_item *outbox_next(struct outbox_item *);
size_t	 outbox_count(const struct outbox *);
/* Items the cap pushed out, and files moved aside, since the open. */
uint64_t outbox_dropped(const struct outbox *);
uint64_t outbox_corrupt(const struct outbox *);

#endif
