"""ci-template as a newcomer first runs it (issue 20, items 4, 5 and 7).

The package is installed the way a user installs it from a repository: ``pip install
"multiarch-tasks @ git+URL@COMMIT"`` into a fresh venv, from a git repository holding this
checkout's code. Its real ``multiarch`` console script then writes the workflow in a
directory with no pyproject.toml and no settings, from flags alone; the install line it
writes installs the package again in another fresh venv. The refusals run the console
script of the test venv (an editable install, which is refused unless ``install`` is set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliResult, one_line_error, run_cli

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FIRST_TRY = ("ci-template", "--image", "ghcr.io/acme/app", "--platforms",
             "linux/amd64,linux/arm64")  # fmt: skip


@dataclass(frozen=True)
class Installed:
    bindir: Path
    url: str
    commit: str


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout


def _fresh_venv(where: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(where)])
    # Debian's bundled pip (23.x) cannot parse `name @ git+file:///...`; setup-python's can.
    _run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return where / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """This checkout's code committed to a git repository, pip-installed from its URL."""
    repo = tmp_path_factory.mktemp("source") / "multiarch-tasks"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "multiarch_tasks", repo / "multiarch_tasks",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    _run([*git, "init", "-q", "-b", "main"])
    _run([*git, "add", "."])
    _run([*git, "commit", "-qm", "snapshot"])
    commit = _run([*git, "rev-parse", "HEAD"]).strip()
    url = repo.as_uri()
    bindir = _fresh_venv(tmp_path_factory.mktemp("venv") / "v")
    _run([str(bindir / "pip"), "install", "-q", f"multiarch-tasks @ git+{url}@{commit}"])
    return Installed(bindir, url, commit)


def _script(installed: Installed, *args: str, cwd: Path) -> CliResult:
    done = subprocess.run(
        [str(installed.bindir / "multiarch"), *args], cwd=cwd, capture_output=True, text=True,
        check=False, timeout=120, env={k: v for k, v in os.environ.items()
                                       if not k.startswith("INVOKE_MULTIARCH_")},
    )  # fmt: skip
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_first_try_writes_a_workflow_from_the_flags_that_installs_this_commit(installed, tmp_path):
    empty = tmp_path / "go-project"  # no pyproject.toml, no requirements file, no settings
    empty.mkdir()

    done = _script(installed, *FIRST_TRY, cwd=empty)

    assert done.returncode == 0, done.output
    text = done.stdout
    assert "image=ghcr.io/acme/app" in text.split("jobs:")[0]  # the settings comment
    doc = yaml.safe_load(text)
    build = doc["jobs"]["build"]
    assert [m["platform"] for m in build["strategy"]["matrix"]["include"]] == [
        "linux/amd64", "linux/arm64",
    ]  # fmt: skip
    runs = [s.get("run", "") for s in build["steps"]]
    assert any(r.startswith("multiarch build --image ghcr.io/acme/app ") for r in runs), runs
    spec = f"multiarch-tasks @ git+{installed.url}@{installed.commit}"
    install = next(s for s in build["steps"] if s.get("id") == "install")
    assert install["run"] == f"pip install '{spec}'"
    python = next(s for s in build["steps"] if "setup-python" in s.get("uses", ""))
    assert "cache" not in python["with"]  # nothing here for setup-python's pip cache to key on

    # The line as written installs the package in another fresh venv.
    bindir = _fresh_venv(tmp_path / "job-venv")
    _run(["bash", "-eo", "pipefail", "-c", install["run"]],
         env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    listed = _run([str(bindir / "multiarch"), "--list"])
    assert "ci-template" in listed


def test_the_template_refuses_no_image_and_a_loopback_registry_naming_the_setting(tmp_path):
    env = {"INVOKE_MULTIARCH_INSTALL": "multiarch-tasks @ git+https://example.com/m.git@abc"}
    one_line_error(run_cli("ci-template", cwd=tmp_path, env=env), "no image", "--image")
    one_line_error(
        run_cli("ci-template", "--image", "127.0.0.1:5000/app", cwd=tmp_path, env=env),
        "127.0.0.1:5000",
        "loopback",
        "image",
    )


def test_an_editable_install_is_refused_unless_the_install_setting_gives_the_line(tmp_path):
    """The test venv holds an editable install: no URL a runner could install it from."""
    one_line_error(run_cli(*FIRST_TRY, cwd=tmp_path), "editable", "install")
    line = "multiarch-tasks @ git+https://example.com/acme/multiarch-tasks.git@0123abc"
    done = run_cli(*FIRST_TRY, cwd=tmp_path, env={"INVOKE_MULTIARCH_INSTALL": line})
    assert done.returncode == 0, done.output
    assert f"pip install '{line}'" in done.stdout
