#!/usr/bin/env bash
# Smoke test of the frozen binary itself (not the venv): version, config validation, and a
# daemon started with the example config and stopped with SIGTERM.
set -euo pipefail
BIN=${1:-dist/ironpost}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

t0=$(date +%s.%N)
"$BIN" --version | grep -q "^ironpost "
t1=$(date +%s.%N)
echo "smoke: --version ok ($(awk "BEGIN{printf \"%.2f\", $t1-$t0}")s wall), binary $(du -h "$BIN" | cut -f1)"

"$BIN" cli config validate --config ironpost.toml.example

# The seed's command names: one binary, acting as `daemon` or `cli` by the name it is run under.
ln -s "$(readlink -f "$BIN")" "$work/ironpost-cli"
ln -s "$(readlink -f "$BIN")" "$work/ironpost-daemon"
# (output captured first: grep -q closing the pipe early would fail the writer under pipefail)
out=$("$work/ironpost-cli" config validate --config ironpost.toml.example); grep -q "is valid" <<<"$out"
out=$("$work/ironpost-cli" --help); grep -q "Usage: ironpost-cli " <<<"$out"
out=$("$work/ironpost-daemon" --help); grep -q "Usage: ironpost-daemon " <<<"$out"
echo "smoke: ironpost-cli and ironpost-daemon symlinks ok"
printf '[general]\nlog_level = "nope"\n' > "$work/bad.toml"
if "$BIN" cli config validate --config "$work/bad.toml" 2>"$work/err"; then
    echo "smoke: an invalid config was accepted" >&2; exit 1
fi
grep -q "general.log_level" "$work/err"

# Rules through the bundled Hyperscan (libhs inside the binary): five failures from one IP fire once.
for i in 1 2 3 4 5; do echo "Dec 10 06:55:4$i host sshd[2420$i]: Failed password for root from 203.0.113.9 port 4242 ssh2"; done > "$work/auth.log"
rc=0; "$BIN" cli rules test --rule rules --file "$work/auth.log" --json --year 2026 > "$work/rules.out" || rc=$?
[[ $rc -eq 1 ]] && grep -q '"rule_id":"ssh_brute_force"' "$work/rules.out" || { echo "smoke: rules test did not alert (rc=$rc)"; cat "$work/rules.out"; exit 1; }
echo "smoke: rules test ok"

# SBOM generation (CycloneDX through our writer, SPDX).
"$BIN" cli sbom generate --dir tests/fixtures/sbom/npm-parity --output "$work/bom.json" --format cyclonedx
"$BIN" cli sbom generate --dir tests/fixtures/sbom/npm-parity --output "$work/bom.spdx.json" --format spdx
grep -q '"bomFormat"' "$work/bom.json" && grep -q '"spdxVersion"' "$work/bom.spdx.json"

# The example config, with state moved to a temp dir and the shipped rules.
export IRONPOST_GENERAL_DATA_DIR="$work/data" IRONPOST_GENERAL_HTTP_LISTEN="127.0.0.1:0" IRONPOST_LOG_PIPELINE_RULES_DIR="$PWD/rules"
"$work/ironpost-daemon" --config ironpost.toml.example 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 200); do [[ -S "$work/data/ironpost.sock" ]] && break; sleep 0.1; done
[[ -S "$work/data/ironpost.sock" ]] || { echo "smoke: daemon did not start"; cat "$work/daemon.log"; exit 1; }
"$work/ironpost-cli" status --config ironpost.toml.example | tee "$work/status.out"
# the binary must carry every compiled extension, not run the Python twins
grep -q "^extensions: compiled" "$work/status.out" || { echo "smoke: extensions missing from the binary"; exit 1; }
sleep 1
# A one-file binary runs as a small bootloader plus the Python process (its child): count both.
rss=0
for p in $pid $(pgrep -P "$pid" || true); do rss=$((rss + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done
echo "smoke: idle daemon RSS ${rss} kB (bootloader + daemon)"
kill -TERM "$pid"
wait "$pid"
[[ ! -e "$work/data/ironpost.pid" ]] || { echo "smoke: PID file left behind"; exit 1; }
grep -q "ironpost daemon stopped" "$work/daemon.log"
echo "smoke: ok"
