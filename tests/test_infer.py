"""Zero-config publish: image from the origin URL, tags from git, platforms the bases offer."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import parse_platforms
from multiarch_tasks.planning.infer import image_from_remote, infer, infer_platforms
from tests.test_preflight import FULL, PARTIAL, FakeRegistry

if TYPE_CHECKING:
    from pathlib import Path

REG = "127.0.0.1:5999"
CI_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_SHA", "GITLAB_CI", "CI_COMMIT_SHA")


@pytest.mark.parametrize(
    ("url", "image"),
    [
        ("https://github.com/acme/app.git", f"{REG}/acme/app"),
        ("https://github.com/acme/app", f"{REG}/acme/app"),
        ("https://github.com/acme/app/", f"{REG}/acme/app"),
        ("https://x-access-token:ghp_SECRET@github.com/acme/app.git", f"{REG}/acme/app"),
        ("ssh://git@github.com/acme/app.git", f"{REG}/acme/app"),
        ("ssh://git@gitlab.example:2222/group/sub/app.git", f"{REG}/group/sub/app"),
        ("git@github.com:acme/app.git", f"{REG}/acme/app"),
        ("git@github.com:Acme/My-App.GIT", f"{REG}/acme/my-app"),
        ("github.com:acme/app", f"{REG}/acme/app"),
    ],
)
def test_remote_url_maps_to_registry_owner_repo(url: str, image: str) -> None:
    assert image_from_remote(url, REG) == image


def test_registry_trailing_slash_is_ignored() -> None:
    assert image_from_remote("git@github.com:acme/app.git", "ghcr.io/") == "ghcr.io/acme/app"


@pytest.mark.parametrize("url", ["/srv/git/app.git", "./app", "file:///srv/git/app.git"])
def test_local_path_remote_is_refused_as_local(url: str) -> None:
    with pytest.raises(InvalidValueError, match="is a local path"):
        image_from_remote(url, REG)


def test_registry_without_domain_or_port_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValueError, match="--registry 'myreg' is not a registry host"):
        image_from_remote("git@github.com:acme/app.git", "myreg")


# --- against a real git checkout ---------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository on branch main with one commit and a Dockerfile on FULL."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "app"
    repo.mkdir()
    (repo / "Dockerfile").write_text(f"FROM {FULL}\nRUN true\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "Dockerfile")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return repo


@pytest.fixture
def registry() -> FakeRegistry:
    reg = FakeRegistry()
    reg.add_index(PARTIAL, "linux/amd64,linux/arm64")
    reg.add_index(FULL, "linux/amd64,linux/arm64,linux/arm/v7,linux/s390x")
    return reg


def test_infer_fills_image_tags_platforms_and_scrubs_credentials_in_the_line(
    checkout: Path, registry: FakeRegistry
) -> None:
    _git(checkout, "remote", "add", "origin", "https://bot:hunter2@github.com/Acme/App.git")
    done = infer(Settings(context=str(checkout)), Runner(), registry=REG, client=registry)
    assert done.settings.image == f"{REG}/acme/app"
    assert done.settings.tags == ("main",)
    assert done.settings.platforms == parse_platforms("linux/amd64,linux/arm64")
    image, tags, platforms = done.lines
    assert image == f"inferred: image {REG}/acme/app (from origin https://github.com/Acme/App.git)"
    assert "hunter2" not in done.render()
    assert tags == "inferred: tags main (from git: branch main)"
    assert platforms.startswith("inferred: platforms linux/amd64,linux/arm64 (every base offers")


def test_detached_head_gets_sha_short_tag(checkout: Path, registry: FakeRegistry) -> None:
    _git(checkout, "remote", "add", "origin", "git@github.com:acme/app.git")
    _git(checkout, "checkout", "-q", "--detach")
    sha = _git(checkout, "rev-parse", "--short=7", "HEAD")
    done = infer(Settings(context=str(checkout)), Runner(), registry=REG, client=registry)
    assert done.settings.tags == (f"sha-{sha}",)
    assert done.lines[1] == f"inferred: tags sha-{sha} (from git: sha, detached HEAD)"


def test_version_tag_on_head_gives_the_tag_and_latest(
    checkout: Path, registry: FakeRegistry
) -> None:
    _git(checkout, "remote", "add", "origin", "git@github.com:acme/app.git")
    _git(checkout, "tag", "v1.2.3")
    _git(checkout, "checkout", "-q", "v1.2.3")
    done = infer(Settings(context=str(checkout)), Runner(), registry=REG, client=registry)
    assert done.settings.tags == ("v1.2.3", "latest")
    assert done.lines[1] == "inferred: tags v1.2.3, latest (from git: tag v1.2.3)"


def test_no_origin_remote_is_a_one_line_error_naming_both_fixes(checkout: Path) -> None:
    with pytest.raises(InvalidValueError) as caught:
        infer(Settings(context=str(checkout)), Runner(), registry=REG, client=FakeRegistry())
    text = str(caught.value)
    assert "\n" not in text
    assert "pass --image" in text
    assert "add an origin remote" in text


def test_user_set_image_and_tags_are_kept_and_git_is_not_asked(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {FULL}\n")
    settings = Settings(context=str(tmp_path), image="r.example/a/b", tags=("1.0",))
    done = infer(settings, Runner(), registry=REG, client=registry)  # no git repo: no error
    assert (done.settings.image, done.settings.tags) == ("r.example/a/b", ("1.0",))
    assert [line.split()[1] for line in done.lines] == ["platforms"]


# --- platforms ---------------------------------------------------------------------------


def _platforms(tmp_path: Path, text: str, wanted: str, registry: FakeRegistry) -> tuple[str, str]:
    (tmp_path / "Dockerfile").write_text(text)
    settings = Settings(context=str(tmp_path), platforms=parse_platforms(wanted))
    kept, line = infer_platforms(settings, registry)
    return ",".join(map(str, kept)), line


def test_platform_no_base_offers_is_dropped_with_the_base_named(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    kept, line = _platforms(
        tmp_path,
        f"FROM {FULL} AS tools\nFROM {PARTIAL}\nCOPY --from=tools /bin/sh /x\n",
        "linux/amd64,linux/arm64,linux/s390x",
        registry,
    )
    assert kept == "linux/amd64,linux/arm64"
    assert line == (
        "inferred: platforms linux/amd64,linux/arm64 (linux/s390x dropped: base"
        f" {PARTIAL} has only linux/amd64,linux/arm64)"
    )


def test_buildplatform_stage_base_does_not_limit_the_targets(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    registry.add_index("127.0.0.1:5000/tools/go:amd64", "linux/amd64")
    text = (
        "FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/tools/go:amd64 AS build\n"
        f"FROM {FULL}\nCOPY --from=build /out /out\n"
    )
    kept, _ = _platforms(tmp_path, text, "linux/amd64,linux/s390x", registry)
    assert kept == "linux/amd64,linux/s390x"


def test_arm_v7_target_accepts_a_base_offering_arm_v6(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    registry.add_index("127.0.0.1:5000/base/v6:1", "linux/arm/v6")
    kept, _ = _platforms(tmp_path, "FROM 127.0.0.1:5000/base/v6:1\n", "linux/arm/v7", registry)
    assert kept == "linux/arm/v7"


def test_no_platform_left_is_a_one_line_error(tmp_path: Path, registry: FakeRegistry) -> None:
    with pytest.raises(InvalidValueError) as caught:
        _platforms(tmp_path, f"FROM {PARTIAL}\n", "linux/s390x,linux/ppc64le", registry)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("no platform left: linux/s390x dropped: base")
    assert "linux/ppc64le dropped" in text


def test_unreadable_base_keeps_the_requested_platforms_and_says_so(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    kept, line = _platforms(
        tmp_path, "FROM 127.0.0.1:5000/absent/base:1\n", "linux/amd64,linux/s390x", registry
    )
    assert kept == "linux/amd64,linux/s390x"
    assert "base 127.0.0.1:5000/absent/base:1 not read" in line
