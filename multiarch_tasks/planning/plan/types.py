"""The plan as values: :class:`Plan`, its :class:`Step` s and :class:`BuildStep` s.

What a run will do, decided before it does any of it (by :mod:`.plan`), and how it is
shown: the numbered text ``publish`` prints and the JSON ``--json`` prints. Also the one
spelling of a run-unique staging tag, which the build and merge steps both push to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from multiarch_tasks.engine.runner import display, redact, redact_data
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import fit_tag
from multiarch_tasks.planning.decide import Assignment


@dataclass(frozen=True)
class BuildStep:
    """One planned build: which platforms, how they build, where it pushes, the argv."""

    platforms: tuple[Platform, ...]
    tags: tuple[str, ...]  # what the build pushes to ("" tags when by digest)
    how: str
    argv: tuple[str, ...]
    metadata_file: str
    env: Mapping[str, str] = field(default_factory=dict)
    layout: str = ""  # the OCI layout directory it writes instead of pushing ("" = pushes)

    @property
    def label(self) -> str:
        """What prefixes this step's output lines."""
        return ",".join(str(p) for p in self.platforms)


@dataclass(frozen=True)
class Step:
    """One step of the plan: its commands (argv) and its other operations (text)."""

    name: str
    summary: str
    commands: tuple[tuple[str, ...], ...] = ()
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything a run will do, decided before it does any of it."""

    image: str
    tags: tuple[str, ...]  # the final references
    run_id: str
    assignments: tuple[Assignment, ...]
    strategy: str
    strategy_why: str
    driver: str
    builder_name: str
    builder_source: str
    create_builder: bool
    buildkitd_config: str  # the generated config's text ("" = none)
    buildkitd_path: str
    qemu_mode: str
    qemu_register: tuple[Assignment, ...]
    by_digest: bool
    per_arch_tags: bool
    tool: str
    builds: tuple[BuildStep, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    staging: str = ""  # the run-unique tag an index is pushed to when not by digest

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """Every command the run will start, in order (probes aside)."""
        return [argv for step in self.steps for argv in step.commands]

    def step(self, name: str) -> Step | None:
        """The step called ``name``, if planned."""
        return next((s for s in self.steps if s.name == name), None)

    def render(self, secrets: Sequence[str] = ()) -> str:
        """Numbered steps, each with its commands; the per-platform assignments first."""
        head = f"plan: {', '.join(self.tags) or 'no image'} for {len(self.assignments)} platform(s)"
        lines = [
            head,
            f"  builder {self.builder_name!r} ({self.builder_source}), driver {self.driver}",
        ]
        width = max(len(str(a.platform)) for a in self.assignments)
        lines += [f"  {a.platform!s:<{width}}  {a.render()}" for a in self.assignments]
        lines += [f"  note: {n}" for n in self.notes]
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number}. {step.name}: {step.summary}")
            lines += [f"       $ {display(argv, secrets)}" for argv in step.commands]
            lines += [f"       - {op}" for op in step.ops]
        return "\n".join(lines)

    def to_json(self, secrets: Sequence[str] = ()) -> dict[str, object]:
        """The plan as JSON, redacted as :meth:`render` is (``secrets`` hidden, URLs scrubbed).

        Each command goes through the runner's argv rules (``--password X`` hides ``X``),
        then every string of the document through its text rules.
        """
        doc: dict[str, object] = {
            "image": self.image,
            "tags": list(self.tags),
            "strategy": self.strategy,
            "builder": {
                "name": self.builder_name,
                "driver": self.driver,
                "source": self.builder_source,
                "create": self.create_builder,
            },
            "platforms": [a.to_json() for a in self.assignments],
            "push_by_digest": self.by_digest,
            "merge_tool": self.tool,
            "steps": [
                {
                    "name": s.name,
                    "summary": s.summary,
                    "commands": [redact(c, secrets) for c in s.commands],
                }
                for s in self.steps
            ],
            "notes": list(self.notes),
        }
        return redact_data(doc, secrets)


def staging_tag(tag: str, run_id: str, platform: Platform | None = None) -> str:
    """A run-unique tag no other run uses: ``1.2-linux-arm64-staging-3f9a2c1b``.

    At most 128 characters: a long ``tag`` is shortened and hashed (:func:`fit_tag`);
    it always ends in ``-staging-<run_id>``, which is how a run finds its own to remove.
    """
    middle = f"-{platform.tag_suffix}" if platform else ""
    return fit_tag(tag, f"{middle}-staging-{run_id}")
