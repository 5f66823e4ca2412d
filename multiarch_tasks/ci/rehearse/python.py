"""``actions/setup-python`` and the install line, rehearsed as the runner would run them.

The hosted runner's ``setup-python`` gives a fresh interpreter with nothing installed and
then, with a ``cache`` input, keys the cache on files of the checkout, failing the job when
none matches; the workflow's install line then installs multiarch-tasks into it, and the
later steps run that ``multiarch``. A rehearsal that used this machine's own ``multiarch``
instead passed a workflow that failed as written (issue 20: an install line naming a
package the index does not have, and ``cache-dependency-path: pyproject.toml`` in a
repository without one). So here: the cache inputs go through the action's own check,
a fresh venv of this interpreter stands in for the hosted one, the install line runs in
it as written, and the job's later steps run the ``multiarch`` it installed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multiarch_tasks.ci.rehearse.steps import Context, RehearsalError, Step

# actions/setup-python@v5, src/cache-distributions/: the patterns each cache input keys on
# when cache-dependency-path is empty (pip-cache.ts: '**/requirements.txt'), and pip's
# fallback (constants.ts CACHE_DEPENDENCY_BACKUP_PATH = '**/pyproject.toml', tried by
# pip-cache.ts computeKeys when the first patterns match nothing). With no match the key
# ends in '-' and cache-distributor.ts restoreCache throws "No file in <cwd> matched to
# [<patterns joined by ','> or **/pyproject.toml], make sure you have checked out the
# target repository" (the backup only named for pip); an unknown input throws
# "Caching for '<x>' is not supported" (cache-factory.ts). Seen in the wild in
# actions/setup-python#807 (a non-Python repository) and #502 (no requirements.txt).
_DEFAULT_PATTERNS = {"pip": "**/requirements.txt", "pipenv": "**/Pipfile.lock",
                     "poetry": "**/poetry.lock"}  # fmt: skip
_PIP_BACKUP = "**/pyproject.toml"
_SHOWN = 3  # files named in the note
VENV = "python"  # the job's fresh interpreter, under its root (outside the workspace)


def matched_files(workspace: Path, patterns: str) -> list[Path]:
    """The files ``@actions/glob``'s hashFiles would hash: one pattern a line, ``!`` excludes."""
    found: set[Path] = set()
    for raw in patterns.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = line.startswith("!")
        matches = {p for p in workspace.glob(line.lstrip("!").removeprefix("./")) if p.is_file()}
        found = found - matches if exclude else found | matches
    return sorted(found)


def check_cache_inputs(inputs: Mapping[str, Any], workspace: Path) -> str:
    """Fail where setup-python's cache step fails; else say which files key the cache."""
    cache = str(inputs.get("cache") or "")
    if not cache:
        return "no cache input"
    if cache not in _DEFAULT_PATTERNS:
        raise RehearsalError(f"actions/setup-python: Caching for '{cache}' is not supported")
    patterns = str(inputs.get("cache-dependency-path") or "") or _DEFAULT_PATTERNS[cache]
    files = matched_files(workspace, patterns)
    if not files and cache == "pip":
        files = matched_files(workspace, _PIP_BACKUP)
    if not files:
        named = ",".join(patterns.splitlines()) + (f" or {_PIP_BACKUP}" if cache == "pip" else "")
        raise RehearsalError(
            f"actions/setup-python: No file in {workspace} matched to [{named}], make sure"
            " you have checked out the target repository"
        )
    shown = [str(f.relative_to(workspace)) for f in files]
    return f"cache {cache} keyed on {', '.join(shown[:_SHOWN])}{' ...' * (len(shown) > _SHOWN)}"


def fresh_python(ctx: Context) -> Path:
    """The job's own venv of this interpreter, made once, first on the job's PATH."""
    venv = ctx.root / VENV
    if not (venv / "bin" / "python").exists() and not ctx.runner.dry:
        ctx.runner.run([sys.executable, "-m", "venv", str(venv)], label=ctx.name)
    bindir = str(venv / "bin")
    if not ctx.env.get("PATH", "").startswith(bindir):
        ctx.env["PATH"] = f"{bindir}:{ctx.env.get('PATH', '')}"
        ctx.env["VIRTUAL_ENV"] = str(venv)
    return venv


def setup_python(inputs: Mapping[str, Any]) -> Step:
    """``actions/setup-python``: its cache inputs checked, then a fresh venv on PATH."""

    def step(ctx: Context) -> str:
        if ctx.runner.dry:
            return "setup-python: would check its cache inputs and make a fresh venv"
        cache = check_cache_inputs(inputs, ctx.workspace)
        venv = fresh_python(ctx)
        wanted = inputs.get("python-version")
        here = sys.version.split()[0]
        return (
            f"setup-python ({cache}): a fresh venv of this interpreter ({here}"
            f"{f', the workflow asks for {wanted}' if wanted else ''}) at {venv}"
        )

    return step


def install(run: Step, shown: str) -> Step:
    """The install line, run as written in the job's fresh venv; then its ``multiarch``."""

    def step(ctx: Context) -> str:
        venv = fresh_python(ctx)  # never this machine's own environment
        run(ctx)
        if ctx.runner.dry:
            return f"install: would run {shown} in {venv}"
        multiarch = venv / "bin" / "multiarch"
        if not multiarch.exists():
            raise RehearsalError(
                f"{ctx.name}: install: `{shown}` put no multiarch in {venv / 'bin'}: the"
                " later steps would not find it"
            )
        ctx.run([str(multiarch), "--version"])
        return f"install: ran {shown} in a fresh venv; the later steps run {multiarch}"

    return step
