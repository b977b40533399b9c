"""The Asterisk nodes callctl drives: read from one TOML file (``CALLCTL_NODES_FILE``).

One ``[[node]]`` table per node, and the trunks every node accepts calls from::

    [[node]]
    id = "a"
    ami_host = "10.0.0.11"
    ami_port = 5039                  # default 5038, or 5039 with [node.tls]
    ami_user = "callctl"             # default "callctl"
    secret_file = "/run/secrets/ami_a"   # or secret_env = "AMI_SECRET_A" (exactly one)
    queue_log = { mode = "shipped" } # or { mode = "file", path = "/var/log/asterisk/queue_log" }
    config_dir = "/srv/asterisk-a/etc"   # where callctl writes this node's config (optional)
    config_dir_in_asterisk = "/etc/asterisk"
    recordings_dir = "/srv/asterisk-a/spool/monitor/callctl"  # its MixMonitor files (optional)
    sip_host = "10.0.0.11"           # what the rendered config binds (IPv4), default 127.0.0.1
    sip_port = 5060
    ami_bind = "0.0.0.0"             # default: ami_host when it is an IPv4 address
    ami_permit = "10.0.0.5"          # the address callctl logs in from, default 127.0.0.1
    [node.tls]                       # AMI over TLS (manager.conf tlsenable) on ami_port
    ca_file = "/etc/callctl/ami-ca.pem"  # default: the system's CAs
    verify = true                    # default true
    server_hostname = "asterisk-a"   # default: ami_host
    # With config_dir (callctl renders the node's manager.conf), as Asterisk reads them:
    cert_file_in_asterisk = "/etc/asterisk/keys/ami.crt"
    key_file_in_asterisk = "/etc/asterisk/keys/ami.key"
    plain_ami_port = 5038            # the plain listener kept beside TLS, default 5038
    [node.layout]                    # how a routing change renders this node's own place
    system_name = "a"                # asterisk.conf systemname (UNIQUEIDs "a-..."), default none
    var_lib_dir = "/var/lib/asterisk"    # these four as Asterisk sees them, defaults shown
    spool_dir = "/var/spool/asterisk"
    run_dir = "/var/run/asterisk"
    log_dir = "/var/log/asterisk"
    rtp_start = 10000                # the node's RTP ports, default 10000-19999
    rtp_end = 19999

    [[trunk]]
    name = "trunk"
    match_ip = "10.0.0.2"

Parsing is pure (:func:`parse_nodes`, the file and environment passed in); every error is
one line naming the node and the field. The AMI secret is read when the file is loaded,
held out of ``repr`` and never stored anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from ami.connection import AmiNode
from callctl.errors import SettingError
from routing.model import AmiTlsListener, AmiUser, ConfigValueError, Network, Trunk
from routing.node import NodeLayout

SETTING: Final = "CALLCTL_NODES_FILE"
NODE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_USER: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HOST: Final = re.compile(r"[A-Za-z0-9.:_-]{1,253}")
_SECRET_MAX: Final = 128

ReadText = Callable[[Path], str]


class NodesConfigError(SettingError, ValueError):
    """The nodes file is missing or wrong; the message is one line naming what."""


@dataclass(frozen=True, slots=True)
class AmiTls:
    """TLS for a node's AMI (Asterisk's manager.conf ``tlsenable``), verified by default."""

    ca_file: Path | None = None
    verify: bool = True
    server_hostname: str | None = None
    # What the node's rendered manager.conf says (None: callctl renders no config).
    listener: AmiTlsListener | None = None
    plain_ami_port: int = 5038

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True, slots=True)
class QueueLogSource:
    """How a node's queue_log reaches callctl: a file on this host, or shipped lines."""

    mode: Literal["file", "shipped"]
    path: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSettings:
    node_id: str
    ami_host: str
    ami_port: int
    ami_user: str
    secret: str = field(repr=False, compare=False)
    secret_source: str  # "file /path" or "env NAME": where it came from, for messages
    tls: AmiTls | None = None
    queue_log: QueueLogSource
    config_dir: Path | None = None
    config_dir_in_asterisk: str = "/etc/asterisk"
    # Where this node's MixMonitor writes (<spool>/monitor/callctl), as callctl sees it;
    # unset: callctl does not collect this node's recordings.
    recordings_dir: Path | None = None
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    ami_bind: str = "127.0.0.1"
    ami_permit: str = "127.0.0.1"
    layout: NodeLayout = field(default_factory=NodeLayout)
    """The node's own directories, RTP range and systemname, as a routing change renders
    them (its ``etc_dir`` is ``config_dir_in_asterisk``): nodes sharing a host or a
    rootfs must differ here, or a change would give them each other's spool and ports."""

    def ami_node(self, **timing: Any) -> AmiNode:
        """The AMI connection settings (timings such as ``ping_interval`` passed through)."""
        return AmiNode(
            node_id=self.node_id,
            host=self.ami_host,
            port=self.ami_port,
            username=self.ami_user,
            secret=self.secret,
            tls_context=None if self.tls is None else self.tls.context(),
            server_hostname=None
            if self.tls is None
            else (self.tls.server_hostname or self.ami_host),
            **timing,
        )

    @property
    def ami_user_config(self) -> AmiUser:
        """The AMI user as the node's rendered manager.conf declares it."""
        return AmiUser(username=self.ami_user, secret=self.secret, permit_ip=self.ami_permit)

    @property
    def network(self) -> Network:
        """The addresses the node's rendered config binds; with TLS, ``ami_port`` is the
        TLS listener's and the plain one moves to ``plain_ami_port``."""
        listener = None if self.tls is None else self.tls.listener
        return Network(
            ami_bind=self.ami_bind,
            ami_port=self.ami_port if listener is None else self.tls_plain_port,
            sip_bind=self.sip_host,
            sip_port=self.sip_port,
            ami_tls=listener,
        )

    @property
    def tls_plain_port(self) -> int:
        return 5038 if self.tls is None else self.tls.plain_ami_port


