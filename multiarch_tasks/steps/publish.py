"""publish: facts -> plan -> run, and the final tags move last.

The plan is printed first and is what runs: preflight, qemu-setup, builder, build, merge
(an index pushed by digest, or to a run-unique staging tag), verify of that index, and only
then promotion: the index written to each final tag in a fixed order, then the per-arch
tags. A failed build or verify, or SIGINT/SIGTERM, leaves every final tag where it was and
says so; concurrent runs share no artefact (run-unique staging tags and metadata files).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multiarch_tasks.config.settings import Settings, check_build_inputs
from multiarch_tasks.engine import facts as facts_mod
from multiarch_tasks.engine.runner import Runner, interruptible
from multiarch_tasks.model.errors import (
    CheckFailedError,
    CommandError,
    MultiarchError,
    RunInterruptedError,
    ToolMissingError,
)
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.planning.plan.types import staging_tag
from multiarch_tasks.steps.build import secret_runner

if TYPE_CHECKING:
    from multiarch_tasks.checks.verify.base_layers import BaseLayers
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.planning.plan.make import Plan
    from multiarch_tasks.registry.bases import MemoReader
    from multiarch_tasks.registry.client import RegistryClient


@dataclass(frozen=True)
class PublishResult:
    """What each step did; ``ok`` when everything pushed, verified and was promoted."""

    image: str
    tags: tuple[str, ...]
    digest: str
    platforms: tuple[Platform, ...]
    steps: tuple[tuple[str, str], ...]
    verify: Any = None
    dry: bool = False
    promoted: tuple[str, ...] = ()
    message: str = ""
    plan: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the index verified and every final tag points at it (or a dry run)."""
        return self.dry or (len(self.promoted) == len(self.tags) and not self.message)

    def render(self) -> str:
        """The result: the tags and digest, the verify verdict, what happened to the tags.

        Each step's own lines and the verify report were printed when they ran, in that
        order (issue 18): they are not repeated here (``steps`` stays in the JSON).
        """
        head = "publish (dry run)" if self.dry else f"publish: {', '.join(self.tags)}"
        lines = [f"{head} {self.digest}".rstrip()]
        if self.verify is not None:
            lines.append(f"  verified: {'OK' if self.verify.ok else 'FAILED'}")
        if self.promoted:
            lines.append(f"  promoted: {', '.join(self.promoted)}")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (verify's JSON nested under ``verify``)."""
        return {
            "ok": self.ok,
            "image": self.image,
            "tags": list(self.tags),
            "digest": self.digest,
            "promoted": list(self.promoted),
            "platforms": [str(p) for p in self.platforms],
            "steps": dict(self.steps),
            "verify": self.verify.to_json() if self.verify is not None else None,
            "error": self.message,
            "plan": self.plan,
        }


def _first_line(result: Any) -> str:
    text = str(result.render()).strip().splitlines()
    line = text[0] if text else ""
    return line.split(": ", 1)[-1]


def plan_publish(
    settings: Settings,
    runner: Runner,
    *,
    run_id: str = "",
    probing: facts_mod.Probing | None = None,
) -> Plan:
    """Gather the facts and decide the whole publish (read-only probes only)."""
    # The planner is imported while the probes run (``probing`` started them).
    probing = probing or facts_mod.probe(settings, runner)
    from multiarch_tasks.planning.plan.make import make_plan  # noqa: PLC0415
    from multiarch_tasks.steps.build import new_run_id  # noqa: PLC0415

    return make_plan(settings, probing.facts(), run_id=run_id or new_run_id())


class ReadAhead:
    """Registry reads a run needs later, made in the background while the probes run.

    The final tags' digests (what a failure leaves them at) and, with preflight, the base
    images' indexes. What they raise is raised where the run reads them.
    """

    def __init__(self, settings: Settings) -> None:
        from concurrent.futures import Future  # noqa: PLC0415

        self.settings = settings
        self.refs = tuple(str(settings.ref(t)) for t in settings.tags)  # as the plan names them
        self._reads: Future[_Reads] = Future()
        # On a daemon thread: a run that fails before it needs these exits at once instead
        # of waiting for registry reads nobody will use.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            self._reads.set_result(_read_ahead(self.settings, self.refs))
        except BaseException as err:  # noqa: BLE001 - raised where the run reads the result
            self._reads.set_exception(err)

    def client(self) -> RegistryClient:
        """The registry client the reads used (its connections stay open for the run)."""
        return self._reads.result().client

    @property
    def bases(self) -> MemoReader | None:
        """The base images' indexes, read for preflight (None without preflight)."""
        return self._reads.result().bases

    def tags(self, refs: tuple[str, ...]) -> dict[str, str]:
        """Digest of each of ``refs`` that exists (read ahead when they were the ones read)."""
        reads = self._reads.result()
        if isinstance(reads.tags, MultiarchError):
            raise reads.tags
        if set(refs) != set(self.refs):
            return read_tags(reads.client, list(refs))
        return reads.tags


@dataclass(frozen=True)
class _Reads:
    client: RegistryClient
    tags: dict[str, str] | MultiarchError
    bases: MemoReader | None


def _read_ahead(settings: Settings, refs: tuple[str, ...]) -> _Reads:
    # The registry client is imported here too: off the main thread's path.
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    client = RegistryClient.from_settings(settings)
    tags: dict[str, str] | MultiarchError
    try:
        tags = read_tags(client, list(refs))
    except MultiarchError as err:
        tags = err
    bases = None
    if settings.preflight:
        from multiarch_tasks.registry.bases import read_bases_ahead  # noqa: PLC0415

        bases = read_bases_ahead(settings)
    return _Reads(client, tags, bases)


def read_tags(client: RegistryClient, refs: list[str]) -> dict[str, str]:
    """The digest each of ``refs`` points at, for those that exist."""
    found = client.map(lambda r: client.head_manifest(ImageRef.parse(r)), refs)
    return {r: d.digest for r, d in zip(refs, found, strict=True) if d is not None}


def publish(settings: Settings, runner: Runner) -> PublishResult:
    """Print the plan, then run exactly its steps; ``--dry`` stops after printing."""
    import os  # noqa: PLC0415

    from multiarch_tasks.config.signing import check_sign_inputs, signing_secrets  # noqa: PLC0415

    check_build_inputs(settings)
    check_sign_inputs(settings, os.environ)
    runner = secret_runner(settings, runner).with_secrets(*signing_secrets(os.environ))
    if not runner.dry:
        # Every child's whole output, redacted, so the terminal can stay short (issue 18).
        runner = runner.logging_to(Path(settings.output_dir) / "logs")
    probing = facts_mod.probe(settings, runner)
    ahead = None if runner.dry else ReadAhead(settings)
    plan = plan_publish(settings, runner, probing=probing)
    from multiarch_tasks.steps.outline import say_plan  # noqa: PLC0415

    say_plan(plan, runner)
    if runner.dry:
        return PublishResult(
            plan.image,
            plan.tags,
            "",
            settings.platforms,
            (),
            dry=True,
            plan=plan.to_json(runner.secrets),
        )
    with interruptible():
        return _Run(plan, settings, runner, ahead).run()


class _Run:
    """One publish run: the steps in the plan's order, and what the tags did."""

    def __init__(
        self, plan: Plan, settings: Settings, runner: Runner, ahead: ReadAhead | None = None
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.runner = runner
        self.ahead = ahead
        self.steps: list[tuple[str, str]] = []
        self.promoted: list[str] = []
        self.before: dict[str, str] = {}
        self._client: RegistryClient | None = None

    @property
    def client(self) -> RegistryClient:
        if self._client is None and self.ahead is not None:
            self._client = self.ahead.client()
        if self._client is None:
            from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

            self._client = RegistryClient.from_settings(self.settings)
        return self._client

    def record(self, name: str, result: Any, runner: Runner | None = None) -> None:
        text = str(result.render())
        if name == "builder-create":
            # Its per-platform lines (native, emulated, node) are the plan's: said once.
            text = text.split("\n", 1)[0]
        (runner or self.runner).say(text)
        self.steps.append((name, _first_line(result)))

    def where_tags_are(self) -> str:
        """``IMAGE:TAG still at DIGEST`` for each final tag not promoted by this run."""
        parts = [
            f"{tag} still at {self.before[tag]}" if self.before.get(tag) else f"{tag} not created"
            for tag in self.plan.tags
            if tag not in self.promoted
        ]
        return "; ".join(parts)

    def run(self) -> PublishResult:
        try:
            return self._run()
        except RunInterruptedError as err:
            if self.promoted:
                rest = [t for t in self.plan.tags if t not in self.promoted]
                line = (
                    f"{err}: promoted {', '.join(self.promoted)}; not moved:"
                    f" {', '.join(rest) or 'none'}; rerun the same publish to finish"
                )
            else:
                line = f"{err}: nothing promoted; {self.where_tags_are()}"
            raise RunInterruptedError(line, err.code) from err

    def _run(self) -> PublishResult:
        plan, settings, runner = self.plan, self.settings, self.runner
        from multiarch_tasks.model.digests import write_digest_map  # noqa: PLC0415
        from multiarch_tasks.steps.build import run_build, tag_per_arch  # noqa: PLC0415
        from multiarch_tasks.steps.builder import run_builder_step  # noqa: PLC0415
        from multiarch_tasks.steps.qemu import run_qemu_step  # noqa: PLC0415

        if self.ahead is not None:
            self.before = self.ahead.tags(plan.tags)
        else:
            self.before = read_tags(self.client, list(plan.tags))
        if plan.step("preflight") is not None:
            from multiarch_tasks.checks.preflight.check import preflight  # noqa: PLC0415

            bases = self.ahead.bases if self.ahead is not None else None
            with runner.stage("preflight") as step:
                checked = preflight(settings, step, assignments=plan.assignments, client=bases)
                if not checked.ok:
                    step.say(checked.render())
                    raise CheckFailedError(
                        "preflight failed: nothing was built or pushed (see the matrix above)"
                    )
                self.record("preflight", checked, step)
        with runner.stage("qemu-setup") as step:
            self.record("qemu-setup", run_qemu_step(plan, step), step)
        if plan.step("builder") is not None:
            with runner.stage("builder") as step:
                self.record("builder-create", run_builder_step(plan, step), step)
        with runner.stage("build") as step:
            built = run_build(plan, settings, step, self.client)
            self.record("build", built, step)
        digest, raw, media = self._index(built.digests, built.index_digest)
        report = None
        if settings.verify:
            report = self._verify(digest)
            if not report.ok:
                signed = "; nothing signed" if plan.step("sign") is not None else ""
                return self._result(
                    digest,
                    report,
                    f"verify failed: nothing promoted{signed}; the unpromoted index is"
                    f" {plan.image}@{digest}; {self.where_tags_are()}",
                )
        if plan.step("sign") is not None:
            from multiarch_tasks.steps.sign import run_sign_step  # noqa: PLC0415

            try:
                with runner.stage("sign") as step:
                    self.record("sign", run_sign_step(settings, step, digest, raw), step)
            except (CommandError, ToolMissingError) as err:
                return self._result(
                    digest,
                    report,
                    f"signing failed: nothing promoted; {err}; the unpromoted index is"
                    f" {plan.image}@{digest}; {self.where_tags_are()}",
                )
        from multiarch_tasks.steps.manifest.lists import promote  # noqa: PLC0415

        with runner.stage("promote") as step:
            for ref in plan.tags:
                promote(self.client, [ref], raw, media)
                self.promoted.append(ref)
            tag_per_arch(plan, settings, built.digests)
            self.steps.append(("promote", f"{', '.join(self.promoted)} -> {digest}"))
            step.say(f"promote: {', '.join(self.promoted)} -> {digest}")
        self._remove_staging()
        write_digest_map(settings.output_dir, built.digests, index=digest)
        return self._result(digest, report, "")

    def _verify(self, digest: str) -> Any:
        """Verify the unpromoted index; its report is said when it ran (before promote)."""
        settings = self.settings
        from multiarch_tasks.checks.lint.checker import lint  # noqa: PLC0415
        from multiarch_tasks.checks.verify.check import verify  # noqa: PLC0415

        deep = settings.deep_scope != "off"
        with self.runner.stage("verify") as step:
            report = verify(
                settings,
                settings.image_ref.with_digest(digest),
                runner=step,
                deep=deep,
                run=bool(settings.verify_run),
                check_tags=False,
                # --deep says which lint warning it confirmed (an amd64 binary in arm64).
                findings=lint(settings).findings if deep else (),
                client=self.client,  # it holds the index read by digest already
                base=self._base_layers() if settings.deep_scope == "auto" else None,
                attestations=settings.verify_attestations,
                # buildx hands BuildKit the Dockerfile's name; its provenance records that.
                dockerfile=Path(settings.dockerfile).name,
            )
            step.say(report.render())
        return report

    def _base_layers(self) -> BaseLayers:
        """The base image's layers per platform: the default scan reads only the others."""
        from multiarch_tasks.checks.verify.base_layers import base_layers  # noqa: PLC0415

        # The base indexes preflight read ahead are in memory; its platform manifests are not.
        bases = self.ahead.bases if self.ahead is not None else None
        return base_layers(self.settings, bases or self.client, self.settings.platforms)

    def _remove_staging(self) -> None:
        """Delete the staging tags this run pushed (none where it pushed by digest)."""
        from multiarch_tasks.steps.manifest.compose import remove_staging  # noqa: PLC0415

        plan = self.plan
        made = [t for b in plan.builds for t in b.tags]
        if plan.staging or (plan.strategy == "per-arch" and plan.tool == "docker"):
            made.append(str(self.settings.ref(staging_tag(self.settings.tags[0], plan.run_id))))
        # Only this image's tags of this run: buildah's local list is no registry tag.
        mine = [
            t
            for t in dict.fromkeys(made)
            if t.startswith(f"{plan.image}:") and t.endswith(f"-staging-{plan.run_id}")
        ]
        line = remove_staging(self.client, mine) if mine else ""
        if line:
            self.runner.say(line)

    def _index(self, digests: Mapping[Platform, str], index_digest: str) -> tuple[str, bytes, str]:
        """The index to verify and promote: merged now (per-arch) or built (multi-platform)."""
        plan = self.plan
        if plan.strategy == "per-arch":
            from multiarch_tasks.steps.manifest.lists import compose_index  # noqa: PLC0415

            with self.runner.stage("merge") as step:
                composed = compose_index(
                    self.settings,
                    step,
                    self.client,
                    digests,
                    tool=plan.tool,
                    staging=str(
                        self.settings.image_ref.with_tag(
                            staging_tag(self.settings.tags[0], plan.run_id)
                        )
                    ),
                )
                step.say(
                    f"merge ({composed.tool}): {plan.image}@{composed.digest} (no tag moved yet)"
                )
            self.steps.append(("merge", f"{composed.tool} {composed.digest}"))
            return composed.digest, composed.raw, composed.media_type
        doc = self.client.get_manifest(self.settings.image_ref.with_digest(index_digest))
        return doc.digest, doc.raw, doc.media_type

    def _result(self, digest: str, report: Any, message: str) -> PublishResult:
        return PublishResult(
            self.plan.image,
            self.plan.tags,
            digest,
            self.settings.platforms,
            tuple(self.steps),
            report,
            promoted=tuple(self.promoted),
            message=message,
            plan=self.plan.to_json(self.runner.secrets),
        )
