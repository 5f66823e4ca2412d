"""The plain functions behind the tasks, for Python callers and nox sessions.

Every step shares one signature shape, the task's command line in Python::

    step(settings, *subjects, runner=None, **options)

``settings`` (a :class:`~multiarch_tasks.config.settings.Settings`, see ``settings_from``)
comes first; then the subjects the task takes as positional arguments, positionally too
(``verify(settings, ref)``, ``inspect(settings, ref)``, ``ci_rehearse(settings, pipeline)``,
``ci_template(settings, provider)``); then ``runner`` (a
:class:`~multiarch_tasks.engine.runner.Runner`; None: a plain ``Runner()``), which is the
second positional argument of every step without subjects
(``publish(settings, Runner())``); every other option is a keyword. A step that starts no
process (``lint``, ``inspect``, ``ci_template``) or reads no settings (``ci_rehearse``)
still takes them, so every call looks alike. Each returns a typed result with ``ok``,
``render()`` and ``to_json()``, except ``ci_template``, which returns the pipeline's text.

Each step imports its implementation on first call, and ``Runner``, ``Settings``,
``settings_from`` and ``tags_from_git`` are imported on first use (PEP 562): ``inspect``
does not load the build machinery, ``--help`` loads none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from multiarch_tasks.checks.doctor.check import DoctorResult
    from multiarch_tasks.checks.inspect import InspectResult
    from multiarch_tasks.checks.lint.checker import LintResult
    from multiarch_tasks.checks.preflight.check import PreflightReport
    from multiarch_tasks.checks.verify.check import VerifyReport
    from multiarch_tasks.ci.rehearse.run import RehearsalResult
    from multiarch_tasks.config.settings import Settings, settings_from
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.planning.gittags import tags_from_git
    from multiarch_tasks.steps.build import BuildResult
    from multiarch_tasks.steps.builder import BuilderResult
    from multiarch_tasks.steps.manifest.lists import ManifestResult
    from multiarch_tasks.steps.mirror.copy import MirrorResult
    from multiarch_tasks.steps.publish import PublishResult
    from multiarch_tasks.steps.qemu import QemuResult

T = TypeVar("T")
# Imported on first use: the helpers that are not steps.
_WHERE = {
    "Runner": "engine.runner",
    "Settings": "config.settings",
    "settings_from": "config.settings",
    "tags_from_git": "planning.gittags",
}
__all__ = [
    "Runner",
    "Settings",
    "build",
    "builder_create",
    "ci_rehearse",
    "ci_template",
    "doctor",
    "inspect",
    "lint",
    "manifest_create",
    "manifest_push",
    "merge",
    "mirror",
    "preflight",
    "publish",
    "qemu_setup",
    "settings_from",
    "tags_from_git",
    "verify",
]


def _reading(what: str, call: Callable[[], T]) -> T:
    """Run a read-only step so SIGINT/SIGTERM end it with 130/143 and one line.

    Without this, Ctrl-C is a ``KeyboardInterrupt`` that invoke turns into exit 1 with no
    message, and a child (``verify --run``'s container) keeps running.
    """
    from multiarch_tasks.engine.process import interruptible
    from multiarch_tasks.model.errors import RunInterruptedError

    with interruptible():
        try:
            return call()
        except RunInterruptedError as err:
            line = f"{err}: {what} stopped; it only reads: nothing was changed"
            raise RunInterruptedError(line, err.code) from err


def _runner(runner: Runner | None) -> Runner:
    if runner is not None:
        return runner
    from multiarch_tasks.engine import runner as engine

    return engine.Runner()


# --- steps without subjects: step(settings, runner=None, **options) ----------------------


def build(settings: Settings, runner: Runner | None = None) -> BuildResult:
    """Build and push one image per platform; write digests.json."""
    from multiarch_tasks.steps.build import build as impl

    return impl(settings, _runner(runner))


def builder_create(settings: Settings, runner: Runner | None = None) -> BuilderResult:
    """Create the buildx builder, or reuse it when it exists and covers the platforms."""
    from multiarch_tasks.steps.builder import builder_create as impl

    return impl(settings, _runner(runner))


def doctor(settings: Settings, runner: Runner | None = None, **options: Any) -> DoctorResult:
    """Check this machine can publish; ``options``: ``client``, ``found`` (test seams)."""
    from multiarch_tasks.checks.doctor.check import doctor as impl

    return impl(settings, _runner(runner), **options)


def lint(settings: Settings, runner: Runner | None = None) -> LintResult:
    """Find Dockerfile hazards that ship one architecture to every platform."""
    from multiarch_tasks.checks.lint.checker import lint as impl

    return impl(settings, runner)


def manifest_create(
    settings: Settings, runner: Runner | None = None, **options: Any
) -> ManifestResult:
    """Assemble the index from the per-arch images; ``options``: ``digests``, ``client``."""
    from multiarch_tasks.steps.manifest.lists import manifest_create as impl

    return impl(settings, _runner(runner), **options)


def manifest_push(
    settings: Settings, runner: Runner | None = None, **options: Any
) -> ManifestResult:
    """Push the index manifest_create assembled to every tag; ``options``: ``client``."""
    from multiarch_tasks.steps.manifest.lists import manifest_push as impl

    return impl(settings, _runner(runner), **options)


def merge(
    settings: Settings, runner: Runner | None = None, *, directories: Sequence[str] = ()
) -> ManifestResult:
    """Merge the digest maps in ``directories`` (default: the output dir) into one index.

    With ``settings.layout`` the shards' OCI layouts are merged into one on disk instead.
    """
    if settings.layout:
        from multiarch_tasks.steps.manifest.layout import merge as impl
    else:
        from multiarch_tasks.steps.manifest.lists import merge as impl

    return impl(settings, _runner(runner), list(directories) or [settings.output_dir])


def mirror(
    settings: Settings,
    runner: Runner | None = None,
    *,
    src: str | None = None,
    dest: str | None = None,
    tool: str = "auto",
    from_file: str | None = None,
    platforms_given: bool = False,
    attestations: bool = True,
    **options: Any,
) -> MirrorResult:
    """Copy a multi-arch image (or each ``SRC DEST`` line of ``from_file``) with all platforms."""
    from multiarch_tasks.steps.mirror.copy import mirror as impl

    return impl(
        settings,
        _runner(runner),
        src=src,
        dest=dest,
        tool=tool,
        from_file=from_file,
        platforms_given=platforms_given,
        attestations=attestations,
        **options,
    )


def preflight(settings: Settings, runner: Runner | None = None, **options: Any) -> PreflightReport:
    """Check every base image has every target platform, and the host can build them."""
    from multiarch_tasks.checks.preflight.check import preflight as impl

    return impl(settings, _runner(runner), **options)


def publish(settings: Settings, runner: Runner | None = None) -> PublishResult:
    """Preflight, set up QEMU and the builder, build every platform, merge, push, verify."""
    from multiarch_tasks.steps.publish import publish as impl

    return impl(settings, _runner(runner))


def qemu_setup(settings: Settings, runner: Runner | None = None) -> QemuResult:
    """Register QEMU emulators for platforms the builder cannot run natively."""
    from multiarch_tasks.steps.qemu import qemu_setup as impl

    return impl(settings, _runner(runner))


# --- steps with subjects: step(settings, subject, runner=None, **options) -----------------


def verify(
    settings: Settings,
    ref: ImageRef,
    runner: Runner | None = None,
    *,
    deep: bool = False,
    run: bool = False,
    allow_single: bool = False,
    **options: Any,
) -> VerifyReport:
    """Prove every platform of ``ref`` is what it claims: index, configs, binaries."""
    from multiarch_tasks.checks.verify.check import verify as impl

    return _reading(
        f"verify of {ref}",
        lambda: impl(
            settings,
            ref,
            runner=_runner(runner),
            deep=deep,
            run=run,
            allow_single=allow_single,
            **options,
        ),
    )


def inspect(
    settings: Settings,
    ref: ImageRef,
    runner: Runner | None = None,  # noqa: ARG001 - registry reads only; kept for the shape
    *,
    platform: str | None = None,
    **options: Any,
) -> InspectResult:
    """Show ``ref``'s index: platform, digest, size, created, attestation."""
    from multiarch_tasks.checks.inspect import inspect as impl

    return _reading(f"inspect of {ref}", lambda: impl(settings, ref, platform=platform, **options))


def ci_template(
    settings: Settings,
    provider: str = "github",
    runner: Runner | None = None,  # noqa: ARG001 - renders text only; kept for the shape
    **options: Any,
) -> str:
    """The CI pipeline (``github`` or ``gitlab``) that builds per arch and merges, as text."""
    from multiarch_tasks.ci.templates import ci_template as impl

    return impl(settings, provider, **options)


def ci_rehearse(
    settings: Settings,
    pipeline: str | Path,
    runner: Runner | None = None,
    *,
    project: str | Path = ".",
    work_dir: str | Path | None = None,
    secrets: Mapping[str, str] | None = None,
    jobs: int = 0,
    image: str | None = None,
    registry: str | None = None,
    event: str = "push",
) -> RehearsalResult:
    """Run a generated ``pipeline`` here: each shard in its own workspace, then the merge.

    It publishes to a scratch repository: ``image``, else the project's image with
    ``-rehearsal`` appended (on ``registry``, or a local registry when one answers),
    never to the project's own tags. ``event``: ``push``, ``pull_request`` or ``fork``.
    """
    from multiarch_tasks.ci.rehearse.run import rehearse as impl

    # settings describe the current directory's project; another project is read there.
    here = Path(project).resolve() == Path.cwd()
    return impl(
        pipeline,
        _runner(runner),
        project=project,
        work_dir=work_dir,
        secrets=secrets,
        jobs=jobs,
        image=image,
        registry=registry,
        project_image=settings.image if here else "",
        event=event,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'multiarch_tasks.api' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f"multiarch_tasks.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
