"""``multiarch TASK ...`` without loading invoke, when invoke would read it the same way.

Building invoke's program (its parser, collection and config machinery) costs ~0.1 s
before a task starts: as much as a whole ``skopeo inspect`` loop. The common command
lines (one task, its flags spelled ``--name VALUE``, ``--name=VALUE`` or ``-x VALUE``, its
positional arguments, YAML or JSON invoke config files holding ``multiarch:`` and
``run:``) are read here from the same flag table and run through the same
:func:`~multiarch_tasks.taskspecs.run_task`. Anything else falls back to invoke's program,
unchanged: help and listing, invoke's own flags (``--dry``, ``--echo``, ``-f``), several
tasks, a flag given twice, a value starting with ``-``, a config file invoke would
refuse or that sets anything besides ``multiarch:`` and ``run.dry/echo/echo_format``,
``INVOKE_*`` variables other than ``INVOKE_MULTIARCH_*`` (and those too when a config file
has a ``multiarch:`` section, since invoke then overrides the file with them).

``tests/test_fastpath.py`` runs a table of command lines and configs through both
readers and asserts they agree.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarch_tasks.taskspecs import FLAGS, SPECS, RunOptions, TaskExit, TaskSpec, run_task

# invoke's config files, lowest first, as ``Config`` looks for them (first suffix found).
SUFFIXES = ("yaml", "yml", "json", "py")
RUN_KEYS = frozenset({"dry", "echo", "echo_format"})
SECTION = "multiarch"
ENV_PREFIX = "INVOKE_"
OUR_ENV_PREFIX = "INVOKE_MULTIARCH_"


class FallBack(Exception):  # noqa: N818 - a signal, not an error
    """Raised when a command line or config is invoke's to read."""


@dataclass(frozen=True)
class Call:
    """One task call as the fast path read it: what :func:`run_task` needs."""

    spec: TaskSpec
    values: dict[str, Any]
    section: Any
    options: RunOptions


def _names(spec: TaskSpec) -> dict[str, str]:
    """Every spelling of every flag of ``spec`` -> the flag's name (``--from`` -> from_)."""
    out: dict[str, str] = {}
    for name in spec.flags:
        flag = FLAGS[name]
        out["--" + name.strip("_").replace("_", "-")] = name
        if flag.short:
            out["-" + flag.short] = name
    return out


_TASKS = {spec.name.replace("_", "-"): spec for spec in SPECS}


def _flag_value(token: str, names: Mapping[str, str], tokens: list[str]) -> tuple[str, Any]:
    """The flag ``token`` names and its value (taken from ``tokens`` when separate)."""
    key, eq, inline = token.partition("=")
    name = names.get(key) if (key.startswith("--") or not eq) else None
    if name is None:
        raise FallBack  # unknown here: invoke's own flag, a typo, a joined short flag
    if FLAGS[name].switch:
        if eq:
            raise FallBack
        return name, True
    if eq:
        return name, inline
    if tokens and not tokens[0].startswith("-"):
        return name, tokens.pop(0)
    raise FallBack  # missing value, or one that looks like a flag


