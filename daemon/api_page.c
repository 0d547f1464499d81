/* api_page.c: the API client's walk through paged collections: "results"
 * with a "marker" or a next_link, a cap on pages, no marker followed twice. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api_int.h"
#include "url.h"
#include "xmalloc.h"

void
api_pager_free(struct api_pager *p)
{
	size_t	 i;

	for (i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	free(p->seen);
	free(p->marker);
	free(p->path);
}

/*
 * Fetches the next page into *page (caller deletes) with *results its
 * array. 1 got a page, 0 at the end, -1 error.
 */
int
api_pager_next(struct api_client *c, struct api_pager *p, cJSON **page,
    const cJSON **results, struct api_error *err)
{
	char		*query, *esc = NULL;

	*page = NULL;
	*results = NULL;
	if (p->done)
		return 0;
	if (p->pages >= p->max_pages) {
		p->done = 1;
		if (!p->fail_at_max)
			return 0;
		api_error_reset(err);
		api_fail(err, "GET %s: gave up after %d pages", p->path,
		    p->pages);
		return -1;
	}
	if (p->marker != NULL &&
	    (esc = curl_easy_escape(c->curl, p->marker, 0)) == NULL) {
		api_error_reset(err);
		api_fail(err, "GET %s: cannot encode a marker", p->path);
		return -1;
	}
	xasprintf(&query, "limit=%d%s%s%s%s",
	    p->pages == 0 ? p->first_limit : API_PAGE_LIMIT,
	    p->filter != NULL ? "&" : "", p->filter != NULL ? p->filter : "",
	    esc != NULL ? "&marker=" : "", esc != NULL ? esc : "");
	curl_free(esc);
	if (api_call(c, "GET", p->path, query, NULL, page, err) != 0) {
		free(query);
		return -1;
	}
	free(query);
	p->pages++;
	return api_pager_take(p, page, results, err);
}

/*
 * The page *page just fetched for p: *results its array, p's marker and
 * end moved on. 1, or -1 (err set, *page deleted and NULL) when the page
 * is no page or repeats a marker. Needs no client: the fuzz tests call it
 * on a buffer.
 */
int
api_pager_take(struct api_pager *p, cJSON **page, const cJSON **results,
    struct api_error *err)
{
	char		*next = NULL;
	const char	*link;
	const cJSON	*m;
	size_t		 i;

	/* A bare array is a server that does not page. */
	if (cJSON_IsArray(*page)) {
		*results = *page;
		p->done = 1;
		return 1;
	}
	*results = cJSON_GetObjectItemCaseSensitive(*page, "results");
	if (!cJSON_IsArray(*results)) {
		api_fail(err, "GET %s: no results in the response", p->path);
		goto bad;
	}
	m = cJSON_GetObjectItemCaseSensitive(*page, "marker");
	if (cJSON_IsString(m) && m->valuestring[0] != '\0')
		next = xstrdup(m->valuestring);
	else if ((link = api_json_string(*page, "next_link")) != NULL &&
	    (next = url_query_param(link, "marker")) == NULL) {
		api_fail(err, "GET %s: next_link has no marker", p->path);
		goto bad;
	}
	free(p->marker);
	p->marker = NULL;
	if (next == NULL) {
		p->done = 1;
		return 1;
	}
	for (i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i], next) == 0) {
			free(next);
			api_fail(err, "GET %s: the server repeated a "
			    "pagination marker", p->path);
			goto bad;
		}
	}
	p->seen = xreallocarray(p->seen, p->nseen + 1, sizeof *p->seen);
	p->seen[p->nseen++] = xstrdup(next);
	p->marker = next;
	return 1;

bad:
	p->done = 1;
	cJSON_Delete(*page);
	*page = NULL;
	*results = NULL;
	return -1;
}
