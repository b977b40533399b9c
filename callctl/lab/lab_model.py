"""The lab's PBX: the 12345 line (and 12346, with the survey), one queue, agents answered
by a SIPp UAS."""

from __future__ import annotations

from routing.model import (
    Agent,
    AmiUser,
    Line,
    Membership,
    Network,
    PbxModel,
    Queue,
    Survey,
    Trunk,
)

LAB_QUEUE = "hotline"
LAB_LINE = "12345"
LAB_SURVEY_LINE = "12346"
"""The same queue behind a line with the post-call survey on (the survey tests)."""
FIRST_AGENT = 1001


def lab_agent_password(agent_id: str, secret: str) -> str:
    """A per-agent digest password derived from the lab's generated secret."""
    return f"{agent_id}-{secret[:16]}"


def lab_model(
    ami_secret: str,
    *,
    agents: int = 20,
    trunk_ip: str = "127.0.0.2",
    agents_ip: str = "127.0.0.3",
    network: Network | None = None,
    max_wait_s: int = 20,
    acw: bool = False,
) -> PbxModel:
    ids = [str(FIRST_AGENT + i) for i in range(agents)]
    return PbxModel(
        ami=AmiUser(username="callctl", secret=ami_secret),
        network=network or Network(),
        trunks=(Trunk(name="trunk", match_ip=trunk_ip),),
        queues=(Queue(name=LAB_QUEUE, max_wait_s=max_wait_s),),
        lines=(
            Line(number=LAB_LINE, name="12345 热线", queue=LAB_QUEUE, acw=acw),
            Line(
                number=LAB_SURVEY_LINE,
                name="12346 测评线",
                queue=LAB_QUEUE,
                acw=acw,
                survey=Survey(timeout_s=4),
            ),
        ),
        agents=tuple(
            Agent(
                agent_id=aid,
                name=f"Agent {aid}",
                password=lab_agent_password(aid, ami_secret),
                memberships=(Membership(queue=LAB_QUEUE),),
                static_contact_ip=agents_ip,
                static_member=True,
            )
            for aid in ids
        ),
    )
