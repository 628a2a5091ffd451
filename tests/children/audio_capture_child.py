"""Record call audio for N seconds with the agent's capture; print per-channel tone levels.

Usage: python -m tests.children.audio_capture_child SECONDS FROM TO [named|defaults]: levels
are measured between FROM and TO seconds into the recording (idle PulseAudio monitors start
delivering late). `named` (the default) opens the test's ALSA PCMs by name (through
PortAudio); `server` the same sources by the sound server's names; `defaults` opens what the
agent uses when policy names no device. Runs in its own process because PortAudio
reads the device list (and the PulseAudio environment) once, when it is first loaded.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from agent.capture.audio.capture import AudioSources, CallAudioCapture
from agent.commands.record import AUDIO_SETTLE_SECONDS


def tone_level(samples: np.ndarray, frequency: float, rate: int) -> float:
    """Amplitude of one frequency (Goertzel-style projection), in int16 units."""
    phase = 2 * np.pi * frequency * np.arange(len(samples)) / rate
    in_phase = float(np.mean(samples * np.cos(phase)))
    quadrature = float(np.mean(samples * np.sin(phase)))
    return 2 * math.hypot(in_phase, quadrature)


def main() -> None:
    seconds, window_start, window_end = (float(arg) for arg in sys.argv[1:4])
    devices = sys.argv[4] if len(sys.argv) > 4 else "named"
    sources = {
        "defaults": AudioSources(),
        "named": AudioSources(microphone="callreel_mic", far_end="callreel_farend"),
        "server": AudioSources(microphone="virtmic", far_end="callsink.monitor"),
    }[devices]
    capture = CallAudioCapture(sources)
    # As the agent does while its notice shows: idle monitors deliver their first second late.
    capture.open()
    time.sleep(AUDIO_SETTLE_SECONDS)
    start = capture.start()
    print("started", flush=True)
    chunks = []
    while capture.now() < start + seconds:
        time.sleep(0.1)
        chunks.append(capture.read_settled())
    chunks.append(capture.finish())
    stereo = np.concatenate(chunks).astype(np.float64)
    report = {
        "frames": len(stereo),
        "expected_frames": round(seconds * capture.rate),
        "silence_inserted": capture.silence_inserted,
        "samples_dropped": capture.samples_dropped,
        "streams": capture.stream_kind,
    }
    window = stereo[round(window_start * capture.rate) : round(window_end * capture.rate)]
    chunk = capture.rate // 20  # 50 ms: 22 cycles of 440 Hz, 50 of 1000 Hz
    for name, channel in (("left", 0), ("right", 1)):
        for frequency in (440, 1000):
            report[f"{name}_{frequency}"] = tone_level(window[:, channel], frequency, capture.rate)
            # The level as played: the median over 50 ms pieces, so that a dropout (a piece
            # of inserted silence on a busy machine) does not count as a quieter tone.
            pieces = [
                tone_level(window[start : start + chunk, channel], frequency, capture.rate)
                for start in range(0, len(window) - chunk + 1, chunk)
            ]
            report[f"{name}_{frequency}_median"] = float(np.median(pieces))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
