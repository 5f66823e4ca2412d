"""merge's consistency checks over shards read from real digests.json / shard.json files."""

from __future__ import annotations

import pytest

from multiarch_tasks.model.digests import (
    ShardMeta,
    check_shards,
    read_shard_meta,
    read_shards,
    shard_meta,
    write_digest_map,
    write_shard_meta,
)
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
S390X = Platform("linux", "s390x")
D = {p: f"sha256:{c * 64}" for p, c in ((AMD64, "a"), (ARM64, "b"), (S390X, "c"))}
OTHER = "sha256:" + "f" * 64
C1, C2 = "1" * 40, "2" * 40
LABELS = {"org.opencontainers.image.revision": C1, "team": "core"}


def shard(tmp, name, digests, commit=C1, labels=None, annotations=None, meta=True):
    directory = tmp / name
    write_digest_map(directory, digests)
    if meta:
        labels = {**LABELS, "org.opencontainers.image.revision": commit, **(labels or {})}
        write_shard_meta(directory, shard_meta(list(digests), labels, annotations or {}))
    return str(directory)


def test_shard_meta_round_trips_through_shard_json(tmp_path):
    meta = shard_meta([ARM64], LABELS, {"org.opencontainers.image.title": "app"})
    write_shard_meta(tmp_path, meta)
    write_digest_map(tmp_path, {ARM64: D[ARM64]})
    assert read_shard_meta(tmp_path) == ShardMeta(
        C1, (ARM64,), LABELS, {"org.opencontainers.image.title": "app"}
    )
    assert read_shard_meta(tmp_path / "digests.json") == read_shard_meta(tmp_path)


def test_consistent_shards_pass_without_notes(tmp_path):
    dirs = [shard(tmp_path, p.tag_suffix, {p: D[p]}) for p in (AMD64, ARM64, S390X)]
    assert check_shards(read_shards(dirs), [AMD64, ARM64, S390X]) == []


def test_same_platform_twice_with_the_same_digest_is_accepted(tmp_path):
    dirs = [shard(tmp_path, "a", {AMD64: D[AMD64]}), shard(tmp_path, "b", {AMD64: D[AMD64]})]
    assert check_shards(read_shards(dirs), [AMD64]) == []


@pytest.mark.parametrize(
    ("second", "message"),
    [
        pytest.param({"digests": {S390X: D[S390X]}}, r"^no digest for linux/arm64 in ",
                     id="missing"),
        pytest.param({"digests": {AMD64: OTHER, ARM64: D[ARM64]}},
                     r"^linux/amd64 has two digests: sha256:a+ in .*/a and sha256:f+ in .*/b$",
                     id="duplicated"),
        pytest.param({"digests": {ARM64: D[ARM64]}, "commit": C2},
                     r"^shards come from different commits: 111111111111 in .*/a,"
                     r" 222222222222 in .*/b$", id="two-commits"),
        pytest.param({"digests": {ARM64: D[ARM64]}, "labels": {"team": "web"}},
                     r"^shards have different labels: team is 'core' in .*/a but 'web' in .*/b$",
                     id="labels"),
        pytest.param({"digests": {ARM64: D[ARM64]}, "annotations": {"k": "v"}},
                     r"^shards have different annotations: k is '\(unset\)' in .*/a but 'v'",
                     id="annotations"),
        pytest.param({"digests": {ARM64: D[ARM64], S390X: D[S390X]}},
                     r"^linux/s390x built in .*/b is not among the platforms to merge",
                     id="unexpected-platform"),
    ],
)  # fmt: skip
def test_inconsistent_shards_are_refused_with_one_line(tmp_path, second, message):
    first = shard(tmp_path, "a", {AMD64: D[AMD64]})
    other = shard(tmp_path, "b", **second)
    with pytest.raises(InvalidValueError, match=message) as err:
        check_shards(read_shards([first, other]), [AMD64, ARM64])
    assert "\n" not in str(err.value)


def test_digest_map_disagreeing_with_its_shard_json_is_refused(tmp_path):
    directory = tmp_path / "a"
    write_digest_map(directory, {ARM64: D[ARM64]})
    write_shard_meta(directory, shard_meta([AMD64], LABELS, {}))
    with pytest.raises(InvalidValueError, match=r"holds linux/arm64 but its shard\.json says"):
        check_shards(read_shards([str(directory)]), [ARM64])


def test_shards_without_metadata_merge_with_a_note(tmp_path):
    dirs = [
        shard(tmp_path, "a", {AMD64: D[AMD64]}),
        shard(tmp_path, "b", {ARM64: D[ARM64]}, meta=False),
    ]
    notes = check_shards(read_shards(dirs), [AMD64, ARM64])
    assert notes == [f"{dirs[1]} has no shard.json: its commit and labels are not checked"]


def test_broken_shard_json_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "shard.json").write_text("{not json")
    with pytest.raises(InvalidValueError, match=r"shard.json is not valid JSON"):
        read_shard_meta(tmp_path)
