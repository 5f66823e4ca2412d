"""The body every task shares: invoke's context -> settings -> runner -> one step -> output.

:mod:`multiarch_tasks.tasks` makes one invoke task per row of the flag table
(:mod:`multiarch_tasks.taskspecs`); each calls :func:`run_task` here, which resolves the
settings, builds the runner from invoke's ``run.dry``/``run.echo``/``run.echo_format``,
calls the row's step, prints its result (text or ``--json``) and turns our errors into
invoke's ``Exit``: one line, exit 1 (130/143 after a signal).

Everything a task prints or writes after its step (the text, the JSON document, the CI
summary, error lines and annotations, the ``--debug`` traceback) goes through one
redaction: :meth:`Runner.redact` / :meth:`Runner.redact_data`, with the settings' secret
values known to the runner from the start (issue 17).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit

from multiarch_tasks.config.secrets import secret_values
from multiarch_tasks.config.settings import Settings, settings_from_invoke
from multiarch_tasks.engine.runner import Runner, redact_text
from multiarch_tasks.model.errors import InvalidValueError, MultiarchError, RunInterruptedError
from multiarch_tasks.taskspecs import Args, TaskSpec

if TYPE_CHECKING:
    from multiarch_tasks.engine.progress import Sink

T = TypeVar("T")


class _RedactingFilter(logging.Filter):
    """Redact each record of invoke's logger.

    ``--debug`` prints the argv, each token, each task's kwargs and each config file's
    content: ``-b API_TOKEN=...`` in clear. The values are not known yet when invoke
    parses, so the text rules do it: secret-looking ``NAME=value`` pairs, URLs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = ()
        return True


def hide_secrets_in_invoke_log() -> None:
    """Put the redacting filter on invoke's logger (once)."""
    logger = logging.getLogger("invoke")
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())


# At import: both `multiarch` and `inv` (a tasks.py importing the collection) import this
# module before invoke parses the tasks' flags.
hide_secrets_in_invoke_log()


def settings_for(c: Context, **flags: Any) -> Settings:
    """Resolve the settings of one task call (defaults < pyproject < invoke config < flags).

    ``flags`` are settings keys (``tags=...``), above invoke's ``multiarch:`` section and
    the ``INVOKE_MULTIARCH_*`` variables.
    """
    return settings_from_invoke(c.config.get("multiarch"), flags, os.environ)


def runner_for(c: Context, *, json_output: bool = False, progress: str = "auto") -> Runner:
    """A runner honouring invoke's ``--dry``, ``--echo`` and ``run.echo_format``.

    With ``--json`` progress goes to stderr, so stdout holds only the JSON document.
    ``progress`` (the setting, resolved: :func:`progress_mode`): ``json`` sends every
    event as one JSON line to stderr; ``tty`` draws the live view on stderr
    (:mod:`multiarch_tasks.engine.live`, which imports rich); ``plain`` prints plain lines.
    """
    from functools import partial  # noqa: PLC0415

    from multiarch_tasks.ci.output import detect, group  # noqa: PLC0415

    run = c.config.run
    out = sys.stderr if json_output else sys.stdout
    ci = detect()
    sink: Sink | None = None
    if progress == "json":
        from multiarch_tasks.engine.progress import JsonSink  # noqa: PLC0415

        sink = JsonSink(sys.stderr)
    elif progress == "tty":
        from multiarch_tasks.engine.live import LiveView  # noqa: PLC0415

        # `--progress tty` draws the view even where stderr is no terminal (it was asked).
        sink = LiveView(sys.stderr, force=not sys.stderr.isatty())
    return Runner(
        dry=bool(run.dry),
        echo=bool(run.echo),
        # The colour escapes of invoke's default format are for a terminal only.
        echo_format=str(run.echo_format) if out.isatty() and sink is None else "{command}",
        out=out,
        ci=ci,
        # A CI log group is for people: JSON events stay one per line.
        group_log=partial(group, ci) if ci and sink is None else None,
        sink=sink,
    )


# The tasks with something to watch: the others print their result and are done (and do
# not load rich).
LIVE_TASKS = frozenset({"publish", "build", "mirror", "verify", "ci_rehearse"})


def progress_mode(settings: Settings, *, commands: bool = False, live: bool = True) -> Settings:
    """``settings`` with ``progress`` resolved: ``auto`` is ``tty`` on a terminal outside CI.

    ``commands``: invoke's ``--dry`` or ``--echo`` asked to see the commands (plain, then);
    ``live``: the task has a live view (``tty`` is plain for the others).

    Resolved once, before any plan: the plan then says how BuildKit reports (a live view
    reads its JSON events), and the printed plan is the plan run.
    """
    from dataclasses import replace  # noqa: PLC0415

    from multiarch_tasks.engine.progress import resolve_mode  # noqa: PLC0415

    mode = resolve_mode(
        settings.progress, tty=sys.stderr.isatty(), environ=os.environ, commands=commands
    )
    if mode == "tty" and not live:
        mode = "plain"
    return settings if mode == settings.progress else replace(settings, progress=mode)


