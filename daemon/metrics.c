/* metrics.c: the Prometheus text exposition format (0.0.4) and histograms.
 * Writes families, samples and label sets that a scraper always accepts. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xmalloc.h"

/*
 * Whatever the caller passes, the output stays valid: a character a name
 * may not hold becomes '_', help text and label values are escaped, and
 * bytes that are not UTF-8 become U+FFFD.  Names are the program's own
 * constants, so a rewritten one is a bug the tests see, not a lost scrape.
 */

const double metrics_bounds[METRICS_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
	300, 600, 1800, INFINITY
};

static void
metrics_buf_reserve(struct metrics_buf *b, size_t more)
{
	size_t	 cap;

	if (more < b->cap - b->len)	/* and one left for the NUL */
		return;
	cap = b->cap != 0 ? b->cap : 256;
	while (cap - b->len <= more)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

static void
metrics_buf_add(struct metrics_buf *b, const char *s, size_t n)
{
	metrics_buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
metrics_buf_adds(struct metrics_buf *b, const char *s)
{
	metrics_buf_add(b, s, strlen(s));
}

static void
metrics_buf_addc(struct metrics_buf *b, char c)
{
	metrics_buf_add(b, &c, 1);
}

void
metrics_buf_free(struct metrics_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
metrics_buf_append(struct metrics_buf *b, const char *s, size_t n)
{
	metrics_buf_add(b, s, n);
}

void
metrics_buf_defer(struct metrics_buf *b, int (*more)(void *,
    struct metrics_buf *), void (*done)(void *), void *arg)
{
	b->more = more;
	b->done = done;
	b->arg = arg;
}

void
metrics_buf_finish(struct metrics_buf *b)
{
	int	(*more)(void *, struct metrics_buf *) = b->more;
	void	(*done)(void *) = b->done;
	void	*arg = b->arg;

	if (more == NULL)
		return;
	b->more = NULL;
	b->done = NULL;
	b->arg = NULL;
	while (more(arg, b) != 0)
		/* the next piece */;
	if (done != NULL)
		done(arg);
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names have no ':'. */
static int
metrics_name_char(const char *p, const char *name, int label)
{
	char	 c = *p;

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    c == '_' || (c == ':' && !label) ||
	    (c >= '0' && c <= '9' && p != name);
}

/* Runs of good characters are added at once: /metrics is mostly names. */
static void
metrics_add_name(struct metrics_buf *b, const char *name, int label)
{
	const char	*p, *run;

	if (*name == '\0') {
		metrics_buf_addc(b, '_');
		return;
	}
	for (p = run = name; *p != '\0'; p++) {
		if (metrics_name_char(p, name, label))
			continue;
		metrics_buf_add(b, run, (size_t)(p - run));
		metrics_buf_addc(b, '_');
		run = p + 1;
	}
	metrics_buf_add(b, run, (size_t)(p - run));
}

/* The length of the well-formed UTF-8 sequence at p, 0 if there is none
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t
metrics_utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Help text escapes \ and newline; a label value also escapes '"'.
 * Runs of printable ASCII that need no escape are added at once. */
static void
metrics_add_escaped(struct metrics_buf *b, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	size_t		 n;

	while (*p != '\0') {
		for (run = p; *p >= 0x20 && *p < 0x80 && *p != '\\' &&
		    !(*p == '"' && quote); p++)
			/* plain */;
		if (p > run)
			metrics_buf_add(b, (const char *)run,
			    (size_t)(p - run));
		if (*p == '\0')
			break;
		if ((n = metrics_utf8_len(p)) == 0) {
			metrics_buf_adds(b, "\xef\xbf\xbd");	/* U+FFFD */
			p++;
			continue;
		}
		if (*p == '\\')
			metrics_buf_adds(b, "\\\\");
		else if (*p == '\n')
			metrics_buf_adds(b, "\\n");
		else if (*p == '"' && quote)
			metrics_buf_adds(b, "\\\"");
		else
			metrics_buf_add(b, (const char *)p, n);
		p += n;
	}
}

/*
 * What Go's ParseFloat reads back to the same double: integral values as
 * plain digits, others in the fewest significant digits that round-trip,
 * and NaN, +Inf, -Inf spelled as Prometheus does.  The decimal point is
 * '.' whatever LC_NUMERIC says.
 */
void
metrics_format_value(char *buf, size_t size, double v)
{
	char	*p;
	int	 prec;

	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(buf, size, "0");	/* and not "-0" */
		return;
	}
	if (v == trunc(v) && fabs(v) < 0x1p63) {
		snprintf(buf, size, "%.0f", v);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(buf, size, "%.17g", v);
	for (p = buf; *p != '\0'; p++)
		if (strchr("0123456789+-eE", *p) == NULL)
			*p = '.';
}

static void
metrics_add_value(struct metrics_buf *b, double v)
{
	char	 buf[METRICS_VALUE_MAX];

	metrics_format_value(buf, sizeof buf, v);
	metrics_buf_adds(b, buf);
}

void
metrics_family(struct metrics_buf *b, const char *name, const char *type,
    const char *help)
{
	static const char *const types[] = {
		"counter", "gauge", "histogram", "summary", "untyped"
	};
	size_t	 i;

	if (help != NULL) {
		metrics_buf_adds(b, "# HELP ");
		metrics_add_name(b, name, 0);
		metrics_buf_addc(b, ' ');
		metrics_add_escaped(b, help, 0);
		metrics_buf_addc(b, '\n');
	}
	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (type != NULL && strcmp(type, types[i]) == 0)
			break;
	metrics_buf_adds(b, "# TYPE ");
	metrics_add_name(b, name, 0);
	metrics_buf_addc(b, ' ');
	metrics_buf_adds(b, i < sizeof types / sizeof types[0] ? types[i] :
	    "untyped");
	metrics_buf_addc(b, '\n');
}

static void	metrics_add_label(struct metrics_buf *, const char *,
		    const char *);

/* name+suffix{labels,xname="xvalue"} value; xname "le" for buckets. */
static void
metrics_line(struct metrics_buf *b, const char *name, const char *suffix,
    const char *labels, const char *xname, const char *xvalue, double v)
{
	int	 have = labels != NULL && *labels != '\0';

	metrics_add_name(b, name, 0);
	metrics_buf_adds(b, suffix);
	if (have || xname != NULL) {
		metrics_buf_addc(b, '{');
		if (have)
			metrics_buf_adds(b, labels);
		if (xname != NULL) {
			if (have)
				metrics_buf_addc(b, ',');
			metrics_add_label(b, xname, xvalue);
		}
		metrics_buf_addc(b, '}');
	}
	metrics_buf_addc(b, ' ');
	metrics_add_value(b, v);
	metrics_buf_addc(b, '\n');
}

void
metrics_sample(struct metrics_buf *b, const char *name, const char *labels,
    double v)
{
	metrics_line(b, name, "", labels, NULL, NULL, v);
}

void
metrics_sample_label(struct metrics_buf *b, const char *name,
    const char *labels, const char *lname, const char *lvalue, double v)
{
	metrics_line(b, name, "", labels, lname, lvalue, v);
}

static void
metrics_add_label(struct metrics_buf *b, const char *name, const char *value)
{
	metrics_add_name(b, name, 1);
	metrics_buf_adds(b, "=\"");
	metrics_add_escaped(b, value != NULL ? value : "", 1);
	metrics_buf_addc(b, '"');
}

void
metrics_buf_label(struct metrics_buf *b, const char *name, const char *value)
{
	metrics_add_label(b, name, value);
}

char *
metrics_label(const char *name, const char *value)
{
	struct metrics_buf	 b = { 0 };

	metrics_add_label(&b, name, value);
	return b.data;
}

/* Pairs of name and value up to a NULL name: 'a="x",b="y"'. */
char *
metrics_labels(const char *name, const char *value, ...)
{
	struct metrics_buf	 b = { 0 };
	va_list			 ap;

	if (name == NULL)
		return xstrdup("");
	va_start(ap, value);
	for (;;) {
		metrics_add_label(&b, name, value);
		if ((name = va_arg(ap, const char *)) == NULL)
			break;
		value = va_arg(ap, const char *);
		metrics_buf_addc(&b, ',');
	}
	va_end(ap);
	return b.data;
}

/*
 * Lock-free, so workers may observe while the loop writes.  A negative
 * duration (a clock that went back) counts as 0; NaN and infinities are
 * dropped, so that _sum stays a number.
 */
void
metrics_histo_observe(struct metrics_histo *h, double seconds)
{
	double	 old, sum;
	size_t	 i;

	if (!isfinite(seconds))
		return;
	if (seconds < 0)
		seconds = 0;
	for (i = 0; seconds > metrics_bounds[i]; i++)
		/* nothing: the last bound is +Inf */;
	__atomic_fetch_add(&h->buckets[i], 1, __ATOMIC_RELAXED);
	__atomic_load(&h->sum, &old, __ATOMIC_RELAXED);
	do {
		sum = old + seconds;
	} while (!__atomic_compare_exchange(&h->sum, &old, &sum, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

/*
 * _count is the sum of the buckets read, not h->count: with observers
 * running it is the one way to keep _count equal to the +Inf bucket.
 */
void
metrics_histo_write(struct metrics_buf *b, const char *name,
    const char *labels, const struct metrics_histo *h)
{
	char		 le[METRICS_VALUE_MAX];
	uint64_t	 cum = 0;
	double		 sum;
	size_t		 i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
		metrics_format_value(le, sizeof le, metrics_bounds[i]);
		metrics_line(b, name, "_bucket", labels, "le", le,
		    (double)cum);
	}
	__atomic_load(&h->sum, &sum, __ATOMIC_RELAXED);
	metrics_line(b, name, "_sum", labels, NULL, NULL, sum);
	metrics_line(b, name, "_count", labels, NULL, NULL, (double)cum);
}

void
metrics_histo_add(struct metrics_histo *to, const struct metrics_histo *from)
{
	uint64_t	 n;
	double		 sum;
	size_t		 i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		n = __atomic_load_n(&from->buckets[i], __ATOMIC_RELAXED);
		to->buckets[i] += n;
		to->count += n;
	}
	__atomic_load(&from->sum, &sum, __ATOMIC_RELAXED);
	to->sum += sum;
}
