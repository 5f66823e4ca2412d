"""The digest map ``digests.json``: ``{platform: digest}``, plus ``index`` once merged.

It is how ``manifest-create`` and ``merge`` (CI jobs on separate runners) know what to put
into the index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform

FILENAME = "digests.json"
INDEX_KEY = "index"
# build --layout: {platform: its OCI layout directory, relative to digests.json's own}
LAYOUTS_KEY = "layouts"

# The default output directory's name; a directory of that name carries its own .gitignore.
OUTPUT_DIR_NAME = ".multiarch"


def make_output_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and its parents); a ``.multiarch`` among them gets a ``.gitignore``.

    The ``.gitignore`` holds ``*``, as pytest's ``.pytest_cache`` does: what a run leaves
    there (digest maps, a rehearsal's workspaces) is never committed by accident (issue
    20). Written whenever it is missing, so a ``.multiarch/`` made by an older version gets
    one too; a project that wants its digest maps committed sets ``output_dir`` elsewhere.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for parent in (path, *path.parents):
        ignore = parent / ".gitignore"
        if parent.name == OUTPUT_DIR_NAME and not ignore.exists():
            ignore.write_text("# made by multiarch-tasks: nothing in here is committed\n*\n")
    return path


def write_digest_map(
    directory: str | Path,
    digests: Mapping[Platform, str],
    *,
    index: str = "",
    layouts: Mapping[Platform, str] | None = None,
) -> Path:
    """Write ``DIR/digests.json`` anew; an earlier index digest is dropped unless given.

    ``layouts`` (``build --layout``) names each platform's OCI layout directory, relative
    to ``DIR``: the shard's directory moves as a whole (a CI artifact) and still reads.
    """
    path = make_output_dir(directory) / FILENAME
    data: dict[str, Any] = {str(p): d for p, d in digests.items()}
    if index:
        data[INDEX_KEY] = index
    if layouts:
        data[LAYOUTS_KEY] = {str(p): d for p, d in layouts.items()}
    # Written whole and renamed: a concurrent run sharing the directory reads one run's map.
    partial = path.with_name(f".{FILENAME}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def read_digest_map(directory: str | Path) -> tuple[dict[Platform, str], str]:
    """Read one ``digests.json``: (platform digests, index digest or "")."""
    path = Path(directory) / FILENAME
    if Path(directory).is_file():
        path = Path(directory)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise InvalidValueError(
            f"no digest map at {path}: run `multiarch build` first (or pass --from DIR)"
        ) from err
    except ValueError as err:
        raise InvalidValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidValueError(f"{path} must hold a JSON object {{platform: digest}}")
    digests: dict[Platform, str] = {}
    for key, value in data.items():
        if key in {INDEX_KEY, LAYOUTS_KEY}:
            continue
        if not isinstance(value, str) or not value.startswith("sha256:"):
            raise InvalidValueError(f"{path}: digest of {key!r} is not a sha256 digest: {value!r}")
        digests[Platform.parse(key)] = value
    return digests, str(data.get(INDEX_KEY, ""))


def read_layouts(directory: str | Path) -> dict[Platform, Path]:
    """The OCI layout of each platform ``DIR/digests.json`` names ({} when it pushed)."""
    base = Path(directory)
    path = base if base.is_file() else base / FILENAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # read_digest_map has said what is wrong with it
    found = data.get(LAYOUTS_KEY) if isinstance(data, dict) else None
    if found is None:
        return {}
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise InvalidValueError(f"{path}: {LAYOUTS_KEY!r} must map platforms to directories")
    return {Platform.parse(k): path.parent / v for k, v in found.items()}


def merge_digest_maps(directories: Sequence[str | Path]) -> dict[Platform, str]:
    """Read several maps; the same platform with two digests is an error naming both dirs."""
    merged: dict[Platform, str] = {}
    seen_in: dict[Platform, str] = {}
    for directory in directories:
        digests, _ = read_digest_map(directory)
        for platform, digest in digests.items():
            if platform in merged and merged[platform] != digest:
                raise InvalidValueError(
                    f"{platform} has two digests: {merged[platform]} in {seen_in[platform]}"
                    f" and {digest} in {directory}"
                )
            merged[platform] = digest
            seen_in[platform] = str(directory)
    return merged


# --- shard metadata -------------------------------------------------------------------
# Beside each build's digests.json, ``shard.json`` says what the shard was built from, so
# ``merge`` can refuse shards that do not belong together (two commits, other labels).
# digests.json keeps its contract shape ({platform: digest, index}).

SHARD_FILENAME = "shard.json"
REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class ShardMeta:
    """What one build shard was built from: commit, platforms, labels, index annotations."""

    commit: str = ""
    platforms: tuple[Platform, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The metadata as written to ``shard.json``."""
        return {
            "commit": self.commit,
            "platforms": [str(p) for p in self.platforms],
            "labels": dict(sorted(self.labels.items())),
            "annotations": dict(sorted(self.annotations.items())),
        }


