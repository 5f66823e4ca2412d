"""E2E tests never skip in CI: with CI set, a missing bed fails the test (tests/conftest.py).

Runs pytest in a subprocess over a throwaway e2e test that reports the bed missing, once
with CI set and once without, and reads the outcome pytest prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASE = """
import pytest
from tests.conftest import unavailable

pytestmark = pytest.mark.e2e


def test_bed_missing():
    unavailable("no engine here (this test says so on purpose)")


def test_plain_skip():
    pytest.skip("skipped for another reason")
"""


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_case.py").write_text(CASE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(ROOT), "-q", "-p", "no:cacheprovider", str(tmp_path / "test_case.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    return done.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_missing_bed_and_skips_fail(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert "2 failed" in out, out
    assert "CI is set and the test bed is incomplete" in out
    assert "e2e test skipped in CI" in out


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_locally_they_skip_with_the_reason(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert "2 skipped" in out, out
    assert "no engine here" in out
