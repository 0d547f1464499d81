#!/usr/bin/env python3
"""promcheck.py: a strict checker of the Prometheus text format 0.0.4.

As a module:
    check(text) -> ["line N: message", ...], empty when the text is valid
    parse(text) -> {(name, frozenset(labels.items())): float}; ValueError
                   (every error, one a line) when the text is not valid
text may be str or bytes (bytes must be UTF-8).

As a command: promcheck.py FILE ("-" for stdin) prints FILE:N: message on
stderr for each error and exits 1 if there was any, 0 if none, 2 when the
file cannot be read.

What it checks: every line is empty, a comment, "# HELP name docstring",
"# TYPE name type" or "name{labels} value [timestamp]"; metric and label
name syntax; label values quoted, escaping only \\ \" \\n; docstrings
escaping only \\ and \\n; values; at most one HELP and one TYPE per family,
before its samples; a family's lines together; no series twice (label
order and empty labels do not make a series new); histograms with le on
every _bucket, a +Inf bucket, cumulative buckets, _sum, and _count equal
to the +Inf bucket; summaries with quantile in [0, 1], _sum and _count.

Where Prometheus is lenient this is not: values only as decimal numbers,
NaN, +Inf, -Inf or Inf (no hex, "inf" or "Infinity"); CR is not a blank.
"""
import math
import re
import sys

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NUMBER_RE = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf,
           "-Inf": -math.inf}
TIMESTAMP_RE = re.compile(r"-?[0-9]+\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count")}
BLANKS = " \t"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def parse_value(s):
    """The float s spells, or None when it is not a valid value."""
    if s in SPECIAL:
        return SPECIAL[s]
    if NUMBER_RE.match(s):
        return float(s)
    return None


def _skip(s, i):
    while i < len(s) and s[i] in BLANKS:
        i += 1
    return i


def _token(s, i):
    """The run of non-blanks at i, and where it ends."""
    j = i
    while j < len(s) and s[j] not in BLANKS:
        j += 1
    return s[i:j], j


def _labels_text(labels):
    return "{%s}" % ",".join('%s="%s"' % kv for kv in sorted(labels.items()))


