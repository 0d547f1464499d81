/* check_modelmanifest.c: ADK model manifests (modelmanifest.c): the spec's
 * test vector, re-locking checked by python3 as the oracle, parse errors. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelmanifest.h"
#include "testutil.h"
#include "xmalloc.h"

#define VECTOR_LOCK	"24f5eca888d87661ca6fc08042e40cb7"
#define LAYOUT_LOCK	"96dabeb1b244e2efa0a161d644157264"
#define MD5_A		"0cc175b9c0f1b6a831c399e269772661"
#define MD5_B		"92eb5ffee6ae2fec3ad71c777531578f"

/*
 * The oracle: for each line of the file (a JSON document), the MD5 of
 * str() of what json.loads gives without its "lock_checksum", a space,
 * and that str(); as the spec's one-liner does for one document.
 */
#define ORACLE_LINES							\
	"import json,hashlib,sys\n"					\
	"for line in open(sys.argv[1], encoding=\"utf-8\"):\n"		\
	"    d = json.loads(line)\n"					\
	"    d.pop(\"lock_checksum\", None)\n"				\
	"    s = str(d).encode()\n"					\
	"    h = hashlib.md5(s).hexdigest().encode()\n"			\
	"    sys.stdout.buffer.write(h + b\" \" + s + b\"\\n\")\n"

/* For one whole file: the MD5 of the rule, its lock_checksum, then each
 * file's URI, one a line. */
#define ORACLE_DOC							\
	"import json,hashlib,sys\n"					\
	"d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"	\
	"lock = d.pop(\"lock_checksum\")\n"				\
	"print(hashlib.md5(str(d).encode()).hexdigest(), lock)\n"	\
	"for f in d[\"required_files\"] + d[\"optional_files\"]:\n"	\
	"    print(f[\"source_uri\"])\n"

/* 1 when python3 runs; says so (once per test) when it does not. */
static int
have_python(void)
{
	static int	 known = -1;
	char		 line[16] = "";
	FILE		*p;

	if (known != -1)
		return known;
	known = 0;
	if ((p = popen("python3 -c 'print(42)' 2>/dev/null", "r")) != NULL) {
		if (fgets(line, sizeof line, p) != NULL)
			known = strcmp(line, "42\n") == 0;
		pclose(p);
	}
	if (!known)
		fprintf(stderr, "check_modelmanifest: no python3: the "
		    "oracle's comparisons are skipped\n");
	return known;
}

/* What python3 -c script prints with text in a file as its argument;
 * NULL without python3. */
static char *
oracle(const char *script, const char *text, size_t len)
{
	char	*dir, *path, *cmd, *out = NULL;
	char	 buf[4096];
	size_t	 n, total = 0;
	FILE	*f, *p;
	int	 rv;

	if (!have_python())
		return NULL;
	dir = testutil_tmpdir();
	path = xprintf("%s/doc.json", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_ptr_null(strchr(script, '\''));
	ck_assert_ptr_null(strchr(path, '\''));
	cmd = xprintf("python3 -c '%s' '%s'", script, path);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	out = xstrdup("");
	while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
		out = xrealloc(out, total + n + 1);
		memcpy(out + total, buf, n);
		total += n;
		out[total] = '\0';
	}
	rv = pclose(p);
	ck_assert_msg(rv == 0, "python3 on %.200s...: status %d", text, rv);
	testutil_rmtree(dir);
	free(cmd);
	free(path);
	free(dir);
	return out;
}

/* Text collected a line at a time, for the oracle and against it. */
struct lines {
	FILE	*f;
	char	*p;
	size_t	 n;
};

static void
lines_open(struct lines *l)
{
	l->p = NULL;
	l->n = 0;
	ck_assert_ptr_nonnull(l->f = open_memstream(&l->p, &l->n));
}

static void __attribute__((format(printf, 2, 3)))
lines_add(struct lines *l, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfprintf(l->f, fmt, ap);
	va_end(ap);
}

static char *
lines_close(struct lines *l)
{
	ck_assert_int_eq(ferror(l->f), 0);
	ck_assert_int_eq(fclose(l->f), 0);
	return l->p;
}

/* The oracle's output py against ours, want: the first line that
 * differs, with what was asked (ask) on that line. */
