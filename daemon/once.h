/* once.h: `algopromoted --once`: every route promoted once, in parallel
 * up to `workers` and each cluster's `max_parallel`, then return. */
#ifndef ONCE_H
#define ONCE_H

#include "config.h"
#include "promote.h"

struct once_totals {
	size_t	 routes;
	size_t	 uptodate;
	size_t	 done;
	size_t	 failed;
	size_t	 held;
};

void	 once_run(const struct config *, const struct promote_opts *,
	    struct once_totals *);

#endif
