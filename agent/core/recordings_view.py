"""The agent's own recordings as its window lists them, with who accessed each (R14, R20)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agent.core.vault_sessions import VaultSessions
from agent.core.view import AccessShown, RecordingShown
from agent.spool.spool import RecordingState, Spool, SpooledRecording, VaultState


def describe_recording(recording: SpooledRecording) -> str:
    """Where a recording of this machine stands, for the agent's window."""
    attention = recording.attention
    if attention is not None:
        return attention
    if recording.state is RecordingState.DISCARDED:
        return "discarded: nothing of the call was kept"
    if recording.state is RecordingState.RECORDING:
        return "recording"
    ended = "interrupted" if recording.state is RecordingState.INTERRUPTED else "complete"
    if recording.vault_state is VaultState.ENDED:
        return f"uploaded ({ended})"
    return f"{ended}, {recording.pending_segments} segments waiting to upload"


def recordings_shown(
    spool: Spool, vault: VaultSessions | None, on_problem: Callable[[str], None]
) -> list[RecordingShown]:
    """The spool's recordings, newest first, with the vault's access history where it
    answers (the list still shows what is local when it does not)."""
    accesses: dict[str, list[AccessShown]] = {}
    if vault is not None:
        try:
            for entry in vault.access_history():
                accesses.setdefault(entry.recording_id, []).append(
                    AccessShown(
                        entry.at.isoformat(timespec="seconds"),
                        entry.who,
                        entry.action,
                        entry.purpose or "",
                    )
                )
        except Exception as exc:  # noqa: BLE001 - the list still shows what is local
            on_problem(f"could not fetch who accessed your recordings: {exc}")
    return [
        RecordingShown(
            recording_id=recording.recording_id,
            started_at=(
                ""
                if recording.started_at is None
                else datetime.fromtimestamp(recording.started_at).isoformat(timespec="seconds")
            ),
            state=describe_recording(recording),
            accesses=tuple(accesses.get(str(recording.recording_id), ())),
        )
        for recording in spool.list_recordings()
    ]
