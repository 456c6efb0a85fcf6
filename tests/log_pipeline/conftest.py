import pytest

from lp_support import FIXTURES


@pytest.fixture(scope="session")
def linux_2k() -> bytes:
    return (FIXTURES / "Linux_2k.log").read_bytes() + b"\n"
