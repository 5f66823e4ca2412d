"""Tag rules as configured (``tag_rules``): parsed and checked while settings resolve.

The rules are applied to a checkout's git state by :mod:`multiarch_tasks.planning.gittags`,
whose docstring describes each rule type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from multiarch_tasks.model.errors import InvalidValueError

RULE_TYPES = ("semver", "pep440", "sha", "ref", "raw", "edge")
REF_EVENTS = ("branch", "tag", "pr")
DEFAULT_RULES = ("type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr")


@dataclass(frozen=True)
class TagRule:
    """One rule; see the module docstring."""

    type: str
    pattern: str = "{{version}}"
    value: str = ""
    event: str = ""
    prefix: str | None = None
    suffix: str = ""
    format: str = "short"
    branch: str = ""
    enable: str = "true"

    def __str__(self) -> str:
        shown = [f"type={self.type}"]
        for name in ("pattern", "value", "event", "branch"):
            text = getattr(self, name)
            if text and not (name == "pattern" and self.type not in {"semver", "pep440"}):
                shown.append(f"{name}={text}")
        return ",".join(shown)


_RULE_KEYS = {f.name for f in fields(TagRule)}


def parse_rule(spec: str | Mapping[str, Any], source: str = "tag rules") -> TagRule:
    """A rule from a mapping or from metadata-action's ``key=value,...`` form."""
    if isinstance(spec, str):
        items: dict[str, Any] = {}
        for part in (p.strip() for p in spec.split(",")):
            key, sep, val = part.partition("=")
            if not sep:
                raise InvalidValueError(f"{source}: {spec!r}: {part!r} is not key=value")
            items[key.strip()] = val.strip()
    else:
        items = dict(spec)
    unknown = sorted(set(items) - _RULE_KEYS)
    if unknown:
        raise InvalidValueError(f"{source}: unknown rule key(s) {', '.join(unknown)} in {spec!r}")
    kind = str(items.get("type", ""))
    if kind not in RULE_TYPES:
        raise InvalidValueError(
            f"{source}: rule type {kind!r} in {spec!r} (choose from {', '.join(RULE_TYPES)})"
        )
    values = {
        k: ("true" if v is True else "false" if v is False else str(v)) for k, v in items.items()
    }
    rule = TagRule(**values)
    if kind == "ref" and rule.event not in REF_EVENTS:
        raise InvalidValueError(f"{source}: type=ref needs event=branch, tag or pr: {spec!r}")
    if kind == "raw" and not rule.value:
        raise InvalidValueError(f"{source}: type=raw needs a value: {spec!r}")
    if rule.format not in {"short", "long"}:
        raise InvalidValueError(f"{source}: sha format is short or long, not {rule.format!r}")
    return rule


def parse_rules(value: Any, source: str = "tag rules") -> tuple[TagRule, ...]:
    """Rules from a list (mappings or strings) or a newline-separated string; none: defaults."""
    if value is None or value in ("", [], ()):
        return tuple(parse_rule(r, source) for r in DEFAULT_RULES)
    if isinstance(value, str):
        value = [line for line in value.splitlines() if line.strip()]
    if isinstance(value, list | tuple) and all(isinstance(r, TagRule) for r in value):
        return tuple(value)  # already parsed (the tag_rules setting)
    if not isinstance(value, list | tuple):
        raise InvalidValueError(f"{source}: expected a list of rules, got {type(value).__name__}")
    return tuple(parse_rule(r, source) for r in value)
