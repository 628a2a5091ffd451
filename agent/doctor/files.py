"""Doctor checks for the agent's files: the spool, disk space and permissions."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from agent.doctor.result import CheckResult, fail, ok, warn
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.spool.spool import DEFAULT_MIN_FREE_BYTES, Spool, SpoolError, SpoolLockedError

MIB = 1024**2


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _private_dir(name: str, path: Path, what: str) -> CheckResult:
    """A directory only its owner, the current user, may enter: absent is fine (made 0700)."""
    if not path.exists():
        return ok(name, f"{what} {path} does not exist yet (it is created with mode 0700)")
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        return fail(name, f"{what} {path} is not a directory", f"move {path} out of the way")
    if info.st_uid != os.getuid():
        return fail(
            name,
            f"{what} {path} belongs to uid {info.st_uid}, not this user ({os.getuid()})",
            f"sudo chown -R {os.getuid()} {path}",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return fail(
            name,
            f"{what} {path} has mode {mode:o}: other users can reach what is inside",
            f"chmod 700 {path}",
        )
    return ok(name, f"{what} {path} is private (mode {mode:o})")


def check_spool(config: AgentSettings, paths: AgentPaths) -> list[CheckResult]:
    root = config.spool_root(paths)
    results = []
    if not root.exists():
        parent = _nearest_existing(root.parent)
        if os.access(parent, os.W_OK | os.X_OK):
            results.append(ok("spool", f"spool {root} does not exist yet; it can be created"))
        else:
            results.append(
                fail(
                    "spool",
                    f"spool {root} does not exist and {parent} is not writable",
                    f"create {root} owned by this user with mode 0700, or set spool_dir",
                )
            )
    else:
        results.append(_private_dir("spool", root, "spool"))

    usage = shutil.disk_usage(_nearest_existing(root))
    free_mib, max_mib = usage.free // MIB, config.spool_max_mb
    if usage.free < DEFAULT_MIN_FREE_BYTES:
        results.append(
            fail(
                "disk-space",
                f"{free_mib} MiB free under {root}; the spool needs at least"
                f" {DEFAULT_MIN_FREE_BYTES // MIB} MiB and refuses new recordings below it",
                "free disk space, or move spool_dir to a larger disk",
            )
        )
    elif free_mib < max_mib:
        results.append(
            warn(
                "disk-space",
                f"{free_mib} MiB free under {root}, less than the spool may use"
                f" ({max_mib} MiB): recordings stop early when the disk fills",
                "free disk space, or lower spool_max_mb",
            )
        )
    else:
        results.append(ok("disk-space", f"{free_mib} MiB free under {root}"))

    if root.is_dir():
        results.append(_backlog(root, config.spool_max_mb))
    return results


def _backlog(root: Path, max_mb: int) -> CheckResult:
    """Open the spool as the agent would, unless the agent holds it.

    Opening recovers an unclean stop (and migrates an older manifest) exactly as the agent's
    own start would, so nothing is done that the agent would not do; it is the only way to
    read the backlog without depending on the manifest's internals.
    """
    try:
        spool = Spool(root, max_bytes=max(max_mb, 1) * MIB)
    except SpoolLockedError:
        return ok("spool-backlog", "the running agent holds the spool (its backlog is its own)")
    except (SpoolError, OSError) as exc:
        return fail(
            "spool-backlog",
            f"cannot open the spool: {exc}",
            "stop the agent and move the spool aside; the agent makes a new one",
        )
    with spool:
        status = spool.status()
        report = spool.recovery
    detail = f"{status.pending_segments} segments ({status.pending_bytes / MIB:.1f} MiB) waiting"
    if report.clean:
        return ok("spool-backlog", f"{detail} for the vault")
    recovered = ", ".join(
        f"{label}: {value}"
        for label, value in (
            ("partial files removed", report.removed_partial_files),
            ("segments adopted", report.adopted_segments),
            ("acknowledgements finished", report.finished_acknowledgements),
            ("files quarantined", len(report.quarantined_files)),
            ("segments missing", len(report.missing_segments)),
            ("recordings interrupted", len(report.interrupted_recordings)),
        )
        if value
    )
    return warn(
        "spool-backlog",
        f"{detail}; recovered after an unclean stop ({recovered})",
        f"nothing to do unless files were quarantined: keep {root / 'quarantine'} for IT",
    )


def check_permissions(paths: AgentPaths, policy_file: Path) -> list[CheckResult]:
    results = [
        _private_dir("config-dir", paths.config_dir, "config directory"),
        _private_dir("data-dir", paths.data_dir, "data directory"),
    ]
    key = paths.device_key_file
    if key.exists():
        mode = stat.S_IMODE(key.stat().st_mode)
        if mode & 0o077:
            results.append(
                fail(
                    "device-key",
                    f"device key {key} has mode {mode:o}: other users can read it",
                    f"chmod 600 {key}",
                )
            )
        else:
            results.append(ok("device-key", f"device key {key} has mode {mode:o}"))
    results.append(_policy_file(policy_file))
    return results


def _policy_file(path: Path) -> CheckResult:
    if not path.exists():
        return ok("policy-file", f"no managed policy file at {path}")
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    problems = []
    if info.st_uid != 0:
        problems.append(f"owned by uid {info.st_uid}, not root")
    if mode & 0o022:
        problems.append(f"writable by group or others (mode {mode:o})")
    if problems:
        return fail(
            "policy-file",
            f"managed policy {path} is {' and '.join(problems)}: a user could change what is"
            " recorded",
            f"sudo chown root:root {path} && sudo chmod 644 {path}",
        )
    return ok("policy-file", f"managed policy {path} is root-owned, mode {mode:o}")
