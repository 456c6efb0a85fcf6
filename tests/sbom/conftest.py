from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sbom"
from support import SHARED_OSV  # noqa: E402,F401  (fixtures below use it)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def fixture_db(tmp_path):
    """A vulnerability DB built from the committed OSV fixtures."""
    from ironpost.sbom.vulndb import import_osv

    db = tmp_path / "vulndb.sqlite"
    stats = import_osv(FIXTURES / "osv", db)
    assert not stats.errors
    return db
