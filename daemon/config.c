/* config.c: placeholder until the YAML loader lands. */
#include <stdlib.h>
#include "config.h"
#include "xmalloc.h"

int
config_load(struct config **out, const char *path, char **errors)
{
	*out = NULL;
	xasprintf(errors, "%s: configuration loading not implemented\n",
	    path);
	return -1;
}

void
config_free(struct config *c)
{
	free(c);
}

size_t
config_ndests(const struct config *c)
{
	return 0;
}
