/* fuzz_algoconf.c: the in-place rewrite of an algorithm's algorithmia.conf
 * on any text: a rewritten conf that JSON readers see with our owner and
 * name (the rest untouched), or a cause, never a crash. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "algoconf.h"
#include "fuzz.h"

static const char *const owners[] = { "acme", "a\"b\\c/d\x01\xc3\xa9" };
static const char *const algos[] = { "Hello", "x\ty\n\x7f\xe2\x82\xac" };

/* The text after a UTF-8 byte order mark, which JSON readers skip. */
static const char *
fuzz_algoconf_nobom(const char *s, size_t *len)
{
	if (*len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		*len -= 3;
		return s + 3;
	}
	return s;
}

static void
fuzz_algoconf_one(const char *text, size_t len, const char *owner,
    const char *algo)
{
	cJSON		*in, *out;
	const cJSON	*u, *a;
	const char	*body;
	char		*res = NULL, *again = NULL, *cause = NULL;
	size_t		 blen = len, rlen;

	if (algoconf_rewrite(&res, text, len, owner, algo, &cause) != 0) {
		FUZZ_ASSERT(cause != NULL && *cause != '\0' &&
		    strchr(cause, '\n') == NULL, "bad cause");
		free(cause);
		return;
	}
	FUZZ_ASSERT(res != NULL, "success without text");
	rlen = strlen(res);
	/* Rewriting what we wrote changes nothing. */
	FUZZ_ASSERT(algoconf_rewrite(&again, res, rlen, owner, algo,
	    &cause) == 0, "our own output refused: %s", cause);
	FUZZ_ASSERT(strcmp(again, res) == 0, "a second rewrite changed it");
	free(again);
	/* What a JSON reader sees: our two values (when it can read the
	 * input at all: cJSON has limits of its own; and not when a key
	 * may be spelled with \u escapes, which the rewrite leaves alone
	 * by design, as readers disagree on repeated keys). */
	body = fuzz_algoconf_nobom(text, &blen);
	if (memmem(body, blen, "\\u", 2) == NULL &&
	    (in = cJSON_ParseWithLength(body, blen)) != NULL) {
		blen = rlen;
		body = fuzz_algoconf_nobom(res, &blen);
		out = cJSON_ParseWithLength(body, blen);
		FUZZ_ASSERT(cJSON_IsObject(out), "output is no JSON object");
		u = cJSON_GetObjectItemCaseSensitive(out, "username");
		a = cJSON_GetObjectItemCaseSensitive(out, "algoname");
		FUZZ_ASSERT(cJSON_IsString(u) &&
		    strcmp(u->valuestring, owner) == 0, "username not ours");
		FUZZ_ASSERT(cJSON_IsString(a) &&
		    strcmp(a->valuestring, algo) == 0, "algoname not ours");
		FUZZ_ASSERT(cJSON_GetArraySize(out) >= cJSON_GetArraySize(in),
		    "members lost");
		cJSON_Delete(out);
		cJSON_Delete(in);
	}
	free(res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 i;

	for (i = 0; i < sizeof owners / sizeof owners[0]; i++)
		fuzz_algoconf_one((const char *)data, size, owners[i],
		    algos[i]);
	return 0;
}