class _Checker:
    def __init__(self):
        self.errors = []            # (line, message)
        self.samples = {}           # (name, frozenset) -> value
        self.series = {}            # normalised key -> first line
        self.types = {}             # family -> type
        self.helps = set()
        self.current = None         # family whose lines are being read
        self.closed = set()         # families whose group has ended
        self.sampled = set()        # families with samples
        self.names = set()          # sample names seen
        self.members = {}           # family -> [(line, name, labels, value)]

    def error(self, line, fmt, *args):
        self.errors.append((line, fmt % args if args else fmt))

    def enter(self, line, family):
        if family == self.current:
            return
        if family in self.closed:
            self.error(line, "lines of %s are not together: other "
                       "families came between", family)
        if self.current is not None:
            self.closed.add(self.current)
        self.current = family

    def family_of(self, name):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                base = name[:-len(suffix)]
                if suffix in SUFFIXES.get(self.types.get(base), ()):
                    return base
        return name

    # -- lines -------------------------------------------------------------

    def line(self, n, text):
        i = _skip(text, 0)
        if i == len(text):
            return
        if text[i] == "#":
            self.comment(n, text, i + 1)
        else:
            self.sample(n, text, i)

    def comment(self, n, s, i):
        keyword, i = _token(s, _skip(s, i))
        if keyword not in ("HELP", "TYPE"):
            return                      # an ordinary comment
        name, i = _token(s, _skip(s, i))
        if not METRIC_RE.fullmatch(name):
            self.error(n, "%s: invalid metric name %r", keyword, name)
            return
        if keyword == "HELP":
            self.help(n, name, s[_skip(s, i):])
        else:
            self.type(n, name, s[i:])

    def help(self, n, name, doc):
        k = 0
        while k < len(doc):
            if doc[k] == "\\":
                if doc[k + 1:k + 2] not in ("\\", "n"):
                    self.error(n, "HELP %s: invalid escape %r (only \\\\ "
                               "and \\n)", name, doc[k:k + 2])
                k += 1
            k += 1
        if name in self.helps:
            self.error(n, "second HELP line for %s", name)
        elif name in self.sampled:
            self.error(n, "HELP line for %s after its samples", name)
        self.helps.add(name)
        self.enter(n, name)

    def type(self, n, name, rest):
        words = rest.strip(BLANKS).split()
        if len(words) != 1 or words[0] not in TYPES:
            self.error(n, "TYPE %s: %r is not one of %s", name,
                       rest.strip(BLANKS), ", ".join(TYPES))
            return
        kind = words[0]
        if name in self.types:
            self.error(n, "second TYPE line for %s", name)
            return
        owned = [name] + [name + x for x in SUFFIXES.get(kind, ())]
        if name in self.sampled or any(x in self.names for x in owned):
            self.error(n, "TYPE line for %s after its samples", name)
        self.types[name] = kind
        self.enter(n, name)

    def label_set(self, n, s, i):
        """Parses {...} at s[i] == "{"; (labels, index after) or None."""
        labels = {}
        i += 1
        while True:
            i = _skip(s, i)
            if s[i:i + 1] == "}":
                return labels, i + 1
            m = LABEL_RE.match(s, i)
            if m is None or (m.end() < len(s) and s[m.end()] not in
                             BLANKS + "="):
                self.error(n, "invalid label name at %r", s[i:i + 20])
                return None
            lname = m.group()
            i = _skip(s, m.end())
            if s[i:i + 1] != "=":
                self.error(n, "label %s: expected '='", lname)
                return None
            i = _skip(s, i + 1)
            if s[i:i + 1] != '"':
                self.error(n, "label %s: the value is not quoted", lname)
                return None
            i += 1
            value = []
            while True:
                if i >= len(s):
                    self.error(n, "label %s: unterminated value", lname)
                    return None
                c = s[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = s[i + 1:i + 2]
                    if e not in ("\\", '"', "n"):
                        self.error(n, "label %s: invalid escape %r (only "
                                   "\\\\, \\\" and \\n)", lname, c + e)
                        return None
                    value.append("\n" if e == "n" else e)
                    i += 2
                    continue
                value.append(c)
                i += 1
            if lname == "__name__":
                self.error(n, "label name __name__ is reserved")
            if lname in labels:
                self.error(n, "label %s given twice", lname)
            labels[lname] = "".join(value)
            i = _skip(s, i)
            if s[i:i + 1] == ",":
                i += 1
            elif s[i:i + 1] != "}":
                self.error(n, "label %s: expected ',' or '}'", lname)
                return None

    def sample(self, n, s, i):
        m = METRIC_RE.match(s, i)
        if m is None or (m.end() < len(s) and s[m.end()] not in
                         BLANKS + "{"):
            self.error(n, "invalid metric name at %r", s[i:i + 40])
            return
        name = m.group()
        i = _skip(s, m.end())
        labels = {}
        if s[i:i + 1] == "{":
            got = self.label_set(n, s, i)
            if got is None:
                return
            labels, i = got
        words = s[i:].strip(BLANKS)
        words = re.split("[ \t]+", words) if words else []
        if not words:
            self.error(n, "%s: no value", name)
            return
        value = parse_value(words[0])
        if value is None:
            self.error(n, "%s: invalid value %r", name, words[0])
            return
        if len(words) > 2:
            self.error(n, "%s: text after the timestamp: %r", name,
                       " ".join(words[2:]))
            return
        if len(words) == 2 and (not TIMESTAMP_RE.match(words[1]) or
                                not INT64_MIN <= int(words[1]) <= INT64_MAX):
            self.error(n, "%s: invalid timestamp %r (integer milliseconds)",
                       name, words[1])
            return

        family = self.family_of(name)
        self.enter(n, family)
        self.sampled.add(family)
        self.names.add(name)
        norm = (name, frozenset((k, v) for k, v in labels.items() if v))
        if norm in self.series:
            self.error(n, "duplicate series %s%s (first on line %d)", name,
                       _labels_text(labels), self.series[norm])
            return
        self.series[norm] = n
        self.samples[(name, frozenset(labels.items()))] = value
        self.members.setdefault(family, []).append((n, name, labels, value))

    # -- families, once everything is read ---------------------------------

    def finish(self):
        for family, kind in self.types.items():
            if kind == "histogram":
                self.histogram(family)
            elif kind == "summary":
                self.summary(family)

    def groups(self, family, special, allowed):
        """Samples by label set without the special label."""
        out = {}
        for n, name, labels, value in self.members.get(family, []):
            suffix = name[len(family):]
            if suffix not in allowed:
                self.error(n, "%s in %s family %s: expected %s", name,
                           self.types[family], family,
                           " or ".join(family + x for x in allowed))
                continue
            rest = {k: v for k, v in labels.items() if k != special}
            key = frozenset((k, v) for k, v in rest.items() if v)
            g = out.setdefault(key, {"line": n, "labels": rest, "main": [],
                                     "_sum": None, "_count": None})
            if suffix in ("_sum", "_count"):
                if special in labels:
                    self.error(n, "%s has a %s label", name, special)
                g[suffix] = (n, value)
            else:
                g["main"].append((n, labels, value))
        return out

    def histogram(self, family):
        for g in self.groups(family, "le",
                             ("_bucket", "_sum", "_count")).values():
            what = family + _labels_text(g["labels"])
            buckets = []
            for n, labels, value in g["main"]:
                le = labels.get("le")
                bound = None if le is None else parse_value(le)
                if bound is None or math.isnan(bound):
                    self.error(n, "%s_bucket: %s", family,
                               "no le label" if le is None else
                               "invalid le %r" % le)
                elif math.isnan(value) or value < 0:
                    self.error(n, "%s_bucket: invalid count %r", family,
                               value)
                else:
                    buckets.append((bound, le, value, n))
            buckets.sort()
            for a, b in zip(buckets, buckets[1:]):
                if a[0] == b[0]:
                    self.error(b[3], "histogram %s: le=%r and le=%r are "
                               "the same bucket", what, a[1], b[1])
                elif b[2] < a[2]:
                    self.error(b[3], "histogram %s: bucket le=%r (%s) is "
                               "less than le=%r (%s): buckets must be "
                               "cumulative", what, b[1], b[2], a[1], a[2])
            inf = buckets[-1][2] if buckets and buckets[-1][0] == \
                math.inf else None
            if inf is None:
                self.error(g["line"], 'histogram %s has no le="+Inf" '
                           "bucket", what)
            if g["_sum"] is None:
                self.error(g["line"], "histogram %s has no %s_sum", what,
                           family)
            if g["_count"] is None:
                self.error(g["line"], "histogram %s has no %s_count", what,
                           family)
            elif inf is not None and g["_count"][1] != inf:
                self.error(g["_count"][0], "histogram %s: _count %s is not "
                           "the +Inf bucket %s", what, g["_count"][1], inf)

    def summary(self, family):
        for g in self.groups(family, "quantile",
                             ("", "_sum", "_count")).values():
            what = family + _labels_text(g["labels"])
            for n, labels, _ in g["main"]:
                q = labels.get("quantile")
                v = None if q is None else parse_value(q)
                if v is None or not 0 <= v <= 1:
                    self.error(n, "summary %s: %s", what,
                               "no quantile label" if q is None else
                               "quantile %r is not in [0, 1]" % q)
            for suffix in ("_sum", "_count"):
                if g[suffix] is None:
                    self.error(g["line"], "summary %s has no %s%s", what,
                               family, suffix)


def _run(text):
    c = _Checker()
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            c.error(text.count(b"\n", 0, e.start) + 1, "not UTF-8")
            return c
    lines = text.split("\n")
    if lines[-1] != "":
        c.error(len(lines), "the last line does not end with a line feed")
    else:
        lines.pop()
    for n, line in enumerate(lines, 1):
        c.line(n, line)
    c.finish()
    c.errors.sort(key=lambda e: e[0])
    return c


def check(text):
    """Every error in text as "line N: message"; [] when it is valid."""
    return ["line %d: %s" % e for e in _run(text).errors]


def parse(text):
    """{(name, frozenset(labels.items())): value}; ValueError if invalid."""
    c = _run(text)
    if c.errors:
        raise ValueError("\n".join("line %d: %s" % e for e in c.errors))
    return c.samples


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: promcheck.py FILE\n")
        return 2
    path = argv[1]
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        sys.stderr.write("promcheck: %s: %s\n" % (path, e.strerror))
        return 2
    c = _run(data)
    for n, msg in c.errors:
        sys.stderr.write("%s:%d: %s\n" % (path, n, msg))
    if c.errors:
        return 1
    print("%s: OK, %d series" % (path, len(c.samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
