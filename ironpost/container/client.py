"""The Docker engine connection: one docker SDK client on the configured host.

The SDK is synchronous; callers on the event loop run its calls in a worker thread
(`asyncio.to_thread`). Every SDK or transport error that leaves this package is a ContainerError,
with `transient` telling the retry loops whether trying again can help.
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import Any, Callable, TypeVar

import docker
import requests
from docker.constants import DEFAULT_DOCKER_API_VERSION
from docker.errors import APIError, DockerException, NotFound
from docker.utils import version_lt

from ironpost.core.errors import ContainerError

log = logging.getLogger("ironpost.container")
T = TypeVar("T")


class DockerUnavailable(ContainerError):
    """The engine did not answer (socket missing, refused, timed out)."""

    transient = True


class ContainerNotFound(ContainerError):
    transient = False


class DockerCallError(ContainerError):
    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


def wrap(exc: BaseException, what: str) -> ContainerError:
    """Turn an SDK/transport exception into the matching ContainerError."""
    if isinstance(exc, ContainerError):
        return exc
    if isinstance(exc, NotFound):
        return ContainerNotFound(f"{what}: not found ({_explain(exc)})")
    if isinstance(exc, APIError):
        status = exc.status_code
        # 5xx while the engine is starting or shutting down is worth another try; 4xx never is.
        # The engine also answers 500 for some permanent refusals; the executor checks state
        # first so those are rare, and the retry count bounds the cost.
        transient = status is None or status >= 500
        return DockerCallError(f"{what}: {_explain(exc)}", status=status, transient=transient)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return DockerUnavailable(f"{what}: Docker engine unreachable ({_short(exc)})")
    if isinstance(exc, DockerException):
        # The SDK raises a bare DockerException when it cannot even fetch the server version.
        return DockerUnavailable(f"{what}: {_short(exc)}")
    if isinstance(exc, requests.RequestException):
        return DockerUnavailable(f"{what}: {_short(exc)}")
    raise exc


def _explain(exc: APIError) -> str:
    return str(exc.explanation or exc).strip()


def _short(exc: BaseException) -> str:
    """One readable line: the OS-level cause when there is one (the SDK nests it three deep)."""
    cause = _os_cause(exc, 0)
    if cause is not None:
        return _ERRNO_TEXT.get(cause.errno, cause.strerror or str(cause)) if cause.errno else str(cause)
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


_ERRNO_TEXT = {
    errno.ENOENT: "no such socket",
    errno.ECONNREFUSED: "connection refused; is dockerd running?",
    errno.EACCES: "permission denied on the socket",
    errno.ETIMEDOUT: "timed out",
}


def _os_cause(exc: BaseException | None, depth: int) -> OSError | None:
    if exc is None or depth > 6:
        return None
    if isinstance(exc, OSError) and exc.errno:
        return exc
    for nested in (*[a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)], exc.__cause__, exc.__context__):
        found = _os_cause(nested, depth + 1)
        if found is not None:
            return found
    return None


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one SDK call, translating its errors."""
    try:
        return fn(*args, **kwargs)
    except (DockerException, requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise wrap(exc, what) from exc


def connect(docker_host: str, timeout: float = 10.0) -> docker.DockerClient:
    """Open a client and negotiate the API version: the lower of what the engine and the SDK speak.

    Pinning a version would break against an older engine (docker.io 20.10 speaks 1.41) and
    asking a newer engine for its own maximum could exceed what this SDK understands.
    """
    try:
        probe = docker.DockerClient(base_url=docker_host, version="auto", timeout=timeout)
    except (DockerException, requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise DockerUnavailable(f"Docker engine at {docker_host} is unreachable ({_short(exc)})") from exc
    server = probe.api.api_version
    if not version_lt(DEFAULT_DOCKER_API_VERSION, server):
        return probe
    probe.close()
    log.info("engine speaks a newer API than the SDK; using the SDK's", extra={"server_api": server, "api": DEFAULT_DOCKER_API_VERSION})
    try:
        return docker.DockerClient(base_url=docker_host, version=DEFAULT_DOCKER_API_VERSION, timeout=timeout)
    except (DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(f"Docker engine at {docker_host} is unreachable ({_short(exc)})") from exc


class Engine:
    """A lazily (re)connected client. After the engine restarts the same object keeps working:
    a failed call drops the client and the next call connects again."""

    def __init__(self, docker_host: str, timeout: float = 10.0):
        # [container] docker_socket is a socket path or a URL; the Docker client wants a URL
        self.docker_host = f"unix://{docker_host}" if docker_host.startswith("/") else docker_host
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()  # worker threads share one Engine; connect once, not per thread
        self.connects = 0

    @property
    def client(self) -> docker.DockerClient:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = connect(self.docker_host, self.timeout)
                self.connects += 1
            return self._client

    @property
    def api(self):
        return self.client.api

    def run(self, what: str, fn: Callable[[docker.DockerClient], T]) -> T:
        """Run fn(client); on an unreachable engine forget the client so the next call reconnects."""
        try:
            return call(what, fn, self.client)
        except DockerUnavailable:
            self.reset()
            raise

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.run(f"inspect {ref[:64]}", lambda cl: cl.api.inspect_container(ref))

    def containers(self, *, all_: bool = True) -> list[dict[str, Any]]:
        """The list call's summaries (id, names, image, state, labels, networks) in one request."""
        return self.run("list containers", lambda cl: cl.api.containers(all=all_))

    def ping(self) -> bool:
        return bool(self.run("ping", lambda c: c.ping()))

    def api_version(self) -> str:
        return self.client.api.api_version

    def reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a dead connection pool must never mask the real error
                pass

    close = reset
