/* check_pktline.c: the pkt-line parser (pktline.c) over advertisements that
 * git-http-backend really sent (tests/data/pktline) and over hostile ones. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktline.h"
#include "testutil.h"
#include "xmalloc.h"

#define OID_A	"a01486c5d663aa313c4a6e37079130ee0a8dc11e"
#define OID_B	"ba68784d906237a733c9ea040f3fe7a0518a94af"
#define OID_Z	"0000000000000000000000000000000000000000"
#define OID_256	"906db938cc9dec0c246040f7f059b9878d5327db" \
		"a1d12510a6de88f6091f01ca"
#define CAPS	"multi_ack side-band-64k ofs-delta " \
		"symref=HEAD:refs/heads/main object-format=sha1 agent=git/x"
#define HDR	"001e# service=git-upload-pack\n0000"

/* A growing byte buffer to build advertisements in. */
struct buf {
	char	*p;
	size_t	 n;
};

static void
buf_raw(struct buf *b, const char *s, size_t n)
{
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_raw(b, s, strlen(s));
}

/* One pkt of n payload bytes, with its length in lower-case hex. */
static void
buf_pkt(struct buf *b, const char *s, size_t n)
{
	char	 len[5];

	ck_assert_uint_le(n + 4, 0xffff);
	snprintf(len, sizeof len, "%04zx", n + 4);
	buf_raw(b, len, 4);
	buf_raw(b, s, n);
}

static void
buf_line(struct buf *b, const char *s)
{
	buf_pkt(b, s, strlen(s));
}

/* "<oid> <name>\0<caps>\n" as one pkt. */
static void
buf_first(struct buf *b, const char *oid, const char *name, const char *caps)
{
	char	*s;
	size_t	 n;

	n = strlen(oid) + 1 + strlen(name) + 1 + strlen(caps) + 1;
	s = xprintf("%s %s%c%s\n", oid, name, '\0', caps);
	buf_pkt(b, s, n);
	free(s);
}

/* Parses what must be accepted. */
static void
parse_ok(struct pktline_adv *adv, const struct buf *b, const char *service)
{
	char	*cause = NULL;

	ck_assert_msg(pktline_parse_adv(adv, b->p, b->n, service, &cause) ==
	    0, "%s", cause);
}

/* Parses what must be refused, with a cause starting with want; *out must
 * come back empty. */
static void
parse_bad(const char *data, size_t len, const char *want)
{
	struct pktline_adv	 adv;
	char			*cause = NULL;

	memset(&adv, 0x5a, sizeof adv);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, "git-upload-pack",
	    &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0,
	    "cause \"%s\", wanted \"%s...\"", cause, want);
	ck_assert_ptr_null(strchr(cause, '\n'));
	ck_assert_ptr_null(adv.refs);
	ck_assert_uint_eq(adv.nrefs, 0);
	ck_assert_ptr_null(adv.caps);
	ck_assert_ptr_null(adv.head_target);
	free(cause);
}

static void
buf_bad(const struct buf *b, const char *want)
{
	parse_bad(b->p, b->n, want);
}

static void
assert_ref(const struct pktline_adv *adv, const char *name, const char *oid)
{
	const struct pktline_ref *r;

	ck_assert_msg((r = pktline_adv_find(adv, name)) != NULL,
	    "%s not found", name);
	ck_assert_str_eq(r->oid, oid);
}

/* ---------------------------------------------------------------------
 * Captured answers.
 */

struct capture {
	const char	*file;
	const char	*service;
	size_t		 nrefs;
	const char	*head_target;	/* NULL: none */
	int		 sha256;
	int		 caps;		/* capabilities expected */
};

static const struct capture captures[] = {
	{ "one-branch", "git-upload-pack", 2, "refs/heads/main", 0, 1 },
	{ "one-branch-receive", "git-receive-pack", 1, NULL, 0, 1 },
	{ "empty", "git-upload-pack", 0, NULL, 0, 0 },
	{ "empty-receive", "git-receive-pack", 0, NULL, 0, 1 },
	{ "tags", "git-upload-pack", 5, "refs/heads/main", 0, 1 },
	{ "unborn-head", "git-upload-pack", 2, NULL, 0, 1 },
	{ "sha256", "git-upload-pack", 3, "refs/heads/main", 1, 1 },
	{ "many-refs", "git-upload-pack", 602, "refs/heads/main", 0, 1 },
};

