"""Signed checkpoints of the access log, kept outside the database (R14).

The hash chain (vault/audit_chain.py) shows an edit only to someone who cannot re-hash: whoever
can write the database can delete the last records, or edit one and re-hash all after it, and
the chain is again intact. So the vault also writes checkpoints to places the database's
administrators do not control: each lists the hashes of the records since the previous one and
is signed with a key derived from the vault's identity (as a transparency log signs its tree
head). They are appended, one JSON line each, to a file the vault only appends to, and copied
to the segment store (with S3, an Object Lock bucket). `callreel-vault audit verify` checks the
records against every checkpoint and names the first record that was removed or rewritten.

What it cannot show: records appended since the last checkpoint (a minute, or 100 records, at
most) can still be removed or rewritten unseen (docs/vault.md, "The access log").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.keys import VaultIdentity
from vault.audit_chain import AuditRecord, ChainBreak, ChainFault

SIGNING_PURPOSE = b"callreel audit checkpoints v1"
_CANONICAL_PREFIX = "callreel-audit-checkpoint-v1"
MAX_LINE_BYTES = 1024 * 1024
"""A checkpoint lists at most a minute's records; a line beyond this is not one of ours."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    first: int
    """The sequence number of the first record listed."""
    hashes: tuple[str, ...]
    """Record hashes from `first` on, in order."""
    at: str
    signature: str
    """base64url Ed25519 over `signed_bytes`."""

    @property
    def end(self) -> int:
        """Records covered: every sequence number below this one."""
        return self.first + len(self.hashes)

    def signed_bytes(self) -> bytes:
        return _canonical(self.first, self.hashes, self.at)

    def to_line(self) -> bytes:
        body = {"first": self.first, "hashes": list(self.hashes), "at": self.at}
        return json.dumps({**body, "signature": self.signature}, sort_keys=True).encode() + b"\n"


def _canonical(first: int, hashes: Sequence[str], at: str) -> bytes:
    return "\n".join((_CANONICAL_PREFIX, str(first), at, ",".join(hashes))).encode()


def signing_key(identity: VaultIdentity) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(identity.derived_secret(SIGNING_PURPOSE))


def sign(identity: VaultIdentity, first: int, hashes: Sequence[str], at: str) -> Checkpoint:
    signature = signing_key(identity).sign(_canonical(first, hashes, at))
    encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return Checkpoint(first, tuple(hashes), at, encoded)


class CheckpointFileError(ValueError):
    """The checkpoint file itself was tampered with or damaged; the message says where."""


def parse_lines(
    lines: Iterable[bytes], public_keys: Sequence[ed25519.Ed25519PublicKey]
) -> list[Checkpoint]:
    """Every checkpoint, its signature checked against the vault's keys (the current one and
    those rotated out). CheckpointFileError names the first bad line."""
    checkpoints = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        checkpoint = _parse(line, number)
        if not _signed_by_one_of(checkpoint, public_keys):
            raise CheckpointFileError(
                f"checkpoint line {number} does not verify with this vault's key: the file was"
                " altered, or belongs to another vault"
            )
        checkpoints.append(checkpoint)
    return checkpoints


def _signed_by_one_of(
    checkpoint: Checkpoint, public_keys: Sequence[ed25519.Ed25519PublicKey]
) -> bool:
    try:
        signature = base64.urlsafe_b64decode(checkpoint.signature + "==")
    except (binascii.Error, ValueError):
        return False
    for public_key in public_keys:
        try:
            public_key.verify(signature, checkpoint.signed_bytes())
        except InvalidSignature:
            continue
        return True
    return False


def _parse(line: bytes, number: int) -> Checkpoint:
    def refused(why: object) -> CheckpointFileError:
        return CheckpointFileError(f"checkpoint line {number} is not a checkpoint ({why})")

    if len(line) > MAX_LINE_BYTES:
        raise refused(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        document = json.loads(line)
        hashes = document["hashes"]
        checkpoint = Checkpoint(
            int(document["first"]),
            tuple(str(h) for h in hashes),
            str(document["at"]),
            str(document["signature"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise refused(exc) from None
    if checkpoint.first < 0 or not isinstance(hashes, list) or not hashes:
        raise refused("no records, or a negative sequence number")
    return checkpoint


@dataclass(frozen=True, slots=True)
class CheckpointBreak:
    chain_break: ChainBreak
    checkpoint_at: str

    def describe(self) -> str:
        position = self.chain_break.position
        if self.chain_break.fault is ChainFault.REMOVED:
            what = "is missing from the database"
        else:
            what = "differs from the one the vault signed"
        return (
            f"{self.chain_break.describe()}: record {position} {what} in the checkpoint of"
            f" {self.checkpoint_at}"
        )


def check_records(
    records: Sequence[AuditRecord], checkpoints: Sequence[Checkpoint]
) -> CheckpointBreak | None:
    """The first record that a checkpoint vouches for and the database no longer has as it was."""
    first_break: CheckpointBreak | None = None
    for checkpoint in checkpoints:
        for offset, signed_hash in enumerate(checkpoint.hashes):
            sequence = checkpoint.first + offset
            if first_break is not None and sequence >= first_break.chain_break.position:
                break
            if sequence >= len(records):
                fault = ChainFault.REMOVED
            elif records[sequence].record_hash != signed_hash:
                fault = ChainFault.REWRITTEN
            else:
                continue
            first_break = CheckpointBreak(ChainBreak(fault, sequence), checkpoint.at)
            break
    return first_break


def append_line(path: Path, checkpoint: Checkpoint) -> None:
    """Append-only and durable: O_APPEND, one write, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, checkpoint.to_line())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path: Path, identities: Iterable[VaultIdentity]) -> list[Checkpoint]:
    if not path.exists():
        return []
    public_keys = [signing_key(identity).public_key() for identity in identities]
    with path.open("rb") as handle:
        return parse_lines(handle, public_keys)
