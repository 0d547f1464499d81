/* fileformat.h: the "format" version every state file carries, and what a
 * reader does with one written by a newer release. */
#ifndef FILEFORMAT_H
#define FILEFORMAT_H

#include <cjson/cJSON.h>

/*
 * Every JSON state file (and every line of an append-only one) names the
 * format it was written in as "format": N. A file without it was written
 * before formats were named and reads as format 1. A reader that knows
 * formats up to known:
 *   - 0: the format is known (or missing);
 *   - 1: the file is of a newer format (a downgrade): *cause says so with
 *     path; the caller leaves the file as it is and does not overwrite
 *     it, since only a newer release can read it;
 *   - -1: "format" is not a positive integer: *cause, a damaged file.
 */
int	 fileformat_check(const cJSON *o, int known, const char *path,
	    char **cause);

/* Adds "format": n to o. */
void	 fileformat_add(cJSON *o, int n);

#endif
