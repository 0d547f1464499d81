/* template.c: expands commit-message and release-note templates.
 * Checked once when the configuration loads, so expansion cannot fail. */
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "xmalloc.h"

static const char *const template_names[] = {
	"source", "destination", "source_commit", "source_short",
	"source_version", "pair", "algo",
};

static const char *
template_value(const char *name, size_t len, const struct template_vars *v,
    char shortsha[static 13])
{
	const char	*val = NULL;
	size_t		 i;

	for (i = 0; i < sizeof template_names / sizeof template_names[0];
	    i++) {
		if (strlen(template_names[i]) == len &&
		    strncmp(name, template_names[i], len) == 0)
			break;
	}
	switch (i) {
	case 0: val = v->source; break;
	case 1: val = v->destination; break;
	case 2: val = v->source_commit; break;
	case 3:
		val = v->source_commit;
		if (val != NULL && strlen(val) > 12) {
			memcpy(shortsha, val, 12);
			shortsha[12] = '\0';
			val = shortsha;
		}
		break;
	case 4: val = v->source_version; break;
	case 5: val = v->pair; break;
	case 6: val = v->algo; break;
	default: return NULL;
	}
	return val != NULL ? val : "";
}

/* Walks tmpl; with out == NULL only checks it. */
static int
template_walk(const char *tmpl, const struct template_vars *v, char **out,
    char **cause)
{
	static const struct template_vars empty;
	const char	*p = tmpl, *end, *val;
	size_t		 len = 0, cap = strlen(tmpl) + 1, n;
	char		*buf = NULL, shortsha[13];

	if (out != NULL)
		buf = xmalloc(cap);
	while (*p != '\0') {
		val = NULL;
		n = 1;
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))
			n = 2;
		else if (*p == '}') {
			xasprintf(cause, "unmatched \"}\" in \"%s\"", tmpl);
			free(buf);
			return -1;
		} else if (*p == '{') {
			if ((end = strchr(p, '}')) == NULL) {
				xasprintf(cause, "unterminated \"{\" in \"%s\"",
				    tmpl);
				free(buf);
				return -1;
			}
			val = template_value(p + 1, (size_t)(end - p - 1),
			    v != NULL ? v : &empty, shortsha);
			if (val == NULL) {
				xasprintf(cause, "unknown placeholder "
				    "\"%.*s\" in \"%s\" (known: {source} "
				    "{destination} {source_commit} "
				    "{source_short} {source_version} {pair} "
				    "{algo})", (int)(end - p + 1), p, tmpl);
				free(buf);
				return -1;
			}
			n = (size_t)(end - p + 1);
		}
		if (buf != NULL) {
			const char *add = val != NULL ? val : p;
			size_t alen = val != NULL ? strlen(val) : 1;

			while (len + alen + 1 > cap) {
				cap *= 2;
				buf = xrealloc(buf, cap);
			}
			memcpy(buf + len, add, alen);
			len += alen;
		}
		p += n;
	}
	if (buf != NULL) {
		buf[len] = '\0';
		*out = buf;
	}
	return 0;
}

int
template_check(const char *tmpl, char **cause)
{
	return template_walk(tmpl, NULL, NULL, cause);
}

char *
template_expand(const char *tmpl, const struct template_vars *v)
{
	char	*out = NULL, *cause = NULL;

	if (template_walk(tmpl, v, &out, &cause) == -1) {
		/* Unreachable for checked templates; keep the text. */
		free(cause);
		return xstrdup(tmpl);
	}
	return out;
}
