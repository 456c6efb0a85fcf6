import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core import framing_py
from ironpost.core.extensions import compiled
from ironpost.core.framing import LineFramer

import support

ext = compiled("framing")

chunks = st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n"))


def test_extension_is_built():
    support.need(ext is not None, "ironpost._ext.framing not built (run: python setup.py build_ext --inplace)")


@settings(max_examples=400, deadline=None)
@given(buf=chunks, max_line=st.integers(1, 40), skipping=st.booleans())
def test_ext_matches_twin(buf, max_line, skipping):
    support.need(ext is not None, "ironpost._ext.framing not built")
    assert ext.frame_lines(buf, max_line, skipping) == framing_py.frame_lines(buf, max_line, skipping)


def test_cut_lines_are_counted():
    out, consumed, lines, cut, skipping = framing_py.frame_lines(b"short\n" + b"A" * 100 + b"\nok\n", 10)
    assert out == b"short\n" + b"A" * 10 + b"\nok\n"
    assert (consumed, lines, cut, skipping) == (110, 3, 1, False)


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20), split=st.integers(1, 50))
def test_framer_reassembles_lines_across_chunks(data, split):
    stream = b"".join(line + b"\n" for line in data)
    framer = LineFramer(max_line=1000)
    out = b"".join(framer.feed(stream[i : i + split]) for i in range(0, len(stream), split))
    assert out == stream
    assert framer.lines == len(data) and framer.cut == 0 and framer.pending == 0


def test_framer_bounds_memory_on_endless_line():
    framer = LineFramer(max_line=64)
    out = b"".join(framer.feed(b"B" * 50) for _ in range(10)) + framer.feed(b"tail\nnext\n")
    assert out == b"B" * 64 + b"\n" + b"next\n"
    assert framer.pending == 0 and framer.cut == 1 and framer.lines == 2


def test_flush_emits_unterminated_tail():
    framer = LineFramer(max_line=8)
    assert framer.feed(b"a\nbcd") == b"a\n"
    assert framer.flush() == b"bcd\n"
    assert framer.lines == 2


# --- RFC 6587 octet counting (frame_octets) -------------------------------------------------

IMPLS = [pytest.param(framing_py, id="twin"), pytest.param("ext", id="ext")]


def _impl(which):
    if which == "ext":
        support.need(ext is not None, "ironpost._ext.framing not built")
        return ext
    return which


# Messages are drawn from bytes that matter to the framer: the space that ends a prefix, digits,
# and the CR, LF and NUL that one-line cleaning acts on.
_msg = st.lists(st.sampled_from([b"a", b"b", b"7", b" ", b"\r", b"\n", b"\x00"]), max_size=30).map(b"".join)
_valid = _msg.map(lambda m: b"%d %s" % (len(m), m))  # over max_line whenever len(m) > max_line
_frame = st.one_of(
    _valid,
    st.tuples(_msg, st.integers(-3, 3)).map(lambda t: b"%d %s" % (max(0, len(t[0]) + t[1]), t[0])),  # length off by a few
    st.integers(0, 9_999_999_999).map(lambda n: b"%d " % n),  # a long frame that the stream ends inside
    st.sampled_from([b"x ", b" ", b"1a ", b"-1 ", b"+5 ", b"12345678901 ", b"00000000000", b"0007 abcdefg"]),
    st.binary(max_size=16),
)
# Half the streams are all valid frames, so that many run long instead of ending at a bad prefix.
streams = st.one_of(st.lists(_valid, max_size=12), st.lists(_frame, max_size=12)).map(b"".join)
max_lines = st.integers(0, 40)


def _feed(frame_octets, pieces, max_line, skip=0):
    """Feed pieces as successive reads, keeping the partial frame and skip between them, as
    syslog_tcp does. Returns everything framed and where a bad prefix stopped it (stream offset)."""
    tail, out, lines, oversized, base = b"", [], 0, 0, 0
    for piece in pieces:
        buf = tail + piece
        o, consumed, n, over, skip, bad = frame_octets(buf, max_line, skip)
        out.append(o)
        lines += n
        oversized += over
        if bad:
            return b"".join(out), lines, oversized, skip, None, base + consumed
        base += consumed
        tail = buf[consumed:]
    return b"".join(out), lines, oversized, skip, tail, None


