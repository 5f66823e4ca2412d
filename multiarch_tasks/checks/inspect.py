"""inspect: show an index as a table, or one platform's config summary.

Columns: platform, digest, size, created, attestation, and an error column when a
platform's manifest or config could not be read (404, 401, 5xx, a digest mismatch): that
row says why and the result is not ok (exit 1), as ``inspect --platform P`` fails for
it. Reads through the same helpers as :mod:`multiarch_tasks.checks.verify.check`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multiarch_tasks.model.errors import InvalidValueError, RegistryError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.entries import (
    Entry,
    read_attestations,
    read_entries,
    short,
    single_platform,
    table,
)
from multiarch_tasks.registry.reader import reader_for

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.registry.reader import ImageReader


# --- inspect -------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectRow:
    """One line of ``inspect``: a platform image and its attestation, if any."""

    platform: str
    digest: str
    size: int
    created: str
    attestation: str = ""
    error: str = ""  # why this platform's manifest or config could not be read
    # what its attestation manifest holds: provenance, sbom (its layers' predicate types)
    kinds: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON object (``error`` only when there is one)."""
        out: dict[str, Any] = {
            "platform": self.platform,
            "digest": self.digest,
            "size": self.size,
            "created": self.created,
            "attestation": self.attestation,
            "attestations": list(self.kinds),
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class ConfigSummary:
    """The parts of one platform's config a human wants to see."""

    platform: str
    digest: str
    config_digest: str
    created: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    workdir: str
    env: tuple[str, ...]
    labels: Mapping[str, str]
    layers: int
    size: int

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON object."""
        return {
            "platform": self.platform,
            "digest": self.digest,
            "config_digest": self.config_digest,
            "created": self.created,
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "user": self.user,
            "workdir": self.workdir,
            "env": list(self.env),
            "labels": dict(self.labels),
            "layers": self.layers,
            "size": self.size,
        }

    def render(self) -> str:
        """Return ``key: value`` lines."""
        pairs = [
            ("platform", self.platform),
            ("manifest", self.digest),
            ("config", self.config_digest),
            ("created", self.created or "-"),
            ("entrypoint", json.dumps(list(self.entrypoint))),
            ("cmd", json.dumps(list(self.cmd))),
            ("user", self.user or "-"),
            ("workdir", self.workdir or "-"),
            ("layers", f"{self.layers} ({_human(self.size)})"),
        ]
        pairs += [("env", e) for e in self.env]
        pairs += [("label", f"{k}={v}") for k, v in sorted(self.labels.items())]
        width = max(len(k) for k, _ in pairs)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


@dataclass(frozen=True)
class InspectResult:
    """The outcome of :func:`inspect`: the index's rows, or one platform's config."""

    ref: str
    digest: str
    media_type: str
    document: Mapping[str, Any]
    rows: tuple[InspectRow, ...] = ()
    config: ConfigSummary | None = None

    @property
    def ok(self) -> bool:
        """True when every row could be read: inspect reports, but not what it cannot see."""
        return not any(r.error for r in self.rows)

    @property
    def message(self) -> str:
        """The unreadable platforms, one per line ("" when all were read)."""
        return "\n".join(f"{r.platform}: {r.error}" for r in self.rows if r.error)

    def to_json(self) -> dict[str, Any]:
        """Return the raw index/manifest, or the config summary with ``--platform``.

        A platform that could not be read gets an ``error`` key in its ``manifests``
        entry (a lone manifest: at the top level); the document is otherwise as served.
        """
        if self.config is not None:
            return self.config.to_json()
        out = dict(self.document)
        errors = {r.digest: r.error for r in self.rows if r.error}
        if not errors:
            return out
        if isinstance(out.get("manifests"), list):
            out["manifests"] = [
                {**m, "error": errors[m["digest"]]}
                if isinstance(m, dict) and m.get("digest") in errors
                else m
                for m in out["manifests"]
            ]
        elif self.digest in errors:
            out["error"] = errors[self.digest]
        return out

    def render(self) -> str:
        """Return the rows as a table (or the config summary)."""
        head = f"{self.ref}  {self.digest}  {self.media_type}"
        if self.config is not None:
            return f"{head}\n{self.config.render()}"
        failed = any(r.error for r in self.rows)
        rows = [
            (
                r.platform,
                short(r.digest),
                _human(r.size) if r.size or not r.error else "-",
                r.created or "-",
                short(r.attestation) or "-",
                ", ".join(r.kinds) or "-",
                *((r.error or "-",) if failed else ()),
            )
            for r in self.rows
        ]
        header = ("PLATFORM", "DIGEST", "SIZE", "CREATED", "ATTESTATION", "ATTESTATIONS")
        lines = table((*header, "ERROR") if failed else header, rows)
        return "\n".join([head, *lines])


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":  # noqa: PLR2004
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - loop always returns


def _image_size(entry: Entry) -> int:
    if entry.manifest is None:
        return 0
    return sum(layer.size for layer in entry.manifest.layers)


def _unprefixed(problem: str, platform: Platform) -> str:
    """A problem without its ``linux/arm64: `` prefix: the row already names the platform."""
    return problem.removeprefix(f"{platform}: ")


def _summary(entry: Entry) -> ConfigSummary:
    if entry.manifest is None:
        problem = entry.problems[0] if entry.problems else "manifest unreadable"
        raise RegistryError(problem)
    inner = entry.config.get("config") or {}
    labels = inner.get("Labels") or {}
    return ConfigSummary(
        platform=str(entry.platform),
        digest=entry.descriptor.digest,
        config_digest=entry.manifest.config.digest,
        created=str(entry.config.get("created") or ""),
        entrypoint=tuple(str(x) for x in inner.get("Entrypoint") or ()),
        cmd=tuple(str(x) for x in inner.get("Cmd") or ()),
        user=str(inner.get("User") or ""),
        workdir=str(inner.get("WorkingDir") or ""),
        env=tuple(str(x) for x in inner.get("Env") or ()),
        labels={str(k): str(v) for k, v in labels.items()},
        layers=len(entry.manifest.layers),
        size=_image_size(entry),
    )


def inspect(
    settings: Settings,
    ref: ImageRef,
    *,
    platform: str | None = None,
    client: ImageReader | None = None,
) -> InspectResult:
    """Describe ``ref``: one row per platform image, or ``platform``'s config summary."""
    wanted = Platform.parse(platform) if platform else None
    client = client or reader_for(settings, ref)
    doc = client.get_manifest(ref)
    if doc.is_index:
        images = doc.images
        if wanted is not None:
            images = [d for d in images if d.platform == wanted]
            if not images:
                have = ", ".join(str(d.platform) for d in doc.images) or "no platforms"
                raise InvalidValueError(f"{ref} has no {wanted} image (it has: {have})")
        entries = read_entries(client, ref, images)
    else:
        entries = [single_platform(e) for e in read_entries(client, ref, [doc.descriptor()])]
        if wanted is not None and entries[0].platform != wanted:
            raise InvalidValueError(f"{ref} is a single {entries[0].platform} image, not {wanted}")
    if wanted is not None:
        return InspectResult(
            str(ref), doc.digest, doc.media_type, doc.data, config=_summary(entries[0])
        )
    attests = {a.attests: a.digest for a in doc.attestations}
    # One small read per attestation manifest: its layers' annotations name the kinds.
    read = read_attestations(client, ref, doc.attestations, statements=False)
    kinds = {a.descriptor.attests: a.kinds for a in read}
    rows = [
        InspectRow(
            str(e.platform),
            e.descriptor.digest,
            _image_size(e),
            str(e.config.get("created") or ""),
            attests.get(e.descriptor.digest, ""),
            "; ".join(_unprefixed(p, e.platform) for p in e.problems),
            kinds.get(e.descriptor.digest, ()),
        )
        for e in entries
    ]
    known = {e.descriptor.digest for e in entries}
    rows += [
        InspectRow("unknown/unknown", a.digest, a.size, "", a.digest)
        for a in doc.attestations
        if a.attests not in known
    ]
    return InspectResult(str(ref), doc.digest, doc.media_type, doc.data, rows=tuple(rows))
