"""builder-create's pure parts: `docker buildx inspect` text, buildkitd.toml, the name."""

from __future__ import annotations

import tomllib

import pytest

from multiarch_tasks.builder import (
    BuilderInfo,
    BuilderNode,
    BuilderResult,
    builder_name,
    buildkitd_config,
    parse_inspect,
)
from multiarch_tasks.platforms import Platform
from multiarch_tasks.settings import Settings

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")
ARMV6 = Platform("linux", "arm", "v6")

# buildx 0.13 against Docker 26, the engine's own builder.
DOCKER_DRIVER = """\
Name:          default
Driver:        docker
Last Activity: 2024-03-20 10:00:00 +0000 UTC

Nodes:
Name:      default
Endpoint:  default
Status:    running
BuildKit:  v0.12.5
Platforms: linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/386, linux/arm64, \
linux/riscv64, linux/ppc64le, linux/s390x, linux/mips64le, linux/mips64, linux/arm/v7, linux/arm/v6
Labels:
 org.mobyproject.buildkit.worker.moby.host-gateway-ip: 172.17.0.1
"""

# A docker-container builder with a local node and a native arm64 box appended over ssh.
TWO_NODES = """\
Name:          multiarch
Driver:        docker-container
Last Activity: 2024-03-20 10:00:00 +0000 UTC

Nodes:
Name:                  multiarch0
Endpoint:              unix:///var/run/docker.sock
Driver Options:        network="host"
Status:                running
BuildKit daemon flags: --allow-insecure-entitlement=network.host
BuildKit version:      v0.13.1
Platforms:             linux/amd64*, linux/s390x*, linux/amd64/v2, linux/386, linux/ppc64, \
linux/mips64
Labels:
 org.mobyproject.buildkit.worker.executor:         oci
 org.mobyproject.buildkit.worker.hostname:         3f1c2a
 org.mobyproject.buildkit.worker.network:          host
GC Policy rule#0:
 All:           false
 Filters:       type==source.local,type==exec.cachemount,type==source.git.checkout
 Keep Duration: 48h0m0s
 Keep Bytes:    488.3MiB

Name:                  arm-box
Endpoint:              ssh://builder@arm-box.lan:2222
Status:                running
BuildKit version:      v0.13.1
Platforms:             linux/arm64*, linux/arm/v7, linux/arm/v6, linux/arm64/v8
Labels:
 org.mobyproject.buildkit.worker.executor:         oci
"""

INACTIVE = """\
Name:   stopped
Driver: docker-container

Nodes:
Name:     stopped0
Endpoint: unix:///var/run/docker.sock
Status:   inactive
Platforms:
"""


def test_parse_docker_driver() -> None:
    info = parse_inspect(DOCKER_DRIVER)
    assert info.name == "default"
    assert info.driver == "docker"
    assert len(info.nodes) == 1
    node = info.nodes[0]
    assert (node.name, node.endpoint, node.status) == ("default", "default", "running")
    assert node.platforms == (
        AMD64,
        Platform("linux", "amd64", "v2"),
        Platform("linux", "amd64", "v3"),
        Platform("linux", "386"),
        ARM64,
        Platform("linux", "riscv64"),
        Platform("linux", "ppc64le"),
        Platform("linux", "s390x"),
        Platform("linux", "mips64le"),
        ARMV7,
        ARMV6,
    )  # linux/mips64 is not modelled and left out


def test_parse_two_nodes_with_ssh_endpoint() -> None:
    info = parse_inspect(TWO_NODES)
    assert info.name == "multiarch"
    assert info.driver == "docker-container"
    assert [n.name for n in info.nodes] == ["multiarch0", "arm-box"]
    local, remote = info.nodes
    assert local.endpoint == "unix:///var/run/docker.sock"
    assert remote.endpoint == "ssh://builder@arm-box.lan:2222"
    assert remote.status == "running"
    # `*` marks platforms set on the node; linux/ppc64 and linux/mips64 are ignored
    assert local.platforms == (
        AMD64,
        Platform("linux", "s390x"),
        Platform("linux", "amd64", "v2"),
        Platform("linux", "386"),
    )
    # linux/arm64/v8 is linux/arm64: listed once
    assert remote.platforms == (ARM64, ARMV7, ARMV6)


