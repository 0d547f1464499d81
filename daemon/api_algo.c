/* api_algo.c: the API client's typed endpoints: algorithms, builds and
 * their logs, publishing, and walks through versions. */
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
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "name", cJSON_CreateString(name));
	if (details != NULL)
		cJSON_AddItemToObject(body, "details",
		    cJSON_Duplicate(details, 1));
	if (settings != NULL)
		cJSON_AddItemToObject(body, "settings",
		    cJSON_Duplicate(settings, 1));
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
	struct api_build	 b;
	cJSON			*page;
	const cJSON		*results, *item;
	int			 rv = 0, found = 0;

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
	while (!found &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		cJSON_ArrayForEach(item, results) {
			if (!cJSON_IsObject(item))
				continue;
			api_build_parse(item, &b);
			if (b.commit_sha != NULL &&
			    strcasecmp(b.commit_sha, sha) == 0) {
				*out = b;
				found = 1;
				break;
			}
			api_build_clear(&b);
		}
		cJSON_Delete(page);
	}
	if (found)
		rv = 1;
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
	if (cJSON_IsObject(j))
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
	free(path);
	if (rv != 0)
		return -1;
	if (cJSON_IsObject(j))
		api_version_parse(j, out);
	cJSON_Delete(j);
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
	int			 rv = 0, stop = 0;

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
	while (!stop &&
	    (rv = api_pager_next(c, &p, &page, &results, err)) == 1) {
		cJSON_ArrayForEach(item, results) {
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
