"""preflight over an in-memory registry: the matrix, the messages, the fixes they suggest."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from multiarch_tasks.checks.preflight import check as preflight_module
from multiarch_tasks.checks.preflight.check import preflight
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import binfmt
from multiarch_tasks.engine.binfmt import Handler
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import DockerfileError, RateLimitedError, RegistryError
from multiarch_tasks.model.oci import OCI_CONFIG, OCI_MANIFEST, Descriptor, Document, build_index
from multiarch_tasks.model.platforms import Platform, compatible, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.bases import MemoReader

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

T = TypeVar("T")
R = TypeVar("R")
AMD64 = (Platform("linux", "amd64"),)
PARTIAL = "127.0.0.1:5000/base/busybox:partial"
FULL = "127.0.0.1:5000/base/busybox:full"
FULL_PLATFORMS = "linux/amd64,linux/arm64,linux/arm/v7,linux/s390x,linux/ppc64le"


def _index(platforms: str) -> Document:
    children = [
        Descriptor(OCI_MANIFEST, "sha256:" + f"{i:064x}", 100, p)
        for i, p in enumerate(parse_platforms(platforms), start=1)
    ]
    return Document.parse(build_index(children))


class FakeRegistry:
    """Documents by reference string; errors to raise by reference string."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.blobs: dict[str, bytes] = {}
        self.errors: dict[str, RegistryError] = {}
        self.asked: list[str] = []

    def add_index(self, ref: str, platforms: str) -> Document:
        doc = _index(platforms)
        self.docs[str(ImageRef.parse(ref))] = doc
        return doc

    def get_manifest(self, ref: ImageRef) -> Document:
        self.asked.append(str(ref))
        if str(ref) in self.errors:
            raise self.errors[str(ref)]
        if str(ref) not in self.docs:
            raise RegistryError(f"manifest {ref}: not found", status=404)
        return self.docs[str(ref)]

    def get_blob(self, _ref: ImageRef, digest: str) -> bytes:
        return self.blobs[digest]

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [func(item) for item in items]


@pytest.fixture
def registry() -> FakeRegistry:
    reg = FakeRegistry()
    reg.add_index(PARTIAL, "linux/amd64,linux/arm64")
    reg.add_index(FULL, FULL_PLATFORMS)
    reg.add_index("127.0.0.1:5000/tools/go:amd64", "linux/amd64")
    return reg


