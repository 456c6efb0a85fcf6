#!/bin/bash
# Make bcc usable for the network module on a Debian host (idempotent; run as root).
#   packaging/setup-bcc.sh [PYTHON]     default PYTHON: python3
# 1) bcc compiles against /lib/modules/$(uname -r)/{build,source}; Debian ships the headers
#    under /usr/src/linux-headers-<ver>-{amd64,common}, and on hosts whose running kernel has
#    no packaged headers (VMs, containers) nothing points there. Link the newest set.
# 2) bcc's Python bindings live in Debian's dist-packages, which a venv does not see. A .pth
#    in the venv's purelib adds a folder holding ONLY a symlink to the bcc package, so none of
#    Debian's other Python packages leak into the venv.
# 3) /sys/fs/bpf must be a bpffs for the pinned blocklist maps the CLI edits.
set -euo pipefail

PY=${1:-python3}
BCC_SRC=/usr/lib/python3/dist-packages/bcc
BCC_DIR=${IRONPOST_BCC_DIR:-/opt/ironpost/bcc-python}

die() { echo "setup-bcc: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
[ -d "$BCC_SRC" ] || die "$BCC_SRC missing: apt-get install python3-bpfcc libbpfcc"

KV=$(uname -r)
if [ ! -e "/lib/modules/$KV/build/include" ]; then
  HDR=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$HDR" ] || die "no /usr/src/linux-headers-*-amd64: apt-get install linux-headers-amd64"
  COMMON="${HDR%-amd64}-common"
  [ -d "$COMMON" ] || die "$COMMON missing (it comes with $(basename "$HDR"))"
  mkdir -p "/lib/modules/$KV"
  ln -sfn "$HDR" "/lib/modules/$KV/build"
  ln -sfn "$COMMON" "/lib/modules/$KV/source"
  echo "setup-bcc: /lib/modules/$KV/{build,source} -> $HDR (+common)"
fi

mkdir -p "$BCC_DIR"
ln -sfn "$BCC_SRC" "$BCC_DIR/bcc"
PURELIB=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PTH="$PURELIB/ironpost_bcc.pth"
if [ "$(cat "$PTH" 2>/dev/null || true)" != "$BCC_DIR" ]; then
  echo "$BCC_DIR" > "$PTH"
  echo "setup-bcc: wrote $PTH"
fi

if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" {found=1} END {exit !found}' /proc/mounts; then
  mount -t bpf bpf /sys/fs/bpf && echo "setup-bcc: mounted bpffs on /sys/fs/bpf"
fi

"$PY" -c 'import bcc, sys; print("setup-bcc: bcc", bcc.__file__, "for", sys.executable)'
