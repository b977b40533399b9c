"""Schemathesis over the whole OpenAPI schema, as an attacker would probe it: once with a
restricted token (supervisor, numbers masked) and once with an admin's, against the API
served by uvicorn on a scratch database of the configured PostgreSQL server.

Checks: no server error (5xx), every status code documented, every response matching
its declared schema and content type. Prints the figures; exits 1 on any failure.

    python -m benchmarks.fuzz_api --max-examples 100 --seed 18

Needs ``CALLCTL_DATABASE_URL`` (any database on the server: a scratch one is made).
The test suite runs a short one (``tests/integration/test_api_fuzz.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import uvicorn

from callctl.app import create_app
from callctl.auth.provision import create_user_with_token
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.settings import Settings

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)


async def _tokens(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        _, restricted = await create_user_with_token(
            conn, "fuzz.supervisor", Role.SUPERVISOR, label="fuzz"
        )
        _, admin = await create_user_with_token(
            conn, "fuzz.admin", Role.ADMIN, label="fuzz", can_see_numbers=True
        )
    finally:
        await conn.close()
    # The restricted run first: the admin's run may disable users and revoke tokens.
    return {"restricted": restricted, "admin": admin}


class Served:
    """The API on a free loopback port, in a thread with its own event loop."""

    def __init__(self, settings: Settings, url: str) -> None:
        app = create_app(settings, ingest=False, database_url=url)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


# 503 is what the agent-state and routing endpoints answer when no Asterisk is reachable, as
# here (the API runs without nodes): documented, and counted apart from server errors.
CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]
"""


@dataclass
class Outcome:
    cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    exit_code: int = 0
    output: str = ""


def run_schemathesis(
    base: str, token: str, *, max_examples: int, seed: int, work: Path, phases: str
) -> Outcome:
    config = work / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    report = work / "report.ndjson"
    command = [
        str(Path(sys.executable).with_name("st")), "--config-file", str(config),
        "run", f"{base}/openapi.json",
        "-H", f"Authorization: Bearer {token}",
        "--checks", ",".join(CHECKS),
        "--seed", str(seed), "--max-examples", str(max_examples),
        "--no-color", "--workers", "1",
        "--phases", phases,
        "--suppress-health-check", "all",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]  # fmt: skip
    done = subprocess.run(  # in ``work``: schemathesis keeps its crash cache in the cwd
        command, cwd=work, capture_output=True, text=True, timeout=3600, check=False
    )
    outcome = read_report(report)
    outcome.exit_code = done.returncode
    outcome.output = done.stdout
    return outcome


def read_report(report: Path) -> Outcome:
    """Cases run, the failed ones by check, and responses by status, from the NDJSON report."""
    outcome = Outcome()
    for line in report.read_text(encoding="utf-8").splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished.get("recorder") or {}
        outcome.cases += len(recorder.get("cases") or {})
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if check.get("status") != "success":
                    outcome.failures[check["name"]] += 1
        for interaction in (recorder.get("interactions") or {}).values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                outcome.statuses[response["status_code"]] += 1
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--phases",
        default="examples,coverage,fuzzing",
        help="schemathesis phases (coverage: every boundary of every parameter, the bulk)",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    # Deep coverage: the admin's own revoked token must not throttle the rest of the run.
    # No nodes, whatever the environment says: generated routing changes, transfers and
    # monitor requests must never reach a real Asterisk (503 instead).
    settings = settings.model_copy(
        update={"api_docs": True, "auth_failures_per_minute": 100_000, "nodes_file": None}
    )
    failed = False
    with scratch_database(resolve_database_url(settings), "callctl_fuzz") as url:
        tokens = asyncio.run(_tokens(url))
        with Served(settings, url) as base, tempfile.TemporaryDirectory() as tmp:
            for who, token in tokens.items():
                started = time.monotonic()
                work = Path(tmp) / who
                work.mkdir()
                outcome = run_schemathesis(
                    base, token, max_examples=args.max_examples, seed=args.seed, work=work,
                    phases=args.phases,
                )  # fmt: skip
                failures = outcome.failures
                statuses = ", ".join(f"{s}: {n}" for s, n in sorted(outcome.statuses.items()))
                print(
                    f"{who}: {outcome.cases} cases in {time.monotonic() - started:.0f} s "
                    f"(seed {args.seed}, phases {args.phases}, at most {args.max_examples} "
                    "fuzzed per operation): "
                    f"{failures['not_a_server_error']} server errors, "
                    f"{failures['status_code_conformance']} undocumented status codes, "
                    f"{failures['response_schema_conformance']} response schema violations, "
                    f"{failures['content_type_conformance']} content type mismatches; "
                    f"responses by status: {statuses}"
                )
                if outcome.exit_code != 0 or sum(failures.values()):
                    failed = True
                    print(outcome.output[-8000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
