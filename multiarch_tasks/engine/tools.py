"""Which tools are here, which versions, and what that means for behaviour.

Versions are read with ``packaging`` so behaviour can be picked (and the log can say why):
buildx >= 0.10 attaches provenance attestations by default, turning each per-arch push into
an index; ``imagetools create --annotation`` needs buildx >= 0.12.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Runner, which
from multiarch_tasks.model.errors import ToolMissingError

BUILDX_ATTESTS_BY_DEFAULT = Version("0.10")
BUILDX_IMAGETOOLS_ANNOTATIONS = Version("0.12")
_VERSION = re.compile(r"v?(\d+(?:\.\d+){1,3})")


def parse_version(text: str) -> Version | None:
    """The first ``X.Y[.Z]`` in ``text`` (``github.com/docker/buildx v0.13.1 abc``)."""
    match = _VERSION.search(text)
    if not match:
        return None
    try:
        return Version(match.group(1))
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class BuildxInfo:
    """The buildx plugin's version and what it implies."""

    version: Version | None

    @property
    def attests_by_default(self) -> bool:
        """True when plain ``--push`` builds attach provenance (a per-arch tag is an index)."""
        return self.version is None or self.version >= BUILDX_ATTESTS_BY_DEFAULT

    @property
    def imagetools_annotations(self) -> bool:
        """True when ``imagetools create --annotation index:K=V`` is understood."""
        return self.version is not None and self.version >= BUILDX_IMAGETOOLS_ANNOTATIONS


def buildx_info(runner: Runner) -> BuildxInfo:
    """Read the buildx version; fail when buildx is not installed."""
    if which("docker") is None:
        raise ToolMissingError("docker is not installed (no `docker` on PATH)")
    result = runner.run(commands.buildx_version(), probe=True, memo=True, check=False, timeout=60)
    if not result.ok:
        raise ToolMissingError("docker buildx is not installed (`docker buildx version` failed)")
    return BuildxInfo(parse_version(result.stdout.split(" ", 1)[-1]))


def has_buildx(runner: Runner) -> bool:
    """True when ``docker buildx`` answers."""
    if which("docker") is None:
        return False
    return runner.run(commands.buildx_version(), probe=True, memo=True, check=False, timeout=60).ok
