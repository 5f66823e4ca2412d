"""Zero-config publish: the image, tags and platforms a checkout implies (issue 12).

``multiarch publish --registry REGISTRY`` in a repository with a Dockerfile and an
``origin`` remote needs nothing else:

- **image**: ``REGISTRY/<path of the origin URL>``, without ``.git``, lower-cased
  (``git@github.com:Acme/App.git`` -> ``REGISTRY/acme/app``);
- **tags**: the ``tag_rules`` setting, else :mod:`multiarch_tasks.planning.gittags`' default rules
  (the branch, the tag or ``pr-N``); when those give nothing (a detached HEAD),
  ``sha-<short>``;
- **platforms**: the requested set (the ``platforms`` setting) kept to what every base
  image of the Dockerfile offers, as preflight reads and matches them. Unlike the other
  two, this is applied to a set the user gave too: a platform no base offers could only
  fail the build.

"Did the user set it" is kept simple: the image is inferred when it is ``""``, the tags
when they equal :class:`Settings`' default; a value configured to exactly the default
(``tags: [latest]``) is taken as not set. Everything here only reads (git probes, registry
GETs), so it also runs under ``--dry``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from multiarch_tasks.config import tagrules
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import InvalidReferenceError, InvalidValueError, RegistryError
from multiarch_tasks.model.platforms import compatible
from multiarch_tasks.model.reference import ImageRef, scrub_url
from multiarch_tasks.planning import gittags
from multiarch_tasks.registry.bases import quick_client, read_platforms

if TYPE_CHECKING:
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.bases import ManifestReader

_DEFAULTS = Settings()


@dataclass(frozen=True)
class Inferred:
    """The settings with what was inferred filled in, and a line explaining each value."""

    settings: Settings
    lines: tuple[str, ...]

    def render(self) -> str:
        """The ``inferred: ...`` block, one line per inferred value."""
        return "\n".join(self.lines)


def repo_path(url: str) -> str:
    """The ``owner/repo`` path of a git remote URL: https, ssh, git or scp-like forms.

    ``.git`` and surrounding slashes go and the path is lower-cased; a local path or
    ``file://`` URL has no owner to name and is refused.
    """
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme == "file" or not parts.hostname:
            raise InvalidValueError(f"origin remote {scrub_url(text)!r} is a local path")
        path = parts.path
    else:
        host, sep, path = text.partition(":")
        # scp-like `[user@]host:path`; a `/` before the colon means a local path (git's rule).
        if not sep or "/" in host or not host:
            raise InvalidValueError(f"origin remote {text!r} is a local path")
    path = path.strip("/").lower().removesuffix(".git").strip("/")
    if not path:
        raise InvalidValueError(f"origin remote {scrub_url(text)!r} has no repository path")
    return path


def image_from_remote(url: str, registry: str) -> str:
    """``REGISTRY/owner/repo`` for the remote ``url``; an error when it is no valid image."""
    host = registry.strip().rstrip("/")
    image = f"{host}/{repo_path(url)}"
    where = f"--registry {registry!r} and origin remote {scrub_url(url)!r}"
    try:
        ref = ImageRef.parse(image, default_tag="")
    except InvalidReferenceError as err:
        raise InvalidValueError(f"{where} give no valid image name: {err}") from err
    if not image.startswith(f"{ref.registry}/"):
        raise InvalidValueError(
            f"--registry {registry!r} is not a registry host (it would mean Docker Hub's"
            f" {ref}): give a host with a domain or port, e.g. ghcr.io or 127.0.0.1:5000"
        )
    return image


def _origin_url(runner: Runner, cwd: str) -> str:
    result = runner.run(
        ["git", "-C", cwd, "config", "--get", "remote.origin.url"],
        probe=True,
        memo=True,
        check=False,
        timeout=30,
    )
    return result.stdout.strip() if result.ok else ""


def infer_image(settings: Settings, runner: Runner, registry: str) -> tuple[str, str]:
    """(image, explanation) from the ``origin`` remote of the context's checkout."""
    cwd = settings.context or "."
    url = _origin_url(runner, cwd)
    if not url:
        raise InvalidValueError(
            f"no image: {cwd} has no git remote 'origin' to infer it from; pass --image"
            f" REGISTRY/REPO or add an origin remote (git remote add origin URL)"
        )
    image = image_from_remote(url, registry)
    return image, f"inferred: image {image} (from origin {scrub_url(url)})"