/* What `git show-ref --head -d` said of the same repository, checked
 * against the parse: every ref, every peeled tag, nothing more. */
static void
check_oracle(const struct pktline_adv *adv, const char *file)
{
	const struct pktline_ref *r;
	char		*name, *text, *line, *next, *sp;
	size_t		 len, n = 0, l;

	name = xprintf("%s.refs", file);
	text = testutil_data("pktline", name, &len);
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		ck_assert_ptr_nonnull(next);
		*next++ = '\0';
		ck_assert_ptr_nonnull(sp = strchr(line, ' '));
		*sp++ = '\0';
		l = strlen(sp);
		if (l > 3 && strcmp(sp + l - 3, "^{}") == 0) {
			ck_assert_ptr_null(pktline_adv_find(adv, sp));
			sp[l - 3] = '\0';
			ck_assert_msg((r = pktline_adv_find(adv, sp)) != NULL,
			    "%s: %s", file, sp);
			ck_assert_str_eq(r->peeled, line);
			continue;
		}
		assert_ref(adv, sp, line);
		n++;
	}
	ck_assert_uint_eq(n, adv->nrefs);
	free(text);
	free(name);
}

START_TEST(test_captures)
{
	const struct capture	*c = &captures[_i];
	struct pktline_adv	 adv;
	char			*name, *data, *cause = NULL;
	size_t			 len, i;

	name = xprintf("%s.adv", c->file);
	data = testutil_data("pktline", name, &len);
	ck_assert_msg(pktline_parse_adv(&adv, data, len, c->service, &cause) ==
	    0, "%s: %s", c->file, cause);
	ck_assert_uint_eq(adv.nrefs, c->nrefs);
	ck_assert_int_eq(adv.sha256, c->sha256);
	ck_assert_int_eq(adv.version, 0);
	if (c->head_target != NULL)
		ck_assert_str_eq(adv.head_target, c->head_target);
	else
		ck_assert_ptr_null(adv.head_target);
	if (c->caps) {
		ck_assert_ptr_nonnull(adv.caps);
		ck_assert_ptr_nonnull(strstr(adv.caps, "agent=git/"));
		ck_assert_ptr_null(strchr(adv.caps, '\n'));
	} else
		ck_assert_ptr_null(adv.caps);
	for (i = 0; i < adv.nrefs; i++) {
		ck_assert_uint_eq(strlen(adv.refs[i].oid), c->sha256 ? 64 : 40);
		ck_assert_uint_eq(strspn(adv.refs[i].oid, "0123456789abcdef"),
		    c->sha256 ? 64 : 40);
	}
	if (strcmp(c->service, "git-upload-pack") == 0)
		check_oracle(&adv, c->file);
	pktline_adv_clear(&adv);
	ck_assert_ptr_null(adv.refs);

	/* The other service's answer is not this one. */
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len,
	    strcmp(c->service, "git-upload-pack") == 0 ? "git-receive-pack" :
	    "git-upload-pack", &cause), -1);
	ck_assert_msg(strncmp(cause, "answer for service ", 19) == 0, "%s",
	    cause);
	free(cause);
	free(data);
	free(name);
}
END_TEST

