"""The compiled matcher scans the message first and the other fields only while a rule with
patterns there can still complete. Pattern sets where every such rule also needs the message
exercise that skip; results must stay identical to the `re` twin, which scans everything."""

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py as twin
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS as F
from lp_strategies import batch

ext = compiled("matcher")

# every rule with a pattern outside the message also has one on it
PATTERNS = [
    (rb"Failed password", False, F["message"], 0),
    (rb"^sshd$", False, F["process"], 0),
    (rb"user", True, F["message"], 1),
    (rb"root", True, F["user"], 1),
    (rb"from", False, F["message"], 2),
    (rb"port", False, F["message"], 2),
    (rb"^(?:1\.2\.3\.4|2001:db8::7)$", False, F["src_ip"], 2),
    (rb"x*", False, F["host"], 2),
    (rb"invalid", True, F["message"], 3),
]

_json_line = st.fixed_dictionaries({
    "message": st.sampled_from(["Failed password for root from 1.2.3.4 port 22 ssh2", "invalid user x from 2001:db8::7",
                                "user=ROOT", "nothing"]),
    "process": st.sampled_from(["sshd", "su", 7]),
    "host": st.sampled_from(["", "xx", "h"]),
}).map(lambda d: orjson.dumps(d) + b"\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=batch, js=st.lists(_json_line, max_size=4))
def test_message_first_equals_twin(buf, js):
    support.need(ext is not None, "ironpost._ext.matcher not built")
    buf = buf + b"".join(js)
    a = ext.Matcher(PATTERNS, 4).scan(buf, 2020, 3, 300, 8)
    b = twin.Matcher(PATTERNS, 4).scan(buf, 2020, 3, 300, 8)
    assert a == b


def test_rule_completing_on_the_second_field_fires():
    support.need(ext is not None, "ironpost._ext.matcher not built")
    buf = (b"Dec 10 06:55:46 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n"
           b"Dec 10 06:55:46 h cron[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n"
           b'{"message": "Failed password", "process": "sshd"}\n')
    cands, _ = ext.Matcher(PATTERNS, 4).scan(buf, 2016)
    assert [sorted(r) for _, r in cands] == [[0, 2], [2], [0]]
