/* api_algo.c: the API client's typed endpoints: algorithms, builds and
 * their logs, publishing, and walks through versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "xmalloc.h"

static char *
api_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
api_build_clear(struct api_build *b)
{
	if (b == NULL)
		return;
	free(b->id);
	free(b->status);
	free(b->commit_sha);
	free(b->version);
	memset(b, 0, sizeof *b);
}

void
api_version_clear(struct api_version *v)
{
	if (v == NULL)
		return;
	free(v->semver);
	free(v->git_hash);
	free(v->build_id);
	free(v->release_notes);
	memset(v, 0, sizeof *v);
}

/* One member an answer's object may have, and the type it must have
 * when present and not null. */
struct api_member {
	const char	*parent;	/* NULL: the object itself */
	const char	*name;
	int		 object;	/* 1: an object; 0: a string */
};

static const struct api_member api_build_members[] = {
	{ NULL, "build_id", 0 }, { NULL, "status", 0 },
	{ NULL, "commit_sha", 0 }, { NULL, "version_info", 1 },
	{ "version_info", "semantic_version", 0 },
};

static const struct api_member api_version_members[] = {
	{ NULL, "version_info", 1 }, { NULL, "build", 1 },
	{ "version_info", "semantic_version", 0 },
	{ "version_info", "git_hash", 0 },
	{ "version_info", "release_notes", 0 },
	{ "build", "build_id", 0 }, { "build", "commit_sha", 0 },
};

static const char *
api_json_kind(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsArray(j))
		return "a list";
	if (cJSON_IsObject(j))
		return "an object";
	return "null";
}

/*
 * A build or version object (item of a list, or a whole answer) whose
 * members this client reads have the wrong type is an answer it does not
 * understand: read as absent, such a member could make a version look
 * unpublished or a build never found. 0, or -1 with err saying e.g. "GET
 * PATH: results[2]: version_info.git_hash is a number, not a string".
 * index < 0: the answer itself, which must be an object; an item that is
 * no object claims nothing and is passed over by the callers.
 */
static int
api_check_members(const cJSON *j, const struct api_member *m, size_t n,
    const char *method, const char *path, int index, struct api_error *err)
{
	const cJSON	*o, *v;
	char		 where[32] = "";
	size_t		 i;

	if (!cJSON_IsObject(j)) {
		if (index >= 0)
			return 0;
		api_error_soft(err);
		api_fail(err, "%s %s: the answer is %s, not an object", method,
		    path, api_json_kind(j));
		return -1;
	}
	if (index >= 0)
		snprintf(where, sizeof where, "results[%d]: ", index);
	for (i = 0; i < n; i++) {
		o = m[i].parent == NULL ? j :
		    cJSON_GetObjectItemCaseSensitive(j, m[i].parent);
		if (!cJSON_IsObject(o))
			continue;	/* absent, or reported as the parent */
		v = cJSON_GetObjectItemCaseSensitive(o, m[i].name);
		if (v == NULL || cJSON_IsNull(v) ||
		    (m[i].object ? cJSON_IsObject(v) : cJSON_IsString(v)))
			continue;
		api_error_soft(err);	/* the status stays */
		api_fail(err, "%s %s: %s%s%s%s is %s, not %s", method, path,
		    where, m[i].parent != NULL ? m[i].parent : "",
		    m[i].parent != NULL ? "." : "", m[i].name,
		    api_json_kind(v), m[i].object ? "an object" : "a string");
		return -1;
	}
	return 0;
}

#define API_CHECK_BUILD(j, method, path, index, err)			\
	api_check_members((j), api_build_members,			\
	    sizeof api_build_members / sizeof api_build_members[0],	\
	    (method), (path), (index), (err))
#define API_CHECK_VERSION(j, method, path, index, err)			\
	api_check_members((j), api_version_members,			\
	    sizeof api_version_members / sizeof api_version_members[0],	\
	    (method), (path), (index), (err))

/* A build object of the API as *b (overwritten, not freed first). */
void
api_build_parse(const cJSON *j, struct api_build *b)
{
	const cJSON	*vi;
	const char	*id;

	memset(b, 0, sizeof *b);
	if ((id = api_json_string(j, "build_id")) == NULL)
		id = api_json_string(j, "id");
	b->id = api_dup(id);
	b->status = api_dup(api_json_string(j, "status"));
	b->commit_sha = api_dup(api_json_string(j, "commit_sha"));
	vi = cJSON_GetObjectItemCaseSensitive(j, "version_info");
	b->version = api_dup(api_json_string(vi, "semantic_version"));
}

