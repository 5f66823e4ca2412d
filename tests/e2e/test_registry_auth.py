"""The registry client against a real Distribution registry with htpasswd (Basic) auth."""

from __future__ import annotations

import base64
import gzip
import json
import os
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed import images
from testbed.registry import Registry, RegistryConfig, htpasswd_file

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.e2e
USER, PASSWORD = "alice", "correct-horse-battery"


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("auth-registry")
    reg = Registry(
        RegistryConfig(root=root, htpasswd=htpasswd_file(root / "htpasswd", USER, PASSWORD))
    )
    yield reg
    reg.stop()


def write_config(directory: Path, config: dict[str, object]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return str(directory)


def auth_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def push_small_image(client: RegistryClient, ref: ImageRef) -> str:
    config = {"os": "linux", "architecture": "amd64"}
    return images.push_image(client, ref, config, [gzip.compress(b"hello")], by_digest=False)[
        0
    ].digest


def test_basic_auth_from_config_json_pushes_and_pulls(auth_registry, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "docker", {"auths": {auth_registry.host: auth_entry(USER, PASSWORD)}}
    )
    client = RegistryClient(docker_config=config)
    ref = ImageRef.parse(f"{auth_registry.host}/team/app:1")
    digest = push_small_image(client, ref)
    assert client.get_manifest(ref).digest == digest
    assert client.list_tags(ref) == ["1"]
    other = ImageRef.parse(f"{auth_registry.host}/team/copy:1")
    doc = client.get_manifest(ref)
    assert client.mount_blob(other, doc.config.digest, ref.repository)


def test_docker_config_env_is_honoured(
    auth_registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path / "envdocker", {"auths": {auth_registry.host: auth_entry(USER, PASSWORD)}}
    )
    monkeypatch.setenv("DOCKER_CONFIG", config)
    client = RegistryClient()
    ref = ImageRef.parse(f"{auth_registry.host}/team/env:1")
    assert push_small_image(client, ref).startswith("sha256:")


def test_no_credentials_is_a_one_line_401_suggesting_login(auth_registry, tmp_path: Path) -> None:
    client = RegistryClient(docker_config=write_config(tmp_path / "empty", {}))
    with pytest.raises(RegistryError, match="docker login") as info:
        client.get_manifest(ImageRef.parse(f"{auth_registry.host}/team/app:1"))
    assert info.value.status == 401
    assert "\n" not in str(info.value)


def test_wrong_password_never_shows_up_in_the_error(auth_registry, tmp_path: Path) -> None:
    bad = "wrong-but-secret-pw"
    config = write_config(
        tmp_path / "wrong", {"auths": {auth_registry.host: auth_entry(USER, bad)}}
    )
    client = RegistryClient(docker_config=config)
    with pytest.raises(RegistryError) as info:
        client.get_manifest(ImageRef.parse(f"{auth_registry.host}/team/app:1"))
    assert info.value.status == 401
    text = f"{info.value} {info.value.url}"
    assert bad not in text
    assert base64.b64encode(f"{USER}:{bad}".encode()).decode() not in text


def install_helper(bin_dir: Path, name: str, log: Path) -> None:
    """A real ``docker-credential-NAME`` program speaking the helper protocol."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"assert sys.argv[1:] == ['get'], sys.argv\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(server + '\\n')\n"
        f"answer = {{'ServerURL': server, 'Username': {USER!r}, 'Secret': {PASSWORD!r}}}\n"
        "print(json.dumps(answer))\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("where", ["credHelpers", "credsStore"])
def test_credential_helper_is_asked_over_its_protocol(
    auth_registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    log = tmp_path / "asked.log"
    install_helper(tmp_path / "bin", "testbed", log)
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    config: dict[str, object] = (
        {"credHelpers": {auth_registry.host: "testbed"}}
        if where == "credHelpers"
        else {"credsStore": "testbed"}
    )
    client = RegistryClient(docker_config=write_config(tmp_path / "docker", config))
    ref = ImageRef.parse(f"{auth_registry.host}/team/helper-{where.lower()}:1")
    # The runner looks the helper up on the PATH of the moment.
    assert push_small_image(client, ref).startswith("sha256:")
    assert client.head_manifest(ref) is not None
    assert log.read_text().splitlines() == [auth_registry.host]  # asked once, then cached


def test_missing_credential_helper_is_named(auth_registry, tmp_path: Path) -> None:
    config = write_config(tmp_path / "docker", {"credsStore": "no-such-helper-here"})
    client = RegistryClient(docker_config=config)
    with pytest.raises(RegistryError, match="docker-credential-no-such-helper-here"):
        client.get_manifest(ImageRef.parse(f"{auth_registry.host}/team/app:1"))


def test_credentials_written_by_docker_login_work(engine, auth_registry, tmp_path: Path) -> None:
    config_dir = tmp_path / "docker-login"
    config_dir.mkdir()
    done = subprocess.run(
        [
            "docker",
            "--config",
            str(config_dir),
            "login",
            "-u",
            USER,
            "--password-stdin",
            auth_registry.host,
        ],
        input=PASSWORD,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    client = RegistryClient(docker_config=str(config_dir))
    ref = ImageRef.parse(f"{auth_registry.host}/team/login:1")
    assert push_small_image(client, ref) == client.get_manifest(ref).digest
