"""Which addresses Ironpost may ban from attacker-written data, and what it knows of its own host."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core.netaddr import AddressError, Exemptions, host_exemptions, ssh_peer, untrusted_host
from ironpost.ebpf.maps import parse_target
from ironpost.core.errors import EbpfError, IronpostError


@pytest.mark.parametrize("text", [
    "0.0.0.0/0", "::/0", "10.0.0.0/8", "203.0.113.0/24", "203.0.113.9/31", "2001:db8::/64",
    "0.0.0.0", "::", "127.0.0.1", "::1", "169.254.1.1", "fe80::1", "fe80::1%eth0", "224.0.0.1", "ff02::1",
    "255.255.255.255", "240.0.0.1", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "", " ", "203.0.113.9/", "1.2.3.4/32/1",
    "203.0.113.09", "2130706433", "localhost", "1.2.3.4 5.6.7.8", "x" * 10_000,
])
def test_hostile_sources_are_refused(text):
    with pytest.raises(AddressError):
        untrusted_host(text)
    with pytest.raises(EbpfError):
        parse_target(text, single_host=True)


@pytest.mark.parametrize("text,want", [
    ("203.0.113.9", "203.0.113.9"), (" 203.0.113.9 ", "203.0.113.9"), ("203.0.113.9/32", "203.0.113.9"),
    ("::ffff:203.0.113.9", "203.0.113.9"), ("::ffff:cb00:7109", "203.0.113.9"), ("2001:db8::9/128", "2001:db8::9"),
    ("10.1.2.3", "10.1.2.3"),
])
def test_single_hosts_are_accepted_and_normalised(text, want):
    assert str(untrusted_host(text)) == want
    assert str(parse_target(text, single_host=True)) == f"{want}/{ipaddress.ip_address(want).max_prefixlen}"


def test_operator_ranges_stay_allowed():
    assert str(parse_target("10.0.0.0/8")) == "10.0.0.0/8"
    assert str(parse_target("0.0.0.0/0")) == "0.0.0.0/0"


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.text(max_size=80),
    st.ip_addresses().map(str),
    st.tuples(st.ip_addresses(), st.integers(0, 129)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.integers(), st.none(), st.binary(max_size=20),
))
def test_fuzzed_sources_yield_one_routable_host_or_a_typed_error(value):
    try:
        addr = untrusted_host(value)
    except AddressError as exc:
        assert isinstance(exc, IronpostError)
        return
    assert isinstance(value, str)
    net = parse_target(value, single_host=True)
    assert net.num_addresses == 1 and net.network_address == addr
    assert not (addr.is_unspecified or addr.is_loopback or addr.is_link_local or addr.is_multicast)
    assert not (addr.version == 6 and addr.ipv4_mapped is not None)
    # the text named this host and no other
    named = ipaddress.ip_address(value.strip().split("/")[0])
    assert named == addr or (named.version == 6 and named.ipv4_mapped == addr)


def _proc(tmp_path, fib_trie="", if_inet6="", route="", ipv6_route=""):
    net = tmp_path / "net"
    net.mkdir()
    (net / "fib_trie").write_text(fib_trie)
    (net / "if_inet6").write_text(if_inet6)
    (net / "route").write_text(route)
    (net / "ipv6_route").write_text(ipv6_route)
    return str(tmp_path)


def test_host_exemptions_from_proc_files(tmp_path):
    proc = _proc(
        tmp_path,
        fib_trie="Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.10\n        /32 host LOCAL\n"
                 "     |-- 192.0.2.255\n        /32 link BROADCAST\n",
        if_inet6="20010db8000000000000000000000010 02 40 00 80 eth0\n",
        route="Iface\tDestination\tGateway \tFlags\nRefCnt\neth0\t00000000\t010200C0\t0003\n"
              "eth0\t000200C0\t00000000\t0001\n",
        ipv6_route="00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                   "20010db8000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n",
    )
    ex = host_exemptions(proc, environ={"SSH_CONNECTION": "198.51.100.7 50000 192.0.2.10 22"})
    assert [str(n) for n in ex["interface"]] == ["192.0.2.10/32", "2001:db8::10/128"]
    assert sorted(str(n) for n in ex["gateway"]) == ["192.0.2.1/32", "2001:db8::1/128"]
    assert [str(n) for n in ex["ssh_peer"]] == ["198.51.100.7/32"]


def test_real_host_exemptions_hold_loopback_and_this_session():
    ex = host_exemptions(environ={"SSH_CLIENT": "::ffff:198.51.100.8 4242 22"})
    assert ipaddress.ip_network("127.0.0.1/32") in ex["interface"]
    assert [str(n) for n in ex["ssh_peer"]] == ["198.51.100.8/32"]
    assert ssh_peer({}) is None and ssh_peer({"SSH_CONNECTION": "garbage"}) is None


def test_exemptions_cover_overlapping_ranges():
    ex = Exemptions(["10.9.0.0/16"], include_host=True,
                    host={"interface": [ipaddress.ip_network("192.0.2.10/32")], "gateway": [], "ssh_peer": []})
    assert ex.reason(ipaddress.ip_network("192.0.0.0/8")) == "192.0.2.10/32 (interface)"
    assert ex.covers(ipaddress.ip_network("0.0.0.0/0"))
    assert ex.covers(ipaddress.ip_network("10.9.1.1/32"))
    assert not ex.covers(ipaddress.ip_network("203.0.113.9/32"))
    assert not ex.covers(ipaddress.ip_network("::/0"))
