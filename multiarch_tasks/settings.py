"""One frozen ``Settings`` object per task, resolved once from layered config.

Layers, lowest to highest: built-in defaults < ``[tool.multiarch-tasks]`` in
pyproject.toml < invoke config under ``multiarch`` (invoke.yaml, ``Collection.configure``,
``INVOKE_MULTIARCH_*``) < task flags. The key name is the same at every layer; list values
also accept docker's comma form (invoke's env vars cannot carry lists). An unknown key or
a bad value is a :class:`~multiarch_tasks.errors.ConfigError` naming the key and its layer.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from multiarch_tasks.errors import ConfigError, InvalidValueError, MultiarchError
from multiarch_tasks.platforms import Platform, parse_platforms
from multiarch_tasks.reference import ImageRef

PYPROJECT_TABLE = "tool.multiarch-tasks"
# Pinned: binfmt's `latest` has shipped segfaulting QEMU builds more than once.
DEFAULT_BINFMT_IMAGE = "tonistiigi/binfmt:qemu-v8.1.5"

CHOICES: dict[str, tuple[str, ...]] = {
    "strategy": ("auto", "per-arch", "multi-platform"),
    "backend": ("buildx", "buildah"),
    "manifest_tool": ("auto", "imagetools", "docker", "native"),
    "attestations": ("auto", "on", "off"),
    "attestation_artifacts": ("auto", "on", "off"),
    "qemu_mode": ("auto", "docker", "host", "off"),
    # "" = not set: use the builder buildx would use, with whatever driver it has.
    "driver": ("", "docker", "docker-container", "remote"),
    "per_arch_tags": ("auto", "always"),
    "media_type": ("oci", "docker"),
    "cache": ("none", "registry", "inline"),
}


@dataclass(frozen=True)
class Node:
    """A builder node appended to the builder (e.g. a native arm64 box over ssh)."""

    endpoint: str
    platforms: tuple[Platform, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Settings:
    """Every option of every step; built by :func:`resolve`, never mutated."""

    image: str = ""
    tags: tuple[str, ...] = ("latest",)
    platforms: tuple[Platform, ...] = (Platform("linux", "amd64"), Platform("linux", "arm64"))
    context: str = "."
    file: str = ""
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    secrets: tuple[str, ...] = ()
    strategy: str = "per-arch"
    # auto: per-arch tags only where the builder cannot push by digest; always: every time.
    per_arch_tags: str = "auto"
    backend: str = "buildx"
    jobs: int = 0
    output_dir: str = ".multiarch"
    push: bool = True
    # attestations
    attestations: str = "auto"
    attestation_artifacts: str = "auto"
    # cache
    cache: str = "none"
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    # builder
    builder: str = ""
    driver: str = ""
    driver_opts: tuple[str, ...] = ()
    buildkitd_config: str = ""
    nodes: tuple[Node, ...] = ()
    use_builder: bool = False
    bootstrap: bool = True
    # QEMU
    qemu_mode: str = "auto"
    binfmt_image: str = DEFAULT_BINFMT_IMAGE
    # registries
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: Mapping[str, str] = field(default_factory=dict)
    retries: int = 3
    timeout: float = 0.0
    # manifest
    manifest_tool: str = "auto"
    media_type: str = "oci"
    # checks
    preflight: bool = True
    allow_unreachable: bool = False
    allow_buildplatform_final: bool = False
    verify: bool = True
    verify_deep: bool = False
    verify_run: tuple[str, ...] = ()

    @property
    def image_ref(self) -> ImageRef:
        """The image repository as a reference (tag-less); error when unset."""
        if not self.image:
            raise InvalidValueError(
                "no image set: pass --image REGISTRY/REPO or set multiarch.image"
            )
        ref = ImageRef.parse(self.image, default_tag="")
        if ref.tag or ref.digest:
            raise InvalidValueError(
                f"image {self.image!r} must not carry a tag or digest; use --tag for tags"
            )
        return ref

    def ref(self, tag: str | None = None) -> ImageRef:
        """``image:tag`` (the first tag by default)."""
        return self.image_ref.with_tag(tag or self.tags[0])

    def per_arch_ref(self, platform: Platform, tag: str | None = None) -> ImageRef:
        """``IMAGE:TAG-<os>-<arch>[-<variant>]``, the article's per-arch tag."""
        return self.image_ref.with_tag(f"{tag or self.tags[0]}-{platform.tag_suffix}")

    @property
    def dockerfile(self) -> str:
        """The Dockerfile path: ``file`` or ``CONTEXT/Dockerfile``."""
        return self.file or str(Path(self.context) / "Dockerfile")

    def is_insecure(self, registry: str) -> bool:
        """Plain HTTP for loopback registries and those listed in ``insecure_registries``."""
        return ImageRef(registry, "x").is_loopback or registry in self.insecure_registries


