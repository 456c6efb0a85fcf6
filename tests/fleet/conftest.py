"""Fixtures every fleet test module shares."""

import uuid

import pytest
import redis

import support


@pytest.fixture
def prefix():
    """Unique stream/key names per test, deleted after it (other suites share this Redis)."""
    support.need(support.tcp_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379 is not running")
    p = f"ironpost-test-{uuid.uuid4().hex[:10]}"
    yield p
    r = redis.Redis.from_url(support.REDIS_URL)
    for key in r.scan_iter(f"{p}:*"):
        r.delete(key)
    r.close()
