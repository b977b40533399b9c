"""Routing config through REST, applied to the real Asterisk: refused, accepted, rolled back.

Every test leaves the lab's own config in force (teardown re-applies it), so other
tests still find queue ``hotline``, line 12345 and agents 1001-1020.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ami import actions
from ami.events import QueueParams
from callctl.auth.roles import Role
from callctl.lab.sample_model import sample_model
from callctl.routing_config.apply import (
    RELOAD_MODULES,
    ami_session,
    apply_model,
    read_set,
)
from callctl.routing_config.convert import from_model
from callctl.routing_config.service import RoutingService
from callctl.routing_config.target import NodeTarget, default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def lab_config_restored(
    lab: Settings, api_app: FastAPI, api_client: httpx.AsyncClient, make_token: object
) -> AsyncIterator[Settings]:
    """After the test, the lab's own config is in force again, in Asterisk and the API."""
    assert callable(make_token)
    token = await make_token(Role.ADMIN)
    yield lab
    api_app.state.routing = RoutingService(api_app.state.db, lab)
    doc = from_model(default_model(lab)).model_dump(mode="json")
    r = await api_client.put("/api/v1/routing/config", json=doc, headers=bearer(token))
    if r.status_code != 200:  # still leave the lab as other tests expect it
        await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
    assert r.status_code == 200, r.text


async def running_strategy(lab: Settings, queue: str) -> str | None:
    async with ami_session(node_targets(lab)[0].apply.node) as conn:
        result = await conn.action(actions.queue_status(queue))
    params = [e for e in result.events if isinstance(e, QueueParams)]
    return params[0].strategy if params else None


@pytest.mark.parametrize("bad_name", ["Evil\n[trunk]", "x;type=endpoint", "${SHELL}", "a#b"])
async def test_malicious_agent_name_is_422_and_running_config_untouched(
    lab_config_restored: Settings,
    api_client: httpx.AsyncClient,
    make_token: object,
    bad_name: str,
) -> None:
    assert callable(make_token)
    token = await make_token(Role.OPS)
    etc = node_targets(lab_config_restored)[0].apply.etc_dir
    before = read_set(etc)
    body = {"agent_id": "1001", "name": bad_name, "password": "a-good-password-123"}
    r = await api_client.put("/api/v1/routing/agents/1001", json=body, headers=bearer(token))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["id"] == "config.invalid_value"
    assert error["detail"]["field"] == "agent.name"
    assert read_set(etc) == before


async def test_a_line_that_requires_the_survey_is_422_without_one_and_config_untouched(
    lab_config_restored: Settings, api_client: httpx.AsyncClient, make_token: object
) -> None:
    """``survey_required`` (the line's assessment scores 满意率) with ``survey: null``."""
    assert callable(make_token)
    token = await make_token(Role.OPS)
    etc = node_targets(lab_config_restored)[0].apply.etc_dir
    before = read_set(etc)
    body = {"number": "12346", "name": "12346 测评线", "queue": "hotline", "survey": None,
            "survey_required": True}  # fmt: skip
    r = await api_client.put("/api/v1/routing/lines/12346", json=body, headers=bearer(token))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["id"] == "config.invalid_value"
    assert (error["detail"]["where"], error["detail"]["field"]) == ("lines[12346]", "line.survey")
    assert "满意度测评须开启" in error["message"] and "the survey must be on" in error["message"]
    assert read_set(etc) == before


async def test_agent_role_may_not_change_routing(
    lab_config_restored: Settings, api_client: httpx.AsyncClient, make_token: object
) -> None:
    assert callable(make_token)
    token = await make_token(Role.AGENT, agent_id="1001")
    body = {"name": "x", "label": "技能"}
    r = await api_client.put("/api/v1/routing/skills/x", json=body, headers=bearer(token))
    assert r.status_code == 403


def failing_reload_target(settings: Settings) -> list[NodeTarget]:
    """The lab, plus one module Asterisk cannot reload: a reload failure on demand."""
    target = node_targets(settings)[0]
    apply = dataclasses.replace(
        target.apply, reload_modules=(*RELOAD_MODULES, "res_callctl_missing.so")
    )
    return [dataclasses.replace(target, apply=apply)]