START_TEST(test_capture_details)
{
	struct pktline_adv	 adv;
	const struct pktline_ref *r;
	char			*data, *cause = NULL;
	size_t			 len;

	/* One branch: HEAD first, carrying the capabilities. */
	data = testutil_data("pktline", "one-branch.adv", &len);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, "git-upload-pack",
	    &cause), 0);
	ck_assert_str_eq(adv.refs[0].name, "HEAD");
	ck_assert_str_eq(adv.refs[0].oid, OID_A);
	assert_ref(&adv, "refs/heads/main", OID_A);
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/heads/master"));
	ck_assert_ptr_nonnull(strstr(adv.caps, "side-band-64k"));
	ck_assert_ptr_nonnull(strstr(adv.caps, "object-format=sha1"));
	pktline_adv_clear(&adv);
	free(data);

	/* Tags: "^{}" lines are not refs but the peeled objects. */
	data = testutil_data("pktline", "tags.adv", &len);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, "git-upload-pack",
	    &cause), 0);
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/tags/v1.0^{}"));
	ck_assert_ptr_nonnull(r = pktline_adv_find(&adv, "refs/tags/v1.0"));
	ck_assert_str_eq(r->oid, "99e7d94d935531fb34323db7101d05f5fbd1c0c2");
	ck_assert_str_eq(r->peeled,
	    "b6d255302a0fa040588ab253b669c5e4bd070ff6");
	ck_assert_ptr_nonnull(r = pktline_adv_find(&adv, "refs/tags/v1.1"));
	ck_assert_str_eq(r->peeled, "");
	pktline_adv_clear(&adv);
	free(data);

	/* HEAD names no branch: the first ref carries the capabilities. */
	data = testutil_data("pktline", "unborn-head.adv", &len);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, "git-upload-pack",
	    &cause), 0);
	ck_assert_ptr_null(pktline_adv_find(&adv, "HEAD"));
	ck_assert_str_eq(adv.refs[0].name, "refs/heads/feature");
	assert_ref(&adv, "refs/heads/other", OID_B);
	ck_assert_ptr_nonnull(strstr(adv.caps, "multi_ack"));
	pktline_adv_clear(&adv);
	free(data);

	/* SHA-256. */
	data = testutil_data("pktline", "sha256.adv", &len);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, "git-upload-pack",
	    &cause), 0);
	assert_ref(&adv, "refs/heads/main", OID_256);
	ck_assert_ptr_nonnull(strstr(adv.caps, "object-format=sha256"));
	pktline_adv_clear(&adv);
	free(data);

	/* A receive-pack answer on an empty repository. */
	data = testutil_data("pktline", "empty-receive.adv", &len);
	ck_assert_int_eq(pktline_parse_adv(&adv, data, len, NULL, &cause), 0);
	ck_assert_uint_eq(adv.nrefs, 0);
	ck_assert_ptr_nonnull(strstr(adv.caps, "report-status"));
	pktline_adv_clear(&adv);
	free(data);
}
END_TEST

/* Every proper prefix of a real answer is refused as truncated: a cut
 * answer must never read as a shorter ref list. */
START_TEST(test_capture_prefixes)
{
	const struct capture	*c = &captures[_i];
	struct pktline_adv	 adv;
	char			*name, *data, *cut, *cause;
	size_t			 len, n, step;

	name = xprintf("%s.adv", c->file);
	data = testutil_data("pktline", name, &len);
	step = len > 4096 ? 97 : 1;
	for (n = 0; n < len; n += step) {
		/* Exactly n bytes, so that ASan sees any overread. */
		cut = xmalloc(n > 0 ? n : 1);
		memcpy(cut, data, n);
		cause = NULL;
		ck_assert_msg(pktline_parse_adv(&adv, cut, n, NULL, &cause) ==
		    -1, "%s: prefix %zu accepted", c->file, n);
		if (n >= 5)
			ck_assert_msg(strncmp(cause, "truncated", 9) == 0,
			    "%s: prefix %zu: %s", c->file, n, cause);
		free(cause);
		free(cut);
	}
	free(data);
	free(name);
}
END_TEST

/* ---------------------------------------------------------------------
 * Hand-made and hostile answers.
 */

