"""Test helper process: one CapturePipeline run with pauses, as the agent drives it.

Usage: python -m testbed.pipeline_child --window TITLE --recipient FILE --spool DIR
       --stop-at S [--pause-at S --resume-at S] [--width W --height H --fps F
       --segment-seconds S]

Opens the audio early (as during the notice, and as `callreel-agent record` does), starts,
pauses and resumes at the given seconds of recording time, stops, and prints one JSON line:
the recording id, the recording time at which stop() was called, how long stop() took (wall
seconds) and the summary. Runs in its own process because PortAudio reads the PulseAudio
environment once, when it is first loaded.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import uuid
from pathlib import Path

from agent.capture.audio.capture import BLOCK_SECONDS, AudioSources, CallAudioCapture
from agent.capture.encoder import EncoderSettings
from agent.capture.grab import MaskedGrabber
from agent.capture.pipeline import CapturePipeline
from agent.capture.window.base import WindowMatch
from agent.capture.window.factory import create_locator
from agent.commands.record import AUDIO_SETTLE_SECONDS
from agent.spool.spool import Spool
from protocol.keys import VaultRecipient
from protocol.recording_vocabulary import PauseSource
from protocol.segments.seal import RecordingSealer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.pipeline_child")
    parser.add_argument("--window", required=True)
    parser.add_argument("--recipient", type=Path, required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--pause-at", type=float)
    parser.add_argument("--resume-at", type=float)
    parser.add_argument("--stop-at", type=float, required=True)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--segment-seconds", type=float, default=2)
    parser.add_argument("--audio-block-ms", type=float, default=BLOCK_SECONDS * 1000)
    args = parser.parse_args(argv)

    recording_id = uuid.uuid4()
    audio = CallAudioCapture(
        AudioSources(microphone="virtmic", far_end="callsink.monitor"),
        block_seconds=args.audio_block_ms / 1000,
    )
    with Spool(args.spool) as spool:
        pipeline = CapturePipeline(
            MaskedGrabber(create_locator(WindowMatch(title_pattern=args.window))),
            audio,
            RecordingSealer(VaultRecipient.load(args.recipient), recording_id),
            spool,
            settings=EncoderSettings(
                width=args.width, height=args.height, segment_seconds=args.segment_seconds
            ),
            fps=args.fps,
        )
        pipeline.prepare()
        time.sleep(AUDIO_SETTLE_SECONDS)
        pipeline.start()
        print("started", flush=True)
        pause = functools.partial(pipeline.pause, frozenset({PauseSource.COMMAND_LINE}))
        for at, action in ((args.pause_at, pause), (args.resume_at, pipeline.resume)):
            if at is None:
                continue
            while pipeline.elapsed() < at:
                time.sleep(0.005)
            action()
        while pipeline.elapsed() < args.stop_at:
            time.sleep(0.005)
        stopped_at = pipeline.elapsed()
        began = time.monotonic()
        summary = pipeline.stop()
        stop_seconds = time.monotonic() - began
    report = {
        "recording": str(recording_id),
        "stopped_at": stopped_at,
        "stop_seconds": stop_seconds,
        "segments": summary.segments,
        "pauses": [span.model_dump(mode="json") for span in summary.pauses],
        "error": summary.error,
        "stop_phases": summary.stop_phases,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
