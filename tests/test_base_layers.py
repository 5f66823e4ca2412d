"""publish's default deep scan: which layers are the base image's, and which the build's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from multiarch_tasks.checks.verify.base_layers import (
    BaseLayers,
    base_layers,
    build_layers,
    final_base,
)
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef

T = TypeVar("T")
R = TypeVar("R")
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
AMD64, ARM64 = Platform("linux", "amd64"), Platform("linux", "arm64")


def _settings(tmp_path: Path, text: str, **kw: object) -> Settings:
    (tmp_path / "Dockerfile").write_text(text)
    return Settings(context=str(tmp_path), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kw", "image", "why"),
    [
        ("FROM alpine:3.20\nCOPY x /x\n", {}, "alpine:3.20", ""),
        ("FROM scratch\nCOPY x /x\n", {}, "", ""),
        ("FROM alpine AS base\nRUN x\nFROM base\nCOPY x /x\n", {}, "alpine", ""),
        ("ARG BASE=alpine\nFROM ${BASE}\n", {"build_args": {"BASE": "debian"}}, "debian", ""),
        ("FROM alpine AS a\nFROM debian AS b\n", {"target": "a"}, "alpine", ""),
        # Built for the build host: its base was never matched to the target platform.
        ("FROM --platform=$BUILDPLATFORM golang AS b\nFROM b\n", {}, "", "--platform"),
        ("FROM --platform=linux/amd64 alpine\n", {}, "", "--platform"),
        ("FROM alpine AS a\n", {"target": "nope"}, "", "no stage"),
    ],
)
def test_final_base_names_the_image_the_target_stage_is_built_on(
    tmp_path: Path, text: str, kw: dict[str, object], image: str, why: str
) -> None:
    found, reason = final_base(_settings(tmp_path, text, **kw))
    assert found == image
    assert (why in reason) if why else reason == ""


def test_final_base_of_an_unreadable_dockerfile_says_so(tmp_path: Path) -> None:
    image, why = final_base(Settings(context=str(tmp_path)))
    assert (image, why.startswith("cannot read the Dockerfile")) == ("", True)


def _layers(*digests: str) -> list[oci.Descriptor]:
    return [oci.Descriptor(LAYER, d, 1) for d in digests]


@pytest.mark.parametrize(
    ("base", "read", "note"),
    [
        (None, ["a", "b", "c"], ""),
        (BaseLayers("busybox", {ARM64: ("a", "b")}), ["c"], "in the 1 layer(s) this build added"),
        (BaseLayers("", {ARM64: ()}), ["a", "b", "c"], "in the 3 layer(s) this build added"),
        (
            BaseLayers("busybox", {ARM64: ("a", "x")}),
            ["a", "b", "c"],
            "every layer read: its layers do not start with those of busybox",
        ),
        (BaseLayers("busybox", {AMD64: ("a",)}), ["a", "b", "c"], "no linux/arm64 in busybox"),
        (BaseLayers(why="stage 0 is built for a --platform"), ["a", "b", "c"], "--platform"),
    ],
)
def test_build_layers_skips_the_base_prefix_only_when_it_is_one(
    base: BaseLayers | None, read: list[str], note: str
) -> None:
    layers, said = build_layers(ARM64, _layers("a", "b", "c"), base)
    assert [d.digest for d in layers] == read
    assert (note in said) if note else said == ""


class _Reader:
    """Manifests by reference text, as a registry would answer them."""

    def __init__(self, docs: dict[str, bytes]) -> None:
        self.docs = docs
        self.asked: list[str] = []

    def get_manifest(self, ref: ImageRef) -> oci.Document:
        self.asked.append(str(ref))
        if str(ref) not in self.docs:
            raise RegistryError(f"{ref}: manifest unknown")
        return oci.Document.parse(self.docs[str(ref)])

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        raise AssertionError(f"no blob is read: {ref} {digest}")

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [func(i) for i in items]


def _manifest(*layers: str) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_CONFIG, "digest": "sha256:c", "size": 1},
        "layers": [d.to_json() for d in _layers(*layers)],
    }
    return json.dumps(doc).encode()


def test_base_layers_reads_each_platforms_manifest_of_the_base_index(tmp_path: Path) -> None:
    amd, arm = _manifest("sha256:a1"), _manifest("sha256:r1", "sha256:r2")
    children = [
        oci.Document.parse(amd).descriptor(AMD64),
        oci.Document.parse(arm).descriptor(Platform("linux", "arm64", "v8")),
    ]
    docs = {"r.example/base:1": oci.build_index(children)}
    for child, raw in zip(children, (amd, arm), strict=True):
        docs[f"r.example/base@{child.digest}"] = raw
    settings = _settings(tmp_path, "FROM r.example/base:1\nCOPY x /x\n")
    found = base_layers(settings, _Reader(docs), (AMD64, ARM64, Platform("linux", "s390x")))
    assert found.base == "r.example/base:1"
    # arm64/v8 in the base serves an arm64 build; no s390x: that platform reads everything.
    assert found.layers == {AMD64: ("sha256:a1",), ARM64: ("sha256:r1", "sha256:r2")}


def test_base_layers_of_an_unreadable_base_reads_every_layer(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "FROM r.example/gone:1\n")
    found = base_layers(settings, _Reader({}), (AMD64,))
    assert found.layers == {}
    assert found.why.startswith("cannot read base r.example/gone:1")


def test_base_layers_from_scratch_reads_nothing_and_skips_nothing(tmp_path: Path) -> None:
    reader = _Reader({})
    found = base_layers(_settings(tmp_path, "FROM scratch\n"), reader, (AMD64, ARM64))
    assert (found.layers, reader.asked) == ({AMD64: (), ARM64: ()}, [])