@settings(max_examples=300, deadline=None)
@given(buf=streams, max_line=max_lines, skip=st.one_of(st.just(0), st.integers(0, 60)))
def test_octets_ext_matches_twin_at_every_read_boundary(buf, max_line, skip):
    support.need(ext is not None, "ironpost._ext.framing not built")
    for i in range(len(buf) + 1):
        assert ext.frame_octets(buf[:i], max_line, skip) == framing_py.frame_octets(buf[:i], max_line, skip)


@pytest.mark.parametrize("which", IMPLS)
@settings(max_examples=300, deadline=None)
@given(buf=streams, max_line=max_lines, cuts=st.lists(st.integers(0, 500), max_size=8))
def test_octets_in_pieces_same_as_whole(which, buf, max_line, cuts):
    frame_octets = _impl(which).frame_octets
    bounds = sorted({0, len(buf), *(c for c in cuts if c < len(buf))})
    pieces = [buf[a:b] for a, b in zip(bounds, bounds[1:])]
    whole = _feed(frame_octets, [buf], max_line)
    assert _feed(frame_octets, pieces, max_line) == whole
    for i in range(len(buf) + 1):
        assert _feed(frame_octets, [buf[:i], buf[i:]], max_line) == whole


@settings(max_examples=200, deadline=None)
@given(buf=streams, max_line=max_lines, cuts=st.lists(st.integers(1, 50), min_size=1, max_size=8))
def test_octets_fed_in_pieces_ext_matches_twin(buf, max_line, cuts):
    support.need(ext is not None, "ironpost._ext.framing not built")
    pieces, pos, i = [], 0, 0
    while pos < len(buf):
        pieces.append(buf[pos : pos + cuts[i % len(cuts)]])
        pos += cuts[i % len(cuts)]
        i += 1
    assert _feed(ext.frame_octets, pieces, max_line) == _feed(framing_py.frame_octets, pieces, max_line)


@pytest.mark.parametrize("which", IMPLS)
def test_octets_messages_become_one_line(which):
    f = _impl(which).frame_octets
    msgs = [b"plain", b"in\nside", b"crlf\r\ninside", b"lone\rcr", b"a\r\r\nb", b"trail\r\n\x00\r", b"\r\n\x00", b""]
    buf = b"".join(b"%d %s" % (len(m), m) for m in msgs)
    out, consumed, lines, oversized, skip, bad = f(buf, 100)
    assert out == b"plain\nin side\ncrlf inside\nlone\rcr\na\r b\ntrail\n"
    assert (consumed, lines, oversized, skip, bad) == (len(buf), 6, 0, 0, False)


@pytest.mark.parametrize("which", IMPLS)
def test_octets_oversized_frame_is_cut_and_skipped_by_its_length(which):
    f = _impl(which).frame_octets
    out, consumed, lines, oversized, skip, bad = f(b"3 one20 " + b"A" * 12, 8)
    assert (out, consumed, lines, oversized, skip, bad) == (b"one\nAAAAAAAA\n", 20, 2, 1, 8, False)
    # the next read starts inside the skipped rest, and the frame after it comes out whole
    assert f(b"B" * 8 + b"3 two", 8, skip) == (b"two\n", 13, 1, 0, 0, False)


@pytest.mark.parametrize("which", IMPLS)
def test_octets_partial_frame_is_left_for_the_next_read(which):
    f = _impl(which).frame_octets
    assert f(b"5 hello10 abc", 100) == (b"hello\n", 7, 1, 0, 0, False)
    assert f(b"1234567890", 100) == (b"", 0, 0, 0, 0, False)  # ten digits may still be a length


@pytest.mark.parametrize("which", IMPLS)
@pytest.mark.parametrize("bad_prefix", [b"x ", b" 5 hello", b"1a hello", b"12345678901 x", b"00000000000", b"-1 x"])
def test_octets_bad_prefix_stops_at_its_position(which, bad_prefix):
    f = _impl(which).frame_octets
    assert f(b"2 ok" + bad_prefix + b"2 no", 100) == (b"ok\n", 4, 1, 0, 0, True)
