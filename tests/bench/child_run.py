"""Runs a benchmark's timed part in a fresh Python process (so its peak RSS is its own) and reads the one line
``RESULT {json}`` it prints. A sibling script of the benchmarks, not a package."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_child(code: str, argv: list[str], what: str) -> dict[str, Any]:
    """Run ``code`` with ``argv``; its RESULT line as a dict, or exit naming ``what`` failed with its output."""
    child = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    line = next((x for x in child.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the timed {what} failed:\n{child.stdout}\n{child.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result
