/* config_secret.c: the secrets a configuration names: API keys from key
 * files (permissions checked) or the environment, tokens from token
 * files, and CA files. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config_int.h"
#include "redact.h"
#include "xmalloc.h"

/*
 * A file named in the configuration: absolute as written, else in
 * $CREDENTIALS_DIRECTORY (for key files, when set), else beside the
 * configuration. *show is the name for messages, relative when the
 * configuration's path was.
 *
 * In $CREDENTIALS_DIRECTORY a '/' of the name is '_': systemd names a
 * credential loaded from a directory (LoadCredential=keys:DIR) "keys_"
 * followed by the file's path below DIR, '/' written '_'. So the name
 * keys/dev.key finds /etc/algopromoted/keys/dev.key from a shell (beside
 * the configuration) and its credential keys_dev.key in the service.
 */
static void
config_secret_resolve(struct cf *cf, const char *name, int creds, char **abs,
    char **show)
{
	char	*cred, *p;

	if (name[0] == '/') {
		*abs = xstrdup(name);
		*show = xstrdup(name);
	} else if (creds && cf->creds != NULL) {
		cred = xstrdup(name);
		for (p = cred; (p = strchr(p, '/')) != NULL; p++)
			*p = '_';
		*abs = config_yaml_path_join(cf->creds, cred);
		*show = xstrdup(*abs);
		free(cred);
	} else {
		*abs = config_yaml_path_join(cf->dir_abs, name);
		*show = cf->dir_show != NULL ?
		    config_yaml_path_join(cf->dir_show, name) : xstrdup(name);
	}
}

/* The key's length without trailing whitespace; 0 when it has none,
 * SIZE_MAX when what is left is not one printable ASCII word. */
static size_t
config_secret_len(const char *buf, size_t len)
{
	size_t	 i;

	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		len--;
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			return SIZE_MAX;
	return len;
}

static void
config_secret_set(struct config_cluster *cl, char *key)
{
	if ((cl->api_key = key) == NULL)
		return;
	redact_add(cl->api_key);
	if (cl->key_owner != NULL)
		redact_add_basic(cl->key_owner, cl->api_key);
}

/* The secret in buf (n bytes, from what), or NULL reported; noun names
 * it ("key", "token"). */
static char *
config_secret_take(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *what, const char *noun, const char *buf, size_t n)
{
	size_t	 len;

	if ((len = config_secret_len(buf, n)) == 0)
		config_diag_err(cf, v, obj, "%s is empty", what);
	else if (len == SIZE_MAX)
		config_diag_err(cf, v, obj, "%s: the %s contains whitespace, "
		    "control or non-ASCII characters", what, noun);
	else
		return xstrndup(buf, len);
	return NULL;
}

/* path opened for reading, or -1 reported. */
static int
config_secret_open(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *what, const char *path, const char *quoted)
{
	int	 fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		config_diag_err(cf, v, obj, "cannot read %s %s: %s", what,
		    quoted, strerror(errno));
	return fd;
}

