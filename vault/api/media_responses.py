"""Answers that carry a recording's bytes: the whole joined file (a download, a release, an API
client's playback) with byte ranges, and what it says about the recording's completeness."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from vault.access import Media
from vault.api.ranges import RangeNotSatisfiable, parse_range


class Binary(Response):
    """Media and archives: bytes, never JSON (the route names its real content types)."""

    media_type = "application/octet-stream"


BINARY_SCHEMA = {"schema": {"type": "string", "format": "binary"}}
RECORDING_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the recording, joined: MP4 (H.264 + Opus) or WebM (VP9 + Opus);"
        " byte ranges are served for seeking",
        "content": {"video/mp4": BINARY_SCHEMA, "video/webm": BINARY_SCHEMA},
    }
}


COMPLETE_HEADER = "Callreel-Recording-Complete"
MISSING_HEADER = "Callreel-Missing-Segments"


def media_response(media: Media, range_header: str | None, *, attachment: bool) -> Response:
    size = len(media.data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    whole = media.completeness
    if whole is not None:
        # Said on every answer that carries media, so that a saved file's provenance can too.
        headers[COMPLETE_HEADER] = "true" if whole.complete else "false"
        if not whole.complete:
            headers[MISSING_HEADER] = whole.describe()[:500]
    if attachment:
        headers["Content-Disposition"] = (
            f'attachment; filename="{media.recording_id}.{media.extension}"'
        )
    try:
        wanted = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if wanted is None:
        return Response(media.data, media_type=media.content_type, headers=headers)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(
        media.data[first : last + 1],
        status_code=206,
        media_type=media.content_type,
        headers=headers,
    )
