"""The agent's CPU by pipeline stage, from a py-spy profile (`bench/capture.py --profile`).

    .venv/bin/python bench/profile_stages.py PROFILE.txt [PROFILE.txt ...]

py-spy's raw format has one line per distinct stack, `frame;frame;... count`, with only the
samples where the thread was running (not idle), so counts are shares of CPU. Each stack is
put in the first stage whose marker any of its frames carries; the order below goes from the
most specific to the most general (sealing is inside the encode thread's segment store, the
colour conversion inside encoding).
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterable
from pathlib import Path

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("start-up (imports, key and device set-up)", ("_find_and_load", "run_command (agent/")),
    ("seal", ("protocol/segments/seal", "cryptography")),
    ("spool", ("agent/spool/",)),
    ("window tracking", ("agent/capture/window/", "Xlib/")),
    ("grab", ("ScreenGrabber", "mss/")),
    ("masking", ("kept_pixels.py", "agent/capture/mask.py")),
    ("unchanged-frame check", ("array_equal",)),
    ("colour conversion", ("reformat", "libswscale", "sws_")),
    ("audio encode (Opus)", ("RecordingAudioEncoder", "libopus", "opus_")),
    ("video encode", ("libx264", "x264_", "SegmentWriter", "encoder.py")),
    ("audio capture", ("portaudio", "sounddevice", "agent/capture/audio/", "libasound", "pulse")),
)
OTHER = "other"


def stage_of(stack: str) -> str:
    for stage, markers in STAGES:
        if any(marker in stack for marker in markers):
            return stage
    return OTHER


def samples_by_stage(lines: Iterable[str]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            counts[stage_of(stack)] += int(count)
    return counts


def table(counts: collections.Counter[str]) -> str:
    total = sum(counts.values()) or 1
    rows = ["| stage | share of samples |", "|---|---:|"]
    rows += [f"| {stage} | {count / total:.0%} |" for stage, count in counts.most_common()]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.profiles:
        with path.open(encoding="utf-8", errors="replace") as lines:
            counts = samples_by_stage(lines)
        print(f"{path} ({sum(counts.values())} samples)")
        print(table(counts))
        print()


if __name__ == "__main__":
    main()
