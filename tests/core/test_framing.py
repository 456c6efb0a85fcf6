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
