/* api_data.c: the API client's hosted-data calls on collections and
 * files: listing with markers, create, ACL, delete, stat. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api_data.h"
#include "api_int.h"
#include "backoff.h"
#include "log.h"
#include "monotime.h"
#include "xmalloc.h"

#define DATA_SIZE_MAX	9007199254740992.0	/* 2^53: exact in a double */

/*
 * "/v1/connector/data/OWNER[/COLL[/FILE]]". A segment "." or ".." would
 * be taken by curl as a move within the path (it removes dot segments):
 * refused, like an empty one.
 */
static char *
data_path(struct api_client *c, struct api_error *err, const char *owner,
    const char *coll, const char *file)
{
	const char	*segs[5] = { "connector", "data", owner, coll, file };
	size_t		 n = file != NULL ? 5 : coll != NULL ? 4 : 3, i;

	for (i = 2; i < n; i++) {
		if (segs[i] != NULL && (strcmp(segs[i], ".") == 0 ||
		    strcmp(segs[i], "..") == 0)) {
			api_fail(err, "/v1/connector/data: \"%s\" is not a "
			    "name", segs[i]);
			return NULL;
		}
	}
	return api_path(c, err, segs, n);
}

void
api_data_listing_clear(struct api_data_listing *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nfiles; i++) {
		free(l->files[i].name);
		free(l->files[i].last_modified);
	}
	free(l->files);
	cJSON_Delete(l->acl);
	memset(l, 0, sizeof *l);
}

static const char *
data_kind(const cJSON *j)
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

/* Entry i of a listing as *f, or -1 with err naming it and saying what
 * is wrong with it. */
static int
data_entry(const cJSON *e, size_t i, const char *path,
    struct api_data_file *f, struct api_error *err)
{
	const cJSON	*name, *size, *mod;
	const char	*n;

	if (!cJSON_IsObject(e)) {
		api_fail(err, "GET %s: files[%zu] is %s, not an object", path,
		    i, data_kind(e));
		return -1;
	}
	name = cJSON_GetObjectItemCaseSensitive(e, "filename");
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
		api_fail(err, "GET %s: files[%zu] has no filename", path, i);
		return -1;
	}
	n = name->valuestring;
	if (strchr(n, '/') != NULL || strcmp(n, ".") == 0 ||
	    strcmp(n, "..") == 0) {
		api_fail(err, "GET %s: files[%zu] \"%s\": not a file name",
		    path, i, n);
		return -1;
	}
	size = cJSON_GetObjectItemCaseSensitive(e, "size");
	if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0) ||
	    size->valuedouble > DATA_SIZE_MAX ||
	    floor(size->valuedouble) != size->valuedouble) {
		api_fail(err, "GET %s: files[%zu] \"%s\": size is %s, not a "
		    "non-negative integer", path, i, n,
		    cJSON_IsNumber(size) ? "another number" : data_kind(size));
		return -1;
	}
	mod = cJSON_GetObjectItemCaseSensitive(e, "last_modified");
	if (!cJSON_IsString(mod)) {
		api_fail(err, "GET %s: files[%zu] \"%s\": last_modified is %s, "
		    "not a string", path, i, n, data_kind(mod));
		return -1;
	}
	f->name = xstrdup(n);
	f->last_modified = xstrdup(mod->valuestring);
	f->size = (int64_t)size->valuedouble;
	return 0;
}

/* A page of a listing added to out. 0, or -1 with err. */
static int
data_take(const cJSON *page, const char *path, struct api_data_listing *out,
    struct api_error *err)
{
	const cJSON	*files, *e, *acl;
	size_t		 n;

	if (!cJSON_IsObject(page)) {
		api_fail(err, "GET %s: the answer is %s, not an object", path,
		    data_kind(page));
		return -1;
	}
	files = cJSON_GetObjectItemCaseSensitive(page, "files");
	if (files != NULL && !cJSON_IsNull(files) && !cJSON_IsArray(files)) {
		api_fail(err, "GET %s: files is %s, not a list", path,
		    data_kind(files));
		return -1;
	}
	acl = cJSON_GetObjectItemCaseSensitive(page, "acl");
	if (out->acl == NULL && cJSON_IsObject(acl))
		out->acl = cJSON_Duplicate(acl, 1);
	if ((n = (size_t)cJSON_GetArraySize(files)) == 0)
		return 0;
	out->files = xreallocarray(out->files, out->nfiles + n,
	    sizeof *out->files);
	cJSON_ArrayForEach(e, files) {
		if (data_entry(e, out->nfiles, path,
		    &out->files[out->nfiles], err) != 0)
			return -1;
		out->nfiles++;
	}
	return 0;
}

