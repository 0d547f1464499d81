/* config_include.c: include: of the configuration: the files and globs it
 * names, read in order into the load, each holding pairs (and include:). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "log.h"
#include "xmalloc.h"

/* The first directory glob(3) could not read; loads run one at a time. */
static int	 config_include_glob_errno;
static char	*config_include_glob_path;

/* A directory that is not there matches nothing; any other failure to
 * read one stops the expansion. */
static int
config_include_glob_error(const char *path, int error)
{
	if (error == ENOENT || error == ENOTDIR)
		return 0;
	if (config_include_glob_path == NULL) {
		config_include_glob_path = xstrdup(path);
		config_include_glob_errno = error;
	}
	return 1;
}

/* dir with glob's special characters escaped, for a pattern under it. */
static char *
config_include_escape(const char *dir)
{
	char	*out, *o;

	o = out = xmalloc(strlen(dir) * 2 + 1);
	for (; *dir != '\0'; dir++) {
		if (strchr("*?[\\", *dir) != NULL)
			*o++ = '\\';
		*o++ = *dir;
	}
	*o = '\0';
	return out;
}

/* path without "." and "dir/.." parts, for messages: what was meant
 * rather than how it was reached ("a/b/../c" is "a/c"). */
static char *
config_include_tidy(const char *path)
{
	char	*out, *o, *seg;
	size_t	 len, keep = path[0] == '/' ? 1 : 0, n;

	out = xmalloc(strlen(path) + 2);
	o = out;
	if (keep)
		*o++ = '/';
	while (*path != '\0') {
		while (*path == '/')
			path++;
		len = strcspn(path, "/");
		if (len == 0)
			break;
		if (len == 1 && path[0] == '.') {
			path += len;
			continue;
		}
		n = (size_t)(o - out);
		seg = n > keep ? memrchr(out + keep, '/', n - keep) : NULL;
		seg = seg != NULL ? seg + 1 : out + keep;
		if (len == 2 && strncmp(path, "..", 2) == 0 && n > keep &&
		    strncmp(seg, "..", (size_t)(o - seg)) != 0) {
			o = seg > out + keep ? seg - 1 : out + keep;
			path += len;
			continue;
		}
		if (n > keep)
			*o++ = '/';
		memcpy(o, path, len);
		o += len;
		path += len;
	}
	if (o == out)
		*o++ = '.';
	*o = '\0';
	return out;
}

static int
config_include_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a -> b -> a": the files from ancestor a down to the current one, then
 * a again. */
static char *
config_include_loop(struct cf *cf, size_t a)
{
	struct config_diag_buf	 b = { NULL, 0, 0 };
	size_t			*chain, n = 0, i;

	chain = xcalloc(CF_MAX_INCLUDE_DEPTH + 2, sizeof *chain);
	for (i = cf->cur; n <= CF_MAX_INCLUDE_DEPTH; i = cf->files[i]->parent) {
		chain[n++] = i;
		if (i == a)
			break;
	}
	while (n-- > 0) {
		config_diag_put(&b, cf->files[chain[n]]->path,
		    strlen(cf->files[chain[n]]->path));
		config_diag_put(&b, " -> ", 4);
	}
	config_diag_put(&b, cf->files[a]->path, strlen(cf->files[a]->path));
	free(chain);
	return b.s;
}

/* What an included file holds: pairs: (a list, maybe empty) and
 * include:, nothing else. Its pairs are taken later (config_pair.c). */
