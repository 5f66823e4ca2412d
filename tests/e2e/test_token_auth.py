"""Token auth for real: a Distribution registry with ``auth: token`` and the test bed's token
server (RS256 JWTs with an ``x5c`` chain), driven through the ``multiarch`` CLI and buildx.

Each test has its own ``DOCKER_CONFIG`` (the machine's config.json is never touched) and
greps everything the run wrote for the password, the refresh/identity token and every
token issued.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.base_images import FULL_PLATFORMS
from testbed.latency_proxy import LatencyProxy
from testbed.registry import Registry, RegistryConfig
from testbed.token_server import TokenServer
from tests.conftest import (
    APP_ONLY,
    EXAMPLE,
    BaseImage,
    CliResult,
    one_line_error,
    run_cli,
    unavailable,
)

pytestmark = pytest.mark.e2e
USER, PASSWORD = "alice", "alice-token-pw-7d1c"
READER, READER_PASSWORD = "bob", "bob-reader-pw-91ab"
TWO = "linux/amd64,linux/arm64"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(
        tmp_path_factory.mktemp("token-server"),
        users={USER: PASSWORD, READER: READER_PASSWORD},
        # alice reads everything: BuildKit asks to mount a layer from every repository the
        # containerd store remembers it came from on this host:port (other registries that
        # once had the port included), and Distribution refuses a mount whose source
        # the token does not cover with insufficient_scope, failing the push.
        access={
            USER: {"team/*": "pull,push", "base/*": "pull,push", "*": "pull"},
            READER: {"team/*": "pull"},
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(
    token_server: TokenServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    if shutil.which("docker-registry") is None:
        unavailable("docker-registry not installed (run scripts/engine-up)")
    root = tmp_path_factory.mktemp("token-registry")
    reg = Registry(RegistryConfig(root=root, token=token_server.registry_auth()))
    yield reg
    reg.stop()


def docker_config(directory: Path, config: dict[str, object]) -> dict[str, str]:
    """Write ``directory/config.json``; the environment that points docker and multiarch at it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory)}


def password_config(directory: Path, host: str, user: str = USER, pw: str = PASSWORD):
    auth = base64.b64encode(f"{user}:{pw}".encode()).decode()
    return docker_config(directory, {"auths": {host: {"auth": auth}}})


class Outputs:
    """Everything a test's runs printed or wrote, to grep for secrets at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.dirs: list[Path] = []

    def cli(self, *args: str, env: dict[str, str], **kwargs: object) -> CliResult:
        done = run_cli(*args, env=env, **kwargs)  # type: ignore[arg-type]
        self.texts.append(done.output)
        return done

    def assert_no_secret(self, server: TokenServer, *extra: str) -> None:
        planted = [PASSWORD, READER_PASSWORD, *server.secrets(), *extra]
        planted += [base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
        texts = list(self.texts)
        for directory in self.dirs:
            texts += [p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file()]
        for secret in planted:
            for text in texts:
                assert secret not in text, "a credential or token leaked into an output"


@pytest.fixture
def outputs() -> Outputs:
    return Outputs()


@pytest.fixture(scope="module")
def token_base(
    base_image: BaseImage,
    token_registry: Registry,
    token_server: TokenServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The test bed's multi-arch base, mirrored into the token registry (it pulls from there)."""
    env = password_config(tmp_path_factory.mktemp("base-config"), token_registry.host)
    ref = f"{token_registry.host}/base/busybox:full"
    done = run_cli("mirror", base_image.ref, ref, "--tool", "native", env=env, timeout=600)
    assert done.returncode == 0, done.output[-3000:]
    return ref


def index_of(server: TokenServer, registry: Registry, ref: str) -> tuple[dict, str]:
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag, headers=server.bearer(repository))
    assert found is not None, f"{ref} is absent"
    return found


def platforms_of(index: dict) -> list[str]:
    return sorted(
        "/".join(x for x in (p["os"], p["architecture"], p.get("variant", "")) if x)
        for m in index["manifests"]
        if (p := m.get("platform", {})).get("os") != "unknown"
    )


