"""The scripted order desk the benchmarks in bench/ record: Xvfb + openbox + a busy xterm.

An xterm (bitmap font `fixed`, 6x13 pixels) titled "Order desk" runs a script, with a fixed
random seed, that draws an order-desk form and types eight customer fields character by
character (0.06-0.22 s a key, 0.5-1.5 s between fields), waits 5 s, prints 24 order lines at
once, waits 6 s, scrolls 30 history lines (one every 0.25 s) and waits 6 s again: one customer
in about a minute, then the next. The cursor does not blink. The "scroll" scene (`SCENES`) reads
a long order history instead, as with a mouse wheel.

Two layouts: `fullscreen=False` is a 208x51 terminal at 0,0 with its openbox title bar (what
bench/video_codecs.py grabs as the screen's 1280x720); `fullscreen=True` asks openbox to make the
xterm fullscreen, so its client window is exactly the 1280x720 screen and a recorder of that
window gets the same pixels as a recorder of the screen region.

The X server and window manager come from `tests.desktop.running_x_server`, shared with the
tests; the benchmarks run as scripts (sys.path[0] is bench/), hence the repository root is put
on sys.path before importing it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from Xlib.display import Display  # noqa: E402 - after the sys.path set-up above

from testbed.programs import stop_processes  # noqa: E402 - as above
from testbed.waiting import wait_for  # noqa: E402 - as above
from testbed.x_display import running_x_server  # noqa: E402 - as above

WIDTH, HEIGHT = 1280, 720
WINDOW_TITLE = "Order desk"

# Runs inside the xterm. A fixed seed keeps the typing rhythm the same from run to run, so two
# runs differ only by grab timing. One customer (form, order lines, scrolling history, pauses)
# takes about a minute. Rows are laid out for a 208x51 terminal.
SCREEN_SCRIPT = r"""
import random, sys, time
rng = random.Random(4711)
deadline = time.monotonic() + float(sys.argv[1])
out = sys.stdout
def put(text):
    out.write(text)
    out.flush()
def at(row, col, text=""):
    put(f"\x1b[{row};{col}H{text}")
def idle(seconds):
    time.sleep(min(seconds, max(0.0, deadline - time.monotonic())))
FIELDS = ["Customer name", "Account number", "Phone", "E-mail", "Street", "Postcode / City",
          "Reason for call", "Notes"]
CUSTOMERS = [
    ["Margarethe Vandenberghe", "ACC-2024-0081734", "+32 2 555 01 87",
     "m.vandenberghe@example.be", "Rue de la Loi 155", "1040 Etterbeek",
     "Invoice 88213 charged twice", "Refund second charge, confirm by e-mail"],
    ["Jonathan O'Sullivan", "ACC-2023-1177420", "+353 1 555 0199",
     "jon.osullivan@example.ie", "14 Harcourt Street", "D02 Dublin 2",
     "Change delivery address", "Next order to office, weekdays only"],
]
PRODUCTS = ["Desk lamp, LED, matte black", "Office chair, mesh, adjustable arms",
            "Monitor arm, dual, clamp", "Printer paper A4 80g (5 x 500)",
            "Headset, USB-C, noise cancelling", "Whiteboard markers (12)",
            "Laptop stand, aluminium", "Cable tray, under-desk, 120 cm"]
def form(customer):
    put("\x1b[2J\x1b[H\x1b[7m" + " ORDER DESK  |  New contact  |  Agent 4711  |  Queue: Billing"
        .ljust(206) + "\x1b[0m")
    at(3, 3, "+" + "-" * 100 + "+")
    for index, label in enumerate(FIELDS):
        at(5 + 2 * index, 5, f"{label:>16}: " + "_" * 60)
    at(21, 3, "+" + "-" * 100 + "+")
    at(3, 110, "History: 14 orders, 2 open tickets, last contact 2024-11-02")
    idle(2.0)
    for index, value in enumerate(customer):
        at(5 + 2 * index, 23)
        for char in value:
            put(char)
            idle(rng.uniform(0.06, 0.22))
        idle(rng.uniform(0.5, 1.5))
    idle(5.0)
