"""Image tags from git and the CI's variables, by rules in the spirit of docker/metadata-action.

The same rules give the same list in any CI and on a laptop, so every build shard and the
merge job agree on the tags. The git state is read once: the CI's variables first
(``GITHUB_REF``/``GITHUB_SHA``, ``CI_COMMIT_TAG``/``CI_COMMIT_BRANCH``/``CI_COMMIT_SHA``...),
then git itself (``git describe --tags --exact-match``, ``git symbolic-ref``), through the
runner as read-only probes.

Rules (a list of mappings, or metadata-action's ``type=semver,pattern={{major}}.{{minor}}``
lines):

- ``semver``: a tag event whose tag is a SemVer 2 version (``v`` prefix allowed);
  ``pattern`` uses ``{{version}}``, ``{{major}}``, ``{{minor}}``, ``{{patch}}``, ``{{raw}}``.
- ``pep440``: the same for a PEP 440 version, normalised (``v1.2.3-RC1`` -> ``1.2.3rc1``).
- ``sha``: ``sha-<7 hex>`` (``format: long`` for the full commit).
- ``ref``: ``event: branch|tag|pr`` -> the branch name, the tag name, ``pr-<N>``.
- ``raw``: ``value``, with ``{{branch}}``, ``{{tag}}``, ``{{sha}}`` substituted.
- ``edge``: ``edge`` on ``branch`` (default: the default branch).

As in metadata-action, a pre-release only gets the patterns that name the whole version,
``{{major}}`` alone is skipped for ``0.x``, and ``latest`` (``latest: auto``) is added on a tag
event for a non-prerelease version, here only when no higher non-prerelease version tag exists
in the repository. Each rule takes ``prefix``, ``suffix`` and ``enable`` (a boolean or
``{{is_default_branch}}``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from multiarch_tasks.config.tagrules import (
    TagRule,
    parse_rules,
)
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import InvalidValueError

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings

SHORT_SHA = 7
MAX_TAG = 128

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}|\{(\w+)\}")
_TAG_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_WHOLE = {"version", "raw"}


@dataclass(frozen=True)
class GitState:
    """What is being built: the commit, and the event (tag, pr, branch or a detached HEAD)."""

    sha: str = ""
    tag: str = ""
    branch: str = ""
    pr: str = ""
    default_branch: str = "main"
    repo_tags: tuple[str, ...] = ()
    source: str = "git"

    @property
    def event(self) -> str:
        """``tag``, ``pr``, ``branch`` or ``detached``: a tag wins, as in a tag pipeline."""
        if self.tag:
            return "tag"
        if self.pr:
            return "pr"
        return "branch" if self.branch else "detached"

    @property
    def is_default_branch(self) -> bool:
        """True on a branch event for the default branch."""
        return self.event == "branch" and self.branch == self.default_branch


# --- reading the state ----------------------------------------------------------------


def _git(runner: Runner, cwd: str, *args: str) -> str:
    result = runner.run(["git", "-C", cwd, *args], probe=True, memo=True, check=False, timeout=30)
    return result.stdout.strip() if result.ok else ""


def _github_default_branch(env: Mapping[str, str]) -> str:
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        return ""
    try:
        event = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return ""
    repo = event.get("repository") if isinstance(event, dict) else None
    return str(repo.get("default_branch") or "") if isinstance(repo, dict) else ""


def state_from_ci(env: Mapping[str, str]) -> GitState | None:
    """The state the CI's variables describe (GitHub Actions, GitLab CI), or None elsewhere."""
    if env.get("GITHUB_ACTIONS") == "true" or env.get("GITHUB_REF"):
        ref = env.get("GITHUB_REF", "")
        tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
        pr = ""
        if match := re.match(r"^refs/pull/(\d+)/", ref):
            pr, branch = match.group(1), env.get("GITHUB_HEAD_REF", "")
        return GitState(
            sha=env.get("GITHUB_SHA", ""),
            tag=tag,
            branch=branch,
            pr=pr,
            default_branch=_github_default_branch(env) or "main",
            source="GitHub Actions",
        )
    if env.get("GITLAB_CI") == "true" or env.get("CI_COMMIT_SHA"):
        tag = env.get("CI_COMMIT_TAG", "")
        pr = env.get("CI_MERGE_REQUEST_IID", "")
        branch = env.get("CI_COMMIT_BRANCH", "") or env.get(
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", ""
        )
        if not (tag or branch or pr):
            branch = env.get("CI_COMMIT_REF_NAME", "")
        return GitState(
            sha=env.get("CI_COMMIT_SHA", ""),
            tag=tag,
            branch=branch,
            pr=pr,
            default_branch=env.get("CI_DEFAULT_BRANCH", "") or "main",
            source="GitLab CI",
        )
    return None


