"""RFC 5424 structured data to fields, used by both parsers when a record is materialized.

`[id k="v" k2="a\\"b"][id2 ...]` -> [("sd.id.k", "v"), ("sd.id.k2", 'a"b'), ...]. Only the few
lines a caller asks for are materialized, so this stays in Python. Malformed data stops the
walk and keeps what was read before it.
"""

from __future__ import annotations


def parse_sd(sd: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    n = len(sd)
    i = 0
    while i < n and sd[i] == 0x5B:  # '['
        i += 1
        j = i
        while j < n and sd[j] not in b" ]":
            j += 1
        sd_id = sd[i:j].decode("utf-8", "replace")
        i = j
        while i < n:
            while i < n and sd[i] == 0x20:
                i += 1
            if i < n and sd[i] == 0x5D:  # ']'
                i += 1
                break
            eq = sd.find(b'="', i)
            if eq < 0:
                return out
            name = sd[i:eq].decode("utf-8", "replace")
            i = eq + 2
            val = bytearray()
            while i < n and sd[i] != 0x22:
                if sd[i] == 0x5C and i + 1 < n and sd[i + 1] in b'"\\]':
                    val.append(sd[i + 1])
                    i += 2
                    continue
                val.append(sd[i])
                i += 1
            if i >= n:
                return out
            i += 1
            out.append((f"sd.{sd_id}.{name}", val.decode("utf-8", "replace")))
        else:
            return out
    return out
