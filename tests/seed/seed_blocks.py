"""The example blocks of the seed README (../shared/seed/000_a012e0b234646ed0.txt), pasted verbatim.

The project must not read ../shared at run time, so the blocks live here. When the seed changes,
paste the new blocks; every test in tests/seed/ runs them as a user would.
"""

# "Key sections (ironpost.toml)"
CONFIG_TOML = '''\
[general]
log_level = "info"              # trace, debug, info, warn, error
log_format = "json"             # json, pretty
data_dir = "/var/lib/ironpost"
pid_file = "/var/run/ironpost.pid"

[ebpf]
enabled = false                 # Set to true on Linux with root/CAP_NET_ADMIN
interface = "eth0"
xdp_mode = "skb"                # skb (generic), native (driver), hw (offload)
ring_buffer_size = 262144       # 256 KB

[log_pipeline]
enabled = true
sources = ["syslog", "file"]
syslog_bind = "0.0.0.0:514"
watch_paths = ["/var/log/syslog", "/var/log/auth.log"]
batch_size = 1000
flush_interval_secs = 5

[log_pipeline.storage]
postgres_url = "postgresql://localhost:5432/ironpost"
redis_url = "redis://localhost:6379"
retention_days = 30

[container]
enabled = false                 # Requires Docker socket access
docker_socket = "/var/run/docker.sock"
poll_interval_secs = 10
policy_path = "/etc/ironpost/policies"
auto_isolate = false            # WARNING: Test policies first

[sbom]
enabled = false
scan_dirs = ["."]
vuln_db_path = "/var/lib/ironpost/vuln-db"
min_severity = "medium"         # info, low, medium, high, critical
output_format = "cyclonedx"     # cyclonedx, spdx
'''

# "Create rules/ssh_brute_force.yaml"
RULE_YAML = '''\
id: ssh_brute_force
title: SSH Brute Force Attack
description: Multiple failed SSH login attempts from same IP
severity: high

detection:
  conditions:
    - field: process
      operator: equals
      value: sshd
      modifier: case_insensitive
    - field: message
      operator: contains
      value: "Failed password"

  threshold:
    count: 5
    timeframe_secs: 60
    group_by: src_ip

tags:
  - attack.credential_access
  - T1110  # MITRE ATT&CK
'''

# "Create /etc/ironpost/policies/isolate_attacks.toml"
POLICY_TOML = '''\
[[policy]]
name = "isolate_high_severity"
priority = 10
severity_threshold = "high"

filters.container_names = ["web-*", "api-*"]
filters.image_patterns = ["nginx:*", "node:*"]

action = "network_disconnect"
'''

# "Test rule against sample log" (the shell line, joined at its backslash)
STDIN_EXAMPLE = ("echo '<34>1 2024-02-09T10:30:00Z host sshd - - - Failed password for root from 192.168.1.100' "
                 "| ironpost-cli rules test --rule rules/ssh_brute_force.yaml --stdin")

# The other CLI lines, as the seed writes them (after the program name)
CLI_LINES = {
    "validate": "config validate --config ironpost.toml",
    "show": "config show",
    "rules_validate": "rules validate --dir rules/",
    "rules_test": "rules test --rule rules/ssh_brute_force.yaml",
    "status": "status",
    "reload": "reload",
    "scan": "scan sbom --dir /app",
    "metrics": "metrics",
    "alerts": 'alerts list --since "1 hour ago" --severity high',
    "actions": "actions list --limit 50",
    "sbom": "sbom generate --dir /app/project --output sbom.json --format cyclonedx",
}
