"""`callreel-vault keygen`, `callreel-agent seal`, `callreel-vault unseal`, run as processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.segments.format import HEADER_LEN, TAG_LEN

BIN = Path(sys.executable).parent
CHUNK = 1 << 16  # the command line seals with the default chunk size


def run(*args: str | Path | uuid.UUID | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, check=False
    )


@dataclass(frozen=True)
class Keys:
    identity: Path
    recipient: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    out = tmp_path_factory.mktemp("keys") / "vault"
    result = run(BIN / "callreel-vault", "keygen", "--out", out)
    assert result.returncode == 0, result.stderr
    identity = out / "vault-identity.key"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    return Keys(identity, out / "vault-recipient.pub")


def seal(keys: Keys, plaintext: Path, out: Path, recording: uuid.UUID, index: int) -> None:
    result = run(
        BIN / "callreel-agent",
        "seal",
        "--recipient",
        keys.recipient,
        "--recording-id",
        recording,
        "--segment",
        index,
        plaintext,
        out,
    )
    assert result.returncode == 0, result.stderr


def unseal(
    identity: Path, sealed: Path, out: Path, *options: str | uuid.UUID
) -> subprocess.CompletedProcess[str]:
    return run(BIN / "callreel-vault", "unseal", "--identity", identity, *options, sealed, out)


def test_round_trip_of_a_multi_chunk_file(keys: Keys, tmp_path: Path) -> None:
    plaintext = tmp_path / "in.mkv"
    plaintext.write_bytes(os.urandom(3 * CHUNK + 12345))
    recording = uuid.uuid4()
    seal(keys, plaintext, tmp_path / "sealed", recording, 5)
    assert plaintext.read_bytes()[:4096] not in (tmp_path / "sealed").read_bytes()
    result = unseal(
        keys.identity,
        tmp_path / "sealed",
        tmp_path / "out",
        "--expect-recording",
        recording,
        "--expect-segment",
        "5",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == plaintext.read_bytes()
    assert str(recording) in result.stdout


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x80]) + data[offset + 1 :]


def _swap_first_chunks(data: bytes) -> bytes:
    size = CHUNK + TAG_LEN
    first, second = (
        data[HEADER_LEN : HEADER_LEN + size],
        data[HEADER_LEN + size : HEADER_LEN + 2 * size],
    )
    return data[:HEADER_LEN] + second + first + data[HEADER_LEN + 2 * size :]


TAMPERINGS: dict[str, tuple[Callable[[bytes, bytes], bytes], str]] = {
    "truncated-at-chunk": (lambda d, _o: d[: HEADER_LEN + 2 * (CHUNK + TAG_LEN)], "truncated"),
    "truncated-anywhere": (lambda d, _o: d[:-100], "cut short"),
    "reordered": (lambda d, _o: _swap_first_chunks(d), "chunk 0 failed authentication"),
    "bit-flip-payload": (lambda d, _o: _flip(d, len(d) // 2), "failed authentication"),
    "bit-flip-header": (lambda d, _o: _flip(d, 31), "header"),
    "trailing-data": (lambda d, _o: d + b"\x00" * 64, "appended"),
    "payload-of-another-recording": (
        lambda d, o: d[:HEADER_LEN] + o[HEADER_LEN:],
        "failed authentication",
    ),
    "not-a-segment": (lambda d, _o: b"\x1aE\xdf\xa3" + d[4:], "not a Callreel sealed segment"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampering_is_refused_with_one_line_and_no_output(
    keys: Keys, tmp_path: Path, name: str
) -> None:
    plaintext = tmp_path / "in"
    plaintext.write_bytes(os.urandom(3 * CHUNK + 500))
    seal(keys, plaintext, tmp_path / "a", uuid.uuid4(), 1)
    seal(keys, plaintext, tmp_path / "b", uuid.uuid4(), 1)
    tamper, reason = TAMPERINGS[name]
    (tmp_path / "bad").write_bytes(
        tamper((tmp_path / "a").read_bytes(), (tmp_path / "b").read_bytes())
    )
    result = unseal(keys.identity, tmp_path / "bad", tmp_path / "out")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("callreel-vault: cannot unseal")
    assert reason in lines[0]
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.glob(".out.*")) == []


def test_segment_presented_as_another_recording_is_refused(keys: Keys, tmp_path: Path) -> None:
    plaintext = tmp_path / "in"
    plaintext.write_bytes(b"call audio and video")
    seal(keys, plaintext, tmp_path / "sealed", uuid.uuid4(), 0)
    result = unseal(
        keys.identity, tmp_path / "sealed", tmp_path / "out", "--expect-recording", uuid.uuid4()
    )
    assert result.returncode == 1
    assert "belongs to recording" in result.stderr


def test_wrong_identity_is_refused(keys: Keys, tmp_path: Path) -> None:
    plaintext = tmp_path / "in"
    plaintext.write_bytes(b"x" * 1000)
    seal(keys, plaintext, tmp_path / "sealed", uuid.uuid4(), 0)
    assert run(BIN / "callreel-vault", "keygen", "--out", tmp_path / "other").returncode == 0
    result = unseal(
        tmp_path / "other" / "vault-identity.key", tmp_path / "sealed", tmp_path / "out"
    )
    assert result.returncode == 1
    assert "sealed to vault key" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recording-id", "not-a-uuid", "--segment", "0"], "is not a recording id"),
        (["--recording-id", str(uuid.uuid4()), "--segment", "-3"], "is not a segment number"),
    ],
)
def test_seal_rejects_bad_arguments(
    keys: Keys, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "in").write_bytes(b"x")
    result = run(
        BIN / "callreel-agent",
        "seal",
        "--recipient",
        keys.recipient,
        *args,
        tmp_path / "in",
        tmp_path / "out",
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_seal_with_an_identity_instead_of_a_recipient_says_so(keys: Keys, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"x")
    result = run(
        BIN / "callreel-agent",
        "seal",
        "--recipient",
        keys.identity,
        "--recording-id",
        uuid.uuid4(),
        "--segment",
        "0",
        tmp_path / "in",
        tmp_path / "out",
    )
    assert result.returncode == 1
    assert "looks like an identity key" in result.stderr
    assert not (tmp_path / "out").exists()
