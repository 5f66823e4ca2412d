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

Here: :func:`verify`, which runs the checks and assembles the report. The checks live in
:mod:`.verify_index` (index, configs, attestations, tags), :mod:`.verify_deep` (ELF
programs) and :mod:`.verify_run` (``--run``); the report in :mod:`.verify_report`
(re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.verify import deep as verify_deep
from multiarch_tasks.checks.verify import index as verify_index
from multiarch_tasks.checks.verify import run as verify_run
from multiarch_tasks.checks.verify.index import config_problem
from multiarch_tasks.checks.verify.report import (
    AttestationCheck,
    PlatformCheck,
    SignatureCheck,
    VerifyReport,
)
from multiarch_tasks.checks.verify.run import EXEC_FORMAT_ERROR, RUN_TIMEOUT
from multiarch_tasks.engine.progress import transfer_events
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.layoutref import LayoutRef
from multiarch_tasks.registry.entries import read_entries, short, single_platform
from multiarch_tasks.registry.reader import reader_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from multiarch_tasks.checks.elf.layers import ScanResult
    from multiarch_tasks.checks.lint.checker import Finding
    from multiarch_tasks.checks.verify.base_layers import BaseLayers
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.entries import Entry
    from multiarch_tasks.registry.reader import ImageReader

__all__ = [
    "EXEC_FORMAT_ERROR",
    "RUN_TIMEOUT",
    "AttestationCheck",
    "PlatformCheck",
    "VerifyReport",
    "config_problem",
    "short",
    "verify",
]


def verify(
    settings: Settings,
    ref: ImageRef,
    *,
    runner: Runner,
    client: ImageReader | None = None,
    deep: bool = False,
    run: bool = False,
    allow_single: bool = False,
    check_tags: bool = True,
    findings: Sequence[Finding] = (),
    signatures: bool = False,
    base: BaseLayers | None = None,
    attestations: bool = False,
    dockerfile: str = "",
) -> VerifyReport:
    """Check that ``ref`` holds exactly ``settings.platforms``, each being what it claims.

    ``check_tags`` also asks that every tag of ``settings.tags`` points at it (when
    ``settings.image`` is REF's repository); publish verifies the index before any tag
    moves, so it turns that off (promotion reads back), and so does the ``verify`` task: an
    explicit REF is checked as given, not against the tags a project configures.
    ``findings`` (from :func:`multiarch_tasks.checks.lint.lint`) are confirmed or cleared by the
    ``deep`` scan: the report's ``lint`` lines say which. ``signatures`` asks cosign for a
    valid signature (``signed_by``, or the keyless identity and issuer) on the index, and
    on each platform manifest with ``sign_platforms``. With ``base`` (the base image's
    layers, :func:`multiarch_tasks.checks.verify.base_layers.base_layers`) the ``deep`` scan
    reads only the layers each image added to its base. ``attestations`` reads every
    attestation manifest and its in-toto statements and checks them against their
    platform (:mod:`.attestations`; an SBOM is required with ``settings.sbom``);
    ``dockerfile`` is the file name every provenance must record (publish knows it).
    """
    if run and not settings.verify_run:
        raise InvalidValueError(
            "--run needs a command to run in each image: set verify_run, e.g."
            ' verify_run = ["/bin/sh", "-c", "true"] under [tool.multiarch-tasks]'
        )
    _on_disk_refusal(ref, run=run, signatures=signatures)
    client = client or reader_for(settings, ref, say=runner.say)
    doc = client.get_manifest(ref)
    if doc.is_index:
        images, found_attestations = doc.images, doc.attestations
        entries = read_entries(client, ref, images)
    elif allow_single:
        found_attestations = []
        entries = read_entries(client, ref, [doc.descriptor()])
        entries = [single_platform(e) for e in entries]
    else:
        problem = (
            f"{ref} is a single image manifest, not a multi-platform index"
            " (pass --allow-single to accept one)"
        )
        return VerifyReport(str(ref), doc.digest, doc.media_type, problems=(problem,))

    per, missing, index_level = verify_index.platform_set_problems(entries, settings.platforms)
    notes: dict[Platform, list[str]] = {e.platform: [] for e in entries}
    found: list[dict[Platform, tuple[list[str], str]]] = [
        {p: (problems, "") for p, problems in verify_index.duplicate_problems(entries).items()},
        verify_index.config_problems(entries),
    ]
    scans: dict[Platform, ScanResult] = {}
    if deep:
        # Each platform's layers read, as events: a live view's rows under "verify".
        report = transfer_events(runner.emit, runner.step or "verify")
        found.append(verify_deep.deep_problems(client, ref, entries, scans, base, report))
        from multiarch_tasks.checks.elf.layers import shared_layer_notes  # noqa: PLC0415 - --deep only

        layers = {e.platform: [d.digest for d in e.manifest.layers] for e in entries if e.manifest}
        notes_of = shared_layer_notes(layers, scans)
        found.append({plat: ([], note) for plat, note in notes_of.items()})
    if run:
        plats = [e.platform for e in entries if e.manifest is not None]
        ran = verify_run.run_problems(settings, runner, ref, doc.digest, plats)
        failed = set(verify_run.failed_runs(ran))
        unread = [e for e in entries if e.platform in failed and e.platform not in scans]
        if unread:
            # Why did it fail? A foreign program says "not found" more often than "exec
            # format error" (see verify.run): read the ELF headers of those platforms.
            verify_deep.deep_problems(client, ref, unread, scans)
        found.append(verify_run.wrong_arch(ran, scans) if failed else ran)
    for results in found:
        for plat, (problems, note) in results.items():
            per[plat] += problems
            notes[plat] += [note] if note else []
    if check_tags:
        index_level += verify_index.tag_problems(settings, client, ref, doc.digest)
    signed = _signatures(settings, runner, ref, doc.digest, entries) if signatures else ()
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
        tuple(
            _attestation_rows(client, ref, found_attestations, entries, settings, dockerfile)
            if attestations
            else verify_index.attestation_checks(found_attestations, entries)
        ),
        tuple(index_level),
        verify_deep.confirmed(findings, scans) if deep else (),
        signed,
    )


