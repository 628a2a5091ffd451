"""Bytes, legibility and encoding CPU of the agent's encoder by segment length (issue 16).

    .venv/bin/python bench/capture.py --codec h264 --keep DIR   # once, for the grabs
    .venv/bin/python bench/segment_length.py DIR [--seconds 10 20 30 60]

Replays the lossless reference grabs that bench/capture.py kept (the scripted order desk as
the screen showed it every 200 ms) through the agent's own `Segmenter` (H.264 as shipped, the
unchanged-frame skip included), once per segment length, with silent audio so that the bytes
are the video's and the containers'. Each length is run twice: with a keyframe opening every
segment (as before issue 16's fourth steps) and with keyframes only where
protocol/segments/keyframes.py puts them (as shipped). A killed agent loses at most the open
segment (the crash loss window); each keyframe costs bytes; a seek decodes from the keyframe
before it. Legibility is the SSIM at every tick: the luma of the decoded frame on
display then (a still screen is stored once) against that tick's grab's (BT.709, as encoded).
CPU is this process's (encoder threads included), per recorded minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from ssim import bgra_luma, ssim

from agent.capture.encoder import H264_VERYFAST, EncodedSegment, EncoderSettings, Segmenter
from protocol.segments.keyframes import segments_per_keyframe
from vault.assemble import join_segments

INTERVAL_S = 0.2  # bench/capture.py's reference grabs, at 5 fps
AUDIO_BLOCK = np.zeros((round(48_000 * INTERVAL_S), 2), dtype=np.int16)


def replay(
    frames: np.ndarray,
    slots: list[int],
    settings: EncoderSettings,
    after_tick: Callable[[], None] = lambda: None,
) -> tuple[list[EncodedSegment], float]:
    """Encode the grabs as the pipeline would, one per tick; the segments and the CPU seconds
    (this process's, encoder threads included). `after_tick` runs after each (a probe)."""
    segments: list[EncodedSegment] = []
    began = time.process_time()
    segmenter = Segmenter(settings, segments.append)
    for tick, index in enumerate(slots):
        segmenter.add_frame(np.array(frames[index]), tick * INTERVAL_S)
        segmenter.add_audio(AUDIO_BLOCK, tick * INTERVAL_S)
        after_tick()
    segmenter.finish()
    return segments, time.process_time() - began


def kept_grabs(kept: Path, seconds: float = 60) -> tuple[np.ndarray, list[int]]:
    """The reference grabs bench/capture.py --keep stored (memory-mapped), and which grab was
    on screen at each tick of the first `seconds`."""
    reference = json.loads((kept / "reference.json").read_text())
    # Kept before bench/capture.py wrote the size: its default screen.
    width, height = reference.get("width", 1280), reference.get("height", 720)
    raw = np.memmap(kept / "reference.bgra", dtype=np.uint8, mode="r")
    frames = raw.reshape(-1, height, width, 4)
    # The grabs the screen showed at each tick: every grab, or every n-th of a reference
    # grabbed n times a tick (bench/capture.py --reference-rate).
    every = max(1, round(reference.get("fps", 1 / INTERVAL_S) * INTERVAL_S))
    slots = [int(index) for index in reference["slot_frames"]][::every]
    return frames, slots[: round(seconds / INTERVAL_S)]


def legibility(segments: list[EncodedSegment], frames: np.ndarray, slots: list[int]) -> list[float]:
    """The SSIM at every tick: the decoded frame on display then (the latest whose time has
    come; a still screen is stored once and shown until the next) against that tick's grab."""
    shown: dict[int, np.ndarray] = {}
    # Joined, as a player decodes them: a segment may refer to the one before.
    joined = join_segments([segment.data for segment in segments], "mp4")
    with av.open(io.BytesIO(joined), mode="r") as container:
        for frame in container.decode(video=0):
            assert frame.pts is not None
            assert frame.time_base is not None
            tick = round(float(frame.pts * frame.time_base) / INTERVAL_S)
            # The Y plane as stored (limited range), as bgra_luma makes it.
            planes = frame.reformat(format="yuv420p").to_ndarray()
            shown[tick] = np.asarray(planes[: frame.height], dtype=np.uint8)
    scores: dict[tuple[int, int], float] = {}
    on_display: tuple[int, np.ndarray] | None = None
    per_tick = []
    for tick, index in enumerate(slots):
        if tick in shown:
            on_display = (tick, shown[tick])
        if on_display is None:
            continue
        key = (on_display[0], index)
        if key not in scores:
            scores[key] = ssim(bgra_luma(np.array(frames[index]), "ITU709"), on_display[1])
        per_tick.append(scores[key])
    return per_tick


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kept", type=Path, help="a directory bench/capture.py --keep filled")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 20.0, 30.0, 60.0])
    args = parser.parse_args()
    frames, slots = kept_grabs(args.kept)
    height, width = frames.shape[1:3]
    minutes = len(slots) * INTERVAL_S / 60
    print(f"{len(slots)} grabs ({len(set(slots))} distinct screens), {width}x{height}")
    print()
    print("| segment s (crash loss window) | keyframe opens | segments | video MB per min"
          " | x first row | CPU s per min | SSIM mean | SSIM worst |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    baseline: float | None = None
    for seconds in args.seconds:
        for every_segment in (True, False):
            codec = dataclasses.replace(H264_VERYFAST, keyframe_every_segment=every_segment)
            settings = EncoderSettings(codec=codec, segment_seconds=seconds)
            segments, cpu = replay(frames, slots, settings)
            size = sum(len(segment.data) for segment in segments) / 1e6 / minutes
            baseline = baseline or size
            scores = legibility(segments, frames, slots)
            apart = 1 if every_segment else segments_per_keyframe(seconds)
            print(
                f"| {seconds:g} | every {apart} | {len(segments)} | {size:.3f}"
                f" | {size / baseline:.2f} | {cpu / minutes:.2f} | {np.mean(scores):.4f}"
                f" | {np.min(scores):.4f} |"
            )


if __name__ == "__main__":
    main()
