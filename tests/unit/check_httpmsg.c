/* check_httpmsg.c: the HTTP clients' shared reading of answers. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpmsg.h"
#include "redact.h"
#include "testutil.h"
#include "xmalloc.h"

START_TEST(test_retry_after)
{
	char	 date[64];
	time_t	 t = time(NULL) + 120;
	long	 ms;

	ck_assert_int_eq(httpmsg_retry_after("7", 60000), 7000);
	ck_assert_int_eq(httpmsg_retry_after("0", 60000), 0);
	ck_assert_int_eq(httpmsg_retry_after("99999999999999999999", 60000),
	    60000);
	ck_assert_int_eq(httpmsg_retry_after("3600", 60000), 60000);
	ck_assert_int_eq(httpmsg_retry_after("soon", 60000), -1);
	ck_assert_int_eq(httpmsg_retry_after("-5", 60000), -1);
	ck_assert_int_eq(httpmsg_retry_after("", 60000), -1);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
	ms = httpmsg_retry_after(date, 600000);
	ck_assert_msg(ms >= 118000 && ms <= 120000, "%ld", ms);
	ck_assert_int_eq(httpmsg_retry_after("Thu, 01 Jan 1970 00:00:00 GMT",
	    60000), 0);
}
END_TEST

START_TEST(test_header)
{
	long	 ms = -1;
	const char *h1 = "Retry-After:  12 \r\n", *h2 = "HTTP/1.1 200 OK\r\n";

	httpmsg_header(h1, strlen(h1), &ms, 60000);
	ck_assert_int_eq(ms, 12000);
	httpmsg_header("retry-after: 3\r\n", 16, &ms, 60000);
	ck_assert_int_eq(ms, 3000);
	/* A new response (after a redirect) forgets the old header. */
	httpmsg_header(h2, strlen(h2), &ms, 60000);
	ck_assert_int_eq(ms, -1);
	httpmsg_header("Content-Type: x\r\n", 17, &ms, 60000);
	ck_assert_int_eq(ms, -1);
}
END_TEST

START_TEST(test_oneline_and_copy)
{
	char	*s, buf[8];

	s = httpmsg_oneline("  a\r\nb\t\tc\0d  ", 13);
	ck_assert_str_eq(s, "a b c d");
	free(s);
	httpmsg_copy(buf, sizeof buf, "short");
	ck_assert_str_eq(buf, "short");
	/* Cut on a character boundary: "ab" then a 3-byte euro sign x2. */
	httpmsg_copy(buf, sizeof buf, "ab\xe2\x82\xac\xe2\x82\xac");
	ck_assert_str_eq(buf, "ab\xe2\x82\xac");
}
END_TEST

/* A server's text that is not UTF-8 (Latin-1, stray continuation bytes,
 * an overlong '/', a surrogate, a sequence cut short) comes out as valid
 * UTF-8, each bad byte a '?': the log and the state files stay UTF-8. */
START_TEST(test_oneline_not_utf8)
{
	static const struct {
		const char	*in, *out;
	} t[] = {
		{ "caf\xe9 ok", "caf? ok" },
		{ "\xff\xfe denied", "?? denied" },
		{ "\xc0\xaf", "??" },
		{ "\xed\xa0\x80x", "???x" },
		{ "\xf4\x90\x80\x80", "????" },
		{ "cut \xe2\x82", "cut ??" },
		{ "\x80\xbf", "??" },
		{ "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		    "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	};
	char	*s;
	size_t	 i;

	for (i = 0; i < nitems(t); i++) {
		s = httpmsg_oneline(t[i].in, strlen(t[i].in));
		ck_assert_str_eq(s, t[i].out);
		free(s);
	}
}
END_TEST

static void __attribute__((format(printf, 3, 4)))
line(char *buf, size_t size, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	httpmsg_vline(buf, size, fmt, ap);
	va_end(ap);
}

START_TEST(test_cut_and_line)
{
	char	*s, buf[64];

	s = httpmsg_cut(xstrdup("short"), 5);
	ck_assert_str_eq(s, "short");
	free(s);
	s = httpmsg_cut(xstrdup("longer"), 4);
	ck_assert_str_eq(s, "long...");
	free(s);
	/* Never half a character: the euro sign goes whole. */
	s = httpmsg_cut(xstrdup("ab\xe2\x82\xac"), 3);
	ck_assert_str_eq(s, "ab...");
	free(s);
	/* One line, secrets masked. */
	redact_add("hmsgSecret42");
	line(buf, sizeof buf, "GET %s:\r\n%d %s", "/x", 401,
	    "key hmsgSecret42");
	ck_assert_str_eq(buf, "GET /x: 401 key ***");
}
END_TEST

START_TEST(test_classification)
{
	ck_assert(httpmsg_status_transient(500));
	ck_assert(httpmsg_status_transient(503));
	ck_assert(httpmsg_status_transient(429));
	ck_assert(httpmsg_status_transient(408));
	ck_assert(!httpmsg_status_transient(401));
	ck_assert(!httpmsg_status_transient(403));
	ck_assert(!httpmsg_status_transient(404));
	ck_assert(httpmsg_curl_transient(CURLE_OPERATION_TIMEDOUT));
	ck_assert(httpmsg_curl_transient(CURLE_COULDNT_CONNECT));
	ck_assert(httpmsg_curl_transient(CURLE_RECV_ERROR));
	ck_assert(!httpmsg_curl_transient(CURLE_PEER_FAILED_VERIFICATION));
	ck_assert(!httpmsg_curl_transient(CURLE_URL_MALFORMAT));
	ck_assert_str_eq(httpmsg_reason(404), "Not Found");
	ck_assert_ptr_null(httpmsg_reason(299));
}
END_TEST

START_TEST(test_append)
{
	char	*buf = NULL, big[10000];
	size_t	 len = 0, size = 0;

	memset(big, 'x', sizeof big);
	ck_assert_int_eq(httpmsg_append(&buf, &len, &size, 12000, "ab", 2), 0);
	ck_assert_str_eq(buf, "ab");
	ck_assert_int_eq(httpmsg_append(&buf, &len, &size, 12000, big,
	    sizeof big), 0);
	ck_assert_uint_eq(len, 10002);
	ck_assert_uint_le(size, 12001);
	ck_assert_int_eq(buf[len], '\0');
	/* One byte over the cap: refused whole, nothing appended. */
	ck_assert_int_eq(httpmsg_append(&buf, &len, &size, 12000, big, 1999),
	    -1);
	ck_assert_uint_eq(len, 10002);
	ck_assert_int_eq(httpmsg_append(&buf, &len, &size, 12000, big, 1998),
	    0);
	ck_assert_uint_eq(len, 12000);
	free(buf);
}
END_TEST

Suite *
httpmsg_suite(void)
{
	Suite	*s = suite_create("httpmsg");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_oneline_and_copy);
	tcase_add_test(tc, test_oneline_not_utf8);
	tcase_add_test(tc, test_cut_and_line);
	tcase_add_test(tc, test_classification);
	tcase_add_test(tc, test_append);
	suite_add_tcase(s, tc);
	return s;
}
