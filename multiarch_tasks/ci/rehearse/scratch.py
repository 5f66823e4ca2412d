"""Where a rehearsal publishes: a scratch repository, never the project's own tags (issue 20).

A rehearsed pipeline runs the project's real jobs, which publish the project's image with
its tags; run as written they would move ``0.1.0`` and ``latest``. The rehearsal sends
them to a scratch repository instead: ``--image`` as given, else the project's repository
with ``-rehearsal`` appended on ``--registry``, on the project's own registry when that is
a local one, on a local registry answering at ``127.0.0.1:5000``, or on the project's
registry. Jobs get it as ``INVOKE_MULTIARCH_IMAGE`` (above pyproject.toml and invoke.yaml),
and every literal mention of the project's image in the pipeline (buildah and kaniko
jobs name it in their scripts, and their layer cache ``IMAGE/buildcache`` under it; a
``--image`` argument) is rewritten to it, as is the registry the login steps name.
Afterwards the tags the run made there, other than the final ones, are removed where the
registry allows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from multiarch_tasks.ci.rehearse.steps import RehearsalError
from multiarch_tasks.config.files import project_config_file
from multiarch_tasks.config.settings import Settings, settings_from
from multiarch_tasks.config.sources import INVOKE_SECTION
from multiarch_tasks.model.errors import MultiarchError, RegistryError
from multiarch_tasks.model.layoutref import is_layout
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from multiarch_tasks.steps.manifest.compose import remove_staging

# Where `docker run -p 5000:5000 registry` listens; used when it answers.
LOCAL_REGISTRY = "127.0.0.1:5000"
SUFFIX = "-rehearsal"
# ci-template's header line: "# Settings when generated: image=... tags=a,b platforms=..."
_GENERATED = re.compile(
    r"^# Settings when generated:.*?\bimage=(\S*)(?:.*?\btags=(\S*))?", re.MULTILINE
)
# An image name stands alone in a script: after a quote, space, =, a transport's "//"
# (buildah's docker://) or line start, and before a tag, digest, quote, space, line end or
# a "/" of a repository under it (kaniko's and buildah's IMAGE/buildcache layer cache: the
# project's namespace, so the scratch's too); never inside a longer name (app vs apple).
_BEFORE = r"(?:(?<=//)|(?<![\w./-]))"
_AFTER = r"(?![\w.-])"


@dataclass(frozen=True)
class Scratch:
    """The project's image and the scratch repository a rehearsal publishes to instead."""

    real: ImageRef
    image: ImageRef
    # The project's image as the pipeline text spells it (the settings comment, pyproject).
    spellings: tuple[str, ...] = ()
    # The project's configured tags: the final tags, kept in the scratch repository.
    tags: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        """What each job's environment gets: the scratch image, above every config file."""
        return {"INVOKE_MULTIARCH_IMAGE": self.image.name}

    def redirect(self, text: str) -> str:
        """The pipeline text with the project's image, and its login registry, replaced."""
        for name in sorted({*self.spellings, self.real.name}, key=len, reverse=True):
            if "/" in name:  # a bare Docker Hub name ("app") is too common a word to replace
                text = re.sub(_BEFORE + re.escape(name) + _AFTER, self.image.name, text)
        if self.image.registry != self.real.registry:
            # Left after the names: the registry the login steps name on its own.
            host = re.escape(self.real.registry)
            text = re.sub(rf"(?<![\w./:-]){host}(?![\w./:-])", self.image.registry, text)
        return text

    def line(self) -> str:
        """The first thing a rehearsal says."""
        return (
            f"rehearse: publishing to the scratch repository {self.image.name}, not"
            f" {self.real.name} (--image/--registry choose another); its own tags there"
            " other than the final ones are removed afterwards"
        )


def _generated(text: str) -> tuple[str, tuple[str, ...]]:
    found = _GENERATED.search(text)
    if not found:
        return "", ()
    return found.group(1), tuple(t for t in (found.group(2) or "").split(",") if t)


