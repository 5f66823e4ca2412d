"""``multiarch`` is invoke's Program: its config files and switches reach the task body.

Each test runs the program in-process (invoke's own parser and config loading) in a
project directory and a home of its own, with ``api.build`` replaced by a recorder of the
settings and runner it is handed; the last ones run the installed console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multiarch_tasks import api
from multiarch_tasks.cli import program
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner

BIN = Path(sys.executable).parent


class _Done:
    ok = True

    def render(self) -> str:
        return ""

    def to_json(self) -> dict[str, bool]:
        return {"ok": True}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/project`` as the current directory, ``tmp_path/home`` as HOME."""
    (tmp_path / "project").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in [k for k in os.environ if k.startswith("INVOKE_")]:
        monkeypatch.delenv(name)
    return tmp_path / "project"


@pytest.fixture
def build_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, Runner]]:
    seen: list[tuple[Settings, Runner]] = []

    def step(settings: Settings, runner: Runner) -> _Done:
        seen.append((settings, runner))
        return _Done()

    monkeypatch.setattr(api, "build", step)
    return seen


def _build(seen: list[tuple[Settings, Runner]], *argv: str) -> tuple[Settings, Runner]:
    before = len(seen)
    program().run(["multiarch", *argv], exit=False)
    assert len(seen) == before + 1, "the task did not reach its step"
    return seen[-1]


def test_project_invoke_yaml_beats_the_users_and_the_users_fills_the_rest(
    project: Path, build_calls: list[tuple[Settings, Runner]]
) -> None:
    home = Path(os.environ["HOME"])
    (home / ".invoke.yml").write_text("multiarch:\n  platforms: linux/s390x\n  image: user/app\n")
    (project / "invoke.yaml").write_text("multiarch:\n  image: project/app\n")
    settings, _ = _build(build_calls, "build")
    assert settings.image == "project/app"
    assert [str(p) for p in settings.platforms] == ["linux/s390x"]
    settings, _ = _build(build_calls, "build", "--image", "flag/app")
    assert settings.image == "flag/app"


def test_a_json_project_config_is_read(
    project: Path, build_calls: list[tuple[Settings, Runner]]
) -> None:
    (project / "invoke.json").write_text(json.dumps({"multiarch": {"jobs": 3, "image": "j/a"}}))
    settings, _ = _build(build_calls, "build")
    assert (settings.jobs, settings.image) == (3, "j/a")


def test_run_dry_and_echo_reach_the_runner_from_a_file_and_from_the_switches(
    project: Path, build_calls: list[tuple[Settings, Runner]]
) -> None:
    _, runner = _build(build_calls, "build", "--image", "r/a")
    assert (runner.dry, runner.echo) == (False, False)
    _, runner = _build(build_calls, "--dry", "build", "--image", "r/a")
    assert runner.dry is True
    _, runner = _build(build_calls, "--echo", "build", "--image", "r/a")
    assert (runner.dry, runner.echo) == (False, True)
    (project / "invoke.yaml").write_text("run:\n  dry: true\n")
    _, runner = _build(build_calls, "build", "--image", "r/a")
    assert runner.dry is True


def _script(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "multiarch"), *argv],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_script_answers_task_help_and_refuses_a_python_configs_bad_value(
    project: Path,
) -> None:
    helped = _script(["inspect", "--help"], project)
    assert helped.returncode == 0
    assert "Usage: multiarch [--core-opts] inspect" in helped.stdout
    (project / "invoke.py").write_text("multiarch = {'image': 'UPPER/case'}\n")
    refused = _script(["ci-template"], project)
    assert refused.returncode == 1
    assert refused.stderr.startswith("multiarch: error:")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "UPPER/case" in refused.stderr


def test_a_config_merge_invoke_refuses_is_one_line(project: Path) -> None:
    home = Path(os.environ["HOME"])
    (home / ".invoke.yaml").write_text("multiarch:\n  image: a/b\n")
    (project / "invoke.yaml").write_text("multiarch:\n  image:\n    name: c\n")
    refused = _script(["ci-template"], project)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("multiarch: error: config files cannot be merged")
    assert "Traceback" not in refused.stderr
