"""Hypothesis strategies for JSON log lines written as text, so that the edges the compiled
JSON scanner must get right (escapes, unicode, numbers, duplicate and dotted keys, nesting
depth, broken syntax) appear often, next to realistic auth-log objects."""

import json

from hypothesis import strategies as st

from lp_strategies import _message

# tracked names, their prefixes, look-alikes and an escaped spelling of "host"
KEYS = ["host", "hostname", "host.name", "name", "message", "msg", "process", "program", "app", "appname",
        "process.name", "pid", "tag", "msgid", "src_ip", "user", "rhost", "@timestamp", "timestamp", "ts", "time",
        "level", "severity", "a", "b", "", "ü", "host.", "hos", "hosts", "ho\\u0073t", "m\\u00e9sg"]
_ESCAPES = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u0041", "\\u0000", "\\u20ac",
            "\\ud83d\\ude00", "\\ud800", "\\udc00x", "\\x", "\\u12", "\x01", "\x7f", "ü", "😀", "€"]
_NUMBERS = ["0", "-0", "7", "-12", "24200", "1700000000", "1700000000123", "1481352946", "1.5", "1e5", "1E2",
            "-0.0", "1481352946.25", "1e400", "123456789012345678", "1234567890123456789", "01", "-", "1.", ".5",
            "2e", "1e-400", "99999999999999999999999999"]
_TIMES = ['"2016-12-10T06:55:46.5Z"', '"2016-12-10T06:56:01+01:00"', '"2016-12-10T06:55:46"', '"bad"',
          '"2016-12-10T06:55:46Zjunk"', '"2016-12-10T06:55:46.\\u0035Z"']


def _str_text(parts):
    return '"' + "".join(parts) + '"'


_plain_str = _message.map(lambda m: json.dumps(m, ensure_ascii=False))
_esc_str = st.lists(st.one_of(st.sampled_from(_ESCAPES), _message.map(lambda m: m.replace("\\", "").replace('"', ""))),
                    max_size=6).map(_str_text)
_scalar = st.one_of(_plain_str, _plain_str, _esc_str, st.sampled_from(_NUMBERS), st.sampled_from(_TIMES),
                    st.sampled_from(["true", "false", "null", "[]", "{}", "[1, \"a\", {\"b\": 2}]", "nul", "True"]))
_ws = st.sampled_from(["", "", "", " ", "\t", " \r ", "\n"])
_key = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k.replace("\\u0073", "s")))


def _obj(members, ws):
    return "{" + ws + ",".join(f'{ws}"{k}"{ws}:{ws}{v}' for k, v in members) + ws + "}"


value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.builds(_obj, st.lists(st.tuples(_key, inner), max_size=5), _ws),
        st.lists(inner, max_size=3).map(lambda vs: "[" + ", ".join(vs) + "]"),
    ),
    max_leaves=12,
)


def _chain(depth, leaf):
    return '{"a":' * (depth - 1) + '{"msg": %s}' % leaf + "}" * (depth - 1)


def _auth(msg, ts, host, nested):
    host_part = '"host": {"name": %s}' % host if nested else '"hostname": %s' % host
    return '{"@timestamp": %s, %s, "level": "info", "process": {"name": "sshd", "pid": 24200}, "message": %s}' % (
        ts, host_part, json.dumps(msg))


json_line = st.one_of(
    st.builds(_obj, st.lists(st.tuples(_key, value), max_size=8), _ws),
    st.builds(_auth, _message, st.sampled_from(_TIMES + ["1481352946", "1481352946000", "1481352946.5"]),
              st.sampled_from(['"LabSZ"', '"combo"', "5", '"h\\u00e9"']), st.booleans()),
    st.builds(_chain, st.sampled_from([1, 2, 8, 31, 32, 33, 40]), _plain_str),
    st.builds(lambda o, junk: o + junk, st.builds(_obj, st.lists(st.tuples(_key, value), max_size=3), _ws),
              st.sampled_from(["", " ", "x", "}", ",", "\x00", "\r", " \t"])),
    st.builds(lambda o, cut: o[:cut], st.builds(_obj, st.lists(st.tuples(_key, value), min_size=1, max_size=4), _ws),
              st.integers(1, 60)),
)
json_bytes = st.one_of(json_line.map(lambda s: s.encode("utf-8", "surrogatepass")),
                       st.tuples(json_line, st.binary(min_size=1, max_size=3), st.integers(0, 40)).map(
                           lambda t: t[0].encode()[:t[2]] + t[1] + t[0].encode()[t[2]:]))
json_batch = st.lists(json_bytes, min_size=1, max_size=10).map(lambda ls: b"\n".join(l.replace(b"\n", b" ") for l in ls))
