"""Hypothesis strategies for syslog-ish lines: built from the pieces the parsers look for,
mixed with arbitrary bytes, so both the happy paths and the edges get exercised."""

from hypothesis import strategies as st

_ip4 = st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t)))
_ip6 = st.sampled_from(["::1", "2001:db8::7", "fe80::1%", "2001:db8:::1", "::ffff:1.2.3.4", "abc:", "1.2.3.4:"])
_ip = st.one_of(_ip4, _ip6, st.text("0123456789abcdef.:", max_size=50))
_word = st.sampled_from(["root", "admin", "x", "", "ünï", "a;b", "invalid", "user", "from", "port", "by", "for"])
_piece = st.one_of(
    _word,
    _ip,
    st.builds(lambda ip, p: f"from {ip} port {p}", _ip, st.integers(0, 99999)),
    st.builds(lambda ip: f"rhost={ip}", _ip),
    st.builds(lambda u: f"user={u}", _word),
    st.builds(lambda u: f"ruser={u}", _word),
    st.builds(lambda u: f"Invalid user {u} from", _word),
    st.builds(lambda u: f"for invalid user {u} from", _word),
    st.builds(lambda u: f"for user {u}", _word),
    st.builds(lambda u: f"for {u} from ", _word),
    st.builds(lambda ip: f"by {ip}", _ip),
    st.text(max_size=12),
)
_message = st.lists(_piece, max_size=8).map(" ".join)
_bsd_ts = st.builds(
    lambda m, d, h, mi, s, pad: (f"{m} {d:>2}" if pad == 1 else f"{m} {d}" if pad == 2 else f"{m} {d:02d}")
    + f" {h:02d}:{mi:02d}:{s:02d}",  # pad 2: some writers leave a one-digit day unpadded ("Feb 7")
    st.sampled_from(["Jan", "Feb", "Jun", "Dec", "Foo"]), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
    st.integers(0, 61), st.integers(0, 2))
_iso_ts = st.builds(
    lambda y, mo, d, h, frac, tz: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:30:15{frac}{tz}",
    st.integers(1970, 2100), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24),
    st.sampled_from(["", ".5", ".003", ".123456789123", "."]),
    st.sampled_from(["", "Z", "+02:00", "-05:30", "+2", "+25:00", "z"]))
_host = st.sampled_from(["host", "LabSZ", "combo", "-", "", "a b", "sshd[12]:", "[sshd]", "[sshd]:", "x:", "a[b"])
_tag = st.one_of(
    st.builds(lambda p, pid: f"{p}[{pid}]:", st.sampled_from(["sshd", "su", "sudo", "kernel", ""]), st.integers(0, 10**11)),
    st.builds(lambda p, t, pid: f"{p}({t})[{pid}]:", st.sampled_from(["sshd", "su"]), st.sampled_from(["pam_unix", "", "a b", "x" * 70]),
              st.integers(0, 99999)),
    st.sampled_from(["logrotate:", "kernel:", "no-colon", "cron[12]", "x[]:", "[1]:", "[sshd]:", "[sshd]", "[]", "[a b]",
                     "proftpd[7]", "sshd-session[5]:", "x(y)[3]", "p[9]x"]),
)
_pri = st.one_of(st.just(""), st.integers(0, 200).map(lambda v: f"<{v}>"), st.sampled_from(["<>", "<1234>", "<a>"]))
_sd = st.sampled_from(["-", '[id k="v"]', '[a@1 x="1" y="q\\"uo\\]te\\\\"][b z="2"]', "[broken", "[x k=v]", '[e k="v"]junk'])
_rfc3164 = st.builds(lambda pri, ts, host, tag, msg: f"{pri}{ts} {host} {tag} {msg}", _pri, st.one_of(_bsd_ts, _iso_ts), _host, _tag, _message)
_rfc5424 = st.builds(
    lambda pri, v, ts, host, app, procid, msgid, sd, bom, msg: f"{pri}{v} {ts} {host} {app} {procid} {msgid} {sd}{' ' + bom + msg if msg is not None else ''}",
    _pri, st.sampled_from(["1", "2", "12", "0"]), st.one_of(_iso_ts, st.just("-")), _host,
    st.sampled_from(["sshd", "-", "su"]), st.sampled_from(["-", "123", "abc", "1234567890"]),
    st.sampled_from(["-", "ID47"]), _sd, st.sampled_from(["", "\ufeff"]), st.one_of(st.none(), _message))
_json = st.one_of(
    st.builds(lambda ts, msg, lvl: '{"ts": %s, "msg": "%s", "level": %s, "host": {"name": "h"}, "a": {"b": {"c": 1}}}'
              % (ts, msg.replace("\\", "").replace('"', ""), lvl),
              st.sampled_from(["1700000000", "1700000000123", '"2024-01-01T00:00:00Z"', '"bad"', "true"]),
              _message, st.sampled_from(['"warning"', '"Error"', "3", "9", '"x"'])),
    st.integers(1, 40).map(lambda d: '{"a":' * d + "1" + "}" * d),
    st.sampled_from(["{", "[1,2]", '{"msg": 1}', "{}", '{"message": "Failed password for root from 1.2.3.4 port 22 ssh2", "src_ip": "5.6.7.8"}']),
)
line_text = st.one_of(_rfc3164, _rfc5424, _json, _message)
line_bytes = st.one_of(line_text.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=80))
batch = st.lists(line_bytes, max_size=12).map(lambda ls: b"\n".join(l.replace(b"\n", b" ") for l in ls))