static void
same_lines(const char *py, const char *want, const char *ask)
{
	const char	*a = py, *b = want, *q = ask;
	size_t		 line = 1;

	while (*a != '\0' && *a == *b) {
		if (*a == '\n') {
			line++;
			q = strchr(q, '\n') != NULL ? strchr(q, '\n') + 1 : q;
		}
		a++;
		b++;
	}
	while (a > py && a[-1] != '\n')
		a--;
	while (b > want && b[-1] != '\n')
		b--;
	ck_assert_msg(strcmp(py, want) == 0, "line %zu, for %.*s: python3 "
	    "says %.*s, we say %.*s", line, (int)strcspn(q, "\n"), q,
	    (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

static struct modelmanifest *
parse_ok(const char *text, size_t len)
{
	struct modelmanifest *mm;
	char		*cause = NULL;

	ck_assert_msg(modelmanifest_parse(&mm, text, len, "t", &cause) == 0,
	    "%s", cause);
	return mm;
}

static struct modelmanifest *
fixture(const char *name, char **text, size_t *len)
{
	struct modelmanifest *mm;
	char		*cause = NULL;

	*text = testutil_data("manifest", name, len);
	ck_assert_msg(modelmanifest_parse(&mm, *text, *len, name,
	    &cause) == 0, "%s", cause);
	return mm;
}

static void
check_file(const struct modelmanifest_file *f, const char *name,
    const char *owner, const char *coll, const char *file, const char *md5,
    int required, int fail_on_tamper)
{
	char	*uri;

	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, name);
	uri = xprintf("data://%s/%s/%s", owner, coll, file);
	ck_assert_str_eq(f->uri, uri);
	free(uri);
	ck_assert_str_eq(f->owner, owner);
	ck_assert_str_eq(f->coll, coll);
	ck_assert_str_eq(f->file, file);
	if (md5 == NULL)
		ck_assert_ptr_null(f->md5);
	else
		ck_assert_str_eq(f->md5, md5);
	ck_assert_int_eq(f->required, required);
	ck_assert_int_eq(f->fail_on_tamper, fail_on_tamper);
}

/* Each URI moved to data://dest/pinned/<pinned name>; the new URIs. */
static char **
move_all(struct modelmanifest *mm)
{
	const struct modelmanifest_file *f;
	char		**uris, *pinned, *cause = NULL;
	size_t		 i;

	uris = xcalloc(modelmanifest_nfiles(mm) + 1, sizeof *uris);
	for (i = 0; i < modelmanifest_nfiles(mm); i++) {
		f = modelmanifest_file(mm, i);
		pinned = modelmanifest_pinned_name(f->file,
		    f->md5 != NULL ? f->md5 : MD5_B);
		ck_assert_ptr_nonnull(pinned);
		uris[i] = xprintf("data://dest/pinned/%s", pinned);
		free(pinned);
		ck_assert_msg(modelmanifest_set_uri(mm, i, uris[i],
		    &cause) == 0, "%s", cause);
		ck_assert_str_eq(modelmanifest_file(mm, i)->uri, uris[i]);
		ck_assert_str_eq(modelmanifest_file(mm, i)->owner, "dest");
		ck_assert_str_eq(modelmanifest_file(mm, i)->coll, "pinned");
	}
	return uris;
}

static void
free_strv(char **v)
{
	size_t	 i;

	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* The rendered document read back: its files, its lock right; and the
 * oracle agreeing on both. */
static void
check_relocked(const char *text, size_t len, char **uris)
{
	struct modelmanifest *mm;
	char		 sum[33], *cause = NULL, *py, *want, *line;
	size_t		 i;

	mm = parse_ok(text, len);
	ck_assert_int_eq(modelmanifest_frozen(mm), 1);
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 1);
	for (i = 0; uris[i] != NULL; i++)
		ck_assert_str_eq(modelmanifest_file(mm, i)->uri, uris[i]);
	ck_assert_uint_eq(modelmanifest_nfiles(mm), i);
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);
	if ((py = oracle(ORACLE_DOC, text, len)) != NULL) {
		/* The rule's MD5 by python3, the file's lock, the URIs. */
		want = xprintf("%s %s\n", sum, sum);
		for (i = 0; uris[i] != NULL; i++) {
			line = xprintf("%s%s\n", want, uris[i]);
			free(want);
			want = line;
		}
		ck_assert_msg(strcmp(py, want) == 0, "python3: %s, we: %s",
		    py, want);
		free(want);
		free(py);
	}
	modelmanifest_free(mm);
}

START_TEST(test_vector)
{
	struct modelmanifest *mm;
	char		*text, *out, sum[33], *cause = NULL;
	size_t		 len, outlen;

	mm = fixture("adk_example.json.freeze", &text, &len);
	ck_assert_int_eq(modelmanifest_frozen(mm), 1);
	ck_assert_uint_eq(modelmanifest_nfiles(mm), 3);
	check_file(modelmanifest_file(mm, 0), "squeezenet", "AlgorithmiaSE",
	    "image_cassification_demo", "squeezenet1_1-f364aa15.pth",
	    "46a44d32d2c5c07f7f66324bef4c7266", 1, 1);
	check_file(modelmanifest_file(mm, 1), "labels", "AlgorithmiaSE",
	    "image_cassification_demo", "imagenet_class_index.json",
	    "c2c37ea517e94d9795004a39431a14cb", 1, 1);
	check_file(modelmanifest_file(mm, 2), "mobilenet", "AlgorithmiaSE",
	    "image_cassification_demo", "mobilenet_v2-b0353104.pth", NULL, 0,
	    0);
	ck_assert_ptr_null(modelmanifest_file(mm, 3));
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);
	ck_assert_str_eq(sum, VECTOR_LOCK);
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 1);

	/* Nothing changed: the same bytes back. */
	ck_assert_int_eq(modelmanifest_render(mm, &out, &outlen, &cause), 0);
	ck_assert_uint_eq(outlen, len);
	ck_assert_str_eq(out, text);
	free(out);
	modelmanifest_free(mm);

	/* One byte of it changed: the lock no longer holds. */
	text[strlen("{\"required_files\": [{\"name\": \"")] = 'S';
	mm = parse_ok(text, len);
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 0);
	modelmanifest_free(mm);
	free(text);
}
END_TEST