def scratch_for(
    text: str,
    project: Path,
    *,
    project_image: str = "",
    image: str | None = None,
    registry: str | None = None,
    local_running: bool | None = None,
) -> Scratch:
    """Decide the scratch repository for the pipeline ``text`` of ``project``.

    ``project_image``: the project's image when the caller resolved it (the task's
    settings); else its pyproject.toml's or invoke.yaml's, else the one ci-template wrote
    into the file's settings comment.
    ``local_running``: whether a registry answers at :data:`LOCAL_REGISTRY` (None: ask).
    """
    written, written_tags = _generated(text)
    configured = _project_settings(project)
    name = project_image or (configured.image if configured else "") or written
    if not name:
        raise RehearsalError(
            "cannot tell the project's image (none in pyproject.toml, invoke.yaml or the"
            " pipeline's settings comment), so not which tags to keep away from: pass"
            " --image SCRATCH_REPOSITORY"
        )
    real = _repository(name, "the project's image")
    if image:
        chosen = _repository(image, "--image")
    else:
        path = real.repository.removeprefix("library/") + SUFFIX
        if registry:
            host = registry
        elif real.is_loopback:
            host = real.registry
        elif local_running if local_running is not None else local_registry_running():
            host = LOCAL_REGISTRY
        else:
            host = real.registry
        chosen = ImageRef(host.rstrip("/"), path, "", "")
    if chosen.name == real.name:
        raise RehearsalError(
            f"--image {image}: that is the project's own repository; a rehearsal publishes"
            " to a scratch one (e.g. IMAGE-rehearsal)"
        )
    tags = configured.tags if configured and configured.sources.get("tags") else written_tags
    spellings = tuple(s for s in (project_image, configured and configured.image, written) if s)
    return Scratch(real, chosen, spellings, tuple(tags))


def _project_settings(project: Path) -> Settings | None:
    """The settings the jobs read in ``project``: pyproject.toml, then its invoke file."""
    pyproject = project / "pyproject.toml"
    invoke_file = project_config_file(project)
    section: Any = None
    if invoke_file is not None and invoke_file.suffix != ".py":
        try:
            section = (yaml.safe_load(invoke_file.read_text()) or {}).get(INVOKE_SECTION)
        except (OSError, yaml.YAMLError, AttributeError) as err:
            raise RehearsalError(f"cannot read {invoke_file}: {err}") from err
    if not pyproject.is_file() and not isinstance(section, dict):
        return None
    return settings_from(section if isinstance(section, dict) else None, pyproject=pyproject)


def _repository(text: str, what: str) -> ImageRef:
    try:
        ref = ImageRef.parse(text, default_tag="")
    except MultiarchError as err:
        raise RehearsalError(f"{what} {text!r} is not an image repository: {err}") from err
    if ref.tag or ref.digest:
        raise RehearsalError(f"{what} {text!r} must name a repository, without tag or digest")
    return ref


def local_registry_running() -> bool:
    """True when a registry answers at :data:`LOCAL_REGISTRY` (one quick try)."""
    client = RegistryClient(retries=0, timeout=2)
    try:
        client.list_tags(ImageRef(LOCAL_REGISTRY, "multiarch/probe", "", ""))
    except RegistryError:
        return False
    return True


def snapshot(client: RegistryClient, image: ImageRef) -> dict[str, str]:
    """Every tag of the scratch repository and the digest it points at, before the run."""
    tags = client.list_tags(image)
    heads = client.map(lambda t: client.head_manifest(image.with_tag(t)), tags)
    return {t: h.digest for t, h in zip(tags, heads, strict=True) if h is not None}


def final_tags(work: Path, image: ImageRef, configured: Iterable[str]) -> set[str]:
    """The run's final tags: the configured ones and what each merge job reported."""
    keep = set(configured)
    for path in work.glob("jobs/*/workspace/merge.json"):
        try:
            tags = json.loads(path.read_text()).get("tags") or []
        except (OSError, ValueError, AttributeError):
            continue  # a merge that failed wrote no result; the configured tags still hold
        for text in tags:
            if is_layout(str(text)):
                continue  # a fork's merge wrote a layout on disk, no registry tag
            ref = ImageRef.parse(str(text))
            if ref.name == image.name and ref.tag:
                keep.add(ref.tag)
    return keep


def clean(
    client: RegistryClient, image: ImageRef, before: Mapping[str, str], keep: Iterable[str]
) -> str:
    """Remove the tags the run made in ``image`` other than ``keep``; a line on the outcome.

    A tag is the run's when it is new or points elsewhere than before. Removal is the OCI
    tag delete (:func:`~multiarch_tasks.steps.manifest.compose.remove_staging`); a
    registry that refuses it (Distribution 2.8: 400, or 405 without deletes) keeps them,
    and the line names them: that is not a failure of the rehearsal.
    """
    kept = set(keep)
    now = snapshot(client, image)
    made = sorted(t for t, d in now.items() if t not in kept and before.get(t) != d)
    if not made:
        return f"rehearse: no staging tags left in {image.name}"
    left = remove_staging(client, [str(image.with_tag(t)) for t in made])
    return (
        f"rehearse: {left}"
        if left
        else f"rehearse: removed {len(made)} staging tag(s) from {image.name}"
    )