/* A version object of the API as *v (overwritten, not freed first). */
void
api_version_parse(const cJSON *j, struct api_version *v)
{
	const cJSON	*vi, *build;
	const char	*hash;

	memset(v, 0, sizeof *v);
	vi = cJSON_GetObjectItemCaseSensitive(j, "version_info");
	build = cJSON_GetObjectItemCaseSensitive(j, "build");
	v->semver = api_dup(api_json_string(vi, "semantic_version"));
	if ((hash = api_json_string(vi, "git_hash")) == NULL)
		hash = api_json_string(build, "commit_sha");
	v->git_hash = api_dup(hash);
	v->build_id = api_dup(api_json_string(build, "build_id"));
	v->release_notes = api_dup(api_json_string(vi, "release_notes"));
}

static void
api_version_copy(struct api_version *dst, const struct api_version *src)
{
	dst->semver = api_dup(src->semver);
	dst->git_hash = api_dup(src->git_hash);
	dst->build_id = api_dup(src->build_id);
	dst->release_notes = api_dup(src->release_notes);
}

/* Hands j to the caller through out, or deletes it when out is NULL. */
static void
api_give(cJSON **out, cJSON *j)
{
	if (out != NULL)
		*out = j;
	else
		cJSON_Delete(j);
}

static int
api_not_found(struct api_error *err, const char *detail)
{
	return err->status == 404 || err->code == API_CODE_NO_ALGORITHM ||
	    err->code == API_CODE_NO_SUCH_NAME ||
	    (detail != NULL && strcasestr(detail, "no such algorithm") != NULL);
}

int
api_algo_get(struct api_client *c, const char *owner, const char *algo,
    cJSON **out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*j;

	if (err == NULL)
		err = &scratch;
	if (out != NULL)
		*out = NULL;
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo)) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		if (err->status == 0 || !api_not_found(err, c->detail))
			return -1;
		api_error_soft(err);
		return 0;
	}
	if (!cJSON_IsObject(j)) {
		api_fail(err, "GET %s: the answer is not an object", path);
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	free(path);
	api_give(out, j);
	return 1;
}

/* What an update sends for details or settings it is not given. */
static const cJSON api_algo_empty = { .type = cJSON_Object };

/* An update's or a create's body: name (NULL: none), then copies of the
 * details and settings that are not NULL. */
static cJSON *
api_algo_body(const char *name, const cJSON *details, const cJSON *settings)
{
	cJSON	*body = cJSON_CreateObject();

	if (name != NULL)
		cJSON_AddItemToObject(body, "name", cJSON_CreateString(name));
	if (details != NULL)
		cJSON_AddItemToObject(body, "details",
		    cJSON_Duplicate(details, 1));
	if (settings != NULL)
		cJSON_AddItemToObject(body, "settings",
		    cJSON_Duplicate(settings, 1));
	return body;
}

int
api_algo_update(struct api_client *c, const char *owner, const char *algo,
    const cJSON *details, const cJSON *settings, cJSON **out,
    struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*body, *j;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	if (out != NULL)
		*out = NULL;
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo)) == NULL)
		return -1;
	body = api_algo_body(NULL, details != NULL ? details : &api_algo_empty,
	    settings != NULL ? settings : &api_algo_empty);
	rv = api_call(c, "PUT", path, NULL, body, &j, err);
	cJSON_Delete(body);
	free(path);
	if (rv != 0)
		return -1;
	api_give(out, j);
	return 0;
}

int
api_algo_create(struct api_client *c, const char *owner, const char *name,
    const cJSON *details, const cJSON *settings, cJSON **out,
    struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*body, *j;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	if (out != NULL)
		*out = NULL;
	api_error_reset(err);
	if (name == NULL || *name == '\0') {
		api_fail(err, "create algorithm: no name");
		return -1;
	}
	if ((path = API_PATH(c, err, "algorithms", owner)) == NULL)
		return -1;
	body = api_algo_body(name, details, settings);
	rv = api_call(c, "POST", path, NULL, body, &j, err);
	cJSON_Delete(body);
	if (rv != 0) {
		free(path);
		if (err->status != 0 && (err->code == API_CODE_EXISTS ||
		    (c->detail != NULL &&
		    strcasestr(c->detail, "already exist") != NULL))) {
			api_error_soft(err);
			return 0;
		}
		return -1;
	}
	free(path);
	api_give(out, j);
	return 1;
}

