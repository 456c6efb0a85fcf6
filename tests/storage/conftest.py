import pytest

from storage_support import temp_database


@pytest.fixture
def pg_url():
    with temp_database() as url:
        yield url
