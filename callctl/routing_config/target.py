"""The Asterisk a routing change is applied to: today the lab's (one node)."""

from __future__ import annotations

from callctl.lab import asterisk
from callctl.lab.lab import asterisk_paths, lab_pbx_model
from callctl.lab.state import LabState
from callctl.routing_config.apply import ApplyTarget
from callctl.routing_config.convert import Deployment
from callctl.runtime import NoAmiNodeError, lab_nodes
from callctl.settings import Settings
from routing.model import PbxModel


def _state(settings: Settings) -> LabState:
    state = LabState.load(settings.lab_dir)
    if state is None:
        raise NoAmiNodeError("no Asterisk configured: run `callctl lab up` first")
    return state


def default_model(settings: Settings) -> PbxModel:
    """The lab's model: the routing config before the first change."""
    return lab_pbx_model(settings, _state(settings))


def deployment(settings: Settings) -> Deployment:
    model = default_model(settings)
    return Deployment(ami=model.ami, network=model.network, trunks=model.trunks)


def lab_target(settings: Settings) -> ApplyTarget:
    return ApplyTarget(
        config_dir=settings.asterisk_config_dir,
        etc_dir=asterisk_paths(settings).etc,
        etc_in_asterisk=asterisk.ETC_IN_ROOTFS,
        node=lab_nodes(settings)[0],
    )