int
api_data_list(struct api_client *c, const char *owner, const char *coll,
    struct api_data_listing *out, struct api_error *err)
{
	struct api_error	 scratch;
	const cJSON		*m;
	cJSON			*page = NULL;
	char			*path, *query, *esc, **seen = NULL;
	size_t			 nseen = 0, i;
	int			 pages, rv = -1;

	if (err == NULL)
		err = &scratch;
	api_data_listing_clear(out);
	api_error_reset(err);
	if ((path = data_path(c, err, owner, coll, NULL)) == NULL)
		return -1;
	for (pages = 0;; pages++) {
		if (pages >= API_DATA_MAX_PAGES) {
			api_error_reset(err);
			api_fail(err, "GET %s: gave up after %d pages", path,
			    pages);
			goto out;
		}
		esc = NULL;
		if (nseen > 0 && (esc = curl_easy_escape(c->curl,
		    seen[nseen - 1], 0)) == NULL) {
			api_fail(err, "GET %s: cannot encode a marker", path);
			goto out;
		}
		query = xprintf("acl=true%s%s", esc != NULL ? "&marker=" : "",
		    esc != NULL ? esc : "");
		curl_free(esc);
		rv = api_call(c, "GET", path, query, NULL, &page, err);
		free(query);
		if (rv != 0) {
			rv = -1;
			if (pages == 0 && err->status == 404) {
				api_error_soft(err);
				rv = 0;
			}
			goto out;
		}
		rv = -1;
		if (data_take(page, path, out, err) != 0)
			goto out;
		m = cJSON_GetObjectItemCaseSensitive(page, "marker");
		if (!cJSON_IsString(m) || m->valuestring[0] == '\0')
			break;
		for (i = 0; i < nseen; i++) {
			if (strcmp(seen[i], m->valuestring) == 0) {
				api_fail(err, "GET %s: the server repeated a "
				    "pagination marker", path);
				goto out;
			}
		}
		seen = xreallocarray(seen, nseen + 1, sizeof *seen);
		seen[nseen++] = xstrdup(m->valuestring);
		cJSON_Delete(page);
		page = NULL;
	}
	rv = 1;
out:
	if (rv != 1)
		api_data_listing_clear(out);
	cJSON_Delete(page);
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	free(path);
	return rv;
}

/*
 * After a change failed so that it may or may not have happened: is it
 * there? A GET of the collection (file == NULL) or a HEAD of the file.
 * 1 there, 0 not, -1 unknown.
 */
static int
data_look(struct api_client *c, const char *owner, const char *coll,
    const char *file)
{
	struct api_error	 e;
	cJSON			*j;
	char			*path;
	int			 rv;

	api_error_reset(&e);
	if ((path = data_path(c, &e, owner, coll, file)) == NULL)
		return -1;
	if (file != NULL)
		rv = api_stream_request(c, "HEAD", path, NULL, NULL, &e);
	else if ((rv = api_call(c, "GET", path, NULL, NULL, &j, &e)) == 0)
		cJSON_Delete(j);
	free(path);
	if (rv == 0)
		return 1;
	return e.status == 404 ? 0 : -1;
}

/*
 * Another round of a change whose last try failed ambiguously (a
 * transient failure that api_call would not repeat)? Waits first. 1 go,
 * 0 no (err as it was), -1 cancelled (err says so).
 */
static int
data_again(struct api_client *c, int round, uint64_t start,
    const char *what, struct api_error *err)
{
	uint64_t	 wait;

	if (round >= c->tries)
		return 0;
	wait = api_retry_wait(round, err->retry_after_ms, backoff_random());
	if (monotime_ms() - start + wait > c->retry_budget_ms)
		return 0;
	log_info("%s%sapi: %s; not there, try %d of %d in %.1f s",
	    c->who ? "route " : "", c->who ? c->who : "", err->message,
	    round + 1, c->tries, (double)wait / 1000);
	if (backoff_sleep(c->cancel, wait) != 0) {
		api_error_reset(err);
		err->cancelled = 1;
		api_fail(err, "%s: cancelled", what);
		return -1;
	}
	return 1;
}

/* A failure after which the destination is worth a look. */
static int
data_ambiguous(const struct api_error *err)
{
	return err->transient && !err->cancelled && !err->halted;
}

