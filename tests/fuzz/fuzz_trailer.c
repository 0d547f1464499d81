/* fuzz_trailer.c: the trailers read from a source commit's message
 * (Promoted-from, Promoted-version): libgit2 finds them, gitops_msg.c
 * makes each value one line. Input: a commit message. */
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "fuzz.h"
#include "gitops.h"

static const char *const keys[] = { "Promoted-from", "Promoted-version",
    "Signed-off-by", "x" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;
	char		*msg, *v;
	size_t		 i, n;

	if (!init) {
		git_libgit2_init();
		init = 1;
	}
	msg = fuzz_str(data, size);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((v = gitops_trailer(msg, keys[i])) == NULL)
			continue;
		n = strlen(v);
		FUZZ_ASSERT(strchr(v, '\n') == NULL, "value of %s not one "
		    "line: \"%s\"", keys[i], v);
		FUZZ_ASSERT(n == 0 || (v[0] != ' ' && v[n - 1] != ' '),
		    "value of %s not trimmed: \"%s\"", keys[i], v);
		free(v);
	}
	free(msg);
	return 0;
}