def infer_tags(settings: Settings, runner: Runner) -> tuple[tuple[str, ...], str]:
    """(tags, explanation) from git or the CI's variables; ``sha-<short>`` as the last resort."""
    cwd = settings.context or "."
    state = gittags.read_state(runner, cwd)
    rules = tagrules.parse_rules(settings.tag_rules or None)
    tags = gittags.compute_tags(rules, state)
    source = state.source.split(" in ", 1)[0]
    if tags:
        what = {"tag": state.tag, "pr": state.pr, "branch": state.branch}[state.event]
        return tuple(
            tags
        ), f"inferred: tags {', '.join(tags)} (from {source}: {state.event} {what})"
    if not state.sha:
        raise InvalidValueError(
            f"no tag: {cwd} has no commit to tag the image with; pass --tag or commit first"
        )
    tag = f"sha-{state.sha[: gittags.SHORT_SHA]}"
    return (tag,), f"inferred: tags {tag} (from {source}: sha, {state.event} HEAD)"


def _bases(settings: Settings) -> list[ImageRef]:
    """The images the target-platform stages pull (a ``$BUILDPLATFORM`` stage's do not count)."""
    parsed = dockerfile.parse_file(settings.dockerfile, settings.build_args)
    stages = [s for s in parsed.reachable(settings.target) if s.platform_mode == dockerfile.TARGET]
    indexes = {s.index for s in stages}
    texts = [s.image for s in stages if s.image]
    texts += [u.image for u in parsed.uses if u.stage in indexes]
    refs: list[ImageRef] = []
    for text in texts:
        try:
            ref = ImageRef.parse(text)
        except InvalidReferenceError:
            continue  # preflight names the line and the missing ARG
        if ref not in refs:
            refs.append(ref)
    return refs


def _names(platforms: tuple[Platform, ...] | list[Platform]) -> str:
    return ",".join(map(str, platforms))


def infer_platforms(settings: Settings, client: ManifestReader) -> tuple[tuple[Platform, ...], str]:
    """(platforms, explanation): the requested ones every base image offers."""
    requested = settings.platforms
    refs = _bases(settings)
    offered: dict[ImageRef, tuple[Platform, ...]] = {}
    unread: list[str] = []

    def read(ref: ImageRef) -> tuple[Platform, ...] | RegistryError:
        try:
            return read_platforms(client, ref)[1]
        except RegistryError as err:
            return err

    for ref, found in zip(refs, client.map(read, refs) if refs else [], strict=True):
        if isinstance(found, RegistryError):
            unread.append(f"base {ref} not read ({found}): preflight will check it")
        else:
            offered[ref] = found
    kept: list[Platform] = []
    dropped: list[str] = []
    for platform in requested:
        lacking = next(
            (
                ref
                for ref, have in offered.items()
                if not any(compatible(platform, a) for a in have)
            ),
            None,
        )
        if lacking is None:
            kept.append(platform)
        else:
            dropped.append(
                f"{platform} dropped: base {lacking} has only {_names(offered[lacking])}"
            )
    if not kept:
        raise InvalidValueError(
            f"no platform left: {'; '.join(dropped)}; pass --platforms with ones every base"
            f" offers, or mirror a base with more platforms (multiarch mirror SRC DEST)"
        )
    why = "; ".join(dropped + unread) or (
        f"every base offers them: {', '.join(map(str, offered))}" if offered else "no base image"
    )
    return tuple(kept), f"inferred: platforms {_names(kept)} ({why})"


def infer(
    settings: Settings,
    runner: Runner,
    *,
    registry: str,
    client: ManifestReader | None = None,
) -> Inferred:
    """Fill in the image, tags and platforms the user did not set; see the module docstring.

    ``client`` reads the base images' indexes (default: the registry client preflight uses).
    Raises a one-line :class:`InvalidValueError` when the image or the platforms cannot be
    inferred.
    """
    lines: list[str] = []
    image, tags = settings.image, settings.tags
    if not image:
        image, line = infer_image(settings, runner, registry)
        lines.append(line)
    if tags == _DEFAULTS.tags:
        tags, line = infer_tags(settings, runner)
        lines.append(line)
    reader = client if client is not None else quick_client(settings)
    platforms, line = infer_platforms(settings, reader)
    lines.append(line)
    return Inferred(replace(settings, image=image, tags=tags, platforms=platforms), tuple(lines))