def test_builder_platforms_and_node_for() -> None:
    info = parse_inspect(TWO_NODES)
    assert info.platforms == (
        AMD64,
        Platform("linux", "s390x"),
        Platform("linux", "amd64", "v2"),
        Platform("linux", "386"),
        ARM64,
        ARMV7,
        ARMV6,
    )
    node = info.node_for(ARM64)
    assert node is not None
    assert node.name == "arm-box"
    local = info.node_for(AMD64)
    assert local is not None
    assert local.name == "multiarch0"
    assert info.node_for(Platform("linux", "riscv64")) is None


def test_parse_inactive_node_without_platforms() -> None:
    info = parse_inspect(INACTIVE)
    assert info == BuilderInfo(
        "stopped",
        "docker-container",
        (BuilderNode("stopped0", "unix:///var/run/docker.sock", "inactive", ()),),
    )
    assert info.platforms == ()


@pytest.mark.parametrize("text", ["", "no builder here\n", 'ERROR: no builder "x" found\n'])
def test_parse_nothing(text: str) -> None:
    info = parse_inspect(text)
    assert info.nodes == ()
    assert info.driver == ""


def test_buildkitd_config_empty_without_insecure_or_mirrors() -> None:
    assert buildkitd_config(Settings()) == ""
    # an HTTPS mirror needs only its mirrors entry
    assert buildkitd_config(Settings(registry_mirrors={"docker.io": "mirror.example.com"})) == (
        '[registry."docker.io"]\n  mirrors = ["mirror.example.com"]\n'
    )


def test_buildkitd_config_insecure_registries() -> None:
    settings = Settings(insecure_registries=("registry.lan:5000", "localhost:5000"))
    text = buildkitd_config(settings)
    data = tomllib.loads(text)
    assert data == {
        "registry": {
            "localhost:5000": {"http": True, "insecure": True},
            "registry.lan:5000": {"http": True, "insecure": True},
        }
    }


def test_buildkitd_config_mirrors_and_plain_http_mirror() -> None:
    settings = Settings(
        registry_mirrors={"docker.io": "127.0.0.1:5001", "ghcr.io": "mirror.lan:5002"},
        insecure_registries=("mirror.lan:5002",),
    )
    data = tomllib.loads(buildkitd_config(settings))
    assert data == {
        "registry": {
            "docker.io": {"mirrors": ["127.0.0.1:5001"]},
            "ghcr.io": {"mirrors": ["mirror.lan:5002"]},
            # a loopback mirror and a listed one speak plain HTTP
            "127.0.0.1:5001": {"http": True, "insecure": True},
            "mirror.lan:5002": {"http": True, "insecure": True},
        }
    }


def test_buildkitd_config_https_mirror_is_not_marked_insecure() -> None:
    settings = Settings(registry_mirrors={"docker.io": "mirror.example.com:443"})
    data = tomllib.loads(buildkitd_config(settings))
    assert "mirror.example.com:443" not in data["registry"]


def test_buildkitd_config_ipv6_loopback() -> None:
    data = tomllib.loads(buildkitd_config(Settings(insecure_registries=("[::1]:5000",))))
    assert data == {"registry": {"[::1]:5000": {"http": True, "insecure": True}}}


@pytest.mark.parametrize(
    ("builder", "driver", "name"),
    [
        ("", "docker", "default"),
        ("", "docker-container", "multiarch"),
        ("", "remote", "multiarch"),
        ("mine", "docker", "mine"),
        ("ci-builder", "docker-container", "ci-builder"),
    ],
)
def test_builder_name(builder: str, driver: str, name: str) -> None:
    assert builder_name(Settings(builder=builder, driver=driver)) == name


def test_builder_result_ok_render_and_json() -> None:
    result = BuilderResult(
        "multiarch",
        "docker-container",
        created=True,
        coverage={AMD64: "native on multiarch0", ARMV7: "emulated (qemu-arm)", ARM64: "impossible"},
    )
    assert not result.ok
    assert result.render().splitlines() == [
        "builder-create: created builder 'multiarch' (driver docker-container)",
        "  linux/amd64: native on multiarch0",
        "  linux/arm/v7: emulated (qemu-arm)",
        "  linux/arm64: impossible",
    ]
    assert result.to_json()["platforms"] == {
        "linux/amd64": "native on multiarch0",
        "linux/arm/v7": "emulated (qemu-arm)",
        "linux/arm64": "impossible",
    }
    reused = BuilderResult(
        "default", "docker", created=False, coverage={AMD64: "native on default"}
    )
    assert reused.ok
    assert reused.render().startswith("builder-create: reusing builder 'default'")
