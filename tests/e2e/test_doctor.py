"""doctor on the test bed: every row passes; a disabled QEMU handler fails its row with the fix.

`multiarch doctor` is not a task yet: these call the api function in-process with a real
Runner against the real engine, binfmt_misc and registry.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from multiarch_tasks.checks.doctor.check import doctor
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.platforms import parse_platforms
from testbed.registry import Registry, RegistryConfig, htpasswd_file
from tests.conftest import run_cli, unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("engine", "qemu")]
S390X_HANDLER = Path("/proc/sys/fs/binfmt_misc/qemu-s390x")
PLATFORMS = parse_platforms("linux/amd64,linux/arm64,linux/arm/v7,linux/s390x")
USER, PASSWORD = "alice", "correct-horse-battery"


def test_every_row_passes_on_the_test_bed(repo: str) -> None:
    result = doctor(Settings(image=repo, platforms=PLATFORMS), Runner())
    assert result.ok, result.render()
    assert all(r.status == "ok" for r in result.rows), result.render()
    checks = [r.check for r in result.rows]
    assert checks == [
        "docker",
        "buildx",
        "image store",
        "builder",
        "binfmt qemu-aarch64",
        "binfmt qemu-arm",
        "binfmt qemu-s390x",
        "registry",
        "next publish",
        "cosign",
    ]
    cosign = result.row("cosign")
    assert cosign is not None
    assert cosign.detail.startswith("version "), "scripts/engine-up installs cosign"
    store = result.row("image store")
    assert store is not None
    assert store.detail.startswith("containerd")
    publish = result.row("next publish")
    assert publish is not None
    assert publish.detail.startswith("an index of 4 image(s) with provenance attestations")
    data = result.to_json()
    assert data["ok"] is True
    assert json.loads(json.dumps(data)) == data


def test_disabled_handler_fails_its_row_with_the_fix(repo: str) -> None:
    if os.geteuid() != 0 or not S390X_HANDLER.exists():
        unavailable("needs root and a registered qemu-s390x binfmt handler")
    settings = Settings(image=repo, platforms=PLATFORMS)
    # Other builds on this machine use the handler: keep the disabled window tiny.
    S390X_HANDLER.write_text("0")
    try:
        result = doctor(settings, Runner())
        cli = run_cli("doctor", "--image", repo, "--platforms", ",".join(map(str, PLATFORMS)))
    finally:
        S390X_HANDLER.write_text("1")
    assert S390X_HANDLER.read_text().startswith("enabled")
    assert cli.returncode == 1, cli.output
    assert "binfmt qemu-s390x" in cli.stdout
    fixed = run_cli("doctor", "--image", repo, "--platforms", ",".join(map(str, PLATFORMS)))
    assert fixed.returncode == 0, fixed.output
    assert not result.ok
    [row] = result.failed
    assert row.check == "binfmt qemu-s390x"
    assert row.detail == "linux/s390x: registered but disabled"
    assert f"`echo 1 > {S390X_HANDLER}`" in row.fix
    assert "`multiarch qemu-setup --platforms linux/s390x`" in row.fix
    rendered = result.render()
    assert f"binfmt qemu-s390x: as root: `echo 1 > {S390X_HANDLER}`" in rendered
    assert rendered.endswith("doctor: FAILED (1 check(s))")


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("doctor-auth-registry")
    reg = Registry(
        RegistryConfig(root=root, htpasswd=htpasswd_file(root / "htpasswd", USER, PASSWORD))
    )
    yield reg
    reg.stop()


@pytest.mark.parametrize(
    ("password", "status", "needle"),
    [
        (None, "fail", "docker login"),
        ("wrong-password", "fail", "docker login"),
        (PASSWORD, "ok", f"reachable as {USER}"),
    ],
    ids=["no credentials", "wrong password", "right password"],
)
def test_registry_row_checks_the_credentials_of_the_image(
    auth_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    password: str | None,
    status: str,
    needle: str,
) -> None:
    auths = {}
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        auths[auth_registry.host] = {"auth": token}
    (tmp_path / "config.json").write_text(json.dumps({"auths": auths}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    settings = Settings(image=f"{auth_registry.host}/team/app", platforms=PLATFORMS[:1])
    result = doctor(settings, Runner())
    row = result.row("registry")
    assert row is not None
    assert row.status == status, result.render()
    assert needle in row.detail + row.fix
    assert result.ok is (status == "ok")
    assert "wrong-password" not in result.render() + json.dumps(result.to_json())
