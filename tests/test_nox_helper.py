"""multiarch_tasks.nox: the ready publish/verify sessions, run by the real nox and CLI.

A throwaway project's noxfile registers the sessions (no virtualenv: ``python=False``);
``INVOKE_RUN_DRY=1`` makes the publish print its plan and push nothing (invoke's own
``--dry`` switch, from the environment).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOXFILE = """\
from multiarch_tasks.nox import publish_session, verify_session

publish_session(python=False, install=())
verify_session(python=False, install=(), name="check")
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (tmp_path / "a").write_text("a\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.multiarch-tasks]\nimage = "127.0.0.1:9/team/app"\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n'
    )
    (tmp_path / "noxfile.py").write_text(NOXFILE)
    return tmp_path


def nox(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bindir = str(Path(sys.executable).parent)
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(cwd / "noxfile.py"), *args],
        cwd=cwd,
        env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_publish_session_runs_multiarch_publish_with_the_posargs(tmp_path):
    done = nox(project(tmp_path), "-s", "publish", "--", "--tag", "t1", INVOKE_RUN_DRY="1")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "nox > multiarch publish --tag t1" in out
    assert "plan: 127.0.0.1:9/team/app:t1 for 2 platform(s)" in out  # settings from pyproject
    assert "publish (dry run)" in out


def test_verify_session_hands_the_ref_to_multiarch_verify(tmp_path):
    done = nox(project(tmp_path), "-s", "check", "--", "127.0.0.1:9/team/app:t1",
               INVOKE_MULTIARCH_RETRIES="0")  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert "nox > multiarch verify 127.0.0.1:9/team/app:t1" in out
    assert "multiarch: error: GET http://127.0.0.1:9/v2/team/app/manifests/t1" in out


@functools.cache  # loading it registers its sessions in nox: once per process
def load_noxfile():
    spec = importlib.util.spec_from_file_location("repo_noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_publish_example_with_one_argument_derives_the_base_from_the_registry():
    args = load_noxfile().example_args(["10.0.0.7:5000"])
    assert args[args.index("--image") + 1] == "10.0.0.7:5000/examples/hello"
    assert args[args.index("--build-arg") + 1] == "BASE=10.0.0.7:5000/demo/busybox:base"


def test_publish_example_with_two_arguments_takes_the_base():
    args = load_noxfile().example_args(["r:1", "r:1/base/busybox:full"])
    assert args[args.index("--build-arg") + 1] == "BASE=r:1/base/busybox:full"


def test_this_repository_noxfile_keeps_its_sessions_and_uses_the_helper():
    done = nox(ROOT, "-l")
    assert done.returncode == 0, done.stderr
    for name in ("tests", "unit", "lint", "typecheck", "publish-example", "verify-example"):
        assert f" {name} -> " in done.stdout
    assert "from multiarch_tasks.nox import" in (ROOT / "noxfile.py").read_text()