def shard_meta(
    platforms: Sequence[Platform], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> ShardMeta:
    """The metadata of a build: the commit is the git revision label, when there is one."""
    return ShardMeta(labels.get(REVISION_LABEL, ""), tuple(platforms), labels, annotations)


def write_shard_meta(directory: str | Path, meta: ShardMeta) -> Path:
    """Write ``DIR/shard.json`` (build calls this right after writing the digest map)."""
    path = make_output_dir(directory) / SHARD_FILENAME
    path.write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def _str_map(path: Path, data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidValueError(f"{path}: {key!r} must be an object of strings")
    return {str(k): v for k, v in value.items()}


def read_shard_meta(directory: str | Path) -> ShardMeta | None:
    """Read ``DIR/shard.json``; None when the shard has none (an older build)."""
    base = Path(directory)
    path = (base.parent if base.is_file() else base) / SHARD_FILENAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise InvalidValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidValueError(f"{path} must hold a JSON object")
    platforms = data.get("platforms") or []
    if not isinstance(platforms, list):
        raise InvalidValueError(f"{path}: 'platforms' must be a list")
    return ShardMeta(
        str(data.get("commit") or ""),
        tuple(Platform.parse(str(p)) for p in platforms),
        _str_map(path, data, "labels"),
        _str_map(path, data, "annotations"),
    )


@dataclass(frozen=True)
class Shard:
    """One build shard as merge reads it: its directory, digest map and metadata."""

    directory: str
    digests: Mapping[Platform, str]
    meta: ShardMeta | None
    layouts: Mapping[Platform, Path] = field(default_factory=dict)  # build --layout's


def read_shards(directories: Sequence[str | Path]) -> list[Shard]:
    """Each directory's digest map and metadata."""
    return [
        Shard(str(d), read_digest_map(d)[0], read_shard_meta(d), read_layouts(d))
        for d in directories
    ]


def _first_difference(
    shards: Sequence[Shard], what: str, value: Callable[[ShardMeta], Mapping[str, str]]
) -> str:
    known = [(s.directory, value(s.meta)) for s in shards if s.meta is not None]
    first_dir, base = known[0]
    for directory, other in known[1:]:
        if other == base:
            continue
        key = min(k for k in {*base, *other} if base.get(k) != other.get(k))
        return (
            f"shards have different {what}: {key} is {base.get(key, '(unset)')!r} in"
            f" {first_dir} but {other.get(key, '(unset)')!r} in {directory}"
        )
    return ""


def _check_platforms(shards: Sequence[Shard], platforms: Sequence[Platform]) -> None:
    dirs = ", ".join(s.directory for s in shards)
    seen: dict[Platform, Shard] = {}
    for shard in shards:
        for platform, digest in shard.digests.items():
            earlier = seen.setdefault(platform, shard)
            if earlier.digests[platform] != digest:
                raise InvalidValueError(
                    f"{platform} has two digests: {earlier.digests[platform]} in"
                    f" {earlier.directory} and {digest} in {shard.directory}"
                )
        built = shard.meta.platforms if shard.meta is not None else ()
        stray = [str(p) for p in shard.digests if built and p not in built]
        if stray:
            raise InvalidValueError(
                f"{shard.directory}: digests.json holds {', '.join(stray)} but its"
                f" {SHARD_FILENAME} says it built {', '.join(map(str, built))}"
            )
    missing = [str(p) for p in platforms if p not in seen]
    if missing:
        raise InvalidValueError(f"no digest for {', '.join(missing)} in {dirs}")
    extra = [p for p in seen if p not in platforms]
    if extra:
        raise InvalidValueError(
            f"{extra[0]} built in {seen[extra[0]].directory} is not among the platforms to"
            f" merge ({', '.join(map(str, platforms))})"
        )


def check_shards(shards: Sequence[Shard], platforms: Sequence[Platform]) -> list[str]:
    """Refuse shards that do not make one image; return notes on what could not be checked.

    Each refusal is one line: a platform missing, a platform with two digests, a platform
    nobody asked for, a digest map that disagrees with its own shard.json, two commits,
    different labels or annotations.
    """
    _check_platforms(shards, platforms)
    notes = [
        f"{s.directory} has no {SHARD_FILENAME}: its commit and labels are not checked"
        for s in shards
        if s.meta is None
    ]
    commits = {s.meta.commit: s.directory for s in shards if s.meta is not None}
    if len(commits) > 1:
        shown = ", ".join(f"{(c or '(none)')[:12]} in {d}" for c, d in commits.items())
        raise InvalidValueError(f"shards come from different commits: {shown}")
    if commits:
        for what, value in (("labels", _labels), ("annotations", _annotations)):
            problem = _first_difference(shards, what, value)
            if problem:
                raise InvalidValueError(problem)
    return notes


def _labels(meta: ShardMeta) -> Mapping[str, str]:
    return meta.labels


def _annotations(meta: ShardMeta) -> Mapping[str, str]:
    return meta.annotations
