#!/usr/bin/env bash
# System packages Ironpost builds and tests with (Debian 12). Idempotent; needs root for apt.
#   build:   gcc and Python headers (present), libhyperscan-dev and libpcre2-dev (the rule matcher links libhs, and libpcre2 for rules' extract patterns)
#   network: python3-bpfcc + kernel headers (XDP module), iproute2 (tests' veth pairs), nftables (bench peer)
#   docker:  docker.io + busybox-static (container guard tests run a private, offline dockerd)
#   crowdsec: crowdsec-custom-bouncer (a real bouncer reads Ironpost's decision API in tests);
#             crowdsec (its LAPI, configured offline, feeds Ironpost's bouncer mode in tests)
#   storage: postgresql + redis-server (.ci/run starts the system ones; tests/reliability starts private
#            ones with initdb/pg_ctl and redis-server on their own ports, and kills them); util-linux (setpriv)
set -euo pipefail
PKGS=(libhyperscan-dev libpcre2-dev python3-bpfcc libbpfcc linux-headers-amd64 iproute2 nftables iptables docker.io busybox-static
      crowdsec-custom-bouncer crowdsec postgresql redis-server util-linux)
[[ "${1:-}" == "--build-only" ]] && PKGS=(libhyperscan-dev libpcre2-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps: missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # crowdsec's postinst registers to CrowdSec's Central API (internet) unless this file exists
    # and is not empty: Ironpost only needs its local API, offline.
    if [[ " ${missing[*]} " == *" crowdsec "* && ! -s /etc/crowdsec/online_api_credentials.yaml ]]; then
        mkdir -p /etc/crowdsec
        echo "# offline: no Central API registration" > /etc/crowdsec/online_api_credentials.yaml
    fi
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # docker.io's postinst may fail to start a service in a container: verify with dpkg, not the exit code.
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" || true
    for p in "${missing[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || { echo "install-deps: $p failed to install" >&2; exit 1; }
    done
fi
echo "install-deps: ok (${#PKGS[@]} packages present)"
