import asyncio
import time
from pathlib import Path

from ironpost.core.bus import Bus
from ironpost.core.config import parse_config
from ironpost.core.module import ModuleContext, ModuleUnavailable
from ironpost.daemon.supervisor import Supervisor


class Crashy:
    name = "crashy"

    def __init__(self, crashes):
        self.crashes = crashes
        self.runs = 0

    async def run(self, ctx):
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"boom {self.runs}")
        await asyncio.sleep(3600)

    def metrics(self):
        return {}


class Steady:
    name = "steady"
    ticks = 0

    async def run(self, ctx):
        while True:
            Steady.ticks += 1
            await asyncio.sleep(0.005)

    def metrics(self):
        return {}


class Missing:
    name = "missing"

    async def run(self, ctx):
        raise ModuleUnavailable("no BPF here")

    def metrics(self):
        return {}


def ctx():
    return ModuleContext(config=parse_config({}, environ={}), bus=Bus(16), data_dir=Path("/tmp"))


def test_crashing_module_is_restarted_with_backoff_and_others_keep_running():
    async def go():
        sup = Supervisor(ctx(), backoff_initial=0.01, backoff_max=0.04)
        crashy = Crashy(crashes=3)
        sup.start(crashy)
        sup.start(Steady())
        sup.start(Missing())
        await asyncio.sleep(0.3)
        status = sup.status()
        ticks_before = Steady.ticks
        await asyncio.sleep(0.05)
        assert Steady.ticks > ticks_before  # the healthy module never stopped
        await sup.stop_all()
        return crashy, status

    crashy, status = asyncio.run(go())
    assert crashy.runs == 4
    assert status["crashy"] == {"state": "running", "restarts": 3, "last_error": "RuntimeError: boom 3"}
    assert status["steady"]["state"] == "running" and status["steady"]["restarts"] == 0
    missing = status["missing"]
    assert (missing["state"], missing["restarts"], missing["last_error"]) == ("unavailable", 0, "no BPF here")
    assert missing["retries"] >= 3 and 0 <= missing["retry_in_secs"] <= 0.04  # tried again, with backoff


def test_backoff_grows_between_restarts():
    async def go():
        sup = Supervisor(ctx(), backoff_initial=0.05, backoff_max=10)
        crashy = Crashy(crashes=100)
        sup.start(crashy)
        await asyncio.sleep(0.4)  # 0.05 + 0.1 + 0.2 = 0.35: three restarts fit, a fourth does not
        await sup.stop_all()
        return crashy.runs

    assert asyncio.run(go()) == 4


class LateDocker:
    """Unavailable until its third start (Docker started after the daemon), then runs."""
    name = "late"

    def __init__(self):
        self.runs = 0

    async def run(self, ctx):
        self.runs += 1
        if self.runs < 3:
            raise ModuleUnavailable("Docker engine at unix:///nowhere is unreachable")
        await asyncio.sleep(3600)

    def metrics(self):
        return {}


def test_unavailable_module_is_tried_again_and_comes_up(caplog):
    async def go():
        sup = Supervisor(ctx(), backoff_initial=0.02, unavailable_retry_max=0.05)
        late = LateDocker()
        sup.start(late)
        await asyncio.sleep(0.3)
        status = sup.status()
        await sup.stop_all()
        return late, status

    late, status = asyncio.run(go())
    assert late.runs == 3
    assert status["late"]["state"] == "running" and status["late"]["retries"] == 2
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # logged once per reason, not on every attempt


class Hung:
    """Stops making progress after its first start (a wedged client, a lost wakeup)."""
    name = "hung"
    stall_secs = 0.1

    def __init__(self):
        self.runs = 0
        self.last = time.monotonic()

    def heartbeat(self):
        return self.last

    async def run(self, ctx):
        self.runs += 1
        self.last = time.monotonic()
        if self.runs == 1:
            await asyncio.Event().wait()  # hangs: no progress ever again
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(0.01)

    def metrics(self):
        return {}


def test_hung_module_is_restarted_with_backoff():
    async def go():
        sup = Supervisor(ctx(), backoff_initial=0.05, stall_check=0.02)
        hung = Hung()
        sup.start(hung)
        sup.start(Steady())
        await asyncio.sleep(0.6)
        status = sup.status()
        ticks = Steady.ticks
        await asyncio.sleep(0.05)
        alive = Steady.ticks > ticks
        await sup.stop_all()
        return hung, status, alive

    hung, status, alive = asyncio.run(go())
    assert hung.runs == 2 and alive  # restarted once, and it has made progress since; the other never stopped
    assert status["hung"]["state"] == "running" and status["hung"]["restarts"] == 1 and status["hung"]["stalls"] == 1
    assert status["hung"]["last_error"].startswith("ModuleStalled: no progress for")
