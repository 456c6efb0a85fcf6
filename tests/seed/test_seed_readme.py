"""The seed README's examples, pasted into files and run as its users would run them.

Each test writes a block of seed_blocks.py to disk and runs the seed's command line through the
installed `ironpost-cli` / `ironpost-daemon` console scripts. Where a line names a machine path
(/app, /var/lib/ironpost, port 514) the test supplies a temporary one; the pasted files stay as
the seed wrote them, and machine-specific values come through IRONPOST_<SECTION>_<KEY> overrides.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import support
from seed_blocks import CLI_LINES, CONFIG_TOML, POLICY_TOML, RULE_YAML, STDIN_EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIXTURES = ROOT / "tests" / "fixtures"


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONPOST_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "250"  # rich tables fit on one line, as in a wide terminal
    env.update(overrides)
    return env


def run(line: str, cwd: Path, *, prog: str = "ironpost-cli", input: str | None = None, env=None, timeout=60):
    exe = BIN / prog
    support.need(exe.exists(), f"{exe} missing: reinstall the package (pip install -e .) to get the seed's command names")
    return subprocess.run([str(exe), *shlex.split(line)], cwd=cwd, input=input, capture_output=True, text=True,
                          env=env or _env(), timeout=timeout)


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """A working directory after the seed's quick start: ironpost.toml and rules/ssh_brute_force.yaml."""
    (tmp_path / "ironpost.toml").write_text(CONFIG_TOML)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ssh_brute_force.yaml").write_text(RULE_YAML)
    return tmp_path


# ---- configuration ---------------------------------------------------------------------------------

def test_seed_config_validates(seed):
    r = run(CLI_LINES["validate"], seed)
    assert r.returncode == 0, r.stderr
    assert "ironpost.toml is valid" in r.stdout


def test_seed_config_needs_no_reachable_database(seed):
    # postgres_url and redis_url point at localhost; validating must not connect to them
    text = CONFIG_TOML.replace("localhost:5432", "192.0.2.1:1").replace("localhost:6379", "192.0.2.1:1")
    (seed / "ironpost.toml").write_text(text)
    t0 = time.monotonic()
    r = run(CLI_LINES["validate"], seed)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 20


def test_config_show_uses_the_local_file_and_prints_seed_values(seed):
    r = run(CLI_LINES["show"], seed)  # no --config: ./ironpost.toml
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for line in ('ring_buffer_size = 262144', 'sources = ["syslog", "file"]', 'syslog_bind = "0.0.0.0:514"',
                 'watch_paths = ["/var/log/syslog", "/var/log/auth.log"]', 'batch_size = 1000', 'flush_interval_secs = 5.0',
                 'docker_socket = "/var/run/docker.sock"', 'poll_interval_secs = 10.0',
                 'vuln_db_path = "/var/lib/ironpost/vuln-db"', 'output_format = "cyclonedx"',
                 'postgres_url = "postgresql://localhost:5432/ironpost"', 'pid_file = "/var/run/ironpost.pid"'):
        assert f"\n{line}\n" in out, line


def test_config_show_prints_our_earlier_names_in_canonical_form(seed):
    old = ('[ebpf]\nringbuf_pages = 64\n[log_pipeline]\nfiles = ["/var/log/auth.log"]\n[log_pipeline.storage]\nbatch_size = 9\n'
           '[container]\ndocker_host = "unix:///run/docker.sock"\ninventory_ttl_secs = 7\n[sbom]\nvulndb_path = "/srv/v.sqlite"\n')
    (seed / "ironpost.toml").write_text(old)
    out = run(CLI_LINES["show"], seed).stdout
    for line in ("ring_buffer_size = 262144", 'watch_paths = ["/var/log/auth.log"]', "batch_size = 9",
                 'docker_socket = "/run/docker.sock"', "poll_interval_secs = 7.0", 'vuln_db_path = "/srv/v.sqlite"'):
        assert f"\n{line}\n" in out, line
    for alias in ("ringbuf_pages", "files", "docker_host", "inventory_ttl_secs", "vulndb_path"):
        assert f"\n{alias} = " not in out


def test_typo_in_the_seed_config_gets_a_suggestion(seed):
    (seed / "ironpost.toml").write_text(CONFIG_TOML.replace("batch_size = 1000", "batch_sise = 1000"))
    r = run(CLI_LINES["validate"], seed)
    assert r.returncode == 2
    assert "log_pipeline.batch_sise: unknown key (did you mean log_pipeline.batch_size?)" in r.stderr
    assert "(1 problem)" in r.stderr


