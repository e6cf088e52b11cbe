"""Ed25519 keys and checkpoint signatures.

A checkpoint says "event ``seq`` had hash ``event_hash`` at ``time``", signed with the operation log's key. Kept
off-box (``yunguan audit export``), checkpoints make truncation and rewriting detectable even by someone who can
rewrite the whole database, since they cannot sign.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningKeyError(Exception):
    """The signing key cannot be read or is not an Ed25519 key."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    event_hash: str
    time: str
    kind: str
    key_id: str
    signature: str

    def payload(self) -> bytes:
        return checkpoint_payload(self.seq, self.event_hash, self.time, self.kind)

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "event_hash": self.event_hash,
            "time": self.time,
            "kind": self.kind,
            "key_id": self.key_id,
            "signature": self.signature,
        }


def checkpoint_payload(seq: int, event_hash: str, time: str, kind: str) -> bytes:
    return f"yunguan-checkpoint-v1|{seq}|{event_hash}|{time}|{kind}".encode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, seq: int, event_hash: str, time: str, kind: str) -> Checkpoint:
        signature = self._private.sign(checkpoint_payload(seq, event_hash, time, kind)).hex()
        return Checkpoint(seq, event_hash, time, kind, self.key_id, signature)

    def sign_bytes(self, payload: bytes) -> str:
        """An Ed25519 signature (hex) over ``payload``: documents the log's key vouches for (wipe certificates)."""
        return self._private.sign(payload).hex()

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_valid(public: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    return bytes_signature_valid(public, checkpoint.payload(), checkpoint.signature)


def bytes_signature_valid(public: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature), payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_or_create_signer(path: Path) -> Signer:
    """Read the PEM key at ``path``; create one (mode 0600) when there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return Signer(private)
    return Signer(load_private_key(path))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: cannot load the audit signing key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: the audit signing key must be Ed25519")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key (PEM) for auditors, or the public half of a private key file."""
    data = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        return load_private_key(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 public key")
    return key
