"""For the people who govern recordings: the release log with four-eyes authorisation, and the
access log with its chain verified against the signed checkpoints; both export as CSV and as
a signed JSON file (vault/signed_exports.py)."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.api.staff import AuditVerification
from vault import audit_checkpoints, audit_log, releases
from vault.api.auth import Context
from vault.audit_chain import AuditRecord
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.context import Actor, VaultContext, all_identities
from vault.roles import Permission, allowed
from vault.signed_exports import public_key_text, sign_export

AUDIT_PAGE_ROWS = 500
AUDIT_EXPORT_ROWS = 100_000

router = APIRouter()

_Filter = Annotated[str | None, Query(max_length=100)]


@router.get("/console/releases", include_in_schema=False)
def release_page(
    request: Request, actor: ConsoleActor, ctx: Context, requested: int = 0
) -> HTMLResponse:
    whole_log = allowed(actor.roles, Permission.RELEASE_LIST)
    found = releases.release_log(ctx, actor) if whole_log else releases.requested_by(ctx, actor)
    found.reverse()
    return page(
        request,
        "releases.html",
        actor,
        title="Releases" if whole_log else "Your release requests",
        releases=found,
        requested=requested,
    )


@router.post("/console/releases/{release_id}/authorise", include_in_schema=False)
def authorise(release_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    releases.authorise(ctx, actor, release_id)
    return RedirectResponse("/console/releases", status_code=303)


@router.get("/console/releases.json", include_in_schema=False)
def release_json(actor: ConsoleActor, ctx: Context) -> Response:
    found = releases.release_log(ctx, actor)
    content = _export_content(ctx, actor, "release-log", {})
    content["releases"] = [r.model_dump(mode="json") for r in found]
    return _signed(ctx, "release-log.json", content)


@router.get("/console/releases.csv", include_in_schema=False)
def release_csv(actor: ConsoleActor, ctx: Context) -> Response:
    rows = [
        [
            str(r.id), str(r.recording_id), r.recorded_at.isoformat(), r.purpose.value,
            r.requester, r.recipient, r.reason, r.requested_at.isoformat(), r.authoriser or "",
            r.authorised_at.isoformat() if r.authorised_at else "",
        ]
        for r in releases.release_log(ctx, actor)
    ]  # fmt: skip
    header = [
        "release", "recording", "recorded_at", "purpose", "requester", "recipient", "reason",
        "requested_at", "authoriser", "authorised_at",
    ]  # fmt: skip
    return _csv("releases.csv", header, rows)


def verification(ctx: VaultContext) -> AuditVerification:
    try:
        checkpoints = (
            []
            if ctx.audit_checkpoints is None
            else audit_checkpoints.read_file(ctx.audit_checkpoints, all_identities(ctx))
        )
    except audit_checkpoints.CheckpointFileError as exc:
        return AuditVerification(records=0, intact=False, head=None, problem=str(exc))
    count, broken, head = audit_log.verify(ctx.engine, None, checkpoints)
    return AuditVerification(
        records=count,
        intact=broken is None,
        head=head,
        problem=None if broken is None else broken.describe(),
    )


def _records(
    ctx: VaultContext, who: str | None, action: str | None, subject: str | None, limit: int
) -> list[AuditRecord]:
    with ctx.engine.connect() as connection:
        return audit_log.search_records(
            connection, actor=who, action=action, subject=subject, limit=limit
        )


@router.get("/console/audit", include_in_schema=False)
def audit_page(
    request: Request,
    actor: ConsoleActor,
    ctx: Context,
    *,
    who: _Filter = None,
    action: _Filter = None,
    subject: _Filter = None,
) -> HTMLResponse:
    actor.require(Permission.AUDIT_READ)
    filters = {k: v for k, v in {"who": who, "action": action, "subject": subject}.items() if v}
    return page(
        request,
        "audit.html",
        actor,
        title="Access log",
        records=_records(ctx, who, action, subject, AUDIT_PAGE_ROWS),
        most=AUDIT_PAGE_ROWS,
        filters=filters,
        verified=verification(ctx),
        checkpoints=ctx.audit_checkpoints is not None,
        signing_key=public_key_text(ctx.identity),
    )


@router.get("/console/audit.csv", include_in_schema=False)
def audit_csv(
    actor: ConsoleActor,
    ctx: Context,
    who: _Filter = None,
    action: _Filter = None,
    subject: _Filter = None,
) -> Response:
    actor.require(Permission.AUDIT_READ)
    records = _records(ctx, who, action, subject, AUDIT_EXPORT_ROWS)
    records.reverse()
    header = ["sequence", "at", "actor", "action", "subject", "details", "record_hash"]
    rows = [
        [
            str(r.sequence), r.at, r.actor, r.action, r.subject,
            "; ".join(f"{k}={v}" for k, v in sorted(r.details.items())), r.record_hash,
        ]
        for r in records
    ]  # fmt: skip
    return _csv("access-log.csv", header, rows)


@router.get("/console/audit.json", include_in_schema=False)
def audit_json(
    actor: ConsoleActor,
    ctx: Context,
    who: _Filter = None,
    action: _Filter = None,
    subject: _Filter = None,
) -> Response:
    actor.require(Permission.AUDIT_READ)
    records = _records(ctx, who, action, subject, AUDIT_EXPORT_ROWS)
    records.reverse()
    filters = {k: v for k, v in {"who": who, "action": action, "subject": subject}.items() if v}
    content = _export_content(ctx, actor, "access-log", filters)
    content["chain"] = verification(ctx).model_dump(mode="json")
    content["records"] = [dataclasses.asdict(r) for r in records]
    return _signed(ctx, "access-log.json", content)


def _export_content(
    ctx: VaultContext, actor: Actor, kind: str, filters: dict[str, str]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "exported_at": ctx.clock().isoformat(),
        "exported_by": actor.username,
        "filters": filters,
    }


def _signed(ctx: VaultContext, filename: str, content: dict[str, Any]) -> Response:
    return Response(
        sign_export(ctx.identity, content),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv(filename: str, header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    # A cell a spreadsheet would run as a formula is written as text (CSV injection).
    writer.writerows([[_inert(cell) for cell in row] for row in rows])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _inert(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