def test_publish_then_verify_deep_and_inspect_through_token_auth(
    engine, qemu, token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    env = password_config(tmp_path / "docker", token_registry.host)
    repo = f"{token_registry.host}/team/app"
    out = tmp_path / "out"
    outputs.dirs += [out]
    before = len(token_server.issued)
    published = outputs.cli(
        "publish", "--image", repo, "--tag", "1", "--platforms", TWO, "--context", str(EXAMPLE),
        "--build-arg", f"BASE={token_base}", "--output-dir", str(out), env=env,
    )  # fmt: skip
    assert published.returncode == 0, published.output[-3000:]
    index, digest = index_of(token_server, token_registry, f"{repo}:1")
    assert platforms_of(index) == ["linux/amd64", "linux/arm64"]
    # buildx (BuildKit in dockerd) and multiarch both got tokens for the app's repository,
    # with the password from config.json.
    grants = {(i.grant, i.user) for i in token_server.issued[before:] if i.granted}
    # multiarch: GET with Basic; BuildKit: the OAuth2 password grant.
    assert {g for g, u in grants if u == USER} >= {"get", "password"}, grants
    assert any("repository:team/app:pull,push" in i.granted for i in token_server.issued[before:])

    deep = outputs.cli("verify", f"{repo}:1", "--deep", "--platforms", TWO, env=env)
    assert deep.returncode == 0, deep.output[-3000:]
    assert "ELF" in deep.output
    shown = outputs.cli("inspect", f"{repo}:1", env=env)
    assert shown.returncode == 0, shown.output[-3000:]
    assert digest in shown.stdout
    assert "linux/arm64" in shown.stdout
    outputs.assert_no_secret(token_server)


def test_mirror_across_repositories_mounts_blobs_with_a_pull_scope_on_the_source(
    token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    env = password_config(tmp_path / "docker", token_registry.host)
    dest = f"{token_registry.host}/team/mirrored:full"
    before = len(token_server.issued)
    done = outputs.cli("mirror", token_base, dest, "--tool", "native", env=env, timeout=600)
    assert done.returncode == 0, done.output[-3000:]
    assert " 0 mounted" not in done.stdout
    assert "mounted" in done.stdout
    # The mount's token asked for push on the destination and pull on the source, together.
    asked = [set(i.requested) for i in token_server.issued[before:]]
    assert {"repository:team/mirrored:pull,push", "repository:base/busybox:pull"} in asked
    _, src_digest = index_of(token_server, token_registry, token_base)
    _, dest_digest = index_of(token_server, token_registry, dest)
    assert dest_digest == src_digest
    outputs.assert_no_secret(token_server)


def test_merge_of_two_shards_pushes_the_index_through_token_auth(
    engine, qemu, token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    env = password_config(tmp_path / "docker", token_registry.host)
    repo = f"{token_registry.host}/team/merged"
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    shards = []
    for platform in TWO.split(","):
        shard = tmp_path / platform.replace("/", "-")
        outputs.dirs.append(shard)
        built = outputs.cli(
            "build", "--image", repo, "--tag", "m", "--platforms", platform, "--context",
            str(project), "--build-arg", f"BASE={token_base}", "--output-dir", str(shard),
            env=env,
        )  # fmt: skip
        assert built.returncode == 0, built.output[-3000:]
        shards.append(shard)
    out = tmp_path / "merged"
    outputs.dirs += [out]
    merged = outputs.cli(
        "merge", "--from", ",".join(map(str, shards)), "--image", repo, "--tag", "m",
        "--platforms", TWO, "--output-dir", str(out), "--json", env=env,
    )  # fmt: skip
    assert merged.returncode == 0, merged.output[-3000:]
    index, _ = index_of(token_server, token_registry, f"{repo}:m")
    assert platforms_of(index) == ["linux/amd64", "linux/arm64"]
    outputs.assert_no_secret(token_server)


@pytest.mark.parametrize("announced", [None, 300], ids=["honest", "expires-unannounced"])
def test_token_that_expires_mid_mirror_is_renewed(
    base_image, token_registry, token_server, outputs, tmp_path, announced
) -> None:
    """5-second tokens over a mirror slowed to well beyond that by a latency proxy.

    ``honest``: ``expires_in`` says 5, the client renews before expiry. ``expires-
    unannounced``: ``expires_in`` says 300, the registry answers 401 once the JWT's 5 s
    are up, and the client fetches a new token then.
    """
    proxy = LatencyProxy(token_registry.host, 1500)
    env = password_config(tmp_path / "docker", proxy.host)
    # -60: the registry's 60 s leeway past `exp` would outlast the test.
    token_server.lifetime, token_server.announced, token_server.exp_offset = 5, announced, -60
    before = len(token_server.issued)
    try:
        start = time.monotonic()
        done = outputs.cli(
            "mirror", base_image.ref,
            f"{proxy.host}/team/slow-{announced or 'honest'}:full", "--tool", "native",
            env=env, timeout=600,
        )  # fmt: skip
        took = time.monotonic() - start
    finally:
        token_server.lifetime, token_server.announced, token_server.exp_offset = 300, None, 0
        proxy.stop()
    assert done.returncode == 0, done.output[-3000:]
    assert took > 2 * 5, f"the mirror took {took:.1f}s: too fast to outlive a token"
    pushes = [
        i
        for i in token_server.issued[before:]
        if f"repository:team/slow-{announced or 'honest'}:pull,push" in i.requested
    ]
    assert len(pushes) >= 2, f"{len(pushes)} push token(s) in {took:.1f}s of 5-second tokens"
    # Reused while valid, not fetched anew for every request (a 10 s safety margin
    # once made a 5 s token single-use: 46 tokens for 47 requests).
    tokens = len(token_server.issued) - before
    assert tokens * 2 < proxy.requests, f"{tokens} tokens for {proxy.requests} requests"
    outputs.assert_no_secret(token_server)


def install_helper(bin_dir: Path, name: str, log: Path) -> None:
    """A real ``docker-credential-NAME`` program speaking docker's helper protocol."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        f"print(json.dumps({{'ServerURL': server, 'Username': {USER!r},"
        f" 'Secret': {PASSWORD!r}}}))\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("where", ["credHelpers", "credsStore"])
def test_credential_helper_on_path_answers_the_token_server(
    token_base, token_registry, token_server, outputs, tmp_path, where
) -> None:
    log = tmp_path / "helper.log"
    install_helper(tmp_path / "bin", "tokentest", log)
    host = token_registry.host
    config: dict[str, object] = (
        {"credHelpers": {host: "tokentest"}}
        if where == "credHelpers"
        else {"credsStore": "tokentest"}
    )
    env = {
        **docker_config(tmp_path / "docker", config),
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    before = len(token_server.issued)
    done = outputs.cli("inspect", token_base, env=env)
    assert done.returncode == 0, done.output[-3000:]
    assert log.read_text().splitlines() == [f"get {host}"]
    assert {(i.grant, i.user) for i in token_server.issued[before:]} == {("get", USER)}
    outputs.assert_no_secret(token_server)


def test_identitytoken_is_exchanged_through_the_refresh_token_grant(
    token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    identity = token_server.refresh_token_for(USER)
    # As `docker login` writes it for a registry whose token server gave a refresh token.
    entry = {"auth": base64.b64encode(f"{USER}:".encode()).decode(), "identitytoken": identity}
    env = docker_config(tmp_path / "docker", {"auths": {token_registry.host: entry}})
    before = len(token_server.issued)
    done = outputs.cli("verify", token_base, "--platforms", ",".join(FULL_PLATFORMS), env=env)
    assert done.returncode == 0, done.output[-3000:]
    used = token_server.issued[before:]
    assert used
    assert {(i.grant, i.user) for i in used} == {("refresh_token", USER)}
    outputs.assert_no_secret(token_server, identity)


def test_docker_login_identitytoken_serves_multiarch_too(
    engine, token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    login = subprocess.run(
        ["docker", "--config", str(config_dir), "login", "-u", USER, "--password-stdin",
         token_registry.host],
        input=PASSWORD, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    saved = json.loads((config_dir / "config.json").read_text())["auths"][token_registry.host]
    assert saved.get("identitytoken"), "docker login kept no identity token"
    before = len(token_server.issued)
    done = outputs.cli("inspect", token_base, env={"DOCKER_CONFIG": str(config_dir)})
    assert done.returncode == 0, done.output[-3000:]
    assert {i.grant for i in token_server.issued[before:]} == {"refresh_token"}
    outputs.assert_no_secret(token_server, saved["identitytoken"])


def test_wrong_password_is_one_line_naming_the_registry(
    token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    env = password_config(tmp_path / "docker", token_registry.host, pw="not-the-password-55")
    done = outputs.cli("inspect", token_base, env=env)
    line = one_line_error(done, token_registry.host)
    assert "refused a token: 401" in line
    assert "wrong user name or password" in line
    outputs.assert_no_secret(token_server, "not-the-password-55")


def test_refused_identitytoken_is_one_line_naming_the_registry(
    token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    entry = {"auth": base64.b64encode(f"{USER}:".encode()).decode(), "identitytoken": "rt-revoked"}
    env = docker_config(tmp_path / "docker", {"auths": {token_registry.host: entry}})
    done = outputs.cli("inspect", token_base, env=env)
    line = one_line_error(done, token_registry.host)
    assert "refused a token: 401" in line
    assert "identity token in config.json is expired or revoked" in line
    outputs.assert_no_secret(token_server, "rt-revoked")


def test_token_scoped_per_repository_denies_a_push_the_user_may_not_make(
    token_base, token_registry, token_server, outputs, tmp_path
) -> None:
    env = password_config(tmp_path / "docker", token_registry.host, READER, READER_PASSWORD)
    # bob may pull team/*: reading works; pushing there, or reading base/*, does not.
    dest = f"{token_registry.host}/team/bob-copy:1"
    done = outputs.cli("mirror", token_base, dest, "--tool", "native", env=env, timeout=300)
    assert done.returncode == 1, done.output[-3000:]
    assert token_registry.host in done.output
    assert "Traceback" not in done.output
    outputs.assert_no_secret(token_server)