START_TEST(test_vector_relocked)
{
	struct modelmanifest *mm;
	char		*text, *out, *want, *cause = NULL, **uris;
	const char	*old[] = {
		"data://AlgorithmiaSE/image_cassification_demo/"
		    "squeezenet1_1-f364aa15.pth",
		"data://AlgorithmiaSE/image_cassification_demo/"
		    "imagenet_class_index.json",
		"data://AlgorithmiaSE/image_cassification_demo/"
		    "mobilenet_v2-b0353104.pth" };
	char		 sum[33], *p;
	size_t		 len, outlen, i;

	mm = fixture("adk_example.json.freeze", &text, &len);
	uris = move_all(mm);
	ck_assert_str_eq(uris[0], "data://dest/pinned/squeezenet1_1-f364aa15"
	    ".46a44d32d2c5c07f7f66324bef4c7266.pth");
	ck_assert_str_eq(uris[2], "data://dest/pinned/mobilenet_v2-b0353104"
	    "." MD5_B ".pth");
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 0);
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);
	ck_assert_str_ne(sum, VECTOR_LOCK);
	ck_assert_int_eq(modelmanifest_render(mm, &out, &outlen, &cause), 0);
	ck_assert_uint_eq(strlen(out), outlen);

	/* Only the URIs and the lock differ from what was read. */
	want = xstrdup(text);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(p = strstr(want, old[i]));
		*p = '\0';
		p = xprintf("%s%s%s", want, uris[i], p + strlen(old[i]));
		free(want);
		want = p;
	}
	ck_assert_ptr_nonnull(p = strstr(want, VECTOR_LOCK));
	memcpy(p, sum, 32);
	ck_assert_str_eq(out, want);
	free(want);

	check_relocked(out, outlen, uris);
	free(out);
	free_strv(uris);
	modelmanifest_free(mm);
	free(text);
}
END_TEST

/* Hand-laid-out, lock first, a key twice, numbers written unusually. */
START_TEST(test_layout_relocked)
{
	struct modelmanifest *mm;
	char		*text, *out, *cause = NULL, **uris, sum[33];
	size_t		 len, outlen;

	mm = fixture("layout.json.freeze", &text, &len);
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);
	ck_assert_str_eq(sum, LAYOUT_LOCK);
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 1);
	ck_assert_uint_eq(modelmanifest_nfiles(mm), 2);
	check_file(modelmanifest_file(mm, 0), "encoder", "acme", "speech",
	    "encoder.onnx", "e2fc714c4727ee9395f324cd2e7f331f", 1, 1);
	check_file(modelmanifest_file(mm, 1), "decoder", "acme", "speech",
	    "decoder", NULL, 0, 0);
	uris = move_all(mm);
	ck_assert_str_eq(uris[1], "data://dest/pinned/decoder." MD5_B);
	ck_assert_int_eq(modelmanifest_render(mm, &out, &outlen, &cause), 0);
	/* The layout and the first "label" stay; the lock stays second. */
	ck_assert_ptr_nonnull(strstr(out, "{\n  \"timestamp\": "
	    "\"1650000000.25\",\n  \"lock_checksum\": \""));
	ck_assert_ptr_nonnull(strstr(out, "\"scale\": 1.0e-3,"));
	ck_assert_ptr_nonnull(strstr(out, "\"label\": \"l'encodeur "
	    "\\\"v2\\\"\",\n"));
	ck_assert_ptr_null(strstr(out, LAYOUT_LOCK));
	check_relocked(out, outlen, uris);
	free(out);
	free_strv(uris);
	modelmanifest_free(mm);
	free(text);
}
END_TEST

/* Values and the str() Python makes of them (NULL: the oracle's word
 * only). */
