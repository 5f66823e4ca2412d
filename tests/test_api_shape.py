"""Every step in ``multiarch_tasks.api`` has the one signature shape its docstring promises.

``step(settings, *subjects, runner=None, **options)``: settings first, then the subjects
the task takes positionally, then ``runner`` (positional or keyword, default None), then
keyword-only options. The helpers that are not steps are left out.
"""

from __future__ import annotations

import inspect

import pytest

from multiarch_tasks import api
from multiarch_tasks.engine.runner import Runner

HELPERS = {"Runner", "Settings", "settings_from", "tags_from_git"}
STEPS = sorted(set(api.__all__) - HELPERS)
# The task's positional arguments, positional here too.
SUBJECTS = {"verify": ["ref"], "inspect": ["ref"], "ci_template": ["provider"]}
SUBJECTS["ci_rehearse"] = ["pipeline"]

P = inspect.Parameter


@pytest.mark.parametrize("name", STEPS)
def test_step_takes_settings_then_its_subjects_then_runner_then_keywords(name: str) -> None:
    params = list(inspect.signature(getattr(api, name)).parameters.values())
    positional = [p for p in params if p.kind is P.POSITIONAL_OR_KEYWORD]
    assert [p.name for p in positional] == ["settings", *SUBJECTS.get(name, []), "runner"]
    assert positional[0].default is P.empty
    assert positional[-1].default is None
    rest = params[len(positional) :]
    assert all(p.kind in (P.KEYWORD_ONLY, P.VAR_KEYWORD) for p in rest), rest


def test_readme_call_form_passes_the_runner_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """``api.publish(settings, api.Runner())`` hands that runner to the step."""
    from multiarch_tasks.steps import publish  # noqa: PLC0415

    seen: list[object] = []
    monkeypatch.setattr(publish, "publish", lambda s, r: seen.append((s, r)))
    runner = api.Runner()
    api.publish("settings", runner)
    api.publish("settings")
    assert seen[0] == ("settings", runner)
    assert isinstance(seen[1][1], Runner)
    assert seen[1][1] is not runner