static void
config_include_root(struct cf *cf, yaml_node_t *root)
{
	static const yaml_mark_t top = { 0, 0, 0 };
	yaml_node_pair_t	*p;
	yaml_node_t		*k, *v;
	const char		*name;
	char			 q[CF_QLEN];

	if (root == NULL || config_yaml_null(root)) {
		config_diag_mark(cf, &top, "empty file: an included file "
		    "holds pairs");
		return;
	}
	if (root->type != YAML_MAPPING_NODE) {
		config_diag_err(cf, root, NULL, "an included file must be a "
		    "mapping holding pairs");
		return;
	}
	config_file_scan(cf, root);
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		k = config_yaml_node(cf, p->key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;	/* reported by config_yaml_scan() */
		name = config_yaml_text(k);
		if (strcmp(name, "pairs") == 0 || strcmp(name, "include") == 0 ||
		    config_schema_is_apikey(name))
			continue;
		config_diag_err(cf, k, NULL, "%s is not allowed in an "
		    "included file, which holds only pairs and include",
		    config_diag_quote(q, name));
	}
	v = config_yaml_get(cf, root, "pairs", NULL);
	if (v == NULL) {
		if (config_yaml_get(cf, root, "include", NULL) == NULL)
			config_diag_err(cf, root, NULL,
			    "missing required key \"pairs\"");
	} else if (v->type == YAML_SEQUENCE_NODE) {
		if (config_yaml_size(v) != 0)
			cf->files[cf->cur]->pairs = v;
	} else if (!config_yaml_null(v))
		config_diag_err(cf, v, NULL, "pairs must be a list");
	config_include_all(cf, root);
}

/* The file at abs (show in messages), named by item of the current
 * file: read into the load unless it is one already. */
static void
config_include_file(struct cf *cf, const yaml_node_t *item, const char *abs,
    const char *show)
{
	struct stat	 sb;
	struct cf_file	*f;
	size_t		 parent = cf->cur, depth = 0, i;
	char		 q[CF_QLEN], *s, *name;
	int		 fd;

	name = config_include_tidy(show);
	config_diag_quote(q, name);
	for (i = parent; cf->files[i]->parent != SIZE_MAX;
	    i = cf->files[i]->parent)
		depth++;
	if (depth == CF_MAX_INCLUDE_DEPTH) {
		config_diag_err(cf, item, NULL, "include %s: includes nested "
		    "more than %d deep", q, CF_MAX_INCLUDE_DEPTH);
		goto out;
	}
	if (cf->nfiles == CF_MAX_FILES) {
		config_diag_err(cf, item, NULL, "include %s: more than %d "
		    "files", q, CF_MAX_FILES);
		goto out;
	}
	if ((fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		config_diag_err(cf, item, NULL, "include %s: cannot open: %s",
		    q, strerror(errno));
		goto out;
	}
	memset(&sb, 0, sizeof sb);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (S_ISDIR(sb.st_mode))
			config_diag_err(cf, item, NULL, "include %s: is a "
			    "directory", q);
		else
			config_diag_err(cf, item, NULL, "include %s: not a "
			    "regular file", q);
		close(fd);
		goto out;
	}
	for (i = parent; i != SIZE_MAX; i = cf->files[i]->parent) {
		f = cf->files[i];
		if (f->dev != sb.st_dev || f->ino != sb.st_ino)
			continue;
		if (i == parent)
			config_diag_err(cf, item, NULL, "include %s: the file "
			    "includes itself", q);
		else {
			s = config_include_loop(cf, i);
			config_diag_err(cf, item, NULL, "include %s: includes "
			    "form a loop: %s", q, s);
			free(s);
		}
		close(fd);
		goto out;
	}
	for (i = 1; i < cf->nfiles; i++) {
		f = cf->files[i];
		if (f->dev != sb.st_dev || f->ino != sb.st_ino)
			continue;
		s = config_diag_where(cf, item, f->at);
		config_diag_err(cf, item, NULL, "include %s: included "
		    "already (%s)", q, s);
		free(s);
		close(fd);
		goto out;
	}
	config_file_add(cf, name, abs, parent, item);
	if (config_file_load(cf, fd) == 0)
		config_include_root(cf,
		    yaml_document_get_root_node(cf->doc));
	config_file_enter(cf, parent);
out:
	free(name);
}

/* The files a glob matches, in the byte order of their names: none is
 * fine (an empty pairs.d/). */
