"""``merge --layout``: the shards' OCI layouts joined into one, verified, no registry written.

The fork pull-request path (issue 20): each shard ran ``build --layout`` and its
``digests.json`` names its layout. Each platform's push is resolved in its own shard's
layout (the image manifest inside the per-platform index buildx writes, attestations kept
as buildx wrote them, or dropped per ``attestations``), every blob those manifests need
is hard-linked (copied across file systems), each hashed on the way, into
``OUTPUT_DIR/layout``; the index goes in last, listed in ``index.json`` under the first
tag (``org.opencontainers.image.ref.name``). The new layout is then verified from disk
before the result says anything: ``tags`` is ``["oci-layout://OUTPUT_DIR/layout:TAG"]``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.model import oci
from multiarch_tasks.model.digests import check_shards, read_shards, write_digest_map
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.layoutref import PREFIX, LayoutRef
from multiarch_tasks.registry.layout import REF_NAME, LayoutSource, LayoutWriter
from multiarch_tasks.steps.manifest.lists import ManifestResult
from multiarch_tasks.steps.manifest.sources import Source, index_children, resolve_sources

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.digests import Shard
    from multiarch_tasks.model.platforms import Platform

LAYOUT_DIR = "layout"
TOOL = "oci-layout"


def shard_layouts(shards: Sequence[Shard]) -> dict[Platform, Path]:
    """The OCI layout holding each platform; an error naming a shard that pushed instead."""
    where: dict[Platform, Path] = {}
    for shard in shards:
        for platform in shard.digests:
            layout = shard.layouts.get(platform)
            if layout is None:
                raise InvalidValueError(
                    f"{shard.directory}: digests.json names no OCI layout for {platform}:"
                    " build it with `multiarch build --layout`, or merge without --layout"
                )
            where[platform] = layout
    return where


def merge(settings: Settings, runner: Runner, directories: Sequence[str]) -> ManifestResult:
    """Read the shards in ``directories`` (checked as a registry merge checks them), merge."""
    shards = read_shards(directories)
    for line in check_shards(shards, settings.platforms):
        runner.say(f"merge: {line}")
    return merge_layouts(settings, runner, shards)


def merge_layouts(settings: Settings, runner: Runner, shards: Sequence[Shard]) -> ManifestResult:
    """Join the shards' layouts into ``OUTPUT_DIR/layout``, verify it, report it."""
    if settings.sign:
        raise InvalidValueError(
            "--sign signs an index in a registry; merge --layout writes none: sign after a"
            " push (the pull-request path without credentials has nothing to sign with)"
        )
    tag = settings.tags[0]
    dest = Path(settings.output_dir) / LAYOUT_DIR
    ref = LayoutRef.parse_layout(f"{PREFIX}{dest}:{tag}")
    layouts = shard_layouts(shards)
    digests = {p: d for shard in shards for p, d in shard.digests.items()}
    if runner.dry:
        names = ", ".join(str(p) for p in settings.platforms)
        runner.say(
            f"merge: would join the OCI layouts of {names} into {dest} (index tagged {tag}),"
            " verify it there, and write nothing to any registry"
        )
        return ManifestResult(TOOL, (str(ref),), dry=True)
    sources, readers = _resolve(settings, digests, layouts)
    children = index_children(settings, sources)
    media = oci.OCI_INDEX if settings.media_type == "oci" else oci.DOCKER_LIST
    raw = oci.build_index(children, media_type=media, annotations=settings.annotations)
    # Written beside and renamed over: a shard's own layout may be the destination.
    partial = dest.with_name(f".{LAYOUT_DIR}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    writer = LayoutWriter(partial)
    for source in sources:
        reader = readers[source.platform]
        for child in (source.image, *source.attestations):
            if any(c.digest == child.digest for c in children):
                _copy_manifest(writer, reader, child)
    digest = writer.add_bytes(raw)
    writer.write_index([oci.Descriptor(media, digest, len(raw), annotations={REF_NAME: tag})])
    if dest.exists():
        shutil.rmtree(dest)
    partial.rename(dest)
    picked = {p: digests[p] for p in settings.platforms}
    write_digest_map(
        settings.output_dir,
        picked,
        index=digest,
        layouts=dict.fromkeys(picked, LAYOUT_DIR),
    )
    note = (
        f"{writer.linked} blob(s) hard-linked, {writer.copied} copied into {dest};"
        " no registry written"
    )
    return _verified(settings, runner, ref, digest, tuple(children), note)


def _resolve(
    settings: Settings, digests: Mapping[Platform, str], layouts: Mapping[Platform, Path]
) -> tuple[list[Source], dict[Platform, LayoutSource]]:
    """Each platform's push resolved in its own shard's layout (one shard, one reader)."""
    opened: dict[Path, LayoutSource] = {}
    readers: dict[Platform, LayoutSource] = {}
    sources: list[Source] = []
    for platform in settings.platforms:
        path = layouts[platform]
        if path not in opened:
            opened[path] = LayoutSource.open(path, max_body=settings.max_manifest_size)
        readers[platform] = opened[path]
        sources += resolve_sources(settings, {platform: digests[platform]}, readers[platform])
    return sources, readers


def _copy_manifest(writer: LayoutWriter, reader: LayoutSource, desc: oci.Descriptor) -> None:
    """The manifest, its config and every layer: hashed, then linked or copied."""
    doc = reader.get_manifest(LayoutRef.parse_layout(f"{PREFIX}{reader.path}@{desc.digest}"))
    writer.add_from(reader, desc.digest)
    if doc.is_index:
        raise InvalidValueError(f"{desc.digest} in {reader.path} is an index, not an image")
    writer.add_from(reader, doc.config.digest)
    for layer in doc.layers:
        writer.add_from(reader, layer.digest)


def _verified(
    settings: Settings,
    runner: Runner,
    ref: LayoutRef,
    digest: str,
    children: tuple[oci.Descriptor, ...],
    note: str,
) -> ManifestResult:
    """Verify the new layout before reporting it (as a registry merge does before tagging)."""
    from multiarch_tasks.checks.verify.check import verify  # noqa: PLC0415

    report = verify(settings, ref, runner=runner, check_tags=False)
    if not report.ok:
        runner.say(report.render())
        problem = f"verify failed: the merged layout {ref} is not what its index claims"
        return ManifestResult(TOOL, (str(ref),), children, digest, problems=(problem,))
    return ManifestResult(TOOL, (str(ref),), children, digest, notes=(note,))
