"""`callreel-agent record`: one capture with the real agent's whitelist, masking and sealing.

For IT checks and benchmarks. It records the window picked by the same whitelist fields as
policy (title pattern, executable, window class) and the configured audio devices for a fixed
time, then spools the sealed segments; nothing else (no session, no notice) is involved, so it
is a command for whoever installs the agent.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from agent.capture.audio.capture import AudioCaptureError, AudioSources, CallAudioCapture
from agent.capture.codec_names import CodecName
from agent.capture.encoder import CODECS, EncoderSettings
from agent.capture.grab import MaskedGrabber
from agent.capture.pipeline import CapturePipeline
from agent.capture.window.base import LocatorUnavailableError, WindowMatch
from agent.capture.window.factory import create_locator
from agent.spool.spool import Spool, SpoolError
from protocol.keys import KeyFileError, VaultRecipient
from protocol.segments.seal import RecordingSealer

AUDIO_SETTLE_SECONDS = 1.5
"""The devices run this long before recording, as they do during the agent's notice."""


def add_record_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    record = commands.add_parser(
        "record",
        help="record one capture of a window and the call audio into a spool",
        description="Record the whitelisted window plus microphone (left) and far-end audio"
        " (right) for N seconds; segments are sealed to the vault key and spooled. Name the"
        " window by any of --window, --executable and --window-class; all given must match.",
    )
    record.add_argument("--window", metavar="PATTERN", help="regular expression for the title")
    record.add_argument("--executable", metavar="NAME", help="the window's process, e.g. crm")
    record.add_argument("--window-class", metavar="CLASS", help="X11 WM_CLASS class or instance")
    record.add_argument("--seconds", type=float, required=True, metavar="N")
    record.add_argument("--recipient", type=Path, required=True, help="vault recipient key file")
    record.add_argument("--spool", type=Path, required=True, metavar="DIR")
    record.add_argument(
        "--microphone",
        default=None,
        help="a sound server source or PortAudio input (default: the system's)",
    )
    record.add_argument(
        "--far-end",
        default=None,
        help="the source carrying the call's output, named as --microphone (default: the"
        " monitor of the default output)",
    )
    record.add_argument(
        "--codec", choices=[name.value for name in CodecName], default=CodecName.H264.value
    )
    record.add_argument("--fps", type=float, default=5.0)
    record.add_argument("--width", type=int, default=1280)
    record.add_argument("--height", type=int, default=720)
    record.add_argument("--segment-seconds", type=float, default=10.0)


def run_command(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.fps <= 0:
        raise SystemExit("callreel-agent record: --seconds and --fps must be positive")
    if args.window is None and args.executable is None and args.window_class is None:
        raise SystemExit(
            "callreel-agent record: name the window to record with --window PATTERN,"
            " --executable NAME or --window-class CLASS"
        )
    try:
        recipient = VaultRecipient.load(args.recipient)
        match = WindowMatch(
            executable=args.executable, window_class=args.window_class, title_pattern=args.window
        )
        settings = EncoderSettings(
            codec=CODECS[CodecName(args.codec)],
            width=args.width,
            height=args.height,
            segment_seconds=args.segment_seconds,
        )
        audio = CallAudioCapture(AudioSources(args.microphone, args.far_end))
        spool = Spool(args.spool)
    except (KeyFileError, ValueError, AudioCaptureError, SpoolError) as exc:
        print(f"callreel-agent record: {exc}", file=sys.stderr)
        return 1
    recording_id = uuid.uuid4()
    with spool:
        pipeline = CapturePipeline(
            MaskedGrabber(create_locator(match)),
            audio,
            RecordingSealer(recipient, recording_id),
            spool,
            settings=settings,
            fps=args.fps,
        )
        try:
            pipeline.prepare()
            time.sleep(AUDIO_SETTLE_SECONDS)
            pipeline.start()
            print(f"recording {recording_id}: started, {args.seconds:g} s", flush=True)
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline and pipeline.error is None:
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        except LocatorUnavailableError as exc:
            print(f"callreel-agent record: {exc}", file=sys.stderr)
        summary = pipeline.stop()
    print(f"recording {recording_id}: {summary.segments} segments in {args.spool}")
    print(
        f"  frames grabbed {summary.frames_grabbed}, blank {summary.blank_frames},"
        f" dropped {summary.frames_dropped}"
    )
    for reason, count in summary.blank_reasons.most_common():
        print(f"  black frames: {count} because {reason}")
    if summary.error:
        print(f"  stopped early: {summary.error}", file=sys.stderr)
        return 1
    return 0
