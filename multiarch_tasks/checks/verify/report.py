"""What verify found: a check per platform and per attestation, and the index-level problems.

:class:`VerifyReport` renders as a plain-text table and as the ``verify --json`` document
(see docs/verify.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multiarch_tasks.registry.entries import short, table


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
    # verify --attestations: what its statements are (provenance, sbom), read from the
    # manifest; a platform without any attestation gets a row with digest "".
    kinds: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the attestation points at an image of the index."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """Return ``{"digest", "attests", "platform", "ok", "problems"}`` (+ ``kinds``)."""
        out: dict[str, Any] = {
            "digest": self.digest,
            "attests": self.attests,
            "platform": self.platform,
            "ok": self.ok,
            "problems": list(self.problems),
        }
        if self.kinds:
            out["kinds"] = list(self.kinds)
        return out


@dataclass(frozen=True)
class SignatureCheck:
    """One digest ``verify --signed-by`` required a signature on (``what``: index or platform)."""

    what: str
    digest: str
    signer: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when cosign verified a signature by ``signer`` on ``digest``."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """Return ``{"what", "digest", "signer", "ok", "problems"}``."""
        return {
            "what": self.what,
            "digest": self.digest,
            "signer": self.signer,
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
    # verify --signed-by: one row per digest a signature was required on
    signatures: tuple[SignatureCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing anywhere is wrong."""
        return (
            not self.problems
            and all(p.ok for p in self.platforms)
            and all(a.ok for a in self.attestations)
            and all(s.ok for s in self.signatures)
        )

    @property
    def all_problems(self) -> list[str]:
        """Every problem, index-level first."""
        out = list(self.problems)
        out += [p for check in self.platforms for p in check.problems]
        out += [p for check in self.attestations for p in check.problems]
        out += [p for check in self.signatures for p in check.problems]
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
        if self.signatures:
            out["signatures"] = [s.to_json() for s in self.signatures]
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
                f"  {short(a.digest) or '(none)'} -> {a.platform or short(a.attests) or '?'}"
                f"{'  ' + ', '.join(a.kinds) if a.kinds else ''}"
                f"{'' if a.ok else '  FAIL'}"
                for a in self.attestations
            ]
        if self.signatures:
            lines.append("signatures:")
            lines += [
                f"  {s.what} {short(s.digest)}: {'signed by ' + s.signer if s.ok else 'FAIL'}"
                for s in self.signatures
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
