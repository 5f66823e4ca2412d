"""The rehearsal runs setup-python's inputs and the install line as a hosted runner would.

Issue 20 item 5: the generated workflow failed as written in repositories without a
pyproject.toml (``setup-python`` with ``cache: pip`` keyed on files that do not exist) and
with an install line naming a package the index does not have, and ``ci-rehearse`` passed
because it replaced both steps with this machine's interpreter and ``multiarch``. Here the
project has no pyproject.toml (its settings are in invoke.yaml, as a Go project's would
be): the cache inputs fail the rehearsal with the action's own message, and a pinned git
install line installs multiarch-tasks into each job's fresh venv, whose ``multiarch`` the
later steps run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from multiarch_tasks.ci import templates as ci
from multiarch_tasks.ci.rehearse import run as rehearse
from multiarch_tasks.ci.rehearse.steps import slug
from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.engine.runner import Runner
from tests.conftest import APP_ONLY, EXAMPLE, index_platforms, pinned_requirement

pytestmark = pytest.mark.e2e
PLATFORMS = ["linux/amd64", "linux/arm64"]
WORKFLOW = ".github/workflows/multiarch.yml"


def make_project(tmp: Path, image: str, base: str, install: str = "multiarch-tasks==0.1.0") -> Path:
    """The example app with its settings in invoke.yaml and no pyproject.toml anywhere."""
    project = tmp / "project"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    config = {"image": image, "tags": ["rehearsed"], "platforms": PLATFORMS,
              "build_args": {"BASE": base}, "install": install}  # fmt: skip
    (project / "invoke.yaml").write_text(yaml.safe_dump({"multiarch": config}))
    assert not list(project.rglob("pyproject.toml"))
    return project


def workflow(project: Path, config: dict[str, object], **setup_python: str | None) -> Path:
    """The generated workflow with these setup-python inputs (None drops one) and git-committed."""
    text = ci.ci_template(
        settings_from(invoke_config=config), "github", local_registry=True, project=str(project)
    )
    doc = yaml.safe_load(text)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/setup-python"):
                step["with"].update(setup_python)
                step["with"] = {k: v for k, v in step["with"].items() if v is not None}
    path = ci.write_template(project / WORKFLOW, yaml.safe_dump(doc, sort_keys=False))
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                        *argv], check=True, capture_output=True)  # fmt: skip
    return path


def config_of(project: Path) -> dict[str, object]:
    return dict(yaml.safe_load((project / "invoke.yaml").read_text())["multiarch"])


def test_rehearsal_fails_where_setup_python_finds_no_file_for_its_pip_cache_key(
    base_image, registry, repo, tmp_path
):
    project = make_project(tmp_path, repo, base_image.ref)
    path = workflow(
        project, config_of(project), cache="pip", **{"cache-dependency-path": "pyproject.toml"}
    )

    with pytest.raises(rehearse.RehearsalError) as failed:
        rehearse.rehearse(path, Runner(), project=project)

    message = str(failed.value)
    assert re.search(
        r"failed in job build linux/(amd64|arm64): actions/setup-python: No file in \S+/workspace"
        r" matched to \[pyproject\.toml or \*\*/pyproject\.toml\], make sure you have checked"
        r" out the target repository",
        message,
    ), message
    assert registry.manifest(f"{repo.split('/', 1)[1]}-rehearsal", "rehearsed") is None


def test_rehearsal_runs_the_install_line_in_a_fresh_venv_and_the_jobs_use_its_multiarch(
    base_image, registry, repo, tmp_path, capsys
):
    requirement, commit = pinned_requirement(tmp_path)
    project = make_project(tmp_path, repo, base_image.ref, requirement)
    # As ci-template writes it for a repository without pyproject.toml: no pip cache input.
    path = workflow(project, config_of(project))
    text = path.read_text()
    assert "cache: pip" not in text
    assert f"pip install '{requirement}'" in text  # the install setting, as the jobs run it

    result = rehearse.rehearse(path, Runner(), project=project)

    out = capsys.readouterr().out
    assert result.ok, result.render()
    assert index_platforms(registry, f"{repo}-rehearsal:rehearsed") == PLATFORMS
    for job in result.jobs:
        venv = project / rehearse.WORK_DIR / "jobs" / slug(job.name) / "python"
        notes = "\n".join(job.notes)
        assert f"the later steps run {venv}/bin/multiarch" in notes, notes
        # Installed from the pinned commit of the test's own repository (PEP 610).
        (direct_url,) = venv.glob("lib/python*/site-packages/multiarch_tasks-*/direct_url.json")
        assert json.loads(direct_url.read_text())["vcs_info"]["commit_id"] == commit
    assert out.count("multiarch 0.1.0") >= len(result.jobs)  # `multiarch --version` per job