static const struct {
	const char	*json;
	const char	*repr;
} tricky[] = {
	{ "\"plain\"", "'plain'" },
	{ "\"it's\"", "\"it's\"" },
	{ "\"say \\\"hi\\\"\"", "'say \"hi\"'" },
	{ "\"both ' and \\\"\"", "'both \\' and \"'" },
	{ "\"back\\\\slash\"", "'back\\\\slash'" },
	{ "\"\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f\"",
	    "'\\n\\r\\t\\x08\\x0c\\x00\\x1f\\x7f'" },
	{ "\"\\/ slash\"", "'/ slash'" },
	{ "\"caf\\u00e9 caf\xc3\xa9\"", "'caf\xc3\xa9 caf\xc3\xa9'" },
	{ "\"\xe6\x97\xa5\xe6\x9c\xac\"", "'\xe6\x97\xa5\xe6\x9c\xac'" },
	{ "\"nb\\u00a0sp\xc2\xa0\"", "'nb\\xa0sp\\xa0'" },
	{ "\"zw\\u200bsp\xe2\x80\x8b\"", "'zw\\u200bsp\\u200b'" },
	{ "\"soft\\u00adhyphen\"", "'soft\\xadhyphen'" },
	{ "\"\\u0085\\u2028\\u2029\\ufeff\"",
	    "'\\x85\\u2028\\u2029\\ufeff'" },
	{ "\"\\ud800 lone \\udfff\"", "'\\ud800 lone \\udfff'" },
	{ "\"\\uDB40\\uDC01 tag\"", "'\\U000e0001 tag'" },
	{ "\"\\ud835\\udc00 math\"", "'\xf0\x9d\x90\x80 math'" },
	{ "\"\\ue000 private\"", "'\\ue000 private'" },
	{ "0.1", "0.1" },
	{ "1e16", "1e+16" },
	{ "1e15", "1000000000000000.0" },
	{ "1e-5", "1e-05" },
	{ "0.0001", "0.0001" },
	{ "1.0", "1.0" },
	{ "1E5", "100000.0" },
	{ "-0.0", "-0.0" },
	{ "-0", "0" },
	{ "0", "0" },
	{ "2.50", "2.5" },
	{ "1e999", "inf" },
	{ "-1e999", "-inf" },
	{ "1e-400", "0.0" },
	{ "5e-324", "5e-324" },
	{ "1.7976931348623157e308", "1.7976931348623157e+308" },
	{ "7.120236347223045e-307", "7.120236347223045e-307" },
	{ "0.30000000000000004", "0.30000000000000004" },
	{ "123456789.123456789", "123456789.12345679" },
	{ "12345678901234567890", "12345678901234567890" },
	{ "-98765432109876543210987654321", "-98765432109876543210987654321" },
	{ "NaN", "nan" },
	{ "-Infinity", "-inf" },
	{ "true", "True" },
	{ "false", "False" },
	{ "null", "None" },
	{ "[]", "[]" },
	{ "{}", "{}" },
	{ "[1, [2, [3, []]], {\"a\": [{}]}]",
	    "[1, [2, [3, []]], {'a': [{}]}]" },
	{ "{\"x\": 1, \"y\": 2, \"x\": 3}", "{'x': 3, 'y': 2}" },
	{ "{\"it's\": \"q\\\"\"}", "{\"it's\": 'q\"'}" },
	{ "  [ 1 ,\t2 ]  ", "[1, 2]" },
};

START_TEST(test_tricky_values)
{
	struct modelmanifest *mm;
	struct lines	 docs, all;
	char		*doc, *text, *want, *py, *cause = NULL, sum[33];
	size_t		 i, len;

	lines_open(&docs);
	lines_open(&all);
	for (i = 0; i < nitems(tricky); i++) {
		doc = xprintf("{\"lock_checksum\": \"x\", \"v\": %s}",
		    tricky[i].json);
		mm = parse_ok(doc, strlen(doc));
		ck_assert_msg(modelmanifest_lock_text(mm, &text, &len,
		    &cause) == 0, "%s: %s", tricky[i].json, cause);
		want = xprintf("{'v': %s}", tricky[i].repr);
		ck_assert_msg(strcmp(text, want) == 0, "%s: %s, not %s",
		    tricky[i].json, text, want);
		ck_assert_uint_eq(len, strlen(want));
		free(want);
		ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause),
		    0);
		/* One document a line for one python3 run, and what it
		 * must print for each. */
		ck_assert_ptr_null(strpbrk(doc, "\r\n"));
		lines_add(&docs, "%s\n", doc);
		lines_add(&all, "%s %s\n", sum, text);
		free(text);
		free(doc);
		modelmanifest_free(mm);
	}
	doc = lines_close(&docs);
	want = lines_close(&all);
	if ((py = oracle(ORACLE_LINES, doc, strlen(doc))) != NULL) {
		same_lines(py, want, doc);
		free(py);
	}
	free(doc);
	free(want);
}
END_TEST

/* What the rule cannot know for sure is refused, with where it is. */
START_TEST(test_cannot_relock)
{
	static const struct {
		const char	*json;
		const char	*cause;
	} refused[] = {
		{ "{\"a\": [\"x\", {\"b c\": \"\\ud83d\\ude00\"}]}",
		    "t: cannot re-lock: U+1F600, whose escaping by Python's "
		    "repr() depends on its Unicode version at a[1][\"b c\"]" },
		{ "{\"\xe2\x82\xb9\": 1}",
		    "t: cannot re-lock: U+20B9, whose escaping by Python's "
		    "repr() depends on its Unicode version at "
		    "[\"\\u20b9\"]" },
		{ "{\"n\": {\"x\": \"\\u0378\"}}",
		    "t: cannot re-lock: U+0378, whose escaping by Python's "
		    "repr() depends on its Unicode version at n.x" },
	};
	struct modelmanifest *mm;
	char		*doc, *cause = NULL, sum[33], *out;
	size_t		 i, len;

	for (i = 0; i < nitems(refused); i++) {
		mm = parse_ok(refused[i].json, strlen(refused[i].json));
		ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause),
		    -1);
		ck_assert_str_eq(cause, refused[i].cause);
		free(cause);
		cause = NULL;
		modelmanifest_free(mm);
	}

	/* An int longer than Python 3.11 reads; one digit less is fine. */
	doc = xmalloc(4400);
	snprintf(doc, 4400, "{\"lock_checksum\": \"\", \"n\": -%s}", "");
	ck_assert_uint_eq(strlen(doc), 29);
	memset(doc + 28, '7', 4301);
	doc[28 + 4301] = '}';
	doc[28 + 4302] = '\0';
	mm = parse_ok(doc, strlen(doc));
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), -1);
	ck_assert_str_eq(cause, "t: cannot re-lock: an integer of 4301 "
	    "digits (Python 3.11 and later refuse more than 4300) at n");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(modelmanifest_render(mm, &out, &len, &cause), -1);
	ck_assert_ptr_null(out);
	free(cause);
	modelmanifest_free(mm);
	doc[28 + 4300] = '}';
	doc[28 + 4301] = '\0';
	mm = parse_ok(doc, strlen(doc));
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 0);
	modelmanifest_free(mm);
	free(doc);
}
END_TEST

