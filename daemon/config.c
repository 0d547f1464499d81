/* config.c: loads the YAML configuration, its files, into an immutable
 * struct config and answers lookups in it. Every problem is reported. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "log.h"
#include "xmalloc.h"

/* $CREDENTIALS_DIRECTORY, without trailing '/'. */
static void
config_creds(struct cf *cf)
{
	const char	*creds;
	size_t		 n;

	if ((creds = getenv("CREDENTIALS_DIRECTORY")) != NULL &&
	    *creds != '\0') {
		n = strlen(creds);
		while (n > 1 && creds[n - 1] == '/')
			n--;
		cf->creds = xstrndup(creds, n);
	}
}

/* The directory of path: NULL when it names none. */
static char *
config_dirname(const char *path)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		return NULL;
	return xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/*
 * A file of the load, the one being read from now on (its index is
 * returned): show names it in messages, and relative names in it are
 * resolved against the directory of abs (shown as that of show).
 */
size_t
config_file_add(struct cf *cf, const char *show, const char *abs,
    size_t parent, const yaml_node_t *at)
{
	struct cf_file	*f;

	f = xcalloc(1, sizeof *f);
	f->path = xstrdup(show);
	f->dir_show = config_dirname(show);
	if ((f->dir_abs = config_dirname(abs)) == NULL)
		f->dir_abs = xstrdup(".");
	f->parent = parent;
	f->at = at;
	/* An array of pointers: sizeof a pointer is meant. */
	cf->files = xreallocarray(cf->files, cf->nfiles + 1,
	    sizeof *cf->files);	/* NOLINT(bugprone-sizeof-expression) */
	cf->files[cf->nfiles] = f;
	config_file_enter(cf, cf->nfiles);
	return cf->nfiles++;
}

/* Reading file i from now on. */
void
config_file_enter(struct cf *cf, size_t i)
{
	struct cf_file	*f = cf->files[i];

	cf->cur = i;
	cf->doc = &f->doc;
	cf->dir_abs = f->dir_abs;
	cf->dir_show = f->dir_show;
	cf->toodeep = 0;
}

static void
config_file_free(struct cf_file *f)
{
	if (f->loaded)
		yaml_document_delete(&f->doc);
	free(f->path);
	free(f->dir_abs);
	free(f->dir_show);
	free(f);
}

/*
 * The whole of fd, at most max bytes; -1 with errno (EFBIG past max). A
 * regular file's size is looked at first, so that a runaway file is not
 * read at all; the buffer grows with what comes, up to max + 1 bytes (a
 * file of a few KB does not take the limit's megabytes).
 */
static int
config_read(int fd, size_t max, char **out, size_t *outlen)
{
	struct stat	 sb;
	char		*buf = NULL;
	size_t		 n = 0, cap = 0;
	ssize_t		 r;

	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uintmax_t)sb.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	while (n <= max) {
		if (n == cap) {
			cap = cap == 0 ? 16384 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			buf = xrealloc(buf, cap + 1);
		}
		if ((r = read(fd, buf + n, cap - n)) == -1) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	if (buf == NULL)
		buf = xmalloc(1);
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static void
config_syntax(struct cf *cf, yaml_parser_t *parser, const char *buf, size_t len)
{
	yaml_mark_t	 m = parser->problem_mark;
	size_t		 i;

	if (parser->error == YAML_READER_ERROR) {
		/* The reader counts bytes only: find line and column. */
		memset(&m, 0, sizeof m);
		for (i = 0; i < parser->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				m.line++;
				m.column = 0;
			} else
				m.column++;
		}
	}
	config_diag_mark(cf, &m, "syntax error: %s", parser->problem != NULL ?
	    parser->problem : "unknown problem");
}

/*
 * Reads the current file from fd (closed here) into its document, within
 * what is left of the caps: 0, or -1 reported (at the file as a whole
 * for its size).
 */
