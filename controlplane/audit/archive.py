"""Export of the operation log for off-box archiving, and reading an archive back for verification.

The export is JSON Lines: one ``{"type": "event", ...}`` line per event and one ``{"type": "checkpoint", ...}`` per
signed checkpoint, then a ``{"type": "public_key", ...}`` line. It is self-contained: events re-hash to the
recorded values with the encoding in ``chain``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from controlplane.audit.chain import Event, canonical_json
from controlplane.audit.signing import Checkpoint


def write_export(
    out: IO[str], events: Iterator[Event], checkpoints: list[Checkpoint], public_pem: str
) -> tuple[int, int]:
    count = 0
    for ev in events:
        out.write(canonical_json({"type": "event", **ev.to_json()}) + "\n")
        count += 1
    for cp in checkpoints:
        out.write(canonical_json({"type": "checkpoint", **cp.to_json()}) + "\n")
    out.write(canonical_json({"type": "public_key", "pem": public_pem}) + "\n")
    return count, len(checkpoints)


def read_archived_checkpoints(path: Path) -> list[Checkpoint]:
    """Checkpoints from an earlier export (other lines are ignored)."""
    found: list[Checkpoint] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if data.get("type") != "checkpoint":
                continue
            try:
                found.append(
                    Checkpoint(
                        seq=int(data["seq"]),
                        event_hash=str(data["event_hash"]),
                        time=str(data["time"]),
                        kind=str(data["kind"]),
                        key_id=str(data["key_id"]),
                        signature=str(data["signature"]),
                    )
                )
            except KeyError as exc:
                raise ValueError(f"{path}:{number}: checkpoint without {exc.args[0]!r}") from None
    return found


def read_archived_events(lines: Iterable[str]) -> Iterator[Event]:
    """Events from an export's lines (other lines are skipped); before/after re-encoded canonically, as stored."""
    for line in lines:
        data = json.loads(line)
        if data.get("type") != "event":
            continue
        yield Event(
            seq=int(data["seq"]),
            time=str(data["time"]),
            actor=str(data["actor"]),
            action=str(data["action"]),
            target=str(data["target"]),
            before=canonical_json(data["before"]),
            after=canonical_json(data["after"]),
            request_id=str(data["request_id"]),
            prev_hash=str(data["prev_hash"]),
            hash=str(data["hash"]),
        )
