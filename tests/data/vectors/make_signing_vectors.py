"""Regenerate the published request-signing vectors (docs/signing.md):
`python -m tests.data.vectors.make_signing_vectors`.

Ed25519 signatures are deterministic, and every input here is fixed, so running it again
writes the same file. The device key is a TEST KEY, published on purpose: never enrol it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from protocol.signing import (
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    DeviceKey,
    canonical_message,
    sign_request,
)

HERE = Path(__file__).parent
OUT = HERE / "signing.json"
DEVICE_SEED = bytes(range(0x40, 0x60))
OTHER_SEED = bytes(range(0x60, 0x80))
DEVICE_ID = uuid.UUID("d1d1d1d1-0000-4000-8000-0000000000d1")
TIMESTAMP = 1796000000
NONCE = "00112233445566778899aabbccddeeff"


def _request(name: str, method: str, target: str, body: bytes) -> dict[str, Any]:
    key = DeviceKey.from_raw(DEVICE_SEED)
    headers = sign_request(key, DEVICE_ID, method, target, body, now=TIMESTAMP, nonce=NONCE)
    message = canonical_message(
        method, target, body, device_id=DEVICE_ID, timestamp=TIMESTAMP, nonce=NONCE
    )
    return {
        "name": name,
        "expect": "ok",
        "method": method,
        "path_and_query": target,
        "body_hex": body.hex(),
        "now": TIMESTAMP,
        "canonical_message": message.decode("ascii"),
        "headers": headers,
    }


def _refused(name: str, base: dict[str, Any], reason: str, **changes: Any) -> dict[str, Any]:
    vector = {**base, "name": name, "expect": reason, "headers": dict(base["headers"])}
    header_changes = changes.pop("headers", {})
    for header, value in header_changes.items():
        if value is None:
            del vector["headers"][header]
        else:
            vector["headers"][header] = value
    vector.update(changes)
    vector.pop("canonical_message")
    return vector


def main() -> None:
    key = DeviceKey.from_raw(DEVICE_SEED)
    other = DeviceKey.from_raw(OTHER_SEED)
    upload = _request(
        "ok-segment-upload",
        "PUT",
        "/api/v1/agent/segments/" + "ab" * 32,
        b"\x89CRSEG\r\n sealed bytes",
    )
    sessions = _request("ok-get-with-query", "GET", "/api/v1/agent/sessions?since=5&x=%20y", b"")
    heartbeat = _request(
        "ok-json-body",
        "POST",
        "/api/v1/agent/heartbeat",
        b'{"agent_version":"0.1.0","backlog_segments":0,"backlog_bytes":0}',
    )
    other_signature = sign_request(
        other, DEVICE_ID, "PUT", upload["path_and_query"], bytes.fromhex(upload["body_hex"]),
        now=TIMESTAMP, nonce=NONCE,
    )[HEADER_SIGNATURE]  # fmt: skip
    signature = upload["headers"][HEADER_SIGNATURE]
    vectors = [
        upload,
        sessions,
        heartbeat,
        _refused("body-changed", upload, "bad_signature", body_hex=b"other bytes".hex()),
        _refused(
            "target-changed",
            upload,
            "bad_signature",
            path_and_query="/api/v1/agent/segments/" + "cd" * 32,
        ),
        _refused("method-changed", upload, "bad_signature", method="POST"),
        _refused(
            "signed-by-another-key",
            upload,
            "bad_signature",
            headers={HEADER_SIGNATURE: other_signature},
        ),
        _refused("stale", upload, "stale", now=TIMESTAMP + 301),
        _refused("from-the-future", upload, "stale", now=TIMESTAMP - 301),
        _refused("nonce-missing", upload, "missing_header", headers={HEADER_NONCE: None}),
        _refused("nonce-upper-case", upload, "malformed", headers={HEADER_NONCE: NONCE.upper()}),
        _refused(
            "device-not-canonical",
            upload,
            "malformed",
            headers={HEADER_DEVICE: str(DEVICE_ID).upper()},
        ),
        _refused(
            "timestamp-leading-zero",
            upload,
            "malformed",
            headers={HEADER_TIMESTAMP: "0" + str(TIMESTAMP)},
        ),
        _refused(
            "signature-padded",
            upload,
            "malformed",
            headers={HEADER_SIGNATURE: signature + "=="},
        ),
    ]
    document = {
        "spec": "docs/signing.md",
        "device_key": key.to_text(),
        "device_public_key": key.public_text(),
        "device_id": str(DEVICE_ID),
        "max_skew_seconds": 300,
        "vectors": vectors,
    }
    OUT.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
