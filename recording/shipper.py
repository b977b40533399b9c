"""Ship a node's finished recordings to callctl over HTTP(S) (``callctl recordings ship``).

It runs beside each Asterisk (as ``callctl ship-queue-log`` does for queue_log) and
needs no shared disk and no database: it reads the node's ``monitor/callctl`` spool,
and for each finished recording, oldest first (a ``.raw`` whose end marker has settled,
or one renamed ``.done``, uploaded as ``<name>.done``; or a ``.raw`` orphan older than
``orphan_after_s``, uploaded as ``<name>.raw``; ``recording.spool`` decides):

1. checks the file's name (node and every part of the name must match the dialplan's
   pattern; anything else in the spool is left alone);
2. hashes the raw file (SHA-256) and PUTs it, streamed, to
   ``/api/v1/recordings/ingest/<node>/<file name>`` with its hash and mtime;
3. removes it (and its end marker) only when callctl answered 200/201 naming the same
   node, file key and raw SHA-256, and a recording id: converted, hashed, its metadata
   row committed.

callctl down, a network error, a 5xx, a refused token: the file stays, the shipper
waits (exponential backoff with jitter, up to ``max_backoff_s``) and starts again from
the oldest file. A file callctl refuses for good (409: another recording was stored
under that name; 413; 422) stays too, is logged and tried again after ``hold_s``.
Sending a file twice is harmless: callctl stores it once (same name, same hash).

Synchronous on purpose: one file at a time, the standard library's ``http.client``,
nothing to install on the Asterisk host but callctl itself.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from recording.audio import sha256_file
from recording.naming import NODE_ID, RecordingNameError, shipped_name
from recording.spool import SpoolFile, remove_stale_markers, scan_spool

log = logging.getLogger(__name__)

UPLOAD_PATH = "/api/v1/recordings/ingest"
_BLOCK = 256 * 1024
_PERMANENT = frozenset({409, 413, 422})
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~+/=")


class ShipConfigError(ValueError):
    error_id = "recording.ship_config"


@dataclass(frozen=True, slots=True)
class Target:
    """callctl's base URL, checked: http(s), a host, no query, user or fragment."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ShipConfigError(f"--to: not an http(s) URL: {url!r}")
        if not parts.hostname or parts.query or parts.fragment or parts.username:
            raise ShipConfigError(f"--to: a base URL (scheme, host, port, path) only: {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ShipConfigError(f"--to: bad port in {url!r}") from None
        scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
        return cls(scheme, parts.hostname, port, parts.path.rstrip("/"))

    def upload_path(self, node: str, file_name: str) -> str:
        return f"{self.base_path}{UPLOAD_PATH}/{quote(node, safe='')}/{quote(file_name, safe='+')}"


def read_token(path: Path) -> str:
    """The API token from its file: one line of token characters (it goes into a header)."""
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ShipConfigError(f"--token-file: cannot read {path}: {exc}") from None
    if not 16 <= len(token) <= 512 or not set(token) <= _TOKEN_CHARS:
        raise ShipConfigError(f"--token-file: {path} does not hold one API token (cct_...)")
    return token


@dataclass(frozen=True, slots=True)
class UploadResult:
    kind: Literal["stored", "transient", "refused"]
    detail: str
    status: int | None = None
    recording_id: int | None = None
    replay: bool = False


class Uploader(Protocol):
    def upload(
        self, node: str, file_name: str, path: Path, size: int, sha256: str, mtime: float
    ) -> UploadResult: ...


def judge_answer(
    status: int, body: bytes, *, node: str, file_key: str, sha256: str
) -> UploadResult:
    """What callctl's answer means for the local file: ``stored`` (remove it) only when
    it confirms this very file; ``refused`` (keep, retry much later) for a permanent
    refusal; anything else ``transient`` (keep, retry soon)."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if status in (200, 201):
        recording_id = answer.get("id")
        confirmed = (
            answer.get("node") == node
            and answer.get("file_key") == file_key
            and answer.get("raw_sha256") == sha256
            and answer.get("stored") in ("new", "already", "deleted")
            and (isinstance(recording_id, int) or answer.get("stored") == "deleted")
        )
        if not confirmed:
            return UploadResult("transient", f"answer does not confirm the file: {answer}", status)
        return UploadResult(
            "stored",
            str(answer["stored"]),
            status,
            recording_id if isinstance(recording_id, int) else None,
            replay=answer["stored"] != "new",
        )
    error = answer.get("error")
    error_id = error.get("id") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    detail = f"HTTP {status} {error_id or ''}: {message or body[:200]!r}"
    if status in _PERMANENT:
        return UploadResult("refused", detail, status)
    return UploadResult("transient", detail, status)


class HttpUploader:
    """PUTs files with ``http.client`` (keep-alive, reconnecting after any error)."""

    def __init__(
        self,
        target: Target,
        token: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self._target = target
        self._token = token
        self._ssl = ssl_context
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            t = self._target
            if t.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    t.host, t.port, timeout=self._timeout_s, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(t.host, t.port, timeout=self._timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def upload(
        self, node: str, file_name: str, path: Path, size: int, sha256: str, mtime: float
    ) -> UploadResult:
        stem = file_name.rsplit(".", 1)[0]
        try:
            status, body = self._put(node, file_name, path, size, sha256, mtime)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return UploadResult("transient", f"{type(exc).__name__}: {exc}")
        return judge_answer(status, body, node=node, file_key=stem, sha256=sha256)

    def _put(
        self, node: str, file_name: str, path: Path, size: int, sha256: str, mtime: float
    ) -> tuple[int, bytes]:
        conn = self._connection()
        conn.putrequest("PUT", self._target.upload_path(node, file_name), skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {self._token}")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.putheader("X-Content-SHA256", sha256)
        conn.putheader("X-Recording-Mtime", repr(mtime))
        conn.endheaders()
        try:
            with path.open("rb") as f:
                left = size
                while left > 0:
                    block = f.read(min(_BLOCK, left))
                    if not block:
                        raise OSError(f"{path.name} shrank while it was sent")
                    conn.send(block)
                    left -= len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # callctl answered early (a refusal): read that answer below
        response = conn.getresponse()
        body = response.read(1 << 20)
        if response.will_close:
            self.close()
        return response.status, body


class Backoff:
    """Exponential, with ±20% jitter: ``initial_s``, twice that, … up to ``max_s``."""

    def __init__(
        self, initial_s: float = 1.0, max_s: float = 60.0, rng: random.Random | None = None
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._next = initial_s

    def reset(self) -> None:
        self._next = self.initial_s

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay * self._rng.uniform(0.8, 1.2)


@dataclass
class ShipStats:
    shipped: int = 0
    replays: int = 0
    bytes: int = 0
    transient_failures: int = 0
    refused: int = 0
    callctl_up: bool = True
    held: dict[str, float] = field(default_factory=dict)


class SpoolShipper:
    def __init__(
        self,
        node: str,
        spool: Path,
        uploader: Uploader,
        *,
        orphan_after_s: float = 4 * 3600 + 600,
        hold_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not NODE_ID.fullmatch(node):
            raise ShipConfigError(f"--node: not a node id: {node!r}")
        self.node = node
        self.spool = spool
        self.stats = ShipStats()
        self._uploader = uploader
        self._orphan_after_s = orphan_after_s
        self._hold_s = hold_s
        self._clock = clock
        self._wall_clock = wall_clock

    def ship_once(self) -> bool:
        """Every finished file, oldest first; False at the first transient failure (the
        caller waits, then starts again from the oldest)."""
        scan = scan_spool(
            self.node, self.spool, now=self._wall_clock(), orphan_after_s=self._orphan_after_s
        )
        remove_stale_markers(scan)
        now = self._clock()
        for spool_file in scan.ready:
            name = spool_file.upload_name
            if self.stats.held.get(name, 0.0) > now:
                continue
            if not self._ship(spool_file):
                return False
        return True

    def _ship(self, spool_file: SpoolFile) -> bool:
        path = spool_file.path
        name = spool_file.upload_name
        try:
            shipped_name(self.node, name)  # again, right before use
            st = path.stat()
            digest = sha256_file(path)
        except RecordingNameError as exc:
            log.error("not shipped: %s", exc)
            return True
        except FileNotFoundError:
            return True  # removed meanwhile (another shipper, or by hand)
        result = self._uploader.upload(self.node, name, path, st.st_size, digest, st.st_mtime)
        if result.kind == "stored":
            spool_file.remove()
            self.stats.held.pop(name, None)
            self.stats.shipped += 1
            self.stats.replays += result.replay
            self.stats.bytes += st.st_size
            if not self.stats.callctl_up:
                log.info("recordings: shipping to callctl again")
            self.stats.callctl_up = True
            log.debug("shipped %s: %s (id %s)", name, result.detail, result.recording_id)
            return True
        if result.kind == "refused":
            self.stats.refused += 1
            self.stats.held[name] = self._clock() + self._hold_s
            log.error(
                "recording %s refused by callctl (%s); kept in the spool, tried again in %.0f s",
                name,
                result.detail,
                self._hold_s,
            )
            return True
        self.stats.transient_failures += 1
        if self.stats.callctl_up:
            log.warning(
                "recording %s not shipped (%s); kept in the spool, retrying",
                name,
                result.detail,
            )
        self.stats.callctl_up = False
        return False

    def run(self, stop: threading.Event, *, poll_s: float, backoff: Backoff) -> None:
        """Until ``stop`` is set: ship, then wait ``poll_s`` (or the backoff after a
        failure)."""
        log.info("shipping recordings of node %s from %s", self.node, self.spool)
        while not stop.is_set():
            try:
                ok = self.ship_once()
            except OSError as exc:  # the spool unreadable: wait, as for callctl down
                log.warning("spool %s: %s", self.spool, exc)
                ok = False
            if ok:
                backoff.reset()
                stop.wait(poll_s)
            else:
                stop.wait(backoff.next_delay())
