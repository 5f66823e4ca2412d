"""Config values to typed values, refusing anything that would change silently.

One function per kind of value (``count``, ``tags``, ``mapping``, ...): text from a flag or
an env var, or what YAML/TOML made of the file. ``true`` is no count, ``1.7`` no whole
number, and a number where text is meant (YAML reads ``1.10`` as 1.1) raises
:class:`NumberInConfigError`, which the settings complete with the number as written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.redaction import looks_secret
from multiarch_tasks.model.reference import ImageRef, validate_tag

Coerce = Callable[[Any], Any]


class NumberInConfigError(TypeError):
    """A config file gave a number where text is meant (YAML reads ``1.10`` as 1.1).

    ``label`` names what it was (``tag``, ``GO_VERSION``); the layer that knows the file
    completes the hint with the number as written (``settings.resolve``).
    """

    def __init__(self, label: str, number: float) -> None:
        self.label = label
        self.number = number
        super().__init__(self.hint(None))

    def hint(self, spelled: str | None) -> str:
        """The message, quoting ``spelled`` (the text in the file) when known."""
        head = f"{self.label} {self.number!r} is a number in the config file; quote it"
        if spelled:
            return f'{head} as written: "{spelled}"'
        return f"{head} as you wrote it (the number may have lost digits: 1.10 reads as 1.1)"


def text(value: Any, label: str = "value") -> str:
    """One scalar as text; numbers that YAML/TOML may have changed and booleans are refused."""
    if isinstance(value, bool):
        # YAML 1.1 reads yes/no/on/off/true/false unquoted as booleans.
        msg = f"{label} {str(value).lower()} is a boolean in the config file; quote it"
        raise TypeError(msg)
    if isinstance(value, float):
        raise NumberInConfigError(label, value)
    if isinstance(value, list | tuple | Mapping):
        msg = f"expected a string, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    return str(value)


def split(value: Any, label: str = "value") -> list[str]:
    """A list or docker's comma form as stripped items (``a, b`` -> ``[a, b]``)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [v.strip() for item in value for v in text(item, label).split(",") if v.strip()]
    if isinstance(value, float):
        raise NumberInConfigError(label, value)
    msg = f"expected a list or comma-separated string, got {type(value).__name__} {value!r}"
    raise TypeError(msg)


def str_list(value: Any) -> tuple[str, ...]:
    """A list or comma string as a tuple of strings."""
    return tuple(split(value))


def opts(value: Any) -> tuple[str, ...]:
    """Driver options: a mapping or ``k=v`` items, as ``k=v`` strings."""
    # `driver_opts` as users write it: a TOML table / YAML map, or docker's `k=v` list.
    if isinstance(value, Mapping):
        return tuple(f"{k}={'' if v is None else text(v, str(k))}" for k, v in value.items())
    return str_list(value)


def spec_list(value: Any) -> tuple[str, ...]:
    """Specs that hold commas themselves (``--secret id=x,src=f``): one per item."""
    # No comma splitting: a `--secret id=x,src=f` or `--cache-from type=registry,ref=R` spec
    # is itself comma-separated, so a string is one spec and a list holds one per item.
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(t.strip() for t in (text(v) for v in value) if t.strip())
    msg = f"expected a list, got {type(value).__name__} {value!r}"
    raise TypeError(msg)


def plain_list(value: Any) -> tuple[str, ...]:
    """An argv: a list, or a string split into words as a POSIX shell would (commas kept).

    ``--run-cmd "/bin/sh -c 'test -x /app'"`` is three words; no shell runs it.
    """
    # No comma splitting: argv for `verify --run`, where a comma may be part of an argument.
    if isinstance(value, str):
        import shlex  # noqa: PLC0415 - only verify --run's command needs it

        try:
            return tuple(shlex.split(value))
        except ValueError as err:
            msg = f"cannot split {value!r} into words: {err}"
            raise ValueError(msg) from err
    if isinstance(value, list | tuple):
        return tuple(text(v) for v in value)
    msg = f"expected a list, got {type(value).__name__} {value!r}"
    raise TypeError(msg)


def _map_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not looks_secret(key):
        return text(value, f"{key}:")
    try:
        return text(value, key)
    except (TypeError, ValueError):
        # Never echo what may be a secret, not even a mangled one.
        msg = f"{key}: the value (hidden) is not text in the config file; quote it"
        raise TypeError(msg) from None


