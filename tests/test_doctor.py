"""doctor's rows from canned probe outputs: what passes, what fails, and the fix of each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multiarch_tasks import binfmt, doctor, tools
from multiarch_tasks.binfmt import Handler
from multiarch_tasks.credentials import Credentials
from multiarch_tasks.errors import RegistryError
from multiarch_tasks.platforms import Platform, parse_platforms
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.runner import Result, Runner
from multiarch_tasks.settings import Settings

INSPECT = """\
Name:          default
Driver:        docker

Nodes:
Name:             default
Endpoint:         default
Status:           running
Platforms:        linux/amd64, linux/arm64, linux/s390x
"""
CONTAINERD = [["driver-type", "io.containerd.snapshotter.v1"]]


@dataclass
class CannedRunner(Runner):
    """Answers the probes doctor runs from a table; records what ran."""

    answers: dict[str, Result] = field(default_factory=dict)
    ran: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str], **_: Any) -> Result:  # type: ignore[override]
        self.ran.append(list(argv))
        key = " ".join(argv[:3])
        return self.answers.get(key, Result(tuple(argv), 1, "", f"no answer for {key}"))


def _ok(stdout: str) -> Result:
    return Result((), 0, stdout, "")


def canned(
    *,
    engine: str = "26.1.5",
    daemon: bool = True,
    driver_status: object = CONTAINERD,
    buildx: str = "github.com/docker/buildx 0.13.1 abc",
) -> CannedRunner:
    version: dict[str, Any] = {"Client": {"Version": "28.2.2"}}
    if daemon:
        version["Server"] = {"Version": engine}
    return CannedRunner(
        answers={
            "docker version --format": _ok(json.dumps(version))
            if daemon
            else Result((), 1, json.dumps(version), "Cannot connect to the Docker daemon"),
            "docker info --format": _ok(
                json.dumps({"Driver": "overlayfs", "DriverStatus": driver_status})
            ),
            "docker buildx version": _ok(buildx),
            "docker buildx inspect": _ok(INSPECT),
        }
    )


@dataclass
class FakeClient:
    error: RegistryError | None = None
    tags: tuple[str, ...] = ("1",)
    creds: Credentials | None = None

    def credentials(self, _registry: str) -> Credentials | None:
        return self.creds

    def list_tags(self, _ref: ImageRef) -> list[str]:
        if self.error is not None:
            raise self.error
        return list(self.tags)


@pytest.fixture(autouse=True)
def _docker_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(tools, "which", lambda name: f"/usr/bin/{name}")


def handlers(monkeypatch: pytest.MonkeyPatch, **state: Handler | None) -> None:
    """binfmt handlers by name; unnamed ones are enabled with flags PF."""

    def handler_for(platform: Platform, _root: Path = binfmt.BINFMT_DIR) -> Handler | None:
        name = f"qemu-{platform.qemu_name}"
        return state.get(
            name.replace("-", "_"),
            Handler(name, enabled=True, interpreter="/usr/bin/q", flags="PF"),
        )

    monkeypatch.setattr(binfmt, "handler_for", handler_for)
    monkeypatch.setattr(binfmt, "is_mounted", lambda _root=binfmt.BINFMT_DIR: True)


def run(
    runner: CannedRunner | None = None, client: FakeClient | None = None, **settings: Any
) -> doctor.DoctorResult:
    settings.setdefault("platforms", parse_platforms("linux/amd64,linux/arm64,linux/s390x"))
    settings.setdefault("image", "127.0.0.1:5000/acme/app")
    return doctor.doctor(
        Settings(**settings),
        runner or canned(),
        client=client or FakeClient(),  # type: ignore[arg-type]
    )


def test_healthy_machine_passes_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    result = run()
    assert result.ok, result.render()
    assert [(r.check, r.status) for r in result.rows] == [
        ("docker", "ok"),
        ("buildx", "ok"),
        ("image store", "ok"),
        ("builder", "ok"),
        ("binfmt qemu-aarch64", "ok"),
        ("binfmt qemu-s390x", "ok"),
        ("registry", "ok"),
        ("next publish", "ok"),
    ]
    assert result.render().endswith("doctor: ok")


def test_disabled_handler_fails_its_row_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(
        monkeypatch,
        qemu_s390x=Handler("qemu-s390x", enabled=False, interpreter="/usr/bin/q", flags="PF"),
    )
    result = run()
    assert not result.ok
    [row] = result.failed
    assert row.check == "binfmt qemu-s390x"
    assert row.detail == "linux/s390x: registered but disabled"
    assert "echo 1 > /proc/sys/fs/binfmt_misc/qemu-s390x" in row.fix
    assert "multiarch qemu-setup --platforms linux/s390x" in row.fix
    assert "doctor: FAILED (1 check(s))" in result.render()


def test_handler_without_f_flag_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(
        monkeypatch,
        qemu_aarch64=Handler("qemu-aarch64", enabled=True, interpreter="/usr/bin/q", flags="P"),
    )
    row = run().row("binfmt qemu-aarch64")
    assert row is not None
    assert row.status == "fail"
    assert "without flag F" in row.detail


def test_missing_handler_fails_naming_qemu_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch, qemu_s390x=None)
    row = run().row("binfmt qemu-s390x")
    assert row is not None
    assert (row.status, row.detail) == ("fail", "linux/s390x: not registered")
    assert row.fix.startswith("`multiarch qemu-setup --platforms linux/s390x`")


def test_old_engine_fails_the_docker_row(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    row = run(canned(engine="20.10.24")).row("docker")
    assert row is not None
    assert row.status == "fail"
    assert "older than 23.0" in row.detail


def test_daemon_down_fails_docker_and_skips_what_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handlers(monkeypatch)
    result = run(canned(daemon=False))
    docker_row = result.row("docker")
    assert docker_row is not None
    assert docker_row.status == "fail"
    assert "Cannot connect to the Docker daemon" in docker_row.detail
    assert result.row("buildx") is None
    assert result.row("builder") is None


def test_classic_store_warns_and_fails_only_for_multi_platform_strategy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handlers(monkeypatch)
    classic = [["Backing Filesystem", "extfs"]]
    warned = run(canned(driver_status=classic))
    row = warned.row("image store")
    assert row is not None
    assert row.status == "warn"
    assert warned.ok
    failed = run(canned(driver_status=classic), strategy="multi-platform")
    row = failed.row("image store")
    assert row is not None
    assert row.status == "fail"
    assert "containerd-snapshotter" in row.fix


@pytest.mark.parametrize(
    ("error", "status", "needle"),
    [
        (RegistryError("denied", status=401), "fail", "docker login 127.0.0.1:5000"),
        (RegistryError("no such repository", status=404), "ok", "does not exist yet"),
        (RegistryError("connection refused"), "fail", "--insecure-registry 127.0.0.1:5000"),
    ],
)
def test_registry_row(
    monkeypatch: pytest.MonkeyPatch, error: RegistryError, status: str, needle: str
) -> None:
    handlers(monkeypatch)
    row = run(client=FakeClient(error=error)).row("registry")
    assert row is not None
    assert row.status == status
    assert needle in row.detail + row.fix


def test_registry_row_names_the_user_never_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    client = FakeClient(creds=Credentials("alice", "s3cret"))
    result = run(client=client)
    row = result.row("registry")
    assert row is not None
    assert "as alice" in row.detail
    assert "s3cret" not in json.dumps(result.to_json()) + result.render()


def test_no_image_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    result = run(image="")
    row = result.row("registry")
    assert row is not None
    assert row.status == "warn"
    assert result.ok


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "an index of 3 image(s) with provenance attestations"),
        ({"attestations": "off"}, "an index of 3 image(s) without attestations"),
        (
            {"attestations": "off", "platforms": (Platform("linux", "amd64"),)},
            "a plain image manifest (one platform, no attestations)",
        ),
        ({"manifest_tool": "docker"}, "an index of 3 image(s) without attestations"),
    ],
)
def test_next_publish_says_manifest_or_index_with_attestations(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], expected: str
) -> None:
    handlers(monkeypatch)
    row = run(**settings).row("next publish")
    assert row is not None
    assert row.detail.startswith(expected)


def test_json_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    data = run().to_json()
    assert set(data) == {"ok", "rows"}
    assert all(set(r) == {"check", "status", "detail", "fix"} for r in data["rows"])
    assert json.loads(json.dumps(data)) == data


def test_doctor_only_runs_read_only_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers(monkeypatch)
    runner = canned()
    run(runner)
    assert {" ".join(a[:3]) for a in runner.ran} <= {
        "docker version --format",
        "docker info --format",
        "docker buildx version",
        "docker buildx inspect",
    }