int
config_file_load(struct cf *cf, int fd)
{
	struct cf_file	*f = cf->files[cf->cur];
	struct stat	 sb;
	yaml_parser_t	 parser;
	char		*buf = NULL;
	size_t		 len = 0, max;
	int		 rv = -1;

	if (fstat(fd, &sb) == 0) {
		f->dev = sb.st_dev;
		f->ino = sb.st_ino;
	}
	max = cf->bytes_left < CF_MAX_FILE ? cf->bytes_left : CF_MAX_FILE;
	if (config_read(fd, max, &buf, &len) == -1) {
		if (errno != EFBIG)
			config_diag_err(cf, NULL, NULL, "cannot read: %s",
			    strerror(errno));
		else if (max == CF_MAX_FILE)
			config_diag_err(cf, NULL, NULL, "larger than %d bytes",
			    CF_MAX_FILE);
		else
			config_diag_err(cf, NULL, NULL, "the configuration's "
			    "files are larger than %d bytes together",
			    CF_MAX_TOTAL);
		close(fd);
		return -1;
	}
	close(fd);
	cf->bytes_left -= len;
	if (config_yaml_prescan(cf, buf, len) != 0)
		goto out;
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
	    len);
	if (!yaml_parser_load(&parser, &f->doc))
		config_syntax(cf, &parser, buf, len);
	else {
		f->loaded = 1;
		rv = 0;
	}
	yaml_parser_delete(&parser);
out:
	free(buf);
	return rv;
}

/* The pre-pass over the current file's nodes (config_yaml_scan()). */
void
config_file_scan(struct cf *cf, yaml_node_t *root)
{
	unsigned char	*seen;

	seen = xcalloc((size_t)(cf->doc->nodes.top - cf->doc->nodes.start),
	    1);
	config_yaml_scan(cf, root, seen, 0);
	free(seen);
}

int
config_load(struct config **out, const char *path, int flags, char **errors)
{
	static const yaml_mark_t top = { 0, 0, 0 };
	struct cf	 cf;
	yaml_node_t	*root;
	char		*cwd, *abs;
	size_t		 i;
	int		 fd;

	*out = NULL;
	*errors = NULL;
	memset(&cf, 0, sizeof cf);
	cf.flags = flags;
	cf.bytes_left = CF_MAX_TOTAL;
	cf.nodes_left = CF_MAX_NODES;
	cf.c = xcalloc(1, sizeof *cf.c);
	cf.c->path = xstrdup(path);
	config_schema_builtin(cf.c, &cf.defaults);
	config_creds(&cf);
	if (path[0] != '/' && (cwd = getcwd(NULL, 0)) != NULL) {
		abs = config_yaml_path_join(cwd, path);
		free(cwd);
	} else
		abs = xstrdup(path);
	config_file_add(&cf, path, abs, SIZE_MAX, NULL);
	free(abs);

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		config_diag_err(&cf, NULL, NULL, "cannot open: %s",
		    strerror(errno));
		goto done;
	}
	if (config_file_load(&cf, fd) == -1)
		goto done;
	if ((root = yaml_document_get_root_node(cf.doc)) == NULL ||
	    config_yaml_null(root)) {
		config_diag_mark(&cf, &top, "empty configuration");
		goto done;
	}
	if (root->type != YAML_MAPPING_NODE) {
		config_diag_err(&cf, root, NULL, "the configuration must be a "
		    "mapping");
		goto done;
	}
	config_file_scan(&cf, root);
	config_schema_top(&cf, root);
	config_include_all(&cf, root);
	config_cluster_all(&cf, root);
	config_schema_defaults(&cf, root);
	config_pair_all(&cf, root);
done:
	*errors = config_diag_format(&cf);
	config_diag_clear(&cf);
	if (cf.pos != NULL) {
		for (i = 0; i < cf.c->npairs; i++)
			free(cf.pos[i].dests);
		free(cf.pos);
	}
	cf.c->nfiles = cf.nfiles;
	for (i = 0; i < cf.nfiles; i++)
		config_file_free(cf.files[i]);
	free(cf.files);
	config_schema_policy_clear(&cf.defaults);
	free(cf.creds);
	if (cf.nfatal != 0) {
		config_free(cf.c);
		return -1;
	}
	*out = cf.c;
	return 0;
}