static void
config_include_glob(struct cf *cf, const yaml_node_t *item, const char *s)
{
	glob_t		 g;
	char		*dir, *pattern, *prefix, *show, q[CF_QLEN];
	size_t		 i, plen;
	int		 rv;

	config_diag_quote(q, s);
	if (s[0] == '/') {
		pattern = xstrdup(s);
		prefix = NULL;
	} else {
		dir = config_include_escape(cf->dir_abs);
		pattern = config_yaml_path_join(dir, s);
		free(dir);
		prefix = config_yaml_path_join(cf->dir_abs, "");
	}
	memset(&g, 0, sizeof g);
	rv = glob(pattern, GLOB_NOSORT, config_include_glob_error, &g);
	if (rv == GLOB_NOSPACE)
		fatalx("glob: out of memory");
	if (rv == GLOB_ABORTED) {
		config_diag_err(cf, item, NULL, "include %s: cannot read "
		    "directory %s: %s", q, config_include_glob_path != NULL ?
		    config_include_glob_path : "?",
		    strerror(config_include_glob_errno));
		goto out;
	}
	if (rv != 0)
		goto out;	/* GLOB_NOMATCH */
	qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv,
	    config_include_strcmp);
	plen = prefix != NULL ? strlen(prefix) : 0;
	for (i = 0; i < g.gl_pathc; i++) {
		if (prefix == NULL || strncmp(g.gl_pathv[i], prefix, plen) != 0)
			show = xstrdup(g.gl_pathv[i]);
		else if (cf->dir_show != NULL)
			show = config_yaml_path_join(cf->dir_show,
			    g.gl_pathv[i] + plen);
		else
			show = xstrdup(g.gl_pathv[i] + plen);
		config_include_file(cf, item, g.gl_pathv[i], show);
		free(show);
	}
out:
	globfree(&g);
	free(config_include_glob_path);
	config_include_glob_path = NULL;
	free(prefix);
	free(pattern);
}

/* One name of include:, a file or a glob. */
static void
config_include_one(struct cf *cf, const yaml_node_t *item)
{
	const char	*s;
	char		*abs, *show, q[CF_QLEN];

	if (config_yaml_string(cf, item, NULL, "include", 0, &s) != 1)
		return;
	if ((cf->flags & CONFIG_LOAD_INCLUDE_BESIDE) &&
	    strchr(s, '/') != NULL) {
		config_diag_err(cf, item, NULL, "include %s: only names "
		    "without '/' are followed here", config_diag_quote(q, s));
		return;
	}
	if (strpbrk(s, "*?[") != NULL) {
		config_include_glob(cf, item, s);
		return;
	}
	if (s[0] == '/') {
		abs = xstrdup(s);
		show = xstrdup(s);
	} else {
		abs = config_yaml_path_join(cf->dir_abs, s);
		show = cf->dir_show != NULL ?
		    config_yaml_path_join(cf->dir_show, s) : xstrdup(s);
	}
	config_include_file(cf, item, abs, show);
	free(show);
	free(abs);
}

/*
 * include: of the current file's root: a name or a list of them, each a
 * file or a glob, relative to the file's directory. Each file is read,
 * with what it includes, before the next (their pairs follow in that
 * order).
 */
void
config_include_all(struct cf *cf, const yaml_node_t *root)
{
	yaml_node_item_t	*it;
	yaml_node_t		*v, *item;
	size_t			 nfatal = cf->nfatal;

	if ((v = config_yaml_get(cf, root, "include", NULL)) == NULL)
		return;
	if (v->type == YAML_SCALAR_NODE)
		config_include_one(cf, v);
	else if (v->type == YAML_SEQUENCE_NODE) {
		for (it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			if ((item = config_yaml_node(cf, *it)) == NULL)
				continue;
			if (item->type != YAML_SCALAR_NODE)
				config_diag_err(cf, item, NULL, "include must "
				    "list file names or globs");
			else
				config_include_one(cf, item);
		}
	} else
		config_diag_err(cf, v, NULL, "include must be a file name or "
		    "glob, or a list of them");
	if (cf->nfatal != nfatal)
		cf->include_failed = 1;
}
