/* treeglob.c: gitignore-like glob matching of repository paths.
 * Decides which paths of a tree a pattern selects; touches no git objects. */
#include <stdlib.h>
#include <string.h>

#include "treeglob.h"
#include "xmalloc.h"

/*
 * The matcher returns one of these.  The two aborts cut the search short
 * the way rsync's wildmatch does: once the text runs out under some
 * '*', no other split can help (TREEGLOB_ABORT_ALL); once a single '*'
 * would have to cross a '/', only an enclosing "**" can still help
 * (TREEGLOB_ABORT_STARSTAR).  That keeps patterns with many stars from
 * going exponential on long paths.
 */
#define TREEGLOB_NOMATCH	0
#define TREEGLOB_MATCH		1
#define TREEGLOB_ABORT_ALL	(-1)
#define TREEGLOB_ABORT_STARSTAR	(-2)

/* Length of the bracket expression at p ('[' included, ']' included),
 * or 0 when it has no closing ']'. */
static size_t
treeglob_class_len(const char *p)
{
	const char	*q = p + 1;

	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')			/* a leading ']' is a member */
		q++;
	for (; *q != '\0'; q++) {
		if (*q == '\\') {
			if (q[1] == '\0')
				return 0;
			q++;
		} else if (*q == ']')
			return (size_t)(q - p) + 1;
	}
	return 0;
}

/* Does the bracket expression at p (of length len) accept c? */
static int
treeglob_class(const char *p, size_t len, unsigned char c)
{
	const char	*q = p + 1, *end = p + len - 1;
	unsigned char	 lo, hi;
	int		 negate = 0, hit = 0, first = 1;

	if (*q == '!' || *q == '^') {
		negate = 1;
		q++;
	}
	while (q < end) {
		if (*q == ']' && !first)
			break;
		first = 0;
		if (*q == '\\')
			q++;
		lo = (unsigned char)*q++;
		hi = lo;
		if (q + 1 < end && *q == '-') {
			q++;
			if (*q == '\\')
				q++;
			hi = (unsigned char)*q++;
		}
		if (c >= lo && c <= hi)
			hit = 1;
	}
	return hit != negate;
}

/* Matches pattern p against text s; start is the pattern's beginning,
 * to tell whether "**" stands as a whole component. */
static int
treeglob_do(const char *start, const char *p, const char *s)
{
	const char	*q;
	size_t		 len;
	int		 r;

	for (; *p != '\0'; p++, s++) {
		if (*s == '\0' && *p != '*')
			return TREEGLOB_ABORT_ALL;
		switch (*p) {
		case '\\':
			p++;
			if (*p != *s)
				return TREEGLOB_NOMATCH;
			break;
		case '?':
			if (*s == '/')
				return TREEGLOB_NOMATCH;
			break;
		case '[':
			if ((len = treeglob_class_len(p)) == 0)
				return TREEGLOB_ABORT_ALL;
			if (*s == '/' ||
			    !treeglob_class(p, len, (unsigned char)*s))
				return TREEGLOB_NOMATCH;
			p += len - 1;
			break;
		case '*':
			for (q = p; *q == '*'; q++)
				;
			if (q - p >= 2 && (p == start || p[-1] == '/') &&
			    (*q == '\0' || *q == '/')) {
				/* "**" at the end: everything below. */
				if (*q == '\0')
					return TREEGLOB_MATCH;
				/* "**" + "/": zero or more directories, so
				 * try the rest at each component start. */
				for (;;) {
					r = treeglob_do(start, q + 1, s);
					if (r == TREEGLOB_MATCH ||
					    r == TREEGLOB_ABORT_ALL)
						return r;
					if ((s = strchr(s, '/')) == NULL)
						return TREEGLOB_ABORT_ALL;
					s++;
				}
			}
			/* One star (or a run of them inside a component):
			 * any run of characters other than '/'. */
			p = q;
			if (*p == '\0')
				return strchr(s, '/') != NULL ?
				    TREEGLOB_ABORT_STARSTAR : TREEGLOB_MATCH;
			for (;; s++) {
				r = treeglob_do(start, p, s);
				if (r != TREEGLOB_NOMATCH)
					return r;
				if (*s == '\0')
					return TREEGLOB_ABORT_ALL;
				if (*s == '/')
					return TREEGLOB_ABORT_STARSTAR;
			}
		default:
			if (*p != *s)
				return TREEGLOB_NOMATCH;
			break;
		}
	}
	return *s == '\0' ? TREEGLOB_MATCH : TREEGLOB_NOMATCH;
}