def mapping(value: Any) -> dict[str, str]:
    """A mapping, a list of ``K=V`` items, or one ``K=V,K2=V2`` string."""
    if isinstance(value, Mapping):
        return {str(k): _map_value(str(k), v) for k, v in value.items()}
    out: dict[str, str] = {}
    # A list item is one pair, as with docker's `--build-arg K=a,b`; only a string (an env
    # var, which cannot carry a list) holds several pairs, comma-separated.
    if isinstance(value, list | tuple):
        items = [text(v) for v in value]
    elif isinstance(value, str):
        items = split(value)
    else:
        msg = f"expected a mapping, K=V items or 'K=V,K2=V2', got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            shown = item if not looks_secret(key) else f"{key}..."
            msg = f"expected KEY=VALUE, got {shown!r}"
            raise ValueError(msg)
        out[key.strip()] = val
    return out


def boolean(value: Any) -> bool:
    """A bool, or its usual spellings (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    msg = f"expected true or false, got {value!r}"
    raise ValueError(msg)


def deep_scope(value: Any) -> str:
    """``verify_deep``: auto, all or off; a boolean (the old switch) is all or off."""
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in {"auto", "all"}:
        return text
    try:
        return "all" if boolean(value) else "off"
    except ValueError:
        msg = f"expected auto, all or off (or true/false), got {value!r}"
        raise ValueError(msg) from None


def provenance_mode(value: Any) -> str:
    """``provenance``: auto, min or max; buildx's spelling ``mode=max`` is read as ``max``."""
    text = str(value).strip().lower() if isinstance(value, str) else ""
    text = text.removeprefix("mode=")
    if text in {"auto", "min", "max"}:
        return text
    msg = f"expected min, max or auto (buildx's mode=min, mode=max), got {value!r}"
    raise ValueError(msg)


def _whole(value: Any) -> int:
    # No silent coercion (issue 9): true is no 1, and 1.7 is no 1.
    if isinstance(value, bool):
        msg = f"expected a whole number >= 0, got {str(value).lower()} (a boolean)"
        raise TypeError(msg)
    if isinstance(value, float):
        if not value.is_integer():
            msg = f"expected a whole number >= 0, got {value!r}"
            raise ValueError(msg)
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    msg = f"expected a whole number >= 0, got {value!r}"
    raise ValueError(msg)


def count(value: Any) -> int:
    """A whole number >= 0 (jobs, retries); no boolean, no fraction."""
    number = _whole(value)
    if number < 0:
        msg = f"expected a number >= 0, got {value!r}"
        raise ValueError(msg)
    return number


def seconds(value: Any) -> float:
    """A number of seconds >= 0 (timeout); no boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        msg = f"expected a number of seconds >= 0, got {value!r}"
        raise TypeError(msg)
    try:
        number = float(value)
    except ValueError:
        msg = f"expected a number of seconds >= 0, got {value!r}"
        raise ValueError(msg) from None
    if number < 0 or not math.isfinite(number):
        msg = f"expected a number >= 0, got {value!r}"
        raise ValueError(msg)
    return number


def string(value: Any) -> str:
    """One scalar as text (see :func:`text`)."""
    return text(value)


def platform_list(value: Any) -> tuple[Platform, ...]:
    """Platforms in docker's comma form or a list; at least one."""
    platforms = parse_platforms(value if isinstance(value, str) else list(value))
    if not platforms:
        msg = "no platforms given"
        raise ValueError(msg)
    return platforms


def image(value: Any) -> str:
    """A repository without tag or digest (``REGISTRY/REPO``)."""
    text = string(value)
    if text:
        ref = ImageRef.parse(text, default_tag="")
        if ref.tag or ref.digest:
            msg = f"image {text!r} must not carry a tag or digest; use --tag"
            raise ValueError(msg)
    return text


def tags(value: Any) -> tuple[str, ...]:
    """Tags as a list or comma string, each a valid tag; at least one."""
    out = tuple(split(value, "tag"))
    if not out:
        msg = "no tags given"
        raise ValueError(msg)
    for tag in out:
        validate_tag(tag)
    return out
