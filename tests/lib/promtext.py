"""A strict parser of Prometheus's text exposition format 0.0.4, written
from the format's specification (prometheus.io, "Exposition formats"),
not from evapi's writer: what evapi sends must parse here, and every rule
the format states is checked, some more strictly than Prometheus itself
(no blank lines, no other comments, no trailing commas, HELP and TYPE
before every metric's series).

    fams = parse(text)            # raises ParseError naming the line
    fams["http_requests_total"].samples   # [(name, labels, value)]
    series_count(fams)            # number of sample lines
    value(fams, "name", route="/x")       # the one matching sample's value

Checked: UTF-8; metric and label names; HELP escapes (\\ and \\n only);
label value escapes (\\\\, \\", \\n only); numbers as Go parses them (+Inf,
-Inf, NaN); every metric has one HELP and one TYPE, both before its
series; a metric's series are contiguous and each appears once; counter
values are not negative; a histogram's series are _bucket (with le),
_sum and _count per label set, buckets in increasing le order ending at
le="+Inf", cumulative (never decreasing), +Inf equal to _count.
"""

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(ValueError):
    pass


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []  # (sample name, {label: value}, float)

    def __repr__(self):
        return f"<Family {self.name} {self.type} {len(self.samples)} samples>"


def parse_number(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not NUMBER.fullmatch(s):
        raise ParseError(f"{where}: not a number: {s!r}")
    return float(s)


def unescape_help(s, where):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            nxt = s[i + 1:i + 2]
            if nxt == "\\":
                out.append("\\")
            elif nxt == "n":
                out.append("\n")
            else:
                raise ParseError(f"{where}: bad escape in HELP: \\{nxt}")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(s, i, where):
    """Labels from S[i] (just after '{'); returns (dict, index after '}')."""
    labels = {}
    if s[i:i + 1] == "}":
        return labels, i + 1
    while True:
        m = LABEL.match(s, i)
        if not m:
            raise ParseError(f"{where}: bad label name at {s[i:i + 20]!r}")
        name = m.group(0)
        if name.startswith("__"):
            raise ParseError(f"{where}: reserved label name {name}")
        if name in labels:
            raise ParseError(f"{where}: label {name} twice")
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError(f"{where}: expected =\" after {name}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ParseError(f"{where}: unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError(f"{where}: bad escape in a label value: \\{nxt}")
                val.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                raise ParseError(f"{where}: raw newline in a label value")
            val.append(c)
            i += 1
        labels[name] = "".join(val)
        if s[i:i + 1] == ",":
            i += 1
            if s[i:i + 1] == "}":
                raise ParseError(f"{where}: trailing comma in labels")
            continue
        if s[i:i + 1] == "}":
            return labels, i + 1
        raise ParseError(f"{where}: expected , or }} at {s[i:i + 20]!r}")


def family_of(sample, fams_by_name):
    """The family a sample name belongs to (histogram suffixes)."""
    if sample in fams_by_name:
        return sample
    for suffix in ("_bucket", "_sum", "_count"):
        if sample.endswith(suffix):
            base = sample[: -len(suffix)]
            f = fams_by_name.get(base)
            if f is not None and f.type in ("histogram", "summary"):
                return base
    return None


def parse(text):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError(f"not UTF-8: {e}") from None
    if not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    fams, order, current, seen = {}, [], None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}"
        if line == "":
            raise ParseError(f"{where}: blank line")
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) ?(.*)", line)
            if not m:
                raise ParseError(f"{where}: a comment that is not HELP or TYPE: {line!r}")
            kind, name, rest = m.groups()
            if not NAME.fullmatch(name):
                raise ParseError(f"{where}: bad metric name {name!r}")
            f = fams.get(name)
            if f is None:
                f = fams[name] = Family(name)
                order.append(name)
            elif f.samples:
                raise ParseError(f"{where}: {kind} for {name} after its series")
            if current is not None and current != name and name in seen:
                raise ParseError(f"{where}: metric {name} comes back")
            current = name
            seen.add(name)
            if kind == "HELP":
                if f.help is not None:
                    raise ParseError(f"{where}: second HELP for {name}")
                f.help = unescape_help(rest, where)
            else:
                if f.type is not None:
                    raise ParseError(f"{where}: second TYPE for {name}")
                if rest not in TYPES:
                    raise ParseError(f"{where}: unknown type {rest!r}")
                f.type = rest
            continue
        m = NAME.match(line)
        if not m:
            raise ParseError(f"{where}: no metric name: {line!r}")
        sname, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = parse_labels(line, i + 1, where)
        if line[i:i + 1] != " ":
            raise ParseError(f"{where}: expected one space before the value")
        parts = line[i + 1:].split(" ")
        if len(parts) not in (1, 2) or "" in parts:
            raise ParseError(f"{where}: expected a value (and a timestamp)")
        val = parse_number(parts[0], where)
        fname = family_of(sname, fams)
        if fname is None:
            raise ParseError(f"{where}: {sname} has no HELP/TYPE before it")
        f = fams[fname]
        if f.help is None or f.type is None:
            raise ParseError(f"{where}: {fname} lacks HELP or TYPE")
        if fname != current:
            raise ParseError(f"{where}: {sname} is apart from its metric's series")
        key = (sname, tuple(sorted(labels.items())))
        if key in f.__dict__.setdefault("_keys", set()):
            raise ParseError(f"{where}: series {sname}{labels} twice")
        f._keys.add(key)
        if f.type == "counter" and (val < 0 or math.isnan(val)):
            raise ParseError(f"{where}: counter {sname} is {val}")
        if f.type in ("counter", "gauge", "untyped") and sname != fname:
            raise ParseError(f"{where}: {sname} in {f.type} {fname}")
        f.samples.append((sname, labels, val))
    out = {name: fams[name] for name in order}
    for f in out.values():
        if f.help is None or f.type is None:
            raise ParseError(f"{f.name}: HELP and TYPE are both required")
        if f.type == "histogram":
            check_histogram(f)
    return out