def test_example_config_has_the_seed_layout():
    """ironpost.toml.example lists the seed's sections first and the seed's keys first, in the seed's order,
    in every section (sections and keys the seed does not have come after)."""
    example = (ROOT / "ironpost.toml.example").read_text()

    def keys_by_section(text):
        out, sec = {}, None
        for line in text.splitlines():
            if m := re.match(r"^\[([\w.]+)\]", line):
                sec = m.group(1)
                out[sec] = []
            elif (m := re.match(r"^(\w+)\s*=", line)) and sec:
                out[sec].append(m.group(1))
        return out

    seed, ours = keys_by_section(CONFIG_TOML), keys_by_section(example)
    assert list(ours)[: len(seed)] == list(seed)
    for sec, keys in seed.items():
        assert ours[sec][: len(keys)] == keys, sec


# ---- rules -----------------------------------------------------------------------------------------

def test_rules_validate_dir(seed):
    r = run(CLI_LINES["rules_validate"], seed)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule(s) valid, 0 problem(s)" in r.stdout


def test_rules_test_without_input_summarizes_on_a_terminal(seed):
    import pty

    leader, follower = pty.openpty()
    try:
        exe = BIN / "ironpost-cli"
        support.need(exe.exists(), f"{exe} missing: reinstall the package")
        r = subprocess.run([str(exe), *shlex.split(CLI_LINES["rules_test"])], cwd=seed, stdin=follower,
                           capture_output=True, text=True, env=_env(), timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert r.returncode == 0, r.stderr
    assert "ssh_brute_force (high): SSH Brute Force Attack" in r.stdout
    assert "process equals 'sshd' [case_insensitive] AND message contains 'Failed password'" in r.stdout
    assert "alerts: 5 matching lines within 60s per src_ip" in r.stdout


def test_stdin_example_verbatim_reports_a_match(seed):
    r = subprocess.run(["bash", "-c", STDIN_EXAMPLE], cwd=seed, capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr  # one line: a match, the threshold of 5 is not reached
    assert r.stdout.startswith("match ssh_brute_force: <34>1 2024-02-09T10:30:00Z host sshd - - - Failed password")


def test_stdin_example_fields(seed):
    line = re.search(r"echo '([^']*)'", STDIN_EXAMPLE).group(1)
    r = run("rules test --rule rules/ssh_brute_force.yaml --stdin --json", seed, input=line + "\n")
    (match,) = [orjson.loads(x) for x in r.stdout.splitlines()]
    f = match["fields"]
    assert match["type"] == "match" and match["rule_id"] == "ssh_brute_force"
    assert (f["process"], f["src_ip"], f["host"], f["format"]) == ("sshd", "192.168.1.100", "host", "rfc5424")


# Real OpenSSH lines (BSD syslog, as in /var/log/auth.log): one attacker, five failures in 12 s,
# with the noise sshd writes around them.
AUTH_LOG = """\
Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!
Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186
Dec 10 06:55:46 LabSZ sshd[24200]: input_userauth_request: invalid user webmaster [preauth]
Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): check pass; user unknown
Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186
Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2
Dec 10 06:55:48 LabSZ sshd[24200]: Connection closed by 173.234.31.186 [preauth]
Dec 10 07:02:47 LabSZ sshd[24203]: Connection closed by 212.47.254.145 [preauth]
Dec 10 07:07:38 LabSZ sshd[24206]: Invalid user test9 from 52.80.34.196
Dec 10 07:07:45 LabSZ sshd[24206]: Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2
Dec 10 07:08:28 LabSZ sshd[24208]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!
Dec 10 07:08:30 LabSZ sshd[24208]: Failed password for invalid user webmaster from 173.234.31.186 port 39257 ssh2
Dec 10 07:08:32 LabSZ sshd[24208]: Failed password for invalid user webmaster from 173.234.31.186 port 39257 ssh2
Dec 10 07:08:35 LabSZ sshd[24208]: Failed password for invalid user webmaster from 173.234.31.186 port 39257 ssh2
Dec 10 07:08:37 LabSZ sshd[24208]: Failed password for invalid user webmaster from 173.234.31.186 port 39257 ssh2
Dec 10 07:08:40 LabSZ sshd[24208]: Failed password for invalid user webmaster from 173.234.31.186 port 39257 ssh2
Dec 10 07:08:40 LabSZ sshd[24208]: Disconnecting: Too many authentication failures for webmaster [preauth]
Dec 10 07:11:42 LabSZ CRON[24211]: pam_unix(cron:session): session opened for user root by (uid=0)
"""


def test_seed_rule_fires_on_a_real_sshd_log(seed):
    (seed / "auth.log").write_text(AUTH_LOG)
    r = run("rules test --rule rules/ssh_brute_force.yaml --file auth.log --json --alerts-only --year 2016", seed)
    assert r.returncode == 1, r.stderr  # exit 1: an alert fired
    (alert,) = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert alert["rule_id"] == "ssh_brute_force" and alert["severity"] == "high"
    assert alert["group"] == {"src_ip": "173.234.31.186"} and alert["count"] == 5
    assert alert["first_seen_iso"] == "2016-12-10T07:08:30Z" and alert["last_seen_iso"] == "2016-12-10T07:08:40Z"


def test_seed_rule_needs_five_within_sixty_seconds(seed):
    lines = [l for l in AUTH_LOG.splitlines() if "Failed password" in l and "173.234.31.186" in l]
    (seed / "four.log").write_text("\n".join(lines[:4]) + "\n")  # the 06:55:48 one and three at 07:08
    r = run("rules test --rule rules/ssh_brute_force.yaml --file four.log --json --alerts-only --year 2016", seed)
    assert r.returncode == 0 and r.stdout == ""
    # case_insensitive on process: SSHD matches too
    (seed / "upper.log").write_text("\n".join(l.replace(" sshd[", " SSHD[") for l in lines[1:]) + "\n")
    r = run("rules test --rule rules/ssh_brute_force.yaml --file upper.log --json --alerts-only --year 2016", seed)
    assert r.returncode == 1 and '"src_ip":"173.234.31.186"' in r.stdout


def test_seed_policy_validates(seed):
    pol = seed / "policies"
    pol.mkdir()
    (pol / "isolate_attacks.toml").write_text(POLICY_TOML)
    r = run(f"policy validate --dir {pol}", seed)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "isolate_high_severity" in r.stdout and "network_disconnect" in r.stdout and "0 errors" in r.stdout


def test_in_memory_state_is_bounded_at_100k_groups_and_counted(seed):
    """The seed's "threshold counters: 100k entries" and "alert dedup: 100k entries": one bound,
    max_groups, for both; beyond it the least recently used group is evicted and counted."""
    from ironpost.core.config import parse_config
    from ironpost.log_pipeline.pipeline import Pipeline
    from ironpost.log_pipeline.rules.loader import load_rules_strict

    assert parse_config({}, environ={}).log_pipeline.max_groups == 100_000
    rules = load_rules_strict(seed / "rules")
    for fast in (True, False):  # counted in the compiled matcher, or in Python (MemoryState)
        pipe = Pipeline(rules, max_groups=100, fast_thresholds=fast)
        text = "".join(f"<34>1 2026-12-04T10:30:00Z host sshd - - - Failed password for root from 10.9.{i // 250}.{i % 250}\n"
                       for i in range(150)).encode()
        pipe.process(text, "test")
        m = pipe.metrics()
        groups = m["lp_fast_groups"] if fast else m["lp_state_groups"]
        evicted = m.get("lp_fast_evictions_total", 0) + m["lp_state_evictions_total"]
        assert groups <= 100 and evicted >= 50, (fast, m)


# ---- SBOM ------------------------------------------------------------------------------------------

LOCK = {"name": "project", "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": {
    "": {"name": "project", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}},
    "node_modules/lodash": {"version": "4.17.20", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz"}}}


def _app(seed: Path) -> Path:
    proj = seed / "app" / "project"
    proj.mkdir(parents=True)
    (proj / "package-lock.json").write_bytes(orjson.dumps(LOCK))
    return seed / "app"


def test_sbom_generate_and_scan(seed):
    app = _app(seed)
    env = _env(IRONPOST_SBOM_VULN_DB_PATH=str(seed / "vuln-db"))  # the seed's directory form, in a temp dir
    r = run(f"db import {FIXTURES / 'sbom' / 'osv'}", seed, env=env)
    assert r.returncode == 0, r.stderr
    assert (seed / "vuln-db" / "vulndb.sqlite").is_file()
    r = run(CLI_LINES["scan"].replace("/app", str(app)), seed, env=env)
    assert r.returncode in (0, 1), r.stderr
    assert "lodash" in r.stdout and "IRONPOST-TEST-0001" in r.stdout and "1 findings (critical: 1)" in r.stdout
    r = run(CLI_LINES["sbom"].replace("/app", str(app)), seed, env=env)
    assert r.returncode == 0, r.stderr
    bom = orjson.loads((seed / "sbom.json").read_bytes())
    assert bom["bomFormat"] == "CycloneDX" and any(c["name"] == "lodash" for c in bom["components"])


def test_sbom_generate_default_format_is_output_format(seed):
    app = _app(seed)
    (seed / "ironpost.toml").write_text(CONFIG_TOML.replace('output_format = "cyclonedx"', 'output_format = "spdx"'))
    r = run(f"sbom generate --dir {app} --output out.json", seed)
    assert r.returncode == 0, r.stderr
    assert "spdxVersion" in orjson.loads((seed / "out.json").read_bytes())


# ---- the daemon with the seed's config -------------------------------------------------------------

def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_daemon_with_the_seed_config_detects_and_answers_every_cli_line(seed):
    from storage_support import temp_database

    support.need(support.tcp_open("127.0.0.1", 6379), "Redis not reachable at 127.0.0.1:6379 (the seed's redis_url)")
    port = _free_port()
    data = seed / "data"
    auth = seed / "auth.log"
    auth.write_text("")
    # two attackers from TEST-NET-3 with random low octets, so runs sharing this Redis never meet
    a, b = (f"203.0.113.{n}" for n in (int.from_bytes(os.urandom(1), "big") % 100 + 1,
                                        int.from_bytes(os.urandom(1), "big") % 100 + 101))
    with temp_database("ironpost_seed_") as url:
        # trust auth ignores the password: it is there to check that it never reaches a log line
        url = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
        env = _env(IRONPOST_GENERAL_DATA_DIR=str(data), IRONPOST_GENERAL_PID_FILE=str(data / "ironpost.pid"),
                   IRONPOST_GENERAL_HTTP_LISTEN="127.0.0.1:0", IRONPOST_LOG_PIPELINE_SYSLOG_BIND=f"127.0.0.1:{port}",
                   IRONPOST_LOG_PIPELINE_WATCH_PATHS=str(auth), IRONPOST_LOG_PIPELINE_STORAGE_POSTGRES_URL=url)
        exe = BIN / "ironpost-daemon"
        support.need(exe.exists(), f"{exe} missing: reinstall the package")
        log = seed / "daemon.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen([str(exe), "--config", "ironpost.toml"], cwd=seed, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 30
            while not (data / "ironpost.sock").exists():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            r = run(CLI_LINES["status"], seed, env=env)
            assert r.returncode == 0 and "log_pipeline" in r.stdout, r.stdout + r.stderr
            _wait_until(lambda: "syslog_udp" in log.read_text() or "collectors" in log.read_text(), 10)

            # attacker a over syslog UDP, in the seed's RFC 5424 form; attacker b in the tailed auth.log
            now = time.time()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(5):
                    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + i)) + "Z"
                    s.sendto(f"<34>1 {ts} host sshd - - - Failed password for root from {a}".encode(), ("127.0.0.1", port))
            with open(auth, "a") as f:
                for i in range(5):
                    ts = time.strftime("%b %e %H:%M:%S", time.localtime(now + i))
                    f.write(f"{ts} web1 sshd[{4000 + i}]: Failed password for invalid user admin from {b} port {40000 + i} ssh2\n")

            # flush_interval_secs = 5: the alerts reach PostgreSQL within about 5 s
            def listed():
                out = run(CLI_LINES["alerts"], seed, env=env).stdout
                return a in out and b in out
            assert _wait_until(listed, 30), run(CLI_LINES["alerts"], seed, env=env).stdout + log.read_text()[-3000:]

            r = run(CLI_LINES["metrics"], seed, env=env)
            assert r.returncode == 0 and re.search(r"lp_alerts_published_total\S* [2-9]", r.stdout), r.stdout
            # the seed's log buffer of 100k lines, counted (threshold state is in Redis here, with TTLs)
            for pattern in (r"lp_buffer_capacity_lines\S* 100000\b", r"lp_buffer_dropped_lines_total\S* 0\b",
                            r"lp_alerts_deduped_total\S* \d", r"lp_lines_total\S* 10\b"):
                assert re.search(pattern, r.stdout), (pattern, r.stdout)
            r = run(CLI_LINES["reload"], seed, env=env)
            assert r.returncode == 0, r.stdout + r.stderr
            r = run(CLI_LINES["actions"], seed, env=env)
            assert r.returncode == 0 and "no actions recorded" in r.stdout, r.stdout + r.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(30)
        assert rc == 0
        text = log.read_text()
        records = [orjson.loads(line) for line in text.splitlines() if line.strip()]  # log_format = "json"
        assert records and all("level" in r and "msg" in r for r in records)
        fired = [r for r in records if r["msg"] == "alert fired"]
        assert {r["src_ip"] for r in fired} == {a, b}
        assert all(r["rule_id"] == "ssh_brute_force" and re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]) for r in fired)
        assert "s3cret-pw" not in text
        shown = run(CLI_LINES["show"], seed, env=env).stdout
        assert "postgres:***@" in shown and "s3cret-pw" not in shown


