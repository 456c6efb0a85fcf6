import asyncio
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
    assert status["missing"] == {"state": "unavailable", "restarts": 0, "last_error": "no BPF here"}


def test_backoff_grows_between_restarts():
    async def go():
        sup = Supervisor(ctx(), backoff_initial=0.05, backoff_max=10)
        crashy = Crashy(crashes=100)
        sup.start(crashy)
        await asyncio.sleep(0.4)  # 0.05 + 0.1 + 0.2 = 0.35: three restarts fit, a fourth does not
        await sup.stop_all()
        return crashy.runs

    assert asyncio.run(go()) == 4
