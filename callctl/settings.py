"""All of callctl's settings, read once from the environment (prefix ``CALLCTL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Data shipped inside the package (asterisk-config/, migrations/): found the same way
# from a checkout and from an installed wheel.
PACKAGE_DIR = Path(__file__).resolve().parent


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "callctl"


class Settings(BaseSettings):
    """Settings of the callctl service and its lab.

    Nothing here is evaluated at import time: build one with ``Settings()`` where
    the process starts (CLI, app lifespan, test fixture) and pass it down.
    """

    model_config = SettingsConfigDict(env_prefix="CALLCTL_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql+asyncpg://...); required by the service. "
        "`callctl lab up` starts an embedded cluster when it is unset.",
    )
    nodes_file: Path | None = Field(
        default=None,
        description="TOML file of the Asterisk nodes ([[node]] tables, see callctl/nodes.py); "
        "required by `callctl serve`. `callctl lab up` writes one for the lab.",
    )
    initial_routing_file: Path | None = Field(
        default=None,
        description="JSON routing document in force until the first change is stored "
        "(unset: none, i.e. no lines or queues until one is applied).",
    )
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    asterisk_config_dir: Path = PACKAGE_DIR / "asterisk-config"
    debian_mirror: str | None = Field(
        default=None,
        description="Debian mirror for the sid rootfs; unset: taken from this host's apt sources.",
    )
    # The lab's network, all on loopback (what `callctl lab up` renders and writes into
    # its nodes file; the service itself reads its nodes from CALLCTL_NODES_FILE only).
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    trunk_ip: str = "127.0.0.2"
    agents_ip: str = "127.0.0.3"
    embedded_pg_port: int = 55432
    http_host: str = "127.0.0.1"
    http_port: int = 8345
    node_id: str = "lab"
    queue_log_path: Path | None = Field(
        default=None, description="The lab Asterisk's queue_log; unset: the lab rootfs's."
    )
    timezone: str = "Asia/Shanghai"
    reports_dir: Path | None = Field(
        default=None,
        description="Folder for 日报/周报/月报/年报 generated on schedule; unset: none generated.",
    )
    report_interval_s: float = Field(
        default=600, ge=5, description="How often due reports are looked for."
    )
    report_scheme: str | None = Field(
        default=None, description="Assessment scheme included in monthly reports (e.g. haikou)."
    )
    prompts_dir: Path | None = Field(
        default=None,
        description="Asterisk's sounds directory as callctl sees it; uploaded IVR prompts go "
        "to its callctl/ folder. Unset: prompt uploads are refused (503).",
    )
    spool_dir: Path | None = Field(
        default=None, description="The fact writer's on-disk spool; unset: <cache_dir>/spool."
    )
    raw_event_retention_months: int = Field(
        default=13, ge=1, description="Months of raw AMI events kept (partitions dropped after)."
    )
    reconcile_max_call_s: int = Field(
        default=4 * 3600,
        ge=60,
        description="Longest call reconcile allows for: it reads queue_log from a gap's "
        "start minus this (and the margin) on.",
    )
    kpi_rollup_quiet_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="The KPI rollups of a 15-minute interval are rebuilt once no call has "
        "marked it for this long (queries read a dirty interval from the facts meanwhile).",
    )
    wallboard_answer_rate_target: float = Field(
        default=90.0, ge=0, le=100, description="Wallboard target for the answer rate, %."
    )
    wallboard_service_level_target: float = Field(
        default=90.0, ge=0, le=100, description="Wallboard target for the 15-second rate, %."
    )
    wallboard_acw_target_s: float = Field(
        default=180.0, ge=0, le=3600, description="Wallboard target for the average ACW, s."
    )
    wallboard_satisfaction_target: float = Field(
        default=95.0,
        ge=0,
        le=100,
        description="Wallboard target for satisfaction (满意率), %: Haikou 95, Xiaoshan 97, "
        "Shenyang 98.",
    )
    forecast_service_level_target: float = Field(
        default=90.0, gt=0, lt=100, description="Staffing target: % answered within the threshold."
    )
    forecast_service_level_s: int = Field(
        default=15, ge=0, le=600, description="Staffing target's answer threshold, s."
    )
    forecast_answer_rate_target: float | None = Field(
        default=None, gt=0, lt=100, description="Staffing target: % answered; unset: none."
    )
    forecast_shrinkage: float = Field(
        default=30.0, ge=0, lt=100, description="% of scheduled time not on the phones."
    )
    forecast_weeks: int = Field(
        default=4, ge=1, le=12, description="Same-weekday reference days of the forecast."
    )
    forecast_default_handle_s: float = Field(
        default=240.0, gt=0, le=7200, description="Handle time while a line has none measured."
    )
    lab_max_wait_s: int = Field(
        default=20, description="The lab queue's maximum wait before EXITWITHTIMEOUT."
    )

    # Recordings (recording/).
    recordings_store: Path | None = Field(
        default=None,
        description="Where converted recordings (FLAC, stereo) are kept; "
        "unset: <cache_dir>/recordings.",
    )
    recordings_scan_interval_s: float = Field(
        default=2.0, gt=0, le=3600, description="How often the nodes' recording spools are read."
    )
    recordings_agents_listen: bool = Field(
        default=False, description="Agents may hear their own calls' recordings."
    )
    recordings_scrub_sample: int = Field(
        default=100,
        ge=0,
        le=1_000_000,
        description="Kept recordings re-hashed daily inside serve (random sample); "
        "0: none (scrub from cron with `callctl recordings scrub`).",
    )
    recordings_scrub_first_after_s: float = Field(
        default=600.0, ge=0, description="The first daily scrub, this long after start."
    )
    recordings_max_upload_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024,
        description="Largest raw recording a node's shipper may upload (PUT "
        "/api/v1/recordings/ingest/...; streamed to disk). 2 GiB: 18 h of MixMonitor's "
        "raw stereo; every other request but IVR prompt uploads (20 MB) keeps max_body_bytes.",
    )

    # The API's guards (README, "API").
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the API reads; larger ones get 413 before "
        "authentication.",
    )
    auth_failures_per_minute: int = Field(
        default=20,
        ge=1,
        description="Failed authentications a client address may make in a minute before "
        "the API answers it 429.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper sends to /metrics; unset: /metrics "
        "takes an API token of the ops, admin or auditor role only.",
    )
    api_docs: bool = Field(
        default=False,
        description="Serve /docs and /openapi.json (no token needed then; the assets come "
        "from the installed package, never a CDN).",
    )
    http_tls_certfile: Path | None = Field(
        default=None,
        description="PEM certificate (chain) for serving the API over HTTPS directly; "
        "with http_tls_keyfile. Unset: plain HTTP (behind a TLS proxy, docs/https.md).",
    )
    http_tls_keyfile: Path | None = Field(
        default=None, description="The certificate's PEM private key."
    )
    ws_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may open /ws/wallboard, "
        "besides the API's own; JSON list.",
    )

    # Callbacks (回访), dialled agent first through an outbound trunk.
    callback_trunk: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="PJSIP endpoint callbacks dial out through; unset: the routing config's "
        "outbound trunk when CALLCTL_CALLBACK_DIALER is on, else no callback dialer.",
    )
    callback_dialer: bool = Field(
        default=False,
        description="Run the callback dialer through the routing config's outbound trunk "
        "(its max_channels caps the pacing); implied by CALLCTL_CALLBACK_TRUNK.",
    )
    callback_trunk_host: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$",
        description="host[:port] to send callbacks to when the trunk endpoint has no AOR.",
    )
    callback_max_in_flight: int = Field(
        default=2, ge=1, le=1000, description="Pacing: callbacks in flight at most at once."
    )
    callback_poll_s: float = Field(default=5.0, gt=0, le=300)
    callback_ring_s: int = Field(
        default=30, ge=5, le=120, description="How long a callback rings the citizen."
    )

    database_url_file: Path | None = Field(
        default=None,
        description="A file holding the database URL (its password included), e.g. a compose "
        "secret; read when CALLCTL_DATABASE_URL is unset.",
    )

    @model_validator(mode="after")
    def _database_url_from_file(self) -> Settings:
        if self.database_url is None and self.database_url_file is not None:
            try:
                url = self.database_url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"CALLCTL_DATABASE_URL_FILE {self.database_url_file}: {exc.strerror}"
                ) from exc
            if not url:
                raise ValueError(f"CALLCTL_DATABASE_URL_FILE {self.database_url_file}: empty")
            self.database_url = url
        return self

    @property
    def lab_dir(self) -> Path:
        return self.cache_dir / "lab"

    @property
    def recordings_root(self) -> Path:
        return self.recordings_store or self.cache_dir / "recordings"

    @property
    def rootfs_dir(self) -> Path:
        return self.cache_dir / "asterisk-rootfs"

    @property
    def queue_log_file(self) -> Path:
        """The configured queue_log, else the lab rootfs's."""
        return self.queue_log_path or self.rootfs_dir / "var/log/asterisk/queue_log"