/*
 * Every 11th code point from U+0080 in a string of its own: what the
 * rule accepts must be what python3 prints, and it must accept the
 * common scripts (Latin, Greek, Cyrillic, CJK, Hangul ...).
 */
START_TEST(test_unicode_sweep)
{
	struct modelmanifest *mm;
	struct lines	 docs, all;
	char		 one[64], sum[33], *cause = NULL, *doc, *text, *want;
	char		*py;
	unsigned	 cp, c;
	size_t		 len, accepted = 0, refused = 0;

	lines_open(&docs);
	lines_open(&all);
	for (cp = 0x80; cp < 0x110000; cp += 11) {
		if (cp < 0x10000)
			snprintf(one, sizeof one, "{\"s\": \"\\u%04x\"}", cp);
		else {
			c = cp - 0x10000;
			snprintf(one, sizeof one, "{\"s\": \"\\u%04x\\u%04x\"}",
			    0xd800 | c >> 10, 0xdc00 | (c & 0x3ff));
		}
		/* No ck_assert in the loop: each would write to check's
		 * pipe. */
		if (modelmanifest_parse(&mm, one, strlen(one), "t",
		    &cause) != 0)
			ck_abort_msg("%s: %s", one, cause);
		if (modelmanifest_lock_text(mm, &text, &len, &cause) != 0) {
			if (strstr(cause, "cannot re-lock: U+") == NULL)
				ck_abort_msg("%s: %s", one, cause);
			free(cause);
			cause = NULL;
			refused++;
			modelmanifest_free(mm);
			continue;
		}
		if (modelmanifest_lock_checksum(mm, sum, &cause) != 0)
			ck_abort_msg("%s: %s", one, cause);
		accepted++;
		lines_add(&docs, "%s\n", one);
		lines_add(&all, "%s %s\n", sum, text);
		free(text);
		modelmanifest_free(mm);
	}
	ck_assert_uint_gt(accepted, 20000);
	ck_assert_uint_gt(refused, 0);
	doc = lines_close(&docs);
	want = lines_close(&all);
	if ((py = oracle(ORACLE_LINES, doc, strlen(doc))) != NULL) {
		same_lines(py, want, doc);
		free(py);
	}
	free(doc);
	free(want);
}
END_TEST

