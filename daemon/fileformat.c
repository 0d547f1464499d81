/* fileformat.c: the "format" version every state file carries, and what a
 * reader does with one written by a newer release. */
#include <cjson/cJSON.h>

#include "fileformat.h"
#include "xmalloc.h"

int
fileformat_check(const cJSON *o, int known, const char *path, char **cause)
{
	const cJSON	*f = cJSON_GetObjectItemCaseSensitive(o, "format");

	if (f == NULL)
		return 0;
	if (!cJSON_IsNumber(f) || f->valuedouble < 1 ||
	    f->valuedouble > 1000000 ||
	    f->valuedouble != (double)(int)f->valuedouble) {
		xasprintf(cause, "a bad \"format\"");
		return -1;
	}
	if ((int)f->valuedouble <= known)
		return 0;
	xasprintf(cause, "%s is of format %d, newer than this algopromoted "
	    "reads (%d): it was written by a newer release; run that release "
	    "again, or restore the state directory from before the upgrade",
	    path, (int)f->valuedouble, known);
	return 1;
}

void
fileformat_add(cJSON *o, int n)
{
	cJSON_AddNumberToObject(o, "format", n);
}
