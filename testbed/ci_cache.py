"""The build cache across CI runs, rehearsed (issue 20 item 9): a project and its readers.

A project whose Dockerfile has three build steps after its base (a RUN that runs under
QEMU for foreign platforms, a COPY, a last RUN), with its generated GitHub workflow
committed; ``ci-rehearse`` of it with ``DOCKER_HOST`` pointing at one engine or another;
and, from the rehearsal's output, which build steps each platform's shard found CACHED
(BuildKit's plain progress: ``#6 [2/4] RUN ...`` then ``#6 CACHED``). Used by
tests/e2e/test_ci_rehearse_cache.py and bench/ci_cache.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

WORKFLOW = ".github/workflows/multiarch.yml"
LAST_STEP = "RUN echo {release} > /release"
# A shard's buildx output, after the job's prefix: "  arm64 │ #7 [2/4] RUN ..." and
# "  arm64 │ #7 CACHED" (the platform's prefix is publish's plain progress, when it has one;
# "[linux/arm64] " before issue 18).
_PLATFORM = r"(?:\[[\w./-]+\] |\s*[\w./-]+ │ )?"
_STEP = re.compile(rf"^{_PLATFORM}#(\d+) \[(?:[\w./-]+ )?(\d+)/(\d+)\] (.*)$")
_CACHED = re.compile(rf"^{_PLATFORM}#(\d+) CACHED$")
_VERTEX = re.compile(rf"^{_PLATFORM}#(\d+) (.*)$")
_DONE = re.compile(r"^DONE [\d.]+s$")
# A cached step's layers, fetched or unpacked for a later step or for the push:
# "extracting sha256:... 0.1s done", "sha256:... 1.03MB / 1.03MB 0.0s done".
_SIZE = r"[\d.]+[kMG]?B"
_FROM_CACHE = re.compile(rf"^(?:extracting )?sha256:[0-9a-f]{{64}}(?: {_SIZE} / {_SIZE})?\b")


def _git(project: Path, *argv: str) -> None:
    subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                    *argv], check=True, capture_output=True)  # fmt: skip


def dockerfile(release: str, nonce: str, work: str = "") -> str:
    """Three build steps after the base; ``release`` is the last one's only change.

    ``nonce`` (one per project) makes the first step new to every engine's local cache, so
    a project's first build is a cold one even on an engine that built an earlier one;
    ``work`` is more shell for that step (the bench's: a hash of 64 MiB, slow under QEMU).
    """
    more = f" && {work}" if work else ""
    return (
        "ARG BASE\nFROM ${BASE}\nARG TARGETPLATFORM\n"
        'RUN uname -m > /built-on && echo "${TARGETPLATFORM}" > /target'
        f" && echo {nonce} > /nonce{more}\n"
        "COPY hello.sh /usr/local/bin/hello\n"
        f"{LAST_STEP.format(release=release)}\n"
    )


def make_project(
    root: Path, image: str, base: str, platforms: list[str], install: str, work: str = ""
) -> Path:
    """A git project with the generated GitHub workflow (template defaults: ``--cache auto``)."""
    from multiarch_tasks.ci import templates as ci  # noqa: PLC0415
    from multiarch_tasks.config.settings import settings_from  # noqa: PLC0415

    project = root / "project"
    project.mkdir(parents=True)
    (project / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    (project / "Dockerfile").write_text(dockerfile("one", uuid.uuid4().hex, work))
    (project / "pyproject.toml").write_text(
        "[tool.multiarch-tasks]\n"
        f'image = "{image}"\n'
        'tags = ["cached"]\n'
        f"platforms = {json.dumps(platforms)}\n"
        f'build_args = {{ BASE = "{base}" }}\n'
        f"install = {json.dumps(install)}\n"
    )
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(settings, "github", local_registry=True, project=str(project))
    ci.write_template(project / WORKFLOW, text)
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        _git(project, *argv)
    return project


def change_last_step(project: Path, release: str) -> None:
    """The one-line change: the Dockerfile's last step, committed."""
    path = project / "Dockerfile"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:-1], LAST_STEP.format(release=release)]) + "\n")
    _git(project, "commit", "-qam", f"release {release}")


def rehearse(project: Path, docker_host: str | None = None) -> tuple[float, int, str]:
    """Rehearse the project's workflow on ``docker_host``: (seconds, exit code, output).

    ``multiarch ci-rehearse`` as a user runs it; no ``docker_host``: the main engine.
    """
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    if docker_host:
        env["DOCKER_HOST"] = docker_host  # every job's docker and buildx talk to it
    argv = [str(Path(sys.executable).parent / "multiarch"), "ci-rehearse",
            str(project / WORKFLOW), "--project", str(project)]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    return time.monotonic() - start, done.returncode, done.stdout + done.stderr


def build_steps(output: str, platform: str) -> dict[str, str]:
    """The build steps of ``platform``'s shard after its base: title -> how it was done.

    ``cached``: BuildKit found the step's result and needed nothing of it (``CACHED``);
    ``loaded``: it found the result in the cache and only fetched or extracted its layers,
    because a later step runs on them or the push needs them (``extracting sha256:...``,
    ``sha256:... 1.03MB / 1.03MB``, nothing else: BuildKit may then print no ``CACHED``
    for it at all); ``ran``: it ran (no CACHED, and nothing or its own output under it).
    """
    # The rehearsal's job prefix: "build linux/arm64 │ " ("[build linux/arm64] " before).
    prefixes = (f"build {platform} │ ", f"[build {platform}] ")
    lines = [line[len(p) :] for line in output.splitlines() for p in prefixes if line.startswith(p)]
    titles: dict[str, str] = {}
    cached: set[str] = set()
    activity: dict[str, list[str]] = {}
    for line in lines:
        if (match := _STEP.match(line)) and match.group(2) != "1":  # 1: FROM, the base
            titles[match.group(1)] = match.group(4)
        elif match := _CACHED.match(line):
            cached.add(match.group(1))
        elif match := _VERTEX.match(line):
            activity.setdefault(match.group(1), []).append(match.group(2))
    done: dict[str, str] = {}
    for vertex, title in titles.items():
        seen = [a for a in activity.get(vertex, []) if not _DONE.match(a)]
        if vertex in cached:
            done[title] = "cached"
        elif seen and all(_FROM_CACHE.match(a) for a in seen):
            done[title] = "loaded"
        else:
            done[title] = "ran"
    return done
