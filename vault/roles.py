"""Who may do what (R13): the one role table. `docs/roles.md` shows the same table, and a test
checks the two agree and that the API enforces every cell."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping


class Role(enum.StrEnum):
    AGENT = "agent"
    TRAINER = "trainer"
    REVIEWER = "reviewer"
    AUTHORISER = "authoriser"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


class Permission(enum.StrEnum):
    SESSION_START = "session.start"
    SESSION_LIST = "session.list"
    SESSION_END = "session.end"
    RECORDING_LIST = "recording.list"
    RECORDING_PLAY = "recording.play"
    RECORDING_DOWNLOAD = "recording.download"
    RECORDING_DELETE = "recording.delete"
    LEGAL_HOLD = "recording.legal-hold"
    RELEASE_REQUEST = "release.request"
    RELEASE_AUTHORISE = "release.authorise"
    RELEASE_LIST = "release.list"
    RETENTION_RUN = "retention.run"
    SUBJECT_ACCESS_EXPORT = "subject-access.export"
    USER_MANAGE = "user.manage"
    DEVICE_MANAGE = "device.manage"
    HEALTH_VIEW = "health.view"
    AUDIT_READ = "audit.read"
    OWN_ACCESS_VIEW = "own-access.view"


_A, _T, _R = Role.AGENT, Role.TRAINER, Role.REVIEWER
_Z, _M, _U = Role.AUTHORISER, Role.ADMINISTRATOR, Role.AUDITOR

ROLE_TABLE: Mapping[Permission, frozenset[Role]] = {
    Permission.SESSION_START: frozenset({_T}),
    Permission.SESSION_LIST: frozenset({_T, _M}),
    Permission.SESSION_END: frozenset({_T, _M}),
    Permission.RECORDING_LIST: frozenset({_T, _R, _Z, _M, _U}),
    Permission.RECORDING_PLAY: frozenset({_T, _R}),
    Permission.RECORDING_DOWNLOAD: frozenset({_R}),
    Permission.RECORDING_DELETE: frozenset({_M}),
    Permission.LEGAL_HOLD: frozenset({_M}),
    Permission.RELEASE_REQUEST: frozenset({_T, _R}),
    Permission.RELEASE_AUTHORISE: frozenset({_Z}),
    Permission.RELEASE_LIST: frozenset({_Z, _M, _U}),
    Permission.RETENTION_RUN: frozenset({_M}),
    Permission.SUBJECT_ACCESS_EXPORT: frozenset({_M}),
    Permission.USER_MANAGE: frozenset({_M}),
    Permission.DEVICE_MANAGE: frozenset({_M}),
    Permission.HEALTH_VIEW: frozenset({_M, _U}),
    Permission.AUDIT_READ: frozenset({_U}),
    Permission.OWN_ACCESS_VIEW: frozenset({_A}),
}

PERMISSION_HELP: Mapping[Permission, str] = {
    Permission.SESSION_START: "start a training session for an agent or team",
    Permission.SESSION_LIST: "list training sessions",
    Permission.SESSION_END: "end a training session early",
    Permission.RECORDING_LIST: "list recordings and their metadata (no media)",
    Permission.RECORDING_PLAY: "play a recording in the browser (logged)",
    Permission.RECORDING_DOWNLOAD: "download a recording's media (logged)",
    Permission.RECORDING_DELETE: "delete a recording before its time (crypto-shred, logged)",
    Permission.LEGAL_HOLD: "place or lift a legal hold",
    Permission.RELEASE_REQUEST: "request a release outside the service area",
    Permission.RELEASE_AUTHORISE: "authorise someone else's release request",
    Permission.RELEASE_LIST: "read the release log",
    Permission.RETENTION_RUN: "run retention (crypto-shred expired recordings)",
    Permission.SUBJECT_ACCESS_EXPORT: "export everything held about one agent (R19)",
    Permission.USER_MANAGE: "add users, set roles, issue command-line tokens",
    Permission.DEVICE_MANAGE: "issue enrolment tokens, revoke devices",
    Permission.HEALTH_VIEW: "see which agents are silent or falling behind",
    Permission.AUDIT_READ: "read and verify the access log",
    Permission.OWN_ACCESS_VIEW: "see who accessed one's own recordings",
}


def allowed(roles: Iterable[Role], permission: Permission) -> bool:
    return not ROLE_TABLE[permission].isdisjoint(roles)


def render_markdown_table() -> str:
    """The role table as `docs/roles.md` shows it."""
    roles = list(Role)
    lines = [
        "| permission | what it allows | " + " | ".join(r.value for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = " | ".join("yes" if r in ROLE_TABLE[permission] else "" for r in roles)
        lines.append(f"| `{permission.value}` | {PERMISSION_HELP[permission]} | {marks} |")
    return "\n".join(lines) + "\n"
