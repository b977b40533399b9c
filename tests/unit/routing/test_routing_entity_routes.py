"""The routing CRUD routes come from one table (``ENTITIES``): each entity gets the same
PUT and DELETE, with its own body model, and the same upsert and removal."""

from __future__ import annotations

from typing import Any

import pytest

from callctl.api.errors import ApiError
from callctl.app import create_app
from callctl.routing_config.api import ENTITIES
from callctl.routing_config.schemas import RoutingDoc, SkillDoc
from callctl.settings import Settings


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    app = create_app(Settings(api_docs=True), ingest=False, database_url="postgresql://unused")
    schema: dict[str, Any] = app.openapi()["paths"]
    return schema


def test_every_entity_has_a_put_and_a_delete_with_its_own_body(paths: dict[str, Any]) -> None:
    assert {e.path for e in ENTITIES} >= {"skills", "queues", "lines", "agents", "flows"}
    for entity in ENTITIES:
        operations = paths[f"/api/v1/routing/{entity.path}/{{key}}"]
        assert set(operations) == {"put", "delete"}, entity.path
        body = operations["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].rsplit("/", 1)[1].startswith(entity.body.__name__), entity.path
        for method in ("put", "delete"):
            assert {"200", "401", "403", "404", "422"} <= operations[method]["responses"].keys()


def test_upsert_replaces_by_key_or_appends_and_remove_refuses_an_unknown_key() -> None:
    skills = next(e for e in ENTITIES if e.path == "skills")
    doc = RoutingDoc(skills=[SkillDoc(name="pension", label="养老")])
    doc = skills.upsert(doc, SkillDoc(name="pension", label="养老保险"))
    doc = skills.upsert(doc, SkillDoc(name="medical", label="医保"))
    assert [(s.name, s.label) for s in doc.skills] == [("pension", "养老保险"), ("medical", "医保")]
    doc = skills.remove(doc, "pension")
    assert [s.name for s in doc.skills] == ["medical"]
    with pytest.raises(ApiError) as missing:
        skills.remove(doc, "pension")
    assert missing.value.status == 404
    assert missing.value.error_id == "routing.skill_not_found"
