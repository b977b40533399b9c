"""Schemathesis over the whole OpenAPI schema (a short run, fixed seed), with a restricted
token and an admin's: 0 server errors, 0 undocumented status codes, 0 response schema
violations. The longer run is ``python -m benchmarks.fuzz_api``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.db

REPO_ROOT = Path(__file__).resolve().parents[2]  # benchmarks/ is not in the package
FUZZ = (sys.executable, "-m", "benchmarks.fuzz_api")


def test_generated_requests_find_no_server_error_and_no_undocumented_answer(
    server_url: str,
) -> None:
    run = subprocess.run(
        [*FUZZ, "--phases", "examples,fuzzing", "--max-examples", "4", "--seed", "18"],
        cwd=REPO_ROOT,
        # Without the lab's nodes (the lab fixture exports them): nothing generated may
        # reach the lab's Asterisk.
        env={
            **{k: v for k, v in os.environ.items() if k != "CALLCTL_NODES_FILE"},
            "CALLCTL_DATABASE_URL": server_url,
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-4000:] + out
    for who in ("restricted", "admin"):
        line = re.search(rf"^{who}: (\d+) cases .*$", out, re.M)
        assert line is not None, out
        assert int(line[1]) > 200, line[0]  # every operation was exercised, not skipped
        assert (
            "0 server errors, 0 undocumented status codes, 0 response schema violations, "
            "0 content type mismatches" in line[0]
        ), line[0]
        assert "200: " in line[0], line[0]
