"""Real browsers for tests: a loopback server for a page and a media file, and launchers for
the three engines (Blink: Debian's Chromium; Gecko: Firefox ESR; WebKit: WebKitGTK).

`MediaServer` serves `/page.html` (tests/data/playback_page.html), `/recording.<ext>` with HTTP
Range support (Chromium and WebKit fetch media in ranges, and refuse to seek without it), and
takes the page's JSON result on `POST /result`.

`open_in_browser` starts one engine on a URL in its own session (process group) with a
throwaway profile, and on exit kills every process of that session, children included.
"""

from __future__ import annotations

import contextlib
import enum
import http.server
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.data import DATA, TESTS

PAGE = DATA / "playback_page.html"
WEBKIT_PAGE_SCRIPT = TESTS / "children" / "webkit_page.py"
# WebKitGTK's Python bindings (python3-gi) live in the system Python, not in the venv.
SYSTEM_PYTHON = "/usr/bin/python3"
_STOP_TIMEOUT = 5.0


class Engine(enum.Enum):
    BLINK = "blink"
    GECKO = "gecko"
    WEBKIT = "webkit"


@dataclass(frozen=True, slots=True)
class _Program:
    path: str
    debian_package: str


_PROGRAMS = {
    Engine.BLINK: _Program("/usr/bin/chromium", "chromium"),
    Engine.GECKO: _Program("/usr/bin/firefox-esr", "firefox-esr"),
    Engine.WEBKIT: _Program(SYSTEM_PYTHON, "python3-gi gir1.2-webkit2-4.1"),
}

# Firefox preferences for an unattended, offline run: no first-run or what's-new pages, no
# telemetry, updates or background services reaching for the network, and media may play
# without a user gesture.
_FIREFOX_PREFERENCES = {
    "app.normandy.enabled": False,
    "app.update.auto": False,
    "app.update.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.sessionstore.resume_from_crash": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.policy.firstRunURL": "",
    "extensions.update.enabled": False,
    "media.autoplay.blocking_policy": 0,
    "media.autoplay.default": 0,
    "media.gmp-manager.updateEnabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "startup.homepage_welcome_url": "",
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
}


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 (free port) for one page and one media file."""

    def __init__(self, media: bytes, media_type: str, extension: str) -> None:
        self.media = media
        self.media_type = media_type
        self.media_path = f"/recording.{extension}"
        self.results: queue.Queue[dict[str, Any]] = queue.Queue()
        self.range_requests: list[str] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def page_url(self, *, seek_times: list[float], play_from: float) -> str:
        seek = ",".join(f"{t:g}" for t in seek_times)
        return f"{self.origin}/page.html?src={self.media_path}&seek={seek}&play={play_from:g}"

    def wait_for_result(self, timeout: float, browser: BrowserProcess) -> dict[str, Any]:
        """The page's POSTed report; fails with the browser's log if none comes in time or
        the browser exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                return self.results.get(timeout=0.1)
            if browser.process.poll() is not None:
                pytest.fail(
                    f"{browser.engine.value} exited with status {browser.process.returncode}"
                    f" before the page reported:\n{browser.log_tail()}"
                )
        pytest.fail(
            f"{browser.engine.value}: the page reported nothing within {timeout} s:\n"
            f"{browser.log_tail()}"
        )

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions of a single-range `Range` header.

    Returns None when the header is unsatisfiable or not a single byte range (the caller
    answers 416 for the former; RFC 9110 lets a server ignore a multi-range request).
    """
    found = _RANGE.match(header.strip())
    if found is None or (not found[1] and not found[2]):
        return None
    if not found[1]:  # bytes=-N: the last N bytes
        suffix = int(found[2])
        return (max(0, size - suffix), size - 1) if suffix and size else None
    first = int(found[1])
    last = min(int(found[2]), size - 1) if found[2] else size - 1
    return (first, last) if first <= last else None


def _make_handler(server: MediaServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send_file(with_body=True)

        def do_HEAD(self) -> None:
            self._send_file(with_body=False)

        def do_POST(self) -> None:
            if self.path != "/result":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            server.results.put(json.loads(body))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send_file(self, *, with_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/page.html":
                self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8", with_body)
            elif path == server.media_path:
                self._send_media(with_body)
            else:
                self.send_error(404)

        def _send_media(self, with_body: bool) -> None:
            media, size = server.media, len(server.media)
            header = self.headers.get("Range")
            if header is None or "," in header:
                self._send(200, media, server.media_type, with_body)
                return
            server.range_requests.append(header)
            span = parse_range(header, size)
            if span is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = span
            self._send(
                206,
                media[first : last + 1],
                server.media_type,
                with_body,
                content_range=f"bytes {first}-{last}/{size}",
            )

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            with_body: bool,
            content_range: str | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "no-store")
            if content_range is not None:
                self.send_header("Content-Range", content_range)
            self.end_headers()
            if with_body:
                # A browser may drop a media connection once it has what it needs.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            pass  # the browsers' own logs say more; keep pytest's output clean

    return Handler


@dataclass
class BrowserProcess:
    engine: Engine
    process: subprocess.Popen[bytes]
    log: Path
    _stopped: bool = field(default=False, init=False)

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""

    def stop(self) -> None:
        """Kill every process in the browser's session, including children that left its
        process group, and reap the leader."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_session(self.process.pid, sig)
            deadline = time.monotonic() + _STOP_TIMEOUT
            while time.monotonic() < deadline and _session_members(self.process.pid):
                self.process.poll()  # reaps the leader, our child, so it leaves /proc
                time.sleep(0.05)
            if not _session_members(self.process.pid):
                break
        self.process.wait(timeout=_STOP_TIMEOUT)


