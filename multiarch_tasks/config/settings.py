"""One frozen ``Settings`` object per task, resolved once from layered config.

Layers, lowest to highest: built-in defaults < ``[tool.multiarch-tasks]`` in
pyproject.toml < invoke config under ``multiarch`` (invoke.yaml, ``Collection.configure``,
``INVOKE_MULTIARCH_*``) < task flags. The key name is the same at every layer; list values
also accept docker's comma form (invoke's env vars cannot carry lists). An unknown key or
a bad value is a :class:`~multiarch_tasks.model.errors.ConfigError` naming the key and its layer.

Here: the layering (:func:`resolve`, :func:`settings_from`, :func:`settings_from_invoke`)
and the checks of the resolved paths. The ``Settings`` type is :mod:`.schema`'s, the key
table :mod:`.keys`', the sources :mod:`.sources`'; their public names are importable from
here too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from multiarch_tasks.config.files import find_yaml_section, project_config_file
from multiarch_tasks.config.keys import (
    ALIASES,
    KEYS,
    MAPPING_KEYS,
    Spelling,
    coerce_value,
    normalise_key,
    unknown_key_hint,
)
from multiarch_tasks.config.schema import CHOICES, DEFAULT_BINFMT_IMAGE, Node, Settings
from multiarch_tasks.config.sources import (
    ENV_PREFIX,
    INVOKE_SECTION,
    PYPROJECT_TABLE,
    check_env_names,
    check_invoke_files,
    env_name,
    env_overrides,
    file_source,
    kind_of,
    load_pyproject,
    may_hold_our_table,
    shown_path,
    toml_spelling,
    yaml_spelling,
)
from multiarch_tasks.model.errors import ConfigError, InvalidValueError

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
            key = normalise_key(str(raw_key))
            if key not in KEYS:
                raise ConfigError(str(raw_key), source, unknown_key_hint(str(raw_key)))
            if value is None:
                continue
            if isinstance(value, list | tuple | Mapping) and not value and key != "verify_run":
                continue  # an empty repeatable flag or declared-empty mapping: not given
            values[key] = coerce_value(key, value, source, spelling)
            sources[key] = source
    return replace(Settings(), **values, sources=sources)


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
            f"{shown_path(project_file)}:{section.line}"
            if project_file and section
            else "invoke config"
        )
        raise ConfigError(
            INVOKE_SECTION,
            where,
            f"expected a mapping of settings (image: ...), got {kind_of(raw)}",
        )
    config = dict(raw or {})
    layers: list[Layer] = [
        (
            f"[{PYPROJECT_TABLE}] in {pyproject}",
            load_pyproject(pyproject),
            toml_spelling(pyproject),
        )
    ]
    for raw_key, value in config.items():
        name = env_name(normalise_key(str(raw_key)))
        if name in env and isinstance(value, str) and env[name] == value:
            source = f"env {name}"  # invoke applied the variable over the file
        else:
            source = file_source(project_file, str(raw_key)) or "invoke config 'multiarch'"
        layers.append((source, {raw_key: value}, yaml_spelling(project_file, str(raw_key))))
    for key, value in env_overrides(env).items():
        layers.append((f"env {env_name(key)}", {key: value}))
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


__all__ = [
    "ALIASES",
    "CHOICES",
    "DEFAULT_BINFMT_IMAGE",
    "ENV_PREFIX",
    "INVOKE_SECTION",
    "KEYS",
    "MAPPING_KEYS",
    "PYPROJECT_TABLE",
    "Layer",
    "Node",
    "Settings",
    "Spelling",
    "check_build_inputs",
    "check_env_names",
    "check_invoke_files",
    "check_output_dir",
    "env_overrides",
    "load_pyproject",
    "may_hold_our_table",
    "resolve",
    "settings_from",
    "settings_from_invoke",
]
