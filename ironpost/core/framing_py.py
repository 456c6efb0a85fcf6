"""Pure-Python twin of ext/framing.pyx: cut a byte stream into complete, bounded lines.

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
