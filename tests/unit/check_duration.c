/* check_duration.c: duration parsing and formatting. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "duration.h"
#include "testutil.h"

static uint64_t
parse_ok(const char *s)
{
	uint64_t	 ms = 0;
	char		*cause = NULL;

	ck_assert_msg(duration_parse(s, &ms, &cause) == 0, "%s: %s", s,
	    cause);
	return ms;
}

static void
parse_bad(const char *s, const char *want)
{
	uint64_t	 ms = 0;
	char		*cause = NULL;

	ck_assert_int_eq(duration_parse(s, &ms, &cause), -1);
	ck_assert_str_eq(cause, want);
	free(cause);
}

START_TEST(test_parse_units)
{
	ck_assert_uint_eq(parse_ok("90s"), 90000);
	ck_assert_uint_eq(parse_ok("5m"), 300000);
	ck_assert_uint_eq(parse_ok("1h30m"), 5400000);
	ck_assert_uint_eq(parse_ok("250ms"), 250);
	ck_assert_uint_eq(parse_ok("1m30s500ms"), 90500);
	ck_assert_uint_eq(parse_ok("2d"), 172800000);
	ck_assert_uint_eq(parse_ok("0s"), 0);
}
END_TEST

START_TEST(test_parse_bad)
{
	parse_bad("", "empty duration");
	parse_bad("90", "bad duration \"90\": missing unit (ms, s, m, h, d)");
	parse_bad("5x", "bad duration \"5x\": unknown unit (ms, s, m, h, d)");
	parse_bad("m", "bad duration \"m\": expected a number at \"m\"");
	parse_bad("-5s", "bad duration \"-5s\": expected a number at \"-5s\"");
	parse_bad("30m1h", "bad duration \"30m1h\": units out of order");
	parse_bad("5s5s", "bad duration \"5s5s\": units out of order");
	parse_bad("1 s", "bad duration \"1 s\": unknown unit (ms, s, m, h, d)");
	parse_bad("400d", "bad duration \"400d\": longer than a year");
	parse_bad("99999999999999999999s",
	    "bad duration \"99999999999999999999s\": longer than a year");
}
END_TEST

START_TEST(test_format)
{
	char	 buf[32];

	duration_format(0, buf, sizeof buf);
	ck_assert_str_eq(buf, "0s");
	duration_format(5400000, buf, sizeof buf);
	ck_assert_str_eq(buf, "1h30m");
	duration_format(90500, buf, sizeof buf);
	ck_assert_str_eq(buf, "1m30s500ms");
	duration_format(250, buf, sizeof buf);
	ck_assert_str_eq(buf, "250ms");
	duration_format(parse_ok("1d2h3m4s5ms"), buf, sizeof buf);
	ck_assert_str_eq(buf, "1d2h3m4s5ms");
}
END_TEST

Suite *
duration_suite(void)
{
	Suite	*s = suite_create("duration");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_parse_units);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}
