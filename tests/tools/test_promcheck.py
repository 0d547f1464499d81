#!/usr/bin/env python3
"""test_promcheck.py: the Prometheus text format checker, on good and bad text.

Each bad sample must be refused with the expected message on the expected
line; each good one accepted and parsed to the expected series.  The C
writer's own output goes through the checker in tests/unit/check_metrics.c.
Ends with `N passed, N failed`; exits non-zero on any failure.
"""
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import promcheck  # noqa: E402

HISTO = """\
# HELP d_seconds Durations.
# TYPE d_seconds histogram
d_seconds_bucket{pair="p",le="0.5"} 1
d_seconds_bucket{pair="p",le="1"} 3
d_seconds_bucket{pair="p",le="+Inf"} 4
d_seconds_sum{pair="p"} 7.25
d_seconds_count{pair="p"} 4
d_seconds_bucket{pair="q",le="1.0"} 0
d_seconds_bucket{pair="q",le="+Inf"} 0
d_seconds_sum{pair="q"} 0
d_seconds_count{pair="q"} 0
"""


def key(name, **labels):
    return (name, frozenset(labels.items()))


class Good(unittest.TestCase):
    def ok(self, text):
        errors = promcheck.check(text)
        self.assertEqual(errors, [], text)
        return promcheck.parse(text)

    def test_counter_with_help_and_type(self):
        got = self.ok("# HELP a_total Things done.\n# TYPE a_total counter\n"
                      "a_total 3\n")
        self.assertEqual(got, {key("a_total"): 3.0})

    def test_empty_text(self):
        self.assertEqual(self.ok(""), {})

    def test_comments_and_blank_lines(self):
        got = self.ok("# a comment\n\n   \n#HELPER is a comment too\n"
                      "# HELP x  doc with  spaces \nx 1\n")
        self.assertEqual(got, {key("x"): 1.0})

    def test_label_escapes_decoded(self):
        got = self.ok('a{p="q\\"u\\\\o\\nte",e="\u00e9 \u2713"} 1\n')
        self.assertEqual(got, {key("a", p='q"u\\o\nte', e="\u00e9 \u2713"): 1})

    def test_label_blanks_and_trailing_comma(self):
        got = self.ok('a { x = "1" , y="2", } 5\nb{} 6\n')
        self.assertEqual(got, {key("a", x="1", y="2"): 5, key("b"): 6})

    def test_values(self):
        text = "".join('v{i="%d"} %s\n' % (i, v) for i, v in enumerate(
            ["0", "-1.5", "1e+20", ".5", "5.", "+3", "1E-7", "+Inf", "-Inf",
             "Inf", "NaN"]))
        got = self.ok(text)
        self.assertEqual(got[key("v", i="2")], 1e20)
        self.assertEqual(got[key("v", i="3")], 0.5)
        self.assertEqual(got[key("v", i="7")], math.inf)
        self.assertEqual(got[key("v", i="8")], -math.inf)
        self.assertTrue(math.isnan(got[key("v", i="10")]))

    def test_timestamp(self):
        got = self.ok("a 1 1700000000000\nb 2 -5\nc\t3\t\n")
        self.assertEqual(got, {key("a"): 1, key("b"): 2, key("c"): 3})

    def test_colon_in_metric_name(self):
        self.ok("job:rate:5m 0.5\n")

    def test_histogram(self):
        got = self.ok(HISTO)
        self.assertEqual(got[key("d_seconds_bucket", pair="p", le="1")], 3)
        self.assertEqual(got[key("d_seconds_count", pair="q")], 0)

    def test_histogram_bucket_order_in_text_is_free(self):
        self.ok("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n"
                "h_bucket{le=\"1\"} 1\nh_count 2\nh_sum 1.5\n")

    def test_summary(self):
        self.ok("# TYPE s summary\ns{quantile=\"0.5\"} 2\n"
                "s{quantile=\"0.99\"} 9\ns_sum 30\ns_count 10\n")

    def test_empty_label_is_a_different_spelling_only_once(self):
        self.ok('a{x=""} 1\na{x="y"} 2\n')

    def test_untyped_families_side_by_side(self):
        self.ok("a 1\nb 2\n# TYPE c gauge\nc 3\n")

    def test_bytes_input(self):
        self.ok('a{x="\u00e9"} 1\n'.encode("utf-8"))


