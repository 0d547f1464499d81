/* duration.c: "90s", "5m", "1h30m", "250ms" <-> milliseconds.
 * A bare number is refused: a unit is what makes a duration readable. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "xmalloc.h"

#define DURATION_MAX_MS	(UINT64_C(366) * 24 * 3600 * 1000)

static const struct {
	const char	*unit;
	uint64_t	 ms;
} duration_units[] = {	/* "ms" before "m": longest match first */
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 3600 * 1000 },
	{ "d", 24 * 3600 * 1000 },
};

int
duration_parse(const char *s, uint64_t *ms, char **cause)
{
	const char	*p = s;
	uint64_t	 total = 0, n;
	size_t		 i, ulen;
	int		 last = -1;

	if (*p == '\0') {
		xasprintf(cause, "empty duration");
		return -1;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9') {
			xasprintf(cause, "bad duration \"%s\": expected a "
			    "number at \"%s\"", s, p);
			return -1;
		}
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (uint64_t)(*p - '0');
			if (n > DURATION_MAX_MS)
				goto toolong;
		}
		for (i = 0; i < sizeof duration_units /
		    sizeof duration_units[0]; i++) {
			ulen = strlen(duration_units[i].unit);
			if (strncmp(p, duration_units[i].unit, ulen) == 0)
				break;
		}
		if (i == sizeof duration_units / sizeof duration_units[0]) {
			xasprintf(cause, "bad duration \"%s\": %s", s,
			    *p == '\0' ? "missing unit (ms, s, m, h, d)" :
			    "unknown unit (ms, s, m, h, d)");
			return -1;
		}
		/* Units must shrink left to right: "1h30m", not "30m1h". */
		if (last != -1 && duration_units[i].ms >=
		    duration_units[last].ms) {
			xasprintf(cause, "bad duration \"%s\": units out of "
			    "order", s);
			return -1;
		}
		last = (int)i;
		total += n * duration_units[i].ms;
		if (total > DURATION_MAX_MS)
			goto toolong;
		p += ulen;
	}
	*ms = total;
	return 0;
toolong:
	xasprintf(cause, "bad duration \"%s\": longer than a year", s);
	return -1;
}

void
duration_format(uint64_t ms, char *buf, size_t len)
{
	size_t		 i, o = 0;
	uint64_t	 n;

	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	buf[0] = '\0';
	for (i = sizeof duration_units / sizeof duration_units[0]; i-- > 0;) {
		n = ms / duration_units[i].ms;
		if (n == 0)
			continue;
		ms -= n * duration_units[i].ms;
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
		    "%llu%s", (unsigned long long)n, duration_units[i].unit);
		if (o >= len)
			break;
	}
}
