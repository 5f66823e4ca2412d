"""publish: preflight -> qemu-setup -> builder-create -> build -> manifest create/push -> verify.

Nothing lost: the final tags are written only by ``manifest_push``, after every platform
built and pushed; a failed platform stops the run with the tags untouched. Per-arch tags
are never deleted (the index points at their manifests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multiarch_tasks import tools
from multiarch_tasks.build import BuildResult, build, check_inputs
from multiarch_tasks.builder import builder_create
from multiarch_tasks.errors import CheckFailedError
from multiarch_tasks.manifest import ManifestResult, manifest_create, manifest_push
from multiarch_tasks.plan import plan_publish
from multiarch_tasks.platforms import Platform
from multiarch_tasks.qemu import qemu_setup
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings


@dataclass(frozen=True)
class PublishResult:
    """What each step did; ``ok`` is the verify verdict (or True when verify is off)."""

    image: str
    tags: tuple[str, ...]
    digest: str
    platforms: tuple[Platform, ...]
    steps: tuple[tuple[str, str], ...]
    verify: Any = None
    dry: bool = False

    @property
    def ok(self) -> bool:
        """True when everything pushed and verify (if run) passed."""
        return self.verify is None or bool(self.verify.ok)

    def render(self) -> str:
        """A summary line per step, then the verify report."""
        head = "publish (dry run)" if self.dry else f"publish: {', '.join(self.tags)}"
        lines = [f"{head} {self.digest}".rstrip()]
        lines += [f"  {name}: {summary}" for name, summary in self.steps]
        if self.verify is not None:
            lines.append(self.verify.render())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (verify's JSON nested under ``verify``)."""
        return {
            "ok": self.ok,
            "image": self.image,
            "tags": list(self.tags),
            "digest": self.digest,
            "platforms": [str(p) for p in self.platforms],
            "steps": dict(self.steps),
            "verify": self.verify.to_json() if self.verify is not None else None,
        }


def _first_line(result: Any) -> str:
    text = str(result.render()).strip().splitlines()
    line = text[0] if text else ""
    return line.split(": ", 1)[-1]


def publish(settings: Settings, runner: Runner) -> PublishResult:
    """Run the whole pipeline; raise on the first failing step."""
    image = str(settings.image_ref)
    check_inputs(settings)
    tools.require_docker(runner)
    steps: list[tuple[str, str]] = []
    plan = plan_publish(settings, runner)
    runner.say(plan.render())

    def step(name: str, result: Any) -> None:
        runner.say(result.render())
        steps.append((name, _first_line(result)))

    if settings.preflight:
        from multiarch_tasks.preflight import preflight  # noqa: PLC0415

        checked = preflight(settings, runner)
        if not checked.ok:
            runner.say(checked.render())
            raise CheckFailedError(
                "preflight failed: nothing was built or pushed (see the matrix above)"
            )
        step("preflight", checked)
    step("qemu-setup", qemu_setup(settings, runner))
    how = None
    if settings.backend == "buildx":
        builder = builder_create(settings, runner)
        step("builder-create", builder)
        how = builder.coverage
    built: BuildResult = build(settings, runner, how=how, show_plan=False)
    step("build", built)
    tags = tuple(str(settings.ref(t)) for t in settings.tags)
    digest = built.index_digest
    if settings.strategy == "per-arch" and settings.backend == "buildx":
        created = manifest_create(settings, runner, digests=None if runner.dry else built.digests)
        step("manifest-create", created)
        pushed: ManifestResult = manifest_push(settings, runner)
        step("manifest-push", pushed)
        digest = pushed.digest
    if runner.dry:
        return PublishResult(image, tags, "", settings.platforms, tuple(steps), dry=True)
    report = None
    if settings.verify:
        from multiarch_tasks.verify import verify  # noqa: PLC0415

        report = verify(
            settings,
            settings.ref().with_digest(digest),
            runner=runner,
            deep=settings.verify_deep,
            run=bool(settings.verify_run),
        )
        if report.digest and report.digest != digest:
            raise CheckFailedError(f"verify read {report.digest}, but publish pushed {digest}")
    return PublishResult(image, tags, digest, settings.platforms, tuple(steps), report)