def _on_disk_refusal(ref: ImageRef, *, run: bool, signatures: bool) -> None:
    """Refuse what an OCI layout on disk cannot give: a running image, a cosign signature."""
    if isinstance(ref, LayoutRef) and (run or signatures):
        # Both need the image where docker and cosign reach it: a registry.
        what = "--run starts each platform's image" if run else "a signature is checked"
        raise InvalidValueError(
            f"{what} from a registry, and {ref} is an OCI layout on disk: verify it without"
            " that, or push it first"
        )


def _signatures(
    settings: Settings, runner: Runner, ref: ImageRef, index: str, entries: Sequence[Entry]
) -> tuple[SignatureCheck, ...]:
    # cosign is started only when a signature is asked for.
    from multiarch_tasks.checks.verify.signatures import signature_checks  # noqa: PLC0415

    digests = {"index": index}
    if settings.sign_platforms:
        digests |= {str(e.platform): e.descriptor.digest for e in entries}
    return signature_checks(settings, runner, ref, digests)


def _attestation_rows(
    client: ImageReader,
    ref: ImageRef,
    found: list[Descriptor],
    entries: Sequence[Entry],
    settings: Settings,
    dockerfile: str,
) -> list[AttestationCheck]:
    # The statements are read only when asked: a plain verify lists attestations apart.
    from multiarch_tasks.checks.verify.attestations import attestation_checks  # noqa: PLC0415
    from multiarch_tasks.registry.entries import read_attestations  # noqa: PLC0415

    read = read_attestations(client, ref, found, statements=True)
    return attestation_checks(read, entries, sbom=settings.sbom, dockerfile=dockerfile)


def _ordered(
    checks: list[PlatformCheck], expected: tuple[Platform, ...]
) -> tuple[PlatformCheck, ...]:
    """Sort checks: expected platforms in their configured order, then the others."""
    order = {str(p): i for i, p in enumerate(expected)}
    return tuple(sorted(checks, key=lambda c: (order.get(c.platform, len(order)), c.platform)))


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