@pytest.fixture
def usable_emulators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every QEMU handler registered, enabled, with F (the host's real state is not used)."""

    def handler(platform: Platform, root: Path = binfmt.BINFMT_DIR) -> Handler:
        return Handler(f"qemu-{platform.qemu_name}", enabled=True, interpreter="/q", flags="PF")

    monkeypatch.setattr(binfmt, "handler_for", handler)


def _check(
    tmp_path: Path,
    text: str,
    registry: FakeRegistry,
    platforms: str = "linux/amd64,linux/arm64",
    **settings: Any,
) -> preflight_module.PreflightReport:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    config = Settings(platforms=parse_platforms(platforms), file=str(path), **settings)
    return preflight(config, Runner(), client=registry, native=AMD64)


@pytest.mark.usefixtures("usable_emulators")
def test_missing_platform_names_line_ref_platform_and_mirror_fix(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    report = _check(
        tmp_path, f"# base\nFROM {PARTIAL}\nRUN true\n", registry, "linux/amd64,linux/arm64,s390x"
    )
    assert not report.ok
    [problem] = report.errors
    assert problem.kind == "missing-platform"
    assert problem.platforms == ("linux/s390x",)
    assert problem.line == 2
    assert problem.fix == f"multiarch mirror docker.io/library/busybox:partial {PARTIAL}"
    assert f"{tmp_path / 'Dockerfile'}:2" in problem.message
    assert PARTIAL in problem.message
    assert problem.fix in problem.message
    assert report.cell(report.bases[0], Platform("linux", "s390x")) == "MISSING"


@pytest.mark.usefixtures("usable_emulators")
def test_all_platforms_present_passes_and_renders_the_matrix(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    report = _check(tmp_path, f"FROM {FULL}\nRUN true\n", registry, FULL_PLATFORMS)
    assert report.ok, report.render()
    text = report.render()
    header, row = text.splitlines()[1:3]
    assert header.split() == ["base", "image", "line", *FULL_PLATFORMS.split(",")]
    assert row.split() == [FULL, "1", "ok", "ok", "ok", "ok", "ok"]
    assert text.endswith("preflight: ok")


@pytest.mark.usefixtures("usable_emulators")
def test_buildplatform_stage_needs_only_the_host_platform(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/tools/go:amd64 AS build\n"
        "RUN make\n"
        f"FROM {FULL}\n"
        "COPY --from=build /app /app\n"
    )
    report = _check(tmp_path, text, registry, "linux/arm64,linux/s390x")
    assert report.ok, report.render()
    tools = next(b for b in report.bases if "tools/go" in b.ref)
    assert tools.required == AMD64
    # The host column is added for the build stage; the target columns are not needed there.
    assert [str(p) for p in report.columns] == ["linux/arm64", "linux/s390x", "linux/amd64"]
    assert [report.cell(tools, p) for p in report.columns] == ["-", "-", "ok"]


@pytest.mark.usefixtures("usable_emulators")
def test_same_image_as_target_stage_too_needs_all_targets(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/tools/go:amd64 AS build\n"
        "FROM 127.0.0.1:5000/tools/go:amd64\n"
        "COPY --from=build /app /app\n"
    )
    report = _check(tmp_path, text, registry, "linux/amd64,linux/arm64")
    [base] = report.bases
    assert base.lines == (1, 2)
    assert base.missing == (Platform("linux", "arm64"),)


@pytest.mark.usefixtures("usable_emulators")
def test_stages_the_final_stage_does_not_need_are_not_checked(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = f"FROM {PARTIAL} AS unused\nRUN true\nFROM {FULL}\n"
    report = _check(tmp_path, text, registry, "linux/s390x")
    assert report.ok, report.render()
    assert [b.ref for b in report.bases] == [FULL]
    assert registry.asked == [FULL]


def test_final_stage_on_buildplatform_is_refused_with_its_line(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = f"FROM {FULL} AS base\n\nFROM --platform=$BUILDPLATFORM {FULL}\nCOPY a /a\n"
    report = _check(tmp_path, text, registry)
    [problem] = report.errors
    assert problem.kind == "buildplatform-final"
    assert problem.line == 3
    assert f"{tmp_path / 'Dockerfile'}:3:" in problem.message
    assert "linux/amd64 binaries" in problem.message


def test_final_stage_inheriting_buildplatform_names_the_origin(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = f"FROM --platform=$BUILDPLATFORM {FULL} AS build\nFROM build\n"
    report = _check(tmp_path, text, registry)
    [problem] = report.errors
    assert problem.line == 2
    assert "stage 'build', line 1" in problem.message


def test_final_buildplatform_allowed_is_a_warning(tmp_path: Path, registry: FakeRegistry) -> None:
    text = f"FROM --platform=$BUILDPLATFORM {FULL}\n"
    report = _check(tmp_path, text, registry, allow_buildplatform_final=True)
    assert report.ok
    assert [p.severity for p in report.problems] == ["warning"]


@pytest.mark.usefixtures("usable_emulators")
def test_digest_pinned_base_is_read_at_that_digest(tmp_path: Path, registry: FakeRegistry) -> None:
    doc = registry.docs[str(ImageRef.parse(FULL))]
    pinned = f"127.0.0.1:5000/base/busybox:full@{doc.digest}"
    registry.docs[str(ImageRef.parse(pinned))] = doc
    report = _check(tmp_path, f"FROM {pinned}\n", registry)
    assert report.ok
    assert registry.asked == [str(ImageRef.parse(pinned))]
    assert report.bases[0].digest == doc.digest


@pytest.mark.usefixtures("usable_emulators")
def test_single_platform_manifest_counts_as_its_config_platform(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    config = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
    config_digest = "sha256:" + "c" * 64
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [],
    }
    registry.docs["127.0.0.1:5000/one:arm"] = Document.parse(json.dumps(manifest).encode())
    registry.blobs[config_digest] = config
    report = _check(tmp_path, "FROM 127.0.0.1:5000/one:arm\n", registry)
    assert report.bases[0].available == (Platform("linux", "arm64"),)
    assert report.errors[0].platforms == ("linux/amd64",)


def test_unreachable_registry_is_an_error_or_a_warning(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    ref = "10.9.9.9:5000/base/busybox:1"
    registry.errors[str(ImageRef.parse(ref))] = RegistryError(
        "GET http://10.9.9.9:5000/v2/...: cannot reach 10.9.9.9:5000 after 4 attempts"
    )
    report = _check(tmp_path, f"FROM {ref}\n", registry)
    [problem] = report.errors
    assert problem.kind == "unreachable"
    assert "cannot reach 10.9.9.9:5000" in problem.message
    assert "--allow-unreachable" in problem.message
    assert report.cell(report.bases[0], Platform("linux", "amd64")) == "?"
    allowed = _check(tmp_path, f"FROM {ref}\n", registry, allow_unreachable=True)
    assert allowed.ok
    assert [p.severity for p in allowed.problems] == ["warning"]


def test_rate_limit_suggests_mirror(tmp_path: Path, registry: FakeRegistry) -> None:
    registry.errors["docker.io/library/golang:1.22"] = RateLimitedError(
        "registry-1.docker.io is rate limiting requests (429 Too Many Requests)", status=429
    )
    report = _check(tmp_path, "FROM golang:1.22\n", registry)
    [problem] = report.errors
    assert "429" in problem.message
    assert "multiarch mirror" in problem.message


@pytest.mark.usefixtures("usable_emulators")
def test_docker_hub_base_missing_a_platform_suggests_another_tag(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    registry.add_index("busybox:1.36", "linux/amd64")
    report = _check(tmp_path, "FROM busybox:1.36\n", registry)
    [problem] = report.errors
    assert problem.fix == ""
    assert "pick a tag that has linux/arm64" in problem.message


@pytest.mark.usefixtures("usable_emulators")
def test_copy_from_image_in_a_target_stage_is_checked(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    text = f"FROM {FULL}\nCOPY --from={PARTIAL} /bin/busybox /x\n"
    report = _check(tmp_path, text, registry, "linux/amd64,linux/s390x")
    [problem] = report.errors
    assert problem.line == 2
    assert problem.ref == PARTIAL


def test_unset_arg_names_the_build_arg(tmp_path: Path, registry: FakeRegistry) -> None:
    report = _check(tmp_path, "ARG REG\nFROM ${REG}/busybox:1\n", registry)
    [problem] = report.errors
    assert problem.kind == "dockerfile"
    assert "--build-arg REG=" in problem.message


def test_build_args_pick_the_base(tmp_path: Path, registry: FakeRegistry) -> None:
    report = _check(
        tmp_path,
        "ARG BASE=busybox:none\nFROM $BASE\n",
        registry,
        "linux/amd64,linux/s390x",
        build_args={"BASE": FULL},
    )
    assert [b.ref for b in report.bases] == [FULL]


def test_missing_dockerfile_raises_naming_the_path(tmp_path: Path) -> None:
    config = Settings(file=str(tmp_path / "missing" / "Dockerfile"))
    with pytest.raises(DockerfileError, match="missing/Dockerfile"):
        preflight(config, Runner(), client=FakeRegistry(), native=AMD64)


def test_disabled_emulator_fails_naming_it_and_qemu_setup(
    tmp_path: Path, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(platform: Platform, root: Path = binfmt.BINFMT_DIR) -> Handler:
        return Handler(f"qemu-{platform.qemu_name}", platform.architecture != "s390x", "", "PF")

    monkeypatch.setattr(binfmt, "handler_for", handler)
    report = _check(tmp_path, f"FROM {FULL}\nRUN true\n", registry, "linux/arm64,linux/s390x")
    [problem] = report.errors
    assert problem.kind == "emulator"
    assert "qemu-s390x disabled" in problem.message
    assert problem.fix == "multiarch qemu-setup --platforms linux/s390x"
    modes = {str(h.platform): h.mode for h in report.host}
    assert modes == {"linux/arm64": "emulated", "linux/s390x": "impossible"}


def test_no_run_in_target_stages_needs_no_emulator(
    tmp_path: Path, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binfmt, "handler_for", lambda _platform, _root=None: None)
    report = _check(tmp_path, f"FROM {FULL}\nCOPY app /app\n", registry, "linux/s390x")
    assert report.ok, report.render()
    assert "[no RUN: not needed]" in report.render()


@pytest.mark.usefixtures("usable_emulators")
def test_json_report_has_matrix_and_problems(tmp_path: Path, registry: FakeRegistry) -> None:
    report = _check(tmp_path, f"FROM {PARTIAL}\n", registry, "linux/amd64,linux/s390x")
    data = report.to_json()
    assert data["ok"] is False
    assert data["bases"][0]["platforms"] == {"linux/amd64": "ok", "linux/s390x": "MISSING"}
    assert data["problems"][0]["platforms"] == ["linux/s390x"]
    json.dumps(data)  # serialisable as is


@pytest.mark.parametrize(
    ("wanted", "offered", "ok"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm/v7", "linux/arm/v6", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/amd64/v3", "linux/amd64", True),
        ("linux/amd64", "linux/arm64", False),
        ("linux/s390x", "linux/ppc64le", False),
    ],
)
def test_compatible_follows_containerd(wanted: str, offered: str, ok: bool) -> None:
    assert compatible(Platform.parse(wanted), Platform.parse(offered)) is ok


class _AlwaysRateLimited(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(429)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rate_limited_host() -> Iterator[str]:
    """A loopback 'registry' answering 429 Too Many Requests to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysRateLimited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("usable_emulators")
def test_exhausted_429_retries_say_rate_limit_and_suggest_mirror(
    tmp_path: Path, rate_limited_host: str
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM {rate_limited_host}/library/golang:1.22\n")
    config = Settings(platforms=AMD64, file=str(path), retries=2)
    report = preflight(config, Runner(), native=AMD64)  # the real RegistryClient
    [problem] = report.errors
    assert problem.kind == "unreachable"
    assert "429 Too Many Requests" in problem.message
    assert "after 3 attempts" in problem.message
    assert "multiarch mirror" in problem.message


@pytest.mark.usefixtures("usable_emulators")
def test_read_ahead_memo_answers_preflight_without_reading_a_base_twice(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    registry.errors[str(ImageRef.parse("127.0.0.1:5000/gone/x:1"))] = RegistryError(
        "manifest 127.0.0.1:5000/gone/x:1: not found", status=404
    )
    memo = MemoReader(registry)
    text = f"FROM {FULL} AS a\nFROM 127.0.0.1:5000/gone/x:1\nCOPY --from=a /x /x\n"
    first = _check(tmp_path, text, memo)
    second = _check(tmp_path, text, memo)
    assert first.render() == second.render()
    assert not first.ok
    assert "127.0.0.1:5000/gone/x:1" in first.render()
    assert sorted(registry.asked) == sorted(
        [str(ImageRef.parse(FULL)), str(ImageRef.parse("127.0.0.1:5000/gone/x:1"))]
    )
