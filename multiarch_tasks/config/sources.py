"""Where values come from: pyproject.toml, ``INVOKE_MULTIARCH_*`` variables, invoke files.

Reading the ``[tool.multiarch-tasks]`` table, naming and checking the env variables, and
naming a value's place in an invoke config file (``invoke.yaml:3``) so errors can point
at it; :func:`check_invoke_files` refuses what invoke would crash on while merging.
:mod:`.settings` layers these sources into one ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multiarch_tasks.config.files import (
    find_toml_key,
    find_yaml_key,
    find_yaml_section,
    spelled_number,
)
from multiarch_tasks.config.keys import ALIASES, KEYS, Spelling, normalise_key
from multiarch_tasks.model.errors import ConfigError

PYPROJECT_TABLE = "tool.multiarch-tasks"


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


ENV_PREFIX = "INVOKE_MULTIARCH_"
INVOKE_SECTION = "multiarch"
# The collection declares none of our keys to invoke, and INVOKE_MULTIARCH_<KEY> variables
# are read here, not by invoke's env loader: a declared {} refuses a string, list or null
# from invoke.yaml (AmbiguousMergeError), a declared None refuses a mapping, and the env
# loader refuses to set a key invoke.yaml gave as a list (UncastableEnvVar). Undeclared,
# every documented form merges, and a consumer's shallow ns.configure() drops nothing.


def env_name(key: str) -> str:
    """The variable that sets ``key``: ``INVOKE_MULTIARCH_<KEY>``."""
    return ENV_PREFIX + key.upper()


def check_env_names(environ: Mapping[str, str]) -> None:
    """Refuse ``INVOKE_MULTIARCH_*`` variables that name no key (a typo is never ignored)."""
    names = sorted({*KEYS, *ALIASES})
    for name in sorted(environ):
        suffix = name.removeprefix(ENV_PREFIX).lower()
        if not name.startswith(ENV_PREFIX) or not suffix:
            continue
        if suffix in names and name == env_name(suffix):
            continue
        import difflib  # noqa: PLC0415

        close = difflib.get_close_matches(suffix, names, n=1)
        hint = (
            f"; did you mean {env_name(close[0])}?"
            if close
            else f"; known: {', '.join(sorted(KEYS))}"
        )
        # The value is not shown: a mistyped variable may well hold a secret.
        raise ConfigError(name, "environment", f"unknown setting{hint}")


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """``INVOKE_MULTIARCH_<KEY>`` values by key; they rank above every invoke config file."""
    out: dict[str, str] = {}
    for key in (*KEYS, *ALIASES):
        name = env_name(key)
        if name in environ:
            out[normalise_key(key)] = environ[name]
    return out


def kind_of(value: Any) -> str:
    """What ``value`` is, for an error: ``null``, ``a mapping``, ``a list [...]``, ``str 'x'``."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list {list(value)!r}"
    return f"{type(value).__name__} {value!r}"


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as errors show it."""
    # `invoke.yaml:3` for the file in the current directory, the full path elsewhere.
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def file_source(path: str | os.PathLike[str] | None, key: str) -> str | None:
    """``FILE:LINE`` where the invoke file ``path`` sets ``multiarch.<key>``, if it does."""
    found = find_yaml_key(path, INVOKE_SECTION, key) if path else None
    return f"{shown_path(path)}:{found.line}" if path and found else None


def yaml_spelling(path: Path | None, raw_key: str) -> Spelling:
    """How the invoke file ``path`` spells a number given for ``raw_key``."""

    def spelled(_key: str, number: float) -> str | None:
        found = find_yaml_key(path, INVOKE_SECTION, raw_key) if path else None
        return spelled_number(found.value_text, number) if found else None

    return spelled


def toml_spelling(path: str | os.PathLike[str]) -> Spelling:
    """How the pyproject table of ``path`` spells a number given for a key."""

    def spelled(key: str, number: float) -> str | None:
        found = find_toml_key(path, PYPROJECT_TABLE, key)
        return spelled_number(found.value_text, number) if found else None

    return spelled


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
                shown_path(path),
                shown_path(path),
                f"expected a mapping at the top, got {kind_of(data)}",
            )
        if INVOKE_SECTION not in data:
            continue
        section = data[INVOKE_SECTION]
        ours = declared.get(INVOKE_SECTION)
        if section is None and not isinstance(ours, Mapping):
            continue  # `multiarch:` with every key commented out: nothing set
        if not isinstance(section, Mapping):
            found = find_yaml_section(path, INVOKE_SECTION)
            where = f"{shown_path(path)}:{found.line}" if found else shown_path(path)
            raise ConfigError(
                INVOKE_SECTION,
                where,
                f"expected a mapping of settings (image: ..., tags: ...), got {kind_of(section)}",
            )
        if not isinstance(ours, Mapping):
            continue
        for key, value in section.items():
            if key not in ours or isinstance(ours[key], Mapping) == isinstance(value, Mapping):
                continue
            where = file_source(path, str(key)) or shown_path(path)
            want = "a mapping (K: V)" if isinstance(ours[key], Mapping) else "no mapping"
            got = "a mapping" if isinstance(value, Mapping) else kind_of(value)
            raise ConfigError(str(key), where, f"expected {want} here, got {got}")