/* Floats through python3: random bit patterns and powers of two. */
START_TEST(test_float_oracle)
{
	struct modelmanifest *mm;
	struct lines	 docs, all;
	char		 num[64], sum[33], *cause = NULL, *doc, *want;
	char		*text, *py;
	unsigned long long bits = 0x9e3779b97f4a7c15ULL;
	double		 d;
	size_t		 i, len;
	int		 e;

	lines_open(&docs);
	lines_open(&all);
	for (i = 0; i < 600; i++) {
		if (i < 300) {
			bits ^= bits << 13;
			bits ^= bits >> 7;
			bits ^= bits << 17;
			memcpy(&d, &bits, sizeof d);
			if (d != d || d - d != 0)
				continue;
		} else {
			e = (int)i - 300;
			d = ldexp(1, e * 7 - 1074);
			if (d - d != 0)
				continue;
		}
		snprintf(num, sizeof num, "{\"f\": %.17g}", d);
		if (strchr(num, '.') == NULL && strchr(num, 'e') == NULL)
			snprintf(num, sizeof num, "{\"f\": %.17g.0}", d);
		mm = parse_ok(num, strlen(num));
		ck_assert_int_eq(modelmanifest_lock_text(mm, &text, &len,
		    &cause), 0);
		ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause),
		    0);
		lines_add(&docs, "%s\n", num);
		lines_add(&all, "%s %s\n", sum, text);
		free(text);
		modelmanifest_free(mm);
	}
	doc = lines_close(&docs);
	want = lines_close(&all);
	if ((py = oracle(ORACLE_LINES, doc, strlen(doc))) != NULL) {
		same_lines(py, want, doc);
		free(py);
	}
	free(doc);
	free(want);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const struct {
		const char	*json;
		const char	*cause;
	} bad[] = {
		{ "[1, 2]", "m.json: not a JSON object" },
		{ "\"x\"", "m.json: not a JSON object" },
		{ "", "m.json: line 1, column 1: expected a value, not the "
		    "end" },
		{ "{\"a\": 1,\n  \"b\" 2}", "m.json: line 2, column 7: "
		    "expected ':' after a key" },
		{ "{\"a\": [1, 2,]}", "m.json: line 1, column 13: expected "
		    "a value" },
		{ "{\"a\": 1,}", "m.json: line 1, column 9: expected a key "
		    "in double quotes" },
		{ "{\"a\": 01}", "m.json: line 1, column 8: expected ',' or "
		    "'}'" },
		{ "{\"a\": 1.}", "m.json: line 1, column 9: no digits after "
		    "a decimal point" },
		{ "{\"a\": \"\t\"}", "m.json: line 1, column 8: control "
		    "character 0x09 in a string" },
		{ "{\"a\": \"\\x41\"}", "m.json: line 1, column 8: invalid "
		    "escape" },
		{ "{\"a\": \"\\u12\"}", "m.json: line 1, column 8: invalid "
		    "\\uXXXX escape" },
		{ "{\"a\": \"caf\xe9\"}", "m.json: line 1, column 11: not "
		    "UTF-8" },
		{ "{} {}", "m.json: line 1, column 4: more after the "
		    "document" },
		{ "\xef\xbb\xbf{}", "m.json: starts with a byte order mark, "
		    "which Python's json refuses" },
		{ "{\"required_files\": {}}", "m.json: required_files: not a "
		    "list" },
		{ "{\"optional_files\": [[]]}", "m.json: optional_files[0]: "
		    "not an object" },
		{ "{\"required_files\": [{\"source_uri\": \"data://a/b/c\"}]}",
		    "m.json: required_files[0].name: missing" },
		{ "{\"required_files\": [{\"name\": 7}]}",
		    "m.json: required_files[0].name: not a string" },
		{ "{\"required_files\": [{\"name\": \"x\\u0000\"}]}",
		    "m.json: required_files[0].name: has a NUL or a lone "
		    "surrogate" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\"}, {\"name\": \"m\"}]}",
		    "m.json: required_files[1].source_uri: missing" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "null}]}",
		    "m.json: required_files[0].source_uri: not a string" },
		{ "{\"required_files\": [], \"optional_files\": [{\"name\": "
		    "\"n\", \"source_uri\": \"s3://bucket/model.pth\"}]}",
		    "m.json: optional_files[0].source_uri: not a data:// URI" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"DATA://a/b/c\"}]}",
		    "m.json: required_files[0].source_uri: not a data:// "
		    "URI" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://acme/models\"}]}",
		    "m.json: required_files[0].source_uri: no collection and "
		    "file part (data://OWNER/COLLECTION/FILE)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://acme/models/\"}]}",
		    "m.json: required_files[0].source_uri: no file part "
		    "(data://OWNER/COLLECTION/FILE)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data:///models/x\"}]}",
		    "m.json: required_files[0].source_uri: no owner and "
		    "collection (data://OWNER/COLLECTION/FILE)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://acme/models/v1/x.pth\"}]}",
		    "m.json: required_files[0].source_uri: a collection has "
		    "no sub-folders (data://OWNER/COLLECTION/FILE)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://acme/../x\"}]}",
		    "m.json: required_files[0].source_uri: no collection and "
		    "file part (data://OWNER/COLLECTION/FILE)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\", \"md5_checksum\": \"abc\"}]}",
		    "m.json: required_files[0].md5_checksum: not an MD5 (32 "
		    "hexadecimal digits)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\", \"md5_checksum\": \"" MD5_A "0\"}]}",
		    "m.json: required_files[0].md5_checksum: not an MD5 (32 "
		    "hexadecimal digits)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\", \"md5_checksum\": "
		    "\"0cc175b9c0f1b6a831c399e26977266g\"}]}",
		    "m.json: required_files[0].md5_checksum: not an MD5 (32 "
		    "hexadecimal digits)" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\", \"md5_checksum\": 5}]}",
		    "m.json: required_files[0].md5_checksum: not a string" },
		{ "{\"required_files\": [{\"name\": \"n\", \"source_uri\": "
		    "\"data://a/b/c\", \"fail_on_tamper\": \"yes\"}]}",
		    "m.json: required_files[0].fail_on_tamper: not true or "
		    "false" },
		{ "{\"my model\": {\"filepath\": \"https://x/y/z\"}}",
		    "m.json: [\"my model\"].filepath: not a data:// URI" },
		{ "{\"model\": {\"filepath\": \"data://a/b/c\", \"md5_hash\": "
		    "\"\"}}",
		    "m.json: model.md5_hash: not an MD5 (32 hexadecimal "
		    "digits)" },
	};
	struct modelmanifest *mm;
	char		*cause, *deep;
	size_t		 i, n;

	for (i = 0; i < nitems(bad); i++) {
		cause = NULL;
		mm = (struct modelmanifest *)&cause;
		ck_assert_msg(modelmanifest_parse(&mm, bad[i].json,
		    strlen(bad[i].json), "m.json", &cause) == -1, "%s",
		    bad[i].json);
		ck_assert_ptr_null(mm);
		ck_assert_msg(strcmp(cause, bad[i].cause) == 0,
		    "%s: \"%s\", not \"%s\"", bad[i].json, cause,
		    bad[i].cause);
		ck_assert_ptr_null(strchr(cause, '\n'));
		free(cause);
	}

	/* A NUL in the text, and nesting past MODELMANIFEST_DEPTH. */
	cause = NULL;
	ck_assert_int_eq(modelmanifest_parse(&mm, "{}\0", 3, "m.json",
	    &cause), -1);
	ck_assert_str_eq(cause, "m.json: line 1, column 3: a NUL byte");
	free(cause);
	deep = xmalloc(2 * MODELMANIFEST_DEPTH + 16);
	for (n = MODELMANIFEST_DEPTH - 1; n <= MODELMANIFEST_DEPTH; n++) {
		/* {"a": [[...]]}: n + 1 levels. */
		snprintf(deep, 2 * MODELMANIFEST_DEPTH + 16, "{\"a\": ");
		memset(deep + 6, '[', n);
		memset(deep + 6 + n, ']', n);
		deep[6 + 2 * n] = '}';
		deep[6 + 2 * n + 1] = '\0';
		cause = NULL;
		if (n < MODELMANIFEST_DEPTH) {
			mm = parse_ok(deep, strlen(deep));
			modelmanifest_free(mm);
			continue;
		}
		ck_assert_int_eq(modelmanifest_parse(&mm, deep, strlen(deep),
		    "m.json", &cause), -1);
		ck_assert_str_eq(cause, "m.json: line 1, column 134: nested "
		    "deeper than 128");
		free(cause);
	}
	free(deep);
}
END_TEST

