"""Prove that every platform of a published image is what its index claims.

``verify`` reads the index over the registry API and checks, per platform: that it is
there (no missing, no unexpected ones), that its config names the same os/architecture/
variant as the index does, that no two platforms share one manifest, and optionally
(``deep``) that the ELF programs in its layers are built for it and (``run``) that it
starts. Attestation manifests are listed apart; one pointing at nothing is a problem.
What each platform holds is read by :mod:`multiarch_tasks.registry.entries` (which ``inspect``
shares).

Independent requests (every platform's manifest, every config, every tag) go out at
once through :meth:`~multiarch_tasks.registry.client.RegistryClient.map`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from multiarch_tasks.engine import commands
from multiarch_tasks.model.errors import InvalidValueError, RegistryError
from multiarch_tasks.model.oci import Descriptor
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from multiarch_tasks.registry.entries import (
    Entry,
    config_platform,
    read_entries,
    short,
    single_platform,
    table,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from multiarch_tasks.checks.layers import ScanResult
    from multiarch_tasks.checks.lint import Finding
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Result, Runner

T = TypeVar("T")
R = TypeVar("R")
EXEC_FORMAT_ERROR = "exec format error"


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformCheck:
    """What verify found for one platform; ``notes`` are shown but are not problems."""

    platform: str
    digest: str
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when this platform has no problem."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """Return ``{"platform", "digest", "ok", "problems"}``."""
        return {
            "platform": self.platform,
            "digest": self.digest,
            "ok": self.ok,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class AttestationCheck:
    """An attestation manifest of the index and the image it describes."""

    digest: str
    attests: str
    platform: str = ""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the attestation points at an image of the index."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """Return ``{"digest", "attests", "platform", "ok", "problems"}``."""
        return {
            "digest": self.digest,
            "attests": self.attests,
            "platform": self.platform,
            "ok": self.ok,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`; index-level problems are in ``problems``."""

    ref: str
    digest: str
    media_type: str = ""
    platforms: tuple[PlatformCheck, ...] = ()
    attestations: tuple[AttestationCheck, ...] = ()
    problems: tuple[str, ...] = ()
    # What --deep made of the lint findings it was given: confirmed or not (not problems).
    lint: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing anywhere is wrong."""
        return (
            not self.problems
            and all(p.ok for p in self.platforms)
            and all(a.ok for a in self.attestations)
        )

    @property
    def all_problems(self) -> list[str]:
        """Every problem, index-level first."""
        out = list(self.problems)
        out += [p for check in self.platforms for p in check.problems]
        out += [p for check in self.attestations for p in check.problems]
        return out

    def to_json(self) -> dict[str, Any]:
        """Return the ``verify --json`` document (see docs/verify.md)."""
        out = {
            "ok": self.ok,
            "ref": self.ref,
            "digest": self.digest,
            "platforms": [p.to_json() for p in self.platforms],
            "attestations": [a.to_json() for a in self.attestations],
            "problems": list(self.problems),
        }
        if self.lint:
            out["lint"] = list(self.lint)
        return out

    def render(self) -> str:
        """Return a plain-text table of platforms, then attestations and problems."""
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"verify {self.ref} ({short(self.digest)}): {verdict}"]
        rows = [
            (c.platform, short(c.digest) or "-", "ok" if c.ok else "FAIL", "; ".join(c.notes))
            for c in self.platforms
        ]
        if rows:
            lines += table(("PLATFORM", "DIGEST", "RESULT", "NOTES"), rows)
        if self.attestations:
            lines.append("attestations:")
            lines += [
                f"  {short(a.digest)} -> {a.platform or short(a.attests) or '?'}"
                f"{'' if a.ok else '  FAIL'}"
                for a in self.attestations
            ]
        # The index-level summaries of missing/unexpected platforms restate rows above.
        summaries = {f"{c.platform} is missing" for c in self.platforms}
        problems = [
            p
            for p in self.all_problems
            if p not in summaries and not p.startswith("unexpected platforms:")
        ]
        if problems:
            lines.append("problems:")
            lines += [f"  - {p}" for p in problems]
        if self.lint:
            lines.append("lint findings:")
            lines += [f"  - {line}" for line in self.lint]
        return "\n".join(lines)


# --- verify --------------------------------------------------------------------------


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


def _platform_set_problems(
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


def _duplicate_problems(entries: list[Entry]) -> dict[Platform, list[str]]:
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


def _attestation_checks(
    attestations: list[Descriptor], entries: list[Entry]
) -> list[AttestationCheck]:
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


def _tag_problems(
    settings: Settings, client: RegistryClient, ref: ImageRef, digest: str
) -> list[str]:
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


def _deep_problems(
    client: RegistryClient,
    ref: ImageRef,
    entries: list[Entry],
    scans: dict[Platform, ScanResult] | None = None,
) -> dict[Platform, tuple[list[str], str]]:
    """Scan every platform's layers; (problems, note) per platform; fill ``scans``."""
    todo = [e for e in entries if e.manifest is not None]

    def scan(entry: Entry) -> ScanResult | RegistryError:
        layers = entry.manifest.layers if entry.manifest is not None else []
        try:
            from multiarch_tasks.checks.layers import scan_image  # noqa: PLC0415 - tar readers, --deep only

            return client.with_retries(
                lambda: scan_image(client, ref, layers), f"reading the layers of {entry.platform}"
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
        note = f"{len(result.programs)} ELF programs checked"
        out[plat] = (foreign, note)
    return out


RUN_TIMEOUT = 120.0  # seconds a verify --run command may take (the timeout setting wins)


def _run_problems(
    settings: Settings, runner: Runner, ref: ImageRef, digest: str, plats: list[Platform]
) -> dict[Platform, tuple[list[str], str]]:
    """Run each platform's image with ``settings.verify_run``; (problems, note) each."""
    pinned = f"{ref.name}@{digest}"
    timeout = settings.timeout or RUN_TIMEOUT

    def run(plat: Platform) -> Result:
        name = f"multiarch-verify-{os.urandom(6).hex()}"
        argv = commands.docker_run(pinned, plat, settings.verify_run, name=name)
        result = runner.run(argv, check=False, label=f"verify --run {plat}", timeout=timeout)
        if result.returncode == -1 and not result.dry:
            # A program that dies of a signal under QEMU as the container's PID 1 never
            # exits (the kernel ignores default-action signals sent to init): remove it.
            runner.run(commands.docker_rm_force(name), check=False, timeout=60)
        return result

    results = runner.map_parallel(run, plats)
    out: dict[Platform, tuple[list[str], str]] = {}
    for plat, result in zip(plats, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        command = runner.display(settings.verify_run)
        if result.dry:
            out[plat] = ([], "not run (--dry)")
        elif result.ok:
            out[plat] = ([], f"`{command}` ran")
        elif result.returncode == -1:
            hung = (
                f"{plat}: `{command}` did not finish in {timeout:g}s (a program killed by a"
                " signal as the container's PID 1 under QEMU hangs: look for a crash)"
            )
            out[plat] = ([hung], "")
        elif EXEC_FORMAT_ERROR in f"{result.stdout}\n{result.stderr}".lower():
            out[plat] = (
                [f"{plat}: exec format error: its programs are not built for {plat}"],
                "",
            )
        else:
            last = (result.stderr or result.stdout).strip().splitlines()
            tail = f": {last[-1]}" if last else ""
            out[plat] = ([f"{plat}: `{command}` exited {result.returncode}{tail}"], "")
    return out


def verify(
    settings: Settings,
    ref: ImageRef,
    *,
    runner: Runner,
    client: RegistryClient | None = None,
    deep: bool = False,
    run: bool = False,
    allow_single: bool = False,
    check_tags: bool = True,
    findings: Sequence[Finding] = (),
) -> VerifyReport:
    """Check that ``ref`` holds exactly ``settings.platforms``, each being what it claims.

    ``check_tags`` also asks that every tag of ``settings.tags`` points at it; publish
    verifies the index before any tag moves, so it turns that off (promotion reads back).
    ``findings`` (from :func:`multiarch_tasks.checks.lint.lint`) are confirmed or cleared by the
    ``deep`` scan: the report's ``lint`` lines say which.
    """
    if run and not settings.verify_run:
        raise InvalidValueError(
            "--run needs a command to run in each image: set verify_run, e.g."
            ' verify_run = ["/bin/sh", "-c", "true"] under [tool.multiarch-tasks]'
        )
    client = client or RegistryClient.from_settings(settings, say=runner.say)
    doc = client.get_manifest(ref)
    if doc.is_index:
        images, attestations = doc.images, doc.attestations
        entries = read_entries(client, ref, images)
    elif allow_single:
        attestations = []
        entries = read_entries(client, ref, [doc.descriptor()])
        entries = [single_platform(e) for e in entries]
    else:
        problem = (
            f"{ref} is a single image manifest, not a multi-platform index"
            " (pass --allow-single to accept one)"
        )
        return VerifyReport(str(ref), doc.digest, doc.media_type, problems=(problem,))

    per, missing, index_level = _platform_set_problems(entries, settings.platforms)
    notes: dict[Platform, list[str]] = {e.platform: [] for e in entries}
    found: list[dict[Platform, tuple[list[str], str]]] = [
        {p: (problems, "") for p, problems in _duplicate_problems(entries).items()},
        _config_problems(entries),
    ]
    scans: dict[Platform, ScanResult] = {}
    if deep:
        found.append(_deep_problems(client, ref, entries, scans))
        from multiarch_tasks.checks.layers import shared_layer_notes  # noqa: PLC0415 - --deep only

        layers = {e.platform: [d.digest for d in e.manifest.layers] for e in entries if e.manifest}
        notes_of = shared_layer_notes(layers, scans)
        found.append({plat: ([], note) for plat, note in notes_of.items()})
    if run:
        plats = [e.platform for e in entries if e.manifest is not None]
        found.append(_run_problems(settings, runner, ref, doc.digest, plats))
    for results in found:
        for plat, (problems, note) in results.items():
            per[plat] += problems
            notes[plat] += [note] if note else []
    if check_tags:
        index_level += _tag_problems(settings, client, ref, doc.digest)
    checks = [
        PlatformCheck(
            str(e.platform),
            e.descriptor.digest,
            _dedupe([*e.problems, *per[e.platform]]),
            tuple(notes[e.platform]),
        )
        for e in entries
    ]
    return VerifyReport(
        str(ref),
        doc.digest,
        doc.media_type,
        _ordered([*checks, *missing], settings.platforms),
        tuple(_attestation_checks(attestations, entries)),
        tuple(index_level),
        _confirmed(findings, scans) if deep else (),
    )


def _config_problems(entries: list[Entry]) -> dict[Platform, tuple[list[str], str]]:
    """Compare each config's platform with its index descriptor's."""
    out: dict[Platform, tuple[list[str], str]] = {}
    for entry in entries:
        problem = config_problem(entry.platform, entry.config) if entry.config else None
        if problem:
            out[entry.platform] = ([problem], "")
    return out


def _ordered(
    checks: list[PlatformCheck], expected: tuple[Platform, ...]
) -> tuple[PlatformCheck, ...]:
    """Sort checks: expected platforms in their configured order, then the others."""
    order = {str(p): i for i, p in enumerate(expected)}
    return tuple(sorted(checks, key=lambda c: (order.get(c.platform, len(order)), c.platform)))


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _confirmed(findings: Sequence[Finding], scans: Mapping[Platform, ScanResult]) -> Any:
    from multiarch_tasks.checks.lint import confirmed_by  # noqa: PLC0415 - only with findings

    return confirmed_by(findings, scans) if findings else ()
