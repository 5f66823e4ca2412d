"""Image references after the Distribution grammar, with Docker Hub defaults, as tables."""

from __future__ import annotations

import pytest

from multiarch_tasks.model.errors import InvalidReferenceError, InvalidValueError
from multiarch_tasks.model.reference import (
    DOCKER_HUB,
    DOCKER_HUB_API,
    MAX_TAG,
    ImageRef,
    fit_tag,
    is_loopback_host,
    validate_tag,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER_DIGEST = "sha256:" + "f" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        # Docker Hub defaults
        ("busybox", "docker.io", "library/busybox", "latest", ""),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", ""),
        ("user/app", "docker.io", "user/app", "latest", ""),
        ("user/app:v1", "docker.io", "user/app", "v1", ""),
        ("docker.io/user/app", "docker.io", "user/app", "latest", ""),
        ("docker.io/library/busybox", "docker.io", "library/busybox", "latest", ""),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest", ""),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", ""),
        ("registry-1.docker.io/user/app:v2", "docker.io", "user/app", "v2", ""),
        ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", ""),
        # a first component is a registry host when it has `.` or `:` or is localhost
        ("ghcr.io/org/app", "ghcr.io", "org/app", "latest", ""),
        ("quay.io/org/team/app:1.0", "quay.io", "org/team/app", "1.0", ""),
        ("localhost/app", "localhost", "app", "latest", ""),
        ("localhost:5000/app", "localhost:5000", "app", "latest", ""),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", ""),
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1", ""),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", ""),
        ("[::1]:5000/app:v1", "[::1]:5000", "app", "v1", ""),
        ("registry:5000/app", "registry:5000", "app", "latest", ""),
        ("my-registry.example.com:443/a/b", "my-registry.example.com:443", "a/b", "latest", ""),
        # ... otherwise it is a Docker Hub user or org
        ("myregistry/app", "docker.io", "myregistry/app", "latest", ""),
        # repository separators
        ("user/my_app", "docker.io", "user/my_app", "latest", ""),
        ("user/my__app", "docker.io", "user/my__app", "latest", ""),
        ("user/my--app", "docker.io", "user/my--app", "latest", ""),
        ("user/my.app", "docker.io", "user/my.app", "latest", ""),
        # tags
        ("app:V1.2_rc-3", "docker.io", "library/app", "V1.2_rc-3", ""),
        ("app:_x", "docker.io", "library/app", "_x", ""),
        ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, ""),
        # digests: no default tag when pinned
        (f"busybox@{DIGEST}", "docker.io", "library/busybox", "", DIGEST),
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", "", DIGEST),
        (f"localhost:5000/app@{DIGEST}", "localhost:5000", "app", "", DIGEST),
        # both
        (f"busybox:1.36@{DIGEST}", "docker.io", "library/busybox", "1.36", DIGEST),
        (f"localhost:5000/app:v1@{DIGEST}", "localhost:5000", "app", "v1", DIGEST),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_docker_hub_spellings_are_one_reference() -> None:
    spellings = [
        "busybox",
        "library/busybox",
        "docker.io/busybox",
        "docker.io/library/busybox:latest",
        "index.docker.io/library/busybox",
    ]
    refs = {ImageRef.parse(s) for s in spellings}
    assert refs == {ImageRef(DOCKER_HUB, "library/busybox", "latest")}


@pytest.mark.parametrize(
    ("text", "tag"),
    [("busybox", ""), ("busybox:1.36", "1.36"), ("localhost:5000/app", "")],
)
def test_default_tag_empty(text: str, tag: str) -> None:
    assert ImageRef.parse(text, default_tag="").tag == tag


def test_default_tag_custom() -> None:
    assert ImageRef.parse("user/app", default_tag="edge").tag == "edge"
    assert ImageRef.parse(f"user/app@{DIGEST}", default_tag="edge").tag == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty or has spaces"),
        (" busybox", "empty or has spaces"),
        ("busybox ", "empty or has spaces"),
        ("user/my app", "empty or has spaces"),
        ("busybox:1 2", "empty or has spaces"),
        ("Busybox", "invalid repository name"),
        ("user/App", "invalid repository name"),
        ("ghcr.io/Org/app", "invalid repository name"),
        ("user//app", "invalid repository name"),
        ("user/app-", "invalid repository name"),
        ("user/_app", "invalid repository name"),
        ("user/a___b", "invalid repository name"),
        ("localhost:5000/", "invalid repository name"),
        ("app:", "invalid tag"),
        ("app:-bad", "invalid tag"),
        ("app:.bad", "invalid tag"),
        ("app:bad/tag", "invalid registry host"),
        ("app:" + "t" * 129, "invalid tag"),
        ("app:a+b", "invalid tag"),
        ("app@sha256:abc", "invalid digest"),
        ("app@sha256:" + "g" * 64, "invalid digest"),
        ("app@" + "a" * 64, "invalid digest"),
        ("app@", "invalid digest"),
        ("bad_host.io:x/app", "invalid registry host"),
        ("-bad.io/app", "invalid registry host"),
        ("127.0.0.1:5000", "is a registry host with no repository"),
        ("localhost:5000", "is a registry host with no repository"),
        ("registry.example.com:443", "is a registry host with no repository"),
        ("[::1]:5000", "is a registry host with no repository"),
    ],
)
def test_invalid(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError, match=problem) as info:
        ImageRef.parse(text)
    assert repr(text) in str(info.value)