@dataclass(frozen=True, slots=True)
class NodesConfig:
    nodes: tuple[NodeSettings, ...]
    trunks: tuple[Trunk, ...] = ()

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.node_id for n in self.nodes)

    def node(self, node_id: str) -> NodeSettings:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)


def load_nodes(path: Path | None, environ: Mapping[str, str] | None = None) -> NodesConfig:
    """Read and validate the nodes file named by ``CALLCTL_NODES_FILE`` (the I/O edge)."""
    if path is None:
        raise NodesConfigError(f"{SETTING}: not set (the file listing the Asterisk nodes)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NodesConfigError(f"{SETTING}: {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NodesConfigError(f"{SETTING}: {path}: cannot read ({_why(exc)})") from None
    env = os.environ if environ is None else environ
    return parse_nodes(text, read_text=_read_secret_file, environ=env, base_dir=path.parent)


def _read_secret_file(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _why(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def parse_nodes(
    text: str, *, read_text: ReadText, environ: Mapping[str, str], base_dir: Path
) -> NodesConfig:
    """The nodes of a TOML text; relative paths are taken from ``base_dir``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NodesConfigError(f"{SETTING}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"node", "trunk"})
    if unknown:
        raise NodesConfigError(f"{SETTING}: unknown table or key {unknown[0]!r}")
    tables = data.get("node")
    if not isinstance(tables, list) or not tables:
        raise NodesConfigError(f"{SETTING}: no [[node]] table: at least one node is needed")
    nodes: list[NodeSettings] = []
    for index, table in enumerate(tables):
        node = _node(table, index, read_text, environ, base_dir)
        if node.node_id in {n.node_id for n in nodes}:
            raise NodesConfigError(f'{SETTING}: node "{node.node_id}": id used twice')
        nodes.append(node)
    trunks = tuple(_trunk(t, i) for i, t in enumerate(_tables(data.get("trunk", []), "trunk")))
    return NodesConfig(nodes=tuple(nodes), trunks=trunks)


def _tables(value: object, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise NodesConfigError(f"{SETTING}: {name} must be [[{name}]] tables")
    return value


_NODE_KEYS: Final = frozenset(
    {
        "id",
        "ami_host",
        "ami_port",
        "ami_user",
        "secret_file",
        "secret_env",
        "tls",
        "queue_log",
        "config_dir",
        "config_dir_in_asterisk",
        "recordings_dir",
        "sip_host",
        "sip_port",
        "ami_bind",
        "ami_permit",
        "layout",
    }
)
_LAYOUT_DIRS: Final = ("var_lib_dir", "spool_dir", "run_dir", "log_dir")
_LAYOUT_KEYS: Final = frozenset({*_LAYOUT_DIRS, "rtp_start", "rtp_end", "system_name"})


class _Fields:
    """Typed reads of one table's fields; errors name the table and the field."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where

    def fail(self, name: str, why: str) -> NodesConfigError:
        return NodesConfigError(f"{SETTING}: {self.where}: {name} {why}")

    def text(
        self, name: str, default: str | None = None, pattern: re.Pattern[str] | None = None
    ) -> str:
        value = self.table.get(name, default)
        if value is None:
            raise self.fail(name, "is missing")
        if not isinstance(value, str):
            raise self.fail(name, "must be a string")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(name, f"{value!r} must match {pattern.pattern}")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self.table.get(name) is None else self.text(name)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "must be an integer")
        if not low <= value <= high:
            raise self.fail(name, f"{value} is not in {low}..{high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def ipv4(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise self.fail(name, f"{value!r} is not an IPv4 address") from None
        return value

    def path(self, name: str, base_dir: Path) -> Path | None:
        value = self.optional_text(name)
        if value is None:
            return None
        if not value or "\x00" in value:
            raise self.fail(name, "is not a path")
        return base_dir / value

    def check_keys(self, allowed: frozenset[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise NodesConfigError(f"{SETTING}: {self.where}: unknown field {unknown[0]!r}")


def _node(
    table: Any, index: int, read_text: ReadText, environ: Mapping[str, str], base_dir: Path
) -> NodeSettings:
    if not isinstance(table, dict):
        raise NodesConfigError(f"{SETTING}: node #{index + 1} must be a [[node]] table")
    raw_id = table.get("id")
    where = f'node "{raw_id}"' if isinstance(raw_id, str) else f"node #{index + 1}"
    f = _Fields(table, where)
    node_id = f.text("id", pattern=NODE_ID)
    f.where = f'node "{node_id}"'
    f.check_keys(_NODE_KEYS)
    host = f.text("ami_host", pattern=_HOST)
    tls = _tls(table.get("tls"), f, base_dir)
    secret, source = _secret(f, read_text, environ, base_dir)
    ami_port = f.integer("ami_port", 5039 if tls is not None else 5038, 1, 65535)
    config_in_asterisk = f.text("config_dir_in_asterisk", "/etc/asterisk")
    if not config_in_asterisk.startswith("/") or "\x00" in config_in_asterisk:
        raise f.fail("config_dir_in_asterisk", "must be an absolute path")
    config_dir = f.path("config_dir", base_dir)
    if tls is not None:
        tls = _tls_listener(table["tls"], f, tls, ami_port, rendered=config_dir is not None)
    return NodeSettings(
        node_id=node_id,
        ami_host=host,
        ami_port=ami_port,
        ami_user=f.text("ami_user", "callctl", _USER),
        secret=secret,
        secret_source=source,
        tls=tls,
        queue_log=_queue_log(table.get("queue_log"), f, base_dir),
        config_dir=config_dir,
        config_dir_in_asterisk=config_in_asterisk,
        recordings_dir=f.path("recordings_dir", base_dir),
        sip_host=f.ipv4("sip_host", "127.0.0.1"),
        sip_port=f.integer("sip_port", 5060, 1, 65535),
        ami_bind=f.ipv4("ami_bind", host if _is_ipv4(host) else "0.0.0.0"),
        ami_permit=f.ipv4("ami_permit", "127.0.0.1"),
        layout=_layout(table.get("layout"), f, config_in_asterisk),
    )


def _layout(value: object, node: _Fields, etc_dir: str) -> NodeLayout:
    if value is None:
        return NodeLayout(etc_dir=etc_dir)
    if not isinstance(value, dict):
        raise node.fail("layout", "must be a table")
    f = _Fields(value, f"{node.where}: layout")
    f.check_keys(_LAYOUT_KEYS)
    default = NodeLayout()
    dirs = {name: f.text(name, getattr(default, name)) for name in _LAYOUT_DIRS}
    rtp_start = f.integer("rtp_start", default.rtp_start, 1024, 65534)
    rtp_end = f.integer("rtp_end", default.rtp_end, rtp_start + 1, 65535)
    system_name = f.optional_text("system_name")
    try:
        return NodeLayout(
            etc_dir=etc_dir,
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            system_name=system_name,
            **dirs,
        )
    except ConfigValueError as exc:
        raise f.fail(exc.field.removeprefix("node."), exc.why) from None


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _secret(
    f: _Fields, read_text: ReadText, environ: Mapping[str, str], base_dir: Path
) -> tuple[str, str]:
    has_file, has_env = "secret_file" in f.table, "secret_env" in f.table
    if has_file == has_env:
        raise f.fail("secret_file", "or secret_env: give exactly one")
    field_name = "secret_env" if has_env else "secret_file"
    if has_env:
        name = f.text("secret_env", pattern=_ENV_NAME)
        value = environ.get(name)
        if value is None:
            raise f.fail("secret_env", f"{name}: not set in the environment")
        source = f"env {name}"
    else:
        path = f.path("secret_file", base_dir)
        assert path is not None
        try:
            value = read_text(path)
        except FileNotFoundError:
            raise f.fail("secret_file", f"{path}: not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise f.fail("secret_file", f"{path}: cannot read ({_why(exc)})") from None
        source = f"file {path}"
    # A file's trailing newline is not part of the secret; the value is never echoed.
    secret = value.strip("\r\n")
    if not secret:
        raise f.fail(field_name, f"{source.split(' ', 1)[1]}: the secret is empty")
    if len(secret) > _SECRET_MAX or any(c in secret for c in "\r\n\x00;"):
        raise f.fail(
            field_name,
            f"{source.split(' ', 1)[1]}: the secret is longer than {_SECRET_MAX} "
            "or holds CR, LF, NUL or ';'",
        )
    return secret, source


def _tls(value: object, f: _Fields, base_dir: Path) -> AmiTls | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise f.fail("tls", "must be a table ([node.tls])")
    t = _Fields(value, f"{f.where}: tls")
    t.check_keys(frozenset({"ca_file", "verify", "server_hostname", *_TLS_RENDER_KEYS}))
    hostname = t.optional_text("server_hostname")
    if hostname is not None and not _HOST.fullmatch(hostname):
        raise t.fail("server_hostname", f"{hostname!r} is not a host name")
    return AmiTls(
        ca_file=t.path("ca_file", base_dir),
        verify=t.boolean("verify", True),
        server_hostname=hostname,
    )


_TLS_RENDER_KEYS: Final = ("cert_file_in_asterisk", "key_file_in_asterisk", "plain_ami_port")


def _tls_listener(
    table: Mapping[str, Any], f: _Fields, tls: AmiTls, ami_port: int, *, rendered: bool
) -> AmiTls:
    """What the node's manager.conf must say for TLS, when callctl renders it."""
    t = _Fields(table, f"{f.where}: tls")
    cert, key = t.optional_text("cert_file_in_asterisk"), t.optional_text("key_file_in_asterisk")
    plain_port = t.integer("plain_ami_port", 5038, 1, 65535)
    if cert is None or key is None:
        if rendered:
            missing = "cert_file_in_asterisk" if cert is None else "key_file_in_asterisk"
            raise t.fail(
                missing,
                "is missing: callctl renders this node's manager.conf (config_dir is set), "
                "so it needs the certificate and key files Asterisk reads",
            )
        if cert is not None or key is not None:
            missing = "key_file_in_asterisk" if key is None else "cert_file_in_asterisk"
            raise t.fail(missing, "is missing: give both files or neither")
        return tls
    if plain_port == ami_port:
        raise t.fail("plain_ami_port", f"{plain_port} must differ from ami_port (the TLS port)")
    try:
        listener = AmiTlsListener(port=ami_port, cert_file=cert, key_file=key)
    except ConfigValueError as exc:
        name, value = (
            ("cert_file_in_asterisk", cert)
            if exc.field.endswith("cert_file")
            else ("key_file_in_asterisk", key)
        )
        raise t.fail(name, f"{value!r}: {exc.why}") from None
    return replace(tls, listener=listener, plain_ami_port=plain_port)


def _queue_log(value: object, f: _Fields, base_dir: Path) -> QueueLogSource:
    if value is None:
        raise f.fail("queue_log", 'is missing ({mode = "file", path = ...} or {mode = "shipped"})')
    if not isinstance(value, dict):
        raise f.fail("queue_log", "must be a table")
    q = _Fields(value, f"{f.where}: queue_log")
    mode = q.text("mode")
    if mode == "file":
        q.check_keys(frozenset({"mode", "path"}))
        path = q.path("path", base_dir)
        if path is None:
            raise q.fail("path", 'is missing (mode "file")')
        return QueueLogSource("file", path)
    if mode == "shipped":
        q.check_keys(frozenset({"mode"}))
        return QueueLogSource("shipped")
    raise q.fail("mode", f'{mode!r} must be "file" or "shipped"')


def _trunk(table: dict[str, Any], index: int) -> Trunk:
    name = table.get("name")
    f = _Fields(table, f'trunk "{name}"' if isinstance(name, str) else f"trunk #{index + 1}")
    f.check_keys(frozenset({"name", "match_ip"}))
    try:
        return Trunk(name=f.text("name"), match_ip=f.text("match_ip"))
    except ConfigValueError as exc:
        raise NodesConfigError(f"{SETTING}: {f.where}: {exc}") from None
