"""Pure-Python twin of ext/framing.pyx: cut a byte stream into complete, bounded lines,
from newline framing (frame_lines) or RFC 6587 octet counting (frame_octets, below).

frame_lines(buf, max_line, skipping) -> (out, consumed, lines, cut, skipping)
  out       complete lines from buf, each ending in b"\\n"; a line longer than max_line
            is cut to max_line bytes (plus the newline) and counted in `cut`.
  consumed  bytes of buf used; the caller keeps buf[consumed:] (an unterminated tail).
  skipping  True while the rest of an over-long line is being discarded; pass it back in.
An unterminated tail longer than max_line is emitted cut right away, so memory stays bounded.
"""


def frame_lines(buf: bytes, max_line: int, skipping: bool = False):
    out = []
    n = len(buf)
    pos = 0
    lines = 0
    cut = 0
    while pos < n:
        nl = buf.find(b"\n", pos)
        if skipping:
            if nl < 0:
                return b"".join(out), n, lines, cut, True
            skipping = False
            pos = nl + 1
            continue
        if nl < 0:
            if n - pos > max_line:
                out.append(buf[pos : pos + max_line])
                out.append(b"\n")
                lines += 1
                cut += 1
                return b"".join(out), n, lines, cut, True
            break
        if nl - pos > max_line:
            out.append(buf[pos : pos + max_line])
            out.append(b"\n")
            cut += 1
        else:
            out.append(buf[pos : nl + 1])
        lines += 1
        pos = nl + 1
    return b"".join(out), pos, lines, cut, skipping


def _one_line(msg: bytes) -> bytes:
    msg = msg.rstrip(b"\r\n\x00")
    if b"\n" in msg:
        msg = msg.replace(b"\r\n", b" ").replace(b"\n", b" ")
    return msg


_MAX_LEN_DIGITS = 10
_TRAILERS = (b"\r", b"\x00")


def frame_octets(buf: bytes, max_line: int, skip: int = 0):
    """RFC 6587 octet counting ("MSG-LEN SP MSG"), the twin of ext/framing.pyx:frame_octets.

    frame_octets(buf, max_line, skip) -> (out, consumed, lines, oversized, skip, bad)
      out        the messages of the complete frames in buf, each ending in b"\\n"; a message
                 is made one line (trailing CR/LF/NUL dropped, inner CRLF or LF become a space)
                 and an empty one is dropped. `lines` counts what is in out.
      consumed   bytes of buf used; the caller keeps buf[consumed:] (a partial frame).
      oversized  frames longer than max_line: cut to max_line, the rest skipped by declared length.
      skip       bytes of an oversized frame still to discard; pass it back in.
      bad        True when a length prefix is malformed (over 10 digits, or not digits) at
                 buf[consumed]; out holds the frames before it.
    """
    if max_line < 0 or skip < 0:
        raise ValueError("max_line and skip must not be negative")
    n = len(buf)
    pos = 0
    oversized = 0
    out = []
    while pos < n:
        if skip:
            take = min(skip, n - pos)
            pos += take
            skip -= take
            continue
        sp = buf.find(b" ", pos, pos + _MAX_LEN_DIGITS + 1)
        if sp < 0:
            if n - pos > _MAX_LEN_DIGITS:
                return _result(out, pos, oversized, skip, True)
            break
        prefix = buf[pos:sp]
        if not prefix.isdigit():
            return _result(out, pos, oversized, skip, True)
        length = int(prefix)
        take = length if length <= max_line else max_line
        start = sp + 1
        if n - start < take:
            break
        msg = buf[start : start + take]
        if b"\n" in msg or msg.endswith(_TRAILERS):
            msg = _one_line(msg)
        if msg:
            out.append(msg)
        pos = start + take
        if length > max_line:
            oversized += 1
            skip = length - max_line
    return _result(out, pos, oversized, skip, False)


def _result(out: list[bytes], pos: int, oversized: int, skip: int, bad: bool):
    lines = len(out)
    if lines:
        out.append(b"")
    return b"\n".join(out), pos, lines, oversized, skip, bad
