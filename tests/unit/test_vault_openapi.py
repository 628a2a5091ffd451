"""The vault's OpenAPI description names every JSON body: each request and response that
carries JSON refers to a component schema, and no component is a free-form object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vault.api.app import create_app
from vault.server import locations, open_vault


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ctx = open_vault(locations(tmp_path_factory.mktemp("vault")))
    try:
        described: dict[str, Any] = create_app(ctx).openapi()
    finally:
        ctx.engine.dispose()
    return described


def json_bodies(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) for every JSON request and response body of every route."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            request = operation.get("requestBody", {}).get("content", {})
            for content_type, body in request.items():
                if "json" in content_type:
                    yield f"{method.upper()} {path} request", body["schema"]
            for status, response in operation["responses"].items():
                for content_type, body in response.get("content", {}).items():
                    if "json" in content_type:
                        yield f"{method.upper()} {path} {status}", body["schema"]


def open_objects(schema: object, where: str) -> Iterator[str]:
    """Every object schema inside `schema` that does not close its properties."""
    if isinstance(schema, dict):
        is_object = schema.get("type") == "object" or "properties" in schema
        if is_object and schema.get("additionalProperties") is not False:
            yield where
        for key, value in schema.items():
            yield from open_objects(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from open_objects(value, f"{where}[{index}]")


def test_every_json_body_is_a_named_component(spec: dict[str, Any]) -> None:
    bodies = list(json_bodies(spec))
    assert len(bodies) > 60  # every route, with its refusals
    unnamed = [where for where, schema in bodies if set(schema) != {"$ref"}]
    assert unnamed == []
    components = spec["components"]["schemas"]
    for where, schema in bodies:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        assert name in components, where


def test_no_component_is_a_free_form_object(spec: dict[str, Any]) -> None:
    found = [
        place
        for name, schema in spec["components"]["schemas"].items()
        for place in open_objects(schema, name)
    ]
    assert found == []


def test_the_walk_finds_a_free_form_object() -> None:
    free_form = {"type": "object", "properties": {"a": {"type": "object"}}}
    assert list(open_objects(free_form, "x")) == ["x", "x/properties/a"]


def test_the_agent_and_media_routes_are_described(spec: dict[str, Any]) -> None:
    sessions = spec["paths"]["/api/v1/agent/sessions"]["get"]["responses"]["200"]
    assert sessions["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrainingSessionList"
    }
    download = spec["paths"]["/api/v1/recordings/{recording_id}/download"]["get"]
    assert {"video/mp4", "video/webm"} <= set(download["responses"]["200"]["content"])
