/* monotime.h: milliseconds on CLOCK_MONOTONIC, for intervals, timeouts
 * and deadlines; wall-clock time is for logs and records only. */
#ifndef MONOTIME_H
#define MONOTIME_H

#include <stdint.h>

uint64_t	 monotime_ms(void);

#endif
