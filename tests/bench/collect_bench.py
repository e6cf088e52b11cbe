"""Hypervisor sweep at scale: N hosts x M domains of libvirt's test driver, each host its own node file served by the
local libvirtd over TCP (``deploy/dev/libvirt.sh start``), swept by the real collector as the agent runs it.

Prints the cold sweep (every link opened, every domain's metadata read once) and the warm sweeps (links kept,
metadata cached: the agent's steady state), hosts/s, domains seen, peak RSS, and the CPU each sweep cost this process
and the one libvirtd that plays every host (its test driver parses a host's node file on every connection open: work
a real hypervisor's libvirtd, whose domains are already loaded, does not do). Target: <= 60 s a sweep on 2 cores.

    .venv/bin/python tests/bench/collect_bench.py [--hosts 1000] [--domains 30] [--workers 32] [--tls]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adapters.libvirt.collector import LibvirtCollector
from controlplane.clock import SystemClock
from controlplane.config import HypervisorHost, HypervisorSettings

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("YUNGUAN_LIBVIRT_STATE", "/var/tmp/yunguan-libvirt"))  # noqa: S108 - dev script's state


def daemon_cpu_s() -> float | None:
    """CPU seconds the dev libvirtd has used so far (it plays every host here), or None when it cannot be read."""
    try:
        pid = int((STATE / "pids" / "libvirtd.pid").read_text())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=30)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--sweeps", type=int, default=3, help="warm sweeps after the cold one")
    parser.add_argument("--tls", action="store_true", help="test+tls with the dev PKI instead of test+tcp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yunguan-nodes-") as raw:
        nodes = Path(raw)
        subprocess.run(
            [
                sys.executable,
                str(REPO / "deploy/dev/libvirt/make_nodes.py"),
                f"--hosts={args.hosts}",
                f"--domains={args.domains}",
                "--unknown=1",
                "--shutoff=0",
                f"--out={nodes}",
            ],
            check=True,
        )
        files = sorted(nodes.glob("host-*.xml"))
        tls = "test+tls://127.0.0.1{path}?pkipath=" + str(STATE / "pki")
        uri = tls if args.tls else "test+tcp://127.0.0.1{path}"
        hosts = [HypervisorHost(name=f.stem, uri=uri.format(path=f)) for f in files]
        settings = HypervisorSettings(workers=args.workers, host_timeout_s=120)
        collector = LibvirtCollector("bench", hosts, settings, SystemClock())
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"{'sweep':<8} {'wall s':>8} {'hosts/s':>9} {'hosts ok':>9} {'domains':>8} {'samples':>8}"
            f" {'our cpu s':>10} {'libvirtd cpu s':>15}"
        )
        walls: list[float] = []
        try:
            # cold: every link opened and every domain's metadata read once; then the agent's steady state: regular
            # sweeps (bulk stats only) and, at the lower cadence, a sweep that also asks every guest agent
            for i, agents in enumerate([True] + [False] * args.sweeps + [True]):
                start, cpu, daemon = time.perf_counter(), own_cpu_s(), daemon_cpu_s()
                result = collector.sweep(ask_agents=agents)
                wall = time.perf_counter() - start
                cpu = own_cpu_s() - cpu
                daemon_after = daemon_cpu_s()
                served = "?" if daemon is None or daemon_after is None else f"{daemon_after - daemon:.1f}"
                ok = [h for h in result.hosts if h.ok]
                if len(ok) != len(hosts):
                    failed = [h.error for h in result.hosts if not h.ok][:3]
                    raise SystemExit(f"{len(hosts) - len(ok)} hosts failed, e.g. {failed}")
                label = "cold" if i == 0 else ("agents" if agents else "regular")
                if label == "regular":
                    walls.append(wall)
                domains, n = sum(h.domains for h in result.hosts), len(result.samples)
                print(
                    f"{label:<8} {wall:>8.2f} {len(hosts) / wall:>9.0f} {len(ok):>9} {domains:>8} {n:>8}"
                    f" {cpu:>10.1f} {served:>15}",
                    flush=True,
                )
        finally:
            collector.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if walls:
            print(f"regular sweep median: {sorted(walls)[len(walls) // 2]:.2f} s")
        print(f"unknown domains reported: {len(result.unknown_domains)}; peak RSS {rss:.0f} MB")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
