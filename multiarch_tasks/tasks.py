"""Build, publish and verify multi-architecture container images.

Import the collection into your tasks.py (``ns = Collection(multiarch)``) and run
``inv multiarch.publish``, or run ``multiarch publish`` without a tasks.py. Settings come
from ``[tool.multiarch-tasks]`` in pyproject.toml, then invoke config under
``multiarch:``, then these flags.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from multiarch_tasks import api
from multiarch_tasks.errors import MultiarchError
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import KEYS, MAPPING_KEYS, Settings, settings_from

T = TypeVar("T")
ENV_PREFIX = "INVOKE_MULTIARCH_"

COMMON_HELP = {
    "image": "Image repository without tag, e.g. registry.example.com/team/app",
    "tag": "Tag to publish; repeatable or comma list (default: latest)",
    "platforms": "Target platforms, docker's comma form: linux/amd64,linux/arm64",
    "context": "Build context directory (default: .)",
    "file": "Dockerfile path (default: CONTEXT/Dockerfile)",
    "build_arg": "Build argument K=V; repeatable",
    "output_dir": "Where digests.json is written (default: .multiarch)",
    "builder": "buildx builder name (default: the engine's own)",
    "strategy": "per-arch (one build per platform, then merge) or multi-platform",
    "backend": "buildx or buildah",
    "manifest_tool": "auto, imagetools, docker or native (this package, over the registry API)",
    "attestations": "auto (buildx's default), on or off",
    "jobs": "How many per-arch builds run at once (default: all)",
    "json": "Print the result as JSON",
}
BUILD_ITERABLES = ["tag", "build_arg"]
MERGE_FLAGS = ("image", "tag", "platforms", "output_dir", "manifest_tool", "attestations", "json")
BUILD_FLAGS = (
    *MERGE_FLAGS,
    "context",
    "file",
    "build_arg",
    "builder",
    "strategy",
    "backend",
    "jobs",
)


def _help(names: tuple[str, ...], **extra: str) -> dict[str, str]:
    """Help texts for the named common flags plus task-specific ones."""
    return {**{n: COMMON_HELP[n] for n in names}, **extra}


def _env_overrides(config: Mapping[str, Any]) -> dict[str, str]:
    """Env values invoke could not apply because the key was not declared.

    ``ns.configure({"multiarch": {...}})`` on a root collection replaces our declared
    ``None`` keys (invoke merges collection config shallowly), and invoke's env loader only
    overrides declared keys. Rather than ignore ``INVOKE_MULTIARCH_*`` silently then, apply
    them here at the same precedence.
    """
    out: dict[str, str] = {}
    for key in KEYS:
        name = ENV_PREFIX + key.upper()
        # invoke's env loader never sets mapping keys (it reads them as nested namespaces),
        # so `INVOKE_MULTIARCH_BUILD_ARGS=K=V,K2=V2` is applied here too.
        if name in os.environ and (key not in config or key in MAPPING_KEYS):
            out[key] = os.environ[name]
    return out


def settings_for(c: Context, **flags: Any) -> Settings:
    """Resolve the settings of one task call (defaults < pyproject < invoke config < flags)."""
    raw = c.config.get("multiarch") or {}
    config = dict(raw) if isinstance(raw, Mapping) else {}
    config.update(_env_overrides(config))
    return settings_from(config, flags)


def runner_for(c: Context, *, json_output: bool = False) -> Runner:
    """A runner honouring invoke's ``--dry``, ``--echo`` and ``run.echo_format``.

    With ``--json`` progress goes to stderr, so stdout holds only the JSON document.
    """
    run = c.config.run
    out = sys.stderr if json_output else sys.stdout
    return Runner(
        dry=bool(run.dry),
        echo=bool(run.echo),
        echo_format=str(run.echo_format) if out.isatty() else "{command}",
        out=out,
    )


def _debug() -> bool:
    return logging.getLogger("invoke").isEnabledFor(logging.DEBUG) or bool(
        os.environ.get("INVOKE_DEBUG")
    )


def guarded(call: Callable[[], T]) -> T:
    """Run ``call``; turn our errors into a one-line ``Exit`` (traceback only with --debug)."""
    try:
        return call()
    except MultiarchError as err:
        if _debug():
            traceback.print_exc()
        raise Exit(f"multiarch: error: {err}", code=1) from err


def emit(result: Any, as_json: bool) -> None:
    """Print a step result as JSON or as its text rendering."""
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        text = result.render()
        if text:
            print(text)


def _fail_unless_ok(result: Any) -> None:
    if not getattr(result, "ok", True):
        raise Exit(code=1)


def _flags(**kwargs: Any) -> dict[str, Any]:
    """Drop flags that were not given (None or an empty repeatable)."""
    return {k: v for k, v in kwargs.items() if v is not None and v != []}


def run_step(
    c: Context,
    step: Callable[[Settings, Runner], Any],
    *,
    as_json: bool = False,
    check: bool = False,
    **flags: Any,
) -> None:
    """Resolve settings (flags on top), run one api step, print it; exit 1 when not ok."""
    settings = guarded(lambda: settings_for(c, **_flags(**flags)))
    result = guarded(lambda: step(settings, runner_for(c, json_output=as_json)))
    emit(result, as_json)
    if check:
        _fail_unless_ok(result)


# --- pipeline steps -------------------------------------------------------------------


@task(
    help={
        "platforms": COMMON_HELP["platforms"],
        "mode": "auto (inspect, add what is missing), docker (binfmt image) or host",
    }
)
def qemu_setup(c: Context, platforms: str | None = None, mode: str | None = None) -> None:
    """Register QEMU emulators in binfmt_misc for platforms the builder cannot run natively."""
    run_step(c, api.qemu_setup, platforms=platforms, qemu_mode=mode)


@task(
    help={
        "builder": COMMON_HELP["builder"],
        "platforms": COMMON_HELP["platforms"],
        "driver": "docker, docker-container or remote",
        "use": "Also make it current",
    }
)
def builder_create(
    c: Context,
    builder: str | None = None,
    platforms: str | None = None,
    driver: str | None = None,
    use: bool = False,
) -> None:
    """Create the buildx builder, or reuse it when it exists and covers the platforms."""
    run_step(
        c,
        api.builder_create,
        builder=builder,
        platforms=platforms,
        driver=driver,
        use_builder=use or None,
    )


@task(help=_help(BUILD_FLAGS), iterable=BUILD_ITERABLES)
def build(
    c: Context,
    image: str | None = None,
    tag: list[str] | None = None,
    platforms: str | None = None,
    context: str | None = None,
    file: str | None = None,
    build_arg: list[str] | None = None,
    output_dir: str | None = None,
    builder: str | None = None,
    strategy: str | None = None,
    backend: str | None = None,
    attestations: str | None = None,
    jobs: str | None = None,
    json: bool = False,
    manifest_tool: str | None = None,
) -> None:
    """Build and push one image per platform; write digests.json."""
    run_step(
        c,
        api.build,
        as_json=json,
        image=image,
        tags=tag,
        platforms=platforms,
        context=context,
        file=file,
        build_args=build_arg,
        output_dir=output_dir,
        builder=builder,
        strategy=strategy,
        backend=backend,
        attestations=attestations,
        jobs=jobs,
        manifest_tool=manifest_tool,
    )


def _index_task(step: Callable[[Settings, Runner], Any], name: str, doc: str) -> Any:
    """A task over one index step (manifest-create, manifest-push): same flags, same body."""

    def body(
        c: Context,
        image: str | None = None,
        tag: list[str] | None = None,
        platforms: str | None = None,
        output_dir: str | None = None,
        manifest_tool: str | None = None,
        attestations: str | None = None,
        json: bool = False,
    ) -> None:
        run_step(
            c,
            step,
            as_json=json,
            image=image,
            tags=tag,
            platforms=platforms,
            output_dir=output_dir,
            manifest_tool=manifest_tool,
            attestations=attestations,
        )

    body.__name__ = body.__qualname__ = name
    body.__doc__ = doc
    return task(help=_help(MERGE_FLAGS), iterable=["tag"])(body)


manifest_create = _index_task(
    api.manifest_create,
    "manifest_create",
    "Assemble the multi-arch index from the per-arch images (does not move the tag yet).",
)
manifest_push = _index_task(
    api.manifest_push, "manifest_push", "Push the index assembled by manifest-create to every tag."
)


@task(
    help=_help(MERGE_FLAGS, from_="Comma list of directories holding digests.json"),
    iterable=["tag"],
)
def merge(
    c: Context,
    from_: str | None = None,
    image: str | None = None,
    tag: list[str] | None = None,
    platforms: str | None = None,
    output_dir: str | None = None,
    manifest_tool: str | None = None,
    attestations: str | None = None,
    json: bool = False,
) -> None:
    """Merge digest maps from several runners into one index and push it to every tag."""
    dirs = [d for d in (from_ or "").split(",") if d]
    run_step(
        c,
        lambda s, r: api.merge(s, r, dirs or [s.output_dir]),
        as_json=json,
        image=image,
        tags=tag,
        platforms=platforms,
        output_dir=output_dir,
        manifest_tool=manifest_tool,
        attestations=attestations,
    )


@task(
    help=_help(
        BUILD_FLAGS,
        deep="Also verify ELF headers inside layers",
        no_verify="Skip the verify step",
        no_preflight="Skip the preflight step",
    ),
    iterable=BUILD_ITERABLES,
)
def publish(
    c: Context,
    image: str | None = None,
    tag: list[str] | None = None,
    platforms: str | None = None,
    context: str | None = None,
    file: str | None = None,
    build_arg: list[str] | None = None,
    output_dir: str | None = None,
    builder: str | None = None,
    strategy: str | None = None,
    backend: str | None = None,
    manifest_tool: str | None = None,
    attestations: str | None = None,
    jobs: str | None = None,
    deep: bool = False,
    no_verify: bool = False,
    no_preflight: bool = False,
    json: bool = False,
) -> None:
    """Preflight, set up QEMU and the builder, build every platform, merge, push, verify."""
    run_step(
        c,
        api.publish,
        as_json=json,
        check=True,
        image=image,
        tags=tag,
        platforms=platforms,
        context=context,
        file=file,
        build_args=build_arg,
        output_dir=output_dir,
        builder=builder,
        strategy=strategy,
        backend=backend,
        manifest_tool=manifest_tool,
        attestations=attestations,
        jobs=jobs,
        verify_deep=deep or None,
        verify=False if no_verify else None,
        preflight=False if no_preflight else None,
    )


# --- checks ---------------------------------------------------------------------------


@task(
    help={
        "ref": "Image reference to check (an index, or a manifest with --allow-single)",
        "platforms": "Platforms that must be present (default: settings)",
        "deep": "Read ELF headers inside every layer",
        "run": "Run each platform's image with verify_run from settings",
        "allow_single": "Accept a single-platform manifest",
        "json": COMMON_HELP["json"],
    }
)
def verify(
    c: Context,
    ref: str,
    platforms: str | None = None,
    deep: bool = False,
    run: bool = False,
    allow_single: bool = False,
    json: bool = False,
) -> None:
    """Prove every platform of REF is what it claims: index, configs, binaries."""
    image = guarded(lambda: ImageRef.parse(ref))
    run_step(
        c,
        lambda s, r: api.verify(
            s, image, runner=r, deep=s.verify_deep, run=run, allow_single=allow_single
        ),
        as_json=json,
        check=True,
        platforms=platforms,
        verify_deep=deep or None,
    )


@task(
    help={
        "ref": "Image reference",
        "platform": "Show this platform's config summary",
        "json": "Print the raw index/manifest JSON",
    }
)
def inspect(c: Context, ref: str, platform: str | None = None, json: bool = False) -> None:
    """Show REF's index as a table: platform, digest, size, created, attestation."""
    image = guarded(lambda: ImageRef.parse(ref))
    run_step(c, lambda s, _: api.inspect(s, image, platform=platform), as_json=json)