START_TEST(test_read_pkts)
{
	static const char	 s[] = "0000000100020004" "0009abcd\n" "000";
	struct pktline		 pkt;
	size_t			 off = 0;
	char			*cause = NULL;

	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause), 0);
	ck_assert_int_eq(pkt.type, PKTLINE_FLUSH);
	ck_assert_uint_eq(off, 4);
	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause), 0);
	ck_assert_int_eq(pkt.type, PKTLINE_DELIM);
	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause), 0);
	ck_assert_int_eq(pkt.type, PKTLINE_END);
	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause), 0);
	ck_assert_int_eq(pkt.type, PKTLINE_DATA);
	ck_assert_uint_eq(pkt.len, 0);
	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause), 0);
	ck_assert_int_eq(pkt.type, PKTLINE_DATA);
	ck_assert_uint_eq(pkt.at, 16);
	ck_assert_uint_eq(pkt.len, 5);
	ck_assert_int_eq(memcmp(pkt.data, "abcd\n", 5), 0);
	ck_assert_uint_eq(off, 25);
	ck_assert_int_eq(pktline_read(&pkt, s, sizeof s - 1, &off, &cause),
	    -1);
	ck_assert_str_eq(cause, "truncated pkt-line at byte 25");
	ck_assert_uint_eq(off, 25);
	free(cause);

	/* The largest pkt there is, and one byte more. */
	{
		char	*big = xmalloc(PKTLINE_MAX + 1);

		memset(big, 'x', PKTLINE_MAX + 1);
		memcpy(big, "fff0", 4);
		off = 0;
		ck_assert_int_eq(pktline_read(&pkt, big, PKTLINE_MAX, &off,
		    &cause), 0);
		ck_assert_uint_eq(pkt.len, PKTLINE_MAX - 4);
		off = 0;
		ck_assert_int_eq(pktline_read(&pkt, big, PKTLINE_MAX - 1,
		    &off, &cause), -1);
		ck_assert_str_eq(cause, "truncated pkt-line at byte 0");
		free(cause);
		memcpy(big, "FFF1", 4);
		off = 0;
		ck_assert_int_eq(pktline_read(&pkt, big, PKTLINE_MAX + 1,
		    &off, &cause), -1);
		ck_assert_str_eq(cause, "bad pkt-line length at byte 0");
		free(cause);
		free(big);
	}
}
END_TEST

START_TEST(test_minimal_and_lf_optional)
{
	struct pktline_adv	 a, b;
	struct buf		 with = { NULL, 0 }, without = { NULL, 0 };
	char			*s;

	buf_str(&with, HDR);
	buf_first(&with, OID_A, "HEAD", CAPS);
	buf_line(&with, OID_A " refs/heads/main\n");
	buf_str(&with, "0000");
	parse_ok(&a, &with, "git-upload-pack");

	/* The same without any trailing LF. */
	buf_line(&without, "# service=git-upload-pack");
	buf_str(&without, "0000");
	s = xprintf("%s HEAD%c%s", OID_A, '\0', CAPS);
	buf_pkt(&without, s, strlen(OID_A) + 6 + strlen(CAPS));
	free(s);
	buf_line(&without, OID_A " refs/heads/main");
	buf_str(&without, "0000");
	parse_ok(&b, &without, "git-upload-pack");

	ck_assert_uint_eq(a.nrefs, 2);
	ck_assert_uint_eq(b.nrefs, 2);
	ck_assert_str_eq(a.caps, CAPS);
	ck_assert_str_eq(b.caps, CAPS);
	ck_assert_str_eq(a.head_target, "refs/heads/main");
	ck_assert_str_eq(b.head_target, "refs/heads/main");
	assert_ref(&a, "refs/heads/main", OID_A);
	assert_ref(&b, "refs/heads/main", OID_A);
	ck_assert_str_eq(b.refs[0].name, "HEAD");
	pktline_adv_clear(&a);
	pktline_adv_clear(&b);
	pktline_adv_clear(NULL);
	free(with.p);
	free(without.p);
}
END_TEST

START_TEST(test_upper_case_hex)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	buf_str(&b, "001E# service=git-upload-pack\n0000");
	buf_str(&b, "003DA01486C5D663AA313C4A6E37079130EE0A8DC11E "
	    "refs/heads/main\n");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	assert_ref(&adv, "refs/heads/main", OID_A);	/* ids lower-cased */
	ck_assert_ptr_null(adv.caps);
	pktline_adv_clear(&adv);
	free(b.p);
}
END_TEST

