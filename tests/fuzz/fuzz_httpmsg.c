/* fuzz_httpmsg.c: what the HTTP clients take from an answer's headers and
 * body bytes: Retry-After (seconds or an HTTP-date), one-line texts, the
 * capped body buffer. Input: header lines, as libcurl hands them. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"
#include "httpmsg.h"

#define FUZZ_BODY_MAX	1000

/* One line, no control characters, no double, leading or trailing
 * space. */
static void
fuzz_httpmsg_oneline(const char *s, size_t len)
{
	char	*line;
	size_t	 i, n;

	line = httpmsg_oneline(s, len);
	n = strlen(line);
	FUZZ_ASSERT(n <= len, "longer than the input");
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT((unsigned char)line[i] > ' ' ||
		    (line[i] == ' ' && i > 0 && i + 1 < n &&
		    line[i - 1] != ' '), "byte 0x%02x at %zu",
		    (unsigned char)line[i], i);
		FUZZ_ASSERT(line[i] != 0x7f, "DEL at %zu", i);
	}
	line = httpmsg_cut(line, n / 2);
	FUZZ_ASSERT(strlen(line) <= n / 2 + 3, "cut too long");
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *end = s + size, *nl;
	char		*str, *body = NULL, small[16];
	size_t		 blen = 0, bsize = 0, n;
	long		 ra = -1, v;

	/* Each line through the header callback. */
	for (; s < end; s = nl) {
		nl = memchr(s, '\n', (size_t)(end - s));
		nl = nl != NULL ? nl + 1 : end;
		httpmsg_header(s, (size_t)(nl - s), &ra,
		    API_RETRY_AFTER_MAX_MS);
		FUZZ_ASSERT(ra >= -1 && ra <= API_RETRY_AFTER_MAX_MS,
		    "Retry-After %ld", ra);
		/* And as a body arriving in pieces. */
		n = (size_t)(nl - s);
		if (httpmsg_append(&body, &blen, &bsize, FUZZ_BODY_MAX, s,
		    n) == 0)
			FUZZ_ASSERT(blen <= FUZZ_BODY_MAX && bsize <=
			    FUZZ_BODY_MAX + 1 && body[blen] == '\0',
			    "body %zu in %zu", blen, bsize);
		else
			FUZZ_ASSERT(blen + n > FUZZ_BODY_MAX, "refused early");
	}
	free(body);
	str = fuzz_str(data, size);
	v = httpmsg_retry_after(str, API_RETRY_AFTER_MAX_MS);
	FUZZ_ASSERT(v >= -1 && v <= API_RETRY_AFTER_MAX_MS, "%ld", v);
	v = httpmsg_retry_after(str, 1000);
	FUZZ_ASSERT(v >= -1 && v <= 1000, "%ld", v);
	httpmsg_copy(small, sizeof small, str);
	FUZZ_ASSERT(strlen(small) < sizeof small, "copy overran");
	free(str);
	fuzz_httpmsg_oneline((const char *)data, size);
	return 0;
}
