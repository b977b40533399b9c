"""The routing model: injection refused with the field named; overflow, hours, skills."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from callctl.lab.sample_model import sample_model
from routing.model import (
    Agent,
    AmiUser,
    ConfigValueError,
    Line,
    OpenHours,
    Overflow,
    PauseReason,
    PbxModel,
    Queue,
    Skill,
)
from routing.render import render
from routing.skills import AgentSkill, memberships_for

CONFIG_DIR = Path(__file__).resolve().parents[3] / "callctl" / "asterisk-config"
SECRET = "s3cret-generated-0123456789"
BAD_VALUES = [
    "evil\nname",
    "evil\rname",
    "x;comment",
    "[section]",
    "x#include",
    "${SHELL}",
    "nul\x00byte",
    "bell\x07",
    "del\x7f",
    "tab\tname",
    "",
]
# field name → a builder that puts the value there
BUILDERS: dict[str, Callable[[str], object]] = {
    "line.name": lambda v: Line(number="12345", name=v, queue="q"),
    "line.number": lambda v: Line(number=v, name="x", queue="q"),
    "line.queue": lambda v: Line(number="12345", name="x", queue=v),
    "line.timezone": lambda v: Line(number="12345", name="x", queue="q", timezone=v),
    "line.after_hours_sound": lambda v: Line("12345", "x", "q", after_hours_sound=v),
    "line.hours.start": lambda v: OpenHours(days=("mon",), start=v, end="23:00"),
    "agent.name": lambda v: Agent(agent_id="1001", name=v, password=SECRET),
    "agent.agent_id": lambda v: Agent(agent_id=v, name="x", password=SECRET),
    "agent.password": lambda v: Agent(agent_id="1001", name="x", password=v + SECRET if v else v),
    "skill.name": lambda v: Skill(name=v, label="x"),
    "skill.label": lambda v: Skill(name="x", label=v),
    "queue.name": lambda v: Queue(name=v),
    "queue.skill": lambda v: Queue(name="q", skill=v),
    "queue.overflow.skill": lambda v: Overflow(after_s=30, skill=v),
    "pause_reason.name": lambda v: PauseReason(name=v, label_zh="x", label_en="x", code=1),
    "pause_reason.label_zh": lambda v: PauseReason("brk", label_zh=v, label_en="x", code=1),
    "pause_reason.label_en": lambda v: PauseReason("brk", label_zh="x", label_en=v, code=1),
}


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("field_name", sorted(BUILDERS))
def test_unsafe_value_refused_with_field_named(field_name: str, bad: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        BUILDERS[field_name](bad)
    assert err.value.field == field_name


def test_chinese_labels_accepted() -> None:
    assert Skill("hrss", "人社").label == "人社"
    assert PauseReason("rest", "小休", "Break", 4).label_zh == "小休"
    assert Line("12333", "12333 人社服务热线", "q").name.startswith("12333")


def test_acw_is_reserved_and_codes_unique() -> None:
    with pytest.raises(ConfigValueError) as err:
        PauseReason("acw", "话后", "ACW", 5)
    assert err.value.field == "pause_reason.name"
    with pytest.raises(ConfigValueError) as err:
        PbxModel(
            ami=AmiUser("callctl", SECRET),
            pause_reasons=(PauseReason("a", "x", "x", 1), PauseReason("b", "y", "y", 1)),
        )
    assert err.value.field == "pause_reason.code"


def test_hours_and_holidays_checked() -> None:
    with pytest.raises(ConfigValueError) as err:
        OpenHours(days=("monday",), start="08:00", end="09:00")
    assert err.value.field == "line.hours.days"
    with pytest.raises(ConfigValueError) as err:
        OpenHours(days=("mon",), start="18:00", end="09:00")
    assert err.value.field == "line.hours.end"
    with pytest.raises(ConfigValueError) as err:
        Line("12345", "x", "q", holidays=(dt.date(2026, 1, 1), dt.date(2026, 1, 1)))
    assert err.value.field == "line.holidays"


def test_unknown_skill_and_timeout_loop_refused() -> None:
    ami = AmiUser("callctl", SECRET)
    with pytest.raises(ConfigValueError) as err:
        PbxModel(ami=ami, queues=(Queue("q", skill="nope"),))
    assert err.value.field == "queue.skill"
    with pytest.raises(ConfigValueError) as err:
        PbxModel(ami=ami, queues=(Queue("a", timeout_queue="b"), Queue("b", timeout_queue="a")))
    assert err.value.field == "queue.timeout_queue"


def test_skills_give_penalty_bands() -> None:
    queues = (
        Queue("general-q", skill="general"),
        Queue("expert-q", skill="hrss", overflow=Overflow(30, "general")),
    )
    expert = memberships_for((AgentSkill("hrss", 10), AgentSkill("general", 6)), queues)
    general = memberships_for((AgentSkill("general", 5),), queues)
    assert [(m.queue, m.penalty) for m in expert] == [("general-q", 4), ("expert-q", 0)]
    assert [(m.queue, m.penalty) for m in general] == [("general-q", 5), ("expert-q", 15)]


def test_overflow_rendered_as_penalty_widening() -> None:
    files = render(sample_model(SECRET), CONFIG_DIR)
    assert "[callctl-overflow-hrss-expert]\npenaltychange => 30,19\n" in files["queuerules.conf"]
    ext = files["extensions.conf"]
    context = ext[ext.index("[callctl-queue-hrss-expert]") :]
    assert "Set(QUEUE_MAX_PENALTY=9)" in context.split("\n\n")[0]
    assert "callctl-agent-connected,callctl-overflow-hrss-expert)" in context


def test_dynamic_members_not_in_queues_conf_but_in_login() -> None:
    files = render(sample_model(SECRET), CONFIG_DIR)
    assert "member =>" not in files["queues.conf"]
    assert "persistentmembers = yes" in files["queues.conf"]
    assert "AddQueueMember(hrss-expert,PJSIP/2001,0,,2001,PJSIP/2001)" in files["extensions.conf"]


def test_hours_use_line_time_zone_and_holidays() -> None:
    ext = render(sample_model(SECRET), CONFIG_DIR)["extensions.conf"]
    assert "GotoIfTime(08:30-17:30,mon&tue&wed&thu&fri,*,*,Asia/Shanghai?open)" in ext
    assert '"${CALLCTL_TODAY}" = "2026-10-01"]?closed' in ext
    assert "STRFTIME(${EPOCH},Asia/Shanghai,%Y-%m-%d)" in ext


def test_feature_codes_one_per_pause_reason() -> None:
    ext = render(sample_model(SECRET), CONFIG_DIR)["extensions.conf"]
    codes = re.findall(r"(?m)^exten => (\*2\d+),1,", ext)
    assert codes == ["*21", "*22", "*231", "*232", "*233", "*24", "*25"]
