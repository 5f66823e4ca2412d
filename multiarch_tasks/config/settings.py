"""One frozen ``Settings`` object per task, resolved once from layered config.

Layers, lowest to highest: built-in defaults < ``[tool.multiarch-tasks]`` in
pyproject.toml < invoke config under ``multiarch`` (invoke.yaml, ``Collection.configure``,
``INVOKE_MULTIARCH_*``) < task flags. The key name is the same at every layer; list values
also accept docker's comma form (invoke's env vars cannot carry lists). An unknown key or
a bad value is a :class:`~multiarch_tasks.model.errors.ConfigError` naming the key and its layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from multiarch_tasks.config import coerce
from multiarch_tasks.config.files import (
    find_toml_key,
    find_yaml_key,
    find_yaml_section,
    project_config_file,
    spelled_number,
)
from multiarch_tasks.model.errors import ConfigError, InvalidValueError, MultiarchError
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef

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
    strategy: str = "auto"
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
    # tags from git: metadata-action-style rules (multiarch_tasks.planning.gittags), applied by the
    # tasks before any step when set and no --tag is given
    tag_rules: tuple[Any, ...] = ()
    # Where each key's value came from ("command line", "invoke.yaml:3"), so checks made
    # later (check_output_dir) can say so; not a config key, not compared.
    sources: Mapping[str, str] = field(
        default_factory=dict, compare=False, repr=False, metadata={"config": False}
    )

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


# --- coercion (multiarch_tasks.config.coerce), key by key --------------------------------------


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


def _tag_rules(value: Any) -> tuple[Any, ...]:
    from multiarch_tasks.config.tagrules import parse_rules  # noqa: PLC0415 - only when configured

    return parse_rules(value) if value else ()


_COERCE: dict[str, coerce.Coerce] = {
    "image": coerce.image,
    "tags": coerce.tags,
    "platforms": coerce.platform_list,
    "build_args": coerce.mapping,
    "labels": coerce.mapping,
    "annotations": coerce.mapping,
    "registry_mirrors": coerce.mapping,
    "secrets": coerce.spec_list,
    "cache_from": coerce.spec_list,
    "cache_to": coerce.spec_list,
    "driver_opts": coerce.opts,
    "insecure_registries": coerce.str_list,
    "nodes": _nodes,
    "verify_run": coerce.plain_list,
    "tag_rules": _tag_rules,
    "jobs": coerce.count,
    "retries": coerce.count,
    "timeout": coerce.seconds,
}
_FIELDS = [f for f in fields(Settings) if f.metadata.get("config", True)]
for _f in _FIELDS:
    if _f.name not in _COERCE:
        _COERCE[_f.name] = coerce.boolean if _f.type == "bool" else coerce.string

KEYS: tuple[str, ...] = tuple(f.name for f in _FIELDS)
MAPPING_KEYS = frozenset(k for k, f in _COERCE.items() if f is coerce.mapping)
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


# What a layer knows of its file: (key, number) -> the number as written there, if found.
Spelling = Callable[[str, float], "str | None"]


def _coerce(key: str, value: Any, source: str, spelling: Spelling | None = None) -> Any:
    if key in CHOICES and isinstance(value, bool) and "on" in CHOICES[key]:
        value = "on" if value else "off"  # YAML 1.1 reads an unquoted on/off as a boolean
    try:
        result = _COERCE[key](value)
    except MultiarchError as err:
        raise ConfigError(key, source, str(err)) from err
    except coerce.NumberInConfigError as err:
        spelled = spelling(key, err.number) if spelling else None
        raise ConfigError(key, source, err.hint(spelled)) from err
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
    text = file.read_text()
    if not may_hold_our_table(text):
        return {}  # parsing it (tomllib, ~13 ms) could only find nothing of ours
    import tomllib  # noqa: PLC0415 - only where a pyproject.toml may hold the table

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("pyproject.toml", str(file), f"not valid TOML: {err}") from err
    table = data.get("tool", {}).get("multiarch-tasks", {})
    if not isinstance(table, dict):
        raise ConfigError(PYPROJECT_TABLE, str(file), "must be a table")
    return table


_KEY_STARTS = ("[", "tool", "multiarch-tasks", '"multiarch-tasks', "'multiarch-tasks")


def may_hold_our_table(text: str) -> bool:
    """False only when no line of ``text`` can define ``tool.multiarch-tasks`` in TOML.

    A TOML key starts its line (a table header, a dotted key, a key under ``[tool]``) or
    sits in a one-line inline table (``tool = { multiarch-tasks = {...} }``); a mention
    elsewhere (``name = "multiarch-tasks"``, a dependency) defines nothing.
    """
    for line in text.splitlines():
        if "multiarch-tasks" in line and (line.lstrip().startswith(_KEY_STARTS) or "{" in line):
            return True
    return False


Layer = tuple[str, Mapping[str, Any] | None] | tuple[str, Mapping[str, Any] | None, Spelling]


def resolve(*layers: Layer) -> Settings:
    """Merge ``(source_name, mapping[, spelling])`` layers, lowest first, into one ``Settings``.

    ``None`` values mean "not given at this layer" (invoke declares keys as None).
    ``spelling`` finds a number as written in the layer's file, for the "quote it" hint.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        source, mapping = layer[0], layer[1]
        spelling = layer[2] if len(layer) > 2 else None  # noqa: PLR2004
        for raw_key, value in (mapping or {}).items():
            key = _normalise_key(str(raw_key))
            if key not in KEYS:
                raise ConfigError(str(raw_key), source, _unknown_key_hint(str(raw_key)))
            if value is None:
                continue
            if isinstance(value, list | tuple | Mapping) and not value and key != "verify_run":
                continue  # an empty repeatable flag or declared-empty mapping: not given
            values[key] = _coerce(key, value, source, spelling)
            sources[key] = source
    return replace(Settings(), **values, sources=sources)


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


