import os
import sys

# bench/ and tests/ helpers are importable (tests/support.py as `support`).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.dirname(__file__))