START_TEST(test_empty_forms)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	/* git-http-backend's: nothing between the two flushes. */
	buf_str(&b, HDR "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 0);
	ck_assert_ptr_null(adv.caps);
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/heads/main"));
	pktline_adv_clear(&adv);

	/* The spec's other form: a zero id named "capabilities^{}". */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_Z, "capabilities^{}", CAPS);
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 0);
	ck_assert_str_eq(adv.caps, CAPS);
	ck_assert_ptr_null(pktline_adv_find(&adv, "capabilities^{}"));
	pktline_adv_clear(&adv);

	/* ... with no capabilities at all. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_Z " capabilities^{}\n");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 0);
	pktline_adv_clear(&adv);

	/* Not with an id, and not after a ref. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "capabilities^{}", CAPS);
	buf_str(&b, "0000");
	buf_bad(&b, "unexpected capabilities^{} at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "refs/heads/main", CAPS);
	buf_line(&b, OID_Z " capabilities^{}\n");
	buf_str(&b, "0000");
	buf_bad(&b, "unexpected capabilities^{}");

	/* An empty pkt in the list means nothing. */
	b.n = 0;
	buf_str(&b, HDR "0004");
	buf_line(&b, OID_A " refs/heads/main\n");
	buf_str(&b, "00040000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 1);
	pktline_adv_clear(&adv);
	free(b.p);
}
END_TEST

START_TEST(test_bad_lengths)
{
	struct buf	 b = { NULL, 0 };

	/* Not hex. */
	buf_str(&b, HDR "00g0");
	buf_bad(&b, "bad pkt-line length at byte 34");
	b.n = 0;
	buf_str(&b, HDR "-03f");
	buf_bad(&b, "bad pkt-line length at byte 34");
	b.n = 0;
	buf_str(&b, "0x1e# service=git-upload-pack\n0000");
	buf_bad(&b, "bad pkt-line length at byte 0");

	/* Below 4 and not a special pkt. */
	b.n = 0;
	buf_str(&b, HDR "0003xx");
	buf_bad(&b, "bad pkt-line length at byte 34");

	/* 0001 and 0002 are protocol v2's. */
	b.n = 0;
	buf_str(&b, HDR "00010000");
	buf_bad(&b, "unexpected delim-pkt at byte 34");
	b.n = 0;
	buf_str(&b, HDR "00020000");
	buf_bad(&b, "unexpected response-end-pkt at byte 34");

	/* Longer than any pkt may be. */
	b.n = 0;
	buf_str(&b, HDR "ffff");
	buf_raw(&b, "x", 1);
	buf_bad(&b, "bad pkt-line length at byte 34");

	/* Longer than what is there. */
	b.n = 0;
	buf_str(&b, HDR "0100" OID_A " refs/heads/main\n0000");
	buf_bad(&b, "truncated pkt-line at byte 34");
	free(b.p);
}
END_TEST

START_TEST(test_header)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	parse_bad("", 0, "empty answer");

	/* A ref list straight away, as a v2-less smart server would not. */
	buf_first(&b, OID_A, "HEAD", CAPS);
	buf_str(&b, "0000");
	buf_bad(&b, "missing # service= header");

	/* A dumb server's info/refs, and an HTML login page. */
	parse_bad(OID_A "\trefs/heads/main\n", 57,
	    "missing # service= header");
	parse_bad("<html><title>Sign in</title></html>", 35,
	    "missing # service= header");
	parse_bad("0000", 4, "missing # service= header");
	parse_bad("0008# x\n", 8, "missing # service= header");

	/* The flush after the header is missing: the refs must not be
	 * taken for more header, nor the list for empty. */
	b.n = 0;
	buf_line(&b, "# service=git-upload-pack\n");
	buf_first(&b, OID_A, "HEAD", CAPS);
	buf_line(&b, OID_A " refs/heads/main\n");
	buf_str(&b, "0000");
	buf_bad(&b, "missing flush after # service= header at byte 30");
	b.n = 0;
	buf_line(&b, "# service=git-upload-pack\n");
	buf_bad(&b, "truncated: no flush after # service= header");

	/* The wrong service; any service when none is asked for. */
	b.n = 0;
	buf_str(&b, "001f# service=git-receive-pack\n00000000");
	buf_bad(&b, "answer for service git-receive-pack, not "
	    "git-upload-pack");
	parse_ok(&adv, &b, NULL);
	pktline_adv_clear(&adv);
	b.n = 0;
	buf_line(&b, "# service=git-upload\n");
	buf_str(&b, "00000000");
	buf_bad(&b, "answer for service git-upload, not git-upload-pack");
	free(b.p);
}
END_TEST