def read_state(runner: Runner, cwd: str = ".", env: Mapping[str, str] | None = None) -> GitState:
    """The CI's variables when there are any, else git's HEAD; the repository's tags from git."""
    env = os.environ if env is None else env
    repo_tags = tuple(_git(runner, cwd, "tag", "--list").split())
    ci = state_from_ci(env)
    if ci is not None:
        sha = ci.sha or _git(runner, cwd, "rev-parse", "HEAD")
        return GitState(sha, ci.tag, ci.branch, ci.pr, ci.default_branch, repo_tags, ci.source)
    origin_head = _git(
        runner, cwd, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"
    )
    return GitState(
        sha=_git(runner, cwd, "rev-parse", "HEAD"),
        tag=_git(runner, cwd, "describe", "--tags", "--exact-match", "HEAD"),
        branch=_git(runner, cwd, "symbolic-ref", "--quiet", "--short", "HEAD"),
        default_branch=origin_head.split("/", 1)[-1] if origin_head else "main",
        repo_tags=repo_tags,
        source=f"git in {cwd}",
    )


# --- computing the tags ---------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    """A version tag's placeholders, and whether it is a pre-release."""

    parts: dict[str, str]
    prerelease: bool


def _semver(tag: str) -> _Parsed | None:
    match = _SEMVER.match(tag)
    if not match:
        return None
    major, minor, patch, pre = (match.group(n) for n in ("major", "minor", "patch", "pre"))
    version = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if match.group("build"):
        version += f"-{match.group('build')}"  # `+` is not allowed in an image tag
    parts = {"version": version, "major": major, "minor": minor, "patch": patch, "raw": tag}
    return _Parsed(parts, bool(pre))


def _pep440(tag: str) -> _Parsed | None:
    try:
        version = Version(tag)
    except InvalidVersion:
        return None
    release = (*version.release, 0, 0)
    parts = {
        "version": str(version).replace("+", "-"),
        "major": str(release[0]),
        "minor": str(release[1]),
        "patch": str(release[2]),
        "raw": tag,
    }
    return _Parsed(parts, version.is_prerelease)


def _render(pattern: str, parts: Mapping[str, str], rule: TagRule) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in parts:
            raise InvalidValueError(f"tag rule {rule}: unknown placeholder {{{{{name}}}}}")
        return parts[name]

    return _PLACEHOLDER.sub(sub, pattern)


def _names(pattern: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in _PLACEHOLDER.finditer(pattern)}


def sanitise(name: str) -> str:
    """A branch or tag name as an image tag: other characters become ``-``, at most 128."""
    text = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip(".-")
    return text[:MAX_TAG]


def _version_tag(rule: TagRule, state: GitState) -> str:
    parsed = (_semver if rule.type == "semver" else _pep440)(state.tag)
    if parsed is None:
        return ""
    names = _names(rule.pattern)
    if parsed.prerelease and not names & _WHOLE:
        return ""  # a pre-release only extends the whole version (metadata-action)
    if names == {"major"} and parsed.parts["major"] == "0":
        return ""  # `1` is a promise; `0` is not
    return _render(rule.pattern, parsed.parts, rule)