int
api_build_find(struct api_client *c, const char *owner, const char *algo,
    const char *sha, struct api_build *out, struct api_error *err)
{
	struct api_error	 scratch;
	struct api_pager	 p;
	struct api_build	 b = { 0 };
	cJSON			*page;
	const cJSON		*results, *item;
	int			 rv = 0, found = 0, i;

	if (err == NULL)
		err = &scratch;
	api_build_clear(out);
	api_error_reset(err);
	if (sha == NULL || *sha == '\0') {
		api_fail(err, "find build: no commit");
		return -1;
	}
	memset(&p, 0, sizeof p);
	p.first_limit = API_PAGE_LIMIT;
	p.max_pages = API_BUILD_MAX_PAGES;
	if ((p.path = API_PATH(c, err, "algorithms", owner, algo,
	    "builds")) == NULL)
		return -1;
	while (!found && rv != -1 &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		i = 0;
		cJSON_ArrayForEach(item, results) {
			if (API_CHECK_BUILD(item, "GET", p.path, i++, err)) {
				rv = -1;
				break;
			}
			if (!cJSON_IsObject(item))
				continue;
			api_build_parse(item, &b);
			if (b.commit_sha != NULL &&
			    strcasecmp(b.commit_sha, sha) == 0) {
				found = 1;
				break;
			}
			api_build_clear(&b);
		}
		cJSON_Delete(page);
	}
	if (found && b.id == NULL) {
		/* Nothing to follow it by. */
		api_build_clear(&b);
		api_error_reset(err);
		api_fail(err, "GET %s: the build of %s has no build_id",
		    p.path, sha);
		rv = -1;
	} else if (found) {
		*out = b;
		rv = 1;
	}
	if (rv != -1)
		api_error_soft(err);
	api_pager_free(&p);
	return rv;
}

int
api_build_get(struct api_client *c, const char *owner, const char *algo,
    const char *build_id, struct api_build *out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*j;

	if (err == NULL)
		err = &scratch;
	api_build_clear(out);
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo, "builds",
	    build_id)) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		return -1;
	}
	if (API_CHECK_BUILD(j, "GET", path, -1, err)) {
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	api_build_parse(j, out);
	if (out->status == NULL) {
		api_fail(err, "GET %s: no build status in the answer", path);
		api_build_clear(out);
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	if (out->id == NULL)
		out->id = xstrdup(build_id);
	cJSON_Delete(j);
	free(path);
	return 0;
}

int
api_build_logs(struct api_client *c, const char *owner, const char *algo,
    const char *build_id, char **logs, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	const cJSON		*l;
	cJSON			*j;
	int			 rv = 0;

	if (err == NULL)
		err = &scratch;
	*logs = NULL;
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo, "builds",
	    build_id, "logs")) == NULL)
		return -1;
	if (api_call(c, "GET", path, NULL, NULL, &j, err) != 0) {
		free(path);
		if (err->status != 404)
			return -1;
		api_error_soft(err);
		return 0;
	}
	free(path);
	l = cJSON_GetObjectItemCaseSensitive(j, "logs");
	if (cJSON_IsString(l)) {
		*logs = xstrdup(l->valuestring);
		rv = 1;
	}
	cJSON_Delete(j);
	return rv;
}