class Bad(unittest.TestCase):
    def bad(self, text, line, words):
        errors = promcheck.check(text)
        want = "line %d: " % line
        self.assertTrue(any(e.startswith(want) and words in e
                            for e in errors),
                        "want %r%r..., got %r" % (want, words, errors))
        with self.assertRaises(ValueError):
            promcheck.parse(text)

    def test_no_final_newline(self):
        self.bad("a 1\nb 2", 2, "does not end with a line feed")

    def test_crlf(self):
        self.bad("a 1\r\n", 1, "invalid value")

    def test_metric_names(self):
        self.bad("1a 1\n", 1, "invalid metric name")
        self.bad("a-b 1\n", 1, "invalid metric name")
        self.bad("a.b 1\n", 1, "invalid metric name")
        self.bad("# TYPE 1a counter\n", 1, "TYPE: invalid metric name")
        self.bad("# HELP a-b x\n", 1, "HELP: invalid metric name")
        self.bad("# HELP\n", 1, "HELP: invalid metric name ''")

    def test_label_names(self):
        self.bad('a{1x="v"} 1\n', 1, "invalid label name")
        self.bad('a{x-y="v"} 1\n', 1, "invalid label name")
        self.bad('a{x:y="v"} 1\n', 1, "invalid label name")
        self.bad('a{__name__="v"} 1\n', 1, "__name__ is reserved")
        self.bad('a{x="1",x="2"} 1\n', 1, "label x given twice")

    def test_label_values(self):
        self.bad('a{x="\\t"} 1\n', 1, "invalid escape")
        self.bad('a{x="v} 1\n', 1, "unterminated value")
        self.bad('a{x=v} 1\n', 1, "not quoted")
        self.bad('a{x "v"} 1\n', 1, "expected '='")
        self.bad('a{x="v" y="w"} 1\n', 1, "expected ',' or '}'")
        self.bad('a{x="v"\n', 1, "expected ',' or '}'")

    def test_values(self):
        for v in ("1,5", "0x10", "inf", "nan", "Infinity", "+NaN", "1e",
                  "--1", "1_000", "one"):
            self.bad("a %s\n" % v, 1, "invalid value")
        self.bad("a\n", 1, "no value")
        self.bad('a{x="1"}\n', 1, "no value")
        self.bad("a 1 2 3\n", 1, "text after the timestamp")
        self.bad("a 1 1.5\n", 1, "invalid timestamp")
        self.bad("a 1 99999999999999999999\n", 1, "invalid timestamp")

    def test_help_escapes(self):
        self.bad("# HELP a tab\\there\n", 1, "invalid escape")
        self.bad("# HELP a ends in\\\n", 1, "invalid escape")

    def test_type_lines(self):
        self.bad("# TYPE a counterx\n", 1, "is not one of")
        self.bad("# TYPE a counter gauge\n", 1, "is not one of")
        self.bad("# TYPE a\n", 1, "is not one of")
        self.bad("# TYPE a counter\n# TYPE a counter\na 1\n", 2,
                 "second TYPE line for a")
        self.bad("a 1\n# TYPE a counter\n", 2, "TYPE line for a after its "
                 "samples")
        self.bad("h_bucket{le=\"+Inf\"} 1\n# TYPE h histogram\n", 2,
                 "TYPE line for h after its samples")

    def test_help_lines(self):
        self.bad("# HELP a x\n# HELP a y\na 1\n", 2, "second HELP line")
        self.bad("a 1\n# HELP a x\n", 2, "HELP line for a after its samples")

    def test_families_grouped(self):
        self.bad("a 1\nb 1\na{x=\"1\"} 2\n", 3, "lines of a are not together")
        self.bad("# TYPE a gauge\nb 1\na 2\n", 3, "not together")

    def test_duplicate_series(self):
        self.bad('a{x="1",y="2"} 1\na{y="2",x="1"} 2\n', 2,
                 "duplicate series a{x=\"1\",y=\"2\"} (first on line 1)")
        self.bad('a 1\na{x=""} 2\n', 2, "duplicate series")
        self.bad('a 1\na 1 123\n', 2, "duplicate series")

    def test_histogram_needs_inf(self):
        self.bad("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\n"
                 "h_count 1\n", 2, 'no le="+Inf" bucket')

    def test_histogram_cumulative(self):
        self.bad("# TYPE h histogram\nh_bucket{le=\"1\"} 3\n"
                 "h_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\n"
                 "h_count 3\n", 3, "buckets must be cumulative")

    def test_histogram_count_is_inf_bucket(self):
        self.bad(HISTO.replace('d_seconds_count{pair="p"} 4',
                               'd_seconds_count{pair="p"} 5'), 7,
                 "_count 5.0 is not the +Inf bucket 4.0")

    def test_histogram_needs_sum_and_count(self):
        text = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n"
        self.bad(text + "h_count 1\n", 2, "has no h_sum")
        self.bad(text + "h_sum 1\n", 2, "has no h_count")

    def test_histogram_le(self):
        base = "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
        self.bad("# TYPE h histogram\nh_bucket 1\n" + base, 2, "no le label")
        self.bad("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n" + base, 2,
                 "invalid le 'x'")
        self.bad("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                 "h_bucket{le=\"1.0\"} 1\n" + base, 3, "the same bucket")
        self.bad("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n"
                 "h_sum{le=\"1\"} 1\nh_count 1\n", 3, "h_sum has a le label")
        self.bad("# TYPE h histogram\nh_bucket{le=\"1\"} -1\n" + base, 2,
                 "invalid count")

    def test_histogram_bare_sample(self):
        self.bad("# TYPE h histogram\nh 1\nh_bucket{le=\"+Inf\"} 1\n"
                 "h_sum 1\nh_count 1\n", 2,
                 "h in histogram family h: expected h_bucket")

    def test_summary(self):
        self.bad("# TYPE s summary\ns 1\ns_sum 1\ns_count 1\n", 2,
                 "no quantile label")
        self.bad("# TYPE s summary\ns{quantile=\"2\"} 1\ns_sum 1\n"
                 "s_count 1\n", 2, "not in [0, 1]")
        self.bad("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\n", 2,
                 "has no s_count")

    def test_not_utf8(self):
        self.bad(b'a 1\nb{x="\xff"} 1\n', 2, "not UTF-8")

    def test_every_error_reported(self):
        errors = promcheck.check("1a 1\nb 1\nb 2\n# TYPE c nope\n")
        self.assertEqual([e.split(":")[0] for e in errors],
                         ["line 1", "line 3", "line 4"])


class Command(unittest.TestCase):
    def run_cli(self, text):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.txt")
            if text is not None:
                with open(path, "wb") as f:
                    f.write(text.encode("utf-8"))
            p = subprocess.run([sys.executable,
                                os.path.join(HERE, "promcheck.py"), path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=30)
            return (p.returncode, p.stdout.decode(),
                    p.stderr.decode().replace(path, "FILE"))

    def test_good_file(self):
        rc, out, err = self.run_cli(HISTO)
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.endswith(": OK, 9 series\n"), out)

    def test_bad_file(self):
        rc, out, err = self.run_cli("a 1\na 2\nb x\n")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertEqual(err, "FILE:2: duplicate series a{} (first on line "
                         "1)\nFILE:3: b: invalid value 'x'\n")

    def test_missing_file(self):
        rc, out, err = self.run_cli(None)
        self.assertEqual(rc, 2)
        self.assertIn("No such file", err)

    def test_usage(self):
        p = subprocess.run([sys.executable,
                            os.path.join(HERE, "promcheck.py")],
                           stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"usage", p.stderr)


def main():
    loader = unittest.defaultTestLoader
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c)
                               for c in (Good, Bad, Command))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
