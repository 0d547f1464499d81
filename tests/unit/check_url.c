/* check_url.c: the one URL and listen-address reader (url_split,
 * url_authority, url_listen). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "url.h"

/* s splits; the parts are checked by the caller, who clears u. */
static void
split_ok(struct url *u, const char *s)
{
	char	*cause = NULL;

	ck_assert_msg(url_split(u, s, &cause) == 0, "%s: %s", s, cause);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(u->error, URL_OK);
}

static void
split_bad(const char *s, enum url_error want, const char *cause_want)
{
	struct url	 u;
	char		*cause = NULL;

	ck_assert_msg(url_split(&u, s, &cause) == -1, "%s splits", s);
	ck_assert_msg(u.error == want, "%s: error %d, want %d", s,
	    (int)u.error, (int)want);
	ck_assert_ptr_null(u.scheme);
	ck_assert_ptr_null(u.host);
	ck_assert_ptr_nonnull(cause);
	if (cause_want != NULL)
		ck_assert_str_eq(cause, cause_want);
	url_clear(&u);
	free(cause);
}

static void
parts_eq(const char *s, const char *scheme, const char *user,
    const char *host, const char *port, const char *path)
{
	struct url	 u;

	split_ok(&u, s);
	ck_assert_str_eq(u.scheme, scheme);
	ck_assert_str_eq(u.user, user);
	ck_assert_str_eq(u.host, host);
	ck_assert_str_eq(u.port, port);
	ck_assert_str_eq(u.path, path);
	url_clear(&u);
}

START_TEST(test_schemes)
{
	parts_eq("https://api.x.com", "https", "", "api.x.com", "443", "/");
	parts_eq("http://api.x.com/", "http", "", "api.x.com", "80", "/");
	parts_eq("git://git.x.com/a/b.git", "git", "", "git.x.com", "9418",
	    "/a/b.git");
	/* A scheme without a default port: "". */
	parts_eq("ftp://f.x.com/p", "ftp", "", "f.x.com", "", "/p");
	parts_eq("ssh://g.x.com:2222/r", "ssh", "", "g.x.com", "2222", "/r");
	/* Scheme and host are lower case; the path keeps its case. */
	parts_eq("HTTPS://API.X.Com/Git/A", "https", "", "api.x.com", "443",
	    "/Git/A");
	split_bad("api.x.com", URL_SYNTAX, NULL);
	split_bad("api.x.com/path", URL_SYNTAX, NULL);
	split_bad("://api.x.com", URL_SYNTAX, NULL);
	split_bad("", URL_SYNTAX, NULL);
	split_bad(NULL, URL_SYNTAX, NULL);
}
END_TEST

START_TEST(test_ports)
{
	parts_eq("https://h:8443/x", "https", "", "h", "8443", "/x");
	parts_eq("http://h:80", "http", "", "h", "80", "/");
	parts_eq("https://h:65535", "https", "", "h", "65535", "/");
	parts_eq("https://h:1", "https", "", "h", "1", "/");
	split_bad("https://h:65536", URL_PORT,
	    "the port must be a number from 1 to 65535");
	split_bad("https://h:99999", URL_PORT, NULL);
	split_bad("https://h:0", URL_PORT, NULL);
	split_bad("https://h:abc/x", URL_PORT, NULL);
	split_bad("https://h:-1", URL_PORT, NULL);
	split_bad("https://h:", URL_PORT, NULL);
	split_bad("https://h:/x", URL_PORT, NULL);
	split_bad("https://[::1]:", URL_PORT, NULL);
}
END_TEST

START_TEST(test_no_host)
{
	split_bad("https://", URL_NO_HOST, "no host");
	split_bad("https:///v1", URL_NO_HOST, NULL);
	split_bad("https://:443/", URL_NO_HOST, NULL);
	split_bad("https://u:pw@/x", URL_NO_HOST, NULL);
	split_bad("https://?q", URL_NO_HOST, NULL);
	split_bad("https://#f", URL_NO_HOST, NULL);
}
END_TEST

