"""A realistic sshd auth log of any size, shaped like the loghub OpenSSH sample (LabSZ host).

generate(n_lines, n_ips, seed) -> bytes. Most sources send a few scattered failures; a share of
them ("attackers") send bursts of `Failed password` lines seconds apart. Deterministic per seed,
so tests can compute the expected alerts with a plain-Python reference.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

USERS = ["root", "admin", "test", "oracle", "guest", "ubuntu", "user", "webmaster", "support", "postgres", "git", "pi"]


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def generate(n_lines: int, n_ips: int = 7000, seed: int = 1, start: float = 1481352946.0) -> bytes:
    rng = random.Random(seed)
    ips = list({_ip(rng) for _ in range(n_ips * 2)})[:n_ips]
    attackers = set(rng.sample(ips, max(1, n_ips // 10)))
    out: list[str] = []
    ts = start
    pid = 24200
    while len(out) < n_lines:
        ts += rng.random() * 0.5
        pid += 1
        ip = rng.choice(ips)
        user = rng.choice(USERS)
        port = rng.randint(1024, 65535)
        burst = ip in attackers and rng.random() < 0.3
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(ts)).replace(" 0", "  ", 1) if time.gmtime(ts).tm_mday < 10 \
            else time.strftime("%b %d %H:%M:%S", time.gmtime(ts))
        head = f"{stamp} LabSZ sshd[{pid}]: "
        kind = rng.random()
        if burst:
            for k in range(rng.randint(5, 9)):
                inv = "invalid user " if user != "root" else ""
                out.append(f"{head}Failed password for {inv}{user} from {ip} port {port + k} ssh2")
            out.append(f"{head}Disconnecting: Too many authentication failures for {user} [preauth]")
        elif kind < 0.25:
            out.append(f"{head}Invalid user {user} from {ip}")
            out.append(f"{head}input_userauth_request: invalid user {user} [preauth]")
            out.append(f"{head}pam_unix(sshd:auth): check pass; user unknown")
            out.append(f"{head}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip} ")
        elif kind < 0.45:
            inv = "invalid user " if user != "root" else ""
            out.append(f"{head}Failed password for {inv}{user} from {ip} port {port} ssh2")
        elif kind < 0.65:
            out.append(f"{head}Connection closed by {ip} [preauth]")
        elif kind < 0.8:
            out.append(f"{head}Received disconnect from {ip}: 11: Bye Bye [preauth]")
        elif kind < 0.9:
            out.append(f"{head}reverse mapping checking getaddrinfo for host-{ip.replace('.', '-')}.example.net [{ip}] "
                       "failed - POSSIBLE BREAK-IN ATTEMPT!")
        elif kind < 0.97:
            out.append(f"{head}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                       f"rhost={ip}  user={user}")
        else:
            out.append(f"{head}Accepted password for fztu from {ip} port {port} ssh2")
            out.append(f"{head}pam_unix(sshd:session): session opened for user fztu by (uid=0)")
    return ("\n".join(out[:n_lines]) + "\n").encode()


def write_in_child(path, n_lines: int, n_ips: int, seed: int) -> None:
    """generate() into a file, in a Python of its own: a large log generated in the benchmark
    process would stay in its memory, and every child it forks would start with it (ru_maxrss
    survives exec, so the child reports it as its own peak)."""
    subprocess.run([sys.executable, __file__, str(path), str(n_lines), str(n_ips), str(seed)], check=True)


if __name__ == "__main__":  # authlog.py OUT LINES IPS SEED
    with open(sys.argv[1], "wb") as fh:
        fh.write(generate(int(sys.argv[2]), int(sys.argv[3]), seed=int(sys.argv[4])))
