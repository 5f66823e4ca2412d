"""publish in GitHub Actions: each platform's log in a group, a failure annotated with its
platform, the platform / digest / verify table in the job summary."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


def test_github_actions_groups_summary_and_error_naming_the_platform(
    base_image, registry, repo, tmp_path
):
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nARG FAIL_ON=none\n"
        'RUN if [ "$(uname -m)" = "$FAIL_ON" ]; then echo "boom on $FAIL_ON" >&2; exit 3; fi\n'
    )
    common = [
        "publish", "--image", repo, "--platforms", "linux/amd64,linux/s390x",
        "--strategy", "per-arch", "--context", str(context),
    ]  # fmt: skip
    good = run_cli(*common, "--tag", "gh", "--output-dir", str(tmp_path / "o1"), env=env)
    assert good.returncode == 0, good.output[-3000:]
    lines = good.stdout.splitlines()
    for platform in ("linux/amd64", "linux/s390x"):
        start = lines.index(f"::group::{platform}: ok")
        end = lines.index("::endgroup::", start)
        # Inside its group, each line carries the short platform (issue 18), not the list.
        short = platform.removeprefix("linux/")
        body = lines[start + 1 : end]
        assert any(line.startswith(f"{short:>7} │ #") for line in body), body[:5]
        assert not any("[linux/" in line.split("│")[0] for line in body)
    text = summary.read_text()
    assert "### ✅ multiarch publish" in text
    assert "| linux/amd64 | `sha256:" in text
    assert "| linux/s390x | `sha256:" in text
    assert text.count("| ok |") == 2

    bad = run_cli(
        *common, "--tag", "gh-bad", "--build-arg", "FAIL_ON=s390x",
        "--output-dir", str(tmp_path / "o2"), env=env,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "::group::linux/s390x: FAILED (exit 1)" in bad.stdout
    errors = [line for line in bad.stderr.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1, bad.stderr
    assert errors[0].startswith("::error title=multiarch: linux/s390x failed::")
