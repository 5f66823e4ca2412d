"""The key table: each config key's coercion, its aliases, and the one coercion entry.

Every :class:`~.schema.Settings` field is a key; most coerce by type (bool or string),
the rest are listed in ``_COERCE`` (a table: it stays as long as the keys are many). A
bad value becomes a :class:`~multiarch_tasks.model.errors.ConfigError` naming the key and
where the value came from, with a did-you-mean for an unknown key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from multiarch_tasks.config import coerce
from multiarch_tasks.config.schema import CHOICES, Node, Settings
from multiarch_tasks.model.errors import ConfigError, MultiarchError
from multiarch_tasks.model.platforms import parse_platforms


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
    "verify_deep": coerce.deep_scope,
    "provenance": coerce.provenance_mode,
    "max_manifest_size": coerce.count,
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


def normalise_key(key: str) -> str:
    """The key ``key`` names: dashes as underscores, an alias (``tag``) as its key."""
    name = key.replace("-", "_")
    return ALIASES.get(name, name)


# What a layer knows of its file: (key, number) -> the number as written there, if found.
Spelling = Callable[[str, float], "str | None"]


def coerce_value(key: str, value: Any, source: str, spelling: Spelling | None = None) -> Any:
    """``value`` as ``key``'s type; a bad one is a ConfigError naming ``key`` and ``source``."""
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


def unknown_key_hint(key: str) -> str:
    """The message for an unknown key, with the closest known key as a did-you-mean."""
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(key.replace("-", "_"), KEYS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint}"