void
config_algo_clear(struct config_algo *a)
{
	free(a->owner);
	free(a->name);
	free(a->full);
	memset(a, 0, sizeof *a);
}

int
config_algo_parse(const struct config *c, const char *spec,
    struct config_algo *out, char **cause)
{
	char	*causes[3];
	size_t	 n, i;

	if ((n = config_pair_algo_parse(c, spec, "algorithm", out,
	    causes)) == 0)
		return 0;
	*cause = causes[0];
	for (i = 1; i < n; i++)
		free(causes[i]);
	return -1;
}

void
config_free(struct config *c)
{
	struct config_cluster	*cl;
	struct config_pair	*pr;
	size_t			 i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nclusters; i++) {
		cl = &c->clusters[i];
		free(cl->name);
		free(cl->api);
		free(cl->git);
		free(cl->key_owner);
		free(cl->api_key_file);
		free(cl->api_key_env);
		if (cl->api_key != NULL) {
			explicit_bzero(cl->api_key, strlen(cl->api_key));
			free(cl->api_key);
		}
		free(cl->ca_file);
	}
	free(c->clusters);
	for (i = 0; i < c->npairs; i++) {
		pr = &c->pairs[i];
		free(pr->name);
		config_algo_clear(&pr->source);
		for (j = 0; j < pr->ndests; j++)
			config_algo_clear(&pr->dests[j]);
		free(pr->dests);
		config_schema_policy_clear(&pr->policy);
		config_notify_clear(pr->notify, pr->nnotify);
		for (j = 0; j < pr->ndata; j++)
			config_data_map_clear(&pr->data[j]);
		free(pr->data);
	}
	free(c->pairs);
	config_notify_clear(c->notify, c->nnotify);
	free(c->trigger_token_file);
	if (c->trigger_token != NULL) {
		explicit_bzero(c->trigger_token, strlen(c->trigger_token));
		free(c->trigger_token);
	}
	free(c->path);
	free(c->state_dir);
	free(c->log_file);
	free(c->listen);
	free(c->control_socket);
	free(c);
}

size_t
config_ndests(const struct config *c)
{
	size_t	 i, n = 0;

	for (i = 0; i < c->npairs; i++)
		n += c->pairs[i].ndests;
	return n;
}

struct config_cluster *
config_cluster_find(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nclusters; i++)
		if (strcmp(c->clusters[i].name, name) == 0)
			return &c->clusters[i];
	return NULL;
}

struct config_pair *
config_pair_find(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->npairs; i++)
		if (c->pairs[i].name != NULL &&
		    strcmp(c->pairs[i].name, name) == 0)
			return &c->pairs[i];
	return NULL;
}

/* names[i] of a NULL-terminated list, or "unknown". */
static const char *
config_name(const char *const *names, unsigned int i)
{
	size_t	 n;

	for (n = 0; names[n] != NULL; n++)
		;
	return i < n ? names[i] : "unknown";
}

const char *
config_vtype_name(enum config_vtype v)
{
	return config_name(config_schema_vtype_names, (unsigned int)v);
}

const char *
config_track_name(enum config_track t)
{
	return config_name(config_schema_track_names, (unsigned int)t);
}

const char *
config_approval_name(enum config_approval a)
{
	return config_name(config_schema_approval_names, (unsigned int)a);
}

const char *
config_drift_name(enum config_drift d)
{
	return config_name(config_schema_drift_names, (unsigned int)d);
}

const char *
config_metadata_name(enum config_metadata m)
{
	return config_name(config_schema_metadata_names, (unsigned int)m);
}

const char *
config_data_owner(const char *owner, const struct config_cluster *cl)
{
	return strcmp(owner, ".my") == 0 ? cl->key_owner : owner;
}

const char *
config_notify_event_name(enum config_notify_event e)
{
	return config_name(config_schema_notify_event_names, (unsigned int)e);
}

int
config_notify_event_parse(const char *name)
{
	int	 i;

	for (i = 0; config_schema_notify_event_names[i] != NULL; i++)
		if (strcmp(config_schema_notify_event_names[i], name) == 0)
			return i;
	return -1;
}
