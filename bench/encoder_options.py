"""The shipped H.264 options against variants: CPU, memory, bytes and legibility (issue 16).

    .venv/bin/python bench/capture.py --codec h264 --keep DIR   # once, for the grabs
    .venv/bin/python bench/encoder_options.py DIR [--variant "NAME:key=value,key=value" ...]

Replays a minute of the lossless grabs bench/capture.py kept through the agent's own
`Segmenter` (as bench/segment_length.py does: 10 s segments, the unchanged-frame skip, silent
audio), once with the shipped options and once per variant, each in a process of its own so
that its memory is its own. A variant's options replace or add to the shipped ones; an empty
value removes that option (x264's default then applies). Reported per recorded minute: CPU
seconds of the process (x264's threads included), the peak of its anonymous resident memory
(RssAnon: the grabs are a file mapping and do not count) above what it held before the first
frame, video MB stored, SSIM at every tick (the decoded frame on display then against that
tick's grab); and each as a ratio to the shipped options, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from segment_length import INTERVAL_S, kept_grabs, legibility, replay

from agent.capture.encoder import H264_VERYFAST, EncoderSettings
from testbed.process_memory import anonymous_rss_mb

DEFAULT_VARIANTS = (
    "CRF 30:crf=30",
    "CRF 26:crf=26",
    "two slice threads:threads=2",
    "superfast:preset=superfast",
)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """ "NAME:key=value,key=value" -> the name and the options it changes."""
    name, _, spec = text.partition(":")
    changes: dict[str, str] = {}
    for pair in filter(None, spec.split(",")):
        key, equals, value = pair.partition("=")
        if not equals:
            raise SystemExit(f"variant {name!r}: {pair!r} is not key=value")
        changes[key] = value
    return name, changes


def measure(kept: Path, changes: dict[str, str]) -> dict[str, float]:
    """One replay in this process with the shipped options changed by `changes`."""
    options = {**H264_VERYFAST.options, **changes}
    options = {key: value for key, value in options.items() if value}
    settings = EncoderSettings(codec=replace(H264_VERYFAST, options=options))
    frames, slots = kept_grabs(kept)
    before = anonymous_rss_mb(os.getpid())
    peak = before

    def probe() -> None:
        nonlocal peak
        peak = max(peak, anonymous_rss_mb(os.getpid()))

    segments, cpu = replay(frames, slots, settings, probe)
    minutes = len(slots) * INTERVAL_S / 60
    scores = legibility(segments, frames, slots)
    return {
        "cpu": cpu / minutes,
        "memory": peak - before,
        "mb": sum(len(segment.data) for segment in segments) / 1e6 / minutes,
        "ssim_mean": float(np.mean(scores)),
        "ssim_worst": float(np.min(scores)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kept", type=Path, help="a directory bench/capture.py --keep filled")
    parser.add_argument("--variant", action="append", help="NAME:key=value,... (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.kept, json.loads(args.child))))
        return
    variants = [("shipped", {}), *map(parse_variant, args.variant or DEFAULT_VARIANTS)]
    frames, slots = kept_grabs(args.kept)
    for index in sorted(set(slots)):  # read once, so that no variant pays for the disk
        frames[index].sum()
    print(f"shipped: {H264_VERYFAST.options}")
    print()
    print("| options | CPU s per min | x | encoder memory MB | x | video MB per min | x"
          " | SSIM mean | SSIM worst |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    baseline: dict[str, float] | None = None
    for name, changes in variants:
        child = [sys.executable, __file__, str(args.kept), "--child", json.dumps(changes)]
        # This script again, with options it was given.
        answer = subprocess.run(child, check=True, capture_output=True, text=True)  # noqa: S603
        result = json.loads(answer.stdout)
        baseline = baseline or result
        print(
            f"| {name} | {result['cpu']:.2f} | {result['cpu'] / baseline['cpu']:.2f}"
            f" | {result['memory']:.0f} | {result['memory'] / baseline['memory']:.2f}"
            f" | {result['mb']:.3f} | {result['mb'] / baseline['mb']:.2f}"
            f" | {result['ssim_mean']:.4f} | {result['ssim_worst']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
