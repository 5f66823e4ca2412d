"""The digest map (digests.json): round trip, the index key, merging CI runners' maps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multiarch_tasks.model.digests import (
    FILENAME,
    INDEX_KEY,
    merge_digest_maps,
    read_digest_map,
    write_digest_map,
)
from multiarch_tasks.model.errors import InvalidPlatformError, InvalidValueError
from multiarch_tasks.model.platforms import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
INDEX = "sha256:" + "f" * 64


def test_write_read_round_trip(tmp_path: Path) -> None:
    digests = {AMD64: D1, ARM64: D2, ARMV7: D3}
    path = write_digest_map(tmp_path / "out", digests)
    assert path == tmp_path / "out" / FILENAME
    assert read_digest_map(tmp_path / "out") == (digests, "")


def test_file_is_keyed_by_canonical_platform_strings(tmp_path: Path) -> None:
    path = write_digest_map(tmp_path, {ARMV7: D3, AMD64: D1}, index=INDEX)
    data = json.loads(path.read_text())
    assert data == {"linux/arm/v7": D3, "linux/amd64": D1, INDEX_KEY: INDEX}
    assert list(data) == sorted(data)  # stable, diff-friendly
    assert path.read_text().endswith("\n")


def test_index_key_round_trip(tmp_path: Path) -> None:
    write_digest_map(tmp_path, {AMD64: D1}, index=INDEX)
    digests, index = read_digest_map(tmp_path)
    assert digests == {AMD64: D1}
    assert index == INDEX
    assert INDEX_KEY not in {str(p) for p in digests}


def test_rewrite_replaces_the_file_and_drops_a_stale_index(tmp_path: Path) -> None:
    write_digest_map(tmp_path, {AMD64: D1, ARMV7: D3}, index=INDEX)
    write_digest_map(tmp_path, {AMD64: D1, ARM64: D2})
    assert read_digest_map(tmp_path) == ({AMD64: D1, ARM64: D2}, "")
    write_digest_map(tmp_path, {AMD64: D1}, index=D3)
    assert read_digest_map(tmp_path) == ({AMD64: D1}, D3)


def test_read_accepts_the_file_itself(tmp_path: Path) -> None:
    path = write_digest_map(tmp_path, {ARM64: D2})
    assert read_digest_map(path) == ({ARM64: D2}, "")


def test_read_normalises_platform_aliases(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text(json.dumps({"linux/arm64/v8": D2, "armhf": D3}))
    digests, _ = read_digest_map(tmp_path)
    assert digests == {ARM64: D2, ARMV7: D3}


def test_merge_several_dirs(tmp_path: Path) -> None:
    write_digest_map(tmp_path / "amd64", {AMD64: D1})
    write_digest_map(tmp_path / "arm64", {ARM64: D2}, index=INDEX)
    write_digest_map(tmp_path / "armv7", {ARMV7: D3})
    merged = merge_digest_maps([tmp_path / "amd64", tmp_path / "arm64", tmp_path / "armv7"])
    assert merged == {AMD64: D1, ARM64: D2, ARMV7: D3}
    assert list(merged) == [AMD64, ARM64, ARMV7]  # in the order of the directories


def test_merge_accepts_the_same_digest_twice(tmp_path: Path) -> None:
    write_digest_map(tmp_path / "a", {AMD64: D1, ARM64: D2})
    write_digest_map(tmp_path / "b", {ARM64: D2})
    assert merge_digest_maps([tmp_path / "a", tmp_path / "b"]) == {AMD64: D1, ARM64: D2}


def test_merge_of_nothing_is_empty() -> None:
    assert merge_digest_maps([]) == {}


def test_conflicting_digests_name_both_dirs(tmp_path: Path) -> None:
    first, second = tmp_path / "runner-1", tmp_path / "runner-2"
    write_digest_map(first, {ARM64: D1})
    write_digest_map(second, {ARM64: D2})
    with pytest.raises(InvalidValueError) as info:
        merge_digest_maps([first, second])
    message = str(info.value)
    assert "linux/arm64" in message
    assert f"{D1} in {first}" in message
    assert f"{D2} in {second}" in message


def test_missing_file_says_to_run_build(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="run `multiarch build` first") as info:
        read_digest_map(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / FILENAME) in str(info.value)


def test_missing_dir_in_merge_says_to_run_build(tmp_path: Path) -> None:
    write_digest_map(tmp_path / "a", {AMD64: D1})
    with pytest.raises(InvalidValueError, match="run `multiarch build` first"):
        merge_digest_maps([tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ("", "is not valid JSON"),
        ('["linux/amd64"]', "must hold a JSON object"),
        ('"sha256:x"', "must hold a JSON object"),
        ('{"linux/amd64": "md5:abc"}', "is not a sha256 digest"),
        ('{"linux/amd64": 12}', "is not a sha256 digest"),
        ('{"linux/amd64": null}', "is not a sha256 digest"),
        ('{"linux/arm64": "' + "a" * 64 + '"}', "is not a sha256 digest"),
    ],
)
def test_invalid_content(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / FILENAME).write_text(content)
    with pytest.raises(InvalidValueError, match=problem) as info:
        read_digest_map(tmp_path)
    assert str(tmp_path / FILENAME) in str(info.value)


def test_unknown_platform_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text(json.dumps({"linux/arm65": D1}))
    with pytest.raises(InvalidPlatformError, match="linux/arm65"):
        read_digest_map(tmp_path)
