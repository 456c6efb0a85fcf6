import pytest
from daemon_support import DaemonProc, write_config


@pytest.fixture
def daemon_proc(tmp_path):
    data_dir = tmp_path / "data"
    cfg = write_config(tmp_path / "ironpost.toml", data_dir)
    d = DaemonProc(cfg, data_dir)
    yield d
    if d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()
