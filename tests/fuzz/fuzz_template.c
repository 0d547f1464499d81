/* fuzz_template.c: the commit-message and release-note templates:
 * checked (a one-line cause) and expanded, never a crash.
 * Input: TEMPLATE NUL SOURCE NUL DEST NUL COMMIT NUL VERSION NUL PAIR NUL
 * ALGO (missing parts are NULL). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "template.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_vars	 v;
	char			*parts[7], *buf, *cause = NULL, *out;
	size_t			 n;
	int			 ok;

	n = fuzz_split(data, size, '\0', parts, 7, &buf);
	memset(&v, 0, sizeof v);
	v.source = n > 1 ? parts[1] : NULL;
	v.destination = n > 2 ? parts[2] : NULL;
	v.source_commit = n > 3 ? parts[3] : NULL;
	v.source_version = n > 4 ? parts[4] : NULL;
	v.pair = n > 5 ? parts[5] : NULL;
	v.algo = n > 6 ? parts[6] : NULL;
	ok = template_check(parts[0], &cause) == 0;
	if (!ok) {
		FUZZ_ASSERT(cause != NULL, "refused without a cause");
		free(cause);
	}
	out = template_expand(parts[0], &v);
	FUZZ_ASSERT(out != NULL, "no expansion");
	if (ok && strchr(parts[0], '{') == NULL &&
	    strchr(parts[0], '}') == NULL)
		FUZZ_ASSERT(strcmp(out, parts[0]) == 0, "plain text changed");
	free(out);
	out = template_expand(parts[0], NULL);
	free(out);
	free(buf);
	return 0;
}
