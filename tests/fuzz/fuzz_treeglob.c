/* fuzz_treeglob.c: the preserve/exclude glob matcher. Input: a pattern,
 * then one path per line. A pattern that matches a path matches
 * everything under it; an invalid one matches nothing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "treeglob.h"

#define FUZZ_PATHS	16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*parts[FUZZ_PATHS + 1], *buf, *cause = NULL, *under;
	size_t	 n, i, len;
	int	 valid, m;

	n = fuzz_split(data, size, '\n', parts, FUZZ_PATHS + 1, &buf);
	valid = treeglob_valid(parts[0], &cause) == 0;
	if (!valid) {
		FUZZ_ASSERT(cause != NULL, "refused without a cause");
		free(cause);
	}
	for (i = 1; i < n; i++) {
		m = treeglob_match(parts[0], parts[i]);
		FUZZ_ASSERT(m == 0 || m == 1, "match gave %d", m);
		FUZZ_ASSERT(valid || m == 0, "invalid pattern matched");
		len = strlen(parts[i]);
		if (!m || strstr(parts[i], "//") != NULL)
			continue;
		/* Everything under a match is matched. */
		if ((under = malloc(len + 4)) == NULL)
			abort();
		memcpy(under, parts[i], len);
		if (parts[i][len - 1] != '/')
			under[len++] = '/';
		memcpy(under + len, "zz", 3);
		FUZZ_ASSERT(treeglob_match(parts[0], under) == 1,
		    "\"%s\" matches \"%s\" but not \"%s\"", parts[0],
		    parts[i], under);
		free(under);
	}
	free(buf);
	return 0;
}
