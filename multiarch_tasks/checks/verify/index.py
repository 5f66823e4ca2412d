"""verify's checks of the index itself: which platforms, their configs, attestations, tags.

Each platform must be there once (no missing, no unexpected ones), its config must name the
os/architecture/variant the index claims, no two platforms may share one manifest, every
attestation must describe an image of the index, and every tag must point at the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multiarch_tasks.checks.verify.report import AttestationCheck, PlatformCheck
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.entries import Entry, config_platform, short

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.registry.reader import ImageReader


def config_problem(claimed: Platform, config: Mapping[str, Any]) -> str | None:
    """Compare the index's platform with the config's; None when they agree.

    The variant is compared only when the config states one (many configs omit it).
    """
    found, raw = config_platform(config)
    if found is None:
        return f"{claimed}: config says {raw or 'nothing about its platform'}"
    same = found.os == claimed.os and found.architecture == claimed.architecture
    if same and (not config.get("variant") or found.variant == claimed.variant):
        return None
    what = str(found) if found.os != claimed.os else str(found).partition("/")[2]
    return f"{claimed}: config says {what}"


def platform_set_problems(
    entries: list[Entry], expected: tuple[Platform, ...]
) -> tuple[dict[Platform, list[str]], list[PlatformCheck], list[str]]:
    """Problems about which platforms are present: per platform, missing ones, index-level."""
    per: dict[Platform, list[str]] = {e.platform: [] for e in entries}
    seen: dict[Platform, int] = {}
    for entry in entries:
        seen[entry.platform] = seen.get(entry.platform, 0) + 1
    index_level = [f"{p} is listed {n} times in the index" for p, n in seen.items() if n > 1]
    wanted = ", ".join(str(p) for p in expected)
    for plat, problems in per.items():
        if plat not in expected:
            problems.append(f"{plat}: unexpected platform (expected only {wanted})")
    missing = [
        PlatformCheck(str(p), "", (f"{p}: missing from the index",))
        for p in expected
        if p not in per
    ]
    index_level += [f"{m.platform} is missing" for m in missing]
    unexpected = [str(p) for p in per if p not in expected]
    if unexpected:
        index_level.append(f"unexpected platforms: {', '.join(unexpected)}")
    return per, missing, index_level


def duplicate_problems(entries: list[Entry]) -> dict[Platform, list[str]]:
    """A problem for each platform whose manifest another platform also lists."""
    by_digest: dict[str, list[Platform]] = {}
    for entry in entries:
        by_digest.setdefault(entry.descriptor.digest, []).append(entry.platform)
    out: dict[Platform, list[str]] = {}
    for plats in by_digest.values():
        if len(plats) < 2:  # noqa: PLR2004
            continue
        for plat in plats:
            others = ", ".join(str(p) for p in plats if p != plat) or str(plat)
            out.setdefault(plat, []).append(
                f"{plat}: same manifest as {others} (one image pushed under several platforms)"
            )
    return out


def attestation_checks(
    attestations: list[Descriptor], entries: list[Entry]
) -> list[AttestationCheck]:
    """A check per attestation: it must describe an image of the index."""
    by_digest = {e.descriptor.digest: e.platform for e in entries}
    checks = []
    for att in attestations:
        target = by_digest.get(att.attests)
        problems: tuple[str, ...] = ()
        if target is None:
            what = short(att.attests) if att.attests else "no image (no reference digest)"
            problems = (
                f"attestation {short(att.digest)} describes {what}, which is not in the index",
            )
        checks.append(AttestationCheck(att.digest, att.attests, str(target or ""), problems))
    return checks


def tag_problems(settings: Settings, client: ImageReader, ref: ImageRef, digest: str) -> list[str]:
    """Every tag of ``settings.tags`` must point at ``digest`` (when REF is that image)."""
    if not settings.image:
        return []
    image = ImageRef.parse(settings.image, default_tag="")
    if (image.registry, image.repository) != (ref.registry, ref.repository):
        return []
    found = client.map(lambda tag: client.head_manifest(ref.with_tag(tag)), settings.tags)
    problems = []
    for tag, desc in zip(settings.tags, found, strict=True):
        if desc is None:
            problems.append(f"tag {tag} does not exist")
        elif desc.digest != digest:
            problems.append(f"tag {tag} points at {short(desc.digest)}, not at {short(digest)}")
    return problems


def config_problems(entries: list[Entry]) -> dict[Platform, tuple[list[str], str]]:
    """Compare each config's platform with its index descriptor's."""
    out: dict[Platform, tuple[list[str], str]] = {}
    for entry in entries:
        problem = config_problem(entry.platform, entry.config) if entry.config else None
        if problem:
            out[entry.platform] = ([problem], "")
    return out
