"""doctor's rows from canned probe outputs: what passes, what fails, and the fix of each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from packaging.version import Version

from multiarch_tasks.checks.doctor import check as doctor
from multiarch_tasks.checks.doctor import engine as doctor_engine
from multiarch_tasks.checks.doctor import signing as doctor_signing
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import facts
from multiarch_tasks.engine.binfmt import Handler
from multiarch_tasks.engine.runner import Result, Runner
from multiarch_tasks.engine.tools import BuildxInfo
from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.credentials import Credentials


@dataclass
class CannedRunner(Runner):
    """Answers `docker version` from a table; records what ran."""

    answers: dict[str, Result] = field(default_factory=dict)
    ran: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str], **_: Any) -> Result:  # type: ignore[override]
        self.ran.append(list(argv))
        key = " ".join(argv[:3])
        return self.answers.get(key, Result(tuple(argv), 1, "", f"no answer for {key}"))


def canned(*, engine: str = "26.1.5", daemon: bool = True) -> CannedRunner:
    version: dict[str, Any] = {"Client": {"Version": "28.2.2"}}
    if daemon:
        version["Server"] = {"Version": engine}
    answer = (
        Result((), 0, json.dumps(version), "")
        if daemon
        else Result((), 1, json.dumps(version), "Cannot connect to the Docker daemon")
    )
    # Debian's cosign 2.5 package, as `cosign version` prints it (no release number).
    cosign = Result((), 0, "GitVersion:    devel\nGitCommit:     unknown\n", "")
    return CannedRunner(answers={"docker version --format": answer, "cosign version": cosign})


def usable(name: str) -> Handler:
    return Handler(name, enabled=True, interpreter=f"/usr/libexec/{name}", flags="PF")


def machine(
    *,
    store: str = facts.CONTAINERD_STORE,
    buildx: str = "0.13.1",
    handlers: dict[str, Handler] | None = None,
    builder: facts.Builder | None = None,
    missing_builder: bool = False,
) -> facts.Facts:
    """Facts of an amd64 host with the default docker-driver builder."""
    default = facts.Builder(
        "default",
        "docker",
        (facts.Node("default", "default", "running", (), parse_platforms("linux/amd64")),),
    )
    return facts.Facts(
        host=Platform("linux", "amd64"),
        engine=facts.Engine("26.1.5", store),
        buildx=BuildxInfo(Version(buildx)),
        builder=None if missing_builder else (builder or default),
        builder_name="multiarch" if missing_builder else "default",
        builder_source="the current builder",
        handlers=handlers
        if handlers is not None
        else {n: usable(n) for n in ("qemu-aarch64", "qemu-s390x")},
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
    monkeypatch.setattr(doctor_engine, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(doctor_signing, "which", lambda name: f"/usr/bin/{name}")


def run(
    found: facts.Facts | None = None,
    runner: CannedRunner | None = None,
    client: FakeClient | None = None,
    **settings: Any,
) -> doctor.DoctorResult:
    settings.setdefault("platforms", parse_platforms("linux/amd64,linux/arm64,linux/s390x"))
    settings.setdefault("image", "127.0.0.1:5000/acme/app")
    return doctor.doctor(
        Settings(**settings),
        runner or canned(),
        client=client or FakeClient(),  # type: ignore[arg-type]
        found=found or machine(),
    )


def test_healthy_machine_passes_every_row() -> None:
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
        ("cosign", "ok"),
    ]
    assert result.render().endswith("doctor: ok")


def test_disabled_handler_fails_its_row_with_the_fix() -> None:
    disabled = Handler("qemu-s390x", enabled=False, interpreter="/usr/bin/q", flags="PF")
    result = run(machine(handlers={"qemu-aarch64": usable("qemu-aarch64"), "qemu-s390x": disabled}))
    assert not result.ok
    [row] = result.failed
    assert row.check == "binfmt qemu-s390x"
    assert row.detail == "linux/s390x: registered but disabled"
    assert "echo 1 > /proc/sys/fs/binfmt_misc/qemu-s390x" in row.fix
    assert "multiarch qemu-setup --platforms linux/s390x" in row.fix
    assert "doctor: FAILED (1 check(s))" in result.render()


def test_handler_without_f_flag_fails() -> None:
    no_f = Handler("qemu-aarch64", enabled=True, interpreter="/usr/bin/q", flags="P")
    row = run(machine(handlers={"qemu-aarch64": no_f, "qemu-s390x": usable("qemu-s390x")})).row(
        "binfmt qemu-aarch64"
    )
    assert row is not None
    assert row.status == "fail"
    assert "without flag F" in row.detail


def test_missing_handler_fails_naming_qemu_setup() -> None:
    row = run(machine(handlers={"qemu-aarch64": usable("qemu-aarch64")})).row("binfmt qemu-s390x")
    assert row is not None
    assert (row.status, row.detail) == ("fail", "linux/s390x: not registered")
    assert row.fix.startswith("`multiarch qemu-setup --platforms linux/s390x`")


def test_old_engine_fails_the_docker_row() -> None:
    row = run(runner=canned(engine="20.10.24")).row("docker")
    assert row is not None
    assert row.status == "fail"
    assert "older than 23.0" in row.detail


def test_daemon_down_fails_docker_and_skips_what_needs_it() -> None:
    # What facts.gather(docker=False) leaves when the daemon does not answer.
    no_engine = facts.Facts(
        host=Platform("linux", "amd64"),
        handlers={n: usable(n) for n in ("qemu-aarch64", "qemu-s390x")},
    )
    result = run(no_engine, canned(daemon=False))
    docker_row = result.row("docker")
    assert docker_row is not None
    assert docker_row.status == "fail"
    assert "Cannot connect to the Docker daemon" in docker_row.detail
    assert result.row("buildx") is None
    assert result.row("image store") is None
    assert result.row("builder") is None
    assert not result.ok


def test_classic_store_warns_and_fails_only_for_multi_platform_strategy() -> None:
    classic = machine(store=facts.CLASSIC_STORE)
    warned = run(classic, strategy="per-arch")
    row = warned.row("image store")
    assert row is not None
    assert row.status == "warn"
    assert warned.ok
    failed = run(classic, strategy="multi-platform")
    row = failed.row("image store")
    assert row is not None
    assert row.status == "fail"
    assert "containerd-snapshotter" in row.fix
    publish = failed.row("next publish")
    assert publish is not None
    assert publish.status == "fail"
    assert "cannot run on builder 'default'" in publish.detail


def test_missing_builder_is_a_warning_naming_builder_create() -> None:
    result = run(machine(missing_builder=True))
    row = result.row("builder")
    assert row is not None
    assert row.status == "warn"
    assert "`multiarch builder-create` creates 'multiarch' now" in row.fix


def test_old_buildx_is_a_warning() -> None:
    row = run(machine(buildx="0.11.2")).row("buildx")
    assert row is not None
    assert row.status == "warn"
    assert "older than 0.12" in row.detail


@pytest.mark.parametrize(
    ("error", "status", "needle"),
    [
        (RegistryError("denied", status=401), "fail", "docker login 127.0.0.1:5000"),
        (RegistryError("no such repository", status=404), "ok", "does not exist yet"),
        (RegistryError("connection refused"), "fail", "--insecure-registry 127.0.0.1:5000"),
    ],
)
def test_registry_row(error: RegistryError, status: str, needle: str) -> None:
    row = run(client=FakeClient(error=error)).row("registry")
    assert row is not None
    assert row.status == status
    assert needle in row.detail + row.fix


def test_registry_row_names_the_user_never_the_secret() -> None:
    result = run(client=FakeClient(creds=Credentials("alice", "s3cret")))
    row = result.row("registry")
    assert row is not None
    assert "as alice" in row.detail
    assert "s3cret" not in json.dumps(result.to_json()) + result.render()


def test_no_image_is_a_warning() -> None:
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
        ({"manifest_tool": "docker", "strategy": "per-arch"}, "an index of 3 image(s) without"),
        ({"media_type": "docker"}, "an index of 3 image(s) without attestations"),
    ],
)
def test_next_publish_says_manifest_or_index_with_attestations(
    settings: dict[str, Any], expected: str
) -> None:
    row = run(**settings).row("next publish")
    assert row is not None
    assert row.detail.startswith(expected)


def test_json_shape() -> None:
    data = run().to_json()
    assert set(data) == {"ok", "rows"}
    assert all(set(r) == {"check", "status", "detail", "fix"} for r in data["rows"])
    assert json.loads(json.dumps(data)) == data


def test_doctor_with_facts_runs_only_docker_and_cosign_version() -> None:
    runner = canned()
    run(runner=runner)
    assert runner.ran == [["docker", "version", "--format", "{{json .}}"], ["cosign", "version"]]


def test_cosign_row_shows_its_version() -> None:
    row = run().row("cosign")
    assert row is not None
    assert (row.status, row.detail) == ("ok", "version devel")


@pytest.mark.parametrize(
    ("settings", "status"),
    [({}, "ok"), ({"sign": True}, "fail"), ({"signed_by": "cosign.pub"}, "fail")],
)
def test_missing_cosign_fails_only_when_signing_is_configured(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], status: str
) -> None:
    monkeypatch.setattr(doctor_signing, "which", lambda _name: None)
    row = run(**settings).row("cosign")
    assert row is not None
    assert row.status == status
    assert "not installed" in row.detail
    assert ("apt-get install cosign" in row.fix) == (status == "fail")
