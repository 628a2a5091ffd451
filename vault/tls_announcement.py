"""Which TLS keys the vault tells agents to trust, in its answer to every heartbeat: the key
this process serves, and the keys on disk (the next one once `tls prepare-rotation` wrote it;
the new current one once `tls rotate` ran and this process has not restarted yet). Files are
read again only when they change, so a rotation prepared while the vault runs is announced at
once, and a thousand heartbeats a minute cost a stat each."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from protocol.pinned_tls import TlsCertificateError, certificate_file_pin
from vault.tls_rotation import TlsPair

log = logging.getLogger(__name__)

_FileState = tuple[int, int, int]


class AnnouncedTlsPins:
    def __init__(self, directory: Path, served_pin: str) -> None:
        self._served_pin = served_pin
        self._files = (TlsPair.current(directory).cert, TlsPair.next(directory).cert)
        self._lock = threading.Lock()
        self._known: dict[Path, tuple[_FileState, str | None]] = {}

    def __call__(self) -> list[str]:
        pins = [self._served_pin]
        for path in self._files:
            pin = self._pin_of(path)
            if pin is not None and pin not in pins:
                pins.append(pin)
        return pins

    def _pin_of(self, path: Path) -> str | None:
        try:
            facts = path.stat()
        except FileNotFoundError:
            return None
        state = (facts.st_ino, facts.st_size, facts.st_mtime_ns)
        with self._lock:
            known = self._known.get(path)
            if known is not None and known[0] == state:
                return known[1]
            try:
                pin: str | None = certificate_file_pin(path)
            except TlsCertificateError as exc:
                log.warning("not announcing %s to agents: %s", path, exc)
                pin = None
            self._known[path] = (state, pin)
            return pin
