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
# web server logs: access (common/combined), nginx and Apache error logs, with broken variants
_clf_ts = st.builds(
    lambda d, mon, y, h, tz: f"{d:02d}/{mon}/{y:04d}:{h:02d}:07:09 {tz}",
    st.integers(0, 32), st.sampled_from(["Jan", "Oct", "Dec", "Foo"]), st.integers(1970, 2100), st.integers(0, 24),
    st.sampled_from(["+0100", "-0700", "+2500", "+01", "0100"]))
_quoted = st.one_of(st.sampled_from(["-", "", "Mozilla/5.0 (X11)", 'a \\" b', "sqlmap/1.0", "x\\"]), st.text(max_size=10))
_request = st.one_of(
    st.builds(lambda m, p, v: f"{m} {p}{v}", st.sampled_from(["GET", "POST", "\\x16\\x03"]),
              st.sampled_from(["/", "/a b", "/wp-login.php", "//pma/setup.php", '/q"x']),
              st.sampled_from([" HTTP/1.1", "", " HTTP/1.0 x"])),
    st.sampled_from(["-", "", "GET"]))
_access = st.builds(
    lambda ip, user, ts, req, status, nbytes, tail: f'{ip} - {user} [{ts}] "{req}" {status} {nbytes}{tail}',
    _ip, st.sampled_from(["-", "bob", "a b", ""]), _clf_ts, _request,
    st.sampled_from(["404", "200", "40", "4044", "abc"]), st.sampled_from(["47", "-", "", "12a", "9" * 20]),
    st.one_of(st.just(""), st.builds(lambda r, a: f' "{r}" "{a}"', _quoted, _quoted), st.sampled_from([' "x', ' "r" y'])))
_nginx_error = st.builds(
    lambda y, mo, lvl, pid, msg, ip: f"{y:04d}/{mo:02d}/15 10:56:10 [{lvl}] {pid}#0: *1 {msg}, client: {ip}, server: s",
    st.integers(1990, 2100), st.integers(0, 13), st.sampled_from(["error", "warn", "crit", "trace3", "Error", "", "x" * 9]),
    st.sampled_from(["2833", "", "1234567890", "x"]), _message, _ip)
_apache_error = st.builds(
    lambda day, frac, y, lvl, groups, msg: f"[Wed Oct {day} 14:32:52{frac} {y}] [{lvl}]{groups} {msg}",
    st.sampled_from(["11", " 1", "1", "32", "ab"]), st.sampled_from(["", ".123456", ".", ".1234567891"]),
    st.sampled_from(["2023", "23"]),
    st.sampled_from(["error", "auth_basic:error", "core:trace5", "x:y", "", "notice"]),
    st.lists(st.one_of(
        st.builds(lambda ip, port: f" [client {ip}{port}]", _ip, st.sampled_from(["", ":5", ":99999", ":x"])),
        st.builds(lambda ip: f" [client [{ip}]:51478]", _ip),
        st.sampled_from([" [pid 3453:tid 1402540]", " [pid 12]", " [pid x]", " [remote 1.2.3.4:5]", " [", " []"])),
        max_size=4).map("".join),
    _message)
def _journal_message(msg: str, as_bytes: int) -> str:
    """MESSAGE as a string, or (as journald writes text that is not UTF-8) as an array of byte
    values, sometimes with an invalid byte, a value out of range or an empty array."""
    if not as_bytes:
        return f'"{msg}"'
    raw = list(msg.encode("utf-8", "surrogatepass"))
    raw = {1: raw, 2: raw + [255], 3: raw + [256], 4: [], 5: raw + [-1]}[as_bytes]
    return "[" + ",".join(map(str, raw)) + "]"


_journald = st.builds(
    lambda msg, ident, pid, rts, prio, comm: "{%s}" % ", ".join(
        x for x in (f'"MESSAGE": {msg}', f'"SYSLOG_IDENTIFIER": {ident}', f'"_PID": {pid}',
                    f'"__REALTIME_TIMESTAMP": {rts}', f'"PRIORITY": {prio}', '"_HOSTNAME": "web-1"', comm) if x),
    st.builds(_journal_message, _message.map(lambda m: m.replace("\\", "").replace('"', "")), st.integers(0, 5)),
    st.sampled_from(['"sshd"', "1", '"su"']), st.sampled_from(['"123"', "123", '"12a"', '"1234567890"', '"\\u0031"']),
    st.sampled_from(['"1700000000123456"', '"17000000001234567890"', "1700000000123456", '"x"', '"\\u0031"']),
    st.sampled_from(['"3"', '"9"', "3", '"err"', '"33"']),
    st.sampled_from(["", '"_COMM": "sshd"', '"_COMM": "logger"', '"_COMM": 5']))
web_text = st.one_of(_access, _nginx_error, _apache_error)
line_text = st.one_of(_rfc3164, _rfc5424, _json, _message, web_text, _journald)
line_bytes = st.one_of(line_text.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=80))
batch = st.lists(line_bytes, max_size=12).map(lambda ls: b"\n".join(l.replace(b"\n", b" ") for l in ls))
