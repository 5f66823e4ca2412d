"""Tasks through invoke's own parser: config from every layer arrives (STYLE habit 5).

``ci-template`` prints the resolved image/tags/platforms and needs no engine, so it shows
which layer won. Each case runs a real ``python -m invoke`` (or the ``multiarch`` script)
in a project directory, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _inv(project: Path, *args: str, env: dict[str, str] | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _project(
    tmp_path: Path, tasks_py: str, invoke_yaml: dict | None = None, pyproject: str = ""
) -> Path:
    (tmp_path / "tasks.py").write_text(textwrap.dedent(tasks_py))
    if invoke_yaml is not None:
        (tmp_path / "invoke.yaml").write_text(json.dumps(invoke_yaml))
    if pyproject:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    return tmp_path


PLAIN = """
    from invoke import Collection
    from multiarch_tasks import multiarch
    ns = Collection(multiarch)
"""


def test_invoke_yaml_reaches_the_task(tmp_path):
    project = _project(
        tmp_path,
        PLAIN,
        {
            "multiarch": {
                "image": "r.example/team/app",
                "tags": ["7"],
                "platforms": ["linux/s390x", "arm64"],
            }
        },
    )
    done = _inv(project, "multiarch.ci-template")
    assert done.returncode == 0, done.stderr
    assert "image=r.example/team/app tags=7 platforms=linux/s390x,linux/arm64" in done.stdout


def test_layers_pyproject_then_yaml_then_env_then_flags(tmp_path):
    project = _project(
        tmp_path,
        PLAIN,
        {"multiarch": {"tags": ["from-yaml"]}},
        pyproject='[tool.multiarch-tasks]\nimage = "r.example/py/app"\ntags = ["from-py"]\n'
        'platforms = "linux/ppc64le"\n',
    )
    done = _inv(project, "multiarch.ci-template")
    assert "image=r.example/py/app tags=from-yaml" in done.stdout  # yaml beats pyproject
    assert "platforms=linux/ppc64le" in done.stdout
    env = {"INVOKE_MULTIARCH_PLATFORMS": "linux/amd64,linux/arm/v7"}
    done = _inv(project, "multiarch.ci-template", env=env)
    assert "platforms=linux/amd64,linux/arm/v7" in done.stdout  # env beats yaml
    done = _inv(project, "--help", "multiarch.ci-template")
    assert done.returncode == 0


def test_from_module_config_deep_merges(tmp_path):
    project = _project(
        tmp_path,
        """
        from invoke import Collection
        import multiarch_tasks.tasks
        ns = Collection()
        ns.add_collection(Collection.from_module(
            multiarch_tasks.tasks, config={"multiarch": {"image": "r.example/mod/app"}}))
    """,
    )
    done = _inv(project, "multiarch.ci-template", env={"INVOKE_MULTIARCH_TAGS": "from-env"})
    assert done.returncode == 0, done.stderr
    assert "image=r.example/mod/app tags=from-env" in done.stdout


def test_shallow_root_configure_still_honours_env(tmp_path):
    """``ns.configure({"multiarch": ...})`` on the root drops our declared keys; env must
    still arrive (invoke alone would ignore INVOKE_MULTIARCH_TAGS silently here)."""
    project = _project(
        tmp_path,
        """
        from invoke import Collection
        from multiarch_tasks import multiarch
        ns = Collection()
        ns.add_collection(multiarch)
        ns.configure({"multiarch": {"image": "r.example/root/app"}})
    """,
    )
    done = _inv(project, "multiarch.ci-template", env={"INVOKE_MULTIARCH_TAGS": "env-tag"})
    assert done.returncode == 0, done.stderr
    assert "image=r.example/root/app tags=env-tag" in done.stdout


def test_unknown_key_in_invoke_yaml_is_one_line_error(tmp_path):
    project = _project(tmp_path, PLAIN, {"multiarch": {"platfroms": "linux/amd64"}})
    done = _inv(project, "multiarch.ci-template")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        (
            "multiarch: error: platfroms (from invoke config 'multiarch'): unknown key;"
            " did you mean 'platforms'?"
        )
    ]


def test_flags_beat_config_and_comma_tags(tmp_path):
    project = _project(tmp_path, PLAIN, {"multiarch": {"image": "r.example/a/b"}})
    done = subprocess.run(
        [str(BIN / "multiarch"), "ci-template", "--provider", "gitlab"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "image=r.example/a/b" in done.stdout  # the CLI reads ./invoke.yaml too
    assert "stages:\n- build\n- merge\n" in done.stdout


@pytest.mark.parametrize("args", [["--list"], ["--help", "publish"], ["--version"]])
def test_console_script_speaks_invoke(args):
    done = subprocess.run(
        [str(BIN / "multiarch"), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_debug_shows_traceback(tmp_path):
    done = subprocess.run(
        [str(BIN / "multiarch"), "--debug", "build", "--platforms", "x/y/z/w"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    plain = subprocess.run(
        [str(BIN / "multiarch"), "build", "--platforms", "x/y/z/w"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in plain.stderr


def test_env_sets_mapping_keys(tmp_path):
    """invoke's env loader skips mapping keys; build_args etc. still come from env."""
    project = _project(tmp_path, PLAIN, {"multiarch": {"build_args": {"A": "yaml"}}})
    code = (
        "from invoke import Config, Context;"
        "from multiarch_tasks.tasks import settings_for;"
        "c = Context(Config(overrides={'multiarch': {'build_args': {'A': 'yaml'}}}));"
        "print(dict(settings_for(c).build_args))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={**os.environ, "INVOKE_MULTIARCH_BUILD_ARGS": "A=env,B=2"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'A': 'env', 'B': '2'}"


def test_unquoted_numeric_tag_in_invoke_yaml_is_refused(tmp_path):
    """YAML turns `1.10` into 1.1; the tag must not change silently."""
    (tmp_path / "tasks.py").write_text(textwrap.dedent(PLAIN))
    (tmp_path / "invoke.yaml").write_text("multiarch:\n  image: r.example/a/b\n  tags: [1.10]\n")
    done = _inv(tmp_path, "multiarch.ci-template")
    assert done.returncode == 1
    assert "tag 1.1 is a number in the config file; quote it" in done.stderr


def test_unquoted_numeric_build_arg_in_invoke_yaml_is_refused(tmp_path):
    (tmp_path / "tasks.py").write_text(textwrap.dedent(PLAIN))
    (tmp_path / "invoke.yaml").write_text(
        "multiarch:\n  image: r.example/a/b\n  build_args: {GO_VERSION: 1.20}\n"
    )
    done = _inv(tmp_path, "multiarch.ci-template")
    assert done.returncode == 1
    assert "GO_VERSION: 1.2 is a number in the config file; quote it" in done.stderr