START_TEST(test_bad_host)
{
	split_bad("https://ho<st/", URL_HOST, "bad host name");
	split_bad("https://[1.2.3.4]/", URL_HOST, NULL);
	split_bad("https://[]/", URL_HOST, NULL);
	split_bad("https://[zz::1]/", URL_HOST, NULL);
}
END_TEST

START_TEST(test_ipv6)
{
	parts_eq("https://[::1]:8080/x", "https", "", "::1", "8080", "/x");
	parts_eq("http://[FE80::AB]/", "http", "", "fe80::ab", "80", "/");
	parts_eq("git://u@[2001:db8::2]/r", "git", "u", "2001:db8::2",
	    "9418", "/r");
}
END_TEST

START_TEST(test_userinfo)
{
	struct url	 u;

	split_ok(&u, "https://h/p");
	ck_assert_int_eq(u.has_userinfo, 0);
	ck_assert_str_eq(u.user, "");
	url_clear(&u);

	split_ok(&u, "https://alice:pw@git.x/git/a/b.git");
	ck_assert_int_eq(u.has_userinfo, 1);
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.host, "git.x");
	ck_assert_str_eq(u.path, "/git/a/b.git");
	url_clear(&u);

	/* Only a password, or an empty userinfo, still is one. */
	split_ok(&u, "https://:pw@h/");
	ck_assert_int_eq(u.has_userinfo, 1);
	ck_assert_str_eq(u.user, "");
	url_clear(&u);
	split_ok(&u, "https://@h/");
	ck_assert_int_eq(u.has_userinfo, 1);
	url_clear(&u);

	/* The user comes back decoded. */
	split_ok(&u, "https://al%69ce@h:444/");
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.port, "444");
	url_clear(&u);

	/* An '@' after the authority is no userinfo. */
	split_ok(&u, "https://h/p@x");
	ck_assert_int_eq(u.has_userinfo, 0);
	ck_assert_str_eq(u.host, "h");
	ck_assert_str_eq(u.path, "/p@x");
	url_clear(&u);
	split_ok(&u, "https://h:8080/p@x");
	ck_assert_int_eq(u.has_userinfo, 0);
	ck_assert_str_eq(u.port, "8080");
	url_clear(&u);
}
END_TEST

/* API keys are base64: '+' and '/' may appear, raw or percent-encoded. */
START_TEST(test_userinfo_keys)
{
	static const char *const urls[] = {
		"https://u:k%2Fe%2By@h/p",
		"https://u:k%2Fe+y@h/p",
		"https://u:k/e+y@h/p",
		"https://u:k//e+y==@h/p",
		"https://u:sim+ab/c@h:8443/p",
	};
	struct url	 u;
	size_t		 i;

	for (i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		split_ok(&u, urls[i]);
		ck_assert_msg(u.has_userinfo, "%s", urls[i]);
		ck_assert_str_eq(u.user, "u");
		ck_assert_str_eq(u.host, "h");
		ck_assert_str_eq(u.path, "/p");
		url_clear(&u);
	}
	split_ok(&u, "https://u:sim+ab/c@h:8443/p");
	ck_assert_str_eq(u.port, "8443");
	url_clear(&u);
}
END_TEST

START_TEST(test_query)
{
	struct url	 u;
	static const char *const with[] = {
		"https://h/?token=x", "https://h?x", "https://h/p#frag",
		"https://h#f", "https://h/?", "https://h/#",
	};
	size_t		 i;

	for (i = 0; i < sizeof with / sizeof with[0]; i++) {
		split_ok(&u, with[i]);
		ck_assert_msg(u.has_query, "%s", with[i]);
		ck_assert_str_eq(u.host, "h");
		url_clear(&u);
	}
	split_ok(&u, "https://h/a/b");
	ck_assert_int_eq(u.has_query, 0);
	url_clear(&u);
}
END_TEST

