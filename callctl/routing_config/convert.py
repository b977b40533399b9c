"""Stored routing documents ↔ the validated PBX model (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from callctl.routing_config.schemas import (
    AgentDoc,
    FlowDoc,
    FlowNodeDoc,
    HoursDoc,
    LineDoc,
    MembershipDoc,
    OutboundTrunkDoc,
    OverflowDoc,
    PauseReasonDoc,
    QueueDoc,
    RoutingDoc,
    SkillDoc,
    SurveyDoc,
)
from ivr.flow import Flow, FlowNode
from routing.model import (
    Agent,
    AmiUser,
    ConfigValueError,
    Line,
    Membership,
    Network,
    OpenHours,
    OutboundTrunk,
    Overflow,
    PauseReason,
    PbxModel,
    Queue,
    Skill,
    Survey,
    Trunk,
)
from routing.skills import AgentSkill, memberships_for


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the routing document does not hold: where Asterisk and its trunks are."""

    ami: AmiUser
    network: Network
    trunks: tuple[Trunk, ...]


class InvalidConfigError(Exception):
    """A document refused by the model: which item (``where``) and which field."""

    error_id = "config.invalid_value"

    def __init__(self, where: str, error: ConfigValueError) -> None:
        super().__init__(f"{where}: {error}")
        self.where = where
        self.field = error.field
        self.why = error.why


def _queue(doc: QueueDoc) -> Queue:
    overflow = None if doc.overflow is None else Overflow(doc.overflow.after_s, doc.overflow.skill)
    return Queue(
        name=doc.name,
        strategy=doc.strategy,
        ring_timeout_s=doc.ring_timeout_s,
        retry_s=doc.retry_s,
        service_level_s=doc.service_level_s,
        max_wait_s=doc.max_wait_s,
        skill=doc.skill,
        overflow=overflow,
        timeout_queue=doc.timeout_queue,
    )


def _survey(doc: SurveyDoc | None) -> Survey | None:
    if doc is None:
        return None
    return Survey(
        keys=tuple(doc.keys),
        satisfied_keys=tuple(doc.satisfied_keys),
        prompt=doc.prompt,
        invalid_sound=doc.invalid_sound,
        thanks_sound=doc.thanks_sound,
        timeout_s=doc.timeout_s,
        attempts=doc.attempts,
    )


def _survey_doc(survey: Survey | None) -> SurveyDoc | None:
    if survey is None:
        return None
    return SurveyDoc(
        keys=list(survey.keys),
        satisfied_keys=list(survey.satisfied_keys),
        prompt=survey.prompt,
        invalid_sound=survey.invalid_sound,
        thanks_sound=survey.thanks_sound,
        timeout_s=survey.timeout_s,
        attempts=survey.attempts,
    )


def _flow(doc: FlowDoc) -> Flow:
    nodes = []
    for n in doc.nodes:
        values = n.model_dump(exclude={"choices"})
        nodes.append(FlowNode(**values, choices=tuple(sorted(n.choices.items()))))
    return Flow(
        name=doc.name,
        start=doc.start,
        nodes=tuple(nodes),
        max_steps=doc.max_steps,
        on_limit=doc.on_limit,
        limit_prompt=doc.limit_prompt,
    )


def _flow_doc(flow: Flow) -> FlowDoc:
    nodes = []
    for node in flow.nodes:
        values = {
            name: getattr(node, name)
            for name in FlowNodeDoc.model_fields
            if name not in ("choices", "kind")
        }
        nodes.append(FlowNodeDoc(**values, kind=str(node.kind), choices=dict(node.choices)))
    return FlowDoc(
        name=flow.name,
        start=flow.start,
        nodes=nodes,
        max_steps=flow.max_steps,
        on_limit=flow.on_limit,
        limit_prompt=flow.limit_prompt,
    )


def _line(doc: LineDoc) -> Line:
    return Line(
        number=doc.number,
        name=doc.name,
        queue=doc.queue,
        acw=doc.acw,
        acw_max_s=doc.acw_max_s,
        timezone=doc.timezone,
        hours=tuple(OpenHours(tuple(h.days), h.start, h.end) for h in doc.hours),
        holidays=tuple(doc.holidays),
        after_hours_sound=doc.after_hours_sound,
        survey=_survey(doc.survey),
        flow=doc.flow,
        survey_required=doc.survey_required,
    )


