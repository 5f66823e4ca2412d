"""Prove that every platform of a published image is what its index claims (and show it).

``verify`` reads the index over the registry API and checks, per platform: that it is
there (no missing, no unexpected ones), that its config names the same os/architecture/
variant as the index does, that no two platforms share one manifest, and optionally
(``deep``) that the ELF programs in its layers are built for it and (``run``) that it
starts. Attestation manifests are listed apart; one pointing at nothing is a problem.
``inspect`` shows an index as a table, or one platform's config.

Independent requests (every platform's manifest, every config, every tag) go out at
once through :meth:`~multiarch_tasks.registry.RegistryClient.map`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from multiarch_tasks.elf import ScanResult, scan_image
from multiarch_tasks.errors import InvalidPlatformError, InvalidValueError, RegistryError
from multiarch_tasks.oci import Descriptor, Document
from multiarch_tasks.platforms import Platform
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.registry import RegistryClient

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from multiarch_tasks.runner import Result, Runner
    from multiarch_tasks.settings import Settings

T = TypeVar("T")
R = TypeVar("R")
EXEC_FORMAT_ERROR = "exec format error"


def short(digest: str) -> str:
    """``sha256:0123456789ab`` (12 hex digits) for tables."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]


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
        return {
            "ok": self.ok,
            "ref": self.ref,
            "digest": self.digest,
            "platforms": [p.to_json() for p in self.platforms],
            "attestations": [a.to_json() for a in self.attestations],
            "problems": list(self.problems),
        }

    def render(self) -> str:
        """Return a plain-text table of platforms, then attestations and problems."""
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"verify {self.ref} ({short(self.digest)}): {verdict}"]
        rows = [
            (c.platform, short(c.digest) or "-", "ok" if c.ok else "FAIL", "; ".join(c.notes))
            for c in self.platforms
        ]
        if rows:
            lines += _table(("PLATFORM", "DIGEST", "RESULT", "NOTES"), rows)
        if self.attestations:
            lines.append("attestations:")
            lines += [
                f"  {short(a.digest)} -> {a.platform or short(a.attests) or '?'}"
                f"{'' if a.ok else '  FAIL'}"
                for a in self.attestations
            ]
        problems = self.all_problems
        if problems:
            lines.append("problems:")
            lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)


# --- verify --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One platform image of the index, with what was read about it."""

    platform: Platform
    descriptor: Descriptor
    manifest: Document | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _attempt(func: Callable[[T], R]) -> Callable[[T], R | RegistryError]:
    """Wrap ``func`` so a registry error becomes a value (reported per platform)."""

    def call(item: T) -> R | RegistryError:
        try:
            return func(item)
        except RegistryError as err:
            return err

    return call


def _read_entries(client: RegistryClient, ref: ImageRef, images: list[Descriptor]) -> list[_Entry]:
    """Fetch every platform's manifest, then every config, concurrently."""
    manifests = client.map(
        _attempt(lambda d: client.get_manifest(ref.with_digest(d.digest))), images
    )
    entries: list[_Entry] = []
    for desc, got in zip(images, manifests, strict=True):
        plat = desc.platform or Platform("unknown", "unknown")
        if isinstance(got, RegistryError):
            entries.append(_Entry(plat, desc, problems=(f"{plat}: manifest unreadable: {got}",)))
        elif got.is_index:
            problem = f"{plat}: points at another index, not at an image manifest"
            entries.append(_Entry(plat, desc, problems=(problem,)))
        else:
            entries.append(_Entry(plat, desc, manifest=got))

    def read_config(entry: _Entry) -> _Entry:
        if entry.manifest is None:
            return entry
        config = entry.manifest.config
        try:
            raw = client.get_blob(ref, config.digest)
        except RegistryError as err:
            return _Entry(
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
            return _Entry(entry.platform, entry.descriptor, entry.manifest, problems=(problem,))
        return _Entry(entry.platform, entry.descriptor, entry.manifest, data)

    return client.map(read_config, entries)


def config_platform(config: Mapping[str, Any]) -> tuple[Platform | None, str]:
    """Return the platform a config names, and its raw ``os/architecture[/variant]`` text."""
    parts = [str(config.get(k) or "") for k in ("os", "architecture", "variant")]
    raw = "/".join(p for p in parts if p)
    try:
        return Platform.from_oci(dict(config)), raw
    except InvalidPlatformError:
        return None, raw


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
    entries: list[_Entry], expected: tuple[Platform, ...]
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


def _duplicate_problems(entries: list[_Entry]) -> dict[Platform, list[str]]:
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
    attestations: list[Descriptor], entries: list[_Entry]
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
    client: RegistryClient, ref: ImageRef, entries: list[_Entry]
) -> dict[Platform, tuple[list[str], str]]:
    """Scan every platform's layers; (problems, note) per platform."""
    todo = [e for e in entries if e.manifest is not None]

    def scan(entry: _Entry) -> ScanResult | RegistryError:
        layers = entry.manifest.layers if entry.manifest is not None else []
        try:
            return scan_image(client, ref, layers)
        except RegistryError as err:
            return err

    results = client.map(scan, todo)
    out: dict[Platform, tuple[list[str], str]] = {}
    for entry, result in zip(todo, results, strict=True):
        plat = entry.platform
        if isinstance(result, RegistryError):
            out[plat] = ([f"{plat}: cannot read layers: {result}"], "")
            continue
        foreign = [f"{plat}: {line}" for line in result.foreign(plat)]
        note = f"{len(result.programs)} ELF programs checked"
        out[plat] = (foreign, note)
    return out


