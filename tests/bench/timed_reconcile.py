"""Timing `yunguan reconcile` the way an operator runs it: a fresh CLI process (imports included) on its own
SQLite store, run once to warm the cloud's record cursor, then timed; shared by the reconcile benchmarks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CODE = (
    "import resource, sys, time\n"
    "sys.argv = ['yunguan', 'reconcile', sys.argv[1]]\n"
    "t = time.perf_counter()\n"
    "from controlplane.cli.app import app\n"
    "try:\n    app()\nexcept SystemExit:\n    pass\n"
    "print('WALL', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
    " file=sys.stderr)\n"
)


def timed_reconcile(
    tmp: Path, cloud_yaml: str, cloud: str, env: dict[str, str], count: Callable[[], int] = lambda: 0
) -> tuple[dict[str, float], sqlite3.Connection, int]:
    """Wall, requests (by ``count``) and peak RSS of the second run, the store to read it from, and its run id.
    The first run also copies the cloud's past operation records: the steady state is what is timed."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "yunguan.yaml"
    config.write_text(f"clouds:\n  - {cloud_yaml}\n", encoding="utf-8")
    env = dict(os.environ) | env | {"YUNGUAN_STATE_DIR": str(tmp / "state"), "YUNGUAN_CONFIG": str(config)}
    yunguan = str(Path(sys.executable).with_name("yunguan"))
    subprocess.run([yunguan, "db", "upgrade"], env=env, check=True, capture_output=True)
    args = [sys.executable, "-c", CODE, cloud]
    subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    before = count()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    requests = count() - before
    line = next((x for x in done.stderr.splitlines() if x.startswith("WALL")), None)
    if line is None:
        raise SystemExit(f"yunguan reconcile failed:\n{done.stdout}\n{done.stderr}")
    _, wall, rss = line.split()
    db = sqlite3.connect(tmp / "state" / "yunguan.db")
    run, status = db.execute("SELECT id, status FROM reconcile_runs ORDER BY id DESC LIMIT 1").fetchone()
    if status != "ok":
        raise SystemExit(f"yunguan reconcile was {status}:\n{done.stdout}\n{done.stderr}")
    return {"wall": float(wall), "requests": requests, "rss_mb": float(rss)}, db, run


def print_table(rows: dict[str, list[dict[str, float]]], seen: str) -> dict[str, float]:
    """One line per contender: median wall, requests, peak RSS and what it saw (``seen``); returns the medians."""
    width = max(len(name) for name in rows) + 2
    print(f"{'contender':<{width}} {'wall s (median)':>16} {'requests':>9} {'peak RSS MB':>12} {seen + ' seen':>15}")
    medians: dict[str, float] = {}
    for name, runs in rows.items():
        walls = sorted(r["wall"] for r in runs)
        medians[name] = walls[len(walls) // 2]
        peak = max(r["rss_mb"] for r in runs)
        print(f"{name:<{width}} {medians[name]:>16.2f} {runs[0]['requests']:>9} {peak:>12.0f} {runs[0][seen]:>15}")
    return medians