async def test_sample_model_applied_then_failed_reload_is_rolled_back(
    lab_config_restored: Settings,
    api_app: FastAPI,
    api_client: httpx.AsyncClient,
    make_token: object,
) -> None:
    assert callable(make_token)
    lab = lab_config_restored
    token = await make_token(Role.OPS)
    doc = from_model(sample_model("unused-secret-0123456789"))
    r = await api_client.put(
        "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert await running_strategy(lab, "hrss-expert") == "rrmemory"
    r = await api_client.get("/api/v1/routing/config", headers=bearer(token))
    assert [q["name"] for q in r.json()["queues"]] == [
        "general-12345",
        "hrss-expert",
        "health-12320",
    ]
    assert all("password" not in a for a in r.json()["agents"])

    # The new files reach Asterisk (pjsip, queues and dialplan reload) but one module
    # fails to reload: everything goes back to the previous config.
    api_app.state.routing = RoutingService(api_app.state.db, lab, targets=failing_reload_target)
    etc = node_targets(lab)[0].apply.etc_dir
    before = read_set(etc)
    queue = {**doc.queues[1].model_dump(mode="json"), "strategy": "linear"}
    r = await api_client.put(
        "/api/v1/routing/queues/hrss-expert", json=queue, headers=bearer(token)
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["id"] == "config.rejected_by_asterisk"
    assert any("res_callctl_missing.so" in p for p in error["detail"]["problems"])
    assert error["detail"]["previous_config_problems"] == []
    assert read_set(etc) == before
    assert await running_strategy(lab, "hrss-expert") == "rrmemory"

    r = await api_client.get("/api/v1/routing/versions", headers=bearer(token))
    statuses = [v["status"] for v in r.json()]
    assert statuses[:2] == ["rejected", "applied"]
    r = await api_client.get("/api/v1/routing/config", headers=bearer(token))
    assert r.json()["queues"][1]["strategy"] == "rrmemory"


def two_nodes_second_refusing(settings: Settings, second_etc: Path) -> list[NodeTarget]:
    """Node "lab" as configured, then a second node that refuses every change (one
    module it cannot reload). Both are the one lab Asterisk over AMI; the second writes
    into a directory of its own, so only the first node's files reach Asterisk."""
    first = node_targets(settings)[0]
    second_apply = dataclasses.replace(
        first.apply,
        etc_dir=second_etc,
        node=dataclasses.replace(first.apply.node, node_id="second"),
        reload_modules=(*RELOAD_MODULES, "res_callctl_missing.so"),
    )
    return [first, dataclasses.replace(first, apply=second_apply)]


async def test_a_change_one_node_refuses_is_rolled_back_on_every_node(
    lab_config_restored: Settings,
    api_app: FastAPI,
    api_client: httpx.AsyncClient,
    make_token: object,
    tmp_path: Path,
) -> None:
    assert callable(make_token)
    lab = lab_config_restored
    token = await make_token(Role.OPS)
    doc = from_model(sample_model("unused-secret-0123456789"))
    r = await api_client.put(
        "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert await running_strategy(lab, "hrss-expert") == "rrmemory"

    second_etc = tmp_path / "second-etc"
    api_app.state.routing = RoutingService(
        api_app.state.db, lab, targets=lambda s: two_nodes_second_refusing(s, second_etc)
    )
    first_etc = node_targets(lab)[0].apply.etc_dir
    before = read_set(first_etc)
    queue = {**doc.queues[1].model_dump(mode="json"), "strategy": "linear"}
    r = await api_client.put(
        "/api/v1/routing/queues/hrss-expert", json=queue, headers=bearer(token)
    )
    assert r.status_code == 409, r.text
    detail = r.json()["error"]["detail"]
    assert detail["node"] == "second"
    assert detail["rolled_back_nodes"] == ["lab", "second"]
    assert any("res_callctl_missing.so" in p for p in detail["problems"])
    # The first node had taken the change (its files, Asterisk's reload); it is undone.
    assert detail["previous_config_problems"] == []
    assert read_set(first_etc) == before
    assert read_set(second_etc) == {}
    assert await running_strategy(lab, "hrss-expert") == "rrmemory"
    r = await api_client.get("/api/v1/routing/versions", headers=bearer(token))
    assert [v["status"] for v in r.json()][:2] == ["rejected", "applied"]
