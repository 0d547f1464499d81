/* duration.h: "90s", "5m", "1h30m", "250ms" <-> milliseconds.
 * Used by the configuration and by everything that prints an interval. */
#ifndef DURATION_H
#define DURATION_H

#include <stddef.h>
#include <stdint.h>

int	 duration_parse(const char *s, uint64_t *ms, char **cause);
void	 duration_format(uint64_t ms, char *buf, size_t len);

#endif