int
treeglob_valid(const char *pattern, char **cause)
{
	const char	*p, *comp;
	size_t		 n;

	if (pattern == NULL || *pattern == '\0') {
		*cause = xstrdup("empty pattern");
		return -1;
	}
	if (strlen(pattern) > TREEGLOB_MAX) {
		*cause = xprintf("pattern longer than %d bytes", TREEGLOB_MAX);
		return -1;
	}
	p = pattern;
	if (*p == '/')
		p++;
	/* Walk the components: none may be empty, "." or "..". */
	for (comp = p;; comp += n + 1) {
		n = strcspn(comp, "/");
		if (n == 0 && comp[n] == '\0' && comp != p)
			break;		/* the trailing '/' */
		if (n == 0 || (n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.')) {
			*cause = xprintf("bad pattern \"%s\": %s", pattern,
			    n == 0 ? "empty path component" :
			    "\".\" and \"..\" are not allowed");
			return -1;
		}
		if (comp[n] == '\0')
			break;
	}
	for (p = pattern; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0') {
				*cause = xprintf("bad pattern \"%s\": trailing "
				    "'\\'", pattern);
				return -1;
			}
			p++;
		} else if (*p == '[') {
			if ((n = treeglob_class_len(p)) == 0) {
				*cause = xprintf("bad pattern \"%s\": "
				    "unterminated '['", pattern);
				return -1;
			}
			if (memchr(p, '/', n) != NULL) {
				*cause = xprintf("bad pattern \"%s\": '/' "
				    "inside '[...]'", pattern);
				return -1;
			}
			p += n - 1;
		}
	}
	return 0;
}

int
treeglob_match(const char *pattern, const char *path)
{
	char		*pat = NULL, *cause = NULL;
	const char	*body, *comp, *end;
	char		*text = NULL;
	size_t		 plen, tlen;
	int		 anchored, dironly, isdir, last, found = 0;

	if (treeglob_valid(pattern, &cause) != 0) {
		free(cause);
		return 0;
	}
	if (path == NULL || *path == '\0' || *path == '/')
		return 0;

	/* The pattern's body: no leading '/', no trailing '/'. */
	anchored = pattern[0] == '/';
	body = pattern + anchored;
	plen = strlen(body);
	dironly = body[plen - 1] == '/';
	pat = xstrndup(body, plen - dironly);
	if (strchr(pat, '/') != NULL)
		anchored = 1;

	tlen = strlen(path);
	isdir = path[tlen - 1] == '/';
	text = xstrndup(path, tlen - isdir);

	/*
	 * Try each directory prefix of the path and the path itself (an
	 * anchored pattern), or each component alone (an unanchored one):
	 * a match on a directory covers everything under it.  Only the
	 * last piece can be a file, which a trailing '/' rules out.
	 */
	for (comp = text;; comp = end + 1) {
		end = strchr(comp, '/');
		if (end == NULL)
			end = comp + strlen(comp);
		last = *end == '\0';
		if (!last || !dironly || isdir) {
			char	*piece;

			if (anchored)
				piece = xstrndup(text, (size_t)(end - text));
			else
				piece = xstrndup(comp, (size_t)(end - comp));
			found = treeglob_do(pat, pat, piece) ==
			    TREEGLOB_MATCH;
			free(piece);
		}
		if (found || last)
			break;
	}
	free(pat);
	free(text);
	return found;
}

int
treeglob_any(char *const *globs, const char *path)
{
	if (globs == NULL)
		return 0;
	for (; *globs != NULL; globs++)
		if (treeglob_match(*globs, path))
			return 1;
	return 0;
}