def _wait_until(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.25)
    return pred()


# ---- the seed's other promises ---------------------------------------------------------------------

def test_regex_over_1000_characters_is_refused_with_a_clear_error(seed):
    long = "a" * 1001
    (seed / "rules" / "long.yaml").write_text(
        f"id: long\ntitle: t\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: regex\n      value: '{long}'\n")
    r = run(CLI_LINES["rules_validate"], seed)
    assert r.returncode == 1
    assert "long.yaml:8 [long]: regex is 1001 characters; the limit is 1000" in r.stdout
    assert "1 rule(s) valid, 1 problem(s)" in r.stdout  # the seed's rule beside it still loads
    (seed / "rules" / "long.yaml").write_text((seed / "rules" / "long.yaml").read_text().replace(long, "a" * 1000))
    assert run(CLI_LINES["rules_validate"], seed).returncode == 0


def _unit(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_systemd_unit_is_hardened_and_verifies(tmp_path):
    unit = ROOT / "packaging" / "ironpost.service"
    keys = _unit(unit)
    assert keys["ExecStart"] == ["/usr/bin/ironpost-daemon --config /etc/ironpost/ironpost.toml"]
    assert keys["ProtectSystem"] == ["strict"] and keys["NoNewPrivileges"] == ["yes"]
    assert keys["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE CAP_DAC_READ_SEARCH"]  # log pipeline + container guard
    assert "/var/lib/ironpost" in keys["ReadWritePaths"][0].split()  # the default data_dir, the only place written
    ebpf = _unit(ROOT / "packaging" / "ironpost.service.d" / "ebpf.conf")
    assert {"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"} <= set(ebpf["CapabilityBoundingSet"][0].split())
    support.need(support.have("systemd-analyze"), "systemd-analyze not installed")
    exe = BIN / "ironpost-daemon"
    support.need(exe.exists(), f"{exe} missing: reinstall the package")
    (tmp_path / "ironpost.service").write_text(unit.read_text().replace("/usr/bin/ironpost-daemon", str(exe)))
    (tmp_path / "ironpost.service.d").mkdir()
    (tmp_path / "ironpost.service.d" / "ebpf.conf").write_text(
        (ROOT / "packaging" / "ironpost.service.d" / "ebpf.conf").read_text())
    r = subprocess.run(["systemd-analyze", "verify", "ironpost.service"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_log_format_pretty_and_json(seed):
    """log_format = "json" | "pretty" for the daemon's own log (the journal gets what stderr gets)."""
    import io
    import logging

    from ironpost.core.logging import setup_logging

    log = logging.getLogger("ironpost.seed")
    for fmt in ("json", "pretty"):
        buf = io.StringIO()
        setup_logging("info", fmt, stream=buf)
        log.info("store at postgresql://ironpost:hunter2@db/ironpost unreachable",
                 extra={"dsn_hint": "password=hunter2", "trace_id": "0123456789abcdef0123456789abcdef"})
        out = buf.getvalue()
        assert "hunter2" not in out and "ironpost:***@db" in out and "password=***" in out
        if fmt == "json":
            rec = orjson.loads(out)
            assert rec["trace_id"] == "0123456789abcdef0123456789abcdef" and rec["level"] == "info"
        else:
            assert "INFO" in out and "trace_id=0123456789abcdef0123456789abcdef" in out
    setup_logging("info", "json")


def test_actions_list_reads_since_like_alerts_list(seed):
    (seed / "ironpost.toml").write_text("[general]\ndata_dir = \"data\"\n")  # SQLite in the temp dir
    for since in ("1 hour ago", "3600"):
        r = run(f'actions list --limit 50 --since "{since}"', seed)
        assert r.returncode == 0 and "no actions recorded" in r.stdout, r.stderr
    r = run('actions list --since "whenever"', seed)
    assert r.returncode == 2 and "cannot read 'whenever' as a time" in r.stderr


def test_seed_log_levels_trace_and_warn_filter_as_named():
    import io
    import logging

    from ironpost.core.logging import TRACE, setup_logging

    log = logging.getLogger("ironpost.seed")
    seen = {}
    for level in ("trace", "debug", "info", "warn", "error"):
        buf = io.StringIO()
        setup_logging(level, "json", stream=buf)
        for lv in (TRACE, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            log.log(lv, "x")
        seen[level] = [orjson.loads(x)["level"] for x in buf.getvalue().splitlines()]
    setup_logging("info", "json")
    assert seen["trace"] == ["trace", "debug", "info", "warning", "error"]
    assert seen["warn"] == ["warning", "error"] and seen["error"] == ["error"]


def _capabilities(unit: Path) -> list[str]:
    return _unit(unit)["CapabilityBoundingSet"][0].split()


@pytest.mark.root
@pytest.mark.slow
def test_units_capabilities_are_enough_for_syslog_on_514_and_a_protected_auth_log(tmp_path):
    """The daemon under the unit's CapabilityBoundingSet and NoNewPrivileges (through setpriv, as
    systemd would set them): syslog on the privileged port 514 and an auth.log it does not own
    (nobody, 0640) both work. Without those capabilities neither does, so the set is not too small."""
    support.need(support.is_root(), "needs root: the test drops root's capabilities to the unit's set")
    support.need(support.have("setpriv"), "setpriv (util-linux) not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        try:
            u.bind(("127.0.0.1", 514))
            t.bind(("127.0.0.1", 514))
        except OSError:
            support.need(False, "127.0.0.1:514 is in use on this machine")
    caps = _capabilities(ROOT / "packaging" / "ironpost.service")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ssh_brute_force.yaml").write_text(RULE_YAML)
    auth = tmp_path / "auth.log"
    auth.write_text("")
    os.chown(auth, 65534, 65534)
    auth.chmod(0o640)
    tmp_path.chmod(0o755)
    data = tmp_path / "data"
    (tmp_path / "ironpost.toml").write_text(
        f'[general]\ndata_dir = "{data}"\nhttp_listen = ""\n[log_pipeline]\nsources = ["syslog", "file"]\n'
        f'syslog_bind = "127.0.0.1:514"\nwatch_paths = ["{auth}"]\nflush_interval_secs = 0\n')
    exe = BIN / "ironpost-daemon"
    support.need(exe.exists(), f"{exe} missing: reinstall the package")

    def daemon(bounding: str, name: str):
        with open(tmp_path / f"{name}.log", "wb") as log:
            return subprocess.Popen(["setpriv", "--no-new-privs", "--bounding-set", bounding, str(exe), "--config",
                                     "ironpost.toml"], cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=log)

    def stop(proc):
        proc.send_signal(signal.SIGTERM)
        return proc.wait(30)

    def status():
        r = run("status --json", tmp_path)
        return orjson.loads(r.stdout)["modules"]["log_pipeline"] if r.returncode == 0 else None

    # without any capability: the collectors cannot start, and the module keeps crashing
    proc = daemon("-all", "nocaps")
    try:
        assert _wait_until(lambda: (st := status()) is not None and st["restarts"] >= 1, 20)
    finally:
        assert stop(proc) == 0

    proc = daemon("-all," + ",".join("+" + c.removeprefix("CAP_").lower() for c in caps), "unitcaps")
    try:
        assert _wait_until(lambda: (st := status()) is not None and st["state"] == "running", 20)
        time.sleep(0.5)
        now = time.time()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(5):
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + i)) + "Z"
                s.sendto(f"<34>1 {ts} host sshd - - - Failed password for root from 198.51.100.7".encode(), ("127.0.0.1", 514))
        with open(auth, "a") as f:
            for i in range(5):
                ts = time.strftime("%b %e %H:%M:%S", time.localtime(now + i))
                f.write(f"{ts} web1 sshd[{4000 + i}]: Failed password for invalid user admin from 198.51.100.8 port 4{i} ssh2\n")

        def both():
            out = run('alerts list --since "1 hour ago" --severity high', tmp_path).stdout
            return "198.51.100.7" in out and "198.51.100.8" in out
        assert _wait_until(both, 20), (tmp_path / "unitcaps.log").read_text()[-3000:]
        assert status()["restarts"] == 0
    finally:
        assert stop(proc) == 0