@task(
    help=_help(
        ("platforms", "context", "file", "build_arg", "builder", "json"),
        allow_unreachable="Warn instead of failing on unreachable registries",
    ),
    iterable=["build_arg"],
)
def preflight(
    c: Context,
    platforms: str | None = None,
    context: str | None = None,
    file: str | None = None,
    build_arg: list[str] | None = None,
    allow_unreachable: bool = False,
    builder: str | None = None,
    json: bool = False,
) -> None:
    """Check every base image has every target platform, and the host can build them."""
    run_step(
        c,
        api.preflight,
        as_json=json,
        check=True,
        platforms=platforms,
        context=context,
        file=file,
        build_args=build_arg,
        allow_unreachable=allow_unreachable or None,
        builder=builder,
    )


@task(
    help={
        "src": "Source image reference",
        "dest": "Destination reference",
        "platforms": "Copy only these platforms (default: all)",
        "tool": "auto, skopeo, imagetools or native",
        "from_file": "File of 'SRC DEST' lines to mirror",
        "no_attestations": "Drop attestation manifests",
        "json": COMMON_HELP["json"],
    },
    positional=["src", "dest"],
)
def mirror(
    c: Context,
    src: str | None = None,
    dest: str | None = None,
    platforms: str | None = None,
    tool: str = "auto",
    from_file: str | None = None,
    no_attestations: bool = False,
    json: bool = False,
) -> None:
    """Copy a multi-arch image with all its platforms to another registry or repository."""
    run_step(
        c,
        lambda s, r: api.mirror(
            s,
            r,
            src=src or None,
            dest=dest or None,
            tool=tool,
            from_file=from_file,
            platforms_given=platforms is not None,
            attestations=not no_attestations,
        ),
        as_json=json,
        check=True,
        platforms=platforms,
    )


@task(help={"provider": "github or gitlab", "output": "Write to this file instead of stdout"})
def ci_template(c: Context, provider: str = "github", output: str | None = None) -> None:
    """Print a CI pipeline that builds per arch on separate runners and merges."""
    settings = guarded(lambda: settings_for(c))
    text = guarded(lambda: api.ci_template(settings, provider))
    if output:
        with open(output, "w") as fh:  # noqa: PTH123
            fh.write(text)
    else:
        print(text)


multiarch = Collection(
    "multiarch",
    qemu_setup,
    builder_create,
    build,
    manifest_create,
    manifest_push,
    merge,
    publish,
    verify,
    inspect,
    preflight,
    mirror,
    ci_template,
)
# Declare every key so INVOKE_MULTIARCH_<KEY> env vars can override them (invoke's env
# loader only touches known keys). Mapping keys are declared as {}: invoke refuses to merge
# a mapping from invoke.yaml over None.
multiarch.configure({"multiarch": {k: ({} if k in MAPPING_KEYS else None) for k in KEYS}})
# `Collection.from_module(multiarch_tasks.tasks, config={...})` finds this and deep-merges
# the consumer's config over the declared keys.
ns = multiarch
