/* metrics.h: the Prometheus text exposition format (0.0.4) and histograms.
 * Writes families, samples and label sets that a scraper always accepts. */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growing text buffer; { 0 } is an empty one.  data is NUL-terminated
 * once anything was written.
 *
 * A reader that takes the text in pieces sets slice (the bytes it takes
 * at once) before handing the buffer to a writer; such a writer may
 * write a first piece and leave more, done and arg (metrics_buf_defer)
 * for the rest.  The reader then empties data, calls more() for about
 * slice bytes at a time until it returns 0 (the last piece written),
 * and calls done() in any case once, when it stops.
 */
struct metrics_buf {
	char	*data;
	size_t	 len, cap;
	size_t	 slice;
	int	(*more)(void *arg, struct metrics_buf *);
	void	(*done)(void *arg);
	void	*arg;
};

void	 metrics_buf_free(struct metrics_buf *);
/* Text already in the format (another buffer's), as it is. */
void	 metrics_buf_append(struct metrics_buf *, const char *, size_t);
void	 metrics_buf_defer(struct metrics_buf *, int (*more)(void *,
	    struct metrics_buf *), void (*done)(void *), void *arg);
/* Everything a deferred writer has left, written now; then done(). */
void	 metrics_buf_finish(struct metrics_buf *);

void	 metrics_family(struct metrics_buf *, const char *name,
	    const char *type, const char *help);
void	 metrics_sample(struct metrics_buf *, const char *name,
	    const char *labels, double value);
/* name{labels,lname="lvalue"}: one label more than labels. */
void	 metrics_sample_label(struct metrics_buf *, const char *name,
	    const char *labels, const char *lname, const char *lvalue,
	    double value);
char	*metrics_label(const char *name, const char *value);
/* name="value" added to the buffer, as metrics_label() makes it. */
void	 metrics_buf_label(struct metrics_buf *, const char *name,
	    const char *value);
char	*metrics_labels(const char *name, const char *value, ...)
	    __attribute__((sentinel));
void	 metrics_format_value(char *, size_t, double);

/*
 * Durations in seconds.  Upper bounds 0.005 .01 .025 .05 .1 .25 .5 1 2.5
 * 5 10 30 60 120 300 600 1800 and +Inf; buckets[i] counts the observations
 * that fell in bucket i alone, the output is cumulative.  { 0 } is empty.
 * metrics_histo_observe() may run in any thread, also during a write.
 */
#define METRICS_NBUCKETS	18
#define METRICS_VALUE_MAX	32	/* room for any formatted value */

struct metrics_histo {
	uint64_t	 buckets[METRICS_NBUCKETS];
	uint64_t	 count;
	double		 sum;
};

extern const double metrics_bounds[METRICS_NBUCKETS];

void	 metrics_histo_observe(struct metrics_histo *, double seconds);
void	 metrics_histo_write(struct metrics_buf *, const char *name,
	    const char *labels, const struct metrics_histo *);
/* to += from, read as metrics_histo_write() reads (observers may run). */
void	 metrics_histo_add(struct metrics_histo *to,
	    const struct metrics_histo *from);

#endif
