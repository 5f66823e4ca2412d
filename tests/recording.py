"""A Runner that starts no process: it records every argv and answers from a script.

Probes get canned answers (``docker info``, ``docker buildx version``, ``docker buildx
inspect [NAME]`` with the real buildx outputs in tests/fixtures/buildx, git); the commands a
plan runs get scripted effects: ``docker buildx build --metadata-file F`` writes F as buildx
does (modelled on metadata-push-by-digest-docker-container.json, one digest per platform;
with ``Script.pusher`` it first pushes a small image of each platform to a real registry),
``update-binfmts --enable qemu-X`` and ``docker run ... tonistiigi/binfmt --install A,B``
register handlers in a binfmt_misc directory of the test's own. Everything else succeeds
silently. Failures are queued per command with :meth:`RecordingRunner.fail_next`.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarch_tasks.engine.runner import Probe, Result, Runner
from multiarch_tasks.model.platforms import Platform

FIXTURES = Path(__file__).parent / "fixtures" / "buildx"
BUILDX_VERSION = "github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dcdeb2b2b2b2b\n"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def inspect_text(name: str) -> str:
    """The real ``docker buildx inspect`` output stored as ``tests/fixtures/buildx/NAME``."""
    return (FIXTURES / name).read_text()


def docker_info(*, containerd: bool) -> str:
    """``docker info --format {{json .}}`` of Docker 26, with either image store."""
    status = (
        [["driver-type", "io.containerd.snapshotter.v1"]]
        if containerd
        else [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]
    )
    data = {
        "ServerVersion": "26.1.5",
        "Driver": "overlayfs" if containerd else "overlay2",
        "DriverStatus": status,
    }
    return json.dumps(data) + "\n"


def digest_for(platform: str) -> str:
    """The digest the scripted buildx "pushes" for ``platform`` (distinct per platform)."""
    return "sha256:" + hashlib.sha256(f"pushed {platform}".encode()).hexdigest()


def option(argv: Sequence[str], name: str) -> str:
    """The value after ``name`` in ``argv`` ("" when absent)."""
    return argv[argv.index(name) + 1] if name in argv else ""


@dataclass(frozen=True)
class Call:
    """One ``Runner.run`` call as the code under test made it."""

    argv: tuple[str, ...]
    probe: bool
    retries: int = 0
    stream_prefix: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Answer:
    """What a scripted command prints and exits with."""

    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class Script:
    """The machine the runner pretends to be."""

    builders: dict[str, str] = field(default_factory=dict)  # name -> `buildx inspect` text
    current: str = "default"  # what `docker buildx inspect` without a name answers
    containerd: bool = True
    binfmt_dir: Path | None = None  # where update-binfmts / tonistiigi/binfmt register
    register_handlers: bool = True  # False: the register commands "succeed" but do nothing
    git: bool = True
    # (image name, "linux/amd64[,linux/arm64...]") -> the digest pushed; None: push nothing
    # and answer digest_for(platforms).
    pusher: Callable[[str, str], str] | None = None


class RecordingRunner(Runner):
    """Records every ``run`` (argv, probe or not) and every attempt; answers from ``script``."""

    def __init__(self, script: Script, *, dry: bool = False) -> None:
        super().__init__(dry=dry, out=io.StringIO(), retry_delay=0.0)
        self.script = script
        self.calls: list[Call] = []
        self.attempts: list[tuple[str, ...]] = []  # what reached "the process", retries too
        self._queued: list[tuple[Callable[[tuple[str, ...]], bool], list[Answer]]] = []
        self._record_lock = threading.Lock()

    # --- what the code under test sees --------------------------------------------------

    def run(self, argv: Sequence[str], **kwargs: Any) -> Result:  # type: ignore[override]
        call = Call(
            tuple(str(a) for a in argv),
            bool(kwargs.get("probe", False)),
            int(kwargs.get("retries", 0)),
            kwargs.get("stream_prefix"),
            dict(kwargs.get("env") or {}),
            str(kwargs.get("label", "")),
        )
        with self._record_lock:
            self.calls.append(call)
        return super().run(argv, **kwargs)

    def start_probe(self, argv: Sequence[str], *, timeout: float | None = None) -> Probe:
        """A probe answered at once from the script, recorded as ``run(probe=True)`` is."""
        result = self.run(argv, probe=True, memo=True, check=False, timeout=timeout)
        return Probe(result.argv, lambda: result)

    def _run_once(
        self,
        argv: list[str],
        env: Mapping[str, str] | None,
        cwd: str | None,
        timeout: float | None,
        stream_prefix: str | None,
        stdin: str | None,
        keep: Callable[[str], bool] | None = None,
        log: str = "",
        *,
        buildkit_json: bool = False,
        watch: Callable[[str], None] | None = None,
    ) -> Result:
        del env, cwd, timeout, stdin, log, buildkit_json, watch  # nothing runs
        key = tuple(argv)
        with self._record_lock:
            self.attempts.append(key)
            queued = next((answers for match, answers in self._queued if match(key)), None)
            answer = queued.pop(0) if queued else None
        if answer is None:
            answer = self._answer(key)
        if stream_prefix is not None:  # printed line by line and kept as one text, as _stream
            text = answer.stdout + answer.stderr
            for line in text.splitlines():
                self.say(f"[{stream_prefix}] {line}")
            kept = tuple(line for line in text.splitlines() if keep is not None and keep(line))
            return Result(key, answer.returncode, text, text, kept=kept)
        return Result(key, answer.returncode, answer.stdout, answer.stderr)

    # --- scripting ----------------------------------------------------------------------

    def fail_next(self, match: Callable[[tuple[str, ...]], bool], *answers: Answer) -> None:
        """Answer the next commands ``match`` accepts with ``answers``, in order."""
        self._queued.append((match, list(answers)))

    @property
    def printed(self) -> str:
        """Everything the runner printed (plans, echoed commands, streamed lines)."""
        out = self.out
        assert isinstance(out, io.StringIO)
        return out.getvalue()

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """The argv of every non-probe call, in the order they were made."""
        return [c.argv for c in self.calls if not c.probe]

    def _answer(self, argv: tuple[str, ...]) -> Answer:  # noqa: PLR0911 - one answer a program
        script = self.script
        if argv[:2] == ("docker", "info"):
            return Answer(0, docker_info(containerd=script.containerd))
        if argv[:3] == ("docker", "buildx", "version"):
            return Answer(0, BUILDX_VERSION)
        if argv[:3] == ("docker", "buildx", "inspect"):
            names = [a for a in argv[3:] if not a.startswith("-")]
            name = names[0] if names else script.current
            if name in script.builders:
                return Answer(0, script.builders[name])
            return Answer(1, "", f'ERROR: no builder "{name}" found\n')
        if argv[0] == "git":
            return self._git(argv)
        if argv[:3] == ("docker", "buildx", "build"):
            return self._build(argv)
        if argv[:2] == ("update-binfmts", "--enable"):
            self._register([argv[2]])
            return Answer(0)
        if argv[:2] == ("docker", "run") and "--install" in argv:
            arches = option(argv, "--install").split(",")
            self._register([f"qemu-{Platform('linux', a).qemu_name}" for a in arches])
            return Answer(0, "installing: ok\n")
        return Answer(0)

    def _git(self, argv: tuple[str, ...]) -> Answer:
        if not self.script.git:
            return Answer(128, "", "fatal: not a git repository\n")
        if "rev-parse" in argv:
            return Answer(0, REVISION + "\n")
        if "log" in argv:
            return Answer(0, "2026-11-30T03:00:00+00:00\n")
        return Answer(1)  # no remote.origin.url

    def _build(self, argv: tuple[str, ...]) -> Answer:
        """Write the metadata file buildx would write after a push by digest."""
        platforms = option(argv, "--platform")
        meta = option(argv, "--metadata-file")
        output = option(argv, "--output")
        name = next(
            (p[len("name=") :] for p in output.split(",") if p.startswith("name=")),
            option(argv, "--tag"),
        )
        pusher = self.script.pusher
        digest = pusher(name, platforms) if pusher else digest_for(platforms)
        if meta:
            data = {
                "buildx.build.ref": f"scripted/{platforms}",
                "containerimage.descriptor": {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": digest,
                    "size": 855,
                },
                "containerimage.digest": digest,
                "image.name": name,
            }
            Path(meta).parent.mkdir(parents=True, exist_ok=True)
            Path(meta).write_text(json.dumps(data, indent=2))
        return Answer(0, f"#1 exporting to image\n#1 pushing {platforms} done\n")

    def _register(self, handlers: list[str]) -> None:
        root = self.script.binfmt_dir
        if root is None or not self.script.register_handlers:
            return
        for name in handlers:
            interpreter = f"/usr/bin/{name}-static"
            (root / name).write_text(f"enabled\ninterpreter {interpreter}\nflags: PF\n")
