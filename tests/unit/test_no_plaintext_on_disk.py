"""Invariant 2: after sealing real media into the spool, no plaintext is found on disk."""

from __future__ import annotations

import fractions
import io
import uuid
from pathlib import Path

import av
import numpy as np
import pytest

from agent.spool.spool import Spool
from protocol.keys import VaultIdentity
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer

CONTAINER_MAGIC = {
    "EBML (Matroska/WebM)": b"\x1a\x45\xdf\xa3",
    "MP4 ftyp box": b"ftyp",
    "MP4 mdat box": b"mdat",
    "Matroska doctype": b"matroska",
    "WebM doctype": b"webm",
    "Ogg page": b"OggS",
    "WAV header": b"RIFF",
}


def encode(container: str, video_codec: str, audio_codec: str) -> bytes:
    """A second of real video and audio, encoded in memory as the capture pipeline will."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        video = output.add_stream(video_codec, rate=5)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        audio = output.add_stream(audio_codec, rate=48_000)
        assert isinstance(audio, av.AudioStream)
        audio.layout = "stereo"
        for index in range(5):
            pixels = np.full((96, 128, 3), (index * 40, 200, 90), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, 5)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        samples = (np.sin(np.arange(48_000) * 2 * np.pi * 440 / 48_000) * 0.5).astype(np.float32)
        planar = np.stack([samples, samples])
        audio_frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
        audio_frame.sample_rate = 48_000
        audio_frame.pts = 0
        output.mux(audio.encode(audio_frame))
        output.mux(audio.encode(None))
    return buffer.getvalue()


def known_pcm() -> bytes:
    """One second of a 1 kHz tone as interleaved 16-bit stereo, as the audio capture sees it."""
    tone = (np.sin(np.arange(48_000) * 2 * np.pi * 1000 / 48_000) * 12_000).astype("<i2")
    return np.repeat(tone, 2).tobytes()


def plaintext_markers(media: dict[str, bytes]) -> dict[str, bytes]:
    """Container magic with 12 bytes of its real context, plus 32-byte windows of each plaintext.

    Bare 4-byte magic would turn up by chance in a few hundred KB of ciphertext now and then.
    """
    markers = {}
    for name, data in media.items():
        for magic_name, magic in CONTAINER_MAGIC.items():
            at = data.find(magic)
            if at >= 0:
                markers[f"{magic_name} of {name}"] = data[at : at + 12]
        for offset in range(64, len(data) - 32, max(1, len(data) // 16)):
            markers[f"{name} bytes at {offset}"] = data[offset : offset + 32]
    return markers


def scan(root: Path, markers: dict[str, bytes]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        found += [f"{name} in {path}" for name, marker in markers.items() if marker in content]
    return found


@pytest.fixture(scope="module")
def media() -> dict[str, bytes]:
    return {
        "webm": encode("webm", "libvpx-vp9", "libopus"),
        "mkv": encode("matroska", "libx264", "libopus"),
        "mp4": encode("mp4", "libx264", "aac"),
        "pcm": known_pcm(),
    }


def test_scanner_finds_plaintext_when_it_is_there(tmp_path: Path, media: dict[str, bytes]) -> None:
    for name, data in media.items():
        (tmp_path / name).write_bytes(data)
    found = scan(tmp_path, plaintext_markers(media))
    for expected in ("EBML (Matroska/WebM)", "MP4 ftyp box", "WebM doctype", "pcm bytes at"):
        assert any(hit.startswith(expected) for hit in found), expected


def test_spool_holds_no_plaintext_media(tmp_path: Path, media: dict[str, bytes]) -> None:
    identity = VaultIdentity.generate()
    recording = uuid.uuid4()
    sealer = RecordingSealer(identity.recipient, recording)
    types = {"webm": MediaType.MATROSKA, "mkv": MediaType.MATROSKA, "mp4": MediaType.MP4}
    with Spool(tmp_path / "spool", min_free_bytes=0) as spool:
        for index, (name, data) in enumerate(media.items()):
            spool.put(sealer.seal(index, types.get(name, MediaType.MATROSKA), data))
        assert len(spool.pending()) == len(media)
        found = scan(tmp_path, plaintext_markers(media))
    assert found == []
    assert scan(tmp_path, plaintext_markers(media)) == []
