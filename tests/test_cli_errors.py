"""The CLI before any engine or registry is needed: errors are one line naming the bad
value and where it came from, exit 1, no traceback (issue 3); ``--version`` is the
installed distribution's.

Each runs the installed ``multiarch`` console script, as a user would; none needs the test
bed (a bad value is refused before a probe runs, and the "docker is not installed" case
hides docker by PATH). Those that need the docker CLI or a registry stay in tests/e2e.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

from tests.conftest import EXAMPLE, one_line_error, run_cli


def test_unknown_platform_lists_known_ones():
    line = one_line_error(
        run_cli("build", "--image", "127.0.0.1:1/x", "--platforms", "linux/amd64,linux/arm65"),
        "linux/arm65",
        "linux/arm64",
    )
    assert "known:" in line


def test_malformed_image_reference():
    one_line_error(run_cli("build", "--image", "127.0.0.1:1/Bad Name"), "Bad Name")
    one_line_error(run_cli("verify", "UPPER/Case:tag"), "UPPER/Case")


def test_missing_dockerfile_and_context(tmp_path):
    one_line_error(
        run_cli("build", "--image", "127.0.0.1:1/x", "--context", str(tmp_path)), "Dockerfile"
    )
    one_line_error(
        run_cli("build", "--image", "127.0.0.1:1/x", "--context", str(tmp_path / "nope")), "nope"
    )


def test_docker_not_installed(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    done = run_cli(
        "build", "--image", "127.0.0.1:1/x", "--context", str(EXAMPLE), env={"PATH": str(bindir)}
    )
    one_line_error(done, "docker is not installed")


def test_config_errors_name_key_and_source(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.multiarch-tasks]\nplatfroms = "linux/amd64"\n')
    line = one_line_error(run_cli("build", cwd=tmp_path), "platfroms", "pyproject.toml")
    assert "did you mean 'platforms'" in line
    env_done = run_cli(
        "build",
        "--image",
        "127.0.0.1:1/x",
        cwd=tmp_path.parent,
        env={"INVOKE_MULTIARCH_STRATEGY": "sideways"},
    )
    one_line_error(env_done, "strategy", "sideways")
    assert os.environ.get("INVOKE_MULTIARCH_STRATEGY") is None


def test_cli_bad_destination_is_one_line(tmp_path: Path) -> None:
    done = run_cli("mirror", "127.0.0.1:1/a/b:1", "127.0.0.1:1/Bad/Name", cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    output = (done.stdout + done.stderr).strip()
    assert output.splitlines() == [output]
    assert "invalid repository name 'Bad/Name'" in output


def test_cli_missing_dockerfile_is_one_line_naming_the_path(tmp_path: Path) -> None:
    done = run_cli("preflight", "--file", "missing/Dockerfile", cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert "missing/Dockerfile" in output
    assert "Traceback" not in output


def test_version_is_the_installed_distributions() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.output
    assert done.stdout.split() == ["multiarch", version("multiarch-tasks")]
