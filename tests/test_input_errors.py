"""Every bad input of issue 9 (Why, point 5) through the real ``multiarch`` console script.

Each row runs ``multiarch publish --image 127.0.0.1:1/x`` in a project directory holding a
Dockerfile, with the row's invoke.yaml, env and flags, and proves: exit 1, exactly one
line of output, no traceback, the bad key and value named (with file:line for YAML), and
nothing built: no ``buildx build`` printed, no output directory created. The mapping forms
the docs promise are proven to work, through invoke's own config merge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from invoke.config import Config

from multiarch_tasks.config.settings import settings_from_invoke
from multiarch_tasks.program import MultiarchConfig
from multiarch_tasks.tasks import multiarch

MULTIARCH = Path(sys.executable).parent / "multiarch"
IMAGE = "127.0.0.1:1/x"


@dataclass(frozen=True)
class Case:
    yaml: str = ""
    image: str = IMAGE
    env: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    needles: tuple[str, ...] = ()


CASES = {
    "malformed invoke.yaml": Case(
        yaml="multiarch:\n  image: [a\n", needles=("invoke.yaml:3", "not valid YAML", "image: [a")
    ),
    "multiarch holding a list": Case(
        yaml="multiarch:\n  - linux/amd64\n",
        needles=("multiarch (from invoke.yaml:1)", "expected a mapping", "['linux/amd64']"),
    ),
    "multiarch holding a scalar": Case(
        yaml="multiarch: 3\n", needles=("multiarch (from invoke.yaml:1)", "int 3")
    ),
    "output dir under /proc": Case(
        flags=("--output-dir", "/proc/nope"),
        needles=("output_dir (from command line)", "'/proc/nope'", "cannot be created"),
    ),
    "output dir is a file": Case(
        flags=("--output-dir", "Dockerfile"),
        needles=("output_dir (from command line)", "'Dockerfile'", "is a file"),
    ),
    "mistyped env variable": Case(
        env={"INVOKE_MULTIARCH_PLATFROMS": "linux/amd64"},
        needles=("INVOKE_MULTIARCH_PLATFROMS", "did you mean INVOKE_MULTIARCH_PLATFORMS?"),
    ),
    "jobs with a fraction": Case(
        yaml="multiarch:\n  jobs: 1.7\n", needles=("jobs (from invoke.yaml:2)", "1.7")
    ),
    "retries as a boolean": Case(
        yaml="multiarch:\n  retries: true\n", needles=("retries (from invoke.yaml:2)", "true")
    ),
    "jobs flag with a fraction": Case(flags=("--jobs", "1.7"), needles=("jobs", "'1.7'")),
    "unquoted numeric tag": Case(
        yaml="multiarch:\n  tags: [1.10]\n",
        needles=("tags (from invoke.yaml:2)", 'quote it as written: "1.10"'),
    ),
    "tag with a slash": Case(
        flags=("--tag", "v1/x"), needles=("tags (from command line)", "invalid tag 'v1/x'")
    ),
    "registry host as image": Case(
        image="127.0.0.1:5000",
        needles=("image (from command line)", "'127.0.0.1:5000' is a registry host"),
    ),
}
# Rows that pass only once the lead wires settings_from_invoke into tasks.settings_for and
# check_output_dir into publish/build (see the branch report): output dir under /proc,
# output dir is a file, mistyped env variable, jobs with a fraction and retries as a
# boolean (for the invoke.yaml:LINE source), unquoted numeric tag (for the "1.10" hint).
# The mapping-form tests below need the collection's invoke declaration removed.


def _publish(project: Path, case: Case) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    argv = [str(MULTIARCH), "publish", "--image", case.image, "--platforms", "linux/amd64"]
    return subprocess.run(
        [*argv, *case.flags],
        cwd=project,
        env={**env, **case.env},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_naming_it_and_nothing_is_built(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /x\n")
    if case.yaml:
        (tmp_path / "invoke.yaml").write_text(case.yaml)
    done = _publish(tmp_path, case)
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert done.returncode == 1, output[-2000:]
    assert "Traceback" not in output
    assert len(lines) == 1, output[-2000:]
    assert lines[0].startswith("multiarch: error: ")
    for needle in case.needles:
        assert needle in lines[0]
    assert "buildx build" not in output
    assert not (tmp_path / ".multiarch").exists()
    assert not Path("/proc/nope").exists()


# --- the documented forms work, through invoke's own merge ----------------------------


def _invoke_config(project: Path, yaml: str, config_class: type[Config] = Config) -> Config:
    """What ``inv`` builds: the collection's declared config, then the project's invoke.yaml."""
    (project / "invoke.yaml").write_text(yaml)
    config = config_class(lazy=True)
    config.set_project_location(str(project))
    config.load_project()
    config.load_shell_env()
    config.load_collection(multiarch.configuration())  # invoke's Executor does this
    return config


@pytest.mark.parametrize(
    ("yaml", "build_args", "labels"),
    [
        ('multiarch:\n  build_args: "A=1,B=2"\n', {"A": "1", "B": "2"}, {}),
        ("multiarch:\n  build_args: [A=1, B=x=y]\n", {"A": "1", "B": "x=y"}, {}),
        ("multiarch:\n  build_args: {A: '1'}\n  labels: null\n", {"A": "1"}, {}),
        ("multiarch:\n  labels: {org.example.team: web}\n", {}, {"org.example.team": "web"}),
        ("multiarch:\n  labels: [a=b]\n  build_args:\n", {}, {"a": "b"}),
    ],
)
def test_documented_mapping_forms_merge_and_resolve(
    tmp_path: Path, yaml: str, build_args: dict[str, str], labels: dict[str, str]
) -> None:
    config = _invoke_config(tmp_path, yaml)  # invoke raised AmbiguousMergeError here before
    settings = settings_from_invoke(
        config.get("multiarch"), {}, {}, pyproject=tmp_path / "none.toml", project_dir=tmp_path
    )
    assert dict(settings.build_args) == build_args
    assert dict(settings.labels) == labels


def test_driver_opts_as_a_mapping_merges_too(tmp_path: Path) -> None:
    config = _invoke_config(tmp_path, "multiarch:\n  driver_opts: {network: host}\n")
    settings = settings_from_invoke(
        config.get("multiarch"), {}, {}, pyproject=tmp_path / "none.toml", project_dir=tmp_path
    )
    assert settings.driver_opts == ("network=host",)


@pytest.mark.parametrize("config_class", [Config, MultiarchConfig])
def test_env_beats_invoke_yaml_lists_and_mappings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_class: type[Config]
) -> None:
    monkeypatch.setenv("INVOKE_MULTIARCH_PLATFORMS", "linux/s390x")
    monkeypatch.setenv("INVOKE_MULTIARCH_BUILD_ARGS", "A=env,B=2")
    yaml = "multiarch:\n  platforms: linux/amd64\n  build_args: {A: y}\n"
    config = _invoke_config(tmp_path, yaml, config_class)
    settings = settings_from_invoke(
        config.get("multiarch"),
        {},
        os.environ,
        pyproject=tmp_path / "no.toml",
        project_dir=tmp_path,
    )
    assert [str(p) for p in settings.platforms] == ["linux/s390x"]
    assert dict(settings.build_args) == {"A": "env", "B": "2"}
    assert settings.sources["platforms"] == "env INVOKE_MULTIARCH_PLATFORMS"
    assert settings.sources["build_args"] == "env INVOKE_MULTIARCH_BUILD_ARGS"


def test_env_overrides_a_yaml_list_with_the_multiarch_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """invoke's own env loader raises UncastableEnvVar here; the console script's does not."""
    monkeypatch.setenv("INVOKE_MULTIARCH_TAGS", "from-env,second")
    config = _invoke_config(tmp_path, "multiarch:\n  tags: [from-yaml]\n", MultiarchConfig)
    settings = settings_from_invoke(
        config.get("multiarch"),
        {},
        os.environ,
        pyproject=tmp_path / "no.toml",
        project_dir=tmp_path,
    )
    assert settings.tags == ("from-env", "second")
