"""``verify --attestations``: each platform's attestations describe that platform.

BuildKit files an attestation manifest per platform in the index (annotations
``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest``:
the platform manifest it describes); each of its layers is an in-toto statement whose
``subject`` names that manifest again, as a purl (``pkg:docker/REPO@TAG?platform=linux%2Farm64``)
and a digest. For each platform this checks that:

- an attestation manifest refers to its manifest digest, and its statements' subjects
  name that same digest (not another platform's: a hand-made merge can cross them);
- the statements claim that platform (the subject's ``platform`` qualifier) and, in a
  ``mode=max`` provenance, its build steps ran for it;
- the SLSA provenance (``https://slsa.dev/provenance/v0.2`` or ``/v1``) records the build's
  source (the Dockerfile, a context URI, a VCS revision when BuildKit knew one), the same
  for every platform and, from ``publish``, the Dockerfile this build used;
- provenance exists, and an SBOM (``https://spdx.dev/Document``) when one was asked for
  (``sbom``) or when another platform has one.

The provenance's own platform fields (v0.2 ``invocation.environment.platform``, v1
``internalParameters.builderPlatform``) are the *builder's* platform: an emulated arm64
build says ``linux/amd64`` there. They are not compared with the target.

Every problem is one line: the platform, what was claimed and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from multiarch_tasks.checks.verify.report import AttestationCheck
from multiarch_tasks.model.errors import InvalidPlatformError
from multiarch_tasks.model.oci import PROVENANCE_TYPES, SLSA_PROVENANCE_V1, predicate_kind
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.registry.entries import short

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from multiarch_tasks.registry.entries import Attestation, Entry

BUILDKIT_METADATA = "https://mobyproject.org/buildkit@v1#metadata"


@dataclass(frozen=True)
class Source:
    """What a provenance records about where the build came from."""

    file: str = ""
    uri: str = ""
    revision: str = ""

    def __str__(self) -> str:
        parts = [self.file or "no Dockerfile"]
        parts += [f"from {self.uri}"] if self.uri else []
        parts += [f"at {self.revision}"] if self.revision else []
        return " ".join(parts)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def provenance_source(predicate_type: str, predicate: Mapping[str, Any]) -> Source:
    """The Dockerfile, context URI and VCS revision a SLSA provenance (v0.2 or v1) records."""
    if predicate_type == SLSA_PROVENANCE_V1:
        config = _get(predicate, "buildDefinition", "externalParameters", "configSource") or {}
        meta = _get(predicate, "runDetails", "metadata", "buildkit_metadata") or {}
        file = config.get("path", "") if isinstance(config, dict) else ""
    else:
        config = _get(predicate, "invocation", "configSource") or {}
        meta = _get(predicate, "metadata", BUILDKIT_METADATA) or {}
        file = config.get("entryPoint", "") if isinstance(config, dict) else ""
    uri = config.get("uri", "") if isinstance(config, dict) else ""
    vcs = meta.get("vcs") if isinstance(meta, dict) else None
    revision = str(vcs.get("revision", "")) if isinstance(vcs, dict) else ""
    if not uri and isinstance(vcs, dict):
        uri = str(vcs.get("source", ""))
    return Source(str(file or ""), str(uri or ""), revision)


def subject_platform(name: str) -> Platform | None:
    """The ``platform`` qualifier of a subject's purl (``...?platform=linux%2Farm64``)."""
    found = parse_qs(urlsplit(name).query).get("platform")
    if not found:
        return None
    try:
        return Platform.parse(found[0])
    except InvalidPlatformError:
        return None


def step_platforms(predicate_type: str, predicate: Mapping[str, Any]) -> set[Platform]:
    """The platforms of the build steps a ``mode=max`` provenance lists (empty in min)."""
    where = ("buildDefinition", "internalParameters", "buildConfig", "llbDefinition")
    steps = _get(predicate, *where) if predicate_type == SLSA_PROVENANCE_V1 else None
    steps = steps or _get(predicate, "buildConfig", "llbDefinition") or []
    out = set()
    for step in steps if isinstance(steps, list) else []:
        plat = _get(step, "op", "platform")
        if isinstance(plat, dict) and plat.get("OS") and plat.get("Architecture"):
            oci = {"os": plat["OS"], "architecture": plat["Architecture"]}
            if plat.get("Variant"):
                oci["variant"] = plat["Variant"]
            try:
                out.add(Platform.from_oci(oci))
            except InvalidPlatformError:
                continue
    return out


