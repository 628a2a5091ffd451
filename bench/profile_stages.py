"""The agent's CPU by pipeline stage, from a py-spy profile or a perf one.

    .venv/bin/python bench/profile_stages.py PROFILE.txt [PROFILE.txt ...]
    .venv/bin/python bench/profile_stages.py --perf PERF.txt [PERF.txt ...]

py-spy (`bench/capture.py --profile`): its raw format has one line per distinct stack,
`frame;frame;... count`, with only the samples where the thread was running (not idle), so
counts are shares of CPU. Each stack is put in the first stage whose marker any of its frames
carries; the order below goes from the most specific to the most general (sealing is inside
the encode thread's segment store, the colour conversion inside encoding). py-spy stops the
process to sample it and counts some waits as running, so its shares are rough.

perf (the kernel's sampler, which neither stops the process nor counts a wait): while
bench/capture.py records, attach to the agent and write out each sample's thread and the
library it was in:

    perf record -F 499 -p "$(pgrep -f 'callreel-agent record')" -o perf.data -- sleep 45
    perf script -F comm,ip,dso -i perf.data > PERF.txt

Each sample is put in a stage by its thread's name and the library of its innermost frame
(`PERF_STAGES`; record without call chains, `-g`, whose unwinding the process would pay
for): the libraries of the codecs and of the colour conversion are their own
stages; what the encode thread spends in Python and the rest (muxing, sealing, spooling) is
one.
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


PERF_STAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("audio encode (Opus)", "callreel-encode", ("libopus",)),
    ("video encode (x264)", "callreel-encode", ("libx264", "libvpx")),
    ("colour conversion", "callreel-encode", ("libswscale",)),
    ("frame comparison (numpy)", "callreel-encode", ("_multiarray_umath",)),
    ("muxing, sealing, spooling (Python and the rest)", "callreel-encode", ()),
    ("grab and window tracking", "callreel-grab", ()),
    ("audio capture", "audio-", ()),
    ("audio capture", "threaded-ml", ()),
)
"""(stage, thread name prefix, library markers: any, or none for the thread's rest)."""


def perf_stage_of(thread: str, library: str) -> str:
    for stage, prefix, markers in PERF_STAGES:
        if thread.startswith(prefix) and (not markers or any(m in library for m in markers)):
            return stage
    return OTHER


def perf_samples_by_stage(lines: Iterable[str]) -> collections.Counter[str]:
    """From `perf script -F comm,ip,dso` of a profile recorded without call chains: one line
    per sample, `thread address (library)`."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        where, _, library = line.strip().rpartition(" (")
        thread = where.rpartition(" ")[0].strip()
        if thread:
            counts[perf_stage_of(thread, library.rstrip(")"))] += 1
    return counts


def samples_by_stage(lines: Iterable[str]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            counts[stage_of(stack)] += int(count)
    return counts


def table(counts: collections.Counter[str], per_minute: float | None = None) -> str:
    """Shares of the samples; with `per_minute` (CPU seconds per minute one sample stands for),
    CPU seconds per minute too."""
    total = sum(counts.values()) or 1
    if per_minute is None:
        rows = ["| stage | share of samples |", "|---|---:|"]
        rows += [f"| {stage} | {count / total:.0%} |" for stage, count in counts.most_common()]
    else:
        rows = ["| stage | share of samples | CPU s per min |", "|---|---:|---:|"]
        rows += [
            f"| {stage} | {count / total:.0%} | {count * per_minute:.2f} |"
            for stage, count in counts.most_common()
        ]
        rows.append(f"| all | 100% | {total * per_minute:.2f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--perf", action="store_true", help="the profiles are `perf script`'s")
    parser.add_argument(
        "--perf-rate", type=float, default=499, help="perf record's -F (samples a second)"
    )
    parser.add_argument(
        "--perf-seconds", type=float, help="how long perf recorded: adds CPU s per minute"
    )
    args = parser.parse_args()
    per_minute = None
    if args.perf and args.perf_seconds:
        per_minute = 60 / args.perf_seconds / args.perf_rate
    by_stage = perf_samples_by_stage if args.perf else samples_by_stage
    for path in args.profiles:
        with path.open(encoding="utf-8", errors="replace") as lines:
            counts = by_stage(lines)
        print(f"{path} ({sum(counts.values())} samples)")
        print(table(counts, per_minute))
        print()


if __name__ == "__main__":
    main()
