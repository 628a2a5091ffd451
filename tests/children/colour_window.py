"""Test helper process: shows one solid-colour X window until killed or closed.

Usage: python -m tests.children.colour_window --colour ff00ff --geometry WxH+X+Y --title T --class C
       [--instance I] [--override-redirect]

The window asks for static gravity and a user-specified position, so a window manager puts the
*client area* exactly at X,Y (its title bar goes above). Prints `window 0x<id>` on stdout once
the window is mapped, then serves events until SIGTERM or a WM_DELETE_WINDOW request.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys

from Xlib import X, Xatom, Xutil
from Xlib.display import Display

_GEOMETRY = re.compile(r"^(\d+)x(\d+)([+-]\d+)([+-]\d+)$")


def _parse_geometry(text: str) -> tuple[int, int, int, int]:
    found = _GEOMETRY.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"geometry must look like 300x200+10+20, not {text!r}")
    width, height, x, y = (int(part) for part in found.groups())
    return width, height, x, y


def _parse_colour(text: str) -> int:
    if re.fullmatch(r"[0-9a-fA-F]{6}", text) is None:
        raise argparse.ArgumentTypeError(f"colour must be six hex digits like ff00ff, not {text!r}")
    return int(text, 16)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.children.colour_window")
    parser.add_argument("--colour", type=_parse_colour, required=True)
    parser.add_argument("--geometry", type=_parse_geometry, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--class", dest="wm_class", required=True)
    parser.add_argument("--instance", default="colour_window")
    parser.add_argument("--override-redirect", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    width, height, x, y = args.geometry
    red, green, blue = (args.colour >> 16) & 0xFF, (args.colour >> 8) & 0xFF, args.colour & 0xFF
    display = Display()
    try:
        screen = display.screen()
        # alloc_color works on any visual; on TrueColor it returns 0xRRGGBB anyway.
        pixel = screen.default_colormap.alloc_color(red * 257, green * 257, blue * 257).pixel
        window = screen.root.create_window(
            x,
            y,
            width,
            height,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=pixel,
            override_redirect=args.override_redirect,
            event_mask=X.ExposureMask | X.StructureNotifyMask,
        )
        window.set_wm_name(args.title)
        window.change_property(
            display.intern_atom("_NET_WM_NAME"),
            display.intern_atom("UTF8_STRING"),
            8,
            args.title.encode(),
        )
        window.set_wm_class(args.instance, args.wm_class)
        window.set_wm_client_machine(socket.gethostname())
        window.change_property(
            display.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()]
        )
        # Without USPosition a window manager may place the window where it likes; static
        # gravity makes X,Y the client area's corner rather than the frame's.
        window.set_wm_normal_hints(
            flags=Xutil.USPosition | Xutil.USSize | Xutil.PWinGravity,
            win_gravity=X.StaticGravity,
        )
        delete_window = display.intern_atom("WM_DELETE_WINDOW")
        window.set_wm_protocols([delete_window])
        window.map()
        display.sync()
        print(f"window {window.id:#x}", flush=True)
        while True:
            event = display.next_event()
            if event.type == X.ClientMessage and event.data[1][0] == delete_window:
                return 0
            if event.type == X.DestroyNotify and event.window == window:
                return 0
    finally:
        display.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
