"""The digest map ``digests.json``: ``{platform: digest}``, plus ``index`` once merged.

It is how ``manifest-create`` and ``merge`` (CI jobs on separate runners) know what to put
into the index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from multiarch_tasks.errors import InvalidValueError
from multiarch_tasks.platforms import Platform

FILENAME = "digests.json"
INDEX_KEY = "index"


def write_digest_map(
    directory: str | Path, digests: Mapping[Platform, str], *, index: str = ""
) -> Path:
    """Write ``DIR/digests.json`` anew; an earlier index digest is dropped unless given."""
    path = Path(directory) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, str] = {str(p): d for p, d in digests.items()}
    if index:
        data[INDEX_KEY] = index
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
        if key == INDEX_KEY:
            continue
        if not isinstance(value, str) or not value.startswith("sha256:"):
            raise InvalidValueError(f"{path}: digest of {key!r} is not a sha256 digest: {value!r}")
        digests[Platform.parse(key)] = value
    return digests, str(data.get(INDEX_KEY, ""))


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
