"""A private dockerd for the container-guard tests (packaging/dockerd-test.sh).

The session fixture starts it, or reuses one already running in the same directory (CI may
start it first), and stops only an engine it started itself.
"""

from __future__ import annotations

import pytest

from container_support import IMAGE, NAMES, NET, TEST_LABEL, private_dockerd

@pytest.fixture(scope="session")
def dockerd():
    yield from private_dockerd()


@pytest.fixture(scope="session")
def docker_client(dockerd):
    import docker

    client = docker.DockerClient(base_url=dockerd.host, version="auto", timeout=30)
    yield client
    client.close()


def _cleanup(client) -> None:
    from docker.errors import NotFound

    for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        try:
            c.remove(force=True)
        except NotFound:
            pass
    for net in client.networks.list(names=[NET]):
        try:
            net.remove()
        except NotFound:
            pass


@pytest.fixture
def trio(docker_client):
    """web-1, api-1, db-1 running; web-1 is also on the user network ipt-front."""
    _cleanup(docker_client)
    net = docker_client.networks.create(NET, driver="bridge", labels={TEST_LABEL: "1"})
    out = {}
    for name in NAMES:
        out[name] = docker_client.containers.run(
            IMAGE, ["sleep", "3600"], name=name, detach=True, init=True, labels={TEST_LABEL: "1", "app": name.split("-")[0]},
        )
    net.connect(out["web-1"], aliases=["frontend-web"])
    yield out
    _cleanup(docker_client)
