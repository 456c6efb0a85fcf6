"""Line framing for every collector (file tail, syslog TCP, container logs), and RFC 6587
octet counting for syslog TCP (frame_octets).

Uses the compiled ext/framing.pyx when built, else framing_py (IRONPOST_NO_EXTENSIONS=1).
"""

from __future__ import annotations

from ironpost.core.extensions import select

_impl = select("framing", "ironpost.core.framing_py")
frame_lines = _impl.frame_lines
frame_octets = _impl.frame_octets


class LineFramer:
    """Keeps the unterminated tail between chunks; yields buffers of whole, bounded lines."""

    __slots__ = ("max_line", "_tail", "_skipping", "lines", "cut")

    def __init__(self, max_line: int = 65536):
        self.max_line = max_line
        self._tail = b""
        self._skipping = False
        self.lines = 0
        self.cut = 0

    def feed(self, chunk: bytes) -> bytes:
        buf = self._tail + chunk if self._tail else chunk
        out, consumed, lines, cut, self._skipping = frame_lines(buf, self.max_line, self._skipping)
        self._tail = buf[consumed:]
        self.lines += lines
        self.cut += cut
        return out

    def flush(self) -> bytes:
        """At end of stream: the unterminated tail as a final line (bounded), if any."""
        tail, self._tail = self._tail, b""
        if not tail or self._skipping:
            self._skipping = False
            return b""
        self.lines += 1
        if len(tail) > self.max_line:
            self.cut += 1
            tail = tail[: self.max_line]
        return tail + b"\n"

    @property
    def pending(self) -> int:
        return len(self._tail)