def _subjects(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(purl, ``sha256:...``) of each subject of an in-toto statement."""
    out = []
    for subject in statement.get("subject") or []:
        if not isinstance(subject, dict):
            continue
        digests = subject.get("digest") or {}
        hexpart = digests.get("sha256", "") if isinstance(digests, dict) else ""
        out.append((str(subject.get("name", "")), f"sha256:{hexpart}" if hexpart else ""))
    return out


def attestation_checks(  # noqa: C901, PLR0912 - one pass, one row per finding
    attestations: Sequence[Attestation],
    entries: Sequence[Entry],
    *,
    sbom: bool = False,
    dockerfile: str = "",
) -> list[AttestationCheck]:
    """A check per attestation manifest, and a failed row per platform without one.

    ``sbom`` requires an SBOM per platform; ``dockerfile`` (publish: the file it built)
    is what every provenance must name as its source.
    """
    by_digest = {e.descriptor.digest: e.platform for e in entries}

    def where(digest: str) -> str:
        plat = by_digest.get(digest)
        return f"{short(digest)} ({plat})" if plat else f"{short(digest)} (not in the index)"

    checks: list[AttestationCheck] = []
    kinds_of: dict[Platform, set[str]] = {}
    sources: dict[Platform, Source] = {}
    for att in attestations:
        claimed = att.descriptor.attests
        named = {d for st in att.statements for _, d in _subjects(st) if d}
        # The platform the attestation is really about: what its statements name, when
        # that is an image of the index; else the one its index annotation names.
        about = next((by_digest[d] for d in named if d in by_digest), by_digest.get(claimed))
        label = str(about) if about else "attestation"
        problems = [f"{label}: {p}" for p in att.problems]
        if claimed not in by_digest:
            what = short(claimed) if claimed else "no image (no reference digest)"
            problems.append(
                f"attestation {short(att.descriptor.digest)} describes {what},"
                " which is not in the index"
            )
        elif about is not None and about != by_digest[claimed]:
            problems.append(
                f"{about}: attestation {short(att.descriptor.digest)} refers to {where(claimed)},"
                f" but its statements describe {where(next(iter(named)))}"
            )
        for statement in att.statements:
            ptype = str(statement.get("predicateType", ""))
            kind = predicate_kind(ptype)
            subjects = _subjects(statement)
            if about is not None:
                kinds_of.setdefault(about, set()).add(kind)
            if not subjects:
                problems.append(f"{label}: {kind} statement names no subject")
            for name, digest in subjects:
                if (
                    digest
                    and digest != claimed
                    and claimed in by_digest
                    and about == by_digest[claimed]
                ):
                    problems.append(
                        f"{label}: {kind} subject is {where(digest)},"
                        f" the index files it under {where(claimed)}"
                    )
                said = subject_platform(name)
                if about is not None and said is not None and said != about:
                    problems.append(
                        f"{about}: {kind} claims platform {said}, found as {about} in the index"
                    )
            predicate = statement.get("predicate")
            if ptype not in PROVENANCE_TYPES or not isinstance(predicate, dict) or about is None:
                continue
            ran = step_platforms(ptype, predicate)
            if ran and about not in ran:
                listed = ", ".join(sorted(str(p) for p in ran))
                problems.append(
                    f"{about}: provenance claims build steps for {listed}, none for {about}"
                )
            source = provenance_source(ptype, predicate)
            sources[about] = source
            if not (source.file or source.uri):
                problems.append(
                    f"{about}: provenance records no build source (no Dockerfile, no context)"
                )
            elif dockerfile and source.file and source.file != dockerfile:
                problems.append(
                    f"{about}: provenance claims Dockerfile {source.file}, this build's is"
                    f" {dockerfile}"
                )
        checks.append(
            AttestationCheck(
                att.descriptor.digest,
                claimed,
                str(by_digest.get(claimed, "")),
                tuple(dict.fromkeys(problems)),
                att.kinds,
            )
        )
    checks += _platform_rows(entries, kinds_of, sources, sbom=sbom)
    return checks


def _platform_rows(
    entries: Sequence[Entry],
    kinds_of: Mapping[Platform, set[str]],
    sources: Mapping[Platform, Source],
    *,
    sbom: bool,
) -> list[AttestationCheck]:
    """Failed rows for platforms missing an attestation kind, or whose source differs."""
    rows = []
    any_sbom = next((p for p, kinds in kinds_of.items() if "sbom" in kinds), None)
    counts: dict[Source, int] = {}
    for source in sources.values():
        counts[source] = counts.get(source, 0) + 1
    common = max(counts, key=lambda s: counts[s]) if counts else None
    for entry in entries:
        plat = entry.platform
        kinds = kinds_of.get(plat, set())
        problems = []
        if "provenance" not in kinds:
            problems.append(
                f"{plat}: no provenance attestation describes {short(entry.descriptor.digest)}"
            )
        if "sbom" not in kinds and (sbom or any_sbom is not None):
            why = "the build asked for one" if sbom else f"{any_sbom} has one"
            problems.append(f"{plat}: no SBOM attestation ({why})")
        mine = sources.get(plat)
        if mine is not None and common is not None and mine != common and counts[common] > 1:
            problems.append(
                f"{plat}: provenance claims source {mine}, the other platforms' is {common}"
            )
        if problems:
            rows.append(AttestationCheck("", entry.descriptor.digest, str(plat), tuple(problems)))
    return rows