/* "key file", "token file": what reads the secret of key. */
static void
config_secret_read(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, const char *noun, char **path, char **secret)
{
	struct stat	 sb;
	const char	*s;
	char		*show = NULL, *what, q[CF_QLEN], buf[CF_MAX_KEY + 2];
	char		 file[32];
	size_t		 n = 0, len;
	ssize_t		 r;
	int		 fd = -1, increds = 0;

	if (config_yaml_string(cf, v, obj, key, 0, &s) != 1)
		return;
	snprintf(file, sizeof file, "%s file", noun);
	config_secret_resolve(cf, s, 1, path, &show);
	config_diag_quote(q, show);
	if (cf->creds != NULL) {
		len = strlen(cf->creds);
		increds = strncmp(*path, cf->creds, len) == 0 &&
		    (*path)[len] == '/';
	}
	if (cf->flags & CONFIG_LOAD_SKIP_KEYS)
		goto out;
	if ((fd = config_secret_open(cf, v, obj, file, *path, q)) == -1)
		goto out;
	if (fstat(fd, &sb) == -1) {
		config_diag_err(cf, v, obj, "cannot read %s %s: %s", file, q,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		config_diag_err(cf, v, obj, "%s %s is not a regular file",
		    file, q);
		goto out;
	}
	if (!increds && (sb.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		config_diag_err(cf, v, obj,
		    "%s %s is readable by group or "
		    "others (chmod 600)", file, q);
		goto out;
	}
	while (n < sizeof buf - 1) {
		if ((r = read(fd, buf + n, sizeof buf - 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			config_diag_err(cf, v, obj,
			    "cannot read %s %s: %s", file, q,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CF_MAX_KEY)
		config_diag_err(cf, v, obj,
		    "%s %s is larger than %d bytes", file, q,
		    CF_MAX_KEY);
	else {
		what = xprintf("%s %s", file, q);
		*secret = config_secret_take(cf, v, obj, what, noun, buf, n);
		free(what);
	}
out:
	explicit_bzero(buf, sizeof buf);
	if (fd != -1)
		close(fd);
	free(show);
}

void
config_secret_key_file(struct cf *cf, struct config_cluster *cl,
    const yaml_node_t *v, const char *obj)
{
	char	*key = NULL;

	config_secret_read(cf, v, obj, "api_key_file", "key",
	    &cl->api_key_file, &key);
	config_secret_set(cl, key);
}

void
config_secret_file(struct cf *cf, const yaml_node_t *v, const char *obj,
    const char *key, const char *noun, char **path, char **secret)
{
	config_secret_read(cf, v, obj, key, noun, path, secret);
	if (*secret != NULL)
		redact_add(*secret);
}

/* Keys read from the environment, kept here once the environment's own
 * copy is wiped; every later load (a reload) reads them from here. */
static struct config_secret_env {
	char	*name;
	char	*value;
}		*config_secret_envs;
static size_t	 config_secret_nenvs;

/*
 * getenv() for a key: the first read copies the value here and blanks
 * it in the environment block, which /proc/PID/environ shows to anyone
 * who may read the process. Config loads run one at a time.
 */
static const char *
config_secret_getenv(const char *name)
{
	struct config_secret_env	*e;
	char				*val;
	size_t				 i;

	for (i = 0; i < config_secret_nenvs; i++)
		if (strcmp(config_secret_envs[i].name, name) == 0)
			return config_secret_envs[i].value;
	if ((val = getenv(name)) == NULL)
		return NULL;
	config_secret_envs = xreallocarray(config_secret_envs,
	    config_secret_nenvs + 1, sizeof *config_secret_envs);
	e = &config_secret_envs[config_secret_nenvs++];
	e->name = xstrdup(name);
	e->value = xstrdup(val);
	explicit_bzero(val, strlen(val));
	return e->value;
}

void
config_secret_key_env(struct cf *cf, struct config_cluster *cl,
    const yaml_node_t *v, const char *obj)
{
	const char	*s, *val;
	char		*what, q[CF_QLEN];

	if (config_yaml_string(cf, v, obj, "api_key_env", 0, &s) != 1)
		return;
	if (!config_schema_env_name_ok(s)) {
		config_diag_err(cf, v, obj, "api_key_env %s is not a valid "
		    "environment variable name", config_diag_quote(q, s));
		return;
	}
	cl->api_key_env = xstrdup(s);
	if (cf->flags & CONFIG_LOAD_SKIP_KEYS)
		return;
	if ((val = config_secret_getenv(s)) == NULL)
		config_diag_err(cf, v, obj, "environment variable %s is not "
		    "set", s);
	else if (strlen(val) > CF_MAX_KEY)
		config_diag_err(cf, v, obj, "environment variable %s is longer "
		    "than %d bytes", s, CF_MAX_KEY);
	else {
		what = xprintf("environment variable %s", s);
		config_secret_set(cl, config_secret_take(cf, v, obj, what,
		    "key", val, strlen(val)));
		free(what);
	}
}

void
config_secret_ca_file(struct cf *cf, struct config_cluster *cl,
    const yaml_node_t *v, const char *obj)
{
	struct stat	 sb;
	const char	*s;
	char		*show = NULL, q[CF_QLEN];
	int		 fd;

	if (config_yaml_string(cf, v, obj, "ca_file", CF_OPTIONAL, &s) != 1)
		return;
	config_secret_resolve(cf, s, 0, &cl->ca_file, &show);
	config_diag_quote(q, show);
	if (!(cf->flags & CONFIG_LOAD_SKIP_KEYS) && (fd = config_secret_open(cf,
	    v, obj, "ca_file", cl->ca_file, q)) != -1) {
		if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode))
			config_diag_err(cf, v, obj,
			    "ca_file %s is not a regular "
			    "file", q);
		close(fd);
	}
	free(show);
}

int
config_secret_equal(const char *configured, const char *presented)
{
	unsigned char	 a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int	 alen = 0, blen = 0;
	int		 same;

	if (configured == NULL || presented == NULL)
		return 0;
	if (EVP_Digest(configured, strlen(configured), a, &alen, EVP_sha256(),
	    NULL) != 1 || EVP_Digest(presented, strlen(presented), b, &blen,
	    EVP_sha256(), NULL) != 1 || alen != blen)
		return 0;
	same = CRYPTO_memcmp(a, b, alen) == 0;
	explicit_bzero(a, sizeof a);
	explicit_bzero(b, sizeof b);
	return same;
}
