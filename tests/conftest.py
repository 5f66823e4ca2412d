"""Fixtures over the real test bed (scripts/engine-up): engine, registry, QEMU, base images.

Locally an e2e test whose engine, registry or QEMU is missing skips with the reason; when
``CI`` is set it FAILS instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.base_images import FULL_PLATFORMS, PARTIAL_PLATFORMS, build_base
from testbed.classic_engine import ClassicEngine, EngineUnavailableError
from testbed.fault_proxy import FaultProxy, Rule
from testbed.registry import Registry, RegistryConfig
from testbed.retry import run_retrying

IN_CI = os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}
QEMU_HANDLERS = ("qemu-aarch64", "qemu-arm", "qemu-s390x", "qemu-ppc64le")


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where the bed must be complete."""
    if IN_CI:
        pytest.fail(f"CI is set and the test bed is incomplete: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI, an e2e test that skipped for any reason is turned into a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        IN_CI
        and report.skipped
        and item.get_closest_marker("e2e")
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"e2e test skipped in CI: {report.longrepr}"


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not on PATH (run scripts/engine-up)"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.DriverStatus}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if info.returncode != 0:
        return f"docker daemon not answering (run scripts/engine-up): {info.stderr.strip()[-200:]}"
    if "containerd.snapshotter" not in info.stdout:
        return (
            "dockerd runs without the containerd image store (daemon.json containerd-snapshotter)"
        )
    buildx = subprocess.run(
        ["docker", "buildx", "version"], capture_output=True, text=True, check=False, timeout=30
    )
    if buildx.returncode != 0:
        return "docker buildx plugin missing (run scripts/engine-up)"
    return None


@pytest.fixture(scope="session")
def engine() -> str:
    """A running dockerd with the containerd store and buildx; returns the buildx version."""
    problem = _engine_problem()
    if problem:
        unavailable(problem)
    return subprocess.run(
        ["docker", "buildx", "version"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def qemu() -> tuple[str, ...]:
    """binfmt_misc handlers for the foreign architectures the tests build, with flag F."""
    missing = []
    for name in QEMU_HANDLERS:
        entry = Path("/proc/sys/fs/binfmt_misc") / name
        text = entry.read_text() if entry.exists() else ""
        if not text.startswith("enabled") or "F" not in text.split("flags:")[-1].split("\n")[0]:
            missing.append(name)
    if missing:
        unavailable(f"binfmt handlers missing or without F flag: {', '.join(missing)}")
    return QEMU_HANDLERS


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A throwaway Distribution registry on 127.0.0.1:FREEPORT for the session."""
    if shutil.which("docker-registry") is None:
        unavailable("docker-registry not installed (run scripts/engine-up)")
    reg = Registry(RegistryConfig(root=tmp_path_factory.mktemp("registry")))
    yield reg
    reg.stop()


@pytest.fixture
def fault_proxy(registry: Registry) -> Iterator[Callable[..., FaultProxy]]:
    """Start loopback proxies that inject faults in front of a registry; stopped at the end.

    ``fault_proxy(Rule(method="PUT", path=r"/manifests/", first=1, status=500))`` puts one
    in front of the session registry (``upstream=`` another ``host:port``); its ``host``
    replaces the registry's in image names. ``one_accept=True`` forwards only the first of
    a request's Accept headers, as some proxies in front of registries do.
    """
    started: list[FaultProxy] = []

    def start(*rules: Rule, upstream: str | None = None, one_accept: bool = False) -> FaultProxy:
        proxy = FaultProxy(upstream or registry.host, list(rules), one_accept=one_accept)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@dataclass(frozen=True)
class BaseImage:
    ref: str
    digest: str
    platforms: tuple[str, ...]


@pytest.fixture(scope="session")
def base_image(
    engine: str, qemu: tuple[str, ...], registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> BaseImage:
    """A busybox base with a shell for amd64, arm64, arm/v7, s390x and ppc64le."""
    ref = f"{registry.host}/base/busybox:full"
    digest = build_base(ref, FULL_PLATFORMS, tmp_path_factory.mktemp("base-full"))
    return BaseImage(ref, digest, FULL_PLATFORMS)


@pytest.fixture(scope="session")
def partial_base_image(
    engine: str, qemu: tuple[str, ...], registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> BaseImage:
    """The same base with only linux/amd64 and linux/arm64, like a `docker pull/tag/push` mirror."""
    ref = f"{registry.host}/base/busybox:partial"
    digest = build_base(ref, PARTIAL_PLATFORMS, tmp_path_factory.mktemp("base-partial"))
    return BaseImage(ref, digest, PARTIAL_PLATFORMS)


@pytest.fixture(scope="session")
def classic_engine() -> Iterator[str]:
    """A second dockerd with the classic image store beside the main one; yields its DOCKER_HOST.

    Started as ../shared/ENGINE.md shows (own data root, exec root, socket, pid file and
    bridge docker1; never ``--bridge none``) and stopped by its pid at the end; one already
    answering on the socket is reused and left running.
    """
    try:
        engine = ClassicEngine.start()
    except EngineUnavailableError as err:
        unavailable(str(err))
        raise  # unavailable() skips or fails: not reached
    yield engine.docker_host
    engine.stop()


@pytest.fixture(scope="session")
def classic_base_image(
    classic_engine: str,
    qemu: tuple[str, ...],
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> BaseImage:
    """The amd64+arm64 busybox base built on the classic engine (per platform, then merged)."""
    ref = f"{registry.host}/base/busybox:classic"
    workdir = tmp_path_factory.mktemp("base-classic")
    digest = build_base(ref, PARTIAL_PLATFORMS, workdir, docker_host=classic_engine)
    return BaseImage(ref, digest, PARTIAL_PLATFORMS)


@pytest.fixture
def repo(registry: Registry, request: pytest.FixtureRequest) -> str:
    """A fresh repository (``HOST/name-N``) in the session registry for this test."""
    name = request.node.name.lower().replace("_", "-")
    safe = "".join(c for c in name if c.isalnum() or c == "-").strip("-")[:40] or "t"
    return registry.repo(safe)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def one_line_error(done: CliResult, *needles: str) -> str:
    """Assert ``done`` failed with exit 1 and one stderr line holding each needle; return it."""
    assert done.returncode == 1, done.output
    assert "Traceback" not in done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def run_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    program: str = "multiarch",
    timeout: float = 1200,
) -> CliResult:
    """Run the installed console script (or `python -m invoke`) as a user would."""
    import sys  # noqa: PLC0415

    bindir = Path(sys.executable).parent
    argv = (
        [str(bindir / "multiarch"), *args]
        if program == "multiarch"
        else [sys.executable, "-m", "invoke", *args]
    )
    done = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli():
    return run_cli


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"
# Only the app, for copytree(EXAMPLE, ...): the example's invoke.yaml points at the demo's
# registry, and a demo run leaves its .multiarch/ there.
APP_ONLY = shutil.ignore_patterns("invoke.yaml", "tasks.py", ".multiarch")


def example_args(base: str, output_dir: Path | str) -> list[str]:
    """Flags that build examples/hello on ``base`` with its own output dir."""
    return ["--context", str(EXAMPLE), "--build-arg", f"BASE={base}", "--output-dir",
            str(output_dir)]  # fmt: skip


def index_platforms(registry: Registry, ref: str) -> list[str]:
    """The non-attestation platforms of the index at HOST/REPO:TAG, sorted."""
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag)
    assert found is not None, f"{ref} is absent"
    index, _ = found
    out = []
    for m in index["manifests"]:
        p = m.get("platform", {})
        if p.get("os") == "unknown":
            continue
        out.append("/".join(x for x in (p["os"], p["architecture"], p.get("variant", "")) if x))
    return sorted(out)


def tag_digest(registry: Registry, ref: str) -> str | None:
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag)
    return found[1] if found else None


def buildx_push(argv: list[str], attempts: int = 3) -> subprocess.CompletedProcess[str]:
    """Run a ``docker buildx build ... --push`` a test makes by hand, as the product would:
    again (from cache) after a passing registry fault (testbed/retry.py)."""
    return run_retrying(argv, attempts=attempts)


def pinned_requirement(tmp: Path) -> tuple[str, str]:
    """This repository's HEAD, cloned into ``tmp``, as a pinned pip requirement.

    ``multiarch-tasks @ git+file://localhost/CLONE@COMMIT``, the form ci-template writes
    from PEP 610's direct_url.json (issue 20), for the ``install`` setting of a test
    project (the test venv's editable install gives ci-template no URL); returns
    (requirement, commit). ``localhost`` because the pip of Debian's Python (23.x) refuses
    ``git+file:///``.
    """
    clone = tmp / "multiarch-tasks"
    root = Path(__file__).resolve().parents[1]
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(root), str(clone)], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return f"multiarch-tasks @ git+file://localhost{clone}@{commit}", commit