int
api_data_create(struct api_client *c, const char *owner, const char *coll,
    const cJSON *acl, struct api_error *err)
{
	struct api_error	 scratch;
	cJSON			*body, *j;
	char			*path, *what;
	uint64_t		 start = monotime_ms();
	int			 rv, round, look;

	if (err == NULL)
		err = &scratch;
	api_error_reset(err);
	if ((path = data_path(c, err, owner, NULL, NULL)) == NULL)
		return -1;
	if (coll == NULL || *coll == '\0' || strchr(coll, '/') != NULL ||
	    strcmp(coll, ".") == 0 || strcmp(coll, "..") == 0) {
		api_fail(err, "POST %s: \"%s\" is not a collection name", path,
		    coll != NULL ? coll : "");
		free(path);
		return -1;
	}
	what = xprintf("POST %s", path);
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "name", cJSON_CreateString(coll));
	if (acl != NULL)
		cJSON_AddItemToObject(body, "acl", cJSON_Duplicate(acl, 1));
	for (round = 1;; round++) {
		if (api_call(c, "POST", path, NULL, body, &j, err) == 0) {
			cJSON_Delete(j);
			rv = 1;
			break;
		}
		rv = -1;
		if (err->status != 0 && (err->code == API_CODE_EXISTS ||
		    (c->detail != NULL &&
		    strcasestr(c->detail, "already exist") != NULL))) {
			api_error_soft(err);
			rv = 0;
			break;
		}
		if (!data_ambiguous(err))
			break;
		if ((look = data_look(c, owner, coll, NULL)) == 1) {
			log_info("%s%sapi: %s; but %s/%s is there",
			    c->who ? "route " : "", c->who ? c->who : "",
			    err->message, owner, coll);
			api_error_soft(err);
			rv = 0;
			break;
		}
		if (look != 0 || data_again(c, round, start, what, err) != 1)
			break;
	}
	cJSON_Delete(body);
	free(what);
	free(path);
	return rv;
}

int
api_data_set_acl(struct api_client *c, const char *owner, const char *coll,
    const cJSON *acl, struct api_error *err)
{
	struct api_error	 scratch;
	cJSON			*body;
	char			*path;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	api_error_reset(err);
	if ((path = data_path(c, err, owner, coll, NULL)) == NULL)
		return -1;
	if (acl == NULL) {
		api_fail(err, "PATCH %s: no ACL", path);
		free(path);
		return -1;
	}
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "acl", cJSON_Duplicate(acl, 1));
	rv = api_stream_request(c, "PATCH", path, body, NULL, err);
	cJSON_Delete(body);
	free(path);
	return rv == 0 ? 0 : -1;
}

int
api_data_delete(struct api_client *c, const char *owner, const char *coll,
    const char *file, struct api_error *err)
{
	struct api_error	 scratch;
	cJSON			*j;
	char			*path, *what;
	uint64_t		 start = monotime_ms();
	int			 rv, round, look;

	if (err == NULL)
		err = &scratch;
	api_error_reset(err);
	if ((path = data_path(c, err, owner, coll, file)) == NULL)
		return -1;
	what = xprintf("DELETE %s", path);
	for (round = 1;; round++) {
		if (api_call(c, "DELETE", path, NULL, NULL, &j, err) == 0) {
			cJSON_Delete(j);
			rv = 1;
			break;
		}
		rv = -1;
		if (err->status == 404) {
			api_error_soft(err);
			rv = 0;
			break;
		}
		if (!data_ambiguous(err))
			break;
		if ((look = data_look(c, owner, coll, file)) == 0) {
			log_info("%s%sapi: %s; but it is gone",
			    c->who ? "route " : "", c->who ? c->who : "",
			    err->message);
			api_error_soft(err);
			rv = 1;
			break;
		}
		if (look != 1 || data_again(c, round, start, what, err) != 1)
			break;
	}
	free(what);
	free(path);
	return rv;
}

int
api_data_stat(struct api_client *c, const char *owner, const char *coll,
    const char *file, int64_t *size, struct api_error *err)
{
	struct api_error	 scratch;
	int64_t			 clen = -1;
	char			*path;
	int			 rv;

	if (err == NULL)
		err = &scratch;
	if (size != NULL)
		*size = -1;
	api_error_reset(err);
	if ((path = data_path(c, err, owner, coll, file)) == NULL)
		return -1;
	rv = api_stream_request(c, "HEAD", path, NULL, &clen, err);
	free(path);
	if (rv == 0) {
		if (size != NULL)
			*size = clen;
		return 1;
	}
	if (err->status == 404) {
		api_error_soft(err);
		return 0;
	}
	return -1;
}