/* A bad URL still tells whether its text has a userinfo or a query. */
START_TEST(test_flags_on_failure)
{
	struct url	 u;
	char		*cause = NULL;

	ck_assert_int_eq(url_split(&u, "https://u:pw@h:99999/", &cause), -1);
	ck_assert_int_eq(u.error, URL_PORT);
	ck_assert_int_eq(u.has_userinfo, 1);
	ck_assert_int_eq(u.has_query, 0);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(url_split(&u, "https://u@/x?y", &cause), -1);
	ck_assert_int_eq(u.error, URL_NO_HOST);
	ck_assert_int_eq(u.has_userinfo, 1);
	ck_assert_int_eq(u.has_query, 1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(url_split(&u, "https://h:x/p#f", &cause), -1);
	ck_assert_int_eq(u.has_userinfo, 0);
	ck_assert_int_eq(u.has_query, 1);
	ck_assert_ptr_null(u.host);
	free(cause);
}
END_TEST

START_TEST(test_never_quotes)
{
	struct url	 u;
	char		*cause = NULL;

	ck_assert_int_eq(url_split(&u, "https://u:s3cretpw@h:99999/",
	    &cause), -1);
	ck_assert_ptr_null(strstr(cause, "s3cret"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(url_split(&u, "https://u:s3cretpw@h\x01/",
	    &cause), -1);
	ck_assert_ptr_null(strstr(cause, "s3cret"));
	free(cause);
}
END_TEST

START_TEST(test_authority)
{
	static const char *const cases[][2] = {
		{ "HTTPS://Git.X.com/a/b.git", "https://git.x.com:443" },
		{ "https://alice:pw@git.x:8443/a", "https://git.x:8443" },
		{ "http://h", "http://h:80" },
		{ "git://h/r", "git://h:9418" },
		{ "ftp://h/r", "ftp://h:" },
		{ "https://[::1]:9/x", "https://[::1]:9" },
		{ "https://[FE80::1]/", "https://[fe80::1]:443" },
		{ "https://u:k/e+y@h/p", "https://h:443" },
	};
	char	*a;
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		a = url_authority(cases[i][0]);
		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(a, cases[i][1]);
		free(a);
	}
	ck_assert_ptr_null(url_authority("/srv/git/a.git"));
	ck_assert_ptr_null(url_authority("https:///x"));
	ck_assert_ptr_null(url_authority("https://h:0/"));
}
END_TEST

static void
listen_ok(const char *s, const char *host, int port, int v6)
{
	char	*h = NULL;
	int	 p = -1, is6 = -1;

	ck_assert_msg(url_listen(s, &h, &p, &is6) == URL_LISTEN_OK, "%s", s);
	ck_assert_str_eq(h, host);
	ck_assert_int_eq(p, port);
	ck_assert_int_eq(is6, v6);
	free(h);
}

static void
listen_bad(const char *s, enum url_listen_error want)
{
	char	*h = NULL;
	int	 p, is6;

	ck_assert_msg(url_listen(s, &h, &p, &is6) == want, "%s: want %d", s,
	    (int)want);
	if (want != URL_LISTEN_V6_BARE)
		ck_assert_ptr_null(h);
	free(h);
}

START_TEST(test_listen_ok)
{
	listen_ok("127.0.0.1:9464", "127.0.0.1", 9464, 0);
	listen_ok("localhost:80", "localhost", 80, 0);
	listen_ok("my-host.example:1", "my-host.example", 1, 0);
	listen_ok("0.0.0.0:0", "0.0.0.0", 0, 0);
	listen_ok("h:65535", "h", 65535, 0);
	listen_ok("h:00080", "h", 80, 0);
	listen_ok("[::1]:9999", "::1", 9999, 1);
	listen_ok("[::]:0", "::", 0, 1);
	listen_ok("[FE80::1]:65535", "FE80::1", 65535, 1);
	listen_ok("[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4", 80, 1);
}
END_TEST

START_TEST(test_listen_errors)
{
	char	*h = NULL;
	int	 p, v6;

	listen_bad("9464", URL_LISTEN_SYNTAX);
	listen_bad("", URL_LISTEN_SYNTAX);
	listen_bad("localhost", URL_LISTEN_SYNTAX);
	listen_bad("[::1]9464", URL_LISTEN_SYNTAX);
	listen_bad("[::1:9464", URL_LISTEN_SYNTAX);
	listen_bad("[]:9464", URL_LISTEN_SYNTAX);
	listen_bad("[::g]:9464", URL_LISTEN_SYNTAX);
	listen_bad("ho_st:9464", URL_LISTEN_SYNTAX);
	listen_bad("a]:80", URL_LISTEN_SYNTAX);
	listen_bad("http://h:80", URL_LISTEN_SYNTAX);
	listen_bad("h:x:80", URL_LISTEN_SYNTAX);
	listen_bad(":9464", URL_LISTEN_NO_HOST);
	listen_bad(":abc", URL_LISTEN_NO_HOST);
	listen_bad("::1:9464", URL_LISTEN_V6_BARE);
	listen_bad("fe80::1:x", URL_LISTEN_V6_BARE);
	listen_bad("h:", URL_LISTEN_PORT);
	listen_bad("h:abc", URL_LISTEN_PORT);
	listen_bad("h:-1", URL_LISTEN_PORT);
	listen_bad("h:+80", URL_LISTEN_PORT);
	listen_bad("h:123456", URL_LISTEN_PORT);
	listen_bad("[::1]:", URL_LISTEN_PORT);
	listen_bad("[::1]:8o", URL_LISTEN_PORT);
	listen_bad("h:65536", URL_LISTEN_RANGE);
	listen_bad("h:99999", URL_LISTEN_RANGE);
	listen_bad("[::1]:70000", URL_LISTEN_RANGE);

	/* A bare IPv6 address comes back so the caller can bracket it. */
	ck_assert_int_eq(url_listen("::1:9464", &h, &p, &v6),
	    URL_LISTEN_V6_BARE);
	ck_assert_str_eq(h, "::1");
	free(h);
}
END_TEST

START_TEST(test_query_param)
{
	char	*v;

	v = url_query_param("/v1/algorithms/a/b/versions?limit=50&marker="
	    "abc%2Bd%2F%3D&x=1", "marker");
	ck_assert_str_eq(v, "abc+d/=");
	free(v);
	v = url_query_param("https://h/v1/x?marker=m1#marker=m2", "marker");
	ck_assert_str_eq(v, "m1");
	free(v);
	/* The first one counts; a longer name is not a match. */
	v = url_query_param("?markers=no&marker=yes&marker=again", "marker");
	ck_assert_str_eq(v, "yes");
	free(v);
	ck_assert_ptr_null(url_query_param("https://h/x", "marker"));
	ck_assert_ptr_null(url_query_param("https://h/x?marker=", "marker"));
	ck_assert_ptr_null(url_query_param("https://h/x?marker", "marker"));
	ck_assert_ptr_null(url_query_param("https://h/x#?marker=a",
	    "marker"));
	ck_assert_ptr_null(url_query_param("/x?marker=a%00b", "marker"));
	ck_assert_ptr_null(url_query_param("/x?other=1", "marker"));
}
END_TEST

Suite *
url_suite(void)
{
	Suite	*s = suite_create("url");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_schemes);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_no_host);
	tcase_add_test(tc, test_bad_host);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_userinfo);
	tcase_add_test(tc, test_userinfo_keys);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_flags_on_failure);
	tcase_add_test(tc, test_never_quotes);
	tcase_add_test(tc, test_authority);
	tcase_add_test(tc, test_listen_ok);
	tcase_add_test(tc, test_listen_errors);
	tcase_add_test(tc, test_query_param);
	suite_add_tcase(s, tc);
	return s;
}
