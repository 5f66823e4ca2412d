"""``verify --deep``: scan every platform's layers for foreign ELF programs.

The layers are read by :mod:`.layers` (imported when a scan starts: the tar readers are
for --deep only). Given the base image's layers (:mod:`.base_layers`, publish's default
``verify_deep = "auto"``), only the layers the build added are read. The lint findings
verify was given are then confirmed or cleared by what the scan found
(:func:`multiarch_tasks.checks.lint.confirmed_by`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multiarch_tasks.engine.progress import Transfer
from multiarch_tasks.model.errors import RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from multiarch_tasks.checks.elf.layers import ScanResult
    from multiarch_tasks.checks.lint.checker import Finding
    from multiarch_tasks.checks.verify.base_layers import BaseLayers
    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.entries import Entry
    from multiarch_tasks.registry.reader import ImageReader


def deep_problems(
    client: ImageReader,
    ref: ImageRef,
    entries: list[Entry],
    scans: dict[Platform, ScanResult] | None = None,
    base: BaseLayers | None = None,
    report: Callable[[str, Transfer], None] | None = None,
) -> dict[Platform, tuple[list[str], str]]:
    """Scan every platform's layers; (problems, note) per platform; fill ``scans``.

    With ``base``, a platform whose image starts with its base's layers has only the
    layers after them read. ``report`` hears each platform's layers read (bytes, count):
    a live view shows them per platform.
    """
    from multiarch_tasks.checks.verify.base_layers import build_layers  # noqa: PLC0415

    todo = [e for e in entries if e.manifest is not None]
    chosen = {
        e.platform: build_layers(e.platform, e.manifest.layers if e.manifest else [], base)
        for e in todo
    }

    def scan(entry: Entry) -> ScanResult | RegistryError:
        layers = chosen[entry.platform][0]
        read = _Read(str(entry.platform), list(layers), report)
        try:
            from multiarch_tasks.checks.elf.layers import scan_image  # noqa: PLC0415 - tar readers, --deep only

            return client.with_retries(
                lambda: scan_image(client, ref, layers, on_layer=read.layer if report else None),
                f"reading the layers of {entry.platform}",
            )
        except RegistryError as err:
            return err

    results = client.map(scan, todo)
    out: dict[Platform, tuple[list[str], str]] = {}
    for entry, result in zip(todo, results, strict=True):
        plat = entry.platform
        if isinstance(result, RegistryError):
            out[plat] = ([f"{plat}: cannot read layers: {result}"], "")
            continue
        if scans is not None:
            scans[plat] = result
        foreign = [f"{plat}: {line}" for line in result.foreign(plat)]
        which = chosen[plat][1]
        note = f"{len(result.programs)} ELF programs checked" + (f" {which}" if which else "")
        out[plat] = (foreign, note)
    return out


class _Read:
    """One platform's layers read so far, told to ``report`` (a retried scan starts over)."""

    def __init__(
        self,
        platform: str,
        layers: list[Descriptor],
        report: Callable[[str, Transfer], None] | None,
    ) -> None:
        self.platform = platform
        self.total = sum(layer.size for layer in layers)
        self.count = len(layers)
        self.done = self.read = 0
        self.report = report
        if report is not None:
            report(platform, Transfer(0, self.total, 0, self.count, "layers"))

    def layer(self, layer: Descriptor) -> None:
        self.done += layer.size
        self.read += 1
        if self.report is not None:
            self.report(
                self.platform,
                Transfer(min(self.done, self.total), self.total, min(self.read, self.count),
                         self.count, "layers"),
            )  # fmt: skip


def confirmed(findings: Sequence[Finding], scans: Mapping[Platform, ScanResult]) -> Any:
    """What the scan made of the lint ``findings`` (one line each); empty without any."""
    from multiarch_tasks.checks.lint.checker import confirmed_by  # noqa: PLC0415 - only with findings

    return confirmed_by(findings, scans) if findings else ()