def _session_members(session: int) -> list[int]:
    """Live (not zombie, not yet reaped) processes whose session id is `session`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        # Fields after the parenthesised command name, which may itself hold spaces.
        state, _ppid, _pgrp, sid = text.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _signal_session(session: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(session, sig)
    for pid in _session_members(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def require_engine(engine: Engine) -> str:
    program = _PROGRAMS[engine]
    if not Path(program.path).exists():
        pytest.fail(
            f"{program.path} is missing: install the Debian package(s) {program.debian_package}"
            " (scripts/setup dev does it)"
        )
    if engine is Engine.WEBKIT:
        probe = subprocess.run(
            [program.path, "-c", "import gi; gi.require_version('WebKit2', '4.1')"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode != 0:
            pytest.fail(
                f"WebKitGTK is not usable from {program.path}: install the Debian packages"
                f" {program.debian_package} ({probe.stderr.strip().splitlines()[-1:]})"
            )
    return program.path


def _command(engine: Engine, program: str, url: str, profile: Path, timeout: float) -> list[str]:
    if engine is Engine.BLINK:
        return [
            program,
            "--headless",
            "--no-sandbox",  # Chromium refuses to run as root with its sandbox
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--autoplay-policy=no-user-gesture-required",
            "--enable-logging=stderr",  # the page's console and media errors go to the log
            url,
        ]
    if engine is Engine.GECKO:
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(
            "".join(
                f"user_pref({json.dumps(name)}, {json.dumps(value)});\n"
                for name, value in _FIREFOX_PREFERENCES.items()
            )
        )
        return [program, "--headless", "--no-remote", "--profile", str(profile), url]
    return [program, str(WEBKIT_PAGE_SCRIPT), url, "--timeout", f"{timeout:g}"]


@contextlib.contextmanager
def open_in_browser(
    engine: Engine,
    url: str,
    workdir: Path,
    *,
    display: str | None = None,
    timeout: float = 60.0,
) -> Iterator[BrowserProcess]:
    """Open `url` in `engine` with a fresh profile under `workdir`; everything it started is
    killed and the profile removed on exit. WebKitGTK needs an X `display`; the headless
    engines are kept off any display."""
    program = require_engine(engine)
    if engine is Engine.WEBKIT and display is None:
        raise ValueError("WebKitGTK needs an X display")
    home = workdir / f"{engine.value}-home"
    home.mkdir(parents=True)
    environment = {
        key: value for key, value in os.environ.items() if key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    # A private HOME, TMPDIR and XDG directories: no browser reads or writes the user's own,
    # and what a killed browser leaves behind (Chromium's .org.chromium.* files) is removed
    # with them. TMPDIR is short: Chromium puts its singleton's Unix socket there, and a
    # socket path may not exceed 107 bytes (pytest's tmp_path can).
    scratch = Path(tempfile.mkdtemp(prefix=f"callreel-{engine.value}-"))
    try:
        environment |= {
            "HOME": str(home),
            "TMPDIR": str(scratch),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_DATA_HOME": str(home / "data"),
            "MOZ_HEADLESS": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
        }
        if display is not None:
            environment["DISPLAY"] = display
        log = workdir / f"{engine.value}.log"
        command = _command(engine, program, url, home / "profile", timeout)
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=environment,
                stdin=subprocess.PIPE,  # webkit_page.py quits when this closes
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        browser = BrowserProcess(engine, process, log)
        try:
            yield browser
        finally:
            browser.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