START_TEST(test_unfrozen_named)
{
	struct modelmanifest *mm;
	char		*text, *out, *p, *cause = NULL, sum[33];
	size_t		 len, outlen;

	mm = fixture("model_manifest.json", &text, &len);
	ck_assert_int_eq(modelmanifest_frozen(mm), 0);
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 0);
	ck_assert_uint_eq(modelmanifest_nfiles(mm), 2);
	check_file(modelmanifest_file(mm, 0), "tokenizer", "acme",
	    "nlp_models", "vocab", MD5_A, 1, 0);
	check_file(modelmanifest_file(mm, 1), "classifier", ".my",
	    "nlp_models", "classifier.tar.gz", MD5_B, 1, 0);
	/* The rule applies to this form too (nothing to leave out). */
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);

	ck_assert_int_eq(modelmanifest_set_uri(mm, 1,
	    "data://prod/models/classifier.tar." MD5_B ".gz", &cause), 0);
	ck_assert_str_eq(modelmanifest_file(mm, 1)->file,
	    "classifier.tar." MD5_B ".gz");
	ck_assert_int_eq(modelmanifest_render(mm, &out, &outlen, &cause), 0);
	/* No lock added; only that URI changed. */
	ck_assert_ptr_null(strstr(out, "lock_checksum"));
	ck_assert_ptr_nonnull(p = strstr(text,
	    "data://.my/nlp_models/classifier.tar.gz"));
	ck_assert_uint_eq(outlen, len + strlen("prod/models/." MD5_B) -
	    strlen(".my/nlp_models/"));
	ck_assert_int_eq(memcmp(out, text, (size_t)(p - text)), 0);
	ck_assert_str_eq(out + (p - text) + strlen("data://prod/models/"
	    "classifier.tar." MD5_B ".gz"),
	    p + strlen("data://.my/nlp_models/classifier.tar.gz"));
	free(out);
	modelmanifest_free(mm);
	free(text);
}
END_TEST

/* The README's form before freezing: the lists, no lock. */
START_TEST(test_unfrozen_lists)
{
	static const char text[] = "{\"required_files\": [{\"name\": \"m\", "
	    "\"source_uri\": \"data://a/b/model\", \"fail_on_tamper\": true, "
	    "\"md5_checksum\": null}]}";
	struct modelmanifest *mm;
	char		*out, *cause = NULL;
	size_t		 len;

	mm = parse_ok(text, strlen(text));
	ck_assert_int_eq(modelmanifest_frozen(mm), 0);
	ck_assert_uint_eq(modelmanifest_nfiles(mm), 1);
	check_file(modelmanifest_file(mm, 0), "m", "a", "b", "model", NULL,
	    1, 1);
	ck_assert_int_eq(modelmanifest_set_uri(mm, 0, "data://x/y/\"q\"\n"
	    "\xc3\xa9", &cause), 0);
	ck_assert_int_eq(modelmanifest_render(mm, &out, &len, &cause), 0);
	ck_assert_str_eq(out, "{\"required_files\": [{\"name\": \"m\", "
	    "\"source_uri\": \"data://x/y/\\\"q\\\"\\n\\u00e9\", "
	    "\"fail_on_tamper\": true, \"md5_checksum\": null}]}");
	free(out);
	modelmanifest_free(mm);
}
END_TEST