def _debug() -> bool:
    # invoke's --debug (or INVOKE_DEBUG) turns its logger on: then show the traceback too.
    return bool(os.environ.get("INVOKE_DEBUG")) or logging.getLogger("invoke").isEnabledFor(
        logging.DEBUG
    )


def guarded(call: Callable[[], T], *, as_json: bool = False, runner: Runner | None = None) -> T:
    """Run ``call``; our errors become a one-line ``Exit`` (with a traceback under --debug).

    With ``as_json`` the error is also printed on stdout as ``{"ok": false, "error": ...}``,
    so a caller reading the JSON document always gets one. Every line is redacted by
    ``runner`` (before there is one, URLs and secret-looking ``NAME=value`` pairs still are).
    """
    redact = runner.redact if runner is not None else redact_text
    try:
        return call()
    except MultiarchError as err:
        if _debug():
            import traceback  # noqa: PLC0415

            print(redact(traceback.format_exc()).rstrip("\n"), file=sys.stderr)
        message = redact(str(err))
        if as_json:
            print(json.dumps({"ok": False, "error": message}))
        from multiarch_tasks.ci.output import detect, error_lines  # noqa: PLC0415

        failures = getattr(err, "failures", None)
        for line in error_lines(detect(), message, failures):
            print(redact(line), file=sys.stderr)
        # SIGINT/SIGTERM end with 130/143, as a shell reports them; every other error 1.
        code = err.code if isinstance(err, RunInterruptedError) else 1
        if code != 1:
            raise Exit(f"multiarch: {message}", code=code) from err
        from multiarch_tasks.checks.diagnose.diagnosis import explained  # noqa: PLC0415

        # A known failure names its cause and the fix: `...; base image X has no ...`.
        raise Exit(f"multiarch: error: {redact(explained(err))}", code=1) from err


def emit(result: Any, as_json: bool, runner: Runner | None = None) -> None:
    """Print a step result as JSON or as its text rendering, redacted by ``runner``."""
    runner = runner or Runner()
    if as_json:
        print(json.dumps(runner.redact_data(result.to_json()), indent=2))
    elif isinstance(result, str):
        # A generated file's text (ci-template): only the known values are hidden, the
        # text rules would break its `$VAR` references and URLs.
        if result:
            print(redact_text(result, runner.secrets, urls=False))
    elif text := result.render():
        print(runner.redact(text))


def _settings_flags(spec: TaskSpec, values: Args) -> dict[str, Any]:
    """The settings keys the given flags set (``--tag v1`` -> ``tags``)."""
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for name in spec.flags:
        flag = spec.flag(name)
        value = flag.setting(values[name])
        if flag.key and value is not None:
            if flag.key in out and out[flag.key] != value:
                # Two switches of one key (--deep, --no-deep): neither may silently win.
                first, second = (
                    f"--{n.rstrip('_').replace('_', '-')}" for n in (given[flag.key], name)
                )
                msg = f"{first} and {second} contradict each other: give one"
                raise InvalidValueError(msg)
            out[flag.key] = value
            given[flag.key] = name
    return out


def run_task(spec: TaskSpec, c: Context, values: Args) -> None:
    """The body of every task: flags -> settings -> one step -> print -> exit code.

    ``values`` holds every flag of ``spec`` as the task received it. Raises invoke's
    ``Exit`` to end with an error, or with 1 when a checking step's result is not ok.
    """
    as_json = bool(values.get("json"))
    settings = guarded(lambda: settings_for(c, **_settings_flags(spec, values)), as_json=as_json)
    settings = progress_mode(
        settings,
        commands=bool(c.config.run.dry or c.config.run.echo),
        live=spec.name in LIVE_TASKS,
    )
    # The secret values are known before any step, so whatever prints or writes anything
    # (steps, this body, the CI summary) hides them; the steps warn about secret build args.
    runner = runner_for(c, json_output=as_json, progress=settings.progress).with_secrets(
        *secret_values(settings)
    )
    if settings.tag_rules and "tag" in spec.flags and not values.get("tag"):
        # Tags from git and CI variables: every shard and the merge compute the same list.
        from multiarch_tasks.planning.gittags import with_git_tags  # noqa: PLC0415

        settings = guarded(
            lambda: with_git_tags(settings, settings.tag_rules, runner),
            as_json=as_json,
            runner=runner,
        )
        runner.say(f"tags from git: {', '.join(settings.tags)}")
    try:
        result = guarded(
            lambda: spec.step(settings, runner, values), as_json=as_json, runner=runner
        )
    finally:
        # The live view stops (its last frame stays, the cursor is shown) before the result
        # or the error line is printed, also when interrupted.
        if runner.sink is not None:
            runner.sink.close()
    emit(result, as_json, runner)
    if runner.ci:
        from multiarch_tasks.ci.output import error_lines, write_summary  # noqa: PLC0415

        write_summary(runner.ci, result, redact=runner.redact)
        message = runner.redact(str(getattr(result, "message", "") or ""))
        if spec.check and not result.ok and message:
            for line in error_lines(runner.ci, message):
                print(line, file=sys.stderr)
    if spec.check and not result.ok:
        raise Exit(code=1)