def check_histogram(f):
    groups = {}
    for sname, labels, val in f.samples:
        rest = {k: v for k, v in labels.items() if k != "le"}
        key = tuple(sorted(rest.items()))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname == f.name + "_bucket":
            if "le" not in labels:
                raise ParseError(f"{f.name}: a bucket without le: {labels}")
            g["buckets"].append((parse_number(labels["le"], f.name), val))
        elif "le" in labels:
            raise ParseError(f"{f.name}: le on {sname}")
        elif sname == f.name + "_sum":
            g["sum"] = val
        elif sname == f.name + "_count":
            g["count"] = val
        else:
            raise ParseError(f"{f.name}: {sname} in a histogram")
    for key, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ParseError(f"{f.name}{dict(key)}: no le=\"+Inf\" bucket last")
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le2 > le1:
                raise ParseError(f"{f.name}{dict(key)}: le {le2} after {le1}")
            if c2 < c1:
                raise ParseError(f"{f.name}{dict(key)}: bucket le={le2} ({c2}) "
                                 f"below le={le1} ({c1})")
        if g["count"] is None or g["sum"] is None:
            raise ParseError(f"{f.name}{dict(key)}: _sum and _count are required")
        if b[-1][1] != g["count"]:
            raise ParseError(f"{f.name}{dict(key)}: +Inf {b[-1][1]} != _count {g['count']}")


def series_count(fams):
    return sum(len(f.samples) for f in fams.values())


def samples(fams, name, **labels):
    """Samples named NAME (a family's or a histogram's series name) whose
    labels include LABELS."""
    fname = family_of(name, fams)
    if fname is None:
        return []
    return [(s, l, v) for s, l, v in fams[fname].samples
            if s == name and all(l.get(k) == v for k, v in labels.items())]


def value(fams, name, **labels):
    """The value of the one sample matching; None when there is none."""
    found = samples(fams, name, **labels)
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples match {name}{labels}")
    return found[0][2] if found else None
