/* template.h: expands commit-message and release-note templates.
 * Placeholders are {name}; "{{" and "}}" stand for literal braces. */
#ifndef TEMPLATE_H
#define TEMPLATE_H

struct template_vars {
	const char	*source;	/* CLUSTER/OWNER/ALGO */
	const char	*destination;
	const char	*source_commit;
	const char	*source_version;	/* "" when none */
	const char	*pair;
	const char	*algo;		/* destination algorithm name */
};

int	 template_check(const char *tmpl, char **cause);
char	*template_expand(const char *tmpl, const struct template_vars *);

#endif
