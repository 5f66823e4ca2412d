"""``oci-layout://DIR[:TAG]`` references, the layout source's reads, and the ``--layout`` plan.

Layouts are written here by :class:`LayoutWriter` (the code ``merge --layout`` uses) and
by hand where a test needs a broken one; the e2e test (tests/e2e/test_oci_layout.py) reads
what buildx writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.model import oci
from multiarch_tasks.model.digests import read_digest_map, read_layouts, write_digest_map
from multiarch_tasks.model.errors import (
    DigestMismatchError,
    InvalidReferenceError,
    PlanError,
    RegistryError,
)
from multiarch_tasks.model.layoutref import LayoutRef, parse_reference
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.planning.plan.make import make_plan
from multiarch_tasks.registry.layout import REF_NAME, LayoutSource, LayoutWriter
from multiarch_tasks.registry.reader import reader_for
from tests.test_plan import CLASSIC, facts

ARM64 = Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("text", "path", "tag", "digest"),
    [
        ("oci-layout://out/merge/layout", "out/merge/layout", "", ""),
        ("oci-layout://out/merge/layout:pr-7-abc", "out/merge/layout", "pr-7-abc", ""),
        ("oci-layout:///abs/dir:v1.2", "/abs/dir", "v1.2", ""),
        ("oci-layout://./a:b:latest", "./a:b", "latest", ""),
        ("oci-layout://host:5000/x", "host:5000/x", "", ""),  # the colon is before a slash
        ("oci-layout://d@sha256:" + "a" * 64, "d", "", "sha256:" + "a" * 64),
    ],
)
def test_layout_reference_parses_to_path_tag_digest_and_prints_back(text, path, tag, digest):
    ref = parse_reference(text)
    assert isinstance(ref, LayoutRef)
    assert (ref.path, ref.tag, ref.digest) == (path, tag, digest)
    assert str(ref) == text
    assert ref.name == f"oci-layout://{path}"
    assert ref.with_digest("sha256:" + "b" * 64).path == path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("oci-layout://", "names no directory"),
        ("oci-layout://:v1", "names no directory"),
        ("oci-layout://dir:-bad", "invalid tag '-bad'"),
        ("oci-layout://dir@sha256:xyz", "invalid digest"),
    ],
)
def test_bad_layout_reference_is_an_invalid_reference_naming_it(text, needle):
    with pytest.raises(InvalidReferenceError, match=needle):
        parse_reference(text)


def test_a_registry_reference_still_parses_as_an_image_ref():
    ref = parse_reference("127.0.0.1:5000/team/app:1.2")
    assert type(ref) is ImageRef
    assert str(ref) == "127.0.0.1:5000/team/app:1.2"


# --- reading ---------------------------------------------------------------------------


def _image(writer: LayoutWriter, arch: str) -> oci.Descriptor:
    """An image manifest (config + one layer) in the layout; its descriptor."""
    config = json.dumps({"os": "linux", "architecture": arch}).encode()
    layer = f"layer of {arch}".encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.OCI_MANIFEST,
            "config": {
                "mediaType": oci.OCI_CONFIG,
                "digest": writer.add_bytes(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": writer.add_bytes(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return oci.Descriptor(
        oci.OCI_MANIFEST, writer.add_bytes(manifest), len(manifest), Platform("linux", arch)
    )


def _layout(path: Path, *tags: str) -> tuple[LayoutSource, oci.Descriptor]:
    """A layout whose index (amd64 + arm64) is listed once per tag (once untagged if none)."""
    writer = LayoutWriter(path)
    children = [_image(writer, "amd64"), _image(writer, "arm64")]
    raw = oci.build_index(children)
    digest = writer.add_bytes(raw)
    entries = [
        oci.Descriptor(oci.OCI_INDEX, digest, len(raw), annotations={REF_NAME: t} if t else {})
        for t in tags or ("",)
    ]
    writer.write_index(entries)
    return LayoutSource.open(path), entries[0]


def test_layout_source_reads_the_tagged_index_and_each_platform_by_digest(tmp_path):
    source, entry = _layout(tmp_path / "l", "pr-7")
    doc = source.get_manifest(LayoutRef.parse_layout(f"oci-layout://{tmp_path}/l:pr-7"))
    assert doc.digest == entry.digest
    assert doc.is_index
    assert [str(d.platform) for d in doc.images] == ["linux/amd64", "linux/arm64"]
    image = source.get_manifest(ImageRef("", "").with_digest(doc.images[1].digest))
    assert image.media_type == oci.OCI_MANIFEST
    config = json.loads(source.get_blob(ImageRef("", ""), image.config.digest))
    assert config["architecture"] == "arm64"
    with source.open_blob(ImageRef("", ""), image.layers[0].digest) as stream:
        assert stream.read() == b"layer of arm64"
    assert source.list_tags(ImageRef("", "")) == ["pr-7"]


def test_tagless_reference_takes_the_only_manifest_and_refuses_two(tmp_path):
    one, entry = _layout(tmp_path / "one")
    assert one.get_manifest(LayoutRef.parse_layout(f"oci-layout://{tmp_path}/one")).digest == (
        entry.digest
    )
    two, _ = _layout(tmp_path / "two", "a", "b")
    with pytest.raises(InvalidReferenceError, match=r"lists 2 manifests \(tags: a, b\); name one"):
        two.get_manifest(LayoutRef.parse_layout(f"oci-layout://{tmp_path}/two"))


def test_unknown_tag_names_the_layout_and_the_tags_it_has(tmp_path):
    source, _ = _layout(tmp_path / "l", "pr-7")
    with pytest.raises(InvalidReferenceError) as err:
        source.get_manifest(LayoutRef.parse_layout(f"oci-layout://{tmp_path}/l:pr-8"))
    assert str(err.value) == f"OCI layout {tmp_path}/l: no tag 'pr-8' in index.json (it has: pr-7)"


def test_full_name_in_ref_name_resolves_by_its_tag(tmp_path):
    writer = LayoutWriter(tmp_path / "l")
    image = _image(writer, "arm64")
    writer.write_index(
        [
            oci.Descriptor(
                image.media_type,
                image.digest,
                image.size,
                annotations={REF_NAME: "127.0.0.1:5000/team/app:pr-7"},
            )
        ]
    )
    source = LayoutSource.open(tmp_path / "l")
    assert source.resolve("pr-7").digest == image.digest
    assert source.tags() == ["pr-7"]


def test_missing_directory_and_missing_index_are_one_line_naming_the_path(tmp_path):
    with pytest.raises(InvalidReferenceError, match=f"OCI layout {tmp_path}/nowhere: no such"):
        LayoutSource.open(tmp_path / "nowhere")
    with pytest.raises(InvalidReferenceError, match=f"OCI layout {tmp_path}: no index.json"):
        LayoutSource.open(tmp_path)


def test_a_corrupt_blob_is_a_digest_mismatch_naming_it(tmp_path):
    source, entry = _layout(tmp_path / "l", "v1")
    index = source.get_manifest(ImageRef("", "").with_digest(entry.digest))
    target = index.images[0]
    source.blob_path(target.digest).write_bytes(b'{"schemaVersion": 2}')
    with pytest.raises(DigestMismatchError, match=f"manifest {target.digest} of {tmp_path}/l"):
        source.get_manifest(ImageRef("", "").with_digest(target.digest))
    layer = source.get_manifest(ImageRef("", "").with_digest(index.images[1].digest)).layers[0]
    source.blob_path(layer.digest).write_bytes(b"tampered")
    with pytest.raises(DigestMismatchError, match="hashes to"):  # noqa: SIM117
        with source.open_blob(ImageRef("", ""), layer.digest) as stream:
            stream.read()


def test_a_manifest_over_the_size_limit_is_refused_as_a_registry_ones_is(tmp_path):
    _layout(tmp_path / "l", "v1")
    small = LayoutSource.open(tmp_path / "l", max_body=64 << 10)
    big = LayoutSource(small.path, small.index, max_body=100)
    with pytest.raises(RegistryError, match=r"larger than the .* limit .* max_manifest_size"):
        big.get_manifest(LayoutRef.parse_layout(f"oci-layout://{tmp_path}/l:v1"))


def test_a_missing_blob_and_a_malformed_digest_are_registry_errors_not_paths(tmp_path):
    source, _ = _layout(tmp_path / "l", "v1")
    with pytest.raises(RegistryError, match="missing from the layout"):
        source.get_blob(ImageRef("", ""), "sha256:" + "0" * 64)
    with pytest.raises(RegistryError, match="malformed digest"):
        source.get_blob(ImageRef("", ""), "sha256:../../../etc/passwd")


def test_reader_for_picks_the_layout_source_for_a_layout_and_the_client_otherwise(tmp_path):
    _layout(tmp_path / "l", "v1")
    s = settings_from({})
    assert isinstance(reader_for(s, parse_reference(f"oci-layout://{tmp_path}/l")), LayoutSource)
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    assert isinstance(reader_for(s, parse_reference("127.0.0.1:5000/app:1")), RegistryClient)


def test_writer_links_a_shards_blob_and_skips_one_it_has(tmp_path):
    source, entry = _layout(tmp_path / "shard", "v1")
    merged = LayoutWriter(tmp_path / "merged")
    merged.add_from(source, entry.digest)
    merged.add_from(source, entry.digest)
    assert (merged.linked, merged.copied) == (1, 0)
    copy = tmp_path / "merged" / "blobs" / "sha256" / entry.digest.split(":")[1]
    assert copy.stat().st_ino == source.blob_path(entry.digest).stat().st_ino


# --- digests.json and the plan -------------------------------------------------------------


def test_digest_map_records_each_platforms_layout_relative_to_itself(tmp_path):
    write_digest_map(tmp_path / "shard", {ARM64: "sha256:" + "1" * 64}, layouts={ARM64: "layout"})
    digests, index = read_digest_map(tmp_path / "shard")
    assert digests == {ARM64: "sha256:" + "1" * 64}
    assert index == ""
    assert read_layouts(tmp_path / "shard") == {ARM64: tmp_path / "shard" / "layout"}


def _settings(**extra: object):
    return settings_from(
        {"image": "127.0.0.1:5000/team/app", "tags": "pr-7", "platforms": "linux/arm64",
         "output_dir": "out/shard", "layout": True, **extra}
    )  # fmt: skip


def test_build_layout_plans_an_oci_output_without_push_or_tag():
    plan = make_plan(_settings(), facts(), run_id="r1", task="build")
    [build] = plan.builds
    assert build.layout == "out/shard/layout"
    assert build.tags == ()
    assert "--push" not in build.argv
    output = build.argv[build.argv.index("--output") + 1]
    assert output == "type=oci,tar=false,dest=out/shard/layout,name=127.0.0.1:5000/team/app:pr-7"
    assert not plan.per_arch_tags
    assert "written to OCI layout out/shard/layout (no push, no tag)" in plan.render()


def test_per_arch_builds_of_one_run_write_a_layout_each():
    plan = make_plan(
        _settings(platforms="linux/amd64,linux/arm64", strategy="per-arch"),
        facts(),
        run_id="r1",
        task="build",
    )
    assert [b.layout for b in plan.builds] == [
        "out/shard/layout-linux-amd64",
        "out/shard/layout-linux-arm64",
    ]


def test_build_layout_on_the_classic_store_docker_driver_refuses_naming_the_fix():
    with pytest.raises(PlanError) as err:
        make_plan(_settings(), facts(engine=CLASSIC), run_id="r1", task="build")
    assert "the docker driver on an engine with the classic image store" in str(err.value)
    assert "builder-create --driver docker-container" in str(err.value)


def test_layout_on_a_docker_container_builder_of_the_classic_store_is_planned():
    plan = make_plan(
        _settings(), facts("inspect-docker-container.txt", engine=CLASSIC), run_id="r", task="build"
    )
    assert plan.builds[0].layout == "out/shard/layout"
    assert not plan.by_digest


def test_publish_refuses_layout():
    with pytest.raises(PlanError, match="build --layout"):
        make_plan(_settings(), facts(), run_id="r1", task="publish")
