"""The recording shipper's own logic, with a stand-in for callctl: a file is removed only
when callctl confirmed this very file; a failure keeps every file and stops the round
(retried from the oldest after a backoff); a permanent refusal holds the file; files
not of ours are never touched."""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recording.shipper import Backoff, SpoolShipper, UploadResult, judge_answer, read_token

NODE = "b"


def _stem(n: int) -> str:
    return f"1733000000.{n}+hotline+12345+1001+1733000000.{n + 100}"


def _done(spool: Path, n: int, mtime: float, body: bytes = b"\x01\x00" * 800) -> Path:
    spool.mkdir(exist_ok=True)
    path = spool / f"{_stem(n)}.done"
    path.write_bytes(body)
    os.utime(path, (mtime, mtime))
    return path


@dataclass
class FakeCallctl:
    """Stores by (node, file_key) once; answers as callctl would, or as told."""

    stored: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False
    refuse: set[str] = field(default_factory=set)
    wrong_answer: bool = False

    def upload(
        self, node: str, file_name: str, path: Path, size: int, sha256: str, mtime: float
    ) -> UploadResult:
        self.calls.append(file_name)
        body = path.read_bytes()
        assert len(body) == size and hashlib.sha256(body).hexdigest() == sha256
        if self.down:
            return UploadResult("transient", "ConnectionRefusedError")
        stem = file_name.rsplit(".", 1)[0]
        if stem in self.refuse:
            return UploadResult("refused", "HTTP 409 recording.conflict", 409)
        replay = stem in self.stored
        self.stored.setdefault(stem, sha256)
        answer = (
            b'{"stored": "%s", "id": 7, "node": "%s", "file_key": "%s", "raw_sha256": "%s"}'
            % (
                b"already" if replay else b"new",
                node.encode(),
                stem.encode(),
                (b"0" * 64 if self.wrong_answer else sha256.encode()),
            )
        )
        return judge_answer(200, answer, node=node, file_key=stem, sha256=sha256)


def _shipper(spool: Path, fake: FakeCallctl, clock: list[float]) -> SpoolShipper:
    return SpoolShipper(
        NODE, spool, fake, orphan_after_s=3600, hold_s=600, clock=lambda: clock[0],
        wall_clock=lambda: 1_800_000_000.0,
    )  # fmt: skip


def test_each_finished_file_is_shipped_oldest_first_then_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    for n, mtime in ((3, 1_700_000_300), (1, 1_700_000_100), (2, 1_700_000_200)):
        _done(spool, n, mtime)
    busy = spool / f"{_stem(9)}.raw"  # still being recorded (recent)
    busy.write_bytes(b"x")
    os.utime(busy, (1_800_000_000 - 5,) * 2)
    foreign = [spool / "1733000001.5.raw", spool / "notes.txt", spool / f"{_stem(4)}.rejected"]
    for path in foreign:
        path.write_bytes(b"x")
    fake = FakeCallctl()
    shipper = _shipper(spool, fake, [0.0])
    assert shipper.ship_once()
    assert fake.calls == [f"{_stem(n)}.done" for n in (1, 2, 3)]
    assert sorted(fake.stored) == [_stem(n) for n in (1, 2, 3)]
    assert sorted(p.name for p in spool.iterdir()) == sorted(p.name for p in [busy, *foreign])
    assert (shipper.stats.shipped, shipper.stats.replays) == (3, 0)


