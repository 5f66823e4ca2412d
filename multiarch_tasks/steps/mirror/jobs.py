"""mirror's values: the copies asked for (jobs) and what each left at DEST (results).

Reading ``SRC DEST`` lists, giving a tag-less DEST its source's tag, picking the index
entries a subset keeps and writing that smaller index; then :class:`Copy` and
:class:`MirrorResult` with their text and JSON. Pure, but for reading the list file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.model.oci import Descriptor, Document
    from multiarch_tasks.model.platforms import Platform

# How each blob of a native copy got to DEST.
COPIED = "copied"
MOUNTED = "mounted"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Job:
    """One copy: SRC to DEST, and where it was asked for (``FILE:LINE`` or "")."""

    src: ImageRef
    dest: ImageRef
    where: str = ""


def parse_mirror_file(text: str, path: str = "mirror list") -> list[tuple[str, str, int]]:
    """Read ``SRC DEST`` lines; ``#`` starts a comment, blank lines are ignored."""
    out: list[tuple[str, str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        words = line.split()
        if len(words) != 2:  # noqa: PLR2004
            raise InvalidValueError(f"{path}:{number}: expected 'SRC DEST', got {raw.strip()!r}")
        out.append((words[0], words[1], number))
    return out


def dest_ref(src: ImageRef, dest: str) -> ImageRef:
    """DEST as a reference; without a tag it takes SRC's tag (``mirror golang:1.22 reg/golang``)."""
    ref = ImageRef.parse(dest, default_tag="")
    if ref.digest:
        raise InvalidValueError(
            f"destination {dest!r} names a digest; give a tag (the digest follows from SRC)"
        )
    if ref.tag:
        return ref
    if not src.tag:
        raise InvalidValueError(
            f"destination {dest!r} needs a tag: the source {src} is given by digest only"
        )
    return ref.with_tag(src.tag)


def jobs_for(src: str | None, dest: str | None, from_file: str | None) -> list[Job]:
    """List the copies asked for: SRC DEST, the lines of ``from_file``, or both."""
    pairs: list[tuple[str, str, str]] = []
    if src or dest:
        if not (src and dest):
            raise InvalidValueError("mirror needs both SRC and DEST (or --from-file FILE)")
        pairs.append((src, dest, ""))
    if from_file:
        try:
            text = Path(from_file).read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidValueError(f"cannot read mirror list {from_file}: {err.strerror}") from err
        pairs += [(s, d, f"{from_file}:{n}") for s, d, n in parse_mirror_file(text, from_file)]
    if not pairs:
        raise InvalidValueError(
            "mirror needs SRC and DEST, or --from-file FILE with 'SRC DEST' lines"
        )
    jobs = []
    for source, target, where in pairs:
        try:
            src_ref = ImageRef.parse(source)
            jobs.append(Job(src_ref, dest_ref(src_ref, target), where))
        except InvalidValueError as err:
            raise InvalidValueError(f"{where}: {err}" if where else str(err)) from err
    return jobs


def select_children(
    index: Document, platforms: tuple[Platform, ...] | None, attestations: bool
) -> list[Descriptor]:
    """Pick the index entries to copy: the platforms asked for, their attestations if kept."""
    images = [
        d
        for d in index.images
        if platforms is None or (d.platform is not None and d.platform in platforms)
    ]
    if platforms is not None:
        missing = [p for p in platforms if not any(d.platform == p for d in images)]
        if missing:
            have = ", ".join(str(d.platform) for d in index.images)
            raise InvalidValueError(
                f"the source has no {', '.join(str(p) for p in missing)} (it has {have})"
            )
    kept = {d.digest for d in images}
    return [
        d
        for d in index.descriptors
        if d.digest in kept
        or (attestations and d.is_attestation and (d.attests in kept or not d.attests))
    ]


def filtered_index(index: Document, children: list[Descriptor]) -> bytes:
    """``index`` with only ``children`` left in it, every other field kept as it was."""
    keep = {d.digest for d in children}
    data: dict[str, Any] = dict(index.data)
    data["manifests"] = [m for m in index.data.get("manifests") or [] if m.get("digest") in keep]
    return json.dumps(data, indent=2).encode()


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One finished (or failed) copy and what it left at DEST."""

    src: str
    dest: str
    tool: str
    digest: str = ""
    src_digest: str = ""
    platforms: tuple[str, ...] = ()
    blobs: Mapping[str, int] = field(default_factory=dict)
    note: str = ""
    error: str = ""
    # cosign's tags (``sha256-<hex>.sig``, ``.att``...) copied along with the image.
    signatures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the copy succeeded and DEST reads back as expected."""
        return not self.error

    def render(self) -> str:
        """Return one line: what went where, by which tool, with which digest."""
        if self.error:
            return f"mirror: FAILED {self.src} -> {self.dest} ({self.tool}): {self.error}"
        text = f"mirror: {self.src} -> {self.dest} via {self.tool}"
        if self.digest:
            text += f": {self.digest}"
        details = []
        if self.platforms:
            details.append(f"{len(self.platforms)} platform(s): {', '.join(self.platforms)}")
        if self.blobs:
            details.append(
                f"blobs: {self.blobs.get(COPIED, 0)} copied, {self.blobs.get(MOUNTED, 0)}"
                f" mounted, {self.blobs.get(SKIPPED, 0)} already there"
            )
        if self.signatures:
            details.append(f"{len(self.signatures)} cosign signature/attestation tag(s)")
        if self.note:
            details.append(self.note)
        return text + (f" ({'; '.join(details)})" if details else "")

    def to_json(self) -> dict[str, Any]:
        """Return the copy as JSON."""
        return {
            "src": self.src,
            "dest": self.dest,
            "tool": self.tool,
            "digest": self.digest,
            "src_digest": self.src_digest,
            "platforms": list(self.platforms),
            "blobs": dict(self.blobs),
            "note": self.note,
            "signatures": list(self.signatures),
            "ok": self.ok,
            "error": self.error,
        }


@dataclass(frozen=True)
class MirrorResult:
    """Every copy of one ``mirror`` call."""

    copies: tuple[Copy, ...]

    @property
    def ok(self) -> bool:
        """True when every copy succeeded."""
        return bool(self.copies) and all(c.ok for c in self.copies)

    def render(self) -> str:
        """Show one line per copy."""
        return "\n".join(c.render() for c in self.copies)

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON (``--json``)."""
        return {"ok": self.ok, "copies": [c.to_json() for c in self.copies]}