START_TEST(test_set_uri_refused)
{
	struct modelmanifest *mm;
	char		*text, *cause = NULL;
	size_t		 len;

	mm = fixture("adk_example.json.freeze", &text, &len);
	ck_assert_int_eq(modelmanifest_set_uri(mm, 0, "s3://b/k", &cause),
	    -1);
	ck_assert_str_eq(cause, "adk_example.json.freeze: \"s3://b/k\": not "
	    "a data:// URI");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(modelmanifest_set_uri(mm, 3, "data://a/b/c",
	    &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_str_eq(modelmanifest_file(mm, 0)->file,
	    "squeezenet1_1-f364aa15.pth");
	ck_assert_int_eq(modelmanifest_lock_ok(mm, &cause), 1);
	modelmanifest_free(mm);
	free(text);
}
END_TEST

/* A key twice: Python's last value at the first place, for the lock and
 * for the file; the lock written where Python reads it. */
START_TEST(test_duplicate_keys)
{
	static const char text[] = "{\"lock_checksum\": \"old\", "
	    "\"required_files\": [{\"name\": \"a\", \"source_uri\": "
	    "\"data://o/c/first\", \"source_uri\": \"data://o/c/last\"}], "
	    "\"t\": 1, \"lock_checksum\": \"older\", \"t\": 2}";
	struct modelmanifest *mm, *back;
	char		*out, *lock, *cause = NULL, sum[33], *py;
	size_t		 len;

	mm = parse_ok(text, strlen(text));
	ck_assert_str_eq(modelmanifest_file(mm, 0)->file, "last");
	ck_assert_int_eq(modelmanifest_lock_text(mm, &lock, &len, &cause),
	    0);
	ck_assert_str_eq(lock, "{'required_files': [{'name': 'a', "
	    "'source_uri': 'data://o/c/last'}], 't': 2}");
	free(lock);
	ck_assert_int_eq(modelmanifest_lock_checksum(mm, sum, &cause), 0);
	ck_assert_int_eq(modelmanifest_render(mm, &out, &len, &cause), 0);
	lock = xprintf("\"t\": 1, \"lock_checksum\": \"%s\", \"t\": 2}", sum);
	ck_assert_ptr_nonnull(strstr(out, lock));
	ck_assert_ptr_nonnull(strstr(out, "{\"lock_checksum\": \"old\", "));
	free(lock);
	back = parse_ok(out, len);
	ck_assert_int_eq(modelmanifest_lock_ok(back, &cause), 1);
	modelmanifest_free(back);
	lock = xprintf("%s\n", out);
	if ((py = oracle(ORACLE_LINES, lock, strlen(lock))) != NULL) {
		ck_assert_int_eq(strncmp(py, sum, 32), 0);
		free(py);
	}
	free(lock);
	free(out);
	modelmanifest_free(mm);
}
END_TEST

START_TEST(test_pinned_names)
{
	static const struct {
		const char	*file;
		const char	*pinned;
	} names[] = {
		{ "model.pth", "model." MD5_A ".pth" },
		{ "model.tar.gz", "model.tar." MD5_A ".gz" },
		{ "vocab", "vocab." MD5_A },
		{ ".env", ".env." MD5_A },
		{ ".env.json", ".env." MD5_A ".json" },
		{ "odd.", "odd.." MD5_A },
		{ "a." MD5_B, "a." MD5_A "." MD5_B },
		{ "x." MD5_B ".y", "x." MD5_B "." MD5_A ".y" },
	};
	static const char *const notpinned[] = {
		"model.pth", "vocab", "", "." MD5_A, "." MD5_A ".pth",
		"model.0CC175B9C0F1B6A831C399E269772661.pth",
		"model.0cc175b9c0f1b6a831c399e26977266.pth",
		"model." MD5_A ".", "model." MD5_A ".tar.gz.x.y",
		"model." MD5_A "x",
	};
	char	*p, md5[33];
	size_t	 i;

	for (i = 0; i < nitems(names); i++) {
		p = modelmanifest_pinned_name(names[i].file, MD5_A);
		ck_assert_str_eq(p, names[i].pinned);
		ck_assert_msg(modelmanifest_pinned_parse(p, md5) == 1, "%s",
		    p);
		ck_assert_str_eq(md5, MD5_A);
		free(p);
	}
	for (i = 0; i < nitems(notpinned); i++) {
		ck_assert_msg(modelmanifest_pinned_parse(notpinned[i],
		    md5) == 0, "%s", notpinned[i]);
		ck_assert_str_eq(md5, "");
	}
	ck_assert_ptr_null(modelmanifest_pinned_name("", MD5_A));
	ck_assert_ptr_null(modelmanifest_pinned_name("m.pth", "abc"));
	ck_assert_ptr_null(modelmanifest_pinned_name("m.pth",
	    "0CC175B9C0F1B6A831C399E269772661"));
}
END_TEST

Suite *
modelmanifest_suite(void)
{
	Suite	*s = suite_create("modelmanifest");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vector);
	tcase_add_test(tc, test_vector_relocked);
	tcase_add_test(tc, test_layout_relocked);
	tcase_add_test(tc, test_tricky_values);
	tcase_add_test(tc, test_cannot_relock);
	tcase_add_test(tc, test_unicode_sweep);
	tcase_add_test(tc, test_float_oracle);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_unfrozen_named);
	tcase_add_test(tc, test_unfrozen_lists);
	tcase_add_test(tc, test_set_uri_refused);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_pinned_names);
	suite_add_tcase(s, tc);
	return s;
}
