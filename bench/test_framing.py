"""Line framing: the compiled ext against its Python twin on the same 4 MiB of auth-log lines."""

import random

import pytest

from ironpost.core import framing_py
from ironpost.core.extensions import compiled

ext = compiled("framing")


def auth_log(n: int = 40_000) -> bytes:
    rnd = random.Random(7)
    lines = []
    for i in range(n):
        ip = f"203.0.{rnd.randrange(256)}.{rnd.randrange(256)}"
        lines.append(f"Dec 10 06:55:{i % 60:02d} LabSZ sshd[{24200 + i}]: Failed password for invalid user admin from {ip} port {rnd.randrange(1024, 65535)} ssh2")
    return ("\n".join(lines) + "\n").encode()


BUF = auth_log()


@pytest.mark.benchmark(group="framing")
def test_framing_ext(benchmark):
    if ext is None:
        pytest.fail("ironpost._ext.framing is not built")
    out = benchmark(ext.frame_lines, BUF, 65536, False)
    assert out[2] == 40_000
    benchmark.extra_info["lines_per_sec_median"] = 40_000 / benchmark.stats.stats.median


@pytest.mark.benchmark(group="framing")
def test_framing_twin(benchmark):
    out = benchmark(framing_py.frame_lines, BUF, 65536, False)
    assert out[2] == 40_000
    benchmark.extra_info["lines_per_sec_median"] = 40_000 / benchmark.stats.stats.median