def _enabled(rule: TagRule, state: GitState) -> bool:
    text = rule.enable.strip().lower()
    if text in {"{{is_default_branch}}", "{is_default_branch}"}:
        return state.is_default_branch
    if text in {"true", "1", "yes", ""}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise InvalidValueError(f"tag rule {rule}: enable is true, false or {{{{is_default_branch}}}}")


def _rule_tag(rule: TagRule, state: GitState) -> str:  # noqa: PLR0911 - one return per type
    if not _enabled(rule, state):
        return ""
    if rule.type in {"semver", "pep440"}:
        return _version_tag(rule, state) if state.event == "tag" else ""
    if rule.type == "sha":
        if not state.sha:
            return ""
        return state.sha if rule.format == "long" else state.sha[:SHORT_SHA]
    if rule.type == "ref":
        if rule.event != state.event:
            return ""
        if rule.event == "pr":
            return f"pr-{state.pr}"
        return sanitise(state.tag if rule.event == "tag" else state.branch)
    if rule.type == "edge":
        wanted = rule.branch or state.default_branch
        return "edge" if state.event == "branch" and state.branch == wanted else ""
    parts = {"branch": sanitise(state.branch), "tag": sanitise(state.tag),
             "sha": state.sha[:SHORT_SHA]}  # fmt: skip
    return _render(rule.value, parts, rule)


def _default_prefix(rule: TagRule) -> str:
    if rule.prefix is not None:
        return rule.prefix
    return "sha-" if rule.type == "sha" else ""


def is_latest(state: GitState) -> bool:
    """A tag event for a non-prerelease version with no higher released version tag."""
    if state.event != "tag":
        return False
    version = _as_version(state.tag)
    if version is None or version.is_prerelease:
        return False
    others = [v for v in map(_as_version, state.repo_tags) if v is not None and not v.is_prerelease]
    return all(version >= other for other in others)


def _as_version(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def compute_tags(rules: Sequence[TagRule], state: GitState, *, latest: str = "auto") -> list[str]:
    """The tag list for ``state`` (pure): each rule's tag in order, then ``latest``."""
    if latest not in {"auto", "true", "false"}:
        raise InvalidValueError(f"latest is auto, true or false, not {latest!r}")
    out: list[str] = []
    for rule in rules:
        tag = _rule_tag(rule, state)
        if not tag:
            continue
        tag = f"{_default_prefix(rule)}{tag}{rule.suffix}"
        if not _TAG_OK.match(tag):
            raise InvalidValueError(
                f"tag rule {rule} gives {tag!r}, which is not a valid image tag"
            )
        if tag not in out:
            out.append(tag)
    if (latest == "true" or (latest == "auto" and is_latest(state))) and "latest" not in out:
        out.append("latest")
    return out


def tags_from_git(
    rules: Any,
    runner: Runner,
    *,
    cwd: str = ".",
    env: Mapping[str, str] | None = None,
    latest: str = "auto",
) -> list[str]:
    """Read the git/CI state and apply ``rules``; an empty result is an error naming the state."""
    parsed = parse_rules(rules)
    state = read_state(runner, cwd, env)
    tags = compute_tags(parsed, state, latest=latest)
    if not tags:
        what = {"tag": state.tag, "pr": state.pr, "branch": state.branch}.get(state.event, "")
        raise InvalidValueError(
            f"no tag from the rules {'; '.join(map(str, parsed))} for {state.event}"
            f" {what or state.sha[:SHORT_SHA] or '(no commit)'} ({state.source}): add a sha rule"
        )
    return tags


def with_git_tags(
    settings: Settings,
    rules: Any,
    runner: Runner,
    *,
    env: Mapping[str, str] | None = None,
    latest: str = "auto",
) -> Settings:
    """``settings`` with its tags computed from ``rules`` for the git state of its context.

    Where a ``tag_rules`` setting is given, the tasks call this once, before any step, so a
    build shard and the merge job resolve the same tags from the same commit and variables.
    """
    tags = tags_from_git(rules, runner, cwd=settings.context or ".", env=env, latest=latest)
    return replace(settings, tags=tuple(tags))