def test_an_orphaned_raw_file_is_shipped_once_old_enough(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    orphan = spool / f"{_stem(5)}.raw"
    orphan.write_bytes(b"\0" * 64)
    os.utime(orphan, (1_800_000_000 - 3601,) * 2)
    fake = FakeCallctl()
    assert _shipper(spool, fake, [0.0]).ship_once()
    assert fake.calls == [orphan.name] and not orphan.exists()


def test_a_raw_file_with_a_settled_end_marker_is_shipped_complete_with_its_marker_removed(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    now = 1_800_000_000.0
    ended, settling = spool / f"{_stem(6)}.raw", spool / f"{_stem(7)}.raw"
    for path in (ended, settling):
        path.write_bytes(b"\1\0" * 32)
        os.utime(path, (now - 10,) * 2)
    (spool / f"{_stem(6)}.end").write_text("1799999990")
    os.utime(spool / f"{_stem(6)}.end", (now - 3,) * 2)
    (spool / f"{_stem(7)}.end").write_text("1799999999")
    os.utime(spool / f"{_stem(7)}.end", (now - 1,) * 2)  # the hangup a second ago
    fake = FakeCallctl()
    shipper = _shipper(spool, fake, [0.0])
    assert shipper.ship_once()
    assert fake.calls == [f"{_stem(6)}.done"]  # uploaded as complete, under its .done name
    assert sorted(p.name for p in spool.iterdir()) == [f"{_stem(7)}.end", f"{_stem(7)}.raw"]


def test_callctl_down_keeps_every_file_and_stops_the_round(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    paths = [_done(spool, n, 1_700_000_000 + n) for n in (1, 2)]
    fake = FakeCallctl(down=True)
    shipper = _shipper(spool, fake, [0.0])
    assert not shipper.ship_once()
    assert fake.calls == [paths[0].name]  # the round stops at the first failure
    assert all(p.exists() for p in paths)
    assert not shipper.stats.callctl_up
    fake.down = False
    assert shipper.ship_once()
    assert not any(p.exists() for p in paths)
    assert shipper.stats.callctl_up and shipper.stats.shipped == 2


def test_a_file_stored_before_its_removal_was_lost_is_stored_once(tmp_path: Path) -> None:
    """The shipper died after callctl stored a file and before removing it: sent again,
    callctl answers ``already``, the file goes, nothing is stored twice."""
    spool = tmp_path / "spool"
    path = _done(spool, 1, 1_700_000_000)
    fake = FakeCallctl()
    fake.stored[_stem(1)] = hashlib.sha256(path.read_bytes()).hexdigest()
    shipper = _shipper(spool, fake, [0.0])
    assert shipper.ship_once()
    assert not path.exists()
    assert len(fake.stored) == 1 and shipper.stats.replays == 1


def test_an_answer_that_does_not_confirm_this_file_keeps_it(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    path = _done(spool, 1, 1_700_000_000)
    shipper = _shipper(spool, FakeCallctl(wrong_answer=True), [0.0])
    assert not shipper.ship_once()
    assert path.exists() and shipper.stats.shipped == 0


def test_a_refused_file_is_kept_held_and_the_others_go_on(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    refused = _done(spool, 1, 1_700_000_000)
    other = _done(spool, 2, 1_700_000_100)
    clock = [0.0]
    fake = FakeCallctl(refuse={_stem(1)})
    shipper = _shipper(spool, fake, clock)
    assert shipper.ship_once()
    assert refused.exists() and not other.exists()
    clock[0] = 599.0
    assert shipper.ship_once()
    assert fake.calls.count(refused.name) == 1  # held
    clock[0] = 601.0
    fake.refuse.clear()
    assert shipper.ship_once()
    assert not refused.exists() and fake.calls.count(refused.name) == 2


SHA = "a" * 64
CONFIRMS = {"stored": "new", "id": 3, "node": "b", "file_key": "k", "raw_sha256": SHA}


@pytest.mark.parametrize(
    ("status", "answer", "kind"),
    [
        (201, CONFIRMS, "stored"),
        (200, {**CONFIRMS, "stored": "already"}, "stored"),
        (200, {**CONFIRMS, "stored": "deleted", "id": None}, "stored"),
        (200, "not json", "transient"),
        (201, {**CONFIRMS, "raw_sha256": "b" * 64}, "transient"),
        (201, {**CONFIRMS, "file_key": "other"}, "transient"),
        (201, {**CONFIRMS, "id": None}, "transient"),
        (503, {"error": {"id": "recording.busy", "message": "retry"}}, "transient"),
        (401, {"error": {"id": "auth.invalid_token", "message": "no"}}, "transient"),
        (500, "", "transient"),
        (400, {"error": {"id": "recording.digest_mismatch", "message": "x"}}, "transient"),
        (409, {"error": {"id": "recording.conflict", "message": "no"}}, "refused"),
        (413, {"error": {"id": "request.too_large", "message": "no"}}, "refused"),
        (422, {"error": {"id": "recording.bad_name", "message": "no"}}, "refused"),
    ],
)
def test_what_an_answer_means_for_the_local_file(
    status: int, answer: dict[str, object] | str, kind: str
) -> None:
    body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    assert judge_answer(status, body, node="b", file_key="k", sha256=SHA).kind == kind


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.8 * base <= delay <= 1.2 * base
    backoff.reset()
    assert backoff.next_delay() <= 1.2


def test_the_token_file_must_hold_one_token(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text("cct_" + "A" * 43 + "\n")
    assert read_token(good) == "cct_" + "A" * 43
    bad = tmp_path / "bad"
    bad.write_text("cct_abcdefghijklmnop\r\nX-Injected: 1\n")
    with pytest.raises(ValueError, match="--token-file"):
        read_token(bad)
    with pytest.raises(ValueError, match="--token-file"):
        read_token(tmp_path / "missing")


def test_half_received_uploads_are_swept_once_stale(tmp_path: Path) -> None:
    from recording.store import INCOMING, sweep_incoming

    incoming = tmp_path / INCOMING
    incoming.mkdir()
    stale, fresh = incoming / "a.raw", incoming / "b.raw"
    for path, mtime in ((stale, 1_000.0), (fresh, 4_500.0)):
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    assert sweep_incoming(tmp_path, now=5_000.0, max_age_s=3600) == 1
    assert not stale.exists() and fresh.exists()
    assert sweep_incoming(tmp_path / "nowhere", now=5_000.0) == 0