int
api_publish(struct api_client *c, const char *owner, const char *algo,
    const char *version_type, const char *release_notes,
    const char *git_hash, struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;
	char			*path;
	cJSON			*body, *vi, *j;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	api_error_reset(err);
	if ((path = API_PATH(c, err, "algorithms", owner, algo,
	    "versions")) == NULL)
		return -1;
	/* The shape Algorithmia's own clients send: all three objects,
	 * empty where unused. git_hash makes it a compare-and-set: the
	 * server publishes that commit's build or refuses. */
	body = cJSON_CreateObject();
	cJSON_AddObjectToObject(body, "details");
	cJSON_AddObjectToObject(body, "settings");
	vi = cJSON_AddObjectToObject(body, "version_info");
	if (version_type != NULL)
		cJSON_AddStringToObject(vi, "version_type", version_type);
	if (release_notes != NULL)
		cJSON_AddStringToObject(vi, "release_notes", release_notes);
	if (git_hash != NULL)
		cJSON_AddStringToObject(vi, "git_hash", git_hash);
	rv = api_call(c, "POST", path, NULL, body, &j, err);
	if (rv != 0 && (err->status == 404 || err->status == 405)) {
		/* Some servers spell it singular (the Java client does). */
		free(path);
		if ((path = API_PATH(c, err, "algorithms", owner, algo,
		    "version")) == NULL) {
			cJSON_Delete(body);
			return -1;
		}
		rv = api_call(c, "POST", path, NULL, body, &j, err);
	}
	cJSON_Delete(body);
	if (rv != 0) {
		free(path);
		return -1;
	}
	/* Not an object: nothing said, the caller looks the version up. */
	if (cJSON_IsObject(j) && API_CHECK_VERSION(j, "POST", path, -1, err)) {
		cJSON_Delete(j);
		free(path);
		return -1;
	}
	if (cJSON_IsObject(j))
		api_version_parse(j, out);
	cJSON_Delete(j);
	free(path);
	return 0;
}

/* Walks versions; fn sees each one passing the published filter. */
static int
api_versions_walk(struct api_client *c, const char *owner, const char *algo,
    int published, int first_limit,
    int (*fn)(const struct api_version *, void *), void *arg,
    struct api_error *err)
{
	struct api_pager	 p;
	struct api_version	 v;
	cJSON			*page;
	const cJSON		*results, *item;
	int			 rv = 0, stop = 0, i;

	api_error_reset(err);
	memset(&p, 0, sizeof p);
	p.first_limit = first_limit;
	p.max_pages = API_VERSION_MAX_PAGES;
	p.fail_at_max = 1;
	if (published == 1)
		p.filter = "published=true";
	else if (published == 0)
		p.filter = "published=false";
	if ((p.path = API_PATH(c, err, "algorithms", owner, algo,
	    "versions")) == NULL)
		return -1;
	while (!stop && rv != -1 &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		i = 0;
		cJSON_ArrayForEach(item, results) {
			if (API_CHECK_VERSION(item, "GET", p.path, i++, err)) {
				rv = -1;
				break;
			}
			if (!cJSON_IsObject(item))
				continue;
			api_version_parse(item, &v);
			if ((published == 1 && v.semver == NULL) ||
			    (published == 0 && v.semver != NULL)) {
				api_version_clear(&v);
				continue;
			}
			stop = fn(&v, arg) != 0;
			api_version_clear(&v);
			if (stop)
				break;
		}
		cJSON_Delete(page);
	}
	api_pager_free(&p);
	if (stop) {
		api_error_soft(err);
		return 1;
	}
	if (rv == -1)
		return -1;
	api_error_soft(err);
	return 0;
}

int
api_versions_each(struct api_client *c, const char *owner, const char *algo,
    int published, int (*fn)(const struct api_version *, void *), void *arg,
    struct api_error *err)
{
	struct api_error	 scratch;

	if (err == NULL)
		err = &scratch;
	return api_versions_walk(c, owner, algo, published, API_PAGE_LIMIT,
	    fn, arg, err);
}

static int
api_take_first(const struct api_version *v, void *arg)
{
	api_version_copy(arg, v);
	return 1;
}

int
api_version_latest(struct api_client *c, const char *owner, const char *algo,
    struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	/* limit=1 for the common case; later pages ask for full pages. */
	return api_versions_walk(c, owner, algo, 1, 1, api_take_first, out,
	    err);
}

struct api_find {
	const char		*sha;
	struct api_version	*out;
};

static int
api_take_hash(const struct api_version *v, void *arg)
{
	struct api_find	*f = arg;

	if (v->git_hash == NULL || strcasecmp(v->git_hash, f->sha) != 0)
		return 0;
	api_version_copy(f->out, v);
	return 1;
}

int
api_version_find(struct api_client *c, const char *owner, const char *algo,
    const char *sha, struct api_version *out, struct api_error *err)
{
	struct api_error	 scratch;
	struct api_find		 f;

	if (err == NULL)
		err = &scratch;
	api_version_clear(out);
	if (sha == NULL || *sha == '\0') {
		api_error_reset(err);
		api_fail(err, "find version: no commit");
		return -1;
	}
	f.sha = sha;
	f.out = out;
	return api_versions_walk(c, owner, algo, 1, API_PAGE_LIMIT,
	    api_take_hash, &f, err);
}
