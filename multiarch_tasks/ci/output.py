"""CI-native output: collapsible log groups, error annotations, a job summary.

Detected from the CI's own environment: GitHub Actions (``GITHUB_ACTIONS=true``) gets
``::group::``/``::endgroup::`` around each build's log, ``::error title=...::`` for each
failed platform and a platform / digest / verify table appended to
``$GITHUB_STEP_SUMMARY``; GitLab CI (``GITLAB_CI=true``) gets collapsed
``section_start``/``section_end`` markers. Elsewhere output stays plain.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

GITHUB = "github"
GITLAB = "gitlab"


def detect(environ: Mapping[str, str] | None = None) -> str:
    """``github``, ``gitlab`` or "" (plain), from the CI's environment variables."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return GITHUB
    if env.get("GITLAB_CI") == "true":
        return GITLAB
    return ""


def _escape(text: str) -> str:
    # GitHub workflow commands: % and newlines are escaped in the message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def group(ci: str, title: str, lines: Iterable[str]) -> list[str]:
    """``lines`` inside a collapsible group titled ``title`` (as is, outside CI)."""
    body = list(lines)
    if ci == GITHUB:
        return [f"::group::{title}", *body, "::endgroup::"]
    if ci == GITLAB:
        name = re.sub(r"[^a-z0-9_]+", "_", title.lower()).strip("_") or "section"
        now = int(time.time())
        start = f"\x1b[0Ksection_start:{now}:{name}[collapsed=true]\r\x1b[0K{title}"
        return [start, *body, f"\x1b[0Ksection_end:{int(time.time())}:{name}\r\x1b[0K"]
    return body


def error_lines(ci: str, message: str, failures: Mapping[str, str] | None = None) -> list[str]:
    """GitHub error annotations: one per failed platform, else one for the message."""
    if ci != GITHUB:
        return []
    if failures:
        return [
            f"::error title=multiarch: {platform} failed::{_escape(error or message)}"
            for platform, error in failures.items()
        ]
    return [f"::error title=multiarch::{_escape(message)}"]


def summary_markdown(result: Any) -> str:
    """The job summary table of a publish result (platform, digest, verify)."""
    data = result.to_json()
    verify = data.get("verify") or {}
    checks = {p["platform"]: p for p in verify.get("platforms") or []}
    platforms = data.get("platforms") or []
    if platforms and isinstance(platforms[0], Mapping):
        # verify's own result (the merge job's last step): its rows are the checks.
        checks = {p["platform"]: p for p in platforms}
        platforms = list(checks)
    ok = "✅" if data.get("ok") else "❌"
    lines = [
        f"### {ok} multiarch publish {', '.join(data.get('tags') or [])}",
        "",
        f"Index: `{data.get('digest') or '(none)'}`",
        "",
        "| platform | digest | verify |",
        "| --- | --- | --- |",
    ]
    for platform in platforms:
        check = checks.get(platform, {})
        state = "ok" if check.get("ok") else "; ".join(check.get("problems") or ["not run"])
        lines.append(f"| {platform} | `{check.get('digest', '')}` | {state} |")
    if data.get("error"):
        lines += ["", f"**{data['error']}**"]
    return "\n".join(lines) + "\n"


def write_summary(
    ci: str,
    result: Any,
    environ: Mapping[str, str] | None = None,
    *,
    redact: Callable[[str], str] = lambda text: text,
) -> None:
    """Append the summary of a result that has one to ``$GITHUB_STEP_SUMMARY``.

    ``redact`` is the runner's (:meth:`Runner.redact`): the file is output like any other.
    """
    env = os.environ if environ is None else environ
    path = env.get("GITHUB_STEP_SUMMARY")
    if ci != GITHUB or not path or not hasattr(result, "to_json"):
        return
    if "platforms" not in result.to_json():
        return
    with Path(path).open("a") as fh:
        fh.write(redact(summary_markdown(result)))
