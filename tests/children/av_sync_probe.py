"""Test helper process: flashes a window white and clicks in audio at the same instants.

Usage: python -m tests.children.av_sync_probe --geometry WxH+X+Y --title T --flashes N

The clicks go to PulseAudio's default sink (the test sets PULSE_SINK) through ALSA's `pulse`
PCM. Both events are scheduled on the output stream's clock: a click's first sample is placed
where the stream says it will reach the sink at instant T, and the window turns white when the
same clock reads T. The bottom strip of the window changes colour all the time, so every grab
differs from the last and none is skipped as unchanged: the last dark frame before a flash is
then a real frame, close to the flash.

Protocol on stdin/stdout: prints `ready` once the window is mapped and audio runs; after a
line `go` on stdin, flashes N times (the first 1.5 s later, then every 1.3 s, each 0.4 s
long), prints one JSON line with how late each white fill was drawn after its instant, and
exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import numpy as np
import sounddevice
from Xlib import X, Xutil
from Xlib.display import Display

from tests.children.colour_window import _parse_geometry

RATE = 48_000
FIRST_FLASH_S = 1.5
FLASH_PERIOD_S = 1.3
FLASH_LENGTH_S = 0.4
STRIP_HEIGHT = 24
CLICK = (0.8 * np.sin(2 * np.pi * 2_000 * np.arange(RATE // 200) / RATE)).astype(np.float32)


class ClickScheduler:
    """Writes a click into the output so that its first sample is heard at each given time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[float] = []
        self._carry = np.zeros(0, dtype=np.float32)

    def schedule(self, at: float) -> None:
        with self._lock:
            self._pending.append(at)

    def fill(self, out: np.ndarray, dac_time: float) -> None:
        out.fill(0)
        length = len(out)
        carried = self._carry[:length]
        out[: len(carried), 0] = carried
        self._carry = self._carry[length:]
        with self._lock:
            due = [at for at in self._pending if at < dac_time + length / RATE]
            self._pending = [at for at in self._pending if at not in due]
        for at in due:
            offset = max(0, round((at - dac_time) * RATE))
            fits = CLICK[: length - offset]
            out[offset : offset + len(fits), 0] += fits
            self._carry = CLICK[len(fits) :].copy()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.children.av_sync_probe")
    parser.add_argument("--geometry", type=_parse_geometry, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--flashes", type=int, default=4)
    args = parser.parse_args(argv)
    width, height, x, y = args.geometry

    clicks = ClickScheduler()

    def play(out: np.ndarray, _frames: int, time_info: Any, _status: Any) -> None:
        clicks.fill(out, time_info.outputBufferDacTime)

    display = Display()
    screen = display.screen()
    window = screen.root.create_window(
        x, y, width, height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=screen.black_pixel,
    )  # fmt: skip
    window.set_wm_name(args.title)
    window.set_wm_normal_hints(
        flags=Xutil.USPosition | Xutil.USSize | Xutil.PWinGravity, win_gravity=X.StaticGravity
    )
    window.map()
    gc = window.create_gc(foreground=screen.black_pixel)
    flash_height = height - STRIP_HEIGHT

    def fill(colour: int, top: int, rows: int) -> None:
        gc.change(foreground=colour)
        window.fill_rectangle(gc, 0, top, width, rows)

    stream = sounddevice.OutputStream(
        device="pulse", channels=1, samplerate=RATE, dtype="float32",
        blocksize=RATE // 100, latency="low", callback=play,
    )  # fmt: skip
    with stream:
        display.sync()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 2
        start = stream.time + FIRST_FLASH_S
        instants = [start + k * FLASH_PERIOD_S for k in range(args.flashes)]
        for at in instants:
            clicks.schedule(at)
        lateness: list[float] = []
        pending = list(instants)
        white_until = 0.0
        while pending or white_until:
            now = stream.time
            grey = int(now * 50) % 160 + 40
            fill(grey << 16 | grey << 8 | grey, flash_height, STRIP_HEIGHT)
            if pending and now >= pending[0]:
                fill(0xFFFFFF, 0, flash_height)
                display.sync()
                lateness.append(stream.time - pending.pop(0))
                white_until = now + FLASH_LENGTH_S
            elif white_until and now >= white_until:
                fill(0x000000, 0, flash_height)
                white_until = 0.0
            display.sync()
            time.sleep(0.002)
        print(json.dumps({"draw_lateness_s": lateness}), flush=True)
    display.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
