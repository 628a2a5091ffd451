"""Test helper process: opens one URL in WebKitGTK (WebKit2 4.1) on $DISPLAY.

Usage: /usr/bin/python3 tests/children/webkit_page.py URL [--timeout SECONDS]

Run with the system Python: PyGObject and the WebKit2 typelib come from Debian packages
(python3-gi, gir1.2-webkit2-4.1) and are not in the virtual environment. Media may play
without a user gesture, like the headless Chromium and Firefox the tests start. The page's
console goes to stdout. Exits when stdin closes (the test is done with it), on SIGTERM, or
with status 2 after the timeout.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import GLib, Gtk, WebKit2  # type: ignore[import-not-found]  # noqa: E402

TIMED_OUT = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=30.0)
    arguments = parser.parse_args()
    status = 0

    def quit_with(code: int) -> bool:
        nonlocal status
        status = code
        Gtk.main_quit()
        return GLib.SOURCE_REMOVE  # type: ignore[no-any-return]

    # Two switches: the setting lifts the gesture rule for media in general; the website
    # policy lets media with sound autoplay (WebKit's default allows only muted autoplay,
    # and play() is then refused with NotAllowedError).
    view = WebKit2.WebView(
        website_policies=WebKit2.WebsitePolicies(autoplay=WebKit2.AutoplayPolicy.ALLOW)
    )
    settings = view.get_settings()
    settings.set_property("media-playback-requires-user-gesture", False)
    settings.set_property("enable-media", True)
    settings.set_property("enable-webaudio", True)
    settings.set_property("enable-write-console-messages-to-stdout", True)
    window = Gtk.Window(title="Callreel WebKit playback check")
    window.set_default_size(800, 600)
    window.add(view)
    window.connect("destroy", lambda _window: quit_with(0))
    window.show_all()
    view.load_uri(arguments.url)

    GLib.timeout_add(int(arguments.timeout * 1000), quit_with, TIMED_OUT)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_with, 0)
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP,
        lambda _channel, _condition: quit_with(0),
    )
    Gtk.main()
    return status


if __name__ == "__main__":
    sys.exit(main())