def test_registry_host_hint_says_to_add_a_repository() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        ImageRef.parse("127.0.0.1:5000", default_tag="")
    assert "add one, e.g. 127.0.0.1:5000/app" in str(info.value)
    # A name without a dot with a numeric tag stays a Docker Hub image with that tag.
    assert ImageRef.parse("python:3") == ImageRef("docker.io", "library/python", "3")


@pytest.mark.parametrize("tag", ["v1", "1.10", "latest", "_x", "A-b.c_9", "t" * 128])
def test_validate_tag_accepts(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["v1/x", "-x", ".x", "", "a+b", "t" * 129, "a b", "x:y"])
def test_validate_tag_refuses_naming_the_tag_not_a_host(tag: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        validate_tag(tag)
    assert str(info.value).startswith(f"invalid tag {tag!r}: ")
    assert "host" not in str(info.value)


def test_invalid_reference_is_a_value_error() -> None:
    assert issubclass(InvalidReferenceError, InvalidValueError)
    with pytest.raises(ValueError, match="invalid tag"):
        ImageRef.parse("app:-x")


def test_too_long() -> None:
    long_name = "/".join(["a" * 60] * 5)
    with pytest.raises(InvalidReferenceError, match="longer than 255"):
        ImageRef.parse(f"ghcr.io/{long_name}")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.0.0.1", True),
        ("127.1.2.3:80", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("[::1]", True),
        ("example.com", False),
        ("example.com:5000", False),
        ("10.0.0.1:5000", False),
        ("[2001:db8::1]:5000", False),
        ("localhost.example.com", False),
        ("docker.io", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    assert ImageRef(host, "app").is_loopback is loopback


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("127.0.0.1:5000/app", True),
        ("localhost:5000/app:v1", True),
        ("[::1]:5000/app", True),
        ("example.com/app", False),
        ("busybox", False),
    ],
)
def test_parsed_is_loopback(text: str, loopback: bool) -> None:
    assert ImageRef.parse(text).is_loopback is loopback


def test_with_tag_drops_digest() -> None:
    ref = ImageRef.parse(f"localhost:5000/app:v1@{DIGEST}")
    moved = ref.with_tag("v2")
    assert moved == ImageRef("localhost:5000", "app", "v2", "")
    assert str(moved) == "localhost:5000/app:v2"
    assert ref.tag == "v1"  # the original is untouched


def test_with_digest_drops_tag() -> None:
    ref = ImageRef.parse("ghcr.io/org/app:v1")
    pinned = ref.with_digest(OTHER_DIGEST)
    assert pinned == ImageRef("ghcr.io", "org/app", "", OTHER_DIGEST)
    assert str(pinned) == f"ghcr.io/org/app@{OTHER_DIGEST}"
    assert pinned.reference == OTHER_DIGEST


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("user/app", "docker.io/user/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"[::1]:5000/a/b:t@{DIGEST}", f"[::1]:5000/a/b:t@{DIGEST}"),
    ],
)
def test_str(text: str, shown: str) -> None:
    ref = ImageRef.parse(text)
    assert str(ref) == shown
    assert ImageRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "busybox",
        "user/app:v1",
        "ghcr.io/org/team/app:1.0",
        "localhost:5000/app",
        "[::1]:5000/app:v1",
        f"quay.io/org/app@{DIGEST}",
        f"127.0.0.1:5000/app:edge@{DIGEST}",
    ],
)
def test_round_trip_with_empty_default_tag(text: str) -> None:
    ref = ImageRef.parse(text, default_tag="")
    assert ImageRef.parse(str(ref), default_tag="") == ref


@pytest.mark.parametrize(
    ("text", "name", "reference", "api_host"),
    [
        ("busybox", "docker.io/library/busybox", "latest", DOCKER_HUB_API),
        ("ghcr.io/org/app:v1", "ghcr.io/org/app", "v1", "ghcr.io"),
        (f"localhost:5000/app:v1@{DIGEST}", "localhost:5000/app", DIGEST, "localhost:5000"),
    ],
)
def test_name_reference_api_host(text: str, name: str, reference: str, api_host: str) -> None:
    ref = ImageRef.parse(text)
    assert ref.name == name
    assert ref.reference == reference
    assert ref.api_host == api_host


def test_refs_are_immutable() -> None:
    ref = ImageRef.parse("busybox")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("tag", "suffix"),
    [
        ("1.2", "-staging-3f9a2c1b4e"),
        ("v" * 128, "-staging-3f9a2c1b4e"),
        ("v" * 128, "-linux-arm-v7"),
        ("x" * 100 + "y" * 10, "-linux-arm64-staging-3f9a2c1b4e"),
        ("a" * 127, ""),
    ],
)
def test_fit_tag_is_a_valid_tag_of_at_most_128_characters_keeping_the_suffix(
    tag: str, suffix: str
) -> None:
    fitted = fit_tag(tag, suffix)
    assert len(fitted) <= MAX_TAG
    assert validate_tag(fitted) == fitted
    assert fitted.endswith(suffix)
    if len(tag + suffix) <= MAX_TAG:
        assert fitted == tag + suffix  # a tag that fits is left as it is


def test_fit_tag_keeps_two_long_tags_with_one_prefix_apart_and_is_stable() -> None:
    one, two = "r" * 127 + "1", "r" * 127 + "2"
    assert fit_tag(one, "-staging-abc") != fit_tag(two, "-staging-abc")
    assert fit_tag(one, "-staging-abc") == fit_tag(one, "-staging-abc")