# --- invoke config, env vars and the output directory (issue 9, point 5) -----------------

ENV_PREFIX = "INVOKE_MULTIARCH_"
INVOKE_SECTION = "multiarch"
# The collection declares none of our keys to invoke, and INVOKE_MULTIARCH_<KEY> variables
# are read here, not by invoke's env loader: a declared {} refuses a string, list or null
# from invoke.yaml (AmbiguousMergeError), a declared None refuses a mapping, and the env
# loader refuses to set a key invoke.yaml gave as a list (UncastableEnvVar). Undeclared,
# every documented form merges, and a consumer's shallow ns.configure() drops nothing.


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def check_env_names(environ: Mapping[str, str]) -> None:
    """Refuse ``INVOKE_MULTIARCH_*`` variables that name no key (a typo is never ignored)."""
    names = sorted({*KEYS, *ALIASES})
    for name in sorted(environ):
        suffix = name.removeprefix(ENV_PREFIX).lower()
        if not name.startswith(ENV_PREFIX) or not suffix:
            continue
        if suffix in names and name == _env_name(suffix):
            continue
        import difflib  # noqa: PLC0415

        close = difflib.get_close_matches(suffix, names, n=1)
        hint = (
            f"; did you mean {_env_name(close[0])}?"
            if close
            else f"; known: {', '.join(sorted(KEYS))}"
        )
        # The value is not shown: a mistyped variable may well hold a secret.
        raise ConfigError(name, "environment", f"unknown setting{hint}")


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """``INVOKE_MULTIARCH_<KEY>`` values by key; they rank above every invoke config file."""
    out: dict[str, str] = {}
    for key in (*KEYS, *ALIASES):
        name = _env_name(key)
        if name in environ:
            out[_normalise_key(key)] = environ[name]
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list {list(value)!r}"
    return f"{type(value).__name__} {value!r}"


def _shown(path: str | os.PathLike[str]) -> str:
    # `invoke.yaml:3` for the file in the current directory, the full path elsewhere.
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _file_source(path: str | os.PathLike[str] | None, key: str) -> str | None:
    found = find_yaml_key(path, INVOKE_SECTION, key) if path else None
    return f"{_shown(path)}:{found.line}" if path and found else None


def _yaml_spelling(path: Path | None, raw_key: str) -> Spelling:
    def spelled(_key: str, number: float) -> str | None:
        found = find_yaml_key(path, INVOKE_SECTION, raw_key) if path else None
        return spelled_number(found.value_text, number) if found else None

    return spelled


def _toml_spelling(path: str | os.PathLike[str]) -> Spelling:
    def spelled(key: str, number: float) -> str | None:
        found = find_toml_key(path, PYPROJECT_TABLE, key)
        return spelled_number(found.value_text, number) if found else None

    return spelled


