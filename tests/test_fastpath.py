"""The fast path reads a command line and the config files exactly as invoke's program does.

Each case runs through both readers in one project directory and home: invoke's
``Program`` (its parser and config loading, with the task body replaced by a recorder)
and :func:`multiarch_tasks.fastpath.read`. They must hand the task body the same task,
flag values, ``multiarch:`` section and run options. Command lines the fast path does not
read must fall back, and the real ``multiarch`` script must still answer them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from multiarch_tasks import fastpath, tasks
from multiarch_tasks.cli import program

BIN = Path(sys.executable).parent

ARGVS = [
    ["inspect", "reg.example/x:1"],
    ["inspect", "reg.example/x:1", "--platform", "linux/arm64", "--json"],
    ["inspect", "--ref", "reg.example/x:1"],
    ["verify", "r.example/a:1", "--platforms=linux/amd64,linux/arm64", "-d", "--run"],
    ["verify", "--allow-single", "r.example/a:1", "-p", "linux/s390x"],
    [
        "publish", "-i", "reg.example/app", "-t", "v1", "--tag", "v2", "--build-arg", "A=1",
        "-b", "B=2", "--no-verify", "--secret", "id=t,env=T", "--strategy", "per-arch",
        "--cache=registry", "-j", "2", "--deep", "--registry", "ghcr.io",
    ],
    ["build", "--tag=v1,v2", "--context", "app", "-f", "app/Dockerfile", "-u", "farm"],
    ["merge", "--from", "a,b", "--image", "reg.example/x", "-m", "native"],
    ["mirror", "a.example/x:1", "b.example/x:1", "--tool", "native", "--no-attestations"],
    ["ci-template", "--provider", "gitlab", "--runner-label", "linux/arm64=arm", "--output", "o"],
    ["qemu-setup", "--mode", "off", "-p", "linux/arm64"],
    ["builder-create", "--use", "--driver", "docker-container", "--builder", "b"],
    ["ci-rehearse", "pipeline.yml", "--jobs", "2", "--work-dir", "w"],
    ["lint", "--file", "Dockerfile", "--json"],
    ["doctor"],
    ["preflight", "--allow-unreachable", "--build-arg", "BASE=x"],
    ["manifest-create"],
    ["manifest-push", "--json", "--attestations", "off"],
]  # fmt: skip

CONFIGS: dict[str, dict[str, Any]] = {
    "none": {},
    "project yaml": {
        "invoke.yaml": "multiarch:\n  image: reg.example/app\n  tags: [a, b]\nrun:\n  echo: true\n"
    },
    "user and project": {
        "~/.invoke.yml": "multiarch:\n  platforms: linux/amd64\n  image: user/app\n",
        "invoke.yaml": "multiarch:\n  image: project/app\nrun:\n  dry: true\n",
    },
    "project json": {"invoke.json": json.dumps({"multiarch": {"jobs": 3}})},
    "empty file": {"invoke.yaml": ""},
    "env only": {"env": {"INVOKE_MULTIARCH_IMAGE": "env/app"}},
}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _place(config: dict[str, Any], project: Path, home: Path) -> dict[str, str]:
    env = {}
    for name, text in config.items():
        if name == "env":
            env = text
            continue
        path = home / name[2:] if name.startswith("~/") else project / name
        path.write_text(text)
    return env


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("INVOKE_"):
            monkeypatch.delenv(name)
    return project, home


def _through_invoke(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []

    def record(spec, section, options, values) -> None:
        seen.append((spec.name, _plain(values), _plain(section), options))

    monkeypatch.setattr(tasks, "run_task", record)
    program().run(["multiarch", *argv], exit=False)
    assert len(seen) == 1, f"invoke ran {len(seen)} tasks for {argv}"
    return seen[0]


def _through_fastpath(argv: list[str]) -> tuple[Any, ...]:
    call = fastpath.read(argv)
    return (call.spec.name, _plain(call.values), _plain(call.section), call.options)


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a[:2]) for a in ARGVS])
def test_fast_path_hands_the_task_what_invoke_hands_it(
    argv: list[str], config: str, dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _place(CONFIGS[config], *dirs).items():
        monkeypatch.setenv(name, value)
    fast = _through_fastpath(argv)
    assert fast == _through_invoke(argv, monkeypatch)


FALLBACK_ARGVS = [
    [],
    ["--help"],
    ["-h", "inspect"],
    ["inspect", "--help"],
    ["--list"],
    ["inspect"],
    ["--echo", "publish"],
    ["build", "merge"],
    ["inspect", "x:1", "--platform", "--json"],
    ["publish", "--image", "a", "--image", "b"],
    ["verify", "r:1", "--deep=yes"],
    ["verify", "r:1", "--unknown"],
    ["qemu_setup"],
    ["no-such-task"],
    ["inspect", "x:1", "extra"],
]


@pytest.mark.parametrize(
    "argv", FALLBACK_ARGVS, ids=[" ".join(a) or "empty" for a in FALLBACK_ARGVS]
)
def test_command_lines_the_fast_path_does_not_read_go_to_invoke(
    argv: list[str], dirs: tuple[Path, Path]
) -> None:
    with pytest.raises(fastpath.FallBack):
        fastpath.read(argv)


FALLBACK_CONFIGS: dict[str, dict[str, Any]] = {
    "python config": {"invoke.py": "multiarch = {'image': 'x'}\n"},
    "bad yaml": {"invoke.yaml": "multiarch: [\n"},
    "other invoke section": {"invoke.yaml": "tasks:\n  auto_dash_names: false\n"},
    "other run key": {"invoke.yaml": "run:\n  warn: true\n"},
    "multiarch is a list": {"invoke.yaml": "multiarch: [a]\n"},
    "invoke env var": {"env": {"INVOKE_RUN_ECHO": "1"}},
    "our env var over a file section": {
        "invoke.yaml": "multiarch:\n  image: a/b\n",
        "env": {"INVOKE_MULTIARCH_IMAGE": "c/d"},
    },
    "dict over a value": {
        "~/.invoke.yaml": "multiarch:\n  image: a/b\n",
        "invoke.yaml": "multiarch:\n  image:\n    name: c\n",
    },
}


@pytest.mark.parametrize("config", FALLBACK_CONFIGS, ids=list(FALLBACK_CONFIGS))
def test_config_the_fast_path_does_not_read_goes_to_invoke(
    config: str, dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _place(FALLBACK_CONFIGS[config], *dirs).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(fastpath.FallBack):
        fastpath.read(["inspect", "x:1"])


def _script(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    return subprocess.run(
        [str(BIN / "multiarch"), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_script_falls_back_to_invoke_for_help_and_for_a_python_config(
    dirs: tuple[Path, Path],
) -> None:
    project, _ = dirs
    helped = _script(["inspect", "--help"], project)
    assert helped.returncode == 0
    assert "Usage: multiarch [--core-opts] inspect" in helped.stdout
    # A task the fast path reads, with a config only invoke reads: invoke's answer.
    (project / "invoke.py").write_text("multiarch = {'image': 'UPPER/case'}\n")
    refused = _script(["ci-template"], project)
    assert refused.returncode == 1
    assert refused.stderr.startswith("multiarch: error:")
    assert "UPPER/case" in refused.stderr


def test_the_script_runs_a_task_without_loading_invoke(dirs: tuple[Path, Path]) -> None:
    project, _ = dirs
    (project / "Dockerfile").write_text("FROM reg.example/base:1\nRUN make\n")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['multiarch', 'lint', '--json']\n"
        "try:\n    runpy.run_module('multiarch_tasks.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('INVOKE' if 'invoke' in sys.modules else 'NO-INVOKE', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    *document, last = done.stdout.splitlines()
    assert json.loads("\n".join(document))["ok"] is True
    assert last == "NO-INVOKE 0"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_what_invoke_prints_without_loading_invoke(
    flag: str, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    program().run(["multiarch", flag], exit=False)
    by_invoke = capsys.readouterr().out
    probe = (
        "import sys\nfrom multiarch_tasks import fastpath\n"
        f"code = fastpath.run([{flag!r}])\n"
        "print('INVOKE' if 'invoke' in sys.modules else 'NO-INVOKE', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    *printed, last = done.stdout.splitlines()
    assert printed == by_invoke.splitlines()
    assert printed[0].startswith("multiarch ")
    assert last == "NO-INVOKE 0"
