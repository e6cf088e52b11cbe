"""Evidence files (delivery receipts, degauss and destruction certificates) kept in the state dir by SHA-256.

Content-addressed: a file is written once under ``evidence/ab/abcdef…`` (its hex SHA-256), through a temporary file
renamed into place, so a reader never sees half a file and the same receipt uploaded twice is stored once. The
store's row (name, size, media type, who and when) points at the digest; every read hashes the bytes again and
refuses a file that no longer matches, so a swapped or damaged certificate is caught, never served.

A blob written for an upload whose transaction then rolls back stays behind unreferenced: harmless, and the same
upload later finds it already there.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# what one evidence file may weigh: a scanned certificate, not a disk image
MAX_EVIDENCE_BYTES = 64 * 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class EvidenceTooLargeError(Exception):
    """The upload is larger than ``MAX_EVIDENCE_BYTES``."""


class EvidenceCorruptError(Exception):
    """A kept file is missing or its bytes no longer hash to the digest recorded for it."""


@dataclass(frozen=True, slots=True)
class Stored:
    sha256: str
    size: int


class EvidenceStore:
    """Files under ``root`` (``<state_dir>/evidence``) named by their SHA-256."""

    def __init__(self, root: Path, max_bytes: int = MAX_EVIDENCE_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        if not _DIGEST.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, chunks: Iterable[bytes]) -> Stored:
        """Keep the bytes; returns their digest and size. Refuses more than ``max_bytes`` before keeping any."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha, size = self._copy(chunks, out)
            final = self.path(sha)
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                tmp.unlink()
            else:
                tmp.chmod(0o440)
                tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(sha, size)

    def _copy(self, chunks: Iterable[bytes], out: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.max_bytes:
                raise EvidenceTooLargeError(f"an evidence file may be at most {self.max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
        return digest.hexdigest(), size

    def read(self, sha256: str, size: int) -> bytes:
        """The file's bytes, after checking they still hash to ``sha256`` and have ``size`` bytes."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise EvidenceCorruptError(f"evidence file {sha256} is missing from {self.root}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256 or len(data) != size:
            raise EvidenceCorruptError(
                f"evidence file {sha256} no longer matches its record: it hashes to {actual} ({len(data)} bytes)"
            )
        return data


def evidence_store(state_dir: Path) -> EvidenceStore:
    """Where the CLI and the API keep evidence: ``<state_dir>/evidence``."""
    return EvidenceStore(state_dir / "evidence")
