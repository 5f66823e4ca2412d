"""An explicit REF is used as given, wherever the command runs (issue 17, item 8).

A project whose settings (``[tool.multiarch-tasks]`` in pyproject.toml, or ``multiarch:``
in invoke.yaml) name the same repository with other tags, tag rules, or another image
must not change what ``verify REF``, ``inspect REF`` or ``mirror SRC DEST`` report: the
same command inside the project and in an empty directory gives the same exit code and
the same output.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import run_cli, tag_digest

if TYPE_CHECKING:
    from pathlib import Path

    from testbed.registry import Registry
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e

# What a project may configure; {repo} is the repository REF names, {other} another one.
PROJECTS = {
    "pyproject-same-repo-other-tags": (
        "pyproject.toml",
        '[tool.multiarch-tasks]\nimage = "{repo}"\ntags = ["9.9", "stable"]\n',
    ),
    "pyproject-tag-rules": (
        "pyproject.toml",
        '[tool.multiarch-tasks]\nimage = "{repo}"\ntag_rules = ["type=sha"]\n',
    ),
    "pyproject-other-image": (
        "pyproject.toml",
        '[tool.multiarch-tasks]\nimage = "{other}"\ntags = ["9.9"]\n',
    ),
    "invoke-yaml-same-repo-other-tags": (
        "invoke.yaml",
        'multiarch:\n  image: "{repo}"\n  tags: ["9.9", "stable"]\n',
    ),
}


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_verify_inspect_and_mirror_of_an_explicit_ref_give_the_same_result_in_and_out_of_a_project(
    partial_base_image: BaseImage, registry: Registry, repo: str, tmp_path: Path, project: str
) -> None:
    ref = f"{repo}:t"
    subprocess.run(
        ["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
         "--dest-tls-verify=false", f"docker://{partial_base_image.ref}", f"docker://{ref}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    name, text = PROJECTS[project]
    inside, outside = tmp_path / "project", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    (inside / name).write_text(text.format(repo=repo, other=registry.repo("other")))
    for command in (["verify", ref], ["inspect", ref], ["verify", ref, "--json"]):
        there = run_cli(*command, cwd=inside, timeout=300)
        here = run_cli(*command, cwd=outside, timeout=300)
        assert (there.returncode, there.stdout) == (here.returncode, here.stdout), (
            f"{command}: inside the project\n{there.output}\nelsewhere\n{here.output}"
        )
        assert there.returncode == 0, there.output
    assert json.loads(run_cli("verify", ref, "--json", cwd=inside).stdout)["problems"] == []
    for where, tag in ((inside, "in"), (outside, "out")):
        done = run_cli("mirror", ref, f"{repo}:{tag}", "--tool", "native", cwd=where, timeout=300)
        assert done.returncode == 0, done.output
    assert tag_digest(registry, f"{repo}:in") == tag_digest(registry, f"{repo}:out")
    assert tag_digest(registry, f"{repo}:in") == tag_digest(registry, ref)
