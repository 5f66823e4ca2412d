"""Whether the provider starts the pipeline at all for the rehearsed event.

A rehearsal runs the jobs whatever the event, but GitHub starts a workflow only for the
events its ``on:`` names (and, for ``push`` and ``pull_request``, the branches and tags
its filters let through), and GitLab a pipeline only when a ``workflow: rules:`` entry
matches and is not ``when: never``. Rehearsing a push of ``topic`` when the workflow runs
only for ``main`` would pass while the real CI never starts: the rehearsal says so first.

GitLab's ``if:`` expressions are evaluated here: ``$VAR`` (set and not empty), ``==`` and
``!=`` against a quoted string, another variable or ``null``, ``=~`` and ``!~`` against a
``/regex/`` (Python's ``re``, close to GitLab's RE2 for these), ``&&``, ``||`` and
parentheses. A rule with ``changes:`` or ``exists:`` depends on files: not decided here.
GitHub's filter patterns: ``*`` (no ``/``), ``**``, ``?``, ``+``, ``[...]`` and ``!``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["github_skips", "gitlab_skips"]

UNDECIDED = object()


def github_skips(doc: Mapping[Any, Any], event: str, branch: str, tag: str) -> str:
    """Why GitHub would start no run of this workflow for ``event`` ("" when it would).

    ``event`` push (of ``tag``, else of ``branch``) or pull_request/fork (into main).
    """
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    name = "push" if event == "push" else "pull_request"
    events = _github_events(on)
    if name not in events:
        return f"on: has no {name}"
    filters = events[name] or {}
    if not isinstance(filters, Mapping):
        return ""
    if name == "pull_request":
        return _filtered(filters, "pull_request.branches", "main", "the base branch main")
    return _push_skips(filters, branch, tag)


def _push_skips(filters: Mapping[str, Any], branch: str, tag: str) -> str:
    kind, name = ("tags", tag) if tag else ("branches", branch or "main")
    other = "branches" if tag else "tags"
    what = f"a push of tag {tag}" if tag else f"a push to {name}"
    if (
        kind not in filters
        and f"{kind}-ignore" not in filters
        and (other in filters or f"{other}-ignore" in filters)
    ):
        return f"{what}: on.push filters {other} only"
    return _filtered(filters, f"push.{kind}", name, what)


def _github_events(on: Any) -> dict[str, Any]:
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, Sequence):
        return dict.fromkeys(str(e) for e in on)
    if isinstance(on, Mapping):
        return {str(k): v for k, v in on.items()}
    return {}


def _filtered(filters: Mapping[str, Any], path: str, name: str, what: str) -> str:
    """``path``: ``push.branches``, ``push.tags`` or ``pull_request.branches``."""
    key = path.rsplit(".", 1)[1]
    if key in filters:
        patterns = [str(p) for p in filters[key] or []]
        if not _github_match(patterns, name):
            return f"{what}: on.{path} is {', '.join(patterns)}"
    if f"{key}-ignore" in filters:
        patterns = [str(p) for p in filters[f"{key}-ignore"] or []]
        if _github_match(patterns, name):
            return f"{what}: on.{path}-ignore is {', '.join(patterns)}"
    return ""


def _github_match(patterns: Sequence[str], name: str) -> bool:
    """GitHub's filter: the last pattern that matches decides (a ``!`` one excludes)."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if re.fullmatch(_github_regex(pattern.removeprefix("!")), name):
            matched = not negated
    return matched


def _github_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append({"*": "[^/]*", "?": ".", "+": "+"}.get(c) or (c if c in "[]" else re.escape(c)))
        i += 1
    return "".join(out)


def gitlab_skips(doc: Mapping[str, Any], variables: Mapping[str, str]) -> str:
    """Why GitLab would start no pipeline with these ``variables`` ("" when it would)."""
    workflow = doc.get("workflow") or {}
    rules = workflow.get("rules") if isinstance(workflow, Mapping) else None
    if not rules:
        return ""
    for rule in rules:
        if not isinstance(rule, Mapping):
            continue
        if "changes" in rule or "exists" in rule:
            return ""  # a rule on files: not decided here
        condition = rule.get("if")
        matched = True if condition is None else _evaluate(str(condition), variables)
        if matched is UNDECIDED:
            return ""
        if matched:
            if rule.get("when") == "never":
                return f"workflow: rules: `if: {condition}` says when: never"
            return ""
    return "workflow: rules: none of them matches"


_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|=~|!~|&&|\|\||\(|\))"
    r"|(?P<var>\$\{?\w+\}?)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<re>/(?:[^/\\]|\\.)*/[a-z]*)"
    r"|(?P<null>null\b))"
)


def _tokens(text: str) -> list[tuple[str, str]] | None:
    found: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup or ""
        found.append((kind, m.group(kind)))
        pos = m.end()
    return found


def _evaluate(text: str, variables: Mapping[str, str]) -> object:
    """True or False; UNDECIDED for what this reader does not parse."""
    tokens = _tokens(text)
    if tokens is None:
        return UNDECIDED
    try:
        value, rest = _or(tokens, variables)
    except (IndexError, ValueError, re.error):
        return UNDECIDED
    return bool(value) if not rest else UNDECIDED


_Tokens = list[tuple[str, str]]


def _or(tokens: _Tokens, env: Mapping[str, str]) -> tuple[bool, _Tokens]:
    return _chain(tokens, env, "||", _and)


def _and(tokens: _Tokens, env: Mapping[str, str]) -> tuple[bool, _Tokens]:
    return _chain(tokens, env, "&&", _unary)


def _chain(
    tokens: _Tokens,
    env: Mapping[str, str],
    op: str,
    inner: Callable[[_Tokens, Mapping[str, str]], tuple[bool, _Tokens]],
) -> tuple[bool, _Tokens]:
    """``inner (op inner)*``, left to right: ``||`` any of them, ``&&`` all of them."""
    value, tokens = inner(tokens, env)
    while tokens and tokens[0] == ("op", op):
        other, tokens = inner(tokens[1:], env)
        value = (value or other) if op == "||" else (value and other)
    return value, tokens


def _unary(tokens: _Tokens, env: Mapping[str, str]) -> tuple[bool, _Tokens]:
    if tokens[0] == ("op", "("):
        value, rest = _or(tokens[1:], env)
        if not rest or rest[0] != ("op", ")"):
            raise ValueError("unbalanced parentheses")
        return value, rest[1:]
    left, tokens = _operand(tokens, env)
    if tokens and tokens[0][0] == "op" and tokens[0][1] in {"==", "!=", "=~", "!~"}:
        op = tokens[0][1]
        kind, raw = tokens[1]
        if op in {"=~", "!~"}:
            if kind != "re":
                raise ValueError("=~ takes a /regex/")
            body, flags = raw[1:].rsplit("/", 1)
            found = re.search(body, left or "", re.IGNORECASE if "i" in flags else 0)
            return (found is not None) == (op == "=~"), tokens[2:]
        right, rest = _operand(tokens[1:], env)
        return (left == right) == (op == "=="), rest
    return bool(left), tokens


def _operand(tokens: _Tokens, env: Mapping[str, str]) -> tuple[str | None, _Tokens]:
    kind, raw = tokens[0]
    if kind == "var":
        name = raw.strip("${}")
        return env.get(name), tokens[1:]
    if kind == "str":
        return raw[1:-1], tokens[1:]
    if kind == "null":
        return None, tokens[1:]
    raise ValueError(f"unexpected {raw}")