def _run_problems(
    settings: Settings, runner: Runner, ref: ImageRef, digest: str, plats: list[Platform]
) -> dict[Platform, tuple[list[str], str]]:
    """Run each platform's image with ``settings.verify_run``; (problems, note) each."""
    pinned = f"{ref.name}@{digest}"

    def run(plat: Platform) -> Result:
        argv = ["docker", "run", "--rm", "--platform", str(plat), pinned, *settings.verify_run]
        return runner.run(argv, check=False, label=f"verify --run {plat}")

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
) -> VerifyReport:
    """Check that ``ref`` holds exactly ``settings.platforms``, each being what it claims."""
    if run and not settings.verify_run:
        raise InvalidValueError(
            "--run needs a command to run in each image: set verify_run, e.g."
            ' verify_run = ["/bin/sh", "-c", "true"] under [tool.multiarch-tasks]'
        )
    client = client or RegistryClient.from_settings(settings)
    doc = client.get_manifest(ref)
    if doc.is_index:
        images, attestations = doc.images, doc.attestations
        entries = _read_entries(client, ref, images)
    elif allow_single:
        attestations = []
        entries = _read_entries(client, ref, [doc.descriptor()])
        entries = [_single_platform(e) for e in entries]
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
    if deep:
        found.append(_deep_problems(client, ref, entries))
    if run:
        plats = [e.platform for e in entries if e.manifest is not None]
        found.append(_run_problems(settings, runner, ref, doc.digest, plats))
    for results in found:
        for plat, (problems, note) in results.items():
            per[plat] += problems
            notes[plat] += [note] if note else []
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
    )


def _config_problems(entries: list[_Entry]) -> dict[Platform, tuple[list[str], str]]:
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


def _single_platform(entry: _Entry) -> _Entry:
    """Give a lone manifest (no index descriptor) the platform its config names."""
    found, _ = config_platform(entry.config)
    plat = found or Platform("unknown", "unknown")
    desc = Descriptor(
        entry.descriptor.media_type, entry.descriptor.digest, entry.descriptor.size, plat
    )
    return _Entry(plat, desc, entry.manifest, entry.config, entry.problems)


# --- inspect -------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectRow:
    """One line of ``inspect``: a platform image and its attestation, if any."""

    platform: str
    digest: str
    size: int
    created: str
    attestation: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON object."""
        return {
            "platform": self.platform,
            "digest": self.digest,
            "size": self.size,
            "created": self.created,
            "attestation": self.attestation,
        }


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
        """Always True: inspect reports, it does not judge."""
        return True

    def to_json(self) -> dict[str, Any]:
        """Return the raw index/manifest, or the config summary with ``--platform``."""
        if self.config is not None:
            return self.config.to_json()
        return dict(self.document)

    def render(self) -> str:
        """Return the rows as a table (or the config summary)."""
        head = f"{self.ref}  {self.digest}  {self.media_type}"
        if self.config is not None:
            return f"{head}\n{self.config.render()}"
        rows = [
            (
                r.platform,
                short(r.digest),
                _human(r.size),
                r.created or "-",
                short(r.attestation) or "-",
            )
            for r in self.rows
        ]
        table = _table(("PLATFORM", "DIGEST", "SIZE", "CREATED", "ATTESTATION"), rows)
        return "\n".join([head, *table])


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":  # noqa: PLR2004
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - loop always returns


def _image_size(entry: _Entry) -> int:
    if entry.manifest is None:
        return 0
    return sum(layer.size for layer in entry.manifest.layers)


def _summary(entry: _Entry) -> ConfigSummary:
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
    client: RegistryClient | None = None,
) -> InspectResult:
    """Describe ``ref``: one row per platform image, or ``platform``'s config summary."""
    wanted = Platform.parse(platform) if platform else None
    client = client or RegistryClient.from_settings(settings)
    doc = client.get_manifest(ref)
    if doc.is_index:
        images = doc.images
        if wanted is not None:
            images = [d for d in images if d.platform == wanted]
            if not images:
                have = ", ".join(str(d.platform) for d in doc.images) or "no platforms"
                raise InvalidValueError(f"{ref} has no {wanted} image (it has: {have})")
        entries = _read_entries(client, ref, images)
    else:
        entries = [_single_platform(e) for e in _read_entries(client, ref, [doc.descriptor()])]
        if wanted is not None and entries[0].platform != wanted:
            raise InvalidValueError(f"{ref} is a single {entries[0].platform} image, not {wanted}")
    if wanted is not None:
        return InspectResult(
            str(ref), doc.digest, doc.media_type, doc.data, config=_summary(entries[0])
        )
    attests = {a.attests: a.digest for a in doc.attestations}
    rows = [
        InspectRow(
            str(e.platform),
            e.descriptor.digest,
            _image_size(e),
            str(e.config.get("created") or ""),
            attests.get(e.descriptor.digest, ""),
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
