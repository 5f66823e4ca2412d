"""Facts parsed from what buildx and docker really print (tests/fixtures, copied verbatim
from shared/fixtures: a docker-container builder, a two-node remote builder, the docker
driver, `buildx ls` in both forms, and the metadata files of four kinds of push)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import facts
from multiarch_tasks.engine.facts import (
    CLASSIC_STORE,
    CONTAINERD_STORE,
    Builder,
    Node,
    parse_docker_info,
    parse_inspect,
    parse_ls_json,
    parse_ls_text,
    parse_metadata,
    requested_builder,
)
from multiarch_tasks.engine.runner import Result
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import source_url

FIXTURES = Path(__file__).parent / "fixtures"
# shared/ sits beside the checkout (CI: beside the fresh clone; worktrees: further up).
SHARED = next(
    (
        p / "shared" / "fixtures"
        for p in Path(__file__).parents
        if (p / "shared" / "fixtures").is_dir()
    ),
    Path("/nonexistent"),
)
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
S390X = Platform("linux", "s390x")
ARMV7 = Platform("linux", "arm", "v7")
ARMV6 = Platform("linux", "arm", "v6")


def fixture(name: str) -> str:
    return (FIXTURES / "buildx" / name).read_text()


def test_fixture_copies_are_byte_identical_to_the_shared_captures() -> None:
    """The copies match the checksums taken from shared/fixtures, and shared/ itself when it
    sits beside the checkout (CI), so a recapture there cannot drift from what is tested."""
    import hashlib  # noqa: PLC0415

    sums = dict(
        reversed(line.split("  ", 1)) for line in (FIXTURES / "SHA256SUMS").read_text().splitlines()
    )
    assert len(sums) == 12
    for name, digest in sums.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name
        if SHARED.is_dir():
            assert (SHARED / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_inspect_remote_two_nodes_declared_platforms_are_the_starred_ones() -> None:
    builder = parse_inspect(fixture("inspect-remote-two-nodes.txt"))
    assert (builder.name, builder.driver) == ("farm2", "remote")
    n1, n2 = builder.nodes
    assert (n1.name, n1.endpoint, n1.status) == ("farm2-n1", "tcp://127.0.0.1:1231", "running")
    assert (n2.name, n2.endpoint) == ("farm2-n2", "tcp://127.0.0.1:1232")
    assert n1.declared == (AMD64,)
    assert n2.declared == (ARM64,)
    assert n1.supported[0] == AMD64
    assert n2.supported[0] == ARM64
    assert S390X in n1.supported
    assert S390X in n2.supported
    assert n1.is_remote
    assert n2.is_remote
    assert builder.buildkit


def test_inspect_remote_node_for_follows_declarations_then_support() -> None:
    builder = parse_inspect(fixture("inspect-remote-two-nodes.txt"))
    assert [(n.name, why) for n, why in [builder.node_for(AMD64), builder.node_for(ARM64)]] == [
        ("farm2-n1", "declared"),
        ("farm2-n2", "declared"),
    ]
    node, why = builder.node_for(S390X) or (None, "")
    assert node is not None
    assert (node.name, why) == ("farm2-n1", "supported")
    riscv = Platform("linux", "mips64le")
    fallback = builder.node_for(riscv)
    assert fallback is not None
    assert (fallback[0].name, fallback[1]) == ("farm2-n1", "fallback")


def test_inspect_docker_container_one_local_node_nothing_declared() -> None:
    builder = parse_inspect(fixture("inspect-docker-container.txt"))
    assert (builder.name, builder.driver) == ("dc", "docker-container")
    (node,) = builder.nodes
    assert node.endpoint == "unix:///var/run/docker.sock"
    assert not node.is_remote
    assert node.declared == ()
    assert node.supported[:5] == (
        AMD64,
        Platform("linux", "amd64", "v2"),
        Platform("linux", "amd64", "v3"),
        Platform("linux", "amd64", "v4"),
        ARM64,
    )
    assert ARMV7 in node.supported
    assert ARMV6 in node.supported
    assert builder.buildkit


def test_inspect_docker_default_is_not_buildkit_proper() -> None:
    builder = parse_inspect(fixture("inspect-docker-default.txt"))
    assert (builder.name, builder.driver) == ("default", "docker")
    (node,) = builder.nodes
    assert (node.name, node.endpoint, node.status) == ("default", "default", "running")
    assert not node.is_remote
    assert not builder.buildkit
    # linux/ppc64 and linux/mips64 are not modelled and are left out
    assert Platform("linux", "mips64le") in node.supported
    assert all(p.architecture != "ppc64" for p in node.supported)


def test_inspect_ignores_indented_label_and_gc_lines() -> None:
    builder = parse_inspect(fixture("inspect-docker-container.txt"))
    assert [n.name for n in builder.nodes] == ["dc0"]  # "Filters:", "Keep Bytes:" etc. skipped


@pytest.mark.parametrize("text", ["", "no builder here\n", 'ERROR: no builder "x" found\n'])
def test_inspect_of_nothing_has_no_nodes_and_no_driver(text: str) -> None:
    assert parse_inspect(text) == Builder("", "", ())


def test_inspect_inactive_node_lists_no_platforms() -> None:
    text = (
        "Name:   stopped\nDriver: docker-container\n\nNodes:\nName:     stopped0\n"
        "Endpoint: unix:///var/run/docker.sock\nStatus:   inactive\nPlatforms:\n"
    )
    assert parse_inspect(text) == Builder(
        "stopped",
        "docker-container",
        (Node("stopped0", "unix:///var/run/docker.sock", "inactive", (), ()),),
    )


def test_ls_text_marks_the_current_builder_and_declared_platforms() -> None:
    builders, current = parse_ls_text(fixture("ls.txt"))
    assert current == "default"
    assert [(b.name, b.driver) for b in builders] == [
        ("builder2", "docker-container"),
        ("dc", "docker-container"),
        ("farm2", "remote"),
        ("default", "docker"),
    ]
    farm2 = builders[2]
    assert [(n.name, n.endpoint, n.declared) for n in farm2.nodes] == [
        ("farm2-n1", "tcp://127.0.0.1:1231", (AMD64,)),
        ("farm2-n2", "tcp://127.0.0.1:1232", (ARM64,)),
    ]
    assert farm2.nodes[1].supported[0] == ARM64


def test_ls_json_lists_every_builder_with_its_nodes() -> None:
    builders = parse_ls_json(fixture("ls.json"))
    names = [b.name for b in builders]
    assert names == ["builder2", "dc", "farm2", "default"]
    farm2 = builders[2]
    assert farm2.driver == "remote"
    assert [n.endpoint for n in farm2.nodes] == ["tcp://127.0.0.1:1231", "tcp://127.0.0.1:1232"]
    # declared platforms come first in the JSON list (unmarked)
    assert farm2.nodes[1].supported[0] == ARM64


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("metadata-multi-platform-docker-container.json", "127.0.0.1:5000/team/mpfix:v1"),
        ("metadata-multi-platform-docker-containerd-store.json", "127.0.0.1:5000/team/mpfix:v2"),
        ("metadata-per-arch-tag-docker-container.json", "127.0.0.1:5000/team/mpfix:v3-linux-arm64"),
        ("metadata-push-by-digest-docker-container.json", "127.0.0.1:5000/team/pbd"),
    ],
)
def test_metadata_files_give_the_pushed_digest_and_their_own_export(name: str, image: str) -> None:
    text = fixture(name)
    meta = parse_metadata(text, name)
    data = json.loads(text)
    assert meta.digest == data["containerimage.digest"]
    assert meta.descriptor_digest == data["containerimage.descriptor"]["digest"]
    assert meta.name == image
    assert meta.consistent


def test_metadata_whose_push_is_not_its_own_export_is_inconsistent() -> None:
    data = json.loads(fixture("metadata-per-arch-tag-docker-container.json"))
    data["containerimage.digest"] = "sha256:" + "1" * 64  # another run retagged the name
    assert not parse_metadata(json.dumps(data)).consistent


def test_metadata_without_a_digest_is_an_error_naming_the_file() -> None:
    with pytest.raises(InvalidValueError, match=r"meta\.json has no containerimage\.digest"):
        parse_metadata('{"buildx.build.ref": "x"}', "meta.json")


def test_docker_info_containerd_store_from_its_driver_status() -> None:
    info = json.dumps(
        {"ServerVersion": "26.1.5+dfsg1", "Driver": "overlayfs",
         "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
    )  # fmt: skip
    engine = parse_docker_info(info, "unix:///var/run/docker.sock")
    assert engine.image_store == CONTAINERD_STORE
    assert engine.containerd_store
    assert engine.version == "26.1.5+dfsg1"
    assert "containerd image store" in engine.describe()


def test_docker_info_classic_store_names_a_graph_driver() -> None:
    info = json.dumps(
        {"ServerVersion": "26.1.5+dfsg1", "Driver": "overlay2",
         "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}
    )  # fmt: skip
    engine = parse_docker_info(info, "unix:///var/run/docker-classic.sock")
    assert engine.image_store == CLASSIC_STORE
    assert not engine.containerd_store
    assert engine.describe().endswith("at unix:///var/run/docker-classic.sock")


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        (Settings(builder="dc"), {"BUILDX_BUILDER": "farm2"}, ("dc", "the builder setting")),
        (Settings(), {"BUILDX_BUILDER": "farm2"}, ("", "BUILDX_BUILDER")),
        (Settings(), {}, ("", "the current builder")),
        (
            Settings(driver="docker-container"),
            {},
            ("multiarch", "driver docker-container (created as 'multiarch')"),
        ),
        (Settings(driver="docker"), {}, ("", "the current builder")),
    ],
)  # fmt: skip
def test_requested_builder_follows_buildx_rule(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    env: dict[str, str],
    expected: tuple[str, str],
) -> None:
    monkeypatch.delenv("BUILDX_BUILDER", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert requested_builder(settings) == expected


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:Acme/App.git", "https://github.com/Acme/App"),
        ("git@github.com:Acme/App", "https://github.com/Acme/App"),
        ("github.com:acme/app.git\n", "https://github.com/acme/app"),
        ("ssh://git@github.com/acme/app.git", "https://github.com/acme/app"),
        ("ssh://git@gitlab.example:2222/group/sub/app.git", "https://gitlab.example/group/sub/app"),
        ("git+ssh://git@host/o/r.git", "https://host/o/r"),
        ("git://host/o/r.git/", "https://host/o/r"),
        ("https://github.com/acme/app.git", "https://github.com/acme/app"),
        ("https://x-access-token:ghs_SECRET@github.com/acme/app.git", "https://github.com/acme/app"),
        ("https://oauth2:glpat-x@gitlab.example:8443/g/app.git?private_token=X", "https://gitlab.example:8443/g/app"),
        ("http://git.local/o/r", "http://git.local/o/r"),
        ("ssh://git@[::1]:22/o/r.git", "https://[::1]/o/r"),
        ("/srv/git/app.git", ""),
        ("../app", ""),
        ("file:///srv/git/app.git", ""),
        ("git@github.com:", ""),
        ("", ""),
    ],
)  # fmt: skip
def test_source_url_is_a_web_url_for_every_remote_form(remote: str, url: str) -> None:
    assert source_url(remote) == url


def test_labels_from_git_carry_an_https_source_revision_and_created() -> None:
    commit = Result(("git",), 0, "0123abcd\n2026-01-02T03:04:05+00:00\n", "")
    remote = Result(("git",), 0, "git@github.com:Acme/App.git\n", "")
    assert facts._labels([commit, remote]) == {
        "org.opencontainers.image.revision": "0123abcd",
        "org.opencontainers.image.created": "2026-01-02T03:04:05+00:00",
        "org.opencontainers.image.source": "https://github.com/Acme/App",
    }


def test_labels_without_a_web_remote_have_no_source() -> None:
    commit = Result(("git",), 128, "", "fatal: not a git repository")
    remote = Result(("git",), 0, "/srv/git/app.git\n", "")
    assert facts._labels([commit, remote]) == {}