def _agent(doc: AgentDoc, queues: tuple[Queue, ...]) -> Agent:
    derived = memberships_for(tuple(AgentSkill(s.skill, s.level) for s in doc.skills), queues)
    explicit = tuple(Membership(m.queue, m.penalty) for m in doc.memberships)
    chosen = {m.queue for m in explicit}
    return Agent(
        agent_id=doc.agent_id,
        name=doc.name,
        password=doc.password,
        memberships=explicit + tuple(m for m in derived if m.queue not in chosen),
        static_contact_ip=doc.static_contact_ip,
        static_contact_port=doc.static_contact_port,
        static_member=doc.static_member,
        home_node=doc.home_node,
    )


def outbound_trunk(doc: OutboundTrunkDoc | None) -> OutboundTrunk | None:
    if doc is None:
        return None
    return OutboundTrunk(**doc.model_dump())


def _outbound_doc(trunk: OutboundTrunk | None) -> OutboundTrunkDoc | None:
    if trunk is None:
        return None
    return OutboundTrunkDoc(
        **{name: getattr(trunk, name) for name in OutboundTrunkDoc.model_fields}
    )


def to_model(doc: RoutingDoc, deployment: Deployment) -> PbxModel:
    """Build and validate; a refused value raises InvalidConfigError naming item and field."""
    where = "config"
    try:
        skills = []
        for s in doc.skills:
            where = f"skills[{s.name}]"
            skills.append(Skill(s.name, s.label))
        queues = []
        for q in doc.queues:
            where = f"queues[{q.name}]"
            queues.append(_queue(q))
        lines = []
        for ln in doc.lines:
            where = f"lines[{ln.number}]"
            lines.append(_line(ln))
        agents = []
        for a in doc.agents:
            where = f"agents[{a.agent_id}]"
            agents.append(_agent(a, tuple(queues)))
        reasons = []
        for r in doc.pause_reasons:
            where = f"pause_reasons[{r.name}]"
            reasons.append(PauseReason(r.name, r.label_zh, r.label_en, r.code))
        flows = []
        for f in doc.flows:
            where = f"flows[{f.name}]"
            flows.append(_flow(f))
        where = "outbound_trunk"
        outbound = outbound_trunk(doc.outbound_trunk)
        where = "config"
        return PbxModel(
            ami=deployment.ami,
            network=deployment.network,
            trunks=deployment.trunks,
            skills=tuple(skills),
            queues=tuple(queues),
            lines=tuple(lines),
            agents=tuple(agents),
            pause_reasons=tuple(reasons),
            flows=tuple(flows),
            prompts=tuple(doc.prompts),
            outbound=outbound,
        )
    except ConfigValueError as exc:
        raise InvalidConfigError(where, exc) from exc


def from_model(model: PbxModel) -> RoutingDoc:
    """The document of a model (e.g. the lab's, the default before any change)."""
    return RoutingDoc(
        skills=[SkillDoc(name=s.name, label=s.label) for s in model.skills],
        queues=[
            QueueDoc(
                name=q.name,
                strategy=q.strategy,
                ring_timeout_s=q.ring_timeout_s,
                retry_s=q.retry_s,
                service_level_s=q.service_level_s,
                max_wait_s=q.max_wait_s,
                skill=q.skill,
                overflow=None
                if q.overflow is None
                else OverflowDoc(after_s=q.overflow.after_s, skill=q.overflow.skill),
                timeout_queue=q.timeout_queue,
            )
            for q in model.queues
        ],
        lines=[
            LineDoc(
                number=ln.number,
                name=ln.name,
                queue=ln.queue,
                acw=ln.acw,
                acw_max_s=ln.acw_max_s,
                timezone=ln.timezone,
                hours=[HoursDoc(days=list(h.days), start=h.start, end=h.end) for h in ln.hours],
                holidays=list(ln.holidays),
                after_hours_sound=ln.after_hours_sound,
                survey=_survey_doc(ln.survey),
                flow=ln.flow,
                survey_required=ln.survey_required,
            )
            for ln in model.lines
        ],
        agents=[
            AgentDoc(
                agent_id=a.agent_id,
                name=a.name,
                password=a.password,
                skills=[],
                memberships=[
                    MembershipDoc(queue=m.queue, penalty=m.penalty) for m in a.memberships
                ],
                static_contact_ip=a.static_contact_ip,
                static_contact_port=a.static_contact_port,
                static_member=a.static_member,
                home_node=a.home_node,
            )
            for a in model.agents
        ],
        pause_reasons=[
            PauseReasonDoc(name=r.name, label_zh=r.label_zh, label_en=r.label_en, code=r.code)
            for r in model.pause_reasons
        ],
        flows=[_flow_doc(f) for f in model.flows],
        prompts=list(model.prompts),
        outbound_trunk=_outbound_doc(model.outbound),
    )
