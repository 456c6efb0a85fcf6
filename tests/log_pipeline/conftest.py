import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # authlog: the realistic sshd log generator

FIXTURES = ROOT / "tests" / "fixtures" / "logs"
RULES = ROOT / "rules"


@pytest.fixture(scope="session")
def linux_2k() -> bytes:
    return (FIXTURES / "Linux_2k.log").read_bytes() + b"\n"
