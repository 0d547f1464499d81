/* fuzz_api.c: the API client's answer decoders on any body: the message
 * of an error body (JSON of any shape, HTML, text), a page of a paged
 * list (results, marker, next_link), builds and versions. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "fuzz.h"

static void
fuzz_api_detail(const char *body, size_t len, const char *ctype)
{
	char	*text;
	int	 code = -1;

	text = api_body_text(body, len, ctype, 502, &code);
	FUZZ_ASSERT(text != NULL && *text != '\0', "no text");
	FUZZ_ASSERT(strchr(text, '\n') == NULL && strchr(text, '\r') ==
	    NULL, "not one line: %s", text);
	FUZZ_ASSERT(strlen(text) <= 200 + 3, "%zu bytes", strlen(text));
	FUZZ_ASSERT(code >= 0, "code %d", code);
	free(text);
}

static void
fuzz_api_items(const cJSON *results)
{
	const cJSON		*item;
	struct api_build	 b;
	struct api_version	 v;

	cJSON_ArrayForEach(item, results) {
		if (!cJSON_IsObject(item))
			continue;
		api_build_parse(item, &b);
		api_build_clear(&b);
		api_version_parse(item, &v);
		api_version_clear(&v);
	}
}

/* The answer as a page, twice: the second time its marker is one seen. */
static void
fuzz_api_pages(const cJSON *j)
{
	struct api_pager	 p;
	struct api_error	 err;
	const cJSON		*results;
	cJSON			*page;
	int			 i, rv;

	memset(&p, 0, sizeof p);
	p.path = strdup("/v1/algorithms/acme/Hello/versions");
	for (i = 0; i < 2 && !p.done; i++) {
		api_error_reset(&err);
		page = cJSON_Duplicate(j, 1);
		rv = api_pager_take(&p, &page, &results, &err);
		if (rv == -1) {
			FUZZ_ASSERT(page == NULL && results == NULL &&
			    err.message[0] != '\0', "bad failure");
			break;
		}
		FUZZ_ASSERT(rv == 1 && cJSON_IsArray(results), "rv %d", rv);
		fuzz_api_items(results);
		cJSON_Delete(page);
	}
	api_pager_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*body = (const char *)data;
	struct api_build	 b;
	struct api_version	 v;
	cJSON			*j;

	fuzz_api_detail(body, size, NULL);
	fuzz_api_detail(body, size, "text/html; charset=utf-8");
	if ((j = cJSON_ParseWithLength(body, size)) == NULL)
		return 0;
	api_build_parse(j, &b);
	api_build_clear(&b);
	api_version_parse(j, &v);
	api_version_clear(&v);
	fuzz_api_pages(j);
	cJSON_Delete(j);
	return 0;
}
