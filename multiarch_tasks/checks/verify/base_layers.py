"""Which layers of each platform's image the base image put there (publish's default scan).

``verify_deep = "auto"`` (publish's default) reads the ELF programs of the layers the
build added only: the base image's layers were matched to each platform by preflight, and
they hold most of an image's programs (busybox, a distribution's /usr/bin), so skipping
them makes the default cheap. The final stage's base layers are a prefix of the image's
layers; :func:`base_layers` reads, per platform, the layers of the base's manifest for it,
and :func:`build_layers` keeps what follows that prefix.

Every layer is read instead when the base's layers cannot be told apart: the final stage
(or a stage it is built ``FROM``) runs on a ``--platform`` other than the target (its base
was never matched to the target), the Dockerfile or the base cannot be read, or the image's
layers do not start with the base's. A stage ``FROM scratch``: every layer is the build's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import DockerfileError, InvalidReferenceError, RegistryError
from multiarch_tasks.model.platforms import compatible
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.bases import ManifestReader


@dataclass(frozen=True)
class BaseLayers:
    """Each platform's base layer digests (bottom first), or why every layer is read.

    ``base`` is the image the final stage is built on ("" for ``scratch``); a platform
    missing from ``layers`` has its every layer read, ``why`` says why (one reason for all).
    """

    base: str = ""
    layers: Mapping[Platform, tuple[str, ...]] = field(default_factory=dict)
    why: str = ""


def final_base(settings: Settings) -> tuple[str, str]:
    """(image the target stage is built on, "" for scratch; why it is unknown, or "")."""
    try:
        parsed = dockerfile.parse_file(settings.dockerfile, settings.build_args)
        stage = parsed.stage_named(settings.target) if settings.target else parsed.final
    except DockerfileError as err:
        return "", f"cannot read the Dockerfile ({err})"
    if stage is None:
        return "", f"no stage {settings.target!r}"
    chain = parsed.origin(stage)
    if any(s.platform_mode != dockerfile.TARGET for s in chain):
        # e.g. FROM --platform=$BUILDPLATFORM: its base is the build host's, never matched.
        return "", f"{chain[-1].label} is built for a --platform other than the target"
    return chain[-1].image or "", ""


def base_layers(
    settings: Settings, client: ManifestReader, platforms: Iterable[Platform]
) -> BaseLayers:
    """Read the final stage's base manifest for each of ``platforms``: its layers."""
    image, why = final_base(settings)
    if why:
        return BaseLayers(why=why)
    plats = tuple(platforms)
    if not image:
        return BaseLayers("", dict.fromkeys(plats, ()))
    try:
        ref = ImageRef.parse(image)
        doc = client.get_manifest(ref)
    except (InvalidReferenceError, RegistryError) as err:
        return BaseLayers(image, why=f"cannot read base {image} ({err})")
    if not doc.is_index:
        # A single-platform base: preflight matched its config to every target.
        return BaseLayers(image, dict.fromkeys(plats, _digests(doc.layers)))
    chosen = {p: d for p in plats if (d := _pick(p, doc.images)) is not None}

    def read(item: tuple[Platform, Descriptor]) -> tuple[str, ...] | RegistryError:
        try:
            return _digests(client.get_manifest(ref.with_digest(item[1].digest)).layers)
        except RegistryError as err:
            return err

    found = client.map(read, list(chosen.items()))
    layers = {p: r for p, r in zip(chosen, found, strict=True) if not isinstance(r, BaseException)}
    return BaseLayers(image, layers)


def build_layers(
    platform: Platform, layers: Sequence[Descriptor], base: BaseLayers | None
) -> tuple[Sequence[Descriptor], str]:
    """(the layers to read for ``platform``, a note on which); every layer without ``base``."""
    if base is None:
        return layers, ""
    prefix = base.layers.get(platform)
    if prefix is None:
        return layers, f"every layer read: {base.why or f'no {platform} in {base.base}'}"
    if _digests(layers[: len(prefix)]) != prefix:
        return layers, f"every layer read: its layers do not start with those of {base.base}"
    return layers[len(prefix) :], f"in the {len(layers) - len(prefix)} layer(s) this build added"


def _pick(platform: Platform, images: Sequence[Descriptor]) -> Descriptor | None:
    """The base index entry a build for ``platform`` pulls: the exact one, else compatible."""
    offered = [d for d in images if d.platform is not None]
    exact = [d for d in offered if d.platform == platform]
    usable = exact or [d for d in offered if d.platform and compatible(platform, d.platform)]
    return usable[0] if usable else None


def _digests(layers: Sequence[Descriptor]) -> tuple[str, ...]:
    return tuple(d.digest for d in layers)
