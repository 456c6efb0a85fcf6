import io

import pytest

from collector_support import Sink, run_uv
from ironpost.core.config import parse_config
from ironpost.core.errors import ConfigError
from ironpost.log_pipeline.collectors import (
    Collector, FileTail, StdinCollector, StdinConfig, SyslogTcp, SyslogUdp, build_collectors)


def test_build_collectors_from_config(tmp_path):
    cfg = parse_config({
        "general": {"data_dir": str(tmp_path)},
        "log_pipeline": {"files": ["/var/log/auth.log"], "syslog_udp": "127.0.0.1:5514", "syslog_tcp": "[::1]:6514",
                         "tcp_idle_timeout_secs": 5, "tcp_max_connections": 7, "max_line_bytes": 4096},
    }, environ={})
    cols = build_collectors(cfg)
    assert [type(c) for c in cols] == [FileTail, SyslogUdp, SyslogTcp]
    assert all(isinstance(c, Collector) for c in cols)
    ft, udp, tcp = cols
    assert ft.config.offsets_path == tmp_path / "file_offsets.json"
    assert ft.config.max_line == 4096
    assert (udp.config.host, udp.config.port) == ("127.0.0.1", 5514)
    assert (tcp.config.host, tcp.config.port, tcp.config.idle_timeout, tcp.config.max_connections) == ("::1", 6514, 5.0, 7)


def test_no_sources_configured_means_no_collectors(tmp_path):
    assert build_collectors(parse_config({}, environ={}), tmp_path) == []


def test_bad_collector_keys_are_config_errors():
    with pytest.raises(ConfigError) as e:
        parse_config({"log_pipeline": {"syslog_tcp": "nope", "tcp_max_connections": 0, "files_start_at": "middle"}}, environ={})
    text = str(e.value)
    assert "log_pipeline.syslog_tcp" in text and "tcp_max_connections" in text and "files_start_at" in text


def test_stdin_reads_to_the_end_with_unterminated_last_line():
    data = b"".join(b"line %d\n" % i for i in range(10000)) + b"last"
    sink = Sink()
    col = StdinCollector(StdinConfig(stream=io.BufferedReader(io.BytesIO(data)), read_chunk=4096))
    run_uv(col.run(sink))
    assert sink.lines == [b"line %d" % i for i in range(10000)] + [b"last"]
    assert set(sink.sources) == {"stdin"}
    assert col.metrics()['lp_collector_lines_total{collector="stdin"}'] == 10001
