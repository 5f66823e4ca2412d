"""Say a plan: its text for the log, and the same plan as data for a live view (issue 18).

The checklist and the platform rows a live view draws come from the plan that runs, not
from a second description of it; its full text (every command) goes to the log
``plan.log`` as well, so the view can show one line per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.engine.progress import Event, Outline

if TYPE_CHECKING:
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.planning.plan.make import Plan

__all__ = ["outline", "say_plan"]


def outline(plan: Plan) -> Outline:
    """The plan's title, steps (name, summary) and platforms (platform, mode, node)."""
    head = f"plan: {', '.join(plan.tags) or 'no image'} for {len(plan.assignments)} platform(s)"
    title = f"{head}, builder {plan.builder_name!r} (driver {plan.driver})"
    return Outline(
        title,
        tuple((s.name, s.summary) for s in plan.steps),
        tuple((str(a.platform), a.mode, a.node) for a in plan.assignments),
    )


def say_plan(plan: Plan, runner: Runner) -> None:
    """Print the plan (or draw it, in a live view), and write it to the run's logs."""
    text = runner.redact(plan.render(runner.secrets))
    runner.log_text("plan", text)
    runner.emit(Event(runner.step, "plan", detail=text, outline=outline(plan)))
    runner.shown(plan.commands)