# --- coercion --------------------------------------------------------------------------

Coerce = Callable[[Any], Any]


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for item in value for v in str(item).split(",") if v.strip()]
    msg = f"expected a list or comma-separated string, got {type(value).__name__}"
    raise TypeError(msg)


def _str_list(value: Any) -> tuple[str, ...]:
    return tuple(_split(value))


def _opts(value: Any) -> tuple[str, ...]:
    # `driver_opts` as users write it: a TOML table / YAML map, or docker's `k=v` list.
    if isinstance(value, Mapping):
        return tuple(f"{k}={'' if v is None else v}" for k, v in value.items())
    return _str_list(value)


def _spec_list(value: Any) -> tuple[str, ...]:
    # No comma splitting: a `--secret id=x,src=f` or `--cache-from type=registry,ref=R` spec
    # is itself comma-separated, so a string is one spec and a list holds one per item.
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    msg = f"expected a list, got {type(value).__name__}"
    raise TypeError(msg)


def _plain_list(value: Any) -> tuple[str, ...]:
    # No comma splitting: argv for `verify --run`, where a comma may be part of an argument.
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    msg = f"expected a list, got {type(value).__name__}"
    raise TypeError(msg)


def _mapping(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, float):
                # YAML reads `GO_VERSION: 1.20` as the number 1.2.
                msg = f"{key}: {item!r} is a number in the config file; quote it"
                raise TypeError(msg)
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    # A list item is one pair, as with docker's `--build-arg K=a,b`; only a string (an env
    # var, which cannot carry a list) holds several pairs, comma-separated.
    items = [str(v) for v in value] if isinstance(value, list | tuple) else _split(value)
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key:
            msg = f"expected KEY=VALUE, got {item!r}"
            raise ValueError(msg)
        out[key] = val
    return out


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    msg = f"expected true or false, got {value!r}"
    raise ValueError(msg)


def _int(value: Any) -> int:
    number = int(value)
    if number < 0:
        msg = f"expected a number >= 0, got {value!r}"
        raise ValueError(msg)
    return number


def _float(value: Any) -> float:
    number = float(value)
    if number < 0:
        msg = f"expected a number >= 0, got {value!r}"
        raise ValueError(msg)
    return number


def _str(value: Any) -> str:
    if isinstance(value, list | tuple | Mapping):
        msg = f"expected a string, got {type(value).__name__}"
        raise TypeError(msg)
    return str(value)


def _nodes(value: Any) -> tuple[Node, ...]:
    if not isinstance(value, list | tuple):
        msg = "expected a list of {endpoint, platforms} mappings"
        raise TypeError(msg)
    out = []
    for item in value:
        if not isinstance(item, Mapping) or "endpoint" not in item:
            msg = f"each node needs an endpoint, got {item!r}"
            raise ValueError(msg)
        unknown = set(item) - {"endpoint", "platforms", "name"}
        if unknown:
            msg = f"unknown node key(s) {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        out.append(
            Node(
                str(item["endpoint"]),
                parse_platforms(item.get("platforms") or ()),
                str(item.get("name") or ""),
            )
        )
    return tuple(out)


def _platforms(value: Any) -> tuple[Platform, ...]:
    platforms = parse_platforms(value if isinstance(value, str) else list(value))
    if not platforms:
        msg = "no platforms given"
        raise ValueError(msg)
    return platforms


def _image(value: Any) -> str:
    text = _str(value)
    if text:
        ref = ImageRef.parse(text, default_tag="")
        if ref.tag or ref.digest:
            msg = f"image {text!r} must not carry a tag or digest; use --tag"
            raise ValueError(msg)
    return text


