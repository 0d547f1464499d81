/* algoconf.h: the in-place rewrite of an algorithm's algorithmia.conf
 * (a JSON object): owner and name set, every other byte kept. */
#ifndef ALGOCONF_H
#define ALGOCONF_H

#include <stddef.h>

#define ALGOCONF_NAME	"algorithmia.conf"	/* at the tree's root */
#define ALGOCONF_MAX	(1024 * 1024)	/* bytes of text rewritten */
#define ALGOCONF_DEPTH	128		/* nested arrays and objects */

/*
 * The text (len bytes; NUL bytes are not JSON) with the top-level members
 * "username" = owner and "algoname" = algo.  Only the values of existing
 * members are replaced (each one, should a key repeat), so other keys,
 * their order, the formatting and a UTF-8 byte order mark stay as they
 * were; a missing member is added after the last one, laid out like the
 * first (in an empty object, right after the '{').  Members of nested
 * objects are not the conf's.  owner and algo are written as JSON
 * strings, escaped as needed.
 *
 * The text must be exactly one JSON object (RFC 8259, surrounding white
 * space allowed) of at most ALGOCONF_MAX bytes; otherwise -1 and *cause
 * says why and where ("line L, column C: ..."; caller frees).  On success
 * *out is the new text, NUL-terminated (caller frees).
 */
int	 algoconf_rewrite(char **out, const char *text, size_t len,
	    const char *owner, const char *algo, char **cause);

#endif
