"""Read what an index says about each platform image: its manifest and its config.

Shared by :mod:`multiarch_tasks.checks.verify.check` (which judges them) and
:mod:`multiarch_tasks.checks.inspect` (which shows them), so ``inspect`` loads none of
verify's checks. Independent requests (every platform's manifest, then its config) go out
at once through :meth:`~multiarch_tasks.registry.client.RegistryClient.map`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from multiarch_tasks.model.errors import InvalidPlatformError, RegistryError
from multiarch_tasks.model.oci import IN_TOTO, PREDICATE_TYPE, Descriptor, Document, predicate_kind
from multiarch_tasks.model.platforms import Platform

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.reader import ImageReader

T = TypeVar("T")
R = TypeVar("R")


def short(digest: str) -> str:
    """``sha256:0123456789ab`` (12 hex digits) for tables."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns, two spaces apart, header first."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]


@dataclass(frozen=True)
class Entry:
    """One platform image of the index, with what was read about it."""

    platform: Platform
    descriptor: Descriptor
    manifest: Document | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def attempt(func: Callable[[T], R]) -> Callable[[T], R | RegistryError]:
    """Wrap ``func`` so a registry error becomes a value (reported per platform)."""

    def call(item: T) -> R | RegistryError:
        try:
            return func(item)
        except RegistryError as err:
            return err

    return call


def read_entries(client: ImageReader, ref: ImageRef, images: list[Descriptor]) -> list[Entry]:
    """Fetch every platform's manifest and then its config, the platforms concurrently.

    One pass per platform (manifest, then config, on one thread) rather than all manifests
    and then all configs: no platform waits for the slowest manifest of another.
    """

    def get(desc: Descriptor) -> Document:
        return client.get_manifest(ref.with_digest(desc.digest))

    fetch = attempt(get)

    def read(desc: Descriptor) -> Entry:
        plat = desc.platform or Platform("unknown", "unknown")
        got = fetch(desc)
        if isinstance(got, RegistryError):
            return Entry(plat, desc, problems=(f"{plat}: manifest unreadable: {got}",))
        if got.is_index:
            problem = f"{plat}: points at another index, not at an image manifest"
            return Entry(plat, desc, problems=(problem,))
        return read_config(Entry(plat, desc, manifest=got))

    def read_config(entry: Entry) -> Entry:
        if entry.manifest is None:
            return entry
        config = entry.manifest.config
        try:
            raw = client.get_blob(ref, config.digest)
        except RegistryError as err:
            return Entry(
                entry.platform,
                entry.descriptor,
                entry.manifest,
                problems=(f"{entry.platform}: config unreadable: {err}",),
            )
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            problem = f"{entry.platform}: config {short(config.digest)} is not a JSON object"
            return Entry(entry.platform, entry.descriptor, entry.manifest, problems=(problem,))
        return Entry(entry.platform, entry.descriptor, entry.manifest, data)

    return client.map(read, images)


@dataclass(frozen=True)
class Attestation:
    """One attestation manifest of an index and its in-toto statements (when read)."""

    descriptor: Descriptor
    manifest: Document | None = None
    statements: tuple[Mapping[str, Any], ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def layers(self) -> list[Descriptor]:
        """The manifest's in-toto layers (other media types are ignored, as BuildKit says)."""
        if self.manifest is None:
            return []
        return [d for d in self.manifest.layers if d.media_type == IN_TOTO]

    @property
    def kinds(self) -> tuple[str, ...]:
        """``provenance``, ``sbom``, ...: from the layers' predicate-type annotations."""
        found = [predicate_kind(d.annotations.get(PREDICATE_TYPE, "")) for d in self.layers]
        return tuple(dict.fromkeys(found))


def read_attestations(
    client: ImageReader, ref: ImageRef, found: list[Descriptor], *, statements: bool
) -> list[Attestation]:
    """Fetch every attestation manifest, and with ``statements`` its in-toto blobs, at once."""

    def read(desc: Descriptor) -> Attestation:
        try:
            manifest = client.get_manifest(ref.with_digest(desc.digest))
        except RegistryError as err:
            return Attestation(desc, problems=(f"attestation manifest unreadable: {err}",))
        att = Attestation(desc, manifest)
        if not statements:
            return att
        out: list[Mapping[str, Any]] = []
        problems: list[str] = []
        for layer in att.layers:
            try:
                data = json.loads(client.get_blob(ref, layer.digest))
            except RegistryError as err:
                problems.append(f"statement {short(layer.digest)} unreadable: {err}")
                continue
            except ValueError:
                data = None
            if not isinstance(data, dict):
                problems.append(f"statement {short(layer.digest)} is not a JSON object")
                continue
            out.append(data)
        return Attestation(desc, manifest, tuple(out), tuple(problems))

    return client.map(read, found)


def config_platform(config: Mapping[str, Any]) -> tuple[Platform | None, str]:
    """Return the platform a config names, and its raw ``os/architecture[/variant]`` text."""
    parts = [str(config.get(k) or "") for k in ("os", "architecture", "variant")]
    raw = "/".join(p for p in parts if p)
    try:
        return Platform.from_oci(dict(config)), raw
    except InvalidPlatformError:
        return None, raw


def single_platform(entry: Entry) -> Entry:
    """Give a lone manifest (no index descriptor) the platform its config names."""
    found, _ = config_platform(entry.config)
    plat = found or Platform("unknown", "unknown")
    desc = Descriptor(
        entry.descriptor.media_type, entry.descriptor.digest, entry.descriptor.size, plat
    )
    return Entry(plat, desc, entry.manifest, entry.config, entry.problems)