def parse_argv(argv: Sequence[str]) -> tuple[TaskSpec, dict[str, Any]]:
    """The task and every flag's value, as invoke hands them to the task; else FallBack."""
    if not argv or argv[0] not in _TASKS:
        raise FallBack
    spec = _TASKS[argv[0]]
    names = _names(spec)
    flags = [FLAGS[n] for n in spec.flags]
    values: dict[str, Any] = {f.name: [] if f.iterable else f.default for f in flags}
    given: set[str] = set()
    waiting = [f.name for f in flags if f.positional]
    tokens = list(argv[1:])
    while tokens:
        token = tokens.pop(0)
        if token.startswith("-"):
            name, value = _flag_value(token, names, tokens)
        elif waiting:
            name, value = waiting[0], token
        else:
            raise FallBack  # another task, or a stray word: invoke's to judge
        if FLAGS[name].iterable:
            values[name].append(value)
        elif name in given:
            raise FallBack  # given twice
        else:
            values[name] = value
        given.add(name)
        if name in waiting:
            waiting.remove(name)
    if waiting:
        raise FallBack  # invoke names the missing positional arguments
    return spec, values


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import yaml  # noqa: PLC0415 - only when a YAML config file exists

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open() as fd:
            return yaml.load(fd, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise FallBack from err  # invoke's program reports it, with the line


def config_files(cwd: Path, home: Path) -> list[Path]:
    """The invoke config files ``multiarch`` would read, lowest precedence first."""
    found: list[Path] = []
    for prefix in (Path("/etc/invoke"), home / ".invoke", cwd / "invoke"):
        for suffix in SUFFIXES:
            path = prefix.with_name(f"{prefix.name}.{suffix}")
            if path.is_file():
                found.append(path)
                break
    return found


def _merge(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        old = base.get(key)
        if isinstance(old, dict) != isinstance(value, Mapping) and key in base:
            raise FallBack  # invoke refuses (or explains) a dict merged with a value
        if isinstance(value, Mapping):
            _merge(base.setdefault(key, {}), value)
        else:
            base[key] = value


def _file_data(path: Path, *, ours_in_env: bool) -> Mapping[str, Any] | None:
    """One config file's data, if it holds only what the fast path reads; else FallBack."""
    if path.suffix == ".py":
        raise FallBack
    try:
        data = _load(path)
    except (OSError, ValueError) as err:
        raise FallBack from err
    if data is None:
        return None
    if not isinstance(data, Mapping) or set(data) - {SECTION, "run"}:
        raise FallBack
    section = data.get(SECTION)
    if section is not None and not isinstance(section, Mapping):
        raise FallBack
    if ours_in_env and section:
        raise FallBack  # invoke overrides the file's keys with INVOKE_MULTIARCH_*, typed
    run = data.get("run")
    if run is not None and (not isinstance(run, Mapping) or set(run) - RUN_KEYS):
        raise FallBack
    return data


def read_config(files: Sequence[Path], environ: Mapping[str, str]) -> tuple[Any, RunOptions]:
    """The ``multiarch:`` section and run options invoke would merge; else FallBack."""
    ours_in_env = False
    for name in environ:
        if name.startswith(OUR_ENV_PREFIX):
            ours_in_env = True
        elif name.startswith(ENV_PREFIX):
            raise FallBack
    merged: dict[str, Any] = {}
    for path in files:
        data = _file_data(path, ours_in_env=ours_in_env)
        if data is not None:
            _merge(merged, data)
    run = merged.get("run") or {}
    options = RunOptions(
        dry=bool(run.get("dry", False)),
        echo=bool(run.get("echo", False)),
        echo_format=str(run.get("echo_format", RunOptions.echo_format)),
    )
    return merged.get(SECTION), options


def read(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Call:
    """Read a command line and the config files as invoke would; else FallBack."""
    spec, values = parse_argv(argv)
    files = config_files(cwd or Path.cwd(), home or Path.home())
    section, options = read_config(files, os.environ if environ is None else environ)
    return Call(spec, values, section, options)


VERSION_FLAGS = (["--version"], ["-V"])


def run(argv: Sequence[str]) -> int | None:
    """Run ``argv`` without invoke and return the exit code; None: invoke must run it."""
    if list(argv) in VERSION_FLAGS:
        from multiarch_tasks import __version__  # noqa: PLC0415

        print(f"multiarch {__version__}")  # as invoke's program prints it
        return 0
    try:
        call = read(argv)
    except FallBack:
        return None
    try:
        run_task(call.spec, call.section, call.options, call.values)
    except TaskExit as done:
        if done.message:
            print(done.message, file=sys.stderr)
        return done.code
    except KeyboardInterrupt:
        return 1  # as invoke's program ends on it
    return 0