def orders(count, start_row):
    at(start_row, 3, f"{'Line':>4}  {'SKU':<10}  {'Description':<40} {'Qty':>4} "
       f"{'Unit':>9} {'Total':>10}  Status")
    for line in range(1, count + 1):
        quantity = rng.randint(1, 12)
        unit = rng.randint(199, 24999) / 100
        at(start_row + line, 3, f"{line:>4}  SKU-{rng.randint(10000, 99999)}  "
           f"{rng.choice(PRODUCTS):<40} {quantity:>4} {unit:>9.2f} {quantity * unit:>10.2f}  "
           f"{rng.choice(['shipped', 'open', 'back-order', 'invoiced'])}")
    idle(6.0)
def scroll(count):
    at(51, 1)
    for line in range(count):
        put(f"\n  2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}  "
            f"order {rng.randint(100000, 999999)}  {rng.choice(PRODUCTS):<40} "
            f"{rng.randint(1, 999):>6}.{rng.randint(0, 99):02d} EUR  ticket {line}")
        idle(0.25)
    idle(6.0)
def history_line(number):
    return (f"  2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}  "
            f"order {rng.randint(100000, 999999)}  {rng.choice(PRODUCTS):<40} "
            f"{rng.randint(1, 999):>6}.{rng.randint(0, 99):02d} EUR  ticket {number}")
def browse():
    put("\x1b[2J\x1b[H")
    number = 0
    for number in range(50):
        put(history_line(number) + "\n")
    while time.monotonic() < deadline:
        for _ in range(rng.randint(3, 15)):
            number += 1
            put("\n" + history_line(number))
            idle(0.05)
        idle(rng.uniform(0.3, 2.0))
if sys.argv[2] == "scroll":
    browse()
while time.monotonic() < deadline:
    for customer in CUSTOMERS:
        form(customer)
        orders(24, 23)
        scroll(30)
time.sleep(3600)
"""
SCENES = ("order-desk", "scroll")
"""What the xterm shows: the order desk above, or "scroll": a long order history read as with a
mouse wheel, 3 to 15 lines at 20 lines a second, then 0.3 to 2 s of reading, for the whole
time (every frame in a flick moves the whole window)."""


@dataclass(frozen=True, slots=True)
class ScriptedDesktop:
    display: str
    """The DISPLAY value, e.g. `:345`."""
    window_id: int
    """The xterm's client window."""


def executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found; install the Debian package that provides it")
    return found


def client_rect(display_name: str, window_id: int) -> tuple[int, int, int, int]:
    """x, y, width, height of a client window on the root window."""
    display = Display(display_name)
    try:
        window = display.create_resource_object("window", window_id)
        geometry = window.get_geometry()
        origin = display.screen().root.translate_coords(window_id, 0, 0)
        return origin.x, origin.y, geometry.width, geometry.height
    finally:
        display.close()


@contextlib.contextmanager
def scripted_desktop(
    home: Path,
    script_seconds: float,
    *,
    fullscreen: bool,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    scene: str = SCENES[0],
) -> Iterator[ScriptedDesktop]:
    """A private desktop of `size` (1280x720) showing the scripted xterm; the script types for
    `script_seconds` and then leaves its last screen standing. At a larger size the fullscreen
    xterm shows the same rows in its top left corner, the rest of it blank."""
    with running_x_server(home, width=size[0], height=size[1]) as server:
        env = {**os.environ, "DISPLAY": server.display}
        layout = ["-fullscreen"] if fullscreen else ["-geometry", "208x51+0+0"]
        terminal = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            [executable("xterm"), *layout, "-fn", "fixed", "-title", WINDOW_TITLE,
             "-e", sys.executable, "-c", SCREEN_SCRIPT, str(script_seconds), scene],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            found = subprocess.run(  # noqa: S603 - fixed argument list, no shell
                [executable("xdotool"), "search", "--sync", "--onlyvisible", "--name",
                 f"^{WINDOW_TITLE}$"],
                env=env, check=True, timeout=15, capture_output=True, text=True,
            )  # fmt: skip
            window_id = int(found.stdout.split()[0])
            if fullscreen:
                wait_for(
                    lambda: client_rect(server.display, window_id) == (0, 0, *size),
                    what="the xterm to fill the screen",
                    timeout=10.0,
                    interval=0.05,
                )
            yield ScriptedDesktop(server.display, window_id)
        finally:
            stop_processes([terminal], timeout=5)
