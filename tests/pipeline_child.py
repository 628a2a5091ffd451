"""Test helper process: one CapturePipeline run with pauses, as the agent drives it.

Usage: python -m tests.pipeline_child --window TITLE --recipient FILE --spool DIR
       --pause-at S --resume-at S --stop-at S

Opens the audio early (as during the notice), starts, pauses and resumes at the given seconds
of recording time, stops, and prints one JSON line: the recording id, the recording time at
which stop() was called, how long stop() took (wall seconds) and the summary. Runs in its own
process because PortAudio reads the PulseAudio environment once, when it is first loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

from agent.capture.audio import AudioSources, CallAudioCapture
from agent.capture.encoder import EncoderSettings
from agent.capture.grab import MaskedGrabber
from agent.capture.pipeline import CapturePipeline
from agent.capture.window import WindowMatch, create_locator
from agent.crypto.keys import VaultRecipient
from agent.crypto.seal import RecordingSealer
from agent.spool import Spool


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.pipeline_child")
    parser.add_argument("--window", required=True)
    parser.add_argument("--recipient", type=Path, required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--pause-at", type=float, required=True)
    parser.add_argument("--resume-at", type=float, required=True)
    parser.add_argument("--stop-at", type=float, required=True)
    args = parser.parse_args(argv)

    recording_id = uuid.uuid4()
    audio = CallAudioCapture(AudioSources(microphone="callreel_mic", far_end="callreel_farend"))
    with Spool(args.spool) as spool:
        pipeline = CapturePipeline(
            MaskedGrabber(create_locator(WindowMatch(title_pattern=args.window))),
            audio,
            RecordingSealer(VaultRecipient.load(args.recipient), recording_id),
            spool,
            settings=EncoderSettings(width=320, height=240, segment_seconds=2),
            fps=10,
        )
        pipeline.prepare()
        time.sleep(1.5)
        pipeline.start()
        print("started", flush=True)
        for at, action in ((args.pause_at, pipeline.pause), (args.resume_at, pipeline.resume)):
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
        "pauses": summary.pauses,
        "error": summary.error,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
