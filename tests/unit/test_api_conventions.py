"""Conventions every router of the app follows, checked over the whole OpenAPI schema
(a router added later is checked too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from callctl.app import create_app
from callctl.settings import Settings


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    app = create_app(Settings(api_docs=True), ingest=False, database_url="postgresql://unused")
    return app.openapi()


def _objects(schema: dict[str, Any], node: Any, seen: set[str]) -> Iterator[tuple[str, Any]]:
    """Every object schema reachable from ``node``, with where it is."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                target = schema["components"]["schemas"][name]
                yield name, target
                yield from _objects(schema, target, seen)
            return
        for value in node.values():
            yield from _objects(schema, value, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(schema, value, seen)


def test_every_request_body_refuses_unknown_fields(schema: dict[str, Any]) -> None:
    bodies = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            bodies += 1
            for name, model in _objects(schema, body, set()):
                if "properties" in model:
                    assert model.get("additionalProperties") is False, (method, path, name)
    assert bodies >= 10


def test_every_operation_declares_the_error_model(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("422", "500"):
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)
            if operation.get("security"):
                assert {"401", "403", "429"} <= responses.keys(), (method, path)


def test_every_integer_parameter_has_bounds(schema: dict[str, Any]) -> None:
    # An unbounded integer reaches asyncpg as an int64 overflow: a 500, not a 422.
    integers = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for option in [parameter["schema"], *parameter["schema"].get("anyOf", [])]:
                    if option.get("type") != "integer":
                        continue
                    integers += 1
                    where = (method, path, parameter["name"])
                    assert "maximum" in option or "exclusiveMaximum" in option, where
                    assert "minimum" in option or "exclusiveMinimum" in option, where
    assert integers >= 20
