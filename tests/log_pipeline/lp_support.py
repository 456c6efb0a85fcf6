"""Paths and imports shared by the log pipeline tests (not named conftest: several test folders
have one, and `import conftest` would be ambiguous)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))  # authlog: the realistic sshd log generator

FIXTURES = ROOT / "tests" / "fixtures" / "logs"
RULES = ROOT / "rules"
PACKET_RULES = ROOT / "tests" / "fixtures" / "rules" / "packets"  # packet rules for the engine; none ship