START_TEST(test_err_packets)
{
	struct buf	 b = { NULL, 0 };

	/* Instead of the header (some servers), after it, among refs. */
	buf_line(&b, "ERR access denied or repository not exported\n");
	buf_bad(&b, "ERR access denied or repository not exported");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, "ERR repository not found\n");
	buf_str(&b, "0000");
	buf_bad(&b, "ERR repository not found");
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", CAPS);
	buf_line(&b, "ERR upload-pack: not our ref");
	buf_str(&b, "0000");
	buf_bad(&b, "ERR upload-pack: not our ref");
	b.n = 0;
	buf_line(&b, "# service=git-upload-pack\n");
	buf_line(&b, "ERR no\n");
	buf_bad(&b, "ERR no");

	/* Its text stays on one line. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, "ERR two\nlines\r\x1b[31m");
	buf_str(&b, "0000");
	buf_bad(&b, "ERR two?lines??[31m");
	free(b.p);
}
END_TEST

START_TEST(test_first_line_without_nul)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	/* Servers older than capabilities: accepted, no capabilities. */
	buf_str(&b, HDR);
	buf_line(&b, OID_A " HEAD\n");
	buf_line(&b, OID_B " refs/heads/main\n");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_ptr_null(adv.caps);
	ck_assert_ptr_null(adv.head_target);
	ck_assert_int_eq(adv.sha256, 0);
	assert_ref(&adv, "refs/heads/main", OID_B);
	pktline_adv_clear(&adv);

	/* A NUL on a later line: what follows it is ignored, as git does. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", CAPS);
	buf_first(&b, OID_B, "refs/heads/main", "symref=HEAD:refs/heads/x");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_str_eq(adv.caps, CAPS);
	ck_assert_str_eq(adv.head_target, "refs/heads/main");
	assert_ref(&adv, "refs/heads/main", OID_B);
	pktline_adv_clear(&adv);
	free(b.p);
}
END_TEST

START_TEST(test_capabilities)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	/* symref may repeat; only HEAD's counts. */
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", "ofs-delta symref=refs/remotes/o/HEAD:"
	    "refs/remotes/o/x symref=HEAD:refs/heads/dev symref=HEAD:"
	    "refs/heads/y  symref=");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_str_eq(adv.head_target, "refs/heads/dev");
	pktline_adv_clear(&adv);

	/* A symref of nothing, an empty capability list. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", "symref=HEAD: symref=HEAD");
	buf_first(&b, OID_A, "refs/heads/main", "");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_ptr_null(adv.head_target);
	pktline_adv_clear(&adv);
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", "");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_str_eq(adv.caps, "");
	pktline_adv_clear(&adv);

	/* An object format we cannot read. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "HEAD", "object-format=sha3 agent=x");
	buf_str(&b, "0000");
	buf_bad(&b, "unsupported object-format sha3");
	free(b.p);
}
END_TEST

START_TEST(test_peeled)
{
	struct pktline_adv	 adv;
	const struct pktline_ref *r;
	struct buf		 b = { NULL, 0 };

	buf_str(&b, HDR);
	buf_first(&b, OID_A, "refs/heads/main", CAPS);
	buf_line(&b, OID_B " refs/tags/v1\n");
	buf_line(&b, OID_A " refs/tags/v1^{}\n");
	/* A stray peel without its tag: no ref, and nothing peeled. */
	buf_line(&b, OID_B " refs/tags/v2^{}\n");
	buf_line(&b, OID_A " refs/tags/v3\n");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 3);
	ck_assert_ptr_nonnull(r = pktline_adv_find(&adv, "refs/tags/v1"));
	ck_assert_str_eq(r->oid, OID_B);
	ck_assert_str_eq(r->peeled, OID_A);
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/tags/v1^{}"));
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/tags/v2^{}"));
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/tags/v2"));
	ck_assert_ptr_nonnull(r = pktline_adv_find(&adv, "refs/tags/v3"));
	ck_assert_str_eq(r->peeled, "");
	pktline_adv_clear(&adv);
	free(b.p);
}
END_TEST

