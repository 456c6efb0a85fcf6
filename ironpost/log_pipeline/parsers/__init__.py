"""Line parsers: the compiled ext/logparse.pyx or its twin logparse_py (same API and results).

`parse(buf, year, ref_month=0, max_line=65536, json_max_depth=32) -> Parsed` parses a buffer of
whole lines (as LineFramer.feed returns them); `Parsed.record(i)` builds one line's fields.
"""

from __future__ import annotations

from ironpost.core.extensions import select

_impl = select("logparse", "ironpost.log_pipeline.parsers.logparse_py")
parse = _impl.parse
FIELD_NAMES = ("host", "process", "tag", "msgid", "message", "src_ip", "user", "rhost", "raw")
IMPLEMENTATION = "ext" if _impl.__name__.startswith("ironpost._ext") else "python"