def _tags(value: Any) -> tuple[str, ...]:
    floats = [v for v in (value if isinstance(value, list | tuple) else [value])
              if isinstance(v, float)]  # fmt: skip
    if floats:
        # YAML reads `tags: [1.10]` as the number 1.1: the tag would silently change.
        msg = f'tag {floats[0]!r} is a number in the config file; quote it, e.g. "{floats[0]}"'
        raise TypeError(msg)
    tags = _str_list(value)
    if not tags:
        msg = "no tags given"
        raise ValueError(msg)
    for tag in tags:
        ImageRef.parse(f"x:{tag}")
    return tags


_COERCE: dict[str, Coerce] = {
    "image": _image,
    "tags": _tags,
    "platforms": _platforms,
    "build_args": _mapping,
    "labels": _mapping,
    "annotations": _mapping,
    "registry_mirrors": _mapping,
    "secrets": _spec_list,
    "cache_from": _spec_list,
    "cache_to": _spec_list,
    "driver_opts": _opts,
    "insecure_registries": _str_list,
    "nodes": _nodes,
    "verify_run": _plain_list,
    "jobs": _int,
    "retries": _int,
    "timeout": _float,
}
for _f in fields(Settings):
    if _f.name not in _COERCE:
        _COERCE[_f.name] = _bool if _f.type == "bool" else _str

KEYS: tuple[str, ...] = tuple(f.name for f in fields(Settings))
MAPPING_KEYS = frozenset(k for k, f in _COERCE.items() if f is _mapping)
# `tag` is accepted as an alias of `tags` (the flag is --tag, repeatable).
ALIASES = {
    "tag": "tags",
    "build_arg": "build_args",
    "label": "labels",
    "secret": "secrets",
    "annotation": "annotations",
    "platform": "platforms",
}


def _normalise_key(key: str) -> str:
    name = key.replace("-", "_")
    return ALIASES.get(name, name)


def _coerce(key: str, value: Any, source: str) -> Any:
    try:
        result = _COERCE[key](value)
    except MultiarchError as err:
        raise ConfigError(key, source, str(err)) from err
    except (TypeError, ValueError) as err:
        raise ConfigError(key, source, str(err)) from err
    if key in CHOICES and result not in CHOICES[key]:
        raise ConfigError(
            key, source, f"invalid value {result!r} (choose from {', '.join(CHOICES[key])})"
        )
    return result


def load_pyproject(path: str | os.PathLike[str] = "pyproject.toml") -> dict[str, Any]:
    """The ``[tool.multiarch-tasks]`` table of ``path``, or ``{}`` when absent."""
    file = Path(path)
    if not file.is_file():
        return {}
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("pyproject.toml", str(file), f"not valid TOML: {err}") from err
    table = data.get("tool", {}).get("multiarch-tasks", {})
    if not isinstance(table, dict):
        raise ConfigError(PYPROJECT_TABLE, str(file), "must be a table")
    return table


def resolve(
    *layers: tuple[str, Mapping[str, Any] | None],
) -> Settings:
    """Merge ``(source_name, mapping)`` layers, lowest first, into one ``Settings``.

    ``None`` values mean "not given at this layer" (invoke declares every key as None).
    """
    values: dict[str, Any] = {}
    for source, mapping in layers:
        for raw_key, value in (mapping or {}).items():
            key = _normalise_key(str(raw_key))
            if key not in KEYS:
                raise ConfigError(str(raw_key), source, _unknown_key_hint(str(raw_key)))
            if value is None:
                continue
            if isinstance(value, list | tuple | Mapping) and not value and key != "verify_run":
                continue  # an empty repeatable flag or declared-empty mapping: not given
            values[key] = _coerce(key, value, source)
    return replace(Settings(), **values)


def _unknown_key_hint(key: str) -> str:
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(key.replace("-", "_"), KEYS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint}"


def settings_from(
    invoke_config: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    pyproject: str | os.PathLike[str] = "pyproject.toml",
) -> Settings:
    """Resolve the standard layers: defaults < pyproject < invoke config < flags."""
    return resolve(
        (f"[{PYPROJECT_TABLE}] in {pyproject}", load_pyproject(pyproject)),
        ("invoke config 'multiarch'", dict(invoke_config or {})),
        ("command line", dict(flags or {})),
    )
