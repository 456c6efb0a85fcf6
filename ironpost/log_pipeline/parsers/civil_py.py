"""Helpers both Python parser twins use: calendar days and address checks, as the C parser
computes them (ext/lp_line.pxi)."""

from __future__ import annotations

import socket


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def valid_ip(tok: bytes) -> bool:
    """An IPv4 or IPv6 address in text, as inet_pton reads it (a NUL byte anywhere refuses it)."""
    if not tok or len(tok) > 45:
        return False
    try:
        socket.inet_pton(socket.AF_INET6 if b":" in tok else socket.AF_INET, tok.decode("ascii"))
        return True
    except (OSError, UnicodeDecodeError, ValueError):
        return False