def settings_from_invoke(
    raw: Any,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    pyproject: str | os.PathLike[str] = "pyproject.toml",
    project_dir: str | os.PathLike[str] = ".",
) -> Settings:
    """Resolve one task call: defaults < pyproject < invoke config < env < flags.

    ``raw`` is invoke's ``c.config.get("multiarch")``; ``environ`` holds the
    ``INVOKE_MULTIARCH_*`` variables (an unknown one is refused with a did-you-mean).
    Every error names the key, the value and where it came from: ``invoke.yaml:LINE`` when
    the key is found in the project's invoke file, ``env INVOKE_MULTIARCH_<KEY>``, the
    pyproject table, or the command line.
    """
    env = os.environ if environ is None else environ
    check_env_names(env)
    project_file = project_config_file(project_dir)
    if raw is not None and not isinstance(raw, Mapping):
        section = find_yaml_section(project_file, INVOKE_SECTION) if project_file else None
        where = (
            f"{_shown(project_file)}:{section.line}"
            if project_file and section
            else "invoke config"
        )
        raise ConfigError(
            INVOKE_SECTION, where, f"expected a mapping of settings (image: ...), got {_kind(raw)}"
        )
    config = dict(raw or {})
    layers: list[Layer] = [
        (
            f"[{PYPROJECT_TABLE}] in {pyproject}",
            load_pyproject(pyproject),
            _toml_spelling(pyproject),
        )
    ]
    for raw_key, value in config.items():
        name = _env_name(_normalise_key(str(raw_key)))
        if name in env and isinstance(value, str) and env[name] == value:
            source = f"env {name}"  # invoke applied the variable over the file
        else:
            source = _file_source(project_file, str(raw_key)) or "invoke config 'multiarch'"
        layers.append((source, {raw_key: value}, _yaml_spelling(project_file, str(raw_key))))
    for key, value in env_overrides(env).items():
        layers.append((f"env {_env_name(key)}", {key: value}))
    layers.append(("command line", dict(flags or {})))
    return resolve(*layers)


def check_output_dir(settings: Settings) -> None:
    """Fail before any step when ``output_dir`` is a file or cannot be created or written.

    Creates nothing: a missing directory is probed by creating and removing a run-unique
    directory in its deepest existing parent (the only reliable test as root, for whom
    ``os.access`` says yes to ``/proc``). Never the path itself: a concurrent run may be
    creating that very directory at the same moment.
    """
    path = Path(settings.output_dir)
    source = settings.sources.get("output_dir", "the built-in default")

    def fail(problem: str) -> ConfigError:
        return ConfigError("output_dir", source, f"{settings.output_dir!r} {problem}")

    if path.exists() and not path.is_dir():
        raise fail("is a file, not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path())
    if not existing.is_dir():
        raise fail(f"cannot be created: {existing} is a file")
    import tempfile  # noqa: PLC0415

    try:
        if existing == path:
            with tempfile.TemporaryFile(dir=path):
                pass
        else:
            Path(tempfile.mkdtemp(prefix=".multiarch-probe-", dir=existing)).rmdir()
    except OSError as err:
        verb = "is not writable" if existing == path else "cannot be created"
        raise fail(f"{verb}: {err.strerror or err}") from err


def check_build_inputs(settings: Settings) -> None:
    """Fail early, naming the path, when the output dir, context or Dockerfile is unusable."""
    check_output_dir(settings)
    if not Path(settings.context).is_dir():
        raise InvalidValueError(f"build context {settings.context!r} is not a directory")
    if not Path(settings.dockerfile).is_file():
        raise InvalidValueError(f"Dockerfile {settings.dockerfile!r} not found")


def check_invoke_files(loaded: Mapping[str, tuple[Any, str]], declared: Mapping[str, Any]) -> None:
    """Refuse config file contents invoke would crash on while merging (AmbiguousMergeError).

    ``loaded`` maps a layer name to ``(data, path)`` as invoke loaded it (project, runtime,
    user, system files); ``declared`` is the collection's config. A ``multiarch:`` that is
    no mapping, or a key whose value is a mapping where invoke declared a plain value (or
    the reverse), becomes one error naming the key, the value and ``file:line``.
    """
    for data, path in loaded.values():
        if data is None:
            continue
        if not isinstance(data, Mapping):
            raise ConfigError(
                _shown(path), _shown(path), f"expected a mapping at the top, got {_kind(data)}"
            )
        if INVOKE_SECTION not in data:
            continue
        section = data[INVOKE_SECTION]
        ours = declared.get(INVOKE_SECTION)
        if section is None and not isinstance(ours, Mapping):
            continue  # `multiarch:` with every key commented out: nothing set
        if not isinstance(section, Mapping):
            found = find_yaml_section(path, INVOKE_SECTION)
            where = f"{_shown(path)}:{found.line}" if found else _shown(path)
            raise ConfigError(
                INVOKE_SECTION,
                where,
                f"expected a mapping of settings (image: ..., tags: ...), got {_kind(section)}",
            )
        if not isinstance(ours, Mapping):
            continue
        for key, value in section.items():
            if key not in ours or isinstance(ours[key], Mapping) == isinstance(value, Mapping):
                continue
            where = _file_source(path, str(key)) or _shown(path)
            want = "a mapping (K: V)" if isinstance(ours[key], Mapping) else "no mapping"
            got = "a mapping" if isinstance(value, Mapping) else _kind(value)
            raise ConfigError(str(key), where, f"expected {want} here, got {got}")
