/* fuzz_pktline.c: git's pkt-line framing and the v0/v1 ref advertisement
 * as pktline.c reads them from a server: an answer or one error line. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pktline.h"

static void
fuzz_pktline_frames(const char *buf, size_t len)
{
	struct pktline	 pkt;
	char		*cause = NULL;
	size_t		 off = 0, before;

	while (off < len) {
		before = off;
		if (pktline_read(&pkt, buf, len, &off, &cause) != 0) {
			FUZZ_ASSERT(off == before, "offset moved on error");
			FUZZ_ASSERT(cause != NULL && strchr(cause, '\n') ==
			    NULL, "bad cause");
			free(cause);
			return;
		}
		FUZZ_ASSERT(off > before && off <= len, "offset %zu of %zu",
		    off, len);
		FUZZ_ASSERT(pkt.at == before, "pkt at %zu, read at %zu",
		    pkt.at, before);
		if (pkt.type == PKTLINE_DATA)
			FUZZ_ASSERT(pkt.data >= buf && pkt.len <= len &&
			    (size_t)(pkt.data - buf) + pkt.len <= off,
			    "payload outside the pkt");
	}
}

static void
fuzz_pktline_oid(const char *oid, int may_be_empty)
{
	size_t	 n = strspn(oid, "0123456789abcdef");

	FUZZ_ASSERT(oid[n] == '\0', "oid \"%s\" not lower-case hex", oid);
	FUZZ_ASSERT(n == 40 || n == 64 || (may_be_empty && n == 0),
	    "oid \"%s\" of %zu digits", oid, n);
}

static void
fuzz_pktline_adv(const char *buf, size_t len, const char *service)
{
	struct pktline_adv	 adv;
	char			*cause = NULL;
	size_t			 i;

	if (pktline_parse_adv(&adv, buf, len, service, &cause) != 0) {
		FUZZ_ASSERT(adv.refs == NULL && adv.nrefs == 0 &&
		    adv.caps == NULL && adv.head_target == NULL,
		    "failure left refs");
		FUZZ_ASSERT(cause != NULL && *cause != '\0' &&
		    strchr(cause, '\n') == NULL, "bad cause");
		free(cause);
		pktline_adv_clear(&adv);
		return;
	}
	for (i = 0; i < adv.nrefs; i++) {
		FUZZ_ASSERT(adv.refs[i].name != NULL &&
		    *adv.refs[i].name != '\0', "ref without a name");
		fuzz_pktline_oid(adv.refs[i].oid, 0);
		fuzz_pktline_oid(adv.refs[i].peeled, 1);
		FUZZ_ASSERT(pktline_adv_find(&adv, adv.refs[i].name) != NULL,
		    "ref %s not found", adv.refs[i].name);
	}
	(void)pktline_adv_find(&adv, "HEAD");
	(void)pktline_adv_find(&adv, "refs/heads/main");
	(void)pktline_adv_find(&adv, "refs/tags/v1^{}");
	pktline_adv_clear(&adv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly size bytes, as a server's answer: no NUL after it. */
	const char	*buf = (const char *)data;

	fuzz_pktline_frames(buf, size);
	fuzz_pktline_adv(buf, size, "git-upload-pack");
	fuzz_pktline_adv(buf, size, NULL);
	return 0;
}