START_TEST(test_object_ids)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	/* 64 digits, with the format said. */
	buf_str(&b, HDR);
	buf_first(&b, OID_256, "refs/heads/main",
	    "agent=x object-format=sha256");
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_int_eq(adv.sha256, 1);
	assert_ref(&adv, "refs/heads/main", OID_256);
	pktline_adv_clear(&adv);

	/* 64 digits without it, 40 in a sha256 repository, both mixed. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_256 " refs/heads/main\n");
	buf_str(&b, "0000");
	buf_bad(&b, "object ids of 64 digits in a sha1 repository");
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "refs/heads/main", "object-format=sha256");
	buf_str(&b, "0000");
	buf_bad(&b, "object ids of 40 digits in a sha256 repository");
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_256, "HEAD", "object-format=sha256");
	buf_line(&b, OID_A " refs/heads/main\n");
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte ");

	/* Not hex, too short, too long, no space after it. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, "a01486c5d663aa313c4a6e37079130ee0a8dc1zz refs/heads/m\n");
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, "a01486c5d663aa313c4a6e37079130ee0a8dc11 refs/heads/m\n");
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_256 "0 refs/heads/m\n");
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_A "\trefs/heads/m\n");
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_A);
	buf_str(&b, "0000");
	buf_bad(&b, "bad object id at byte 34");
	free(b.p);
}
END_TEST

START_TEST(test_ref_names)
{
	struct buf	 b = { NULL, 0 };
	static const char *const bad[] = {
		OID_A " \n", OID_A " refs/heads/a b\n",
		OID_A " refs/heads/a\tb\n", OID_A " refs/heads/\x7f\n",
		OID_A "  refs/heads/main\n",
	};
	size_t		 i;

	for (i = 0; i < nitems(bad); i++) {
		b.n = 0;
		buf_str(&b, HDR);
		buf_line(&b, bad[i]);
		buf_str(&b, "0000");
		buf_bad(&b, "bad ref name at byte 34");
	}
	/* An empty name before the capabilities. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_first(&b, OID_A, "", CAPS);
	buf_str(&b, "0000");
	buf_bad(&b, "bad ref name at byte 34");
	free(b.p);
}
END_TEST

START_TEST(test_after_final_flush)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	buf_str(&b, HDR);
	buf_first(&b, OID_A, "refs/heads/main", CAPS);
	buf_str(&b, "0000");
	buf_line(&b, OID_B " refs/heads/evil\n");
	buf_str(&b, "zzzz garbage");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(adv.nrefs, 1);
	ck_assert_ptr_null(pktline_adv_find(&adv, "refs/heads/evil"));
	pktline_adv_clear(&adv);
	free(b.p);
}
END_TEST

START_TEST(test_truncated)
{
	struct buf	 b = { NULL, 0 };

	/* In the middle of a pkt's payload, and of its length. */
	buf_str(&b, HDR "003f" OID_A " refs/he");
	buf_bad(&b, "truncated pkt-line at byte 34");
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_A " refs/heads/main\n");
	buf_str(&b, "00");
	buf_bad(&b, "truncated pkt-line at byte 95");
	/* At a pkt boundary, before the final flush. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, OID_A " refs/heads/main\n");
	buf_bad(&b, "truncated: no flush after the ref list");
	b.n = 0;
	buf_str(&b, HDR);
	buf_bad(&b, "truncated: no flush after the ref list");
	free(b.p);
}
END_TEST

START_TEST(test_versions)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };

	/* "version 1" opens the list when the client asked for it. */
	buf_str(&b, HDR);
	buf_line(&b, "version 1\n");
	buf_first(&b, OID_A, "refs/heads/main", CAPS);
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_int_eq(adv.version, 1);
	ck_assert_str_eq(adv.caps, CAPS);
	assert_ref(&adv, "refs/heads/main", OID_A);
	pktline_adv_clear(&adv);

	/* A v2 capability list is no ref list. */
	b.n = 0;
	buf_str(&b, HDR);
	buf_line(&b, "version 2\n");
	buf_line(&b, "ls-refs=unborn\n");
	buf_str(&b, "0000");
	buf_bad(&b, "unexpected protocol version at byte 34");
	free(b.p);
}
END_TEST

START_TEST(test_largest_pkt)
{
	struct pktline_adv	 adv;
	struct buf		 b = { NULL, 0 };
	char			*line;
	size_t			 n = PKTLINE_MAX - 4;

	/* A ref line that fills the largest pkt exactly. */
	line = xmalloc(n + 1);
	memset(line, 'x', n);
	memcpy(line, OID_A " refs/heads/", 52);
	line[n] = '\0';
	buf_str(&b, HDR);
	buf_line(&b, line);
	ck_assert_int_eq(memcmp(b.p + 34, "fff0", 4), 0);
	buf_str(&b, "0000");
	parse_ok(&adv, &b, "git-upload-pack");
	ck_assert_uint_eq(strlen(adv.refs[0].name), n - 41);
	pktline_adv_clear(&adv);

	/* One more byte does not fit. */
	b.n = 0;
	buf_str(&b, HDR "fff1");
	buf_str(&b, line);
	buf_str(&b, "x0000");
	buf_bad(&b, "bad pkt-line length at byte 34");
	free(line);
	free(b.p);
}
END_TEST

/* Random damage to real answers: never a crash (ASan watches), and what is
 * accepted still holds only well-formed refs. */
START_TEST(test_mutations)
{
	static const char *const files[] = { "one-branch.adv", "tags.adv",
	    "sha256.adv", "unborn-head.adv", "empty-receive.adv" };
	struct pktline_adv	 adv;
	uint32_t		 seed = 12345;
	char			*data, *copy, *cause;
	size_t			 len, f, k, i, pos, nok = 0;

	for (f = 0; f < nitems(files); f++) {
		data = testutil_data("pktline", files[f], &len);
		for (k = 0; k < 400; k++) {
			copy = xmalloc(len);
			memcpy(copy, data, len);
			for (i = 0; i < 1 + k % 3; i++) {
				seed = seed * 1103515245 + 12345;
				pos = (seed >> 8) % len;
				seed = seed * 1103515245 + 12345;
				copy[pos] = (char)(seed >> 16);
			}
			cause = NULL;
			if (pktline_parse_adv(&adv, copy, len, NULL, &cause) ==
			    0) {
				nok++;
				for (i = 0; i < adv.nrefs; i++) {
					size_t l = strlen(adv.refs[i].oid);
					ck_assert(l == 40 || l == 64);
					ck_assert_uint_eq(strspn(
					    adv.refs[i].oid,
					    "0123456789abcdef"), l);
					ck_assert_uint_gt(
					    strlen(adv.refs[i].name), 0);
				}
				pktline_adv_clear(&adv);
			} else {
				ck_assert_ptr_nonnull(cause);
				ck_assert_ptr_null(strchr(cause, '\n'));
				free(cause);
			}
			free(copy);
		}
		free(data);
	}
	/* Some damage (in capabilities, names) is harmless. */
	ck_assert_uint_gt(nok, 0);
}
END_TEST

Suite *
pktline_suite(void)
{
	Suite	*s = suite_create("pktline");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_captures, 0, nitems(captures));
	tcase_add_test(tc, test_capture_details);
	tcase_add_loop_test(tc, test_capture_prefixes, 0, nitems(captures));
	tcase_add_test(tc, test_read_pkts);
	tcase_add_test(tc, test_minimal_and_lf_optional);
	tcase_add_test(tc, test_upper_case_hex);
	tcase_add_test(tc, test_empty_forms);
	tcase_add_test(tc, test_bad_lengths);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_err_packets);
	tcase_add_test(tc, test_first_line_without_nul);
	tcase_add_test(tc, test_capabilities);
	tcase_add_test(tc, test_peeled);
	tcase_add_test(tc, test_object_ids);
	tcase_add_test(tc, test_ref_names);
	tcase_add_test(tc, test_after_final_flush);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_largest_pkt);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}
